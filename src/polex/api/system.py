"""Health, metrics and what this node is."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from polex import SCHEMA_VERSION, __version__
from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.roles import Permission

router = APIRouter(tags=["system"])


class Health(BaseModel):
    status: str
    node: str
    role: str
    database: str


class NodeInfo(BaseModel):
    name: str
    country: str
    role: str
    version: str
    schema_version: str
    base_url: str


@router.get("/healthz", response_model=Health, summary="Liveness and database reachability (no login)")
async def healthz(node: NodeDep, response: Response) -> Health:
    database_ok = await run_in_threadpool(node.database_ok)
    if not database_ok:
        response.status_code = 503
    # Deliberately little: this endpoint answers anyone, so it names no record or user.
    return Health(
        status="ok" if database_ok else "degraded",
        node=node.settings.node_name,
        role=node.settings.node_role.value,
        database="ok" if database_ok else "unreachable",
    )


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness for traffic (no login: probes cannot log in); names checks, never data",
)
async def readyz(node: NodeDep, response: Response) -> Readiness:
    checks = await run_in_threadpool(node.readiness)
    ready = all(checks.values())
    if not ready:
        response.status_code = 503
    return Readiness(ready=ready, checks=checks)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(principal: PrincipalDep, node: NodeDep) -> Response:
    principal.require(Permission.METRICS_READ)
    return Response(generate_latest(node.metrics), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/node", response_model=NodeInfo, summary="This node")
def node_info(principal: PrincipalDep, node: NodeDep) -> NodeInfo:
    principal.require(Permission.NODE_READ)
    settings = node.settings
    return NodeInfo(
        name=settings.node_name,
        country=settings.node_country,
        role=settings.node_role.value,
        version=__version__,
        schema_version=SCHEMA_VERSION,
        base_url=settings.base_url,
    )
