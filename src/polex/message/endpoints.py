"""Messages over HTTP: users send and read; nodes hand envelopes and reports to each other
(authenticated by node tokens, ``Authorization: PolexNode <token>``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.base import RecordId
from polex.errors import BadRequest, FieldError
from polex.message.schemas import (
    DeliveryReceipt,
    DeliveryReports,
    EnvelopeAccepted,
    MessageAccepted,
    MessageCreate,
    MessageList,
    MessageRead,
)

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])
MAX_BATCH_BYTES = 64 * 1024 * 1024
node_router = APIRouter(prefix="/api/v1/network", tags=["network"])


async def node_caller(
    node: NodeDep, authorization: Annotated[str | None, Header(alias="Authorization", max_length=8192)] = None
) -> str:
    """The node behind the request's node token; checked before the body is read."""
    caller: str = await run_in_threadpool(node.network_view.caller, authorization)
    return caller


NodeCaller = Annotated[str, Depends(node_caller)]


@router.post("", response_model=MessageAccepted, status_code=status.HTTP_202_ACCEPTED)
def send(body: MessageCreate, principal: PrincipalDep, node: NodeDep) -> MessageAccepted:
    """Signed and encrypted to the recipients' nodes, stored, then relayed through the hub."""
    return node.messages.send(body, principal)


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


@node_router.post("/envelopes", status_code=status.HTTP_202_ACCEPTED, response_model=None)
async def accept_envelopes(caller: NodeCaller, request: Request, node: NodeDep) -> EnvelopeAccepted | JSONResponse:
    """At the hub: one envelope, or a batch ``{"envelopes": [...]}``, from its sender node,
    each stored once and queued per recipient. A batch answers per envelope."""
    raw = await request.body()
    batch = _batch(raw, "envelopes")
    if batch is None:
        stored = await run_in_threadpool(node.messages.accept, raw, caller=caller)
        return EnvelopeAccepted(message_id=_message_id(raw), duplicate=not stored)
    results = await run_in_threadpool(node.messages.accept_batch, batch, caller=caller)
    return JSONResponse({"results": results}, status_code=status.HTTP_202_ACCEPTED)


def _batch(raw: bytes, member: str) -> list[dict[str, Any]] | None:
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
    batch = _batch(raw, "envelopes")
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
