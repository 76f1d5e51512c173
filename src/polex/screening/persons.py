"""The person watch list: every live person record of the node and the subject of every
notice and diffusion in force, in the matcher's index, loaded from the store in the
background once the node serves (or on first use) and kept current with every change after
its commit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from polex.errors import ServiceUnavailable
from polex.matching.index import PersonIndex
from polex.matching.model import Candidate, PersonQuery
from polex.storage.tables import RecordRow
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.screening")

_LOAD_BATCH = 5_000
MAX_BIRTH_DATES = 3  # a person with several recorded birth dates is indexed under each


def person_queries(content: Mapping[str, Any]) -> list[PersonQuery]:
    """What the matcher knows of a person record: every name form (in every script, with
    given and family parts joined where the full form is absent), each recorded birth date
    (one entry per date), nationalities, sex and document numbers. Empty when the record
    has no usable name."""
    names: list[str] = []
    for name in content.get("names") or []:
        full = name.get("full")
        if full and full not in names:
            names.append(full)
    dates = [date for date in content.get("birth_dates") or [] if date][:MAX_BIRTH_DATES] or [None]
    identifiers = tuple(
        identifier["value"] for identifier in content.get("identifiers") or [] if identifier.get("value")
    )[:20]
    sex = content.get("sex")
    queries = []
    for date in dates:
        try:
            queries.append(
                PersonQuery(
                    names=tuple(names[:20]),
                    birth_date=date,
                    nationalities=tuple(content.get("nationalities") or ())[:10],
                    sex=None if sex in (None, "unknown", "unspecified") else sex,
                    identifiers=identifiers,
                )
            )
        except ValueError:
            continue  # a record the matcher cannot read (no letter in any name) is not indexed
    return queries


WATCHED_KINDS = ("person", "notice")


def person_content(kind: str, content: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The person a record is about: a person record itself, a notice's subject (None for
    a notice about no person: a body, a modus operandi, a threat)."""
    if content is None or kind == "person":
        return content
    subject = content.get("subject")
    return subject if isinstance(subject, Mapping) else None


def entry_ids(record_id: str, count: int) -> list[str]:
    return [record_id if position == 0 else f"{record_id}#{position}" for position in range(count)]


def record_of(entry_id: str) -> str:
    return entry_id.split("#", 1)[0]


class WatchlistLoading(ServiceUnavailable):
    """A person search asked before the watch list is loaded: retry shortly (503)."""

    slug = "watchlist-loading"


class LoadState(StrEnum):
    IDLE = "idle"  # not loaded yet: loads when the node serves, or on first use
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"  # the last attempt failed; the loader retries


RETRY_AFTER_SECONDS = 5  # what a refused caller is told to wait
SEARCH_WAIT_SECONDS = 60.0  # how long a search that can wait does (a notice's duplicate check, the CLI)
_RETRY_SECONDS = (1.0, 60.0)  # the loader's first and longest pause after a failed attempt


class _Stopped(Exception):
    pass


