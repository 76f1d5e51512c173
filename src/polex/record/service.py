"""Create, read, update, delete and list records; ownership and optimistic concurrency."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, IntegrityError

from polex.audit.service import AuditTrail, EventDraft, actor_of
from polex.auth.principal import Principal
from polex.domain.audit import Actor, AuditEvent, AuditTag, Decision
from polex.domain.base import (
    Provenance,
    RecordEnvelope,
    Restrictions,
    collect_original_values,
    new_id,
)
from polex.domain.decisions import RecordFacts, apply_decision, without_fields
from polex.domain.policy import Purpose
from polex.domain.roles import Permission
from polex.errors import (
    AlreadyExists,
    FieldError,
    NotFound,
    PreconditionRequired,
    StaleVersion,
    ValidationFailed,
)
from polex.policy.service import PolicyService, requester_of
from polex.record.cursor import decode_cursor, encode_cursor
from polex.record.repository import NewRow, RecordQuery, RecordRepository, StoredRecord
from polex.record.schemas import AccessCheckpoint, AccessRead, content_fields
from polex.record.spec import LookupKeyListener, RecordChangeListener, RecordFeature
from polex.storage.tables import RecordRow
from polex.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class ListFilters:
    owner_country: str | None = None
    owner_agency_id: str | None = None
    status: str | None = None
    updated_since: dt.datetime | None = None
    terms: Mapping[str, str] | None = None  # filter name to value


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]  # each record as the policy shows it, with its ``access``
    next_cursor: str | None


@dataclass(frozen=True)
class Export:
    contents: list[BaseModel]
    withheld: int  # records the requester may know of but not take out in this format


EXPORT_BATCH = 1000  # records read, decided and audited together in an export
ExportBatch = tuple[list[BaseModel], int]  # a batch's records, and how many it withheld


class ExportStream:
    """An export's records, one at a time; ``withheld`` and ``exported`` count as it goes."""

    def __init__(self, batches: Iterator[ExportBatch]) -> None:
        self._batches = batches
        self.withheld = 0
        self.exported = 0

    def __iter__(self) -> Iterator[BaseModel]:
        for contents, withheld in self._batches:
            self.withheld += withheld
            self.exported += len(contents)
            yield from contents


@dataclass(frozen=True)
class NewRecord:
    """A validated record to store on behalf of an owner (imports and seeding)."""

    content: BaseModel
    owner_agency_id: str
    owner_country: str
    restrictions: Restrictions | None = None
    provenance: Provenance | None = None
    id: str | None = None  # assigned here when the caller needs to link records before storing
    content_json: str | None = None  # ``content.model_dump_json()``, where the caller has it already


def prepare_row(feature: RecordFeature, new: NewRecord) -> NewRow:
    """A new record as :meth:`RecordService.create_new` stores it: projection and JSON
    documents, made outside any transaction and any service (an import prepares records in
    worker processes, the next batch while one is written)."""
    projection = feature.project(new.content)
    if new.restrictions is None and feature.restrictions_for is None:
        restrictions = _DEFAULT_RESTRICTIONS  # the common case, serialised once
    else:
        restrictions = restrictions_of(feature, new.content, new.restrictions).model_dump_json()
    return NewRow(
        id=new.id or new_id(),
        id_given=new.id is not None,
        owner_agency_id=new.owner_agency_id,
        owner_country=new.owner_country,
        key=projection.key,
        label=projection.label[:500],
        status=projection.status,
        terms=projection.terms_column(),
        restrictions=restrictions,
        provenance=(new.provenance or _NO_PROVENANCE).model_dump_json(),
        content=new.content_json if new.content_json is not None else new.content.model_dump_json(),
        lookup=projection.lookup,
    )


def restrictions_of(feature: RecordFeature, content: BaseModel, declared: Restrictions | None) -> Restrictions:
    """A record's restrictions: from its content where its kind says how (a STIX object's
    TLP marking), else those its owner declared, else the defaults."""
    if feature.restrictions_for is not None:
        return feature.restrictions_for(content, declared)
    return declared or Restrictions()


