"""Chunk files: the bytes of attachments on disk, one file a chunk, one folder an object.

The database holds what is known of a chunk (its size, its SHA-256, that it arrived); the
file holds its bytes. A file is written beside its final name and renamed into place only
once complete and flushed to disk, so a chunk file is either absent or whole, and the row
saying it arrived is written after the rename: a crash in between leaves a file that the
next attempt overwrites. Every reader checks the bytes against the SHA-256 it was given, so
a file damaged on disk is refused, never passed on.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from polex.errors import BadRequest, FieldError, ValidationFailed

if TYPE_CHECKING:
    from polex.settings import Settings

PIECE = 1024 * 1024  # what is read from a file at a time when streaming it


class ChunkTooLarge(Exception):
    """More bytes arrived than the chunk may have."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


def chunk_path(folder: Path, index: int) -> Path:
    return folder / f"{index:08d}"


@dataclass(frozen=True)
class AttachmentLimits:
    chunk_bytes: int  # of new uploads
    max_bytes: int  # of one attachment, before sealing
    upload_lifetime: dt.timedelta  # of an upload never sent

    @classmethod
    def of(cls, settings: Settings) -> AttachmentLimits:
        return cls(
            chunk_bytes=settings.attachment_chunk_bytes,
            max_bytes=settings.attachment_max_bytes,
            upload_lifetime=dt.timedelta(hours=settings.attachment_upload_hours),
        )


@dataclass
class AttachmentFolders:
    """Where a node keeps attachment chunks, under ``root``: users' uploads, the sealed
    attachments of its outbox and inbox, and (at the hub) those in transit."""

    root: Path
    durable: bool = True  # fsync each chunk before acknowledging it (off only in throw-away set-ups)

    def upload(self, upload_id: str) -> Path:
        return self.root / "uploads" / upload_id

    def message(self, box: str, message_id: str) -> Path:
        return self.root / box / message_id

    def sealed(self, box: str, message_id: str, attachment_id: str) -> Path:
        return self.message(box, message_id) / attachment_id

    def hub(self, attachment_id: str) -> Path:
        return self.root / "hub" / attachment_id

    def writer(self, folder: Path, limit: int) -> ChunkWriter:
        return ChunkWriter(folder, limit=limit, durable=self.durable)


@dataclass(frozen=True)
class ChunkSlot:
    """Where one arriving chunk goes and what it must be, decided before its bytes are read."""

    owner: str  # the upload's or the hub attachment's id
    index: int
    length: int  # exactly this many bytes
    folder: Path
    sha256: str | None = None  # when known beforehand (the sender declared it)


def check_arrived(slot: ChunkSlot, writer: ChunkWriter, digest: str) -> None:
    """An arrived chunk has exactly its size and the SHA-256 its header (and declaration) gave."""
    if writer.size != slot.length:
        raise BadRequest(
            f"chunk {slot.index} has {writer.size} bytes; it must have {slot.length}",
            errors=[FieldError("body", f"{slot.length} bytes")],
        )
    if writer.sha256 != digest:
        raise ValidationFailed(
            f"chunk {slot.index} does not have the SHA-256 its Content-Digest gives: damaged on the way",
            errors=[FieldError("Content-Digest", f"the bytes have SHA-256 {writer.sha256}")],
        )
    if slot.sha256 is not None and writer.sha256 != slot.sha256:
        raise ValidationFailed(
            f"chunk {slot.index} is not the one declared",
            errors=[FieldError("body", f"declared with SHA-256 {slot.sha256}")],
        )


class ChunkWriter:
    """Receives one chunk's bytes into a temporary file beside ``folder``'s chunks, counting
    and hashing them; ``commit`` puts it in place, leaving the block without it removes it."""

    def __init__(self, folder: Path, *, limit: int, durable: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=folder, prefix=".part-")
        self._file = os.fdopen(descriptor, "wb")
        self._path = Path(name)
        self._hash = hashlib.sha256()
        self._durable = durable
        self._done = False
        self.limit = limit
        self.size = 0

    def write(self, data: bytes) -> None:
        if self.size + len(data) > self.limit:
            raise ChunkTooLarge(self.limit)
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self, target: Path) -> None:
        """Flush (to the disk when durable: the chunk is acknowledged after this) and rename."""
        self._file.flush()
        if self._durable:
            os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._path, target)
        self._done = True

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.discard()


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


_CONTENT_DIGEST = re.compile(r"(?:^|,)\s*sha-256=:([A-Za-z0-9+/]{43}=):\s*(?=,|$)")


def content_digest(sha256_hex: str) -> str:
    """The ``Content-Digest`` header (RFC 9530) of bytes with this SHA-256."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256_hex)).decode('ascii')}:"


def parse_content_digest(header: str | None) -> str:
    """The SHA-256 (hex) a ``Content-Digest`` header gives; ValueError when it gives none."""
    if not header:
        raise ValueError("missing: send the chunk's SHA-256 as 'Content-Digest: sha-256=:<base64>:' (RFC 9530)")
    match = _CONTENT_DIGEST.search(header)
    if match is None:
        raise ValueError("no sha-256 member: send 'sha-256=:<base64 of the 32-byte digest>:' (RFC 9530)")
    return base64.b64decode(match.group(1), validate=True).hex()
