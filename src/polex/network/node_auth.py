"""Node-to-node request authentication: a short-lived token signed with the calling node's key.

A node calling another node's API (the relay posting envelopes to the hub, the hub pushing to
a recipient, a node fetching the membership list) proves who it is with ``Authorization:
PolexNode <token>``; over HTTPS it also presents its certificate (mutual TLS), which must be
the token issuer's (``NetworkView.caller``). The token is a compact JWS::

    header  {"alg": "ES256", "typ": "polex-node+jwt"}
    payload {"iss": "<calling node>", "aud": "<called node>", "iat": <unix s>, "exp": <iat + 120>, "jti": "<random>"}

signed with the caller's node key: the P-256 key its network certificate was issued for. The
called node looks the issuer up in the hub's signed membership list, refuses it unless it is
active with a current certificate that chains to the network CA and is not revoked, and checks
the signature with that certificate's public key.

Replays within a token's two minutes are not prevented here: ``jti`` is there for a caller
that wants to remember the ids it has seen. The token binds the caller to its audience, not to
one request; over mutual TLS a stolen token is of no use without the node's key as well.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import secrets
import threading
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from polex.crypto import pki
from polex.network.membership import Membership

SCHEME = "PolexNode"
TOKEN_LIFETIME = dt.timedelta(seconds=120)
TOKEN_TYPE = "polex-node+jwt"  # noqa: S105 - a JOSE "typ", not a secret
ALGORITHM = "ES256"
# Tolerances for clocks that drift apart: how far in the future a token may claim to be
# issued, and how much longer than TOKEN_LIFETIME it may claim to last.
MAX_FUTURE_ISSUE = dt.timedelta(seconds=60)
LIFETIME_ALLOWANCE = dt.timedelta(seconds=5)
# A real token is about 400 characters; anything much longer is refused before it is decoded.
MAX_TOKEN_LENGTH = 4096

_HEADER = {"alg": ALGORITHM, "typ": TOKEN_TYPE}
_CLAIMS = frozenset({"iss", "aud", "iat", "exp", "jti"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_JWS_REGISTRY = JWSRegistry(algorithms=[ALGORITHM])


class NodeTokenRefused(Exception):
    """A node token that fails any check. ``reason`` is short and safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_node_token(node_key_pem: bytes, *, issuer: str, audience: str, now: dt.datetime | None = None) -> str:
    """A token saying that node ``issuer`` calls node ``audience``, valid for TOKEN_LIFETIME from ``now``."""
    private_key = pki.load_private_key(node_key_pem)
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ValueError(f"a node key is a P-256 key, not {private_key.curve.name}")
    issued_at = int(_moment(now).timestamp())
    payload = {
        "iss": issuer,
        "aud": audience,
        "iat": issued_at,
        "exp": issued_at + int(TOKEN_LIFETIME.total_seconds()),
        "jti": secrets.token_urlsafe(16),
    }
    return jws.serialize_compact(
        dict(_HEADER), orjson.dumps(payload), ECKey.import_key(node_key_pem), registry=_JWS_REGISTRY
    )


def verify_node_token(
    token: str,
    *,
    audience: str,
    membership: Membership,
    ca_certificate: x509.Certificate,
    now: dt.datetime | None = None,
) -> str:
    """The name of the node that signed ``token`` for node ``audience``; NodeTokenRefused if anything is wrong.

    ``membership`` is the hub's current signed list (already checked by ``read_membership``) and
    ``ca_certificate`` the network CA's. A naive ``now`` is the caller's bug: ValueError.
    """
    issuer, _ = _verify(token, audience=audience, membership=membership, ca_certificate=ca_certificate, now=now)
    return issuer


class VerifiedTokens:
    """Node tokens already verified, so that a peer's requests cost one signature check per
    token rather than one each: a node reuses its token for a callee for a minute
    (``NetworkView.token_for``), over hundreds of requests a second at the hub and at a busy
    recipient, and checking the token (the issuer's certificate against the CA, then the
    ES256 signature) was about a tenth of a recipient's interpreter time for a message.

    A token is taken from here only for the member list it was verified against (the same
    object: a new list, as after a revocation, verifies every token again), only until the
    token or the issuer's certificate expires, and only while the issuer is still usable
    in that list at the time of the request. Bounded: past ``size`` entries the oldest go."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._entries: dict[tuple[str, str], tuple[Membership, str, float]] = {}
        self._adding = threading.Lock()  # reads go without it: a dict lookup is atomic

    def verify(
        self,
        token: str,
        *,
        audience: str,
        membership: Membership,
        ca_certificate: x509.Certificate,
        now: dt.datetime | None = None,
    ) -> str:
        """As :func:`verify_node_token`."""
        moment = _moment(now)
        key = (token, audience)
        issuer = self._issuer(key, membership, moment)
        if issuer is not None:
            refusal = membership.members[issuer].usable(moment)
            if refusal is not None:
                raise NodeTokenRefused(refusal)
            return issuer
        issuer, valid_until = _verify(
            token, audience=audience, membership=membership, ca_certificate=ca_certificate, now=moment
        )
        with self._adding:
            while len(self._entries) >= self._size:  # dicts keep insertion order: the oldest first
                self._entries.pop(next(iter(self._entries)), None)
            self._entries[key] = (membership, issuer, valid_until)
        return issuer

    def remembered(
        self, token: str, *, audience: str, membership: Membership, now: dt.datetime | None = None
    ) -> str | None:
        """The issuer ``verify`` would return, when that takes nothing but this cache: the
        token verified against this very list, not expired, its issuer usable now. None
        otherwise, and ``verify`` decides (and says why it refuses)."""
        moment = _moment(now)
        issuer = self._issuer((token, audience), membership, moment)
        if issuer is None or membership.members[issuer].usable(moment) is not None:
            return None
        return issuer

    def _issuer(self, key: tuple[str, str], membership: Membership, moment: dt.datetime) -> str | None:
        """The issuer of a token verified against ``membership`` and still valid, if remembered."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] is membership and moment.timestamp() < entry[2]:
            return entry[1]
        return None


