"""Attachments on a real database: uploads resume, complete only as declared, respect their
limits and their agency; the hub's store takes only declared chunks in order, serves them only
to the message's recipients, and drops them once nobody needs them."""

from __future__ import annotations

import datetime as dt
import hashlib
import os

import pytest
from sqlalchemy import select

from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.base import new_id
from polex.domain.roles import Role
from polex.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from polex.message.chunks import ChunkTooLarge
from polex.message.schemas import AttachmentCreate, AttachmentUploadRead, HubAttachmentDeclared
from polex.message.uploads import UploadService
from polex.provision import own_agency
from polex.storage.tables import AttachmentUploadRow, HubAttachmentRow, HubDeliveryRow, HubEnvelopeRow

CHUNK = 64 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def officer(node: Node, *, agency_id: str | None = None, roles: frozenset[Role] | None = None) -> Principal:
    agency = agency_id or node.agencies.ensure(own_agency(node.settings)).id
    return Principal(
        PrincipalKind.USER,
        new_id(),
        "officer",
        agency,
        node.settings.node_country,
        roles or frozenset({Role.INVESTIGATOR}),
    )


def uploads_of(node: Node) -> UploadService:
    uploads = node.messages.attachments.uploads
    uploads.chunk_bytes = CHUNK
    return uploads


def put(
    uploads: UploadService, upload_id: str, index: int, data: bytes, who: Principal, digest: str | None = None
) -> AttachmentUploadRead:
    """What ``PUT /api/v1/attachments/{id}/chunks/{n}`` does with a body."""
    slot = uploads.slot(upload_id, index, who)
    with uploads.writer(slot) as writer:
        writer.write(data)
        return uploads.store_chunk(slot, writer, digest or sha(data), who)


def pieces(data: bytes) -> list[bytes]:
    return [data[start : start + CHUNK] for start in range(0, len(data), CHUNK)]


