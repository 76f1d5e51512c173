"""Every table, in one module, so features never import each other's tables in a circle.

Records keep their whole content as JSON (the common schema is the contract, and it
evolves by version) plus a few projected columns that lists filter and sort on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDocument = JSON().with_variant(JSONB(), "postgresql")
# A record's documents (content, provenance, restrictions) are written and read whole, never
# queried inside (filters use the projected columns and terms): PostgreSQL's ``json`` keeps
# their text as written, where ``jsonb`` parses each into its binary form on the way in and
# prints it again on the way out: 15 % of the server's time in an import of travel
# documents (migration 0025).
JsonText = JSON()


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timestamps stored and returned in UTC, aware, on SQLite (naive) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; give a timezone")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


UUID_LENGTH = 36


class AgencyRow(Base):
    __tablename__ = "agencies"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    country: Mapped[str] = mapped_column(String(3), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(300))
    password_hash: Mapped[str] = mapped_column(String(300))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(JsonDocument)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(JsonDocument)
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class RecordRow(Base):
    """One record of any kind: envelope columns, projections for filters, the JSON content.

    ``key`` is a kind-specific natural key (issuing country and number for a document, VIN
    for a vehicle, ...) used for duplicate detection; ``terms`` holds normalised values
    wrapped in ``|`` so that a list filter is one indexed-column LIKE on any backend.
    """

    __tablename__ = "records"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    owner_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    owner_country: Mapped[str] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    key: Mapped[str | None] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(500))
    status: Mapped[str | None] = mapped_column(String(32))
    terms: Mapped[str] = mapped_column(Text, default="")
    restrictions: Mapped[dict[str, Any]] = mapped_column(JsonText)
    provenance: Mapped[dict[str, Any]] = mapped_column(JsonText)
    content: Mapped[dict[str, Any]] = mapped_column(JsonText)
    # Retention: the deadline from the data category and the owner country's law; the owner
    # is asked to review before it; past it the record is purged unless extended.
    retain_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    review_requested_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    purged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_records_retain_until", "retain_until"),
        Index("ix_records_kind_id", "kind", "id"),
        Index("ix_records_kind_owner_agency", "kind", "owner_agency_id", "id"),
        Index("ix_records_kind_owner_country", "kind", "owner_country", "id"),
        Index("ix_records_kind_status", "kind", "status", "id"),
        # A natural key is unique within its owner country: a duplicate across countries is
        # not an error (a VIN stolen in one country, registered in another), and refusing it
        # would tell the second country that a record it may not see exists.
        Index(
            "uq_records_kind_owner_key_live",
            "kind",
            "owner_country",
            "key",
            unique=True,
            sqlite_where=text("deleted_at IS NULL AND key IS NOT NULL"),
            postgresql_where=text("deleted_at IS NULL AND key IS NOT NULL"),
        ),
    )


class RecordKeyRow(Base):
    """The exact identifiers a check looks records up by (``doc:FRA:12AB34567``,
    ``vin:...``, ``plate:DEU:AB123CD``), one row per identifier of a live record; written
    in the same transaction as the record. The screening index keeps their fingerprints in
    memory; this table confirms a fingerprint hit and names the records."""

    __tablename__ = "record_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id"), primary_key=True, index=True)


class HitRow(Base):
    """A check that found a record another agency owns: what the owner is told, and the
    confirmation exchange that follows (the requester asks, the owner confirms or
    rejects) before anyone acts on it."""

    __tablename__ = "hits"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    record_kind: Mapped[str] = mapped_column(String(32))
    owner_agency_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    owner_country: Mapped[str] = mapped_column(String(3))
    requester_agency_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    requester_country: Mapped[str] = mapped_column(String(3))
    requester_user_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    purpose: Mapped[str] = mapped_column(String(64))
    case_reference: Mapped[str | None] = mapped_column(String(128))
    access: Mapped[str] = mapped_column(String(16))  # full, redacted or hit_only: what the requester saw
    query: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # what was checked, normalised
    status: Mapped[str] = mapped_column(String(24))  # unconfirmed, confirmation_requested, confirmed, rejected
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    requested_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    request_note: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    answer_note: Mapped[str | None] = mapped_column(Text)
    # On a national node: the hub, which holds this hit (this is the owner's or the
    # requester's copy; answers and requests go back there; polex.screening.hit_exchange).
    source_node: Mapped[str | None] = mapped_column(String(63))
    # The national node whose user's check raised the hit (online at the hub, or offline on
    # its replica): at the hub, where the requester's copy goes; on that node, itself.
    requester_node: Mapped[str | None] = mapped_column(String(63))

    __table_args__ = (
        Index("ix_hits_owner_agency", "owner_agency_id", "created_at"),
        Index("ix_hits_requester_agency", "requester_agency_id", "created_at"),
    )


class CorrelationRow(Base):
    """Two person records of different owner countries that the matcher finds alike (a
    person record or a notice's subject): one row per unordered pair, side ``a`` the lower
    record id. Each owner answers for its side (open, confirmed, dismissed); a change of
    either record refreshes the score, a withdrawal closes it (polex.correlation)."""

    __tablename__ = "correlations"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    record_a_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    kind_a: Mapped[str] = mapped_column(String(32))
    agency_a_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    country_a: Mapped[str] = mapped_column(String(3))
    status_a: Mapped[str] = mapped_column(String(16))  # open | confirmed | dismissed
    note_a: Mapped[str | None] = mapped_column(Text)
    answered_at_a: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    record_b_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    kind_b: Mapped[str] = mapped_column(String(32))
    agency_b_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    country_b: Mapped[str] = mapped_column(String(3))
    status_b: Mapped[str] = mapped_column(String(16))
    note_b: Mapped[str | None] = mapped_column(Text)
    answered_at_b: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)  # the matcher's, per feature
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    closed_reason: Mapped[str | None] = mapped_column(String(24))  # withdrawn | purged | no_longer_matches

    __table_args__ = (
        Index("uq_correlations_pair", "record_a_id", "record_b_id", unique=True),
        Index("ix_correlations_agency_a", "agency_a_id", "id"),
        Index("ix_correlations_agency_b", "agency_b_id", "id"),
    )


class CorrelationStateRow(Base):
    """How far the correlation worker got: records changed before ``mark`` are correlated; a
    node that serves correlates again those changed since (it may have stopped with some
    still queued)."""

    __tablename__ = "correlation_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    mark: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ScreeningRow(Base):
    """A manifest screening job: who asked, why, how far it got and what it found. The
    manifest and its results are files in the node's data folder, named by the id."""

    __tablename__ = "screenings"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    agency_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    country: Mapped[str] = mapped_column(String(3))
    purpose: Mapped[str] = mapped_column(String(64))
    case_reference: Mapped[str | None] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(255))
    threshold: Mapped[float] = mapped_column(Float)
    candidates: Mapped[int] = mapped_column(Integer)  # at most this many candidates a row
    status: Mapped[str] = mapped_column(String(16))  # queued, running, done, failed
    error: Mapped[str | None] = mapped_column(Text)
    bytes_total: Mapped[int] = mapped_column(BigInteger)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_with_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    document_hits: Mapped[int] = mapped_column(BigInteger, default=0)
    person_matches: Mapped[int] = mapped_column(BigInteger, default=0)
    # On a national node: rows whose hub records were checked online, on the replica, or not.
    hub_online_rows: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hub_replica_rows: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    hub_unchecked_rows: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class ReplicaRecordRow(Base):
    """A national node's copy of a hub record its country may see (MIND), as the hub's
    policy let it leave: the record (full, redacted or hit-only) and the SHA-256 of its
    lookup keys, so that even a hit-only record answers a check offline."""

    __tablename__ = "replica_records"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    owner_agency_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    owner_country: Mapped[str] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer)
    access: Mapped[str] = mapped_column(String(16))
    consult_owner: Mapped[bool] = mapped_column(Boolean)
    record: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    key_hashes: Mapped[list[str]] = mapped_column(JsonDocument)
    hub_updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    synced_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class ReplicaKeyRow(Base):
    """The SHA-256 of a replica record's lookup keys: what a check finds it by."""

    __tablename__ = "replica_keys"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("replica_records.id"), primary_key=True, index=True)


