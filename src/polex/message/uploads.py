"""Users' uploads of attachments, at the sender's node, and their sealing for one message.

A user declares a file (``POST /api/v1/attachments``: name, media type, size, SHA-256 of
the whole), then puts its chunks (``PUT .../chunks/{n}``, each with its ``Content-Digest``)
in any order and as often as an interrupted connection needs: ``GET`` lists what is
missing, a chunk that arrived already is a no-op. ``POST .../complete`` hashes the chunks
in order against the SHA-256 declared. Until it is sent, an upload is seen and used only by
its uploader's agency; uploads never sent are dropped after ``attachment_upload_hours``.

Sending seals each upload under a content key of its own into the node's outbox store
(``polex.crypto.attachment``) and hands back what the message body carries; the uploads
are marked sent in the message's transaction and their plaintext is then removed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from polex.auth.principal import Principal
from polex.crypto.attachment import AttachmentCipher, chunk_count, chunk_length, encode_key, new_content_key
from polex.domain.base import new_id
from polex.domain.roles import Permission
from polex.errors import BadRequest, Conflict, FieldError, NotFound, PayloadTooLarge, ValidationFailed
from polex.message.chunks import (
    PIECE,
    AttachmentFolders,
    AttachmentLimits,
    ChunkSlot,
    ChunkWriter,
    check_arrived,
    chunk_path,
    remove_folder,
)
from polex.message.schemas import AttachmentCreate, AttachmentUploadRead, SealedAttachment
from polex.storage.tables import AttachmentUploadChunkRow, AttachmentUploadRow, MessageAttachmentRow
from polex.storage.unit_of_work import UnitOfWorkFactory


@dataclass
class SealedAttachments:
    """Attachments sealed for one message, on disk, until the message commits (``attach``)
    or not (``discard``)."""

    message_id: str
    folder: Path
    manifests: list[dict[str, Any]]
    rows: list[MessageAttachmentRow]
    upload_folders: list[Path]

    def discard(self) -> None:
        remove_folder(self.folder)

    def release_uploads(self) -> None:
        """After the commit: the uploads' plaintext is no longer needed (the sealed copy is)."""
        for folder in self.upload_folders:
            remove_folder(folder)


