"""Short-lived bearer tokens for users: JWTs signed with the node's Ed25519 key (RFC 9864)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from joserfc.jwt import JWTClaimsRegistry

from polex.domain.base import new_id
from polex.errors import Unauthenticated

ALGORITHM = "Ed25519"
LEEWAY_SECONDS = 5
# Tokens verified once are remembered until they expire: a border system sends the same token
# with every check, and verifying it again (signature, JSON, claims) costs about 150 us a
# request. Safe because a token cannot be revoked before it expires (a disabled user is
# refused by the principal check, which is separate), and the key compares whole tokens.
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    token_id: str
    expires_at: dt.datetime


class TokenIssuer:
    def __init__(self, key: OKPKey, *, issuer: str, lifetime: dt.timedelta) -> None:
        self._key = key
        self._issuer = issuer
        self._lifetime = lifetime
        self._registry = JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": issuer},
            sub={"essential": True},
            exp={"essential": True},
            leeway=LEEWAY_SECONDS,
        )
        self._verified: dict[str, TokenClaims] = {}

    def issue(self, subject: str, *, now: dt.datetime | None = None) -> IssuedToken:
        issued = now or dt.datetime.now(dt.UTC)
        expires = issued + self._lifetime
        claims = {
            "iss": self._issuer,
            "aud": self._issuer,
            "sub": subject,
            "iat": int(issued.timestamp()),
            "nbf": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": new_id(),
        }
        token = jwt.encode({"alg": ALGORITHM, "typ": "at+jwt"}, claims, self._key, algorithms=[ALGORITHM])
        return IssuedToken(token=token, expires_in=int(self._lifetime.total_seconds()))

    def remembered(self, token: str) -> TokenClaims | None:
        """The claims of a token verified before and not yet expired; None otherwise."""
        claims = self._verified.get(token)
        if claims is None:
            return None
        if dt.datetime.now(dt.UTC) < claims.expires_at + dt.timedelta(seconds=LEEWAY_SECONDS):
            return claims
        self._verified.pop(token, None)
        return None

    def verify(self, token: str) -> TokenClaims:
        claims = self.remembered(token)
        if claims is not None:
            return claims
        claims = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> TokenClaims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            self._registry.validate(decoded.claims)
        except (JoseError, ValueError) as error:
            raise Unauthenticated(f"the bearer token is not valid: {error}") from error
        if decoded.header.get("typ") != "at+jwt":
            raise Unauthenticated("the bearer token is not an access token")
        return TokenClaims(
            subject=str(decoded.claims["sub"]),
            token_id=str(decoded.claims.get("jti", "")),
            expires_at=dt.datetime.fromtimestamp(int(decoded.claims["exp"]), dt.UTC),
        )
