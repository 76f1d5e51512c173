"""The legal framework administered: agreements and their approvals, national rules,
country groups, suspensions; and the policy engine fed with them.

Who may do what:
- every member reads the agreements, national rules and groups (they are public law);
- an administrator proposes an agreement its country is a party to, and approves a
  version for its own country only; a new text needs every approval again;
- an administrator sets its own country's national rules, never another's;
- the hub's administrators define country groups;
- an administrator suspends users and agencies of its country; the hub's, any agency. A
  suspension the hub imposes on a national node's agency or user is copied to that node
  (``polex.policy.suspension_relay``), where only the hub's lift ends it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.crypto.envelope import EnvelopeRefused
from polex.domain.audit import Actor, AuditTag
from polex.domain.audit import Decision as AuditDecision
from polex.domain.base import new_id
from polex.domain.countries import HUB_COUNTRY, is_country_code
from polex.domain.decisions import AgreementState, Decision, PolicySet, PolicySnapshot, RecordFacts, Requester
from polex.domain.message import RoutingHeader
from polex.domain.policy import (
    ALL_MEMBERS,
    CATEGORY_OF_KIND,
    Agreement,
    AgreementKind,
    CountryGroup,
    NationalRules,
    Purpose,
    retention_deadline,
    retention_months,
)
from polex.domain.roles import Permission
from polex.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    StaleVersion,
    ValidationFailed,
)
from polex.network.view import NetworkUnavailable
from polex.policy.repository import COUNTRY_GROUP, NATIONAL_RULES, PolicyRepository
from polex.policy.schemas import (
    AgreementRead,
    AgreementStatus,
    AgreementVersionRead,
    Approval,
    CountryGroupRead,
    DryRunChange,
    DryRunReport,
    NationalRulesRead,
    SubjectKind,
    SuspensionRead,
)
from polex.policy.suspension_relay import HubSuspension, suspension_post
from polex.storage.tables import (
    AgencyRow,
    AgreementRow,
    AgreementVersionRow,
    PolicyDocumentRow,
    RecordRow,
    SuspensionRow,
    UserRow,
)
from polex.storage.unit_of_work import UnitOfWorkFactory

if TYPE_CHECKING:
    from polex.message.outbound import ServiceNetwork

log = logging.getLogger(__name__)

PURPOSE_HEADER = "X-Polex-Purpose"
# A policy set this many times its cache age is not served while a fresher one loads: the
# caller loads it (the background loads are failing, or the store is slow).
STALE_LIMIT = 5
CASE_HEADER = "X-Polex-Case"


def parse_purpose(value: str | None) -> Purpose:
    """The declared purpose of a query or read, or a 400 that says how to declare one."""
    known = ", ".join(purpose.value for purpose in Purpose)
    if not value:
        raise BadRequest(
            "declare the purpose of this query or read",
            errors=[FieldError(PURPOSE_HEADER, f"is required; one of {known}")],
        )
    try:
        return Purpose(value.strip().lower())
    except ValueError:
        raise BadRequest(
            f"'{value}' is not a purpose of processing",
            errors=[FieldError(PURPOSE_HEADER, f"must be one of {known}")],
        ) from None


def requester_of(principal: Principal, purpose: Purpose, case_reference: str | None = None) -> Requester:
    return Requester(
        agency_id=principal.agency_id,
        country=principal.country,
        purpose=purpose,
        user_id=principal.id,
        case_reference=case_reference,
    )


def agreement_state(row: AgreementRow) -> AgreementState:
    return AgreementState(
        agreement=Agreement.model_validate(row.document),
        version=row.version,
        approved_by=frozenset(approval["country"] for approval in row.approvals),
        retired=row.retired_at is not None,
    )


class PolicyService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        audit: AuditTrail,
        *,
        node_country: str,
        is_hub: bool,
        cache_seconds: float = 1.0,
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._node_country = node_country
        self._is_hub = is_hub
        # Decisions read a snapshot at most this old; changes made through this process are
        # seen at once, changes by another process (a second hub) within this delay.
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        # The policy set, and why each suspended subject is: (subject kind, id) to the words
        # its refusals give.
        self._cached: tuple[float, PolicySet, Mapping[tuple[str, str], str]] | None = None
        self._generation = 0  # bumped by invalidate: a load begun before must not be kept
        self._refresh_lock = threading.Lock()
        self._refreshing = False
        # At the hub: how suspensions of national nodes' agencies and users reach those
        # nodes (set by bootstrap once the network is wired; None: not copied).
        self.network: ServiceNetwork | None = None

    # -- the engine's input -----------------------------------------------------------

    def current(self) -> PolicySet:
        return self._current()[0]

    def _current(self) -> tuple[PolicySet, Mapping[tuple[str, str], str]]:
        """The policy set, at most ``cache_seconds`` old, or a little older while a fresher
        one loads in the background.

        Every request asks for it (the border checks' lean path on the event loop among
        them), so a caller never waits for the store when a copy is at hand: a copy past its
        age is returned as it is, and one thread loads the next. Only a copy far past its age
        (the background loads failing) or none at all (start, ``invalidate``) is loaded by
        the caller itself."""
        cached = self._cached
        if cached is not None:
            age = time.monotonic() - cached[0]
            if age < self._cache_seconds:
                return cached[1], cached[2]
            if age < self._cache_seconds * STALE_LIMIT:
                self._refresh_in_background()
                return cached[1], cached[2]
        with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() - cached[0] < self._cache_seconds:
                return cached[1], cached[2]  # loaded by another caller meanwhile
            generation = self._generation
            loaded, reasons = self._load()
            self._keep(generation, loaded, reasons)
            return loaded, reasons

    def _refresh_in_background(self) -> None:
        with self._refresh_lock:
            if self._refreshing:
                return
            self._refreshing = True
        threading.Thread(target=self._refresh, name="policy-refresh", daemon=True).start()

    def _refresh(self) -> None:
        try:
            generation = self._generation
            loaded, reasons = self._load()
            self._keep(generation, loaded, reasons)
        except Exception:  # the copy in hand stays; the next caller past its age tries again
            log.exception("reloading the policy set failed")
        finally:
            with self._refresh_lock:
                self._refreshing = False

    def _keep(self, generation: int, loaded: PolicySet, reasons: Mapping[tuple[str, str], str]) -> None:
        """Keep a loaded set, unless it was invalidated while it loaded (it may predate the
        change that invalidated it)."""
        with self._refresh_lock:
            if generation == self._generation:
                self._cached = (time.monotonic(), loaded, reasons)

    def snapshot(self, now: dt.datetime | None = None) -> PolicySnapshot:
        return self.current().snapshot(now or dt.datetime.now(dt.UTC))

    def invalidate(self) -> None:
        with self._refresh_lock:
            self._generation += 1
            self._cached = None

    def _load(self) -> tuple[PolicySet, Mapping[tuple[str, str], str]]:
        with self._uow(read_only=True) as uow:
            repository = PolicyRepository(uow.session)
            agreements = tuple(agreement_state(row) for row in repository.agreements())
            rules = {
                row.name: NationalRules.model_validate(row.document) for row in repository.documents(NATIONAL_RULES)
            }
            groups = {
                row.name: frozenset(CountryGroup.model_validate(row.document).countries)
                for row in repository.documents(COUNTRY_GROUP)
            }
            suspended = repository.suspensions(active_only=True)
        reasons: dict[tuple[str, str], str] = {}
        # The hub's words win where the subject is suspended both here and by the hub.
        for row in sorted(suspended, key=lambda item: item.imposed_by is not None):
            by = f" by the hub ({row.imposed_by})" if row.imposed_by is not None else ""
            reasons[(row.subject_kind, row.subject_id)] = f"{by} since {row.at:%Y-%m-%d %H:%M} UTC: {row.reason}"
        policy = PolicySet(
            agreements=agreements,
            national_rules=rules,
            groups=groups,
            suspended_agencies=frozenset(row.subject_id for row in suspended if row.subject_kind == SubjectKind.AGENCY),
            suspended_users=frozenset(row.subject_id for row in suspended if row.subject_kind == SubjectKind.USER),
        )
        return policy, reasons

    def retention_deadline(self, kind: str, owner_country: str, created_at: dt.datetime) -> dt.datetime:
        """When a record stored now must be reviewed or purged, by its owner country's law."""
        rules = self.current().national_rules.get(owner_country)
        return retention_deadline(created_at, retention_months(rules, CATEGORY_OF_KIND[kind]))

    def suspension_of(self, principal: Principal) -> str | None:
        """Why this principal is suspended (its own account or its agency), or None."""
        return self.suspension_for(principal.id, principal.agency_id)

    def suspension_for(self, user_id: str, agency_id: str) -> str | None:
        """Why this user is refused (its account or its agency suspended here, or by the hub
        and copied here), with who suspended it, since when and why; None if it is not."""
        policy, reasons = self._current()
        if user_id in policy.suspended_users:
            return "your account is suspended" + reasons.get((SubjectKind.USER.value, user_id), "")
        if agency_id in policy.suspended_agencies:
            return "your agency is suspended" + reasons.get((SubjectKind.AGENCY.value, agency_id), "")
        return None

    # -- agreements -------------------------------------------------------------------

    def agreements(self, principal: Principal) -> list[AgreementRead]:
        principal.require(Permission.POLICY_READ)
        with self._uow(read_only=True) as uow:
            return [self._agreement_read(row) for row in PolicyRepository(uow.session).agreements()]

    def agreement(self, agreement_id: str, principal: Principal) -> AgreementRead:
        principal.require(Permission.POLICY_READ)
        with self._uow(read_only=True) as uow:
            row = PolicyRepository(uow.session).agreement(agreement_id)
            if row is None:
                raise NotFound(f"no agreement '{agreement_id}'")
            return self._agreement_read(row)

    def agreement_versions(self, agreement_id: str, principal: Principal) -> list[AgreementVersionRead]:
        principal.require(Permission.POLICY_READ)
        with self._uow(read_only=True) as uow:
            rows = PolicyRepository(uow.session).agreement_versions(agreement_id)
            if not rows:
                raise NotFound(f"no agreement '{agreement_id}'")
            return [
                AgreementVersionRead(
                    version=row.version,
                    document=Agreement.model_validate(row.document),
                    proposed_by=row.proposed_by,
                    at=row.at,
                )
                for row in rows
            ]

    def propose(self, document: Agreement, principal: Principal) -> AgreementRead:
        """A new agreement, or a new version of one: approvals start again."""
        principal.require(Permission.POLICY_ADMIN)
        policy = self.current()
        if not self._may_draft(document, principal.country, policy):
            raise Forbidden(
                f"{principal.country} is not a party to '{document.id}': only a party's administrators propose it"
            )
        self._check_groups(document, policy)
        now = dt.datetime.now(dt.UTC)
        body = document.model_dump(mode="json")
        with self._uow() as uow:
            repository = PolicyRepository(uow.session)
            row = repository.agreement(document.id, for_update=True)
            if row is None:
                row = AgreementRow(
                    id=document.id,
                    version=1,
                    document=body,
                    approvals=[],
                    proposed_by_country=principal.country,
                    created_at=now,
                    updated_at=now,
                )
                repository.add(row)
            else:
                if row.retired_at is not None:
                    raise Conflict(f"agreement '{document.id}' is retired; propose it under a new id")
                if not self._may_draft(Agreement.model_validate(row.document), principal.country, policy):
                    # A new text is proposed by a party to the text in force, never by a
                    # country that would write itself in (or the others out).
                    raise Forbidden(f"{principal.country} is not a party to '{document.id}' as it stands")
                if row.document == body:
                    return self._agreement_read(row)  # the same text again: nothing to approve anew
                row.version += 1
                row.document = body
                row.approvals = []
                row.updated_at = now
            uow.flush()
            repository.add(
                AgreementVersionRow(
                    agreement_id=row.id, version=row.version, document=body, proposed_by=principal.id, at=now
                )
            )
            self._audit.add(
                uow,
                [self._event(AuditTag.AGREEMENT_PROPOSED, principal, {"agreement": row.id, "version": row.version})],
            )
            uow.commit()
            read = self._agreement_read(row)
        self.invalidate()
        return read

    def approve(self, agreement_id: str, version: int, principal: Principal) -> AgreementRead:
        principal.require(Permission.POLICY_ADMIN)
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = self._open_agreement(uow.session, agreement_id)
            document = Agreement.model_validate(row.document)
            if not self.current().is_party(document, principal.country):
                raise Forbidden(f"{principal.country} is not a party to '{agreement_id}': only parties approve it")
            if row.version != version:
                raise StaleVersion(
                    f"'{agreement_id}' is at version {row.version}, not {version}: read it again before approving",
                    current_version=row.version,
                )
            if any(approval["country"] == principal.country for approval in row.approvals):
                return self._agreement_read(row)
            row.approvals = [
                *row.approvals,
                {"country": principal.country, "user_id": principal.id, "at": now.isoformat()},
            ]
            row.updated_at = now
            details = {"agreement": row.id, "version": row.version, "country": principal.country}
            self._audit.add(uow, [self._event(AuditTag.AGREEMENT_APPROVED, principal, details)])
            uow.commit()
            read = self._agreement_read(row)
        self.invalidate()
        return read

    def withdraw(self, agreement_id: str, reason: str, principal: Principal) -> AgreementRead:
        """A party takes back its approval (denounces a convention it acceded to)."""
        principal.require(Permission.POLICY_ADMIN)
        with self._uow() as uow:
            row = self._open_agreement(uow.session, agreement_id)
            if not any(approval["country"] == principal.country for approval in row.approvals):
                raise Conflict(f"{principal.country} has not approved '{agreement_id}'")
            row.approvals = [approval for approval in row.approvals if approval["country"] != principal.country]
            row.updated_at = dt.datetime.now(dt.UTC)
            details = {"agreement": row.id, "version": row.version, "country": principal.country, "reason": reason}
            self._audit.add(uow, [self._event(AuditTag.AGREEMENT_WITHDRAWN, principal, details)])
            uow.commit()
            read = self._agreement_read(row)
        self.invalidate()
        return read

    def retire(self, agreement_id: str, reason: str, principal: Principal) -> AgreementRead:
        """End an agreement for every party: its proposer, a party to a bilateral treaty or a
        memorandum, or the hub."""
        principal.require(Permission.POLICY_ADMIN)
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            row = self._open_agreement(uow.session, agreement_id)
            document = Agreement.model_validate(row.document)
            may = principal.country in (row.proposed_by_country, HUB_COUNTRY) or (
                document.kind is not AgreementKind.MULTILATERAL_CONVENTION and principal.country in document.parties
            )
            if not may:
                raise Forbidden(
                    "a convention is retired by its proposer or the hub; a party leaves it by withdrawing its approval"
                )
            row.retired_at = now
            row.retired_reason = reason
            row.updated_at = now
            details = {"agreement": row.id, "version": row.version, "reason": reason}
            self._audit.add(uow, [self._event(AuditTag.AGREEMENT_RETIRED, principal, details)])
            uow.commit()
            read = self._agreement_read(row)
        self.invalidate()
        return read

    def _open_agreement(self, session: Any, agreement_id: str) -> AgreementRow:
        row = PolicyRepository(session).agreement(agreement_id, for_update=True)
        if row is None:
            raise NotFound(f"no agreement '{agreement_id}'")
        if row.retired_at is not None:
            raise Conflict(f"agreement '{agreement_id}' is retired")
        return row

    @staticmethod
    def _may_draft(document: Agreement, country: str, policy: PolicySet) -> bool:
        if country == HUB_COUNTRY and document.kind is AgreementKind.MULTILATERAL_CONVENTION:
            return True  # the hub drafts the conventions that bind the whole network (it approves only as a party)
        return policy.is_party(document, country)

    @staticmethod
    def _check_groups(document: Agreement, policy: PolicySet) -> None:
        unknown = [
            party
            for party in document.parties
            if not is_country_code(party) and party != ALL_MEMBERS and party not in policy.groups
        ]
        if unknown:
            raise BadRequest(
                f"unknown country group {', '.join(unknown)}",
                errors=[FieldError("parties", f"'{name}' is not a defined group") for name in unknown],
            )

    def _agreement_read(self, row: AgreementRow) -> AgreementRead:
        state = agreement_state(row)
        document = state.agreement
        policy = self.current()
        approved = {country for country in state.approved_by if policy.is_party(document, country)}
        named = [party for party in document.parties if is_country_code(party)]
        if document.kind is AgreementKind.MULTILATERAL_CONVENTION:
            awaiting = [country for country in named if country not in approved]
            ready = len(approved) >= 2
        else:
            awaiting = [country for country in named if country not in approved]
            ready = not awaiting
        today = dt.datetime.now(dt.UTC).date()
        if state.retired:
            status = AgreementStatus.RETIRED
        elif not ready:
            status = AgreementStatus.AWAITING_APPROVAL
        elif today < document.valid_from:
            status = AgreementStatus.NOT_YET_VALID
        elif document.valid_until is not None and today > document.valid_until:
            status = AgreementStatus.EXPIRED
        else:
            status = AgreementStatus.IN_FORCE
        return AgreementRead(
            document=document,
            version=row.version,
            status=status,
            approvals=[Approval.model_validate(approval) for approval in row.approvals],
            awaiting=awaiting,
            proposed_by_country=row.proposed_by_country,
            created_at=row.created_at,
            updated_at=row.updated_at,
            retired_at=row.retired_at,
            retired_reason=row.retired_reason,
        )

    # -- national rules and groups ----------------------------------------------------

    def national_rules(self, principal: Principal) -> list[NationalRulesRead]:
        principal.require(Permission.POLICY_READ)
        with self._uow(read_only=True) as uow:
            return [
                NationalRulesRead(
                    document=NationalRules.model_validate(row.document), version=row.version, updated_at=row.updated_at
                )
                for row in PolicyRepository(uow.session).documents(NATIONAL_RULES)
            ]

    def national_rules_of(self, country: str, principal: Principal) -> NationalRulesRead:
        principal.require(Permission.POLICY_READ)
        with self._uow(read_only=True) as uow:
            row = PolicyRepository(uow.session).document(NATIONAL_RULES, country)
            if row is None:
                raise NotFound(f"no national rules recorded for {country}")
            return NationalRulesRead(
                document=NationalRules.model_validate(row.document), version=row.version, updated_at=row.updated_at
            )

    def set_national_rules(self, rules: NationalRules, principal: Principal) -> NationalRulesRead:
        principal.require(Permission.POLICY_ADMIN)
        if rules.country != principal.country:
            raise Forbidden(f"administrators of {principal.country} set their own country's rules, not {rules.country}")
        row = self._put_document(NATIONAL_RULES, rules.country, rules.model_dump(mode="json"), principal)
        return NationalRulesRead(document=rules, version=row[0], updated_at=row[1])

    def groups(self, principal: Principal) -> list[CountryGroupRead]:
        principal.require(Permission.POLICY_READ)
        with self._uow(read_only=True) as uow:
            return [
                CountryGroupRead(
                    document=CountryGroup.model_validate(row.document), version=row.version, updated_at=row.updated_at
                )
                for row in PolicyRepository(uow.session).documents(COUNTRY_GROUP)
            ]

    def set_group(self, group: CountryGroup, principal: Principal) -> CountryGroupRead:
        principal.require(Permission.POLICY_ADMIN)
        if principal.country != HUB_COUNTRY:
            raise Forbidden("country groups are defined by the hub's administrators")
        row = self._put_document(COUNTRY_GROUP, group.name, group.model_dump(mode="json"), principal)
        return CountryGroupRead(document=group, version=row[0], updated_at=row[1])

    def _put_document(
        self, kind: str, name: str, body: dict[str, Any], principal: Principal
    ) -> tuple[int, dt.datetime]:
        now = dt.datetime.now(dt.UTC)
        tag = AuditTag.NATIONAL_RULES_SET if kind == NATIONAL_RULES else AuditTag.COUNTRY_GROUP_SET
        with self._uow() as uow:
            repository = PolicyRepository(uow.session)
            row = repository.document(kind, name)
            if row is None:
                row = PolicyDocumentRow(
                    kind=kind, name=name, version=1, document=body, updated_at=now, updated_by=principal.id
                )
                repository.add(row)
            elif row.document != body:
                row.version += 1
                row.document = body
                row.updated_at = now
                row.updated_by = principal.id
            uow.flush()
            self._audit.add(uow, [self._event(tag, principal, {"name": name, "version": row.version})])
            uow.commit()
            result = (row.version, row.updated_at)
        self.invalidate()
        return result

    # -- sanctions ----------------------------------------------------------------------

    def suspensions(self, principal: Principal, *, active_only: bool = True) -> list[SuspensionRead]:
        principal.require(Permission.SANCTION_ADMIN)
        with self._uow(read_only=True) as uow:
            return [_suspension_read(row) for row in PolicyRepository(uow.session).suspensions(active_only=active_only)]

    def suspend(
        self,
        subject_kind: SubjectKind,
        subject_id: str,
        reason: str,
        principal: Principal,
        *,
        node: str | None = None,
    ) -> SuspensionRead:
        """Refuse a user or an agency everything until lifted; effective at the next request.
        At the hub, a suspension of a national node's agency or user is also copied to that
        node (``node`` names it for a subject the hub has not registered), in the same
        transaction: it binds there once the envelope arrives."""
        principal.require(Permission.SANCTION_ADMIN)
        now = dt.datetime.now(dt.UTC)
        with self._uow() as uow:
            country = self._subject_country(uow.session, subject_kind, subject_id, node)
            if country != principal.country and principal.country != HUB_COUNTRY:
                raise Forbidden(f"administrators of {principal.country} suspend their own country's users and agencies")
            if subject_kind is SubjectKind.AGENCY and subject_id == principal.agency_id:
                raise Forbidden("an administrator cannot suspend its own agency")
            if subject_kind is SubjectKind.USER and subject_id == principal.id:
                raise Forbidden("an administrator cannot suspend itself")
            repository = PolicyRepository(uow.session)
            existing = repository.active_suspension(subject_kind.value, subject_id, own_only=True)
            if existing is not None:
                return _suspension_read(existing)
            row = SuspensionRow(
                id=new_id(),
                subject_kind=subject_kind.value,
                subject_id=subject_id,
                country=country,
                reason=reason,
                suspended_by=principal.id,
                suspended_by_name=principal.name[:300],
                at=now,
            )
            repository.add(row)
            uow.flush()
            details = {"suspension": row.id, "subject_kind": subject_kind.value, "subject_id": subject_id}
            copied = self._copy_to_node(uow.session, row, details)
            self._audit.add(uow, [self._event(AuditTag.SUSPENSION_CREATED, principal, details)])
            uow.commit()
            read = _suspension_read(row)
        self.invalidate()
        if copied and self.network is not None:
            self.network.wake()
        return read

    def lift(self, suspension_id: str, reason: str, principal: Principal) -> SuspensionRead:
        """End a suspension: this node's own, or at the hub any (copied lifts follow). A copy
        of the hub's suspension is the hub's to lift."""
        principal.require(Permission.SANCTION_ADMIN)
        with self._uow() as uow:
            row = PolicyRepository(uow.session).suspension(suspension_id)
            if row is None:
                raise NotFound(f"no suspension '{suspension_id}'")
            if row.country != principal.country and principal.country != HUB_COUNTRY:
                raise Forbidden(f"administrators of {principal.country} lift their own country's suspensions")
            if row.imposed_by is not None:
                raise Forbidden(
                    f"this suspension was imposed by the hub ({row.imposed_by}): only the hub's administrators lift it"
                )
            if row.lifted_at is not None:
                return _suspension_read(row)
            row.lifted_at = dt.datetime.now(dt.UTC)
            row.lifted_by = principal.id
            row.lifted_by_name = principal.name[:300]
            row.lift_reason = reason
            details = {"suspension": row.id, "subject_kind": row.subject_kind, "subject_id": row.subject_id}
            copied = self._copy_to_node(uow.session, row, details)
            self._audit.add(uow, [self._event(AuditTag.SUSPENSION_LIFTED, principal, details)])
            uow.commit()
            read = _suspension_read(row)
        self.invalidate()
        if copied and self.network is not None:
            self.network.wake()
        return read

    def _subject_country(self, session: Any, subject_kind: SubjectKind, subject_id: str, node: str | None) -> str:
        """The country of the subject: its agency's here; at the hub, for a subject it has
        not registered, that of the national node named."""
        if subject_kind is SubjectKind.AGENCY:
            agency = session.get(AgencyRow, subject_id)
            known = None if agency is None else str(agency.country)
        else:
            user = session.get(UserRow, subject_id)
            known = None if user is None else str(session.get(AgencyRow, user.agency_id).country)
        what = "agency" if subject_kind is SubjectKind.AGENCY else "user"
        if node is None:
            if known is None:
                raise NotFound(f"no {what} '{subject_id}'")
            return known
        if not self._is_hub or self.network is None:
            raise BadRequest("only the hub names the node of a subject", errors=[FieldError("node", "only at the hub")])
        served = self.network.country_of(node)
        if served is None or self.network.node_of(served) != node:
            raise ValidationFailed(
                f"'{node}' is not an active national node", errors=[FieldError("node", "no such active national node")]
            )
        if known is not None and known != served:
            raise ValidationFailed(
                f"the {what} is of {known}; node '{node}' serves {served}",
                errors=[FieldError("node", f"does not serve {known}")],
            )
        return served

    def _copy_to_node(self, session: Any, row: SuspensionRow, details: dict[str, Any]) -> bool:
        """At the hub: queue the suspension's state, in the caller's transaction, to the
        national node serving its subject's country (not for the hub's own users); True if
        queued. The audit ``details`` name the node and the envelope."""
        if not self._is_hub or self.network is None or row.country == HUB_COUNTRY:
            return False
        if row.subject_kind == SubjectKind.USER.value and session.get(UserRow, row.subject_id) is not None:
            return False  # a user of the hub itself
        node = self.network.node_of(row.country)
        if node is None:
            return False  # the country has no active national node: its agencies act at the hub only
        try:
            envelope = self.network.post(session, suspension_post(node, _hub_state(row)))
        except NetworkUnavailable as error:
            raise ServiceUnavailable(f"the suspension cannot be copied to node '{node}' now: {error}") from None
        details.update({"copied_to": node, "envelope": envelope})
        return True

    def apply_hub_suspension(self, header: RoutingHeader, body: bytes) -> None:
        """On a national node: the hub's suspension of an agency or a user of this country,
        or its lift, kept as a copy marked as the hub's that binds here like a suspension of
        this node's own. Idempotent by the hub's suspension id (a repeated envelope changes
        nothing). Anything not from the hub, or not about this country, is refused
        (EnvelopeRefused: the hub tells the sender), audited, and changes nothing."""
        try:
            state = self._hub_suspension(header, body)
            with self._uow() as uow:
                session = uow.session
                known = self._known_country(session, state)
                if known is not None and known != self._node_country:
                    what = f"{state.subject_kind.value} '{state.subject_id}'"
                    raise EnvelopeRefused(f"the {what} is not of {self._node_country}")
                row = session.get(SuspensionRow, state.id)
                if row is not None and row.imposed_by is None:
                    raise EnvelopeRefused(f"suspension '{state.id}' is this node's own, not the hub's")
                tags: list[AuditTag] = []
                if row is None:
                    row = SuspensionRow(
                        id=state.id,
                        subject_kind=state.subject_kind.value,
                        subject_id=state.subject_id,
                        country=state.country,
                        reason=state.reason,
                        suspended_by=state.suspended_by,
                        suspended_by_name=state.suspended_by_name,
                        at=state.at,
                        imposed_by=header.sender,
                    )
                    session.add(row)
                    tags.append(AuditTag.SUSPENSION_CREATED)
                if state.lifted_at is not None and row.lifted_at is None:
                    row.lifted_at = state.lifted_at
                    row.lifted_by = state.lifted_by
                    row.lifted_by_name = state.lifted_by_name
                    row.lift_reason = state.lift_reason
                    tags.append(AuditTag.SUSPENSION_LIFTED)
                if not tags:
                    return  # told already: the wire repeated it
                details = {
                    "suspension": state.id,
                    "subject_kind": state.subject_kind.value,
                    "subject_id": state.subject_id,
                    "imposed_by": header.sender,
                    "by": state.lifted_by_name if tags[-1] is AuditTag.SUSPENSION_LIFTED else state.suspended_by_name,
                    "known_here": known is not None,
                    "envelope": header.id,
                }
                actor = Actor(kind="node", name=header.sender, country=HUB_COUNTRY)
                self._audit.add(uow, [EventDraft(tag, actor, details=details) for tag in tags])
                uow.commit()
        except EnvelopeRefused as error:
            log.warning("refused a suspension envelope from %s: %s", header.sender, error.reason)
            refused = {"envelope": header.id, "sender": header.sender, "reason": error.reason}
            event = EventDraft(
                AuditTag.SUSPENSION_COPY_REFUSED,
                Actor(kind="node", name=header.sender),
                decision=AuditDecision.DENIED,
                details=refused,
            )
            self._audit.record([event])
            raise
        self.invalidate()

    def _hub_suspension(self, header: RoutingHeader, body: bytes) -> HubSuspension:
        """The hub's suspension in an envelope this node may take, or EnvelopeRefused."""
        if self._is_hub or self.network is None:
            raise EnvelopeRefused("the hub's suspensions are copied to national nodes only")
        try:
            hub = self.network.hub()
        except NetworkUnavailable as error:
            raise EnvelopeRefused(f"this node cannot tell the hub now: {error}") from None
        if header.sender != hub:
            raise EnvelopeRefused(f"suspensions are imposed by the hub, not by node '{header.sender}'")
        try:
            state = HubSuspension.model_validate_json(body)
        except ValidationError as error:
            raise EnvelopeRefused(f"not a suspension ({error.error_count()} errors)") from None
        if state.country != self._node_country:
            raise EnvelopeRefused(f"a suspension in {state.country} is not for the node of {self._node_country}")
        return state

    @staticmethod
    def _known_country(session: Any, state: HubSuspension) -> str | None:
        """The country of the suspended subject as this node knows it (None: unknown here)."""
        if state.subject_kind is SubjectKind.AGENCY:
            agency = session.get(AgencyRow, state.subject_id)
            return None if agency is None else str(agency.country)
        user = session.get(UserRow, state.subject_id)
        return None if user is None else str(session.get(AgencyRow, user.agency_id).country)

    # -- explanations -------------------------------------------------------------------

    def explain(
        self, principal: Principal, requester: Requester, record_kind: str, record_id: str, at: dt.datetime | None
    ) -> Decision:
        """What ``requester`` would get of a record, and why: for administrators and auditors."""
        principal.require(Permission.POLICY_EXPLAIN)
        with self._uow(read_only=True) as uow:
            row = uow.session.get(RecordRow, record_id)
            facts = None if row is None or row.kind != record_kind or row.deleted_at else _facts(row)
        details = {"requester": {"agency_id": requester.agency_id, "country": requester.country}}
        event = EventDraft(
            tag=AuditTag.DECISION_EXPLAINED,
            actor=actor_of(principal),
            record_kind=record_kind,
            record_ids=[record_id],
            details=details,
        )
        self._audit.record([event])
        if facts is None:
            raise NotFound(f"no {record_kind.replace('_', ' ')} '{record_id}'")
        return self.snapshot(at).decide(requester, facts)

    def dry_run(self, document: Agreement, principal: Principal, *, limit: int = 100_000) -> DryRunReport:
        """Which records and countries a proposed agreement (assumed approved by all its
        named parties) would change, against the policy in force now."""
        principal.require(Permission.POLICY_EXPLAIN)
        now = dt.datetime.now(dt.UTC)
        before = self.current()
        self._check_groups(document, before)
        with self._uow(read_only=True) as uow:
            rows = uow.session.execute(
                select(
                    RecordRow.kind,
                    RecordRow.owner_agency_id,
                    RecordRow.owner_country,
                    RecordRow.restrictions,
                    RecordRow.retain_until,
                )
                .where(RecordRow.deleted_at.is_(None))
                .limit(limit)
            ).all()
            known = {str(country) for (country,) in uow.session.execute(select(AgencyRow.country).distinct())}
        named = {party for party in document.parties if is_country_code(party)}
        countries = sorted(known | named | {country for row in rows for country in [row.owner_country]})
        approved = frozenset(country for country in countries if before.is_party(document, country))
        existing = tuple(state for state in before.agreements if state.agreement.id != document.id)
        after = PolicySet(
            agreements=(*existing, AgreementState(document, 0, approved)),
            national_rules=before.national_rules,
            groups=before.groups,
            suspended_agencies=before.suspended_agencies,
            suspended_users=before.suspended_users,
        )
        snapshots = (before.snapshot(now), after.snapshot(now))
        changes: Counter[tuple[str, str, str, str, str]] = Counter()
        decisions = 0
        kinds = {kind for kind, category in CATEGORY_OF_KIND.items() if category in document.categories}
        relevant = [row for row in rows if row.kind in kinds]
        for country in countries:
            # A requester agency that owns nothing: its country's view of others' records.
            for purpose in document.purposes:
                requester = Requester(agency_id="dry-run", country=country, purpose=purpose)
                old, new = (snapshot.for_requester(requester) for snapshot in snapshots)
                for row in relevant:
                    parts = (row.kind, row.owner_agency_id, row.owner_country, row.restrictions, row.retain_until)
                    was, will = old.decide_parts(*parts), new.decide_parts(*parts)
                    decisions += 1
                    if was.outcome is not will.outcome or was.removed_fields != will.removed_fields:
                        changes[(country, row.kind, purpose.value, was.outcome.value, will.outcome.value)] += 1
        details = {"agreement": document.id, "decisions": decisions, "changes": sum(changes.values())}
        self._audit.record([self._event(AuditTag.AGREEMENT_DRY_RUN, principal, details)])
        return DryRunReport(
            agreement_id=document.id,
            countries=countries,
            records_considered=len(relevant),
            decisions=decisions,
            changes=[
                DryRunChange(country=c, record_kind=k, purpose=p, before=b, after=a, records=n)
                for (c, k, p, b, a), n in sorted(changes.items())
            ],
        )

    def _event(self, tag: AuditTag, principal: Principal, details: dict[str, Any]) -> EventDraft:
        return EventDraft(tag=tag, actor=actor_of(principal), details=details)


