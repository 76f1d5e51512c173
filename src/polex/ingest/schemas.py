from __future__ import annotations

import datetime as dt

from polex.domain.base import SchemaModel


class ImportRead(SchemaModel):
    id: str
    format: str
    accepted: int
    rejected: int
    by_kind: dict[str, int]
    reasons: dict[str, int]


class QuarantinedRead(SchemaModel):
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


class FormatList(SchemaModel):
    items: list[FormatRead]
