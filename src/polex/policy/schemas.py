"""What the policy API reads and writes."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from polex.domain.base import LongText, RecordId, SchemaModel
from polex.domain.countries import CountryCode
from polex.domain.policy import Agreement, CountryGroup, NationalRules, Purpose

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]


class AgreementStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"  # a party has not approved this version yet
    IN_FORCE = "in_force"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    RETIRED = "retired"


class Approval(SchemaModel):
    country: str
    user_id: str
    at: dt.datetime


class AgreementRead(SchemaModel):
    document: Agreement
    version: int
    status: AgreementStatus
    approvals: list[Approval]
    awaiting: list[str] = Field(description="Parties (countries) whose approval of this version is missing")
    proposed_by_country: str
    created_at: dt.datetime
    updated_at: dt.datetime
    retired_at: dt.datetime | None = None
    retired_reason: str | None = None


class AgreementList(SchemaModel):
    items: list[AgreementRead]


class AgreementVersionRead(SchemaModel):
    version: int
    document: Agreement
    proposed_by: str
    at: dt.datetime


class AgreementVersionList(SchemaModel):
    items: list[AgreementVersionRead]


class ApproveBody(SchemaModel):
    version: int = Field(ge=1, description="The version you read and approve")


class RetireBody(SchemaModel):
    reason: Reason


class NationalRulesRead(SchemaModel):
    document: NationalRules
    version: int
    updated_at: dt.datetime


class NationalRulesList(SchemaModel):
    items: list[NationalRulesRead]


class CountryGroupRead(SchemaModel):
    document: CountryGroup
    version: int
    updated_at: dt.datetime


class CountryGroupList(SchemaModel):
    items: list[CountryGroupRead]


class SubjectKind(StrEnum):
    USER = "user"
    AGENCY = "agency"


class SuspensionCreate(SchemaModel):
    subject_kind: SubjectKind
    subject_id: RecordId
    reason: Reason
    node: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = Field(
        default=None,
        description="At the hub only: the national node of a user (or agency) the hub has not registered, "
        "as the hub's trail names a relayed user (user@node); the suspension is copied to that node",
    )


class SuspensionLift(SchemaModel):
    reason: Reason


class SuspensionRead(SchemaModel):
    id: str
    subject_kind: SubjectKind
    subject_id: str
    country: str
    reason: str
    suspended_by: str
    at: dt.datetime
    lifted_at: dt.datetime | None = None
    lifted_by: str | None = None
    lift_reason: str | None = None
    suspended_by_name: str | None = None
    lifted_by_name: str | None = None
    imposed_by: str | None = Field(
        default=None,
        description="On a national node: the hub that imposed this suspension (a copy only the hub's lift ends)",
    )


class SuspensionList(SchemaModel):
    items: list[SuspensionRead]


class DecideBody(SchemaModel):
    """A requester, described, and a record: what would the requester get, and why."""

    record_kind: Annotated[str, StringConstraints(pattern=r"^(person|travel_document|vehicle|case)$")]
    record_id: RecordId
    agency_id: RecordId
    country: CountryCode
    purpose: Purpose
    user_id: RecordId | None = None
    at: dt.datetime | None = Field(default=None, description="Decide as of this time; now by default")


class RuleRead(SchemaModel):
    code: str
    text: str
    reference: str | None = None


class DecisionRead(SchemaModel):
    outcome: str
    removed_fields: list[str]
    consult_owner: bool
    onward_transmission: bool
    rules: list[RuleRead]

    @classmethod
    def of(cls, decision: Any) -> DecisionRead:
        return cls.model_validate(decision.as_dict())


class DryRunChange(SchemaModel):
    country: str
    record_kind: str
    purpose: str
    before: str
    after: str
    records: int


class DryRunReport(SchemaModel):
    agreement_id: str
    countries: list[str] = Field(description="Requester countries considered")
    records_considered: int
    decisions: int
    changes: list[DryRunChange]


class DryRunBody(SchemaModel):
    document: Agreement
    note: LongText | None = None


class RetentionDue(SchemaModel):
    record_kind: str
    record_id: str
    label: str
    retain_until: dt.datetime
    review_requested_at: dt.datetime | None


class RetentionDueList(SchemaModel):
    items: list[RetentionDue]


class RetentionExtend(SchemaModel):
    record_kind: Annotated[str, StringConstraints(pattern=r"^(person|travel_document|vehicle|case)$")]
    record_id: RecordId
    retain_until: dt.datetime
    reason: Reason


class RetentionExtended(SchemaModel):
    record_kind: str
    record_id: str
    retain_until: dt.datetime
