"""Attachments of messages: uploaded in chunks, sealed for one message, relayed through the
hub, fetched and verified by each recipient, streamed to its users. Never whole in memory:
each step holds one chunk (``attachment_chunk_bytes``, 8 MiB by default).

1. Upload, at the sender's node. ``POST /api/v1/attachments`` declares the file (name,
   media type, size, SHA-256 of the whole); each chunk is ``PUT .../chunks/{n}`` with its
   ``Content-Digest`` (RFC 9530), in any order, and again after an interruption
   (``GET .../{id}`` says which are missing); ``POST .../complete`` hashes the whole file
   against the SHA-256 declared. Only the uploader's agency sees its uploads.
2. Send. ``POST /api/v1/messages`` names completed uploads. Each is sealed chunk by chunk
   under a content key of its own (``polex.crypto.attachment``) into the node's store; the
   keys and the sealed chunks' SHA-256 go in the message body, which the envelope signs and
   encrypts to every recipient (so each key is wrapped for each recipient). The message,
   its attachments and the uploads' consumption commit in one transaction, after the sealed
   chunks are on disk; a failure before removes them.
3. Relay. A worker hands the sealed chunks to the hub (``PUT /api/v1/network/attachments/{id}``
   declares them, then ``.../chunks/{n}`` in order; the hub answers how far it got, so a
   relay resumes where it stopped). The envelope leaves only when all its attachments are
   at the hub, and later messages of its conversation wait behind it.
4. The hub checks each chunk against the sender's declaration and stores it (it cannot open
   it); it keeps an attachment until every recipient has it (or was refused, or expired),
   and never longer than FETCH_GRACE after the message expires.
5. A recipient stores the message, then a worker fetches its attachments at once
   (``GET /api/v1/network/attachments/{id}/chunks/{n}``, served only to recipients of the
   message the attachment came with), checks each chunk against the hashes the sender
   signed, opens every chunk and checks the whole file's SHA-256. Only then is the
   attachment ``available``; the hub is told (``POST .../fetched``) it may drop it. Eager
   rather than at the user's first download: the hub frees its disk within minutes rather
   than holding every file until each user thinks of opening it, a tampered chunk is found
   before anyone relies on the message, and users download from their own node's disk.
6. Users download ``GET /api/v1/messages/{id}/attachments/{attachment id}`` (a range too);
   each chunk is opened again as it streams: the node's own disk is not trusted either.

Every step is idempotent (a chunk sent twice with the same bytes is a no-op), files are
written beside their name and renamed into place (``polex.message.chunks``), and no
transaction is open across a network call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import httpx
import orjson
from pydantic import TypeAdapter
from sqlalchemy import select, update

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.crypto.attachment import TAG_BYTES, AttachmentCipher, ChunkRefused, chunk_length, decode_key
from polex.domain.audit import Actor, AuditTag, Decision
from polex.domain.message import RoutingHeader
from polex.domain.roles import Permission
from polex.errors import Conflict, NotFound, PolexError
from polex.message.chunks import (
    PIECE,
    AttachmentFolders,
    AttachmentLimits,
    ChunkSlot,
    ChunkTooLarge,
    ChunkWriter,
    chunk_path,
    content_digest,
    remove_folder,
)
from polex.message.hub_store import FETCH_GRACE, HubAttachmentStore
from polex.message.schemas import (
    MAX_ATTACHMENTS,
    AttachmentInfo,
    HubAttachmentDeclared,
    SealedAttachment,
)
from polex.message.uploads import UploadService
from polex.network.http import consumed_body, with_content_length
from polex.network.view import NetworkUnavailable, NetworkView
from polex.storage.tables import MessageAttachmentRow, MessageRecipientRow, MessageRow, OutboxRow
from polex.storage.unit_of_work import UnitOfWorkFactory
from polex.threads import run_in_background

if TYPE_CHECKING:
    from polex.settings import Settings

log = logging.getLogger(__name__)

PURGE_SECONDS = 30.0  # how often the hub looks for attachments nobody needs any more, and stale uploads
PROGRESS_SECONDS = 1.0  # how often a transfer writes how far it got
WORKER_SECONDS = 1.0  # how often the workers look for due transfers when nobody wakes them
DUE_BATCH = 20
MAX_BACKOFF = dt.timedelta(minutes=5)
_SEALED_LIST = TypeAdapter(list[SealedAttachment])


# The outgoing messages whose attachments are still on their way to the hub (the relay asks
# every round: built once, run on the connection; see polex.message.service).
_attachments_table, _messages_table = MessageAttachmentRow.__table__, MessageRow.__table__
_HELD = (
    select(
        _attachments_table.c.message_id,
        _attachments_table.c.status,
        _messages_table.c.conversation_id,
        _messages_table.c.created,
    )
    .select_from(
        _attachments_table.join(
            _messages_table,
            (_messages_table.c.id == _attachments_table.c.message_id) & (_messages_table.c.box == "outbox"),
        )
    )
    .where(_attachments_table.c.box == "outbox", _attachments_table.c.status == "sealed")
)


class RangeNotSatisfiable(PolexError):
    status = 416
    title = "Range not satisfiable"
    slug = "range-not-satisfiable"


class _Retry(Exception):
    """Try again later: the hub or the network is not there now."""


class _Refused(Exception):
    """No retry helps: the attachment is refused, for this reason."""


class _Interrupted(Exception):
    """The node is stopping: the transfer resumes at its next start."""


@dataclass(frozen=True)
class Download:
    name: str
    media_type: str
    size: int  # of the whole file
    sha256: str
    first: int  # the byte range sent, inclusive
    last: int
    partial: bool
    content: Iterator[bytes] = field(repr=False)

    @property
    def length(self) -> int:
        return self.last - self.first + 1 if self.size else 0

    def headers(self) -> dict[str, str]:
        quoted = urllib.parse.quote(self.name, safe="")
        fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", self.name).strip() or "attachment"
        headers = {
            "Content-Length": str(self.length),
            "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quoted}",
            "X-Content-Type-Options": "nosniff",
            "Accept-Ranges": "bytes",
            "Repr-Digest": content_digest(self.sha256),  # RFC 9530: of the whole file, whatever the range
        }
        if self.partial:
            headers["Content-Range"] = f"bytes {self.first}-{self.last}/{self.size}"
        return headers


def parse_sealed(value: Any) -> list[SealedAttachment]:
    """The attachments a received message body lists; ValueError unless well formed."""
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise ValueError(f"attachments: a list of at most {MAX_ATTACHMENTS}")
    items = _SEALED_LIST.validate_python(value)
    if len({item.id for item in items}) != len(items):
        raise ValueError("attachments: an id is repeated")
    return items


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range of a ``Range: bytes=a-b`` header (one range; RFC 9110 14.2),
    None for the whole file or a header this node does not take (the whole file is sent)."""
    if header is None:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    if not match.group(1):  # the last n bytes
        suffix = int(match.group(2))
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(f"the file has {size} bytes", size=size)
        return max(0, size - suffix), size - 1
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first >= size or last < first:
        raise RangeNotSatisfiable(f"the range asked is outside the file's {size} bytes", size=size)
    return first, min(last, size - 1)


