"""The routes between nodes on the lean path (polex.message.lean: the hub's intake, a
recipient's inbox, a sender's delivery reports) against the FastAPI routes they stand in
front of, over real HTTP between a hub and France. Every request is sent once with the lean
layer switched off and once with it on; both give the same status, body and audit events
(the messages' own ids and the receipts' times aside), the bad requests included (401,
400, 422, a refused envelope, a bad receipt)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from polex.api.lean import LeanRoutes
from polex.crypto.envelope import seal
from polex.domain.base import new_id
from polex.domain.message import RoutingHeader
from polex.domain.roles import Role
from polex.message.schemas import DeliveryReport
from polex.network.keys import NODE_KEY, NodeKeyFiles
from polex.network.node_auth import make_node_token
from tests.e2e.conftest import LiveServer
from tests.e2e.lean_paths import Exchange, audit_size, events_of, lean_layer, without_hit_ids
from tests.e2e.test_message_read_receipts import send_and_deliver

ENVELOPES, INBOX, RECEIPTS = "/api/v1/network/envelopes", "/api/v1/network/inbox", "/api/v1/network/receipts"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def lean(network: tuple[LiveServer, LiveServer]) -> Iterator[tuple[LeanRoutes, LeanRoutes]]:
    """France's and the hub's lean layers, switched back on afterwards."""
    layers = []
    for server in network:
        server.client().get("/healthz")  # builds the middleware stack
        layers.append(lean_layer(server))
    yield layers[0], layers[1]
    for layer in layers:
        layer.enabled = True


def _node_headers(caller: LiveServer, callee: LiveServer) -> dict[str, str]:
    """The headers ``caller`` sends ``callee``: the token it uses for that node (one the
    callee has checked already, after the traffic of the fixtures) and JSON."""
    token = caller.node.network_view.token_for(callee.node.settings.node_name)
    return {"Authorization": f"PolexNode {token}", **JSON}


def _envelope(sender: LiveServer, to: LiveServer, subject: str) -> dict[str, Any]:
    """A message from ``sender`` to ``to``, sealed as the sender's relay would send it."""
    view = sender.node.network_view
    body = orjson.dumps({"subject": subject, "body": "both ways", "author": {"user": "lean-test"}})
    now = dt.datetime.now(dt.UTC)
    header = RoutingHeader(
        sender=view.node_name,
        recipients=[to.node.settings.node_name],
        created=now,
        expires=now + dt.timedelta(days=1),
        conversation_id=new_id(),
        size=len(body),
    )
    return seal(header, body, view.node_keys(), view.directory())


def _batch(*envelopes: dict[str, Any]) -> bytes:
    return orjson.dumps({"envelopes": list(envelopes)})


Headers = dict[str, str] | list[tuple[str, str]]


def _exchange(server: LiveServer, path: str, body: bytes, headers: Headers) -> Exchange:
    """One request: status, content type, body (JSON, or None when empty) and audit events."""
    request_id = new_id()
    since = audit_size(server)
    sent = [*(headers.items() if isinstance(headers, dict) else headers), ("X-Request-ID", request_id)]
    response = httpx.post(server.base_url + path, content=body, headers=sent, timeout=30)
    assert response.headers["x-request-id"] == request_id
    content = without_hit_ids(response.json()) if response.content else None  # and the request's id
    return response.status_code, response.headers.get("content-type", ""), content, events_of(server, since, request_id)


def _named(seen: Exchange, names: dict[str, str]) -> Exchange:
    """``seen`` with each of ``names``' strings (message ids) replaced by its name."""
    status, media, body, events = seen
    text = json.dumps([body, events])
    for value, name in names.items():
        text = text.replace(value, name)
    body, events = json.loads(text)
    return status, media, body, events


def two_ways(
    server: LiveServer,
    lean: LeanRoutes,
    path: str,
    bodies: tuple[bytes, bytes],
    headers: Headers,
    normalise: Callable[[Exchange], Exchange] = lambda seen: seen,
) -> tuple[Exchange, bool]:
    """The first body answered by the route, the second by the lean path (the same body
    twice unless the request has effects a second one would not: a new message); asserts
    the answers agree after ``normalise``; the answer, and whether the lean path took it."""
    lean.enabled = False
    by_route = normalise(_exchange(server, path, bodies[0], headers))
    lean.enabled = True
    route = lean.route(path)
    taken = route.taken
    by_lean = normalise(_exchange(server, path, bodies[1], headers))
    assert by_lean == by_route, f"{path} {bodies[1]!r:.200}"
    return by_lean, route.taken > taken


