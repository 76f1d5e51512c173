"""The record envelope every polex record carries, and the base of all schema models."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from uuid_utils import uuid7

from polex.domain.countries import CountryCode

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
RecordId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
]


def new_id() -> str:
    """A globally unique, time-ordered identifier (UUIDv7, RFC 9562; uuid-utils, in Rust,
    because the audit trail makes one for every access)."""
    return str(uuid7())


# C0 controls but tab, line feed and carriage return; DEL. PostgreSQL cannot store NUL in
# text, and no police record has a reason to hold the others.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_search_control = _CONTROL_CHARACTERS.search


def control_character_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (the first control character it holds), or None."""
    match = _CONTROL_CHARACTERS.search(text)
    if match is None:
        return None
    return f"control character U+{ord(match.group()):04X} is not allowed in text"


def _texts(value: Any) -> list[str]:
    """The strings a field holds directly (nested models check their own fields)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str)]
    if isinstance(value, Mapping):
        return [item for item in (*value.keys(), *value.values()) if isinstance(item, str)]
    return []


class SchemaModel(BaseModel):
    """Strict models: unknown fields are errors, never silently dropped; text holds no
    control characters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        # Every field of every model passes here; most hold one string: no list of one to build.
        if value.__class__ is str:
            if _search_control(value) is None:
                return value
            raise ValueError(control_character_problem(value))
        for text in _texts(value):  # a list's or a mapping's own strings
            if _search_control(text) is not None:
                raise ValueError(control_character_problem(text))
        return value


class RecordKind(StrEnum):
    PERSON = "person"
    TRAVEL_DOCUMENT = "travel_document"
    VEHICLE = "vehicle"
    CASE = "case"
    NOTICE = "notice"  # a notice or diffusion in force (its lifecycle lives in polex.notice)
    INTEL = "intel"  # one STIX 2.1 object of threat intelligence (polex.domain.intel)


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 handling codes (FIRST)."""

    CLEAR = "TLP:CLEAR"
    GREEN = "TLP:GREEN"
    AMBER = "TLP:AMBER"
    AMBER_STRICT = "TLP:AMBER+STRICT"
    RED = "TLP:RED"


class Restrictions(SchemaModel):
    """The owner's conditions on a record. The policy engine gives them their full effect."""

    handling: Tlp = Tlp.AMBER
    allowed_countries: list[CountryCode] | None = Field(
        default=None, description="Only these countries may see the record; null means no list"
    )
    excluded_countries: list[CountryCode] = Field(default_factory=list)
    hit_only_countries: list[CountryCode] = Field(
        default_factory=list, description="These countries learn only that a record exists"
    )
    allowed_agencies: list[RecordId] | None = Field(
        default=None, description="Only these agencies may see the record; null means no list"
    )
    excluded_agencies: list[RecordId] = Field(default_factory=list)
    hit_only_agencies: list[RecordId] = Field(
        default_factory=list, description="These agencies learn only that a record exists"
    )
    consult_owner: bool = Field(default=False, description="Consult the owner before any action")
    onward_transmission: bool = Field(default=False, description="Recipients may pass it on")


class Provenance(SchemaModel):
    """Where a record came from, and the original value of every field polex normalised."""

    model_config = ConfigDict(str_strip_whitespace=False)  # originals are kept exactly as received

    source_format: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "api"
    source_id: Text | None = None
    original_values: dict[str, str] = Field(
        default_factory=dict,
        description="Field path (e.g. 'names/0/value') to the value as received, where normalised",
    )


class Owner(SchemaModel):
    agency_id: RecordId
    country: CountryCode


class RecordEnvelope(SchemaModel):
    """Fields every stored record carries, whatever its kind."""

    id: RecordId
    kind: RecordKind
    schema_version: str = Field(default="polex.schema/v1", alias="schema", serialization_alias="schema")
    owner: Owner
    restrictions: Restrictions
    provenance: Provenance
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int = Field(ge=1)

    model_config = ConfigDict(populate_by_name=True)


def collect_original_values(raw: Any, normalised: Any, path: str = "") -> dict[str, str]:
    """Paths of string values that normalisation changed, mapped to the value as received.

    ``raw`` is the input as decoded JSON; ``normalised`` is the validated model dumped to JSON.
    Only leaves that were strings and came out as different strings are recorded.
    """
    found: dict[str, str] = {}
    if isinstance(raw, Mapping) and isinstance(normalised, Mapping):
        for key, value in raw.items():
            if key in normalised:
                found.update(collect_original_values(value, normalised[key], f"{path}/{key}"))
    elif isinstance(raw, list) and isinstance(normalised, list):
        for index, (before, after) in enumerate(zip(raw, normalised, strict=False)):
            found.update(collect_original_values(before, after, f"{path}/{index}"))
    elif isinstance(raw, str) and isinstance(normalised, str) and raw.strip() != normalised:
        found[path.lstrip("/")] = raw  # trimming alone is not worth remembering
    return found
