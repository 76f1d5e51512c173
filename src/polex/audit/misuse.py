"""Runs the misuse rules (``polex.domain.misuse``) over the audit trail as it grows and
raises their alerts to the node's auditors and administrators (``/api/v1/audit/alerts``).

On start the rules' windows are warmed with the last day of the trail, without raising
again what that day already raised; afterwards every new entry is fed once, in order.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from sqlalchemy import select

from polex.audit.repository import AuditRepository
from polex.domain.audit import Actor, AuditEvent
from polex.domain.base import new_id
from polex.domain.misuse import MisuseAlert, MisuseDetector, MisuseRules
from polex.storage.tables import ApiKeyRow, AuditAlertRow, AuditEventRow, UserRow
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.audit.misuse")
WARM_UP = dt.timedelta(days=1)
CHUNK = 10_000


class MisuseMonitor:
    def __init__(self, uow: UnitOfWorkFactory, rules: MisuseRules, *, origin: str) -> None:
        self._uow = uow
        self._origin = origin
        self._detector = MisuseDetector(rules, roles_of=self._roles_of)
        self._watermark: int | None = None
        self._roles: dict[str, tuple[str, ...]] = {}

    def run_once(self) -> list[MisuseAlert]:
        """Feed the entries appended since the last round; store and return new alerts."""
        if self._watermark is None:
            self._warm_up()
            return []
        alerts: list[MisuseAlert] = []
        while True:
            with self._uow(read_only=True) as uow:
                rows = AuditRepository(uow.session).event_rows(self._watermark, self._watermark + CHUNK)
                events = [AuditEvent.model_validate_json(row.entry) for row in rows]
            if not events:
                break
            for event in events:
                alerts.extend(self._detector.observe(event))
            self._watermark = events[-1].seq + 1
        self._store(alerts)
        return alerts

    def _warm_up(self) -> None:
        since = dt.datetime.now(dt.UTC) - WARM_UP
        with self._uow(read_only=True) as uow:
            size = AuditRepository(uow.session).size()
            first = uow.session.scalar(
                select(AuditEventRow.seq).where(AuditEventRow.at >= since).order_by(AuditEventRow.seq).limit(1)
            )
        position = size if first is None else int(first)
        while position < size:
            with self._uow(read_only=True) as uow:
                rows = AuditRepository(uow.session).event_rows(position, min(size, position + CHUNK))
                events = [AuditEvent.model_validate_json(row.entry) for row in rows]
            for event in events:
                self._detector.observe(event)  # what this day raised was raised already
            position += CHUNK
        self._watermark = size

    def _roles_of(self, actor: Actor) -> Iterable[str]:
        if actor.id is None:
            return ()
        if actor.id not in self._roles:
            with self._uow(read_only=True) as uow:
                table = UserRow if actor.kind == "user" else ApiKeyRow
                roles = uow.session.scalar(select(table.roles).where(table.id == actor.id))
            self._roles[actor.id] = tuple(roles or ())
        return self._roles[actor.id]

    def _store(self, alerts: list[MisuseAlert]) -> None:
        if not alerts:
            return
        with self._uow() as uow:
            for alert in alerts:
                log.warning("misuse alert %s on %s: %s", alert.rule.value, alert.key, alert.explanation)
                uow.session.add(
                    AuditAlertRow(
                        id=new_id(),
                        at=dt.datetime.now(dt.UTC),
                        kind=f"misuse:{alert.rule.value}",
                        log=self._origin,
                        detail=alert.explanation,
                        evidence=alert.model_dump(mode="json"),
                    )
                )
            uow.commit()
