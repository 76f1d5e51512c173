"""Node tokens: a node proves who it is to another node with a short-lived ES256 token."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, replace
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey

from polex.crypto import pki
from polex.network.membership import Member, Membership, read_membership, sign_membership
from polex.network.node_auth import (
    SCHEME,
    TOKEN_LIFETIME,
    NodeTokenRefused,
    VerifiedTokens,
    make_node_token,
    parse_authorization,
    verify_node_token,
)

Authority = tuple[ec.EllipticCurvePrivateKey, x509.Certificate]


@dataclass(frozen=True)
class Node:
    name: str
    key_pem: bytes
    certificate: x509.Certificate


@dataclass(frozen=True)
class Network:
    ca: Authority
    hub: Node
    fra: Node
    deu: Node
    membership: Membership
    now: dt.datetime
    cached: bool = False  # verify through VerifiedTokens, twice: the second answer from its cache

    @property
    def ca_certificate(self) -> x509.Certificate:
        return self.ca[1]

    def verify(self, token: str, *, audience: str = "hub", now: dt.datetime | None = None, **changes: Any) -> str:
        membership = replace(self.membership, members={**self.membership.members, **changes})
        if not self.cached:
            return verify_node_token(
                token, audience=audience, membership=membership, ca_certificate=self.ca_certificate, now=now or self.now
            )
        tokens = VerifiedTokens()
        issuer = tokens.verify(
            token, audience=audience, membership=membership, ca_certificate=self.ca_certificate, now=now or self.now
        )
        again = tokens.verify(
            token, audience=audience, membership=membership, ca_certificate=self.ca_certificate, now=now or self.now
        )
        assert again == issuer
        return issuer


def _enrol(authority: Authority, name: str, country: str, role: pki.NodeRole = "national", **kw: Any) -> Node:
    key = pki.new_private_key()
    csr = pki.make_csr(key, pki.NodeName(name=name, country=country, role=role))
    certificate = pki.issue_node_certificate(authority[0], authority[1], csr, **kw)
    return Node(name=name, key_pem=pki.private_key_pem(key), certificate=certificate)


def _member(node: Node, *, status: str = "active", certificate: x509.Certificate | None = None) -> Member:
    cert = certificate or node.certificate
    return Member(
        name=node.name,
        country="XPO" if node.name == "hub" else node.name.upper(),
        role="hub" if node.name == "hub" else "national",
        status=status,
        url=f"https://localhost/{node.name}",
        certificate=pki.certificate_pem(cert).decode(),
        fingerprint=pki.fingerprint(cert),
        serial=str(cert.serial_number),
        not_after=cert.not_valid_after_utc,
        encryption_key={"kty": "EC", "crv": "P-256", "x": "x", "y": "y"},  # not used by node tokens
    )


@pytest.fixture(scope="module")
def plain_network() -> Network:
    ca = pki.create_network_ca()
    hub = _enrol(ca, "hub", "XPO", "hub")
    fra = _enrol(ca, "fra", "FRA")
    deu = _enrol(ca, "deu", "DEU")
    now = dt.datetime.now(dt.UTC)
    members = {node.name: _member(node) for node in (hub, fra, deu)}
    membership = Membership(issued_at=now, next_update=now + dt.timedelta(minutes=5), members=members)
    return Network(ca=ca, hub=hub, fra=fra, deu=deu, membership=membership, now=now)


@pytest.fixture(params=["verify_node_token", "VerifiedTokens"])
def network(plain_network: Network, request: pytest.FixtureRequest) -> Network:
    """Every check below, made by the function and by the cache of verified tokens."""
    return replace(plain_network, cached=request.param == "VerifiedTokens")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(network: Network, **changes: Any) -> dict[str, Any]:
    issued_at = int(network.now.timestamp())
    claims: dict[str, Any] = {
        "iss": "fra",
        "aud": "hub",
        "iat": issued_at,
        "exp": issued_at + int(TOKEN_LIFETIME.total_seconds()),
        "jti": "j",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _es256(key_pem: bytes, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """A token signed properly with ``key_pem`` but with whatever header and claims the test wants."""
    protected = header if header is not None else {"alg": "ES256", "typ": "polex-node+jwt"}
    return jws.serialize_compact(protected, orjson.dumps(claims), ECKey.import_key(key_pem), algorithms=["ES256"])


def _refused(network: Network, token: str, **kw: Any) -> str:
    with pytest.raises(NodeTokenRefused) as caught:
        network.verify(token, **kw)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


# Accepted


def test_a_fresh_token_names_its_issuer(network: Network) -> None:
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    assert network.verify(token) == "fra"
    assert network.verify(token, now=network.now + TOKEN_LIFETIME - dt.timedelta(seconds=1)) == "fra"


def test_the_token_has_the_documented_shape(network: Network) -> None:
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    header, payload, _ = token.split(".")
    assert orjson.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "ES256", "typ": "polex-node+jwt"}
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti"}
    assert (claims["iss"], claims["aud"], claims["iat"]) == ("fra", "hub", int(network.now.timestamp()))
    assert claims["exp"] - claims["iat"] == 120
    other = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    assert orjson.loads(base64.urlsafe_b64decode(other.split(".")[1] + "=="))["jti"] != claims["jti"]


def test_the_hub_can_call_a_national_node(network: Network) -> None:
    token = make_node_token(network.hub.key_pem, issuer="hub", audience="deu", now=network.now)
    assert network.verify(token, audience="deu") == "hub"


def test_a_token_a_little_ahead_of_the_clock_is_accepted(network: Network) -> None:
    token = make_node_token(
        network.fra.key_pem, issuer="fra", audience="hub", now=network.now + dt.timedelta(seconds=50)
    )
    assert network.verify(token) == "fra"


def test_it_works_with_a_membership_list_signed_by_the_hub(network: Network) -> None:
    ca_key, ca_certificate = network.ca
    listed = []
    for node in (network.hub, network.fra):
        member = _member(node)
        listed.append({**member.__dict__, "not_after": member.not_after.isoformat() if member.not_after else None})
    listed[1]["status"] = "suspended"
    signed = sign_membership(listed, pki.private_key_pem(ca_key), ca_certificate)
    membership = read_membership(signed, ca_certificate)
    hub_token = make_node_token(network.hub.key_pem, issuer="hub", audience="fra")
    assert verify_node_token(hub_token, audience="fra", membership=membership, ca_certificate=ca_certificate) == "hub"
    fra_token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub")
    with pytest.raises(NodeTokenRefused, match="node 'fra' is suspended"):
        verify_node_token(fra_token, audience="hub", membership=membership, ca_certificate=ca_certificate)


def test_a_header_round_trip(network: Network) -> None:
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    received = parse_authorization(f"{SCHEME} {token}")
    assert received == token
    assert network.verify(received) == "fra"


# Refused: claims and times


def test_a_token_for_another_node_is_refused(network: Network) -> None:
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="deu", now=network.now)
    assert _refused(network, token, audience="hub") == "for another node"


def test_an_expired_token_is_refused(network: Network) -> None:
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    assert _refused(network, token, now=network.now + dt.timedelta(minutes=3)) == "expired"
    assert _refused(network, token, now=network.now + TOKEN_LIFETIME) == "expired"


def test_a_token_issued_in_the_future_is_refused(network: Network) -> None:
    later = network.now + dt.timedelta(minutes=2)
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=later)
    assert _refused(network, token) == "issued in the future"


def test_a_token_that_lasts_too_long_is_refused(network: Network) -> None:
    issued_at = int(network.now.timestamp())
    token = _es256(network.fra.key_pem, _claims(network, exp=issued_at + 3600))
    assert _refused(network, token) == "lifetime too long"
    within_allowance = _es256(network.fra.key_pem, _claims(network, exp=issued_at + 125))
    assert network.verify(within_allowance) == "fra"
    just_over = _es256(network.fra.key_pem, _claims(network, exp=issued_at + 126))
    assert _refused(network, just_over) == "lifetime too long"


def test_a_token_that_expires_before_it_is_issued_is_refused(network: Network) -> None:
    issued_at = int(network.now.timestamp())
    token = _es256(network.fra.key_pem, _claims(network, iat=issued_at, exp=issued_at - 1))
    assert _refused(network, token).startswith("malformed token")


@pytest.mark.parametrize(
    "changes",
    [
        {"jti": None},
        {"extra": "claim"},
        {"iat": "1700000000"},
        {"exp": 1.5e9},
        {"iat": True},
        {"iss": ""},
        {"aud": ["hub"]},
        {"iss": None},
    ],
    ids=["no-jti", "extra-claim", "string-iat", "float-exp", "bool-iat", "empty-iss", "list-aud", "no-iss"],
)
def test_claims_of_the_wrong_shape_are_refused(network: Network, changes: dict[str, Any]) -> None:
    token = _es256(network.fra.key_pem, _claims(network, **changes))
    assert _refused(network, token).startswith("malformed token")


# Refused: who signed it


def test_a_token_signed_by_another_node_is_refused(network: Network) -> None:
    token = make_node_token(network.deu.key_pem, issuer="fra", audience="hub", now=network.now)
    assert _refused(network, token) == "bad signature"


def test_a_tampered_payload_is_refused(network: Network) -> None:
    header, _, signature = make_node_token(network.fra.key_pem, issuer="fra", audience="deu", now=network.now).split(
        "."
    )
    payload = _b64(orjson.dumps(_claims(network, aud="hub")))
    assert _refused(network, f"{header}.{payload}.{signature}") == "bad signature"


def test_an_unknown_issuer_is_refused(network: Network) -> None:
    token = make_node_token(network.fra.key_pem, issuer="ita", audience="hub", now=network.now)
    assert _refused(network, token) == "unknown node 'ita'"


@pytest.mark.parametrize("status", ["suspended", "revoked", "pending"])
def test_an_issuer_that_is_not_active_is_refused(network: Network, status: str) -> None:
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    assert _refused(network, token, fra=_member(network.fra, status=status)) == f"node 'fra' is {status}"


def test_an_issuer_without_a_certificate_is_refused(network: Network) -> None:
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    bare = replace(_member(network.fra), certificate=None)
    assert _refused(network, token, fra=bare) == "node 'fra' has no certificate yet"


def test_an_issuer_whose_certificate_expired_is_refused(network: Network) -> None:
    old = network.now - dt.timedelta(days=10)
    expired = _enrol(network.ca, "fra", "FRA", now=old, valid_days=1)
    token = make_node_token(expired.key_pem, issuer="fra", audience="hub", now=network.now)
    assert "expired" in _refused(network, token, fra=_member(expired))
    # Even if the list forgot to say when it ends, the certificate itself is checked.
    silent = replace(_member(expired), not_after=None)
    assert _refused(network, token, fra=silent).startswith("the certificate of node 'fra' is refused: expired")


def test_a_certificate_whose_serial_is_revoked_in_the_list_is_refused(network: Network) -> None:
    # The hub re-issued fra's certificate; a stale entry keeps the old one, revoked by serial elsewhere in the list.
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    revoked_entry = replace(_member(network.fra, status="revoked"), name="fra-old")
    reason = _refused(network, token, **{"fra-old": revoked_entry})
    assert reason == "the certificate of node 'fra' is refused: revoked: revoked"


def test_a_certificate_from_another_ca_is_refused(network: Network) -> None:
    stranger = _enrol(pki.create_network_ca("another CA"), "fra", "FRA")
    token = make_node_token(stranger.key_pem, issuer="fra", audience="hub", now=network.now)
    reason = _refused(network, token, fra=_member(stranger))
    assert reason.startswith("the certificate of node 'fra' is refused: not issued by this network's CA")


def test_a_certificate_of_another_node_listed_under_the_issuer_is_refused(network: Network) -> None:
    token = make_node_token(network.deu.key_pem, issuer="fra", audience="hub", now=network.now)
    swapped = replace(_member(network.deu), name="fra")
    assert _refused(network, token, fra=swapped) == "the certificate listed for node 'fra' names node 'deu'"


def test_a_certificate_that_does_not_match_the_listed_fingerprint_is_refused(network: Network) -> None:
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    wrong = replace(_member(network.fra), fingerprint="00" * 32)
    assert _refused(network, token, fra=wrong) == "the certificate of node 'fra' does not match its listed fingerprint"


# Refused: not an ES256 polex node token


def test_an_unsigned_token_is_refused(network: Network) -> None:
    header = _b64(orjson.dumps({"alg": "none", "typ": "polex-node+jwt"}))
    payload = _b64(orjson.dumps(_claims(network)))
    assert _refused(network, f"{header}.{payload}.") == "malformed token: not a compact JWS"
    assert _refused(network, f"{header}.{payload}.AAAA") == "malformed token: algorithm 'none' is not ES256"


def test_an_hmac_token_keyed_with_the_public_certificate_is_refused(network: Network) -> None:
    # The classic confusion: HS256 keyed with what the verifier holds as the issuer's public key.
    secret = network.fra.certificate.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "polex-node+jwt"}))
    payload = _b64(orjson.dumps(_claims(network)))
    signature = _b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert _refused(network, f"{header}.{payload}.{signature}") == "malformed token: algorithm 'HS256' is not ES256"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "ES256"},
        {"alg": "ES256", "typ": "JWT"},
        {"alg": "ES256", "typ": "polex-membership+jws"},
        {"alg": "ES256", "typ": "polex-node+jwt", "kid": "fra"},
        {"alg": "ES256", "typ": "polex-node+jwt", "b64": False, "crit": ["b64"]},
    ],
    ids=["no-typ", "jwt", "membership", "extra-kid", "unencoded-payload"],
)
def test_a_properly_signed_token_with_another_header_is_refused(network: Network, header: dict[str, Any]) -> None:
    try:
        token = _es256(network.fra.key_pem, _claims(network), header)
    except Exception:  # joserfc may refuse to make some of these at all: forge the header by hand
        good = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
        token = ".".join([_b64(orjson.dumps(header)), *good.split(".")[1:]])
    # With b64=false the payload is raw JSON, not base64url: refused before the header is even read.
    assert _refused(network, token).startswith("malformed token: not a")


def test_an_es256_token_with_a_different_header_encoding_is_refused(network: Network) -> None:
    # Same header members, re-encoded: the signature no longer covers these bytes.
    good = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    _, payload, signature = good.split(".")
    header = _b64(b'{ "typ": "polex-node+jwt", "alg": "ES256" }')
    assert _refused(network, f"{header}.{payload}.{signature}") == "bad signature"


GARBAGE = [
    "",
    " ",
    "garbage",
    "a.b",
    "a.b.c.d",
    "...",
    "!!!.###.$$$",
    "eyJ.eyJ.sig",
    f"{_b64(b'[]')}.{_b64(b'{}')}.AAAA",
    f"{_b64(b'{}')}.{_b64(b'null')}.AAAA",
    f"{_b64(b'{}')}.{_b64(b'{}')}.AAAA",
    f"{_b64(b'not json')}.{_b64(b'{}')}.AAAA",
    f"{_b64(bytes([0xFF, 0xFE]))}.{_b64(b'{}')}.AAAA",
    "A" * 5 + "." + "B" * 5 + ".C",
    "x" * 10_000,
    "\u00e9t\u00e9.\u00e9t\u00e9.\u00e9t\u00e9",
]


@pytest.mark.parametrize("token", GARBAGE)
def test_garbage_is_refused_as_malformed(network: Network, token: str) -> None:
    assert _refused(network, token).startswith("malformed token")


def test_a_valid_token_with_a_broken_signature_is_refused(network: Network) -> None:
    header, payload, _ = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now).split(".")
    for signature in ("AAAA", "A", _b64(b"\x00" * 64), _b64(b"\x00" * 63)):
        assert _refused(network, f"{header}.{payload}.{signature}") == "bad signature"


# The caller's mistakes


def test_a_naive_now_is_a_programming_error(network: Network) -> None:
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    with pytest.raises(ValueError, match="time zone"):
        network.verify(token, now=dt.datetime.now())  # naive on purpose
    with pytest.raises(ValueError, match="time zone"):
        make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=dt.datetime.now())


def test_a_key_that_is_not_p256_cannot_make_a_token() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        make_node_token(pki.private_key_pem(key), issuer="fra", audience="hub")


# The Authorization header


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PolexNode abc.def.ghi", "abc.def.ghi"),
        ("  PolexNode abc.def.ghi  ", "abc.def.ghi"),
        ("PolexNode   abc.def.ghi", "abc.def.ghi"),
        (None, None),
        ("", None),
        ("PolexNode", None),
        ("PolexNode ", None),
        ("polexnode abc.def.ghi", None),
        ("POLEXNODE abc.def.ghi", None),
        ("Bearer abc.def.ghi", None),
        ("Basic Zm9vOmJhcg==", None),
        ("PolexNodeabc.def.ghi", None),
        ("abc.def.ghi", None),
    ],
)
def test_parse_authorization(value: str | None, expected: str | None) -> None:
    assert parse_authorization(value) == expected


# -- the cache of verified tokens -------------------------------------------------------------


def _tokens_and_token(network: Network) -> tuple[VerifiedTokens, str]:
    tokens = VerifiedTokens()
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    assert _verify_with(tokens, network, token) == "fra"
    return tokens, token


def _verify_with(
    tokens: VerifiedTokens,
    network: Network,
    token: str,
    *,
    membership: Membership | None = None,
    audience: str = "hub",
    now: dt.datetime | None = None,
) -> str:
    return tokens.verify(
        token,
        audience=audience,
        membership=membership or network.membership,
        ca_certificate=network.ca_certificate,
        now=now or network.now,
    )


def test_a_verified_token_is_not_checked_again(network: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens, token = _tokens_and_token(network)

    def no_more_checks(*_: object, **__: object) -> tuple[str, float]:
        raise AssertionError("checked again")

    monkeypatch.setattr("polex.network.node_auth._verify", no_more_checks)
    assert _verify_with(tokens, network, token, now=network.now + dt.timedelta(seconds=30)) == "fra"
    other = make_node_token(network.deu.key_pem, issuer="deu", audience="hub", now=network.now)
    with pytest.raises(AssertionError, match="checked again"):
        _verify_with(tokens, network, other)


def test_a_new_member_list_checks_every_token_again(network: Network) -> None:
    tokens, token = _tokens_and_token(network)
    revoked = replace(
        network.membership, members={**network.membership.members, "fra": _member(network.fra, status="revoked")}
    )
    with pytest.raises(NodeTokenRefused, match="node 'fra' is revoked"):
        _verify_with(tokens, network, token, membership=revoked)


def test_a_cached_token_is_refused_once_it_expires(network: Network) -> None:
    tokens, token = _tokens_and_token(network)
    later = network.now + TOKEN_LIFETIME + dt.timedelta(seconds=1)
    with pytest.raises(NodeTokenRefused, match="expired"):
        _verify_with(tokens, network, token, now=later)


def test_a_cached_token_is_refused_once_the_issuers_certificate_expires(network: Network) -> None:
    # A certificate that ends within the token's lifetime: the cache keeps the token no longer.
    short = _enrol(
        network.ca, "fra", "FRA", now=network.now - dt.timedelta(days=1) + dt.timedelta(seconds=30), valid_days=1
    )
    listed = replace(
        network.membership, members={**network.membership.members, "fra": replace(_member(short), not_after=None)}
    )
    tokens = VerifiedTokens()
    token = make_node_token(short.key_pem, issuer="fra", audience="hub", now=network.now)
    assert _verify_with(tokens, network, token, membership=listed) == "fra"
    with pytest.raises(NodeTokenRefused, match="expired"):
        _verify_with(tokens, network, token, membership=listed, now=network.now + dt.timedelta(seconds=45))


def _verified_in_a_list_ending(network: Network, ending: dt.datetime) -> tuple[VerifiedTokens, str, Membership]:
    """A token of France verified against a list that says France's certificate ends at ``ending``."""
    listed = replace(
        network.membership,
        members={**network.membership.members, "fra": replace(_member(network.fra), not_after=ending)},
    )
    tokens = VerifiedTokens()
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now)
    assert _verify_with(tokens, network, token, membership=listed) == "fra"
    return tokens, token, listed


