"""Messages between nodes, store and forward, on the embedded transport.

1. A user sends: the message, its per-recipient statuses and the sealed envelope (signed
   by this node, encrypted to the recipients) are written in one transaction with the audit
   event; the API answers 202. Nothing is lost if the node stops right after.
2. The relay hands each envelope to the hub (``POST /api/v1/network/envelopes``), with
   retries and back-off, until the hub has stored it.
3. The hub checks the envelope's routing and signature (it cannot read the body), stores
   it once (by message id) with a queue entry per recipient, and pushes each entry to its
   recipient (``POST /api/v1/network/inbox``), with retries and back-off, while the message
   is not expired. An offline or suspended recipient is tried again until the message
   expires; then the sender is told.
4. The recipient opens the envelope, stores the message once (by id: the wire may deliver
   twice, the application sees it once) and answers with a delivery receipt it signs.
5. The hub reports delivered, expired or refused to the sender
   (``POST /api/v1/network/receipts``), which updates its per-recipient status.
6. The first read of a received message by a user of the recipient node queues a read
   receipt that node signs, in the read's transaction, as an envelope of its own to the
   sender's node (through the hub, steps 2 to 5); the sender checks it and shows ``read``.
   A recipient's status only moves forward.

No transaction is ever open across a network call (SQLite has one writer, and a slow
peer must not hold the database).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import httpx
import orjson
from joserfc import jws
from joserfc.errors import JoseError
from pydantic import ValidationError
from sqlalchemy import BindParameter, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from polex.audit.background import PeriodicTask
from polex.audit.context import current_request
from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.bus.nats import StreamMissing
from polex.bus.ports import BusUnavailable
from polex.crypto.envelope import EnvelopeRefused, check_routing, open_envelope, parse_envelope, seal
from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.base import Tlp, new_id
from polex.domain.message import RoutingHeader
from polex.domain.roles import Permission
from polex.errors import BadRequest, FieldError, Forbidden, NotFound, ServiceUnavailable
from polex.events import EventHub
from polex.message.attachments import AttachmentService, parse_sealed
from polex.message.jetstream import Inbound, JetStreamLink
from polex.message.schemas import (
    DEFAULT_EXPIRY,
    EVERYONE,
    AttachmentInfo,
    DeliveryReport,
    MessageAccepted,
    MessageCreate,
    MessageRead,
    ReadReceipt,
    RecipientStatus,
    SealedAttachment,
    forwarded_records,
)
from polex.network.http import consumed_body, with_content_length
from polex.network.view import NetworkUnavailable, NetworkView
from polex.storage.group_commit import GroupCommit
from polex.storage.tables import (
    Base,
    HubDeliveryRow,
    HubEnvelopeRow,
    MessageRecipientRow,
    MessageRow,
    OutboxRow,
)
from polex.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from polex.message.forwarding import RecordForwarding

log = logging.getLogger(__name__)
RECEIPT_TYPE = "polex-receipt+jws"
# A recipient node's read receipt, carried to the sender node in an envelope of its own.
READ_RECEIPT_TYPE = "application/vnd.polex.read-receipt+json"
RECEIPT_CLOCK_SKEW = dt.timedelta(minutes=5)  # a read receipt dated later than this ahead is refused
# The sender's view of a recipient only moves forward along this order; expired and refused
# are where a message ends undelivered, but a signed read receipt proves it arrived after all
# (the hub may expire an entry whose push it did not get to record before a crash).
STATUS_RANK = {"queued": 0, "at_hub": 1, "delivered": 2, "expired": 2, "refused": 2, "read": 3}
MAX_BACKOFF = dt.timedelta(minutes=5)
# While the hub does not answer at all, the relay asks again at most this far apart: an
# unreachable hub says nothing about the envelopes, so they keep their place and their
# count of tries, and the first answer after an outage sends them all within seconds.
MAX_HUB_BACKOFF_SECONDS = 10.0
# A hop woken for every new envelope starts a round at most this often: under load the next
# round carries what came meanwhile (one request, one transaction for many) instead of a
# round per message, whose fixed cost (queries, a request to the next node, a commit) would
# take the CPU the users' requests need. Idle, a message goes at once: the wait counts from
# the last round's start.
ROUND_SECONDS = 0.01
REPORT_SECONDS = 0.5  # how often the hub looks for outcomes to report (and retries senders due again)
# The hub's reports to senders start a round at most this often. A report moves the sender's
# per-recipient status (what its users see), not the message, and every round costs the hub
# and the sender a request and a transaction. Woken by every delivery round (about 50 a
# second under 200 messages a second), the hub's reporting thread took a fifth of the hub's
# CPU (0.80 s in 8 s); paced at a tenth of a second, 0.28 s. The sender's status page is a
# tenth of a second later at most.
REPORT_ROUND_SECONDS = 0.1
# An envelope in a recipient's JetStream stream waits there for its node, however long; the
# hub hands it over again only this long after, in case the stream lost it (purged, limits).
RESEND_AFTER = dt.timedelta(minutes=10)
# The next attempt of an outbox row once relayed, and of a hub queue entry once its outcome is
# reported: none. Moving ``next_attempt_at`` past any "now" takes the row out of the range
# that the due queries scan on its index, so their cost follows what waits, not the history
# (a relayed row would otherwise stay in ``next_attempt_at <= now`` for ever, to be filtered).
NO_NEXT_ATTEMPT = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
FINISHED = ("delivered", "expired", "refused")  # a hub queue entry's outcomes, reported to the sender


class _Borrowed:
    """The shared client, used in a ``with`` block without closing it."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __enter__(self) -> httpx.Client:
        return self._client

    def __exit__(self, *_: object) -> None:
        return None


BATCH_BYTES = 8 * 1024 * 1024  # one request carries at most this much of envelopes
MESSAGE_TYPE = "application/json"  # a message between users; other content types go to their handler
SYSTEM_BOX = "system"  # envelopes a service sent (not a user's message): tracked, not listed


class ContentHandler(Protocol):
    """Acts on an opened envelope of one content type (a relayed notice step, a lifecycle
    report). It must be idempotent by message id: the wire may deliver twice. It handles
    what it refuses itself (telling the sender); an exception means "try again later"."""

    def __call__(self, header: RoutingHeader, body: bytes) -> None: ...


BATCH_ITEMS = 200


def _batches(rows: list[Any], size_of: Callable[[Any], int]) -> list[list[Any]]:
    """Consecutive groups of at most BATCH_ITEMS rows and about BATCH_BYTES (one row alone
    may exceed it)."""
    batches: list[list[Any]] = []
    current: list[Any] = []
    weight = 0
    for row in rows:
        size = size_of(row)
        if current and (len(current) >= BATCH_ITEMS or weight + size > BATCH_BYTES):
            batches.append(current)
            current, weight = [], 0
        current.append(row)
        weight += size
    if current:
        batches.append(current)
    return batches


def _envelope_batch(envelopes: list[str]) -> bytes:
    """``{"envelopes": [...]}`` from envelopes already serialised, without parsing them again."""
    return b'{"envelopes":[' + b",".join(text.encode() for text in envelopes) + b"]}"


def _routing_id(envelope: Any) -> str | None:
    routing = envelope.get("routing") if isinstance(envelope, dict) else None
    value = routing.get("id") if isinstance(routing, dict) else None
    return value if isinstance(value, str) else None


def _recipient_status(row: MessageRecipientRow) -> RecipientStatus:
    return RecipientStatus(
        node=row.recipient, status=row.status, reason=row.reason, updated_at=row.updated_at, read_at=row.read_at
    )


