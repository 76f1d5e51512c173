"""The console's pages, under /console: each calls the node's services with the caller's
principal, exactly as the API endpoint for the same thing does (same permission checks,
same policy decisions, same audit events), and renders the answer as HTML.

Errors are the services' own (PolexError); the route class below renders them as pages
instead of problem documents, audits refusals as the API's handler does, and puts the
security headers on every answer.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from pathlib import Path as FilePath
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from polex.api.dependencies import current_principal
from polex.api.problems import _audit_denial
from polex.audit.context import current_request
from polex.audit.repository import EventQuery
from polex.console.session import (
    CASE_COOKIE,
    CSRF_FIELD,
    LOGIN_COOKIE,
    PREFIX,
    PURPOSE_COOKIE,
    SESSION_COOKIE,
    Session,
    clear_cookie,
    login_token_valid,
    new_login_token,
    secure_headers,
    set_cookie,
)
from polex.domain.base import RecordId, Tlp
from polex.domain.countries import CountryCode
from polex.domain.policy import Purpose, Slug
from polex.domain.roles import Permission
from polex.errors import BadRequest, FieldError, Forbidden, NotFound, PolexError, Unauthenticated, ValidationFailed
from polex.message.schemas import MessageCreate
from polex.record.service import ListFilters, RecordService
from polex.screening.schemas import PersonMatchQuery
from polex.screening.service import DEFAULT_MATCH_THRESHOLD

if TYPE_CHECKING:
    from polex.bootstrap import Node

_HERE = FilePath(__file__).parent
_CASE = re.compile(r"^[\w .:/#-]{1,128}$")  # what the API's middleware accepts as a case reference
_NEXT = re.compile(r"^/console(?:/[A-Za-z0-9._~/-]*)?(?:\?[A-Za-z0-9._~=&%+-]*)?$")
_COUNTRY = TypeAdapter(CountryCode)
_TAG = re.compile(r"^[a-z_:]{1,64}$")
_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PAGE_SIZE = 25


class LoginRequired(Exception):
    """No valid session: the answer is the login page."""


@cache
def _templates() -> Environment:
    # Autoescape everywhere: every value shown came from a user or another country.
    return Environment(
        loader=FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _stylesheet() -> bytes:
    return (_HERE / "static" / "console.css").read_bytes()


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


def _secure(request: Request) -> bool:
    return bool(_node(request).settings.tls)


def render(
    request: Request, template: str, session: Session | None = None, *, status: int = 200, **context: Any
) -> HTMLResponse:
    node = _node(request)
    html = (
        _templates()
        .get_template(template)
        .render(
            session=session,
            node_name=node.settings.node_name,
            node_country=node.settings.node_country,
            purposes=[purpose.value for purpose in Purpose],
            csrf_field=CSRF_FIELD,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status)


def _error_page(request: Request, error: PolexError, session: Session | None) -> HTMLResponse:
    return render(
        request,
        "error.html",
        session,
        status=error.status,
        title=error.title,
        detail=error.detail,
        errors=[item.as_dict() for item in error.errors],
        status_code=error.status,
    )


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"{PREFIX}/login" if request.method != "GET" else f"{PREFIX}/login?next={_quote(target)}"
    response = RedirectResponse(location, status_code=303)
    clear_cookie(response, SESSION_COOKIE, secure=_secure(request))
    return response


def _quote(text: str) -> str:
    return quote(text, safe="/")


class ConsoleRoute(APIRoute):
    """Console answers are pages: a missing session redirects to the login page, a service's
    error becomes an error page with its status (a refusal is audited as the API's handler
    audits it), invalid input a 422 page naming the fields, and every answer carries the
    console's security headers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await original(request)
            except LoginRequired:
                response = _login_redirect(request)
            except PolexError as error:
                session = getattr(request.state, "console_session", None)
                principal = getattr(request.state, "principal", None)
                if isinstance(error, Forbidden) and principal is not None:
                    await run_in_threadpool(_audit_denial, request, principal, error)
                response = _error_page(request, error, session)
            except RequestValidationError as error:
                fields = [
                    FieldError(".".join(str(part) for part in item.get("loc", ())[1:]) or "form", str(item["msg"]))
                    for item in error.errors()
                ]
                invalid = ValidationFailed("some values are not valid", errors=fields)
                response = _error_page(request, invalid, getattr(request.state, "console_session", None))
            return secure_headers(response)

        return handler


