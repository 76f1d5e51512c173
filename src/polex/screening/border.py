"""The border routes' lean path (``polex.api.lean``): ``POST /api/v1/documents/check`` and
``POST /api/v1/vehicles/check`` answered without FastAPI's routing, dependency solving and
response model.

Border posts in many countries call these two routes, one document a request, hundreds of
times a second; FastAPI's generic machinery cost more than the check itself (about 40 % of
the hub's CPU a check, measured with py-spy). Besides the lean layer's common case (a
remembered credential of a caller allowed to read records, a JSON body), a check is taken
here when:

- the body is one the endpoints' own request model (``DocumentCheck``, ``VehicleCheck``)
  validates, and the purposes in the body and the header agree;
- it is answered from memory (``ScreeningService.check_in_memory``: a few items, nothing on
  file under their keys, a node that asks no hub), its audit event committed through the
  audit trail's group commit before the answer leaves; anything else (a possible hit, a
  large batch, a national node) runs the endpoints' full check in a worker thread, as they
  do, hits committed with their audit event before any data leaves.

The answer is the same ``CheckResults`` document the route's response model produces
(tests/e2e/test_border_checks.py sends every request both ways and compares the answers and
the audit events).

At the hub, national nodes' border checks arrive through FIND (``/api/v1/network/find/
documents`` and ``/vehicles``, one request per check a node cannot answer from its replica
alone); the route took three worker-thread hops (the caller's check, the relayed user's
principal, the check) beside FastAPI's routing. ``FindCheck`` takes a request from a node
already known (``polex.api.lean.NodeRoute``) whose body the route's model (``FindItems``)
validates, and runs the three in one worker thread; tests/e2e/test_find_lean.py compares it
with the route.
"""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import to_jsonable_python

from polex.api.lean import PURPOSE, PURPOSE_MAX, LeanAnswer, LeanCall, NodeRoute, UserRoute, endpoint_route
from polex.audit.context import RequestInfo, current_request
from polex.audit.service import AuditTrail, EventDraft
from polex.domain.roles import Permission
from polex.errors import BadRequest
from polex.screening.endpoints import (
    check_documents,
    check_vehicles,
    find_documents,
    find_vehicles,
    node_router,
    replica_note,
    router,
    screening_purpose,
)
from polex.screening.online import FindItems, hub_principal
from polex.screening.schemas import DocumentCheck, VehicleCheck

if TYPE_CHECKING:
    from polex.auth.principal import Principal
    from polex.bootstrap import Node

# The route's response model (CheckResults) written by orjson: the same bytes as pydantic's
# serialiser (datetimes, should a record hold one, are handed to pydantic's own encoder).
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME
# Larger batches are read and looked up in a worker thread, as the route does: a thousand
# MRZs parsed on the event loop would hold every other request for milliseconds.
_LOOP_ITEMS = 16


