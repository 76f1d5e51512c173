"""API keys for machine clients: ``plx_<prefix>_<secret>``, only a SHA-256 of the secret kept.

The secret is 256 random bits, so a fast hash is enough at rest (as GitHub and PyPI do for
their tokens); the prefix finds the row without scanning, and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_MARK = "plx"


@dataclass(frozen=True)
class GeneratedKey:
    prefix: str
    secret_hash: str
    plaintext: str


def generate_api_key() -> GeneratedKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return GeneratedKey(prefix=prefix, secret_hash=hash_secret(secret), plaintext=f"{KEY_MARK}_{prefix}_{secret}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(plaintext: str) -> tuple[str, str] | None:
    """The prefix and secret of something shaped like a polex API key, else None."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_MARK or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(f"{KEY_MARK}_")
