"""Runs the misuse rules (``polex.domain.misuse``) over the audit trail as it grows and
raises their alerts to the node's auditors and administrators (``/api/v1/audit/alerts``).

On start the rules' windows are warmed with the last day of the trail, without raising
again what that day already raised; afterwards every new entry is fed once, in order.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select

from polex.audit.repository import AuditRepository, entry_texts
from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.base import new_id
from polex.domain.misuse import MisuseAlert, MisuseDetector, MisuseRules
from polex.storage.tables import ApiKeyRow, AuditAlertRow, AuditEventRow, UserRow
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.audit.misuse")
WARM_UP = dt.timedelta(days=1)
# Entries are read and fed a chunk at a time, with a pause between chunks: the monitor runs
# in the serving process, and a round of thousands of entries fed in one go would hold the
# interpreter from the event loop for a good part of a second (a stall every border check
# felt, measured with the checks at 300/s).
CHUNK = 500
_ACTORS_KEPT = 10_000
# An enum's call is several times a dictionary lookup; unknown values still go through the
# call, which says what is wrong with them.
_TAGS = {tag.value: tag for tag in AuditTag}
_DECISIONS = {decision.value: decision for decision in Decision}


@dataclass(frozen=True, slots=True)
class _Entry:
    """An entry as the rules read it (``polex.domain.misuse.ObservedEvent``)."""

    seq: int
    at: dt.datetime
    tag: AuditTag
    decision: Decision
    actor: Actor
    purpose: str | None
    record_ids: Sequence[str]
    case_reference: str | None


class MisuseMonitor:
    def __init__(self, uow: UnitOfWorkFactory, rules: MisuseRules, *, origin: str) -> None:
        self._uow = uow
        self._origin = origin
        self._detector = MisuseDetector(rules, roles_of=self._roles_of)
        self._watermark: int | None = None
        self._roles: dict[str, tuple[str, ...]] = {}
        self._actors: dict[tuple[str | None, ...], Actor] = {}  # entries repeat their actors

    def run_once(self) -> list[MisuseAlert]:
        """Feed the entries appended since the last round; store and return new alerts."""
        if self._watermark is None:
            self._warm_up()
            return []
        alerts: list[MisuseAlert] = []
        while True:
            entries = self._entries(self._watermark, self._watermark + CHUNK)
            if not entries:
                break
            for entry in entries:
                alerts.extend(self._detector.observe(entry))
            self._watermark = entries[-1].seq + 1
            time.sleep(0)  # let the event loop in between chunks
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
            for entry in self._entries(position, min(size, position + CHUNK)):
                self._detector.observe(entry)  # what this day raised was raised already
            position += CHUNK
            time.sleep(0)
        self._watermark = size

    def _entries(self, start: int, end: int) -> list[_Entry]:
        """The stored entries ``start`` to ``end``, read without validating them again: the
        log wrote them from validated events, and its Merkle tree (``polex audit verify``)
        is what vouches for them. A pydantic model each cost five times the rules' own work."""
        with self._uow(read_only=True) as uow:
            entries = entry_texts(uow.session.connection(), start, end)
        return [self._entry(orjson.loads(entry)) for entry in entries]

    def _entry(self, fields: dict[str, Any]) -> _Entry:
        stored = fields["actor"]
        key = (stored["kind"], stored["id"], stored["name"], stored["agency_id"], stored["country"])
        actor = self._actors.get(key)
        if actor is None:
            if len(self._actors) >= _ACTORS_KEPT:
                self._actors.clear()
            actor = self._actors[key] = Actor.model_construct(**stored)
        return _Entry(
            seq=fields["seq"],
            at=dt.datetime.fromisoformat(fields["at"]),
            tag=_TAGS.get(fields["tag"]) or AuditTag(fields["tag"]),
            decision=_DECISIONS.get(fields["decision"]) or Decision(fields["decision"]),
            actor=actor,
            purpose=fields["purpose"],
            record_ids=fields["record_ids"],
            case_reference=fields["case_reference"],
        )

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