def _facts(row: RecordRow) -> RecordFacts:
    return RecordFacts(row.kind, row.owner_agency_id, row.owner_country, row.restrictions, row.retain_until)


def _suspension_read(row: SuspensionRow) -> SuspensionRead:
    return SuspensionRead(
        id=row.id,
        subject_kind=SubjectKind(row.subject_kind),
        subject_id=row.subject_id,
        country=row.country,
        reason=row.reason,
        suspended_by=row.suspended_by,
        at=row.at,
        lifted_at=row.lifted_at,
        lifted_by=row.lifted_by,
        lift_reason=row.lift_reason,
        suspended_by_name=row.suspended_by_name,
        lifted_by_name=row.lifted_by_name,
        imposed_by=row.imposed_by,
    )


def _hub_state(row: SuspensionRow) -> HubSuspension:
    return HubSuspension(
        id=row.id,
        subject_kind=SubjectKind(row.subject_kind),
        subject_id=row.subject_id,
        country=row.country,
        reason=row.reason,
        suspended_by=row.suspended_by,
        suspended_by_name=row.suspended_by_name or row.suspended_by,
        at=row.at,
        lifted_at=row.lifted_at,
        lifted_by=row.lifted_by,
        lifted_by_name=row.lifted_by_name or row.lifted_by,
        lift_reason=row.lift_reason,
    )
