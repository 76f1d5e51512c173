import datetime as dt
import time

import pyotp
import pytest
from joserfc.jwk import OKPKey

from polex.auth import api_keys, passwords, totp
from polex.auth.principal import Principal, PrincipalKind
from polex.auth.tokens import TokenIssuer
from polex.domain.roles import Permission, Role, permissions_of
from polex.errors import Forbidden, Unauthenticated, ValidationFailed


def issuer(key: OKPKey | None = None, minutes: int = 15) -> TokenIssuer:
    return TokenIssuer(
        key or OKPKey.generate_key("Ed25519"),
        issuer="polex:test",
        lifetime=dt.timedelta(minutes=minutes),
    )


def test_a_token_verifies_with_its_key_only() -> None:
    key = OKPKey.generate_key("Ed25519")
    issued = issuer(key).issue("user-1")
    assert issuer(key).verify(issued.token).subject == "user-1"
    with pytest.raises(Unauthenticated):
        issuer().verify(issued.token)


def test_expired_and_tampered_tokens_are_refused() -> None:
    key = OKPKey.generate_key("Ed25519")
    old = issuer(key).issue("user-1", now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with pytest.raises(Unauthenticated, match="not valid"):
        issuer(key).verify(old.token)
    token = issuer(key).issue("user-1").token
    header, payload, signature = token.split(".")
    with pytest.raises(Unauthenticated):
        issuer(key).verify(f"{header}.{payload[:-2]}AA.{signature}")
    with pytest.raises(Unauthenticated):
        issuer(key).verify("not-a-token")


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    """Verified tokens are remembered (a border system sends one with every check), never
    beyond their expiry and its leeway."""
    tokens = issuer(minutes=1)
    # Expired three seconds ago: still inside the five seconds of leeway, for a second or two.
    issued = tokens.issue("user-1", now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1, seconds=3))
    assert tokens.verify(issued.token).subject == "user-1"
    assert tokens.verify(issued.token).subject == "user-1"  # from memory
    time.sleep(2.1)
    with pytest.raises(Unauthenticated, match="not valid"):
        tokens.verify(issued.token)


def test_passwords_hash_with_argon2id_and_verify() -> None:
    hashed = passwords.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "correct horse battery")
    assert not passwords.verify_password(hashed, "wrong horse battery")
    assert not passwords.verify_password(None, "correct horse battery")
    with pytest.raises(ValidationFailed):
        passwords.check_password_strength("short")


def test_api_keys_keep_only_a_hash() -> None:
    generated = api_keys.generate_api_key()
    prefix, secret = api_keys.split_api_key(generated.plaintext) or ("", "")
    assert prefix == generated.prefix
    assert secret not in generated.secret_hash
    assert api_keys.secret_matches(secret, generated.secret_hash)
    assert not api_keys.secret_matches(secret + "x", generated.secret_hash)
    assert api_keys.split_api_key("plx__") is None
    assert api_keys.split_api_key("Bearer abc") is None


def test_totp_codes() -> None:
    secret = totp.new_totp_secret()
    assert totp.verify_totp(secret, pyotp.TOTP(secret).now())
    assert not totp.verify_totp(secret, "000000") or pyotp.TOTP(secret).now() == "000000"
    assert not totp.verify_totp(secret, None)
    assert "issuer=polex" in totp.provisioning_uri(secret, "alice", "fra")


def test_authorisation_denies_what_no_role_grants() -> None:
    assert permissions_of(set()) == frozenset()
    assert Permission.RECORD_READ not in permissions_of({Role.ADMIN})  # separation of duties
    assert Permission.RECORD_WRITE not in permissions_of({Role.BORDER_OFFICER})
    assert permissions_of({Role.MONITOR}) == {Permission.METRICS_READ}
    auditor = Principal(PrincipalKind.USER, "u", "alice", "a", "FRA", frozenset({Role.AUDITOR}))
    with pytest.raises(Forbidden, match=r"none of the roles \[auditor\] grants 'record:read'"):
        auditor.require(Permission.RECORD_READ)