@dataclass
class Seen:
    """Records counted as stored so far without being written (a dry run of an import):
    their ids and natural keys (owner country, key)."""

    ids: set[str] = field(default_factory=set)
    keys: set[tuple[str, str | None]] = field(default_factory=set)


@dataclass(frozen=True)
class ReportedAccess:
    """An access to a record on another node, as that node reported it to this one
    (polex.audit.access_reports): where, the entry in that node's log, and the signed
    checkpoint of that log the entry can be proven in."""

    node: str
    entry: int
    at: dt.datetime
    tag: str
    agency_id: str | None
    country: str | None
    purpose: str | None
    case_declared: bool
    decision: str
    owner_agency_id: str
    log: str | None
    checkpoint_size: int
    checkpoint_root: bytes | None


class ReportedAccesses(Protocol):
    """The reports other nodes sent this one, as the owner's node keeps them."""

    node_name: str

    def reported(self, kind: str, record_id: str, *, limit: int = 1000) -> list[ReportedAccess]: ...


class RecordService:
    def __init__(
        self, uow: UnitOfWorkFactory, audit: AuditTrail, policy: PolicyService, feature: RecordFeature
    ) -> None:
        self._uow = uow
        self._audit = audit
        self._policy = policy
        self.feature = feature
        self.kind = feature.record_type.kind.value
        self.key_listeners: list[LookupKeyListener] = []
        self.change_listeners: list[RecordChangeListener] = []
        # Accesses to this node's country's records on other nodes, as they reported them.
        self.reported: ReportedAccesses | None = None

    def _keys_changed(self, added: Sequence[str], removed: Sequence[str]) -> None:
        if added or removed:
            for listener in self.key_listeners:
                listener.keys_changed(added, removed)

    def _records_changed(self, changed: Mapping[str, Mapping[str, Any] | None]) -> None:
        if changed:
            for listener in self.change_listeners:
                listener.records_changed(self.kind, changed)

    def _event(self, action: str, principal: Principal, record_ids: Sequence[str], **fields: Any) -> EventDraft:
        return EventDraft(
            tag=AuditTag.for_record(self.kind, action),
            actor=actor_of(principal),
            record_kind=self.kind,
            record_ids=record_ids,
            **fields,
        )

    # -- reading ----------------------------------------------------------------------
    #
    # Everything a read returns has been through the policy engine: a record the requester
    # may not see is answered exactly as a record that does not exist (same status, same
    # message, same audit), so neither errors nor pages reveal it.

    def get(self, record_id: str, principal: Principal, *, purpose: Purpose) -> dict[str, Any]:
        """The record as the policy lets this requester see it, with the decision under
        ``access``: full, redacted or hit-only."""
        principal.require(Permission.RECORD_READ)
        requester = requester_of(principal, purpose)
        with self._uow(read_only=True) as uow:
            row = RecordRepository(uow.session).get(self.kind, record_id)
            decision = None if row is None else self._policy.snapshot().decide(requester, facts_of(row))
            shown = None if row is None or decision is None else apply_decision(self.to_json(row), decision)
        # Durable before the record leaves the node; misses and refusals are recorded too.
        details = {} if decision is None else {"outcome": decision.outcome.value}
        self._audit.record(
            [
                self._event(
                    "read",
                    principal,
                    [record_id],
                    result_count=0 if shown is None else 1,
                    # A miss is allowed with no result; a record the policy hides is a denial.
                    decision=Decision.DENIED if row is not None and shown is None else Decision.ALLOWED,
                    details=details,
                )
            ]
        )
        if shown is None:
            raise self._not_found(record_id)
        return shown

    def list(
        self, principal: Principal, filters: ListFilters, *, purpose: Purpose, cursor: str | None, limit: int
    ) -> Page:
        """A page of the records this requester may see, each as the policy shows it; the
        others are skipped, never counted."""
        principal.require(Permission.RECORD_READ)
        terms: list[str] = []
        typed: dict[str, str] = {}
        known = {spec.name: spec for spec in self.feature.filters}
        for name, value in (filters.terms or {}).items():
            term = known[name].term_for(value)
            terms.append(term)
            typed[f"{self.kind}|{term}"] = f"{name}={value}"
        view = self._policy.snapshot().for_requester(requester_of(principal, purpose))
        countries = view.visible_owner_countries(self.kind)
        if filters.owner_country is not None:
            countries = countries & {filters.owner_country}
        after = decode_cursor(self.kind, cursor) if cursor else None
        shown: list[dict[str, Any]] = []
        batch = max(limit + 1, 100)
        with self._uow(read_only=True) as uow:
            records = RecordRepository(uow.session)
            while countries and len(shown) <= limit:
                query = RecordQuery(
                    kind=self.kind,
                    after_id=after,
                    limit=batch,
                    owner_countries=tuple(sorted(countries)),
                    owner_agency_id=filters.owner_agency_id,
                    status=filters.status,
                    updated_since=filters.updated_since,
                    terms=tuple(terms),
                )
                rows = records.list(query)
                for row in rows:
                    decision = view.decide_parts(
                        row.kind, row.owner_agency_id, row.owner_country, row.restrictions, row.retain_until
                    )
                    if decision.visible:
                        shown.append(apply_decision(self.to_json(row), decision) or {})
                        if len(shown) > limit:
                            break
                if len(rows) < batch:
                    break
                after = rows[-1].id
        more = len(shown) > limit
        shown = shown[:limit]
        # The cursor is the last record shown, never a hidden one: the next page re-reads
        # what was skipped rather than hand out the id of a record the caller may not see.
        next_cursor = encode_cursor(self.kind, shown[-1]["id"]) if more and shown else None
        listed = [item["id"] for item in shown]
        self._audit.record([self._event("listed", principal, listed, result_count=len(listed), query_terms=typed)])
        return Page(items=shown, next_cursor=next_cursor)

    def export(
        self, principal: Principal, *, purpose: Purpose, owner_agency_id: str | None = None, format_name: str
    ) -> Export:
        """All of :meth:`export_stream` in one list (for small exports and tests)."""
        stream = self.export_stream(
            principal, purpose=purpose, owner_agency_id=owner_agency_id, format_name=format_name
        )
        contents = list(stream)
        return Export(contents=contents, withheld=stream.withheld)

    def export_stream(
        self, principal: Principal, *, purpose: Purpose, owner_agency_id: str | None = None, format_name: str
    ) -> ExportStream:
        """The live records of this kind (of one agency if given) that the policy lets this
        requester have in full or redacted, as content for an outside format, read a batch
        at a time. Each batch is audited as a part of one export (the export's id, the part's
        number), naming its records, and the event is durable before the batch is handed
        out. Hit-only records, and redacted ones that no longer make a valid record, are
        withheld and counted. The permission is checked here, before anything is read."""
        principal.require(Permission.RECORD_READ)
        return ExportStream(self._export_batches(principal, purpose, owner_agency_id, format_name))

    def _export_batches(
        self, principal: Principal, purpose: Purpose, owner_agency_id: str | None, format_name: str
    ) -> Iterator[ExportBatch]:
        view = self._policy.snapshot().for_requester(requester_of(principal, purpose))
        content_type = self.feature.record_type.content
        export_id = new_id()
        after: str | None = None
        part = 0
        while True:
            query = RecordQuery(kind=self.kind, after_id=after, limit=EXPORT_BATCH, owner_agency_id=owner_agency_id)
            with self._uow(read_only=True) as uow:
                rows = RecordRepository(uow.session).list(query)
            contents: list[BaseModel] = []
            ids: list[str] = []
            withheld = 0
            for row in rows:
                decision = view.decide_parts(
                    row.kind, row.owner_agency_id, row.owner_country, row.restrictions, row.retain_until
                )
                if not decision.discloses_content:
                    withheld += decision.visible  # the invisible are not even counted
                    continue
                content = without_fields(row.content, decision.removed_fields)
                try:
                    contents.append(content_type.model_validate(content))
                except ValidationError:
                    withheld += 1
                    continue
                ids.append(row.id)
            last = len(rows) < query.limit
            if ids or withheld or part == 0 or last:
                part += 1
                details = {"format": format_name, "withheld": withheld, "export": export_id, "part": part}
                if last:
                    details["last"] = True
                self._audit.record([self._event("exported", principal, ids, result_count=len(ids), details=details)])
                yield contents, withheld
            if last:
                return
            after = rows[-1].id

    def accesses(self, record_id: str, principal: Principal) -> Sequence[AccessRead]:
        """Who accessed one of the caller's own records, when and why: the data owner's view
        of the trail, on this node and, as other nodes reported them, across the network
        (each marked with the node where it happened and its entry in that node's log).
        Agencies and countries are shown, not the officers. The owner agency sees it, and
        this node's auditors; a record this node does not hold is the caller's when the
        reports about it name its agency as the owner."""
        auditor = principal.can(Permission.AUDIT_READ)
        if not auditor:
            principal.require(Permission.RECORD_WRITE)
        with self._uow(read_only=True) as uow:
            row = RecordRepository(uow.session).get(self.kind, record_id, include_deleted=True)
        reported = self.reported.reported(self.kind, record_id) if self.reported is not None else []
        if row is not None:
            shown = auditor or row.owner_agency_id == principal.agency_id
        else:
            if not auditor:  # only what names the caller's agency as the owner
                reported = [access for access in reported if access.owner_agency_id == principal.agency_id]
            shown = bool(reported)
        if not shown:
            raise NotFound(f"no {self.kind.replace('_', ' ')} '{record_id}' of your agency")
        here = self.reported.node_name if self.reported is not None else None
        items = [
            _local_access(event, here)
            for event in self._audit.accesses_to(record_id)
            # Reports received and sent are bookkeeping about accesses, not accesses.
            if not event.tag.value.startswith(REPORT_TAGS)
        ]
        items += [_reported_access(access) for access in reported]
        items.sort(key=lambda item: (item.at, item.node or "", item.entry))
        self._audit.record([self._event("accesses_viewed", principal, [record_id], result_count=len(items))])
        return items

    # -- writing ----------------------------------------------------------------------

    def create(self, body: BaseModel, principal: Principal, *, raw: Mapping[str, Any] | None = None) -> RecordEnvelope:
        """Store a new record owned by the caller's agency."""
        principal.require(Permission.RECORD_WRITE)
        content = self._content(body)
        if self.feature.check_owner is not None:
            self.feature.check_owner(content, principal)
        if self.feature.check_content is not None:
            self.feature.check_content(content)
        declared = getattr(body, "provenance", None)
        provenance = Provenance(
            source_format=declared.source_format if declared else "api",
            source_id=declared.source_id if declared else None,
            original_values={
                **(declared.original_values if declared else {}),
                **self._originals(raw, content),
            },
        )
        new = NewRecord(
            content=content,
            owner_agency_id=principal.agency_id,
            owner_country=principal.country,
            restrictions=getattr(body, "restrictions", None),
            provenance=provenance,
        )
        with self._uow() as uow:
            row, lookup = self._row(new, dt.datetime.now(dt.UTC))
            records = RecordRepository(uow.session)
            records.add(row)
            self._flush_or_conflict(uow)
            records.add_keys(row.id, lookup)
            self._audit.add(uow, [self._event("created", principal, [row.id], result_count=1)])
            uow.commit()
        self._keys_changed(sorted(lookup), ())
        self._records_changed({row.id: row.content})
        return self.to_record(row)

    def create_many(self, records: Sequence[NewRecord], *, actor: Actor | None = None) -> int:
        """Store many records in one transaction (seeding, trusted imports); all or nothing
        (AlreadyExists if any is a duplicate), audited as one import event naming every record."""
        self._insert([self.prepare(new) for new in records], actor)
        return len(records)

    def prepare(self, new: NewRecord) -> NewRow:
        """A new record as :meth:`create_new` stores it (see :func:`prepare_row`)."""
        return prepare_row(self.feature, new)

    def create_rows(self, rows: Sequence[NewRow], *, actor: Actor | None = None) -> int:
        """Store prepared records in one transaction, all or nothing (AlreadyExists if any is
        a duplicate), audited as one import event naming every record."""
        self._insert(rows, actor)
        return len(rows)

    def create_new(self, rows: Sequence[NewRow], *, actor: Actor | None = None) -> dict[int, str]:
        """Store, in one transaction audited as one import event, those of the prepared
        records that are not recorded already; returns the others, by position, with the
        reason. A duplicate is a record whose id is taken, or whose natural key a live record
        of the same owner country holds (or one earlier in ``rows``): importing a file again
        stores nothing twice. Raises AlreadyExists when a duplicate is committed meanwhile."""
        try:  # the common case, new records: nothing to look up
            self._insert(rows, actor)
            return {}
        except AlreadyExists:
            pass
        refused = self.duplicates(rows)
        fresh = [row for position, row in enumerate(rows) if position not in refused]
        self._insert(fresh, actor)
        return refused

    def duplicates(self, rows: Sequence[NewRow], *, earlier: Seen | None = None) -> dict[int, str]:
        """Which of these prepared records :meth:`create_new` would refuse as duplicates, by
        position, with the reason; nothing is written. A duplicate's id is taken, or its
        natural key is held by a live record of the same owner country, by one earlier in
        ``rows`` or by one in ``earlier`` (the records a dry run of an import would have
        stored before: the fresh ones are added to it)."""
        seen = earlier if earlier is not None else Seen()
        with self._uow(read_only=True) as uow:
            repository = RecordRepository(uow.session)
            given = [row.id for row in rows if row.id_given]  # the others were made just now
            taken_ids = repository.recorded_ids(given) if given else set()
            by_country: dict[str, list[str]] = {}
            for row in rows:
                if row.key is not None:
                    by_country.setdefault(row.owner_country, []).append(row.key)
            taken_keys = {
                (country, key)
                for country, keys in by_country.items()
                for key in repository.live_natural_keys(self.kind, country, keys)
            }
        reason = self._duplicate().detail
        refused: dict[int, str] = {}
        for position, row in enumerate(rows):
            natural = (row.owner_country, row.key) if row.key is not None else None
            duplicate_key = natural is not None and (natural in taken_keys or natural in seen.keys)
            if row.id in taken_ids or row.id in seen.ids or duplicate_key:
                refused[position] = reason
                continue
            seen.ids.add(row.id)
            if natural is not None:
                seen.keys.add(natural)
        return refused

    def _insert(self, rows: Sequence[NewRow], actor: Actor | None) -> None:
        """Insert new rows and their lookup keys with one import event, in one transaction;
        then tell the listeners."""
        if not rows:
            return
        now = dt.datetime.now(dt.UTC)
        deadlines = {  # the same for every record of an owner country
            country: self._policy.retention_deadline(self.kind, country, now)
            for country in {row.owner_country for row in rows}
        }
        with self._uow() as uow:
            try:
                RecordRepository(uow.session).insert_new(self.kind, now, deadlines, rows)
            except IntegrityError as error:
                raise self._duplicate() from error
            except DataError as error:  # validation should have caught it; never a 500
                raise self._unstorable() from error
            event = EventDraft(
                tag=AuditTag.for_record(self.kind, "imported"),
                actor=actor or Actor(kind="import"),
                record_kind=self.kind,
                record_ids=[row.id for row in rows],
                result_count=len(rows),
            )
            self._audit.add(uow, [event])
            uow.commit()
        self._keys_changed([key for row in rows for key in row.lookup], ())
        if self.change_listeners:
            self._records_changed({row.id: orjson.loads(row.content) for row in rows})

    def update(
        self,
        record_id: str,
        body: BaseModel,
        principal: Principal,
        *,
        if_match: int | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> RecordEnvelope:
        """Replace a record's content; only its owner may, and only from the current version."""
        principal.require(Permission.RECORD_WRITE)
        expected = if_match if if_match is not None else getattr(body, "version", None)
        if expected is None:
            raise PreconditionRequired(
                "say which version you are replacing: an If-Match header or a 'version' field",
                errors=[FieldError("version", "is required (or send If-Match)")],
            )
        content = self._content(body)
        if self.feature.check_content is not None:
            self.feature.check_content(content)
        with self._uow() as uow:
            records = RecordRepository(uow.session)
            row = self._owned(records, record_id, principal)
            if self.feature.check_owner is not None:
                self.feature.check_owner(content, principal)
            projection = self.feature.project(content)
            provenance = dict(row.provenance)
            provenance["original_values"] = self._originals(raw, content)
            restrictions = getattr(body, "restrictions", None)
            if self.feature.restrictions_for is not None:
                # Unchanged restrictions still follow the new content (a stricter marking).
                declared = restrictions if restrictions is not None else Restrictions.model_validate(row.restrictions)
                restrictions = self.feature.restrictions_for(content, declared)
            values: dict[str, object] = {
                "content": content.model_dump(mode="json"),
                "label": projection.label[:500],
                "key": projection.key,
                "status": projection.status,
                "terms": projection.terms_column(),
                "provenance": provenance,
                "updated_at": dt.datetime.now(dt.UTC),
            }
            if restrictions is not None:
                values["restrictions"] = restrictions.model_dump(mode="json")
            try:
                updated_row = records.update_if_version(row.id, expected, values)
            except IntegrityError as error:
                raise self._duplicate() from error
            except DataError as error:
                raise self._unstorable() from error
            if not updated_row:
                raise self._stale(row.version, expected)
            added, removed = records.replace_keys(row.id, projection.lookup)
            uow.session.refresh(row)
            self._audit.add(uow, [self._event("updated", principal, [row.id], details={"version": row.version})])
            uow.commit()
        self._keys_changed(sorted(added), sorted(removed))
        self._records_changed({row.id: row.content})
        return self.to_record(row)

    def delete(self, record_id: str, principal: Principal, *, if_match: int | None) -> None:
        """Withdraw a record (kept as a tombstone so replicas learn of the deletion)."""
        principal.require(Permission.RECORD_WRITE)
        if if_match is None:
            raise PreconditionRequired(
                "say which version you are deleting with an If-Match header",
                errors=[FieldError("If-Match", "is required")],
            )
        with self._uow() as uow:
            records = RecordRepository(uow.session)
            row = self._owned(records, record_id, principal)
            now = dt.datetime.now(dt.UTC)
            if not records.update_if_version(row.id, if_match, {"deleted_at": now, "updated_at": now}):
                raise self._stale(row.version, if_match)
            removed = records.remove_keys([row.id])
            self._audit.add(uow, [self._event("deleted", principal, [row.id])])
            uow.commit()
        self._keys_changed((), removed)
        self._records_changed({record_id: None})

    # -- helpers ----------------------------------------------------------------------

    def _content(self, body: BaseModel) -> BaseModel:
        content_type = self.feature.record_type.content
        try:
            return content_type.model_validate(content_fields(body, self.feature.record_type))
        except ValidationError as error:  # cannot happen for bodies FastAPI validated
            raise ValidationFailed(
                "the record is not valid",
                errors=[FieldError(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors()],
            ) from error

    def _originals(self, raw: Mapping[str, Any] | None, content: BaseModel) -> dict[str, str]:
        if raw is None:
            return {}
        return collect_original_values(raw, content.model_dump(mode="json"))

    def _owned(self, records: RecordRepository, record_id: str, principal: Principal) -> RecordRow:
        row = records.get(self.kind, record_id)
        if row is None or row.owner_agency_id != principal.agency_id:
            # One answer for "no such record" and "not yours": a 403 would confirm that a
            # record the caller may not even see exists.
            noun = self.kind.replace("_", " ")
            raise NotFound(f"no {noun} '{record_id}' of your agency: only the owning agency changes or deletes it")
        return row

    def _not_found(self, record_id: str) -> NotFound:
        return NotFound(f"no {self.kind.replace('_', ' ')} '{record_id}'")

    @staticmethod
    def _stale(current: int, expected: int) -> StaleVersion:
        return StaleVersion(
            f"the record is at version {current}, not {expected}: read it again and reapply your change",
            current_version=current,
        )

    def _row(self, new: NewRecord, now: dt.datetime) -> tuple[RecordRow, frozenset[str]]:
        """The row to insert, and the lookup keys to file it under."""
        projection = self.feature.project(new.content)
        row = RecordRow(
            id=new.id or new_id(),
            kind=self.kind,
            owner_agency_id=new.owner_agency_id,
            owner_country=new.owner_country,
            version=1,
            created_at=now,
            updated_at=now,
            deleted_at=None,
            key=projection.key,
            label=projection.label[:500],
            status=projection.status,
            terms=projection.terms_column(),
            restrictions=self._restrictions(new.content, new.restrictions).model_dump(mode="json"),
            provenance=(new.provenance or Provenance()).model_dump(mode="json"),
            content=new.content.model_dump(mode="json"),
            retain_until=self._policy.retention_deadline(self.kind, new.owner_country, now),
        )
        return row, projection.lookup

    def _restrictions(self, content: BaseModel, declared: Restrictions | None) -> Restrictions:
        return restrictions_of(self.feature, content, declared)

    def _flush_or_conflict(self, uow: UnitOfWork) -> None:
        try:
            uow.flush()
        except IntegrityError as error:
            raise self._duplicate() from error
        except DataError as error:  # validation should have caught it; never a 500
            raise self._unstorable() from error

    @staticmethod
    def _unstorable() -> ValidationFailed:
        return ValidationFailed("a value cannot be stored by the database (out of range or invalid text)")

    def _duplicate(self) -> AlreadyExists:
        noun = self.kind.replace("_", " ")
        article = "an" if noun[0] in "aeiou" else "a"
        return AlreadyExists(f"{article} {noun} with the same identifying data is already recorded")

    def to_json(self, row: StoredRecord) -> dict[str, Any]:
        """The stored record in its JSON form, as the API shows it before the policy."""
        return self.to_record(row).model_dump(mode="json", by_alias=True)

    def to_record(self, row: StoredRecord) -> RecordEnvelope:
        return self.feature.record_type.record.model_validate(
            {
                **row.content,
                "id": row.id,
                "kind": row.kind,
                "owner": {"agency_id": row.owner_agency_id, "country": row.owner_country},
                "restrictions": row.restrictions,
                "provenance": row.provenance,
                "created_at": row.created_at,
                "updated_at": row.updated_at,
                "version": row.version,
            }
        )


REPORT_TAGS = "network:access_report:"
_NO_PROVENANCE = Provenance()
_DEFAULT_RESTRICTIONS = Restrictions().model_dump_json()


def _local_access(event: AuditEvent, node: str | None) -> AccessRead:
    return AccessRead(
        at=event.at,
        tag=event.tag.value,
        agency_id=event.actor.agency_id,
        country=event.actor.country,
        purpose=event.purpose,
        case_reference=event.case_reference,
        case_declared=event.case_reference is not None,
        decision=event.decision.value,
        node=node,
        entry=event.seq,
        reported=False,
    )


def _reported_access(access: ReportedAccess) -> AccessRead:
    return AccessRead(
        at=access.at,
        tag=access.tag,
        agency_id=access.agency_id,
        country=access.country,
        purpose=access.purpose,
        case_reference=None,  # never reported: whether one was declared is
        case_declared=access.case_declared,
        decision=access.decision,
        node=access.node,
        entry=access.entry,
        reported=True,
        checkpoint=AccessCheckpoint(
            log=access.log,
            size=access.checkpoint_size,
            root=base64.b64encode(access.checkpoint_root).decode() if access.checkpoint_root is not None else None,
        ),
    )


def facts_of(row: RecordRow) -> RecordFacts:
    return RecordFacts(row.kind, row.owner_agency_id, row.owner_country, row.restrictions, row.retain_until)
