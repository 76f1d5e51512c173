"""Stored records: the envelope plus one kind's content, and the registry of kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from polex.domain.base import RecordEnvelope, RecordKind, SchemaModel
from polex.domain.case import Case
from polex.domain.document import TravelDocument
from polex.domain.intel import Intel
from polex.domain.notice import Notice
from polex.domain.person import Person
from polex.domain.vehicle import Vehicle


class PersonRecord(RecordEnvelope, Person):
    kind: Literal[RecordKind.PERSON] = RecordKind.PERSON


class TravelDocumentRecord(RecordEnvelope, TravelDocument):
    kind: Literal[RecordKind.TRAVEL_DOCUMENT] = RecordKind.TRAVEL_DOCUMENT


class VehicleRecord(RecordEnvelope, Vehicle):
    kind: Literal[RecordKind.VEHICLE] = RecordKind.VEHICLE


class CaseRecord(RecordEnvelope, Case):
    kind: Literal[RecordKind.CASE] = RecordKind.CASE


class NoticeRecord(RecordEnvelope, Notice):
    kind: Literal[RecordKind.NOTICE] = RecordKind.NOTICE


class IntelRecord(RecordEnvelope, Intel):
    kind: Literal[RecordKind.INTEL] = RecordKind.INTEL


@dataclass(frozen=True)
class RecordType:
    kind: RecordKind
    content: type[SchemaModel]
    record: type[RecordEnvelope]
    plural: str  # the collection name in URLs and JSON Schema file names


RECORD_TYPES: dict[RecordKind, RecordType] = {
    RecordKind.PERSON: RecordType(RecordKind.PERSON, Person, PersonRecord, "persons"),
    RecordKind.TRAVEL_DOCUMENT: RecordType(
        RecordKind.TRAVEL_DOCUMENT, TravelDocument, TravelDocumentRecord, "travel-documents"
    ),
    RecordKind.VEHICLE: RecordType(RecordKind.VEHICLE, Vehicle, VehicleRecord, "vehicles"),
    RecordKind.CASE: RecordType(RecordKind.CASE, Case, CaseRecord, "cases"),
    RecordKind.NOTICE: RecordType(RecordKind.NOTICE, Notice, NoticeRecord, "notices"),
    RecordKind.INTEL: RecordType(RecordKind.INTEL, Intel, IntelRecord, "intel"),
}
