"""Lean routes: the node's hottest requests answered without FastAPI's routing, dependency
solving and response models.

Border posts call the document and vehicle checks hundreds of times a second, officers'
systems send messages at similar rates, and every message then crosses three routes between
nodes (the hub's intake, the recipient's inbox, the sender's delivery reports); for each,
FastAPI's generic machinery (the routing and middleware stacks, the dependency graph, the
request and response models, a worker thread for each dependency) cost as much of the
node's CPU as the work itself, measured with py-spy. This ASGI layer sits inside the node's
request-id, metrics and body-size middleware (which it keeps) and in front of the routing.
For a request to one of its routes it decides, from the headers alone and before the body
is read, whether the request is the common case:

- a caller the node checked in the last seconds and still lets in: for users and their
  systems one credential (an API key, else a bearer token, as the routes take them) of a
  principal neither suspended nor without the route's permission (``UserRoute``); between
  nodes a node token, and over mutual TLS a certificate, already checked against the node's
  last member list, and checked again with the work, in its worker thread (``NodeRoute``);
- each header the route reads sent once, and a body sent as ``application/json`` (the
  routes refuse any other, or none), which the route itself then reads with the endpoint's
  own request model.

If so, the route answers with the same service calls the endpoint makes. Everything else
(no credential or an unknown one, a suspended or unauthorised caller, a body that does not
validate, another content type) is handed to the FastAPI route, whose answers (401, 403 with
its audit event, 400, 422 naming the field) are then the ones given: handing a request on
changes nothing. Errors once a route has begun (the store busy, a service refusing) are
rendered by the application's own problem handlers, as the route's would be. Each route's
tests send every request both ways and compare the answers and the audit events.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute, APIRouter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polex.api.server import client_certificate
from polex.auth.principal import Principal
from polex.domain.roles import Permission
from polex.policy.service import PURPOSE_HEADER

if TYPE_CHECKING:
    from polex.bootstrap import Node

PURPOSE = PURPOSE_HEADER.lower().encode("latin-1")
PURPOSE_MAX = 64  # the routes' bound on the purpose header (longer: the route refuses it)
AUTHORIZATION = b"authorization"
AUTHORIZATION_MAX = 8192  # the node routes' bound on the header (longer: the route refuses it)
_CONTENT_TYPE = b"content-type"
_JSON_HEADERS = ((_CONTENT_TYPE, b"application/json"),)
CallerT = TypeVar("CallerT")
T = TypeVar("T")


@dataclass(frozen=True)
class LeanCall(Generic[CallerT]):
    """A request a lean route may take: who asks (already admitted by the route), the
    headers the route reads (each sent at most once) and the body."""

    scope: Scope
    caller: CallerT
    headers: Mapping[bytes, bytes]
    body: bytes

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")


@dataclass(frozen=True)
class LeanAnswer:
    status: int
    body: bytes | None  # JSON; None for an answer without content (204)


class LeanRoute(ABC, Generic[CallerT]):
    """One route's common case. ``admit`` names who asks, from the headers alone, when the
    route may take the request; ``answer`` then returns None to hand it to the FastAPI
    route, which it may do only before anything has happened (nothing written, audited or
    sent); from then on it answers, or raises what the application's handlers render."""

    method = "POST"
    credentials: frozenset[bytes]  # the headers that say who asks, lower-case
    reads: frozenset[bytes] = frozenset()  # the headers it reads besides those, lower-case

    def __init__(self, route: APIRoute) -> None:
        self.route = route  # for the metrics' and the audit's route template
        self.headers_read = self.credentials | self.reads | {_CONTENT_TYPE}
        self.taken = 0  # requests answered here (problems raised once begun included)
        self.passed_on = 0  # requests handed to the FastAPI route

    @property
    def path(self) -> str:
        return self.route.path

    @abstractmethod
    def admit(self, node: Node, scope: Scope, headers: Mapping[bytes, bytes]) -> CallerT | None:
        """Who asks, if the route may take the request; None hands it to the FastAPI route.
        Runs on the event loop before the body is read: what it consults is in memory."""

    @abstractmethod
    async def answer(self, node: Node, call: LeanCall[CallerT]) -> LeanAnswer | None: ...


class UserRoute(LeanRoute[Principal]):
    """A route of users and their systems: one credential (an API key, else a bearer token,
    as the routes take them) that the node verified in the last seconds, of a principal
    neither suspended nor without the route's permission."""

    credentials = frozenset({AUTHORIZATION, b"x-api-key"})
    permission: Permission  # the caller must hold it, else the route refuses (and audits)

    def admit(self, node: Node, scope: Scope, headers: Mapping[bytes, bytes]) -> Principal | None:
        credential = headers.get(b"x-api-key", b"").decode("latin-1")
        if not credential:
            scheme, _, token = headers.get(AUTHORIZATION, b"").decode("latin-1").partition(" ")
            credential = token.strip() if scheme.lower() == "bearer" else ""
        if not credential:
            return None
        principal = node.auth.remembered(credential)
        if principal is None or not principal.can(self.permission):
            return None
        if node.policy.suspension_of(principal) is not None:
            return None  # the route refuses it, and records the refusal
        scope.setdefault("state", {})["principal"] = principal  # as the routes' dependency sets it
        return principal


