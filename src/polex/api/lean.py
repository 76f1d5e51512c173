"""Lean routes: the node's hottest requests answered without FastAPI's routing, dependency
solving and response models.

Border posts call the document and vehicle checks hundreds of times a second, and officers'
systems send messages at similar rates; for each, FastAPI's generic machinery (the routing
and middleware stacks, the dependency graph, the request and response models) cost as much
of the node's CPU as the work itself, measured with py-spy. This ASGI layer sits inside the
node's request-id, metrics and body-size middleware (which it keeps) and in front of the
routing. For a request to one of its routes it decides, before anything has happened,
whether the request is the common case:

- one credential (an API key, else a bearer token, as the routes take them) that the node
  verified in the last seconds (``AuthService.remembered``), of a principal neither
  suspended nor without the route's permission; each header the route reads sent once;
- a body sent as ``application/json`` (the routes refuse any other, or none), which the
  route itself then reads with the endpoint's own request model.

If so, the route answers with the same service calls the endpoint makes. Everything else
(no credential or an unknown one, a suspended or unauthorised caller, a body that does not
validate, another content type) is handed, body and all, to the FastAPI route, whose
answers (401, 403 with its audit event, 400, 422 naming the field) are then the ones given:
handing a request on changes nothing. Errors once a route has begun (the store busy, a
service refusing) are rendered by the application's own problem handlers, as the route's
would be. Each route's tests send every request both ways and compare the answers and the
audit events.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi.routing import APIRoute, APIRouter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polex.auth.principal import Principal
from polex.domain.roles import Permission
from polex.policy.service import PURPOSE_HEADER

if TYPE_CHECKING:
    from polex.bootstrap import Node

PURPOSE = PURPOSE_HEADER.lower().encode("latin-1")
PURPOSE_MAX = 64  # the routes' bound on the purpose header (longer: the route refuses it)
_CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key", b"content-type"})
_JSON_HEADERS = ((b"content-type", b"application/json"),)


@dataclass(frozen=True)
class LeanCall:
    """A request a lean route may take: who asks (already allowed the route's permission,
    not suspended), the headers the route reads (each sent at most once) and the body."""

    scope: Scope
    principal: Principal
    headers: Mapping[bytes, bytes]
    body: bytes

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return None if value is None else value.decode("latin-1")


@dataclass(frozen=True)
class LeanAnswer:
    status: int
    body: bytes  # JSON


class LeanRoute(ABC):
    """One route's common case. ``answer`` returns None to hand the request to the FastAPI
    route, which it may do only before anything has happened (nothing written, audited or
    sent); from then on it answers, or raises what the application's handlers render."""

    method = "POST"
    permission: Permission  # the caller must hold it, else the route refuses (and audits)
    reads: frozenset[bytes] = frozenset()  # the headers it reads, lower-case, besides the credential

    def __init__(self, route: APIRoute) -> None:
        self.route = route  # for the metrics' and the audit's route template
        self.headers_read = _CREDENTIAL_HEADERS | self.reads
        self.taken = 0  # requests answered here (problems raised once begun included)
        self.passed_on = 0  # requests handed to the FastAPI route

    @property
    def path(self) -> str:
        return self.route.path

    @abstractmethod
    async def answer(self, node: Node, call: LeanCall) -> LeanAnswer | None: ...


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

    def __init__(self, app: ASGIApp, node: Node, routes: Iterable[LeanRoute]) -> None:
        self.app = app
        self.node = node
        self.routes = {(route.method, route.path): route for route in routes}
        self.enabled = True  # off: every request goes to the FastAPI routes (the tests compare both)

    def route(self, path: str, method: str = "POST") -> LeanRoute:
        return self.routes[(method, path)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lean = self.routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if lean is None or not self.enabled:
            await self.app(scope, receive, send)
            return
        scope["route"] = lean.route  # what the router would set: metrics and problems name it
        body = await _read_body(receive)  # the size limit outside raises past here: 413
        if body is None:
            return  # the client went away before sending its body; nobody to answer
        try:
            call = self._common_case(lean, scope, body)
            answer = None if call is None else await lean.answer(self.node, call)
        except Exception as error:
            lean.taken += 1  # answered here, by the application's handler for the error
            await _render_problem(scope, send, error)
            return
        if answer is None:
            lean.passed_on += 1
            await self.app(scope, _replay(body, receive), send)
            return
        lean.taken += 1
        headers = [(b"content-length", str(len(answer.body)).encode()), *_JSON_HEADERS]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    def _common_case(self, lean: LeanRoute, scope: Scope, body: bytes) -> LeanCall | None:
        """The request as the route may take it, or None to pass it on: each header read
        sent once, a JSON body, one credential the node verified in the last seconds (an API
        key, else a bearer token, as the routes take them), the caller allowed."""
        seen: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in lean.headers_read:
                if name in seen:
                    return None  # said twice: the route decides which counts
                seen[name] = value
        content_type = seen.get(b"content-type")
        if content_type is None or not _is_json(content_type):
            return None  # the routes refuse a body they are not told is JSON (422)
        credential = seen.get(b"x-api-key", b"").decode("latin-1")
        if not credential:
            scheme, _, token = seen.get(b"authorization", b"").decode("latin-1").partition(" ")
            credential = token.strip() if scheme.lower() == "bearer" else ""
        if not credential:
            return None
        principal = self.node.auth.remembered(credential)
        if principal is None or not principal.can(lean.permission):
            return None
        if self.node.policy.suspension_of(principal) is not None:
            return None  # the route refuses it, and records the refusal
        scope.setdefault("state", {})["principal"] = principal  # as the routes' dependency sets it
        return LeanCall(scope, principal, seen, body)


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
