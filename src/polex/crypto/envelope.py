"""Message envelopes: signed by the sending node, encrypted end to end to its recipients.

The hub routes envelopes but must not read them, nor change them unnoticed. An envelope is
a JSON object of three members::

    {
      "routing":   {...RoutingHeader as JSON, in canonical form...},
      "jwe":       {"protected": "...", "iv": "...", "ciphertext": "...", "tag": "...",
                    "recipients": [{"header": {"alg": "ECDH-ES+A256KW", "kid": "<node>-enc",
                                               "epk": {...}}, "encrypted_key": "..."}, ...]},
      "signature": "<compact JWS, ES256, by the sender, over
                    {"routing_sha256": "<hex>", "jwe_sha256": "<hex>"}>"
    }

- ``jwe`` is a JWE in General JSON Serialization (RFC 7516), one recipient entry per node in
  ``routing.recipients``, in the same order. Its protected header carries the message id and
  the routing hash, so the ciphertext is bound to its routing by the AEAD tag itself.
- Its plaintext is a compact JWS (ES256) by the sender over
  ``{"routing_sha256": "<hex>", "body": "<base64url body>"}``: a recipient learns who wrote the
  body even if another recipient, who holds the same content key, re-encrypted something else.
- ``signature`` lets the hub check, without any decryption key, who sent the envelope and that
  neither the routing nor the ciphertext changed on the way.

Hashes are SHA-256, in hex, of canonical JSON: orjson with sorted keys and no whitespace.
The routing member must itself be canonical (exactly what ``RoutingHeader`` dumps), so what
was signed is what the hub stores and forwards.

Replays are not this layer's concern: a duplicated envelope opens again, identical. Receivers
are idempotent by ``routing.id`` (the message id), and the expiry bounds how long they need
to remember the ids they have seen.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import orjson
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwe import GeneralJSONEncryption, JWERegistry, Recipient
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from joserfc.registry import HeaderParameter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from polex.domain.message import MAX_RECIPIENTS, RoutingHeader
from polex.errors import BadRequest

MAX_ENVELOPE_BYTES = 16 * 1024 * 1024

SIGNATURE_ALGORITHM = "ES256"
KEY_AGREEMENT_ALGORITHM = "ECDH-ES+A256KW"
CONTENT_ENCRYPTION = "A256GCM"
CURVE = "P-256"

# Distinct types for the two signatures, so one can never be passed off as the other.
ENVELOPE_SIGNATURE_TYPE = "polex-envelope+jws"
BODY_SIGNATURE_TYPE = "polex-body+jws"
_MESSAGE_ID_PARAMETER = "polex_message_id"
_ROUTING_HASH_PARAMETER = "polex_routing_sha256"
_NESTED_JWS = "JOSE"  # RFC 7515 4.1.10: the JWE's plaintext is a JWS in compact serialization

# joserfc's default limits (64 KB of ciphertext, 16 recipients) are for tokens; an envelope
# is bounded by MAX_ENVELOPE_BYTES and MAX_RECIPIENTS instead. Only our algorithms are allowed.
_JWS_REGISTRY = JWSRegistry(algorithms=[SIGNATURE_ALGORITHM])
_JWS_REGISTRY.max_payload_length = MAX_ENVELOPE_BYTES
_JWE_REGISTRY = JWERegistry(
    header_registry={
        _MESSAGE_ID_PARAMETER: HeaderParameter("polex message id", "str", required=True),
        _ROUTING_HASH_PARAMETER: HeaderParameter("SHA-256 of the canonical routing header", "str", required=True),
    },
    algorithms=[KEY_AGREEMENT_ALGORITHM, CONTENT_ENCRYPTION],
    verify_all_recipients=True,
    max_recipients=MAX_RECIPIENTS,
)
_JWE_REGISTRY.max_ciphertext_length = MAX_ENVELOPE_BYTES


class EnvelopeRefused(BadRequest):
    """An envelope that fails any check. ``reason`` is short and safe to show the sender."""

    title = "Envelope refused"
    slug = "envelope-refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- keys ---------------------------------------------------------------------------------


def signing_kid(node: str) -> str:
    return f"{node}-sig"


def encryption_kid(node: str) -> str:
    return f"{node}-enc"


@dataclass(frozen=True)
class NodeKeys:
    """A node's private keys: one to sign envelopes, one its envelopes are encrypted to."""

    name: str
    signing: ECKey
    encryption: ECKey


