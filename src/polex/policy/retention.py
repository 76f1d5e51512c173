"""Retention: every record has a deadline from its data category and its owner country's
law (five years where the law says nothing, as INTERPOL's rules); the owner is asked to
review it six months before; past the deadline it is purged unless the owner extended it,
with reasons. Purging keeps a tombstone (id, kind, owner, times) so that replicas learn of
it, and nothing else. Every step is audited.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, delete, or_, select, update

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import Actor, AuditTag
from polex.domain.policy import (
    CATEGORY_OF_KIND,
    DEFAULT_RETENTION_MONTHS,
    REVIEW_BEFORE_EXPIRY,
    retention_deadline,
    retention_months,
)
from polex.domain.roles import Permission
from polex.errors import BadRequest, FieldError, NotFound
from polex.policy.service import PolicyService
from polex.storage.tables import RecordKeyRow, RecordRow
from polex.storage.unit_of_work import UnitOfWorkFactory

_SYSTEM = Actor(kind="system", name="retention")


@dataclass(frozen=True)
class RetentionRun:
    assigned: int  # records that had no deadline yet (stored before retention existed)
    review_requested: int
    purged: int


@dataclass(frozen=True)
class DueRecord:
    kind: str
    id: str
    label: str
    retain_until: dt.datetime
    review_requested_at: dt.datetime | None


class KeyListener(Protocol):
    def keys_changed(self, added: Iterable[str], removed: Iterable[str]) -> None: ...


class PurgeListener(Protocol):
    def records_changed(self, kind: str, changed: Mapping[str, Mapping[str, Any] | None]) -> None: ...


class RetentionService:
    def __init__(self, uow: UnitOfWorkFactory, audit: AuditTrail, policy: PolicyService, *, batch: int = 1000) -> None:
        self._uow = uow
        self._audit = audit
        self._policy = policy
        self._batch = batch
        # Told which lookup keys a purge dropped (the screening index forgets them).
        self.key_listeners: list[KeyListener] = []
        self.purge_listeners: list[PurgeListener] = []  # told of purged records (None content)

    def run_once(self, now: dt.datetime | None = None) -> RetentionRun:
        """Give deadlines to records without one, ask owners to review what nears its
        deadline, purge what is past it. Safe to run from several processes at once."""
        now = now or dt.datetime.now(dt.UTC)
        return RetentionRun(
            assigned=self._assign(),
            review_requested=self._request_reviews(now),
            purged=self._purge(now),
        )

    def _assign(self) -> int:
        total = 0
        while True:
            with self._uow() as uow:
                rows = uow.session.execute(
                    select(RecordRow.id, RecordRow.kind, RecordRow.owner_country, RecordRow.created_at)
                    .where(RecordRow.retain_until.is_(None), RecordRow.deleted_at.is_(None))
                    .limit(self._batch)
                ).all()
                for row in rows:
                    uow.session.execute(
                        update(RecordRow)
                        .where(RecordRow.id == row.id, RecordRow.retain_until.is_(None))
                        .values(
                            retain_until=self._policy.retention_deadline(row.kind, row.owner_country, row.created_at)
                        )
                    )
                uow.commit()
            total += len(rows)
            if len(rows) < self._batch:
                return total

    def _request_reviews(self, now: dt.datetime) -> int:
        return self._sweep(
            and_(RecordRow.review_requested_at.is_(None), RecordRow.retain_until <= now + REVIEW_BEFORE_EXPIRY),
            "review_requested",
            {"review_requested_at": now},
            {"within_days": REVIEW_BEFORE_EXPIRY.days},
        )

    def _purge(self, now: dt.datetime) -> int:
        # The content goes, and with it the originals and the projections that held
        # personal data; the tombstone tells replicas to purge too.
        tombstone: dict[str, Any] = {
            "content": {},
            "provenance": {},
            "label": "",
            "terms": "",
            "key": None,
            "status": None,
            "deleted_at": now,
            "purged_at": now,
            "updated_at": now,
            "version": RecordRow.version + 1,
        }
        return self._sweep(
            RecordRow.retain_until <= now,
            "purged",
            tombstone,
            {"reason": "retention deadline passed"},
            drop_keys=True,
        )

    def _sweep(
        self,
        due: ColumnElement[bool],
        action: str,
        values: dict[str, Any],
        details: dict[str, Any],
        *,
        drop_keys: bool = False,
    ) -> int:
        """Apply ``values`` to the live records ``due`` selects, a batch per transaction with
        one audit event per record kind; rows another process holds are left to it."""
        total = 0
        while True:
            dropped: list[str] = []
            by_kind: dict[str, list[str]] = defaultdict(list)
            with self._uow() as uow:
                rows = uow.session.execute(
                    select(RecordRow.id, RecordRow.kind)
                    .where(RecordRow.deleted_at.is_(None), due)
                    .order_by(RecordRow.retain_until)
                    .limit(self._batch)
                    .with_for_update(skip_locked=True)
                ).all()
                if rows:
                    for row in rows:
                        by_kind[row.kind].append(row.id)
                    ids = [row.id for row in rows]
                    uow.session.execute(
                        update(RecordRow).where(RecordRow.id.in_(ids), RecordRow.deleted_at.is_(None)).values(**values)
                    )
                    if drop_keys:
                        dropped = list(
                            uow.session.scalars(select(RecordKeyRow.key).where(RecordKeyRow.record_id.in_(ids)))
                        )
                        uow.session.execute(delete(RecordKeyRow).where(RecordKeyRow.record_id.in_(ids)))
                    self._audit.add(uow, self._events(by_kind, action, details))
                uow.commit()
            if dropped:
                for listener in self.key_listeners:
                    listener.keys_changed((), dropped)
            if drop_keys and rows:
                for kind, ids in by_kind.items():
                    for purge_listener in self.purge_listeners:
                        purge_listener.records_changed(kind, dict.fromkeys(ids))
            total += len(rows)
            if len(rows) < self._batch:
                return total

    @staticmethod
    def _events(by_kind: dict[str, list[str]], action: str, details: dict[str, Any]) -> list[EventDraft]:
        return [
            EventDraft(
                tag=AuditTag.for_record(kind, action),
                actor=_SYSTEM,
                record_kind=kind,
                record_ids=ids,
                result_count=len(ids),
                details=details,
            )
            for kind, ids in sorted(by_kind.items())
        ]

    # -- the owner's side ---------------------------------------------------------------

    def due(self, principal: Principal, *, limit: int = 100) -> Sequence[DueRecord]:
        """The caller's agency's records to review: asked for, or with a deadline within six
        months; soonest first."""
        principal.require(Permission.RECORD_WRITE)
        horizon = dt.datetime.now(dt.UTC) + REVIEW_BEFORE_EXPIRY
        with self._uow(read_only=True) as uow:
            rows = uow.session.execute(
                select(
                    RecordRow.kind, RecordRow.id, RecordRow.label, RecordRow.retain_until, RecordRow.review_requested_at
                )
                .where(
                    RecordRow.owner_agency_id == principal.agency_id,
                    RecordRow.deleted_at.is_(None),
                    or_(RecordRow.retain_until <= horizon, RecordRow.review_requested_at.is_not(None)),
                )
                .order_by(RecordRow.retain_until, RecordRow.id)
                .limit(limit)
            ).all()
        return [DueRecord(row.kind, row.id, row.label, row.retain_until, row.review_requested_at) for row in rows]

    def extend(self, kind: str, record_id: str, until: dt.datetime, reason: str, principal: Principal) -> dt.datetime:
        """Keep a record past its deadline, with reasons: its owner only, at most one more
        full retention period from now."""
        principal.require(Permission.RECORD_WRITE)
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = uow.session.get(RecordRow, record_id)
            if (
                row is None
                or row.kind != kind
                or row.deleted_at is not None
                or row.owner_agency_id != principal.agency_id
            ):
                raise NotFound(
                    f"no {kind.replace('_', ' ')} '{record_id}' of your agency: only the owner extends retention"
                )
            rules = self._policy.current().national_rules.get(row.owner_country)
            # One more full period, counted from the current deadline (or from now when the
            # deadline is past): an extension renews the period, it does not stack them.
            start = max(now, row.retain_until) if row.retain_until is not None else now
            longest = retention_deadline(start, retention_months(rules, CATEGORY_OF_KIND[kind]))
            if row.retain_until is not None and until <= row.retain_until:
                raise BadRequest(
                    "an extension moves the deadline later",
                    errors=[FieldError("retain_until", f"must be after {row.retain_until.isoformat()}")],
                )
            if until > longest:
                months = retention_months(rules, CATEGORY_OF_KIND[kind]) if rules else DEFAULT_RETENTION_MONTHS
                raise BadRequest(
                    f"an extension is at most {months} months past the current deadline",
                    errors=[FieldError("retain_until", f"must be on or before {longest.isoformat()}")],
                )
            previous = row.retain_until
            row.retain_until = until
            row.review_requested_at = None
            details = {
                "from": previous.isoformat() if previous else None,
                "to": until.isoformat(),
                "reason": reason,
            }
            event = EventDraft(
                tag=AuditTag.for_record(kind, "retention_extended"),
                actor=actor_of(principal),
                record_kind=kind,
                record_ids=[record_id],
                details=details,
            )
            self._audit.add(uow, [event])
            uow.commit()
        return until
