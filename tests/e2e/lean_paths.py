"""Helpers for the lean routes' tests (polex.api.lean): each request sent twice, once with
the lean layer switched off (the FastAPI routes answer) and once with it on, comparing the
status, the body and the audit events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from polex.api.lean import LeanRoutes
from polex.audit.repository import AuditRepository
from polex.domain.base import new_id
from tests.e2e.conftest import LiveServer


def lean_layer(server: LiveServer) -> LeanRoutes:
    """The application's lean routes middleware (built with the stack, at the first request)."""
    assert server.running is not None
    app: Any = server.running.server.config.app
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, LeanRoutes):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, LeanRoutes), "the lean path is not wired into the application"
    return layer


def audit_size(server: LiveServer) -> int:
    with server.node.uow(read_only=True) as uow:
        return AuditRepository(uow.session).size()


def events_of(server: LiveServer, since: int, request_id: str) -> list[dict[str, Any]]:
    """The request's audit events, without what differs between any two events (place in
    the log, id, time, request id, the sealed terms' ciphertext) or two hits (the hit's id)."""
    events = []
    for index in range(since, audit_size(server)):
        event, _ = server.node.audit.leaf(index)
        if event.request_id == request_id:
            shown = event.model_dump(mode="json", exclude={"seq", "id", "at", "request_id", "query_sealed"})
            shown.get("details", {}).pop("hit", None)
            events.append(shown)
    return events


def without_hit_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_hit_ids(item) for key, item in value.items() if key not in ("hit_id", "request_id")}
    if isinstance(value, list):
        return [without_hit_ids(item) for item in value]
    return value


Exchange = tuple[int, str, Any, list[dict[str, Any]]]  # status, content type, body, audit events


def exchange(server: LiveServer, method: str, path: str, body: bytes, headers: dict[str, str]) -> Exchange:
    """One request: its status, content type, body (JSON, hit ids left out) and audit events."""
    request_id = new_id()
    since = audit_size(server)
    response = httpx.request(
        method, server.base_url + path, content=body, headers={**headers, "X-Request-ID": request_id}, timeout=30
    )
    assert response.headers["x-request-id"] == request_id
    return (
        response.status_code,
        response.headers.get("content-type", ""),
        without_hit_ids(response.json()),
        events_of(server, since, request_id),
    )


def both_ways(
    server: LiveServer,
    lean: LeanRoutes,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    normalise: Callable[[Exchange], Exchange] = lambda seen: seen,
) -> tuple[Exchange, bool]:
    """The request answered by the routes, then by the lean path; asserts they agree (after
    ``normalise``: what differs between any two such requests, a new message's id, left
    out) and returns the answer and whether the lean path took the request."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    lean.enabled = False
    by_route = normalise(exchange(server, method, path, raw, headers))
    lean.enabled = True
    route = lean.routes.get((method, path))
    taken = route.taken if route is not None else 0
    by_lean = normalise(exchange(server, method, path, raw, headers))
    assert by_lean == by_route, f"{method} {path} {body!r:.200}"
    return by_lean, route is not None and route.taken > taken