def _backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(seconds=2 ** min(attempts, 12)), MAX_BACKOFF)


def _sealed_length(row: MessageAttachmentRow, index: int) -> int:
    return chunk_length(row.size, row.chunk_size, index) + TAG_BYTES


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code}: {response.text[:300]}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"{response.status_code}: {detail or response.text[:300]}"


class _Worker:
    """A daemon thread running ``work`` when woken, or every WORKER_SECONDS, and again at once
    while it reports progress; stopped between two units of work."""

    def __init__(self, name: str, work: Callable[[], int], stopping: threading.Event) -> None:
        self._work = work
        self._stopping = stopping
        self._nudge = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._nudge.set()

    def join(self) -> None:
        self._nudge.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        run_in_background()
        while not self._stopping.is_set():
            self._nudge.wait(WORKER_SECONDS)
            self._nudge.clear()
            try:
                while not self._stopping.is_set() and self._work() > 0:
                    pass
            except Exception:  # a failed round is tried again at the next; the log says why
                log.exception("%s failed", self._thread.name)


class _HubPort(Protocol):
    """The hub's attachment store, as a node reaches it: over HTTP, or in process at the hub."""

    def declare(self, attachment_id: str, declared: HubAttachmentDeclared) -> int: ...

    def put_chunk(self, attachment_id: str, index: int, data: bytes, sha256: str) -> None: ...

    def get_chunk(self, attachment_id: str, index: int, writer: ChunkWriter) -> None: ...

    def fetched(self, attachment_id: str, outcome: str, reason: str | None) -> None: ...


