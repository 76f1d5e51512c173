"""``POST /api/v1/messages`` on the lean path (``polex.api.lean``): a message sent without
FastAPI's routing, dependency solving and response model.

Officers' and case systems send messages at rates close to the border checks'; on the
sender's node FastAPI's generic machinery took about half of the interpreter's time a
message, the sealing, storing and queueing the rest (py-spy, 2026-11-30). Besides the lean
layer's common case (a remembered credential of a caller allowed to send, a JSON body), a
send is taken here when the body is one the endpoint's own request model (``MessageCreate``)
validates and the purpose header, if sent, is within the route's bounds. It then runs the
same ``MessageService.send`` in a worker thread and answers 202 with the same
``MessageAccepted`` document; the route's tests send every request both ways.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError as PydanticValidationError

from polex.api.lean import PURPOSE, PURPOSE_MAX, LeanAnswer, LeanCall, LeanRoute, endpoint_route
from polex.domain.roles import Permission
from polex.message.endpoints import router, send
from polex.message.schemas import MessageCreate

if TYPE_CHECKING:
    from polex.bootstrap import Node


class SendMessage(LeanRoute):
    permission = Permission.MESSAGE_SEND
    reads = frozenset({PURPOSE})

    def __init__(self) -> None:
        super().__init__(endpoint_route(router, send))

    async def answer(self, node: Node, call: LeanCall) -> LeanAnswer | None:
        purpose = call.header(PURPOSE)
        if purpose is not None and len(purpose) > PURPOSE_MAX:
            return None
        try:
            data = MessageCreate.model_validate_json(call.body)
        except PydanticValidationError:
            return None  # the route says why, naming the field
        accepted = await run_in_threadpool(node.messages.send, data, call.principal, purpose=purpose)
        return LeanAnswer(202, orjson.dumps(accepted.model_dump(mode="json")))
