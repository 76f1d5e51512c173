"""Manifest screenings: a passenger list (CSV or JSON, up to millions of rows) checked row by
row in the background, with progress, results that stream as they are written, and a
summary.

The manifest is spooled to the node's data folder before the job is accepted; a worker
reads it in chunks of ``CHUNK`` rows, checks each chunk's documents and persons through
the same paths as the online checks (so the same policy filters every candidate, the same
audit events and hits are written, one per chunk), appends one JSON line per row to the
results file, then records its progress. Every row gets exactly one result line, in
order, bad rows included (with their line number and errors). A node that stops mid-job
resumes it where the last recorded chunk ended: the results file is cut back to the rows
recorded, and those rows are not checked twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, update

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import AuditTag
from polex.domain.base import new_id
from polex.domain.policy import Purpose
from polex.domain.roles import Permission
from polex.errors import FieldError, NotFound, PolexError, ValidationFailed
from polex.screening.manifest import FORMATS, ManifestRow, rows
from polex.screening.service import DEFAULT_MATCH_THRESHOLD, ScreeningService
from polex.storage.tables import ScreeningRow
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.screening")

CHUNK = 500


class Status:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ScreeningJobs:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        screening: ScreeningService,
        principal_of: Callable[[str], Principal],
        folder: Path,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._screening = screening
        self._principal_of = principal_of
        self.folder = folder
        self.on_submitted: Callable[[], None] = lambda: None  # wakes the worker

    def manifest_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.manifest"

    def results_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.results.jsonl"

    # -- the requester's side -------------------------------------------------------------

    def submit(
        self,
        spooled: Path,
        principal: Principal,
        *,
        purpose: Purpose,
        format_name: str,
        source: str,
        case_reference: str | None = None,
        threshold: float = DEFAULT_MATCH_THRESHOLD,
        candidates: int = 5,
    ) -> ScreeningRow:
        """Accept a manifest already spooled to ``spooled``; the job runs in the background."""
        principal.require(Permission.RECORD_READ)
        if format_name not in FORMATS:
            spooled.unlink(missing_ok=True)
            raise ValidationFailed(
                "unknown manifest format", errors=[FieldError("format", f"one of {', '.join(FORMATS)}")]
            )
        job_id = new_id()
        self.folder.mkdir(parents=True, exist_ok=True)
        spooled.rename(self.manifest_path(job_id))
        job = ScreeningRow(
            id=job_id,
            user_id=principal.id,
            agency_id=principal.agency_id,
            country=principal.country,
            purpose=purpose.value,
            case_reference=case_reference,
            format=format_name,
            source=source[:255],
            threshold=threshold,
            candidates=candidates,
            status=Status.QUEUED,
            bytes_total=self.manifest_path(job_id).stat().st_size,
            bytes_done=0,
            rows_done=0,
            rows_with_errors=0,
            document_hits=0,
            person_matches=0,
            hub_online_rows=0,
            hub_replica_rows=0,
            hub_unchecked_rows=0,
            created_at=dt.datetime.now(dt.UTC),
        )
        with self._uow() as uow:
            uow.session.add(job)
            self._audit.add(
                uow,
                [
                    EventDraft(
                        AuditTag.SCREENING_SUBMITTED,
                        actor_of(principal),
                        details={"screening": job_id, "format": format_name, "bytes": job.bytes_total},
                        purpose=purpose.value,
                        case_reference=case_reference,
                    )
                ],
            )
            uow.commit()
        self.on_submitted()
        return job

    def job(self, job_id: str, principal: Principal) -> ScreeningRow:
        """A job of the caller's agency (another agency's is answered as missing)."""
        principal.require(Permission.RECORD_READ)
        with self._uow(read_only=True) as uow:
            job = uow.session.get(ScreeningRow, job_id)
        if job is None or job.agency_id != principal.agency_id:
            raise NotFound(f"no screening '{job_id}' of your agency")
        return job

    def jobs(self, principal: Principal, *, limit: int = 50) -> list[ScreeningRow]:
        principal.require(Permission.RECORD_READ)
        with self._uow(read_only=True) as uow:
            return list(
                uow.session.scalars(
                    select(ScreeningRow)
                    .where(ScreeningRow.agency_id == principal.agency_id)
                    .order_by(ScreeningRow.created_at.desc())
                    .limit(limit)
                )
            )

    def results(self, job_id: str, principal: Principal, *, after: int = 0) -> Iterator[bytes]:
        """The result lines written so far after the first ``after`` (audited as a read)."""
        job = self.job(job_id, principal)
        self._audit.record(
            [
                EventDraft(
                    AuditTag.SCREENING_RESULTS_READ,
                    actor_of(principal),
                    details={"screening": job.id, "after": after},
                )
            ]
        )
        return self.lines(job.id, after, job)

    def lines(self, job_id: str, after: int, job: ScreeningRow) -> Iterator[bytes]:
        """Result lines after the first ``after``, up to those the job recorded as done."""
        upto = None if job.status == Status.DONE else job.rows_done
        path = self.results_path(job_id)
        if not path.exists():
            return
        with path.open("rb") as results:
            for position, line in enumerate(results):
                if upto is not None and position >= upto:
                    return  # written but not yet recorded: it may be written again
                if position >= after:
                    yield line

    # -- the worker ---------------------------------------------------------------------

    def run_pending(self) -> int:
        """Run every queued job (and resume any left running), oldest first; returns how many."""
        done = 0
        while True:
            # Looked for first without SQLite's write lock: an idle node polls every few
            # seconds, and a writing transaction would make the checks' audit commits wait.
            with self._uow(read_only=True) as uow:
                waiting = uow.session.scalar(
                    select(ScreeningRow.id).where(ScreeningRow.status.in_((Status.QUEUED, Status.RUNNING))).limit(1)
                )
            if waiting is None:
                return done
            with self._uow() as uow:
                job = uow.session.scalars(
                    select(ScreeningRow)
                    .where(ScreeningRow.status.in_((Status.QUEUED, Status.RUNNING)))
                    .order_by(ScreeningRow.created_at)
                    .limit(1)
                ).first()
                if job is None:
                    return done
                if job.status == Status.QUEUED:
                    job.status = Status.RUNNING
                    job.started_at = dt.datetime.now(dt.UTC)
                uow.commit()
            self.run(job.id)
            done += 1

    def run(self, job_id: str, *, principal: Principal | None = None) -> None:
        """Run one job to its end, as its requester (reloaded now: a requester disabled since
        it was submitted fails it) or as ``principal`` (an operator at the node's console)."""
        with self._uow(read_only=True) as uow:
            job = uow.session.get(ScreeningRow, job_id)
        if job is None:
            return
        try:
            self._process(job, principal or self._principal_of(job.user_id))
        except PolexError as error:  # the requester was disabled, lost the permission, ...
            self._finish(job.id, Status.FAILED, error.detail)
        except (OSError, UnicodeError) as error:
            log.exception("screening %s failed", job.id)
            self._finish(job.id, Status.FAILED, f"the manifest could not be read: {error}")
        else:
            self._finish(job.id, Status.DONE, None)

    def _process(self, job: ScreeningRow, principal: Principal) -> None:
        results_path = self.results_path(job.id)
        _cut_to(results_path, job.rows_done)
        purpose = Purpose(job.purpose)
        with self.manifest_path(job.id).open("rb") as manifest, results_path.open("ab") as results:
            reader = rows(manifest, job.format)
            for _ in itertools.islice(reader, job.rows_done):  # recorded before a restart
                pass
            while chunk := list(itertools.islice(reader, CHUNK)):
                lines, counts = self._check_chunk(chunk, principal, purpose, job)
                results.write(b"".join(lines))
                results.flush()
                self._progress(job.id, len(chunk), counts, _position(manifest))

    def _check_chunk(
        self, chunk: list[ManifestRow], principal: Principal, purpose: Purpose, job: ScreeningRow
    ) -> tuple[list[bytes], dict[str, int]]:
        with_document = [row for row in chunk if row.document is not None]
        checked: dict[int, dict[str, Any]] = {}
        # On a national node, where the hub's records were checked for the chunk's documents
        # and persons: online, on the replica, or not at all (said on every row it concerns).
        documents_note: dict[str, Any] = {}
        if with_document:
            answers = self._screening.check_documents(
                [row.document or {} for row in with_document],
                principal,
                purpose=purpose,
                case_reference=job.case_reference,
                note=documents_note,
                batch=True,
            )
            checked = {row.line: answer for row, answer in zip(with_document, answers, strict=True)}
        with_person = [row for row in chunk if row.person is not None]
        matched: dict[int, list[dict[str, Any]]] = {}
        persons_note: dict[str, Any] = {}
        if with_person:
            found = self._screening.match_batch(
                [row.person for row in with_person if row.person is not None],
                principal,
                purpose=purpose,
                case_reference=job.case_reference,
                limit=job.candidates,
                threshold=job.threshold,
                note=persons_note,
            )
            matched = {row.line: candidates for row, candidates in zip(with_person, found, strict=True)}
        documents_hub = self._screening.hub_checked(documents_note, purpose)
        persons_hub = self._screening.hub_checked(persons_note, purpose)
        lines: list[bytes] = []
        counts = {"errors": 0, "document_hits": 0, "person_matches": 0, **dict.fromkeys(_HUB_COUNTS.values(), 0)}
        for row in chunk:
            document = checked.get(row.line)
            errors = [error.as_dict() for error in row.errors]
            if document is not None and document.get("hit") is None:
                errors += [
                    {"field": _column(error["field"]), "reason": error["reason"]}
                    for error in document.get("error", {}).get("errors", [])
                ]
            candidates = matched.get(row.line, [])
            document_hit = bool(document and document.get("hit"))
            person_match = any(candidate["match"] for candidate in candidates)
            checked_something = (document is not None and document.get("hit") is not None) or row.person is not None
            status = "ok" if not errors else ("partial" if checked_something else "error")
            counts["errors"] += bool(errors)
            counts["document_hits"] += document_hit
            counts["person_matches"] += person_match
            result = {
                "line": row.line,
                "ref": row.ref,
                "status": status,
                "hit": document_hit or person_match,
                "document": document if document is not None and document.get("hit") is not None else None,
                "candidates": candidates,
                "errors": errors,
            }
            hub = _least(
                documents_hub if document is not None and document.get("hit") is not None else None,
                persons_hub if row.person is not None else None,
            )
            if hub is not None:
                result["hub"] = hub
                counts[_HUB_COUNTS[hub]] += 1
            lines.append(json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        return lines, counts

    def _progress(self, job_id: str, rows_done: int, counts: dict[str, int], position: int) -> None:
        with self._uow() as uow:
            uow.session.execute(
                update(ScreeningRow)
                .where(ScreeningRow.id == job_id)
                .values(
                    rows_done=ScreeningRow.rows_done + rows_done,
                    rows_with_errors=ScreeningRow.rows_with_errors + counts["errors"],
                    document_hits=ScreeningRow.document_hits + counts["document_hits"],
                    person_matches=ScreeningRow.person_matches + counts["person_matches"],
                    hub_online_rows=ScreeningRow.hub_online_rows + counts["hub_online_rows"],
                    hub_replica_rows=ScreeningRow.hub_replica_rows + counts["hub_replica_rows"],
                    hub_unchecked_rows=ScreeningRow.hub_unchecked_rows + counts["hub_unchecked_rows"],
                    bytes_done=position,
                )
            )
            uow.commit()

    def _finish(self, job_id: str, status: str, error: str | None) -> None:
        with self._uow() as uow:
            job = uow.session.get(ScreeningRow, job_id)
            if job is not None:
                job.status = status
                job.error = error
                job.finished_at = dt.datetime.now(dt.UTC)
                if status == Status.DONE:
                    job.bytes_done = job.bytes_total
            uow.commit()


def hub_summary(job: ScreeningRow) -> dict[str, Any]:
    """On a national node: how many rows had the hub's records checked online, on the replica,
    or not at all (nothing on a node that asks no hub)."""
    counts = {"online": job.hub_online_rows, "replica": job.hub_replica_rows, "unchecked": job.hub_unchecked_rows}
    return {"hub": counts} if any(counts.values()) else {}


# Where a row's hub records were checked, and the job's count of such rows.
_HUB_COUNTS = {"online": "hub_online_rows", "replica": "hub_replica_rows", "none": "hub_unchecked_rows"}
_HUB_ORDER = ("none", "replica", "online")


def _least(*places: str | None) -> str | None:
    """The weaker of where a row's document and its person were checked at the hub: a row
    is as fully checked as its least checked part."""
    known = [place for place in places if place is not None]
    return min(known, key=_HUB_ORDER.index) if known else None


_DOCUMENT_COLUMNS = {"number": "document_number", "country": "document_country", "type": "document_type"}


def _column(field: str) -> str:
    """A check's field (``documents[7].country``: its place in the chunk) as the manifest's
    column (``document_country``)."""
    inner = field.split("].", 1)[-1]
    head, _, rest = inner.partition(".")
    column = _DOCUMENT_COLUMNS.get(head, head)
    return f"{column}.{rest}" if rest else column


def _position(stream: IO[bytes]) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0


def _cut_to(path: Path, lines: int) -> None:
    """Keep the first ``lines`` lines of the results (those recorded as done)."""
    if not path.exists():
        return
    with path.open("r+b") as results:
        offset = 0
        for line in itertools.islice(results, lines):
            offset += len(line)
        results.truncate(offset)
