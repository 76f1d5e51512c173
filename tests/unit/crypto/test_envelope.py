"""Envelopes: round trips, what the hub can check, and refusal of every kind of tampering."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwe import GeneralJSONEncryption, JWERegistry, Recipient
from joserfc.registry import HeaderParameter
from pydantic import ValidationError

from polex.crypto import envelope as envelope_module
from polex.crypto.envelope import (
    BODY_SIGNATURE_TYPE,
    ENVELOPE_SIGNATURE_TYPE,
    MAX_ENVELOPE_BYTES,
    Directory,
    EnvelopeRefused,
    NodeKeys,
    NodePublicKeys,
    check_routing,
    encryption_kid,
    new_node_keys,
    open_envelope,
    parse_envelope,
    public_encryption_jwk,
    public_signing_jwk,
    seal,
    signing_kid,
)
from polex.domain.base import Tlp, new_id
from polex.domain.message import RoutingHeader

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
BODY = b'{"notice": "stolen passport X1234567"}'

ALPHA, BRAVO, CHARLIE, DELTA, EVE = (new_node_keys(name) for name in ("alpha", "bravo", "charlie", "delta", "eve"))
DIRECTORY = Directory.of(ALPHA, BRAVO, CHARLIE, DELTA, EVE)


def routing(**overrides: Any) -> RoutingHeader:
    fields: dict[str, Any] = {
        "sender": "alpha",
        "recipients": ["bravo", "charlie"],
        "created": NOW,
        "expires": NOW + dt.timedelta(days=1),
        "conversation_id": new_id(),
        "size": len(BODY),
    }
    fields.update(overrides)
    return RoutingHeader.model_validate(fields)


def sealed(header: RoutingHeader | None = None, body: bytes = BODY, sender: NodeKeys = ALPHA) -> dict[str, Any]:
    return seal(header or routing(), body, sender, DIRECTORY)


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def flip_base64(text: str, index: int) -> str:
    """``text`` with the base64url character at ``index`` replaced by another one: still valid
    base64url, so the change reaches the cryptography rather than failing to decode."""
    replacement = "B" if text[index] == "A" else "A"
    return text[:index] + replacement + text[index + 1 :]


def refusal(envelope: dict[str, Any], recipient: NodeKeys = BRAVO, directory: Directory = DIRECTORY) -> str:
    with pytest.raises(EnvelopeRefused) as refused:
        open_envelope(envelope, recipient, directory, now=NOW)
    return refused.value.reason


def hub_refusal(envelope: dict[str, Any], directory: Directory = DIRECTORY) -> str:
    with pytest.raises(EnvelopeRefused) as refused:
        check_routing(envelope, directory, now=NOW)
    return refused.value.reason


def resign(envelope: dict[str, Any], sender: NodeKeys = ALPHA) -> dict[str, Any]:
    """The outer signature made again over the envelope as it now is, as only the sender (or
    a thief of its key) could: shows the layers beneath the outer signature hold on their own."""
    claims = {"routing_sha256": sha256(envelope["routing"]), "jwe_sha256": sha256(envelope["jwe"])}
    header = {"alg": "ES256", "kid": signing_kid(sender.name), "typ": ENVELOPE_SIGNATURE_TYPE}
    return {**envelope, "signature": jws.serialize_compact(header, canonical(claims), sender.signing)}


# -- round trips --------------------------------------------------------------------------


def test_a_message_to_one_recipient_opens_to_the_same_header_and_body() -> None:
    header = routing(recipients=["bravo"])
    envelope = sealed(header)

    assert open_envelope(envelope, BRAVO, DIRECTORY, now=NOW) == (header, BODY)


def test_every_recipient_of_a_message_to_several_opens_it() -> None:
    header = routing(recipients=["bravo", "charlie", "delta"], handling=Tlp.RED, case_ref="OP-2026-17")
    envelope = sealed(header)

    for recipient in (BRAVO, CHARLIE, DELTA):
        assert open_envelope(envelope, recipient, DIRECTORY, now=NOW) == (header, BODY)


def test_more_recipients_than_joserfcs_default_limit_of_sixteen_open_it() -> None:
    many = [new_node_keys(f"node-{number}") for number in range(20)]
    directory = Directory.of(ALPHA, *many)
    header = routing(recipients=[node.name for node in many])
    envelope = seal(header, BODY, ALPHA, directory)

    for recipient in (many[0], many[-1]):
        assert open_envelope(envelope, recipient, directory, now=NOW) == (header, BODY)


def test_an_empty_body_round_trips() -> None:
    header = routing(size=0)

    assert open_envelope(sealed(header, b""), BRAVO, DIRECTORY, now=NOW) == (header, b"")


def test_a_one_mebibyte_body_round_trips_through_json() -> None:
    body = bytes(range(256)) * 4096
    header = routing(size=len(body), content_type="application/octet-stream")
    raw = orjson.dumps(sealed(header, body))

    assert len(raw) < MAX_ENVELOPE_BYTES
    assert open_envelope(parse_envelope(raw), CHARLIE, DIRECTORY, now=NOW) == (header, body)


def test_the_envelope_has_the_documented_shape() -> None:
    header = routing()
    envelope = sealed(header)

    assert set(envelope) == {"routing", "jwe", "signature"}
    assert envelope["routing"] == header.model_dump(mode="json")
    assert [entry["header"]["kid"] for entry in envelope["jwe"]["recipients"]] == ["bravo-enc", "charlie-enc"]
    assert {entry["header"]["alg"] for entry in envelope["jwe"]["recipients"]} == {"ECDH-ES+A256KW"}
    encoded_protected = envelope["jwe"]["protected"]
    protected = orjson.loads(base64.urlsafe_b64decode(encoded_protected + "=" * (-len(encoded_protected) % 4)))
    assert protected == {
        "enc": "A256GCM",
        "cty": "JOSE",
        "polex_message_id": header.id,
        "polex_routing_sha256": sha256(envelope["routing"]),
    }
    outer = jws.deserialize_compact(envelope["signature"], NodePublicKeys.of(ALPHA).signing)
    assert outer.headers() == {"alg": "ES256", "kid": "alpha-sig", "typ": ENVELOPE_SIGNATURE_TYPE}
    assert orjson.loads(outer.payload) == {
        "routing_sha256": sha256(envelope["routing"]),
        "jwe_sha256": sha256(envelope["jwe"]),
    }


def test_a_replayed_envelope_opens_again_receivers_deduplicate_by_message_id() -> None:
    # Not this layer's concern: the receiver keeps the ids it has seen until the message
    # expires, and drops a second delivery of routing.id.
    envelope = sealed()

    first = open_envelope(envelope, BRAVO, DIRECTORY, now=NOW)
    again = open_envelope(copy.deepcopy(envelope), BRAVO, DIRECTORY, now=NOW)

    assert first == again


# -- the hub ------------------------------------------------------------------------------


def test_the_hub_checks_routing_with_public_keys_only() -> None:
    header = routing()
    envelope = sealed(header)
    hub_directory = Directory(
        {
            node.name: NodePublicKeys.from_jwks(public_signing_jwk(node), public_encryption_jwk(node))
            for node in (ALPHA, BRAVO, CHARLIE)
        }
    )

    assert check_routing(envelope, hub_directory, now=NOW) == header


def test_public_jwks_carry_the_kid_and_use_and_no_private_part() -> None:
    signing, encryption = public_signing_jwk(ALPHA), public_encryption_jwk(ALPHA)

    assert (signing["kid"], signing["use"], signing["alg"]) == ("alpha-sig", "sig", "ES256")
    assert (encryption["kid"], encryption["use"], encryption["alg"]) == ("alpha-enc", "enc", "ECDH-ES+A256KW")
    assert "d" not in signing
    assert "d" not in encryption


def test_a_directory_refuses_private_keys() -> None:
    with pytest.raises(ValueError, match="public key"):
        NodePublicKeys(signing=ALPHA.signing, encryption=NodePublicKeys.of(ALPHA).encryption)


# -- who may open it ----------------------------------------------------------------------


def test_a_node_outside_the_recipients_is_refused() -> None:
    assert refusal(sealed(), EVE) == "not a recipient"


def test_a_node_that_adds_itself_to_the_recipients_is_refused_and_cannot_decrypt_anyway() -> None:
    envelope = sealed()
    lying = copy.deepcopy(envelope)
    lying["routing"]["recipients"].append("eve")

    assert refusal(lying, EVE).startswith("routing altered")
    # And below the envelope checks, the ciphertext itself does not open with its key.
    with pytest.raises(JoseError):
        jwe.decrypt_json(envelope["jwe"], EVE.encryption, algorithms=["ECDH-ES+A256KW", "A256GCM"])


def test_a_node_that_also_renames_an_entry_to_its_kid_is_refused() -> None:
    lying = copy.deepcopy(sealed())
    lying["routing"]["recipients"] = ["bravo", "eve"]
    lying["jwe"]["recipients"][1]["header"]["kid"] = encryption_kid("eve")

    assert refusal(lying, EVE).startswith("routing altered")
    # Even with the sender's key stolen, the JWE stays bound to the routing it was sealed for.
    assert refusal(resign(lying), EVE).startswith("routing altered")


# -- tampering ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recipients", ["bravo", "charlie", "eve"]),
        ("recipients", ["bravo"]),
        ("handling", Tlp.CLEAR),
        ("expires", NOW + dt.timedelta(days=30)),
        ("sender", "delta"),
        ("size", 1),
    ],
)
def test_a_changed_routing_field_is_refused_by_the_hub_and_the_recipient(field: str, value: Any) -> None:
    header = routing()
    envelope = sealed(header)
    envelope["routing"] = header.model_copy(update={field: value}).model_dump(mode="json")

    assert hub_refusal(envelope) in {"routing altered", "bad signature"}  # "sender" changes the key checked
    assert refusal(envelope) in {"routing altered", "bad signature"}


def test_routing_not_in_canonical_form_is_refused() -> None:
    envelope = sealed(routing(case_ref="OP-17"))
    envelope["routing"]["case_ref"] = " OP-17 "  # the same header once parsed, but not what was signed

    assert hub_refusal(envelope) == "malformed envelope: routing is not in canonical form"


@pytest.mark.parametrize("segment", [0, 1, 2], ids=["header", "payload", "signature"])
def test_a_flipped_byte_in_the_outer_signature_is_refused(segment: int) -> None:
    envelope = sealed()
    parts = envelope["signature"].split(".")
    parts[segment] = flip_base64(parts[segment], len(parts[segment]) // 2)
    envelope["signature"] = ".".join(parts)

    assert hub_refusal(envelope).startswith(("bad signature", "malformed envelope"))
    assert refusal(envelope).startswith(("bad signature", "malformed envelope"))


JWE_PARTS = ["ciphertext", "tag", "iv", "protected", "recipients/0/encrypted_key", "recipients/1/encrypted_key"]


def tamper_jwe(envelope: dict[str, Any], part: str) -> dict[str, Any]:
    tampered = copy.deepcopy(envelope)
    if part.startswith("recipients/"):
        _, index, member = part.split("/")
        holder = tampered["jwe"]["recipients"][int(index)]
    else:
        holder, member = tampered["jwe"], part
    holder[member] = flip_base64(holder[member], len(holder[member]) // 2)
    return tampered


@pytest.mark.parametrize("part", JWE_PARTS)
def test_a_flipped_byte_in_the_jwe_is_refused_by_the_hub_and_the_recipient(part: str) -> None:
    tampered = tamper_jwe(sealed(), part)

    assert hub_refusal(tampered) == "ciphertext altered"
    assert refusal(tampered) == "ciphertext altered"
    assert refusal(tampered, CHARLIE) == "ciphertext altered"


@pytest.mark.parametrize("part", ["ciphertext", "tag", "iv", "protected"])
def test_a_flipped_byte_in_the_shared_jwe_parts_is_refused_even_under_a_valid_outer_signature(part: str) -> None:
    tampered = resign(tamper_jwe(sealed(), part))
    # The AEAD tag covers ciphertext, iv and protected header for every recipient.
    for recipient in (BRAVO, CHARLIE):
        assert refusal(tampered, recipient).startswith(("cannot decrypt", "malformed envelope", "routing altered"))


@pytest.mark.parametrize(("index", "owner", "other"), [(0, BRAVO, CHARLIE), (1, CHARLIE, BRAVO)])
def test_a_flipped_byte_in_a_recipients_key_is_refused_by_it_even_under_a_valid_outer_signature(
    index: int, owner: NodeKeys, other: NodeKeys
) -> None:
    header = routing()
    tampered = resign(tamper_jwe(sealed(header), f"recipients/{index}/encrypted_key"))

    assert refusal(tampered, owner) == "cannot decrypt"
    # Each recipient unwraps only its own entry, so one damaged by the sender harms no other.
    assert open_envelope(tampered, other, DIRECTORY, now=NOW) == (header, BODY)


def test_an_epk_from_another_entry_is_refused() -> None:
    envelope = copy.deepcopy(sealed())
    recipients = envelope["jwe"]["recipients"]
    recipients[0]["header"]["epk"] = recipients[1]["header"]["epk"]

    assert refusal(envelope) == "ciphertext altered"
    assert refusal(resign(envelope)) == "cannot decrypt"


def test_an_envelope_signed_by_another_node_than_its_sender_is_refused() -> None:
    # Bravo, holding only its own keys, passes itself off as alpha.
    impostor = NodeKeys(name="alpha", signing=BRAVO.signing, encryption=BRAVO.encryption)
    envelope = seal(routing(), BODY, impostor, DIRECTORY)

    assert hub_refusal(envelope) == "bad signature"
    assert refusal(envelope, CHARLIE) == "bad signature"


def test_an_unknown_sender_is_refused() -> None:
    directory = Directory.of(BRAVO, CHARLIE)

    assert hub_refusal(sealed(), directory) == "unknown sender 'alpha'"


def test_an_unknown_recipient_is_refused_by_the_hub() -> None:
    directory = Directory.of(ALPHA, BRAVO)

    assert hub_refusal(sealed(), directory) == "unknown recipient 'charlie'"


@pytest.mark.parametrize("late", [dt.timedelta(0), dt.timedelta(seconds=1), dt.timedelta(days=400)])
def test_an_expired_message_is_refused(late: dt.timedelta) -> None:
    header = routing(expires=NOW + dt.timedelta(hours=1))
    envelope = sealed(header)

    with pytest.raises(EnvelopeRefused, match="expired at"):
        check_routing(envelope, DIRECTORY, now=header.expires + late)
    with pytest.raises(EnvelopeRefused, match="expired at"):
        open_envelope(envelope, BRAVO, DIRECTORY, now=header.expires + late)


# -- a malicious insider: a JWE rebuilt with joserfc, under a valid outer signature ------------

INSIDER_REGISTRY = JWERegistry(
    header_registry={
        "polex_message_id": HeaderParameter("message id", "str"),
        "polex_routing_sha256": HeaderParameter("routing hash", "str"),
    },
    algorithms=["ECDH-ES+A256KW", "A256GCM"],
)


def rebuilt(header: RoutingHeader, inner_token: str, *, protected: dict[str, str] | None = None) -> dict[str, Any]:
    """An envelope for ``header`` whose JWE holds ``inner_token``, encrypted with joserfc to the
    right keys, and signed outside by alpha: only the inner checks stand in the way."""
    routing_json = header.model_dump(mode="json")
    encryption = GeneralJSONEncryption(
        protected
        or {
            "enc": "A256GCM",
            "cty": "JOSE",
            "polex_message_id": header.id,
            "polex_routing_sha256": sha256(routing_json),
        },
        inner_token.encode(),
    )
    for name in header.recipients:
        recipient_key = DIRECTORY.nodes[name].encryption
        encryption.recipients.append(
            Recipient(encryption, {"alg": "ECDH-ES+A256KW", "kid": encryption_kid(name)}, recipient_key)
        )
    document = dict(jwe.encrypt_json(encryption, None, registry=INSIDER_REGISTRY))
    return resign({"routing": routing_json, "jwe": document, "signature": ""})


def inner_token(
    header: RoutingHeader,
    *,
    body: bytes = BODY,
    signer: NodeKeys = ALPHA,
    typ: str = BODY_SIGNATURE_TYPE,
    routing_sha256: str | None = None,
) -> str:
    payload = {
        "routing_sha256": routing_sha256 or sha256(header.model_dump(mode="json")),
        "body": base64.urlsafe_b64encode(body).rstrip(b"=").decode(),
    }
    return jws.serialize_compact({"alg": "ES256", "kid": "alpha-sig", "typ": typ}, canonical(payload), signer.signing)


def test_the_insider_harness_builds_envelopes_that_open() -> None:
    header = routing()

    assert open_envelope(rebuilt(header, inner_token(header)), BRAVO, DIRECTORY, now=NOW) == (header, BODY)


def test_an_inner_signature_by_another_node_is_refused() -> None:
    header = routing()
    # Bravo, a recipient, writes a body of its own and signs it with its own key, naming alpha's.
    forged = inner_token(header, body=b'{"notice": "cancelled"}', signer=BRAVO)

    assert refusal(rebuilt(header, forged), CHARLIE) == "inner signature invalid"


@pytest.mark.parametrize("segment", [0, 1, 2], ids=["header", "payload", "signature"])
def test_an_inner_signature_with_a_flipped_byte_is_refused(segment: int) -> None:
    header = routing()
    parts = inner_token(header).split(".")
    parts[segment] = flip_base64(parts[segment], len(parts[segment]) // 2)

    assert refusal(rebuilt(header, ".".join(parts))).startswith(("inner signature invalid", "malformed envelope"))


def test_an_outer_kind_of_signature_inside_is_refused() -> None:
    header = routing()

    assert refusal(rebuilt(header, inner_token(header, typ=ENVELOPE_SIGNATURE_TYPE))) == "inner signature invalid"


def test_a_body_signed_for_another_routing_is_refused() -> None:
    header = routing()
    other = sha256(routing(recipients=["bravo"]).model_dump(mode="json"))

    assert refusal(rebuilt(header, inner_token(header, routing_sha256=other))).startswith("routing altered")


def test_a_body_whose_size_differs_from_the_routing_is_refused() -> None:
    header = routing()

    assert refusal(rebuilt(header, inner_token(header, body=BODY + b" "))).startswith("malformed envelope")


def test_a_jwe_sealed_for_another_message_is_refused() -> None:
    header = routing()
    protected = {
        "enc": "A256GCM",
        "cty": "JOSE",
        "polex_message_id": new_id(),
        "polex_routing_sha256": sha256(header.model_dump(mode="json")),
    }
    envelope = rebuilt(header, inner_token(header), protected=protected)

    assert hub_refusal(envelope).startswith("routing altered")
    assert refusal(envelope).startswith("routing altered")


def test_plaintext_that_is_not_a_jws_is_refused() -> None:
    header = routing()

    assert refusal(rebuilt(header, "not a signature")) == "inner signature invalid"


# -- malformed input ----------------------------------------------------------------------


def test_parse_envelope_refuses_more_than_the_limit() -> None:
    with pytest.raises(EnvelopeRefused, match="too large"):
        parse_envelope(b" " * (MAX_ENVELOPE_BYTES + 1))


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[]", b'"envelope"', b"null", b"1e999999"])
def test_parse_envelope_refuses_what_is_not_a_json_object(raw: bytes) -> None:
    with pytest.raises(EnvelopeRefused, match="malformed envelope"):
        parse_envelope(raw)


@pytest.mark.parametrize(
    "change",
    [
        lambda envelope: envelope.pop("signature"),
        lambda envelope: envelope.update(extra=1),
        lambda envelope: envelope.update(jwe=[]),
        lambda envelope: envelope.update(routing="alpha"),
        lambda envelope: envelope["routing"].pop("sender"),
        lambda envelope: envelope["routing"].update(created="2026-11-28T12:00:00"),
        lambda envelope: envelope["jwe"].update(aad="eA"),
        lambda envelope: envelope["jwe"].update(recipients=[]),
        lambda envelope: envelope["jwe"]["recipients"][0]["header"].update(alg="RSA1_5"),
        lambda envelope: envelope["jwe"]["recipients"][0]["header"]["epk"].update(crv="P-384"),
    ],
)
def test_a_malformed_envelope_is_refused(change: Any) -> None:
    envelope = copy.deepcopy(sealed())
    change(envelope)

    assert hub_refusal(envelope).startswith("malformed envelope")
    assert refusal(envelope).startswith("malformed envelope")


def test_jwe_entries_out_of_the_routings_order_are_refused() -> None:
    envelope = copy.deepcopy(sealed())
    envelope["jwe"]["recipients"].reverse()

    assert hub_refusal(envelope) == "ciphertext altered"
    assert hub_refusal(resign(envelope)) == "malformed envelope: the JWE's recipients are not the routing's"


def test_seal_refuses_a_size_that_is_not_the_bodys() -> None:
    with pytest.raises(ValueError, match="size"):
        seal(routing(size=len(BODY) + 1), BODY, ALPHA, DIRECTORY)


def test_seal_refuses_keys_of_another_node_than_the_sender() -> None:
    with pytest.raises(ValueError, match="sender"):
        seal(routing(), BODY, BRAVO, DIRECTORY)


def test_seal_refuses_a_recipient_outside_the_directory() -> None:
    with pytest.raises(ValueError, match="'zulu'"):
        seal(routing(recipients=["zulu"]), BODY, ALPHA, DIRECTORY)


def test_seal_refuses_an_envelope_larger_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope_module, "MAX_ENVELOPE_BYTES", 4096)
    body = b"x" * 4096

    with pytest.raises(ValueError, match="more than the 4096 allowed"):
        seal(routing(size=len(body)), body, ALPHA, DIRECTORY)


# -- the routing header -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["created", "expires"])
def test_a_routing_header_refuses_naive_times(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        routing(**{field: dt.datetime(2026, 11, 28, 13, 0)})  # naive: the point of the test


@pytest.mark.parametrize("expires", [NOW, NOW - dt.timedelta(seconds=1)])
def test_a_routing_header_refuses_an_expiry_not_after_creation(expires: dt.datetime) -> None:
    with pytest.raises(ValidationError, match="expires: must be after created"):
        routing(expires=expires)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recipients", []),
        ("recipients", ["bravo", "bravo"]),
        ("recipients", [f"node-{number}" for number in range(301)]),
        ("recipients", ["Bravo"]),
        ("sender", "-alpha"),
        ("sender", "a" * 64),
        ("size", -1),
        ("case_ref", "x" * 129),
        ("content_type", "x" * 101),
        ("conversation_id", "not-an-id"),
    ],
)
def test_a_routing_header_refuses_bad_fields(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        routing(**{field: value})


# -- any damage whatever ------------------------------------------------------------------

PROPERTY_HEADER = routing()
PROPERTY_RAW = orjson.dumps(sealed(PROPERTY_HEADER))


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    raw = PROPERTY_RAW
    position = draw(st.integers(min_value=0, max_value=len(raw) - 1))
    kind = draw(st.sampled_from(["flip", "truncate", "insert"]))
    if kind == "flip":
        mask = draw(st.integers(min_value=1, max_value=255))
        return raw[:position] + bytes([raw[position] ^ mask]) + raw[position + 1 :]
    if kind == "truncate":
        return raw[:position]
    return raw[:position] + bytes([draw(st.integers(min_value=0, max_value=255))]) + raw[position:]


@settings(max_examples=200, deadline=None)
@given(damaged())
def test_a_damaged_envelope_is_refused_or_opens_to_exactly_the_original(raw: bytes) -> None:
    # Some damage is harmless (a space inserted between JSON tokens); none may change content
    # or escape as anything but EnvelopeRefused.
    try:
        envelope = parse_envelope(raw)
        assert check_routing(envelope, DIRECTORY, now=NOW) == PROPERTY_HEADER
        opened = open_envelope(envelope, BRAVO, DIRECTORY, now=NOW)
    except EnvelopeRefused:
        return
    assert opened == (PROPERTY_HEADER, BODY)


def test_what_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(EnvelopeRefused, match="not a JSON object"):
        check_routing([sealed()], DIRECTORY, now=NOW)  # type: ignore[arg-type]


def test_a_naive_now_is_the_callers_bug_not_a_refusal() -> None:
    with pytest.raises(ValueError, match="time zone"):
        check_routing(sealed(), DIRECTORY, now=NOW.replace(tzinfo=None))
