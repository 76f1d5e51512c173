"""Request and response bodies shared by every record kind."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Any

from pydantic import BaseModel, Field, create_model

from polex.domain.base import Provenance, Restrictions, SchemaModel
from polex.domain.records import RecordType


class ProvenanceIn(Provenance):
    """Provenance as a client declares it; polex adds the values it normalises itself."""


def _class_name(record_type: RecordType) -> str:
    return "".join(part.title() for part in record_type.kind.value.split("_"))


@cache
def create_model_for(record_type: RecordType) -> type[BaseModel]:
    return create_model(
        f"{_class_name(record_type)}Create",
        __base__=record_type.content,
        restrictions=(
            Restrictions | None,
            Field(default=None, description="Defaults to TLP:AMBER"),
        ),
        provenance=(ProvenanceIn | None, None),
    )


@cache
def update_model_for(record_type: RecordType) -> type[BaseModel]:
    return create_model(
        f"{_class_name(record_type)}Update",
        __base__=record_type.content,
        restrictions=(
            Restrictions | None,
            Field(default=None, description="Unchanged when omitted"),
        ),
        version=(
            int | None,
            Field(
                default=None,
                ge=1,
                description="The version this update replaces (or send If-Match)",
            ),
        ),
    )


class RuleView(SchemaModel):
    code: str = Field(description="e.g. agreement.full, restriction.hit_only_countries, national.never_shared")
    text: str
    reference: str | None = Field(description="The legal reference or document the rule comes from")


class AccessView(SchemaModel):
    """The policy's decision on this record for this requester, and why."""

    outcome: str = Field(description="full, redacted or hit_only")
    removed_fields: list[str] = Field(description="Content fields withheld from you")
    consult_owner: bool = Field(description="Consult the owner before any action on this record")
    onward_transmission: bool = Field(description="You may pass this record on to third parties")
    rules: list[RuleView]


@cache
def view_model_for(record_type: RecordType) -> type[BaseModel]:
    """A record as a requester sees it (documentation only: redacted and hit-only answers
    lack the fields the policy removed)."""
    return create_model(f"{_class_name(record_type)}View", __base__=record_type.record, access=(AccessView, ...))


@cache
def page_model_for(record_type: RecordType) -> type[BaseModel]:
    view = view_model_for(record_type)
    return create_model(
        f"{_class_name(record_type)}Page",
        __base__=SchemaModel,
        items=(list[view], ...),  # type: ignore[valid-type]
        next_cursor=(
            str | None,
            Field(description="Pass as ?cursor= for the next page; null at the end"),
        ),
    )


def content_fields(model: BaseModel, record_type: RecordType) -> dict[str, Any]:
    """The content part of a create or update body, as the domain model validated it."""
    names = set(record_type.content.model_fields)
    return model.model_dump(mode="json", include=names)


class AccessCheckpoint(SchemaModel):
    """The reporting node's signed checkpoint that holds a reported entry: ask that node for
    ``/api/v1/audit/proofs/inclusion?index={entry}&size={size}`` and check it against ``root``."""

    log: str | None = Field(description="The reporting node's log (the checkpoint's origin)")
    size: int
    root: str | None = Field(description="The tree's root hash at that size, base64")


class AccessRead(SchemaModel):
    """One access to a record as its owner sees it: which agency and country, when, why,
    where (this node, or another that reported it) and the audit entry that proves it
    (not the officer's name)."""

    at: dt.datetime
    tag: str
    agency_id: str | None
    country: str | None
    purpose: str | None
    case_reference: str | None = Field(description="On this node only; other nodes report whether one was declared")
    case_declared: bool
    decision: str
    node: str | None = Field(description="The node where it happened")
    entry: int = Field(description="The entry's sequence number in that node's audit log")
    reported: bool = Field(description="Reported by another node, not in this node's log")
    checkpoint: AccessCheckpoint | None = None


class AccessList(SchemaModel):
    items: list[AccessRead]
