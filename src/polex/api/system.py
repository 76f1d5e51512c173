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
    checks: dict[str, bool]


class NodeInfo(BaseModel):
    name: str
    country: str
    role: str
    version: str
    schema_version: str
    base_url: str


@router.get(
    "/healthz",
    response_model=Health,
    summary="Health and readiness (the one endpoint without login: probes cannot log in)",
)
async def healthz(node: NodeDep, response: Response) -> Health:
    """503 when the node cannot serve (its database is unreachable or its schema is not the
    code's); ``degraded`` with 200 when it serves but a background duty lags (audit
    checkpoints). Deliberately little: it answers anyone, so it names checks, never data."""
    checks = await run_in_threadpool(node.readiness)
    serving = checks["database"] and checks.get("schema", False)
    if not serving:
        response.status_code = 503
    return Health(
        status="ok" if all(checks.values()) else ("degraded" if serving else "unavailable"),
        node=node.settings.node_name,
        role=node.settings.node_role.value,
        database="ok" if checks["database"] else "unreachable",
        checks=checks,
    )


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
