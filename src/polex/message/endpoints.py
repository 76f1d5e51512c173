"""Messages over HTTP: users send and read; nodes hand envelopes and reports to each other
(authenticated by node tokens, ``Authorization: PolexNode <token>``)."""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.base import RecordId
from polex.message.schemas import (
    DeliveryReceipt,
    DeliveryReport,
    EnvelopeAccepted,
    MessageAccepted,
    MessageCreate,
    MessageList,
    MessageRead,
)

router = APIRouter(prefix="/api/v1/messages", tags=["messages"])
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
    return MessageList(items=node.messages.list(principal, box, limit=limit))


@router.get("/{message_id}", response_model=MessageRead, summary="A message, with its status per recipient")
def read_message(message_id: RecordId, principal: PrincipalDep, node: NodeDep) -> MessageRead:
    return node.messages.get(message_id, principal)


@node_router.post("/envelopes", response_model=EnvelopeAccepted, status_code=status.HTTP_202_ACCEPTED)
async def accept_envelope(caller: NodeCaller, request: Request, node: NodeDep) -> EnvelopeAccepted:
    """At the hub: an envelope from its sender node, stored once and queued per recipient."""
    raw = await request.body()
    stored = await run_in_threadpool(node.messages.accept, raw, caller=caller)
    return EnvelopeAccepted(message_id=_message_id(raw), duplicate=not stored)


def _message_id(raw: bytes) -> str:
    """The routing id of an envelope already checked (parse_envelope refused anything else)."""
    return str(orjson.loads(raw)["routing"]["id"])


@node_router.post("/inbox", response_model=DeliveryReceipt, status_code=status.HTTP_201_CREATED)
async def receive_envelope(caller: NodeCaller, request: Request, node: NodeDep) -> DeliveryReceipt:
    """At a recipient: an envelope the hub pushes; answered with a signed delivery receipt."""
    raw = await request.body()
    receipt = await run_in_threadpool(node.messages.receive, raw, caller=caller)
    return DeliveryReceipt(message_id=_message_id(raw), receipt=receipt)


@node_router.post("/receipts", status_code=status.HTTP_204_NO_CONTENT)
async def delivery_report(caller: NodeCaller, body: DeliveryReport, node: NodeDep) -> Response:
    """At a sender: what became of one recipient of its message."""
    await run_in_threadpool(node.messages.apply_report, body, caller=caller)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