def _message_values(
    header: RoutingHeader,
    *,
    box: str,
    subject: str,
    body: str,
    author: dict[str, Any],
    records: list[dict[str, Any]] | None,
    received_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A ``messages`` row as Core insert values: every column, so rows insert together (executemany)."""
    return {
        "id": header.id,
        "box": box,
        "sender": header.sender,
        "recipients": list(header.recipients),
        "conversation_id": header.conversation_id,
        "in_reply_to": header.in_reply_to,
        "case_ref": header.case_ref,
        "handling": header.handling.value,
        "created": header.created,
        "expires": header.expires,
        "subject": subject,
        "body": body,
        "author": author,
        "received_at": received_at,
        "read_at": None,
        "records": records,
    }


def _recipient_values(header: RoutingHeader, now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "message_id": header.id,
            "recipient": recipient,
            "status": "queued",
            "reason": None,
            "receipt": None,
            "updated_at": now,
            "read_at": None,
            "read_receipt": None,
        }
        for recipient in header.recipients
    ]


def _outbox_values(message_id: str, envelope: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "envelope": orjson.dumps(envelope).decode(),
        "attempts": 0,
        "next_attempt_at": now,
        "relayed_at": None,
        "last_error": None,
    }


@dataclass(frozen=True, slots=True)
class ServiceEnvelope:
    """A service's envelope to other nodes (a hit report, a notice change), sealed, as the
    rows ``MessageService.queue`` writes to the outbox."""

    id: str
    message: dict[str, Any]
    recipients: list[dict[str, Any]]
    outbox: dict[str, Any]


class _Status(Protocol):
    status: str
    reason: str | None
    updated_at: dt.datetime


@dataclass(slots=True)
class _ReportedRecipient:
    """A sender's row of one recipient, as a batch of delivery reports moves it."""

    status: str
    reason: str | None
    receipt: str | None
    updated_at: dt.datetime
    changed: bool = False


def _move_forward(row: _Status, status: str, reason: str | None) -> bool:
    """Move a recipient's status forward (never back: a report that arrives late, after a
    later state, changes nothing); True if it changed."""
    if STATUS_RANK.get(status, 0) < STATUS_RANK.get(row.status, 0) or (row.status, row.reason) == (status, reason):
        return False
    row.status, row.reason, row.updated_at = status, reason, dt.datetime.now(dt.UTC)
    return True


@dataclass
class _Outgoing:
    """A user's message, sealed, with what its transaction writes (see MessageService._write_sent)."""

    message: dict[str, Any]
    recipients: list[dict[str, Any]]
    outbox: dict[str, Any]
    event: EventDraft
    context: contextvars.Context  # the request's: its id, purpose and case go in the audit event
    attach: Callable[[Session], None] | None = None  # its attachments' rows, uploads claimed


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# The hops' statements (the relay's, the hub delivery's and reports', the intake's, a
# recipient's store, a sender's reports and group commit), built once and run on the
# connection: a hop runs its round about 50 times a second under load, and
# building a statement through the ORM each time cost about 0.2 ms more a statement than
# running a prepared one (SQLAlchemy's compiled cache is keyed on the statement's
# structure, which is computed again for every new statement).
_outbox, _messages, _recipients = _table(OutboxRow), _table(MessageRow), _table(MessageRecipientRow)
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_DUE_OUTBOX = (
    select(
        _outbox.c.message_id,
        _outbox.c.envelope,
        _outbox.c.attempts,
        _messages.c.conversation_id,
        _messages.c.created,
    )
    .select_from(
        _outbox.outerjoin(
            _messages,
            (_messages.c.id == _outbox.c.message_id) & _messages.c.box.in_(("outbox", SYSTEM_BOX)),
        )
    )
    .where(_outbox.c.relayed_at.is_(None), _outbox.c.next_attempt_at <= bindparam("now"))
    .order_by(_outbox.c.next_attempt_at, _outbox.c.message_id)
    .limit(bindparam("limit"))
)
_UNRELAYED = select(_outbox.c.message_id, _outbox.c.attempts).where(
    _outbox.c.message_id.in_(_IDS), _outbox.c.relayed_at.is_(None)
)
_MARK_RELAYED = (
    update(_outbox)
    .where(_outbox.c.message_id.in_(_IDS), _outbox.c.relayed_at.is_(None))
    .values(relayed_at=bindparam("now"), next_attempt_at=NO_NEXT_ATTEMPT)
)
_AT_HUB = (
    update(_recipients)
    .where(_recipients.c.message_id.in_(_IDS), _recipients.c.status == "queued")
    .values(status="at_hub", reason=None, updated_at=bindparam("now"))
)
_hub_envelopes, _hub_deliveries = _table(HubEnvelopeRow), _table(HubDeliveryRow)
_queued = _hub_deliveries.c.status == "queued"
_queue_entries = _hub_deliveries.join(_hub_envelopes, _hub_envelopes.c.message_id == _hub_deliveries.c.message_id)
_EXPIRED_ENTRIES = (
    select(_hub_deliveries.c.message_id, _hub_deliveries.c.recipient, _hub_envelopes.c.expires)
    .select_from(_queue_entries)
    .where(_queued, _hub_envelopes.c.expires <= bindparam("now"))
    .limit(bindparam("limit"))
)
_DUE_RECIPIENTS = (
    select(_hub_deliveries.c.recipient).where(_queued, _hub_deliveries.c.next_attempt_at <= bindparam("now")).distinct()
)
_RECIPIENT_QUEUE = (
    select(
        _hub_deliveries.c.message_id,
        _hub_deliveries.c.attempts,
        _hub_deliveries.c.next_attempt_at,
        _hub_envelopes.c.envelope,
        _hub_envelopes.c.expires,
        _hub_envelopes.c.conversation_id,
        _hub_deliveries.c.sent_at,
    )
    .select_from(_queue_entries)
    .where(_queued, _hub_deliveries.c.recipient == bindparam("recipient"))
    .order_by(_hub_envelopes.c.received_at, _hub_deliveries.c.message_id)
    .limit(bindparam("limit"))
)
# Locked (PostgreSQL; SQLite's writer holds the database): the intake may record the receipts
# of these very entries meanwhile, and a "sent" written over a "delivered" would put the
# delivered entry's report off by RESEND_AFTER.
_PUSHED_ENTRIES = (
    select(
        _hub_deliveries.c.message_id,
        _hub_deliveries.c.status,
        _hub_deliveries.c.reason,
        _hub_deliveries.c.attempts,
        _hub_deliveries.c.next_attempt_at,
        _hub_deliveries.c.receipt,
        _hub_deliveries.c.sent_at,
    )
    .where(_hub_deliveries.c.recipient == bindparam("recipient"), _hub_deliveries.c.message_id.in_(_IDS))
    .with_for_update()
)
_PUSH_OUTCOME = (
    update(_hub_deliveries)
    .where(_hub_deliveries.c.message_id == bindparam("key"), _hub_deliveries.c.recipient == bindparam("node"))
    .values(
        status=bindparam("to_status"),
        reason=bindparam("to_reason"),
        attempts=bindparam("to_attempts"),
        next_attempt_at=bindparam("to_next_attempt_at"),
        receipt=bindparam("to_receipt"),
        sent_at=bindparam("to_sent_at"),
        updated_at=bindparam("to_updated_at"),
    )
)
# The reports' round (at the hub, every REPORT_ROUND_SECONDS): outcomes not yet reported,
# each with its report due since it was reached (next_attempt_at); they leave that index
# range once reported.
_unreported = (
    _hub_deliveries.c.status.in_(FINISHED)
    & (_hub_deliveries.c.next_attempt_at <= bindparam("now"))
    & _hub_deliveries.c.reported_at.is_(None)
)
_UNREPORTED_SENDERS = select(_hub_envelopes.c.sender).select_from(_queue_entries).where(_unreported).distinct()
_SENDER_REPORTS = (
    select(
        _hub_deliveries.c.message_id,
        _hub_deliveries.c.recipient,
        _hub_deliveries.c.status,
        _hub_deliveries.c.reason,
        _hub_deliveries.c.receipt,
    )
    .select_from(_queue_entries)
    .where(_unreported, _hub_envelopes.c.sender == bindparam("sender"))
    .limit(bindparam("limit"))
)
_REPORTED = (
    update(_hub_deliveries)
    .where(_hub_deliveries.c.message_id == bindparam("key"), _hub_deliveries.c.recipient == bindparam("node"))
    .values(reported_at=bindparam("reported_at"), next_attempt_at=NO_NEXT_ATTEMPT)
)
# The hub's intake of a relayed batch, and a recipient's store of a pushed one.
_STORED_ENVELOPES = select(_hub_envelopes.c.message_id).where(_hub_envelopes.c.message_id.in_(_IDS))
_STORE_ENVELOPES, _QUEUE_DELIVERIES = insert(_hub_envelopes), insert(_hub_deliveries)
_IN_INBOX = select(_messages.c.id).where(_messages.c.id.in_(_IDS), _messages.c.box == "inbox")
_STORE_MESSAGES = insert(_messages)
# A sender's group commit of its users' sends.
_STORE_RECIPIENTS, _STORE_OUTBOX = insert(_recipients), insert(_outbox)
# A sender's side of the reports (``apply_reports``, once a round of the hub's reports).
_SERVICE_MESSAGES = select(_messages.c.id).where(_messages.c.id.in_(_IDS), _messages.c.box == SYSTEM_BOX)
_REPORTED_RECIPIENTS = select(
    _recipients.c.message_id,
    _recipients.c.recipient,
    _recipients.c.status,
    _recipients.c.reason,
    _recipients.c.receipt,
    _recipients.c.updated_at,
).where(_recipients.c.message_id.in_(_IDS))
_REPORT_OUTCOME = (
    update(_recipients)
    .where(_recipients.c.message_id == bindparam("key"), _recipients.c.recipient == bindparam("node"))
    .values(
        status=bindparam("to_status"),
        reason=bindparam("to_reason"),
        receipt=bindparam("to_receipt"),
        updated_at=bindparam("to_updated_at"),
    )
)
_RELAY_FAILED = (
    update(_outbox)
    .where(_outbox.c.message_id == bindparam("key"), _outbox.c.attempts == bindparam("tried"))
    .values(
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next_attempt_at"),
        last_error=bindparam("last_error"),
    )
)

# The hub's answers to envelopes in its stream (``apply_answers``).
_OUTBOX_TRIES = select(_outbox.c.message_id, _outbox.c.attempts).where(_outbox.c.message_id.in_(_IDS))
_HUB_REFUSED = (
    update(_outbox)
    .where(_outbox.c.message_id == bindparam("key"), _outbox.c.attempts == bindparam("tried"))
    .values(
        relayed_at=None,
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next_attempt_at"),
        last_error=bindparam("last_error"),
    )
)


class _Unusable(Exception):
    """What came through the stream can never be used (no retry would change it)."""


class HubUnreachable(Exception):
    """No access point of the hub answered (or it answered 5xx): the envelopes wait as they are."""


def backoff(attempts: int) -> dt.timedelta:
    """1 s, 2 s, 4 s ... up to five minutes between tries."""
    return min(dt.timedelta(seconds=2 ** min(attempts, 12)), MAX_BACKOFF)


class MessageService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        network: NetworkView,
        *,
        http: Callable[[], Any] | None = None,
        attachments: AttachmentService | None = None,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._network = network
        # Users' sends share transactions under load (group commit, see _write_sent).
        self._sending: GroupCommit[_Outgoing, None, UnitOfWork] = GroupCommit(
            lambda: self._uow.committing(), self._write_sent
        )
        # Files sent with messages (None: this node takes none); an outgoing message's
        # envelope leaves once its attachments are at the hub: wake the relay then.
        self._attachments = attachments
        if attachments is not None:
            attachments.on_ready = lambda: self.on_outbox()
            attachments.on_fetched = self._attachment_fetched
        # One pooled client for every peer, made on first use: connections are reused.
        self._shared: httpx.Client | None = None
        self._http = http or (lambda: _Borrowed(self._client()))
        # Called after an envelope enters the outbox (wake the relay) or the hub's queues
        # (wake the delivery), so that a message moves at once rather than at the next round.
        self.events: EventHub | None = None  # users' real-time streams, when the API serves
        self.on_outbox: Callable[[], None] = lambda: None
        self.on_hub_queue: Callable[[], None] = lambda: None
        # What acts on envelopes that are not users' messages, by content type.
        self.handlers: dict[str, ContentHandler] = {READ_RECEIPT_TYPE: self.apply_read_receipt}
        # Decides what each recipient may have of the records a message forwards (set by
        # bootstrap; None: this node forwards none).
        self.forwarding: RecordForwarding | None = None
        # At the hub: senders its delivery reports did not reach, with the tries so far and
        # when to try again (time.monotonic()).
        self._report_retry: dict[str, tuple[int, float]] = {}
        # At the hub: the thread that reports outcomes to senders (started by the first delivery round).
        self._reporter: PeriodicTask | None = None
        self._reporter_lock = threading.Lock()
        # When the relay's and the delivery's last rounds started (time.monotonic()).
        self._round_started: dict[str, float] = {}
        # On a national node: the hub's failures in a row, and when to ask it again.
        self._hub_failures = 0
        self._hub_retry_at = 0.0
        # The production transport (polex.message.jetstream): envelopes, receipts and reports
        # go through the nodes' JetStream streams; HTTP carries them to and from nodes that
        # have no stream. None: HTTP only (the embedded default).
        self.link: JetStreamLink | None = None

    def _client(self) -> httpx.Client:
        if self._shared is None:
            limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
            self._shared = self._network.clients.client(timeout=10, limits=limits)
        return self._shared

    def _post(self, base_url: str, path: str, audience: str, body: bytes) -> httpx.Response:
        """A JSON request to another node's API, with this node's token for ``audience``."""
        with self._http() as client:
            token = self._network.token_for(audience)
            headers = {"Authorization": f"PolexNode {token}", "Content-Type": "application/json"}
            response: httpx.Response = client.post(
                f"{base_url.rstrip('/')}{path}",
                content=consumed_body(body),  # a round's envelopes: freed once sent
                headers=with_content_length(headers, body),
            )
            return response

    def _attachment_fetched(self, message_id: str, attachment_id: str, status: str) -> None:
        """Tell users a received attachment can be downloaded (or was refused)."""
        if self.events is not None:
            data = {"id": message_id, "attachment": attachment_id, "status": status}
            self.events.publish("message.attachment", data, permission=Permission.MESSAGE_READ)

    @property
    def attachments(self) -> AttachmentService:
        if self._attachments is None:
            raise ServiceUnavailable("this node takes no attachments")
        return self._attachments

    def close(self) -> None:
        with self._reporter_lock:
            reporter, self._reporter = self._reporter, None
        if reporter is not None:
            reporter.stop()
        if self._attachments is not None:
            self._attachments.close()
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    # -- users ------------------------------------------------------------------------------

    def send(self, data: MessageCreate, principal: Principal, *, purpose: str | None = None) -> MessageAccepted:
        """Seal, store and queue a message; ``purpose`` (the X-Polex-Purpose header) is what
        forwarded records are decided for."""
        principal.require(Permission.MESSAGE_SEND)
        now = dt.datetime.now(dt.UTC)
        try:
            members = self._network.usable_members(now=now)
            directory = self._network.directory(now=now)
            keys = self._network.node_keys()
        except NetworkUnavailable as error:
            raise BadRequest(f"this node cannot send yet: {error}") from None
        me = self._network.node_name
        if data.to == [EVERYONE]:
            recipients = sorted(name for name in members if name != me)
        else:
            by_country = {member.country: name for name, member in members.items() if name != me}
            missing = [code for code in data.to if code not in by_country]
            if missing:
                raise BadRequest(
                    "no active node for some recipients",
                    errors=[FieldError("to", f"no active node of {code} in the network") for code in missing],
                )
            recipients = sorted(by_country[code] for code in data.to)
        if not recipients:
            raise BadRequest("nobody to send to", errors=[FieldError("to", "no other active node")])
        forwarded = None
        if data.records:
            if self.forwarding is None:
                raise ServiceUnavailable("this node forwards no records")
            countries = {name: members[name].country for name in recipients}
            forwarded = self.forwarding.decide(data.records, principal, purpose, countries)
        conversation_id = self._conversation_of(data.in_reply_to) or new_id()
        message_id = new_id()
        # Attachments are sealed (the long part) before the transaction, which commits only
        # once they are on disk; whatever fails on the way removes them.
        sealed = self.attachments.uploads.seal(data.attachments, principal, message_id) if data.attachments else None
        try:
            author = {"agency_id": principal.agency_id, "country": principal.country, "name": principal.name}
            content: dict[str, Any] = {"subject": data.subject, "body": data.body, "author": author}
            if sealed is not None:
                content["attachments"] = sealed.manifests
            if forwarded is not None:
                content["records"] = forwarded.records
            body = orjson.dumps(content)
            header = RoutingHeader(
                id=message_id,
                sender=me,
                recipients=recipients,
                created=now,
                expires=now + dt.timedelta(seconds=data.expires_in),
                handling=data.handling,
                conversation_id=conversation_id,
                in_reply_to=data.in_reply_to,
                case_ref=data.case_ref,
                size=len(body),
            )
            try:
                envelope = seal(header, body, keys, directory)
            except ValueError as error:  # too large (attachments' hashes count too), or a recipient just left
                raise BadRequest(f"the message cannot be sealed: {error}") from None
            details: dict[str, Any] = {"message": header.id, "recipients": recipients, "handling": data.handling.value}
            if sealed is not None:
                details["attachments"] = [
                    {"id": item["id"], "name": item["name"], "size": item["size"], "sha256": item["sha256"]}
                    for item in sealed.manifests
                ]
            if forwarded is not None:  # what left, and as what, for each record
                details["records"] = forwarded.audit
            sent = EventDraft(
                AuditTag.MESSAGE_SENT,
                actor_of(principal),
                record_kind=forwarded.record_kind if forwarded is not None else None,
                record_ids=forwarded.record_ids if forwarded is not None else (),
                details=details,
            )
            message = _message_values(
                header,
                box="outbox",
                subject=data.subject,
                body=data.body,
                author=author,
                records=forwarded.records if forwarded is not None else None,
            )
            attach = functools.partial(self.attachments.uploads.attach, sealed=sealed, now=now) if sealed else None
            # Written with other users' sends in one transaction (group commit); returns once
            # that transaction has committed, so the 202 below is as durable as before.
            self._sending.submit(
                _Outgoing(
                    message=message,
                    recipients=_recipient_values(header, now),
                    outbox=_outbox_values(header.id, envelope, now),
                    event=sent,
                    context=contextvars.copy_context(),
                    attach=attach,
                )
            )
        except BaseException:
            if sealed is not None:
                sealed.discard()
            raise
        if sealed is not None:
            sealed.release_uploads()
            self.attachments.wake()  # to the hub now
        self.on_outbox()
        return MessageAccepted(id=header.id, conversation_id=conversation_id, recipients=recipients)

    def _write_sent(self, uow: UnitOfWork, sends: Sequence[_Outgoing]) -> list[None]:
        """Sent messages, their per-recipient statuses, outbox rows and audit events, in one
        transaction: each message and its event commit together, or neither does. Core
        inserts of many rows at once (the ORM's per-object bookkeeping would cost more than
        the writes); each event under its own request's id, purpose and case."""
        connection = uow.session.connection()
        connection.execute(_STORE_MESSAGES, [send.message for send in sends])
        connection.execute(_STORE_RECIPIENTS, [row for send in sends for row in send.recipients])
        connection.execute(_STORE_OUTBOX, [send.outbox for send in sends])
        for send in sends:
            if send.attach is not None:
                send.attach(uow.session)
        # One append for the group (one reservation of sequence numbers), each event under
        # its own request's id, purpose and case.
        self._audit.add_requests(uow, [(send.context.run(current_request.get), [send.event]) for send in sends])
        return [None] * len(sends)

    def _conversation_of(self, message_id: str | None) -> str | None:
        if message_id is None:
            return None
        with self._uow(read_only=True) as uow:
            row = uow.session.scalars(select(MessageRow).where(MessageRow.id == message_id)).first()
            if row is None:
                raise BadRequest(
                    "the message replied to is unknown here", errors=[FieldError("in_reply_to", "no such message")]
                )
            return row.conversation_id

    # -- services ---------------------------------------------------------------------------

    def enqueue(
        self,
        session: Any,
        *,
        to: list[str],
        content_type: str,
        body: bytes,
        conversation_id: str,
        subject: str,
        expires_in: dt.timedelta = DEFAULT_EXPIRY,
        handling: Tlp = Tlp.AMBER,
    ) -> str:
        """Seal ``body`` for the nodes ``to`` and put it in the outbox in the caller's
        transaction (``session``): it leaves when that transaction commits, or never. The
        caller wakes the relay after its commit (``on_outbox``). Returns the message id.

        Raises NetworkUnavailable when this node has no membership list or keys yet."""
        sealed = self.seal_service(
            to=to,
            content_type=content_type,
            body=body,
            conversation_id=conversation_id,
            subject=subject,
            expires_in=expires_in,
            handling=handling,
        )
        self.queue(session, [sealed])
        return sealed.id

    def seal_service(
        self,
        *,
        to: list[str],
        content_type: str,
        body: bytes,
        conversation_id: str,
        subject: str,
        expires_in: dt.timedelta = DEFAULT_EXPIRY,
        handling: Tlp = Tlp.AMBER,
    ) -> ServiceEnvelope:
        """A service's envelope signed and encrypted for the nodes ``to``, with its outbox
        rows, touching no store: a caller sealing before its transaction's first statement
        keeps the signing out of SQLite's writer's turn. ``queue`` writes it.

        Raises NetworkUnavailable when this node has no membership list or keys yet."""
        now = dt.datetime.now(dt.UTC)
        me = self._network.node_name
        header = RoutingHeader(
            sender=me,
            recipients=sorted(to),
            created=now,
            expires=now + expires_in,
            handling=handling,
            conversation_id=conversation_id,
            content_type=content_type,
            size=len(body),
        )
        try:
            envelope = seal(header, body, self._network.node_keys(), self._network.directory(now=now))
        except ValueError as error:  # a recipient left the directory
            raise NetworkUnavailable(str(error)) from error
        message = _message_values(
            header,
            box=SYSTEM_BOX,
            subject=subject[:300],
            body="",  # the effect is recorded by the service that sent it, not here
            author={"node": me, "service": content_type},
            records=None,
        )
        return ServiceEnvelope(
            id=header.id,
            message=message,
            recipients=_recipient_values(header, now),
            outbox=_outbox_values(header.id, envelope, now),
        )

    @staticmethod
    def queue(session: Any, envelopes: Sequence[ServiceEnvelope]) -> None:
        """Sealed service envelopes into the outbox, in the caller's transaction (``session``),
        three Core inserts for all of them: a hit at the hub writes its reports while holding
        SQLite's writer's turn, which the ORM's per-object flush held about twice as long."""
        if not envelopes:
            return
        connection = session.connection()
        connection.execute(_STORE_MESSAGES, [envelope.message for envelope in envelopes])
        connection.execute(_STORE_RECIPIENTS, [row for envelope in envelopes for row in envelope.recipients])
        connection.execute(_STORE_OUTBOX, [envelope.outbox for envelope in envelopes])

    def delivery(self, message_id: str) -> list[RecipientStatus]:
        """Per recipient, what became of an envelope this node sent."""
        with self._uow(read_only=True) as uow:
            rows = uow.session.scalars(
                select(MessageRecipientRow).where(MessageRecipientRow.message_id == message_id)
            ).all()
            return [_recipient_status(row) for row in rows]

    def messages(self, principal: Principal, box: str, *, limit: int = 100) -> list[MessageRead]:
        principal.require(Permission.MESSAGE_READ)
        with self._uow(read_only=True) as uow:
            rows = uow.session.scalars(
                select(MessageRow).where(MessageRow.box == box).order_by(MessageRow.created.desc()).limit(limit)
            ).all()
            infos = AttachmentService.infos(uow.session, [(row.id, row.box) for row in rows])
            items = [self._read(uow.session, row, infos.get((row.id, row.box), [])) for row in rows]
        event = EventDraft(AuditTag.MESSAGES_LISTED, actor_of(principal), details={"box": box, "count": len(items)})
        self._audit.record([event])
        return items

    def get(self, message_id: str, principal: Principal) -> MessageRead:
        """A message with its status per recipient. The first read of a received message
        here also queues a read receipt, signed by this node, to the sender's node (in the
        read's transaction, so it leaves once and only if the read is recorded)."""
        principal.require(Permission.MESSAGE_READ)
        with self._uow(read_only=True) as uow:
            row = uow.session.scalars(
                select(MessageRow)
                .where(MessageRow.id == message_id, MessageRow.box != SYSTEM_BOX)
                .order_by(MessageRow.box)
            ).first()
            if row is None:
                read = None
            else:
                infos = AttachmentService.infos(uow.session, [(row.id, row.box)])
                read = self._read(uow.session, row, infos.get((row.id, row.box), []))
        if read is not None and read.box == "inbox" and read.read_at is None:
            read.read_at = self._first_read(read, principal)
            return read
        self._audit.record([EventDraft(AuditTag.MESSAGE_READ, actor_of(principal), details={"message": message_id})])
        if read is None:
            raise NotFound(f"no message '{message_id}'")
        return read

    def _first_read(self, read: MessageRead, principal: Principal) -> dt.datetime | None:
        """Record that a user read a received message and, if nobody had before, queue the
        read receipt to its sender's node; returns when it was first read."""
        now = dt.datetime.now(dt.UTC)
        user = actor_of(principal)
        node = Actor(kind="node", name=self._network.node_name)
        with self._uow() as uow:
            claimed = uow.session.execute(
                update(MessageRow)
                .where(MessageRow.id == read.id, MessageRow.box == "inbox", MessageRow.read_at.is_(None))
                .values(read_at=now)
            )
            details: dict[str, Any] = {"message": read.id}
            events = [EventDraft(AuditTag.MESSAGE_READ, user, details=details)]
            if getattr(claimed, "rowcount", 0) != 1:  # another user's first read came just before
                first = uow.session.scalar(
                    select(MessageRow.read_at).where(MessageRow.id == read.id, MessageRow.box == "inbox")
                )
            else:
                first = now
                details["first"] = True
                try:
                    receipt = ReadReceipt(message_id=read.id, receipt=self._receipt(read.id, now, status="read"))
                    envelope_id = self.enqueue(
                        uow.session,
                        to=[read.sender],
                        content_type=READ_RECEIPT_TYPE,
                        body=receipt.model_dump_json().encode(),
                        conversation_id=read.conversation_id,
                        subject=f"read receipt for {read.id}",
                        handling=Tlp(read.handling),
                    )
                except NetworkUnavailable as error:  # the sender left the network (or this node): nobody to tell
                    log.warning("no read receipt for message %s: %s", read.id, error)
                    details["read_receipt"] = f"not sent: {error}"
                else:
                    details["read_receipt"] = envelope_id
                    sent = {"message": read.id, "to": read.sender, "envelope": envelope_id, "at": now.isoformat()}
                    events.append(EventDraft(AuditTag.READ_RECEIPT_SENT, node, details=sent))
            self._audit.add(uow, events)
            uow.commit()
        if details.get("first"):
            self.on_outbox()
        return first

    @staticmethod
    def _read(session: Any, row: MessageRow, attachments: list[AttachmentInfo]) -> MessageRead:
        delivery = []
        if row.box == "outbox":
            statuses = session.scalars(
                select(MessageRecipientRow).where(MessageRecipientRow.message_id == row.id)
            ).all()
            delivery = [_recipient_status(item) for item in statuses]
        return MessageRead(
            id=row.id,
            box=row.box,
            sender=row.sender,
            recipients=row.recipients,
            conversation_id=row.conversation_id,
            in_reply_to=row.in_reply_to,
            case_ref=row.case_ref,
            handling=row.handling,
            created=row.created,
            expires=row.expires,
            subject=row.subject,
            body=row.body,
            author=row.author,
            received_at=row.received_at,
            read_at=row.read_at,
            delivery=delivery,
            attachments=attachments,
            records=row.records or [],
        )

    # -- the relay: outbox to hub -----------------------------------------------------------

    def relay_once(self, *, limit: int = 500) -> int:
        """Hand due envelopes to the hub in batches; returns how many the hub stored. An
        envelope whose attachments are not all at the hub waits, and so do the later
        messages of its conversation (the hub keeps a conversation's order as it gets it)."""
        if self._attachments is not None:
            self._attachments.start()
        if time.monotonic() < self._hub_retry_at:
            return 0
        self._pace("relay")
        now = dt.datetime.now(dt.UTC)
        with self._uow(read_only=True) as uow:
            rows = uow.session.connection().execute(_DUE_OUTBOX, {"now": now, "limit": limit}).all()
            held, since = AttachmentService.held_messages(uow.session) if self._attachments else (set(), {})
        due = [
            (message_id, envelope, attempts)
            for message_id, envelope, attempts, conversation, created in rows
            if message_id not in held
            and not (conversation in since and created is not None and created >= since[conversation])
        ]
        relayed = 0
        for batch in _batches(list(due), lambda row: len(row[1])):
            try:
                outcomes, stored = self._hand_to_hub(batch)
            except HubUnreachable as unreachable:
                delay = min(2.0**self._hub_failures, MAX_HUB_BACKOFF_SECONDS)
                self._hub_failures += 1
                self._hub_retry_at = time.monotonic() + delay
                log.warning("the hub did not answer (%s); asking again in %.0f s", unreachable, delay)
                with self._uow() as uow:  # counted and explained, but still due
                    uow.session.execute(
                        update(OutboxRow)
                        .where(OutboxRow.message_id.in_([message_id for message_id, _, _ in batch]))
                        .values(attempts=OutboxRow.attempts + 1, last_error=str(unreachable)[:2000])
                    )
                    uow.commit()
                break
            self._hub_failures, self._hub_retry_at = 0, 0.0
            relayed += self._record_relayed(batch, outcomes, stored=stored)
        return relayed

    def _record_relayed(self, batch: list[tuple[str, str, int]], outcomes: list[str | None], *, stored: bool) -> int:
        """One transaction for what the hub did with a batch: relayed (and, when the hub
        answered at once, "at_hub"), or due again later. A row tried again meanwhile (the
        hub's answer to this try came first) is that try's own, and is left alone. Set-wise
        statements, not one per row."""
        now = dt.datetime.now(dt.UTC)
        ids = [message_id for message_id, _, _ in batch]
        with self._uow() as uow:
            connection = uow.session.connection()
            unrelayed = connection.execute(_UNRELAYED, {"ids": ids})
            current: dict[str, int] = {row.message_id: row.attempts for row in unrelayed}
            ours = [
                (message_id, attempts, error)
                for (message_id, _, attempts), error in zip(batch, outcomes, strict=True)
                if current.get(message_id) == attempts
            ]
            relayed = [message_id for message_id, _, error in ours if error is None]
            failed = [
                {
                    "key": message_id,
                    "tried": attempts,
                    "attempts": attempts + 1,
                    "next_attempt_at": now + backoff(attempts),
                    "last_error": error[:2000],
                }
                for message_id, attempts, error in ours
                if error is not None
            ]
            if relayed:
                connection.execute(_MARK_RELAYED, {"ids": relayed, "now": now})
                if stored:  # else "at_hub" when the hub's answer comes (apply_answers)
                    connection.execute(_AT_HUB, {"ids": relayed, "now": now})
            if failed:
                connection.execute(_RELAY_FAILED, failed)
            uow.commit()
        return len(relayed)

    def _pace(self, hop: str, seconds: float = ROUND_SECONDS) -> None:
        """Start ``hop``'s round no sooner than ``seconds`` after its last one started."""
        wait = self._round_started.get(hop, 0.0) + seconds - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._round_started[hop] = time.monotonic()

    def _hand_to_hub(self, batch: list[tuple[str, str, int]]) -> tuple[list[str | None], bool]:
        """Per ``(message_id, envelope, attempts)``: None when the hub stored it (or had it),
        or when it is in the hub's stream (then the second value is False: the hub's answer
        comes later), else why not (to retry); :class:`HubUnreachable` when no access point
        of the hub answered."""
        envelopes = [envelope for _, envelope, _ in batch]
        if self.link is not None and not self._network.is_hub:
            try:
                hub = self._network.hub().name
                # A retry gets its own wire id: the hub's stream would take the same id, within
                # its duplicate window, for a copy of the refused try.
                self.link.envelopes(hub, envelopes, [f"{message_id}-{attempts}" for message_id, _, attempts in batch])
                return [None] * len(batch), False
            except StreamMissing:
                pass  # the hub takes nothing over JetStream: HTTP
            except (BusUnavailable, NetworkUnavailable) as error:
                raise HubUnreachable(f"{type(error).__name__}: {error}") from error
        return self._post_to_hub(envelopes), True

    def _post_to_hub(self, envelopes: list[str]) -> list[str | None]:
        try:
            if self._network.is_hub:
                results = self.accept_batch([orjson.loads(text) for text in envelopes], caller=self._network.node_name)
                return [result.get("error") for result in results]
            hub, batch = self._network.hub(), _envelope_batch(envelopes)
            response = self._network.call_hub(
                lambda base: self._post(base, "/api/v1/network/envelopes", hub.name, batch)
            )
            if response.status_code >= 500:
                raise HubUnreachable(f"the hub answered {response.status_code}")
            if response.status_code not in (200, 202):
                return [f"the hub answered {response.status_code}: {response.text[:500]}"] * len(envelopes)
            return [item.get("error") for item in response.json()["results"]]
        except (httpx.TransportError, NetworkUnavailable) as error:
            raise HubUnreachable(f"{type(error).__name__}: {error}") from error
        except (httpx.HTTPError, EnvelopeRefused, KeyError, ValueError) as error:
            return [f"{type(error).__name__}: {error}"] * len(envelopes)

    # -- the hub: accept and push -------------------------------------------------------------

    def accept(self, raw: bytes, *, caller: str) -> bool:
        """Store one envelope for routing; False if it was stored already (a retried relay)."""
        (result,) = self.accept_batch([parse_envelope(raw)], caller=caller)
        if "error" in result:
            raise EnvelopeRefused(str(result["error"]))
        return not result["duplicate"]

    def accept_batch(self, envelopes: list[dict[str, Any]], *, caller: str) -> list[dict[str, Any]]:
        """At the hub: check each envelope's routing and signature (without reading it) and
        store the new ones in one transaction with one audit event; per envelope, its id and
        whether it was a duplicate, or why it was refused."""
        if not self._network.is_hub:
            raise NotFound("only the hub routes envelopes")
        now = dt.datetime.now(dt.UTC)
        directory = self._network.directory(now=now)
        results: list[dict[str, Any]] = []
        checked: list[tuple[int, RoutingHeader, dict[str, Any]]] = []
        for index, envelope in enumerate(envelopes):
            try:
                header = check_routing(envelope, directory, now=now)
            except EnvelopeRefused as error:
                results.append({"message_id": _routing_id(envelope), "error": error.reason})
                continue
            if header.sender != caller:
                results.append({"message_id": header.id, "error": f"'{caller}' may not relay for '{header.sender}'"})
                continue
            results.append({"message_id": header.id, "duplicate": False})
            checked.append((index, header, envelope))
        stored: list[str] = []
        with self._uow() as uow:
            connection = uow.session.connection()
            ids = [header.id for _, header, _ in checked]
            existing = set(connection.scalars(_STORED_ENVELOPES, {"ids": ids})) if ids else set()
            envelope_rows: list[dict[str, Any]] = []
            delivery_rows: list[dict[str, Any]] = []
            for index, header, envelope in checked:
                if header.id in existing or header.id in stored:
                    results[index]["duplicate"] = True
                    continue
                envelope_rows.append(
                    {
                        "message_id": header.id,
                        "sender": header.sender,
                        "conversation_id": header.conversation_id,
                        "envelope": orjson.dumps(envelope).decode(),
                        "received_at": now,
                        "expires": header.expires,
                    }
                )
                delivery_rows.extend(
                    {
                        "message_id": header.id,
                        "recipient": recipient,
                        "status": "queued",
                        "reason": None,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "updated_at": now,
                        "receipt": None,
                        "reported_at": None,
                        "sent_at": None,
                    }
                    for recipient in header.recipients
                )
                stored.append(header.id)
            if envelope_rows:  # Core inserts of the whole batch: no per-object bookkeeping
                connection.execute(_STORE_ENVELOPES, envelope_rows)
                connection.execute(_QUEUE_DELIVERIES, delivery_rows)
            refused = [item for item in results if "error" in item]
            if stored:
                details: dict[str, Any] = {"messages": stored, "sender": caller}
                event = EventDraft(AuditTag.ENVELOPE_ACCEPTED, Actor(kind="node", name=caller), details=details)
                self._audit.add(uow, [event])
            if refused:
                event = EventDraft(
                    AuditTag.ENVELOPE_REFUSED,
                    Actor(kind="node", name=caller),
                    decision=Decision.DENIED,
                    details={"refused": refused},
                )
                self._audit.add(uow, [event])
            uow.commit()
        if stored:
            self.on_hub_queue()
        return results

    def deliver_once(self, *, limit: int = 1000) -> int:
        """Push due queue entries to their recipients in batches, expire what is past its
        time, and report outcomes to senders. Returns how many were delivered."""
        if not self._network.is_hub:
            return 0
        self._pace("delivery")
        now = dt.datetime.now(dt.UTC)
        with self._uow(read_only=True) as uow:
            connection = uow.session.connection()
            expired = connection.execute(_EXPIRED_ENTRIES, {"now": now, "limit": limit}).all()
            # Each recipient with something due is served from its own queue: a node away
            # for hours, its backlog waiting out the back-off, holds up nobody else.
            due = connection.execute(_DUE_RECIPIENTS, {"now": now}).scalars().all()
            queues = {
                recipient: connection.execute(_RECIPIENT_QUEUE, {"recipient": recipient, "limit": limit}).all()
                for recipient in due
            }
        for message_id, recipient, expires in expired:
            self._finish(message_id, recipient, "expired", f"not delivered before {expires.isoformat()}", None)
        # Order is kept within a conversation: a recipient gets nothing of a conversation
        # while an earlier message of it waits for that recipient.
        to_push: dict[str, list[tuple[str, int, str, str]]] = {}
        for recipient, entries in queues.items():
            waiting: set[str] = set()
            for message_id, attempts, next_attempt_at, envelope, expires, conversation, sent_at in entries:
                if expires <= now:
                    continue  # expired above
                if sent_at is not None and next_attempt_at > now:
                    # In the recipient's stream, waiting for its receipt: what follows in the
                    # conversation may follow it there, since the stream keeps their order.
                    continue
                if conversation in waiting or next_attempt_at > now:
                    waiting.add(conversation)
                    continue
                to_push.setdefault(recipient, []).append((message_id, attempts, envelope, conversation))
        delivered = 0
        for recipient, items in to_push.items():
            for batch in _batches(items, lambda item: len(item[2])):
                wire_ids = [f"{message_id}-{attempts}" for message_id, attempts, _, _ in batch]
                outcomes = self._push(recipient, [envelope for _, _, envelope, _ in batch], wire_ids)
                delivered += self._record_pushes(recipient, batch, outcomes)
        self._reports().wake()
        return delivered

    def _reports(self) -> PeriodicTask:
        """The hub's reporting to senders, in a thread of its own: a sender slow to answer
        (it is busy taking its users' messages) holds up no delivery, and the reports of many
        delivery rounds go in one request."""
        with self._reporter_lock:
            if self._reporter is None:
                self._reporter = PeriodicTask("message-reports", self.report_once, REPORT_SECONDS)
                self._reporter.start()
            return self._reporter

    def _record_pushes(
        self, recipient: str, batch: list[tuple[str, int, str, str]], outcomes: list[tuple[str, str]]
    ) -> int:
        """One transaction for a pushed batch: delivered (with receipts), refused, or retried later."""
        now = dt.datetime.now(dt.UTC)
        delivered: list[str] = []
        refused: list[dict[str, str]] = []
        blocked: set[str] = set()  # conversations stalled for this recipient by a retry
        with self._uow() as uow:
            connection = uow.session.connection()
            ids = [message_id for message_id, *_ in batch]
            rows = {
                row.message_id: row for row in connection.execute(_PUSHED_ENTRIES, {"recipient": recipient, "ids": ids})
            }
            changes: list[dict[str, Any]] = []
            for (message_id, attempts, _, conversation), (outcome, detail) in zip(batch, outcomes, strict=True):
                row = rows.get(message_id)
                if row is None or row.status != "queued":
                    continue
                change = {
                    "key": message_id,
                    "node": recipient,
                    "to_status": row.status,
                    "to_reason": row.reason,
                    "to_attempts": row.attempts,
                    "to_next_attempt_at": row.next_attempt_at,
                    "to_receipt": row.receipt,
                    "to_sent_at": row.sent_at,
                    "to_updated_at": now,
                }
                if outcome == "delivered" and (problem := self._receipt_problem(message_id, recipient, detail)):
                    # Reported on, a bad receipt would only be refused by the sender; the
                    # recipient is asked again (it signs a new receipt for the same message).
                    outcome, detail = "retry", problem
                if outcome == "sent":
                    change["to_sent_at"], change["to_next_attempt_at"] = now, now + RESEND_AFTER
                    change["to_attempts"] = attempts + 1
                    change["to_reason"] = (
                        f"in {recipient}'s JetStream stream since {now.isoformat()}, waiting for its receipt"
                    )
                elif outcome == "delivered" and conversation not in blocked:
                    change["to_status"], change["to_receipt"], change["to_reason"] = "delivered", detail, None
                    change["to_next_attempt_at"] = now  # to be reported from now on
                    delivered.append(message_id)
                elif outcome == "refused":
                    change["to_status"], change["to_reason"] = "refused", detail[:2000]
                    change["to_next_attempt_at"] = now
                    refused.append({"message": message_id, "reason": detail[:500]})
                else:
                    blocked.add(conversation)
                    change["to_attempts"] = attempts + 1
                    change["to_next_attempt_at"] = now + backoff(attempts)
                    change["to_reason"] = detail[:2000]
                    change["to_sent_at"] = None
                changes.append(change)
            if changes:
                connection.execute(_PUSH_OUTCOME, changes)
            actor = Actor(kind="node", name=self._network.node_name)
            events = []
            if delivered:
                events.append(
                    EventDraft(
                        AuditTag.ENVELOPE_DELIVERED, actor, details={"recipient": recipient, "messages": delivered}
                    )
                )
            if refused:
                events.append(
                    EventDraft(AuditTag.ENVELOPE_REFUSED, actor, decision=Decision.DENIED, details={"refused": refused})
                )
            if events:
                self._audit.add(uow, events)
            uow.commit()
        return len(delivered)

    def _push(self, recipient: str, envelopes: list[str], wire_ids: list[str]) -> list[tuple[str, str]]:
        """Per envelope: ('delivered', receipt) | ('refused', reason) | ('retry', reason), or
        ('sent', '') when it is in the recipient's JetStream stream (its receipt comes later).
        ``wire_ids`` name each try (message id and tries so far): a crash before the try was
        noted repeats the id, which the stream drops; a later try is a new copy."""
        if self.link is not None and recipient != self._network.node_name:
            try:
                self.link.envelopes(recipient, envelopes, wire_ids)
                return [("sent", "")] * len(envelopes)
            except StreamMissing:
                pass  # the recipient takes nothing over JetStream: HTTP
            except BusUnavailable as error:  # not over HTTP either: its stream may hold earlier ones
                return [("retry", f"JetStream: {error}")] * len(envelopes)
        try:
            if recipient == self._network.node_name:
                try:
                    results = self.receive_batch([orjson.loads(text) for text in envelopes], caller=recipient)
                except Exception as error:  # a handler at the hub failed: try again later, as for a node
                    log.exception("delivering to this node's own services failed")
                    return [("retry", f"{type(error).__name__}: {error}")] * len(envelopes)
            else:
                member = self._network.usable_members().get(recipient)
                if member is None or member.url is None:
                    reason = f"node '{recipient}' is not reachable now (absent, suspended or without URL)"
                    return [("retry", reason)] * len(envelopes)
                response = self._post(member.url, "/api/v1/network/inbox", recipient, _envelope_batch(envelopes))
                if response.status_code not in (200, 201):
                    return [("retry", f"node '{recipient}' answered {response.status_code}")] * len(envelopes)
                results = response.json()["receipts"]
        except (httpx.HTTPError, NetworkUnavailable, KeyError, ValueError) as error:
            return [("retry", f"{type(error).__name__}: {error}")] * len(envelopes)
        outcomes: list[tuple[str, str]] = []
        for result in results:
            if "receipt" in result:
                outcomes.append(("delivered", str(result["receipt"])))
            else:  # the recipient refused the envelope itself: no retry helps
                outcomes.append(("refused", str(result.get("error", "refused"))))
        return outcomes

    def _finish(self, message_id: str, recipient: str, status: str, reason: str | None, receipt: str | None) -> None:
        tag = {
            "delivered": AuditTag.ENVELOPE_DELIVERED,
            "expired": AuditTag.ENVELOPE_EXPIRED,
            "refused": AuditTag.ENVELOPE_REFUSED,
        }[status]
        with self._uow() as uow:
            row = uow.session.get(HubDeliveryRow, (message_id, recipient), with_for_update=True)
            if row is None or row.status != "queued":
                return
            row.status, row.reason, row.receipt = status, reason, receipt
            row.updated_at = row.next_attempt_at = dt.datetime.now(dt.UTC)
            details = {"message": message_id, "recipient": recipient, "reason": reason}
            self._audit.add(uow, [EventDraft(tag, Actor(kind="node", name=self._network.node_name), details=details)])
            uow.commit()

    def report_once(self, *, limit: int = 1000) -> int:
        """Tell senders what became of their messages (delivered, expired, refused), one
        batch per sender. A sender out of reach is tried again with back-off (kept in
        memory: a restarted hub tries at once), and holds up no other sender's reports."""
        self._pace("reports", REPORT_ROUND_SECONDS)
        moment = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        with self._uow(read_only=True) as uow:
            connection = uow.session.connection()
            senders = connection.execute(_UNREPORTED_SENDERS, {"now": now}).scalars().all()
            by_sender: dict[str, list[DeliveryReport]] = {}
            for sender in senders:
                if self._report_retry.get(sender, (0, 0.0))[1] > moment:
                    continue
                due = connection.execute(_SENDER_REPORTS, {"now": now, "sender": sender, "limit": limit}).all()
                by_sender[sender] = [
                    DeliveryReport(
                        message_id=message_id, recipient=recipient, status=status, reason=reason, receipt=receipt
                    )
                    for message_id, recipient, status, reason, receipt in due
                ]
        reported = 0
        for sender, reports in by_sender.items():
            if not self._report(sender, reports):
                attempts = self._report_retry.get(sender, (0, 0.0))[0]
                self._report_retry[sender] = (attempts + 1, time.monotonic() + backoff(attempts).total_seconds())
                continue
            self._report_retry.pop(sender, None)
            with self._uow() as uow:
                reported_at = dt.datetime.now(dt.UTC)
                uow.session.connection().execute(
                    _REPORTED,
                    [
                        {"key": report.message_id, "node": report.recipient, "reported_at": reported_at}
                        for report in reports
                    ],
                )
                uow.commit()
            reported += len(reports)
        return reported

    def _report(self, sender: str, reports: list[DeliveryReport]) -> bool:
        if self.link is not None and sender != self._network.node_name:
            try:
                self.link.frame(sender, "reports", [report.model_dump(mode="json") for report in reports])
                return True
            except StreamMissing:
                pass  # the sender takes nothing over JetStream: HTTP
            except BusUnavailable as error:
                log.warning("delivery reports to %s wait for JetStream: %s", sender, error)
                return False
        try:
            if sender == self._network.node_name:
                self.apply_reports(reports, caller=sender)
                return True
            member = self._network.usable_members().get(sender)
            if member is None or member.url is None:
                return False
            body = orjson.dumps({"reports": [report.model_dump(mode="json") for report in reports]})
            response = self._post(member.url, "/api/v1/network/receipts", sender, body)
            return response.status_code in (200, 204)
        except (httpx.HTTPError, NetworkUnavailable):
            return False
        except BadRequest as error:  # this node refused its own reports, as a sender's 400 would
            log.warning("delivery reports refused: %s", error)
            return False

    # -- recipients -----------------------------------------------------------------------------

    def receive(self, raw: bytes, *, caller: str) -> str:
        """Open one envelope the hub pushed; returns the signed delivery receipt."""
        (result,) = self.receive_batch([parse_envelope(raw)], caller=caller)
        if "error" in result:
            raise EnvelopeRefused(str(result["error"]))
        return str(result["receipt"])

    def receive_batch(self, envelopes: list[dict[str, Any]], *, caller: str) -> list[dict[str, Any]]:
        """Open envelopes the hub pushed and store each message once (the wire may repeat;
        the application does not), in one transaction; per envelope, a delivery receipt
        signed by this node, or why it was refused."""
        hub = self._network.hub()
        if caller != hub.name:
            raise Forbidden("messages arrive through the hub")
        now = dt.datetime.now(dt.UTC)
        keys = self._network.node_keys()
        directory = self._network.directory(now=now)
        results: list[dict[str, Any]] = []
        opened: list[
            tuple[RoutingHeader, str, str, dict[str, Any], list[dict[str, Any]] | None, list[SealedAttachment]]
        ] = []
        for envelope in envelopes:
            try:
                header, body = open_envelope(envelope, keys, directory, now=now)
                if header.content_type != MESSAGE_TYPE:
                    handler = self.handlers.get(header.content_type)
                    if handler is None:
                        refusal = f"no service here takes {header.content_type}"
                        results.append({"message_id": header.id, "error": refusal})
                        continue
                    handler(header, body)  # idempotent; raises to have the hub try again
                    results.append({"message_id": header.id})
                    continue
                content = orjson.loads(body)
                attachments = parse_sealed(content.get("attachments", []))
                if attachments and self._attachments is None:
                    results.append({"message_id": header.id, "error": "this node takes no attachments"})
                    continue
                subject, text, author = str(content["subject"]), str(content["body"]), dict(content["author"])
                records = forwarded_records(content)  # as the sender's policy decided them
                opened.append((header, subject, text, author, records, attachments))
                results.append({"message_id": header.id})
            except EnvelopeRefused as error:
                results.append({"message_id": _routing_id(envelope), "error": error.reason})
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                results.append({"message_id": _routing_id(envelope), "error": f"not a polex message: {error}"})
        with self._uow() as uow:
            connection = uow.session.connection()
            ids = [header.id for header, *_ in opened]
            known = set(connection.scalars(_IN_INBOX, {"ids": ids})) if ids else set()
            new: list[str] = []
            rows: list[dict[str, Any]] = []
            with_attachments: list[tuple[RoutingHeader, list[SealedAttachment]]] = []
            for header, subject, text, author, records, attachments in opened:
                if header.id in known or header.id in new:
                    continue
                if attachments:
                    with_attachments.append((header, attachments))
                rows.append(
                    _message_values(
                        header,
                        box="inbox",
                        subject=subject[:300],
                        body=text,
                        author=author,
                        records=records,
                        received_at=now,
                    )
                )
                new.append(header.id)
            if rows:
                connection.execute(_STORE_MESSAGES, rows)
            for header, attachments in with_attachments:
                if self._attachments is not None:
                    self._attachments.receive(uow.session, header, attachments, now)
            if new:
                event = EventDraft(
                    AuditTag.MESSAGE_RECEIVED, Actor(kind="node", name=caller), details={"messages": new}
                )
                self._audit.add(uow, [event])
            uow.commit()
        if self._attachments is not None and any(items for *_, items in opened):
            self._attachments.wake()  # fetch them from the hub now
        if self.events is not None:  # tell the node's users, after the commit
            for header, subject, *_ in opened:
                if header.id in new:
                    data = {"id": header.id, "sender": header.sender, "subject": subject, "handling": header.handling}
                    self.events.publish("message.received", data, permission=Permission.MESSAGE_READ)
        for result in results:
            if "error" not in result:
                result["receipt"] = self._receipt(str(result["message_id"]), now)
        return results

    def _receipt(self, message_id: str, now: dt.datetime, status: str = "delivered") -> str:
        """A receipt this node signs: it got (``delivered``) or a user here read (``read``) the message."""
        claims = {
            "message_id": message_id,
            "recipient": self._network.node_name,
            "status": status,
            "at": now.isoformat(),
        }
        return jws.serialize_compact(
            {"alg": "ES256", "typ": RECEIPT_TYPE},
            orjson.dumps(claims, option=orjson.OPT_SORT_KEYS),
            self._network.node_keys().signing,
            algorithms=["ES256"],
        )

    def apply_reports(self, reports: list[DeliveryReport], *, caller: str) -> None:
        """A sender learns what became of its recipients: delivered (with each recipient's
        signed receipt, checked here), expired or refused; in one transaction. A report that
        comes after a later state (a delivery after the read receipt) keeps its receipt but
        changes no status, and users are told only of changes."""
        if caller != self._network.hub().name:
            raise Forbidden("delivery reports come from the hub")
        bad = {
            (report.message_id, report.recipient): problem
            for report in reports
            if report.status == "delivered"
            and (problem := self._receipt_problem(report.message_id, report.recipient, report.receipt))
        }
        if bad:
            # The hub checks receipts before it reports; one that is still bad here is the
            # hub's fault, and keeps no other report of the batch from its sender.
            reports = [report for report in reports if (report.message_id, report.recipient) not in bad]
            refused = [{"message": message, "recipient": node, "reason": why} for (message, node), why in bad.items()]
            log.warning("delivery reports with bad receipts ignored: %s", refused)
            event = EventDraft(
                AuditTag.ENVELOPE_REFUSED,
                Actor(kind="node", name=caller),
                decision=Decision.DENIED,
                details={"receipts_refused": refused},
            )
            self._audit.record([event])
        changed: list[DeliveryReport] = []
        with self._uow() as uow:
            connection = uow.session.connection()
            ids = list({report.message_id for report in reports})
            services = set(connection.scalars(_SERVICE_MESSAGES, {"ids": ids}))
            # The batch's rows in one query, each moved forward in memory; the changed ones
            # written in one executemany.
            rows = {
                (message_id, recipient): _ReportedRecipient(status, reason, receipt, updated_at)
                for message_id, recipient, status, reason, receipt, updated_at in connection.execute(
                    _REPORTED_RECIPIENTS, {"ids": ids}
                )
            }
            for report in reports:
                row = rows.get((report.message_id, report.recipient))
                if row is None:
                    continue
                if _move_forward(row, report.status, report.reason):
                    changed.append(report)
                    row.changed = True
                if report.receipt and report.receipt != row.receipt:
                    row.receipt, row.changed = report.receipt, True
            outcomes = [
                {
                    "key": message_id,
                    "node": recipient,
                    "to_status": row.status,
                    "to_reason": row.reason,
                    "to_receipt": row.receipt,
                    "to_updated_at": row.updated_at,
                }
                for (message_id, recipient), row in rows.items()
                if row.changed
            ]
            if outcomes:
                connection.execute(_REPORT_OUTCOME, outcomes)
            uow.commit()
        if self.events is not None:
            for report in changed:
                if report.message_id in services:
                    continue  # a service's envelope: its service tells its users what they need
                data = {"id": report.message_id, "recipient": report.recipient, "status": report.status}
                self.events.publish("message.status", data, permission=Permission.MESSAGE_READ)

    def _receipt_problem(self, message_id: str, recipient: str, receipt: str | None) -> str | None:
        """Why ``receipt`` does not prove that ``recipient`` got ``message_id``, or None."""
        keys = self._network.directory().get(recipient)
        if keys is None or not receipt:
            return "a delivery needs the recipient's signed receipt"
        try:
            verified = jws.deserialize_compact(receipt, keys.signing, algorithms=["ES256"])
            claims = orjson.loads(verified.payload)
        except (JoseError, ValueError) as error:
            return f"the receipt is not signed by the recipient ({type(error).__name__})"
        if (
            verified.headers().get("typ") != RECEIPT_TYPE
            or not isinstance(claims, dict)
            or claims.get("message_id") != message_id
            or claims.get("recipient") != recipient
        ):
            return "the receipt is for another message or node"
        return None

    # -- the JetStream transport: what arrives in this node's stream ------------------------------

    def intake_once(self, *, wait_seconds: float = 1.0) -> int:
        """Take what waits in this node's stream (see polex.message.jetstream), in order, in
        runs of one kind from one node; returns how many were taken. A run whose work fails
        (the database away) is handed back to the stream, to come again; one that cannot be
        used (a bad signature) is refused and audited once."""
        if self.link is None:
            return 0
        try:
            inbound = self.link.fetch(wait_seconds=wait_seconds)
        except BusUnavailable as error:
            log.warning("JetStream unavailable: %s", error)
            time.sleep(min(wait_seconds, 1.0))
            return 0
        runs: list[list[Inbound]] = []
        for item in inbound:
            if runs and (runs[-1][0].kind, runs[-1][0].sender) == (item.kind, item.sender):
                runs[-1].append(item)
            else:
                runs.append([item])
        taken = 0
        for run in runs:
            usable = [item for item in run if item.error is None]
            refused = [{"subject": item.message.subject, "reason": item.error} for item in run if item.error]
            try:
                if usable:
                    try:
                        self._take(usable[0].kind, usable[0].sender, usable)
                    except _Unusable as unusable:
                        refused += [{"subject": item.message.subject, "reason": str(unusable)} for item in usable]
                        usable = []
                if refused:
                    log.warning("refused from JetStream: %s", refused)
                    event = EventDraft(
                        AuditTag.ENVELOPE_REFUSED,
                        Actor(kind="node", name=run[0].sender),
                        decision=Decision.DENIED,
                        details={"refused": refused},
                    )
                    self._audit.record([event])
            except Exception:
                log.exception("taking %d %s from %s failed; they come again", len(run), run[0].kind, run[0].sender)
                self.link.retry(run)
                continue
            self.link.settle(run)
            taken += len(usable)
        return taken

    def _take(self, kind: str, sender: str, run: list[Inbound]) -> None:
        assert self.link is not None
        items = [entry for item in run for entry in item.items]
        is_hub, hub = self._network.is_hub, self._network.hub().name
        if kind == "envelopes" and is_hub:  # a node's envelopes, to route
            results = self.accept_batch(items, caller=sender)
            answers = [
                {"message_id": result["message_id"], "try": item.message.message_id, "error": result.get("error")}
                for result, item in zip(results, run, strict=True)
            ]
            self.link.frame(sender, "answers", answers)
        elif kind == "receipts" and is_hub:
            self.record_receipts(sender, items)
        elif sender != hub:
            raise _Unusable(f"'{sender}' may not send {kind} here: only the hub does")
        elif kind == "envelopes":
            results = self.receive_batch(items, caller=sender)
            receipts = [
                {"message_id": result["message_id"], "receipt": result["receipt"]}
                if "receipt" in result
                else {"message_id": result["message_id"], "error": str(result.get("error", "refused"))}
                for result in results
            ]
            self.link.frame(hub, "receipts", receipts)
        elif kind == "answers":
            self.apply_answers(items)
        elif kind == "reports":
            try:
                reports = [DeliveryReport.model_validate(item) for item in items]
            except ValidationError as error:
                raise _Unusable(f"malformed delivery reports: {error.errors()[0]['msg']}") from None
            self.apply_reports(reports, caller=sender)
        else:
            raise _Unusable(f"this node takes no {kind}")

    def apply_answers(self, answers: list[dict[str, Any]]) -> None:
        """What the hub did with envelopes this node put in its stream: stored (the message is
        "at_hub") or refused (the envelope is due again later, as an HTTP refusal would be).
        An answer may come before the relay noted its try: each names the try (the wire id,
        ``<message id>-<tries before>``), and a refusal counts only for the try still current."""
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            connection = uow.session.connection()
            ids = [str(answer.get("message_id")) for answer in answers]
            tries: dict[str, int] = {
                row.message_id: row.attempts for row in connection.execute(_OUTBOX_TRIES, {"ids": ids})
            }
            stored: list[str] = []
            refused: list[dict[str, Any]] = []
            for message_id, answer in zip(ids, answers, strict=True):
                if message_id not in tries:
                    continue  # not a message of this node's
                error = answer.get("error")
                if error is None:
                    stored.append(message_id)
                    continue
                attempts = tries[message_id]
                if str(answer.get("try", "")).rpartition("-")[2] != str(attempts):
                    continue  # an answer to an earlier try, already acted on
                refused.append(
                    {
                        "key": message_id,
                        "tried": attempts,
                        "attempts": attempts + 1,
                        "next_attempt_at": now + backoff(attempts),
                        "last_error": str(error)[:2000],
                    }
                )
                tries[message_id] = attempts + 1  # the try a later answer in this batch must name
            if stored:
                connection.execute(_AT_HUB, {"ids": stored, "now": now})
            if refused:
                connection.execute(_HUB_REFUSED, refused)
            uow.commit()
        if refused:
            self.on_outbox()

    def record_receipts(self, recipient: str, results: list[dict[str, Any]]) -> None:
        """At the hub: what ``recipient`` did with the envelopes its stream held: stored
        (with its signed receipt, checked here) or refused."""
        outcomes: dict[str, tuple[str, str]] = {}
        for result in results:
            message_id = str(result.get("message_id"))
            if "receipt" in result:
                receipt = str(result["receipt"])
                problem = self._receipt_problem(message_id, recipient, receipt)
                outcomes[message_id] = ("retry", problem) if problem else ("delivered", receipt)
            else:
                outcomes[message_id] = ("refused", str(result.get("error", "refused")))
        with self._uow(read_only=True) as uow:
            rows = uow.session.execute(
                select(HubDeliveryRow.message_id, HubDeliveryRow.attempts).where(
                    HubDeliveryRow.recipient == recipient,
                    HubDeliveryRow.message_id.in_(list(outcomes)),
                    HubDeliveryRow.status == "queued",
                )
            ).all()
        # One message per "conversation" here: a receipt holds up no other.
        batch = [(message_id, attempts, "", message_id) for message_id, attempts in rows]
        if batch:
            self._record_pushes(recipient, batch, [outcomes[message_id] for message_id, *_ in batch])
            self.on_hub_queue()  # report to the senders now

    # -- read receipts ----------------------------------------------------------------------------

    def apply_read_receipt(self, header: RoutingHeader, body: bytes) -> None:
        """On the sender's node: a recipient node's read receipt, in an envelope that node
        signed and the hub carried. The receipt must be that node's own signature (its key in
        the membership list) on a message this node sent to it; then that recipient's status
        becomes ``read`` with the time the receipt states, once (a repeated receipt changes
        nothing), and users are told. Anything else is refused (EnvelopeRefused: the hub
        reports the reason to the node that sent it), audited, and changes nothing."""
        recipient = header.sender
        message_id: str | None = None
        try:
            try:
                receipt = ReadReceipt.model_validate_json(body)
            except ValidationError as error:
                raise EnvelopeRefused(f"not a read receipt ({error.error_count()} errors)") from None
            message_id = receipt.message_id
            read_at = self._verified_read(receipt, recipient)
            with self._uow() as uow:
                sent = uow.session.get(MessageRow, (message_id, "outbox")) is not None
                if not sent or uow.session.get(MessageRecipientRow, (message_id, recipient)) is None:
                    raise EnvelopeRefused(f"no message '{message_id}' was sent from here to '{recipient}'")
                claimed = uow.session.execute(
                    update(MessageRecipientRow)
                    .where(
                        MessageRecipientRow.message_id == message_id,
                        MessageRecipientRow.recipient == recipient,
                        MessageRecipientRow.read_at.is_(None),
                    )
                    .values(
                        status="read",
                        reason=None,
                        read_at=read_at,
                        read_receipt=receipt.receipt,
                        updated_at=dt.datetime.now(dt.UTC),
                    )
                )
                if getattr(claimed, "rowcount", 0) != 1:
                    return  # told already: the wire repeated it
                details = {
                    "message": message_id,
                    "recipient": recipient,
                    "read_at": read_at.isoformat(),
                    "envelope": header.id,
                }
                event = EventDraft(AuditTag.READ_RECEIPT_RECEIVED, Actor(kind="node", name=recipient), details=details)
                self._audit.add(uow, [event])
                uow.commit()
        except EnvelopeRefused as error:
            log.warning("refused a read receipt from %s: %s", recipient, error.reason)
            refused = {"envelope": header.id, "message": message_id, "recipient": recipient, "reason": error.reason}
            self._audit.record(
                [
                    EventDraft(
                        AuditTag.READ_RECEIPT_REFUSED,
                        Actor(kind="node", name=recipient),
                        decision=Decision.DENIED,
                        details=refused,
                    )
                ]
            )
            raise
        if self.events is not None:
            data = {"id": message_id, "recipient": recipient, "status": "read", "read_at": read_at.isoformat()}
            self.events.publish("message.status", data, permission=Permission.MESSAGE_READ)

    def _verified_read(self, receipt: ReadReceipt, recipient: str) -> dt.datetime:
        """When ``recipient`` read the message, as its signed receipt says; EnvelopeRefused
        unless the receipt is that node's signature on a read of that very message."""
        keys = self._network.directory().get(recipient)
        if keys is None:
            raise EnvelopeRefused(f"node '{recipient}' is not an active member: its receipt cannot be checked")
        try:
            verified = jws.deserialize_compact(receipt.receipt, keys.signing, algorithms=["ES256"])
            claims = orjson.loads(verified.payload)
        except (JoseError, ValueError) as error:
            raise EnvelopeRefused(
                f"the read receipt is not signed by node '{recipient}' ({type(error).__name__})"
            ) from None
        if not isinstance(claims, dict) or verified.headers().get("typ") != RECEIPT_TYPE:
            raise EnvelopeRefused("the read receipt is not a polex receipt")
        if claims.get("status") != "read":
            raise EnvelopeRefused(f"the receipt says '{claims.get('status')}', not 'read'")
        if claims.get("message_id") != receipt.message_id or claims.get("recipient") != recipient:
            raise EnvelopeRefused(f"the read receipt is for another message or node than '{recipient}' reading it")
        try:
            read_at = dt.datetime.fromisoformat(str(claims.get("at")))
        except ValueError:
            raise EnvelopeRefused("the read receipt has no valid time") from None
        if read_at.tzinfo is None or read_at > dt.datetime.now(dt.UTC) + RECEIPT_CLOCK_SKEW:
            raise EnvelopeRefused("the read receipt's time is not a valid instant (no offset, or in the future)")
        return read_at
