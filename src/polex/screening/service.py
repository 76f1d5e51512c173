"""Document and vehicle checks (FIND), and the hits they raise.

A check reads its items into lookup keys, asks the in-memory index which keys may be on
file, confirms those few against the store (which names the records), and lets the
policy engine decide, per record, what the requester gets: the record in full, redacted,
a hit-only answer (that a record exists, its reference and whom to contact), or nothing,
in which case the item is answered exactly as a miss. The check is audited, and every hit
recorded, in one transaction before the answer leaves; the owner of each record found is
told in real time (which agency and country checked it, when, and for what purpose). Hits
across nodes (the hub's records found online or on a national replica, the copies the
owner's and the requester's national nodes keep) are described in
polex.screening.hit_exchange.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Table, and_, insert, or_, select

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import Actor, AuditTag
from polex.domain.base import new_id
from polex.domain.decisions import Outcome, RequesterPolicy, apply_decision
from polex.domain.document import DocumentType
from polex.domain.message import RoutingHeader
from polex.domain.policy import Purpose
from polex.domain.roles import Permission
from polex.errors import BadRequest, Conflict, FieldError, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from polex.events import EventHub
from polex.formats.mrz import document_type_for
from polex.matching.model import Candidate, PersonQuery
from polex.matching.scoring import DEFAULT_THRESHOLD
from polex.message.outbound import ServiceNetwork
from polex.message.service import ServiceEnvelope
from polex.network.relayed import RelayedBy, relayed_principal
from polex.network.view import NetworkUnavailable
from polex.policy.service import PolicyService, requester_of
from polex.record.repository import RecordRepository, StoredRecord
from polex.record.service import RecordService
from polex.screening import hit_exchange
from polex.screening.index import FingerprintIndex
from polex.screening.online import (
    FIND_ROLES,
    FindPerson,
    HubUnavailable,
    OnlineFind,
    hub_matches,
    relayed_by,
)
from polex.screening.persons import PersonWatchlist, record_of
from polex.screening.queries import CheckItem, ItemError, read_document, read_vehicle
from polex.storage.tables import AgencyRow, AppliedEnvelopeRow, HitRow, RecordRow, ReplicaRecordRow
from polex.storage.unit_of_work import UnitOfWorkFactory

MAX_BATCH = 1000  # items per request; manifests go through the asynchronous screenings
DEFAULT_MATCH_THRESHOLD = DEFAULT_THRESHOLD
DEFAULT_CUTOFF = 0.5  # candidates below this are not returned at all
# A manifest's rows wait this long for the person watch list to load rather than fail.
MANIFEST_WAIT_SECONDS = 300.0


@dataclass(frozen=True)
class IndexStats:
    entries: int
    seconds: float
    memory_bytes: int


REPLICA_PURPOSE = Purpose.BORDER_CONTROL  # what the national replica was decided for


log = logging.getLogger("polex.screening")


class ReplicaLookup(Protocol):
    watchlist: PersonWatchlist

    def lookup(self, keys: Iterable[str]) -> dict[str, list[ReplicaRecordRow]]: ...

    def rows(self, ids: Iterable[str]) -> dict[str, ReplicaRecordRow]: ...


class HitStatus:
    UNCONFIRMED = "unconfirmed"
    CONFIRMATION_REQUESTED = "confirmation_requested"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class ScreeningService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        policy: PolicyService,
        records: Mapping[str, RecordService],
        events: EventHub,
        index: FingerprintIndex | None = None,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._policy = policy
        self._records = records
        self._events = events
        self.index = index or FingerprintIndex()
        self.watchlist = PersonWatchlist(uow)
        self.replica: ReplicaLookup | None = None  # a national node's copy of the hub's records
        # A national node asks the hub for the hub's records online (FIND), and falls back on
        # its replica when the hub cannot answer in time.
        self.online: OnlineFind | None = None
        # The hub tells a record's owner country, on its national node, of hits on its
        # records, and takes the answers back (polex.screening.hit_exchange).
        self.network: ServiceNetwork | None = None
        self.is_hub = False

    def load_watchlist(self) -> IndexStats:
        """Fill the person watch list from the store now, in the calling thread (a node
        that serves loads it in the background: ``watchlist.start``)."""
        records, seconds = self.watchlist.load()
        return IndexStats(records, seconds, self.watchlist.memory_bytes())

    def components(self) -> dict[str, str]:
        """What person matching needs and whether it is ready: each watch list's state
        (``idle``, ``loading``, ``ready`` or ``failed``)."""
        states = {"person_watchlist": self.watchlist.state.value}
        if self.replica is not None:
            states["replica_watchlist"] = self.replica.watchlist.state.value
        return states

    def close(self) -> None:
        self.watchlist.close()
        if self.online is not None:
            self.online.close()

    def load_index(self) -> IndexStats:
        """Fill the index from the store (at start-up, and on demand)."""
        started = time.perf_counter()
        with self._uow(read_only=True) as uow:
            entries = self.index.load(RecordRepository(uow.session).iter_keys())
        return IndexStats(entries, time.perf_counter() - started, self.index.memory_bytes())

    # -- checks ---------------------------------------------------------------------------

    def check_documents(
        self,
        items: Sequence[Mapping[str, Any]],
        principal: Principal,
        *,
        purpose: Purpose,
        case_reference: str | None = None,
        note: dict[str, Any] | None = None,
        via: str | None = None,
        batch: bool = False,
    ) -> list[dict[str, Any]]:
        """One result per item, in order: ``hit`` true, false, or null with an ``error``. On
        a national node, ``note`` (when given) is filled with where the hub's records were
        checked: ``online`` at the hub, or the ``replica``, or ``none`` (see polex.screening.online).
        At the hub, ``via`` is the national node that asks for its user (FIND): it is sent
        the requester's copy of each hit. ``batch``: a manifest's chunk, which may wait for
        the hub longer than a single check (``find_batch_timeout_seconds``)."""
        bounded = self._bounded(items, "documents")
        read = [read_document(position, dict(item)) for position, item in enumerate(bounded)]
        return self._check(
            read,
            bounded,
            principal,
            purpose,
            case_reference,
            AuditTag.DOCUMENTS_CHECKED,
            "travel_document",
            note,
            via,
            batch,
        )

    def check_vehicles(
        self,
        items: Sequence[Mapping[str, Any]],
        principal: Principal,
        *,
        purpose: Purpose,
        case_reference: str | None = None,
        note: dict[str, Any] | None = None,
        via: str | None = None,
    ) -> list[dict[str, Any]]:
        bounded = self._bounded(items, "vehicles")
        read = [read_vehicle(position, dict(item)) for position, item in enumerate(bounded)]
        return self._check(
            read, bounded, principal, purpose, case_reference, AuditTag.VEHICLES_CHECKED, "vehicle", note, via
        )

    @staticmethod
    def _bounded(items: Sequence[Mapping[str, Any]], name: str) -> Sequence[Mapping[str, Any]]:
        if not items:
            raise BadRequest(f"nothing to check: '{name}' is empty", errors=[FieldError(name, "is empty")])
        if len(items) > MAX_BATCH:
            raise BadRequest(
                f"at most {MAX_BATCH} {name} per request; send a manifest as a screening job",
                errors=[FieldError(name, f"has {len(items)} items, more than {MAX_BATCH}")],
            )
        return items

    def _check(
        self,
        read: list[CheckItem | ItemError],
        asked: Sequence[Mapping[str, Any]],
        principal: Principal,
        purpose: Purpose,
        case_reference: str | None,
        tag: AuditTag,
        kind: str,
        note: dict[str, Any] | None,
        via: str | None = None,
        batch: bool = False,
    ) -> list[dict[str, Any]]:
        principal.require(Permission.RECORD_READ)
        items = [item for item in read if isinstance(item, CheckItem)]
        # The hub's records: online first (outside any transaction of ours), else the replica.
        asked_online = [asked[item.position] for item in items]
        online = self._find_items(kind, asked_online, principal, purpose, case_reference, batch=batch)
        from_hub = dict(zip((item.position for item in items), online or [], strict=False))
        where = self._where(online is not None, purpose)
        if note is not None and self.online is not None:
            note.update(self._hub_note(where))
        keys = [key for item in items for key in item.keys]
        maybe = self.index.contains_many(keys)
        candidates = {key for key, present in zip(keys, maybe.tolist(), strict=True) if present}
        view = self._policy.snapshot().for_requester(requester_of(principal, purpose, case_reference))
        now = dt.datetime.now(dt.UTC)
        results: list[dict[str, Any]] = [{} for _ in read]
        hits: list[HitRow] = []
        shown_ids: list[str] = []
        # The national replica answers for the hub's records, for the purpose it was made for.
        copied = self.replica.lookup(keys) if where == "replica" and self.replica is not None else {}
        # Reading takes no write lock: most checks find nothing and write only their audit event.
        with self._uow(read_only=True) as uow:
            found: dict[str, list[StoredRecord]] = {}
            if candidates:
                for key, row in RecordRepository(uow.session).live_by_keys(candidates):
                    found.setdefault(key, []).append(row)
            for entry in read:
                if isinstance(entry, ItemError):
                    results[entry.position] = entry.as_dict()
                    continue
                matches = self._matches(entry, found, view)
                described: list[dict[str, Any]] = []
                for row, shown in matches:
                    shown_ids.append(row.id)
                    match = self._found(row, shown, entry)
                    if row.owner_agency_id != principal.agency_id:
                        # Someone else's record: the owner is told, and a confirmation can follow.
                        hit = self._hit_row(row, shown, entry, principal, purpose, case_reference, now)
                        hit.requester_node = via
                        hits.append(hit)
                        match["hit_id"] = hit.id
                    described.append(match)
                held = {row.id for row, _ in matches}
                for match in hub_matches(from_hub.get(entry.position) or {}):
                    if match.get("reference") not in held:
                        shown_ids.append(str(match.get("reference")))
                        described.append(match)
                for copy in self._replica_matches(entry, copied, held):
                    shown_ids.append(copy.id)
                    match = self._found(copy, copy.record, entry)
                    match["source"] = "replica"
                    if copy.owner_agency_id != principal.agency_id:
                        hit = self._hit_row(copy, copy.record, entry, principal, purpose, case_reference, now)
                        self._held_at_hub(hit)
                        hits.append(hit)
                        match["hit_id"] = hit.id
                    described.append(match)
                results[entry.position] = self._result(entry, described)
        # Durable before the answer leaves: what was checked (sealed for auditors), what
        # was found, how many items were refused.
        draft = self._check_event(read, keys, shown_ids, principal, purpose, case_reference, tag, kind, where)
        if hits:
            with self._uow() as uow:
                # On SQLite the first statement takes the writer's turn, which the border
                # checks' audit commits wait for: the reports' envelopes are signed and
                # encrypted before it (``_report_hits``), and every row goes in by a Core
                # insert, without the ORM's per-object flush.
                self._report_hits(uow.session, hits)
                self._post_found(uow.session, hits, principal)  # may take a hit back from the hub
                _insert_hits(uow.session, hits)
                self._audit.add(uow, [draft])
                uow.commit()
        else:
            self._audit.record([draft])  # shares a transaction with concurrent checks'
        for hit in hits:
            self._tell_owner(hit)
        # The hits' reports wait in the outbox for the relay's next round (``relay_seconds``)
        # rather than waking it: at border rates a hit comes every few checks, and a round
        # each (relay, push to the owner's node, receipts) would take the interpreter from the
        # checks several times a second; a round carries all that came since the last one.
        return results

    def _check_event(
        self,
        read: Sequence[CheckItem | ItemError],
        keys: Sequence[str],
        shown_ids: Sequence[str],
        principal: Principal,
        purpose: Purpose,
        case_reference: str | None,
        tag: AuditTag,
        kind: str,
        where: str,
    ) -> EventDraft:
        """A check's audit event: what was checked (sealed for auditors), what was found, how
        many items were refused."""
        return EventDraft(
            tag=tag,
            actor=actor_of(principal),
            record_kind=kind,
            record_ids=list(shown_ids),
            result_count=len(shown_ids),
            query_terms={key: key.split(":", 1)[1] for key in keys},
            details={
                "items": len(read),
                "errors": sum(isinstance(entry, ItemError) for entry in read),
                "hits": len(shown_ids),
                # On a national node: where the hub's records were checked.
                **({"hub": where} if self.online is not None or self.replica is not None else {}),
            },
            purpose=purpose.value,
            case_reference=case_reference,
        )

    def check_in_memory(
        self,
        kind: str,
        items: Sequence[Mapping[str, Any]],
        principal: Principal,
        *,
        purpose: Purpose,
        case_reference: str | None = None,
    ) -> tuple[list[dict[str, Any]], EventDraft] | None:
        """A check answered from memory alone, without the event loop leaving for a thread:
        the results ``check_documents`` (``kind`` ``travel_document``) or ``check_vehicles``
        (``vehicle``) would give, and the audit event the caller must make durable
        (``AuditTrail.record``) before any of them leaves. That is the case at a border most
        of the time: this node asks no hub and keeps no replica, and the index rules out
        every key, so nothing is on file, no store is read and no hit is raised.

        None when the check needs more than that (a key may be on file, the node asks the hub
        or keeps a replica, a writer holds the index (a merge), the caller lacks the permission or
        the batch is out of bounds): the caller then runs the full check, which reads the
        store, raises the hits and says why it refuses."""
        if self.online is not None or self.replica is not None or not principal.can(Permission.RECORD_READ):
            return None
        if not items or len(items) > MAX_BATCH:
            return None
        document = kind == "travel_document"
        reader = read_document if document else read_vehicle
        read = [reader(position, dict(item)) for position, item in enumerate(items)]
        keys = [key for entry in read if isinstance(entry, CheckItem) for key in entry.keys]
        maybe = self.index.contains_many_nowait(keys)
        if maybe is None or maybe.any():
            return None
        results = [entry.as_dict() if isinstance(entry, ItemError) else self._result(entry, []) for entry in read]
        tag = AuditTag.DOCUMENTS_CHECKED if document else AuditTag.VEHICLES_CHECKED
        draft = self._check_event(read, keys, (), principal, purpose, case_reference, tag, kind, "none")
        return results, draft

    def _replica_answers(self, purpose: Purpose) -> bool:
        return self.replica is not None and purpose is REPLICA_PURPOSE

    def _where(self, answered_online: bool, purpose: Purpose) -> str:
        """Where the hub's records were checked: ``online``, on the ``replica``, or ``none``."""
        return "online" if answered_online else "replica" if self._replica_answers(purpose) else "none"

    @property
    def asks_hub(self) -> bool:
        """A national node: the hub's records are checked online or on its replica."""
        return self.online is not None or self.replica is not None

    def hub_checked(self, note: Mapping[str, Any], purpose: Purpose) -> str | None:
        """Where a check's ``note`` says the hub's records were checked: ``online``,
        ``replica`` or ``none``; on a node that keeps a replica but asks nothing online, the
        replica for the purpose it was made for. None on a node that asks no hub."""
        if not self.asks_hub:
            return None
        checked = note.get("hub", {}).get("checked")
        return checked if isinstance(checked, str) else self._where(False, purpose)

    def _find_items(
        self,
        kind: str,
        asked: list[Mapping[str, Any]],
        principal: Principal,
        purpose: Purpose,
        case_reference: str | None,
        *,
        batch: bool = False,
    ) -> list[dict[str, Any]] | None:
        """The hub's results for the readable items, asked online; None when this node does
        not ask online or the hub could not answer."""
        if self.online is None or not asked:
            return None
        by = relayed_by(principal, self._agency(principal.agency_id))
        ask = self.online.documents if kind == "travel_document" else self.online.vehicles
        try:
            return ask(asked, by, purpose=purpose, case_reference=case_reference, batch=batch)
        except HubUnavailable:
            return None

    def _find_persons(
        self,
        persons: Sequence[PersonQuery],
        principal: Principal,
        purpose: Purpose,
        case_reference: str | None,
        *,
        limit: int,
        threshold: float,
        cutoff: float | None,
    ) -> list[list[dict[str, Any]]] | None:
        """The hub's candidates for each person, asked online in batches; None when this node
        does not ask online or the hub could not answer all of them."""
        if self.online is None or not persons:
            return None
        by = relayed_by(principal, self._agency(principal.agency_id))
        context = {"purpose": purpose, "case_reference": case_reference, "limit": limit, "threshold": threshold}
        try:
            answers = self.online.persons_many([query_of(p) for p in persons], by, cutoff=cutoff, **context)
        except HubUnavailable:
            return None
        for candidates in answers:
            for candidate in candidates:
                candidate["source"] = "hub"
        return answers

    def _find_person(
        self,
        query: Mapping[str, Any],
        principal: Principal,
        purpose: Purpose,
        case_reference: str | None,
        *,
        limit: int,
        threshold: float,
        cutoff: float | None,
    ) -> list[dict[str, Any]] | None:
        if self.online is None:
            return None
        request = FindPerson(
            by=relayed_by(principal, self._agency(principal.agency_id)),
            purpose=purpose,
            case_reference=case_reference,
            query=dict(query),
            limit=limit,
            threshold=threshold,
            cutoff=cutoff,
        )
        try:
            candidates = self.online.persons(request)
        except HubUnavailable:
            return None
        for candidate in candidates:
            candidate["source"] = "hub"
        return candidates

    def _hub_note(self, where: str) -> dict[str, Any]:
        assert self.online is not None
        note: dict[str, Any] = {"checked": where, "reachable": where == "online"}
        if where != "online" and self.online.last_error:
            note["error"] = self.online.last_error
        return {"hub": note}

    def _agency(self, agency_id: str) -> AgencyRow | None:
        with self._uow(read_only=True) as uow:
            row = uow.session.get(AgencyRow, agency_id)
            if row is not None:
                uow.session.expunge(row)
            return row

    def _matches(
        self, entry: CheckItem, found: Mapping[str, list[StoredRecord]], view: RequesterPolicy
    ) -> list[tuple[StoredRecord, dict[str, Any]]]:
        seen: set[str] = set()
        matches: list[tuple[StoredRecord, dict[str, Any]]] = []
        for key in entry.keys:
            for row in found.get(key, ()):
                if row.id in seen:
                    continue
                seen.add(row.id)
                decision = view.decide_parts(
                    row.kind, row.owner_agency_id, row.owner_country, row.restrictions, row.retain_until
                )
                if not decision.visible:
                    continue  # answered as a miss: the record's existence is not revealed
                shown = apply_decision(self._records[row.kind].to_json(row), decision)
                if shown is not None:
                    matches.append((row, shown))
        return matches

    @staticmethod
    def _replica_matches(
        entry: CheckItem, copied: Mapping[str, list[ReplicaRecordRow]], local: set[str]
    ) -> list[ReplicaRecordRow]:
        """The replica's records under the item's keys: already decided by the hub's policy
        for this country and purpose; a record also held here is answered from here."""
        seen = set(local)
        matches = []
        for key in entry.keys:
            for row in copied.get(key, ()):
                if row.id not in seen:
                    seen.add(row.id)
                    matches.append(row)
        return matches

    @staticmethod
    def _result(entry: CheckItem, found: list[dict[str, Any]]) -> dict[str, Any]:
        if not found:
            return {"hit": False, "query": entry.query}
        result = {"hit": True, "query": entry.query, **found[0]}
        if len(found) > 1:
            result["more"] = found[1:]
        return result

    @staticmethod
    def _found(row: StoredRecord | ReplicaRecordRow, shown: dict[str, Any], entry: CheckItem) -> dict[str, Any]:
        access = shown.get("access", {})
        found: dict[str, Any] = {
            "access": access.get("outcome"),
            "reference": row.id,
            "kind": row.kind,
            "owner": {"agency_id": row.owner_agency_id, "country": row.owner_country},
            "consult_owner": bool(access.get("consult_owner", False)),
            "record": shown,
        }
        if entry.document_code and access.get("outcome") != Outcome.HIT_ONLY.value:
            filed = shown.get("document_type")
            if filed and not _same_document_type(entry.document_code, filed):
                found["note"] = f"filed as {filed.replace('_', ' ')}, checked as document code {entry.document_code}"
        return found

    @staticmethod
    def _hit_row(
        row: StoredRecord | ReplicaRecordRow,
        shown: dict[str, Any],
        entry: CheckItem,
        principal: Principal,
        purpose: Purpose,
        case_reference: str | None,
        now: dt.datetime,
    ) -> HitRow:
        return HitRow(
            id=new_id(),
            record_id=row.id,
            record_kind=row.kind,
            owner_agency_id=row.owner_agency_id,
            owner_country=row.owner_country,
            requester_agency_id=principal.agency_id,
            requester_country=principal.country,
            requester_user_id=principal.id,
            purpose=purpose.value,
            case_reference=case_reference,
            access=shown.get("access", {}).get("outcome", Outcome.HIT_ONLY.value),
            query=entry.query,
            status=HitStatus.UNCONFIRMED,
            created_at=now,
        )

    def _report_hits(self, session: Any, hits: Sequence[HitRow]) -> None:
        """At the hub, in the caller's transaction: each hit's state to the national node of
        its record's owner country, if it has one, and to the node whose user's check raised
        it (``requester_node``), while that node still serves the requester's country; one
        envelope when one node is both."""
        if not self.is_hub or self.network is None:
            return
        # Every report sealed before the first is written: on SQLite the first statement
        # takes the writer's turn, and the border checks' audit commits wait behind it.
        sealed: list[ServiceEnvelope] = []
        for hit in hits:
            told: dict[str, list[hit_exchange.Side]] = {}
            try:
                owner = self.network.node_of(hit.owner_country)
                requester = hit.requester_node
                if requester is not None and self.network.country_of(requester) != hit.requester_country:
                    requester = None
            except NetworkUnavailable as error:  # the hit stands at the hub; its users read it there
                log.warning("hit %s: no national node was told: %s", hit.id, error)
                continue
            if owner is not None:
                told.setdefault(owner, []).append("owner")
            if requester is not None:
                told.setdefault(requester, []).append("requester")
            for node, sides in told.items():
                try:
                    sealed.append(self.network.seal(hit_exchange.report_post(node, hit, sides)))
                except NetworkUnavailable as error:
                    log.warning("hit %s: node %s was not told: %s", hit.id, node, error)
        self.network.queue(session, sealed)

    def _held_at_hub(self, hit: HitRow) -> None:
        """On a national node: a hit found on the replica is on a record the hub holds, and the
        hub will hold the hit too (``_post_found``); this node keeps the requester's copy."""
        if self.is_hub or self.network is None:
            return
        try:
            hit.source_node = self.network.hub()
        except NetworkUnavailable as error:  # never joined: the hit stays this node's alone
            log.warning("hit %s on the replica stays here: %s", hit.id, error)
            return
        hit.requester_node = self.network.node_name

    def _post_found(self, session: Any, hits: Sequence[HitRow], principal: Principal) -> None:
        """On a national node, in the check's transaction: the hits its replica raised, to the
        hub, which tells their owners. The outbox keeps them until the hub is reachable."""
        if self.is_hub or self.network is None:
            return
        found = [hit for hit in hits if hit.source_node is not None and hit.requester_node == self.network.node_name]
        if not found:
            return
        agency = self._agency(principal.agency_id)  # read apart: the check's writes have not begun
        sealed: list[ServiceEnvelope] = []  # all sealed before the first is written, as in _report_hits
        for hit in found:
            assert hit.source_node is not None
            try:
                report = hit_exchange.HitFound.of(hit, relayed_by(principal, agency))
                sealed.append(self.network.seal(hit_exchange.found_post(hit.source_node, report)))
            except (NetworkUnavailable, PydanticValidationError) as error:  # never fail the check for it
                log.warning("hit %s on the replica stays here: it cannot be sent to the hub: %s", hit.id, error)
                hit.source_node = hit.requester_node = None
        self.network.queue(session, sealed)

    def _wake_network(self) -> None:
        if self.network is not None:
            self.network.wake()

    def apply_hit_report(self, header: RoutingHeader, body: bytes) -> None:
        """On a national node: a hit the hub holds, on a record of this country (the owner's
        copy, ``sides`` has ``owner``) or raised by a check of one of this node's users (the
        requester's copy), kept and brought to the hub's status, and that side's users told."""
        if self.is_hub or self.network is None:
            raise Forbidden("hit reports go to national nodes")
        if header.sender != self.network.hub():
            raise Forbidden("hit reports come from the hub")
        try:
            report = hit_exchange.HitReport.model_validate_json(body)
        except PydanticValidationError:
            log.warning("refused a malformed hit report from %s", header.sender)
            return
        with self._uow() as uow:
            row = uow.session.get(HitRow, report.id, with_for_update=True)
            before = None if row is None else row.status
            if row is None:
                row = report.new_row(header.sender)
                uow.session.add(row)
            elif row.source_node != header.sender:
                log.warning("hit %s: a report from %s on a hit this node holds itself", report.id, header.sender)
                return
            elif hit_exchange.STATUS_ORDER.get(report.status, 0) >= hit_exchange.STATUS_ORDER.get(row.status, 0):
                report.apply_to(row)
            # else an older state, delivered late: the copy keeps its newer one
            audience = self._owner_audience(uow.session, row)
            uow.commit()
        changed = before is not None and row.status != before
        if "owner" in report.sides:
            if before is None:
                self._events.publish("hit.raised", _owner_view(row), permission=audience[0], agency_id=audience[1])
            elif changed and row.status == HitStatus.CONFIRMATION_REQUESTED:
                self._events.publish(
                    "hit.confirmation_requested", _owner_view(row), permission=audience[0], agency_id=audience[1]
                )
        if "requester" in report.sides:
            if before is None:  # the requester's own copy, where it may now ask for confirmation
                kind = "hit.recorded"
            elif changed and row.status in (HitStatus.CONFIRMED, HitStatus.REJECTED):
                kind = "hit.answered"
            else:
                return
            self._events.publish(
                kind, _requester_view(row), permission=Permission.RECORD_READ, agency_id=row.requester_agency_id
            )

    @staticmethod
    def _owner_audience(session: Any, row: HitRow) -> tuple[Permission, str | None]:
        """Who is told of a hit on a copy's record: the owner agency's users when it is
        registered here, else the country's bureau."""
        if session.get(AgencyRow, row.owner_agency_id) is not None:
            return Permission.RECORD_WRITE, row.owner_agency_id
        return Permission.NOTICE_REQUEST, None

    def apply_hit_answer(self, header: RoutingHeader, body: bytes) -> None:
        """At the hub: the owner country's answer from its national node, once."""
        if not self.is_hub or self.network is None:
            raise Forbidden("hit answers go to the hub")
        try:
            answer = hit_exchange.HitAnswer.model_validate_json(body)
        except PydanticValidationError:
            log.warning("refused a malformed hit answer from %s", header.sender)
            return
        country = self.network.country_of(header.sender)
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            if uow.session.get(AppliedEnvelopeRow, header.id) is not None:
                return
            row = uow.session.get(HitRow, answer.hit_id, with_for_update=True)
            outcome = None
            if row is None or country is None or row.owner_country != country:
                outcome = f"node '{header.sender}' may not answer hit '{answer.hit_id}'"
            elif row.status in (HitStatus.CONFIRMED, HitStatus.REJECTED):
                outcome = f"the hit was already {row.status}"
            else:
                row.status = HitStatus.CONFIRMED if answer.confirmed else HitStatus.REJECTED
                row.answered_at = now
                row.answer_note = answer.note
                tag = AuditTag.HIT_CONFIRMED if answer.confirmed else AuditTag.HIT_REJECTED
                actor = _relayed_actor(answer.by, header.sender, country)
                self._audit.add(uow, [self._relayed_hit_event(tag, actor, row, header.sender)])
            if row is not None:
                self._report_hits(uow.session, [row])  # the copies follow (or are corrected)
            uow.session.add(_applied(header, now, outcome))
            uow.commit()
        self._wake_network()
        if row is not None and outcome is None:
            self._events.publish(
                "hit.answered",
                _requester_view(row),
                permission=Permission.RECORD_READ,
                agency_id=row.requester_agency_id,
            )

    def apply_hit_request(self, header: RoutingHeader, body: bytes) -> None:
        """At the hub: a requester's confirmation request from the national node whose user
        raised the hit, once; then as if the requester had asked here (the owner's node is
        told, both copies follow). A hit found offline that the hub does not hold yet is
        stored first, from the request."""
        if not self.is_hub or self.network is None:
            raise Forbidden("hit confirmation requests go to the hub")
        try:
            request = hit_exchange.HitRequest.model_validate_json(body)
        except PydanticValidationError:
            log.warning("refused a malformed hit confirmation request from %s", header.sender)
            return
        country = self.network.country_of(header.sender)
        now = dt.datetime.now(dt.UTC)
        stored: HitRow | None = None
        with self._uow() as uow:
            if uow.session.get(AppliedEnvelopeRow, header.id) is not None:
                return
            outcome = None
            carried = request.found
            if carried is not None and carried.id == request.hit_id and uow.session.get(HitRow, carried.id) is None:
                stored, outcome = self._store_found(uow, header.sender, carried, country, now)
            row = uow.session.get(HitRow, request.hit_id, with_for_update=True)
            # A hit carried with the request and refused gives the reason; else the request's own.
            outcome = outcome or self._request_refusal(row, request, header.sender, country)
            if row is not None and outcome is None:
                # When the requester asked (it may have asked while the hub was away), never
                # before the hit nor after now.
                row.requested_at = max(min(request.requested_at, now), row.created_at)
                row.status = HitStatus.CONFIRMATION_REQUESTED
                row.request_note = request.note
                actor = _relayed_actor(request.by, header.sender, country)
                event = self._relayed_hit_event(AuditTag.HIT_CONFIRMATION_REQUESTED, actor, row, header.sender)
                self._audit.add(uow, [event])
            if row is not None and (outcome is None or row.requester_node == header.sender):
                self._report_hits(uow.session, [row])  # the copies follow (or are corrected)
            uow.session.add(_applied(header, now, outcome))
            uow.commit()
        self._wake_network()
        if stored is not None:
            self._tell_owner(stored)
        if row is not None and outcome is None:
            self._events.publish(
                "hit.confirmation_requested",
                _owner_view(row),
                permission=Permission.RECORD_WRITE,
                agency_id=row.owner_agency_id,
            )

    @staticmethod
    def _request_refusal(
        row: HitRow | None, request: hit_exchange.HitRequest, sender: str, country: str | None
    ) -> str | None:
        """Why the hub does not take a relayed confirmation request (None: it does)."""
        if (
            row is None
            or country is None
            or row.requester_node != sender
            or row.requester_country != country
            or request.by.country != country
        ):
            return f"node '{sender}' may not ask for confirmation of hit '{request.hit_id}'"
        if request.by.agency_id != row.requester_agency_id:
            return f"only the requesting agency may ask for confirmation of hit '{row.id}'"
        if row.status != HitStatus.UNCONFIRMED:
            return f"the hit is already {row.status.replace('_', ' ')}"
        return None

    def apply_hit_found(self, header: RoutingHeader, body: bytes) -> None:
        """At the hub: a hit a national node found offline on its replica, stored once under
        its id (a record of the hub's, the sender serving the requester's country) and told
        to the owner as the hub's own hits are."""
        if not self.is_hub or self.network is None:
            raise Forbidden("hits found on a replica go to the hub")
        try:
            found = hit_exchange.HitFound.model_validate_json(body)
        except PydanticValidationError:
            log.warning("refused a malformed hit from %s", header.sender)
            return
        country = self.network.country_of(header.sender)
        now = dt.datetime.now(dt.UTC)
        stored: HitRow | None = None
        with self._uow() as uow:
            if uow.session.get(AppliedEnvelopeRow, header.id) is not None:
                return
            held = uow.session.get(HitRow, found.id)
            if held is None:
                stored, outcome = self._store_found(uow, header.sender, found, country, now)
            elif held.requester_node == header.sender:
                outcome = None  # it came first with a confirmation request
            else:
                outcome = f"hit '{found.id}' is not one node '{header.sender}' raised"
            uow.session.add(_applied(header, now, outcome))
            uow.commit()
        self._wake_network()
        if stored is not None:
            self._tell_owner(stored)

    def _store_found(
        self, uow: Any, sender: str, found: hit_exchange.HitFound, country: str | None, now: dt.datetime
    ) -> tuple[HitRow | None, str | None]:
        """At the hub, in the caller's transaction: a hit found on ``sender``'s replica as the
        hub's own (record, kind and owner from the hub's row), audited, its copies sent; or
        why not."""
        record = uow.session.get(RecordRow, found.record_id)
        if record is None:
            return None, f"no record '{found.record_id}' at the hub"
        if country is None or found.requester_country != country or found.by.country != country:
            return None, f"node '{sender}' does not serve {found.requester_country}"
        if found.by.agency_id != found.requester_agency_id:
            return None, "the officer is not of the requesting agency"
        if record.owner_agency_id == found.requester_agency_id:
            return None, "not a hit: the requesting agency owns the record"
        if found.access not in hit_exchange.SHOWN:
            return None, f"a hit is on a record shown (full, redacted or hit-only), not '{found.access}'"
        try:  # the requesting agency is registered under its national id, as for FIND
            relayed_principal(uow.session, sender=sender, country=country, by=found.by, allowed=FIND_ROLES)
        except Forbidden as error:
            return None, str(error)
        row = HitRow(
            id=found.id,
            record_id=record.id,
            record_kind=record.kind,
            owner_agency_id=record.owner_agency_id,
            owner_country=record.owner_country,
            requester_agency_id=found.requester_agency_id,
            requester_country=country,
            requester_user_id=found.by.user_id,
            purpose=found.purpose.value,
            case_reference=found.case_reference,
            access=found.access,
            query=dict(found.query),
            status=HitStatus.UNCONFIRMED,
            created_at=min(found.created_at, now),  # its age counts from the check
            requester_node=sender,
        )
        uow.session.add(row)
        uow.session.flush()
        actor = _relayed_actor(found.by, sender, country)
        self._audit.add(uow, [self._relayed_hit_event(AuditTag.HIT_REPORTED, actor, row, sender)])
        self._report_hits(uow.session, [row])
        return row, None

    @staticmethod
    def _relayed_hit_event(tag: AuditTag, actor: Actor, row: HitRow, node: str) -> EventDraft:
        return EventDraft(
            tag=tag,
            actor=actor,
            record_kind=row.record_kind,
            record_ids=[row.record_id],
            result_count=1,
            details={"hit": row.id, "status": row.status, "node": node},
        )

    def _tell_owner(self, hit: HitRow) -> None:
        self._events.publish(
            "hit.raised", _owner_view(hit), permission=Permission.RECORD_WRITE, agency_id=hit.owner_agency_id
        )

    # -- person matching ---------------------------------------------------------------------

    def match_persons(
        self,
        query: Mapping[str, Any],
        principal: Principal,
        *,
        purpose: Purpose,
        case_reference: str | None = None,
        limit: int = 10,
        threshold: float = DEFAULT_MATCH_THRESHOLD,
        cutoff: float | None = None,
        wait: float = 0.0,
        note: dict[str, Any] | None = None,
        via: str | None = None,
    ) -> list[dict[str, Any]]:
        """Ranked candidates scoring at least ``cutoff``, each with ``match`` (score at or above
        ``threshold``), the explanation per feature, and the record as the policy shows it.
        A record the requester may not see is skipped as if it were not on file. Until the
        watch list is loaded (waiting ``wait`` seconds at most) raises WatchlistLoading (503)."""
        person = person_query(query)
        hub = self._find_person(
            query, principal, purpose, case_reference, limit=limit, threshold=threshold, cutoff=cutoff
        )
        if note is not None and self.online is not None:
            note.update(
                self._hub_note("online" if hub is not None else "replica" if self._replica_answers(purpose) else "none")
            )
        [candidates] = self.match_many(
            [person],
            principal,
            purpose=purpose,
            case_reference=case_reference,
            limit=limit,
            threshold=threshold,
            cutoff=cutoff,
            wait=wait,
            from_hub=None if hub is None else [hub],
            via=via,
        )
        return candidates

    def match_batch(
        self,
        persons: Sequence[PersonQuery],
        principal: Principal,
        *,
        purpose: Purpose,
        case_reference: str | None = None,
        limit: int = 10,
        threshold: float = DEFAULT_MATCH_THRESHOLD,
        note: dict[str, Any] | None = None,
    ) -> list[list[dict[str, Any]]]:
        """``match_many`` for a manifest's chunk on any node. A national node asks the hub
        for its candidates online, the whole chunk in a few requests (FIND), and falls back
        on its replica as a single match does; ``note`` is filled as ``check_documents``
        fills it (``hub_checked`` reads it)."""
        cutoff = min(DEFAULT_CUTOFF, threshold)
        hub = self._find_persons(
            persons, principal, purpose, case_reference, limit=limit, threshold=threshold, cutoff=cutoff
        )
        if note is not None and self.online is not None:
            note.update(self._hub_note(self._where(hub is not None, purpose)))
        return self.match_many(
            persons,
            principal,
            purpose=purpose,
            case_reference=case_reference,
            limit=limit,
            threshold=threshold,
            cutoff=cutoff,
            from_hub=hub,
        )

    def match_many(
        self,
        persons: Sequence[PersonQuery],
        principal: Principal,
        *,
        purpose: Purpose,
        case_reference: str | None = None,
        limit: int = 10,
        threshold: float = DEFAULT_MATCH_THRESHOLD,
        cutoff: float | None = None,
        wait: float = MANIFEST_WAIT_SECONDS,
        from_hub: list[list[dict[str, Any]]] | None = None,
        via: str | None = None,
    ) -> list[list[dict[str, Any]]]:
        """``match_persons`` for many query persons at once (a manifest's chunk): one
        transaction, one audit event naming every record shown. Waits for the watch lists
        to be loaded (``wait`` seconds at most, then WatchlistLoading). ``via``: as for
        ``check_documents``."""
        principal.require(Permission.RECORD_READ)
        cutoff = min(DEFAULT_CUTOFF, threshold) if cutoff is None else cutoff
        if cutoff > threshold:
            raise ValidationFailed(
                "the cutoff cannot be above the threshold",
                errors=[FieldError("cutoff", f"{cutoff} is above the threshold {threshold}")],
            )
        # The hub's candidates, when it answered online (FIND), stand for the replica's.
        replica = self.replica if from_hub is None and self._replica_answers(purpose) else None
        # Never an empty answer from a watch list still loading: wait for it, or refuse.
        self.watchlist.ensure_ready(wait)
        if replica is not None:
            replica.watchlist.ensure_ready(wait)
        # More than asked: some candidates may be hidden from this requester.
        found = [self.watchlist.search(person, limit=limit * 3 + 10, threshold=cutoff, wait=0) for person in persons]
        copied = (
            [replica.watchlist.search(person, limit=limit, threshold=cutoff, wait=0) for person in persons]
            if replica
            else []
        )
        copies = replica.rows(record_of(c.entry_id) for cs in copied for c in cs) if replica else {}
        view = self._policy.snapshot().for_requester(requester_of(principal, purpose, case_reference))
        now = dt.datetime.now(dt.UTC)
        results: list[list[dict[str, Any]]] = []
        hits: list[HitRow] = []
        # Read apart from the writes, as a document check does: on SQLite a writing unit takes
        # the writer's turn at its first statement, reads included, and a manifest's chunk
        # held it for all its reading, deciding and sealing, while every border check's audit
        # commit waited.
        with self._uow(read_only=True) as uow:
            ids = sorted({record_of(candidate.entry_id) for candidates in found for candidate in candidates})
            rows: dict[str, RecordRow] = {}
            for start in range(0, len(ids), 500):
                statement = select(RecordRow).where(
                    RecordRow.id.in_(ids[start : start + 500]), RecordRow.deleted_at.is_(None)
                )
                rows.update((row.id, row) for row in uow.session.scalars(statement))
            for person, candidates in zip(persons, found, strict=True):
                shown: list[dict[str, Any]] = []
                echo = CheckItem(0, (), {"names": list(person.names), "birth_date": person.birth_date})
                for candidate, copy in self._merged(candidates, copied[len(results)] if replica else [], copies):
                    row = copy or rows.get(record_of(candidate.entry_id))
                    item = (
                        None
                        if row is None
                        else self._copied_candidate(copy, candidate, threshold)
                        if copy is not None
                        else self._candidate(rows[row.id], candidate, view, threshold)
                    )
                    if row is None or item is None:
                        continue
                    if item["match"] and row.owner_agency_id != principal.agency_id:
                        hit = self._hit_row(row, item["record"], echo, principal, purpose, case_reference, now)
                        if copy is not None:
                            self._held_at_hub(hit)
                        else:
                            hit.requester_node = via
                        hits.append(hit)
                        item["hit_id"] = hit.id
                    shown.append(item)
                    if len(shown) == limit:
                        break
                if from_hub is not None:
                    held = {item["id"] for item in shown}
                    shown.extend(item for item in from_hub[len(results)] if item.get("id") not in held)
                    shown.sort(key=lambda item: -float(item.get("score") or 0))
                    del shown[limit:]
                results.append(shown)
        terms: dict[str, str] = {}
        for person in persons:
            terms.update((f"name:{name.casefold()}", name) for name in person.names)
            if person.birth_date:
                terms[f"birth_date:{person.birth_date}"] = person.birth_date
        shown_ids = [item["id"] for shown in results for item in shown]
        draft = EventDraft(
            tag=AuditTag.PERSONS_MATCHED,
            actor=actor_of(principal),
            record_kind="person",
            record_ids=shown_ids,
            result_count=len(shown_ids),
            query_terms=terms,
            details={
                "queries": len(persons),
                "matches": sum(item["match"] for shown in results for item in shown),
                "threshold": threshold,
                **({"hub": self._where(from_hub is not None, purpose)} if self.asks_hub else {}),
            },
            purpose=purpose.value,
            case_reference=case_reference,
        )
        with self._uow() as uow:  # the reports sealed before the first write, as in _check
            self._report_hits(uow.session, hits)
            self._post_found(uow.session, hits, principal)  # may take a hit back from the hub
            _insert_hits(uow.session, hits)
            self._audit.add(uow, [draft])
            uow.commit()
        for hit in hits:
            self._tell_owner(hit)
        # The reports wait for the relay's next round, as the document checks' do (``_check``).
        return results

    @staticmethod
    def _merged(
        local: list[Candidate], copied: list[Candidate], copies: Mapping[str, ReplicaRecordRow]
    ) -> list[tuple[Candidate, ReplicaRecordRow | None]]:
        """Local and replica candidates in one ranking; a record held in both is answered
        from here."""
        held = {record_of(candidate.entry_id) for candidate in local}
        merged: list[tuple[Candidate, ReplicaRecordRow | None]] = [(candidate, None) for candidate in local]
        for candidate in copied:
            copy = copies.get(record_of(candidate.entry_id))
            if copy is not None and copy.id not in held:
                merged.append((candidate, copy))
        merged.sort(key=lambda pair: -pair[0].score)
        return merged

    @staticmethod
    def _copied_candidate(copy: ReplicaRecordRow, candidate: Candidate, threshold: float) -> dict[str, Any]:
        """A candidate from the national replica: the hub already decided what this country
        may see of it (for border control); the explanation names forms only in full."""
        full = copy.access == Outcome.FULL.value
        return {
            "id": copy.id,
            "score": round(candidate.score, 4),
            "match": candidate.score >= threshold,
            "explanation": [
                {
                    "feature": feature.feature,
                    "score": round(feature.score, 4),
                    "weight": round(feature.weight, 4),
                    **({"detail": feature.detail} if full else {}),
                }
                for feature in candidate.explanation
            ],
            "access": copy.access,
            "owner": {"agency_id": copy.owner_agency_id, "country": copy.owner_country},
            "consult_owner": copy.consult_owner,
            "record": copy.record,
            "source": "replica",
        }

    def _candidate(
        self, row: RecordRow, candidate: Candidate, view: RequesterPolicy, threshold: float
    ) -> dict[str, Any] | None:
        decision = view.decide_parts(
            row.kind, row.owner_agency_id, row.owner_country, row.restrictions, row.retain_until
        )
        record = apply_decision(self._records[row.kind].to_json(row), decision) if decision.visible else None
        if record is None:
            return None
        full = decision.outcome is Outcome.FULL
        return {
            "id": row.id,
            "score": round(candidate.score, 4),
            "match": candidate.score >= threshold,
            # Which name forms matched tells the record's content: in full only.
            "explanation": [
                {
                    "feature": feature.feature,
                    "score": round(feature.score, 4),
                    "weight": round(feature.weight, 4),
                    **({"detail": feature.detail} if full else {}),
                }
                for feature in candidate.explanation
            ],
            "access": decision.outcome.value,
            "owner": {"agency_id": row.owner_agency_id, "country": row.owner_country},
            "consult_owner": decision.consult_owner,
            "record": record,
        }

    # -- hits and their confirmation ----------------------------------------------------------

    def hits(self, principal: Principal, *, side: str, limit: int = 100) -> list[dict[str, Any]]:
        """Hits on the caller's agency's records (``side="owner"``), or those its checks
        raised (``side="requester"``); newest first, each with its status and age."""
        principal.require(Permission.RECORD_READ)
        if side == "owner":
            # Copies of hits the hub raised on this country's records count as the owner's.
            mine = or_(
                HitRow.owner_agency_id == principal.agency_id,
                and_(HitRow.source_node.is_not(None), HitRow.owner_country == principal.country),
            )
        else:
            mine = HitRow.requester_agency_id == principal.agency_id
        with self._uow(read_only=True) as uow:
            rows = list(
                uow.session.scalars(
                    select(HitRow).where(mine).order_by(HitRow.created_at.desc(), HitRow.id).limit(limit)
                )
            )
        view = _owner_view if side == "owner" else _requester_view
        shown = [view(row) for row in rows]
        self._audit.record(
            [
                EventDraft(
                    tag=AuditTag.HITS_LISTED,
                    actor=actor_of(principal),
                    record_ids=[row.record_id for row in rows],
                    result_count=len(rows),
                    details={"side": side},
                )
            ]
        )
        return shown

    def hit(self, hit_id: str, principal: Principal) -> dict[str, Any]:
        principal.require(Permission.RECORD_READ)
        with self._uow(read_only=True) as uow:
            row = uow.session.get(HitRow, hit_id)
        if row is not None and self._owns(row, principal):
            return _owner_view(row)
        if row is not None and row.requester_agency_id == principal.agency_id:
            return _requester_view(row)
        raise NotFound(f"no hit '{hit_id}' raised by or on your agency")

    def request_confirmation(self, hit_id: str, note: str | None, principal: Principal) -> dict[str, Any]:
        """The requester asks the owner to confirm the hit before acting on it. On a national
        node's copy of a hit the hub holds, the request goes to the hub in this transaction
        (the hub tells the owner; the copy follows the hub's status)."""
        principal.require(Permission.RECORD_READ)
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = uow.session.get(HitRow, hit_id, with_for_update=True)
            if row is None or row.requester_agency_id != principal.agency_id:
                raise NotFound(f"no hit '{hit_id}' raised by your agency")
            if row.status != HitStatus.UNCONFIRMED:
                raise Conflict(
                    f"this hit is {row.status.replace('_', ' ')}; a confirmation is asked once",
                    errors=[FieldError("status", row.status)],
                )
            row.status = HitStatus.CONFIRMATION_REQUESTED
            row.requested_at = now
            row.request_note = note
            self._audit.add(uow, [self._hit_event(AuditTag.HIT_CONFIRMATION_REQUESTED, principal, row)])
            agency_id: str | None
            if row.source_node is None:
                self._report_hits(uow.session, [row])
                permission, agency_id = Permission.RECORD_WRITE, row.owner_agency_id
            else:
                self._relay_request(uow.session, row, principal)
                permission, agency_id = self._owner_audience(uow.session, row)
            uow.commit()
        self._wake_network()
        if row.source_node is not None and row.owner_country != principal.country:
            return _requester_view(row)  # the hub tells the owner, on its own node
        # Here, or on a copy of this country's record too (the hub's report will change nothing here).
        self._events.publish("hit.confirmation_requested", _owner_view(row), permission=permission, agency_id=agency_id)
        return _requester_view(row)

    def _relay_request(self, session: Any, row: HitRow, principal: Principal) -> None:
        """The request on a copy, to the hub that holds the hit, in the caller's transaction;
        a hit this node's replica found travels with it (the hub may not have it yet)."""
        if self.network is None or row.source_node is None:
            raise ServiceUnavailable("this node is in no network: the request cannot reach the hub")
        by = relayed_by(principal, session.get(AgencyRow, principal.agency_id))
        found = hit_exchange.HitFound.of(row, by) if row.requester_node == self.network.node_name else None
        assert row.requested_at is not None
        request = hit_exchange.HitRequest(
            hit_id=row.id, note=row.request_note, requested_at=row.requested_at, by=by, found=found
        )
        try:
            self.network.post(session, hit_exchange.request_post(row.source_node, request))
        except NetworkUnavailable as error:
            raise ServiceUnavailable(f"the hub cannot be addressed now: {error}") from error

    def answer(self, hit_id: str, *, confirmed: bool, note: str | None, principal: Principal) -> dict[str, Any]:
        """The owner confirms the record is the one found (and still valid), or rejects."""
        principal.require(Permission.RECORD_WRITE)
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = uow.session.get(HitRow, hit_id, with_for_update=True)
            if row is None or not self._owns(row, principal):
                raise NotFound(f"no hit '{hit_id}' on your agency's records")
            if row.status in (HitStatus.CONFIRMED, HitStatus.REJECTED):
                raise Conflict(f"this hit was already {row.status}", errors=[FieldError("status", row.status)])
            if not confirmed and not note:
                raise ValidationFailed(
                    "say why the hit is rejected", errors=[FieldError("note", "is required to reject")]
                )
            row.status = HitStatus.CONFIRMED if confirmed else HitStatus.REJECTED
            row.answered_at = now
            row.answer_note = note
            tag = AuditTag.HIT_CONFIRMED if confirmed else AuditTag.HIT_REJECTED
            self._audit.add(uow, [self._hit_event(tag, principal, row)])
            if row.source_node is not None:
                # The hub holds the hit: the answer goes there, in this transaction.
                if self.network is None:
                    raise ServiceUnavailable("this node is in no network: the answer cannot reach the hub")
                agency = uow.session.get(AgencyRow, principal.agency_id)
                answer = hit_exchange.HitAnswer(
                    hit_id=row.id, confirmed=confirmed, note=note, by=RelayedBy.of(principal, agency)
                )
                try:
                    self.network.post(uow.session, hit_exchange.answer_post(row.source_node, answer))
                except NetworkUnavailable as error:
                    raise ServiceUnavailable(f"the hub cannot be addressed now: {error}") from error
            else:
                self._report_hits(uow.session, [row])
            uow.commit()
        self._wake_network()
        if row.source_node is not None and row.requester_country != principal.country:
            return _owner_view(row)  # the hub tells the requester, on its own node
        # Here, or on a copy whose requester is of this country too (the hub's report will
        # change nothing here).
        self._events.publish(
            "hit.answered",
            _requester_view(row),
            permission=Permission.RECORD_READ,
            agency_id=row.requester_agency_id,
        )
        return _owner_view(row)

    @staticmethod
    def _owns(row: HitRow, principal: Principal) -> bool:
        """The owner agency; for a copy of a hub's hit, any agency of the record's country
        (the country's bureau answers for its records at the hub)."""
        if row.owner_agency_id == principal.agency_id:
            return True
        return row.source_node is not None and row.owner_country == principal.country

    @staticmethod
    def _hit_event(tag: AuditTag, principal: Principal, row: HitRow) -> EventDraft:
        return EventDraft(
            tag=tag,
            actor=actor_of(principal),
            record_kind=row.record_kind,
            record_ids=[row.record_id],
            result_count=1,
            details={"hit": row.id, "status": row.status},
        )