def new_node_keys(name: str) -> NodeKeys:
    return NodeKeys(
        name=name,
        signing=ECKey.generate_key(
            CURVE, parameters={"kid": signing_kid(name), "use": "sig", "alg": SIGNATURE_ALGORITHM}, private=True
        ),
        encryption=ECKey.generate_key(
            CURVE,
            parameters={"kid": encryption_kid(name), "use": "enc", "alg": KEY_AGREEMENT_ALGORITHM},
            private=True,
        ),
    )


def _public_jwk(key: ECKey, kid: str, use: Literal["sig", "enc"], alg: str) -> dict[str, Any]:
    document: dict[str, Any] = dict(key.as_dict(private=False))
    document.update({"kid": kid, "use": use, "alg": alg})
    return document


def public_signing_jwk(keys: NodeKeys) -> dict[str, Any]:
    return _public_jwk(keys.signing, signing_kid(keys.name), "sig", SIGNATURE_ALGORITHM)


def public_encryption_jwk(keys: NodeKeys) -> dict[str, Any]:
    return _public_jwk(keys.encryption, encryption_kid(keys.name), "enc", KEY_AGREEMENT_ALGORITHM)


@dataclass(frozen=True)
class NodePublicKeys:
    """What the network knows of a node: the public halves of its two keys."""

    signing: ECKey
    encryption: ECKey

    def __post_init__(self) -> None:
        for role, key in (("signing", self.signing), ("encryption", self.encryption)):
            if key.curve_name != CURVE:
                raise ValueError(f"the {role} key must be on {CURVE}, not {key.curve_name}")
            if key.is_private:
                # A directory is shared and logged; a private half in it would be a leak.
                raise ValueError(f"the {role} key must be a public key")

    @classmethod
    def from_jwks(cls, signing: Mapping[str, Any], encryption: Mapping[str, Any]) -> NodePublicKeys:
        return cls(signing=ECKey.import_key(dict(signing)), encryption=ECKey.import_key(dict(encryption)))

    @classmethod
    def of(cls, keys: NodeKeys) -> NodePublicKeys:
        return cls.from_jwks(public_signing_jwk(keys), public_encryption_jwk(keys))


@dataclass(frozen=True)
class Directory:
    """Node name to public keys: the nodes an envelope may come from or go to. The caller
    fills it from the hub's signed membership list, leaving out suspended and revoked nodes."""

    nodes: Mapping[str, NodePublicKeys]

    @classmethod
    def of(cls, *keys: NodeKeys) -> Directory:
        return cls({node.name: NodePublicKeys.of(node) for node in keys})

    def get(self, name: str) -> NodePublicKeys | None:
        return self.nodes.get(name)


# -- the envelope's shape -----------------------------------------------------------------


class _Shape(BaseModel):
    # Strict: no coercion, no extra members, so joserfc only ever sees the types it expects
    # and the JWE's hash covers every member it has.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _EphemeralKey(_Shape):
    kty: Literal["EC"]
    crv: Literal["P-256"]
    x: str
    y: str


class _RecipientHeader(_Shape):
    alg: Literal["ECDH-ES+A256KW"]
    kid: str
    epk: _EphemeralKey


class _JweRecipient(_Shape):
    header: _RecipientHeader
    encrypted_key: str