class ReplicaStateRow(Base):
    """Where the national replica stands: the hub's cursor, the hub time the copy is as
    of, and the last attempt and its error."""

    __tablename__ = "replica_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cursor: Mapped[str | None] = mapped_column(String(200))
    as_of: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    full_syncs: Mapped[int] = mapped_column(Integer, default=0)


class AuditEventRow(Base):
    """One entry of the audit log. ``entry`` is the canonical JSON the Merkle leaf hashes;
    the other columns are projections of it for searching, checked against it on verify."""

    __tablename__ = "audit_events"

    # On SQLite an INTEGER primary key is the table's rowid: one b-tree less to write per
    # event than a BIGINT key, which SQLite keeps as a separate unique index.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    id: Mapped[str] = mapped_column(String(UUID_LENGTH), unique=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    tag: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    agency_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    country: Mapped[str | None] = mapped_column(String(3))
    decision: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(128))
    entry: Mapped[str] = mapped_column(Text)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (
        Index("ix_audit_events_tag_seq", "tag", "seq"),
        Index("ix_audit_events_actor_seq", "actor_id", "seq"),
        Index("ix_audit_events_agency_seq", "agency_id", "seq"),
        Index("ix_audit_events_country_seq", "country", "seq"),
    )


class AuditEventRecordRow(Base):
    """Which records an audit event touched: "who accessed this record" is one index look-up."""

    __tablename__ = "audit_event_records"
    # The key is the whole row: SQLite stores it as one b-tree instead of a table and its key
    # index. By seq: the entries of a stretch of the log that touched records (access reports).
    __table_args__ = (Index("ix_audit_event_records_seq", "seq"), {"sqlite_with_rowid": False})

    record_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class AuditEventTermRow(Base):
    """Keyed hashes of the query terms of an audit event, to find who searched for a value."""

    __tablename__ = "audit_event_terms"
    # The key is the whole row: SQLite stores it as one b-tree instead of a table and its key index.
    __table_args__ = {"sqlite_with_rowid": False}

    term_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class AuditNodeRow(Base):
    """Hashes of perfect Merkle subtrees at every fourth level (4, 8, 12, ...): about one row
    per fifteen leaves, enough to build any proof with a few hashing steps per level."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpointRow(Base):
    """A signed statement of the log's size and root (a C2SP signed note)."""

    __tablename__ = "audit_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(Text)