class AttachmentService:
    """A node's attachments: its users' uploads (``uploads``), the hub's store in transit
    (``hub``, at the hub), the transfers between them, and downloads."""

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
        self.uploads = UploadService(uow, folders, limits)
        self.hub = HubAttachmentStore(uow, audit, network, folders, limits)
        self.on_ready: Callable[[], None] = lambda: None  # an outgoing message's attachments are all at the hub
        # A received attachment became available or was refused: (message id, attachment id, status).
        self.on_fetched: Callable[[str, str, str], None] = lambda *_: None
        self._client: httpx.Client | None = None
        self._stopping = threading.Event()
        self._workers: dict[str, _Worker] = {}
        self._workers_lock = threading.Lock()
        self._last_purge = 0.0

    def writer(self, slot: ChunkSlot) -> ChunkWriter:
        """Where an arriving chunk's bytes go until they are checked and put in place."""
        return self._folders.writer(slot.folder, slot.length)

    # -- what messages show -------------------------------------------------------------------

    @staticmethod
    def infos(session: Any, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[AttachmentInfo]]:
        """The attachments of messages, by (message id, box)."""
        found: dict[tuple[str, str], list[AttachmentInfo]] = {}
        ids = [message_id for message_id, _ in keys]
        if not ids:
            return found
        wanted = set(keys)
        rows = session.scalars(
            select(MessageAttachmentRow)
            .where(MessageAttachmentRow.message_id.in_(ids))
            .order_by(MessageAttachmentRow.message_id, MessageAttachmentRow.position)
        ).all()
        for row in rows:
            key = (row.message_id, row.box)
            if key not in wanted:
                continue
            found.setdefault(key, []).append(
                AttachmentInfo(
                    id=row.id,
                    name=row.name,
                    media_type=row.media_type,
                    size=row.size,
                    sha256=row.sha256,
                    status=row.status,
                    reason=row.reason,
                    progress=1.0 if row.status in ("at_hub", "available") else round(row.done / row.chunk_count, 4),
                )
            )
        return found

    # -- receiving, for MessageService.receive_batch ------------------------------------------

    def receive(self, session: Any, header: RoutingHeader, manifests: list[SealedAttachment], now: dt.datetime) -> None:
        """In the transaction that stores a received message: its attachments, to fetch."""
        taken = set(
            session.scalars(
                select(MessageAttachmentRow.id).where(
                    MessageAttachmentRow.box == "inbox", MessageAttachmentRow.id.in_([item.id for item in manifests])
                )
            )
        )
        for position, item in enumerate(manifests):
            if item.id in taken:  # another message named it first: a sender's error, or a replay
                log.warning("attachment %s of message %s was received with another message", item.id, header.id)
                continue
            session.add(
                MessageAttachmentRow(
                    box="inbox",
                    id=item.id,
                    message_id=header.id,
                    position=position,
                    name=item.name,
                    media_type=item.media_type,
                    size=item.size,
                    sha256=item.sha256,
                    chunk_size=item.chunk_size,
                    chunk_count=item.chunk_count,
                    content_key=item.key,
                    chunks=item.chunks,
                    status="fetching",  # refused by the fetch when larger than this node takes
                    reason=None,
                    done=0,
                    attempts=0,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )

    # -- relay: waiting envelopes ---------------------------------------------------------------

    @staticmethod
    def held_messages(session: Any) -> tuple[set[str], dict[str, dt.datetime]]:
        """Outgoing messages whose attachments are not all at the hub (their envelopes wait),
        and, per conversation, the creation time of the first still on its way (later
        messages of that conversation wait behind it)."""
        rows = session.connection().execute(_HELD).all()
        held: set[str] = set()
        since: dict[str, dt.datetime] = {}
        for message_id, _, conversation_id, created in rows:
            held.add(message_id)
            if conversation_id not in since or created < since[conversation_id]:
                since[conversation_id] = created
        return held, since

    # -- workers --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the transfer workers (once; the message relay calls this every round)."""
        if self._workers or self._stopping.is_set():
            return
        with self._workers_lock:
            if not self._workers:
                self._workers = {
                    "out": _Worker("attachment-relay", self.relay_once, self._stopping),
                    "in": _Worker("attachment-fetch", self.fetch_once, self._stopping),
                }

    def wake(self) -> None:
        for worker in list(self._workers.values()):
            worker.wake()

    def close(self) -> None:
        self._stopping.set()
        for worker in list(self._workers.values()):
            worker.join()
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            timeout = httpx.Timeout(60.0, connect=10.0)
            self._client = self._network.clients.client(timeout=timeout, limits=httpx.Limits(max_connections=8))
        return self._client

    def _hub(self) -> _HubPort:
        if self._network.is_hub:
            return _LocalHub(self.hub, self._folders, self._network.node_name)
        return _RemoteHub(self._http(), self._network, self._network.hub().name)

    def _check_stop(self) -> None:
        if self._stopping.is_set():
            raise _Interrupted

    # -- sender: sealed chunks to the hub ------------------------------------------------------

    def relay_once(self) -> int:
        """Hand due sealed attachments to the hub, each to the end; returns how many reached it.
        At the hub, also drops the attachments nobody needs any more (every PURGE_SECONDS)."""
        if time.monotonic() - self._last_purge > PURGE_SECONDS:
            self._last_purge = time.monotonic()
            self.hub.purge()
            self.uploads.purge()
        now = dt.datetime.now(dt.UTC)
        with self._uow(read_only=True) as uow:
            due = uow.session.scalars(
                select(MessageAttachmentRow)
                .where(
                    MessageAttachmentRow.box == "outbox",
                    MessageAttachmentRow.status == "sealed",
                    MessageAttachmentRow.next_attempt_at <= now,
                )
                .order_by(MessageAttachmentRow.next_attempt_at, MessageAttachmentRow.message_id)
                .limit(DUE_BATCH)
            ).all()
        arrived = 0
        for row in due:
            try:
                self._relay(row)
            except _Interrupted:
                break
            except _Refused as error:
                self._outgoing_refused(row, str(error))
                continue
            except (_Retry, httpx.HTTPError, NetworkUnavailable, OSError) as error:
                self._retry_later(row, f"{type(error).__name__}: {error}")
                continue
            self._progress(row, row.chunk_count, status="at_hub")
            arrived += 1
        if arrived:
            self.on_ready()
        return arrived

    def _relay(self, row: MessageAttachmentRow) -> None:
        hub = self._hub()
        folder = self._folders.sealed("outbox", row.message_id, row.id)
        declared = HubAttachmentDeclared(
            message_id=row.message_id,
            size=row.size + TAG_BYTES * row.chunk_count,
            chunk_bytes=row.chunk_size + TAG_BYTES,
            chunks=row.chunks,
        )
        start = hub.declare(row.id, declared)
        saved = time.monotonic()
        for index in range(start, row.chunk_count):
            self._check_stop()
            data = chunk_path(folder, index).read_bytes()
            if hashlib.sha256(data).hexdigest() != row.chunks[index]:
                raise _Refused(f"the sealed copy of chunk {index} is damaged on this node's disk")
            hub.put_chunk(row.id, index, data, row.chunks[index])
            if time.monotonic() - saved > PROGRESS_SECONDS:
                self._progress(row, index + 1)
                saved = time.monotonic()

    def _outgoing_refused(self, row: MessageAttachmentRow, reason: str) -> None:
        """No retry helps: the attachment, and so its message, cannot leave. Its recipients
        are told refused, and its envelope leaves the outbox unsent."""
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            uow.session.execute(
                update(OutboxRow)
                .where(OutboxRow.message_id == row.message_id, OutboxRow.relayed_at.is_(None))
                .values(relayed_at=now, last_error=f"never relayed: attachment '{row.id}' refused: {reason}"[:2000])
            )
            uow.session.execute(
                update(MessageAttachmentRow)
                .where(MessageAttachmentRow.box == row.box, MessageAttachmentRow.id == row.id)
                .values(status="refused", reason=reason[:2000], updated_at=now)
            )
            uow.session.execute(
                update(MessageRecipientRow)
                .where(MessageRecipientRow.message_id == row.message_id, MessageRecipientRow.status == "queued")
                .values(
                    status="refused",
                    reason=f"attachment '{row.name}' cannot be relayed: {reason}"[:2000],
                    updated_at=now,
                )
            )
            event = EventDraft(
                AuditTag.ATTACHMENT_REFUSED,
                Actor(kind="node", name=self._network.node_name),
                decision=Decision.DENIED,
                details={"message": row.message_id, "attachment": row.id, "reason": reason[:500]},
            )
            self._audit.add(uow, [event])
            uow.commit()

    def _retry_later(self, row: MessageAttachmentRow, reason: str) -> None:
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            uow.session.execute(
                update(MessageAttachmentRow)
                .where(MessageAttachmentRow.box == row.box, MessageAttachmentRow.id == row.id)
                .values(
                    attempts=row.attempts + 1,
                    next_attempt_at=now + _backoff(row.attempts),
                    reason=reason[:2000],
                    updated_at=now,
                )
            )
            uow.commit()

    def _progress(self, row: MessageAttachmentRow, done: int, *, status: str | None = None) -> None:
        values: dict[str, Any] = {"done": done, "updated_at": dt.datetime.now(dt.UTC)}
        if status is not None:
            values.update(status=status, reason=None)
        with self._uow() as uow:
            uow.session.execute(
                update(MessageAttachmentRow)
                .where(MessageAttachmentRow.box == row.box, MessageAttachmentRow.id == row.id)
                .values(**values)
            )
            uow.commit()

    # -- recipient: chunks from the hub -----------------------------------------------------------

    def fetch_once(self) -> int:
        """Fetch and verify due incoming attachments, each to the end; returns how many became available."""
        now = dt.datetime.now(dt.UTC)
        with self._uow(read_only=True) as uow:
            due = uow.session.execute(
                select(MessageAttachmentRow, MessageRow.expires)
                .join(MessageRow, (MessageRow.id == MessageAttachmentRow.message_id) & (MessageRow.box == "inbox"))
                .where(
                    MessageAttachmentRow.box == "inbox",
                    MessageAttachmentRow.status == "fetching",
                    MessageAttachmentRow.next_attempt_at <= now,
                )
                .order_by(MessageAttachmentRow.next_attempt_at, MessageAttachmentRow.message_id)
                .limit(DUE_BATCH)
            ).all()
        available = 0
        for row, expires in due:
            try:
                self._fetch(row)
                self._verify(row)
            except _Interrupted:
                break
            except _Refused as error:
                self._incoming_done(row, "refused", str(error))
                continue
            except (_Retry, httpx.HTTPError, NetworkUnavailable, OSError) as error:
                if expires + FETCH_GRACE < dt.datetime.now(dt.UTC):
                    self._incoming_done(row, "refused", f"not fetched before the message expired: {error}")
                else:
                    self._retry_later(row, f"{type(error).__name__}: {error}")
                continue
            self._incoming_done(row, "verified", None)
            available += 1
        return available

    def _fetch(self, row: MessageAttachmentRow) -> None:
        if row.size > self.limits.max_bytes:
            raise _Refused(f"larger than the {self.limits.max_bytes} bytes this node takes")
        hub = self._hub()
        folder = self._folders.sealed("inbox", row.message_id, row.id)
        saved = time.monotonic()
        for index in range(row.done, row.chunk_count):
            self._check_stop()
            with self._folders.writer(folder, _sealed_length(row, index)) as writer:
                try:
                    hub.get_chunk(row.id, index, writer)
                except ChunkTooLarge:
                    raise _Refused(f"chunk {index} from the hub is larger than the sender sealed it") from None
                if writer.size != _sealed_length(row, index) or writer.sha256 != row.chunks[index]:
                    raise _Refused(
                        f"chunk {index} from the hub is not the one the sender sealed (its SHA-256 differs): "
                        "altered at the hub or on the way"
                    )
                writer.commit(chunk_path(folder, index))
            if time.monotonic() - saved > PROGRESS_SECONDS:
                self._progress(row, index + 1)
                row.done = index + 1
                saved = time.monotonic()
        self._progress(row, row.chunk_count)
        row.done = row.chunk_count

    def _verify(self, row: MessageAttachmentRow) -> None:
        """Open every chunk (its GCM tag) and check the whole file's size and SHA-256."""
        cipher = AttachmentCipher(decode_key(row.content_key), row.message_id, row.id, row.chunk_count)
        folder = self._folders.sealed("inbox", row.message_id, row.id)
        whole = hashlib.sha256()
        size = 0
        for index in range(row.chunk_count):
            self._check_stop()
            try:
                plaintext = cipher.open(index, chunk_path(folder, index).read_bytes())
            except ChunkRefused as error:
                raise _Refused(str(error)) from None
            whole.update(plaintext)
            size += len(plaintext)
        if size != row.size or whole.hexdigest() != row.sha256:
            raise _Refused(f"the file opens to {size} bytes with SHA-256 {whole.hexdigest()}, not the sender's")

    def _incoming_done(self, row: MessageAttachmentRow, outcome: str, reason: str | None) -> None:
        now = dt.datetime.now(dt.UTC)
        status = "available" if outcome == "verified" else "refused"
        with self._uow() as uow:
            uow.session.execute(
                update(MessageAttachmentRow)
                .where(MessageAttachmentRow.box == "inbox", MessageAttachmentRow.id == row.id)
                .values(status=status, reason=reason[:2000] if reason else None, updated_at=now)
            )
            actor = Actor(kind="node", name=self._network.node_name)
            details: dict[str, Any] = {"message": row.message_id, "attachment": row.id, "sha256": row.sha256}
            if outcome == "verified":
                event = EventDraft(AuditTag.ATTACHMENT_RECEIVED, actor, details={**details, "size": row.size})
            else:
                details["reason"] = (reason or "")[:500]
                event = EventDraft(AuditTag.ATTACHMENT_REFUSED, actor, decision=Decision.DENIED, details=details)
            self._audit.add(uow, [event])
            uow.commit()
        if outcome != "verified":
            remove_folder(self._folders.sealed("inbox", row.message_id, row.id))
        self.on_fetched(row.message_id, row.id, status)
        try:  # best effort: the hub drops it after the message expires anyway
            self._hub().fetched(row.id, outcome, reason)
        except (_Retry, _Refused, httpx.HTTPError, NetworkUnavailable, PolexError) as error:
            log.warning("could not tell the hub attachment %s was %s: %s", row.id, outcome, error)

    # -- users: downloads ---------------------------------------------------------------------------

    def download(
        self, message_id: str, attachment_id: str, principal: Principal, range_header: str | None = None
    ) -> Download:
        """An attachment of a message of this node's inbox or outbox, streamed: each chunk is
        opened (and its tag checked) as it goes. A file whose whole SHA-256 differs is cut
        before its last byte, so a client never holds a complete wrong file."""
        principal.require(Permission.MESSAGE_READ)
        with self._uow(read_only=True) as uow:
            row = uow.session.scalars(
                select(MessageAttachmentRow)
                .join(
                    MessageRow,
                    (MessageRow.id == MessageAttachmentRow.message_id) & (MessageRow.box == MessageAttachmentRow.box),
                )
                .where(MessageAttachmentRow.message_id == message_id, MessageAttachmentRow.id == attachment_id)
            ).first()
        if row is None:
            raise NotFound(f"no attachment '{attachment_id}' in message '{message_id}'")
        if row.box == "inbox" and row.status != "available":
            progress = f"{row.done} of {row.chunk_count} chunks fetched" if row.status == "fetching" else row.reason
            raise Conflict(f"the attachment is not available: {row.status} ({progress})")
        if row.box == "outbox" and row.status == "refused":
            raise Conflict(f"the attachment was refused: {row.reason}")
        span = parse_range(range_header, row.size)
        first, last = span if span is not None else (0, max(row.size - 1, 0))
        details: dict[str, Any] = {"message": message_id, "attachment": attachment_id, "sha256": row.sha256}
        if span is not None:
            details["range"] = [first, last]
        self._audit.record([EventDraft(AuditTag.ATTACHMENT_DOWNLOADED, actor_of(principal), details=details)])
        return Download(
            name=row.name,
            media_type=row.media_type,
            size=row.size,
            sha256=row.sha256,
            first=first,
            last=last,
            partial=span is not None,
            content=self._plaintext(row, first, last, whole=span is None),
        )

    def _plaintext(self, row: MessageAttachmentRow, first: int, last: int, *, whole: bool) -> Iterator[bytes]:
        cipher = AttachmentCipher(decode_key(row.content_key), row.message_id, row.id, row.chunk_count)
        folder = self._folders.sealed(row.box, row.message_id, row.id)
        if row.size == 0:
            cipher.open(0, chunk_path(folder, 0).read_bytes())
            return
        digest = hashlib.sha256()
        held: bytes | None = None  # the last piece, sent only once the whole file is checked
        for index in range(first // row.chunk_size, last // row.chunk_size + 1):
            plaintext = cipher.open(index, chunk_path(folder, index).read_bytes())
            start = index * row.chunk_size
            piece = plaintext[max(first - start, 0) : last - start + 1]
            if whole:
                digest.update(plaintext)
            if held is not None:
                yield held
            held = piece
        if whole and digest.hexdigest() != row.sha256:
            log.error("attachment %s of message %s fails its SHA-256 on this node's disk", row.id, row.message_id)
            raise ChunkRefused(row.chunk_count - 1)
        if held is not None:
            yield held


class _LocalHub:
    """The hub's own store, when this node is the hub: the same checks, no HTTP."""

    def __init__(self, store: HubAttachmentStore, folders: AttachmentFolders, me: str) -> None:
        self._store = store
        self._folders = folders
        self._me = me

    def declare(self, attachment_id: str, declared: HubAttachmentDeclared) -> int:
        try:
            return self._store.declare(attachment_id, declared, caller=self._me).received
        except PolexError as error:  # what the hub answers 4xx to over HTTP
            raise _Refused(error.detail) from None

    def put_chunk(self, attachment_id: str, index: int, data: bytes, sha256: str) -> None:
        try:
            slot = self._store.chunk_slot(attachment_id, index, caller=self._me)
            with self._folders.writer(slot.folder, slot.length) as writer:
                writer.write(data)
                self._store.store_chunk(slot, writer, sha256, caller=self._me)
        except PolexError as error:
            raise _Refused(error.detail) from None

    def get_chunk(self, attachment_id: str, index: int, writer: ChunkWriter) -> None:
        try:
            path, _, _ = self._store.chunk(attachment_id, index, caller=self._me)
        except NotFound as error:  # not all here yet, as over HTTP
            raise _Retry(error.detail) from None
        except PolexError as error:
            raise _Refused(error.detail) from None
        with path.open("rb") as source:
            while piece := source.read(PIECE):
                writer.write(piece)

    def fetched(self, attachment_id: str, outcome: str, reason: str | None) -> None:
        self._store.fetched(attachment_id, outcome, reason, caller=self._me)


class _RemoteHub:
    """The hub's store over HTTP, with this node's token, at whichever hub access point answers."""

    RETRYABLE: ClassVar[frozenset[int]] = frozenset({401, 404, 408, 425, 429})
    PATH = "/api/v1/network/attachments"

    def __init__(self, client: httpx.Client, network: NetworkView, hub_name: str) -> None:
        self._client = client
        self._network = network
        self._hub_name = hub_name

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"PolexNode {self._network.token_for(self._hub_name)}", **extra}

    def _send(self, method: str, path: str, *, content: bytes | None = None, headers: dict[str, str]) -> httpx.Response:
        """The request at the hub (failing over between its access points); the response streams."""

        def attempt(base: str) -> httpx.Response:
            request = self._client.build_request(method, f"{base}{self.PATH}{path}", content=content, headers=headers)
            return self._client.send(request, stream=True)

        return self._network.call_hub(attempt)

    def _call(self, method: str, path: str, *, content: bytes | None = None, headers: dict[str, str]) -> httpx.Response:
        """The request at the hub (failing over between its access points), read whole."""
        return self._network.call_hub(
            lambda base: self._client.request(
                method,
                f"{base}{self.PATH}{path}",
                content=consumed_body(content),
                headers=with_content_length(headers, content),
            )
        )

    def _outcome(self, response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        detail = _problem_detail(response)
        if response.status_code >= 500 or response.status_code in self.RETRYABLE:
            raise _Retry(f"the hub answered {detail}")
        raise _Refused(f"the hub refused it: {detail}")

    def declare(self, attachment_id: str, declared: HubAttachmentDeclared) -> int:
        response = self._call(
            "PUT",
            f"/{attachment_id}",
            content=orjson.dumps(declared.model_dump(mode="json")),
            headers=self._headers(**{"Content-Type": "application/json"}),
        )
        self._outcome(response)
        return int(response.json()["received"])

    def put_chunk(self, attachment_id: str, index: int, data: bytes, sha256: str) -> None:
        response = self._call(
            "PUT",
            f"/{attachment_id}/chunks/{index}",
            content=data,
            headers=self._headers(
                **{"Content-Type": "application/octet-stream", "Content-Digest": content_digest(sha256)}
            ),
        )
        self._outcome(response)

    def get_chunk(self, attachment_id: str, index: int, writer: ChunkWriter) -> None:
        response = self._send("GET", f"/{attachment_id}/chunks/{index}", headers=self._headers())
        try:
            if response.status_code != 200:
                response.read()
                self._outcome(response)
                raise _Retry(f"the hub answered {response.status_code}")
            for piece in response.iter_bytes(PIECE):
                writer.write(piece)
        finally:
            response.close()

    def fetched(self, attachment_id: str, outcome: str, reason: str | None) -> None:
        body = {"outcome": outcome, "reason": reason[:2000] if reason else None}
        response = self._call(
            "POST",
            f"/{attachment_id}/fetched",
            content=orjson.dumps(body),
            headers=self._headers(**{"Content-Type": "application/json"}),
        )
        self._outcome(response)


def attachment_service(
    uow: UnitOfWorkFactory, audit: AuditTrail, network: NetworkView, settings: Settings
) -> AttachmentService:
    """The attachment service of a node, its files under ``data_dir/attachments``."""
    folders = AttachmentFolders(settings.data_dir / "attachments")
    return AttachmentService(uow, audit, network, folders, AttachmentLimits.of(settings))