_hits_table = cast(Table, HitRow.__table__)
_INSERT_HITS = insert(_hits_table)


def _insert_hits(session: Any, hits: Sequence[HitRow]) -> None:
    """New hits written by one Core insert; the objects stay out of the session (their
    callers only read them afterwards)."""
    if hits:
        rows = [{column.key: getattr(hit, column.key) for column in _hits_table.columns} for hit in hits]
        session.connection().execute(_INSERT_HITS, rows)


def person_query(query: Mapping[str, Any], prefix: str = "query") -> PersonQuery:
    """The API's query person, or a 422 naming the field (``query.names[0]`` ...)."""
    try:
        return PersonQuery(
            names=tuple(query.get("names") or ()),
            birth_date=query.get("birth_date"),
            nationalities=tuple(query.get("nationalities") or ()),
            sex=query.get("sex"),
            identifiers=tuple(query.get("identifiers") or ()),
        )
    except ValueError as error:
        field, _, reason = str(error).partition(": ")
        raise ValidationFailed(
            f"the query person is not valid: {error}", errors=[FieldError(f"{prefix}.{field}", reason or str(error))]
        ) from None


def query_of(person: PersonQuery) -> dict[str, Any]:
    """A query person as the API takes it (what ``person_query`` reads back)."""
    return {
        "names": list(person.names),
        "birth_date": person.birth_date,
        "nationalities": list(person.nationalities),
        "sex": person.sex,
        "identifiers": list(person.identifiers),
    }


