"""The message routes on the lean path (``polex.api.lean``): answered without FastAPI's
routing, dependency solving and response models.

- ``POST /api/v1/messages``: officers' and case systems send messages at rates close to the
  border checks'; on the sender's node FastAPI's generic machinery took about half of the
  interpreter's time a message, the sealing, storing and queueing the rest (py-spy,
  2026-11-30). A send is taken here when the body is one the endpoint's own request model
  (``MessageCreate``) validates and the purpose header, if sent, is within the route's
  bounds. It then runs the same ``MessageService.send`` in a worker thread and answers 202
  with the same ``MessageAccepted`` document.
- The three routes every message then crosses between nodes: the hub's intake of a relayed
  batch (``/api/v1/network/envelopes``), a recipient's inbox (``/api/v1/network/inbox``)
  and a sender's delivery reports (``/api/v1/network/receipts``). At 200 messages a second
  each hop runs about 50 rounds a second, a request each. A batch of envelopes, or a
  report the endpoint's model validates, from a node the node already knows (its token
  checked against the node's last member list, and checked again with the work) is taken
  here, with one worker thread for the work where the route took one for the caller's
  check and one for the work. A single envelope (not a batch) goes to the route, which
  answers it in its own shape.

Each route's tests send every request both ways and compare the answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError as PydanticValidationError

from polex.api.lean import PURPOSE, PURPOSE_MAX, LeanAnswer, LeanCall, NodeRoute, UserRoute, endpoint_route
from polex.domain.roles import Permission
from polex.message.endpoints import (
    accept_envelopes,
    batch_items,
    delivery_report,
    node_router,
    receive_envelopes,
    router,
    send,
)
from polex.message.schemas import DeliveryReports, MessageCreate

if TYPE_CHECKING:
    from polex.auth.principal import Principal
    from polex.bootstrap import Node


class SendMessage(UserRoute):
    permission = Permission.MESSAGE_SEND
    reads = frozenset({PURPOSE})

    def __init__(self) -> None:
        super().__init__(endpoint_route(router, send))

    async def answer(self, node: Node, call: LeanCall[Principal]) -> LeanAnswer | None:
        purpose = call.header(PURPOSE)
        if purpose is not None and len(purpose) > PURPOSE_MAX:
            return None
        try:
            data = MessageCreate.model_validate_json(call.body)
        except PydanticValidationError:
            return None  # the route says why, naming the field
        accepted = await run_in_threadpool(node.messages.send, data, call.caller, purpose=purpose)
        return LeanAnswer(202, orjson.dumps(accepted.model_dump(mode="json")))


_Take = Callable[["Node", list[dict[str, Any]], str], list[dict[str, Any]]]


def _accept(node: Node, batch: list[dict[str, Any]], caller: str) -> list[dict[str, Any]]:
    return node.messages.accept_batch(batch, caller=caller)


def _receive(node: Node, batch: list[dict[str, Any]], caller: str) -> list[dict[str, Any]]:
    return node.messages.receive_batch(batch, caller=caller)


class EnvelopeBatch(NodeRoute):
    """A batch of envelopes between nodes: at the hub, relayed by their sender
    (``accept_envelopes``); at a recipient, pushed by the hub (``receive_envelopes``)."""

    def __init__(self, endpoint: Any, take: _Take, status: int, member: str) -> None:
        super().__init__(endpoint_route(node_router, endpoint))
        self.take = take  # the service call, as the route makes it
        self.status = status
        self.member = member  # the answer's list: per envelope, as the route names it

    async def answer(self, node: Node, call: LeanCall[str]) -> LeanAnswer | None:
        batch = batch_items(call.body, "envelopes")  # a 400 for a body that is neither
        if batch is None:
            return None  # one envelope: the route answers it in its own shape
        items = await self.checked(node, call, lambda caller: self.take(node, batch, caller))
        return LeanAnswer(self.status, orjson.dumps({self.member: items}))


class ApplyDeliveryReports(NodeRoute):
    """At a sender: what became of its messages' recipients, from the hub (``delivery_report``)."""

    def __init__(self) -> None:
        super().__init__(endpoint_route(node_router, delivery_report))

    async def answer(self, node: Node, call: LeanCall[str]) -> LeanAnswer | None:
        try:
            body = DeliveryReports.model_validate_json(call.body)
        except PydanticValidationError:
            return None  # the route says why, naming the field
        await self.checked(node, call, lambda caller: node.messages.apply_reports(body.reports, caller=caller))
        return LeanAnswer(204, None)


def message_routes() -> list[UserRoute | NodeRoute]:
    return [
        SendMessage(),
        EnvelopeBatch(accept_envelopes, _accept, 202, "results"),
        EnvelopeBatch(receive_envelopes, _receive, 201, "receipts"),
        ApplyDeliveryReports(),
    ]
