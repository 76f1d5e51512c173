"""Accesses to a record on other nodes, reported to its owner's node: the owner's view of
accesses across the network.

A record lives on more nodes than its owner's: a country's records filed at the hub, and
the hub's records copied to the national replicas (polex.replica), where other countries'
officers check them offline. Each node reports to the owner's node what its own audit log
says of accesses to them; the owner's node keeps the reports and shows them beside its own
events (``GET /api/v1/{kind}/{id}/accesses``).

The reporting node (``AccessReports.run_once``, in the background, never on a request's path):

1. *scan*: it reads the entries of its log after a persisted cursor, up to its latest
   signed checkpoint (so that every entry it reports can be proven in a checkpoint it has
   signed), and keeps the accesses (``REPORTED_TAGS``) naming a record another country
   owns: a record it holds (at the hub, every member's), or, on a national node, a replica
   copy, unless the hub answered that check online (the hub reports its own entry). The
   owner agency's own actions, and records of a country with no node in the network, are
   not reported. One report per (entry, record) is queued, and the cursor moved, in one
   transaction.
2. *send*: per owner country, batches of queued reports travel in one envelope of content
   type ``application/vnd.polex.access-report+json`` to the node serving that country (the
   hub for the hub's own), through the hub like every envelope, signed by this node and
   readable by the recipient alone, with this node's signed checkpoint and the key that
   signs it. A batch leaves the queue in the transaction that writes its envelope to the
   outbox. The cursor and the queue are in the database, and each moves in the transaction
   that acts on it: a restart loses nothing and sends nothing twice.

What a report says is what a hit already tells an owner (polex.screening.hit_exchange): the
entry's sequence number, time and tag, the agency and country that acted, the declared
purpose, whether a case was declared (never the case, never the officer), the decision;
and the record (id, kind, owner agency).

The owner's node (``AccessReports.apply``) takes an envelope once (``applied_envelopes``)
and each report once per (node, entry, record). It refuses, with the reason, audited, a
batch that is not for its country, whose checkpoint is not the sender's log signed by the
key given, does not hold the entries, or differs from one of the same size the sender gave
before (two views of one log); and a report about a record the sender could not
have held: a national node holds other countries' records only as replica copies (of the
replicated kinds), never its own country's, and reports only its own users' accesses; a
record this node holds must be of the kind and owner agency reported.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn, cast

import orjson
from pydantic import AwareDatetime, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import Table, and_, delete, func, insert, or_, select

from polex.audit.checkpoint import Checkpoint, CheckpointError, open_note
from polex.audit.service import AuditTrail, EventDraft
from polex.crypto.envelope import EnvelopeRefused
from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.base import RecordId, SchemaModel, new_id
from polex.domain.message import RoutingHeader
from polex.message.outbound import Post, ServiceNetwork
from polex.network.membership import Member
from polex.network.view import NetworkUnavailable, NetworkView
from polex.record.service import ReportedAccess
from polex.replica.service import REPLICATED_KINDS
from polex.storage.tables import (
    AccessReportCheckpointRow,
    AccessReportQueueRow,
    AccessReportRow,
    AccessReportStateRow,
    AppliedEnvelopeRow,
    AuditEventRecordRow,
    AuditEventRow,
    RecordRow,
    ReplicaRecordRow,
)
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.audit.access_reports")

ACCESS_REPORT_TYPE = "application/vnd.polex.access-report+json"
SCAN_CHUNK = 5000  # entries read per step of a scan
BATCH = 500  # reports per envelope
LOOKUP = 500  # ids per IN (...) of a query
_READ_ACTIONS = ("read", "listed", "exported", "file_read")
# The accesses reported: reads, lists and exports of records, checks and matches that showed
# them. Changes are the owner's own (only the owner changes a record); the hub's copies to the
# replicas are transfers between nodes, not accesses by anyone.
REPORTED_TAGS = frozenset(
    tag
    for tag in AuditTag
    if (tag.value.startswith("record:") and tag.value.rsplit(":", 1)[1] in _READ_ACTIONS)
    or tag in (AuditTag.DOCUMENTS_CHECKED, AuditTag.VEHICLES_CHECKED, AuditTag.PERSONS_MATCHED)
)
_REPORTED_VALUES = sorted(tag.value for tag in REPORTED_TAGS)

# Built once: every node runs the scan and the send as often as it signs its log, mostly
# to find nothing new.
_state, _queue = cast(Table, AccessReportStateRow.__table__), cast(Table, AccessReportQueueRow.__table__)
_NEXT_SEQ = select(_state.c.next_seq).where(_state.c.id == 1)
_QUEUED_COUNTRIES = select(_queue.c.owner_country).distinct()
_QUEUE_REPORTS = insert(_queue)

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
AgencyId = Annotated[str, StringConstraints(min_length=1, max_length=36)]


# -- what travels ------------------------------------------------------------------------


class ReportedRecord(SchemaModel):
    id: RecordId
    kind: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]
    owner_agency_id: AgencyId


class AccessReport(SchemaModel):
    """One entry of the reporter's log, as the owner may know it."""

    seq: int = Field(ge=0, le=2**53 - 1, description="The entry's sequence number in the reporter's log")
    at: AwareDatetime
    tag: Annotated[str, StringConstraints(max_length=64)]
    agency_id: AgencyId | None
    country: Country | None
    purpose: Annotated[str, StringConstraints(max_length=64)] | None
    case_declared: bool
    decision: Decision
    records: list[ReportedRecord] = Field(min_length=1, max_length=BATCH)


