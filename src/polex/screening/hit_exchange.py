"""Hits across nodes: the hub holds every hit on its records; the record's owner country and
the requester's country, each on its national node, keep a copy that follows it.

Four envelope types of the exchange network (signed and encrypted like any message, written
in the transaction of the step that makes them, so that they leave when it commits, or never,
and wait in the outbox while the hub is away):

``application/vnd.polex.hit+json`` (``HitReport``), hub -> national node
    The hit's state, sent when the hub records it and again on every change of its status,
    to the node of the record's owner country (``sides: ["owner"]``: which agency and country
    checked, when, why, what they were shown; never the officer nor the case) and to the node
    whose user's check raised it, ``hits.requester_node`` (``sides: ["requester"]``: what that
    user was shown of the record, its reference, kind and owner, which every answer gives, a
    hit-only one included; its own query, purpose and case; the status with both notes; never
    the record's content). One node serving both countries gets one envelope with both sides.
    The national node keeps the copy (``hits.source_node`` = the hub), tells its users at once
    and lists it: the owner's copy among the hits on its country's records, the requester's
    among its agency's hits. A copy never moves back (``STATUS_ORDER``).

``application/vnd.polex.hit-answer+json`` (``HitAnswer``), owner's node -> hub
    The owner country's bureau confirms or rejects on its copy; the hub accepts the answer only
    from the node serving the record's country, records it and reports the new status to both
    copies.

``application/vnd.polex.hit-request+json`` (``HitRequest``), requester's node -> hub
    The requester asks for confirmation on its copy; the hub accepts the request only from the
    node whose user raised the hit (``requester_node``, serving the requester's country) and
    for the requesting agency, records it as if the requester had asked there and reports it
    to both copies. For a hit found offline (below) the request carries the hit itself, so
    that it stands on its own whichever of the two envelopes reaches the hub first.

``application/vnd.polex.hit-found+json`` (``HitFound``), requester's node -> hub
    A national node that checked against its replica of the hub's records (the hub away, or a
    node answering from its copy) records the hit on a record of another agency and posts it
    to the hub, which stores it under the same id (the record must be the hub's; owner, kind
    and record come from the hub's own row, never from the envelope) and tells the owner's
    node as for its own hits; the requester's hit then follows the hub's status.

Each envelope takes effect once: the hit's id for reports and found hits, and
``applied_envelopes`` (which also keeps why one was refused) for answers, requests and found
hits. National users ask and answer on their own node; only the hub changes a hit it holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Literal

import orjson
from pydantic import AwareDatetime, Field, StringConstraints

from polex.domain.base import RecordId, SchemaModel
from polex.domain.policy import Purpose
from polex.message.outbound import Post
from polex.network.relayed import RelayedBy
from polex.storage.tables import HitRow

HIT_TYPE = "application/vnd.polex.hit+json"
HIT_ANSWER_TYPE = "application/vnd.polex.hit-answer+json"
HIT_REQUEST_TYPE = "application/vnd.polex.hit-request+json"
HIT_FOUND_TYPE = "application/vnd.polex.hit-found+json"

Note = Annotated[str, StringConstraints(max_length=2000)]
Country = Annotated[str, StringConstraints(min_length=3, max_length=3)]
CaseReference = Annotated[str, StringConstraints(max_length=128)]
Side = Literal["owner", "requester"]
# What a requester can have been shown of a record it hit (never ``none``: that is a miss).
SHOWN = frozenset({"full", "redacted", "hit_only"})


def _owner_side() -> list[Side]:
    return ["owner"]


class HitReport(SchemaModel):
    """A hit as its owner (``sides`` has ``owner``) or its requester (``requester``) may
    know it, with its status. The requester's own fields are filled for that side only."""

    id: RecordId
    record_id: RecordId
    record_kind: Annotated[str, StringConstraints(max_length=32)]
    owner_agency_id: RecordId
    owner_country: Country
    requester_agency_id: RecordId
    requester_country: Country
    purpose: Annotated[str, StringConstraints(max_length=64)]
    access: Annotated[str, StringConstraints(max_length=16)]
    query: dict[str, object]
    status: Annotated[str, StringConstraints(max_length=24)]
    created_at: dt.datetime
    requested_at: dt.datetime | None = None
    request_note: Note | None = None
    answered_at: dt.datetime | None = None
    answer_note: Note | None = None
    sides: list[Side] = Field(default_factory=_owner_side, min_length=1, max_length=2)
    # The requester's side only: its own case and officer, which the owner never learns.
    case_reference: CaseReference | None = None
    requester_user_id: Annotated[str, StringConstraints(max_length=36)] | None = None

    @classmethod
    def of(cls, row: HitRow, sides: Iterable[Side] = ("owner",)) -> HitReport:
        told = sorted(set(sides))
        requester = "requester" in told
        return cls(
            id=row.id,
            record_id=row.record_id,
            record_kind=row.record_kind,
            owner_agency_id=row.owner_agency_id,
            owner_country=row.owner_country,
            requester_agency_id=row.requester_agency_id,
            requester_country=row.requester_country,
            purpose=row.purpose,
            access=row.access,
            query=dict(row.query or {}),
            status=row.status,
            created_at=row.created_at,
            requested_at=row.requested_at,
            request_note=row.request_note,
            answered_at=row.answered_at,
            answer_note=row.answer_note,
            sides=told,
            case_reference=row.case_reference if requester else None,
            requester_user_id=row.requester_user_id if requester else None,
        )

    def apply_to(self, row: HitRow) -> None:
        """Bring a copy to the hub's state (the caller keeps a newer status from going back)."""
        row.status = self.status
        row.requested_at = self.requested_at
        row.request_note = self.request_note
        row.answered_at = self.answered_at
        row.answer_note = self.answer_note

    def new_row(self, source_node: str) -> HitRow:
        requester = "requester" in self.sides
        return HitRow(
            id=self.id,
            record_id=self.record_id,
            record_kind=self.record_kind,
            owner_agency_id=self.owner_agency_id,
            owner_country=self.owner_country,
            requester_agency_id=self.requester_agency_id,
            requester_country=self.requester_country,
            # The owner never learns the officer nor the case; the requester's node knows both.
            requester_user_id=self.requester_user_id if requester else None,
            purpose=self.purpose,
            case_reference=self.case_reference if requester else None,
            access=self.access,
            query=dict(self.query),
            status=self.status,
            created_at=self.created_at,
            requested_at=self.requested_at,
            request_note=self.request_note,
            answered_at=self.answered_at,
            answer_note=self.answer_note,
            source_node=source_node,
        )