def _missing(count: int, present: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    expected = 0
    for index in present:
        if index > expected:
            ranges.append((expected, index - 1))
        expected = index + 1
    if expected < count:
        ranges.append((expected, count - 1))
    return ranges


class UploadService:
    """Uploads of one node's users, and their sealing when a message is sent."""

    def __init__(self, uow: UnitOfWorkFactory, folders: AttachmentFolders, limits: AttachmentLimits) -> None:
        self._uow = uow
        self._folders = folders
        self.limits = limits
        self.chunk_bytes = limits.chunk_bytes  # of new uploads (tests make it small)

    def writer(self, slot: ChunkSlot) -> ChunkWriter:
        """Where an arriving chunk's bytes go until they are checked and put in place."""
        return self._folders.writer(slot.folder, slot.length)

    # -- uploading --------------------------------------------------------------------------------

    def create(self, data: AttachmentCreate, principal: Principal) -> AttachmentUploadRead:
        principal.require(Permission.MESSAGE_SEND)
        if data.size > self.limits.max_bytes:
            raise PayloadTooLarge(
                f"the file has {data.size} bytes; this node takes attachments of at most {self.limits.max_bytes}",
                errors=[FieldError("size", f"at most {self.limits.max_bytes} bytes")],
            )
        now = dt.datetime.now(dt.UTC)
        row = AttachmentUploadRow(
            id=new_id(),
            agency_id=principal.agency_id,
            uploader_id=principal.id,
            name=data.name,
            media_type=data.media_type,
            size=data.size,
            sha256=data.sha256,
            chunk_size=self.chunk_bytes,
            chunk_count=chunk_count(data.size, self.chunk_bytes),
            status="uploading",
            created_at=now,
            updated_at=now,
        )
        with self._uow() as uow:
            uow.session.add(row)
            uow.commit()
        return self._upload_read(row, [])

    def get(self, upload_id: str, principal: Principal) -> AttachmentUploadRead:
        principal.require(Permission.MESSAGE_SEND)
        with self._uow(read_only=True) as uow:
            row = self._own_upload(uow.session, upload_id, principal)
            return self._upload_read(row, self._received(uow.session, upload_id))

    def slot(self, upload_id: str, index: int, principal: Principal) -> ChunkSlot:
        """Where chunk ``index`` of an upload goes; refused before its bytes are read."""
        principal.require(Permission.MESSAGE_SEND)
        with self._uow(read_only=True) as uow:
            row = self._own_upload(uow.session, upload_id, principal)
            self._still_uploading(row)
            if index >= row.chunk_count:
                raise ValidationFailed(
                    f"the upload has chunks 0 to {row.chunk_count - 1}",
                    errors=[FieldError("chunk", f"at most {row.chunk_count - 1}")],
                )
            length = chunk_length(row.size, row.chunk_size, index)
        return ChunkSlot(owner=upload_id, index=index, length=length, folder=self._folders.upload(upload_id))

    def store_chunk(
        self, slot: ChunkSlot, writer: ChunkWriter, digest: str, principal: Principal
    ) -> AttachmentUploadRead:
        """Put an arrived chunk in place once its size and SHA-256 are right; the same chunk
        again is a no-op, another content for a chunk already stored a 409."""
        check_arrived(slot, writer, digest)
        with self._uow(read_only=True) as uow:
            row = self._own_upload(uow.session, slot.owner, principal)
            self._still_uploading(row)
            stored = uow.session.get(AttachmentUploadChunkRow, (slot.owner, slot.index))
        if stored is not None:
            if stored.sha256 != writer.sha256:
                raise Conflict(
                    f"chunk {slot.index} arrived before with other bytes",
                    errors=[FieldError("chunk", f"stored with SHA-256 {stored.sha256}")],
                )
            return self.get(slot.owner, principal)
        writer.commit(chunk_path(slot.folder, slot.index))
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            if uow.session.get(AttachmentUploadChunkRow, (slot.owner, slot.index)) is None:
                uow.session.add(
                    AttachmentUploadChunkRow(
                        upload_id=slot.owner, chunk=slot.index, size=writer.size, sha256=writer.sha256, received_at=now
                    )
                )
                uow.session.execute(
                    update(AttachmentUploadRow).where(AttachmentUploadRow.id == slot.owner).values(updated_at=now)
                )
                uow.commit()
        return self.get(slot.owner, principal)

    def complete(self, upload_id: str, principal: Principal) -> AttachmentUploadRead:
        """Check that every chunk arrived and that together they have the size and SHA-256
        declared; a mismatch fails the upload (its chunks are dropped: upload it again)."""
        principal.require(Permission.MESSAGE_SEND)
        with self._uow(read_only=True) as uow:
            row = self._own_upload(uow.session, upload_id, principal)
            if row.status == "complete":
                return self._upload_read(row, list(range(row.chunk_count)))
            self._still_uploading(row)
            present = self._received(uow.session, upload_id)
        missing = _missing(row.chunk_count, present)
        if missing:
            shown = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in missing[:20])
            raise ValidationFailed(
                "chunks are missing",
                errors=[FieldError("chunks", f"missing {shown}{', ...' if len(missing) > 20 else ''}")],
            )
        digest = hashlib.sha256()
        size = 0
        folder = self._folders.upload(upload_id)
        for index in range(row.chunk_count):
            with chunk_path(folder, index).open("rb") as source:
                while piece := source.read(PIECE):
                    digest.update(piece)
                    size += len(piece)
        now = dt.datetime.now(dt.UTC)
        if size != row.size or digest.hexdigest() != row.sha256:
            reason = (
                f"the chunks make {size} bytes with SHA-256 {digest.hexdigest()}; {row.size} with {row.sha256} declared"
            )
            with self._uow() as uow:
                uow.session.execute(
                    delete(AttachmentUploadChunkRow).where(AttachmentUploadChunkRow.upload_id == upload_id)
                )
                uow.session.execute(
                    update(AttachmentUploadRow)
                    .where(AttachmentUploadRow.id == upload_id, AttachmentUploadRow.status == "uploading")
                    .values(status="failed", reason=reason, updated_at=now)
                )
                uow.commit()
            remove_folder(folder)
            raise ValidationFailed(
                "the file uploaded is not the one declared: start a new upload",
                errors=[FieldError("sha256", reason)],
            )
        with self._uow() as uow:
            uow.session.execute(
                update(AttachmentUploadRow)
                .where(AttachmentUploadRow.id == upload_id, AttachmentUploadRow.status == "uploading")
                .values(status="complete", updated_at=now)
            )
            uow.commit()
        return self.get(upload_id, principal)

    def delete(self, upload_id: str, principal: Principal) -> None:
        principal.require(Permission.MESSAGE_SEND)
        with self._uow() as uow:
            row = self._own_upload(uow.session, upload_id, principal)
            if row.status == "sent":
                raise Conflict(f"the upload was sent with message '{row.message_id}': it is part of it now")
            uow.session.execute(delete(AttachmentUploadChunkRow).where(AttachmentUploadChunkRow.upload_id == upload_id))
            uow.session.execute(delete(AttachmentUploadRow).where(AttachmentUploadRow.id == upload_id))
            uow.commit()
        remove_folder(self._folders.upload(upload_id))

    def purge(self, *, now: dt.datetime | None = None) -> int:
        """Drop uploads never sent within ``upload_lifetime`` of their last chunk."""
        now = now or dt.datetime.now(dt.UTC)
        before = now - self.limits.upload_lifetime
        with self._uow() as uow:
            ids = list(
                uow.session.scalars(
                    select(AttachmentUploadRow.id).where(
                        AttachmentUploadRow.status != "sent", AttachmentUploadRow.updated_at < before
                    )
                )
            )
            if ids:
                uow.session.execute(delete(AttachmentUploadChunkRow).where(AttachmentUploadChunkRow.upload_id.in_(ids)))
                uow.session.execute(delete(AttachmentUploadRow).where(AttachmentUploadRow.id.in_(ids)))
                uow.commit()
        for upload_id in ids:
            remove_folder(self._folders.upload(upload_id))
        return len(ids)

    @staticmethod
    def _own_upload(session: Any, upload_id: str, principal: Principal) -> AttachmentUploadRow:
        row: AttachmentUploadRow | None = session.get(AttachmentUploadRow, upload_id)
        # Another agency's upload is not shown to exist.
        if row is None or row.agency_id != principal.agency_id:
            raise NotFound(f"no upload '{upload_id}'")
        return row

    @staticmethod
    def _still_uploading(row: AttachmentUploadRow) -> None:
        if row.status != "uploading":
            detail = {
                "complete": "it is complete: send it with a message",
                "sent": f"it was sent with message '{row.message_id}'",
                "failed": f"it failed ({row.reason}): start a new upload",
            }.get(row.status, row.status)
            raise Conflict(f"the upload takes no more chunks: {detail}")

    @staticmethod
    def _received(session: Any, upload_id: str) -> list[int]:
        return list(
            session.scalars(
                select(AttachmentUploadChunkRow.chunk)
                .where(AttachmentUploadChunkRow.upload_id == upload_id)
                .order_by(AttachmentUploadChunkRow.chunk)
            )
        )

    @staticmethod
    def _upload_read(row: AttachmentUploadRow, present: list[int]) -> AttachmentUploadRead:
        return AttachmentUploadRead(
            id=row.id,
            name=row.name,
            media_type=row.media_type,
            size=row.size,
            sha256=row.sha256,
            chunk_size=row.chunk_size,
            chunk_count=row.chunk_count,
            status=row.status,
            reason=row.reason,
            received=row.chunk_count if row.status in ("complete", "sent") else len(present),
            missing=[] if row.status in ("complete", "sent") else _missing(row.chunk_count, present),
            message_id=row.message_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    # -- sealing, for MessageService.send ------------------------------------------------------

    def seal(self, upload_ids: list[str], principal: Principal, message_id: str) -> SealedAttachments:
        """Seal completed uploads of the caller's agency for one message, chunk by chunk,
        into this node's store. The caller commits the message with ``attach`` and then
        calls ``release_uploads``, or calls ``discard``."""
        with self._uow(read_only=True) as uow:
            uploads = [uow.session.get(AttachmentUploadRow, upload_id) for upload_id in upload_ids]
        errors = []
        for upload_id, upload in zip(upload_ids, uploads, strict=True):
            if upload is None or upload.agency_id != principal.agency_id:
                errors.append(FieldError("attachments", f"no upload '{upload_id}'"))
            elif upload.status != "complete":
                errors.append(FieldError("attachments", f"the upload '{upload_id}' is {upload.status}, not complete"))
        if errors:
            raise BadRequest("some attachments cannot be sent", errors=errors)
        folder = self._folders.message("outbox", message_id)
        sealed = SealedAttachments(message_id=message_id, folder=folder, manifests=[], rows=[], upload_folders=[])
        now = dt.datetime.now(dt.UTC)
        try:
            for position, upload in enumerate(uploads):
                assert upload is not None  # checked above; mypy cannot follow the zip
                manifest, row = self._seal_one(upload, message_id, position, now)
                sealed.manifests.append(manifest)
                sealed.rows.append(row)
                sealed.upload_folders.append(self._folders.upload(upload.id))
        except BaseException:
            sealed.discard()
            raise
        return sealed

    def _seal_one(
        self, upload: AttachmentUploadRow, message_id: str, position: int, now: dt.datetime
    ) -> tuple[dict[str, Any], MessageAttachmentRow]:
        key = new_content_key()
        cipher = AttachmentCipher(key, message_id, upload.id, upload.chunk_count)
        source = self._folders.upload(upload.id)
        target = self._folders.sealed("outbox", message_id, upload.id)
        whole = hashlib.sha256()
        hashes: list[str] = []
        for index in range(upload.chunk_count):
            plaintext = chunk_path(source, index).read_bytes()
            if len(plaintext) != chunk_length(upload.size, upload.chunk_size, index):
                raise Conflict(f"the upload '{upload.id}' was damaged on disk (chunk {index}): upload it again")
            whole.update(plaintext)
            sealed = cipher.seal(index, plaintext)
            with self._folders.writer(target, len(sealed)) as writer:
                writer.write(sealed)
                writer.commit(chunk_path(target, index))
            hashes.append(writer.sha256)
        if whole.hexdigest() != upload.sha256:
            raise Conflict(f"the upload '{upload.id}' was damaged on disk since it was completed: upload it again")
        manifest = SealedAttachment(
            id=upload.id,
            name=upload.name,
            media_type=upload.media_type,
            size=upload.size,
            sha256=upload.sha256,
            chunk_size=upload.chunk_size,
            chunk_count=upload.chunk_count,
            key=encode_key(key),
            chunks=hashes,
        )
        row = MessageAttachmentRow(
            box="outbox",
            id=upload.id,
            message_id=message_id,
            position=position,
            name=upload.name,
            media_type=upload.media_type,
            size=upload.size,
            sha256=upload.sha256,
            chunk_size=upload.chunk_size,
            chunk_count=upload.chunk_count,
            content_key=manifest.key,
            chunks=hashes,
            status="sealed",
            done=0,
            attempts=0,
            next_attempt_at=now,
            updated_at=now,
        )
        return manifest.model_dump(mode="json"), row

    def attach(self, session: Any, sealed: SealedAttachments, now: dt.datetime) -> None:
        """In the message's transaction: its attachments' rows, and the uploads marked sent
        (a 409 if another message took one meanwhile)."""
        for row in sealed.rows:
            claimed = session.execute(
                update(AttachmentUploadRow)
                .where(AttachmentUploadRow.id == row.id, AttachmentUploadRow.status == "complete")
                .values(status="sent", message_id=sealed.message_id, updated_at=now)
            )
            if claimed.rowcount != 1:
                raise Conflict(
                    "an attachment was sent with another message meanwhile",
                    errors=[FieldError("attachments", f"the upload '{row.id}' is no longer complete")],
                )
            session.execute(delete(AttachmentUploadChunkRow).where(AttachmentUploadChunkRow.upload_id == row.id))
            session.add(row)