class _Jwe(_Shape):
    protected: str
    iv: str
    ciphertext: str
    tag: str
    recipients: list[_JweRecipient] = Field(min_length=1, max_length=MAX_RECIPIENTS)


class _Envelope(_Shape):
    routing: dict[str, Any]
    jwe: _Jwe
    signature: str


class _EnvelopeClaims(_Shape):
    routing_sha256: str
    jwe_sha256: str


class _BodyClaims(_Shape):
    routing_sha256: str
    body: str


class _JweProtectedHeader(_Shape):
    enc: Literal["A256GCM"]
    cty: Literal["JOSE"]
    polex_message_id: str
    polex_routing_sha256: str


_ShapeT = TypeVar("_ShapeT", bound=_Shape)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


def _canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # Only the URL-safe alphabet, unpadded (RFC 7515 2); b64decode alone would also take "+/=".
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not unpadded base64url")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = "/".join(str(part) for part in first["loc"]) or "(root)"
    return f"{where}: {first['msg']}"


def _json_object(data: bytes, model: type[_ShapeT], what: str) -> _ShapeT:
    try:
        return model.model_validate(orjson.loads(data))
    except orjson.JSONDecodeError as error:
        raise EnvelopeRefused(f"malformed envelope: {what} is not JSON") from error
    except ValidationError as error:
        raise EnvelopeRefused(f"malformed envelope: {what}: {_first_error(error)}") from error


# -- sealing ------------------------------------------------------------------------------


def _signature_header(sender: str, typ: str) -> dict[str, str]:
    return {"alg": SIGNATURE_ALGORITHM, "kid": signing_kid(sender), "typ": typ}


def seal(header: RoutingHeader, body: bytes, sender: NodeKeys, directory: Directory) -> dict[str, Any]:
    """The envelope carrying ``body`` from ``sender`` to ``header.recipients``, as a JSON-able dict.

    Raises ValueError when the sender's own inputs disagree (the header names another sender,
    its size is not the body's, a recipient is not in the directory) or the envelope would
    be larger than MAX_ENVELOPE_BYTES.
    """
    if header.sender != sender.name:
        raise ValueError(f"the header names sender '{header.sender}', but the keys are '{sender.name}'s")
    if header.size != len(body):
        raise ValueError(f"the header gives size {header.size}, but the body has {len(body)} bytes")
    recipient_keys = []
    for name in header.recipients:
        public = directory.get(name)
        if public is None:
            raise ValueError(f"recipient '{name}' is not in the directory")
        recipient_keys.append((name, public.encryption))

    routing = header.model_dump(mode="json")
    routing_sha256 = _sha256(_canonical_json(routing))
    inner = jws.serialize_compact(
        _signature_header(sender.name, BODY_SIGNATURE_TYPE),
        _canonical_json({"routing_sha256": routing_sha256, "body": _b64encode(body)}),
        sender.signing,
        registry=_JWS_REGISTRY,
    )
    protected = {
        "enc": CONTENT_ENCRYPTION,
        "cty": _NESTED_JWS,
        _MESSAGE_ID_PARAMETER: header.id,
        _ROUTING_HASH_PARAMETER: routing_sha256,
    }
    encryption = GeneralJSONEncryption(protected, inner.encode("ascii"))
    for name, key in recipient_keys:
        # Recipient() directly, not add_recipient(): that would copy the key's own kid, which
        # need not follow our naming, and recipients find their entry by encryption_kid(name).
        header_of_recipient = {"alg": KEY_AGREEMENT_ALGORITHM, "kid": encryption_kid(name)}
        encryption.recipients.append(Recipient(encryption, header_of_recipient, key))
    jwe_document = dict(jwe.encrypt_json(encryption, None, registry=_JWE_REGISTRY))
    signature = jws.serialize_compact(
        _signature_header(sender.name, ENVELOPE_SIGNATURE_TYPE),
        _canonical_json({"routing_sha256": routing_sha256, "jwe_sha256": _sha256(_canonical_json(jwe_document))}),
        sender.signing,
        registry=_JWS_REGISTRY,
    )
    envelope: dict[str, Any] = {"routing": routing, "jwe": jwe_document, "signature": signature}
    size = len(orjson.dumps(envelope))
    if size > MAX_ENVELOPE_BYTES:  # every hop would refuse it; better to fail at the sender
        raise ValueError(f"the envelope would have {size} bytes, more than the {MAX_ENVELOPE_BYTES} allowed")
    return envelope