router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


# -- the session ------------------------------------------------------------------------


def _declared_purpose(value: str | None) -> Purpose | None:
    try:
        return Purpose(value) if value else None
    except ValueError:
        return None


async def console_session(request: Request) -> Session:
    """The caller, authenticated from the session cookie exactly as the API authenticates a
    bearer token (the same checks, suspension included); no valid session, the login page."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 4096:
        raise LoginRequired
    try:
        principal = await current_principal(request, token, None)
    except Unauthenticated:
        raise LoginRequired from None
    case = request.cookies.get(CASE_COOKIE)
    session = Session(
        principal=principal,
        token=token,
        purpose=_declared_purpose(request.cookies.get(PURPOSE_COOKIE)),
        case_reference=case if case and _CASE.match(case) else None,
    )
    request.state.console_session = session
    return session


SessionDep = Annotated[Session, Depends(console_session)]
CsrfField = Annotated[str, Form(alias=CSRF_FIELD, max_length=128)]


@contextmanager
def declared(session: Session) -> Iterator[None]:
    """The purpose and case the user declared travel into the audit events of the services
    called here, as the X-Polex-Purpose and X-Polex-Case headers do for the API."""
    info = current_request.get()
    token = current_request.set(
        replace(
            info,
            purpose=session.purpose.value if session.purpose else None,
            case_reference=session.case_reference,
        )
    )
    try:
        yield
    finally:
        current_request.reset(token)


def _require_purpose(session: Session) -> Purpose:
    if session.purpose is None:
        known = ", ".join(purpose.value for purpose in Purpose)
        raise BadRequest(
            "declare the purpose of this query or read first (the purpose form at the top of the page)",
            errors=[FieldError("purpose", f"is required; one of {known}")],
        )
    return session.purpose


# -- logging in and out -------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: Annotated[str, Query(max_length=500)] = PREFIX) -> Response:
    token = new_login_token()
    response = render(request, "login.html", login_token=token, next=next if _NEXT.match(next) else PREFIX)
    set_cookie(response, LOGIN_COOKIE, token, secure=_secure(request), max_age=3600)
    return response


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: CsrfField = "",
    totp: Annotated[str, Form(max_length=10)] = "",
    next: Annotated[str, Form(max_length=500)] = PREFIX,
) -> Response:
    # No session yet: the login form is protected by a double-submit token instead.
    if not login_token_valid(request.cookies.get(LOGIN_COOKIE), csrf):
        raise Forbidden("the login form is missing its CSRF token; reload the login page")
    target = next if _NEXT.match(next) else PREFIX
    try:
        issued = _node(request).auth.login(username, password, totp or None)
    except Unauthenticated as error:
        token = new_login_token()
        response: Response = render(
            request, "login.html", status=401, login_token=token, next=target, failure=error.detail, username=username
        )
        set_cookie(response, LOGIN_COOKIE, token, secure=_secure(request), max_age=3600)
        return response
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, SESSION_COOKIE, issued.access_token, secure=_secure(request), max_age=issued.expires_in)
    clear_cookie(response, LOGIN_COOKIE, secure=_secure(request))
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf: CsrfField = "") -> Response:
    session.check_csrf(csrf)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    for name in (SESSION_COOKIE, PURPOSE_COOKIE, CASE_COOKIE):
        clear_cookie(response, name, secure=_secure(request))
    return response


@router.post("/purpose")
def set_purpose(
    request: Request,
    session: SessionDep,
    csrf: CsrfField = "",
    purpose: Annotated[str, Form(max_length=64)] = "",
    case_reference: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=500)] = PREFIX,
) -> Response:
    """Declare the purpose (and case) of the reads that follow, kept in the session's cookies."""
    session.check_csrf(csrf)
    chosen = _declared_purpose(purpose.strip().lower())
    errors: list[FieldError] = []
    if chosen is None:
        errors.append(FieldError("purpose", "must be one of " + ", ".join(p.value for p in Purpose)))
    case = case_reference.strip()
    if case and not _CASE.match(case):
        errors.append(FieldError("case_reference", "letters, digits, spaces and . : / # - only, up to 128"))
    if errors:
        raise ValidationFailed("the declaration is not valid", errors=errors)
    assert chosen is not None
    response = RedirectResponse(next if _NEXT.match(next) else PREFIX, status_code=303)
    secure = _secure(request)
    set_cookie(response, PURPOSE_COOKIE, chosen.value, secure=secure)
    if case:
        set_cookie(response, CASE_COOKIE, case, secure=secure)
    else:
        clear_cookie(response, CASE_COOKIE, secure=secure)
    return response