class AuditStateRow(Base):
    """The log's size, i.e. the next sequence number; one row.

    Appending updates it with UPDATE ... RETURNING inside the writer's own transaction, so
    sequence numbers are gapless and in commit order on both backends."""

    __tablename__ = "audit_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)


class AuditTreeRow(Base):
    """How far the Merkle tree is integrated, with the peaks to resume from; one row, apart
    from ``audit_state`` so that integrating never blocks the appenders."""

    __tablename__ = "audit_tree"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    peaks: Mapped[list[str]] = mapped_column(JsonDocument)


class WitnessedCheckpointRow(Base):
    """A checkpoint of another node's audit log, as that node signed it and this one checked it."""

    __tablename__ = "audit_witnessed"

    log: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    via: Mapped[str] = mapped_column(String(200))


class AuditAlertRow(Base):
    """Something a witness found wrong with a log: a fork, a rollback, a bad signature."""

    __tablename__ = "audit_alerts"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    log: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class ImportRow(Base):
    """One run of an import: what was read, by whom, with what outcome."""

    __tablename__ = "imports"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    format: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(500))
    owner_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # running (counts grow batch by batch), finished, failed or interrupted (by a restart).
    status: Mapped[str] = mapped_column(String(16), default="finished", server_default="finished")
    error: Mapped[str | None] = mapped_column(Text)


class QuarantineRow(Base):
    """An item an import could not take, kept exactly as received with the reason."""

    __tablename__ = "quarantine"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    import_id: Mapped[str] = mapped_column(ForeignKey("imports.id"), index=True)
    location: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(300))
    reason: Mapped[str] = mapped_column(Text)
    errors: Mapped[list[dict[str, str]]] = mapped_column(JsonDocument)
    raw: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # Review: an operator releases an item (as a corrected record) or discards it, with reasons.
    status: Mapped[str] = mapped_column(String(16), default="open", server_default="open")
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    resolution: Mapped[str | None] = mapped_column(Text)  # the record released, or why it was discarded


