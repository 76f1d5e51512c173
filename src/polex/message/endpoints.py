"""Messages over HTTP: users send and read, upload and download attachments; nodes hand
envelopes, attachment chunks and reports to each other (authenticated by node tokens,
``Authorization: PolexNode <token>``, and over HTTPS by the node's client certificate too)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from polex.api.dependencies import PrincipalDep, get_node
from polex.api.server import client_certificate
from polex.crypto.attachment import MAX_CHUNKS
from polex.domain.base import RecordId
from polex.errors import BadRequest, FieldError, PayloadTooLarge
from polex.message.chunks import ChunkTooLarge, ChunkWriter, content_digest, parse_content_digest
from polex.message.schemas import (
    AttachmentCreate,
    AttachmentFetched,
    AttachmentUploadRead,
    DeliveryReceipt,
    DeliveryReports,
    EnvelopeAccepted,
    HubAttachmentDeclared,
    HubAttachmentStatus,
    MessageAccepted,
    MessageCreate,
    MessageList,
    MessageRead,
)
from polex.policy.service import PURPOSE_HEADER

if TYPE_CHECKING:
    from polex.bootstrap import Node


async def _node(request: Request) -> Node:
    """The node's container. A coroutine: FastAPI runs a plain function dependency in its
    thread pool, a hop (and a wake-up of a worker thread) on every request for nothing."""
    return get_node(request)


NodeDep = Annotated["Node", Depends(_node)]
router = APIRouter(prefix="/api/v1/messages", tags=["messages"])
MAX_BATCH_BYTES = 64 * 1024 * 1024
node_router = APIRouter(prefix="/api/v1/network", tags=["network"])
attachments_router = APIRouter(prefix="/api/v1/attachments", tags=["messages"])
ChunkIndex = Annotated[int, Path(ge=0, lt=MAX_CHUNKS, description="The chunk's position, from 0")]
ContentDigest = Annotated[
    str | None,
    Header(alias="Content-Digest", max_length=1000, description="The chunk's SHA-256: sha-256=:<base64>: (RFC 9530)"),
]


async def node_caller(
    request: Request,
    node: NodeDep,
    authorization: Annotated[str | None, Header(alias="Authorization", max_length=8192)] = None,
) -> str:
    """The node behind the request's node token and, over mutual TLS, its certificate;
    checked before the body is read."""
    certificate = client_certificate(request.scope)
    caller: str = await run_in_threadpool(node.network_view.caller, authorization, certificate)
    return caller


NodeCaller = Annotated[str, Depends(node_caller)]


@router.post("", response_model=MessageAccepted, status_code=status.HTTP_202_ACCEPTED)
def send(
    body: MessageCreate,
    principal: PrincipalDep,
    node: NodeDep,
    purpose: Annotated[
        str | None,
        Header(alias=PURPOSE_HEADER, max_length=64, description="Why records are forwarded (needed with records)"),
    ] = None,
) -> MessageAccepted:
    """Signed and encrypted to the recipients' nodes, stored, then relayed through the hub.
    Forwarded records go as the policy decides for every recipient, for the declared purpose."""
    return node.messages.send(body, principal, purpose=purpose)


@router.get("", response_model=MessageList)
def list_messages(
    principal: PrincipalDep,
    node: NodeDep,
    box: Annotated[Literal["inbox", "outbox"], Query()] = "inbox",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MessageList:
    return MessageList(items=node.messages.messages(principal, box, limit=limit))


@router.get("/{message_id}", response_model=MessageRead, summary="A message, with its status per recipient")
def read_message(message_id: RecordId, principal: PrincipalDep, node: NodeDep) -> MessageRead:
    return node.messages.get(message_id, principal)


@router.get(
    "/{message_id}/attachments/{attachment_id}",
    response_class=StreamingResponse,
    summary="An attachment of a message, streamed (a single byte range too)",
    responses={200: {"content": {"application/octet-stream": {}}}, 206: {"description": "The range asked"}},
)
def download_attachment(
    message_id: RecordId,
    attachment_id: RecordId,
    principal: PrincipalDep,
    node: NodeDep,
    range_header: Annotated[str | None, Header(alias="Range", max_length=200)] = None,
) -> StreamingResponse:
    """Received attachments once fetched from the hub and verified (``status: available``),
    sent ones at any time. ``Repr-Digest`` gives the whole file's SHA-256."""
    download = node.messages.attachments.download(message_id, attachment_id, principal, range_header)
    return StreamingResponse(
        download.content,
        status_code=status.HTTP_206_PARTIAL_CONTENT if download.partial else status.HTTP_200_OK,
        media_type=download.media_type,
        headers=download.headers(),
    )


# -- uploads ------------------------------------------------------------------------------------


def _digest(header: str | None) -> str:
    try:
        return parse_content_digest(header)
    except ValueError as error:
        raise BadRequest("the chunk's SHA-256 is needed", errors=[FieldError("Content-Digest", str(error))]) from None


