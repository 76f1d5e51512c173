"""Signed checkpoints in the C2SP formats (c2sp.org/tlog-checkpoint, c2sp.org/signed-note).

A checkpoint is the text ``<origin>\\n<size>\\n<base64 root>\\n`` followed by a blank line
and one signature line per signer: ``— <key name> <base64(key id || Ed25519 signature)>``.
The same format Go's sumdb, Sigsum and the transparency-dev witnesses use, so any of their
tools can check a polex node's log. Signatures use Ed25519 from ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

SIGNING_KEY_FILE = "audit-signing.pem"
_ED25519 = b"\x01"  # signed-note algorithm byte for Ed25519


class CheckpointError(ValueError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def _key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public_key).digest()[:4]


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class CheckpointSigner:
    def __init__(self, name: str, key: Ed25519PrivateKey) -> None:
        self.name = name
        self._key = key
        self.public_key = _raw(key.public_key())

    @classmethod
    def load_or_create(cls, name: str, keys_dir: Path) -> CheckpointSigner:
        path = keys_dir / SIGNING_KEY_FILE
        if not path.exists():
            keys_dir.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError(f"{path} is not an Ed25519 key")
        return cls(name, key)

    def sign_jws(self, payload: bytes) -> str:
        """A compact JWS (RFC 7515, alg Ed25519 per RFC 9864) with the same key, for exports."""
        key = OKPKey.import_key(
            self._key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return jws.serialize_compact(
            {"alg": "Ed25519", "kid": self.verifier_key()}, payload, key, algorithms=["Ed25519"]
        )

    def verifier_key(self) -> str:
        """The note verifier key: ``<name>+<hex key id>+<base64(0x01 || public key)>``."""
        return verifier_key(self.name, self.public_key)

    def sign(self, checkpoint: Checkpoint) -> str:
        body = checkpoint.body()
        signature = self._key.sign(body.encode())
        blob = base64.b64encode(_key_id(self.name, self.public_key) + signature).decode()
        return f"{body}\n\u2014 {self.name} {blob}\n"


def verifier_key(name: str, public_key: bytes) -> str:
    return f"{name}+{_key_id(name, public_key).hex()}+{base64.b64encode(_ED25519 + public_key).decode()}"


def open_note(note: str, verifier: str) -> Checkpoint:
    """Check a signed checkpoint against a verifier key; return what it states."""
    try:
        name, key_id_hex, encoded = verifier.split("+", 2)
        key_bytes = base64.b64decode(encoded)
    except ValueError as error:
        raise CheckpointError("the verifier key is malformed") from error
    if key_bytes[:1] != _ED25519 or len(key_bytes) != 33:
        raise CheckpointError("the verifier key is not an Ed25519 note key")
    public_key = key_bytes[1:]
    if _key_id(name, public_key).hex() != key_id_hex:
        raise CheckpointError("the verifier key's id does not match its name and key")
    body, separator, signatures = note.partition("\n\n")
    if not separator:
        raise CheckpointError("the note has no signature block")
    body += "\n"
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or parts[1] != name:
            continue
        blob = base64.b64decode(parts[2])
        if blob[:4] != _key_id(name, public_key):
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(blob[4:], body.encode())
        except InvalidSignature as error:
            raise CheckpointError(f"the signature of {name} does not verify") from error
        return parse_body(body)
    raise CheckpointError(f"the note carries no signature by {name}")


def verify_jws(token: str, verifier: str) -> bytes:
    """The payload of an export's JWS, if the verifier key's Ed25519 key signed it."""
    name, _, encoded = verifier.split("+", 2)
    raw = base64.b64decode(encoded)[1:]
    public = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        return bytes(jws.deserialize_compact(token, OKPKey.import_key(public), algorithms=["Ed25519"]).payload)
    except (JoseError, ValueError) as error:
        raise CheckpointError(f"the export is not signed by {name}") from error


def parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise CheckpointError("the checkpoint body is malformed")
    root = base64.b64decode(lines[2])
    if len(root) != 32:
        raise CheckpointError("the checkpoint root is not a SHA-256 hash")
    return Checkpoint(origin=lines[0], size=int(lines[1]), root=root)
