"""The console's session: the API's bearer token kept in a cookie, a CSRF token derived
from it, the declared purpose, and the security headers every console answer carries."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.responses import Response

from polex.auth.principal import Principal
from polex.domain.policy import Purpose
from polex.domain.roles import Permission
from polex.errors import Forbidden

PREFIX = "/console"
SESSION_COOKIE = "polex_session"
LOGIN_COOKIE = "polex_login"  # the double-submit token of the login form (no session yet)
PURPOSE_COOKIE = "polex_purpose"
CASE_COOKIE = "polex_case"
CSRF_FIELD = "csrf"
_CSRF_LABEL = b"polex-console-csrf/v1"

SECURITY_HEADERS = {
    # No inline script or style anywhere: the stylesheet is served by the node itself.
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def secure_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: an HMAC keyed with the session's bearer token, which only
    the browser's HttpOnly cookie holds; a page of another site can neither read nor make it."""
    return hmac.new(session_token.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def csrf_valid(session_token: str | None, sent: str | None) -> bool:
    if not session_token or not sent:
        return False
    return hmac.compare_digest(csrf_token(session_token), sent)


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def login_token_valid(cookie: str | None, sent: str | None) -> bool:
    """The login form's double-submit check: the token in the form is the one in the cookie
    (another site can make the browser send the cookie, but cannot read it to copy it)."""
    return bool(cookie) and bool(sent) and hmac.compare_digest(str(cookie), str(sent))


def set_cookie(response: Response, name: str, value: str, *, secure: bool, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, secure=secure, httponly=True, samesite="strict")


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path=PREFIX, secure=secure, httponly=True, samesite="strict")


@dataclass(frozen=True)
class Session:
    """An authenticated console request: who, with which token, and what they declared."""

    principal: Principal
    token: str
    purpose: Purpose | None
    case_reference: str | None

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)

    def can(self, permission: str) -> bool:
        return self.principal.can(Permission(permission))

    def check_csrf(self, sent: str | None) -> None:
        if not csrf_valid(self.token, sent):
            raise Forbidden("the form is missing its CSRF token or it is not this session's; reload the page")
