"""The person watch list: every live person record of the node and the subject of every
notice and diffusion in force, in the matcher's index, loaded from the store at start-up and
kept current with every change after its commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy import select

from polex.matching.index import PersonIndex
from polex.matching.model import Candidate, PersonQuery
from polex.storage.tables import RecordRow
from polex.storage.unit_of_work import UnitOfWorkFactory

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


class PersonWatchlist:
    """A thread-safe wrapper of the matcher's index over the node's person records."""

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
        self._lock = threading.Lock()
        self.index = index or PersonIndex()
        self._entries: dict[str, int] = {}  # record id -> entries (one per birth date)

    def load(self) -> tuple[int, float]:
        """Fill the index from the store; returns (records, seconds)."""
        started = time.perf_counter()
        fresh = PersonIndex(self.index.matcher)
        entries: dict[str, int] = {}
        for record_id, content in self._source():
            queries = person_queries(content) if content is not None else []
            for entry_id, query in zip(entry_ids(record_id, len(queries)), queries, strict=True):
                fresh.add(entry_id, query)
            if queries:
                entries[record_id] = len(queries)
        fresh.compact()
        with self._lock:
            self.index, self._entries = fresh, entries
        return len(entries), time.perf_counter() - started

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
            for record_id, record in changed.items():
                content = person_content(kind, record)
                for entry_id in entry_ids(record_id, self._entries.pop(record_id, 0)):
                    self.index.remove(entry_id)
                queries = person_queries(content) if content is not None else []
                for entry_id, query in zip(entry_ids(record_id, len(queries)), queries, strict=True):
                    self.index.add(entry_id, query)
                if queries:
                    self._entries[record_id] = len(queries)

    def search(self, query: PersonQuery, *, limit: int, threshold: float) -> list[Candidate]:
        """The best candidates, one per record (its best birth-date entry), best first."""
        with self._lock:
            found = self.index.search(query, limit=limit * 2 + 10, threshold=threshold)
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
