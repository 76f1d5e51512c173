"""Read receipts without I/O: what the sender's node accepts as a recipient's read, and the
order a recipient's status moves in (never back)."""

from __future__ import annotations

import base64
import datetime as dt
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest
from joserfc import jws

from polex.crypto.envelope import Directory, EnvelopeRefused, NodeKeys, new_node_keys
from polex.domain.base import new_id
from polex.message.schemas import ReadReceipt
from polex.message.service import RECEIPT_TYPE, MessageService, _move_forward

SENDER, RECIPIENT, OTHER = (new_node_keys(name) for name in ("alpha", "bravo", "charlie"))
DIRECTORY = Directory.of(SENDER, RECIPIENT, OTHER)


class FakeView:
    """The parts of the network view the receipts use: who this node is, its keys, the directory."""

    def __init__(self, keys: NodeKeys) -> None:
        self.node_name = keys.name
        self._keys = keys

    def node_keys(self) -> NodeKeys:
        return self._keys

    def directory(self, now: dt.datetime | None = None) -> Directory:
        return DIRECTORY


def service(keys: NodeKeys) -> MessageService:
    return MessageService(cast(Any, None), cast(Any, None), cast(Any, FakeView(keys)))


def signed(keys: NodeKeys, claims: dict[str, Any], typ: str = RECEIPT_TYPE) -> str:
    return jws.serialize_compact({"alg": "ES256", "typ": typ}, orjson.dumps(claims), keys.signing, algorithms=["ES256"])


def test_a_recipients_read_receipt_is_accepted_with_its_time() -> None:
    message_id = new_id()
    now = dt.datetime.now(dt.UTC)
    token = service(RECIPIENT)._receipt(message_id, now, status="read")
    read_at = service(SENDER)._verified_read(ReadReceipt(message_id=message_id, receipt=token), "bravo")
    assert read_at == now


def _altered(token: str) -> str:
    head, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["at"] = "2020-01-01T00:00:00+00:00"
    return f"{head}.{base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b'=').decode()}.{signature}"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("altered", "not signed by node 'bravo'"),
        ("another node's key", "not signed by node 'bravo'"),
        ("not a receipt", "not a polex receipt"),
        ("delivered", "not 'read'"),
        ("another message", "another message or node"),
        ("another reader", "another message or node"),
        ("no time", "no valid time"),
        ("naive time", "not a valid instant"),
        ("in the future", "not a valid instant"),
        ("unknown node", "not an active member"),
    ],
)
def test_anything_but_the_recipients_own_read_of_that_message_is_refused(case: str, expected: str) -> None:
    message_id = new_id()
    now = dt.datetime.now(dt.UTC)
    claims = {"message_id": message_id, "recipient": "bravo", "status": "read", "at": now.isoformat()}
    reader = "bravo"
    tokens = {
        "altered": lambda: _altered(signed(RECIPIENT, claims)),
        "another node's key": lambda: signed(OTHER, claims),
        "not a receipt": lambda: signed(RECIPIENT, claims, typ="JWT"),
        "delivered": lambda: signed(RECIPIENT, {**claims, "status": "delivered"}),
        "another message": lambda: signed(RECIPIENT, {**claims, "message_id": new_id()}),
        "another reader": lambda: signed(RECIPIENT, {**claims, "recipient": "charlie"}),
        "no time": lambda: signed(RECIPIENT, {**claims, "at": "yesterday"}),
        "naive time": lambda: signed(RECIPIENT, {**claims, "at": now.replace(tzinfo=None).isoformat()}),
        "in the future": lambda: signed(RECIPIENT, {**claims, "at": (now + dt.timedelta(hours=1)).isoformat()}),
        "unknown node": lambda: signed(RECIPIENT, claims),
    }
    if case == "unknown node":
        reader = "delta"
    with pytest.raises(EnvelopeRefused) as refused:
        service(SENDER)._verified_read(ReadReceipt(message_id=message_id, receipt=tokens[case]()), reader)
    assert expected in refused.value.reason


@pytest.mark.parametrize(
    ("before", "report", "after"),
    [
        ("queued", "at_hub", "at_hub"),
        ("at_hub", "delivered", "delivered"),
        ("delivered", "at_hub", "delivered"),  # the relay notes the hub after the delivery report
        ("read", "delivered", "read"),  # a late delivery report
        ("read", "expired", "read"),
        ("expired", "delivered", "delivered"),
        ("expired", "read", "read"),  # a signed read proves it arrived after all
        ("queued", "refused", "refused"),
    ],
)
def test_a_recipients_status_never_goes_back(before: str, report: str, after: str) -> None:
    row = SimpleNamespace(status=before, reason=None, updated_at=None)
    changed = _move_forward(row, report, None)
    assert row.status == after
    assert changed == (before != after)
