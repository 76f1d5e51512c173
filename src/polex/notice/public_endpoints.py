"""INTERPOL's public notices API, served by polex: ``/public/notices/v1/{type}`` and below.

No credential is asked for: the extracts are public by the sources' consent. Each client
address (an IPv6 client by its /64) may make ``public_notices_per_minute`` requests in any
sliding minute, then gets a 429 problem with ``Retry-After``. Requests are not audited (the
data is public, and an audit event per anonymous request would let anyone flood the trail);
they are counted in ``polex_public_notice_requests_total``.

Answers may be cached for a minute (``Cache-Control: public, max-age=60``) and carry an
``ETag``; ``If-None-Match`` gets a 304. Browsers may read them from any origin, as they can
INTERPOL's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter

from polex.api.dependencies import NodeDep
from polex.api.problems import problem_response
from polex.errors import FieldError, NotFound, PolexError, TooManyRequests, ValidationFailed
from polex.notice.public import (
    DEFAULT_RESULTS_PER_PAGE,
    MAX_RESULTS_PER_PAGE,
    PUBLIC_PREFIX,
    NoticeQuery,
    PublicNotice,
    PublicNotices,
    country_alpha3,
    detail_document,
    images_document,
    list_document,
    reference_of,
)
from polex.notice.types import NoticeTypes
from polex.settings import Settings

router = APIRouter(prefix=PUBLIC_PREFIX, tags=["public notices"])

WINDOW_SECONDS = 60.0
CACHE_CONTROL = "public, max-age=60"
NOT_PUBLIC = "no such public notice"  # one answer for unknown, unpublished, not consented, wrong type


# -- rate limit ------------------------------------------------------------------------------


class SlidingWindowLimiter:
    """At most ``limit`` admitted requests per client in any ``window`` seconds, in memory.

    Each client keeps the times of its admitted requests in the window (at most ``limit``
    of them); refused requests are not counted, so a client that waits gets in again. Idle
    clients are forgotten, and no more than ``max_clients`` are tracked at once (the
    longest-tracked are dropped first when that many distinct addresses call within one
    window).
    """

    def __init__(
        self,
        window: float = WINDOW_SECONDS,
        *,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}
        self._next_sweep = clock() + window

    def admit(self, client: str, limit: int) -> float | None:
        """None when the request is admitted, else the seconds until it would be."""
        now = self._clock()
        with self._lock:
            if now >= self._next_sweep or len(self._hits) > self.max_clients:
                self._sweep(now)
            hits = self._hits.get(client)
            if hits is None:
                hits = self._hits[client] = deque()
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= limit:
                return max(hits[len(hits) - limit] + self.window - now, 0.001)
            hits.append(now)
            return None

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.window
        for client in [client for client, hits in self._hits.items() if not hits or hits[-1] <= now - self.window]:
            del self._hits[client]
        excess = len(self._hits) - self.max_clients
        if excess > 0:  # make room for a tenth more, so that sweeps stay rare under a flood of addresses
            for client in list(self._hits)[: excess + self.max_clients // 10]:
                del self._hits[client]


def client_key(request: Request) -> str:
    """The address a client is limited by: its IPv4 address, or its IPv6 /64 (one host
    usually has a whole /64 to pick addresses from)."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


# -- per-application state -------------------------------------------------------------------

_COUNTERS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()
_COUNTERS_LOCK = threading.Lock()
_STATE_LOCK = threading.Lock()


def _counter(registry: CollectorRegistry) -> Counter:
    with _COUNTERS_LOCK:
        counter = _COUNTERS.get(registry)
        if counter is None:
            counter = Counter(
                "polex_public_notice_requests",
                "Requests to the public notices API, by endpoint and status",
                ["endpoint", "status"],
                registry=registry,
            )
            _COUNTERS[registry] = counter
        return counter


@dataclass
class PublicState:
    notices: PublicNotices
    limiter: SlidingWindowLimiter
    requests: Counter
    settings: Settings


def public_state(request: Request, node: NodeDep) -> PublicState:
    """The index, the limiter and the counter of this application, made on first use."""
    state: PublicState | None = getattr(request.app.state, "public_notices", None)
    if state is None:
        with _STATE_LOCK:
            state = getattr(request.app.state, "public_notices", None)
            if state is None:
                state = PublicState(
                    notices=PublicNotices(node.uow, NoticeTypes(node.settings.notice_types)),
                    limiter=SlidingWindowLimiter(),
                    requests=_counter(node.metrics),
                    settings=node.settings,
                )
                request.app.state.public_notices = state
    return state


# -- answers ---------------------------------------------------------------------------------


def _base_url(request: Request, settings: Settings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


def _headers(etag: str | None = None) -> dict[str, str]:
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
        # Nothing served here is a page: an image that a browser opened runs nothing.
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
    }
    if etag is not None:
        headers["ETag"] = etag
    return headers


def _fresh(request: Request, etag: str) -> bool:
    given = request.headers.get("if-none-match")
    if not given:
        return False
    return given.strip() == "*" or etag in {tag.strip().removeprefix("W/") for tag in given.split(",")}


def _answer(request: Request, body: bytes, media_type: str, etag: str) -> Response:
    if _fresh(request, etag):
        return Response(status_code=304, headers=_headers(etag))
    return Response(content=body, media_type=media_type, headers=_headers(etag))


def _json(request: Request, document: dict[str, Any]) -> Response:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return _answer(request, body, "application/json", f'"{hashlib.sha256(body).hexdigest()[:32]}"')