class AgreementRow(Base):
    """The current version of an agreement, and which parties approved that version."""

    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    approvals: Mapped[list[dict[str, str]]] = mapped_column(JsonDocument)  # country, user, at
    proposed_by_country: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    retired_reason: Mapped[str | None] = mapped_column(Text)


class AgreementVersionRow(Base):
    """Every text an agreement ever had: decisions cite a version, auditors can read it."""

    __tablename__ = "agreement_versions"

    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    proposed_by: Mapped[str] = mapped_column(String(UUID_LENGTH))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class PolicyDocumentRow(Base):
    """National rules (one per country) and country groups, versioned in place; the audit
    trail keeps every change."""

    __tablename__ = "policy_documents"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)  # national_rules | country_group
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(UUID_LENGTH))


class SuspensionRow(Base):
    """A sanction: a user or an agency refused everything until it is lifted."""

    __tablename__ = "suspensions"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # user | agency
    subject_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    country: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text)
    suspended_by: Mapped[str] = mapped_column(String(UUID_LENGTH))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    lifted_by: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    lift_reason: Mapped[str | None] = mapped_column(Text)
    # A national node's copy of a suspension the hub imposed (its id is the hub's): the
    # hub's node name; None for this node's own. Only the hub's lift ends a copy.
    imposed_by: Mapped[str | None] = mapped_column(String(63))
    suspended_by_name: Mapped[str | None] = mapped_column(String(300))  # as its node names the administrator
    lifted_by_name: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (Index("ix_suspensions_subject", "subject_kind", "subject_id"),)


class NetworkMemberRow(Base):
    """A node of the network as the hub knows it: invited, enrolled (its certificate request
    waits for an operator), active, suspended or revoked."""

    __tablename__ = "network_members"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    country: Mapped[str] = mapped_column(String(3))
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # invited | pending | active | suspended | revoked
    url: Mapped[str | None] = mapped_column(String(500))
    invitation_hash: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the one-time code
    invited_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    invited_by: Mapped[str] = mapped_column(String(UUID_LENGTH))
    csr: Mapped[str | None] = mapped_column(Text)
    encryption_key: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)  # public JWK
    requested_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    certificate: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(String(64))  # decimal: X.509 serials exceed 64 bits
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    not_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    approved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    reason: Mapped[str | None] = mapped_column(Text)  # why suspended or revoked


class MessageRow(Base):
    """A message as this node knows it: one it sent (outbox) or received (inbox), in clear:
    only the nodes at either end ever hold it so."""

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    box: Mapped[str] = mapped_column(String(8), primary_key=True)  # outbox | inbox
    sender: Mapped[str] = mapped_column(String(63))
    recipients: Mapped[list[str]] = mapped_column(JsonDocument)
    conversation_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    case_ref: Mapped[str | None] = mapped_column(String(128))
    handling: Mapped[str] = mapped_column(String(32))
    created: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # agency, country, name of who wrote it
    received_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    read_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())  # inbox: first read by a user here
    # Records forwarded in the message, each as the sender's policy let it go to every
    # recipient (polex.message.forwarding); None when it forwards none.
    records: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonDocument)

    __table_args__ = (Index("ix_messages_box_created", "box", "created"),)


class MessageRecipientRow(Base):
    """The sender's view of one recipient: queued, at the hub, delivered, read, expired, refused."""

    __tablename__ = "message_recipients"

    message_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(63), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(Text)  # the recipient's signed delivery receipt (JWS)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    read_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())  # as the recipient's read receipt says
    read_receipt: Mapped[str | None] = mapped_column(Text)  # the recipient's signed read receipt (JWS)