def _verify(
    token: str,
    *,
    audience: str,
    membership: Membership,
    ca_certificate: x509.Certificate,
    now: dt.datetime | None,
) -> tuple[str, float]:
    """The issuer of a good token, and until when (a Unix time) the token and the issuer's
    certificate both are valid."""
    moment = _moment(now)
    header, claims = _unverified_parts(token)
    issuer: str = claims["iss"]

    member = membership.members.get(issuer)
    if member is None:
        raise NodeTokenRefused(f"unknown node {issuer!r}")
    refusal = member.usable(moment)
    if refusal is not None:
        raise NodeTokenRefused(refusal)
    public_key, certificate_expires = _issuer_public_key(
        issuer, member.certificate, member.fingerprint, ca_certificate, membership.revoked_serials(), moment
    )

    try:
        signed = jws.deserialize_compact(token, public_key, registry=_JWS_REGISTRY)
    except (JoseError, ValueError, TypeError, KeyError):
        raise NodeTokenRefused("bad signature") from None
    if signed.headers() != header or orjson.loads(signed.payload) != claims:  # the same bytes, decoded alike
        raise NodeTokenRefused("malformed token")

    if claims["aud"] != audience:
        raise NodeTokenRefused("for another node")
    issued_at, expires = claims["iat"], claims["exp"]
    current = moment.timestamp()
    if expires <= issued_at:
        raise NodeTokenRefused("malformed token: it expires before it is issued")
    if expires - issued_at > (TOKEN_LIFETIME + LIFETIME_ALLOWANCE).total_seconds():
        raise NodeTokenRefused("lifetime too long")
    if issued_at > current + MAX_FUTURE_ISSUE.total_seconds():
        raise NodeTokenRefused("issued in the future")
    if current >= expires:
        raise NodeTokenRefused("expired")
    return issuer, min(float(expires), certificate_expires.timestamp())


def parse_authorization(header_value: str | None) -> str | None:
    """The token of an ``Authorization: PolexNode <token>`` header; None if absent, empty or another scheme."""
    if header_value is None:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme != SCHEME:
        return None
    return token.strip() or None


# Helpers


def _moment(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must carry a time zone offset")  # the caller's bug, not the token's
    return now


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims, shape-checked but not yet trusted: the issuer says whose key to verify with."""
    if not isinstance(token, str) or not token:
        raise NodeTokenRefused("malformed token: empty")
    if len(token) > MAX_TOKEN_LENGTH:
        raise NodeTokenRefused("malformed token: too long")
    parts = token.split(".")
    if len(parts) != 3 or not all(_BASE64URL.fullmatch(part) for part in parts):
        raise NodeTokenRefused("malformed token: not a compact JWS")
    header = _json_object(parts[0])
    claims = _json_object(parts[1])

    if header.get("alg") != ALGORITHM:
        raise NodeTokenRefused(f"malformed token: algorithm {header.get('alg')!r} is not {ALGORITHM}")
    if header != _HEADER:
        raise NodeTokenRefused(f"malformed token: not a {TOKEN_TYPE} header")
    if set(claims) != _CLAIMS:
        raise NodeTokenRefused(f"malformed token: the claims must be exactly {', '.join(sorted(_CLAIMS))}")
    for name in ("iss", "aud", "jti"):
        if not isinstance(claims[name], str) or not claims[name]:
            raise NodeTokenRefused(f"malformed token: {name} is not a non-empty string")
    for name in ("iat", "exp"):
        if type(claims[name]) is not int:  # bool is an int subclass, and is no time
            raise NodeTokenRefused(f"malformed token: {name} is not an integer")
    return header, claims


def _json_object(part: str) -> dict[str, Any]:
    try:
        value = orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError):
        raise NodeTokenRefused("malformed token: not base64url JSON") from None
    if not isinstance(value, dict):
        raise NodeTokenRefused("malformed token: not a JSON object")
    return value


def _issuer_public_key(
    issuer: str,
    certificate_pem: str | None,
    expected_fingerprint: str | None,
    ca_certificate: x509.Certificate,
    revoked_serials: dict[int, str],
    moment: dt.datetime,
) -> tuple[ECKey, dt.datetime]:
    """The public key of the issuer's certificate, once that certificate is known to be good
    and the issuer's, and when that certificate expires."""
    if certificate_pem is None:
        raise NodeTokenRefused(f"node {issuer!r} has no certificate yet")
    try:
        certificate = pki.load_certificate(certificate_pem.encode())
        node = pki.verify_node_certificate(certificate, ca_certificate, at=moment, revoked_serials=revoked_serials)
    except pki.CertificateRefused as error:
        raise NodeTokenRefused(f"the certificate of node {issuer!r} is refused: {error.reason}") from None
    if node.name != issuer:
        raise NodeTokenRefused(f"the certificate listed for node {issuer!r} names node {node.name!r}")
    if expected_fingerprint is not None and pki.fingerprint(certificate) != expected_fingerprint:
        raise NodeTokenRefused(f"the certificate of node {issuer!r} does not match its listed fingerprint")
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise NodeTokenRefused(f"the certificate of node {issuer!r} does not hold a P-256 key")
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ECKey.import_key(pem), certificate.not_valid_after_utc