async def _receive(request: Request, writer: ChunkWriter, what: str) -> None:
    """The request's body into ``writer``, as it streams in: never whole in memory."""
    try:
        async for piece in request.stream():
            writer.write(piece)
    except ChunkTooLarge as error:
        raise PayloadTooLarge(
            f"{what} has more than the {error.limit} bytes it must have",
            errors=[FieldError("body", f"{error.limit} bytes")],
        ) from None
    except ClientDisconnect:
        raise BadRequest(f"{what} ended before all its bytes arrived") from None


@attachments_router.post("", response_model=AttachmentUploadRead, status_code=status.HTTP_201_CREATED)
def create_upload(body: AttachmentCreate, principal: PrincipalDep, node: NodeDep) -> JSONResponse:
    """Declare a file to upload in chunks of ``chunk_size`` bytes; send it with a message
    (``attachments``) once complete. Only your agency sees it."""
    created = node.messages.attachments.uploads.create(body, principal)
    return JSONResponse(
        created.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED,
        headers={"Location": f"/api/v1/attachments/{created.id}"},
    )


@attachments_router.get("/{upload_id}", response_model=AttachmentUploadRead, summary="An upload, with what is missing")
def read_upload(upload_id: RecordId, principal: PrincipalDep, node: NodeDep) -> AttachmentUploadRead:
    return node.messages.attachments.uploads.get(upload_id, principal)


@attachments_router.put("/{upload_id}/chunks/{chunk}", response_model=AttachmentUploadRead)
async def put_upload_chunk(
    upload_id: RecordId,
    chunk: ChunkIndex,
    request: Request,
    principal: PrincipalDep,
    node: NodeDep,
    digest: ContentDigest = None,
) -> AttachmentUploadRead:
    """One chunk, as raw bytes: exactly ``chunk_size`` of them but for the last. Chunks go in
    any order; the same chunk again is a no-op (resume after an interruption)."""
    uploads = node.messages.attachments.uploads
    expected = _digest(digest)
    slot = await run_in_threadpool(uploads.slot, upload_id, chunk, principal)
    with uploads.writer(slot) as writer:
        await _receive(request, writer, f"chunk {chunk}")
        result: AttachmentUploadRead = await run_in_threadpool(uploads.store_chunk, slot, writer, expected, principal)
    return result


@attachments_router.post("/{upload_id}/complete", response_model=AttachmentUploadRead)
def complete_upload(upload_id: RecordId, principal: PrincipalDep, node: NodeDep) -> AttachmentUploadRead:
    """Check that all chunks arrived and make the file declared (size and SHA-256)."""
    return node.messages.attachments.uploads.complete(upload_id, principal)