class OutboxRow(Base):
    """A sealed envelope waiting to be relayed to the hub; written in the sender's transaction."""

    __tablename__ = "outbox"

    message_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    envelope: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    relayed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class HubEnvelopeRow(Base):
    """At the hub: an envelope accepted for routing (it cannot read the body)."""

    __tablename__ = "hub_envelopes"

    message_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    sender: Mapped[str] = mapped_column(String(63))
    conversation_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    envelope: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class HubDeliveryRow(Base):
    """At the hub: one recipient's queue entry for an envelope, and what became of it."""

    __tablename__ = "hub_deliveries"

    message_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(63), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | delivered | expired | refused
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    receipt: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())  # told the sender
    # When the envelope was put in the recipient's JetStream stream (its receipt comes later).
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_hub_deliveries_due", "status", "next_attempt_at"),)


class NoticeRow(Base):
    """A notice or diffusion through its lifecycle, as its source wrote it. Only what is in
    force is also a record (``records``, kind ``notice``, same id): that copy is what the
    policy, screening, replicas and the public extract see; drafts and requests under
    review never leave this table."""

    __tablename__ = "notices"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # notice | diffusion
    notice_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    owner_agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    owner_country: Mapped[str] = mapped_column(String(3))
    label: Mapped[str] = mapped_column(String(500))  # the subject's name, or what the notice is about
    content: Mapped[dict[str, Any]] = mapped_column(JsonDocument)  # polex.domain.notice.NoticeRequest
    restrictions: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument, default=list)  # the last pre-checks
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    published_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    review_due_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    review_requested_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    # At the hub: the national node a request came from in signed envelopes (its lifecycle
    # reports go back there). None for a notice drafted at this node.
    source_node: Mapped[str | None] = mapped_column(String(63))
    # Where the request came from when it was imported (polex.domain.base.Provenance).
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument)

    __table_args__ = (
        Index("ix_notices_status", "status", "updated_at"),
        Index("ix_notices_owner_agency", "owner_agency_id", "updated_at"),
        Index("ix_notices_expires_at", "expires_at"),
    )


class NoticeTransitionRow(Base):
    """One step of a notice's lifecycle: who did what, when and why. Never changed."""

    __tablename__ = "notice_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    actor_kind: Mapped[str] = mapped_column(String(16))  # user, api_key, system
    actor_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    actor_agency_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    actor_country: Mapped[str | None] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)


class NoticeFileRow(Base):
    """A photo or document attached to a notice: the bytes (small: photos and scans; large
    files travel as message attachments) and their SHA-256."""

    __tablename__ = "notice_files"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("notices.id"), index=True)
    media_type: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    # On a national node: when the file left for the hub (None: not yet sent).
    relayed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())


class AppliedEnvelopeRow(Base):
    """An envelope whose content this node has acted on (a relayed notice step, a lifecycle
    report), written in the transaction of its effect: the wire may deliver twice, the
    effect happens once."""

    __tablename__ = "applied_envelopes"

    message_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    sender: Mapped[str] = mapped_column(String(63))
    content_type: Mapped[str] = mapped_column(String(100))
    applied_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    outcome: Mapped[str | None] = mapped_column(Text)  # why it was refused, if it was


class NoticeCounterRow(Base):
    """The last notice number given in a year: references read ``2026/1234``."""

    __tablename__ = "notice_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class AttachmentUploadRow(Base):
    """On a sender's node: a file a user uploads in chunks before sending it with a message.
    Only the uploader's agency sees it; once sent, its bytes live on sealed (``message_attachments``)."""

    __tablename__ = "attachment_uploads"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    uploader_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the whole file, as the uploader declared it
    chunk_size: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # uploading | complete | failed | sent
    reason: Mapped[str | None] = mapped_column(Text)  # why it failed
    message_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))  # the message it was sent with
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_attachment_uploads_agency", "agency_id", "created_at"),
        Index("ix_attachment_uploads_status", "status", "updated_at"),
    )


