from __future__ import annotations

import datetime as dt

from polex.domain.audit import AuditEvent
from polex.domain.base import SchemaModel


class CheckpointRead(SchemaModel):
    origin: str
    size: int
    root: str  # base64, as in the signed note
    at: dt.datetime
    note: str
    verifier_key: str


class InclusionProofRead(SchemaModel):
    index: int
    size: int
    leaf_hash: str
    proof: list[str]


class ConsistencyProofRead(SchemaModel):
    first: int
    second: int
    proof: list[str]


class EventPage(SchemaModel):
    items: list[AuditEvent]
    next_after: int | None


class EventEntry(SchemaModel):
    event: AuditEvent
    leaf_hash: str
    query_terms: dict[str, str]


class WitnessedRead(SchemaModel):
    log: str
    size: int
    note: str


class WitnessedList(SchemaModel):
    items: list[WitnessedRead]


class AlertRead(SchemaModel):
    kind: str
    log: str
    detail: str
    evidence: dict[str, object]


class AlertList(SchemaModel):
    items: list[AlertRead]
