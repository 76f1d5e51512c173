"""The routing header of a message between nodes: the only part of a message the hub reads.

The body travels signed and encrypted end to end (see ``polex.crypto.envelope``); the header
stays in clear so the hub can route, expire and account for messages without reading them.
So it holds nothing a hub may not know: who sends to whom, when, how to handle it, and how
big it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from polex.domain.base import RecordId, SchemaModel, Tlp, new_id

NodeName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
MAX_RECIPIENTS = 300


class RoutingHeader(SchemaModel):
    """Who sends a message to whom, and for how long it may be delivered."""

    id: RecordId = Field(default_factory=new_id, description="The message id; receivers deduplicate by it")
    sender: NodeName
    recipients: list[NodeName] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    created: dt.datetime
    expires: dt.datetime = Field(description="The hub and the recipients refuse the message from this instant")
    handling: Tlp = Tlp.AMBER
    conversation_id: RecordId
    in_reply_to: RecordId | None = None
    case_ref: Annotated[str, StringConstraints(max_length=128)] | None = None
    content_type: Annotated[str, StringConstraints(max_length=100)] = "application/json"
    # At most 2**53 - 1: the largest integer every JSON reader holds exactly (I-JSON, RFC 7493).
    size: int = Field(ge=0, le=2**53 - 1, description="The body's size in bytes before encryption")

    @field_validator("recipients")
    @classmethod
    def _unique_recipients(cls, recipients: list[str]) -> list[str]:
        repeated = sorted({name for name in recipients if recipients.count(name) > 1})
        if repeated:
            raise ValueError(f"recipients: each node is named once, these are repeated: {', '.join(repeated)}")
        return recipients

    @field_validator("created", "expires")
    @classmethod
    def _aware(cls, moment: dt.datetime) -> dt.datetime:
        # A naive time means a different instant on every node; expiry would depend on where it is read.
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("must carry a time zone offset")
        return moment

    @model_validator(mode="after")
    def _expires_after_created(self) -> RoutingHeader:
        if self.expires <= self.created:
            raise ValueError("expires: must be after created")
        return self
