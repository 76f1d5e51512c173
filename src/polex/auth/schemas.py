from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints

from polex.domain.base import RecordId, SchemaModel
from polex.domain.roles import Role

Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=150, pattern=r"^[A-Za-z0-9_.@-]+$"),
]


class TokenResponse(SchemaModel):
    """OAuth 2.0 access token response (RFC 6749 section 5.1)."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth 2.0 token type
    expires_in: int


class UserCreate(SchemaModel):
    username: Username
    password: SecretStr = Field(description="At least 12 characters")
    agency_id: RecordId
    roles: list[Role] = Field(min_length=1)
    display_name: Annotated[str, StringConstraints(max_length=300)] | None = None


class UserUpdate(SchemaModel):
    roles: list[Role] | None = Field(default=None, min_length=1)
    active: bool | None = None
    display_name: Annotated[str, StringConstraints(max_length=300)] | None = None
    password: SecretStr | None = None


class UserRead(SchemaModel):
    id: str
    username: str
    display_name: str | None
    agency_id: str
    roles: list[Role]
    active: bool
    totp_enabled: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class UserList(SchemaModel):
    items: list[UserRead]


class Me(SchemaModel):
    kind: str
    id: str
    name: str
    agency_id: str
    country: str
    roles: list[Role]
    permissions: list[str]
    node: str


class TotpEnrolment(SchemaModel):
    secret: str
    provisioning_uri: str


class TotpConfirm(SchemaModel):
    code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")]


class ApiKeyCreate(SchemaModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    roles: list[Role] = Field(min_length=1)
    agency_id: RecordId | None = Field(default=None, description="Defaults to the caller's agency")
    expires_at: dt.datetime | None = None


class ApiKeyRead(SchemaModel):
    id: str
    name: str
    prefix: str
    agency_id: str
    roles: list[Role]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="Shown once; only a hash of it is stored")


class ApiKeyList(SchemaModel):
    items: list[ApiKeyRead]
