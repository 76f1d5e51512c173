"""Time-based one-time passwords (RFC 6238) as a second factor, with pyotp."""

from __future__ import annotations

import pyotp

ISSUER = "polex"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str, node_name: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=f"{username}@{node_name}", issuer_name=ISSUER)


def verify_totp(secret: str, code: str | None) -> bool:
    if not code:
        return False
    # One step either side forgives a clock drift of up to 30 seconds.
    return pyotp.TOTP(secret).verify(code.strip(), valid_window=1)
