"""Checks of documents and vehicles, and the hit-confirmation exchange."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError as PydanticValidationError

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.base import RecordId, new_id
from polex.domain.policy import Purpose
from polex.errors import BadRequest, FieldError, NotFound, ValidationFailed
from polex.message.endpoints import NodeCaller
from polex.policy.service import PURPOSE_HEADER, parse_purpose
from polex.screening.jobs import hub_summary
from polex.screening.online import FIND_PATH, FindItems, FindPerson, FindPersons, hub_principal
from polex.screening.schemas import (
    CheckResults,
    DocumentCheck,
    HitList,
    HitNote,
    PersonCandidates,
    PersonMatch,
    PersonMatchQuery,
    VehicleCheck,
)
from polex.screening.service import DEFAULT_MATCH_THRESHOLD, REPLICA_PURPOSE, person_query
from polex.storage.tables import ScreeningRow

router = APIRouter(prefix="/api/v1", tags=["screening"])


def screening_purpose(declared: str, header: str | None) -> Purpose:
    """The purpose a check declares in its body, which the header, if sent, must repeat."""
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
    purpose = screening_purpose(body.purpose, header_purpose)
    items = [item.model_dump(exclude_none=True) for item in body.documents]
    note: dict[str, Any] = {}
    results = await run_in_threadpool(
        lambda: node.screening.check_documents(
            items, principal, purpose=purpose, case_reference=body.case_reference, note=note
        )
    )
    return {"results": results, **note, **await replica_note(node, purpose, note)}


@router.post("/vehicles/check", response_model=CheckResults, summary="Check vehicles by VIN or plate (up to 1,000)")
async def check_vehicles(
    body: VehicleCheck, principal: PrincipalDep, node: NodeDep, header_purpose: PurposeHeader = None
) -> dict[str, Any]:
    purpose = screening_purpose(body.purpose, header_purpose)
    items = [item.model_dump(exclude_none=True) for item in body.vehicles]
    note: dict[str, Any] = {}
    results = await run_in_threadpool(
        lambda: node.screening.check_vehicles(
            items, principal, purpose=purpose, case_reference=body.case_reference, note=note
        )
    )
    return {"results": results, **note, **await replica_note(node, purpose, note)}


async def replica_note(node: Any, purpose: Purpose, note: Mapping[str, Any]) -> dict[str, Any]:
    """On a national node, how current the copy of the hub's records that answered is
    (``hub_reachable`` false: offline, answered from data as of ``as_of``); nothing when
    the hub answered online."""
    if node.replica is None or purpose is not REPLICA_PURPOSE or note.get("hub", {}).get("checked") == "online":
        return {}
    status = await run_in_threadpool(node.replica.status)
    return {"replica": {name: status[name] for name in ("as_of", "lag_seconds", "hub_reachable")}}


@router.post("/persons/match", response_model=PersonCandidates, summary="Match a person against the watch list")
async def match_persons(
    body: PersonMatch, principal: PrincipalDep, node: NodeDep, header_purpose: PurposeHeader = None
) -> dict[str, Any]:
    purpose = screening_purpose(body.purpose, header_purpose)
    note: dict[str, Any] = {}
    candidates = await run_in_threadpool(
        lambda: node.screening.match_persons(
            body.query.model_dump(),
            principal,
            purpose=purpose,
            case_reference=body.case_reference,
            limit=body.limit,
            threshold=body.threshold,
            cutoff=body.cutoff,
            note=note,
        )
    )
    return {"candidates": candidates, **note}


# -- FIND: national nodes' checks at the hub ---------------------------------------------------

node_router = APIRouter(prefix=FIND_PATH, tags=["network"])


def _hub_only(node: Any) -> None:
    if not node.settings.is_hub:
        raise NotFound("only the hub answers FIND requests")


@node_router.post("/documents", summary="A national node's document checks, for its user (hub only)")
async def find_documents(body: FindItems, caller: NodeCaller, node: NodeDep) -> dict[str, Any]:
    _hub_only(node)
    principal = await run_in_threadpool(hub_principal, node.uow, node.network_view, caller, body.by)
    results = await run_in_threadpool(
        lambda: node.screening.check_documents(
            body.items, principal, purpose=body.purpose, case_reference=body.case_reference, via=caller
        )
    )
    return {"results": results}


@node_router.post("/vehicles", summary="A national node's vehicle checks, for its user (hub only)")
async def find_vehicles(body: FindItems, caller: NodeCaller, node: NodeDep) -> dict[str, Any]:
    _hub_only(node)
    principal = await run_in_threadpool(hub_principal, node.uow, node.network_view, caller, body.by)
    results = await run_in_threadpool(
        lambda: node.screening.check_vehicles(
            body.items, principal, purpose=body.purpose, case_reference=body.case_reference, via=caller
        )
    )
    return {"results": results}


def _query_person(query: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A relayed query person within the same bounds as a user's, or a 422 naming the field."""
    try:
        checked: dict[str, Any] = PersonMatchQuery.model_validate(query).model_dump()
    except PydanticValidationError as error:
        raise ValidationFailed(
            "the query person is not valid",
            errors=[FieldError(".".join([where, *map(str, e["loc"])]), e["msg"]) for e in error.errors()],
        ) from None
    return checked


