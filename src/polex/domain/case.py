"""Cases: an investigation, its crime types (ICCS) and the records linked to it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from polex.domain.base import LongText, RecordId, RecordKind, SchemaModel, Text
from polex.domain.dates import PastDate
from polex.domain.iccs import IccsCode


class CaseStatus(StrEnum):
    OPEN = "open"
    UNDER_INVESTIGATION = "under_investigation"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class LinkRole(StrEnum):
    SUSPECT = "suspect"
    WANTED = "wanted"
    VICTIM = "victim"
    WITNESS = "witness"
    MISSING = "missing"
    EVIDENCE = "evidence"
    RELATED = "related"


class CaseLink(SchemaModel):
    kind: RecordKind
    id: RecordId
    role: LinkRole = LinkRole.RELATED


class Case(SchemaModel):
    reference: Text = Field(description="The owner's own case number")
    title: Text
    summary: LongText | None = None
    crime_types: list[IccsCode] = Field(min_length=1, max_length=50)
    status: CaseStatus = CaseStatus.OPEN
    opened_on: PastDate
    closed_on: PastDate | None = None
    links: list[CaseLink] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _dates(self) -> Case:
        if self.closed_on is not None:
            if self.status is not CaseStatus.CLOSED:
                raise ValueError("closed_on: only a closed case has a closing date")
            if self.closed_on < self.opened_on:
                raise ValueError("closed_on: must not be before opened_on")
        return self
