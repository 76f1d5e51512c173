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

No transaction is ever open across a network call (SQLite has one writer, and a slow
peer must not hold the database).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from joserfc import jws
from joserfc.errors import JoseError
from sqlalchemy import select

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.crypto.envelope import EnvelopeRefused, check_routing, open_envelope, parse_envelope, seal
from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.base import new_id
from polex.domain.message import RoutingHeader
from polex.domain.roles import Permission
from polex.errors import BadRequest, FieldError, Forbidden, NotFound
from polex.message.schemas import (
    EVERYONE,
    DeliveryReport,
    MessageAccepted,
    MessageCreate,
    MessageRead,
    RecipientStatus,
)
from polex.network.view import NetworkUnavailable, NetworkView
from polex.storage.tables import (
    HubDeliveryRow,
    HubEnvelopeRow,
    MessageRecipientRow,
    MessageRow,
    OutboxRow,
)
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)
RECEIPT_TYPE = "polex-receipt+jws"
MAX_BACKOFF = dt.timedelta(minutes=5)


class _Borrowed:
    """The shared client, used in a ``with`` block without closing it."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __enter__(self) -> httpx.Client:
        return self._client

    def __exit__(self, *_: object) -> None:
        return None


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
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._network = network
        # One pooled client for every peer, made on first use: connections are reused.
        self._shared: httpx.Client | None = None
        self._http = http or (lambda: _Borrowed(self._client()))
        # Called after an envelope enters the outbox (wake the relay) or the hub's queues
        # (wake the delivery), so that a message moves at once rather than at the next round.
        self.on_outbox: Callable[[], None] = lambda: None
        self.on_hub_queue: Callable[[], None] = lambda: None

    def _client(self) -> httpx.Client:
        if self._shared is None:
            limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
            self._shared = httpx.Client(timeout=10, limits=limits)
        return self._shared

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    # -- users ------------------------------------------------------------------------------

    def send(self, data: MessageCreate, principal: Principal) -> MessageAccepted:
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
        conversation_id = self._conversation_of(data.in_reply_to) or new_id()
        author = {"agency_id": principal.agency_id, "country": principal.country, "name": principal.name}
        body = orjson.dumps({"subject": data.subject, "body": data.body, "author": author})
        header = RoutingHeader(
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
        envelope = seal(header, body, keys, directory)
        with self._uow() as uow:
            uow.session.add(
                MessageRow(
                    id=header.id,
                    box="outbox",
                    sender=me,
                    recipients=recipients,
                    conversation_id=conversation_id,
                    in_reply_to=data.in_reply_to,
                    case_ref=data.case_ref,
                    handling=data.handling.value,
                    created=now,
                    expires=header.expires,
                    subject=data.subject,
                    body=data.body,
                    author=author,
                )
            )
            for recipient in recipients:
                uow.session.add(
                    MessageRecipientRow(message_id=header.id, recipient=recipient, status="queued", updated_at=now)
                )
            uow.session.add(
                OutboxRow(message_id=header.id, envelope=orjson.dumps(envelope).decode(), next_attempt_at=now)
            )
            event = EventDraft(
                AuditTag.MESSAGE_SENT,
                actor_of(principal),
                details={"message": header.id, "recipients": recipients, "handling": data.handling.value},
            )
            self._audit.add(uow, [event])
            uow.commit()
        self.on_outbox()
        return MessageAccepted(id=header.id, conversation_id=conversation_id, recipients=recipients)

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

    def list(self, principal: Principal, box: str, *, limit: int = 100) -> list[MessageRead]:
        principal.require(Permission.MESSAGE_READ)
        with self._uow(read_only=True) as uow:
            rows = uow.session.scalars(
                select(MessageRow).where(MessageRow.box == box).order_by(MessageRow.created.desc()).limit(limit)
            ).all()
            items = [self._read(uow.session, row) for row in rows]
        event = EventDraft(AuditTag.MESSAGES_LISTED, actor_of(principal), details={"box": box, "count": len(items)})
        self._audit.record([event])
        return items

    def get(self, message_id: str, principal: Principal) -> MessageRead:
        principal.require(Permission.MESSAGE_READ)
        with self._uow(read_only=True) as uow:
            row = uow.session.scalars(
                select(MessageRow).where(MessageRow.id == message_id).order_by(MessageRow.box)
            ).first()
            read = None if row is None else self._read(uow.session, row)
        self._audit.record([EventDraft(AuditTag.MESSAGE_READ, actor_of(principal), details={"message": message_id})])
        if read is None:
            raise NotFound(f"no message '{message_id}'")
        return read

    @staticmethod
    def _read(session: Any, row: MessageRow) -> MessageRead:
        delivery = []
        if row.box == "outbox":
            statuses = session.scalars(
                select(MessageRecipientRow).where(MessageRecipientRow.message_id == row.id)
            ).all()
            delivery = [
                RecipientStatus(node=item.recipient, status=item.status, reason=item.reason, updated_at=item.updated_at)
                for item in statuses
            ]
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
            delivery=delivery,
        )

    # -- the relay: outbox to hub -----------------------------------------------------------

    def relay_once(self, *, limit: int = 100) -> int:
        """Hand due envelopes to the hub; returns how many the hub stored."""
        now = dt.datetime.now(dt.UTC)
        with self._uow(read_only=True) as uow:
            due = uow.session.execute(
                select(OutboxRow.message_id, OutboxRow.envelope, OutboxRow.attempts)
                .where(OutboxRow.relayed_at.is_(None), OutboxRow.next_attempt_at <= now)
                .order_by(OutboxRow.next_attempt_at)
                .limit(limit)
            ).all()
        relayed = 0
        for message_id, envelope, attempts in due:
            error = self._hand_to_hub(envelope)
            with self._uow() as uow:
                row = uow.session.get(OutboxRow, message_id)
                if row is None or row.relayed_at is not None:
                    continue
                if error is None:
                    row.relayed_at = dt.datetime.now(dt.UTC)
                    self._set_status(uow.session, message_id, None, "at_hub", None, only_from="queued")
                    relayed += 1
                else:
                    row.attempts = attempts + 1
                    row.next_attempt_at = dt.datetime.now(dt.UTC) + backoff(attempts)
                    row.last_error = error[:2000]
                uow.commit()
        return relayed

    def _hand_to_hub(self, envelope: str) -> str | None:
        """None when the hub stored the envelope, else why not (to retry later)."""
        try:
            if self._network.is_hub:
                self.accept(envelope.encode(), caller=self._network.node_name)
                return None
            hub = self._network.hub()
            if hub.url is None:
                return "the hub has no URL"
            with self._http() as client:
                response = client.post(
                    f"{hub.url.rstrip('/')}/api/v1/network/envelopes",
                    content=envelope.encode(),
                    headers={
                        "Authorization": f"PolexNode {self._network.token_for(hub.name)}",
                        "Content-Type": "application/json",
                    },
                )
            if response.status_code in (200, 202):
                return None
            return f"the hub answered {response.status_code}: {response.text[:500]}"
        except (httpx.HTTPError, NetworkUnavailable, EnvelopeRefused) as error:
            return f"{type(error).__name__}: {error}"

    # -- the hub: accept and push -------------------------------------------------------------

    def accept(self, raw: bytes, *, caller: str) -> bool:
        """Store an envelope for routing; False if it was stored already (a retried relay)."""
        if not self._network.is_hub:
            raise NotFound("only the hub routes envelopes")
        envelope = parse_envelope(raw)
        header = check_routing(envelope, self._network.directory(), now=dt.datetime.now(dt.UTC))
        if header.sender != caller:
            raise Forbidden(f"node '{caller}' may not relay an envelope from '{header.sender}'")
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            if uow.session.get(HubEnvelopeRow, header.id) is not None:
                return False
            uow.session.add(
                HubEnvelopeRow(
                    message_id=header.id,
                    sender=header.sender,
                    conversation_id=header.conversation_id,
                    envelope=raw.decode(),
                    received_at=now,
                    expires=header.expires,
                )
            )
            for recipient in header.recipients:
                uow.session.add(
                    HubDeliveryRow(
                        message_id=header.id,
                        recipient=recipient,
                        status="queued",
                        next_attempt_at=now,
                        updated_at=now,
                    )
                )
            details = {"message": header.id, "sender": header.sender, "recipients": header.recipients}
            self._audit.add(
                uow, [EventDraft(AuditTag.ENVELOPE_ACCEPTED, Actor(kind="node", name=caller), details=details)]
            )
            uow.commit()
        return True

    def deliver_once(self, *, limit: int = 100) -> int:
        """Push due queue entries to their recipients, expire what is past its time, and
        report outcomes to senders. Returns how many were delivered."""
        if not self._network.is_hub:
            return 0
        now = dt.datetime.now(dt.UTC)
        with self._uow(read_only=True) as uow:
            queued = uow.session.execute(
                select(
                    HubDeliveryRow.message_id,
                    HubDeliveryRow.recipient,
                    HubDeliveryRow.attempts,
                    HubDeliveryRow.next_attempt_at,
                    HubEnvelopeRow.envelope,
                    HubEnvelopeRow.expires,
                    HubEnvelopeRow.conversation_id,
                )
                .join(HubEnvelopeRow, HubEnvelopeRow.message_id == HubDeliveryRow.message_id)
                .where(HubDeliveryRow.status == "queued")
                .order_by(HubEnvelopeRow.received_at, HubDeliveryRow.message_id)
                .limit(limit * 10)
            ).all()
        delivered = 0
        # Order is kept within a conversation: a recipient gets nothing of a conversation
        # while an earlier message of it waits for that recipient.
        waiting: set[tuple[str, str]] = set()
        for message_id, recipient, attempts, next_attempt_at, envelope, expires, conversation in queued:
            if expires <= now:
                self._finish(message_id, recipient, "expired", f"not delivered before {expires.isoformat()}", None)
                continue
            if (conversation, recipient) in waiting or next_attempt_at > now:
                waiting.add((conversation, recipient))
                continue
            outcome, detail = self._push(recipient, envelope)
            if outcome == "delivered":
                self._finish(message_id, recipient, "delivered", None, detail)
                delivered += 1
            elif outcome == "refused":
                self._finish(message_id, recipient, "refused", detail, None)
            else:
                waiting.add((conversation, recipient))
                with self._uow() as uow:
                    row = uow.session.get(HubDeliveryRow, (message_id, recipient))
                    if row is not None and row.status == "queued":
                        row.attempts = attempts + 1
                        row.next_attempt_at = dt.datetime.now(dt.UTC) + backoff(attempts)
                        row.reason = detail[:2000]
                        row.updated_at = dt.datetime.now(dt.UTC)
                        uow.commit()
        self.report_once()
        return delivered

    def _push(self, recipient: str, envelope: str) -> tuple[str, str]:
        """('delivered', receipt) | ('refused', reason) | ('retry', reason)."""
        try:
            if recipient == self._network.node_name:
                return "delivered", self.receive(envelope.encode(), caller=self._network.node_name)
            member = self._network.usable_members().get(recipient)
            if member is None or member.url is None:
                return "retry", f"node '{recipient}' is not reachable now (absent, suspended or without URL)"
            with self._http() as client:
                response = client.post(
                    f"{member.url.rstrip('/')}/api/v1/network/inbox",
                    content=envelope.encode(),
                    headers={
                        "Authorization": f"PolexNode {self._network.token_for(recipient)}",
                        "Content-Type": "application/json",
                    },
                )
        except EnvelopeRefused as error:
            return "refused", error.reason
        except (httpx.HTTPError, NetworkUnavailable) as error:
            return "retry", f"{type(error).__name__}: {error}"
        if response.status_code in (200, 201):
            receipt = str(response.json().get("receipt", ""))
            return "delivered", receipt
        if response.status_code == 400:  # the recipient refused the envelope itself: no retry helps
            return "refused", response.text[:2000]
        return "retry", f"node '{recipient}' answered {response.status_code}"

    def _finish(self, message_id: str, recipient: str, status: str, reason: str | None, receipt: str | None) -> None:
        tag = {
            "delivered": AuditTag.ENVELOPE_DELIVERED,
            "expired": AuditTag.ENVELOPE_EXPIRED,
            "refused": AuditTag.ENVELOPE_REFUSED,
        }[status]
        with self._uow() as uow:
            row = uow.session.get(HubDeliveryRow, (message_id, recipient))
            if row is None or row.status != "queued":
                return
            row.status, row.reason, row.receipt = status, reason, receipt
            row.updated_at = dt.datetime.now(dt.UTC)
            details = {"message": message_id, "recipient": recipient, "reason": reason}
            self._audit.add(uow, [EventDraft(tag, Actor(kind="node", name=self._network.node_name), details=details)])
            uow.commit()

    def report_once(self, *, limit: int = 100) -> int:
        """Tell senders what became of their messages (delivered, expired, refused)."""
        with self._uow(read_only=True) as uow:
            due = uow.session.execute(
                select(
                    HubDeliveryRow.message_id,
                    HubDeliveryRow.recipient,
                    HubDeliveryRow.status,
                    HubDeliveryRow.reason,
                    HubDeliveryRow.receipt,
                    HubEnvelopeRow.sender,
                )
                .join(HubEnvelopeRow, HubEnvelopeRow.message_id == HubDeliveryRow.message_id)
                .where(HubDeliveryRow.status != "queued", HubDeliveryRow.reported_at.is_(None))
                .limit(limit)
            ).all()
        reported = 0
        for message_id, recipient, status, reason, receipt, sender in due:
            report = DeliveryReport(
                message_id=message_id, recipient=recipient, status=status, reason=reason, receipt=receipt
            )
            if not self._report(sender, report):
                continue
            with self._uow() as uow:
                row = uow.session.get(HubDeliveryRow, (message_id, recipient))
                if row is not None:
                    row.reported_at = dt.datetime.now(dt.UTC)
                    uow.commit()
            reported += 1
        return reported

    def _report(self, sender: str, report: DeliveryReport) -> bool:
        try:
            if sender == self._network.node_name:
                self.apply_report(report, caller=sender)
                return True
            member = self._network.usable_members().get(sender)
            if member is None or member.url is None:
                return False
            with self._http() as client:
                response = client.post(
                    f"{member.url.rstrip('/')}/api/v1/network/receipts",
                    json=report.model_dump(mode="json"),
                    headers={"Authorization": f"PolexNode {self._network.token_for(sender)}"},
                )
            return response.status_code in (200, 204)
        except (httpx.HTTPError, NetworkUnavailable):
            return False

    # -- recipients -----------------------------------------------------------------------------

    def receive(self, raw: bytes, *, caller: str) -> str:
        """Open an envelope the hub pushed and store the message once; returns a delivery
        receipt signed by this node."""
        hub = self._network.hub()
        if caller != hub.name:
            raise Forbidden("messages arrive through the hub")
        now = dt.datetime.now(dt.UTC)
        envelope = parse_envelope(raw)
        header, body = open_envelope(envelope, self._network.node_keys(), self._network.directory(now=now), now=now)
        try:
            content = orjson.loads(body)
            subject, text, author = str(content["subject"]), str(content["body"]), dict(content["author"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise EnvelopeRefused(f"the body is not a polex message: {error}") from None
        with self._uow() as uow:
            if uow.session.get(MessageRow, (header.id, "inbox")) is None:  # the wire may repeat; we do not
                uow.session.add(
                    MessageRow(
                        id=header.id,
                        box="inbox",
                        sender=header.sender,
                        recipients=list(header.recipients),
                        conversation_id=header.conversation_id,
                        in_reply_to=header.in_reply_to,
                        case_ref=header.case_ref,
                        handling=header.handling.value,
                        created=header.created,
                        expires=header.expires,
                        subject=subject[:300],
                        body=text,
                        author=author,
                        received_at=now,
                    )
                )
                details = {"message": header.id, "sender": header.sender}
                event = EventDraft(AuditTag.MESSAGE_RECEIVED, Actor(kind="node", name=header.sender), details=details)
                self._audit.add(uow, [event])
                uow.commit()
        claims = {
            "message_id": header.id,
            "recipient": self._network.node_name,
            "status": "delivered",
            "at": now.isoformat(),
        }
        return jws.serialize_compact(
            {"alg": "ES256", "typ": RECEIPT_TYPE},
            orjson.dumps(claims, option=orjson.OPT_SORT_KEYS),
            self._network.node_keys().signing,
            algorithms=["ES256"],
        )

    def apply_report(self, report: DeliveryReport, *, caller: str) -> None:
        """A sender learns what became of one recipient: delivered (with the recipient's
        signed receipt, checked here), expired or refused."""
        if caller != self._network.hub().name:
            raise Forbidden("delivery reports come from the hub")
        if report.status == "delivered":
            self._check_receipt(report)
        with self._uow() as uow:
            self._set_status(uow.session, report.message_id, report.recipient, report.status, report.reason)
            row = uow.session.get(MessageRecipientRow, (report.message_id, report.recipient))
            if row is not None and report.receipt:
                row.receipt = report.receipt
            uow.commit()

    def _check_receipt(self, report: DeliveryReport) -> None:
        keys = self._network.directory().get(report.recipient)
        if keys is None or not report.receipt:
            raise BadRequest(
                "a delivery needs the recipient's signed receipt", errors=[FieldError("receipt", "missing")]
            )
        try:
            verified = jws.deserialize_compact(report.receipt, keys.signing, algorithms=["ES256"])
            claims = orjson.loads(verified.payload)
        except (JoseError, ValueError) as error:
            raise BadRequest(
                "the receipt is not signed by the recipient", errors=[FieldError("receipt", str(error))]
            ) from None
        if (
            verified.headers().get("typ") != RECEIPT_TYPE
            or claims.get("message_id") != report.message_id
            or (claims.get("recipient") != report.recipient)
        ):
            raise BadRequest("the receipt is for another message or node", errors=[FieldError("receipt", "mismatch")])

    @staticmethod
    def _set_status(
        session: Any,
        message_id: str,
        recipient: str | None,
        status: str,
        reason: str | None,
        only_from: str | None = None,
    ) -> None:
        query = select(MessageRecipientRow).where(MessageRecipientRow.message_id == message_id)
        if recipient is not None:
            query = query.where(MessageRecipientRow.recipient == recipient)
        for row in session.scalars(query).all():
            if only_from is not None and row.status != only_from:
                continue
            if row.status in ("delivered", "expired", "refused") and status == "at_hub":
                continue
            row.status, row.reason, row.updated_at = status, reason, dt.datetime.now(dt.UTC)


def refused_event(caller: str, reason: str) -> EventDraft:
    return EventDraft(
        AuditTag.ENVELOPE_REFUSED, Actor(kind="node", name=caller), decision=Decision.DENIED, details={"reason": reason}
    )
