"""Hits across nodes: the hub tells a record's owner country, on its national node, that
its record was found, and the owner's answer to a confirmation request goes back to the hub.

The hub holds every hit it raised (its checks, and national nodes' checks asked online).
When the record's owner country has a national node, the hub writes, in the check's own
transaction, an ``application/vnd.polex.hit+json`` envelope to that node with what the
owner may learn (which agency and country checked, when, why, what they were shown; never
the officer or the case) and sends it again on every change of the hit's status. The
national node keeps a copy (``hits.source_node``), tells its users at once, and lists it
with the hits on its country's records. Its bureau (an agency of that country with the
right to change records) answers a confirmation request there; the answer travels back as
``application/vnd.polex.hit-answer+json`` and the hub, which checks that the answering node
serves the record's country, records it and tells the requester. Each envelope takes
effect once: the hit's id, and ``applied_envelopes`` for answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import orjson
from pydantic import StringConstraints

from polex.domain.base import RecordId, SchemaModel
from polex.message.outbound import Post
from polex.network.relayed import RelayedBy
from polex.storage.tables import HitRow

HIT_TYPE = "application/vnd.polex.hit+json"
HIT_ANSWER_TYPE = "application/vnd.polex.hit-answer+json"

Note = Annotated[str, StringConstraints(max_length=2000)]


class HitReport(SchemaModel):
    """A hit as its owner may know it, with its status."""

    id: RecordId
    record_id: RecordId
    record_kind: Annotated[str, StringConstraints(max_length=32)]
    owner_agency_id: RecordId
    owner_country: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    requester_agency_id: RecordId
    requester_country: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    purpose: Annotated[str, StringConstraints(max_length=64)]
    access: Annotated[str, StringConstraints(max_length=16)]
    query: dict[str, object]
    status: Annotated[str, StringConstraints(max_length=24)]
    created_at: dt.datetime
    requested_at: dt.datetime | None = None
    request_note: Note | None = None
    answered_at: dt.datetime | None = None
    answer_note: Note | None = None

    @classmethod
    def of(cls, row: HitRow) -> HitReport:
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
        )

    def apply_to(self, row: HitRow) -> None:
        """Bring the owner's copy to the hub's state (a newer status never goes back)."""
        row.status = self.status
        row.requested_at = self.requested_at
        row.request_note = self.request_note
        row.answered_at = self.answered_at
        row.answer_note = self.answer_note

    def new_row(self, source_node: str) -> HitRow:
        return HitRow(
            id=self.id,
            record_id=self.record_id,
            record_kind=self.record_kind,
            owner_agency_id=self.owner_agency_id,
            owner_country=self.owner_country,
            requester_agency_id=self.requester_agency_id,
            requester_country=self.requester_country,
            requester_user_id=None,  # the owner never learns the officer
            purpose=self.purpose,
            case_reference=None,  # nor the requester's case
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


def report_post(node: str, row: HitRow) -> Post:
    return Post(
        to=node,
        content_type=HIT_TYPE,
        body=orjson.dumps(HitReport.of(row).model_dump(mode="json")),
        conversation_id=row.id,
        subject=f"hit {row.status}",
    )


def answer_post(hub: str, answer: HitAnswer) -> Post:
    return Post(
        to=hub,
        content_type=HIT_ANSWER_TYPE,
        body=orjson.dumps(answer.model_dump(mode="json")),
        conversation_id=answer.hit_id,
        subject="hit answer",
    )


# A copy never moves back: the order of a hit's statuses.
STATUS_ORDER = {"unconfirmed": 0, "confirmation_requested": 1, "confirmed": 2, "rejected": 2}
