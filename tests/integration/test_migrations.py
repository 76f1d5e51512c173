from alembic import command
from sqlalchemy import inspect

from polex.audit.repository import AuditRepository, EventQuery
from polex.audit.service import EventDraft
from polex.bootstrap import Node
from polex.domain.audit import Actor, AuditTag
from polex.domain.base import new_id
from polex.storage.engine import make_engine
from polex.storage.migrate import alembic_config, current_revision, head_revision, upgrade


def test_migrations_reach_head_and_are_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    upgrade(engine)  # a second run changes nothing
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"agencies", "users", "api_keys", "records", "alembic_version"} <= tables
    engine.dispose()


def test_the_tables_match_the_models(database_url: str) -> None:
    # Autogenerate finds no difference between the migrated database and the ORM models,
    # so a model change without its migration fails here.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from polex.storage.tables import Base

    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_the_audit_tables_rebuilt_for_sqlite_keep_every_event(node: Node) -> None:
    # 0022 rebuilds the audit tables on SQLite (seq as the rowid, the index tables without
    # rowid): an existing log must come through both ways with every entry, index row and
    # checkpoint intact, so that `polex audit verify` still passes.
    actor = Actor(kind="user", id=new_id(), name="officer", agency_id=new_id(), country="FRA")
    drafts = [
        EventDraft(
            tag=AuditTag.PERSON_LISTED,
            actor=actor,
            record_kind="person",
            record_ids=[new_id(), new_id()],
            result_count=2,
            query_terms={f"person|name:n{index}": f"name=n{index}"},
        )
        for index in range(50)
    ]
    first_seq = node.audit.record(drafts)
    node.audit.checkpoint(force=True)
    logged = node.audit.verify()
    first_record = drafts[0].record_ids[0]

    def migrate_to(revision: str) -> None:
        config = alembic_config()
        with node.engine.begin() as connection:
            config.attributes["connection"] = connection
            if revision == "head":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)

    migrate_to("0021")
    migrate_to("head")
    assert current_revision(node.engine) == head_revision()
    assert node.audit.verify() == logged
    with node.uow(read_only=True) as uow:
        found = AuditRepository(uow.session).events(EventQuery(record_id=first_record))
        assert [event.seq for event in found] == [first_seq]
    if node.engine.dialect.name == "sqlite":
        with node.engine.connect() as connection:
            indexes = {
                row[0] for row in connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='index'")
            }
            tables = connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type='table'").all()
            table_sql: dict[str, str] = {row[0]: row[1] for row in tables}
        assert "sqlite_autoindex_audit_events_2" not in indexes  # seq is the rowid, not a second index
        assert "WITHOUT ROWID" in table_sql["audit_event_records"]
        assert "WITHOUT ROWID" in table_sql["audit_event_terms"]
