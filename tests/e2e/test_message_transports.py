"""The contract of the message network, on both transports: HTTP between the nodes (the
embedded default) and NATS JetStream (the production transport: each node's durable stream
and consumer). A hub and two national nodes, served over real HTTP; on NATS every envelope,
receipt and delivery report goes through the nodes' streams.

The same tests run on both: national to national through the hub, order in a conversation,
receipts and read receipts, exactly-once storage when the wire repeats, a recipient away for
a while, expiry, and refusals of tampered envelopes. NATS-only tests check what only that
transport has (forged frames in a stream, a node without a stream reached over HTTP).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass

import httpx
import nats
import nats.js.errors
import orjson
import pytest
from sqlalchemy import select, update

from polex.bus.nats import delete_node_streams, stream_for
from polex.crypto.envelope import seal
from polex.domain.base import new_id
from polex.domain.message import RoutingHeader
from polex.domain.roles import Role
from polex.storage.tables import AuditEventRow, HubDeliveryRow, HubEnvelopeRow, MessageRow
from tests.conftest import database_url_for
from tests.e2e.conftest import LiveServer, _start_node, enrol, serve_again, stop_serving
from tests.e2e.test_messages import delivery_of, wait_for
from tests.integration.bus.conftest import NATS_URL

HUB, FRA, DEU = "hub", "tx-fra", "tx-deu"  # a national node first asks for "hub"


async def _publish(stream_of: str, subject: str, data: bytes, message_id: str) -> None:
    client = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=1)
    try:
        await client.jetstream().publish(
            subject, data, stream=stream_for(stream_of), headers={"Nats-Msg-Id": message_id}
        )
    finally:
        await client.close()


@dataclass
class Trio:
    transport: str
    hub: LiveServer
    fra: LiveServer
    deu: LiveServer


@pytest.fixture(scope="module", params=["http", "nats"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def trio(live_backend: str, transport: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    """The hub and France and Germany enrolled, all on ``transport``."""
    bus_url = NATS_URL if transport == "nats" else None
    if bus_url:
        delete_node_streams(NATS_URL, [HUB, FRA, DEU])  # nothing left from an earlier run
    directory = tmp_path_factory.mktemp(f"trio-{live_backend}-{transport}")
    schemas = []
    started: list[Iterator[LiveServer]] = []

    def start(name: str, country: str, hub: bool = False) -> LiveServer:
        (directory / name).mkdir()
        url, schema = database_url_for(live_backend, directory / name)
        schemas.append(schema)
        generator = _start_node(directory / name, url, name=name, country=country, hub=hub, bus_url=bus_url)
        started.append(generator)
        return next(generator)

    try:
        hub = start(HUB, "XPO", hub=True)
        hub.node.network.ensure_hub_member(hub.base_url)
        fra, deu = start(FRA, "FRA"), start(DEU, "DEU")
        for national in (fra, deu):
            enrol(hub, national.node, national.base_url)
            national.node.network_view.hub_url = hub.base_url
        yield Trio(transport, hub, fra, deu)
    finally:
        for generator in reversed(started):
            with suppress(StopIteration):
                next(generator)
        for schema in schemas:
            if schema is not None:
                schema.drop()
        if bus_url:
            delete_node_streams(NATS_URL, [HUB, FRA, DEU])


def _send(client: httpx.Client, to: list[str], subject: str, **extra: object) -> dict[str, str]:
    sent = client.post("/api/v1/messages", json={"to": to, "subject": subject, "body": f"body of {subject}", **extra})
    assert sent.status_code == 202, sent.text
    accepted: dict[str, str] = sent.json()
    return accepted


def _inbox(client: httpx.Client) -> list[dict[str, object]]:
    items: list[dict[str, object]] = client.get("/api/v1/messages?box=inbox&limit=200").json()["items"]
    return items


def _stored(server: LiveServer, message_id: str) -> int:
    with server.node.uow(read_only=True) as uow:
        return len(
            uow.session.scalars(select(MessageRow).where(MessageRow.id == message_id, MessageRow.box == "inbox")).all()
        )


def test_national_to_national_through_the_hub_with_receipts_and_read_receipts(trio: Trio) -> None:
    officer = trio.fra.as_roles(Role.INVESTIGATOR)
    colleague = trio.deu.as_roles(Role.INVESTIGATOR)
    first = _send(officer, ["DEU", "XPO"], "Joint investigation", case_ref="JIT-7")
    assert sorted(first["recipients"]) == [HUB, DEU]
    received = wait_for(lambda: [m for m in _inbox(colleague) if m["id"] == first["id"]])
    assert (received[0]["sender"], received[0]["case_ref"]) == (FRA, "JIT-7")
    wait_for(lambda: delivery_of(officer, first["id"]) == {HUB: "delivered", DEU: "delivered"})
    colleague.get(f"/api/v1/messages/{first['id']}")  # read: a signed read receipt goes back
    wait_for(lambda: delivery_of(officer, first["id"])[DEU] == "read")

    reply = _send(colleague, ["FRA"], "Re: Joint investigation", in_reply_to=first["id"])
    assert reply["conversation_id"] == first["conversation_id"]
    wait_for(lambda: [m for m in _inbox(officer) if m["id"] == reply["id"]])
    wait_for(lambda: delivery_of(colleague, reply["id"]) == {FRA: "delivered"})


def test_a_conversation_arrives_in_the_order_it_was_sent(trio: Trio) -> None:
    officer = trio.fra.as_roles(Role.INVESTIGATOR)
    colleague = trio.deu.as_roles(Role.INVESTIGATOR)
    opening = _send(officer, ["DEU"], "Order 0")
    sent = [opening] + [_send(officer, ["DEU"], f"Order {n}", in_reply_to=opening["id"]) for n in range(1, 30)]
    ids = [message["id"] for message in sent]
    wait_for(lambda: all(delivery_of(officer, message_id) == {DEU: "delivered"} for message_id in ids), seconds=60)
    with trio.deu.node.uow(read_only=True) as uow:
        rows = uow.session.execute(
            select(MessageRow.id, MessageRow.received_at).where(MessageRow.id.in_(ids), MessageRow.box == "inbox")
        ).all()
    arrival = [message_id for message_id, _ in sorted(rows, key=lambda row: (row[1], ids.index(row[0])))]
    assert arrival == ids
    assert all(_stored(trio.deu, message_id) == 1 for message_id in ids)
    assert len({m["id"] for m in _inbox(colleague) if m["id"] in ids}) == 30


def test_the_wire_may_repeat_a_delivery_and_the_recipient_stores_it_once(trio: Trio) -> None:
    officer = trio.fra.as_roles(Role.INVESTIGATOR)
    message = _send(officer, ["DEU"], "Once only")
    wait_for(lambda: delivery_of(officer, message["id"]) == {DEU: "delivered"})
    with trio.hub.node.uow(read_only=True) as uow:
        stored = uow.session.get(HubEnvelopeRow, message["id"])
        assert stored is not None
        envelope = stored.envelope
    # The hub delivers again, as after a crash before it noted the first delivery.
    if trio.transport == "nats":
        subject = f"polex.{DEU}.net.envelopes.{HUB}"
        asyncio.run(_publish(DEU, subject, envelope.encode(), f"{message['id']}-again"))
    else:
        token = trio.hub.node.network_view.token_for(DEU)
        again = httpx.post(
            f"{trio.deu.base_url}/api/v1/network/inbox",
            content=b'{"envelopes":[' + envelope.encode() + b"]}",
            headers={"Authorization": f"PolexNode {token}", "Content-Type": "application/json"},
        )
        assert again.status_code == 201, again.text
    later = _send(officer, ["DEU"], "After the repeat")  # everything before it has been taken
    wait_for(lambda: delivery_of(officer, later["id"]) == {DEU: "delivered"})
    assert _stored(trio.deu, message["id"]) == 1


def test_a_recipient_away_for_a_while_gets_everything_when_it_returns(trio: Trio) -> None:
    officer = trio.fra.as_roles(Role.INVESTIGATOR)
    deu = trio.deu
    stop_serving(deu)  # Germany is away: it serves nothing and takes nothing from its stream
    try:
        away = [_send(officer, ["DEU"], f"While away {n}") for n in range(20)]
        wait_for(lambda: all(delivery_of(officer, m["id"]) == {DEU: "at_hub"} for m in away))
        assert all(_stored(deu, m["id"]) == 0 for m in away)
    finally:
        serve_again(deu)
    with trio.hub.node.uow() as uow:  # over HTTP: try now rather than after the back-off
        uow.session.execute(
            update(HubDeliveryRow)
            .where(HubDeliveryRow.recipient == DEU, HubDeliveryRow.status == "queued", HubDeliveryRow.sent_at.is_(None))
            .values(next_attempt_at=dt.datetime.now(dt.UTC))
        )
        uow.commit()
    wait_for(lambda: all(delivery_of(officer, m["id"]) == {DEU: "delivered"} for m in away), seconds=60)
    assert all(_stored(deu, m["id"]) == 1 for m in away)


def test_a_message_nobody_took_in_time_expires_and_the_sender_is_told(trio: Trio) -> None:
    officer = trio.fra.as_roles(Role.INVESTIGATOR)
    fra, deu = trio.fra, trio.deu

    def status(message_id: str) -> str:
        return {item.node: item.status for item in fra.node.messages.delivery(message_id)}[DEU]

    stop_serving(deu)
    try:
        # A message that may wait four seconds (users may ask for a minute at least).
        body = orjson.dumps({"subject": "Too late", "body": "b", "author": {"node": FRA}})
        with fra.node.uow() as uow:
            doomed = fra.node.messages.enqueue(
                uow.session,
                to=[DEU],
                content_type="application/json",
                body=body,
                conversation_id=new_id(),
                subject="Too late",
                expires_in=dt.timedelta(seconds=4),
            )
            uow.commit()
        fra.node.messages.on_outbox()
        wait_for(lambda: status(doomed) in ("at_hub", "expired"))
        wait_for(lambda: status(doomed) == "expired")
    finally:
        serve_again(deu)
    # Back, Germany may find the envelope in its stream: past its time, it is refused, not stored.
    later = _send(officer, ["DEU"], "In time")
    wait_for(lambda: delivery_of(officer, later["id"]) == {DEU: "delivered"}, seconds=60)
    assert _stored(deu, doomed) == 0
    assert status(doomed) == "expired"


def test_a_tampered_envelope_is_refused_recorded_and_never_delivered(trio: Trio) -> None:
    fra, hub = trio.fra, trio.hub
    body = orjson.dumps({"subject": "forged", "body": "forged", "author": {}})
    now = dt.datetime.now(dt.UTC)
    header = RoutingHeader(
        sender=FRA,
        recipients=[DEU],
        created=now,
        expires=now + dt.timedelta(hours=1),
        conversation_id=new_id(),
        size=len(body),
    )
    envelope = seal(header, body, fra.node.network_view.node_keys(), hub.node.network_view.directory())
    tampered = {**envelope, "routing": {**envelope["routing"], "handling": "TLP:CLEAR"}}
    if trio.transport == "nats":
        subject = f"polex.{HUB}.net.envelopes.{FRA}"
        asyncio.run(_publish(HUB, subject, orjson.dumps(tampered), f"{header.id}-tampered"))
    else:
        token = fra.node.network_view.token_for(HUB)
        refused = httpx.post(
            f"{hub.base_url}/api/v1/network/envelopes",
            content=orjson.dumps(tampered),
            headers={"Authorization": f"PolexNode {token}", "Content-Type": "application/json"},
        )
        assert refused.status_code == 400, refused.text

    def refusal() -> list[dict[str, object]]:
        with hub.node.uow(read_only=True) as uow:
            rows = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == "network:envelope:refused"))
            entries = [orjson.loads(row.entry) for row in rows]
        return [entry for entry in entries if header.id in orjson.dumps(entry).decode()]

    (event,) = wait_for(refusal)
    assert "routing altered" in orjson.dumps(event).decode()
    with hub.node.uow(read_only=True) as uow:
        assert uow.session.get(HubEnvelopeRow, header.id) is None
    assert _stored(trio.deu, header.id) == 0


# -- NATS only ----------------------------------------------------------------------------------


def test_frames_in_a_stream_are_taken_only_from_the_node_that_signed_them(trio: Trio) -> None:
    if trio.transport != "nats":
        pytest.skip("frames are the JetStream transport's")
    officer = trio.fra.as_roles(Role.INVESTIGATOR)
    message = _send(officer, ["DEU"], "Genuine")
    wait_for(lambda: delivery_of(officer, message["id"]) == {DEU: "delivered"})
    report = {"message_id": message["id"], "recipient": DEU, "status": "refused", "reason": "forged", "receipt": None}
    # Germany (not the hub) signs a delivery report to France: it is not the hub's to give.
    payload = orjson.dumps(
        {"from": DEU, "to": FRA, "kind": "reports", "at": dt.datetime.now(dt.UTC).isoformat(), "items": [report]}
    )
    from joserfc import jws

    from polex.crypto.envelope import signing_kid
    from polex.message.jetstream import FRAME_TYPE

    keys = trio.deu.node.network_view.node_keys()
    forged = jws.serialize_compact(
        {"alg": "ES256", "typ": FRAME_TYPE, "kid": signing_kid(DEU)}, payload, keys.signing, algorithms=["ES256"]
    )
    asyncio.run(_publish(FRA, f"polex.{FRA}.net.reports.{DEU}", forged.encode(), f"forged-{new_id()}"))
    # The same frame claiming to come from the hub fails its signature.
    asyncio.run(_publish(FRA, f"polex.{FRA}.net.reports.{HUB}", forged.encode(), f"forged-{new_id()}"))

    def refusals() -> list[str]:
        with trio.fra.node.uow(read_only=True) as uow:
            rows = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == "network:envelope:refused"))
            return [row.entry for row in rows if "net.reports" in row.entry]

    found = wait_for(lambda: len(refusals()) >= 2 and refusals())
    assert any("only the hub" in entry for entry in found)
    assert any("not signed by" in entry or "another node" in entry for entry in found)
    assert delivery_of(officer, message["id"]) == {DEU: "delivered"}


def test_envelopes_travel_through_the_streams_not_over_http(trio: Trio) -> None:
    if trio.transport != "nats":
        pytest.skip("JetStream only")
    officer = trio.fra.as_roles(Role.INVESTIGATOR)
    message = _send(officer, ["DEU"], "Through the streams")
    wait_for(lambda: delivery_of(officer, message["id"]) == {DEU: "delivered"})
    with trio.hub.node.uow(read_only=True) as uow:
        row = uow.session.get(HubDeliveryRow, (message["id"], DEU))
        assert row is not None
        assert row.sent_at is not None  # handed to Germany's stream, then its receipt came back
