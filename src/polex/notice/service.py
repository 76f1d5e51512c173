"""The notice lifecycle: drafts, requests, the hub's review, publication, updates,
suspension, cancellation, extension and expiry, each step recorded, audited and told.

Two tables carry a notice. ``notices`` holds it through its whole life as its source wrote
it, with its pre-check findings and its history (``notice_transitions``). A notice in force
is also a record (``records``, kind ``notice``, same id), written in the same transaction
as the step that put it in force, and withdrawn (a tombstone) in the transaction that takes
it out: that copy is what the policy engine, the screening indexes, the national replicas
and the public extract see, so a draft or a refused request never reaches any of them.

Who may do what is the lifecycle's (``polex.domain.notice.TRANSITIONS``): the source
agency drafts, submits, updates, cancels and extends; the hub's reviewers approve, refuse,
return, suspend, reinstate and cancel; the node's clock expires notices and asks sources to
review them six months ahead. An action the lifecycle does not allow is refused with the
reason, and nothing changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import Actor, AuditTag
from polex.domain.base import Owner, Provenance, Restrictions, new_id
from polex.domain.decisions import Requester
from polex.domain.notice import (
    REVIEW_BEFORE_EXPIRY,
    Action,
    AttachmentKind,
    Channel,
    Initiator,
    InvalidTransition,
    Notice,
    NoticeRequest,
    NoticeStatus,
    transition_for,
    validity_end,
)
from polex.domain.notice_checks import PossibleDuplicate, precheck
from polex.domain.policy import Purpose
from polex.domain.roles import Permission
from polex.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionRequired,
    StaleVersion,
    ValidationFailed,
)
from polex.events import EventHub
from polex.notice.feature import notice_label, project_notice
from polex.notice.schemas import FileRead, NoticeRead, TransitionRead
from polex.notice.types import NoticeTypes
from polex.policy.service import PolicyService
from polex.record.service import ListFilters, RecordService, facts_of
from polex.screening.persons import PersonWatchlist, person_queries, record_of
from polex.storage.tables import AgencyRow, NoticeCounterRow, NoticeFileRow, NoticeRow, NoticeTransitionRow, RecordRow
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.notice")

MAX_FILE_BYTES = 10 * 1_048_576  # photos and scanned warrants; bigger files travel as message attachments
FILE_TYPES = {
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "application/pdf",
    "application/octet-stream",
}
DUPLICATE_THRESHOLD = 0.85
SYSTEM = Actor(kind="system", name="notice-clock")

_ACTION_TAGS: dict[Action, AuditTag] = {
    Action.SUBMIT: AuditTag.NOTICE_SUBMITTED,
    Action.ISSUE: AuditTag.NOTICE_ISSUED,
    Action.APPROVE: AuditTag.NOTICE_APPROVED,
    Action.REFUSE: AuditTag.NOTICE_REFUSED,
    Action.RETURN: AuditTag.NOTICE_RETURNED,
    Action.UPDATE: AuditTag.NOTICE_UPDATED,
    Action.SUSPEND: AuditTag.NOTICE_SUSPENDED,
    Action.REINSTATE: AuditTag.NOTICE_REINSTATED,
    Action.CANCEL: AuditTag.NOTICE_CANCELLED,
    Action.EXTEND: AuditTag.NOTICE_EXTENDED,
    Action.EXPIRE: AuditTag.NOTICE_EXPIRED,
    Action.REVIEW_REQUESTED: AuditTag.NOTICE_REVIEW_REQUESTED,
}


@dataclass(frozen=True)
class NoticeFilters:
    scope: str = "in_force"  # in_force | mine | review
    status: str | None = None
    notice_type: str | None = None
    channel: str | None = None
    owner_country: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class StoredFile:
    media_type: str
    data: bytes
    name: str | None


class NoticeService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        policy: PolicyService,
        records: RecordService,
        types: NoticeTypes,
        events: EventHub,
        *,
        is_hub: bool,
        watchlist: PersonWatchlist | None = None,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._policy = policy
        self._records = records
        self.types = types
        self._events = events
        self._is_hub = is_hub
        self._watchlist = watchlist
        # Told, after the commit, of every notice record put in force, changed or withdrawn
        # (the hub pushes them to the national replicas).
        self.dissemination_listeners: list[Callable[[Sequence[str]], None]] = []

    # -- drafting -----------------------------------------------------------------------

    def create(
        self, request: NoticeRequest, principal: Principal, *, restrictions: Restrictions | None = None
    ) -> NoticeRead:
        """A new draft owned by the caller's agency."""
        self._require_hub_service()
        principal.require(Permission.NOTICE_REQUEST)
        spec = self.types.get(request.notice_type)
        self._check_shape(request, spec.code)
        now = dt.datetime.now(dt.UTC)
        content = NoticeRequest.model_validate(request.model_dump(include=set(NoticeRequest.model_fields)))
        self._check_attachments(content, known=set())
        row = NoticeRow(
            id=new_id(),
            channel=content.channel.value,
            notice_type=spec.code,
            status=NoticeStatus.DRAFT.value,
            reference=None,
            owner_agency_id=principal.agency_id,
            owner_country=principal.country,
            label=notice_label(Notice.model_validate(content.model_dump())),
            content=content.model_dump(mode="json"),
            restrictions=(restrictions or Restrictions()).model_dump(mode="json"),
            findings=[],
            version=1,
            created_at=now,
            updated_at=now,
        )
        with self._uow() as uow:
            uow.session.add(row)
            uow.flush()
            self._transition(uow.session, row, Action.UPDATE, None, principal, now, reason=None, detail="drafted")
            self._audit.add(uow, [self._event(AuditTag.NOTICE_CREATED, principal, row)])
            uow.commit()
        return self._read_source(row, history=[])

    def update(
        self,
        notice_id: str,
        request: NoticeRequest,
        principal: Principal,
        *,
        version: int | None,
        restrictions: Restrictions | None = None,
    ) -> NoticeRead:
        """Replace the request (a draft, a returned request, or a notice in force; the
        copy in force follows in the same transaction and reaches every node)."""
        principal.require(Permission.NOTICE_REQUEST)
        expected = self._expected(version)
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = self._own(uow.session, notice_id, principal)
            self._fresh(row, expected)
            try:
                transition_for(Action.UPDATE, Channel(row.channel), NoticeStatus(row.status))
            except InvalidTransition as error:
                raise Conflict(str(error), errors=[FieldError("status", str(error))]) from error
            if request.notice_type != row.notice_type or request.channel.value != row.channel:
                raise ValidationFailed(
                    "a notice keeps its type and channel; draft a new one instead",
                    errors=[FieldError("notice_type", f"is '{row.notice_type}' ({row.channel})")],
                )
            content = NoticeRequest.model_validate(request.model_dump(include=set(NoticeRequest.model_fields)))
            self._check_shape(content, row.notice_type)
            self._check_attachments(content, known=self._file_ids(uow.session, row.id))
            row.content = content.model_dump(mode="json")
            if restrictions is not None:
                row.restrictions = restrictions.model_dump(mode="json")
            row.label = notice_label(self._notice(row))
            in_force = row.status == NoticeStatus.PUBLISHED.value
            if in_force:
                row.findings = self._findings(row, now)
            self._bump(row, now)
            self._transition(uow.session, row, Action.UPDATE, NoticeStatus(row.status), principal, now, reason=None)
            if in_force:
                self._put_in_force(uow.session, row, now)
            self._audit.add(uow, [self._event(AuditTag.NOTICE_UPDATED, principal, row)])
            uow.commit()
        if in_force:
            self._after_record_change(row)
            if self._is_hub:  # the hub's reviewers look again at what changed in force
                self._tell_reviewers("notice.updated", row)
        return self.get(notice_id, principal, purpose=None)

    # -- the lifecycle ------------------------------------------------------------------

    def act(
        self,
        notice_id: str,
        action: Action,
        principal: Principal,
        *,
        reason: str | None = None,
        version: int | None = None,
        valid_until: dt.date | None = None,
    ) -> NoticeRead:
        """One step of the lifecycle by a user: submit, issue, approve, refuse, return,
        suspend, reinstate, cancel or extend."""
        if action in (Action.UPDATE, Action.EXPIRE, Action.REVIEW_REQUESTED):
            raise BadRequest(f"'{action}' is not an action a user takes", errors=[FieldError("action", "unknown")])
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = self._visible_for_action(uow.session, notice_id, principal)
            if version is not None:
                self._fresh(row, version)
            try:
                transition = transition_for(action, Channel(row.channel), NoticeStatus(row.status))
            except InvalidTransition as error:
                raise Conflict(str(error), errors=[FieldError("status", str(error))]) from error
            as_hub = self._authorise(row, transition.initiator, principal)
            if transition.needs_reason and not (reason and reason.strip()):
                raise ValidationFailed(f"say why: '{action}' needs a reason", errors=[FieldError("reason", "required")])
            before = NoticeStatus(row.status)
            spec = self.types.get(row.notice_type)
            details: dict[str, Any] = {"by": "hub" if as_hub else "source"}
            if action in (Action.SUBMIT, Action.ISSUE):
                row.findings = self._findings(row, now)
                blocking = [f for f in row.findings if f["severity"] == "blocking"]
                if action is Action.ISSUE and blocking:
                    # A diffusion has no review: what a notice's reviewer would have
                    # returned, the source must fix before it goes out.
                    raise ValidationFailed(
                        "the diffusion lacks data its type requires",
                        errors=[FieldError(f["field"] or "notice", f["message"]) for f in blocking],
                        findings=row.findings,
                    )
                row.submitted_at = now
                details["findings"] = len(row.findings)
            if action is Action.EXTEND:
                self._extend(row, valid_until, spec.validity_years, now)
                details["expires_at"] = row.expires_at.isoformat() if row.expires_at else None
            if transition.target is not None:
                row.status = transition.target.value
            if transition.target is NoticeStatus.PUBLISHED and row.published_at is None:
                row.published_at = now
                row.reference = self._next_reference(uow.session, now.year, Channel(row.channel))
                row.expires_at = validity_end(now, spec.validity_years)
                row.review_due_at = row.expires_at - REVIEW_BEFORE_EXPIRY
            self._bump(row, now)
            self._transition(uow.session, row, action, before, principal, now, reason=reason, **details)
            changed = self._apply_record(uow.session, row, now)
            self._audit.add(uow, [self._event(_ACTION_TAGS[action], principal, row, **details)])
            uow.commit()
        self._after_step(row, action, before, changed)
        return self.get(notice_id, principal, purpose=None)

    def request_notice(self, diffusion_id: str, principal: Principal) -> NoticeRead:
        """A new notice request drafted from one of the agency's diffusions."""
        principal.require(Permission.NOTICE_REQUEST)
        with self._uow(read_only=True) as uow:
            row = self._own(uow.session, diffusion_id, principal, lock=False)
            if row.channel != Channel.DIFFUSION.value:
                raise Conflict("only a diffusion becomes a notice request", errors=[FieldError("id", "is a notice")])
            content = dict(row.content)
            restrictions = Restrictions.model_validate(row.restrictions)
        content.update(channel=Channel.NOTICE.value, recipients=None, from_diffusion=diffusion_id)
        content["attachments"] = []  # files belong to the diffusion; the request uploads its own
        return self.create(NoticeRequest.model_validate(content), principal, restrictions=restrictions)

    def sweep(self, now: dt.datetime | None = None) -> dict[str, int]:
        """The clock's work: ask sources to review notices six months before they expire,
        and expire those whose validity ended."""
        now = now or dt.datetime.now(dt.UTC)
        done = {"review_requested": 0, "expired": 0}
        with self._uow(read_only=True) as uow:
            due = list(
                uow.session.scalars(
                    select(NoticeRow.id).where(
                        NoticeRow.status == NoticeStatus.PUBLISHED.value,
                        NoticeRow.review_due_at <= now,
                        NoticeRow.review_requested_at.is_(None),
                    )
                )
            )
            ending = list(
                uow.session.scalars(
                    select(NoticeRow.id).where(
                        NoticeRow.status.in_([NoticeStatus.PUBLISHED.value, NoticeStatus.SUSPENDED.value]),
                        NoticeRow.expires_at <= now,
                    )
                )
            )
        for notice_id in due:
            if self._clock_step(notice_id, Action.REVIEW_REQUESTED, now):
                done["review_requested"] += 1
        for notice_id in ending:
            if self._clock_step(notice_id, Action.EXPIRE, now):
                done["expired"] += 1
        return done

    def _clock_step(self, notice_id: str, action: Action, now: dt.datetime) -> bool:
        with self._uow() as uow:
            row = uow.session.get(NoticeRow, notice_id, with_for_update=True)
            if row is None:
                return False
            try:
                transition = transition_for(action, Channel(row.channel), NoticeStatus(row.status))
            except InvalidTransition:
                return False  # changed since it was found
            before = NoticeStatus(row.status)
            if action is Action.REVIEW_REQUESTED:
                if row.review_requested_at is not None:
                    return False
                row.review_requested_at = now
            if transition.target is not None:
                row.status = transition.target.value
            self._bump(row, now)
            self._transition(uow.session, row, action, before, None, now, reason=None)
            changed = self._apply_record(uow.session, row, now)
            self._audit.add(
                uow,
                [
                    EventDraft(
                        tag=_ACTION_TAGS[action],
                        actor=SYSTEM,
                        record_kind="notice",
                        record_ids=[row.id],
                        details={"from": before.value, "to": row.status},
                    )
                ],
            )
            uow.commit()
        self._after_step(row, action, before, changed)
        return True

    # -- reading ------------------------------------------------------------------------

    def get(self, notice_id: str, principal: Principal, *, purpose: Purpose | None) -> NoticeRead:
        """The source and the hub's reviewers see the whole notice with its findings and
        history; anyone else sees a notice in force as the policy shows it, for the
        purpose declared, and nothing at all of the rest (the same 404 as no notice)."""
        with self._uow(read_only=True) as uow:
            row = uow.session.get(NoticeRow, notice_id)
            whole = row is not None and (
                self._is_source(row, principal)
                or (self._is_reviewer(principal) and row.status != NoticeStatus.DRAFT.value)
            )
            if row is not None and whole:
                read = self._read_source(row, history=self._history(uow.session, row.id))
        if row is not None and whole:
            if not self._is_source(row, principal):
                read.access = "reviewer"
                self._audit.record([self._event(AuditTag.NOTICE_READ, principal, row, access="reviewer")])
            return read
        if purpose is None:
            # The same answer whether the notice exists or not.
            raise BadRequest(
                "declare the purpose of this read (X-Polex-Purpose)",
                errors=[FieldError("X-Polex-Purpose", "is required to read a notice in force")],
            )
        shown = self._records.get(notice_id, principal, purpose=purpose)  # policy-filtered and audited
        return self._read_record(shown)

    def list_notices(
        self, principal: Principal, filters: NoticeFilters, *, purpose: Purpose | None, cursor: str | None, limit: int
    ) -> tuple[list[NoticeRead], str | None]:
        if filters.scope == "in_force":
            if purpose is None:
                raise BadRequest(
                    "declare the purpose of the search (X-Polex-Purpose)", errors=[FieldError("purpose", "required")]
                )
            terms = {
                name: value
                for name, value in (
                    ("notice_type", filters.notice_type),
                    ("channel", filters.channel),
                    ("name", filters.name),
                )
                if value
            }
            page = self._records.list(
                principal,
                ListFilters(owner_country=filters.owner_country, status=None, terms=terms or None),
                purpose=purpose,
                cursor=cursor,
                limit=limit,
            )
            return [self._read_record(item) for item in page.items], page.next_cursor
        if filters.scope == "mine":
            principal.require(Permission.NOTICE_REQUEST)
            where = [NoticeRow.owner_agency_id == principal.agency_id]
        elif filters.scope == "review":
            principal.require(Permission.NOTICE_REVIEW)
            self._require_hub_service()
            where = [NoticeRow.status != NoticeStatus.DRAFT.value]
        else:
            raise BadRequest(
                f"unknown scope '{filters.scope}'", errors=[FieldError("scope", "in_force, mine or review")]
            )
        if filters.status:
            where.append(NoticeRow.status == filters.status)
        if filters.notice_type:
            where.append(NoticeRow.notice_type == filters.notice_type)
        if filters.channel:
            where.append(NoticeRow.channel == filters.channel)
        if filters.owner_country:
            where.append(NoticeRow.owner_country == filters.owner_country)
        if cursor:
            where.append(NoticeRow.id < cursor)  # newest first (ids are time-ordered)
        with self._uow(read_only=True) as uow:
            rows = list(
                uow.session.scalars(select(NoticeRow).where(*where).order_by(NoticeRow.id.desc()).limit(limit + 1))
            )
        more = len(rows) > limit
        rows = rows[:limit]
        reads = [self._read_source(row, history=None) for row in rows]
        if filters.scope == "review":
            for read in reads:
                read.access = "reviewer"
        self._audit.record(
            [
                EventDraft(
                    tag=AuditTag.NOTICE_LISTED,
                    actor=actor_of(principal),
                    record_kind="notice",
                    record_ids=[row.id for row in rows],
                    result_count=len(rows),
                    details={"scope": filters.scope},
                )
            ]
        )
        return reads, (rows[-1].id if more and rows else None)

    # -- files --------------------------------------------------------------------------

    def add_file(
        self,
        notice_id: str,
        data: bytes,
        principal: Principal,
        *,
        media_type: str,
        kind: AttachmentKind,
        name: str | None,
        public: bool,
    ) -> FileRead:
        """Store a photo or document for the source's notice; the request names it in
        ``attachments`` (by the id returned) to make it part of the notice."""
        principal.require(Permission.NOTICE_REQUEST)
        if not data:
            raise ValidationFailed("the file is empty", errors=[FieldError("body", "empty")])
        if len(data) > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"a notice file is at most {MAX_FILE_BYTES} bytes")
        media_type = media_type.split(";")[0].strip().lower()
        if media_type not in FILE_TYPES:
            raise ValidationFailed(
                f"'{media_type}' is not a file type notices take",
                errors=[FieldError("Content-Type", f"one of {', '.join(sorted(FILE_TYPES))}")],
            )
        if public and (kind is not AttachmentKind.PHOTO or not media_type.startswith("image/")):
            raise ValidationFailed(
                "only photos may appear in a public extract", errors=[FieldError("public", "photos only")]
            )
        now = dt.datetime.now(dt.UTC)
        file = NoticeFileRow(
            id=new_id(),
            notice_id=notice_id,
            media_type=media_type,
            name=name,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            data=data,
            created_at=now,
        )
        with self._uow() as uow:
            row = self._own(uow.session, notice_id, principal)
            if row.status not in (NoticeStatus.DRAFT.value, NoticeStatus.RETURNED.value, NoticeStatus.PUBLISHED.value):
                raise Conflict(f"a {row.status} notice takes no new files", errors=[FieldError("status", row.status)])
            uow.session.add(file)
            self._audit.add(uow, [self._event(AuditTag.NOTICE_FILE_ADDED, principal, row, file=file.id)])
            uow.commit()
        return FileRead(
            id=file.id,
            kind=kind.value,
            media_type=media_type,
            name=name,
            sha256=file.sha256,
            size=file.size,
            public=public,
        )

    def file(self, notice_id: str, file_id: str, principal: Principal, *, purpose: Purpose | None) -> StoredFile:
        """A file of a notice the caller may see in full (the notice's attachments name it)."""
        read = self.get(notice_id, principal, purpose=purpose)
        named = {a.get("id") for a in (read.notice or {}).get("attachments") or []}
        # The source sees every file it uploaded; anyone else only those the notice, as the
        # policy shows it in full or redacted, names.
        if read.access != "source" and (read.access == "hit_only" or file_id not in named):
            raise NotFound(f"no file '{file_id}' of notice '{notice_id}'")
        with self._uow(read_only=True) as uow:
            file = uow.session.get(NoticeFileRow, file_id)
            if file is None or file.notice_id != notice_id:
                raise NotFound(f"no file '{file_id}' of notice '{notice_id}'")
            stored = StoredFile(file.media_type, bytes(file.data), file.name)
        self._audit.record(
            [
                EventDraft(
                    tag=AuditTag.NOTICE_FILE_READ,
                    actor=actor_of(principal),
                    record_kind="notice",
                    record_ids=[notice_id],
                    details={"file": file_id},
                )
            ]
        )
        return stored

    # -- internals ----------------------------------------------------------------------

    def _require_hub_service(self) -> None:
        if not self._is_hub:
            raise Forbidden(
                "notices are requested, reviewed and published at the hub; national nodes receive them in their replica"
            )

    def _check_shape(self, request: NoticeRequest, type_code: str) -> None:
        """What the model alone cannot say: fields that belong to another channel or type."""
        spec = self.types.get(type_code)
        if request.public_extract and not spec.public_extract:
            raise ValidationFailed(
                f"a {spec.code} notice has no public extract",
                errors=[FieldError("public_extract", f"only {', '.join(s.code for s in self.types.public())} may")],
            )

    @staticmethod
    def _check_attachments(request: NoticeRequest, *, known: set[str]) -> None:
        for position, attachment in enumerate(request.attachments):
            if attachment.id not in known:
                raise ValidationFailed(
                    "an attachment names a file this notice does not have",
                    errors=[FieldError(f"attachments[{position}].id", "upload the file to the notice first")],
                )

    @staticmethod
    def _file_ids(session: Any, notice_id: str) -> set[str]:
        return set(session.scalars(select(NoticeFileRow.id).where(NoticeFileRow.notice_id == notice_id)))

    @staticmethod
    def _expected(version: int | None) -> int:
        if version is None:
            raise PreconditionRequired(
                "say which version you are replacing: an If-Match header or a 'version' field",
                errors=[FieldError("version", "is required (or send If-Match)")],
            )
        return version

    @staticmethod
    def _fresh(row: NoticeRow, expected: int) -> None:
        if row.version != expected:
            raise StaleVersion(
                f"the notice is at version {row.version}, not {expected}: read it again and reapply your change",
                current_version=row.version,
            )

    @staticmethod
    def _bump(row: NoticeRow, now: dt.datetime) -> None:
        row.version += 1
        row.updated_at = now

    def _own(self, session: Any, notice_id: str, principal: Principal, *, lock: bool = True) -> NoticeRow:
        row: NoticeRow | None = session.get(NoticeRow, notice_id, with_for_update=lock)
        if row is None or row.owner_agency_id != principal.agency_id:
            raise NotFound(f"no notice '{notice_id}' of your agency: only the source changes it")
        return row

    def _visible_for_action(self, session: Any, notice_id: str, principal: Principal) -> NoticeRow:
        row: NoticeRow | None = session.get(NoticeRow, notice_id, with_for_update=True)
        if row is None or not (
            self._is_source(row, principal) or (self._is_reviewer(principal) and row.status != NoticeStatus.DRAFT.value)
        ):
            raise NotFound(f"no notice '{notice_id}'")
        return row

    @staticmethod
    def _is_source(row: NoticeRow, principal: Principal) -> bool:
        return row.owner_agency_id == principal.agency_id and principal.can(Permission.NOTICE_REQUEST)

    def _is_reviewer(self, principal: Principal) -> bool:
        return self._is_hub and principal.can(Permission.NOTICE_REVIEW)

    def _authorise(self, row: NoticeRow, initiator: Initiator, principal: Principal) -> bool:
        """Whether the caller acts as the hub; Forbidden when it may not take the step."""
        source = self._is_source(row, principal)
        reviewer = self._is_reviewer(principal)
        if initiator is Initiator.SOURCE and source:
            return False
        if initiator is Initiator.HUB and reviewer:
            return True
        if initiator is Initiator.SOURCE_OR_HUB and (source or reviewer):
            return not source
        who = {
            Initiator.SOURCE: "the source agency",
            Initiator.HUB: "a reviewer of the hub",
            Initiator.SOURCE_OR_HUB: "the source agency or a reviewer of the hub",
            Initiator.SYSTEM: "the node itself",
        }[initiator]
        raise Forbidden(f"only {who} may do this", errors=[FieldError("action", f"reserved to {who}")])

    def _extend(self, row: NoticeRow, valid_until: dt.date | None, years: int, now: dt.datetime) -> None:
        if valid_until is None:
            raise ValidationFailed("say until when", errors=[FieldError("valid_until", "required to extend")])
        new_end = dt.datetime.combine(valid_until, dt.time(23, 59, 59), tzinfo=dt.UTC)
        if row.expires_at is not None and new_end <= row.expires_at:
            raise ValidationFailed(
                "an extension ends after the current validity",
                errors=[FieldError("valid_until", f"must be after {row.expires_at.date().isoformat()}")],
            )
        limit = validity_end(max(row.expires_at or now, now), years)
        if new_end > limit:
            raise ValidationFailed(
                f"a {row.notice_type} notice is extended by at most {years} years at a time",
                errors=[FieldError("valid_until", f"must not be after {limit.date().isoformat()}")],
            )
        row.expires_at = new_end
        row.review_due_at = new_end - REVIEW_BEFORE_EXPIRY
        row.review_requested_at = None

    @staticmethod
    def _next_reference(session: Any, year: int, channel: Channel) -> str:
        counter = session.get(NoticeCounterRow, year, with_for_update=True)
        if counter is None:
            counter = NoticeCounterRow(year=year, last=0)
            session.add(counter)
        counter.last += 1
        session.flush()
        prefix = "D-" if channel is Channel.DIFFUSION else ""
        return f"{prefix}{year}/{counter.last}"

    def _notice(self, row: NoticeRow) -> Notice:
        return Notice.model_validate(
            {
                **row.content,
                "status": row.status,
                "reference": row.reference,
                "published_at": row.published_at,
                "expires_at": row.expires_at,
                "review_due_at": row.review_due_at,
            }
        )

    def _findings(self, row: NoticeRow, now: dt.datetime) -> list[dict[str, Any]]:
        request = NoticeRequest.model_validate(row.content)
        spec = self.types.get(row.notice_type)
        return [
            finding.as_dict()
            for finding in precheck(request, spec, today=now.date(), duplicates=self._duplicates(row, request))
        ]

    def _duplicates(self, row: NoticeRow, request: NoticeRequest) -> list[PossibleDuplicate]:
        """Notices and diffusions in force on the same person, by the screening matcher."""
        if self._watchlist is None or request.subject is None:
            return []
        found: dict[str, float] = {}
        for query in person_queries(request.subject.model_dump(mode="json")):
            for candidate in self._watchlist.search(query, limit=10, threshold=DUPLICATE_THRESHOLD):
                record_id = record_of(candidate.entry_id)
                if record_id != row.id:
                    found[record_id] = max(found.get(record_id, 0.0), candidate.score)
        if not found:
            return []
        with self._uow(read_only=True) as uow:
            others = {
                other.id: other
                for other in uow.session.scalars(select(NoticeRow).where(NoticeRow.id.in_(sorted(found))))
            }
        return [
            PossibleDuplicate(
                notice_id=other.id,
                reference=other.reference,
                channel=other.channel,
                notice_type=other.notice_type,
                status=other.status,
                owner_country=other.owner_country,
                score=round(found[other.id], 3),
            )
            for other in sorted(others.values(), key=lambda o: -found[o.id])
        ]

    def _transition(
        self,
        session: Any,
        row: NoticeRow,
        action: Action,
        before: NoticeStatus | None,
        principal: Principal | None,
        now: dt.datetime,
        *,
        reason: str | None,
        **details: Any,
    ) -> None:
        session.add(
            NoticeTransitionRow(
                notice_id=row.id,
                action=action.value,
                from_status=before.value if before else None,
                to_status=row.status,
                at=now,
                actor_kind=principal.kind.value if principal else "system",
                actor_id=principal.id if principal else None,
                actor_agency_id=principal.agency_id if principal else None,
                actor_country=principal.country if principal else None,
                reason=reason,
                details=details,
            )
        )

    def _event(self, tag: AuditTag, principal: Principal, row: NoticeRow, **details: Any) -> EventDraft:
        return EventDraft(
            tag=tag,
            actor=actor_of(principal),
            record_kind="notice",
            record_ids=[row.id],
            details={"status": row.status, "version": row.version, **details},
        )

    # -- the copy in force --------------------------------------------------------------

    def _apply_record(self, session: Any, row: NoticeRow, now: dt.datetime) -> bool:
        """Bring the record copy in line with the notice's status; whether it changed."""
        if row.status == NoticeStatus.PUBLISHED.value:
            self._put_in_force(session, row, now)
            return True
        record = session.get(RecordRow, row.id)
        if record is not None and record.deleted_at is None:
            record.deleted_at = now
            record.updated_at = now
            record.version += 1
            record.status = row.status
            return True
        return False

    def _put_in_force(self, session: Any, row: NoticeRow, now: dt.datetime) -> None:
        notice = self._notice(row)
        projection = project_notice(notice)
        restrictions = Restrictions.model_validate(row.restrictions)
        if notice.channel is Channel.DIFFUSION and notice.recipients is not None:
            # A diffusion reaches only the countries it names (and its own).
            named = {*notice.recipients, row.owner_country}
            allowed = named if restrictions.allowed_countries is None else named & set(restrictions.allowed_countries)
            restrictions = restrictions.model_copy(update={"allowed_countries": sorted(allowed)})
        values = {
            "content": notice.model_dump(mode="json"),
            "label": projection.label[:500],
            "key": projection.key,
            "status": projection.status,
            "terms": projection.terms_column(),
            "restrictions": restrictions.model_dump(mode="json"),
            "updated_at": now,
            "deleted_at": None,
        }
        record = session.get(RecordRow, row.id)
        if record is None:
            session.add(
                RecordRow(
                    id=row.id,
                    kind="notice",
                    owner_agency_id=row.owner_agency_id,
                    owner_country=row.owner_country,
                    version=1,
                    created_at=now,
                    provenance=Provenance(source_format="notice").model_dump(mode="json"),
                    # The notice's own validity governs it (expiry and review); the generic
                    # retention clock stays off.
                    retain_until=None,
                    **values,
                )
            )
        else:
            for name, value in values.items():
                setattr(record, name, value)
            record.version += 1

    def _after_record_change(self, row: NoticeRow) -> None:
        content = self._notice(row).model_dump(mode="json") if row.status == NoticeStatus.PUBLISHED.value else None
        for listener in self._records.change_listeners:
            try:
                listener.records_changed("notice", {row.id: content})
            except Exception:  # a listener's failure must not undo a committed step
                log.exception("notice listener failed")
        for notify in self.dissemination_listeners:
            try:
                notify([row.id])
            except Exception:
                log.exception("notice dissemination failed")
        self._tell_members(row)

    def _after_step(self, row: NoticeRow, action: Action, before: NoticeStatus, changed: bool) -> None:
        if changed:
            self._after_record_change(row)
        self._events.publish(
            "notice.status",
            {
                "id": row.id,
                "action": action.value,
                "from": before.value,
                "status": row.status,
                "reference": row.reference,
                "notice_type": row.notice_type,
            },
            permission=Permission.NOTICE_REQUEST,
            agency_id=row.owner_agency_id,
        )
        if action is Action.SUBMIT:
            self._tell_reviewers("notice.submitted", row)

    def _tell_reviewers(self, kind: str, row: NoticeRow) -> None:
        self._events.publish(
            kind,
            {"id": row.id, "notice_type": row.notice_type, "country": row.owner_country, "status": row.status},
            permission=Permission.NOTICE_REVIEW,
        )

    def _tell_members(self, row: NoticeRow) -> None:
        """Users of every agency of this node that may see the notice learn, at once, that
        it was put in force, changed or withdrawn (the stream carries only its id, type
        and reference; the notice itself is read through the API, with the policy)."""
        spec = self.types.get(row.notice_type)
        purpose = Purpose(spec.purpose)
        snapshot = self._policy.snapshot()
        with self._uow(read_only=True) as uow:
            record = uow.session.get(RecordRow, row.id)
            if record is None:
                return
            facts = facts_of(record)
            agencies = list(uow.session.execute(select(AgencyRow.id, AgencyRow.country)))
        kind = "notice.in_force" if row.status == NoticeStatus.PUBLISHED.value else "notice.withdrawn"
        for agency_id, country in agencies:
            if agency_id == row.owner_agency_id:
                continue
            decision = snapshot.decide(Requester(agency_id=agency_id, country=country, purpose=purpose), facts)
            if decision.visible:
                self._events.publish(
                    kind,
                    {
                        "id": row.id,
                        "notice_type": row.notice_type,
                        "channel": row.channel,
                        "reference": row.reference,
                        "status": row.status,
                    },
                    permission=Permission.RECORD_READ,
                    agency_id=agency_id,
                )

    # -- shaping the answers ------------------------------------------------------------

    def _history(self, session: Any, notice_id: str) -> list[TransitionRead]:
        rows = session.scalars(
            select(NoticeTransitionRow)
            .where(NoticeTransitionRow.notice_id == notice_id)
            .order_by(NoticeTransitionRow.id)
        )
        return [
            TransitionRead(
                action=Action(step.action),
                from_status=step.from_status,
                to_status=step.to_status,
                at=step.at,
                actor_kind=step.actor_kind,
                actor_agency_id=step.actor_agency_id,
                actor_country=step.actor_country,
                reason=step.reason,
                details=step.details or {},
            )
            for step in rows
        ]

    def _read_source(self, row: NoticeRow, *, history: list[TransitionRead] | None) -> NoticeRead:
        return NoticeRead(
            id=row.id,
            channel=row.channel,
            notice_type=row.notice_type,
            status=row.status,
            reference=row.reference,
            owner=Owner(agency_id=row.owner_agency_id, country=row.owner_country),
            version=row.version,
            access="source",
            created_at=row.created_at,
            updated_at=row.updated_at,
            submitted_at=row.submitted_at,
            published_at=row.published_at,
            expires_at=row.expires_at,
            review_due_at=row.review_due_at,
            restrictions=Restrictions.model_validate(row.restrictions),
            notice=dict(row.content),
            findings=list(row.findings or []),
            history=history,
        )

    @staticmethod
    def _read_record(shown: Mapping[str, Any]) -> NoticeRead:
        """A notice in force as the policy showed it to someone other than its source."""
        access = shown.get("access") or {}
        outcome = access.get("outcome", "full") if isinstance(access, Mapping) else str(access)
        withheld = list(access.get("removed_fields") or []) if isinstance(access, Mapping) else []
        envelope = {
            "id",
            "kind",
            "schema",
            "owner",
            "restrictions",
            "provenance",
            "created_at",
            "updated_at",
            "version",
            "access",
        }
        lifecycle = {"status", "reference", "published_at", "expires_at", "review_due_at"}
        content = {k: v for k, v in shown.items() if k not in envelope | lifecycle}
        return NoticeRead(
            id=shown["id"],
            channel=shown.get("channel") or "notice",
            notice_type=shown.get("notice_type") or "",
            status=shown.get("status") or NoticeStatus.PUBLISHED.value,
            reference=shown.get("reference"),
            owner=Owner.model_validate(shown["owner"]),
            version=int(shown.get("version") or 1),
            access=outcome,
            published_at=shown.get("published_at"),
            expires_at=shown.get("expires_at"),
            notice=content if outcome != "hit_only" else None,
            withheld=withheld,
        )


def check_request(body: Mapping[str, Any]) -> NoticeRequest:
    """A request body as the model reads it, or a 422 naming each field (CLI input)."""
    try:
        return NoticeRequest.model_validate(body)
    except ValidationError as error:
        raise ValidationFailed(
            "the notice is not valid",
            errors=[FieldError(".".join(str(p) for p in e["loc"]) or "notice", e["msg"]) for e in error.errors()],
        ) from error
