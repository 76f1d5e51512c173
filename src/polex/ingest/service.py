"""Streams an outside format into records of the common schema, or into notice drafts.

Records are stored in batches, each batch one transaction with its audit event. Items the
adapter rejects, and records the store refuses (a document already reported, one the
importing agency may not own), go to quarantine exactly as received, with the field and
the reason: nothing is dropped and nothing is half-written. Records stored already (the
same id, or the same natural key: importing a file again) are found before a batch is
written and refused one by one; a batch that meets a duplicate stored meanwhile by someone
else is retried record by record, so one duplicate does not cost its neighbours.

A notice is not a record: it enters through its lifecycle. Items an adapter reads into
notice requests (INTERPOL's public notices) each become a draft owned by the importing
agency, made by the notice service as ``POST /api/v1/notices`` makes one: only an NCB
operator imports them (anyone else is refused before anything is read), and a node whose
notice service takes no requests refuses the whole import with the service's reason rather
than quarantining every notice. Requests the notice service refuses (a type the network does
not know, a public extract the type does not allow) and those the agency has drafted already
(the same INTERPOL reference, or the same content: importing a file twice drafts nothing
twice) go to quarantine like refused records. Each draft's provenance (format, source id,
where in the file, the values polex could not hold) is kept with the draft; its
``record:notice:imported`` audit event names the import, the format and the source id.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from pydantic import BaseModel, ValidationError

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import Actor, AuditTag
from polex.domain.base import Provenance, Restrictions, new_id
from polex.domain.notice import NoticeRequest
from polex.domain.person import IdentifierKind
from polex.domain.roles import Permission
from polex.errors import AlreadyExists, Conflict, FieldError, Forbidden, NotFound, PolexError
from polex.formats.registry import (
    NOTICE_REQUESTS,
    Accepted,
    FormatAdapter,
    ReadResult,
    Rejection,
    SplitFormatAdapter,
    reads_into,
)
from polex.ingest.parallel import staged_in_workers
from polex.ingest.read_ahead import read_ahead
from polex.ingest.repository import ImportRepository, QuarantinedItem
from polex.ingest.staging import Staged, Stager
from polex.ingest.staging import refused as _refused
from polex.notice.schemas import NoticeRead
from polex.record.service import NewRecord, RecordService, Seen
from polex.storage.tables import ImportRow, QuarantineRow
from polex.storage.unit_of_work import UnitOfWorkFactory

BATCH = 1000
WORKER_BATCH = 500  # items a worker process converts at a time
# Below this an input is converted in the importing process: starting workers and shipping
# rows to them would cost more than they save (about 40,000 rows of a typical export).
PARALLEL_FROM_BYTES = 4 * 1_048_576
log = logging.getLogger(__name__)


@dataclass
class ImportSummary:
    id: str
    format: str
    accepted: int = 0  # records stored and notice drafts created
    rejected: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)  # records stored, by kind
    reasons: dict[str, int] = field(default_factory=dict)  # "field: reason" to how often
    drafts: int = 0  # notice drafts created
    draft_ids: list[str] = field(default_factory=list)  # in the order of the input
    # A dry run writes nothing: its counts say what the import would store, draft and
    # quarantine, and ``problems`` lists the first items it would quarantine.
    dry_run: bool = False
    problems: list[dict[str, str]] = field(default_factory=list)


PROBLEMS_LISTED = 1000  # items a dry run's summary lists, of those it would quarantine


@dataclass
class _DryRun:
    """What a dry run has counted as stored or drafted, without writing it: later items that
    repeat them are refused as the import would refuse them."""

    records: dict[str, Seen] = field(default_factory=dict)  # by record kind
    drafted: dict[str, str] | None = None  # notice keys: the agency's, read once, then this run's


class NoticeDrafting(Protocol):
    """Where an import's notice requests go (:class:`polex.notice.service.NoticeService`).
    ``create`` makes a draft owned by the principal's agency; it raises ``Forbidden`` when the
    principal or the node may not request notices at all, another ``PolexError`` naming the
    field when this request cannot be a draft."""

    def create(
        self,
        request: NoticeRequest,
        principal: Principal,
        *,
        restrictions: Restrictions | None = None,
        provenance: Provenance | None = None,
    ) -> NoticeRead: ...


class ImportService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        records: Mapping[str, RecordService],
        audit: AuditTrail,
        *,
        workers: int | None = None,
        parallel_from_bytes: int = PARALLEL_FROM_BYTES,
    ) -> None:
        """``workers`` processes convert an input of at least ``parallel_from_bytes`` that its
        adapter can split (one per core when None; 0 converts every input in the importing
        process)."""
        self._uow = uow
        self._records = records
        self._audit = audit
        self._import_workers = (os.cpu_count() or 1) if workers is None else workers
        self._parallel_from_bytes = parallel_from_bytes
        # One import at a time in the background: imports are I/O and database bound, and a
        # second would only compete with the first for SQLite's single writer.
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="polex-import")
        self._stopping = threading.Event()
        # Notices have no unique key the database could enforce: two imports of the same
        # file at once would both find no earlier draft. Drafting is serialised instead.
        self._drafting = threading.Lock()

    def run(
        self,
        adapter: FormatAdapter,
        stream: IO[bytes],
        *,
        source: str,
        owner: Principal,
        batch_size: int = BATCH,
        import_id: str | None = None,
        notices: NoticeDrafting | None = None,
        dry_run: bool = False,
        on_progress: Callable[[ImportSummary], None] | None = None,
    ) -> ImportSummary:
        """Import everything ``adapter`` reads from ``stream`` for the ``owner`` agency:
        records, or notice drafts made by ``notices`` (see :meth:`authorise`). The import's
        row shows its counts growing batch by batch while it runs, and ``on_progress`` is
        told after each batch. A ``dry_run`` reads, maps, validates and checks everything as
        the import would (owners, duplicates in the store and in the input), writes nothing
        and returns what would have happened; the notice service's own checks of a request
        run only when it drafts."""
        summary = ImportSummary(id=import_id or new_id(), format=adapter.name, dry_run=dry_run)
        if dry_run:
            self.authorise(adapter, owner, notices=notices)
            self._read_all(adapter, stream, owner, summary, batch_size, notices, _DryRun(), on_progress)
            return summary
        if import_id is None:
            self.authorise(adapter, owner, notices=notices)
            self._begin(summary, source, owner)
        try:
            self._read_all(adapter, stream, owner, summary, batch_size, notices, None, on_progress)
        except Exception as error:
            self._end(summary, "failed", f"{type(error).__name__}: {error}"[:2000])
            raise
        self._end(summary, "interrupted" if self._stopping.is_set() else "finished", None)
        return summary

    def authorise(self, adapter: FormatAdapter, owner: Principal, *, notices: NoticeDrafting | None) -> None:
        """Refuse, before anything is read, an import of notice requests (an adapter whose
        ``reads_into`` says so) that would only fill the quarantine: drafting notices needs
        the NOTICE_REQUEST permission (an NCB operator) and the node's notice service."""
        if reads_into(adapter) != NOTICE_REQUESTS:
            return
        if not owner.can(Permission.NOTICE_REQUEST):
            held = ", ".join(sorted(role.value for role in owner.roles)) or "none"
            raise Forbidden(
                f"the {adapter.name} format reads notice requests, which become notice drafts of your agency: "
                f"that needs the '{Permission.NOTICE_REQUEST.value}' permission of an NCB operator, "
                f"which none of your roles [{held}] grants",
                permission=Permission.NOTICE_REQUEST.value,
            )
        if notices is None:
            raise Forbidden(
                f"the {adapter.name} format reads notice requests, which enter through the notice lifecycle, "
                "and this import was given no notice service",
                errors=[FieldError("format", "reads notice requests")],
            )

    def _read_all(
        self,
        adapter: FormatAdapter,
        stream: IO[bytes],
        owner: Principal,
        summary: ImportSummary,
        batch_size: int,
        notices: NoticeDrafting | None,
        dry: _DryRun | None,
        on_progress: Callable[[ImportSummary], None] | None,
    ) -> None:
        actor = actor_of(owner)

        def progress() -> None:
            if dry is None:
                self._progress(summary)
            if on_progress is not None:
                on_progress(summary)

        pending: list[Staged] = []
        requested: list[Accepted] = []  # notice requests, drafted batch by batch
        rejections: list[Rejection] = []
        # The input is read, mapped, validated and made ready to insert a batch or two ahead,
        # in a thread of its own, while the batch before is written; closed on leaving the
        # block, whatever happens in it, which stops and joins that thread.
        with contextlib.closing(read_ahead(self._staged(adapter, stream, owner), chunk=batch_size)) as staged:
            for result in staged:
                if isinstance(result, Rejection):
                    rejections.append(result)
                elif isinstance(result, Staged):
                    pending.append(result)
                else:  # a notice request (a Notice too: in force only through its lifecycle)
                    requested.append(result)
                if len(pending) >= batch_size:
                    rejections.extend(self._store(pending, actor, summary, dry))
                    pending = []
                    progress()
                if len(requested) >= batch_size:
                    rejections.extend(self._draft(requested, owner, notices, summary, dry))
                    requested = []
                    progress()
                if len(rejections) >= batch_size:
                    self._quarantine(summary, rejections, dry)
                    rejections = []
                    progress()
                if self._stopping.is_set():  # the node is stopping: what is stored stays stored
                    break
        rejections.extend(self._store(pending, actor, summary, dry))
        rejections.extend(self._draft(requested, owner, notices, summary, dry))
        self._quarantine(summary, rejections, dry)
        if on_progress is not None:
            on_progress(summary)

    def _staged(self, adapter: FormatAdapter, stream: IO[bytes], owner: Principal) -> Iterator[ReadResult | Staged]:
        """What the adapter reads, each record it read made ready to store; rejections and
        notice requests as read. A large input that the adapter splits into items is
        converted by worker processes (polex.ingest.parallel)."""
        stager = Stager({kind: service.feature for kind, service in self._records.items()}, owner, adapter=adapter)
        workers = self._workers_for(adapter, stream)
        if workers > 0:
            assert isinstance(adapter, SplitFormatAdapter)
            return staged_in_workers(adapter.split(stream), stager, workers=workers, batch=WORKER_BATCH)
        return (stager.stage(result) for result in adapter.read(stream))

    def _workers_for(self, adapter: FormatAdapter, stream: IO[bytes]) -> int:
        """How many worker processes convert this input: none for a small one (their start
        would cost more than they save) or one the adapter cannot split."""
        if self._import_workers <= 0 or not isinstance(adapter, SplitFormatAdapter):
            return 0
        remaining = _remaining_bytes(stream)
        if remaining is None or remaining < self._parallel_from_bytes:
            return 0
        return self._import_workers

    def _begin(self, summary: ImportSummary, source: str, owner: Principal) -> None:
        with self._uow() as uow:
            ImportRepository(uow.session).add(
                ImportRow(
                    id=summary.id,
                    format=summary.format,
                    source=source[:500],
                    owner_agency_id=owner.agency_id,
                    started_at=dt.datetime.now(dt.UTC),
                    finished_at=None,
                    accepted=0,
                    rejected=0,
                    status="running",
                )
            )
            uow.commit()

    def _progress(self, summary: ImportSummary) -> None:
        with self._uow() as uow:
            row = ImportRepository(uow.session).get(summary.id)
            if row is not None:
                row.accepted, row.rejected = summary.accepted, summary.rejected
                uow.commit()

    def _end(self, summary: ImportSummary, status: str, error: str | None) -> None:
        with self._uow() as uow:
            row = ImportRepository(uow.session).get(summary.id)
            assert row is not None
            row.finished_at = dt.datetime.now(dt.UTC)
            row.accepted, row.rejected = summary.accepted, summary.rejected
            row.status, row.error = status, error
            uow.commit()

    # -- asynchronous imports: for files too big to wait for ---------------------------------

    def start(
        self,
        adapter: FormatAdapter,
        spooled: Path,
        *,
        source: str,
        owner: Principal,
        notices: NoticeDrafting | None = None,
    ) -> str:
        """Import a spooled upload in the background; returns the import's id at once. The
        file is removed when the import ends, whatever its outcome."""
        summary = ImportSummary(id=new_id(), format=adapter.name)
        try:
            self.authorise(adapter, owner, notices=notices)
        except PolexError:
            spooled.unlink(missing_ok=True)
            raise
        self._begin(summary, source, owner)

        def work() -> None:
            try:
                with spooled.open("rb") as stream:
                    self.run(adapter, stream, source=source, owner=owner, import_id=summary.id, notices=notices)
            except Exception:
                log.exception("import %s failed", summary.id)  # its row says failed, with the error
            finally:
                spooled.unlink(missing_ok=True)

        self._background.submit(work)
        return summary.id

    def recover_interrupted(self) -> int:
        """Imports a crash or restart left running are marked interrupted: importing the file
        again is safe, records already stored are recognised and quarantined as duplicates."""
        with self._uow() as uow:
            rows = ImportRepository(uow.session).running()
            for row in rows:
                row.status = "interrupted"
                row.error = "the node stopped during the import; import the file again to finish it"
                row.finished_at = dt.datetime.now(dt.UTC)
            uow.commit()
            return len(rows)

    def stop(self) -> None:
        """Stop background imports after their current batch (at shutdown)."""
        self._stopping.set()
        self._background.shutdown(wait=True, cancel_futures=True)

    def run_of(self, import_id: str, principal: Principal) -> ImportRow:
        principal.require(Permission.RECORD_WRITE)
        with self._uow(read_only=True) as uow:
            row = ImportRepository(uow.session).get(import_id)
            if row is None or row.owner_agency_id != principal.agency_id:
                raise NotFound(f"no import '{import_id}'")
            uow.session.expunge(row)
            return row

    def _store(
        self, pending: Sequence[Staged], actor: Actor, summary: ImportSummary, dry: _DryRun | None
    ) -> list[Rejection]:
        """Store a batch per record kind (owners were checked when it was staged); on a
        conflict, record by record; in a dry run, only find the duplicates. Returns refusals."""
        refused: list[Rejection] = []
        by_kind: dict[str, list[Staged]] = {}
        for item in pending:
            by_kind.setdefault(item.kind, []).append(item)
        for kind, items in by_kind.items():
            service = self._records[kind]
            if dry is not None:
                earlier = dry.records.setdefault(kind, Seen())
                duplicates = service.duplicates([item.row for item in items], earlier=earlier)
                refused.extend(_refused(items[at], "record", why) for at, why in duplicates.items())
                stored = len(items) - len(duplicates)
                summary.accepted += stored
                summary.by_kind[kind] = summary.by_kind.get(kind, 0) + stored
                continue
            try:
                duplicates = service.create_new([item.row for item in items], actor=actor)
                refused.extend(_refused(items[at], "record", why) for at, why in duplicates.items())
                stored = len(items) - len(duplicates)
            except AlreadyExists:  # a duplicate stored meanwhile by someone else: record by record
                stored = 0
                for item in items:
                    try:
                        stored += service.create_rows([item.row], actor=actor)
                    except AlreadyExists as error:
                        refused.append(_refused(item, "record", error.detail))
            summary.accepted += stored
            summary.by_kind[kind] = summary.by_kind.get(kind, 0) + stored
        return refused

    def _draft(
        self,
        requested: Sequence[Accepted],
        owner: Principal,
        notices: NoticeDrafting | None,
        summary: ImportSummary,
        dry: _DryRun | None = None,
    ) -> list[Rejection]:
        """A notice draft for each request, through the notice service; returns refusals
        (requests the agency has drafted already, or that the notice service refuses)."""
        if not requested:
            return []
        if notices is None or not owner.can(Permission.NOTICE_REQUEST):
            # Only from an adapter that did not say it reads notice requests (authorise
            # refuses the others): its notice requests are refused one by one, as records.
            reason = (
                "a notice request becomes a draft through the notice lifecycle, by an NCB operator "
                "(the adapter did not declare that it reads notice requests)"
            )
            return [_refused(item, "notice", reason) for item in requested]
        refused: list[Rejection] = []
        events: list[EventDraft] = []
        with self._drafting, self._recorded(events):
            if dry is None:
                drafted = self._drafted_by(owner.agency_id)
            else:  # the agency's drafts, read once; then those this run counted
                if dry.drafted is None:
                    dry.drafted = self._drafted_by(owner.agency_id)
                drafted = dry.drafted
            for item in requested:
                assert isinstance(item.record, NoticeRequest)
                try:
                    content = _stored_form(item.record)
                except ValidationError as error:
                    refused.append(self._invalid(item, error))
                    continue
                keys = _notice_keys(content)
                earlier = next((drafted[key] for key in keys if key in drafted), None)
                if earlier is not None:
                    refused.append(_refused(item, "notice", f"a duplicate of {earlier}"))
                    continue
                if dry is not None:
                    for key, described in keys.items():
                        drafted[key] = f"the notice this import would draft from {item.location}, which has {described}"
                    summary.accepted += 1
                    summary.drafts += 1
                    continue
                try:
                    draft = notices.create(item.record, owner, provenance=_provenance(item, summary))
                except Forbidden:
                    # Not this request's fault but the caller's or the node's (a node that
                    # takes no notice requests): the whole import is refused, with the reason.
                    raise
                except PolexError as error:  # the notice service's refusal, with its fields
                    first = error.errors[0].field if error.errors else "notice"
                    refused.append(Rejection(first, error.detail, item.raw, item.location, errors=tuple(error.errors)))
                    continue
                for key, described in keys.items():
                    drafted[key] = f"your agency's notice {draft.id} ({draft.status}), which has {described}"
                summary.accepted += 1
                summary.drafts += 1
                summary.draft_ids.append(draft.id)
                events.append(self._imported_event(item, draft.id, owner, summary))
        return refused

    @contextlib.contextmanager
    def _recorded(self, events: list[EventDraft]) -> Iterator[None]:
        """Audit the drafts made, even when a refusal stops the import after some."""
        try:
            yield
        finally:
            if events:
                self._audit.record(events)

    def _drafted_by(self, agency_id: str) -> dict[str, str]:
        """What tells an agency's existing notices apart (:func:`_notice_keys`), to what to
        say of the notice when an import repeats it."""
        drafted: dict[str, str] = {}
        with self._uow(read_only=True) as uow:
            for notice_id, status, content in ImportRepository(uow.session).notices_of(agency_id):
                with contextlib.suppress(ValidationError):  # else stored under an older schema: as stored
                    content = NoticeRequest.model_validate(content).model_dump(mode="json")
                for key, described in _notice_keys(content).items():
                    drafted.setdefault(key, f"your agency's notice {notice_id} ({status}), which has {described}")
        return drafted

    @staticmethod
    def _imported_event(item: Accepted, notice_id: str, owner: Principal, summary: ImportSummary) -> EventDraft:
        """Where the draft came from, in the audit trail; its original values stay with the
        notice (the trail keeps no more personal data than it needs)."""
        provenance = _provenance(item, summary)
        return EventDraft(
            AuditTag.NOTICE_IMPORTED,
            actor_of(owner),
            record_kind="notice",
            record_ids=[notice_id],
            details={
                "import": summary.id,
                "location": item.location,
                "source_format": provenance.source_format,
                "source_id": provenance.source_id,
            },
        )

    def _invalid(self, item: Accepted, error: ValidationError) -> Rejection:
        errors = tuple(
            FieldError("/".join(str(part) for part in problem["loc"]) or "notice", problem["msg"])
            for problem in error.errors()
        )
        return Rejection(errors[0].field, errors[0].reason, item.raw, item.location, errors=errors)

    def _quarantine(self, summary: ImportSummary, rejections: Sequence[Rejection], dry: _DryRun | None = None) -> None:
        """Keep rejected items as received, with their reasons (a dry run only counts them and
        lists the first ones in its summary)."""
        if not rejections:
            return
        if dry is None:
            now = dt.datetime.now(dt.UTC)
            items = [_kept(rejection) for rejection in rejections]
            with self._uow() as uow:
                ImportRepository(uow.session).quarantine(summary.id, items, now)
                uow.commit()
        for rejection in rejections:
            key = f"{rejection.field}: {rejection.reason}"[:200]
            summary.reasons[key] = summary.reasons.get(key, 0) + 1
            if dry is not None and len(summary.problems) < PROBLEMS_LISTED:
                problem = {"location": rejection.location, "field": rejection.field, "reason": rejection.reason}
                summary.problems.append(problem)
        summary.rejected += len(rejections)

    def quarantined_for(self, import_id: str, principal: Principal) -> list[QuarantineRow]:
        """An import's quarantine, for its owning agency only (others learn nothing of it)."""
        with self._uow(read_only=True) as uow:
            imports = ImportRepository(uow.session)
            row = imports.get(import_id)
            if row is None or row.owner_agency_id != principal.agency_id:
                raise NotFound(f"no import '{import_id}'")
            return imports.quarantined(import_id)

    def quarantined(self, import_id: str) -> list[QuarantineRow]:
        with self._uow(read_only=True) as uow:
            return ImportRepository(uow.session).quarantined(import_id)

    def imports_of(self, principal: Principal, *, limit: int = 100) -> list[ImportRow]:
        """The caller's agency's imports, latest first."""
        principal.require(Permission.RECORD_WRITE)
        with self._uow(read_only=True) as uow:
            return ImportRepository(uow.session).of_agency(principal.agency_id, limit=limit)

    # -- review: nothing leaves quarantine without a person's decision and its reason --------

    def release(
        self, import_id: str, item_id: str, record: BaseModel, kind: str, note: str, principal: Principal
    ) -> str:
        """Store a corrected record for a quarantined item (its owner's agency only): the
        record carries the import's format and the item's location as provenance, and the
        item is closed with the record's id. Returns the record's id."""
        principal.require(Permission.RECORD_WRITE)
        item, source = self._open_item(import_id, item_id, principal)
        service = self._records[kind]
        if service.feature.check_owner is not None:
            service.feature.check_owner(record, principal)
        if service.feature.check_content is not None:
            service.feature.check_content(record)
        new = NewRecord(
            content=record,
            owner_agency_id=principal.agency_id,
            owner_country=principal.country,
            provenance=Provenance(source_format=source, source_id=f"{import_id}/{item.location}"[:500]),
            id=new_id(),
        )
        service.create_many([new], actor=actor_of(principal))
        self._close(item_id, "released", new.id or "", principal, AuditTag.QUARANTINE_RELEASED, note, kind=kind)
        return new.id or ""

    def discard(self, import_id: str, item_id: str, reason: str, principal: Principal) -> None:
        """Close a quarantined item without a record, with the reason (it stays, as received)."""
        principal.require(Permission.RECORD_WRITE)
        self._open_item(import_id, item_id, principal)
        self._close(item_id, "discarded", reason, principal, AuditTag.QUARANTINE_DISCARDED, reason)

    def _open_item(self, import_id: str, item_id: str, principal: Principal) -> tuple[QuarantineRow, str]:
        with self._uow(read_only=True) as uow:
            imports = ImportRepository(uow.session)
            run = imports.get(import_id)
            item = imports.quarantined_item(item_id)
            if run is None or run.owner_agency_id != principal.agency_id or item is None or item.import_id != import_id:
                raise NotFound(f"no quarantined item '{item_id}' in an import of your agency")
            if item.status != "open":
                raise Conflict(f"the item was {item.status} already ({item.resolution})")
            uow.session.expunge(item)
            return item, run.format

    def _close(
        self,
        item_id: str,
        status: str,
        resolution: str,
        principal: Principal,
        tag: AuditTag,
        note: str,
        kind: str | None = None,
    ) -> None:
        with self._uow() as uow:
            closed = ImportRepository(uow.session).close(
                item_id, status=status, resolution=resolution, by=principal.id, at=dt.datetime.now(dt.UTC)
            )
            if not closed:  # someone else decided in the meantime
                raise Conflict("the item was reviewed by someone else in the meantime")
            record_ids = [resolution] if status == "released" else []
            details = {"item": item_id, "note": note}
            event = EventDraft(tag, actor_of(principal), record_kind=kind, record_ids=record_ids, details=details)
            self._audit.add(uow, [event])
            uow.commit()


