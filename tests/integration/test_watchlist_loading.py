"""The person watch list loading in the background, on SQLite and PostgreSQL: records
changed in the store while it loads are matched as they are now (none lost, none twice),
person matching refuses meanwhile while document checks go on, manifests wait for it, and
a node built for a command loads it only when asked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from polex.auth.principal import Principal
from polex.bootstrap import Node, build_node
from polex.domain.base import RecordKind
from polex.domain.policy import AccessLevel, DataCategory, Purpose
from polex.domain.records import RECORD_TYPES
from polex.record.schemas import update_model_for
from polex.screening.persons import LoadState, PersonWatchlist, WatchlistLoading
from tests.integration.test_person_matching import wanted
from tests.integration.test_screening import agency, agree, file_document, officer

INVESTIGATION = Purpose.CRIMINAL_INVESTIGATION
BORDER = Purpose.BORDER_CONTROL
Read = Callable[[], Iterator[tuple[str, Mapping[str, Any] | None]]]


class PausedRead:
    """The store's read of the persons, paused after its first ``after`` records until
    ``resume`` opens (the rest of the batch is already read: the store as it was then)."""

    def __init__(self, read: Read, *, after: int = 0) -> None:
        self.read = read
        self.after = after
        self.paused = threading.Event()
        self.resume = threading.Event()

    def __call__(self) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
        if self.after == 0:
            self._pause()
        for position, record in enumerate(self.read(), start=1):
            yield record
            if position == self.after:
                self._pause()

    def _pause(self) -> None:
        self.paused.set()
        assert self.resume.wait(60)


def loading_watchlist(node: Node, *, after: int = 0) -> PausedRead:
    """Give the node a new watch list, wired as bootstrap wires it, whose load is paused."""
    old = node.screening.watchlist
    read = PausedRead(PersonWatchlist(node.uow)._live_persons, after=after)
    watchlist = PersonWatchlist(node.uow, source=read)
    for listeners in (
        node.records["person"].change_listeners,
        node.records["notice"].change_listeners,
        node.retention.purge_listeners,
    ):
        listeners[listeners.index(old)] = watchlist
    node.screening.watchlist = watchlist
    watchlist.start()
    assert read.paused.wait(60)
    return read


@pytest.fixture
def world(hub_node: Node) -> tuple[Node, Principal, Principal]:
    """The hub, a Ukrainian owner agency and a French officer."""
    ukr = officer(agency(hub_node, "UKR", "National Police"), "UKR")
    fra = officer(agency(hub_node, "FRA", "Police judiciaire"), "FRA")
    return hub_node, ukr, fra


def matched(node: Node, who: Principal, name: str) -> list[str]:
    return [c["id"] for c in node.screening.match_persons({"names": [name]}, who, purpose=INVESTIGATION, limit=5)]


def test_records_changed_while_the_watch_list_loads_are_matched_as_they_are_now(
    world: tuple[Node, Principal, Principal],
) -> None:
    node, ukr, fra = world
    agree(node, AccessLevel.FULL, DataCategory.PERSONS, purposes=(INVESTIGATION,))
    agree(node, AccessLevel.FULL, DataCategory.TRAVEL_DOCUMENTS)
    kept = wanted(node, ukr, ["Taras Bondarenko"])
    renamed = wanted(node, ukr, ["Mykola Lysenko"])
    withdrawn = wanted(node, ukr, ["Oksana Melnyk"])
    file_document(node, fra.agency_id, number="12AB34567")
    read = loading_watchlist(node, after=1)  # the load has indexed one record, read the others

    service = node.records["person"]
    body = update_model_for(RECORD_TYPES[RecordKind.PERSON])
    rename = {"names": [{"full": "Ihor Tkachenko"}], "birth_dates": ["1980-03-07"], "sex": "male", "version": 1}
    service.update(renamed, body.model_validate(rename), ukr)
    service.delete(withdrawn, ukr, if_match=1)
    created = wanted(node, ukr, ["Andriy Kovalenko"])

    assert node.screening.components() == {"person_watchlist": "loading"}
    with pytest.raises(WatchlistLoading):
        matched(node, fra, "Ihor Tkachenko")
    # Document checks do not depend on the watch list.
    [check] = node.screening.check_documents([{"number": "12AB34567", "country": "FRA"}], ukr, purpose=BORDER)
    assert check["hit"] is True

    read.resume.set()
    assert node.screening.watchlist.wait_ready(60)
    assert node.screening.components() == {"person_watchlist": "ready"}
    assert matched(node, fra, "Taras Bondarenko") == [kept]
    assert matched(node, fra, "Mykola Lysenko") == []
    assert matched(node, fra, "Ihor Tkachenko") == [renamed]
    assert matched(node, fra, "Oksana Melnyk") == []
    assert matched(node, fra, "Andriy Kovalenko") == [created]
    assert len(node.screening.watchlist) == 3
    assert len(node.screening.watchlist.index) == 3  # one birth date each: one entry each, once


def test_a_manifest_waits_for_the_watch_list_rather_than_failing_its_rows(
    world: tuple[Node, Principal, Principal], tmp_path: Path
) -> None:
    node, ukr, fra = world
    agree(node, AccessLevel.FULL, DataCategory.PERSONS)
    wanted(node, ukr, ["Jean-Pierre Dubois"], birth_date="1971-05-04", nationalities=["FRA"])
    read = loading_watchlist(node)
    spooled = tmp_path / "manifest.upload"
    spooled.write_text("id,given_name,family_name,birth_date,nationality\nP1,Jean Pierre,Dubois,1971-05,FRA\n")
    job = node.screenings.submit(spooled, fra, purpose=BORDER, format_name="csv", source="AF1234.csv")
    running = threading.Thread(target=node.screenings.run, args=(job.id,), kwargs={"principal": fra})
    running.start()
    running.join(0.5)
    assert running.is_alive()  # waiting, neither failing the row nor answering "no match"
    read.resume.set()
    running.join(60)
    done = node.screenings.job(job.id, fra)
    assert (done.status, done.rows_done, done.person_matches) == ("done", 1, 1)


def test_a_node_built_for_a_command_loads_the_watch_list_only_when_asked(
    world: tuple[Node, Principal, Principal],
) -> None:
    node, ukr, _ = world
    wanted(node, ukr, ["Taras Bondarenko"])
    other = build_node(node.settings, migrate=False)
    try:
        assert other.screening.watchlist.state is LoadState.IDLE
        assert other.screening.watchlist.wait_ready(60)
        assert len(other.screening.watchlist) == 1
    finally:
        other.close()