@node_router.post("/persons", summary="A national node's person match, for its user (hub only)")
async def find_persons(body: FindPerson, caller: NodeCaller, node: NodeDep) -> dict[str, Any]:
    _hub_only(node)
    query = _query_person(body.query, "query")
    principal = await run_in_threadpool(hub_principal, node.uow, node.network_view, caller, body.by)
    candidates = await run_in_threadpool(
        lambda: node.screening.match_persons(
            query,
            principal,
            purpose=body.purpose,
            case_reference=body.case_reference,
            limit=body.limit,
            threshold=body.threshold,
            cutoff=body.cutoff,
            via=caller,
        )
    )
    return {"candidates": candidates}


@node_router.post(
    "/persons/batch", summary="A national node's manifest rows matched for its user, in one request (hub only)"
)
async def find_persons_batch(body: FindPersons, caller: NodeCaller, node: NodeDep) -> dict[str, Any]:
    """One list of candidates per query, in order; one audit event for the batch, as a
    manifest's chunk has at the hub's own screenings."""
    _hub_only(node)
    persons = [
        person_query(_query_person(query, f"queries[{position}]"), f"queries[{position}]")
        for position, query in enumerate(body.queries)
    ]
    principal = await run_in_threadpool(hub_principal, node.uow, node.network_view, caller, body.by)
    results = await run_in_threadpool(
        lambda: node.screening.match_many(
            persons,
            principal,
            purpose=body.purpose,
            case_reference=body.case_reference,
            limit=body.limit,
            threshold=body.threshold,
            cutoff=body.cutoff,
            via=caller,
        )
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


# -- manifest screenings --------------------------------------------------------------------

_MEDIA_FORMATS = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json": "json",
}


def _screening_read(job: ScreeningRow) -> dict[str, Any]:
    progress = 1.0 if job.status == "done" else (job.bytes_done / job.bytes_total if job.bytes_total else 0.0)
    return {
        "id": job.id,
        "status": job.status,
        "error": job.error,
        "source": job.source,
        "format": job.format,
        "purpose": job.purpose,
        "case_reference": job.case_reference,
        "threshold": job.threshold,
        "progress": round(min(progress, 1.0), 4),
        "summary": {
            "rows": job.rows_done,
            "rows_with_errors": job.rows_with_errors,
            "document_hits": job.document_hits,
            "person_matches": job.person_matches,
            **hub_summary(job),
        },
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "results": f"/api/v1/screenings/{job.id}/results",
    }


