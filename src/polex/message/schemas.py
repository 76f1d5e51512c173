"""What the message API reads and writes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from polex.domain.base import RecordId, SchemaModel, Tlp
from polex.domain.countries import is_country_code, normalise_country_code

EVERYONE = "*"
DEFAULT_EXPIRY = dt.timedelta(days=30)


class MessageCreate(SchemaModel):
    to: list[str] = Field(
        min_length=1, max_length=300, description="Country codes of the recipients' nodes, or ['*'] for every node"
    )
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
    handling: Tlp = Tlp.AMBER
    case_ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] | None = None
    in_reply_to: RecordId | None = None
    expires_in: int = Field(
        default=int(DEFAULT_EXPIRY.total_seconds()),
        ge=60,
        le=90 * 86400,
        description="Seconds the message waits for an offline recipient (30 days by default)",
    )

    @field_validator("to")
    @classmethod
    def _recipients(cls, values: list[str]) -> list[str]:
        if values == [EVERYONE]:
            return values
        codes = []
        for value in values:
            code = normalise_country_code(value)
            if not isinstance(code, str) or not is_country_code(code):
                raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-3 country code (or use ['*'] alone)")
            codes.append(code)
        if len(set(codes)) != len(codes):
            raise ValueError("a country is named twice")
        return codes


class RecipientStatus(SchemaModel):
    node: str
    status: str = Field(description="queued, at_hub, delivered, expired or refused")
    reason: str | None = None
    updated_at: dt.datetime


class MessageRead(SchemaModel):
    id: str
    box: str
    sender: str
    recipients: list[str]
    conversation_id: str
    in_reply_to: str | None
    case_ref: str | None
    handling: str
    created: dt.datetime
    expires: dt.datetime
    subject: str
    body: str
    author: dict[str, Any]
    received_at: dt.datetime | None = None
    delivery: list[RecipientStatus] = Field(default_factory=list, description="Per recipient (outbox only)")


class MessageAccepted(SchemaModel):
    id: str
    conversation_id: str
    recipients: list[str]


class MessageList(SchemaModel):
    items: list[MessageRead]


class EnvelopeAccepted(SchemaModel):
    message_id: str
    duplicate: bool


class DeliveryReceipt(SchemaModel):
    message_id: str
    receipt: str = Field(description="JWS signed by the recipient node: message id, recipient, status, time")


class DeliveryReport(SchemaModel):
    """From the hub to a sender: what became of one recipient."""

    message_id: RecordId
    recipient: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    status: Annotated[str, StringConstraints(pattern=r"^(delivered|expired|refused)$")]
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    receipt: Annotated[str, StringConstraints(max_length=8000)] | None = None


class DeliveryReports(SchemaModel):
    reports: list[DeliveryReport] = Field(min_length=1, max_length=1000)
