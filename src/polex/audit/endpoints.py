from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.audit.repository import EventQuery
from polex.audit.schemas import (
    AlertList,
    AlertRead,
    CheckpointRead,
    ConsistencyProofRead,
    EventEntry,
    EventPage,
    InclusionProofRead,
    WitnessedList,
    WitnessedRead,
)
from polex.domain.base import RecordId
from polex.domain.countries import CountryCode
from polex.domain.roles import Permission
from polex.errors import NotFound

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@router.get("/checkpoint", response_model=CheckpointRead, summary="The latest signed checkpoint (any node)")
def checkpoint(principal: PrincipalDep, node: NodeDep) -> CheckpointRead:
    latest = node.audit.latest_checkpoint()
    if latest is None:
        raise NotFound("the log has no checkpoint yet")
    return CheckpointRead(
        origin=node.audit.origin,
        size=latest.size,
        root=_b64(latest.root),
        at=latest.at,
        note=latest.note,
        verifier_key=node.audit.verifier_key(),
    )


@router.get("/proofs/inclusion", response_model=InclusionProofRead, summary="RFC 9162 inclusion proof (any node)")
def inclusion(
    principal: PrincipalDep,
    node: NodeDep,
    index: Annotated[int, Query(ge=0, description="Leaf index (the entry's seq)")],
    size: Annotated[int, Query(ge=1, description="Tree size, e.g. a checkpoint's")],
) -> InclusionProofRead:
    proof = node.audit.inclusion_proof(index, size)
    _, leaf = node.audit.leaf(index)
    return InclusionProofRead(index=index, size=size, leaf_hash=_b64(leaf), proof=[_b64(item) for item in proof])


@router.get("/proofs/consistency", response_model=ConsistencyProofRead, summary="RFC 9162 consistency proof")
def consistency(
    principal: PrincipalDep,
    node: NodeDep,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> ConsistencyProofRead:
    proof = node.audit.consistency_proof(first, second)
    return ConsistencyProofRead(first=first, second=second, proof=[_b64(item) for item in proof])


@router.get("/events", response_model=EventPage, summary="Search the trail (auditors)")
def search_events(
    principal: PrincipalDep,
    node: NodeDep,
    actor_id: Annotated[RecordId | None, Query(description="Everything this user or key did")] = None,
    agency_id: Annotated[RecordId | None, Query()] = None,
    country: Annotated[CountryCode | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_:]+$", description="A tag or its prefix")] = None,
    record_id: Annotated[RecordId | None, Query(description="Who accessed this record, when and why")] = None,
    searched_for: Annotated[
        str | None, Query(max_length=300, description="A normalised query term, e.g. person|name:petrov")
    ] = None,
    since: Annotated[dt.datetime | None, Query()] = None,
    until: Annotated[dt.datetime | None, Query()] = None,
    after: Annotated[int | None, Query(ge=-1, description="The next_after of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    query = EventQuery(
        actor_id=actor_id,
        agency_id=agency_id,
        country=country,
        tag_prefix=tag,
        record_id=record_id,
        since=since,
        until=until,
        after_seq=after,
        limit=limit,
    )
    events = node.audit.search(principal, query, term=searched_for)
    return EventPage(items=events, next_after=events[-1].seq if len(events) == limit else None)


@router.get(
    "/export",
    summary="Signed export of matching entries with inclusion proofs (auditors)",
    response_class=PlainTextResponse,
    responses={200: {"content": {"application/jose": {}}, "description": "A compact JWS (RFC 7515)"}},
)
def export_events(
    principal: PrincipalDep,
    node: NodeDep,
    actor_id: Annotated[RecordId | None, Query()] = None,
    agency_id: Annotated[RecordId | None, Query()] = None,
    record_id: Annotated[RecordId | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_:]+$")] = None,
    since: Annotated[dt.datetime | None, Query()] = None,
    until: Annotated[dt.datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> PlainTextResponse:
    query = EventQuery(
        actor_id=actor_id,
        agency_id=agency_id,
        record_id=record_id,
        tag_prefix=tag,
        since=since,
        until=until,
        limit=limit,
    )
    return PlainTextResponse(node.audit.export(principal, query), media_type="application/jose")


@router.get("/events/{seq}", response_model=EventEntry, summary="One entry, its leaf hash and its unsealed terms")
def read_event(seq: int, principal: PrincipalDep, node: NodeDep) -> EventEntry:
    principal.require(Permission.AUDIT_READ)
    event, leaf = node.audit.leaf(seq)
    return EventEntry(event=event, leaf_hash=_b64(leaf), query_terms=node.audit.unseal(principal, event))


@router.get("/witnessed", response_model=WitnessedList, summary="Other logs' checkpoints this node accepted (any node)")
def witnessed(principal: PrincipalDep, node: NodeDep) -> WitnessedList:
    return WitnessedList(
        items=[WitnessedRead(log=origin, size=size, note=note) for origin, size, note in node.witness.witnessed()]
    )


@router.get("/alerts", response_model=AlertList, summary="Forks, rollbacks and bad signatures seen (auditors, admins)")
def alerts(principal: PrincipalDep, node: NodeDep) -> AlertList:
    principal.require(Permission.ALERT_READ)
    return AlertList(
        items=[
            AlertRead(kind=alert.kind, log=alert.log, detail=alert.detail, evidence=alert.evidence)
            for alert in node.witness.alerts()
        ]
    )