@router.post(
    "/screenings",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Screen a manifest (CSV, JSON Lines or a JSON array) in the background",
)
async def submit_screening(
    request: Request,
    principal: PrincipalDep,
    node: NodeDep,
    purpose: Annotated[str, Query(max_length=64, description="Why you screen: border_control, ...")],
    format_name: Annotated[
        str | None, Query(alias="format", max_length=8, description="csv, jsonl or json (else from Content-Type)")
    ] = None,
    case_reference: Annotated[str | None, Query(max_length=128)] = None,
    threshold: Annotated[float, Query(ge=0, le=1)] = DEFAULT_MATCH_THRESHOLD,
    candidates: Annotated[int, Query(ge=1, le=20, description="Candidates kept a row")] = 5,
    source: Annotated[str | None, Query(max_length=255, description="The manifest's name, for you")] = None,
    header_purpose: PurposeHeader = None,
) -> JSONResponse:
    """The body is the manifest itself, streamed to disk (never held in memory); the answer
    says where to follow the job. Each row gets one result line, bad rows included."""
    declared = screening_purpose(purpose, header_purpose)
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    chosen = format_name or _MEDIA_FORMATS.get(media)
    if chosen is None:
        raise ValidationFailed(
            "say what the manifest is", errors=[FieldError("format", "csv, jsonl or json (or a Content-Type)")]
        )
    folder = node.screenings.folder
    folder.mkdir(parents=True, exist_ok=True)
    spooled = folder / f"{new_id()}.upload"
    try:
        with spooled.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
    except BaseException:
        spooled.unlink(missing_ok=True)
        raise
    job = await run_in_threadpool(
        lambda: node.screenings.submit(
            spooled,
            principal,
            purpose=declared,
            format_name=chosen,
            source=source or "manifest",
            case_reference=case_reference,
            threshold=threshold,
            candidates=candidates,
        )
    )
    return JSONResponse(_screening_read(job), status_code=202, headers={"Location": f"/api/v1/screenings/{job.id}"})


@router.get("/screenings", summary="Your agency's manifest screenings, newest first")
async def list_screenings(principal: PrincipalDep, node: NodeDep) -> dict[str, Any]:
    jobs = await run_in_threadpool(node.screenings.jobs, principal)
    return {"items": [_screening_read(job) for job in jobs]}


@router.get("/screenings/{screening_id}", summary="A screening: status, progress and summary")
async def read_screening(screening_id: RecordId, principal: PrincipalDep, node: NodeDep) -> dict[str, Any]:
    job = await run_in_threadpool(node.screenings.job, screening_id, principal)
    return _screening_read(job)


@router.get(
    "/screenings/{screening_id}/results",
    summary="A screening's results as JSON Lines, one per manifest row, as they are written",
    response_class=StreamingResponse,
)
async def screening_results(
    screening_id: RecordId,
    principal: PrincipalDep,
    node: NodeDep,
    after: Annotated[int, Query(ge=0, description="Skip the first rows (resume a download)")] = 0,
    follow: Annotated[bool, Query(description="Keep streaming until the job ends")] = False,
) -> StreamingResponse:
    lines = await run_in_threadpool(lambda: list(node.screenings.results(screening_id, principal, after=after)))

    async def stream() -> AsyncIterator[bytes]:
        sent = after
        for line in lines:
            yield line
            sent += 1
        while follow:
            job = await run_in_threadpool(node.screenings.job, screening_id, principal)
            more = await run_in_threadpool(_read_lines, node, job, sent)
            for line in more:
                yield line
                sent += 1
            if job.status in ("done", "failed") and not more:
                return
            if not more:
                await asyncio.sleep(0.5)

    return StreamingResponse(stream(), media_type="application/x-ndjson")


def _read_lines(node: Any, job: ScreeningRow, after: int) -> list[bytes]:
    return list(node.screenings.lines(job.id, after, job))
