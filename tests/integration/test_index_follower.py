"""Two processes of one node over one database, on SQLite and PostgreSQL: what one process
writes reaches the other's in-memory screening indexes when the other follows the audit log
(polex.screening.follower). Each process is a Node built on the same data directory and
database; B's follower is run by hand (a serving process runs it every half second)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest

from polex.api.app import create_app
from polex.audit.repository import AuditRepository
from polex.auth.principal import Principal
from polex.bootstrap import Node
from polex.domain.base import RecordKind
from polex.domain.notice import Action
from polex.domain.policy import AccessLevel, DataCategory, Purpose
from polex.domain.records import RECORD_TYPES
from polex.matching.model import PersonQuery
from polex.record.schemas import update_model_for
from polex.screening import follower
from polex.screening.follower import IndexFollower
from polex.screening.persons import record_of
from polex.screening.service import ScreeningService
from tests.conftest import make_node
from tests.factories import document_body, make_vin, person_body, vehicle_body
from tests.integration.test_notices import ncb, publish, reviewer, share_notices
from tests.integration.test_screening import agency, agree, officer

BORDER = Purpose.BORDER_CONTROL
DOCUMENT = update_model_for(RECORD_TYPES[RecordKind.TRAVEL_DOCUMENT])
VEHICLE = update_model_for(RECORD_TYPES[RecordKind.VEHICLE])
PERSON = update_model_for(RECORD_TYPES[RecordKind.PERSON])

Processes = tuple[Node, Node, Principal, Principal]


def second_process(node: Node) -> Node:
    """Another process of the same node: same data directory, same database."""
    return make_node(node.settings.data_dir, node.settings.sqlalchemy_url, name="hub", country="XPO", hub=True)


@pytest.fixture
def processes(hub_node: Node) -> Iterator[Processes]:
    """Processes A and B of the hub, a French owner agency and a Ukrainian border officer
    (the agreement is made before B starts, so that B's policy has it)."""
    fra = officer(agency(hub_node, "FRA", "Police nationale"), "FRA")
    ukr = officer(agency(hub_node, "UKR"), "UKR")
    agree(hub_node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS, DataCategory.VEHICLES, DataCategory.PERSONS)
    other = second_process(hub_node)
    yield hub_node, other, fra, ukr
    other.close()


def lean(node: Node, ukr: Principal, number: str) -> list[dict[str, Any]] | None:
    """The border routes' in-memory answer: results when nothing may be on file, else None."""
    answer = node.screening.check_in_memory("travel_document", [document(number)], ukr, purpose=BORDER)
    return None if answer is None else answer[0]


def full(node: Node, ukr: Principal, number: str) -> dict[str, Any]:
    [result] = node.screening.check_documents([document(number)], ukr, purpose=BORDER)
    return result


def document(number: str) -> dict[str, str]:
    return {"number": number, "country": "FRA"}


def matched(node: Node, ukr: Principal, name: str) -> list[str]:
    found = node.screening.match_persons({"names": [name], "birth_date": "1984-07-12"}, ukr, purpose=BORDER)
    return [str(candidate["id"]) for candidate in found if candidate["match"]]


def watched(node: Node, name: str, birth_date: str) -> set[str]:
    """The records on the node's watch list that match this person."""
    query = PersonQuery(names=(name,), birth_date=birth_date)
    return {record_of(found.entry_id) for found in node.screening.watchlist.search(query, limit=5, threshold=0.7)}


def counts(node: Node, keys: list[str]) -> list[int]:
    return node.screening.index.counts(keys)


def test_records_written_through_one_process_reach_the_other_s_checks(processes: Processes) -> None:
    a, b, fra, ukr = processes
    passport = a.records["travel_document"].create(DOCUMENT.model_validate(document_body(number="31AB31313")), fra)
    vin = make_vin()
    car = a.records["vehicle"].create(VEHICLE.model_validate(vehicle_body(vin=vin)), fra)
    person = a.records["person"].create(PERSON.model_validate(person_body(names=[{"full": "Taras Bondarenko"}])), fra)

    # The gap: B's indexes hold nothing of them, so its lean path answers "nothing on file".
    assert lean(b, ukr, "31AB31313") == [
        {"hit": False, "query": {"number": "31AB31313", "country": "FRA", "type": None}}
    ]
    assert b.screening.check_in_memory("vehicle", [{"vin": vin}], ukr, purpose=BORDER) is not None
    assert matched(b, ukr, "Taras Bondarenko") == []

    assert b.index_follower.run_once() == 3
    assert lean(b, ukr, "31AB31313") is None  # may be on file: the full check runs
    assert full(b, ukr, "31AB31313")["reference"] == passport.id
    assert b.screening.check_in_memory("vehicle", [{"vin": vin}], ukr, purpose=BORDER) is None
    [vehicle] = b.screening.check_vehicles([{"vin": vin}], ukr, purpose=BORDER)
    assert vehicle["reference"] == car.id
    assert matched(b, ukr, "Taras Bondarenko") == [person.id]
    # Nothing more to follow: the round reads the log's size and stops.
    assert b.index_follower.run_once() == 0


def test_a_backlog_is_followed_a_chunk_at_a_time(processes: Processes, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, fra, ukr = processes
    monkeypatch.setattr(follower, "CHUNK", 2)
    numbers = [f"{n}9ST{n}9999" for n in range(10, 15)]
    for number in numbers:
        a.records["travel_document"].create(DOCUMENT.model_validate(document_body(number=number)), fra)
        full(a, ukr, "00XX00000")  # entries between that change no record
    assert b.index_follower.run_once() == 5
    assert [lean(b, ukr, number) for number in numbers] == [None] * 5
    with b.uow(read_only=True) as uow:
        assert b.index_follower.position == AuditRepository(uow.session).size()


def test_updates_and_withdrawals_are_followed(processes: Processes) -> None:
    a, b, fra, ukr = processes
    documents, persons = a.records["travel_document"], a.records["person"]
    passport = documents.create(DOCUMENT.model_validate(document_body(number="42CD42424")), fra)
    person = persons.create(PERSON.model_validate(person_body(names=[{"full": "Mykola Hrytsenko"}])), fra)
    b.index_follower.run_once()
    assert matched(b, ukr, "Mykola Hrytsenko") == [person.id]

    documents.update(passport.id, DOCUMENT.model_validate(document_body(number="42CD42425", version=1)), fra)
    renamed = person_body(names=[{"full": "Bohdan Lysenko"}], version=1)
    persons.update(person.id, PERSON.model_validate(renamed), fra)
    b.index_follower.run_once()
    assert full(b, ukr, "42CD42425")["reference"] == passport.id
    # The old number stays in B's index (a removal B does not follow) but is on file no more.
    assert lean(b, ukr, "42CD42424") is None
    assert full(b, ukr, "42CD42424")["hit"] is False
    assert matched(b, ukr, "Bohdan Lysenko") == [person.id]
    assert matched(b, ukr, "Mykola Hrytsenko") == []

    documents.delete(passport.id, fra, if_match=2)
    persons.delete(person.id, fra, if_match=2)
    b.index_follower.run_once()
    assert full(b, ukr, "42CD42425")["hit"] is False
    assert matched(b, ukr, "Bohdan Lysenko") == []

    # Purged by retention in A: gone from B's watch list too.
    purged = persons.create(PERSON.model_validate(person_body(names=[{"full": "Ivan Tkachenko"}])), fra)
    b.index_follower.run_once()
    assert matched(b, ukr, "Ivan Tkachenko") == [purged.id]
    a.retention.run_once(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=365 * 30))
    b.index_follower.run_once()
    assert matched(b, ukr, "Ivan Tkachenko") == []


def test_replaying_changes_a_process_already_holds_changes_nothing(processes: Processes) -> None:
    a, b, fra, ukr = processes
    replay = IndexFollower(b.uow, b.screening.index, b.screening.watchlist)
    replay.start_at_log_end()
    documents = a.records["travel_document"]
    documents.create(DOCUMENT.model_validate(document_body(number="53EF53535")), fra)
    # One number filed under two records: two copies, whoever follows.
    documents.create(DOCUMENT.model_validate(document_body(number="64GH64646", document_type="passport")), fra)
    documents.create(DOCUMENT.model_validate(document_body(number="64GH64646", document_type="identity_card")), fra)
    vin = make_vin()
    a.records["vehicle"].create(VEHICLE.model_validate(vehicle_body(vin=vin, plate="AB-531-CD")), fra)
    a.records["person"].create(PERSON.model_validate(person_body(names=[{"full": "Petro Savchuk"}])), fra)
    keys = ["doc:FRA:53EF53535", "doc:FRA:64GH64646", f"vin:{vin}"]
    assert counts(a, keys) == [1, 2, 1]
    entries, persons = a.screening.index.entries, len(a.screening.watchlist)

    # A follows its own changes (the in-process listeners told it already).
    assert a.index_follower.run_once() == 5
    a.index_follower.run_once()  # and the round that examines the keys once more
    assert counts(a, keys) == [1, 2, 1]
    assert (a.screening.index.entries, len(a.screening.watchlist)) == (entries, persons)

    # B follows them, and once more from an earlier cursor: the same counts.
    b.index_follower.run_once()
    assert counts(b, keys) == [1, 2, 1]
    entries, persons = b.screening.index.entries, len(b.screening.watchlist)
    assert replay.run_once() == 5
    replay.run_once()
    b.index_follower.run_once()
    assert counts(b, keys) == [1, 2, 1]
    assert (b.screening.index.entries, len(b.screening.watchlist)) == (entries, persons)
    assert matched(b, ukr, "Petro Savchuk")


def test_a_number_filed_twice_stays_findable_when_this_process_withdraws_one(processes: Processes) -> None:
    """Counts, not presence: a key B holds for one record is added again for a second one,
    so that B withdrawing the first leaves the second findable."""
    a, b, fra, ukr = processes
    documents = a.records["travel_document"]
    first = documents.create(DOCUMENT.model_validate(document_body(number="75JK75757", document_type="passport")), fra)
    b.index_follower.run_once()
    second = documents.create(
        DOCUMENT.model_validate(document_body(number="75JK75757", document_type="identity_card")), fra
    )
    b.index_follower.run_once()
    b.records["travel_document"].delete(first.id, fra, if_match=1)  # through B: its listener removes a copy
    assert lean(b, ukr, "75JK75757") is None
    assert full(b, ukr, "75JK75757")["reference"] == second.id

    # B withdraws a record it never followed (its index counts one copy less than none);
    # then A files the number again: B's follow still brings it to one copy.
    unseen = documents.create(DOCUMENT.model_validate(document_body(number="86LM86868")), fra)
    b.records["travel_document"].delete(unseen.id, fra, if_match=1)
    again = documents.create(DOCUMENT.model_validate(document_body(number="86LM86868", document_type="visa")), fra)
    b.index_follower.run_once()
    assert counts(b, ["doc:FRA:86LM86868"]) == [1]
    assert lean(b, ukr, "86LM86868") is None
    assert full(b, ukr, "86LM86868")["reference"] == again.id


def test_a_notice_put_in_force_through_one_process_is_watched_by_the_other(processes: Processes) -> None:
    a, b, _, _ = processes
    share_notices(a, "UKR", "FRA")
    source, hub = ncb(a, "UKR"), reviewer(a)
    notice_id = publish(a, source, hub)
    assert watched(b, "Ivan Petrovich Sokolov", "1979-04-12") == set()
    b.index_follower.run_once()
    assert watched(b, "Ivan Petrovich Sokolov", "1979-04-12") == {notice_id}
    a.notices.act(notice_id, Action.CANCEL, source, reason="Person arrested and extradited")
    b.index_follower.run_once()
    assert watched(b, "Ivan Petrovich Sokolov", "1979-04-12") == set()


def test_a_change_committed_while_a_process_loads_its_index_is_not_lost(
    hub_node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cursor is placed before the index loads: a change committed after the load read
    the store is replayed. (Placed after the load, the follower would skip it.)"""
    fra = officer(agency(hub_node, "FRA", "Police nationale"), "FRA")
    ukr = officer(agency(hub_node, "UKR"), "UKR")
    agree(hub_node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS)
    load_index = ScreeningService.load_index
    filed: list[str] = []

    def load_then_commit_elsewhere(self: ScreeningService) -> object:
        stats = load_index(self)
        body = DOCUMENT.model_validate(document_body(number="97NP97979"))
        filed.append(hub_node.records["travel_document"].create(body, fra).id)
        return stats

    monkeypatch.setattr(ScreeningService, "load_index", load_then_commit_elsewhere)
    starting = second_process(hub_node)
    monkeypatch.undo()
    try:
        assert lean(starting, ukr, "97NP97979") is not None  # the load did not see it
        starting.index_follower.run_once()
        assert lean(starting, ukr, "97NP97979") is None
        assert full(starting, ukr, "97NP97979")["reference"] == filed[0]
    finally:
        starting.close()


def test_a_serving_process_follows_on_its_own(processes: Processes) -> None:
    """The app's lifespan runs the follower every ``index_follow_seconds``."""
    a, b, fra, ukr = processes

    async def serve() -> bool:
        """Whether B's lean path learns of A's record while B serves."""
        app = create_app(b)
        async with app.router.lifespan_context(app):
            a.records["travel_document"].create(DOCUMENT.model_validate(document_body(number="18QR18181")), fra)
            deadline = time.monotonic() + 20 * b.settings.index_follow_seconds
            while lean(b, ukr, "18QR18181") is not None:
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(0.05)
            return True

    assert asyncio.run(serve())
