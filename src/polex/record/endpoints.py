"""One router per record kind: create, read, update, delete, list with cursor and filters.

No ``from __future__ import annotations`` here: the body types are built per kind at run
time, and FastAPI must see them as objects, not as names to resolve.
"""

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from polex.api.dependencies import NodeDep, PrincipalDep, PurposeDep
from polex.domain.base import RecordEnvelope, RecordId
from polex.domain.countries import CountryCode
from polex.errors import BadRequest, FieldError, ValidationFailed
from polex.record.schemas import (
    AccessList,
    create_model_for,
    page_model_for,
    update_model_for,
    view_model_for,
)
from polex.record.service import ListFilters, RecordService
from polex.record.spec import RecordFeature

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')
_COMMON_QUERY = {"cursor", "limit", "owner_country", "owner_agency_id", "status", "updated_since"}


def parse_if_match(value: str | None) -> int | None:
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if match is None:
        raise BadRequest(
            'If-Match must be the ETag a read returned, e.g. "3"',
            errors=[FieldError("If-Match", f"'{value}' is not a record version")],
        )
    return int(match.group(1))


def _set_etag(response: Response, record: RecordEnvelope) -> None:
    response.headers["ETag"] = f'"{record.version}"'


async def _raw_json(request: Request) -> Any:
    # The parsed body as sent, before normalisation, for the record's provenance.
    return await request.json()


def build_router(feature: RecordFeature) -> APIRouter:
    record_type = feature.record_type
    kind = record_type.kind.value
    noun = kind.replace("_", " ")
    create_body = create_model_for(record_type)
    update_body = update_model_for(record_type)
    page_model = page_model_for(record_type)
    filter_names = {spec.name for spec in feature.filters}
    router = APIRouter(prefix=f"/api/v1/{record_type.plural}", tags=[record_type.plural])

    def service(node: Any) -> RecordService:
        records: RecordService = node.records[kind]
        return records

    @router.post(
        "",
        response_model=record_type.record,
        status_code=status.HTTP_201_CREATED,
        summary=f"Record a {noun}",
        response_model_by_alias=True,
    )
    async def create(
        body: create_body,  # type: ignore[valid-type]
        request: Request,
        response: Response,
        principal: PrincipalDep,
        node: NodeDep,
    ) -> RecordEnvelope:
        raw = await _raw_json(request)
        record = await run_in_threadpool(service(node).create, body, principal, raw=raw)
        _set_etag(response, record)
        response.headers["Location"] = f"{request.url.path}/{record.id}"
        return record

    @router.get(
        "/{record_id}",
        response_model=None,
        responses={200: {"model": view_model_for(record_type)}},
        summary=f"Read a {noun}, as the policy lets you see it",
        description="Declare your purpose in X-Polex-Purpose. The answer is the record in full, redacted "
        "(fields removed) or hit-only (that it exists and whom to ask), with the decision and its rules "
        "under 'access'; a record you may not see is answered as one that does not exist.",
    )
    def read(record_id: RecordId, principal: PrincipalDep, purpose: PurposeDep, node: NodeDep) -> JSONResponse:
        shown = service(node).get(record_id, principal, purpose=purpose)
        headers = {"ETag": f'"{shown["version"]}"'} if "version" in shown else {}
        return JSONResponse(shown, headers=headers)

    @router.put("/{record_id}", response_model=record_type.record, summary=f"Replace a {noun} (owner only)")
    async def replace(
        record_id: RecordId,
        body: update_body,  # type: ignore[valid-type]
        request: Request,
        response: Response,
        principal: PrincipalDep,
        node: NodeDep,
        if_match: Annotated[str | None, Header(description="ETag of the version replaced")] = None,
    ) -> RecordEnvelope:
        raw = await _raw_json(request)
        record = await run_in_threadpool(
            service(node).update,
            record_id,
            body,
            principal,
            if_match=parse_if_match(if_match),
            raw=raw,
        )
        _set_etag(response, record)
        return record

    @router.get(
        "/{record_id}/accesses",
        response_model=AccessList,
        summary=f"Who accessed this {noun}, when and why, here and across the network (its owner only)",
        description="This node's audit entries naming the record, and the accesses other nodes reported "
        "(the hub, national replicas): each with the node where it happened and its entry in that node's log. "
        "The owner agency and this node's auditors only; anyone else is answered as for a record that does "
        "not exist.",
    )
    def accesses(record_id: RecordId, principal: PrincipalDep, node: NodeDep) -> AccessList:
        return AccessList(items=list(service(node).accesses(record_id, principal)))

    @router.delete(
        "/{record_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary=f"Withdraw a {noun} (owner only)",
    )
    def delete(
        record_id: RecordId,
        principal: PrincipalDep,
        node: NodeDep,
        if_match: Annotated[str | None, Header(description="ETag of the version deleted")] = None,
    ) -> None:
        service(node).delete(record_id, principal, if_match=parse_if_match(if_match))

    filter_parameters = [
        {
            "name": spec.name,
            "in": "query",
            "required": False,
            "description": spec.description,
            "schema": {"type": "string", "maxLength": 200},
        }
        for spec in feature.filters
    ]

    @router.get(
        "",
        response_model=None,
        responses={200: {"model": page_model}},
        summary=f"List {record_type.plural.replace('-', ' ')} you may see",
        description="Declare your purpose in X-Polex-Purpose. Records the policy hides are skipped, never "
        "counted; each item carries its decision under 'access'.",
        openapi_extra={"parameters": filter_parameters},
    )
    def list_records(
        request: Request,
        principal: PrincipalDep,
        purpose: PurposeDep,
        node: NodeDep,
        cursor: Annotated[str | None, Query(max_length=500, description="From the previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        owner_country: Annotated[CountryCode | None, Query()] = None,
        owner_agency_id: Annotated[RecordId | None, Query()] = None,
        status: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$")] = None,
        updated_since: Annotated[dt.datetime | None, Query()] = None,
    ) -> Any:
        terms: dict[str, str] = {}
        for name, value in request.query_params.multi_items():
            if name in _COMMON_QUERY:
                continue
            if name not in filter_names:
                allowed = ", ".join(sorted(filter_names | _COMMON_QUERY))
                raise ValidationFailed(
                    f"unknown query parameter '{name}'",
                    errors=[FieldError(name, f"is not a filter of this list; use one of {allowed}")],
                )
            if not value.strip() or len(value) > 200 or "|" in value:
                raise ValidationFailed(
                    f"invalid filter '{name}'",
                    errors=[FieldError(name, "must be 1 to 200 characters, without '|'")],
                )
            terms[name] = value
        if updated_since is not None and updated_since.tzinfo is None:
            updated_since = updated_since.replace(tzinfo=dt.UTC)
        page = service(node).list(
            principal,
            ListFilters(
                owner_country=owner_country,
                owner_agency_id=owner_agency_id,
                status=status,
                updated_since=updated_since,
                terms=terms,
            ),
            purpose=purpose,
            cursor=cursor,
            limit=limit,
        )
        return JSONResponse({"items": page.items, "next_cursor": page.next_cursor})

    return router
