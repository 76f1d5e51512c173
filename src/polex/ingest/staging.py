"""Making what an adapter read ready to store: the record of the common schema, its owner
checked, its row prepared (projection and JSON). Pure work on plain data, done by the
import's reading thread or, for a large input split into items, by worker processes
(polex.ingest.parallel): a :class:`Stager` pickles as its record features and the owner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from polex.auth.principal import Principal
from polex.domain.base import Owner, Provenance, RecordKind
from polex.domain.intel import GenericObject, TypedObject
from polex.domain.notice import NoticeRequest
from polex.domain.records import RECORD_TYPES
from polex.errors import PolexError
from polex.formats.registry import Accepted, FormatAdapter, ReadResult, Rejection
from polex.intel.feature import intel_record
from polex.record.repository import NewRow
from polex.record.service import NewRecord, prepare_row
from polex.record.spec import RecordFeature


def kind_of(record: BaseModel) -> str | None:
    """The record kind a model read by an adapter is (or extends)."""
    model = type(record)
    if model not in _KINDS:  # isinstance on pydantic models is slow, and asked twice a record
        _KINDS[model] = _kind_of_model(model)
    return _KINDS[model]


def _kind_of_model(model: type[BaseModel]) -> str | None:
    for record_type in RECORD_TYPES.values():
        if issubclass(model, record_type.content):
            return record_type.kind.value
    if issubclass(model, TypedObject | GenericObject):  # a STIX object: an intel record holds one
        return RecordKind.INTEL.value
    return None


_KINDS: dict[type[BaseModel], str | None] = {}


@dataclass(frozen=True, slots=True)
class Staged:
    """A record read from the input, ready to store: its kind, its prepared row, and the item
    as received (``raw``, ``location``) should the store refuse it."""

    kind: str
    row: NewRow
    raw: str
    location: str

    def as_tuple(self) -> tuple[Any, ...]:
        """Plain values, to send between processes: a tuple pickles three times faster than
        the dataclasses it holds, and a worker sends one per row."""
        row = self.row
        return (
            self.kind,
            self.raw,
            self.location,
            row.id,
            row.id_given,
            row.owner_agency_id,
            row.owner_country,
            row.key,
            row.label,
            row.status,
            row.terms,
            row.restrictions,
            row.provenance,
            row.content,
            tuple(row.lookup),
        )

    @classmethod
    def from_tuple(cls, values: tuple[Any, ...]) -> Staged:
        kind, raw, location, row_id, id_given, agency, country, key, label, status, terms, *documents, lookup = values
        restrictions, provenance, content = documents
        row = NewRow(
            row_id,
            id_given,
            agency,
            country,
            key,
            label,
            status,
            terms,
            restrictions,
            provenance,
            content,
            frozenset(lookup),
        )
        return cls(kind, row, raw, location)


class Stager:
    """Turns read results into :class:`Staged` rows for ``owner``'s agency; rejections,
    notice requests (they enter through the notice lifecycle) and refusals (a kind polex
    does not store, a record the agency may not own) come out as read results."""

    def __init__(
        self,
        features: Mapping[str, RecordFeature],
        owner: Principal,
        *,
        adapter: FormatAdapter,
    ) -> None:
        self.features = dict(features)
        self.owner = owner
        self.format_name = adapter.name
        # A STIX adapter learns the input's TLP markings as it reads: asked for each object.
        self._adapter: FormatAdapter | None = adapter

    def __getstate__(self) -> dict[str, Any]:
        # Sent to worker processes without the adapter: only split inputs go there, and
        # they define no markings (an adapter with markings reads in the importing process).
        return {"features": self.features, "owner": self.owner, "format_name": self.format_name, "_adapter": None}

    def stage(self, result: ReadResult) -> ReadResult | Staged:
        if isinstance(result, Rejection) or isinstance(result.record, NoticeRequest):
            return result
        kind = kind_of(result.record)
        if kind is None:
            return refused(result, "record", f"polex stores no {type(result.record).__name__}")
        new = self.new_record(kind, result)
        feature = self.features[kind_of(new.content) or ""]
        if feature.check_owner is not None:
            try:
                feature.check_owner(new.content, self.owner)
            except PolexError as error:
                return refused(result, "owner", error.detail)
        return Staged(feature.record_type.kind.value, prepare_row(feature, new), result.raw, result.location)

    def new_record(self, kind: str, result: Accepted) -> NewRecord:
        """The record to store. Adapters may read into subclasses of the schema's types that
        also carry a stable id and provenance (FtM does); the stored content is the schema's
        type alone, and the id makes a repeated import a no-op rather than a copy. A STIX
        object becomes the content of an intel record, with the TLP markings the input
        defines (an adapter's ``tlp_markings``) setting its handling."""
        owner = self.owner
        content_type = RECORD_TYPES[RecordKind(kind)].content
        record = result.record
        if isinstance(record, TypedObject | GenericObject):
            return intel_record(
                record,
                Owner(agency_id=owner.agency_id, country=owner.country),
                format_name=self.format_name,
                tlp_markings=getattr(self._adapter, "tlp_markings", None),
            )
        content_json = None
        if type(record) is content_type:  # validated as the schema's type already (csv-mapping): as read
            content: BaseModel = record
            carried: dict[str, Any] = {}  # the schema's own type carries no id or provenance
            content_json = result.content_json
        else:
            content = content_type.model_validate(record.model_dump(include=set(content_type.model_fields)))
            carried = record.__dict__
        provenance = result.provenance or carried.get("provenance") or Provenance(source_format=self.format_name)
        return NewRecord(
            content=content,
            owner_agency_id=owner.agency_id,
            owner_country=owner.country,
            provenance=provenance,
            id=carried.get("id"),
            content_json=content_json,
        )


def refused(accepted: Accepted | Staged, field_name: str, reason: str) -> Rejection:
    """A rejection of an item read well but refused (by staging or by the store), as received."""
    return Rejection(field_name, reason, raw=accepted.raw, location=accepted.location)