class NodeRoute(LeanRoute[str]):
    """A route between nodes: a node token (and, over mutual TLS, the node's certificate)
    that this node has checked against its last member list (``NetworkView.
    remembered_caller``). The member list may have changed since (a node suspended): the
    route's work runs through ``checked``, which checks the caller as the route's dependency
    does, in the same worker thread as the work."""

    credentials = frozenset({AUTHORIZATION})

    def admit(self, node: Node, scope: Scope, headers: Mapping[bytes, bytes]) -> str | None:
        authorization = headers.get(AUTHORIZATION)
        if authorization is None or len(authorization) > AUTHORIZATION_MAX:
            return None
        return node.network_view.remembered_caller(authorization.decode("latin-1"), client_certificate(scope))

    async def checked(self, node: Node, call: LeanCall[str], work: Callable[[str], T]) -> T:
        """``work(caller)`` in a worker thread, once ``NetworkView.caller`` has named the
        caller: it raises what the route's dependency would (401, 403), rendered alike."""
        authorization = call.header(AUTHORIZATION)
        certificate = client_certificate(call.scope)

        def for_the_caller() -> T:
            return work(node.network_view.caller(authorization, certificate))

        return await run_in_threadpool(for_the_caller)


def endpoint_route(router: APIRouter, endpoint: Any, method: str = "POST") -> APIRoute:
    """The router's route for ``endpoint``: a lean route answers for exactly that route, and
    fails at import if the route moves."""
    found = [
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint is endpoint and method in (route.methods or ())
    ]
    assert len(found) == 1, f"{endpoint.__name__} is not one {method} route of its router"
    return found[0]


class LeanRoutes:
    """ASGI middleware: each lean route's common case answered here, the rest passed on."""

    def __init__(self, app: ASGIApp, node: Node, routes: Iterable[LeanRoute[Any]]) -> None:
        self.app = app
        self.node = node
        self.routes = {(route.method, route.path): route for route in routes}
        self.enabled = True  # off: every request goes to the FastAPI routes (the tests compare both)

    def route(self, path: str, method: str = "POST") -> LeanRoute[Any]:
        return self.routes[(method, path)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lean = self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if lean is None or not self.enabled:
            await self.app(scope, receive, send)
            return
        scope["route"] = lean.route  # what the router would set: metrics and problems name it
        try:
            headers = _headers_read(lean, scope)
            caller = None if headers is None else lean.admit(self.node, scope, headers)
        except Exception as error:
            lean.taken += 1  # answered here, by the application's handler for the error
            await _render_problem(scope, send, error)
            return
        if caller is None or headers is None:
            lean.passed_on += 1  # before its body is read: the route reads it, or refuses first
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)  # the size limit outside raises past here: 413
        if body is None:
            return  # the client went away before sending its body; nobody to answer
        try:
            answer = await lean.answer(self.node, LeanCall(scope, caller, headers, body))
        except Exception as error:
            lean.taken += 1  # answered here, by the application's handler for the error
            await _render_problem(scope, send, error)
            return
        if answer is None:
            lean.passed_on += 1
            await self.app(scope, _replay(body, receive), send)
            return
        lean.taken += 1
        if answer.body is None:
            await send({"type": "http.response.start", "status": answer.status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers_out = [(b"content-length", str(len(answer.body)).encode()), *_JSON_HEADERS]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers_out})
        await send({"type": "http.response.body", "body": answer.body})


def _headers_read(lean: LeanRoute[Any], scope: Scope) -> dict[bytes, bytes] | None:
    """The headers the route reads, or None to pass the request on: one of them sent twice
    (the route decides which counts), or a body not sent as JSON (the routes refuse it)."""
    seen: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in lean.headers_read:
            if name in seen:
                return None
            seen[name] = value
    content_type = seen.get(_CONTENT_TYPE)
    if content_type is None or not _is_json(content_type):
        return None
    return seen


def _is_json(content_type: bytes) -> bool:
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The request's body again, for the route, then whatever the connection says next."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _render_problem(scope: Scope, send: Send, error: Exception) -> None:
    """An error raised once a route has begun, rendered by the application's handler for it
    (problem details, 503 with Retry-After for a busy store, ...), as the route's would be."""
    handlers: Mapping[Any, Any] = scope["app"].exception_handlers
    handler = next((handlers[cls] for cls in type(error).__mro__ if cls in handlers), None)
    if handler is None:
        raise error
    request = Request(scope)
    response = await handler(request, error)
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