def _same_document_type(code: str, filed: str) -> bool:
    # P is any passport and I any identity card or permit: only a different family is noted.
    read = document_type_for(code)
    return read.value == filed or read is DocumentType.OTHER


def _age_seconds(row: HitRow) -> int:
    return int((dt.datetime.now(dt.UTC) - row.created_at).total_seconds())


def _common_view(row: HitRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "record": {"id": row.record_id, "kind": row.record_kind},
        "owner": {"agency_id": row.owner_agency_id, "country": row.owner_country},
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "age_seconds": _age_seconds(row),
        "requested_at": row.requested_at.isoformat() if row.requested_at else None,
        "request_note": row.request_note,
        "answered_at": row.answered_at.isoformat() if row.answered_at else None,
        "answer_note": row.answer_note,
    }


def _owner_view(row: HitRow) -> dict[str, Any]:
    """What the record's owner learns: which agency and country checked, when, why, and
    what they were shown; not the officer."""
    return {
        **_common_view(row),
        "checked_by": {"agency_id": row.requester_agency_id, "country": row.requester_country},
        "purpose": row.purpose,
        "access": row.access,
        "query": row.query,
    }


def _requester_view(row: HitRow) -> dict[str, Any]:
    return {
        **_common_view(row),
        "purpose": row.purpose,
        "case_reference": row.case_reference,
        "access": row.access,
        "query": row.query,
    }


def _relayed_actor(by: RelayedBy, node: str, country: str | None) -> Actor:
    """A national node's user, as the hub's audit trail names them."""
    return Actor(kind="relayed", name=f"{by.user}@{node}", agency_id=by.agency_id, country=country)


def _applied(header: RoutingHeader, now: dt.datetime, outcome: str | None) -> AppliedEnvelopeRow:
    return AppliedEnvelopeRow(
        message_id=header.id,
        sender=header.sender,
        content_type=header.content_type,
        applied_at=now,
        outcome=outcome,
    )
