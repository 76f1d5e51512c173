from sqlalchemy import inspect

from polex.storage.engine import make_engine
from polex.storage.migrate import current_revision, head_revision, upgrade


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