@attachments_router.delete("/{upload_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_upload(upload_id: RecordId, principal: PrincipalDep, node: NodeDep) -> Response:
    """Drop an upload not sent (uploads never sent are dropped after a week anyway)."""
    node.messages.attachments.uploads.delete(upload_id, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@node_router.post("/envelopes", status_code=status.HTTP_202_ACCEPTED, response_model=None)
async def accept_envelopes(caller: NodeCaller, request: Request, node: NodeDep) -> EnvelopeAccepted | JSONResponse:
    """At the hub: one envelope, or a batch ``{"envelopes": [...]}``, from its sender node,
    each stored once and queued per recipient. A batch answers per envelope."""
    raw = await request.body()
    batch = batch_items(raw, "envelopes")
    if batch is None:
        stored = await run_in_threadpool(node.messages.accept, raw, caller=caller)
        return EnvelopeAccepted(message_id=_message_id(raw), duplicate=not stored)
    results = await run_in_threadpool(node.messages.accept_batch, batch, caller=caller)
    return JSONResponse({"results": results}, status_code=status.HTTP_202_ACCEPTED)


def batch_items(raw: bytes, member: str) -> list[dict[str, Any]] | None:
    """The items of a batch body, None for a single envelope; a 400 for anything else."""
    if len(raw) > MAX_BATCH_BYTES:
        raise BadRequest("the batch is too large", errors=[FieldError(member, f"at most {MAX_BATCH_BYTES} bytes")])
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest("the body is not JSON", errors=[FieldError("body", str(error))]) from None
    if not isinstance(document, dict) or member not in document:
        return None
    items = document[member]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items) or len(items) > 1000:
        raise BadRequest("a batch is a list of at most 1,000 envelopes", errors=[FieldError(member, "invalid")])
    return items


def _message_id(raw: bytes) -> str:
    """The routing id of an envelope already checked (parse_envelope refused anything else)."""
    return str(orjson.loads(raw)["routing"]["id"])


@node_router.post("/inbox", status_code=status.HTTP_201_CREATED, response_model=None)
async def receive_envelopes(caller: NodeCaller, request: Request, node: NodeDep) -> DeliveryReceipt | JSONResponse:
    """At a recipient: an envelope, or a batch ``{"envelopes": [...]}``, the hub pushes;
    answered with delivery receipts this node signs (per envelope, or why it was refused)."""
    raw = await request.body()
    batch = batch_items(raw, "envelopes")
    if batch is None:
        receipt = await run_in_threadpool(node.messages.receive, raw, caller=caller)
        return DeliveryReceipt(message_id=_message_id(raw), receipt=receipt)
    receipts = await run_in_threadpool(node.messages.receive_batch, batch, caller=caller)
    return JSONResponse({"receipts": receipts}, status_code=status.HTTP_201_CREATED)


@node_router.post("/receipts", status_code=status.HTTP_204_NO_CONTENT)
async def delivery_report(caller: NodeCaller, body: DeliveryReports, node: NodeDep) -> Response:
    """At a sender: what became of recipients of its messages (a batch from the hub)."""
    await run_in_threadpool(node.messages.apply_reports, body.reports, caller=caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- attachments between nodes, through the hub's store -------------------------------------------


@node_router.put("/attachments/{attachment_id}", response_model=HubAttachmentStatus)
async def declare_attachment(
    attachment_id: RecordId, caller: NodeCaller, body: HubAttachmentDeclared, node: NodeDep
) -> HubAttachmentStatus:
    """At the hub: a sender's node declares an attachment of its message; again, to learn
    how far its chunks got."""
    result: HubAttachmentStatus = await run_in_threadpool(
        node.messages.attachments.hub.declare, attachment_id, body, caller=caller
    )
    return result


@node_router.get("/attachments/{attachment_id}", response_model=HubAttachmentStatus)
async def attachment_status(attachment_id: RecordId, caller: NodeCaller, node: NodeDep) -> HubAttachmentStatus:
    result: HubAttachmentStatus = await run_in_threadpool(
        node.messages.attachments.hub.status, attachment_id, caller=caller
    )
    return result


@node_router.put("/attachments/{attachment_id}/chunks/{chunk}", response_model=HubAttachmentStatus)
async def put_attachment_chunk(
    attachment_id: RecordId,
    chunk: ChunkIndex,
    caller: NodeCaller,
    request: Request,
    node: NodeDep,
    digest: ContentDigest = None,
) -> HubAttachmentStatus:
    """At the hub: the next sealed chunk from the sender's node, checked against its declaration."""
    store = node.messages.attachments.hub
    expected = _digest(digest)
    slot = await run_in_threadpool(store.chunk_slot, attachment_id, chunk, caller=caller)
    with node.messages.attachments.writer(slot) as writer:
        await _receive(request, writer, f"chunk {chunk}")
        result: HubAttachmentStatus = await run_in_threadpool(store.store_chunk, slot, writer, expected, caller=caller)
    return result


class _ChunkFile(FileResponse):
    chunk_size = 1024 * 1024  # read and sent a MiB at a time, not Starlette's 64 KiB: 8 hops a chunk, not 128


@node_router.get(
    "/attachments/{attachment_id}/chunks/{chunk}",
    response_class=_ChunkFile,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def get_attachment_chunk(
    attachment_id: RecordId, chunk: ChunkIndex, caller: NodeCaller, node: NodeDep
) -> FileResponse:
    """At the hub: a sealed chunk, for a recipient of the message it came with."""
    path, sha256, _ = await run_in_threadpool(node.messages.attachments.hub.chunk, attachment_id, chunk, caller=caller)
    return _ChunkFile(path, media_type="application/octet-stream", headers={"Content-Digest": content_digest(sha256)})


@node_router.post("/attachments/{attachment_id}/fetched", status_code=status.HTTP_204_NO_CONTENT)
async def attachment_fetched(
    attachment_id: RecordId, caller: NodeCaller, body: AttachmentFetched, node: NodeDep
) -> Response:
    """At the hub: a recipient has what it needs of an attachment (or refused it)."""
    await run_in_threadpool(
        node.messages.attachments.hub.fetched, attachment_id, body.outcome, body.reason, caller=caller
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


events_router = APIRouter(tags=["events"])
KEEP_ALIVE_SECONDS = 15.0


@events_router.get(
    "/api/v1/events",
    summary="Server-Sent Events: messages, delivery statuses and hits on your records, as far as you may see them",
    response_class=StreamingResponse,
)
async def events(
    request: Request,
    principal: PrincipalDep,
    node: NodeDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20, pattern=r"^\d+$")] = None,
) -> StreamingResponse:
    """Each event names what happened and the ids to fetch through the API; a stream ends
    when its user is suspended or falls too far behind, and resumes with Last-Event-ID."""
    hub = node.events
    subscription = hub.subscribe(
        principal.permissions,
        agency_id=principal.agency_id,
        after=int(last_event_id) if last_event_id else None,
    )

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            while not subscription.overflowed:
                if await request.is_disconnected():
                    break
                try:
                    event = await asyncio.wait_for(subscription.queue.get(), timeout=KEEP_ALIVE_SECONDS)
                except TimeoutError:
                    if node.policy.suspension_of(principal) is not None:
                        break
                    yield ": keep-alive\n\n"
                    continue
                data = orjson.dumps(dict(event.data)).decode()
                yield f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"
        finally:
            hub.unsubscribe(subscription)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
