from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from polex.domain.base import SchemaModel


class ImportRead(SchemaModel):
    id: str
    format: str
    accepted: int = Field(description="Items taken: records stored and notice drafts created")
    rejected: int = Field(description="Items quarantined")
    by_kind: dict[str, int] = Field(description="Records stored, by kind")
    reasons: dict[str, int] = Field(description="'field: reason' of the quarantined items, to how many")
    drafts: int = Field(default=0, description="Notice drafts created for the caller's agency (notice formats)")
    draft_ids: list[str] = Field(
        default_factory=list, description="The drafts, in the order of the file: /api/v1/notices/{id}"
    )
    dry_run: bool = Field(default=False, description="Nothing was written: the counts say what the import would do")
    problems: list[dict[str, str]] = Field(
        default_factory=list,
        description="A dry run's first 1,000 items it would quarantine: their location, field and reason",
    )


class QuarantinedRead(SchemaModel):
    id: str
    status: str = Field(description="open, released (as a corrected record) or discarded")
    resolution: str | None = Field(description="The record released, or why the item was discarded")
    resolved_at: dt.datetime | None
    location: str
    field: str
    reason: str
    errors: list[dict[str, str]]
    raw: str
    at: dt.datetime


class QuarantineList(SchemaModel):
    import_id: str
    items: list[QuarantinedRead]


class FormatRead(SchemaModel):
    name: str
    description: str
    media_types: list[str]
    writable: bool
    reads_into: str = Field(
        default="records",
        description="records, or notice_requests: an import creates notice drafts (at the hub, by an NCB operator)",
    )


class FormatList(SchemaModel):
    items: list[FormatRead]


Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]


class QuarantineRelease(SchemaModel):
    """A corrected record for a quarantined item, in the common schema of its kind."""

    kind: Annotated[str, StringConstraints(pattern=r"^(person|travel_document|vehicle|case|intel)$")]
    record: dict[str, Any]
    note: Note = Field(description="What was corrected, for the audit trail")


class QuarantineReleased(SchemaModel):
    item_id: str
    record_id: str
    kind: str


class QuarantineDiscard(SchemaModel):
    reason: Note


class ImportRunRead(SchemaModel):
    id: str
    format: str
    source: str
    status: str = Field(description="running, finished, failed or interrupted")
    error: str | None = None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    accepted: int = Field(description="Records stored and notice drafts created so far")
    rejected: int = Field(description="Items quarantined so far")


class ImportRunList(SchemaModel):
    items: list[ImportRunRead]
