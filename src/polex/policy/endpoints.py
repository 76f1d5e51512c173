"""Agreements, national rules, country groups, suspensions and explained decisions over HTTP.

Policy documents are written by people: they are accepted as JSON or YAML
(``Content-Type: application/yaml``) and read back as either (``Accept: application/yaml``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, TypeVar

import orjson
import yaml
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.base import RecordId
from polex.domain.countries import CountryCode
from polex.domain.decisions import Requester
from polex.domain.policy import Agreement, CountryGroup, NationalRules, Slug
from polex.errors import BadRequest, FieldError
from polex.policy.schemas import (
    AgreementList,
    AgreementRead,
    AgreementVersionList,
    ApproveBody,
    CountryGroupList,
    CountryGroupRead,
    DecideBody,
    DecisionRead,
    DryRunBody,
    DryRunReport,
    NationalRulesList,
    NationalRulesRead,
    RetentionDue,
    RetentionDueList,
    RetentionExtend,
    RetentionExtended,
    RetireBody,
    SuspensionCreate,
    SuspensionLift,
    SuspensionList,
    SuspensionRead,
)

router = APIRouter(tags=["policy"])

Document = TypeVar("Document", bound=BaseModel)
YAML = "application/yaml"


def _both_media(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}, YAML: {"schema": schema}},
        }
    }


async def _document(request: Request, model: type[Document]) -> Document:
    """The request body, JSON or YAML, validated as ``model`` with errors naming the field."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type in (YAML, "application/x-yaml", "text/yaml"):
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            reason = str(error).splitlines()[0]
            raise BadRequest("the body is not valid YAML", errors=[FieldError("body", reason)]) from None
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise BadRequest("the body is not valid JSON", errors=[FieldError("body", str(error))]) from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be one document (a mapping)", errors=[FieldError("body", "is not a mapping")])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError([{**item, "loc": ("body", *item["loc"])} for item in error.errors()]) from None


def _as_yaml_if_asked(request: Request, model: BaseModel) -> Response | BaseModel:
    if YAML in request.headers.get("accept", ""):
        text = yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
        return Response(text, media_type=YAML)
    return model


# -- agreements ------------------------------------------------------------------------


@router.get("/api/v1/agreements", response_model=AgreementList, summary="Agreements, in force or not")
def list_agreements(principal: PrincipalDep, node: NodeDep) -> AgreementList:
    return AgreementList(items=node.policy.agreements(principal))


@router.post(
    "/api/v1/agreements",
    response_model=AgreementRead,
    status_code=status.HTTP_201_CREATED,
    summary="Propose an agreement, or a new version of one (every party approves it again)",
    openapi_extra=_both_media(Agreement),
)
async def propose_agreement(request: Request, principal: PrincipalDep, node: NodeDep) -> AgreementRead:
    document = await _document(request, Agreement)
    return await run_in_threadpool(node.policy.propose, document, principal)


@router.post(
    "/api/v1/agreements/dry-run",
    response_model=DryRunReport,
    summary="Which records and countries a proposed agreement would change",
)
def dry_run(body: DryRunBody, principal: PrincipalDep, node: NodeDep) -> DryRunReport:
    return node.policy.dry_run(body.document, principal)


@router.get(
    "/api/v1/agreements/{agreement_id}",
    response_model=AgreementRead,
    summary="One agreement (Accept: application/yaml for its text as YAML)",
)
def read_agreement(agreement_id: Slug, request: Request, principal: PrincipalDep, node: NodeDep) -> Any:
    agreement = node.policy.agreement(agreement_id, principal)
    if YAML in request.headers.get("accept", ""):
        return _as_yaml_if_asked(request, agreement.document)
    return agreement


@router.get("/api/v1/agreements/{agreement_id}/versions", response_model=AgreementVersionList)
def agreement_versions(agreement_id: Slug, principal: PrincipalDep, node: NodeDep) -> AgreementVersionList:
    return AgreementVersionList(items=node.policy.agreement_versions(agreement_id, principal))


@router.post(
    "/api/v1/agreements/{agreement_id}/approve",
    response_model=AgreementRead,
    summary="Approve a version for your country",
)
def approve_agreement(agreement_id: Slug, body: ApproveBody, principal: PrincipalDep, node: NodeDep) -> AgreementRead:
    return node.policy.approve(agreement_id, body.version, principal)


@router.post(
    "/api/v1/agreements/{agreement_id}/withdraw",
    response_model=AgreementRead,
    summary="Take back your country's approval",
)
def withdraw_agreement(agreement_id: Slug, body: RetireBody, principal: PrincipalDep, node: NodeDep) -> AgreementRead:
    return node.policy.withdraw(agreement_id, body.reason, principal)


@router.post("/api/v1/agreements/{agreement_id}/retire", response_model=AgreementRead, summary="End an agreement")
def retire_agreement(agreement_id: Slug, body: RetireBody, principal: PrincipalDep, node: NodeDep) -> AgreementRead:
    return node.policy.retire(agreement_id, body.reason, principal)


# -- national rules and groups ---------------------------------------------------------


