from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from polex.agency.schemas import AgencyCreate, AgencyList, AgencyRead
from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.base import RecordId
from polex.domain.countries import CountryCode

router = APIRouter(prefix="/api/v1/agencies", tags=["agencies"])


@router.get("", response_model=AgencyList)
def list_agencies(
    principal: PrincipalDep, node: NodeDep, country: Annotated[CountryCode | None, Query()] = None
) -> AgencyList:
    return AgencyList(items=node.agencies.list(principal, country))


@router.post("", response_model=AgencyRead, status_code=status.HTTP_201_CREATED)
def create_agency(body: AgencyCreate, principal: PrincipalDep, node: NodeDep) -> AgencyRead:
    return node.agencies.create(body, principal)


@router.get("/{agency_id}", response_model=AgencyRead)
def get_agency(agency_id: RecordId, principal: PrincipalDep, node: NodeDep) -> AgencyRead:
    return node.agencies.get(agency_id, principal)