def test_the_hub_takes_a_relayed_batch_by_the_lean_path_as_by_the_route(
    network: tuple[LiveServer, LiveServer], lean: tuple[LeanRoutes, LeanRoutes]
) -> None:
    fra, hub = network
    _, at_hub = lean
    headers = _node_headers(fra, hub)
    first, second = _envelope(fra, hub, "one"), _envelope(fra, hub, "two")
    ids = {first["routing"]["id"]: "<message>", second["routing"]["id"]: "<message>"}

    (status, media, body, events), taken = two_ways(
        hub, at_hub, ENVELOPES, (_batch(first), _batch(second)), headers, lambda seen: _named(seen, ids)
    )
    assert (status, media, taken) == (202, "application/json", True)
    assert body == {"results": [{"message_id": "<message>", "duplicate": False}]}
    [accepted] = events
    assert (accepted["tag"], accepted["details"]) == (
        "network:envelope:accepted",
        {"messages": ["<message>"], "sender": "fra"},
    )

    # Sent again (a relay retrying after a lost answer): a duplicate both ways, nothing stored.
    (status, _, body, events), taken = two_ways(hub, at_hub, ENVELOPES, (_batch(first),) * 2, headers)
    assert (status, body["results"][0]["duplicate"], events, taken) == (202, True, [], True)

    # A tampered envelope in the batch is refused, with its reason, and audited.
    tampered = {**first, "signature": first["signature"][:-4] + "AAAA"}
    (status, _, body, events), taken = two_ways(hub, at_hub, ENVELOPES, (_batch(tampered),) * 2, headers)
    assert (status, body["results"][0]["error"], taken) == (202, "bad signature", True)
    assert [event["tag"] for event in events] == ["network:envelope:refused"]


def test_the_recipient_takes_a_pushed_batch_by_the_lean_path_as_by_the_route(
    network: tuple[LiveServer, LiveServer], lean: tuple[LeanRoutes, LeanRoutes]
) -> None:
    fra, hub = network
    at_fra, _ = lean
    headers = _node_headers(hub, fra)
    first, second = _envelope(hub, fra, "pushed one"), _envelope(hub, fra, "pushed two")
    ids = {first["routing"]["id"]: "<message>", second["routing"]["id"]: "<message>"}

    def without_receipt_times(seen: Exchange) -> Exchange:
        """Each receipt as its claims without the time it was signed (it differs by a moment)."""
        status, media, body, events = seen
        for item in body.get("receipts", []) if isinstance(body, dict) else []:
            if "receipt" in item:
                payload = item["receipt"].split(".")[1]
                claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                item["receipt"] = {key: value for key, value in claims.items() if key != "at"}
        return _named((status, media, body, events), ids)

    (status, media, body, events), taken = two_ways(
        fra, at_fra, INBOX, (_batch(first), _batch(second)), headers, without_receipt_times
    )
    assert (status, media, taken) == (201, "application/json", True)
    [receipt] = body["receipts"]
    assert receipt == {
        "message_id": "<message>",
        "receipt": {"message_id": "<message>", "recipient": "fra", "status": "delivered"},
    }
    assert [event["tag"] for event in events] == ["message:message:received"]
    inbox = fra.as_roles(Role.INVESTIGATOR).get("/api/v1/messages?box=inbox").json()["items"]
    assert {first["routing"]["id"], second["routing"]["id"]} <= {item["id"] for item in inbox}

    # An envelope France cannot open (sealed for the hub): refused with the reason, both ways.
    not_for_fra = _envelope(hub, hub, "not for France")
    (status, _, body, _), taken = two_ways(fra, at_fra, INBOX, (_batch(not_for_fra),) * 2, headers)
    assert (status, body["receipts"][0]["error"], taken) == (201, "not a recipient", True)


