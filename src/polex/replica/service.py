"""The national replica (INTERPOL's MIND): a national node's offline copy of the hub's
documents and vehicles that its country may see, so that border checks answer even when
the hub is unreachable, and say how old their data is.

The hub serves changes (``ReplicaFeed``) in the order of their last change, after an
opaque cursor, to an enrolled node only, each record decided by the policy engine for that
node's country and the purpose the copy serves (border control): in full, redacted,
hit-only, or not at all, in which case the node is told to drop it. Lookup keys travel as
SHA-256 digests, so a hit-only record still answers "on file, ask the owner" offline while
its number is not handed over in clear. Every page is audited at the hub, naming the
records that left.

The national node (``ReplicaSync``) pulls pages until it is current, stores them, keeps a
fingerprint index of their key digests, and records the hub time its copy is as of: the
replica's lag. ``resync`` drops the copy and pulls it again (after a change of agreements,
which the incremental feed does not replay).

Changes are served only once they are ``SETTLE`` old: a transaction that committed late
with an earlier timestamp would otherwise slip behind a cursor already past it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import httpx
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import Actor, AuditTag
from polex.domain.decisions import Outcome, Requester, apply_decision
from polex.domain.roles import Permission
from polex.errors import BadRequest, FieldError, Forbidden, NotFound
from polex.events import EventHub
from polex.network.membership import Member
from polex.network.view import NetworkUnavailable, NetworkView
from polex.policy.service import PolicyService
from polex.record.service import RecordService
from polex.screening.follower import LogFollower
from polex.screening.index import FingerprintIndex
from polex.screening.persons import PersonWatchlist, person_content
from polex.screening.service import REPLICA_PURPOSE
from polex.storage.tables import RecordKeyRow, RecordRow, ReplicaKeyRow, ReplicaRecordRow, ReplicaStateRow
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.replica")

REPLICATED_KINDS = ("travel_document", "vehicle", "person", "notice")
MATCHED_KINDS = ("person", "notice")  # found by their names, not by keys
SETTLE = dt.timedelta(seconds=2)
PAGE = 1000
FEED_PATH = "/api/v1/network/replica"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def digest_fingerprint_key(digest: str) -> str:
    """What the replica's fingerprint index holds for a key digest."""
    return f"h:{digest}"


