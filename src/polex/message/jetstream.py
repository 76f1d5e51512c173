"""The production transport of envelopes: NATS JetStream.

Each node has a durable stream (``POLEX_<NODE>``, subjects ``polex.<node>.>``, made by its own
bus on connect) and reads what others put there through one durable consumer,
``network-inbox``. Everything between two nodes is published straight into the receiver's
stream, on the subject ``polex.<to>.net.<kind>.<from>``:

=============  =================  =====================================================
kind           from -> to         payload
=============  =================  =====================================================
``envelopes``  node -> hub        one envelope (signed by its sender), to route
``envelopes``  hub -> recipient   one envelope, to open
``answers``    hub -> sender      a frame: which envelopes the hub stored, which it refused
``receipts``   recipient -> hub   a frame: per envelope, the signed receipt or the refusal
``reports``    hub -> sender      a frame: what became of each recipient (delivered, ...)
=============  =================  =====================================================

Envelopes carry their sender's signature already; a *frame* is a compact JWS (ES256) signed
by the node that publishes it, for the node it names, so nothing in a stream is taken on the
subject's word. An envelope is published with its message id as ``Nats-Msg-Id``: the stream
refuses a second copy within its duplicate window, and the receiver stores a message once
whatever the wire repeats. A publish returns once the receiver's stream has stored the
message (file storage), so an envelope handed over is never lost by a crash of either side;
a node away for hours finds its stream full when it comes back.

Attachments stay on HTTPS (chunked, resumable), in both transports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from joserfc import jws
from joserfc.errors import JoseError

from polex.bus.nats import NatsJetStreamBus, stream_for
from polex.bus.ports import BusMessage
from polex.crypto.envelope import signing_kid
from polex.network.view import NetworkView

log = logging.getLogger("polex.message.jetstream")

CONSUMER = "network-inbox"
FRAME_TYPE = "application/polex-frame+jws"
KINDS = ("envelopes", "answers", "receipts", "reports")
# A frame older than this is refused: it cannot be a retry of anything still waiting.
FRAME_MAX_AGE = dt.timedelta(days=60)


# The items of one frame, in bytes of JSON: joserfc reads JWS payloads of up to 128,000
# bytes (base64), and a delivery report with its receipt is about 700 bytes.
FRAME_ITEMS_BYTES = 64 * 1024


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _parts(items: list[Any]) -> list[list[Any]]:
    """``items`` cut into consecutive runs of at most FRAME_ITEMS_BYTES (one item alone may
    be larger: it goes alone, and the receiver refuses it if no JWS could carry it)."""
    parts: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    for item in items:
        weight = len(orjson.dumps(item)) + 1
        if current and size + weight > FRAME_ITEMS_BYTES:
            parts.append(current)
            current, size = [], 0
        current.append(item)
        size += weight
    if current or not parts:
        parts.append(current)
    return parts


def inbox_filter(node: str) -> str:
    return f"polex.{node}.net.>"


def subject(to: str, kind: str, sender: str) -> str:
    return f"polex.{to}.net.{kind}.{sender}"


@dataclass(frozen=True)
class Inbound:
    """One message read from this node's stream. ``items`` is the frame's (checked) content
    or, for ``envelopes``, a list of one parsed envelope; ``error`` says why it cannot be used
    (it is then settled without effect: no retry would change a bad signature)."""

    kind: str
    sender: str
    items: list[Any]
    error: str | None
    message: BusMessage


class JetStreamLink:
    def __init__(self, bus: NatsJetStreamBus, network: NetworkView) -> None:
        self._bus = bus
        self._network = network

    @property
    def node_name(self) -> str:
        return self._network.node_name

    # -- out --------------------------------------------------------------------------------

    def envelopes(self, to: str, envelopes: Sequence[str], message_ids: Sequence[str]) -> None:
        """Put envelopes into ``to``'s stream, in order. Raises StreamMissing (``to`` takes
        nothing over JetStream) or BusUnavailable."""
        topic = subject(to, "envelopes", self.node_name)
        self._bus.publish_to(
            stream_for(to),
            [
                (topic, envelope.encode(), message_id)
                for envelope, message_id in zip(envelopes, message_ids, strict=True)
            ],
        )

    def frame(self, to: str, kind: str, items: list[Any]) -> None:
        """Signed frames of ``items`` into ``to``'s stream, as many as their size needs (a JWS
        payload stays well under what JOSE libraries accept). Raises as :meth:`envelopes`."""
        published: list[tuple[str, bytes, str]] = []
        for part in _parts(items):
            payload = orjson.dumps(
                {"from": self.node_name, "to": to, "kind": kind, "at": _now(), "items": part},
                option=orjson.OPT_SORT_KEYS,
            )
            token = jws.serialize_compact(
                {"alg": "ES256", "typ": FRAME_TYPE, "kid": signing_kid(self.node_name)},
                payload,
                self._network.node_keys().signing,
                algorithms=["ES256"],
            )
            message_id = f"{kind}-{self.node_name}-{hashlib.sha256(payload).hexdigest()[:40]}"
            published.append((subject(to, kind, self.node_name), token.encode(), message_id))
        self._bus.publish_to(stream_for(to), published)

    # -- in ---------------------------------------------------------------------------------

    def fetch(self, *, batch: int = 256, wait_seconds: float = 1.0) -> list[Inbound]:
        """What waits in this node's stream (up to ``batch``), read and checked, in order.
        Raises BusUnavailable."""
        messages = self._bus.consume(CONSUMER, inbox_filter(self.node_name), batch=batch, wait_seconds=wait_seconds)
        return [self._read(message) for message in messages]

    def settle(self, inbound: Sequence[Inbound]) -> None:
        """Ack what was taken, all at once (acks awaited one by one would hold the intake
        for a round trip per envelope)."""
        self._bus.ack_all([item.message for item in inbound])

    def retry(self, inbound: Sequence[Inbound], *, delay_seconds: float = 1.0) -> None:
        for item in inbound:
            self._bus.nak(item.message, delay_seconds=delay_seconds)

    def _read(self, message: BusMessage) -> Inbound:
        parts = message.subject.split(".")
        if len(parts) != 5 or parts[1] != self.node_name or parts[2] != "net" or parts[3] not in KINDS:
            return Inbound("?", "?", [], f"unexpected subject {message.subject!r}", message)
        kind, sender = parts[3], parts[4]
        if kind == "envelopes":
            try:
                envelope = orjson.loads(message.data)
            except orjson.JSONDecodeError as error:
                return Inbound(kind, sender, [], f"not JSON: {error}", message)
            if not isinstance(envelope, dict):
                return Inbound(kind, sender, [], "not a JSON object", message)
            return Inbound(kind, sender, [envelope], None, message)
        try:
            items = self._verified(message.data, sender, kind)
        except ValueError as error:
            return Inbound(kind, sender, [], str(error), message)
        return Inbound(kind, sender, items, None, message)

    def _verified(self, data: bytes, sender: str, kind: str) -> list[Any]:
        keys = self._network.directory().get(sender)
        if keys is None:
            raise ValueError(f"frame from unknown node '{sender}'")
        try:
            verified = jws.deserialize_compact(data.decode("ascii"), keys.signing, algorithms=["ES256"])
            claims = orjson.loads(verified.payload)
        except (JoseError, ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"frame not signed by '{sender}': {type(error).__name__}") from None
        if verified.headers().get("typ") != FRAME_TYPE or not isinstance(claims, Mapping):
            raise ValueError("not a polex frame")
        if (claims.get("from"), claims.get("to"), claims.get("kind")) != (sender, self.node_name, kind):
            raise ValueError("frame for another node or kind than its subject says")
        try:
            at = dt.datetime.fromisoformat(str(claims.get("at")))
        except ValueError:
            raise ValueError("frame without a valid time") from None
        if at.tzinfo is None or dt.datetime.now(dt.UTC) - at > FRAME_MAX_AGE:
            raise ValueError("frame too old to be a retry of anything waiting")
        items = claims.get("items")
        if not isinstance(items, list):
            raise ValueError("frame without items")
        return items