class HitAnswer(SchemaModel):
    """The owner country's answer to a confirmation request, from its national node."""

    hit_id: RecordId
    confirmed: bool
    note: Note | None = None
    by: RelayedBy


class HitFound(SchemaModel):
    """A hit a national node's check found on its replica of the hub's records: what its
    user was shown (the access level the hub decided for the copy) and asked."""

    id: RecordId
    record_id: RecordId
    record_kind: Annotated[str, StringConstraints(max_length=32)]
    owner_agency_id: RecordId
    owner_country: Country
    requester_agency_id: RecordId
    requester_country: Country
    purpose: Purpose
    case_reference: CaseReference | None = None
    access: Annotated[str, StringConstraints(max_length=16)]
    query: dict[str, object]
    created_at: AwareDatetime
    # Who reports it: the officer whose check found it (with a request: the one who asks).
    by: RelayedBy

    @classmethod
    def of(cls, row: HitRow, by: RelayedBy) -> HitFound:
        return cls(
            id=row.id,
            record_id=row.record_id,
            record_kind=row.record_kind,
            owner_agency_id=row.owner_agency_id,
            owner_country=row.owner_country,
            requester_agency_id=row.requester_agency_id,
            requester_country=row.requester_country,
            purpose=Purpose(row.purpose),
            case_reference=row.case_reference,
            access=row.access,
            query=dict(row.query or {}),
            created_at=row.created_at,
            by=by,
        )


class HitRequest(SchemaModel):
    """The requester's confirmation request, asked on its national node's copy."""

    hit_id: RecordId
    note: Note | None = None
    requested_at: AwareDatetime
    by: RelayedBy
    # A hit found offline on the replica travels with its request: the hub may not have it yet.
    found: HitFound | None = None


def report_post(node: str, row: HitRow, sides: Iterable[Side] = ("owner",)) -> Post:
    report = HitReport.of(row, sides)
    # An owner's report leaves out what is at its default (the requester's fields, ``sides``):
    # the same body a node built before requesters had copies reads.
    body = report.model_dump(mode="json", exclude_defaults=report.sides == ["owner"])
    return Post(
        to=node,
        content_type=HIT_TYPE,
        body=orjson.dumps(body),
        conversation_id=row.id,
        subject=f"hit {row.status}",
    )


def _to_hub(hub: str, content_type: str, body: SchemaModel, hit_id: str, subject: str) -> Post:
    """A national node's envelope to the hub about one hit (its conversation)."""
    return Post(
        to=hub,
        content_type=content_type,
        body=orjson.dumps(body.model_dump(mode="json")),
        conversation_id=hit_id,
        subject=subject,
    )


def answer_post(hub: str, answer: HitAnswer) -> Post:
    return _to_hub(hub, HIT_ANSWER_TYPE, answer, answer.hit_id, "hit answer")


def request_post(hub: str, request: HitRequest) -> Post:
    return _to_hub(hub, HIT_REQUEST_TYPE, request, request.hit_id, "hit confirmation request")


def found_post(hub: str, found: HitFound) -> Post:
    return _to_hub(hub, HIT_FOUND_TYPE, found, found.id, "hit found offline")


# A copy never moves back: the order of a hit's statuses.
STATUS_ORDER = {"unconfirmed": 0, "confirmation_requested": 1, "confirmed": 2, "rejected": 2}
