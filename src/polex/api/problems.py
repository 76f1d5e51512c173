"""RFC 9457 problem details for every error, rendered in one place."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from polex.audit.service import EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import AuditTag, Decision
from polex.errors import Forbidden, PolexError

PROBLEM_TYPE_BASE = "https://polex.dev/problems/"


def _audit_denial(request: Request, principal: Principal, error: Forbidden) -> None:
    """Denials are accesses too: the trail shows who tried what and was refused."""
    route = getattr(request.scope.get("route"), "path", request.url.path)
    details = {"method": request.method, "route": route, "reason": error.detail}
    request.app.state.node.audit.record(
        [EventDraft(tag=AuditTag.ACCESS_DENIED, actor=actor_of(principal), decision=Decision.DENIED, details=details)]
    )


PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("polex.api")


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    request: Request,
    errors: list[dict[str, str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        if parts[0] == "body":
            parts = parts[1:]
        elif len(parts) > 1:
            parts = [parts[1], *parts[2:]]
    return ".".join(parts) or "body"


_NAMED_FIELD = re.compile(r"^(?P<field>[a-z_][a-z0-9_]*): (?P<reason>.+)$", re.DOTALL)


def _validation_errors(error: RequestValidationError) -> tuple[int, str, list[dict[str, str]]]:
    items: list[dict[str, str]] = []
    malformed = False
    for item in error.errors():
        kind = item.get("type", "")
        if kind == "json_invalid":
            malformed = True
            context = item.get("ctx", {}) or {}
            items.append(
                {
                    "field": "body",
                    "reason": f"malformed JSON: {context.get('error', 'cannot be parsed')}",
                }
            )
            continue
        reason = str(item.get("msg", "is invalid"))
        if kind == "extra_forbidden":
            reason = "is not a field of this schema"
        elif kind == "missing":
            reason = "is required"
        reason = reason.removeprefix("Value error, ")
        field = _field_path(item.get("loc", ()))
        named = _NAMED_FIELD.match(reason)
        if named is not None and kind == "value_error":
            # A check across fields names the field it is about first: "fields: ...".
            field = ".".join(part for part in (field if field != "body" else "", named["field"]) if part)
            reason = named["reason"]
        items.append({"field": field, "reason": reason})
    if malformed:
        return 400, "the request body is not valid JSON", items
    fields = ", ".join(sorted({entry["field"] for entry in items}))
    return 422, f"invalid value for: {fields}", items


_HTTP_PROBLEMS = {
    401: ("Authentication required", "unauthenticated"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    413: ("Payload too large", "payload-too-large"),
}


# What the stores say when a transaction waited its whole timeout for a lock (SQLite's
# busy timeout; PostgreSQL's lock_timeout and statement_timeout).
_LOCK_TIMEOUTS = ("database is locked", "lock timeout", "statement timeout", "canceling statement due to")


def _is_lock_timeout(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return any(marker in text for marker in _LOCK_TIMEOUTS)


def _overloaded(request: Request, detail: str) -> JSONResponse:
    return problem_response(
        503,
        "Service unavailable",
        f"the node is overloaded ({detail}); try again shortly",
        slug="service-unavailable",
        request=request,
        headers={"Retry-After": "1"},
    )


def install_problem_handlers(app: FastAPI, registry: CollectorRegistry) -> None:
    denials = Counter("polex_access_denied_total", "Requests refused by authorisation", ["route"], registry=registry)

    @app.exception_handler(PolexError)
    async def polex_error(request: Request, error: PolexError) -> JSONResponse:
        principal = getattr(request.state, "principal", None)
        if isinstance(error, Forbidden) and principal is not None:
            denials.labels(getattr(request.scope.get("route"), "path", "unmatched")).inc()
            await run_in_threadpool(_audit_denial, request, principal, error)
        headers = {"WWW-Authenticate": 'Bearer realm="polex"'} if error.status == 401 else None
        retry_after = error.extra.get("retry_after")
        if isinstance(retry_after, int | float) and error.status in (429, 503):
            headers = {"Retry-After": str(max(1, int(retry_after)))}
        return problem_response(
            error.status,
            error.title,
            error.detail,
            slug=error.slug,
            request=request,
            errors=[item.as_dict() for item in error.errors],
            extra=error.extra,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        status, detail, items = _validation_errors(error)
        slug = "malformed-json" if status == 400 else "validation-failed"
        title = "Malformed request" if status == 400 else "Validation failed"
        return problem_response(status, title, detail, slug=slug, request=request, errors=items)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        title, slug = _HTTP_PROBLEMS.get(error.status_code, ("HTTP error", f"http-{error.status_code}"))
        errors = [{"field": "body", "reason": str(error.detail)}] if error.status_code == 413 else None
        return problem_response(
            error.status_code,
            title,
            str(error.detail),
            slug=slug,
            request=request,
            errors=errors,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def pool_exhausted(request: Request, error: SQLAlchemyTimeoutError) -> JSONResponse:
        # Every connection of the pool stayed busy for the pool's whole timeout: the node is
        # overloaded, not broken; the client may try again.
        log.warning("overloaded on %s %s: %s", request.method, request.url.path, error)
        return _overloaded(request, "every database connection is busy")

    @app.exception_handler(OperationalError)
    async def store_error(request: Request, error: OperationalError) -> JSONResponse:
        if _is_lock_timeout(error):
            log.warning("overloaded on %s %s: %s", request.method, request.url.path, error.orig)
            return _overloaded(request, "the store's write lock stayed taken for its whole timeout")
        return await unexpected(request, error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "Internal error",
            "an unexpected error occurred; its request id is in the node's log",
            slug="internal-error",
            request=request,
        )