def test_an_interrupted_upload_resumes_where_it_stopped_and_completes(node: Node) -> None:
    uploads = uploads_of(node)
    who = officer(node)
    data = os.urandom(3 * CHUNK + 1000)
    created = uploads.create(
        AttachmentCreate(name="cctv.mp4", media_type="video/mp4", size=len(data), sha256=sha(data)), who
    )
    assert (created.chunk_size, created.chunk_count, created.missing) == (CHUNK, 4, [(0, 3)])
    parts = pieces(data)
    put(uploads, created.id, 0, parts[0], who)
    put(uploads, created.id, 2, parts[2], who)
    # The connection drops halfway through chunk 1: nothing of it is kept.
    slot = uploads.slot(created.id, 1, who)
    with uploads.writer(slot) as writer:
        writer.write(parts[1][: CHUNK // 2])
    state = uploads.get(created.id, who)
    assert (state.status, state.received, state.missing) == ("uploading", 2, [(1, 1), (3, 3)])
    with pytest.raises(ValidationFailed, match="missing") as early:
        uploads.complete(created.id, who)
    assert early.value.errors[0].field == "chunks"

    put(uploads, created.id, 3, parts[3], who)
    put(uploads, created.id, 1, parts[1], who)
    again = put(uploads, created.id, 1, parts[1], who)  # a retried chunk: nothing changes
    assert again.missing == []
    with pytest.raises(Conflict, match="other bytes"):
        put(uploads, created.id, 1, bytes(len(parts[1])), who)
    done = uploads.complete(created.id, who)
    assert (done.status, done.received) == ("complete", 4)
    assert uploads.complete(created.id, who).status == "complete"  # idempotent
    with pytest.raises(Conflict, match="complete"):
        put(uploads, created.id, 0, parts[0], who)


def test_a_file_other_than_the_one_declared_fails_and_its_chunks_are_dropped(node: Node) -> None:
    uploads = uploads_of(node)
    who = officer(node)
    data = os.urandom(CHUNK + 10)
    created = uploads.create(AttachmentCreate(name="a.bin", size=len(data), sha256=sha(b"something else")), who)
    for index, part in enumerate(pieces(data)):
        put(uploads, created.id, index, part, who)
    with pytest.raises(ValidationFailed, match="not the one declared") as refused:
        uploads.complete(created.id, who)
    assert refused.value.errors[0].field == "sha256"
    failed = uploads.get(created.id, who)
    assert failed.status == "failed"
    assert failed.reason is not None
    assert not (node.settings.data_dir / "attachments" / "uploads" / created.id).exists()
    with pytest.raises(Conflict, match="failed"):
        put(uploads, created.id, 0, pieces(data)[0], who)


def test_chunks_have_exactly_their_size_and_the_digest_they_claim(node: Node) -> None:
    uploads = uploads_of(node)
    who = officer(node)
    data = os.urandom(CHUNK + 10)
    created = uploads.create(AttachmentCreate(name="a.bin", size=len(data), sha256=sha(data)), who)
    with pytest.raises(BadRequest, match="must have 10") as short:
        put(uploads, created.id, 1, b"123", who)
    assert short.value.errors[0].field == "body"
    with pytest.raises(ValidationFailed, match="Content-Digest") as damaged:
        put(uploads, created.id, 0, pieces(data)[0], who, digest=sha(b"other"))
    assert damaged.value.errors[0].field == "Content-Digest"
    slot = uploads.slot(created.id, 1, who)
    with uploads.writer(slot) as writer, pytest.raises(ChunkTooLarge):
        writer.write(b"x" * 11)  # the endpoint answers 413 for this chunk
    with pytest.raises(ValidationFailed) as beyond:
        uploads.slot(created.id, 2, who)
    assert beyond.value.errors[0].field == "chunk"
    assert uploads.get(created.id, who).received == 0


def test_an_attachment_larger_than_the_node_takes_is_refused_before_any_byte(node: Node) -> None:
    uploads = uploads_of(node)
    too_large = node.settings.attachment_max_bytes + 1
    with pytest.raises(PayloadTooLarge) as refused:
        uploads.create(AttachmentCreate(name="huge.iso", size=too_large, sha256=sha(b"")), officer(node))
    assert refused.value.errors[0].field == "size"
    assert node.settings.attachment_max_bytes >= 2 * 1024**3  # the issue asks for at least 2 GB


def test_uploads_are_seen_and_used_only_by_their_agency(node: Node) -> None:
    uploads = uploads_of(node)
    mine = officer(node)
    other = officer(node, agency_id=new_id())
    reader = officer(node, roles=frozenset({Role.ANALYST}))  # may read messages, not send them
    created = uploads.create(AttachmentCreate(name="a.txt", media_type="text/plain", size=3, sha256=sha(b"abc")), mine)
    for call in (
        lambda: uploads.get(created.id, other),
        lambda: uploads.slot(created.id, 0, other),
        lambda: uploads.complete(created.id, other),
        lambda: uploads.delete(created.id, other),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(BadRequest) as refused:
        uploads.seal([created.id], other, new_id())
    assert refused.value.errors[0].field == "attachments"
    with pytest.raises(BadRequest) as incomplete:
        uploads.seal([created.id], mine, new_id())
    assert "not complete" in incomplete.value.errors[0].reason
    with pytest.raises(Forbidden):
        uploads.create(AttachmentCreate(name="a.txt", size=3, sha256=sha(b"abc")), reader)
    uploads.delete(created.id, mine)
    with pytest.raises(NotFound):
        uploads.get(created.id, mine)


def test_uploads_never_sent_are_dropped_after_their_lifetime(node: Node) -> None:
    uploads = uploads_of(node)
    who = officer(node)
    created = uploads.create(AttachmentCreate(name="a.txt", size=3, sha256=sha(b"abc")), who)
    put(uploads, created.id, 0, b"abc", who)
    assert uploads.purge() == 0
    later = dt.datetime.now(dt.UTC) + node.messages.attachments.limits.upload_lifetime + dt.timedelta(minutes=1)
    assert uploads.purge(now=later) == 1
    with node.uow(read_only=True) as uow:
        assert uow.session.get(AttachmentUploadRow, created.id) is None
    assert not (node.settings.data_dir / "attachments" / "uploads" / created.id).exists()


def _routed(hub_node: Node, message_id: str, sender: str, recipients: list[str]) -> None:
    """The hub's record of an envelope and its queue entries, as accept_batch writes them."""
    now = dt.datetime.now(dt.UTC)
    with hub_node.uow() as uow:
        uow.session.add(
            HubEnvelopeRow(
                message_id=message_id,
                sender=sender,
                conversation_id=new_id(),
                envelope="{}",
                received_at=now,
                expires=now + dt.timedelta(days=1),
            )
        )
        for name in recipients:
            uow.session.add(
                HubDeliveryRow(
                    message_id=message_id, recipient=name, status="queued", next_attempt_at=now, updated_at=now
                )
            )
        uow.commit()


def test_the_hub_takes_declared_chunks_in_order_and_serves_them_only_to_recipients(hub_node: Node) -> None:
    store = hub_node.messages.attachments.hub
    attachments = hub_node.messages.attachments
    chunks = [os.urandom(100), os.urandom(100), os.urandom(40)]
    attachment_id, message_id = new_id(), new_id()
    declared = HubAttachmentDeclared(
        message_id=message_id, size=240, chunk_bytes=100, chunks=[sha(chunk) for chunk in chunks]
    )

    def send(index: int, data: bytes, caller: str = "fra") -> int:
        slot = store.chunk_slot(attachment_id, index, caller=caller)
        with attachments.writer(slot) as writer:
            writer.write(data)
            return store.store_chunk(slot, writer, sha(data), caller=caller).received

    assert store.declare(attachment_id, declared, caller="fra").received == 0
    with pytest.raises(Conflict, match="comes after"):
        store.chunk_slot(attachment_id, 1, caller="fra")
    with pytest.raises(NotFound):
        store.chunk_slot(attachment_id, 0, caller="ukr")  # another node's attachment
    with pytest.raises(ValidationFailed, match="not the one declared"):
        send(0, chunks[1])
    assert send(0, chunks[0]) == 1
    assert send(0, chunks[0]) == 1  # repeated: checked, nothing to do
    assert store.declare(attachment_id, declared, caller="fra").received == 1  # a relay resumes from here
    other = declared.model_copy(update={"chunks": [sha(b"x")] * 3})
    with pytest.raises(Conflict, match="declared otherwise"):
        store.declare(attachment_id, other, caller="fra")
    with pytest.raises(Conflict):
        store.declare(attachment_id, declared, caller="ukr")
    assert send(1, chunks[1]) == 2
    assert send(2, chunks[2]) == 3
    assert store.status(attachment_id, caller="fra").complete

    # Served only to the recipients of the envelope the attachment came with, from its sender.
    with pytest.raises(NotFound):
        store.chunk(attachment_id, 0, caller="ukr")  # no envelope yet
    _routed(hub_node, message_id, "fra", ["ukr", "grc"])
    path, digest, size = store.chunk(attachment_id, 2, caller="ukr")
    assert (path.read_bytes(), digest, size) == (chunks[2], sha(chunks[2]), 40)
    with pytest.raises(NotFound):
        store.chunk(attachment_id, 0, caller="jpn")

    # Kept while a recipient still needs it; dropped once each has it.
    store.fetched(attachment_id, "verified", None, caller="ukr")
    with hub_node.uow(read_only=True) as uow:
        assert uow.session.get(HubAttachmentRow, attachment_id).status == "complete"  # type: ignore[union-attr]
    store.fetched(attachment_id, "refused", "altered", caller="grc")
    with hub_node.uow(read_only=True) as uow:
        row = uow.session.get(HubAttachmentRow, attachment_id)
        assert row is not None
        assert row.status == "purged"
    assert not path.parent.exists()
    with pytest.raises(NotFound, match="gone"):
        store.chunk(attachment_id, 0, caller="ukr")


def test_the_hub_drops_attachments_whose_message_expired_long_ago(hub_node: Node) -> None:
    store = hub_node.messages.attachments.hub
    attachment_id, message_id = new_id(), new_id()
    store.declare(
        attachment_id,
        HubAttachmentDeclared(message_id=message_id, size=16, chunk_bytes=64, chunks=[sha(b"")]),
        caller="fra",
    )
    _routed(hub_node, message_id, "fra", ["ukr"])
    assert store.purge() == 0
    assert store.purge(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=9)) == 1
    with hub_node.uow(read_only=True) as uow:
        statuses = list(
            uow.session.scalars(select(HubAttachmentRow.status).where(HubAttachmentRow.id == attachment_id))
        )
    assert statuses == ["purged"]
