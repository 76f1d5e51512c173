"""What the current request says about itself, for the audit events it causes.

The HTTP middleware fills it; services read it without knowing about HTTP.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestInfo:
    request_id: str | None = None
    purpose: str | None = None
    case_reference: str | None = None


# RequestInfo is a frozen dataclass: sharing one default instance is safe.
current_request: ContextVar[RequestInfo] = ContextVar("polex_current_request", default=RequestInfo())  # noqa: B039