# -- checking -----------------------------------------------------------------------------


def parse_envelope(raw: bytes) -> dict[str, Any]:
    """The envelope in ``raw`` JSON, refused if larger than MAX_ENVELOPE_BYTES or not a JSON object."""
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise EnvelopeRefused(f"envelope too large: {len(raw)} bytes, at most {MAX_ENVELOPE_BYTES}")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise EnvelopeRefused("malformed envelope: not JSON") from error
    if not isinstance(document, dict):
        raise EnvelopeRefused("malformed envelope: not a JSON object")
    return document


@dataclass(frozen=True)
class _Checked:
    header: RoutingHeader
    routing_sha256: str
    jwe: _Jwe
    sender: NodePublicKeys


def _verified_payload(token: str, key: ECKey, sender: str, typ: str, failure: str) -> bytes:
    try:
        signed = jws.deserialize_compact(token, key, registry=_JWS_REGISTRY)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise EnvelopeRefused(failure) from error
    # Exactly our header: no rfc7797 "b64", no "crit", and the right kind of signature.
    if signed.headers() != _signature_header(sender, typ):
        raise EnvelopeRefused(failure)
    return signed.payload


def _check(envelope: Mapping[str, Any], directory: Directory, now: dt.datetime) -> _Checked:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must carry a time zone offset")  # the caller's bug, not the envelope's
    if not isinstance(envelope, Mapping):
        raise EnvelopeRefused("malformed envelope: not a JSON object")
    try:
        shape = _Envelope.model_validate(dict(envelope))
    except ValidationError as error:
        raise EnvelopeRefused(f"malformed envelope: {_first_error(error)}") from error
    try:
        header = RoutingHeader.model_validate(shape.routing)
    except ValidationError as error:
        raise EnvelopeRefused(f"malformed envelope: routing/{_first_error(error)}") from error
    canonical_routing = _canonical_json(header.model_dump(mode="json"))
    try:
        routing_as_received = _canonical_json(shape.routing)
    except orjson.JSONEncodeError as error:  # only a caller's dict, never parsed JSON, can fail here
        raise EnvelopeRefused("malformed envelope: routing is not JSON") from error
    if routing_as_received != canonical_routing:
        raise EnvelopeRefused("malformed envelope: routing is not in canonical form")

    sender = directory.get(header.sender)
    if sender is None:
        raise EnvelopeRefused(f"unknown sender '{header.sender}'")
    claims = _json_object(
        _verified_payload(shape.signature, sender.signing, header.sender, ENVELOPE_SIGNATURE_TYPE, "bad signature"),
        _EnvelopeClaims,
        "signature payload",
    )
    routing_sha256 = _sha256(canonical_routing)
    if claims.routing_sha256 != routing_sha256:
        raise EnvelopeRefused("routing altered")
    if claims.jwe_sha256 != _sha256(_canonical_json(shape.jwe.model_dump())):
        raise EnvelopeRefused("ciphertext altered")

    # The sender signed both; a mismatch here is a sender's (or a forger's) inconsistency.
    for name in header.recipients:
        if directory.get(name) is None:
            raise EnvelopeRefused(f"unknown recipient '{name}'")
    if [entry.header.kid for entry in shape.jwe.recipients] != [encryption_kid(name) for name in header.recipients]:
        raise EnvelopeRefused("malformed envelope: the JWE's recipients are not the routing's")
    try:
        protected_bytes = _b64decode(shape.jwe.protected)
    except (binascii.Error, ValueError) as error:
        raise EnvelopeRefused("malformed envelope: JWE protected header") from error
    protected = _json_object(protected_bytes, _JweProtectedHeader, "JWE protected header")
    _check_protected_header(protected, header, routing_sha256)

    if now >= header.expires:
        raise EnvelopeRefused(f"expired at {header.expires.isoformat()}")
    return _Checked(header=header, routing_sha256=routing_sha256, jwe=shape.jwe, sender=sender)