class _AuditGroups:
    """The audit events of checks answered on the event loop, committed in groups.

    Each check adds its event and waits. One flush at a time takes every event added so far
    to a worker thread and commits them in one transaction (``AuditTrail.record_requests``);
    the checks that arrive meanwhile make the next group. Under load a transaction carries
    as many events as arrived during the previous commit, at a fraction of a lone commit's
    cost an event; a lone check still commits at once. Everything but the commit runs on the
    event loop, so the pending list needs no lock.
    """

    def __init__(self, audit: AuditTrail, executor: ThreadPoolExecutor) -> None:
        self._audit = audit
        self._executor = executor
        self._pending: list[tuple[RequestInfo, list[EventDraft], asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.groups = 0  # transactions committed (tests and benchmarks read the grouping)
        self.events = 0

    async def record(self, draft: EventDraft) -> None:
        """Returns once the event is committed; raises what kept it out."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((current_request.get(), [draft], future))
        if self._flushing is None:
            self._flushing = loop.create_task(self._flush())
        await asyncio.shield(future)  # a client that goes away does not cancel its own event

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                group, self._pending = self._pending, []
                requests = [(request, drafts) for request, drafts, _ in group]
                try:
                    outcomes: list[int | BaseException] = await loop.run_in_executor(
                        self._executor, self._audit.record_requests, requests
                    )
                except Exception as error:  # the executor itself failed: nobody's events are known written
                    outcomes = [error] * len(group)
                self.groups += 1
                self.events += len(group)
                for (_, _, future), outcome in zip(group, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(None)
        finally:
            self._flushing = None


class BorderCheck(UserRoute):
    """One border route's common case; both routes share one group commit of audit events."""

    permission = Permission.RECORD_READ
    reads = frozenset({PURPOSE})

    def __init__(
        self, endpoint: Any, model: type[DocumentCheck] | type[VehicleCheck], items: str, kind: str, audit: _AuditGroups
    ) -> None:
        super().__init__(endpoint_route(router, endpoint))
        self.model = model
        self.items = items  # the body's list of items
        self.kind = kind  # the records they are looked up in
        self.audit = audit
        self.full_checks = 0  # checks memory could not answer (tests and benchmarks read it)

    async def answer(self, node: Node, call: LeanCall[Principal]) -> LeanAnswer | None:
        header_purpose = call.header(PURPOSE)
        if header_purpose is not None and len(header_purpose) > PURPOSE_MAX:
            return None
        try:
            check = self.model.model_validate_json(call.body)
            purpose = screening_purpose(check.purpose, header_purpose)
        except (PydanticValidationError, BadRequest):
            return None  # the route says why
        principal = call.caller
        items = [item.model_dump(exclude_none=True) for item in getattr(check, self.items)]
        screening = node.screening
        note: dict[str, Any] = {}
        case_reference = check.case_reference
        quick = None
        if len(items) <= _LOOP_ITEMS:
            quick = screening.check_in_memory(
                self.kind, items, principal, purpose=purpose, case_reference=case_reference
            )
        if quick is not None:
            results, draft = quick
            # Durable before the answer leaves; checks that arrive while a group commits share
            # the next transaction, each event under its own request's id and declarations.
            await self.audit.record(draft)
        else:
            self.full_checks += 1
            full = screening.check_documents if self.kind == "travel_document" else screening.check_vehicles
            results = await run_in_threadpool(
                lambda: full(items, principal, purpose=purpose, case_reference=case_reference, note=note)
            )
        answer = {"results": results, "replica": None, "hub": None, **note}
        answer.update(await replica_note(node, purpose, note))
        return LeanAnswer(200, orjson.dumps(answer, default=to_jsonable_python, option=_ORJSON_OPTIONS))


def border_checks(node: Node) -> list[BorderCheck]:
    """The two border routes' lean paths, their audit events committed by one thread."""
    threads = ThreadPoolExecutor(1, thread_name_prefix="border-audit")
    audit = _AuditGroups(node.audit, threads)
    weakref.finalize(audit, threads.shutdown, wait=False)  # with the routes
    return [
        BorderCheck(check_documents, DocumentCheck, "documents", "travel_document", audit),
        BorderCheck(check_vehicles, VehicleCheck, "vehicles", "vehicle", audit),
    ]


class FindCheck(NodeRoute):
    """At the hub: a national node's document or vehicle checks for its user (FIND)."""

    def __init__(self, endpoint: Any, kind: str) -> None:
        super().__init__(endpoint_route(node_router, endpoint))
        self.kind = kind

    async def answer(self, node: Node, call: LeanCall[str]) -> LeanAnswer | None:
        try:
            body = FindItems.model_validate_json(call.body)
        except PydanticValidationError:
            return None  # the route says why, naming the field
        screening = node.screening
        check = screening.check_documents if self.kind == "travel_document" else screening.check_vehicles

        def for_the_caller(caller: str) -> list[dict[str, Any]]:
            principal = hub_principal(node.uow, node.network_view, caller, body.by)
            return check(body.items, principal, purpose=body.purpose, case_reference=body.case_reference, via=caller)

        results = await self.checked(node, call, for_the_caller)
        return LeanAnswer(200, orjson.dumps({"results": results}, default=to_jsonable_python, option=_ORJSON_OPTIONS))


def find_checks(node: Node) -> list[FindCheck]:
    """The hub's FIND checks on the lean path; none at a national node (the routes say 404)."""
    if not node.settings.is_hub:
        return []
    return [FindCheck(find_documents, "travel_document"), FindCheck(find_vehicles, "vehicle")]
