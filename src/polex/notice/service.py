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
from polex.domain.audit import Decision as AuditDecision
from polex.domain.base import Owner, Provenance, Restrictions, new_id
from polex.domain.decisions import Requester
from polex.domain.message import RoutingHeader
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
from polex.domain.roles import Permission, Role
from polex.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PolexError,
    PreconditionRequired,
    ServiceUnavailable,
    StaleVersion,
    ValidationFailed,
)
from polex.events import EventHub
from polex.message.outbound import ServiceNetwork
from polex.network.relayed import RelayedBy, relayed_principal
from polex.network.view import NetworkUnavailable
from polex.notice.feature import notice_label, project_notice
from polex.notice.relay import (
    RELAYED_ACTIONS,
    NoticeReport,
    RelayedDraft,
    RelayedFile,
    RelayedStep,
    encode_file,
    file_post,
    report_post,
    step_post,
)
from polex.notice.schemas import FileRead, NoticeRead, TransitionRead
from polex.notice.types import NoticeTypes
from polex.policy.service import PolicyService
from polex.record.service import ListFilters, RecordService, facts_of
from polex.screening.persons import PersonWatchlist, person_queries, record_of
from polex.storage.tables import (
    AgencyRow,
    AppliedEnvelopeRow,
    NoticeCounterRow,
    NoticeFileRow,
    NoticeRow,
    NoticeTransitionRow,
    RecordRow,
)
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
        network: ServiceNetwork | None = None,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._policy = policy
        self._records = records
        self.types = types
        self._events = events
        self._is_hub = is_hub
        self._watchlist = watchlist
        # The envelopes to and from the hub: a national node relays its sources' steps, the
        # hub reports back to them (None on a node outside any network).
        self._network = network
        # Told, after the commit, of every notice record put in force, changed or withdrawn
        # (the hub pushes them to the national replicas).
        self.dissemination_listeners: list[Callable[[Sequence[str]], None]] = []

    # -- drafting -----------------------------------------------------------------------

    def create(
        self,
        request: NoticeRequest,
        principal: Principal,
        *,
        restrictions: Restrictions | None = None,
        provenance: Provenance | None = None,
    ) -> NoticeRead:
        """A new draft owned by the caller's agency (at the hub, or on a national node, which
        relays it to the hub when the source submits it)."""
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
            provenance=provenance.model_dump(mode="json") if provenance is not None else None,
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
            in_force = self._replace(uow, row, request, principal, now, restrictions=restrictions)
            if in_force:
                self._relay_step(uow.session, row, Action.UPDATE, principal, reason=None, valid_until=None)
            uow.commit()
        if in_force:
            self._after_record_change(row)
            if self._is_hub:  # the hub's reviewers look again at what changed in force
                self._tell_reviewers("notice.updated", row)
        self._wake_network()
        return self.get(notice_id, principal, purpose=None)

    def _replace(
        self,
        uow: Any,
        row: NoticeRow,
        request: NoticeRequest,
        principal: Principal,
        now: dt.datetime,
        *,
        restrictions: Restrictions | None,
    ) -> bool:
        """The source's new text of its request, in the caller's transaction; whether the
        notice is in force (its record copy then follows at the hub)."""
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
        if in_force and self._is_hub:
            self._put_in_force(uow.session, row, now)
        self._audit.add(uow, [self._event(AuditTag.NOTICE_UPDATED, principal, row)])
        return in_force

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
            before, changed = self._step(uow, row, action, principal, now, reason=reason, valid_until=valid_until)
            self._relay_step(uow.session, row, action, principal, reason=reason, valid_until=valid_until)
            uow.commit()
        self._after_step(row, action, before, changed)
        self._wake_network()
        return self.get(notice_id, principal, purpose=None)

    def _step(
        self,
        uow: Any,
        row: NoticeRow,
        action: Action,
        principal: Principal,
        now: dt.datetime,
        *,
        reason: str | None,
        valid_until: dt.date | None,
    ) -> tuple[NoticeStatus, bool]:
        """One step by a user in the caller's transaction: the status before, and whether
        the record copy in force changed."""
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
        # Only the hub numbers and dates a publication; a national copy learns them from
        # the hub's report.
        if self._is_hub and transition.target is NoticeStatus.PUBLISHED and row.published_at is None:
            row.published_at = now
            row.reference = self._next_reference(uow.session, now.year, Channel(row.channel))
            row.expires_at = validity_end(now, spec.validity_years)
            row.review_due_at = row.expires_at - REVIEW_BEFORE_EXPIRY
        self._bump(row, now)
        self._transition(uow.session, row, action, before, principal, now, reason=reason, **details)
        changed = self._apply_record(uow.session, row, now)
        self._audit.add(uow, [self._event(_ACTION_TAGS[action], principal, row, **details)])
        return before, changed

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
        if not self._is_hub:
            return done  # the hub's clock rules every notice; a national copy follows its reports
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

    # -- the network: national sources and the hub ----------------------------------------

    def _relay_step(
        self,
        session: Any,
        row: NoticeRow,
        action: Action,
        principal: Principal,
        *,
        reason: str | None,
        valid_until: dt.date | None,
    ) -> None:
        """On a national node: queue the source's step (and files the hub lacks) for the
        hub in the step's transaction. Refused (and so the step is not taken) while the
        node is outside a network."""
        if self._is_hub or action not in RELAYED_ACTIONS:
            return
        if self._network is None:
            raise ServiceUnavailable("this node is in no network: notices are reviewed and published at the hub")
        try:
            hub = self._network.hub()
            draft = self._relayed_draft(session, row, principal)
            files = session.scalars(
                select(NoticeFileRow).where(NoticeFileRow.notice_id == row.id, NoticeFileRow.relayed_at.is_(None))
            ).all()
            now = dt.datetime.now(dt.UTC)
            for file in files:
                relayed = RelayedFile(
                    **draft.model_dump(),
                    file_id=file.id,
                    media_type=file.media_type,
                    name=file.name,
                    sha256=file.sha256,
                    data=encode_file(bytes(file.data)),
                )
                self._network.post(session, file_post(hub, relayed))
                file.relayed_at = now
            step = RelayedStep(
                **draft.model_dump(),
                action=action,
                reason=reason,
                valid_until=valid_until,
                source_version=row.version,
            )
            message_id = self._network.post(session, step_post(hub, step))
        except NetworkUnavailable as error:
            raise ServiceUnavailable(f"the hub cannot be addressed now: {error}") from error
        # The step's own history line says which envelope carried it (its delivery is shown).
        session.flush()
        last = session.scalars(
            select(NoticeTransitionRow)
            .where(NoticeTransitionRow.notice_id == row.id)
            .order_by(NoticeTransitionRow.id.desc())
            .limit(1)
        ).first()
        if last is not None:
            last.details = {**(last.details or {}), "sent": message_id}

    def _relayed_draft(self, session: Any, row: NoticeRow, principal: Principal) -> RelayedDraft:
        agency = session.get(AgencyRow, row.owner_agency_id)
        return RelayedDraft(
            provenance=Provenance.model_validate(row.provenance) if row.provenance else None,
            notice_id=row.id,
            request=NoticeRequest.model_validate(row.content),
            restrictions=Restrictions.model_validate(row.restrictions),
            by=RelayedBy.of(principal, agency),
        )

    def _relay_state(self, history: list[TransitionRead]) -> dict[str, Any] | None:
        """On a national node: the source's last step sent to the hub and its delivery."""
        assert self._network is not None
        for step in reversed(history):
            sent = step.details.get("sent")
            if isinstance(sent, str):
                return {"message_id": sent, "action": step.action.value, "delivery": self._network.delivery(sent)}
        return None

    def _wake_network(self) -> None:
        if self._network is not None:
            self._network.wake()

    def _report(
        self,
        row: NoticeRow,
        action: Action,
        before: NoticeStatus | None,
        *,
        by: str,
        at: dt.datetime,
        reason: str | None,
    ) -> NoticeReport:
        return NoticeReport(
            notice_id=row.id,
            action=action,
            by=by,
            at=at,
            reason=reason,
            exists=True,
            status=row.status,
            from_status=before.value if before else None,
            reference=row.reference,
            submitted_at=row.submitted_at,
            published_at=row.published_at,
            expires_at=row.expires_at,
            review_due_at=row.review_due_at,
            review_requested_at=row.review_requested_at,
            findings=list(row.findings or []),
        )

    def apply_relayed_step(self, header: RoutingHeader, body: bytes) -> None:
        """At the hub: a national source's step, as if its author acted here (same
        lifecycle, same checks), once. A refusal is reported to the source node."""
        self._apply_relayed(header, body, RelayedStep)

    def apply_relayed_file(self, header: RoutingHeader, body: bytes) -> None:
        """At the hub: a photo or document of a national source's notice, once."""
        self._apply_relayed(header, body, RelayedFile)

    def _apply_relayed(self, header: RoutingHeader, body: bytes, model: type[RelayedDraft]) -> None:
        if not self._is_hub or self._network is None:
            raise Forbidden("only the hub takes relayed notice steps")
        now = dt.datetime.now(dt.UTC)
        try:
            relayed = model.model_validate_json(body)
        except ValidationError as error:
            # Nothing to act on, and nobody to tell but the sender's operators (in the log).
            self._record_applied(header, outcome=f"not a valid {header.content_type}: {error.error_count()} errors")
            log.warning("refused a malformed %s from %s", header.content_type, header.sender)
            return
        if self._already_applied(header.id):
            return
        step = relayed if isinstance(relayed, RelayedStep) else None
        action = step.action if step is not None else Action.UPDATE
        try:
            with self._uow() as uow:
                if uow.session.get(AppliedEnvelopeRow, header.id) is not None:
                    return  # a concurrent delivery got there first
                principal = self._relayed_principal(uow.session, header.sender, relayed)
                row = self._relayed_row(uow, header.sender, relayed, principal, now)
                before, changed = NoticeStatus(row.status), False
                if isinstance(relayed, RelayedFile):
                    self._store_relayed_file(uow, row, relayed, principal, now)
                elif step is not None:
                    before, changed = self._relayed_action(uow, row, step, principal, now)
                uow.session.add(
                    AppliedEnvelopeRow(
                        message_id=header.id, sender=header.sender, content_type=header.content_type, applied_at=now
                    )
                )
                uow.commit()
        except PolexError as error:
            self._refuse_relayed(header, relayed, action, error, now)
            return
        if step is not None:
            if changed or step.action is not Action.UPDATE:
                self._after_step(row, step.action, before, changed)
            if step.action is Action.UPDATE:
                self._tell_reviewers("notice.updated", row)
        self._wake_network()

    def _relayed_principal(self, session: Any, sender: str, relayed: RelayedDraft) -> Principal:
        """The author of a relayed step, as the hub knows it: a user of an agency of the
        sender's country, with the bureau's rights on notices and nothing more."""
        assert self._network is not None
        country = self._network.country_of(sender)
        return relayed_principal(session, sender=sender, country=country, by=relayed.by, allowed={Role.NCB_OPERATOR})

    def _relayed_row(
        self, uow: Any, sender: str, relayed: RelayedDraft, principal: Principal, now: dt.datetime
    ) -> NoticeRow:
        """The hub's row of a relayed notice, opened as a draft from the request carried
        the first time the notice is heard of."""
        session = uow.session
        row: NoticeRow | None = session.get(NoticeRow, relayed.notice_id, with_for_update=True)
        if row is not None:
            if row.source_node != sender or row.owner_agency_id != principal.agency_id:
                raise NotFound(f"no notice '{relayed.notice_id}' of node '{sender}'")
            return row
        request = relayed.request
        spec = self.types.get(request.notice_type)
        self._check_shape(request, spec.code)
        row = NoticeRow(
            id=relayed.notice_id,
            channel=request.channel.value,
            notice_type=spec.code,
            status=NoticeStatus.DRAFT.value,
            reference=None,
            owner_agency_id=principal.agency_id,
            owner_country=principal.country,
            label=notice_label(Notice.model_validate(request.model_dump())),
            content=request.model_dump(mode="json"),
            restrictions=relayed.restrictions.model_dump(mode="json"),
            findings=[],
            version=1,
            created_at=now,
            updated_at=now,
            source_node=sender,
            provenance=relayed.provenance.model_dump(mode="json") if relayed.provenance else None,
        )
        session.add(row)
        session.flush()
        self._transition(
            session, row, Action.UPDATE, None, principal, now, reason=None, tell_source=False, detail="drafted"
        )
        self._audit.add(uow, [self._event(AuditTag.NOTICE_CREATED, principal, row, node=sender)])
        return row

    def _store_relayed_file(
        self, uow: Any, row: NoticeRow, relayed: RelayedFile, principal: Principal, now: dt.datetime
    ) -> None:
        if uow.session.get(NoticeFileRow, relayed.file_id) is not None:
            return
        try:
            data = relayed.content()
        except ValueError as error:
            raise ValidationFailed("the file is not base64", errors=[FieldError("data", str(error))]) from error
        if len(data) > MAX_FILE_BYTES or hashlib.sha256(data).hexdigest() != relayed.sha256:
            raise ValidationFailed(
                "the file does not match its hash or is too large", errors=[FieldError("sha256", "mismatch")]
            )
        media_type = relayed.media_type.split(";")[0].strip().lower()
        if media_type not in FILE_TYPES:
            raise ValidationFailed(
                f"'{media_type}' is not a file type notices take", errors=[FieldError("media_type", media_type)]
            )
        uow.session.add(
            NoticeFileRow(
                id=relayed.file_id,
                notice_id=row.id,
                media_type=media_type,
                name=relayed.name,
                sha256=relayed.sha256,
                size=len(data),
                data=data,
                created_at=now,
            )
        )
        self._audit.add(uow, [self._event(AuditTag.NOTICE_FILE_ADDED, principal, row, file=relayed.file_id)])

    def _relayed_action(
        self, uow: Any, row: NoticeRow, step: RelayedStep, principal: Principal, now: dt.datetime
    ) -> tuple[NoticeStatus, bool]:
        if step.action not in RELAYED_ACTIONS:
            raise Forbidden(f"'{step.action.value}' is not a source's step", errors=[FieldError("action", "hub only")])
        uow.session.flush()  # files relayed just before are in this conversation's order
        if step.action is Action.UPDATE:
            before = NoticeStatus(row.status)
            in_force = self._replace(uow, row, step.request, principal, now, restrictions=step.restrictions)
            return before, in_force
        if step.action in (Action.SUBMIT, Action.ISSUE) and row.status in (
            NoticeStatus.DRAFT.value,
            NoticeStatus.RETURNED.value,
        ):
            # The text the source submits is the text reviewed.
            content = step.request
            if content.notice_type != row.notice_type or content.channel.value != row.channel:
                raise ValidationFailed(
                    "a notice keeps its type and channel", errors=[FieldError("notice_type", row.notice_type)]
                )
            self._check_shape(content, row.notice_type)
            self._check_attachments(content, known=self._file_ids(uow.session, row.id))
            row.content = content.model_dump(mode="json")
            row.restrictions = step.restrictions.model_dump(mode="json")
            row.label = notice_label(self._notice(row))
        return self._step(uow, row, step.action, principal, now, reason=step.reason, valid_until=step.valid_until)

    def _already_applied(self, message_id: str) -> bool:
        with self._uow(read_only=True) as uow:
            return uow.session.get(AppliedEnvelopeRow, message_id) is not None

    def _record_applied(self, header: RoutingHeader, *, outcome: str | None) -> None:
        with self._uow() as uow:
            if uow.session.get(AppliedEnvelopeRow, header.id) is None:
                uow.session.add(
                    AppliedEnvelopeRow(
                        message_id=header.id,
                        sender=header.sender,
                        content_type=header.content_type,
                        applied_at=dt.datetime.now(dt.UTC),
                        outcome=outcome,
                    )
                )
                uow.commit()

    def _refuse_relayed(
        self, header: RoutingHeader, relayed: RelayedDraft, action: Action, error: PolexError, now: dt.datetime
    ) -> None:
        """Nothing of the refused step happened (its transaction rolled back): record the
        refusal once and tell the source node, with the hub's state of the notice."""
        reason = str(error)
        errors = [item.as_dict() for item in error.errors]
        assert self._network is not None
        with self._uow() as uow:
            if uow.session.get(AppliedEnvelopeRow, header.id) is not None:
                return
            uow.session.add(
                AppliedEnvelopeRow(
                    message_id=header.id,
                    sender=header.sender,
                    content_type=header.content_type,
                    applied_at=now,
                    outcome=reason[:2000],
                )
            )
            row = uow.session.get(NoticeRow, relayed.notice_id)
            if row is not None and row.source_node == header.sender:
                report = self._report(row, action, NoticeStatus(row.status), by="hub", at=now, reason=None)
            else:
                report = NoticeReport(notice_id=relayed.notice_id, action=action, by="hub", at=now, exists=False)
            report.refused, report.errors = reason, errors
            self._audit.add(
                uow,
                [
                    EventDraft(
                        tag=AuditTag.NOTICE_RELAY_REFUSED,
                        actor=Actor(kind="node", name=header.sender),
                        record_kind="notice",
                        record_ids=[relayed.notice_id],
                        decision=AuditDecision.DENIED,
                        details={"action": action.value, "reason": reason[:500], "message": header.id},
                    )
                ],
            )
            try:
                self._network.post(uow.session, report_post(header.sender, report))
            except NetworkUnavailable as unavailable:
                log.warning("notice %s: cannot tell node %s: %s", relayed.notice_id, header.sender, unavailable)
            uow.commit()
        self._wake_network()

    def apply_report(self, header: RoutingHeader, body: bytes) -> None:
        """On a national node: the hub's state of one of this node's notices after a step
        (a review decision, the clock, or the hub's answer to a relayed step), once."""
        if self._is_hub or self._network is None:
            raise Forbidden("lifecycle reports go to national nodes")
        if header.sender != self._network.hub():
            raise Forbidden("lifecycle reports come from the hub")
        try:
            report = NoticeReport.model_validate_json(body)
        except ValidationError as error:
            self._record_applied(header, outcome=f"not a valid report: {error.error_count()} errors")
            log.warning("refused a malformed notice report from %s", header.sender)
            return
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            session = uow.session
            if session.get(AppliedEnvelopeRow, header.id) is not None:
                return
            row: NoticeRow | None = session.get(NoticeRow, report.notice_id, with_for_update=True)
            outcome = None if row is not None else "no such notice here"
            before = NoticeStatus(row.status) if row is not None else None
            if row is not None:
                if report.exists and report.status is not None:
                    row.status = report.status
                    row.reference = report.reference
                    row.submitted_at = report.submitted_at
                    row.published_at = report.published_at
                    row.expires_at = report.expires_at
                    row.review_due_at = report.review_due_at
                    row.review_requested_at = report.review_requested_at
                    row.findings = report.findings
                elif report.refused:
                    # The hub holds nothing of it: the request is the source's draft again.
                    row.status = NoticeStatus.DRAFT.value
                    row.submitted_at = None
                self._bump(row, now)
                details: dict[str, Any] = {"by": report.by, "hub_at": report.at.isoformat(), "envelope": header.id}
                if report.refused:
                    details["refused"] = report.refused
                    details["errors"] = report.errors
                session.add(
                    NoticeTransitionRow(
                        notice_id=row.id,
                        action=report.action.value,
                        from_status=before.value if before else None,
                        to_status=row.status,
                        at=now,
                        actor_kind="hub" if report.by != "source" else "relayed",
                        actor_id=None,
                        actor_agency_id=None,
                        actor_country=None,
                        reason=report.reason,
                        details=details,
                    )
                )
                self._audit.add(
                    uow,
                    [
                        EventDraft(
                            tag=AuditTag.NOTICE_RELAY_REFUSED if report.refused else _ACTION_TAGS[report.action],
                            actor=Actor(kind="node", name=header.sender),
                            record_kind="notice",
                            record_ids=[row.id],
                            decision=AuditDecision.DENIED if report.refused else AuditDecision.ALLOWED,
                            details={"status": row.status, "by": report.by, "message": header.id},
                        )
                    ],
                )
            session.add(
                AppliedEnvelopeRow(
                    message_id=header.id,
                    sender=header.sender,
                    content_type=header.content_type,
                    applied_at=now,
                    outcome=outcome,
                )
            )
            uow.commit()
        if row is not None and before is not None:
            self._events.publish(
                "notice.status",
                {
                    "id": row.id,
                    "action": report.action.value,
                    "from": before.value,
                    "status": row.status,
                    "reference": row.reference,
                    "notice_type": row.notice_type,
                    "by": report.by,
                    "refused": report.refused,
                },
                permission=Permission.NOTICE_REQUEST,
                agency_id=row.owner_agency_id,
            )

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
            if not self._is_hub and self._network is not None and read.history:
                read.relay = self._relay_state(read.history)
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
        tell_source: bool = True,
        **details: Any,
    ) -> None:
        if tell_source and self._is_hub and row.source_node and self._network is not None:
            by = "system" if principal is None else ("source" if self._is_source(row, principal) else "hub")
            report = self._report(row, action, before, by=by, at=now, reason=reason)
            try:
                self._network.post(session, report_post(row.source_node, report))
            except NetworkUnavailable as error:  # the node left the network: the hub's step stands
                log.warning("notice %s: no report to node %s: %s", row.id, row.source_node, error)
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
        """Bring the record copy in line with the notice's status; whether it changed. Only
        the hub holds notice records: national nodes receive them in their replica."""
        if not self._is_hub:
            return False
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
            provenance=row.provenance,
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
