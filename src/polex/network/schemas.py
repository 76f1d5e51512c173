"""What the network's enrolment and membership API reads and writes."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from polex.domain.base import SchemaModel
from polex.domain.countries import CountryCode

NodeNameText = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]
Pem = Annotated[str, StringConstraints(min_length=100, max_length=20_000)]


class MemberStatus(StrEnum):
    INVITED = "invited"  # the hub's operator made a one-time enrolment code
    PENDING = "pending"  # the node sent its certificate request; an operator must approve it
    ACTIVE = "active"
    SUSPENDED = "suspended"  # refused until reinstated
    REVOKED = "revoked"  # refused for good; it must enrol again under a new certificate


class InvitationCreate(SchemaModel):
    name: NodeNameText
    country: CountryCode


class Invitation(SchemaModel):
    name: str
    country: str
    code: str = Field(description="One-time enrolment code: give it to the node's operator out of band")


class EnrolmentCreate(SchemaModel):
    name: NodeNameText
    csr: Pem = Field(description="The node's certificate signing request (PEM)")
    encryption_key: dict[str, Any] = Field(description="The node's public encryption key (JWK, P-256)")
    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]{1,490}$")]


class EnrolmentStatus(SchemaModel):
    name: str
    status: MemberStatus
    certificate: str | None = Field(default=None, description="The node's certificate (PEM), once approved")
    ca_certificate: str | None = Field(default=None, description="The network CA's certificate (PEM)")
    hub: str | None = Field(
        default=None, description="The hub's node name (whom the node's tokens are addressed to), once approved"
    )


class MemberRead(SchemaModel):
    name: str
    country: str
    role: str
    status: MemberStatus
    url: str | None
    fingerprint: str | None = Field(description="SHA-256 of the node's certificate (DER)")
    serial: str | None
    not_after: dt.datetime | None
    encryption_key: dict[str, Any] | None
    certificate: str | None
    changed_at: dt.datetime
    reason: str | None = None


class MemberList(SchemaModel):
    items: list[MemberRead]


class SignedMembership(SchemaModel):
    membership: str = Field(description="The member list as a compact JWS (ES256) signed by the network CA's key")
    ca_certificate: str


class ReasonBody(SchemaModel):
    reason: Reason
