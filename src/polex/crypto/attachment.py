"""Attachment chunks, sealed one by one with AES-256-GCM under a content key of their own.

An attachment is cut into chunks of a fixed size (the last one shorter, and empty only for an
empty attachment). Each chunk is sealed alone, so a node encrypts, relays, checks and
decrypts an attachment of any size with one chunk in memory, and a recipient refuses the
first altered chunk without reading the rest. The construction is STREAM (Hoang,
Reyhanitabar, Rogaway, Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
Misuse-Resistance", CRYPTO 2015), as age and Tink's streaming AEAD use it, over
``cryptography``'s AESGCM::

    key     32 random bytes, new for each attachment of each message: the nonces below
            repeat from one attachment to the next, so a key must never seal two
    nonce   the chunk's index in 11 bytes big-endian, then 0x01 for the last chunk, else 0x00
    AAD     b"polex-attachment-v1" 0x00 message id 0x00 attachment id 0x00 chunk count (8 bytes)
    sealed  ciphertext || 16-byte GCM tag

A chunk moved to another position opens under another nonce; a chunk of another attachment
or message under another AAD (and key); an attachment cut short lacks the one chunk sealed
with the final flag, and a reader who knows the count (from the signed message) notices
anyway; a chunk count changed in transit changes the AAD of every chunk. Every failure is
the same ``ChunkRefused``: which check failed is not told to whoever altered the chunk.

The key and the chunks' SHA-256 travel inside the message body, which the envelope signs
and encrypts to each recipient (``polex.crypto.envelope``): that is how the content key is
wrapped for every recipient, by the envelope's own ECDH-ES+A256KW.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
TAG_BYTES = 16
NONCE_BYTES = 12
# 2**32 chunks of the smallest chunk size is far beyond any size limit; the nonce has room for 2**88.
MAX_CHUNKS = 2**32
_DOMAIN = b"polex-attachment-v1"


class ChunkRefused(Exception):
    """A chunk that does not open: altered, moved, cut, or sealed under another key."""

    def __init__(self, index: int) -> None:
        super().__init__(f"chunk {index} does not open: altered, moved or from another attachment")
        self.index = index


def new_content_key() -> bytes:
    """A fresh random 256-bit key (the operating system's CSPRNG)."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode("ascii")


def decode_key(text: str) -> bytes:
    """A content key from unpadded base64url; ValueError unless it is exactly 32 bytes."""
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError("a content key is unpadded base64url") from error
    if len(key) != KEY_BYTES or encode_key(key) != text:
        raise ValueError(f"a content key has {KEY_BYTES} bytes in canonical base64url")
    return key


def chunk_count(size: int, chunk_size: int) -> int:
    """How many chunks an attachment of ``size`` bytes has (one, empty, for an empty one)."""
    if size < 0 or chunk_size < 1:
        raise ValueError("size must be >= 0 and chunk_size >= 1")
    return max(1, -(-size // chunk_size))


def chunk_length(size: int, chunk_size: int, index: int) -> int:
    """The plaintext length of chunk ``index`` of an attachment of ``size`` bytes."""
    count = chunk_count(size, chunk_size)
    if not 0 <= index < count:
        raise ValueError(f"chunk {index} is outside 0..{count - 1}")
    return chunk_size if index < count - 1 else size - chunk_size * (count - 1)


@dataclass(frozen=True)
class AttachmentCipher:
    """Seals and opens the chunks of one attachment of one message."""

    key: bytes = field(repr=False)
    message_id: str
    attachment_id: str
    chunk_count: int
    _aead: AESGCM = field(init=False, repr=False, compare=False)
    _aad: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"a content key has {KEY_BYTES} bytes")
        if not 1 <= self.chunk_count <= MAX_CHUNKS:
            raise ValueError(f"an attachment has 1 to {MAX_CHUNKS} chunks")
        for name in (self.message_id, self.attachment_id):
            if not name or "\x00" in name:
                raise ValueError("ids are non-empty and hold no NUL")
        aad = b"\x00".join(
            (_DOMAIN, self.message_id.encode(), self.attachment_id.encode(), self.chunk_count.to_bytes(8, "big"))
        )
        object.__setattr__(self, "_aead", AESGCM(self.key))
        object.__setattr__(self, "_aad", aad)

    def _nonce(self, index: int) -> bytes:
        if not 0 <= index < self.chunk_count:
            raise ValueError(f"chunk {index} is outside 0..{self.chunk_count - 1}")
        final = b"\x01" if index == self.chunk_count - 1 else b"\x00"
        return index.to_bytes(NONCE_BYTES - 1, "big") + final

    def seal(self, index: int, plaintext: bytes) -> bytes:
        """Chunk ``index`` encrypted and authenticated: ``len(plaintext) + TAG_BYTES`` bytes."""
        return self._aead.encrypt(self._nonce(index), plaintext, self._aad)

    def open(self, index: int, sealed: bytes) -> bytes:
        """The plaintext of chunk ``index``; ChunkRefused unless it is exactly what was sealed there."""
        nonce = self._nonce(index)
        if len(sealed) < TAG_BYTES:
            raise ChunkRefused(index)
        try:
            return self._aead.decrypt(nonce, sealed, self._aad)
        except InvalidTag:
            raise ChunkRefused(index) from None