def test_the_sender_takes_delivery_reports_by_the_lean_path_as_by_the_route(
    network: tuple[LiveServer, LiveServer], lean: tuple[LeanRoutes, LeanRoutes]
) -> None:
    fra, hub = network
    at_fra, _ = lean
    officer = fra.as_roles(Role.INVESTIGATOR)
    message_id = send_and_deliver(officer, "XPO", "hub", "Reported twice")
    headers = _node_headers(hub, fra)
    receipt = hub.node.messages._receipt(message_id, dt.datetime.now(dt.UTC))
    report = DeliveryReport(message_id=message_id, recipient="hub", status="delivered", receipt=receipt)
    body = orjson.dumps({"reports": [report.model_dump(mode="json")]})
    (status, media, content, events), taken = two_ways(fra, at_fra, RECEIPTS, (body, body), headers)
    assert (status, media, content, events, taken) == (204, "", None, [], True)

    # A receipt the recipient did not sign: ignored, and audited, both ways.
    forged = DeliveryReport(message_id=message_id, recipient="hub", status="delivered", receipt="a.b.c")
    forged_body = orjson.dumps({"reports": [forged.model_dump(mode="json")]})
    (status, _, _, events), taken = two_ways(fra, at_fra, RECEIPTS, (forged_body,) * 2, headers)
    assert (status, [event["tag"] for event in events], taken) == (204, ["network:envelope:refused"], True)


def test_refusals_are_the_routes_own(
    network: tuple[LiveServer, LiveServer], lean: tuple[LeanRoutes, LeanRoutes]
) -> None:
    fra, hub = network
    at_fra, at_hub = lean
    headers = _node_headers(fra, hub)
    envelope = _envelope(fra, hub, "refusals")
    # Stored once first: sent again below, it is a duplicate each way, answered alike.
    assert httpx.post(hub.base_url + ENVELOPES, content=_batch(envelope), headers=headers).status_code == 202
    twice = [*headers.items(), ("Authorization", headers["Authorization"])]
    from_hub = _node_headers(hub, fra)
    cases: list[tuple[LiveServer, LeanRoutes, str, bytes, Headers, int, bool]] = [
        # No token, an unknown one, a user's: the route says why (401), before the body is read.
        (hub, at_hub, ENVELOPES, _batch(envelope), JSON, 401, False),
        (hub, at_hub, ENVELOPES, _batch(envelope), {"Authorization": "PolexNode not.a.token", **JSON}, 401, False),
        (hub, at_hub, ENVELOPES, _batch(envelope), {"Authorization": "Bearer nope", **JSON}, 401, False),
        # The node's token for another node (France's for the hub, sent to France).
        (fra, at_fra, INBOX, _batch(envelope), headers, 401, False),
        # A body that is neither an envelope nor a batch, or not JSON: 400, taken here.
        (hub, at_hub, ENVELOPES, b'{"envelopes": "nope"}', headers, 400, True),
        (hub, at_hub, ENVELOPES, b"{not json", headers, 400, True),
        # Not said to be JSON, or the token sent twice: the route decides.
        (hub, at_hub, ENVELOPES, _batch(envelope), {**headers, "Content-Type": "text/plain"}, 202, False),
        (hub, at_hub, ENVELOPES, _batch(envelope), twice, 202, False),
        # One envelope, not a batch: the route answers it in its own shape.
        (hub, at_hub, ENVELOPES, orjson.dumps(envelope), headers, 202, False),
        # A report the model refuses: 422 naming the field, from the route.
        (fra, at_fra, RECEIPTS, b'{"reports": [{"message_id": "x", "status": "lost"}]}', from_hub, 422, False),
        (fra, at_fra, RECEIPTS, b'{"reports": []}', from_hub, 422, False),
    ]
    for server, layer, path, body, sent, status, lean_takes in cases:
        (answered, _, _, _), taken = two_ways(server, layer, path, (body, body), sent)
        assert (answered, taken) == (status, lean_takes), (path, body[:80], sent)


def test_a_token_not_yet_checked_goes_to_the_route_once(
    network: tuple[LiveServer, LiveServer], lean: tuple[LeanRoutes, LeanRoutes]
) -> None:
    """A fresh token (a node's first request, or the first after a minute) is checked by the
    route, which remembers it; the node's next requests take the lean path."""
    fra, hub = network
    _, at_hub = lean
    fresh = make_node_token(NodeKeyFiles(fra.node.settings.keys_dir).read(NODE_KEY), issuer="fra", audience="hub")
    headers = {"Authorization": f"PolexNode {fresh}", **JSON}
    route = at_hub.route(ENVELOPES)
    taken, passed_on = route.taken, route.passed_on
    for _ in range(2):
        answer = httpx.post(hub.base_url + ENVELOPES, content=_batch(), headers=headers, timeout=30)
        assert (answer.status_code, answer.json()) == (202, {"results": []})
    assert (route.passed_on - passed_on, route.taken - taken) == (1, 1)
