"""Request and response bodies of the notice API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from polex.domain.base import LongText, Owner, Restrictions, SchemaModel
from polex.domain.notice import Action, NoticeRequest


class NoticeCreate(NoticeRequest):
    """A new draft: a notice request or a diffusion, with the owner's restrictions."""

    restrictions: Restrictions | None = None


class NoticeUpdate(NoticeRequest):
    """The whole request again, from the version it replaces."""

    restrictions: Restrictions | None = None
    version: int | None = Field(default=None, ge=1, description="The version replaced (or send If-Match)")


class ActionBody(SchemaModel):
    reason: LongText | None = Field(default=None, description="Required to refuse, return, suspend, cancel and extend")
    valid_until: dt.date | None = Field(default=None, description="extend: the new end of validity")
    version: int | None = Field(default=None, ge=1, description="The version acted on (or send If-Match)")


class TransitionRead(SchemaModel):
    action: Action
    from_status: str | None
    to_status: str
    at: dt.datetime
    actor_kind: str
    actor_agency_id: str | None
    actor_country: str | None
    reason: str | None
    details: dict[str, Any] = Field(default_factory=dict)


class NoticeRead(SchemaModel):
    """A notice or diffusion as the caller may see it. The source and the hub's reviewers
    see the whole request, its pre-check findings and its history; anyone else sees a
    notice in force as the policy shows it (``access``: full, redacted or hit_only)."""

    id: str
    channel: str
    notice_type: str
    status: str
    reference: str | None
    owner: Owner
    version: int
    access: str = Field(description="source, reviewer, full, redacted or hit_only")
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    submitted_at: dt.datetime | None = None
    published_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    review_due_at: dt.datetime | None = None
    restrictions: Restrictions | None = None
    notice: dict[str, Any] | None = Field(default=None, description="The request's content as shown")
    findings: list[dict[str, Any]] | None = None
    history: list[TransitionRead] | None = None
    withheld: list[str] = Field(default_factory=list, description="Fields the policy removed")
    provenance: dict[str, Any] | None = Field(
        default=None, description="For the source: where an imported request came from (format, source id, originals)"
    )
    relay: dict[str, Any] | None = Field(
        default=None,
        description="On a national node, for the source: its last step sent to the hub and that envelope's delivery",
    )


class NoticePage(SchemaModel):
    items: list[NoticeRead]
    next_cursor: str | None = None


class FileRead(SchemaModel):
    id: str
    kind: str
    media_type: str
    name: str | None
    sha256: str
    size: int
    public: bool