class PersonWatchlist:
    """A thread-safe wrapper of the matcher's index over the node's person records.

    Loading reads every record (and, the first time in a process, the matcher's name data:
    seconds of CPU), so a node does it in a background thread once it serves (``start``) and
    says ``ready`` when done; ``search`` waits for it or refuses with ``WatchlistLoading``.
    Changes told while a load runs are kept (the latest content per record) and applied to
    the loaded index before it replaces the current one, so none is lost: the load reads
    each record after the queue opened, so a change it did not see was committed after that
    read, and its listener call, which follows the commit, finds the queue open (or, once
    the loaded index is in place, applies to it). Applying a record's content twice leaves
    the same entries, so a change the load did see is harmless to replay. Before any load,
    changes are dropped: the first load reads them from the store.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        index: PersonIndex | None = None,
        *,
        source: Callable[[], Iterator[tuple[str, Mapping[str, Any] | None]]] | None = None,
    ) -> None:
        self._uow = uow
        # Where the persons come from: the node's own records, or its replica of the hub's.
        self._source = source or self._live_persons
        self._lock = threading.Lock()  # guards index, _entries and _pending
        self._load_lock = threading.Lock()  # one load at a time
        self.index = index if index is not None else PersonIndex()  # an empty index is falsy
        self._entries: dict[str, int] = {}  # record id -> entries (one per birth date)
        # Changes told while a load runs, to apply to its index: record id -> (kind, content).
        self._pending: dict[str, tuple[str, Mapping[str, Any] | None]] | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._loader: threading.Thread | None = None
        self.failure: str | None = None  # why the last load failed, until one succeeds
        # Told, in the loading thread, once a background load succeeded (the serving process
        # then takes the loaded index out of the cyclic garbage collector's reach).
        self.loaded_listeners: list[Callable[[], None]] = []

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> tuple[int, float]:
        """Fill the index from the store, in the calling thread; returns (records, seconds).
        Searches keep the current index (if any) until the new one replaces it."""
        with self._load_lock:
            started = time.perf_counter()
            with self._lock:
                if self._pending is None:
                    self._pending = {}
            try:
                fresh = PersonIndex(self.index.matcher)
                entries: dict[str, int] = {}
                for record_id, content in self._source():
                    if self._stop.is_set():
                        raise _Stopped
                    _put(fresh, entries, record_id, content)
                fresh.compact()
                while True:
                    # What changed meanwhile is applied outside the lock (changes keep
                    # queueing); the index is swapped in once no change is left.
                    with self._lock:
                        changes, self._pending = self._pending or {}, {}
                        if not changes:
                            self.index, self._entries, self._pending = fresh, entries, None
                            self.failure = None
                            self._ready.set()
                            break
                    for record_id, (kind, record) in changes.items():
                        _put(fresh, entries, record_id, person_content(kind, record))
            except BaseException:
                with self._lock:
                    if self._ready.is_set():
                        self._pending = None  # the current index took every change directly
                raise
        return len(entries), time.perf_counter() - started

    def start(self) -> None:
        """Load in a background thread, unless loaded or loading already; a failed attempt
        is retried (after 1 s, then twice as long each time, at most a minute)."""
        with self._lock:
            if self._ready.is_set() or self._loader is not None or self._stop.is_set():
                return
            self._loader = threading.Thread(target=self._load_until_done, name="person-watchlist", daemon=True)
        self._loader.start()

    def _load_until_done(self) -> None:
        pause, longest = _RETRY_SECONDS
        while not self._stop.is_set():
            try:
                records, seconds = self.load()
            except _Stopped:
                return
            except Exception as error:  # the store is unreachable, ...: tried again shortly
                self.failure = str(error) or type(error).__name__
                log.exception("loading the person watch list failed; next attempt in %.0f s", pause)
                self._stop.wait(pause)
                pause = min(pause * 2, longest)
            else:
                log.info("person watch list loaded: %d records in %.1f s", records, seconds)
                for listener in self.loaded_listeners:
                    listener()
                return

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start loading if nothing did, and wait until the watch list is ready (at most
        ``timeout`` seconds); whether it is."""
        if not self._ready.is_set():
            self.start()
        return self._ready.wait(timeout)

    def ensure_ready(self, wait: float = 0.0) -> None:
        """Return once ready (waiting at most ``wait`` seconds), else raise WatchlistLoading."""
        if not self.wait_ready(wait):
            raise WatchlistLoading(
                f"the person watch list is loading; retry in {RETRY_AFTER_SECONDS} s",
                retry_after=RETRY_AFTER_SECONDS,
                component="person_watchlist",
            )

    @property
    def state(self) -> LoadState:
        if self._ready.is_set():
            return LoadState.READY
        if self.failure is not None:
            return LoadState.FAILED
        loading = self._loader is not None or self._load_lock.locked()
        return LoadState.LOADING if loading else LoadState.IDLE

    def close(self) -> None:
        """Stop a background load (between two records) and wait a little for it to end."""
        self._stop.set()
        loader = self._loader
        if loader is not None and loader is not threading.current_thread():
            loader.join(timeout=10)

    # -- reading the store ---------------------------------------------------------------------

    def _live_persons(self) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
        after = ""
        while True:
            with self._uow(read_only=True) as uow:
                rows = uow.session.execute(
                    select(RecordRow.id, RecordRow.kind, RecordRow.content)
                    .where(RecordRow.kind.in_(WATCHED_KINDS), RecordRow.deleted_at.is_(None), RecordRow.id > after)
                    .order_by(RecordRow.id)
                    .limit(_LOAD_BATCH)
                ).all()
            for row in rows:
                yield row.id, person_content(row.kind, row.content)
            if len(rows) < _LOAD_BATCH:
                return
            after = rows[-1].id

    def records_changed(self, kind: str, changed: Mapping[str, Mapping[str, Any] | None]) -> None:
        if kind not in WATCHED_KINDS:
            return
        with self._lock:
            if self._pending is not None:  # a load runs: its index gets the change too
                for record_id, record in changed.items():
                    self._pending[record_id] = (kind, record)
            if self._ready.is_set():
                for record_id, record in changed.items():
                    _put(self.index, self._entries, record_id, person_content(kind, record))

    def search(
        self,
        query: PersonQuery,
        *,
        limit: int,
        threshold: float,
        wait: float = SEARCH_WAIT_SECONDS,
        explain: bool = True,
    ) -> list[Candidate]:
        """The best candidates, one per record (its best birth-date entry), best first.
        Waits at most ``wait`` seconds for the watch list to be ready, then raises
        WatchlistLoading: an empty answer would say nobody is on it. ``explain=False`` leaves
        the explanations out (faster, for callers that score the candidates again)."""
        self.ensure_ready(wait)
        with self._lock:
            found = self.index.search(query, limit=limit * 2 + 10, threshold=threshold, explain=explain)
        best: dict[str, Candidate] = {}
        for candidate in found:
            record_id = record_of(candidate.entry_id)
            if record_id not in best:
                best[record_id] = candidate
        return list(best.values())

    def __len__(self) -> int:
        return len(self._entries)

    def memory_bytes(self) -> int:
        return self.index.memory_bytes()


def _put(index: PersonIndex, entries: dict[str, int], record_id: str, content: Mapping[str, Any] | None) -> None:
    """Make the record's entries in ``index`` those of ``content`` (none for None)."""
    for entry_id in entry_ids(record_id, entries.pop(record_id, 0)):
        index.remove(entry_id)
    queries = person_queries(content) if content is not None else []
    for entry_id, query in zip(entry_ids(record_id, len(queries)), queries, strict=True):
        index.add(entry_id, query)
    if queries:
        entries[record_id] = len(queries)