@router.get("/api/v1/national-rules", response_model=NationalRulesList)
def list_national_rules(principal: PrincipalDep, node: NodeDep) -> NationalRulesList:
    return NationalRulesList(items=node.policy.national_rules(principal))


@router.get("/api/v1/national-rules/{country}", response_model=NationalRulesRead)
def read_national_rules(country: CountryCode, request: Request, principal: PrincipalDep, node: NodeDep) -> Any:
    rules = node.policy.national_rules_of(country, principal)
    return _as_yaml_if_asked(request, rules.document) if YAML in request.headers.get("accept", "") else rules


@router.put(
    "/api/v1/national-rules/{country}",
    response_model=NationalRulesRead,
    summary="Set your own country's rules",
    openapi_extra=_both_media(NationalRules),
)
async def put_national_rules(
    country: CountryCode, request: Request, principal: PrincipalDep, node: NodeDep
) -> NationalRulesRead:
    rules = await _document(request, NationalRules)
    if rules.country != country:
        raise BadRequest(
            f"the body is about {rules.country}, the URL about {country}",
            errors=[FieldError("country", f"must be {country}")],
        )
    return await run_in_threadpool(node.policy.set_national_rules, rules, principal)


@router.get("/api/v1/country-groups", response_model=CountryGroupList)
def list_groups(principal: PrincipalDep, node: NodeDep) -> CountryGroupList:
    return CountryGroupList(items=node.policy.groups(principal))


@router.put(
    "/api/v1/country-groups/{name}",
    response_model=CountryGroupRead,
    summary="Define a country group (the hub's administrators)",
    openapi_extra=_both_media(CountryGroup),
)
async def put_group(name: Slug, request: Request, principal: PrincipalDep, node: NodeDep) -> CountryGroupRead:
    group = await _document(request, CountryGroup)
    if group.name != name:
        raise BadRequest(
            f"the body names '{group.name}', the URL '{name}'", errors=[FieldError("name", f"must be {name}")]
        )
    return await run_in_threadpool(node.policy.set_group, group, principal)


# -- decisions -------------------------------------------------------------------------


@router.post(
    "/api/v1/policy/decide",
    response_model=DecisionRead,
    summary="What a given requester would get of a given record, and why (administrators and auditors)",
)
def decide(body: DecideBody, principal: PrincipalDep, node: NodeDep) -> DecisionRead:
    requester = Requester(agency_id=body.agency_id, country=body.country, purpose=body.purpose, user_id=body.user_id)
    at = body.at if body.at is None or body.at.tzinfo else body.at.replace(tzinfo=dt.UTC)  # naive: UTC
    decision = node.policy.explain(principal, requester, body.record_kind, body.record_id, at)
    return DecisionRead.of(decision)


# -- sanctions -------------------------------------------------------------------------


@router.get("/api/v1/suspensions", response_model=SuspensionList)
def list_suspensions(
    principal: PrincipalDep,
    node: NodeDep,
    include_lifted: Annotated[bool, Query(description="Lifted suspensions too")] = False,
) -> SuspensionList:
    return SuspensionList(items=node.policy.suspensions(principal, active_only=not include_lifted))


@router.post(
    "/api/v1/suspensions",
    response_model=SuspensionRead,
    status_code=status.HTTP_201_CREATED,
    summary="Suspend a user or an agency: refused everything from its next request",
)
def suspend(body: SuspensionCreate, principal: PrincipalDep, node: NodeDep) -> SuspensionRead:
    return node.policy.suspend(body.subject_kind, body.subject_id, body.reason, principal, node=body.node)


@router.post("/api/v1/suspensions/{suspension_id}/lift", response_model=SuspensionRead)
def lift_suspension(
    suspension_id: RecordId, body: SuspensionLift, principal: PrincipalDep, node: NodeDep
) -> SuspensionRead:
    return node.policy.lift(suspension_id, body.reason, principal)


# -- retention -------------------------------------------------------------------------


@router.get(
    "/api/v1/retention/due",
    response_model=RetentionDueList,
    summary="Your agency's records whose retention deadline is within six months",
)
def retention_due(
    principal: PrincipalDep, node: NodeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> RetentionDueList:
    due = node.retention.due(principal, limit=limit)
    return RetentionDueList(
        items=[
            RetentionDue(
                record_kind=item.kind,
                record_id=item.id,
                label=item.label,
                retain_until=item.retain_until,
                review_requested_at=item.review_requested_at,
            )
            for item in due
        ]
    )


@router.post(
    "/api/v1/retention/extend",
    response_model=RetentionExtended,
    summary="Keep one of your agency's records past its deadline, with reasons",
)
def extend_retention(body: RetentionExtend, principal: PrincipalDep, node: NodeDep) -> RetentionExtended:
    until = body.retain_until if body.retain_until.tzinfo else body.retain_until.replace(tzinfo=dt.UTC)
    kept = node.retention.extend(body.record_kind, body.record_id, until, body.reason, principal)
    return RetentionExtended(record_kind=body.record_kind, record_id=body.record_id, retain_until=kept)