def _encode_cursor(updated_at: dt.datetime, record_id: str) -> str:
    raw = json.dumps([updated_at.isoformat(), record_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        when, record_id = json.loads(base64.urlsafe_b64decode(padded))
        return dt.datetime.fromisoformat(when), str(record_id)
    except (ValueError, TypeError) as error:
        raise BadRequest("the cursor is not one this feed gave", errors=[FieldError("cursor", "unreadable")]) from error


class ReplicaFeed:
    """The hub's side: changes since a cursor, decided for the calling node's country."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        policy: PolicyService,
        records: Mapping[str, RecordService],
        network: NetworkView,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._policy = policy
        self._records = records
        self._network = network

    def changes(self, caller: str, cursor: str | None, *, limit: int = PAGE) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        settled = now - SETTLE
        statement = (
            select(RecordRow)
            .where(RecordRow.kind.in_(REPLICATED_KINDS), RecordRow.updated_at <= settled)
            .order_by(RecordRow.updated_at, RecordRow.id)
            .limit(limit)
        )
        if cursor:
            after_time, after_id = _decode_cursor(cursor)
            statement = statement.where(
                or_(
                    RecordRow.updated_at > after_time,
                    and_(RecordRow.updated_at == after_time, RecordRow.id > after_id),
                )
            )
        with self._uow() as uow:
            rows = list(uow.session.scalars(statement))
            changes = self._decided(uow, caller, rows)
            uow.commit()
        next_cursor = _encode_cursor(rows[-1].updated_at, rows[-1].id) if rows else cursor
        return {"changes": changes, "cursor": next_cursor, "as_of": settled.isoformat(), "more": len(rows) == limit}

    def changes_for(self, caller: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The current state of these records, decided for the calling node: what the hub
        pushes the moment they change, ahead of the settled feed (which repeats it)."""
        with self._uow() as uow:
            rows = list(
                uow.session.scalars(
                    select(RecordRow).where(RecordRow.id.in_(sorted(set(ids))), RecordRow.kind.in_(REPLICATED_KINDS))
                )
            )
            changes = self._decided(uow, caller, rows)
            uow.commit()
        return changes

    def _decided(self, uow: Any, caller: str, rows: Sequence[RecordRow]) -> list[dict[str, Any]]:
        """Each row as the caller's country may copy it (or its removal), audited before it
        leaves."""
        member = self._network.membership().members.get(caller)
        if member is None:
            raise NotFound(f"no member '{caller}'")
        view = self._policy.snapshot().for_requester(
            Requester(agency_id=f"replica:{caller}", country=member.country, purpose=REPLICA_PURPOSE)
        )
        changes: list[dict[str, Any]] = []
        sent: list[str] = []
        keys: dict[str, list[str]] = {}
        live = [row.id for row in rows if row.deleted_at is None]
        for start in range(0, len(live), 500):
            for key, record_id in uow.session.execute(
                select(RecordKeyRow.key, RecordKeyRow.record_id).where(
                    RecordKeyRow.record_id.in_(live[start : start + 500])
                )
            ):
                keys.setdefault(record_id, []).append(key)
        for row in rows:
            decision = (
                None
                if row.deleted_at is not None
                else view.decide_parts(
                    row.kind, row.owner_agency_id, row.owner_country, row.restrictions, row.retain_until
                )
            )
            shown = (
                apply_decision(self._records[row.kind].to_json(row), decision)
                if decision is not None and decision.visible
                else None
            )
            # A document or vehicle is found by its keys; a person by its names, which a
            # hit-only answer withholds: such a person cannot be matched offline.
            unusable = (
                decision is None
                or shown is None
                or (decision.outcome is Outcome.HIT_ONLY if row.kind in MATCHED_KINDS else row.id not in keys)
            )
            if decision is None or shown is None or unusable:
                changes.append(
                    {
                        "id": row.id,
                        "deleted": True,
                        "version": row.version,
                        "updated_at": row.updated_at.isoformat(),
                    }
                )
                continue
            sent.append(row.id)
            changes.append(
                {
                    "id": row.id,
                    "kind": row.kind,
                    "version": row.version,
                    "updated_at": row.updated_at.isoformat(),
                    "owner": {"agency_id": row.owner_agency_id, "country": row.owner_country},
                    "access": decision.outcome.value,
                    "consult_owner": decision.consult_owner,
                    "record": shown,
                    "key_hashes": sorted(key_digest(key) for key in keys.get(row.id, ())),
                }
            )
        if sent:
            # Durable before the records leave for the node.
            self._audit.add(
                uow,
                [
                    EventDraft(
                        tag=AuditTag.REPLICA_SERVED,
                        actor=Actor(kind="node", name=caller, country=member.country),
                        record_ids=sent,
                        result_count=len(sent),
                        details={"node": caller, "changes": len(changes)},
                        purpose=REPLICA_PURPOSE.value,
                    )
                ],
            )
        return changes


class ReplicaSync:
    """The national node's side: pull, store, index, and say how current the copy is."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        network: NetworkView,
        *,
        http: Callable[[], httpx.Client] | None = None,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._network = network
        self._http = http or (lambda: network.clients.client(timeout=30))
        self.index = FingerprintIndex()
        self.watchlist = PersonWatchlist(uow, source=self._replica_persons)
        # What the node's other processes store in the copy, into this process's indexes.
        self.follower = ReplicaFollower(uow, self)
        self.reachable = False  # whether the last attempt to reach the hub succeeded
        self.events: EventHub | None = None  # users' real-time streams, when the API serves
        # Told, after the copy and its indexes changed, which records did (metrics, benchmarks).
        self.applied_listeners: list[Callable[[Sequence[str]], None]] = []

    # -- pulling ----------------------------------------------------------------------------

    def sync_once(self) -> int:
        """Pull every page the hub has after the cursor; returns the changes applied. A
        failure is recorded (and the copy kept as it was) for the next round to retry."""
        applied = 0
        started = dt.datetime.now(dt.UTC)
        try:
            hub = self._network.hub()
            with self._http() as client:
                while True:
                    after = self._state().cursor
                    response = self._network.call_hub(partial(self._page, client, hub.name, after))
                    response.raise_for_status()
                    page = response.json()
                    applied += self._apply(
                        page["changes"],
                        page["cursor"],
                        dt.datetime.fromisoformat(page["as_of"]),
                        asked_after=after,
                        hub=hub,
                    )
                    if not page.get("more"):
                        break
        except (httpx.HTTPError, NetworkUnavailable, KeyError, ValueError) as error:
            self.reachable = False
            self._record_failure(started, str(error))
            log.warning("replica sync failed: %s", error)
            return applied
        self.reachable = True
        return applied

    def _page(self, client: httpx.Client, hub_name: str, cursor: str | None, base_url: str) -> httpx.Response:
        """The hub's page of changes after ``cursor``, asked at one of its access points."""
        return client.get(
            f"{base_url}{FEED_PATH}",
            params={"cursor": cursor} if cursor else {},
            headers={"Authorization": f"PolexNode {self._network.token_for(hub_name)}"},
        )

    def apply_pushed(self, changes: Sequence[Mapping[str, Any]], *, caller: str) -> int:
        """Changes the hub pushed the moment they happened (notices put in force or
        withdrawn): applied at once, unless the copy already holds a later version. The
        cursor does not move: the settled feed brings the same changes again, harmlessly."""
        hub = self._network.hub()
        if caller != hub.name:
            raise Forbidden("only the hub pushes replica changes")
        return self._apply(changes, None, None, hub=hub, pushed=True)

    def _apply(
        self,
        changes: Sequence[Mapping[str, Any]],
        cursor: str | None,
        as_of: dt.datetime | None,
        *,
        hub: Member,
        asked_after: str | None = None,
        pushed: bool = False,
    ) -> int:
        """Store a page pulled after ``asked_after`` (``cursor`` and ``as_of`` are the
        page's), or changes the hub ``pushed``. Each record applied is named in the audit
        log in the same transaction: the other processes of this node follow the log into
        their indexes (``ReplicaFollower``)."""
        now = dt.datetime.now(dt.UTC)
        added: list[str] = []
        removed: list[str] = []
        matched: dict[str, dict[str, Mapping[str, Any] | None]] = {kind: {} for kind in MATCHED_KINDS}
        notices: list[tuple[Mapping[str, Any], str]] = []
        applied: list[str] = []
        with self._uow() as uow:
            # Taken first, so that the processes of a node apply one page at a time: each
            # reads the copy as the one before left it.
            state = self._state_row(uow.session)
            if not pushed and state.cursor != asked_after:
                return 0  # another process of this node stored this page meanwhile
            ids = [change["id"] for change in changes]
            existing = {
                row.id: row
                for start in range(0, len(ids), 500)
                for row in uow.session.scalars(
                    select(ReplicaRecordRow).where(ReplicaRecordRow.id.in_(ids[start : start + 500]))
                )
            }
            for change in changes:
                old = existing.get(change["id"])
                if old is not None and int(change.get("version") or 0) < old.version:
                    continue  # an older state than the copy's (a push overtook this page)
                if old is None and change.get("deleted"):
                    continue
                applied.append(change["id"])
                kind = change.get("kind") or (old.kind if old is not None else None)
                if kind in MATCHED_KINDS:
                    matched[kind][change["id"]] = None if change.get("deleted") else change["record"]
                if kind == "notice":
                    notices.append(
                        (
                            change.get("record") or {"id": change["id"]},
                            "withdrawn" if change.get("deleted") else "in_force",
                        )
                    )
                if old is not None:
                    removed += [digest_fingerprint_key(digest) for digest in old.key_hashes]
                    uow.session.execute(delete(ReplicaKeyRow).where(ReplicaKeyRow.record_id == old.id))
                    uow.session.delete(old)
                    uow.session.flush()
                if change.get("deleted"):
                    continue
                row = ReplicaRecordRow(
                    id=change["id"],
                    kind=change["kind"],
                    owner_agency_id=change["owner"]["agency_id"],
                    owner_country=change["owner"]["country"],
                    version=int(change["version"]),
                    access=change["access"],
                    consult_owner=bool(change.get("consult_owner")),
                    record=change["record"],
                    key_hashes=list(change["key_hashes"]),
                    hub_updated_at=dt.datetime.fromisoformat(change["updated_at"]),
                    synced_at=now,
                )
                uow.session.add(row)
                uow.session.flush()
                uow.session.add_all(ReplicaKeyRow(digest=digest, record_id=row.id) for digest in set(row.key_hashes))
                added += [digest_fingerprint_key(digest) for digest in set(row.key_hashes)]
            if not pushed:
                state.cursor = cursor
                state.as_of = as_of
                state.last_attempt_at = now
                state.last_error = None
            if applied:
                self._audit.add(
                    uow,
                    [
                        EventDraft(
                            tag=AuditTag.REPLICA_APPLIED,
                            actor=Actor(kind="node", name=hub.name, country=hub.country),
                            record_ids=applied,
                            result_count=len(applied),
                            details={"pushed": pushed, "changes": len(changes)},
                            purpose=REPLICA_PURPOSE.value,
                        )
                    ],
                )
            uow.commit()
        self.index.keys_changed(added, removed)
        for kind, changed in matched.items():
            if changed:
                self.watchlist.records_changed(kind, changed)
        if self.applied_listeners:
            ids = [change["id"] for change in changes]
            for listener in self.applied_listeners:
                listener(ids)
        if self.events is not None:
            for record, what in notices:
                # The hub decided this country may see it; every user who reads records
                # here is told (the stream carries the id and type, the API the rest).
                self.events.publish(
                    f"notice.{what}",
                    {key: record.get(key) for key in ("id", "notice_type", "channel", "reference", "status")},
                    permission=Permission.RECORD_READ,
                )
        return len(applied) if pushed else len(changes)

    def resync(self, principal: Principal) -> int:
        """Drop the copy and pull it again from the start."""
        principal.require(Permission.NETWORK_ADMIN)
        with self._uow() as uow:
            uow.session.execute(delete(ReplicaKeyRow))
            uow.session.execute(delete(ReplicaRecordRow))
            state = self._state_row(uow.session)
            state.cursor = None
            state.as_of = None
            state.full_syncs = (state.full_syncs or 0) + 1
            self._audit.add(uow, [EventDraft(AuditTag.REPLICA_RESYNCED, actor_of(principal))])
            uow.commit()
        self.index.load(())
        self.watchlist.load()
        return self.sync_once()

    def _record_failure(self, when: dt.datetime, error: str) -> None:
        with self._uow() as uow:
            state = self._state_row(uow.session)
            state.last_attempt_at = when
            state.last_error = error[:2000]
            uow.commit()

    @staticmethod
    def _state_row(session: Any) -> ReplicaStateRow:
        state: ReplicaStateRow | None = session.get(ReplicaStateRow, 1, with_for_update=True)
        if state is None:
            state = ReplicaStateRow(id=1, full_syncs=0)
            session.add(state)
        return state

    def _state(self) -> ReplicaStateRow:
        with self._uow(read_only=True) as uow:
            state = uow.session.get(ReplicaStateRow, 1)
        return state or ReplicaStateRow(id=1, full_syncs=0)

    # -- reading ------------------------------------------------------------------------------

    def _replica_persons(self) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
        with self._uow(read_only=True) as uow:
            rows = uow.session.execute(
                select(ReplicaRecordRow.id, ReplicaRecordRow.kind, ReplicaRecordRow.record).where(
                    ReplicaRecordRow.kind.in_(MATCHED_KINDS)
                )
            ).all()
        for row in rows:
            yield row.id, person_content(row.kind, row.record)

    def rows(self, ids: Iterable[str]) -> dict[str, ReplicaRecordRow]:
        wanted = sorted(set(ids))
        found: dict[str, ReplicaRecordRow] = {}
        with self._uow(read_only=True) as uow:
            for start in range(0, len(wanted), 500):
                statement = select(ReplicaRecordRow).where(ReplicaRecordRow.id.in_(wanted[start : start + 500]))
                found.update((row.id, row) for row in uow.session.scalars(statement))
        return found

    def load_index(self) -> int:
        """Load the indexes from the copy. The follower is placed first (when it has no
        cursor yet): a page another process stores during the load is then replayed."""
        if self.follower.position is None:
            self.follower.start_at_log_end()
        self.watchlist.load()
        with self._uow(read_only=True) as uow:
            digests = [
                digest_fingerprint_key(digest)
                for hashes in uow.session.scalars(select(ReplicaRecordRow.key_hashes))
                for digest in hashes
            ]
        return self.index.load(digests)

    def lookup(self, keys: Iterable[str]) -> dict[str, list[ReplicaRecordRow]]:
        """The replica records filed under each of ``keys`` (plain lookup keys)."""
        wanted = {key: key_digest(key) for key in keys}
        if not wanted:
            return {}
        present = self.index.contains_many([digest_fingerprint_key(digest) for digest in wanted.values()])
        candidates = {digest for digest, hit in zip(wanted.values(), present.tolist(), strict=True) if hit}
        if not candidates:
            return {}
        found: dict[str, list[ReplicaRecordRow]] = {}
        by_digest: dict[str, list[ReplicaRecordRow]] = {}
        with self._uow(read_only=True) as uow:
            statement = (
                select(ReplicaKeyRow.digest, ReplicaRecordRow)
                .join(ReplicaRecordRow, ReplicaRecordRow.id == ReplicaKeyRow.record_id)
                .where(ReplicaKeyRow.digest.in_(sorted(candidates)))
                .order_by(ReplicaRecordRow.id)
            )
            for digest, row in uow.session.execute(statement).all():
                by_digest.setdefault(digest, []).append(row)
        for key, digest in wanted.items():
            if digest in by_digest:
                found[key] = by_digest[digest]
        return found

    def status(self) -> dict[str, Any]:
        """How current the copy is: the hub time it is as of, its lag, the last error."""
        state = self._state()
        with self._uow(read_only=True) as uow:
            records = uow.session.scalar(select(func.count()).select_from(ReplicaRecordRow)) or 0
        lag = None if state.as_of is None else (dt.datetime.now(dt.UTC) - state.as_of).total_seconds()
        return {
            "records": records,
            "as_of": state.as_of.isoformat() if state.as_of else None,
            "lag_seconds": None if lag is None else round(lag, 1),
            "hub_reachable": self.reachable,
            "last_attempt_at": state.last_attempt_at.isoformat() if state.last_attempt_at else None,
            "last_error": state.last_error,
            "full_syncs": state.full_syncs or 0,
            "purpose": REPLICA_PURPOSE.value,
        }

    def lag_seconds(self) -> float:
        state = self._state()
        return -1.0 if state.as_of is None else (dt.datetime.now(dt.UTC) - state.as_of).total_seconds()


class ReplicaFollower(LogFollower):
    """Keeps a process's replica indexes current with the pages and pushes that the node's
    other processes store (several API processes over one database, each pulling in turn):
    it follows the ``network:replica:applied`` entries ``ReplicaSync._apply`` writes, and
    loads the indexes again after a ``network:replica:resynced`` one. As for the records'
    follower (polex.screening.follower), what it applies is read from the copy afterwards,
    so replaying this process's own pages changes nothing, and a digest left behind by a
    removal elsewhere is a false positive that ``lookup`` rules out by reading the copy."""

    def __init__(self, uow: UnitOfWorkFactory, replica: ReplicaSync) -> None:
        tags = [AuditTag.REPLICA_APPLIED.value, AuditTag.REPLICA_RESYNCED.value]
        super().__init__(uow, replica.index, replica.watchlist, tags)
        self._replica = replica

    def _group(self, tag: str) -> str | None:
        return None if tag == AuditTag.REPLICA_RESYNCED.value else "replica"

    def _filed_counts(self, session: Session, record_ids: Sequence[str]) -> dict[str, int]:
        filed: dict[str, int] = {}
        for start in range(0, len(record_ids), 500):
            theirs = select(ReplicaKeyRow.digest).where(ReplicaKeyRow.record_id.in_(record_ids[start : start + 500]))
            filed.update(_digest_counts(session, theirs))
        return filed

    def _key_counts(self, session: Session, keys: Collection[str]) -> dict[str, int]:
        filed = dict.fromkeys(keys, 0)
        digests = sorted(key.removeprefix("h:") for key in keys)
        for start in range(0, len(digests), 500):
            filed.update(_digest_counts(session, digests[start : start + 500]))
        return filed

    def _contents(
        self, session: Session, changed: Mapping[str, Mapping[str, None]]
    ) -> dict[str, dict[str, Mapping[str, Any] | None]]:
        ids = list(changed.get("replica", {}))
        stored: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for start in range(0, len(ids), 500):
            rows = session.execute(
                select(ReplicaRecordRow.id, ReplicaRecordRow.kind, ReplicaRecordRow.record).where(
                    ReplicaRecordRow.id.in_(ids[start : start + 500])
                )
            ).all()
            stored.update((str(row.id), (str(row.kind), row.record)) for row in rows)
        contents: dict[str, dict[str, Mapping[str, Any] | None]] = {kind: {} for kind in MATCHED_KINDS}
        for record_id in ids:
            kind, record = stored.get(record_id, (MATCHED_KINDS[0], None))
            if kind in MATCHED_KINDS:
                # One no longer in the copy leaves the watch list whatever its kind was
                # (dropping a record the watch list does not hold changes nothing).
                contents[kind][record_id] = record
        return contents

    def _reload(self) -> None:
        self._replica.load_index()


def _digest_counts(session: Session, digests: Any) -> dict[str, int]:
    """How many copied records are filed under each of ``digests`` (a list or a subquery),
    by the replica index's key for the digest."""
    rows = session.execute(
        select(ReplicaKeyRow.digest, func.count(ReplicaKeyRow.record_id))
        .where(ReplicaKeyRow.digest.in_(digests))
        .group_by(ReplicaKeyRow.digest)
    ).all()
    return {digest_fingerprint_key(str(digest)): int(count) for digest, count in rows}


class ReplicaCollector(Collector):
    """The replica's lag (how old the hub data it answers with is), its size, and whether
    the hub answered the last pull: an alert belongs on a growing lag."""

    def __init__(self, replica: ReplicaSync) -> None:
        self._replica = replica

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self._replica.status()
        lag = status["lag_seconds"]
        yield GaugeMetricFamily(
            "polex_replica_lag_seconds",
            "Age of the hub data the national replica answers with",
            value=float("nan") if lag is None else float(lag),
        )
        yield GaugeMetricFamily("polex_replica_records", "Records in the national replica", value=status["records"])
        yield GaugeMetricFamily(
            "polex_replica_hub_reachable",
            "1 when the last pull from the hub succeeded",
            value=1.0 if status["hub_reachable"] else 0.0,
        )
