"""Correlation alerts: list, read, confirm and dismiss; each read declares its purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.concurrency import run_in_threadpool

from polex.api.dependencies import NodeDep, PrincipalDep, PurposeDep
from polex.correlation.schemas import CorrelationAnswer, CorrelationPage
from polex.domain.base import RecordId


@asynccontextmanager
async def _follow_changes(app: FastAPI) -> AsyncIterator[None]:
    """Part of the app's lifespan: a serving node correlates what changed while it was down,
    then every change as it is committed (the worker thread stops with the node)."""
    app.state.node.correlations.start()
    yield


router = APIRouter(prefix="/api/v1/correlations", tags=["correlations"], lifespan=_follow_changes)

_PURPOSE_NOTE = (
    "Declare your purpose in X-Polex-Purpose: the other record is shown in full, redacted or as a hit "
    "(its reference and owner, whom to contact) as the policy decides for you and that purpose; a "
    "correlation whose other record you may not see is not listed and is read as one that does not exist."
)


@router.get(
    "",
    response_model=CorrelationPage,
    summary="Your agency's records that look like persons other countries recorded",
    description=_PURPOSE_NOTE,
)
async def list_correlations(
    principal: PrincipalDep,
    purpose: PurposeDep,
    node: NodeDep,
    state: Annotated[Literal["open", "closed", "all"], Query(description="open (default), closed or all")] = "open",
    record_id: Annotated[RecordId | None, Query(description="Only those of this record of yours")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    page = await run_in_threadpool(
        lambda: node.correlations.list(
            principal, purpose=purpose, state=state, record_id=record_id, cursor=cursor, limit=limit
        )
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/{correlation_id}", summary="One correlation of your agency", description=_PURPOSE_NOTE)
async def read_correlation(
    correlation_id: RecordId, principal: PrincipalDep, purpose: PurposeDep, node: NodeDep
) -> dict[str, Any]:
    item: dict[str, Any] = await run_in_threadpool(
        lambda: node.correlations.get(correlation_id, principal, purpose=purpose)
    )
    return item


@router.post(
    "/{correlation_id}/confirm",
    summary="Say your record and the other are the same person (with the reason)",
    description=_PURPOSE_NOTE,
)
async def confirm_correlation(
    correlation_id: RecordId, body: CorrelationAnswer, principal: PrincipalDep, purpose: PurposeDep, node: NodeDep
) -> dict[str, Any]:
    item: dict[str, Any] = await run_in_threadpool(
        lambda: node.correlations.answer(correlation_id, principal, purpose=purpose, confirmed=True, reason=body.reason)
    )
    return item


@router.post(
    "/{correlation_id}/dismiss",
    summary="Say your record and the other are not the same person (with the reason)",
    description=_PURPOSE_NOTE,
)
async def dismiss_correlation(
    correlation_id: RecordId, body: CorrelationAnswer, principal: PrincipalDep, purpose: PurposeDep, node: NodeDep
) -> dict[str, Any]:
    item: dict[str, Any] = await run_in_threadpool(
        lambda: node.correlations.answer(
            correlation_id, principal, purpose=purpose, confirmed=False, reason=body.reason
        )
    )
    return item
