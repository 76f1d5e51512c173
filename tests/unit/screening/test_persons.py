"""The person watch list loads in the background without losing or doubling a change told
meanwhile, and refuses to search (never an empty answer) until it is loaded. The store is a
gated source: the load stops where the test wants until the test lets it go on."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any, cast

import pytest

from polex.matching.index import PersonIndex
from polex.matching.model import PersonQuery
from polex.matching.scoring import PersonMatcher, PreparedPerson
from polex.screening.persons import LoadState, PersonWatchlist, WatchlistLoading, record_of
from polex.storage.unit_of_work import UnitOfWorkFactory

NO_STORE = cast(UnitOfWorkFactory, None)  # every test gives the watch list its source
Content = Mapping[str, Any] | None


def person(name: str, *birth_dates: str) -> dict[str, Any]:
    return {"names": [{"full": name}], "birth_dates": list(birth_dates or ("1980-03-07",))}


class GatedSource:
    """The store's persons, read in id order; the read pauses before record ``pause_at``
    (or after the last one) until ``resume`` opens."""

    def __init__(self, records: list[tuple[str, Content]], pause_at: int) -> None:
        self.records = records
        self.pause_at = pause_at
        self.paused = threading.Event()
        self.resume = threading.Event()

    def __call__(self) -> Iterator[tuple[str, Content]]:
        for position, record in enumerate([*self.records, None]):
            if position == self.pause_at:
                self.paused.set()
                assert self.resume.wait(30)
            if record is not None:
                yield record


class GatedMatcher(PersonMatcher):
    """Stops preparing the person named ``name`` until ``resume`` opens."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.reached = threading.Event()
        self.resume = threading.Event()

    def prepare(self, person: PersonQuery) -> PreparedPerson:
        if self.name in person.names:
            self.reached.set()
            assert self.resume.wait(30)
        return super().prepare(person)


def found(watchlist: PersonWatchlist, name: str) -> list[str]:
    query = PersonQuery(names=(name,), birth_date="1980-03-07")
    return sorted(record_of(c.entry_id) for c in watchlist.search(query, limit=5, threshold=0.9, wait=0))


def test_changes_told_during_the_load_end_up_in_the_index_once() -> None:
    source = GatedSource(
        [
            ("a", person("Taras Bondarenko")),
            ("b", person("Mykola Lysenko")),
            ("c", person("Oksana Melnyk")),
            # Read after the change below, as a load reads a record committed while it runs.
            ("d", person("Ihor Tkachenko")),
        ],
        pause_at=2,
    )
    watchlist = PersonWatchlist(NO_STORE, source=source)
    assert watchlist.state is LoadState.IDLE
    watchlist.start()
    assert source.paused.wait(30)
    assert watchlist.state is LoadState.LOADING
    watchlist.records_changed("person", {"a": person("Petro Shevchenko")})  # renamed, already read
    watchlist.records_changed("person", {"b": None})  # withdrawn, already read
    watchlist.records_changed("person", {"c": person("Oksana Melnyk", "1980-03-07", "1981-03-07")})  # not read yet
    watchlist.records_changed("person", {"e": person("Andriy Kovalenko")})  # created
    watchlist.records_changed("person", {"d": person("Ihor Tkachenko")})  # the same content the load reads
    watchlist.records_changed("vehicle", {"f": {"vin": "WVWZZZ1JZXW000001"}})  # not a person: ignored
    with pytest.raises(WatchlistLoading):
        found(watchlist, "Petro Shevchenko")
    source.resume.set()
    assert watchlist.wait_ready(30)

    assert watchlist.state is LoadState.READY
    assert found(watchlist, "Taras Bondarenko") == []
    assert found(watchlist, "Petro Shevchenko") == ["a"]
    assert found(watchlist, "Mykola Lysenko") == []
    assert found(watchlist, "Andriy Kovalenko") == ["e"]
    assert found(watchlist, "Ihor Tkachenko") == ["d"]
    # One entry per birth date, each once: a change replayed over what the load read does
    # not double it.
    assert watchlist._entries == {"a": 1, "c": 2, "d": 1, "e": 1}
    assert len(watchlist.index) == 5
    assert len(watchlist) == 4


