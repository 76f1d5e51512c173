"""One error tree, rendered by one handler as RFC 9457 problem details.

    PolexError (500)
    ├── BadRequest (400)
    │   └── InvalidCursor
    ├── Unauthenticated (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)
    │   ├── StaleVersion
    │   └── AlreadyExists
    ├── PreconditionRequired (428)
    ├── PayloadTooLarge (413)
    ├── ValidationFailed (422)
    └── TooManyRequests (429)

Expected failures are subclasses carrying their HTTP status and a message fit to show the
caller; anything else is a bug, logged with its request id and answered with a bare 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    """One reason a field was rejected, in a shape API clients can act on."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class PolexError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal-error"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


class BadRequest(PolexError):
    status = 400
    title = "Bad request"
    slug = "bad-request"


class InvalidCursor(BadRequest):
    title = "Invalid pagination cursor"
    slug = "invalid-cursor"


class Unauthenticated(PolexError):
    status = 401
    title = "Authentication required"
    slug = "unauthenticated"


class Forbidden(PolexError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(PolexError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(PolexError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class StaleVersion(Conflict):
    title = "Stale version"
    slug = "stale-version"


class AlreadyExists(Conflict):
    title = "Already exists"
    slug = "already-exists"


class PayloadTooLarge(PolexError):
    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class ValidationFailed(PolexError):
    status = 422
    title = "Validation failed"
    slug = "validation-failed"


class PreconditionRequired(PolexError):
    status = 428
    title = "Precondition required"
    slug = "precondition-required"


class TooManyRequests(PolexError):
    status = 429
    title = "Too many requests"
    slug = "too-many-requests"


class ServiceUnavailable(PolexError):
    """Something this node needs is not there now (a peer, a component still loading); the
    same request may succeed later."""

    status = 503
    title = "Service unavailable"
    slug = "service-unavailable"