def test_the_issuer_is_checked_in_the_list_on_every_request(network: Network) -> None:
    # The list says when the issuer's certificate ends; a cached token is not taken past it.
    ending = network.now + dt.timedelta(seconds=20)
    tokens, token, listed = _verified_in_a_list_ending(network, ending)
    with pytest.raises(NodeTokenRefused, match="the certificate of node 'fra' expired"):
        _verify_with(tokens, network, token, membership=listed, now=ending + dt.timedelta(seconds=1))


def test_a_cached_token_is_still_for_its_own_audience_only(network: Network) -> None:
    tokens, token = _tokens_and_token(network)
    with pytest.raises(NodeTokenRefused, match="for another node"):
        _verify_with(tokens, network, token, audience="deu")


def test_a_refused_token_is_not_remembered(network: Network) -> None:
    tokens = VerifiedTokens()
    token = make_node_token(network.fra.key_pem, issuer="fra", audience="deu", now=network.now)
    for _ in range(2):
        with pytest.raises(NodeTokenRefused, match="for another node"):
            _verify_with(tokens, network, token)


def test_the_cache_is_bounded(network: Network) -> None:
    tokens = VerifiedTokens(size=2)
    made = [make_node_token(network.fra.key_pem, issuer="fra", audience="hub", now=network.now) for _ in range(3)]
    for token in made:
        assert _verify_with(tokens, network, token) == "fra"
    assert len(tokens._entries) == 2
    assert (made[0], "hub") not in tokens._entries  # the oldest went first


