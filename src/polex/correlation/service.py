"""Cross-border correlation: a person record (or a notice's subject) that looks like a
person another country recorded on this node, and the alerts its owners get.

Finding them. Every change of a person or notice is told to ``records_changed`` after its
commit; a worker thread of the node takes the changed records from a queue (the filing
request never waits for it), reads each again from the store, looks it up in the person
watch list (the screening index, already current with the change), scores each candidate
of another owner country both ways with the matcher (``polex.correlation.pairs``), and
raises, refreshes, reopens or closes the record's correlations in one transaction with
their audit events. A record withdrawn or purged closes its correlations.

Telling the owners. A correlation is an alert for each of the two owning agencies, about
the other's record, which each sees only as the policy engine lets it see that record:
``polex.correlation.views``. The real-time event (``correlation.raised`` on
``GET /api/v1/events``) goes to an owner only when the engine lets it see the other record
for some purpose, and says no more than a hit-only answer (the other record's reference,
kind and owner) and the score; a list or a read, with the purpose declared, shows the rest.
A correlation an owner may not see is not listed, not counted, and read as one that does
not exist.

Surviving a stop. Changes queued when a node stops are not lost: a serving node starts by
correlating again every record changed since a mark the worker advances whenever its queue
runs dry (to when that round began, less a margin for transactions that commit late), or
every record the first time. Correlating a record twice changes nothing. Changes another
process commits (an import from the command line while the node serves) are not told to
the serving node: they are correlated by that process while it runs, or at the next start
if the mark has not passed them (as for the screening index, a deployment of several
processes on one database needs each to hear the others' changes: not built yet).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.correlation.pairs import (
    THRESHOLD,
    ClosedReason,
    Existing,
    PairScore,
    SideStatus,
    pair_key,
    plan_refresh,
    score_pair,
    to_close,
)
from polex.correlation.repository import CorrelationRepository
from polex.correlation.views import Side, correlation_view
from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.base import new_id
from polex.domain.decisions import PolicySnapshot, Requester, RequesterPolicy
from polex.domain.policy import Purpose
from polex.domain.roles import Permission
from polex.errors import Conflict, FieldError, NotFound
from polex.events import EventHub
from polex.matching.scoring import PersonMatcher, PreparedPerson
from polex.policy.service import PolicyService, requester_of
from polex.record.cursor import decode_cursor, encode_cursor
from polex.record.service import RecordService, facts_of
from polex.screening.persons import WATCHED_KINDS, PersonWatchlist, person_content, person_queries, record_of
from polex.storage.tables import CorrelationRow, RecordRow
from polex.storage.unit_of_work import UnitOfWorkFactory
from polex.threads import run_in_background

log = logging.getLogger("polex.correlation")

SYSTEM = Actor(kind="system", name="correlation")
CURSOR_KIND = "correlation"
# The watch list is searched below the threshold: the matcher is asymmetric, and a record
# that finds the other at 0.7 may be found by it at 0.87; every candidate is then scored
# both ways, and only a pair at the threshold correlates.
SEARCH_CUT = 0.5
SEARCH_LIMIT = 50  # candidates per birth-date entry; same-country ones among them are skipped
# The mark stays this far behind the worker: a transaction's records carry the time it began,
# and a long import commits well after; what changed since the mark is correlated again at
# the next start.
CATCH_UP_MARGIN = dt.timedelta(minutes=10)
RETRIES = 3  # a record whose correlation fails (the store away) is tried again, then left to the next start


class _Closing(Exception):
    """The node closes while the worker waits for the watch list."""


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _sides(row: CorrelationRow, agency_id: str) -> tuple[Side, Side] | None:
    """(the agency's side, the other side), or None when the agency owns neither record."""
    a = Side(row.record_a_id, row.kind_a, row.agency_a_id, row.country_a, row.status_a, row.note_a, row.answered_at_a)
    b = Side(row.record_b_id, row.kind_b, row.agency_b_id, row.country_b, row.status_b, row.note_b, row.answered_at_b)
    if row.agency_a_id == agency_id:
        return a, b
    if row.agency_b_id == agency_id:
        return b, a
    return None


def _other_id(row: CorrelationRow, record_id: str) -> str:
    return row.record_b_id if row.record_a_id == record_id else row.record_a_id


def may_learn(snapshot: PolicySnapshot, agency_id: str, country: str, record: RecordRow) -> bool:
    """Whether the engine lets this agency see the record at all, for some purpose: who is
    told of a correlation in real time (what it is told is no more than a hit says)."""
    facts = facts_of(record)
    return any(
        snapshot.for_requester(Requester(agency_id=agency_id, country=country, purpose=purpose)).decide(facts).visible
        for purpose in Purpose
    )


class CorrelationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        policy: PolicyService,
        records: Mapping[str, RecordService],
        events: EventHub,
        watchlist: PersonWatchlist,
        matcher: PersonMatcher | None = None,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._policy = policy
        self._records = records
        self._events = events
        self._watchlist = watchlist
        self._matcher = matcher or PersonMatcher()
        self._cond = threading.Condition()  # guards everything below
        self._queue: dict[str, int] = {}  # record id -> failed attempts so far, in the order told
        self._busy = False
        self._catch_up = False  # asked, not yet done
        self._marking = False  # this process caught up, so it may advance the mark
        self._frozen = False  # a record was given up on: the mark stays for the next start
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._multinational: set[str] = set()  # owner countries with another country's persons beside them

    # -- following changes ----------------------------------------------------------------------

    def records_changed(self, kind: str, changed: Mapping[str, Mapping[str, Any] | None]) -> None:
        """A ``RecordChangeListener``: queue the changed persons and notices (their content is
        read again when their turn comes: the latest wins)."""
        if kind in WATCHED_KINDS and changed:
            self._enqueue(changed)

    def _enqueue(self, ids: Iterable[str]) -> None:
        with self._cond:
            if self._stop.is_set():
                return
            for record_id in ids:
                self._queue.setdefault(record_id, 0)
            self._start_thread()
            self._cond.notify_all()

    def start(self) -> None:
        """Catch up from the mark, then follow changes: a node that serves calls this."""
        with self._cond:
            self._catch_up = True
            self._start_thread()
            self._cond.notify_all()

    def _start_thread(self) -> None:  # the caller holds the lock
        if self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._run, name="correlation", daemon=True)
            self._thread.start()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every change told so far (and the catch-up asked) is correlated; whether
        it is, within ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy or self._catch_up:
                if self._stop.is_set() and not self._busy:
                    return False  # closed with changes left: the next start correlates them
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self) -> None:
        """Stop the worker between two records; what is still queued is correlated when the
        node next serves (``start``)."""
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _run(self) -> None:
        run_in_background()
        while True:
            with self._cond:
                while not (self._queue or self._catch_up or self._stop.is_set()):
                    self._cond.wait()
                if self._stop.is_set():
                    self._busy = False
                    self._cond.notify_all()
                    return
                self._busy = True
                catch_up = self._catch_up
            try:
                if catch_up:
                    self._queue_since_mark()
                self._work()
            except Exception:  # the store is away ...: the queue stays, tried again shortly
                log.exception("correlating person records failed; trying again in 5 s")
                self._stop.wait(5)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _queue_since_mark(self) -> None:
        with self._uow(read_only=True) as uow:
            repository = CorrelationRepository(uow.session)
            since = repository.mark()
            batches = list(repository.changed_since(since))
        with self._cond:
            for ids in batches:
                for record_id in ids:
                    self._queue.setdefault(record_id, 0)
            self._catch_up = False
            self._marking = True
        log.info("correlation catch-up: %d records changed since %s", sum(map(len, batches)), since or "ever")

    def _work(self) -> None:
        """Correlate what is queued; once the queue is dry, advance the mark to when this
        round began."""
        with self._cond:
            batch, self._queue = self._queue, {}
        taken_at = dt.datetime.now(dt.UTC)
        failed: dict[str, int] = {}
        for position, (record_id, attempts) in enumerate(batch.items()):
            if self._stop.is_set():
                self._requeue(batch, position)
                return
            try:
                self.correlate(record_id)
            except _Closing:
                self._requeue(batch, position)
                return
            except Exception:
                log.exception("correlating record %s failed (attempt %d)", record_id, attempts + 1)
                if attempts + 1 < RETRIES:
                    failed[record_id] = attempts + 1
                else:
                    self._frozen = True
        if failed:
            self._stop.wait(1.0)
            with self._cond:
                for record_id, attempts in failed.items():
                    self._queue.setdefault(record_id, attempts)
            return
        with self._cond:
            dry = not self._queue and self._marking and not self._frozen
        if dry:
            self._set_mark(taken_at - CATCH_UP_MARGIN)

    def _requeue(self, batch: Mapping[str, int], position: int) -> None:
        """What the worker did not get to, back in the queue (drain() does not say done)."""
        with self._cond:
            for record_id in list(batch)[position:]:
                self._queue.setdefault(record_id, batch[record_id])

    def _set_mark(self, mark: dt.datetime) -> None:
        with self._uow() as uow:
            CorrelationRepository(uow.session).set_mark(mark)
            uow.commit()

    def open_count(self) -> int:
        """How many correlations are open on this node, whoever owns them: for operators and
        the demo, never for an owner (whose count must not reveal what it may not see)."""
        with self._uow(read_only=True) as uow:
            return CorrelationRepository(uow.session).open_count()

    # -- correlating one record -----------------------------------------------------------------

    def correlate(self, record_id: str) -> None:
        """Bring the record's correlations up to date with its stored state (in the calling
        thread; the worker calls this)."""
        for attempt in (1, 2):
            try:
                self._correlate(record_id)
                return
            except IntegrityError:
                # Another process raised the same pair meanwhile: read again, refresh it.
                if attempt == 2:
                    raise

    def _correlate(self, record_id: str) -> None:
        with self._uow(read_only=True) as uow:
            repository = CorrelationRepository(uow.session)
            row = uow.session.get(RecordRow, record_id)
            if row is None or row.kind not in WATCHED_KINDS:
                return
            existing = repository.of_record(record_id)
            live = row.deleted_at is None
            searchable = live and self._other_owners(repository, row.owner_country)
        if not live:
            if existing:
                reason = ClosedReason.PURGED if row.purged_at is not None else ClosedReason.WITHDRAWN
                self._close(row, reason)
            return
        queries = person_queries(person_content(row.kind, row.content) or {})
        candidates: set[str] = set()
        if queries and searchable:
            self._wait_for_watchlist()
            for query in queries:
                found = self._watchlist.search(query, limit=SEARCH_LIMIT, threshold=SEARCH_CUT, wait=0, explain=False)
                for candidate in found:
                    candidates.add(record_of(candidate.entry_id))
        candidates.update(_other_id(correlation, record_id) for correlation in existing)
        candidates.discard(record_id)
        if not candidates:
            return
        with self._uow(read_only=True) as uow:
            others = CorrelationRepository(uow.session).records(candidates)
        mine = [self._matcher.prepare(query) for query in queries]
        matches: dict[str, PairScore] = {}
        scored: set[str] = set()
        for other in others.values():
            if other.kind not in WATCHED_KINDS or other.owner_country == row.owner_country:
                continue
            scored.add(other.id)  # a withdrawn one too: its open correlation closes
            if other.deleted_at is not None:
                continue
            pair = score_pair(self._matcher, row.id, mine, other.id, self._prepared(other))
            if pair is not None and pair.score >= THRESHOLD:
                matches[other.id] = pair
        self._apply(row, others, matches, scored)

    def _other_owners(self, repository: CorrelationRepository, country: str) -> bool:
        """Whether records of another owner country are on this node. Once they are, they
        are taken to stay (a withdrawal costs only a search that finds nothing)."""
        if country in self._multinational:
            return True
        if repository.other_owner_exists(country):
            self._multinational.add(country)
            return True
        return False

    def _prepared(self, row: RecordRow) -> list[PreparedPerson]:
        return [self._matcher.prepare(query) for query in person_queries(person_content(row.kind, row.content) or {})]

    def _wait_for_watchlist(self) -> None:
        # Short waits, so that close() is not held up by a watch list still loading.
        while not self._watchlist.wait_ready(0.5):
            if self._stop.is_set():
                raise _Closing

    def _apply(
        self, row: RecordRow, others: Mapping[str, RecordRow], matches: Mapping[str, PairScore], scored: set[str]
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        raised: list[CorrelationRow] = []
        reopened: set[str] = set()
        closed: list[CorrelationRow] = []
        with self._uow() as uow:
            repository = CorrelationRepository(uow.session)
            stored = repository.of_record(row.id, for_update=True)
            by_id = {correlation.id: correlation for correlation in stored}
            plan = plan_refresh(
                matches,
                scored,
                [Existing(c.id, _other_id(c, row.id), c.closed_at is not None) for c in stored],
            )
            if not plan:
                return
            changed = False
            for other_id in plan.raise_with:
                correlation = _new_correlation(row, others[other_id], matches[other_id], now)
                repository.add(correlation)
                raised.append(correlation)
            for correlation_id in plan.reopen:
                correlation = by_id[correlation_id]
                correlation.closed_at, correlation.closed_reason = None, None
                _rescore(correlation, matches[_other_id(correlation, row.id)], now)
                raised.append(correlation)
                reopened.add(correlation.id)
            for correlation_id in plan.refresh:
                correlation = by_id[correlation_id]
                changed |= _rescore(correlation, matches[_other_id(correlation, row.id)], now)
            for correlation_id in plan.close:
                correlation = by_id[correlation_id]
                other = others.get(_other_id(correlation, row.id))
                _shut(correlation, _closing_reason(other), now)
                closed.append(correlation)
            if not (raised or closed or changed):
                return
            snapshot = self._policy.snapshot(now)
            told = {correlation.id: self._audience(snapshot, correlation, row, others) for correlation in raised}
            drafts = [
                _event(
                    AuditTag.CORRELATION_RAISED,
                    correlation,
                    score=round(correlation.score, 4),
                    told=sorted(told[correlation.id]),
                    reopened=correlation.id in reopened,
                )
                for correlation in raised
            ]
            drafts += [_event(AuditTag.CORRELATION_CLOSED, c, reason=c.closed_reason) for c in closed]
            self._audit.add(uow, drafts)
            uow.commit()
        for correlation in raised:
            self._tell_raised(correlation, told[correlation.id])
        if closed:
            closing = {row.id: row, **others}
            for correlation in closed:
                self._tell_closed(correlation, self._audience(snapshot, correlation, row, closing))

    def _close(self, row: RecordRow, reason: ClosedReason) -> None:
        """The record is gone: its open correlations close."""
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            repository = CorrelationRepository(uow.session)
            stored = repository.of_record(row.id, for_update=True)
            ids = set(to_close([Existing(c.id, _other_id(c, row.id), c.closed_at is not None) for c in stored]))
            closed = [correlation for correlation in stored if correlation.id in ids]
            if not closed:
                return
            for correlation in closed:
                _shut(correlation, reason, now)
            others = repository.records({_other_id(c, row.id) for c in closed})
            self._audit.add(uow, [_event(AuditTag.CORRELATION_CLOSED, c, reason=reason.value) for c in closed])
            uow.commit()
        snapshot = self._policy.snapshot(now)
        records = {row.id: row, **others}
        for correlation in closed:
            self._tell_closed(correlation, self._audience(snapshot, correlation, row, records))

    @staticmethod
    def _audience(
        snapshot: PolicySnapshot, correlation: CorrelationRow, row: RecordRow, others: Mapping[str, RecordRow]
    ) -> set[str]:
        """The owning agencies that may learn of the correlation: each only if the engine
        lets it see the other side's record for some purpose."""
        records = {row.id: row, **others}
        told: set[str] = set()
        for agency, country, other_id in (
            (correlation.agency_a_id, correlation.country_a, correlation.record_b_id),
            (correlation.agency_b_id, correlation.country_b, correlation.record_a_id),
        ):
            other = records.get(other_id)
            if other is not None and may_learn(snapshot, agency, country, other):
                told.add(agency)
        return told

    def _tell_raised(self, correlation: CorrelationRow, agencies: set[str]) -> None:
        for agency_id in sorted(agencies):
            sides = _sides(correlation, agency_id)
            if sides is None:
                continue
            mine, other = sides
            self._events.publish(
                "correlation.raised",
                {
                    "id": correlation.id,
                    "score": round(correlation.score, 4),
                    "record": mine.reference(),
                    "other": other.reference(),
                },
                permission=Permission.RECORD_READ,
                agency_id=agency_id,
            )

    def _tell_closed(self, correlation: CorrelationRow, agencies: set[str]) -> None:
        for agency_id in sorted(agencies):
            sides = _sides(correlation, agency_id)
            if sides is not None:
                self._events.publish(
                    "correlation.closed",
                    {"id": correlation.id, "reason": correlation.closed_reason, "record": sides[0].reference()},
                    permission=Permission.RECORD_READ,
                    agency_id=agency_id,
                )

    # -- the owners' side -----------------------------------------------------------------------

    def list(
        self,
        principal: Principal,
        *,
        purpose: Purpose,
        state: str = "open",
        record_id: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """A page of the caller's agency's correlations (``state``: open, closed or all), newest
        first, each as the policy lets the caller see the other record; those it may not see
        are skipped, never counted."""
        principal.require(Permission.RECORD_READ)
        view = self._policy.snapshot().for_requester(requester_of(principal, purpose))
        before = decode_cursor(CURSOR_KIND, cursor) if cursor else None
        shown: list[dict[str, Any]] = []
        shown_records: list[str] = []
        batch = max(limit + 1, 100)
        with self._uow(read_only=True) as uow:
            repository = CorrelationRepository(uow.session)
            while len(shown) <= limit:
                rows = repository.of_agency(
                    principal.agency_id, before_id=before, limit=batch, state=state, record_id=record_id
                )
                others = repository.records({_other_id_for(row, principal.agency_id) for row in rows})
                for row in rows:
                    item = self._view(row, principal.agency_id, view, others)
                    if item is not None:
                        shown.append(item)
                        shown_records.append(item["other"]["record"]["id"])
                        if len(shown) > limit:
                            break
                if len(rows) < batch:
                    break
                before = rows[-1].id
        more = len(shown) > limit
        shown, shown_records = shown[:limit], shown_records[:limit]
        # The cursor is the last correlation shown, never a hidden one.
        next_cursor = encode_cursor(CURSOR_KIND, shown[-1]["id"]) if more and shown else None
        self._audit.record(
            [
                EventDraft(
                    tag=AuditTag.CORRELATION_VIEWED,
                    actor=actor_of(principal),
                    record_ids=shown_records,
                    result_count=len(shown),
                    details={"correlations": [item["id"] for item in shown], "state": state},
                )
            ]
        )
        return Page(items=shown, next_cursor=next_cursor)

    def get(self, correlation_id: str, principal: Principal, *, purpose: Purpose) -> dict[str, Any]:
        """One correlation of the caller's agency, as the policy lets it see the other record;
        one it may not see is answered as one that does not exist (and audited as refused)."""
        principal.require(Permission.RECORD_READ)
        view = self._policy.snapshot().for_requester(requester_of(principal, purpose))
        with self._uow(read_only=True) as uow:
            repository = CorrelationRepository(uow.session)
            row = repository.get(correlation_id)
            others = {} if row is None else repository.records([_other_id_for(row, principal.agency_id)])
        item = None if row is None else self._view(row, principal.agency_id, view, others)
        self._audit.record(
            [
                EventDraft(
                    tag=AuditTag.CORRELATION_VIEWED,
                    actor=actor_of(principal),
                    record_ids=[] if item is None else [item["other"]["record"]["id"]],
                    result_count=0 if item is None else 1,
                    decision=Decision.DENIED if row is not None and item is None else Decision.ALLOWED,
                    details={"correlations": [correlation_id]},
                )
            ]
        )
        if item is None:
            raise _not_found(correlation_id)
        return item

    def answer(
        self, correlation_id: str, principal: Principal, *, purpose: Purpose, confirmed: bool, reason: str
    ) -> dict[str, Any]:
        """The caller's agency says whether its record and the other are the same person (it
        answers for its own side; the other owner answers for its own)."""
        principal.require(Permission.RECORD_WRITE)
        view = self._policy.snapshot().for_requester(requester_of(principal, purpose))
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            repository = CorrelationRepository(uow.session)
            row = repository.get(correlation_id, for_update=True)
            sides = None if row is None else _sides(row, principal.agency_id)
            if row is None or sides is None:
                raise _not_found(correlation_id)
            mine, other = sides
            others = repository.records([other.record_id, mine.record_id])
            if self._view(row, principal.agency_id, view, others) is None:
                raise _not_found(correlation_id)
            if row.closed_at is not None:
                raise Conflict(
                    f"this correlation is closed ({row.closed_reason})",
                    errors=[FieldError("status", f"closed: {row.closed_reason}")],
                )
            if mine.status != SideStatus.OPEN.value:
                raise Conflict(
                    f"your agency already {mine.status} this correlation",
                    errors=[FieldError("status", mine.status)],
                )
            status = SideStatus.CONFIRMED if confirmed else SideStatus.DISMISSED
            side = "a" if row.record_a_id == mine.record_id else "b"
            setattr(row, f"status_{side}", status.value)
            setattr(row, f"note_{side}", reason)
            setattr(row, f"answered_at_{side}", now)
            row.updated_at = now
            tag = AuditTag.CORRELATION_CONFIRMED if confirmed else AuditTag.CORRELATION_DISMISSED
            self._audit.add(uow, [_event(tag, row, actor=actor_of(principal), status=status.value)])
            uow.commit()
        item = self._view(row, principal.agency_id, view, others)
        if item is None:  # not reached: it was visible a moment ago, and only the status changed
            raise _not_found(correlation_id)
        mine_row = others.get(mine.record_id)
        snapshot = self._policy.snapshot(now)
        if mine_row is not None and may_learn(snapshot, other.agency_id, other.country, mine_row):
            self._events.publish(
                "correlation.answered",
                {
                    "id": row.id,
                    "record": other.reference(),
                    "other": mine.reference(),
                    "other_status": status.value,
                },
                permission=Permission.RECORD_READ,
                agency_id=other.agency_id,
            )
        return item

    def _view(
        self, row: CorrelationRow, agency_id: str, view: RequesterPolicy, others: Mapping[str, RecordRow]
    ) -> dict[str, Any] | None:
        sides = _sides(row, agency_id)
        if sides is None:
            return None
        mine, other = sides
        record = others.get(other.record_id)
        if record is None:
            return None
        decision = view.decide(facts_of(record))
        shown = self._records[record.kind].to_json(record) if decision.visible and record.deleted_at is None else None
        return correlation_view(
            correlation_id=row.id,
            score=row.score,
            explanation=row.explanation,
            created_at=row.created_at,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
            closed_reason=row.closed_reason,
            mine=mine,
            other=other,
            decision=decision,
            other_record=shown,
        )


def _other_id_for(row: CorrelationRow, agency_id: str) -> str:
    """The record of the side the agency does not own (side b when it owns neither)."""
    return row.record_b_id if row.agency_a_id == agency_id else row.record_a_id


def _not_found(correlation_id: str) -> NotFound:
    return NotFound(f"no correlation '{correlation_id}' of your agency")


def _new_correlation(row: RecordRow, other: RecordRow, pair: PairScore, now: dt.datetime) -> CorrelationRow:
    first, second = (row, other) if pair_key(row.id, other.id)[0] == row.id else (other, row)
    return CorrelationRow(
        id=new_id(),
        record_a_id=first.id,
        kind_a=first.kind,
        agency_a_id=first.owner_agency_id,
        country_a=first.owner_country,
        status_a=SideStatus.OPEN.value,
        record_b_id=second.id,
        kind_b=second.kind,
        agency_b_id=second.owner_agency_id,
        country_b=second.owner_country,
        status_b=SideStatus.OPEN.value,
        score=pair.score,
        explanation=pair.explanation_json(),
        created_at=now,
        updated_at=now,
    )


def _rescore(correlation: CorrelationRow, pair: PairScore, now: dt.datetime) -> bool:
    """The pair's new score and explanation; whether they changed."""
    explanation = pair.explanation_json()
    if correlation.score == pair.score and correlation.explanation == explanation:
        return False
    correlation.score, correlation.explanation, correlation.updated_at = pair.score, explanation, now
    return True


def _shut(correlation: CorrelationRow, reason: ClosedReason, now: dt.datetime) -> None:
    correlation.closed_at, correlation.closed_reason, correlation.updated_at = now, reason.value, now


def _closing_reason(other: RecordRow | None) -> ClosedReason:
    if other is None or other.deleted_at is None:
        return ClosedReason.NO_LONGER_MATCHES
    return ClosedReason.PURGED if other.purged_at is not None else ClosedReason.WITHDRAWN


def _event(tag: AuditTag, correlation: CorrelationRow, *, actor: Actor = SYSTEM, **details: Any) -> EventDraft:
    kinds = {correlation.kind_a, correlation.kind_b}
    return EventDraft(
        tag=tag,
        actor=actor,
        record_kind=kinds.pop() if len(kinds) == 1 else None,
        record_ids=[correlation.record_a_id, correlation.record_b_id],
        result_count=1,
        details={"correlation": correlation.id, **details},
    )
