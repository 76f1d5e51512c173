"""Query terms in audit events: a keyed hash to search by, and a copy sealed for auditors.

The hash is HMAC-SHA-256 under a node secret, so the trail can answer "who searched for
this passport number" without holding the number. The sealed copy is AES-256-GCM (from
``cryptography``) under a second node secret, bound to its event's id as associated data
so it cannot be moved to another event; only the auditors' API path opens it. A symmetric
key suffices: auditors read through their node, which would hold any private key too, and
it costs about a microsecond an event where a public-key envelope costs a hundred.

Sealed form: ``A256GCM.<base64url nonce>.<base64url ciphertext and tag>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEARCH_KEY_FILE = "audit-search.key"
SEALING_KEY_FILE = "audit-sealing.key"
_MARK = "A256GCM"


class SealError(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _private_key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


class TermSealer:
    def __init__(self, search_key: bytes, sealing_key: bytes) -> None:
        self._search_key = search_key
        self._aead = AESGCM(sealing_key)

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> TermSealer:
        return cls(_private_key_file(keys_dir / SEARCH_KEY_FILE), _private_key_file(keys_dir / SEALING_KEY_FILE))

    def term_hash(self, term: str) -> str:
        return hmac.digest(self._search_key, term.encode(), hashlib.sha256).hex()  # the one-shot C path

    def seal(self, terms: dict[str, str], bound_to: str) -> str:
        plaintext = orjson.dumps(terms, option=orjson.OPT_SORT_KEYS)
        nonce = secrets.token_bytes(12)
        return f"{_MARK}.{_b64(nonce)}.{_b64(self._aead.encrypt(nonce, plaintext, bound_to.encode()))}"

    def unseal(self, sealed: str, bound_to: str) -> dict[str, str]:
        try:
            mark, nonce, ciphertext = sealed.split(".")
            if mark != _MARK:
                raise SealError(f"unknown sealing '{mark}'")
            plaintext = self._aead.decrypt(_unb64(nonce), _unb64(ciphertext), bound_to.encode())
        except (ValueError, InvalidTag) as error:
            raise SealError("the sealed terms do not open with this node's key for this event") from error
        terms: dict[str, str] = orjson.loads(plaintext)
        return terms
