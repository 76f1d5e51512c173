"""The replica feed between nodes, and the national copy's status for its users."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.base import SchemaModel
from polex.domain.roles import Permission
from polex.errors import NotFound
from polex.message.endpoints import NodeCaller


class ReplicaPushBody(SchemaModel):
    changes: list[dict[str, Any]] = Field(max_length=5000)


node_router = APIRouter(prefix="/api/v1/network", tags=["network"])
router = APIRouter(prefix="/api/v1/replica", tags=["replica"])


@node_router.get("/replica", summary="Changes to the records the calling node's country may copy (hub only)")
async def replica_changes(
    node: NodeDep,
    caller: NodeCaller,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    if node.replica_feed is None:
        raise NotFound("only the hub serves a replica")
    feed = node.replica_feed
    changes: dict[str, Any] = await run_in_threadpool(lambda: feed.changes(caller, cursor, limit=limit))
    return changes


@router.get("", summary="This node's copy of the hub's records: how current it is")
async def replica_status(principal: PrincipalDep, node: NodeDep) -> dict[str, Any]:
    principal.require(Permission.NODE_READ)
    if node.replica is None:
        raise NotFound("the hub holds the records itself; only national nodes keep a replica")
    status: dict[str, Any] = await run_in_threadpool(node.replica.status)
    return status


@router.post("/resync", summary="Drop the copy and pull it again from the hub")
async def replica_resync(principal: PrincipalDep, node: NodeDep) -> dict[str, Any]:
    if node.replica is None:
        raise NotFound("the hub holds the records itself; only national nodes keep a replica")
    replica = node.replica
    applied = await run_in_threadpool(replica.resync, principal)
    return {"changes": applied, **replica.status()}


@node_router.post("/replica/push", summary="Changes the hub pushes the moment they happen (national nodes only)")
async def replica_push(body: ReplicaPushBody, node: NodeDep, caller: NodeCaller) -> dict[str, Any]:
    if node.replica is None:
        raise NotFound("only national nodes keep a replica")
    replica = node.replica
    applied = await run_in_threadpool(replica.apply_pushed, body.changes, caller=caller)
    return {"applied": applied}
