"""Notice requests from a national node to the hub, and the hub's lifecycle reports back,
in signed and end-to-end encrypted envelopes (the exchange network's store and forward).

A national bureau's officers draft on their own node (data flow 1 of the design): the draft
and its pre-checks stay there. When the source submits, issues a diffusion, updates a notice
in force, cancels or extends, its node writes the step, with the whole request, to its
outbox in the transaction of the step, and the network carries it to the hub:

- ``notice-file``: one envelope per photo or document not yet sent (each file is at most
  10 MB, an envelope at most 16 MiB), ahead of the step that names it;
- ``notice-step``: the action, the request as the source wrote it, and who acted.

Each envelope also carries the request, so the hub can open the draft from whichever comes
first. The hub acts as the source would at the hub (same lifecycle, same checks), as a
*relayed* principal of the source's agency: the agency keeps the id it has on its national
node, so a notice's owner is the same on every node. The hub answers with a
``notice-report`` to the source node after every step of that notice (its own reviewers'
decisions, the clock's, and the source's relayed steps, accepted or refused), carrying the
hub's state: the national node's copy follows it. Conversations are per notice, so the hub
delivers a notice's envelopes in order; each effect happens once (``applied_envelopes``).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Any

import orjson
from pydantic import Field, StringConstraints

from polex.domain.base import Provenance, RecordId, Restrictions, SchemaModel
from polex.domain.notice import Action, NoticeRequest
from polex.message.outbound import Post
from polex.network.relayed import RelayedBy

STEP_TYPE = "application/vnd.polex.notice-step+json"
FILE_TYPE = "application/vnd.polex.notice-file+json"
REPORT_TYPE = "application/vnd.polex.notice-report+json"

# The source's steps a national node relays; the rest of the lifecycle happens at the hub.
RELAYED_ACTIONS = frozenset({Action.SUBMIT, Action.ISSUE, Action.UPDATE, Action.CANCEL, Action.EXTEND})

Name = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class RelayedDraft(SchemaModel):
    """The request as its source last wrote it, carried by every relayed envelope."""

    notice_id: RecordId
    request: NoticeRequest
    restrictions: Restrictions
    by: RelayedBy
    provenance: Provenance | None = None  # where the source's request came from, if imported


class RelayedStep(RelayedDraft):
    action: Action
    reason: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    valid_until: dt.date | None = None
    source_version: int = Field(ge=1, description="The national copy's version after the step")


class RelayedFile(RelayedDraft):
    file_id: RecordId
    media_type: Annotated[str, StringConstraints(max_length=100)]
    name: Annotated[str, StringConstraints(max_length=500)] | None = None
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    data: str = Field(description="The file's bytes, base64")

    def content(self) -> bytes:
        return base64.b64decode(self.data, validate=True)


class NoticeReport(SchemaModel):
    """The hub's state of a notice after one step, for its source node."""

    notice_id: RecordId
    action: Action
    by: str = Field(description="hub, source or system")
    at: dt.datetime
    reason: str | None = None
    refused: str | None = Field(default=None, description="Why the hub refused the source's relayed step")
    errors: list[dict[str, str]] = Field(default_factory=list)
    exists: bool = Field(description="False when the hub holds nothing of this notice (a refused first step)")
    status: str | None = None
    from_status: str | None = None
    reference: str | None = None
    submitted_at: dt.datetime | None = None
    published_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    review_due_at: dt.datetime | None = None
    review_requested_at: dt.datetime | None = None
    findings: list[dict[str, Any]] = Field(default_factory=list)


def step_post(hub: str, step: RelayedStep) -> Post:
    return Post(
        to=hub,
        content_type=STEP_TYPE,
        body=orjson.dumps(step.model_dump(mode="json")),
        conversation_id=step.notice_id,
        subject=f"notice {step.action.value}",
    )


def file_post(hub: str, file: RelayedFile) -> Post:
    return Post(
        to=hub,
        content_type=FILE_TYPE,
        body=orjson.dumps(file.model_dump(mode="json")),
        conversation_id=file.notice_id,
        subject="notice file",
    )


def report_post(node: str, report: NoticeReport) -> Post:
    return Post(
        to=node,
        content_type=REPORT_TYPE,
        body=orjson.dumps(report.model_dump(mode="json")),
        conversation_id=report.notice_id,
        subject=f"notice report: {report.action.value}",
    )


def encode_file(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