class AccessReportBatch(SchemaModel):
    """Reports to one owner country, with the reporter's signed checkpoint that holds them."""

    # A signed note ends with a new line, which is part of what is signed.
    model_config = ConfigDict(str_strip_whitespace=False)

    owner_country: Country
    checkpoint: Annotated[str, StringConstraints(min_length=1, max_length=8000)]
    verifier_key: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    reports: list[AccessReport] = Field(min_length=1, max_length=BATCH)


@dataclass(frozen=True)
class _Owner:
    kind: str
    agency_id: str
    country: str
    copy: bool  # a national replica's copy, not a record this node holds


class AccessReports:
    """A node's side of access reports: it reports accesses in its log to the owners' nodes,
    and, as an owner's node, keeps the reports it gets and gives them to the owner's view."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        view: NetworkView,
        network: ServiceNetwork,
        *,
        node_country: str,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._view = view
        self._network = network
        self._country = node_country
        self._lock = threading.Lock()  # one scan or send at a time in this process
        self.node_name = view.node_name

    # -- reporting ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """Queue the accesses logged up to the latest signed checkpoint, then send what is
        queued; returns the number of reports sent."""
        self.scan_once()
        return self.send_once()

    def scan_once(self) -> int:
        """Queue a report for every reported access in the log, from the cursor up to the
        latest signed checkpoint; returns how many were queued. Until this node has a
        membership list (it has not joined) the cursor waits."""
        queued = 0
        with self._lock:
            while True:
                latest = self._audit.latest_checkpoint()
                with self._uow(read_only=True) as uow:
                    start = uow.session.connection().execute(_NEXT_SEQ).scalar() or 0
                end = min(latest.size if latest is not None else 0, start + SCAN_CHUNK)
                if start >= end:
                    return queued
                try:
                    reports = self._reports_in(start, end)
                except NetworkUnavailable as error:
                    log.info("access reports wait for the network: %s", error)
                    return queued
                now = dt.datetime.now(dt.UTC)
                with self._uow() as uow:
                    state = uow.session.get(AccessReportStateRow, 1, with_for_update=True)
                    if state is None:
                        state = AccessReportStateRow(id=1, next_seq=0)
                        uow.session.add(state)
                    if state.next_seq != start:
                        return queued  # another process scanned these entries meanwhile
                    if reports:  # one Core insert: the ORM's flush of each row held the writer's turn longer
                        uow.session.connection().execute(
                            _QUEUE_REPORTS,
                            [
                                {
                                    "seq": seq,
                                    "record_id": record_id,
                                    "owner_country": country,
                                    "report": report,
                                    "queued_at": now,
                                }
                                for seq, record_id, country, report in reports
                            ],
                        )
                    state.next_seq = end
                    uow.commit()
                queued += len(reports)

    def _reports_in(self, start: int, end: int) -> list[tuple[int, str, str, dict[str, Any]]]:
        """The reports of the entries in [start, end): (entry, record, owner country, report)."""
        with self._uow(read_only=True) as uow:
            # Only the entries that touched records: most of a busy log (border checks with
            # no hit) touches none, and parsing them found nothing to report.
            touched = select(AuditEventRecordRow.seq).where(
                AuditEventRecordRow.seq >= start, AuditEventRecordRow.seq < end
            )
            entries = uow.session.scalars(
                select(AuditEventRow.entry)
                .where(AuditEventRow.seq.in_(touched), AuditEventRow.tag.in_(_REPORTED_VALUES))
                .order_by(AuditEventRow.seq)
            ).all()
            events = [orjson.loads(entry) for entry in entries]
            ids = {record_id for event in events for record_id in event["record_ids"]}
            owners = self._owners(uow.session, RecordRow, ids, copy=False)
            if not self._view.is_hub:
                owners.update(self._owners(uow.session, ReplicaRecordRow, ids - owners.keys(), copy=True))
        wanted: list[tuple[dict[str, Any], str, _Owner]] = []
        for event in events:
            # A national check the hub answered online: the hub reports its own entry.
            online = event["details"].get("hub") == "online"
            for record_id in dict.fromkeys(event["record_ids"]):
                owner = owners.get(record_id)
                if owner is None or (owner.copy and online) or owner.country == self._country:
                    continue
                if owner.agency_id == event["actor"]["agency_id"]:
                    continue  # the owner's own access
                wanted.append((event, record_id, owner))
        if not wanted:
            return []
        served = self._countries_served()
        return [
            (event["seq"], record_id, owner.country, _report(event, record_id, owner))
            for event, record_id, owner in wanted
            if owner.country in served
        ]

    @staticmethod
    def _owners(
        session: Any, model: type[RecordRow] | type[ReplicaRecordRow], ids: Iterable[str], *, copy: bool
    ) -> dict[str, _Owner]:
        wanted = sorted(ids)
        found: dict[str, _Owner] = {}
        for first in range(0, len(wanted), LOOKUP):
            statement = select(model.id, model.kind, model.owner_agency_id, model.owner_country).where(
                model.id.in_(wanted[first : first + LOOKUP])
            )
            for record_id, kind, agency_id, country in session.execute(statement):
                found[record_id] = _Owner(kind, agency_id, country, copy)
        return found

    def _countries_served(self) -> set[str]:
        """The countries with a node of their own in the network (the hub's, the hub), a
        suspended one included: its reports wait for it."""
        return {
            member.country
            for member in self._view.membership().members.values()
            if member.status != "revoked" and member.name != self.node_name
        }

    def send_once(self) -> int:
        """Send the queued reports, per owner country, in batches; returns how many were
        sent. A country whose node cannot be addressed now keeps its reports queued."""
        sent = 0
        with self._lock:
            with self._uow(read_only=True) as uow:
                countries = sorted(uow.session.connection().execute(_QUEUED_COUNTRIES).scalars())
            for country in countries:
                try:
                    to = self._owner_node(country)
                except NetworkUnavailable as error:
                    log.info("access reports wait for the network: %s", error)
                    break
                if to is None:
                    continue
                while True:
                    try:
                        count = self._send_batch(country, to)
                    except NetworkUnavailable as error:
                        log.warning("access reports to %s wait: %s", to, error)
                        break
                    sent += count
                    if count < BATCH:
                        break
        if sent:
            self._network.wake()
        return sent

    def _owner_node(self, country: str) -> str | None:
        """The node that keeps ``country``'s reports now: its national node, or the hub for the hub's country."""
        hub = self._view.hub()
        if hub.country == country:
            return hub.name
        return self._network.node_of(country)

    def _send_batch(self, country: str, to: str) -> int:
        latest = self._audit.latest_checkpoint()
        if latest is None:
            return 0
        with self._uow(read_only=True) as uow:
            rows = uow.session.scalars(
                select(AccessReportQueueRow)
                .where(AccessReportQueueRow.owner_country == country)
                .order_by(AccessReportQueueRow.seq, AccessReportQueueRow.record_id)
                .limit(BATCH)
            ).all()
        if not rows:
            return 0
        batch = AccessReportBatch(
            owner_country=country,
            checkpoint=latest.note,
            verifier_key=self._audit.verifier_key(),
            reports=_grouped(rows),
        )
        last = rows[-1]
        # Sealed (signed and encrypted: the long part, growing with the batch) before the
        # transaction's first statement, which on SQLite takes the writer's turn that every
        # border check's audit commit waits for. Raises NetworkUnavailable: nothing taken.
        sealed = self._network.seal(
            Post(
                to=to,
                content_type=ACCESS_REPORT_TYPE,
                body=orjson.dumps(batch.model_dump(mode="json")),
                conversation_id=new_id(),
                subject=f"access reports: {len(rows)}",
            )
        )
        with self._uow() as uow:
            taken = uow.session.execute(
                delete(AccessReportQueueRow).where(
                    AccessReportQueueRow.owner_country == country,
                    or_(
                        AccessReportQueueRow.seq < last.seq,
                        and_(AccessReportQueueRow.seq == last.seq, AccessReportQueueRow.record_id <= last.record_id),
                    ),
                )
            )
            if getattr(taken, "rowcount", 0) != len(rows):
                return 0  # another process sent some of them meanwhile; the rest go next round
            self._network.queue(uow.session, [sealed])
            details = {
                "to": to,
                "envelope": sealed.id,
                "entries": [rows[0].seq, last.seq],
                "checkpoint": latest.size,
            }
            event = EventDraft(
                tag=AuditTag.ACCESS_REPORTS_SENT,
                actor=Actor(kind="node", name=self.node_name, country=self._country),
                record_ids=sorted({row.record_id for row in rows}),
                result_count=len(rows),
                details=details,
            )
            self._audit.add(uow, [event])
            uow.commit()
        return len(rows)

    # -- the owner's node -----------------------------------------------------------------

    def apply(self, header: RoutingHeader, body: bytes) -> None:
        """An envelope of access reports the hub delivered: each report kept once, the
        refused ones audited with their reason. EnvelopeRefused (the sender is told why)
        when nothing in it is taken."""
        sender = header.sender
        with self._uow(read_only=True) as uow:
            if uow.session.get(AppliedEnvelopeRow, header.id) is not None:
                return  # the wire repeated it
        member = self._view.membership().members.get(sender)
        try:
            batch = AccessReportBatch.model_validate_json(body)
        except ValidationError as error:
            self._refuse(header, member, f"not an access report ({error.error_count()} errors)")
        checkpoint = self._checked_checkpoint(header, member, batch)
        assert member is not None  # refused above otherwise
        records = [record for report in batch.reports for record in report.records]
        now = dt.datetime.now(dt.UTC)
        refused: list[dict[str, Any]] = []
        with self._uow() as uow:
            if uow.session.get(AppliedEnvelopeRow, header.id) is not None:
                return
            held = self._held(uow.session, {record.id for record in records})
            known = self._known(uow.session, sender, [report.seq for report in batch.reports])
            stored: list[AccessReportRow] = []
            for report in batch.reports:
                for record in report.records:
                    reason = self._refusal(member, report, record, held.get(record.id))
                    if reason is not None:
                        refused.append({"entry": report.seq, "record": record.id, "reason": reason})
                    elif (report.seq, record.id) not in known:
                        known.add((report.seq, record.id))
                        stored.append(_stored(sender, batch.owner_country, report, record, checkpoint, header, now))
            uow.session.add_all(stored)
            if stored and uow.session.get(AccessReportCheckpointRow, (sender, checkpoint.size)) is None:
                uow.session.add(
                    AccessReportCheckpointRow(
                        node=sender,
                        size=checkpoint.size,
                        origin=checkpoint.origin,
                        root=checkpoint.root,
                        note=batch.checkpoint,
                        verifier_key=batch.verifier_key,
                        received_at=now,
                    )
                )
            actor = Actor(kind="node", name=sender, country=member.country)
            events = []
            if stored:
                details = {"envelope": header.id, "node": sender, "reports": len(stored), "checkpoint": checkpoint.size}
                events.append(
                    EventDraft(
                        tag=AuditTag.ACCESS_REPORTS_RECEIVED,
                        actor=actor,
                        record_ids=sorted({row.record_id for row in stored}),
                        result_count=len(stored),
                        details=details,
                    )
                )
            if refused:
                events.append(self._refused_event(header, actor, refused))
            self._audit.add(uow, events)
            outcome = None if not refused else f"{len(refused)} refused: {refused[0]['reason']}"
            uow.session.add(_applied(header, now, outcome))
            uow.commit()
        if refused:
            log.warning("refused %d access reports from %s: %s", len(refused), sender, refused[0]["reason"])
        if refused and len(refused) == len(records):
            raise EnvelopeRefused(f"access reports refused: {refused[0]['reason']}")

    def _checked_checkpoint(self, header: RoutingHeader, member: Member | None, batch: AccessReportBatch) -> Checkpoint:
        """The sender's checkpoint the batch's entries are in; the batch is refused otherwise."""
        if member is None:
            self._refuse(header, member, f"node '{header.sender}' is not a member of the network")
        if batch.owner_country != self._country:
            self._refuse(header, member, f"this node serves {self._country}, not {batch.owner_country}")
        try:
            checkpoint = open_note(batch.checkpoint, batch.verifier_key)
        except CheckpointError as error:
            self._refuse(header, member, f"the checkpoint does not verify with the key given: {error}")
        if checkpoint.origin != f"polex/{header.sender}/audit":
            self._refuse(
                header, member, f"the checkpoint is of the log {checkpoint.origin}, not node {header.sender}'s"
            )
        beyond = [report.seq for report in batch.reports if report.seq >= checkpoint.size]
        if beyond:
            self._refuse(header, member, f"entry {beyond[0]} is not in the checkpoint (size {checkpoint.size})")
        with self._uow(read_only=True) as uow:
            earlier = uow.session.get(AccessReportCheckpointRow, (header.sender, checkpoint.size))
        if earlier is not None and bytes(earlier.root) != checkpoint.root:
            # Two signed views of one log: the evidence stays in the audit trail.
            self._refuse(header, member, f"the checkpoint of size {checkpoint.size} differs from the one sent before")
        return checkpoint

    def _refusal(
        self, member: Member, report: AccessReport, record: ReportedRecord, held: RecordRow | None
    ) -> str | None:
        """Why this report on this record is refused (None: it is taken)."""
        if report.tag not in {tag.value for tag in REPORTED_TAGS}:
            return f"'{report.tag}' is not an access reported to owners"
        if member.role != "hub":
            # A national node holds another country's records only as copies of the hub's.
            if member.country == self._country:
                return f"node '{member.name}' serves {self._country}: it reports no access to its own country's records"
            if record.kind not in REPLICATED_KINDS:
                return f"node '{member.name}' holds no copies of {record.kind.replace('_', ' ')} records"
            if report.country != member.country:
                return f"node '{member.name}' reports its own users' accesses, not {report.country}'s"
        if held is not None and (
            held.kind != record.kind
            or held.owner_agency_id != record.owner_agency_id
            or held.owner_country != self._country
        ):
            kind = record.kind.replace("_", " ")
            return f"record '{record.id}' is not a {kind} of agency '{record.owner_agency_id}' here"
        return None

    @staticmethod
    def _held(session: Any, ids: set[str]) -> dict[str, RecordRow]:
        wanted = sorted(ids)
        held: dict[str, RecordRow] = {}
        for first in range(0, len(wanted), LOOKUP):
            statement = select(RecordRow).where(RecordRow.id.in_(wanted[first : first + LOOKUP]))
            held.update((row.id, row) for row in session.scalars(statement))
        return held

    @staticmethod
    def _known(session: Any, node: str, seqs: Sequence[int]) -> set[tuple[int, str]]:
        wanted = sorted(set(seqs))
        known: set[tuple[int, str]] = set()
        for first in range(0, len(wanted), LOOKUP):
            statement = select(AccessReportRow.seq, AccessReportRow.record_id).where(
                AccessReportRow.node == node, AccessReportRow.seq.in_(wanted[first : first + LOOKUP])
            )
            known.update((int(seq), str(record_id)) for seq, record_id in session.execute(statement))
        return known

    def _refuse(self, header: RoutingHeader, member: Member | None, reason: str) -> NoReturn:
        """Refuse the whole envelope: audited and noted as applied (a repeat changes nothing);
        raises EnvelopeRefused, which the hub reports to the sender."""
        actor = Actor(kind="node", name=header.sender, country=member.country if member is not None else None)
        with self._uow() as uow:
            if uow.session.get(AppliedEnvelopeRow, header.id) is None:
                event = self._refused_event(header, actor, [{"reason": reason}])
                self._audit.add(uow, [event])
                uow.session.add(_applied(header, dt.datetime.now(dt.UTC), reason))
                uow.commit()
        log.warning("refused access reports from %s: %s", header.sender, reason)
        raise EnvelopeRefused(f"access reports refused: {reason}")

    @staticmethod
    def _refused_event(header: RoutingHeader, actor: Actor, refused: list[dict[str, Any]]) -> EventDraft:
        return EventDraft(
            tag=AuditTag.ACCESS_REPORTS_REFUSED,
            actor=actor,
            decision=Decision.DENIED,
            result_count=len(refused),
            details={"envelope": header.id, "node": header.sender, "refused": refused[:100]},
        )

    # -- the owner's view -------------------------------------------------------------------

    def reported(self, kind: str, record_id: str, *, limit: int = 1000) -> list[ReportedAccess]:
        """What other nodes reported of accesses to this record, oldest first."""
        with self._uow(read_only=True) as uow:
            statement = (
                select(AccessReportRow, AccessReportCheckpointRow.origin, AccessReportCheckpointRow.root)
                .outerjoin(
                    AccessReportCheckpointRow,
                    and_(
                        AccessReportCheckpointRow.node == AccessReportRow.node,
                        AccessReportCheckpointRow.size == AccessReportRow.checkpoint_size,
                    ),
                )
                .where(AccessReportRow.record_id == record_id, AccessReportRow.record_kind == kind)
                .order_by(AccessReportRow.at, AccessReportRow.node, AccessReportRow.seq)
                .limit(limit)
            )
            return [
                ReportedAccess(
                    node=row.node,
                    entry=row.seq,
                    at=row.at,
                    tag=row.tag,
                    agency_id=row.agency_id,
                    country=row.country,
                    purpose=row.purpose,
                    case_declared=row.case_declared,
                    decision=row.decision,
                    owner_agency_id=row.owner_agency_id,
                    log=origin,
                    checkpoint_size=row.checkpoint_size,
                    checkpoint_root=bytes(root) if root is not None else None,
                )
                for row, origin, root in uow.session.execute(statement)
            ]

    def queued(self) -> int:
        """Reports waiting to be sent (for operators and tests)."""
        with self._uow(read_only=True) as uow:
            return int(uow.session.scalar(select(func.count()).select_from(AccessReportQueueRow)) or 0)


def _report(event: Mapping[str, Any], record_id: str, owner: _Owner) -> dict[str, Any]:
    """One access as the owner may know it: no officer, no case reference."""
    actor = event["actor"]
    return {
        "seq": event["seq"],
        "at": event["at"],
        "tag": event["tag"],
        "agency_id": actor["agency_id"],
        "country": actor["country"],
        "purpose": event["purpose"],
        "case_declared": event["case_reference"] is not None,
        "decision": event["decision"],
        "record": {"id": record_id, "kind": owner.kind, "owner_agency_id": owner.agency_id},
    }


def _grouped(rows: Sequence[AccessReportQueueRow]) -> list[AccessReport]:
    """Queued rows (in entry order) as one report per entry, naming its records."""
    by_entry: dict[int, dict[str, Any]] = {}
    for row in rows:
        report = dict(row.report)
        record = report.pop("record")
        by_entry.setdefault(row.seq, {**report, "records": []})["records"].append(record)
    return [AccessReport.model_validate(report) for report in by_entry.values()]


def _stored(
    node: str,
    country: str,
    report: AccessReport,
    record: ReportedRecord,
    checkpoint: Checkpoint,
    header: RoutingHeader,
    now: dt.datetime,
) -> AccessReportRow:
    return AccessReportRow(
        node=node,
        seq=report.seq,
        record_id=record.id,
        record_kind=record.kind,
        owner_agency_id=record.owner_agency_id,
        owner_country=country,
        at=report.at,
        tag=report.tag,
        agency_id=report.agency_id,
        country=report.country,
        purpose=report.purpose,
        case_declared=report.case_declared,
        decision=report.decision.value,
        checkpoint_size=checkpoint.size,
        message_id=header.id,
        received_at=now,
    )


def _applied(header: RoutingHeader, now: dt.datetime, outcome: str | None) -> AppliedEnvelopeRow:
    return AppliedEnvelopeRow(
        message_id=header.id,
        sender=header.sender,
        content_type=header.content_type,
        applied_at=now,
        outcome=outcome,
    )
