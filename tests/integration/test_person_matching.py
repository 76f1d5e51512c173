"""Person matching against the node's watch list, on SQLite and PostgreSQL: names in
another script are found, the policy decides what each requester sees of a candidate (a
hidden one is not there at all, an explanation names forms only when shown in full), the
watch list follows every change and a restart, and a match raises a hit."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, event

from polex.auth.principal import Principal
from polex.bootstrap import Node
from polex.domain.base import RecordKind, Restrictions, Tlp, new_id
from polex.domain.person import Person
from polex.domain.policy import AccessLevel, DataCategory, Purpose
from polex.domain.records import RECORD_TYPES
from polex.errors import ValidationFailed
from polex.record.schemas import update_model_for
from polex.record.service import NewRecord
from polex.storage.engine import READ_ONLY_OPTION
from tests.conftest import make_node
from tests.integration.test_screening import agency, agree, officer

INVESTIGATION = Purpose.CRIMINAL_INVESTIGATION


def wanted(node: Node, owner: Principal, names: list[str], birth_date: str = "1980-03-07", **extra: object) -> str:
    record = NewRecord(
        content=Person.model_validate(
            {"names": [{"full": name} for name in names], "birth_dates": [birth_date], "sex": "male", **extra}
        ),
        owner_agency_id=owner.agency_id,
        owner_country=owner.country,
        restrictions=Restrictions(handling=Tlp.AMBER),
        id=new_id(),
    )
    node.records["person"].create_many([record])
    return record.id or ""


@pytest.fixture
def world(hub_node: Node) -> tuple[Node, Principal, Principal]:
    """The hub, a Ukrainian owner agency and a French investigator."""
    ukr = officer(agency(hub_node, "UKR", "National Police"), "UKR")
    fra = officer(agency(hub_node, "FRA", "Police judiciaire"), "FRA")
    return hub_node, ukr, fra


def match(node: Node, who: Principal, names: list[str], **query: object) -> list[dict[str, object]]:
    return node.screening.match_persons({"names": names, **query}, who, purpose=INVESTIGATION, limit=5)


def test_a_name_in_another_script_is_matched_and_explained(world: tuple[Node, Principal, Principal]) -> None:
    node, ukr, fra = world
    agree(node, AccessLevel.FULL, DataCategory.PERSONS, purposes=(INVESTIGATION,))
    reference = wanted(node, ukr, ["Олександр Коваленко"], nationalities=["UKR"])
    wanted(node, ukr, ["Petro Shevchenko"], birth_date="1975")
    [candidate] = match(node, fra, ["Oleksandr Kovalenko"], birth_date="1980-03", nationalities=["UKR"])
    assert candidate["id"] == reference
    assert candidate["match"] is True
    assert candidate["access"] == "full"
    assert candidate["record"]["names"][0]["full"] == "Олександр Коваленко"
    name = next(feature for feature in candidate["explanation"] if feature["feature"] == "name")
    assert "Коваленко" in name["detail"]
    assert candidate["hit_id"]
    [hit] = node.screening.hits(ukr, side="owner")
    assert hit["checked_by"]["country"] == "FRA"
    assert hit["query"]["names"] == ["Oleksandr Kovalenko"]


def test_hidden_candidates_are_not_there_and_hit_only_ones_say_nothing_personal(
    world: tuple[Node, Principal, Principal],
) -> None:
    node, ukr, fra = world
    wanted(node, ukr, ["Андрій Мельник"])
    assert match(node, fra, ["Andriy Melnyk"], birth_date="1980") == []
    agree(node, AccessLevel.HIT_ONLY, DataCategory.PERSONS, purposes=(INVESTIGATION,))
    [candidate] = match(node, fra, ["Andriy Melnyk"], birth_date="1980")
    assert candidate["access"] == "hit_only"
    assert set(candidate["record"]) == {"id", "kind", "owner", "access"}
    assert all("detail" not in feature for feature in candidate["explanation"])
    # Below the threshold is a candidate, not a match: no hit is raised.
    [weak] = node.screening.match_persons(
        {"names": ["Andriy Melnyk"]}, fra, purpose=INVESTIGATION, threshold=1.0, cutoff=0.5
    )
    assert weak["match"] is (weak["score"] >= 1.0)
    assert ("hit_id" in weak) is weak["match"]


def test_the_watch_list_follows_changes_and_a_restart(world: tuple[Node, Principal, Principal], tmp_path: Path) -> None:
    node, ukr, fra = world
    agree(node, AccessLevel.FULL, DataCategory.PERSONS, purposes=(INVESTIGATION,))
    reference = wanted(node, ukr, ["Taras Bondarenko"])
    assert [c["id"] for c in match(node, fra, ["Taras Bondarenko"])] == [reference]
    service = node.records["person"]
    body_type = update_model_for(RECORD_TYPES[RecordKind.PERSON])
    renamed = {"names": [{"full": "Ihor Tkachenko"}], "birth_dates": ["1980-03-07"], "sex": "male", "version": 1}
    service.update(reference, body_type.model_validate(renamed), ukr)
    assert match(node, fra, ["Taras Bondarenko"]) == []
    assert [c["id"] for c in match(node, fra, ["Ihor Tkachenko"])] == [reference]

    kept = wanted(node, ukr, ["Mykola Lysenko"], birth_date="1961")
    restarted = make_node(tmp_path / "hub", node.settings.database_url, name="hub", country="XPO", hub=True)
    try:
        assert len(restarted.screening.watchlist) == len(node.screening.watchlist)
        assert [
            c["id"]
            for c in restarted.screening.match_persons({"names": ["Mykola Lysenko"]}, fra, purpose=INVESTIGATION)
        ] == [kept]
    finally:
        restarted.close()
    service.delete(reference, ukr, if_match=2)
    assert match(node, fra, ["Ihor Tkachenko"]) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"names": [""]}, "query.names[0]"),
        ({"names": ["\x00\x01"]}, "query.names[0]"),
        ({"names": ["x" * 10_000]}, "query.names[0]"),
        ({"names": ["Ana"], "birth_date": "1980-13-45"}, "query.birth_date"),
        ({"names": ["Ana"], "nationalities": ["ZZZ"]}, "query.nationalities[0]"),
        ({"names": []}, "query.names"),
    ],
)
def test_a_bad_query_person_is_refused_naming_the_field(
    world: tuple[Node, Principal, Principal], query: dict[str, object], field: str
) -> None:
    node, _, fra = world
    with pytest.raises(ValidationFailed) as raised:
        node.screening.match_persons(query, fra, purpose=INVESTIGATION)
    assert [error.field for error in raised.value.errors] == [field]


def test_a_match_reads_its_candidates_outside_its_writing_transaction(
    world: tuple[Node, Principal, Principal],
) -> None:
    """The candidates are read and decided in a read-only unit; the writing transaction
    (hits, reports, audit event) only writes. On SQLite a writing transaction holds the
    writer's turn from its first statement, reads included, and every border check's audit
    commit waits for that turn."""
    node, ukr, fra = world
    agree(node, AccessLevel.FULL, DataCategory.PERSONS, purposes=(INVESTIGATION,))
    wanted(node, ukr, ["Mykola Bondarenko"])
    writing: dict[int, bool] = {}  # connection -> in a writing transaction
    read_while_writing: list[str] = []

    def began(connection: Connection) -> None:
        writing[id(connection)] = not connection.get_execution_options().get(READ_ONLY_OPTION)

    def ended(connection: Connection) -> None:
        writing[id(connection)] = False

    def executed(connection: Connection, _cursor: object, statement: str, *_: object) -> None:
        if writing.get(id(connection)) and statement.lstrip().upper().startswith("SELECT"):
            read_while_writing.append(statement)

    listeners = (("begin", began), ("commit", ended), ("rollback", ended), ("before_cursor_execute", executed))
    for name, listener in listeners:
        event.listen(node.engine, name, listener)
    try:
        [candidate] = match(node, fra, ["Mykola Bondarenko"], birth_date="1980-03-07")
    finally:
        for name, listener in listeners:
            event.remove(node.engine, name, listener)
    assert candidate["match"] is True
    assert candidate["hit_id"]  # so the match wrote: its hit, with its audit event
    assert [text for text in read_while_writing if " records" in text or "records." in text] == []
