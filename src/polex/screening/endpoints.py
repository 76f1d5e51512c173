"""Checks of documents and vehicles, and the hit-confirmation exchange."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.concurrency import run_in_threadpool

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.base import RecordId
from polex.domain.policy import Purpose
from polex.errors import BadRequest, FieldError
from polex.policy.service import PURPOSE_HEADER, parse_purpose
from polex.screening.schemas import CheckResults, DocumentCheck, HitList, HitNote, VehicleCheck

router = APIRouter(prefix="/api/v1", tags=["screening"])


def _purpose(declared: str, header: str | None) -> Purpose:
    try:
        purpose = parse_purpose(declared)
    except BadRequest as error:
        raise BadRequest(str(error), errors=[FieldError("purpose", e.reason) for e in error.errors]) from None
    if header is not None and header.strip().lower() != purpose.value:
        raise BadRequest(
            "the purpose in the body and the X-Polex-Purpose header differ",
            errors=[FieldError("purpose", f"'{purpose.value}' but the header says '{header[:64]}'")],
        )
    return purpose


PurposeHeader = Annotated[str | None, Header(alias=PURPOSE_HEADER, max_length=64, include_in_schema=False)]


@router.post("/documents/check", response_model=CheckResults, summary="Check travel documents (up to 1,000)")
async def check_documents(
    body: DocumentCheck, principal: PrincipalDep, node: NodeDep, header_purpose: PurposeHeader = None
) -> dict[str, Any]:
    purpose = _purpose(body.purpose, header_purpose)
    items = [item.model_dump(exclude_none=True) for item in body.documents]
    results = await run_in_threadpool(
        node.screening.check_documents, items, principal, purpose=purpose, case_reference=body.case_reference
    )
    return {"results": results}


@router.post("/vehicles/check", response_model=CheckResults, summary="Check vehicles by VIN or plate (up to 1,000)")
async def check_vehicles(
    body: VehicleCheck, principal: PrincipalDep, node: NodeDep, header_purpose: PurposeHeader = None
) -> dict[str, Any]:
    purpose = _purpose(body.purpose, header_purpose)
    items = [item.model_dump(exclude_none=True) for item in body.vehicles]
    results = await run_in_threadpool(
        node.screening.check_vehicles, items, principal, purpose=purpose, case_reference=body.case_reference
    )
    return {"results": results}


@router.get("/hits", response_model=HitList, summary="Hits on your agency's records, or raised by its checks")
async def list_hits(
    principal: PrincipalDep,
    node: NodeDep,
    side: Annotated[Literal["owner", "requester"], Query(description="owner: on your records")] = "owner",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    items = await run_in_threadpool(node.screening.hits, principal, side=side, limit=limit)
    return {"items": items}


@router.get("/hits/{hit_id}", summary="One hit, with its confirmation status and age")
async def get_hit(hit_id: RecordId, principal: PrincipalDep, node: NodeDep) -> dict[str, Any]:
    hit: dict[str, Any] = await run_in_threadpool(node.screening.hit, hit_id, principal)
    return hit


@router.post("/hits/{hit_id}/confirmation-request", summary="Ask the record's owner to confirm a hit")
async def request_confirmation(
    hit_id: RecordId, principal: PrincipalDep, node: NodeDep, body: HitNote | None = None
) -> dict[str, Any]:
    note = body.note if body else None
    hit: dict[str, Any] = await run_in_threadpool(node.screening.request_confirmation, hit_id, note, principal)
    return hit


@router.post("/hits/{hit_id}/confirm", summary="Confirm a hit on your agency's record")
async def confirm_hit(
    hit_id: RecordId, principal: PrincipalDep, node: NodeDep, body: HitNote | None = None
) -> dict[str, Any]:
    note = body.note if body else None
    hit: dict[str, Any] = await run_in_threadpool(
        lambda: node.screening.answer(hit_id, confirmed=True, note=note, principal=principal)
    )
    return hit


@router.post("/hits/{hit_id}/reject", summary="Reject a hit on your agency's record (say why)")
async def reject_hit(hit_id: RecordId, principal: PrincipalDep, node: NodeDep, body: HitNote) -> dict[str, Any]:
    hit: dict[str, Any] = await run_in_threadpool(
        lambda: node.screening.answer(hit_id, confirmed=False, note=body.note, principal=principal)
    )
    return hit
