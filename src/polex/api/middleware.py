"""ASGI middleware: body size limit, request ids, Prometheus metrics."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polex.audit.context import RequestInfo, current_request

access_log = logging.getLogger("polex.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_DECLARED = re.compile(r"^[\w .:/#-]{1,200}$")


def _declared(value: bytes | None) -> str | None:
    """A purpose or case reference from a header, if it is short printable text."""
    if value is None:
        return None
    text = value.decode("utf-8", errors="replace").strip()
    return text if _DECLARED.match(text) else None


def _problem(status: int, title: str, detail: str, path: str) -> bytes:
    return json.dumps(
        {
            "type": "https://polex.dev/problems/payload-too-large",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": path,
            "errors": [{"field": "body", "reason": detail}],
        }
    ).encode()


class BodyTooLarge(HTTPException):
    """Raised while the body streams in; FastAPI's body reader lets HTTPExceptions through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body exceeds the limit of {limit} bytes")


class BodySizeLimit:
    """Refuse bodies over ``limit`` bytes with 413, by declared length or as they stream in."""

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = limit
        self.larger = larger or {}  # path prefix to its own limit (file uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = next(
            (size for prefix, size in self.larger.items() if scope["path"].startswith(prefix)), self.default_limit
        )
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, send, limit)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not response_started:
                await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        body = _problem(
            413,
            "Payload too large",
            f"the body exceeds the limit of {limit} bytes",
            scope["path"],
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class RequestContext:
    """Give every request an id (the caller's X-Request-ID if sane) and record metrics."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "polex_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "polex_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # Each label set's children, looked up once: ``labels()`` checks and joins the label
        # values on every call, which every request paid for. Route templates and statuses
        # are few, so this stays small.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        # The declared purpose and case travel with the request into every audit event.
        # They are validated for size and characters only; the policy engine judges them.
        token = current_request.set(
            RequestInfo(
                request_id=request_id,
                purpose=_declared(headers.get(b"x-polex-purpose")),
                case_reference=_declared(headers.get(b"x-polex-case")),
            )
        )
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self._account(scope, status, time.perf_counter() - started)
            finally:
                current_request.reset(token)  # after the access log line, which carries the request id

    def _account(self, scope: Scope, status: int, elapsed: float) -> None:
        # The route template, never the path or query: those carry names and numbers, and
        # ids would explode the metrics' label sets.
        template = getattr(scope.get("route"), "path", "unmatched")
        series = self._series.get((scope["method"], template, status))
        if series is None:
            series = (
                self.requests.labels(scope["method"], template, str(status)),
                self.latency.labels(scope["method"], template),
            )
            self._series[(scope["method"], template, status)] = series
        series[0].inc()
        series[1].observe(elapsed)
        milliseconds = round(elapsed * 1000, 1)
        access_log.info(
            "%s %s %d %.1fms",
            scope["method"],
            template,
            status,
            milliseconds,
            extra={
                "request_id": current_request.get().request_id,
                "method": scope["method"],
                "route": template,
                "status": status,
                "ms": milliseconds,
            },
        )