@router.get("/static/console.css")
def stylesheet() -> Response:
    return Response(_stylesheet(), media_type="text/css")


# -- home -------------------------------------------------------------------------------


def _kinds(node: Node) -> list[tuple[str, str]]:
    """(plural, noun) of the record kinds the generic record API serves on this node."""
    return [
        (feature.record_type.plural, feature.record_type.kind.value.replace("_", " "))
        for feature in node.features
        if feature.record_type.kind.value in node.records
    ]


@router.get("")
def home(request: Request, session: SessionDep) -> Response:
    node = _node(request)
    principal = session.principal
    agency = None
    if principal.can(Permission.AGENCY_READ):
        with declared(session):
            agency = node.agencies.get(principal.agency_id, principal)
    return render(request, "home.html", session, agency=agency, kinds=_kinds(node), me=principal)


# -- records ----------------------------------------------------------------------------


def _records(node: Node, plural: str) -> RecordService:
    for feature in node.features:
        if feature.record_type.plural == plural and feature.record_type.kind.value in node.records:
            service: RecordService = node.records[feature.record_type.kind.value]
            return service
    raise NotFound(f"no kind of record '{plural}'")


_SUMMARY_KEYS = ("number", "vin", "plate", "title", "name", "reference", "summary")


def summary_of(record: Mapping[str, Any]) -> str:
    """A line naming a record in a list: its first name, number, VIN, title..."""
    names = record.get("names")
    if isinstance(names, list) and names and isinstance(names[0], Mapping):
        return str(names[0].get("full") or "")
    for key in _SUMMARY_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


