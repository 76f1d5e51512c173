"""Streams an outside format into records of the common schema.

Records are stored in batches, each batch one transaction with its audit event. Items the
adapter rejects, and records the store refuses (a document already reported, one the
importing agency may not own), go to quarantine exactly as received, with the field and
the reason: nothing is dropped and nothing is half-written. A batch that meets a
duplicate is retried record by record, so one duplicate does not cost its neighbours.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import BaseModel

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import Actor, AuditTag
from polex.domain.base import Provenance, RecordKind, new_id
from polex.domain.records import RECORD_TYPES
from polex.domain.roles import Permission
from polex.errors import AlreadyExists, Conflict, NotFound, PolexError
from polex.formats.registry import Accepted, FormatAdapter, Rejection
from polex.ingest.repository import ImportRepository
from polex.record.service import NewRecord, RecordService
from polex.storage.tables import ImportRow, QuarantineRow
from polex.storage.unit_of_work import UnitOfWorkFactory

BATCH = 1000
log = logging.getLogger(__name__)


def kind_of(record: BaseModel) -> str | None:
    """The record kind a model read by an adapter is (or extends)."""
    for record_type in RECORD_TYPES.values():
        if isinstance(record, record_type.content):
            return record_type.kind.value
    return None


@dataclass
class ImportSummary:
    id: str
    format: str
    accepted: int = 0
    rejected: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # "field: reason" to how often


class ImportService:
    def __init__(self, uow: UnitOfWorkFactory, records: Mapping[str, RecordService], audit: AuditTrail) -> None:
        self._uow = uow
        self._records = records
        self._audit = audit
        # One import at a time in the background: imports are I/O and database bound, and a
        # second would only compete with the first for SQLite's single writer.
        self._workers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="polex-import")
        self._stopping = threading.Event()

    def run(
        self,
        adapter: FormatAdapter,
        stream: IO[bytes],
        *,
        source: str,
        owner: Principal,
        batch_size: int = BATCH,
        import_id: str | None = None,
    ) -> ImportSummary:
        """Import everything ``adapter`` reads from ``stream`` for the ``owner`` agency. The
        import's row shows its counts growing batch by batch while it runs."""
        summary = ImportSummary(id=import_id or new_id(), format=adapter.name)
        if import_id is None:
            self._begin(summary, source, owner)
        try:
            self._read_all(adapter, stream, owner, summary, batch_size)
        except Exception as error:
            self._end(summary, "failed", f"{type(error).__name__}: {error}"[:2000])
            raise
        self._end(summary, "interrupted" if self._stopping.is_set() else "finished", None)
        return summary

    def _read_all(
        self, adapter: FormatAdapter, stream: IO[bytes], owner: Principal, summary: ImportSummary, batch_size: int
    ) -> None:
        actor = actor_of(owner)
        pending: list[tuple[Accepted, NewRecord]] = []
        rejections: list[Rejection] = []
        for result in adapter.read(stream):
            if isinstance(result, Rejection):
                rejections.append(result)
            else:
                kind = kind_of(result.record)
                if kind is None:
                    reason = f"polex stores no {type(result.record).__name__}"
                    rejections.append(self._refused(result, "record", reason))
                    continue
                pending.append((result, self._new_record(kind, result, owner, adapter.name)))
            if len(pending) >= batch_size:
                rejections.extend(self._store(pending, owner, actor, summary))
                pending = []
                self._progress(summary)
            if len(rejections) >= batch_size:
                self._quarantine(summary, rejections)
                rejections = []
                self._progress(summary)
            if self._stopping.is_set():  # the node is stopping: what is stored stays stored
                break
        rejections.extend(self._store(pending, owner, actor, summary))
        self._quarantine(summary, rejections)

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

    def start(self, adapter: FormatAdapter, spooled: Path, *, source: str, owner: Principal) -> str:
        """Import a spooled upload in the background; returns the import's id at once. The
        file is removed when the import ends, whatever its outcome."""
        summary = ImportSummary(id=new_id(), format=adapter.name)
        self._begin(summary, source, owner)

        def work() -> None:
            try:
                with spooled.open("rb") as stream:
                    self.run(adapter, stream, source=source, owner=owner, import_id=summary.id)
            except Exception:
                log.exception("import %s failed", summary.id)  # its row says failed, with the error
            finally:
                spooled.unlink(missing_ok=True)

        self._workers.submit(work)
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
        self._workers.shutdown(wait=True, cancel_futures=True)

    def run_of(self, import_id: str, principal: Principal) -> ImportRow:
        principal.require(Permission.RECORD_WRITE)
        with self._uow(read_only=True) as uow:
            row = ImportRepository(uow.session).get(import_id)
            if row is None or row.owner_agency_id != principal.agency_id:
                raise NotFound(f"no import '{import_id}'")
            uow.session.expunge(row)
            return row

    def _store(
        self, pending: Sequence[tuple[Accepted, NewRecord]], owner: Principal, actor: Actor, summary: ImportSummary
    ) -> list[Rejection]:
        """Store a batch per record kind; on a conflict, record by record. Returns refusals."""
        refused: list[Rejection] = []
        by_kind: dict[str, list[tuple[Accepted, NewRecord]]] = {}
        for item in pending:
            by_kind.setdefault(kind_of(item[1].content) or "", []).append(item)
        for kind, items in by_kind.items():
            service = self._records[kind]
            allowed = []
            for accepted, new in items:
                try:
                    if service.feature.check_owner is not None:
                        service.feature.check_owner(new.content, owner)
                except PolexError as error:
                    refused.append(self._refused(accepted, "owner", error.detail))
                    continue
                allowed.append((accepted, new))
            try:
                stored = service.create_many([new for _, new in allowed], actor=actor) if allowed else 0
            except AlreadyExists:
                stored = 0
                for accepted, new in allowed:
                    try:
                        stored += service.create_many([new], actor=actor)
                    except AlreadyExists as error:
                        refused.append(self._refused(accepted, "record", error.detail))
            summary.accepted += stored
            summary.by_kind[kind] = summary.by_kind.get(kind, 0) + stored
        return refused

    @staticmethod
    def _new_record(kind: str, result: Accepted, owner: Principal, format_name: str) -> NewRecord:
        """The record to store. Adapters may read into subclasses of the schema's types that
        also carry a stable id and provenance (FtM does); the stored content is the schema's
        type alone, and the id makes a repeated import a no-op rather than a copy."""
        content_type = RECORD_TYPES[RecordKind(kind)].content
        record = result.record
        content = content_type.model_validate(record.model_dump(include=set(content_type.model_fields)))
        provenance = result.provenance or getattr(record, "provenance", None) or Provenance(source_format=format_name)
        return NewRecord(
            content=content,
            owner_agency_id=owner.agency_id,
            owner_country=owner.country,
            provenance=provenance,
            id=getattr(record, "id", None),
        )

    @staticmethod
    def _refused(accepted: Accepted, field_name: str, reason: str) -> Rejection:
        return Rejection(field_name, reason, raw=accepted.raw, location=accepted.location)

    def _quarantine(self, summary: ImportSummary, rejections: Sequence[Rejection]) -> None:
        if not rejections:
            return
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            imports = ImportRepository(uow.session)
            for rejection in rejections:
                imports.add(
                    QuarantineRow(
                        id=new_id(),
                        import_id=summary.id,
                        location=rejection.location[:200],
                        field=rejection.field[:300],
                        reason=rejection.reason,
                        raw=rejection.raw,
                        errors=[error.as_dict() for error in rejection.errors],
                        at=now,
                    )
                )
                key = f"{rejection.field}: {rejection.reason}"[:200]
                summary.reasons[key] = summary.reasons.get(key, 0) + 1
            uow.commit()
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
