"""Health, readiness, metrics and what this node is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from polex import SCHEMA_VERSION, __version__
from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.roles import Permission
from polex.screening.persons import RETRY_AFTER_SECONDS


@asynccontextmanager
async def _load_in_background(app: FastAPI) -> AsyncIterator[None]:
    """Part of the app's lifespan (FastAPI merges an included router's): the node serves at
    once, its person watch list loads meanwhile, and /readyz says when it is done. (The
    process still answers nothing while rigour builds its name data, a few seconds in which
    it holds the GIL; the records themselves load alongside requests.)"""
    app.state.node.screening.watchlist.start()
    yield


router = APIRouter(tags=["system"], lifespan=_load_in_background)


class Health(BaseModel):
    status: str
    node: str
    role: str
    database: str
    checks: dict[str, bool]


class Readiness(BaseModel):
    status: str
    node: str
    role: str
    checks: dict[str, bool]
    components: dict[str, str]


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
    summary="Health, for liveness probes (without login, as /readyz: probes cannot log in)",
)
async def healthz(node: NodeDep, response: Response) -> Health:
    """503 when the node cannot serve (its database is unreachable or its schema is not the
    code's); ``degraded`` with 200 when it serves but a background duty lags (audit
    checkpoints). 200 while components still load: whether it takes all traffic is /readyz.
    Deliberately little: it answers anyone, so it names checks, never data."""
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


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness, for load balancers: 503 until every component is loaded (without login)",
    responses={503: {"model": Readiness, "description": "Not ready: a component still loads, or unavailable"}},
)
async def readyz(node: NodeDep, response: Response) -> Readiness:
    """200 ``ready`` once the node serves (as /healthz) and every component it answers with
    is loaded; else 503 with ``Retry-After``: ``loading`` naming the components not ready
    yet (``person_watchlist``: person matching answers 503 until then; document and vehicle
    checks do not wait for it), or ``unavailable`` as /healthz."""
    checks = await run_in_threadpool(node.readiness)
    components = node.screening.components()
    serving = checks["database"] and checks.get("schema", False)
    ready = serving and all(state == "ready" for state in components.values())
    if not ready:
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return Readiness(
        status="ready" if ready else ("loading" if serving else "unavailable"),
        node=node.settings.node_name,
        role=node.settings.node_role.value,
        checks=checks,
        components=components,
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
