"""The node's token-signing key: Ed25519, kept as a PEM file readable by the node only."""

from __future__ import annotations

import os
from pathlib import Path

from joserfc.jwk import OKPKey

TOKEN_KEY_FILE = "token-signing.pem"  # noqa: S105 - a file name, not a secret


def load_or_create_signing_key(keys_dir: Path) -> OKPKey:
    path = keys_dir / TOKEN_KEY_FILE
    if path.exists():
        return OKPKey.import_key(path.read_bytes())
    keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    key = OKPKey.generate_key("Ed25519")
    # Create with 0600 from the start, so the key is never readable by others.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.as_pem(private=True))
    return key