@router.get("/records/{plural}")
def list_records(
    request: Request,
    plural: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    owner_country: Annotated[str, Query(max_length=8)] = "",
    status: Annotated[str, Query(max_length=32, pattern=r"^[a-z_]*$")] = "",
) -> Response:
    node = _node(request)
    service = _records(node, plural)
    purpose = _require_purpose(session)
    names = {spec.name for spec in service.feature.filters}
    terms: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in names and value.strip():
            if len(value) > 200 or "|" in value:
                raise ValidationFailed(
                    f"invalid filter '{name}'", errors=[FieldError(name, "must be 1 to 200 characters, without '|'")]
                )
            terms[name] = value.strip()
    country = None
    if owner_country.strip():
        try:
            country = _COUNTRY.validate_python(owner_country.strip())
        except PydanticValidationError:
            raise ValidationFailed(
                "invalid owner country", errors=[FieldError("owner_country", "is not an ISO 3166-1 alpha-3 code")]
            ) from None
    with declared(session):
        page = service.list(
            session.principal,
            ListFilters(owner_country=country, status=status or None, terms=terms),
            purpose=purpose,
            cursor=cursor or None,
            limit=PAGE_SIZE,
        )
    query = {name: value for name, value in request.query_params.items() if name != "cursor" and value}
    return render(
        request,
        "records.html",
        session,
        plural=plural,
        kinds=_kinds(node),
        filters=service.feature.filters,
        values=query,
        items=[(item, summary_of(item)) for item in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/records/{plural}/{record_id}")
def read_record(request: Request, plural: str, record_id: RecordId, session: SessionDep) -> Response:
    node = _node(request)
    service = _records(node, plural)
    purpose = _require_purpose(session)
    with declared(session):
        shown = service.get(record_id, session.principal, purpose=purpose)
    access = shown.pop("access", {})
    owner = shown.get("owner") or {}
    principal = session.principal
    may_see_accesses = principal.can(Permission.AUDIT_READ) or (
        owner.get("agency_id") == principal.agency_id and principal.can(Permission.RECORD_WRITE)
    )
    return render(
        request,
        "record.html",
        session,
        plural=plural,
        record=shown,
        access=access,
        summary=summary_of(shown),
        may_see_accesses=may_see_accesses,
    )


@router.get("/records/{plural}/{record_id}/accesses")
def record_accesses(request: Request, plural: str, record_id: RecordId, session: SessionDep) -> Response:
    service = _records(_node(request), plural)
    with declared(session):
        items = service.accesses(record_id, session.principal)
    return render(request, "accesses.html", session, plural=plural, record_id=record_id, items=items)


# -- border checks and person matching --------------------------------------------------------


@router.get("/check")
def check_page(request: Request, session: SessionDep) -> Response:
    session.principal.require(Permission.RECORD_READ)
    return render(request, "check.html", session, results=None, kind=None, values={})


@router.post("/check")
def check(
    request: Request,
    session: SessionDep,
    csrf: CsrfField = "",
    kind: Annotated[str, Form(pattern=r"^(document|vehicle)$")] = "document",
    number: Annotated[str, Form(max_length=64)] = "",
    country: Annotated[str, Form(max_length=8)] = "",
    mrz: Annotated[str, Form(max_length=200)] = "",
    vin: Annotated[str, Form(max_length=32)] = "",
    plate: Annotated[str, Form(max_length=32)] = "",
    plate_country: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """A travel document (number and country, or MRZ) or a vehicle (VIN, or plate and
    country), through the screening service as POST /api/v1/documents|vehicles/check."""
    session.check_csrf(csrf)
    purpose = _require_purpose(session)
    screening = _node(request).screening
    note: dict[str, Any] = {}
    values = {
        "number": number,
        "country": country,
        "mrz": mrz,
        "vin": vin,
        "plate": plate,
        "plate_country": plate_country,
    }
    with declared(session):
        if kind == "document":
            item = {"mrz": mrz.strip()} if mrz.strip() else {"number": number.strip(), "country": country.strip()}
            item = {key: value for key, value in item.items() if value}
            if not item:
                raise ValidationFailed("say what to check", errors=[FieldError("number", "or an MRZ is required")])
            results = screening.check_documents(
                [item], session.principal, purpose=purpose, case_reference=session.case_reference, note=note
            )
        else:
            item = {"vin": vin.strip()} if vin.strip() else {"plate": plate.strip(), "country": plate_country.strip()}
            item = {key: value for key, value in item.items() if value}
            if not item:
                raise ValidationFailed("say what to check", errors=[FieldError("vin", "or a plate is required")])
            results = screening.check_vehicles(
                [item], session.principal, purpose=purpose, case_reference=session.case_reference, note=note
            )
    return render(request, "check.html", session, results=results, kind=kind, values=values, note=note)


@router.get("/match")
def match_page(request: Request, session: SessionDep) -> Response:
    session.principal.require(Permission.RECORD_READ)
    return render(request, "match.html", session, candidates=None, values={})


@router.post("/match")
def match(
    request: Request,
    session: SessionDep,
    csrf: CsrfField = "",
    names: Annotated[str, Form(max_length=4000)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "",
    nationalities: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Ranked candidates from the person watch list, as POST /api/v1/persons/match."""
    session.check_csrf(csrf)
    purpose = _require_purpose(session)
    raw = {
        "names": [line.strip() for line in names.splitlines() if line.strip()],
        "birth_date": birth_date.strip() or None,
        "nationalities": [code.strip().upper() for code in re.split(r"[\s,]+", nationalities) if code.strip()],
    }
    try:
        query = PersonMatchQuery.model_validate(raw)
    except PydanticValidationError as error:
        raise ValidationFailed(
            "the query is not valid",
            errors=[FieldError(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors()],
        ) from None
    note: dict[str, Any] = {}
    with declared(session):
        candidates = _node(request).screening.match_persons(
            query.model_dump(),
            session.principal,
            purpose=purpose,
            case_reference=session.case_reference,
            threshold=DEFAULT_MATCH_THRESHOLD,
            note=note,
        )
    values = {"names": names, "birth_date": birth_date, "nationalities": nationalities}
    return render(
        request,
        "match.html",
        session,
        candidates=[(candidate, summary_of(candidate.get("record") or {})) for candidate in candidates],
        values=values,
        note=note,
    )


# -- messages ---------------------------------------------------------------------------


@router.get("/messages")
def messages(
    request: Request, session: SessionDep, box: Annotated[str, Query(pattern=r"^(inbox|outbox)$")] = "inbox"
) -> Response:
    with declared(session):
        items = _node(request).messages.messages(session.principal, box, limit=100)
    return render(request, "messages.html", session, box=box, items=items)


@router.get("/messages/new")
def compose_page(request: Request, session: SessionDep) -> Response:
    session.principal.require(Permission.MESSAGE_SEND)
    return render(request, "compose.html", session, values={}, errors=[], handlings=[tlp.value for tlp in Tlp])


@router.post("/messages")
def send_message(
    request: Request,
    session: SessionDep,
    csrf: CsrfField = "",
    to: Annotated[str, Form(max_length=2000)] = "",
    subject: Annotated[str, Form(max_length=300)] = "",
    body: Annotated[str, Form(max_length=100_000)] = "",
    handling: Annotated[str, Form(max_length=32)] = Tlp.AMBER.value,
    case_ref: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Sealed, stored and relayed by the message service, as POST /api/v1/messages."""
    session.check_csrf(csrf)
    session.principal.require(Permission.MESSAGE_SEND)
    recipients = [code.strip().upper() for code in re.split(r"[\s,]+", to) if code.strip()]
    raw = {
        "to": ["*"] if recipients == ["*"] else recipients,
        "subject": subject,
        "body": body,
        "handling": handling,
        "case_ref": case_ref.strip() or None,
    }
    values = {"to": to, "subject": subject, "body": body, "handling": handling, "case_ref": case_ref}
    try:
        data = MessageCreate.model_validate(raw)
    except PydanticValidationError as error:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in error.errors()]
        return render(
            request,
            "compose.html",
            session,
            status=422,
            values=values,
            errors=errors,
            handlings=[tlp.value for tlp in Tlp],
        )
    with declared(session):
        accepted = _node(request).messages.send(
            data, session.principal, purpose=session.purpose.value if session.purpose else None
        )
    return RedirectResponse(f"{PREFIX}/messages/{accepted.id}", status_code=303)


@router.get("/messages/{message_id}")
def read_message(request: Request, message_id: RecordId, session: SessionDep) -> Response:
    with declared(session):
        message = _node(request).messages.get(message_id, session.principal)
    return render(request, "message.html", session, message=message)


# -- administration and audit ---------------------------------------------------------------


@router.get("/admin/agreements")
def agreements(request: Request, session: SessionDep) -> Response:
    with declared(session):
        items = _node(request).policy.agreements(session.principal)
    return render(request, "agreements.html", session, items=items)


@router.get("/admin/agreements/{agreement_id}")
def agreement(
    request: Request,
    agreement_id: Slug,
    session: SessionDep,
) -> Response:
    with declared(session):
        read = _node(request).policy.agreement(agreement_id, session.principal)
    text = yaml.safe_dump(read.document.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    return render(request, "agreement.html", session, agreement=read, text=text)


@router.get("/admin/suspensions")
def suspensions(request: Request, session: SessionDep) -> Response:
    with declared(session):
        items = _node(request).policy.suspensions(session.principal, active_only=False)
    return render(request, "suspensions.html", session, items=items)


def _moment(name: str, value: str) -> dt.datetime | None:
    if not value.strip():
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationFailed(
            f"invalid {name}", errors=[FieldError(name, "must be a date or time, e.g. 2025-03-01T08:00")]
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@router.get("/audit")
def audit_events(
    request: Request,
    session: SessionDep,
    actor_id: Annotated[str, Query(max_length=36)] = "",
    tag: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    after: Annotated[int | None, Query(ge=-1)] = None,
) -> Response:
    """The auditors' search of the trail, as GET /api/v1/audit/events."""
    session.principal.require(Permission.AUDIT_READ)
    errors: list[FieldError] = []
    if actor_id.strip() and not _ID.match(actor_id.strip()):
        errors.append(FieldError("actor_id", "is not a user id"))
    if tag.strip() and not _TAG.match(tag.strip()):
        errors.append(FieldError("tag", "lower-case letters, '_' and ':' only, e.g. record:person:"))
    if errors:
        raise ValidationFailed("invalid search", errors=errors)
    query = EventQuery(
        actor_id=actor_id.strip() or None,
        tag_prefix=tag.strip() or None,
        since=_moment("since", since),
        until=_moment("until", until),
        after_seq=after,
        limit=100,
    )
    with declared(session):
        events = _node(request).audit.search(session.principal, query)
    values = {"actor_id": actor_id, "tag": tag, "since": since, "until": until}
    next_after = events[-1].seq if len(events) == query.limit else None
    return render(request, "audit.html", session, events=events, values=values, next_after=next_after)


@router.api_route("/{rest:path}", methods=["GET", "POST"])
def unknown(rest: str, session: SessionDep) -> Response:
    raise NotFound("no such page in the console")
