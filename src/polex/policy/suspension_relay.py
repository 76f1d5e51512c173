"""Suspensions the hub imposes on a national node's agency or user, copied to that node in
signed and end-to-end encrypted envelopes, so that the sanction takes effect across the
network and not only at the hub.

The hub sends a ``suspension`` envelope to the national node serving the subject's country
in the transaction of the suspension (and again in that of its lift), carrying the hub's
whole state of it: applying is an upsert by the hub's suspension id, so an envelope that
arrives twice, or a lift that overtakes its suspension, leaves the same copy. The national
node stores the copy marked as the hub's, which its authentication then enforces as it does
its own suspensions, and which only the hub's lift ends.

No other node is told: every other path by which a node acts for an agency of another
country goes through the hub (relayed notice steps, FIND, hit requests), which enforces its
own suspension there; messages leave from the agency's own node, which now refuses them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import orjson
from pydantic import Field, StringConstraints

from polex.domain.base import RecordId, SchemaModel
from polex.domain.countries import CountryCode
from polex.message.outbound import Post
from polex.policy.schemas import SubjectKind

SUSPENSION_TYPE = "application/vnd.polex.suspension+json"

Name = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class HubSuspension(SchemaModel):
    """The hub's state of one suspension, for the node serving its subject's country."""

    id: RecordId = Field(description="The hub's suspension id: the national copy keeps it")
    subject_kind: SubjectKind
    subject_id: RecordId = Field(description="The agency's or the user's id on its national node")
    country: CountryCode
    reason: Text
    suspended_by: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    suspended_by_name: Name
    at: dt.datetime
    lifted_at: dt.datetime | None = None
    lifted_by: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = None
    lifted_by_name: Name | None = None
    lift_reason: Text | None = None


def suspension_post(node: str, state: HubSuspension) -> Post:
    return Post(
        to=node,
        content_type=SUSPENSION_TYPE,
        body=orjson.dumps(state.model_dump(mode="json")),
        conversation_id=state.id,  # the hub delivers a conversation in order: the lift after its suspension
        subject="suspension lifted" if state.lifted_at is not None else "suspension",
    )
