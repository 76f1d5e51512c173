"""What the audit trail records: typed tags shaped ``source:subject:action`` and the event.

An event names who acted (user or machine, agency, country), what they did (the tag),
on which records, for which declared purpose and case, what was decided and how many
results left the node, and the request it belongs to. It holds no personal data beyond
record ids: query terms are kept as keyed hashes (to search) and sealed for auditors.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import orjson
from pydantic import Field

from polex.domain.base import SchemaModel


class AuditTag(StrEnum):
    PERSON_READ = "record:person:read"
    PERSON_LISTED = "record:person:listed"
    PERSON_CREATED = "record:person:created"
    PERSON_UPDATED = "record:person:updated"
    PERSON_DELETED = "record:person:deleted"
    PERSON_IMPORTED = "record:person:imported"
    PERSON_EXPORTED = "record:person:exported"
    PERSON_ACCESSES_VIEWED = "record:person:accesses_viewed"
    PERSON_RETENTION_EXTENDED = "record:person:retention_extended"
    PERSON_REVIEW_REQUESTED = "record:person:review_requested"
    PERSON_PURGED = "record:person:purged"
    TRAVEL_DOCUMENT_READ = "record:travel_document:read"
    TRAVEL_DOCUMENT_LISTED = "record:travel_document:listed"
    TRAVEL_DOCUMENT_CREATED = "record:travel_document:created"
    TRAVEL_DOCUMENT_UPDATED = "record:travel_document:updated"
    TRAVEL_DOCUMENT_DELETED = "record:travel_document:deleted"
    TRAVEL_DOCUMENT_IMPORTED = "record:travel_document:imported"
    TRAVEL_DOCUMENT_EXPORTED = "record:travel_document:exported"
    TRAVEL_DOCUMENT_ACCESSES_VIEWED = "record:travel_document:accesses_viewed"
    TRAVEL_DOCUMENT_RETENTION_EXTENDED = "record:travel_document:retention_extended"
    TRAVEL_DOCUMENT_REVIEW_REQUESTED = "record:travel_document:review_requested"
    TRAVEL_DOCUMENT_PURGED = "record:travel_document:purged"
    VEHICLE_READ = "record:vehicle:read"
    VEHICLE_LISTED = "record:vehicle:listed"
    VEHICLE_CREATED = "record:vehicle:created"
    VEHICLE_UPDATED = "record:vehicle:updated"
    VEHICLE_DELETED = "record:vehicle:deleted"
    VEHICLE_IMPORTED = "record:vehicle:imported"
    VEHICLE_EXPORTED = "record:vehicle:exported"
    VEHICLE_ACCESSES_VIEWED = "record:vehicle:accesses_viewed"
    VEHICLE_RETENTION_EXTENDED = "record:vehicle:retention_extended"
    VEHICLE_REVIEW_REQUESTED = "record:vehicle:review_requested"
    VEHICLE_PURGED = "record:vehicle:purged"
    CASE_READ = "record:case:read"
    CASE_LISTED = "record:case:listed"
    CASE_CREATED = "record:case:created"
    CASE_UPDATED = "record:case:updated"
    CASE_DELETED = "record:case:deleted"
    CASE_IMPORTED = "record:case:imported"
    CASE_EXPORTED = "record:case:exported"
    CASE_ACCESSES_VIEWED = "record:case:accesses_viewed"
    CASE_RETENTION_EXTENDED = "record:case:retention_extended"
    CASE_REVIEW_REQUESTED = "record:case:review_requested"
    CASE_PURGED = "record:case:purged"
    NOTICE_READ = "record:notice:read"
    NOTICE_LISTED = "record:notice:listed"
    NOTICE_CREATED = "record:notice:created"
    NOTICE_UPDATED = "record:notice:updated"
    NOTICE_DELETED = "record:notice:deleted"
    NOTICE_IMPORTED = "record:notice:imported"
    NOTICE_EXPORTED = "record:notice:exported"
    NOTICE_ACCESSES_VIEWED = "record:notice:accesses_viewed"
    NOTICE_RETENTION_EXTENDED = "record:notice:retention_extended"
    NOTICE_REVIEW_REQUESTED = "record:notice:review_requested"
    NOTICE_PURGED = "record:notice:purged"
    NOTICE_SUBMITTED = "record:notice:submitted"
    NOTICE_ISSUED = "record:notice:issued"
    NOTICE_APPROVED = "record:notice:approved"
    NOTICE_REFUSED = "record:notice:refused"
    NOTICE_RETURNED = "record:notice:returned"
    NOTICE_SUSPENDED = "record:notice:suspended"
    NOTICE_REINSTATED = "record:notice:reinstated"
    NOTICE_CANCELLED = "record:notice:cancelled"
    NOTICE_EXTENDED = "record:notice:extended"
    NOTICE_EXPIRED = "record:notice:expired"
    NOTICE_FILE_ADDED = "record:notice:file_added"
    NOTICE_FILE_READ = "record:notice:file_read"
    NOTICE_PRECHECKED = "record:notice:prechecked"
    NOTICE_RELAY_REFUSED = "record:notice:relay_refused"
    INTEL_READ = "record:intel:read"
    INTEL_LISTED = "record:intel:listed"
    INTEL_CREATED = "record:intel:created"
    INTEL_UPDATED = "record:intel:updated"
    INTEL_DELETED = "record:intel:deleted"
    INTEL_IMPORTED = "record:intel:imported"
    INTEL_EXPORTED = "record:intel:exported"
    INTEL_ACCESSES_VIEWED = "record:intel:accesses_viewed"
    INTEL_RETENTION_EXTENDED = "record:intel:retention_extended"
    INTEL_REVIEW_REQUESTED = "record:intel:review_requested"
    INTEL_PURGED = "record:intel:purged"
    PUBLIC_NOTICES_SERVED = "public:notice:served"
    LOGIN_SUCCEEDED = "auth:session:created"
    LOGIN_FAILED = "auth:session:refused"
    TOTP_ENROLLED = "auth:totp:enrolled"
    USER_CREATED = "admin:user:created"
    USER_UPDATED = "admin:user:updated"
    USERS_LISTED = "admin:user:listed"
    API_KEY_CREATED = "admin:api_key:created"
    API_KEY_REVOKED = "admin:api_key:revoked"
    AGENCY_CREATED = "admin:agency:created"
    ACCESS_DENIED = "policy:access:denied"
    AGREEMENT_PROPOSED = "policy:agreement:proposed"
    AGREEMENT_APPROVED = "policy:agreement:approved"
    AGREEMENT_WITHDRAWN = "policy:agreement:withdrawn"
    AGREEMENT_RETIRED = "policy:agreement:retired"
    NATIONAL_RULES_SET = "policy:national_rules:updated"
    COUNTRY_GROUP_SET = "policy:country_group:updated"
    DECISION_EXPLAINED = "policy:decision:explained"
    AGREEMENT_DRY_RUN = "policy:agreement:dry_run"
    SUSPENSION_CREATED = "admin:suspension:created"
    SUSPENSION_LIFTED = "admin:suspension:lifted"
    SUSPENDED_REFUSED = "auth:suspension:refused"
    SUSPENSION_COPY_REFUSED = "admin:suspension:copy_refused"  # an envelope of suspension not from the hub
    QUARANTINE_RELEASED = "import:quarantine:released"
    QUARANTINE_DISCARDED = "import:quarantine:discarded"
    MESSAGE_SENT = "message:message:sent"
    MESSAGE_RECEIVED = "message:message:received"
    MESSAGE_READ = "message:message:read"
    MESSAGE_FORWARD_REFUSED = "message:message:forward_refused"  # a send whose forwarded records the policy refused
    MESSAGES_LISTED = "message:message:listed"
    # Attachments travel apart from their envelopes (chunked, fetched by each recipient):
    # their steps have tags of their own, so that an auditor can ask who downloaded a file.
    ATTACHMENT_STORED = "network:attachment:stored"  # at the hub: every chunk of it is there
    ATTACHMENT_REFUSED = "network:attachment:refused"  # not relayed, or a recipient found it altered
    ATTACHMENT_RECEIVED = "message:attachment:received"  # at a recipient: fetched and verified
    ATTACHMENT_DOWNLOADED = "message:attachment:downloaded"  # a user read it (or a range of it)
    READ_RECEIPT_SENT = "message:read_receipt:sent"
    READ_RECEIPT_RECEIVED = "message:read_receipt:received"
    READ_RECEIPT_REFUSED = "message:read_receipt:refused"
    ENVELOPE_ACCEPTED = "network:envelope:accepted"
    ENVELOPE_REFUSED = "network:envelope:refused"
    ENVELOPE_DELIVERED = "network:envelope:delivered"
    ENVELOPE_EXPIRED = "network:envelope:expired"
    REPLICA_SERVED = "network:replica:served"
    REPLICA_RESYNCED = "network:replica:resynced"
    # At a national node: hub records stored in (or dropped from) its replica, by pull or push.
    REPLICA_APPLIED = "network:replica:applied"
    # Accesses to other countries' records, reported to their owners' nodes (polex.audit.access_reports).
    ACCESS_REPORTS_SENT = "network:access_report:sent"
    ACCESS_REPORTS_RECEIVED = "network:access_report:received"
    ACCESS_REPORTS_REFUSED = "network:access_report:refused"
    NODE_INVITED = "network:node:invited"
    NODE_ENROLLED = "network:node:enrolled"
    NODE_ENROLMENT_REFUSED = "network:node:enrolment_refused"
    NODE_APPROVED = "network:node:approved"
    NODE_SUSPENDED = "network:node:suspended"
    NODE_REINSTATED = "network:node:reinstated"
    NODE_REVOKED = "network:node:revoked"
    DOCUMENTS_CHECKED = "screening:document:checked"
    VEHICLES_CHECKED = "screening:vehicle:checked"
    PERSONS_MATCHED = "screening:person:matched"
    HITS_LISTED = "screening:hit:listed"
    SCREENING_SUBMITTED = "screening:manifest:submitted"
    SCREENING_RESULTS_READ = "screening:manifest:results_read"
    HIT_CONFIRMATION_REQUESTED = "screening:hit:confirmation_requested"
    HIT_CONFIRMED = "screening:hit:confirmed"
    HIT_REJECTED = "screening:hit:rejected"
    HIT_REPORTED = "screening:hit:reported"  # at the hub: a national node's offline hit on its record
    # Cross-border correlations of person records (polex.correlation).
    CORRELATION_RAISED = "intel:correlation:raised"
    CORRELATION_VIEWED = "intel:correlation:viewed"
    CORRELATION_CONFIRMED = "intel:correlation:confirmed"
    CORRELATION_DISMISSED = "intel:correlation:dismissed"
    CORRELATION_CLOSED = "intel:correlation:closed"
    AUDIT_SEARCHED = "audit:event:searched"
    AUDIT_UNSEALED = "audit:terms:unsealed"

    @classmethod
    def for_record(cls, kind: str, action: str) -> AuditTag:
        """The tag of an action on a record kind, e.g. ``("person", "read")``."""
        return cls(f"record:{kind}:{action}")


class Decision(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    FAILED = "failed"  # the caller's credential or input was refused


class Actor(SchemaModel):
    kind: str = Field(description="user, api_key, or anonymous for refused logins")
    id: str | None = None
    name: str | None = None
    agency_id: str | None = None
    country: str | None = None


class AuditEvent(SchemaModel):
    """One entry of the log. ``canonical()`` is the exact byte string the Merkle leaf hashes."""

    seq: int = Field(ge=0, description="Position in the node's log (the Merkle leaf index)")
    id: str
    at: dt.datetime
    tag: AuditTag
    actor: Actor
    record_kind: str | None = None
    record_ids: list[str] = Field(default_factory=list)
    purpose: str | None = None
    case_reference: str | None = None
    decision: Decision = Decision.ALLOWED
    result_count: int | None = None
    request_id: str | None = None
    query_hashes: list[str] = Field(default_factory=list, description="Keyed hashes of query terms")
    query_sealed: str | None = Field(default=None, description="Query terms, encrypted to the auditors (JWE)")
    details: dict[str, Any] = Field(default_factory=dict)

    def canonical(self) -> bytes:
        """The exact bytes of this entry; see ``canonical_entry``."""
        return canonical_entry(
            seq=self.seq,
            id=self.id,
            at=self.at,
            tag=self.tag,
            actor=self.actor,
            record_kind=self.record_kind,
            record_ids=self.record_ids,
            purpose=self.purpose,
            case_reference=self.case_reference,
            decision=self.decision,
            result_count=self.result_count,
            request_id=self.request_id,
            query_hashes=self.query_hashes,
            query_sealed=self.query_sealed,
            details=self.details,
        )


def entry_time(at: dt.datetime) -> str:
    """How an entry writes its time: UTC, microseconds, ``Z``."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_entry(
    *,
    seq: int,
    id: str,
    at: dt.datetime | str,
    tag: AuditTag,
    actor: Actor,
    record_kind: str | None,
    record_ids: list[str],
    purpose: str | None,
    case_reference: str | None,
    decision: Decision,
    result_count: int | None,
    request_id: str | None,
    query_hashes: list[str],
    query_sealed: str | None,
    details: dict[str, Any],
) -> bytes:
    """An audit entry as the bytes its Merkle leaf hashes: sorted keys, no insignificant
    white space, UTF-8, the time in UTC with microseconds. Appending calls this directly
    (no model per event: it runs for every access); ``AuditEvent.canonical`` calls it too,
    so parsing an entry and writing it again gives the same bytes."""
    document = {
        "seq": seq,
        "id": id,
        "at": at if isinstance(at, str) else entry_time(at),
        "tag": tag.value,
        "actor": {
            "kind": actor.kind,
            "id": actor.id,
            "name": actor.name,
            "agency_id": actor.agency_id,
            "country": actor.country,
        },
        "record_kind": record_kind,
        "record_ids": record_ids,
        "purpose": purpose,
        "case_reference": case_reference,
        "decision": decision.value,
        "result_count": result_count,
        "request_id": request_id,
        "query_hashes": query_hashes,
        "query_sealed": query_sealed,
        "details": details,
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