# What the lean routes ask on the event loop (VerifiedTokens.remembered): the cache alone.


def test_remembered_names_the_issuer_of_a_token_verified_against_the_same_list(network: Network) -> None:
    tokens, token = _tokens_and_token(network)
    later = network.now + dt.timedelta(seconds=30)
    assert tokens.remembered(token, audience="hub", membership=network.membership, now=later) == "fra"


def test_remembered_says_nothing_verify_would_have_to_check(network: Network) -> None:
    tokens, token = _tokens_and_token(network)
    membership = network.membership
    never_verified = make_node_token(network.deu.key_pem, issuer="deu", audience="hub", now=network.now)
    same_members_new_list = replace(membership)  # a list read again: every token is verified again
    after_expiry = network.now + TOKEN_LIFETIME + dt.timedelta(seconds=1)
    assert tokens.remembered(never_verified, audience="hub", membership=membership, now=network.now) is None
    assert tokens.remembered(token, audience="deu", membership=membership, now=network.now) is None
    assert tokens.remembered(token, audience="hub", membership=same_members_new_list, now=network.now) is None
    assert tokens.remembered(token, audience="hub", membership=membership, now=after_expiry) is None


def test_remembered_stops_when_the_issuer_stops_being_usable_in_the_list(network: Network) -> None:
    ending = network.now + dt.timedelta(seconds=20)
    tokens, token, listed = _verified_in_a_list_ending(network, ending)
    assert tokens.remembered(token, audience="hub", membership=listed, now=network.now) == "fra"
    assert tokens.remembered(token, audience="hub", membership=listed, now=ending + dt.timedelta(seconds=1)) is None