class AttachmentUploadChunkRow(Base):
    """One chunk of an upload that arrived whole (its file is in place)."""

    __tablename__ = "attachment_upload_chunks"

    upload_id: Mapped[str] = mapped_column(ForeignKey("attachment_uploads.id"), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class MessageAttachmentRow(Base):
    """An attachment of a message this node sent (``outbox``: sealed here, then relayed to
    the hub) or received (``inbox``: fetched from the hub, then verified), stored sealed on
    disk with the content key that opens it (in clear, as the message body is)."""

    __tablename__ = "message_attachments"

    box: Mapped[str] = mapped_column(String(8), primary_key=True)  # outbox | inbox
    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the plaintext
    chunk_size: Mapped[int] = mapped_column(Integer)  # of the plaintext
    chunk_count: Mapped[int] = mapped_column(Integer)
    content_key: Mapped[str] = mapped_column(String(64))  # base64url
    chunks: Mapped[list[str]] = mapped_column(JsonDocument)  # SHA-256 of each sealed chunk
    # outbox: sealed | at_hub | refused; inbox: fetching | available | refused
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    done: Mapped[int] = mapped_column(Integer, default=0)  # chunks relayed to, or fetched from, the hub
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_message_attachments_due", "box", "status", "next_attempt_at"),)


class HubAttachmentRow(Base):
    """At the hub: the sealed chunks of an attachment (it cannot open them), declared by the
    node that sent the message, kept until every recipient has fetched them or no longer can."""

    __tablename__ = "hub_attachments"

    id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    sender: Mapped[str] = mapped_column(String(63))
    message_id: Mapped[str] = mapped_column(String(UUID_LENGTH), index=True)
    size: Mapped[int] = mapped_column(BigInteger)  # of the sealed chunks together
    chunk_bytes: Mapped[int] = mapped_column(Integer)  # of each sealed chunk but the last
    chunk_count: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer, default=0)  # chunks 0 .. received - 1 are here
    status: Mapped[str] = mapped_column(String(16))  # receiving | complete | purged
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    purged_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_hub_attachments_status", "status", "created_at"),)


class HubAttachmentChunkRow(Base):
    """At the hub: the SHA-256 the sender declared for one sealed chunk."""

    __tablename__ = "hub_attachment_chunks"

    attachment_id: Mapped[str] = mapped_column(ForeignKey("hub_attachments.id"), primary_key=True)
    chunk: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))


class HubAttachmentFetchRow(Base):
    """At the hub: a recipient that has what it needs of an attachment (fetched and verified,
    or refused): the hub no longer keeps the chunks for it."""

    __tablename__ = "hub_attachment_fetches"

    attachment_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(63), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))  # verified | refused
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class AccessReportStateRow(Base):
    """How far this node's audit log has been read for accesses to report to other records'
    owners (polex.audit.access_reports): entries before ``next_seq`` are queued or were sent."""

    __tablename__ = "access_report_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    next_seq: Mapped[int] = mapped_column(BigInteger)


class AccessReportQueueRow(Base):
    """An access this node's log records to a record another country owns, waiting to be
    sent to that country's node: one row per (entry, record), ``report`` as it will travel."""

    __tablename__ = "access_report_queue"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    owner_country: Mapped[str] = mapped_column(String(3))
    report: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    queued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_access_report_queue_country", "owner_country", "seq", "record_id"),)


class AccessReportRow(Base):
    """On the owner's node: an access to one of its country's records on another node, as
    that node reported it; once per (node, entry, record). No officer, no case: whether one
    was declared."""

    __tablename__ = "access_reports"

    node: Mapped[str] = mapped_column(String(63), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    record_kind: Mapped[str] = mapped_column(String(32))
    owner_agency_id: Mapped[str] = mapped_column(String(UUID_LENGTH))
    owner_country: Mapped[str] = mapped_column(String(3))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    tag: Mapped[str] = mapped_column(String(64))
    agency_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    country: Mapped[str | None] = mapped_column(String(3))
    purpose: Mapped[str | None] = mapped_column(String(64))
    case_declared: Mapped[bool] = mapped_column(Boolean)
    decision: Mapped[str] = mapped_column(String(16))
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)  # the reporter's signed checkpoint holding the entry
    message_id: Mapped[str] = mapped_column(String(UUID_LENGTH))  # the envelope that brought it
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_access_reports_record", "record_id", "at"),)


class AccessReportCheckpointRow(Base):
    """On the owner's node: a reporter's signed checkpoint, as it came with its reports and
    was checked against the key given: what their entries' inclusion proofs are checked against."""

    __tablename__ = "access_report_checkpoints"

    node: Mapped[str] = mapped_column(String(63), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    origin: Mapped[str] = mapped_column(String(200))
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    verifier_key: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
