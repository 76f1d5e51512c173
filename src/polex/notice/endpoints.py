"""``/api/v1/notices`` and ``/api/v1/diffusions``: drafting, the lifecycle's actions, reads
and lists, and the notice's files."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.base import RecordId
from polex.domain.notice import Action, AttachmentKind, Channel
from polex.domain.policy import Purpose
from polex.errors import BadRequest, FieldError
from polex.notice.schemas import ActionBody, FileRead, NoticeCreate, NoticePage, NoticeRead, NoticeUpdate
from polex.notice.service import MAX_FILE_BYTES, NoticeFilters, NoticeService
from polex.policy.service import PURPOSE_HEADER, parse_purpose
from polex.record.endpoints import parse_if_match

router = APIRouter(tags=["notices"])

USER_ACTIONS = (
    Action.SUBMIT,
    Action.ISSUE,
    Action.APPROVE,
    Action.REFUSE,
    Action.RETURN,
    Action.SUSPEND,
    Action.REINSTATE,
    Action.CANCEL,
    Action.EXTEND,
)

OptionalPurpose = Annotated[
    str | None,
    Header(
        alias=PURPOSE_HEADER,
        max_length=64,
        description="Why you read: required unless you are the notice's source or a hub reviewer",
    ),
]


def _service(node: Any) -> NoticeService:
    notices: NoticeService = node.notices
    return notices


def _purpose(value: str | None) -> Purpose | None:
    return parse_purpose(value) if value else None


def _etag(response: Response, read: NoticeRead) -> NoticeRead:
    response.headers["ETag"] = f'"{read.version}"'
    return read


def _channel_of(request: Request) -> Channel:
    return Channel.DIFFUSION if request.url.path.startswith("/api/v1/diffusions") else Channel.NOTICE


@router.post(
    "/api/v1/diffusions/{diffusion_id}/notice-request",
    response_model=NoticeRead,
    status_code=status.HTTP_201_CREATED,
    summary="Draft a notice request from one of your diffusions",
)
def notice_request(diffusion_id: RecordId, response: Response, principal: PrincipalDep, node: NodeDep) -> NoticeRead:
    return _etag(response, _service(node).request_notice(diffusion_id, principal))


for _prefix, _noun in (("/api/v1/notices", "notice"), ("/api/v1/diffusions", "diffusion")):

    @router.post(
        _prefix,
        response_model=NoticeRead,
        status_code=status.HTTP_201_CREATED,
        summary=f"Draft a {_noun}",
        description="The draft belongs to your agency; nothing leaves it before it is submitted "
        "(a notice, for the hub's review) or issued (a diffusion).",
    )
    async def create(
        body: NoticeCreate, request: Request, response: Response, principal: PrincipalDep, node: NodeDep
    ) -> NoticeRead:
        channel = _channel_of(request)
        if body.channel is not channel:
            raise BadRequest(
                f"this collection holds {channel.value}s",
                errors=[FieldError("channel", f"must be '{channel.value}' here")],
            )
        read = await run_in_threadpool(_service(node).create, body, principal, restrictions=body.restrictions)
        response.headers["Location"] = f"{request.url.path}/{read.id}"
        return _etag(response, read)

    @router.get(_prefix, response_model=NoticePage, summary=f"List {_noun}s")
    def list_(
        request: Request,
        principal: PrincipalDep,
        node: NodeDep,
        purpose: OptionalPurpose = None,
        scope: Annotated[
            str, Query(pattern="^(in_force|mine|review)$", description="in_force (default), mine, or review (hub)")
        ] = "in_force",
        status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
        notice_type: Annotated[str | None, Query(max_length=32)] = None,
        owner_country: Annotated[str | None, Query(pattern="^[A-Z]{3}$")] = None,
        name: Annotated[str | None, Query(max_length=100)] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> NoticePage:
        filters = NoticeFilters(
            scope=scope,
            status=status_,
            notice_type=notice_type,
            channel=_channel_of(request).value,
            owner_country=owner_country,
            name=name,
        )
        items, next_cursor = _service(node).list_notices(
            principal, filters, purpose=_purpose(purpose), cursor=cursor, limit=limit
        )
        return NoticePage(items=items, next_cursor=next_cursor)

    @router.get(f"{_prefix}/{{notice_id}}", response_model=NoticeRead, summary=f"Read a {_noun}")
    def read(
        notice_id: RecordId, response: Response, principal: PrincipalDep, node: NodeDep, purpose: OptionalPurpose = None
    ) -> NoticeRead:
        return _etag(response, _service(node).get(notice_id, principal, purpose=_purpose(purpose)))

    @router.put(f"{_prefix}/{{notice_id}}", response_model=NoticeRead, summary=f"Replace a {_noun} (source only)")
    async def replace(
        notice_id: RecordId,
        body: NoticeUpdate,
        response: Response,
        principal: PrincipalDep,
        node: NodeDep,
        if_match: Annotated[str | None, Header(description="ETag of the version replaced")] = None,
    ) -> NoticeRead:
        version = parse_if_match(if_match) or body.version
        read = await run_in_threadpool(
            _service(node).update, notice_id, body, principal, version=version, restrictions=body.restrictions
        )
        return _etag(response, read)

    @router.post(
        f"{_prefix}/{{notice_id}}/files",
        response_model=FileRead,
        status_code=status.HTTP_201_CREATED,
        summary=f"Upload a photo or document to a {_noun} (source only)",
        description=f"The body is the file itself (at most {MAX_FILE_BYTES} bytes) with its Content-Type; "
        "name it in the notice's attachments by the id returned.",
    )
    async def upload(
        notice_id: RecordId,
        request: Request,
        principal: PrincipalDep,
        node: NodeDep,
        kind: Annotated[AttachmentKind, Query()] = AttachmentKind.PHOTO,
        name: Annotated[str | None, Query(max_length=200)] = None,
        public: Annotated[bool, Query(description="May appear in the public extract (photos)")] = False,
    ) -> FileRead:
        data = await request.body()
        return await run_in_threadpool(
            _service(node).add_file,
            notice_id,
            data,
            principal,
            media_type=request.headers.get("content-type", "application/octet-stream"),
            kind=kind,
            name=name,
            public=public,
        )

    @router.post(
        f"{_prefix}/{{notice_id}}/{{action}}",
        response_model=NoticeRead,
        summary=f"Take a step in a {_noun}'s lifecycle",
        description="submit, issue (diffusions), approve, refuse, return, suspend, reinstate (hub reviewers), "
        "cancel (source or hub), extend (source, with valid_until). refuse, return, suspend, reinstate, cancel "
        "and extend need a reason.",
    )
    async def act(
        notice_id: RecordId,
        action: Action,
        response: Response,
        principal: PrincipalDep,
        node: NodeDep,
        body: ActionBody | None = None,
        if_match: Annotated[str | None, Header(description="ETag of the version acted on")] = None,
    ) -> NoticeRead:
        if action not in USER_ACTIONS:
            raise BadRequest(
                f"'{action}' is not an action a user takes",
                errors=[FieldError("action", f"one of {', '.join(a.value for a in USER_ACTIONS)}")],
            )
        body = body or ActionBody()
        read = await run_in_threadpool(
            _service(node).act,
            notice_id,
            action,
            principal,
            reason=body.reason,
            version=parse_if_match(if_match) or body.version,
            valid_until=body.valid_until,
        )
        return _etag(response, read)

    @router.get(f"{_prefix}/{{notice_id}}/files/{{file_id}}", summary=f"Download a file of a {_noun}")
    def download(
        notice_id: RecordId,
        file_id: RecordId,
        principal: PrincipalDep,
        node: NodeDep,
        purpose: OptionalPurpose = None,
    ) -> Response:
        stored = _service(node).file(notice_id, file_id, principal, purpose=_purpose(purpose))
        return Response(stored.data, media_type=stored.media_type, headers={"Cache-Control": "private, no-store"})


@router.get("/api/v1/notice-types", summary="The notice types of this network")
def notice_types(principal: PrincipalDep, node: NodeDep) -> list[dict[str, Any]]:
    return [spec.model_dump(mode="json") for spec in _service(node).types]