async def _serve(request: Request, state: PublicState, endpoint: str, work: Callable[[], Response]) -> Response:
    """Admit the request or refuse it with 429, run ``work``, and count the answer."""
    limit = state.settings.public_notices_per_minute
    wait = state.limiter.admit(client_key(request), limit)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        state.requests.labels(endpoint, "429").inc()
        return problem_response(
            TooManyRequests.status,
            TooManyRequests.title,
            f"at most {limit} requests a minute may be made to the public notices API; try again in {seconds} s",
            slug=TooManyRequests.slug,
            request=request,
            extra={"retry_after": seconds},
            headers={"Retry-After": str(seconds), "Access-Control-Allow-Origin": "*"},
        )
    try:
        response = await run_in_threadpool(work)
    except PolexError as error:
        state.requests.labels(endpoint, str(error.status)).inc()
        raise
    state.requests.labels(endpoint, str(response.status_code)).inc()
    return response


def _country(value: str | None, parameter: str) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if country_alpha3(code) is None:
        raise ValidationFailed(
            f"invalid value for: {parameter}",
            errors=[FieldError(parameter, f"'{value}' is not an ISO 3166-1 alpha-2 country code")],
        )
    return code


def _public_type(state: PublicState, notice_type: str) -> None:
    if not state.notices.is_public_type(notice_type):
        raise NotFound(f"there are no public notices of type '{notice_type}'")


# -- endpoints -------------------------------------------------------------------------------

Text = Annotated[str | None, Query(min_length=1, max_length=200)]


@router.get("/{notice_type}", summary="Search the public notices of a type (red, yellow ...), as INTERPOL's API")
async def list_public_notices(
    request: Request,
    node: NodeDep,
    notice_type: str,
    forename: Text = None,
    name: Text = None,
    nationality: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")] = None,
    sex_id: Annotated[str | None, Query(alias="sexId", pattern=r"^[MFUmfu]$")] = None,
    age_min: Annotated[int | None, Query(alias="ageMin", ge=0, le=150)] = None,
    age_max: Annotated[int | None, Query(alias="ageMax", ge=0, le=150)] = None,
    arrest_warrant_country_id: Annotated[
        str | None, Query(alias="arrestWarrantCountryId", pattern=r"^[A-Za-z]{2}$", description="Red notices only")
    ] = None,
    free_text: Annotated[str | None, Query(alias="freeText", min_length=1, max_length=500)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    result_per_page: Annotated[
        int, Query(alias="resultPerPage", ge=1, le=MAX_RESULTS_PER_PAGE)
    ] = DEFAULT_RESULTS_PER_PAGE,
) -> Response:
    state = public_state(request, node)

    def work() -> Response:
        _public_type(state, notice_type)
        if arrest_warrant_country_id is not None and not state.notices.carries_warrants(notice_type):
            raise ValidationFailed(
                "invalid value for: arrestWarrantCountryId",
                errors=[FieldError("arrestWarrantCountryId", f"{notice_type} notices have no arrest warrants")],
            )
        given: dict[str, Any] = {
            key: value
            for key, value in (
                ("forename", forename),
                ("name", name),
                ("nationality", nationality.upper() if nationality else None),
                ("sexId", sex_id.upper() if sex_id else None),
                ("ageMin", age_min),
                ("ageMax", age_max),
                ("arrestWarrantCountryId", arrest_warrant_country_id.upper() if arrest_warrant_country_id else None),
                ("freeText", free_text),
            )
            if value is not None
        }
        query = NoticeQuery(
            forename=forename,
            name=name,
            nationality=_country(nationality, "nationality"),
            sex_id=sex_id.upper() if sex_id else None,
            age_min=age_min,
            age_max=age_max,
            arrest_warrant_country=_country(arrest_warrant_country_id, "arrestWarrantCountryId"),
            free_text=free_text,
            given=given,
        )
        total, entries = state.notices.search(notice_type, query, page=page, per_page=result_per_page)
        document = list_document(
            entries,
            total=total,
            notice_type=notice_type,
            query=query,
            page=page,
            per_page=result_per_page,
            base_url=_base_url(request, state.settings),
        )
        return _json(request, document)

    return await _serve(request, state, "list", work)


def _entry(state: PublicState, notice_type: str, notice_id: str) -> PublicNotice:
    """The public notice ``{year}-{number}`` of this type, or the one 404 every miss gets."""
    reference = reference_of(notice_id)
    entry = state.notices.get(notice_type, reference) if reference else None
    if entry is None:
        raise NotFound(NOT_PUBLIC)
    return entry


@router.get("/{notice_type}/{notice_id}", summary="A public notice, as INTERPOL's API shows it")
async def get_public_notice(request: Request, node: NodeDep, notice_type: str, notice_id: str) -> Response:
    state = public_state(request, node)

    def work() -> Response:
        return _json(
            request, detail_document(_entry(state, notice_type, notice_id), _base_url(request, state.settings))
        )

    return await _serve(request, state, "detail", work)


@router.get("/{notice_type}/{notice_id}/images", summary="The public photos of a public notice")
async def list_public_images(request: Request, node: NodeDep, notice_type: str, notice_id: str) -> Response:
    state = public_state(request, node)

    def work() -> Response:
        return _json(
            request, images_document(_entry(state, notice_type, notice_id), _base_url(request, state.settings))
        )

    return await _serve(request, state, "images", work)


@router.get(
    "/{notice_type}/{notice_id}/images/{picture_id}",
    summary="A public photo of a public notice",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def get_public_image(
    request: Request, node: NodeDep, notice_type: str, notice_id: str, picture_id: str
) -> Response:
    state = public_state(request, node)

    def work() -> Response:
        reference = reference_of(notice_id)
        image = state.notices.image(notice_type, reference, picture_id) if reference else None
        if image is None:
            raise NotFound("no such public image")
        return _answer(request, image.data, image.media_type, f'"{image.sha256[:32]}"')

    return await _serve(request, state, "image", work)