def _check_protected_header(protected: _JweProtectedHeader, header: RoutingHeader, routing_sha256: str) -> None:
    if protected.polex_message_id != header.id:
        raise EnvelopeRefused("routing altered: the JWE belongs to another message")
    if protected.polex_routing_sha256 != routing_sha256:
        raise EnvelopeRefused("routing altered: the JWE was sealed for another routing")


def check_routing(envelope: Mapping[str, Any], directory: Directory, *, now: dt.datetime) -> RoutingHeader:
    """What the hub checks before it accepts an envelope, with no decryption key: the routing
    is well formed, the sender and recipients are members, the sender signed this routing and
    this ciphertext, and the message has not expired. Raises EnvelopeRefused."""
    return _check(envelope, directory, now).header


def open_envelope(
    envelope: Mapping[str, Any], recipient: NodeKeys, directory: Directory, *, now: dt.datetime
) -> tuple[RoutingHeader, bytes]:
    """What a recipient does: everything ``check_routing`` does, then decrypt its entry, check
    the sender's signature on the body and that body and routing belong together.
    Raises EnvelopeRefused."""
    checked = _check(envelope, directory, now)
    header = checked.header
    if recipient.name not in header.recipients:
        raise EnvelopeRefused("not a recipient")

    kid = encryption_kid(recipient.name)
    own_entry = next(entry for entry in checked.jwe.recipients if entry.header.kid == kid)  # _check matched them
    # Only our own entry: with verify_all_recipients, joserfc would otherwise try our key on
    # every entry and fail on the others'.
    only_ours: jwe.GeneralJSONSerialization = {
        "protected": checked.jwe.protected,
        "iv": checked.jwe.iv,
        "ciphertext": checked.jwe.ciphertext,
        "tag": checked.jwe.tag,
        "recipients": [{"header": own_entry.header.model_dump(), "encrypted_key": own_entry.encrypted_key}],
    }
    try:
        decrypted = jwe.decrypt_json(only_ours, recipient.encryption, registry=_JWE_REGISTRY)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise EnvelopeRefused("cannot decrypt") from error
    try:
        protected = _JweProtectedHeader.model_validate(decrypted.protected)
    except ValidationError as error:
        raise EnvelopeRefused("malformed envelope: JWE protected header") from error
    _check_protected_header(protected, header, checked.routing_sha256)
    if decrypted.plaintext is None:
        raise EnvelopeRefused("cannot decrypt")

    try:
        inner_token = decrypted.plaintext.decode("ascii")
    except UnicodeDecodeError as error:
        raise EnvelopeRefused("inner signature invalid") from error
    claims = _json_object(
        _verified_payload(
            inner_token, checked.sender.signing, header.sender, BODY_SIGNATURE_TYPE, "inner signature invalid"
        ),
        _BodyClaims,
        "signed body",
    )
    if claims.routing_sha256 != checked.routing_sha256:
        raise EnvelopeRefused("routing altered: the body was signed for another routing")
    try:
        body = _b64decode(claims.body)
    except (binascii.Error, ValueError) as error:
        raise EnvelopeRefused("malformed envelope: the body is not base64url") from error
    if len(body) != header.size:
        raise EnvelopeRefused(f"malformed envelope: the body has {len(body)} bytes, the routing says {header.size}")
    return header, body
