"""A message sent on the lean path (polex.message.lean) against the FastAPI route it stands
in front of, on a national node enrolled in a live hub's network: every request is sent
twice, once with the lean layer switched off and once with it on, and both must give the
same status, body and audit events (the new message's ids aside), the bad requests
included (401, 403, 400, 422)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from polex.api.lean import LeanRoutes
from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer
from tests.e2e.lean_paths import Exchange, both_ways, lean_layer

# The lean path admits a remembered principal; see the fixture.
pytestmark = pytest.mark.usefixtures("principals_remembered_for_the_module")

MESSAGES = "/api/v1/messages"


@pytest.fixture
def lean(network: tuple[LiveServer, LiveServer]) -> Iterator[LeanRoutes]:
    fra, _ = network
    fra.client().get("/healthz")  # builds the middleware stack
    layer = lean_layer(fra)
    yield layer
    layer.enabled = True


def _token(node: LiveServer, *roles: Role) -> str:
    username, _ = node.make_user(list(roles))
    return node.token_for(username)


def without_new_ids(seen: Exchange) -> Exchange:
    """A send's answer and events with the new message's and conversation's ids named."""
    status, media, body, events = seen
    text = json.dumps([body, events])
    if isinstance(body, dict):
        for field in ("id", "conversation_id"):
            if isinstance(body.get(field), str):
                text = text.replace(body[field], f"<{field}>")
    body, events = json.loads(text)
    return status, media, body, events


def send_both_ways(fra: LiveServer, lean: LeanRoutes, body: Any, headers: dict[str, str]) -> tuple[Exchange, bool]:
    return both_ways(fra, lean, "POST", MESSAGES, body, headers, normalise=without_new_ids)


def test_a_message_is_sent_by_the_lean_path_as_by_the_route(
    network: tuple[LiveServer, LiveServer], lean: LeanRoutes
) -> None:
    fra, _ = network
    headers = {"Authorization": f"Bearer {_token(fra, Role.INVESTIGATOR)}", "Content-Type": "application/json"}
    message = {"to": ["XPO"], "subject": "Lean", "body": "Sent twice, once each way.", "case_ref": "C-9"}
    fra.client(headers).post(MESSAGES, json=message)  # the token verified once, as a client's first request does

    (status, media, body, events), taken = send_both_ways(fra, lean, message, headers)
    assert (status, media, taken) == (202, "application/json", True)
    assert body == {"id": "<id>", "conversation_id": "<conversation_id>", "recipients": ["hub"]}
    [sent] = events
    assert (sent["tag"], sent["details"]["message"], sent["details"]["recipients"]) == (
        "message:message:sent",
        "<id>",
        ["hub"],
    )

    # With a purpose header, as officers' clients send it.
    declared = {**headers, "X-Polex-Purpose": "criminal_investigation"}
    (status, _, _, _), taken = send_both_ways(fra, lean, message, declared)
    assert (status, taken) == (202, True)


def test_refusals_are_the_routes_own(network: tuple[LiveServer, LiveServer], lean: LeanRoutes) -> None:
    fra, _ = network
    investigator = _token(fra, Role.INVESTIGATOR)
    auditor = _token(fra, Role.AUDITOR)
    json_type = {"Content-Type": "application/json"}
    bearer = {"Authorization": f"Bearer {investigator}", **json_type}
    message = {"to": ["XPO"], "subject": "Refused?", "body": "x"}
    fra.client(bearer).post(MESSAGES, json=message)
    fra.client({"Authorization": f"Bearer {auditor}"}).get("/api/v1/messages")  # remembered, but may not send

    cases: list[tuple[str, Any, dict[str, str], int, bool]] = [
        ("no credential", message, json_type, 401, False),
        ("an unknown token", message, {"Authorization": "Bearer nope", **json_type}, 401, False),
        ("a role that may not send", message, {"Authorization": f"Bearer {auditor}", **json_type}, 403, False),
        ("no subject", {"to": ["XPO"], "body": "x"}, bearer, 422, False),
        ("not JSON", b"{to: XPO", bearer, 400, False),
        ("another content type", json.dumps(message).encode(), {**bearer, "Content-Type": "text/plain"}, 422, False),
        ("no content type", json.dumps(message).encode(), {"Authorization": f"Bearer {investigator}"}, 422, False),
        ("a purpose header too long", message, {**bearer, "X-Polex-Purpose": "p" * 65}, 422, False),
        ("nobody of that country", {**message, "to": ["DEU"]}, bearer, 400, True),  # refused by the service
    ]
    for name, body, headers, expected, by_lean in cases:
        (status, media, problem, _), taken = send_both_ways(fra, lean, body, headers)
        assert status == expected, (name, problem)
        assert taken is by_lean, name
        if status >= 400:
            assert media == "application/problem+json", name
