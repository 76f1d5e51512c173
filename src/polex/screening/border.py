"""The border routes' lean path: ``POST /api/v1/documents/check`` and ``POST /api/v1/vehicles/check``
answered without FastAPI's routing, dependency solving and response model.

Border posts in many countries call these two routes, one document a request, hundreds of
times a second; FastAPI's generic machinery cost more than the check itself (the routing
and middleware stacks, the dependency graph, the request and response models: about 40 %
of the hub's CPU a check, measured with py-spy). This ASGI layer sits inside the node's
request-id, metrics and body-size middleware (which it keeps) and answers the common case
itself with the same code the endpoints call:

- the credential (an API key, else a bearer token, as the route takes them) is one the
  node verified in the last seconds (``AuthService.remembered``), of a principal neither
  suspended nor without the permission to read records; each header it reads is sent once;
- the body is JSON that the endpoints' own request model (``DocumentCheck``,
  ``VehicleCheck``) validates, and the purposes in the body and the header agree;
- the check is answered from memory (``ScreeningService.check_in_memory``: a few items,
  nothing on file under their keys, a node that asks no hub), its audit event committed
  through the audit trail's group commit before the answer leaves; anything else (a
  possible hit, a large batch, a national node) runs the endpoints' full check in a worker
  thread, as they do, hits committed with their audit event before any data leaves.

Everything else (no credential or an unknown one, a suspended or unauthorised caller, a
body that does not validate, another content type) is handed, body and all, to the
FastAPI route, whose answers (401, 403 with its audit event, 400, 422 naming the field)
are then the ones given: the lean path only decides to take a request before anything has
happened, so handing it on changes nothing. Errors after that (the store busy, a service
refusing) are rendered by the application's own problem handlers. The answer is the same
``CheckResults`` document the route's response model produces (tests/e2e/test_border_checks.py
sends every request both ways and compares the answers and the audit events).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import to_jsonable_python
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polex.audit.context import RequestInfo, current_request
from polex.audit.service import AuditTrail, EventDraft
from polex.auth.principal import Principal
from polex.domain.policy import Purpose
from polex.domain.roles import Permission
from polex.errors import BadRequest
from polex.policy.service import PURPOSE_HEADER
from polex.screening.endpoints import check_documents, check_vehicles, replica_note, router, screening_purpose
from polex.screening.schemas import DocumentCheck, VehicleCheck

if TYPE_CHECKING:
    from polex.bootstrap import Node

_PURPOSE_HEADER = PURPOSE_HEADER.lower().encode("latin-1")
_READ_HEADERS = frozenset({b"authorization", b"x-api-key", b"content-type", _PURPOSE_HEADER})
_JSON_HEADERS = ((b"content-type", b"application/json"),)
# The route's response model (CheckResults) written by orjson: the same bytes as pydantic's
# serialiser (datetimes, should a record hold one, are handed to pydantic's own encoder).
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME
# Larger batches are read and looked up in a worker thread, as the route does: a thousand
# MRZs parsed on the event loop would hold every other request for milliseconds.
_LOOP_ITEMS = 16


@dataclass(frozen=True)
class _BorderRoute:
    model: type[DocumentCheck] | type[VehicleCheck]
    items: str  # the body's list of items
    kind: str  # the records they are looked up in
    endpoint: Callable[..., Any]
    route: APIRoute  # for the metrics' and the audit's route template


def _routes() -> dict[str, _BorderRoute]:
    endpoints: dict[str, tuple[type[DocumentCheck] | type[VehicleCheck], str, str]] = {
        "check_documents": (DocumentCheck, "documents", "travel_document"),
        "check_vehicles": (VehicleCheck, "vehicles", "vehicle"),
    }
    routes: dict[str, _BorderRoute] = {}
    for route in router.routes:
        if isinstance(route, APIRoute) and route.name in endpoints and "POST" in (route.methods or ()):
            model, items, kind = endpoints[route.name]
            routes[route.path] = _BorderRoute(model, items, kind, route.endpoint, route)
    assert len(routes) == len(endpoints), "the border routes moved: the lean path would never be taken"
    return routes


BORDER_ROUTES = _routes()
assert {route.endpoint for route in BORDER_ROUTES.values()} == {check_documents, check_vehicles}


class _AuditGroups:
    """The audit events of checks answered on the event loop, committed in groups.

    Each check adds its event and waits. One flush at a time takes every event added so far
    to a worker thread and commits them in one transaction (``AuditTrail.record_requests``);
    the checks that arrive meanwhile make the next group. Under load a transaction carries
    as many events as arrived during the previous commit, at a fraction of a lone commit's
    cost an event; a lone check still commits at once. Everything but the commit runs on the
    event loop, so the pending list needs no lock.
    """

    def __init__(self, audit: AuditTrail, executor: ThreadPoolExecutor) -> None:
        self._audit = audit
        self._executor = executor
        self._pending: list[tuple[RequestInfo, list[EventDraft], asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.groups = 0  # transactions committed (tests and benchmarks read the grouping)
        self.events = 0

    async def record(self, draft: EventDraft) -> None:
        """Returns once the event is committed; raises what kept it out."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((current_request.get(), [draft], future))
        if self._flushing is None:
            self._flushing = loop.create_task(self._flush())
        await asyncio.shield(future)  # a client that goes away does not cancel its own event

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                group, self._pending = self._pending, []
                requests = [(request, drafts) for request, drafts, _ in group]
                try:
                    outcomes: list[int | BaseException] = await loop.run_in_executor(
                        self._executor, self._audit.record_requests, requests
                    )
                except Exception as error:  # the executor itself failed: nobody's events are known written
                    outcomes = [error] * len(group)
                self.groups += 1
                self.events += len(group)
                for (_, _, future), outcome in zip(group, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(None)
        finally:
            self._flushing = None


class BorderChecks:
    """ASGI middleware: the border routes' common case answered here, the rest passed on."""

    def __init__(self, app: ASGIApp, node: Node) -> None:
        self.app = app
        self.node = node
        self.enabled = True  # off: every request goes to the routes (the tests compare both paths)
        self.taken = 0  # requests answered here
        self.passed_on = 0  # border requests handed to the routes
        self._audit_threads = ThreadPoolExecutor(1, thread_name_prefix="border-audit")
        weakref.finalize(self, self._audit_threads.shutdown, wait=False)  # with the application
        self._audit = _AuditGroups(node.audit, self._audit_threads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        border = BORDER_ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if border is None or not self.enabled:
            await self.app(scope, receive, send)
            return
        scope["route"] = border.route  # what the router would set: metrics and problems name it
        body = await _read_body(receive)  # the size limit outside raises past here: 413
        if body is None:
            return  # the client went away before sending its body; nobody to answer
        try:
            results = await self._answer(border, scope, body)
        except Exception as error:
            await _render_problem(scope, send, error)
            return
        if results is None:
            self.passed_on += 1
            await self.app(scope, _replay(body, receive), send)
            return
        self.taken += 1
        await send({"type": "http.response.start", "status": 200, "headers": _headers(len(results))})
        await send({"type": "http.response.body", "body": results})

    async def _answer(self, border: _BorderRoute, scope: Scope, body: bytes) -> bytes | None:
        """The answer's body, or None to pass the request on (nothing has happened yet)."""
        asked = self._plain_request(border, scope, body)
        if asked is None:
            return None
        check, principal, purpose = asked
        scope.setdefault("state", {})["principal"] = principal  # as the route's dependency sets it
        items = [item.model_dump(exclude_none=True) for item in getattr(check, border.items)]
        screening = self.node.screening
        note: dict[str, Any] = {}
        case_reference = check.case_reference
        quick = None
        if len(items) <= _LOOP_ITEMS:
            quick = screening.check_in_memory(
                border.kind, items, principal, purpose=purpose, case_reference=case_reference
            )
        if quick is not None:
            results, draft = quick
            # Durable before the answer leaves; checks that arrive while a group commits share
            # the next transaction, each event under its own request's id and declarations.
            await self._audit.record(draft)
        else:
            full = screening.check_documents if border.kind == "travel_document" else screening.check_vehicles
            results = await run_in_threadpool(
                lambda: full(items, principal, purpose=purpose, case_reference=case_reference, note=note)
            )
        answer = {"results": results, "replica": None, "hub": None, **note}
        answer.update(await replica_note(self.node, purpose, note))
        return orjson.dumps(answer, default=to_jsonable_python, option=_ORJSON_OPTIONS)

    def _plain_request(self, border: _BorderRoute, scope: Scope, body: bytes) -> tuple[Any, Principal, Purpose] | None:
        """The request read as the route would read it, if it is the common case: a JSON body
        the route's model accepts, one credential the node verified in the last seconds (an
        API key, else a bearer token, as the route takes them), the caller allowed, one
        purpose. None otherwise."""
        seen: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _READ_HEADERS:
                if name in seen:
                    return None  # said twice: the route decides which counts
                seen[name] = value
        content_type = seen.get(b"content-type")
        if content_type is not None and not _is_json(content_type):
            return None
        credential = seen.get(b"x-api-key", b"").decode("latin-1")
        if not credential:
            scheme, _, token = seen.get(b"authorization", b"").decode("latin-1").partition(" ")
            credential = token.strip() if scheme.lower() == "bearer" else ""
        declared = seen.get(_PURPOSE_HEADER)
        header_purpose = declared.decode("latin-1") if declared is not None else None
        if not credential or (header_purpose is not None and len(header_purpose) > 64):
            return None
        principal = self.node.auth.remembered(credential)
        if principal is None or not principal.can(Permission.RECORD_READ):
            return None
        if self.node.policy.suspension_of(principal) is not None:
            return None  # the route refuses it, and records the refusal
        try:
            check = border.model.model_validate_json(body)
            purpose = screening_purpose(check.purpose, header_purpose)
        except (PydanticValidationError, BadRequest):
            return None
        return check, principal, purpose


def _is_json(content_type: bytes) -> bool:
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


def _headers(length: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-length", str(length).encode()), *_JSON_HEADERS]


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
    """An error raised once the check has begun, rendered by the application's handler for
    it (problem details, 503 with Retry-After for a busy store, ...), as the route's would be."""
    handlers: Mapping[Any, Any] = scope["app"].exception_handlers
    handler = next((handlers[cls] for cls in type(error).__mro__ if cls in handlers), None)
    if handler is None:
        raise error
    request = Request(scope)
    response = await handler(request, error)
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
