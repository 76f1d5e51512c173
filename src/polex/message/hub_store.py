"""The hub's store of attachments in transit: sealed chunks it cannot open.

A sender's node declares an attachment of one of its messages (``PUT
/api/v1/network/attachments/{id}``: the message id, sizes, each sealed chunk's SHA-256),
then puts its chunks in order (``PUT .../chunks/{n}``); each is checked against the
declaration before it is stored, and declaring again answers how far the chunks got, so an
interrupted relay resumes. Recipients of the message the attachment came with (and only
they, as the envelope's signed routing names them) fetch the chunks (``GET
.../chunks/{n}``) and say when they no longer need them (``POST .../fetched``). The hub
drops an attachment once every recipient has it, was refused or expired, and at the latest
FETCH_GRACE after its message expires (ORPHAN_AGE when its envelope never came).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update

from polex.audit.service import AuditTrail, EventDraft
from polex.crypto.attachment import TAG_BYTES, chunk_length
from polex.domain.audit import Actor, AuditTag, Decision
from polex.errors import Conflict, FieldError, NotFound, PayloadTooLarge, ValidationFailed
from polex.message.chunks import (
    AttachmentFolders,
    AttachmentLimits,
    ChunkSlot,
    ChunkWriter,
    check_arrived,
    chunk_path,
    remove_folder,
)
from polex.message.schemas import HubAttachmentDeclared, HubAttachmentStatus
from polex.network.view import NetworkView
from polex.storage.tables import (
    HubAttachmentChunkRow,
    HubAttachmentFetchRow,
    HubAttachmentRow,
    HubDeliveryRow,
    HubEnvelopeRow,
)
from polex.storage.unit_of_work import UnitOfWorkFactory

FETCH_GRACE = dt.timedelta(days=7)  # how long after a message expires the hub still serves its attachments
ORPHAN_AGE = dt.timedelta(days=91)  # an attachment whose envelope never came (the longest expiry, and a day)
# The largest sealed chunk a node sends (the attachment_chunk_bytes setting's maximum, and the tag): nodes
# need not share a chunk size, and every hop's body limit (64 MiB on /api/v1/network/) takes it.
MAX_SEALED_CHUNK = 32 * 1024 * 1024 + TAG_BYTES


class HubAttachmentStore:
    """At the hub: attachments in transit, from their senders' nodes to their recipients'."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        network: NetworkView,
        folders: AttachmentFolders,
        limits: AttachmentLimits,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._network = network
        self._folders = folders
        self.limits = limits

    def _require_hub(self) -> None:
        if not self._network.is_hub:
            raise NotFound("only the hub stores attachments in transit")

    def declare(self, attachment_id: str, declared: HubAttachmentDeclared, *, caller: str) -> HubAttachmentStatus:
        """A sender's node declares an attachment of one of its messages; declaring it again
        the same way answers how far its chunks got (so a relay resumes)."""
        self._require_hub()
        count = len(declared.chunks)
        if declared.chunk_bytes > MAX_SEALED_CHUNK:
            raise PayloadTooLarge(
                "the chunks are larger than this hub takes",
                errors=[FieldError("chunk_bytes", f"at most {MAX_SEALED_CHUNK}")],
            )
        if declared.size > self.limits.max_bytes + TAG_BYTES * count:
            raise PayloadTooLarge(
                "the attachment is larger than this hub takes",
                errors=[FieldError("size", f"at most {self.limits.max_bytes} bytes before sealing")],
            )
        if chunk_length(declared.size, declared.chunk_bytes, count - 1) < TAG_BYTES:
            raise ValidationFailed("a sealed chunk has at least its tag", errors=[FieldError("size", "too small")])
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = uow.session.get(HubAttachmentRow, attachment_id)
            envelope = uow.session.get(HubEnvelopeRow, declared.message_id)
            if envelope is not None and envelope.sender != caller:
                raise Conflict("the message is another node's", errors=[FieldError("message_id", "not yours")])
            if row is None:
                uow.session.add(
                    HubAttachmentRow(
                        id=attachment_id,
                        sender=caller,
                        message_id=declared.message_id,
                        size=declared.size,
                        chunk_bytes=declared.chunk_bytes,
                        chunk_count=count,
                        received=0,
                        status="receiving",
                        created_at=now,
                    )
                )
                uow.session.flush()
                uow.session.execute(
                    insert(HubAttachmentChunkRow),
                    [
                        {"attachment_id": attachment_id, "chunk": index, "sha256": sha}
                        for index, sha in enumerate(declared.chunks)
                    ],
                )
                uow.commit()
                return HubAttachmentStatus(
                    id=attachment_id, message_id=declared.message_id, chunk_count=count, received=0, complete=False
                )
            known = list(
                uow.session.scalars(
                    select(HubAttachmentChunkRow.sha256)
                    .where(HubAttachmentChunkRow.attachment_id == attachment_id)
                    .order_by(HubAttachmentChunkRow.chunk)
                )
            )
            same = (row.sender, row.message_id, row.size, row.chunk_bytes) == (
                caller,
                declared.message_id,
                declared.size,
                declared.chunk_bytes,
            )
            if not same or (row.status != "purged" and known != declared.chunks):
                raise Conflict(
                    f"attachment '{attachment_id}' was declared otherwise", errors=[FieldError("id", "taken")]
                )
            return self._hub_status(row)  # purged too: it arrived whole, was delivered and dropped

    def status(self, attachment_id: str, *, caller: str) -> HubAttachmentStatus:
        self._require_hub()
        with self._uow(read_only=True) as uow:
            row = uow.session.get(HubAttachmentRow, attachment_id)
            if row is None or (row.sender != caller and not self._may_fetch(uow.session, row, caller)):
                raise NotFound(f"no attachment '{attachment_id}' for '{caller}'")
            return self._hub_status(row)

    @staticmethod
    def _hub_status(row: HubAttachmentRow) -> HubAttachmentStatus:
        return HubAttachmentStatus(
            id=row.id,
            message_id=row.message_id,
            chunk_count=row.chunk_count,
            received=row.received,
            complete=row.status in ("complete", "purged"),
        )

    def chunk_slot(self, attachment_id: str, index: int, *, caller: str) -> ChunkSlot:
        """Where a sender's chunk goes: chunks arrive in order (a repeated one is checked and
        dropped), so the hub's progress is one number the sender resumes from."""
        self._require_hub()
        with self._uow(read_only=True) as uow:
            row = uow.session.get(HubAttachmentRow, attachment_id)
            if row is None or row.sender != caller:
                raise NotFound(f"no attachment '{attachment_id}' declared by '{caller}'")
            if row.status == "purged":
                raise Conflict(f"attachment '{attachment_id}' was delivered and dropped already")
            if index >= row.chunk_count:
                raise ValidationFailed(
                    f"the attachment has chunks 0 to {row.chunk_count - 1}",
                    errors=[FieldError("chunk", f"at most {row.chunk_count - 1}")],
                )
            if index > row.received:
                raise Conflict(
                    f"chunk {index} comes after chunk {row.received}",
                    errors=[FieldError("chunk", f"the hub has chunks 0 to {row.received - 1}; send {row.received}")],
                )
            expected = uow.session.get(HubAttachmentChunkRow, (attachment_id, index))
            assert expected is not None  # declared with the attachment
            length = chunk_length(row.size, row.chunk_bytes, index)
        return ChunkSlot(attachment_id, index, length, self._folders.hub(attachment_id), expected.sha256)

    def store_chunk(self, slot: ChunkSlot, writer: ChunkWriter, digest: str, *, caller: str) -> HubAttachmentStatus:
        check_arrived(slot, writer, digest)
        with self._uow(read_only=True) as uow:
            row = uow.session.get(HubAttachmentRow, slot.owner)
            if row is None or row.sender != caller:
                raise NotFound(f"no attachment '{slot.owner}' declared by '{caller}'")
            if slot.index < row.received:
                return self._hub_status(row)  # a repeated chunk, checked above: nothing to do
        writer.commit(chunk_path(slot.folder, slot.index))
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            uow.session.execute(
                update(HubAttachmentRow)
                .where(HubAttachmentRow.id == slot.owner, HubAttachmentRow.received == slot.index)
                .values(received=slot.index + 1)
            )
            row = uow.session.get(HubAttachmentRow, slot.owner)
            assert row is not None  # read above; attachments are only purged once complete
            if row.received == row.chunk_count and row.status == "receiving":
                row.status, row.completed_at = "complete", now
                details = {"attachment": row.id, "message": row.message_id, "size": row.size, "chunks": row.chunk_count}
                self._audit.add(
                    uow, [EventDraft(AuditTag.ATTACHMENT_STORED, Actor(kind="node", name=caller), details=details)]
                )
            uow.commit()
            return self._hub_status(row)

    def chunk(self, attachment_id: str, index: int, *, caller: str) -> tuple[Path, str, int]:
        """A sealed chunk for a recipient of the message it came with: its file, SHA-256 and size."""
        self._require_hub()
        with self._uow(read_only=True) as uow:
            row = uow.session.get(HubAttachmentRow, attachment_id)
            if row is None or not self._may_fetch(uow.session, row, caller):
                raise NotFound(f"no attachment '{attachment_id}' for '{caller}'")
            if row.status != "complete":
                raise NotFound(
                    f"attachment '{attachment_id}' is {'gone' if row.status == 'purged' else 'not all here yet'}"
                )
            if not 0 <= index < row.chunk_count:
                raise ValidationFailed(
                    f"the attachment has chunks 0 to {row.chunk_count - 1}",
                    errors=[FieldError("chunk", f"at most {row.chunk_count - 1}")],
                )
            expected = uow.session.get(HubAttachmentChunkRow, (attachment_id, index))
            assert expected is not None  # declared with the attachment
            return (
                chunk_path(self._folders.hub(attachment_id), index),
                expected.sha256,
                chunk_length(row.size, row.chunk_bytes, index),
            )

    def fetched(self, attachment_id: str, outcome: str, reason: str | None, *, caller: str) -> None:
        """A recipient no longer needs the attachment (it has it, or refused it)."""
        self._require_hub()
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = uow.session.get(HubAttachmentRow, attachment_id)
            if row is None or not self._may_fetch(uow.session, row, caller):
                raise NotFound(f"no attachment '{attachment_id}' for '{caller}'")
            if uow.session.get(HubAttachmentFetchRow, (attachment_id, caller)) is None:
                uow.session.add(
                    HubAttachmentFetchRow(attachment_id=attachment_id, recipient=caller, outcome=outcome, at=now)
                )
                if outcome == "refused":
                    event = EventDraft(
                        AuditTag.ATTACHMENT_REFUSED,
                        Actor(kind="node", name=caller),
                        decision=Decision.DENIED,
                        details={
                            "attachment": attachment_id,
                            "message": row.message_id,
                            "reason": (reason or "")[:500],
                        },
                    )
                    self._audit.add(uow, [event])
                uow.commit()
        self.purge(only=attachment_id)

    @staticmethod
    def _may_fetch(session: Any, row: HubAttachmentRow, caller: str) -> bool:
        """Only a recipient of the message the attachment came with, from the same sender."""
        envelope = session.get(HubEnvelopeRow, row.message_id)
        if envelope is None or envelope.sender != row.sender:
            return False
        delivery = session.get(HubDeliveryRow, (row.message_id, caller))
        return delivery is not None and delivery.status in ("queued", "delivered")

    def purge(self, *, only: str | None = None, now: dt.datetime | None = None) -> int:
        """Drop the chunks of attachments no recipient needs: each has fetched it, was
        refused or expired, or the message expired more than FETCH_GRACE ago."""
        if not self._network.is_hub:
            return 0
        now = now or dt.datetime.now(dt.UTC)
        with self._uow(read_only=True) as uow:
            query = select(HubAttachmentRow).where(HubAttachmentRow.status != "purged")
            if only is not None:
                query = query.where(HubAttachmentRow.id == only)
            rows = uow.session.scalars(query).all()
            done: list[str] = []
            for row in rows:
                envelope = uow.session.get(HubEnvelopeRow, row.message_id)
                if envelope is None:
                    if row.created_at < now - ORPHAN_AGE:
                        done.append(row.id)
                    continue
                if row.status != "complete":
                    if envelope.expires + FETCH_GRACE < now:
                        done.append(row.id)
                    continue
                fetched = set(
                    uow.session.scalars(
                        select(HubAttachmentFetchRow.recipient).where(HubAttachmentFetchRow.attachment_id == row.id)
                    )
                )
                deliveries = uow.session.execute(
                    select(HubDeliveryRow.recipient, HubDeliveryRow.status).where(
                        HubDeliveryRow.message_id == row.message_id
                    )
                ).all()
                needed = [
                    recipient
                    for recipient, status in deliveries
                    if status in ("queued", "delivered") and recipient not in fetched
                ]
                if not needed or envelope.expires + FETCH_GRACE < now:
                    done.append(row.id)
        if not done:
            return 0
        with self._uow() as uow:
            uow.session.execute(
                update(HubAttachmentRow).where(HubAttachmentRow.id.in_(done)).values(status="purged", purged_at=now)
            )
            uow.session.execute(delete(HubAttachmentChunkRow).where(HubAttachmentChunkRow.attachment_id.in_(done)))
            uow.commit()
        for attachment_id in done:
            remove_folder(self._folders.hub(attachment_id))
        return len(done)