def test_a_change_told_while_the_load_applies_the_queued_ones_is_not_lost() -> None:
    # The load has read the store and is applying what changed meanwhile (outside the lock,
    # so writers are not held up): a change told now must still reach the index it swaps in.
    matcher = GatedMatcher("Gate Keeper")
    source = GatedSource([("a", person("Taras Bondarenko"))], pause_at=1)
    watchlist = PersonWatchlist(NO_STORE, PersonIndex(matcher), source=source)
    watchlist.start()
    assert source.paused.wait(30)
    watchlist.records_changed("person", {"g": person("Gate Keeper")})
    source.resume.set()
    assert matcher.reached.wait(30)
    watchlist.records_changed("person", {"a": person("Petro Shevchenko"), "h": person("Andriy Kovalenko")})
    assert watchlist.state is LoadState.LOADING
    matcher.resume.set()
    assert watchlist.wait_ready(30)
    assert found(watchlist, "Petro Shevchenko") == ["a"]
    assert found(watchlist, "Taras Bondarenko") == []
    assert found(watchlist, "Andriy Kovalenko") == ["h"]
    assert found(watchlist, "Gate Keeper") == ["g"]


def test_a_reload_keeps_answering_from_the_current_index_and_loses_no_change() -> None:
    records: list[tuple[str, Content]] = [("a", person("Taras Bondarenko"))]
    watchlist = PersonWatchlist(NO_STORE, source=lambda: iter(records))
    watchlist.load()
    source = GatedSource([("a", person("Taras Bondarenko"))], pause_at=1)
    watchlist._source = source
    reload = threading.Thread(target=watchlist.load)
    reload.start()
    assert source.paused.wait(30)
    watchlist.records_changed("person", {"e": person("Andriy Kovalenko")})
    assert found(watchlist, "Taras Bondarenko") == ["a"]  # still ready, on the current index
    assert found(watchlist, "Andriy Kovalenko") == ["e"]  # which takes changes at once
    source.resume.set()
    reload.join(30)
    assert found(watchlist, "Andriy Kovalenko") == ["e"]
    assert watchlist._pending is None


def test_before_any_load_changes_are_left_to_it_and_a_search_starts_it() -> None:
    records: list[tuple[str, Content]] = [("a", person("Taras Bondarenko"))]
    watchlist = PersonWatchlist(NO_STORE, source=lambda: iter(records))
    watchlist.records_changed("person", {"a": person("Taras Bondarenko")})  # committed: the load reads it
    assert watchlist._pending is None
    query = PersonQuery(names=("Taras Bondarenko",))
    assert [record_of(c.entry_id) for c in watchlist.search(query, limit=5, threshold=0.9, wait=30)] == ["a"]


def test_a_search_that_cannot_wait_is_refused_with_when_to_retry() -> None:
    source = GatedSource([("a", person("Taras Bondarenko"))], pause_at=0)
    watchlist = PersonWatchlist(NO_STORE, source=source)
    with pytest.raises(WatchlistLoading) as refused:
        watchlist.ensure_ready(0)  # starts the load
    assert refused.value.status == 503
    assert "the person watch list is loading" in refused.value.detail
    assert refused.value.extra == {"retry_after": 5, "component": "person_watchlist"}
    assert source.paused.wait(30)
    source.resume.set()
    watchlist.ensure_ready(30)
    assert watchlist.state is LoadState.READY


def test_a_failed_load_is_retried_and_said_meanwhile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("polex.screening.persons._RETRY_SECONDS", (0.01, 0.01))
    attempts: list[int] = []
    failed = threading.Event()
    retry = threading.Event()

    def flaky() -> Iterator[tuple[str, Content]]:
        attempts.append(1)
        if len(attempts) == 1:
            failed.set()
            raise OSError("the store is unreachable")
        assert retry.wait(30)
        yield "a", person("Taras Bondarenko")

    watchlist = PersonWatchlist(NO_STORE, source=flaky)
    watchlist.start()
    assert failed.wait(30)
    while len(attempts) < 2:
        threading.Event().wait(0.01)
    assert watchlist.state is LoadState.FAILED
    assert watchlist.failure == "the store is unreachable"
    retry.set()
    assert watchlist.wait_ready(30)
    assert watchlist.failure is None
    assert found(watchlist, "Taras Bondarenko") == ["a"]


def test_close_stops_a_background_load() -> None:
    source = GatedSource([("a", person("Taras Bondarenko")), ("b", person("Mykola Lysenko"))], pause_at=1)
    watchlist = PersonWatchlist(NO_STORE, source=source)
    watchlist.start()
    assert source.paused.wait(30)
    closing = threading.Thread(target=watchlist.close)
    closing.start()
    assert watchlist._stop.wait(30)
    source.resume.set()
    closing.join(30)
    assert watchlist._loader is not None
    assert not watchlist._loader.is_alive()
    assert not watchlist.wait_ready(0)