def _kept(rejection: Rejection) -> QuarantinedItem:
    """A rejected item as the quarantine keeps it. Text is stored as received, but for NUL
    (U+0000), which PostgreSQL cannot store in text: it becomes U+FFFD, and the item's
    errors name every offset where the raw item held one, so the item as received can
    still be rebuilt (and a NUL in a file is reported, not lost)."""
    errors = [{name: _nul_free(text) for name, text in error.as_dict().items()} for error in rejection.errors]
    if "\x00" in rejection.raw:
        offsets = [str(at) for at, character in enumerate(rejection.raw) if character == "\x00"]
        shown = ", ".join(offsets[:100]) + (f" and {len(offsets) - 100} more" if len(offsets) > 100 else "")
        errors.append({"field": "raw", "reason": f"held NUL (U+0000) at offsets {shown}, kept as U+FFFD"})
    return QuarantinedItem(
        id=new_id(),
        location=_nul_free(rejection.location),
        field=_nul_free(rejection.field),
        reason=_nul_free(rejection.reason),
        errors=errors,
        raw=_nul_free(rejection.raw),
    )


def _nul_free(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _remaining_bytes(stream: IO[bytes]) -> int | None:
    """How many bytes are left to read in ``stream``, where it can tell (a file, a buffer)."""
    try:
        position = stream.tell()
        if hasattr(stream, "fileno"):
            with contextlib.suppress(OSError, io.UnsupportedOperation):
                return os.fstat(stream.fileno()).st_size - position
        if stream.seekable():
            end = stream.seek(0, io.SEEK_END)
            stream.seek(position)
            return end - position
    except (OSError, ValueError):
        pass
    return None


def _provenance(item: Accepted, summary: ImportSummary) -> Provenance:
    provenance = item.provenance or getattr(item.record, "provenance", None)
    return provenance if isinstance(provenance, Provenance) else Provenance(source_format=summary.format)


def _stored_form(request: NoticeRequest) -> dict[str, Any]:
    """A request as the notice service stores it (a Notice read by an adapter loses its status)."""
    content = NoticeRequest.model_validate(request.model_dump(include=set(NoticeRequest.model_fields)))
    return content.model_dump(mode="json")


def _notice_keys(content: Mapping[str, Any]) -> dict[str, str]:
    """What makes two notice requests of one agency the same, each with how to say it: the
    INTERPOL reference of their subject (the entity id of an imported INTERPOL notice) for
    the same type and channel, or exactly the same content."""
    keys: dict[str, str] = {}
    subject = content.get("subject")
    identifiers = subject.get("identifiers") if isinstance(subject, Mapping) else None
    for identifier in identifiers if isinstance(identifiers, list) else []:
        if isinstance(identifier, Mapping) and identifier.get("kind") == IdentifierKind.INTERPOL_REFERENCE.value:
            value = str(identifier.get("value"))
            kind = f"{content.get('channel')}:{content.get('notice_type')}"
            keys[f"interpol_reference:{kind}:{value}"] = f"INTERPOL reference {value}"
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    keys["content:" + hashlib.sha256(canonical.encode()).hexdigest()] = "the same content"
    return keys
