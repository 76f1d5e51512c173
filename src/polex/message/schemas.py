"""What the message API reads and writes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, TypeAdapter, field_validator, model_validator

from polex.crypto.attachment import MAX_CHUNKS, chunk_count, decode_key
from polex.domain.base import RecordId, SchemaModel, Tlp
from polex.domain.countries import is_country_code, normalise_country_code
from polex.domain.records import RECORD_TYPES

EVERYONE = "*"
DEFAULT_EXPIRY = dt.timedelta(days=30)
MAX_ATTACHMENTS = 20  # a message's attachments
MAX_FORWARDED = 20  # records forwarded in one message

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# RFC 6838 4.2: type "/" subtype, restricted names; parameters are not kept.
MediaType = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}$"
    ),
]
# A file's name as its user knows it, shown and offered back on download: no folders.
FileName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^/\\]+$")]


FORWARDABLE = tuple(record_type.plural for record_type in RECORD_TYPES.values())


class RecordReference(SchemaModel):
    """A record to forward in a message, as its collection and id name it in the API."""

    kind: str = Field(max_length=64, description=f"The record's collection: {', '.join(FORWARDABLE)}")
    id: RecordId

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in FORWARDABLE:
            raise ValueError(f"'{value}' is not a collection of records; one of {', '.join(FORWARDABLE)}")
        return value


class ForwardedRule(SchemaModel):
    code: Annotated[str, StringConstraints(max_length=100)]
    text: Annotated[str, StringConstraints(max_length=2000)]
    reference: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ForwardedAccess(SchemaModel):
    """What the sender's policy decided the recipients may have of a forwarded record."""

    outcome: Literal["full", "redacted", "hit_only"]
    removed_fields: list[Annotated[str, StringConstraints(max_length=200)]] = Field(default_factory=list)
    consult_owner: bool = False
    onward_transmission: bool = Field(default=False, description="Whether the recipients may pass it on in turn")
    purpose: Annotated[str, StringConstraints(max_length=64)]
    rules: list[ForwardedRule] = Field(default_factory=list, description="The rules that decided, for every recipient")


class ForwardedRecord(SchemaModel):
    """A record forwarded in a message: in the encrypted body, and in the read API."""

    kind: Annotated[str, StringConstraints(max_length=32)]
    id: RecordId
    owner: dict[str, str]
    access: ForwardedAccess
    record: dict[str, Any] = Field(
        description="The record as decided: whole, without the removed fields, or only id, kind and owner (hit-only)"
    )


_FORWARDED = TypeAdapter(list[ForwardedRecord])


def forwarded_records(content: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The records a received message forwards (ValueError if they are not well formed)."""
    raw = content.get("records")
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > MAX_FORWARDED:
        raise ValueError(f"records: at most {MAX_FORWARDED} forwarded records")
    return [record.model_dump(mode="json") for record in _FORWARDED.validate_python(raw)]


class MessageCreate(SchemaModel):
    to: list[str] = Field(
        min_length=1, max_length=300, description="Country codes of the recipients' nodes, or ['*'] for every node"
    )
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=1_000_000)]
    handling: Tlp = Tlp.AMBER
    case_ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] | None = None
    in_reply_to: RecordId | None = None
    expires_in: int = Field(
        default=int(DEFAULT_EXPIRY.total_seconds()),
        ge=60,
        le=90 * 86400,
        description="Seconds the message waits for an offline recipient (30 days by default)",
    )
    attachments: list[RecordId] = Field(
        default_factory=list,
        max_length=MAX_ATTACHMENTS,
        description="Ids of completed uploads (POST /api/v1/attachments) to send with the message",
    )

    records: list[RecordReference] = Field(
        default_factory=list,
        max_length=MAX_FORWARDED,
        description="Records to forward, each as the policy decides for every recipient (declare X-Polex-Purpose)",
    )

    @field_validator("attachments")
    @classmethod
    def _distinct_attachments(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("an attachment is named twice")
        return values

    @field_validator("records")
    @classmethod
    def _distinct_records(cls, values: list[RecordReference]) -> list[RecordReference]:
        if len({(value.kind, value.id) for value in values}) != len(values):
            raise ValueError("a record is named twice")
        return values

    @field_validator("to")
    @classmethod
    def _recipients(cls, values: list[str]) -> list[str]:
        if values == [EVERYONE]:
            return values
        codes = []
        for value in values:
            code = normalise_country_code(value)
            if not isinstance(code, str) or not is_country_code(code):
                raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-3 country code (or use ['*'] alone)")
            codes.append(code)
        if len(set(codes)) != len(codes):
            raise ValueError("a country is named twice")
        return codes


class RecipientStatus(SchemaModel):
    node: str
    status: str = Field(
        description="queued, at_hub, delivered, read, expired or refused; never back from read (a late report)"
    )
    reason: str | None = None
    updated_at: dt.datetime
    read_at: dt.datetime | None = Field(
        default=None, description="When a user of the recipient node first read it (its signed read receipt)"
    )


class AttachmentInfo(SchemaModel):
    id: str
    name: str
    media_type: str
    size: int
    sha256: str = Field(description="SHA-256 of the file, hex: the recipient checked it before offering the file")
    status: str = Field(
        description="outbox: sealed (going to the hub), at_hub, refused; inbox: fetching, available, refused"
    )
    reason: str | None = None
    progress: float = Field(description="Share of the chunks relayed to the hub (outbox) or fetched from it (inbox)")


class MessageRead(SchemaModel):
    id: str
    box: str
    sender: str
    recipients: list[str]
    conversation_id: str
    in_reply_to: str | None
    case_ref: str | None
    handling: str
    created: dt.datetime
    expires: dt.datetime
    subject: str
    body: str
    author: dict[str, Any]
    received_at: dt.datetime | None = None
    read_at: dt.datetime | None = Field(default=None, description="Inbox: when a user here first read it")
    delivery: list[RecipientStatus] = Field(default_factory=list, description="Per recipient (outbox only)")
    attachments: list[AttachmentInfo] = Field(
        default_factory=list, description="Download each at /api/v1/messages/{id}/attachments/{attachment id}"
    )
    records: list[ForwardedRecord] = Field(
        default_factory=list, description="Records forwarded in the message, as the sender's policy decided"
    )


class MessageAccepted(SchemaModel):
    id: str
    conversation_id: str
    recipients: list[str]


class MessageList(SchemaModel):
    items: list[MessageRead]


class EnvelopeAccepted(SchemaModel):
    message_id: str
    duplicate: bool


class DeliveryReceipt(SchemaModel):
    message_id: str
    receipt: str = Field(description="JWS signed by the recipient node: message id, recipient, status, time")


class DeliveryReport(SchemaModel):
    """From the hub to a sender: what became of one recipient."""

    message_id: RecordId
    recipient: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    status: Annotated[str, StringConstraints(pattern=r"^(delivered|expired|refused)$")]
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    receipt: Annotated[str, StringConstraints(max_length=8000)] | None = None


class DeliveryReports(SchemaModel):
    reports: list[DeliveryReport] = Field(min_length=1, max_length=1000)


class ReadReceipt(SchemaModel):
    """From a recipient node to the sender node, in an envelope of its own through the hub:
    a user there read the message. ``receipt`` is the JWS the recipient node signs
    (``polex-receipt+jws``: message id, recipient, status ``read``, time)."""

    message_id: RecordId
    receipt: Annotated[str, StringConstraints(min_length=1, max_length=8000)]


# -- attachments ------------------------------------------------------------------------------


class AttachmentCreate(SchemaModel):
    """What a user declares before uploading a file in chunks."""

    name: FileName
    media_type: MediaType = "application/octet-stream"
    size: int = Field(ge=0, le=2**53 - 1, description="Bytes of the whole file (the node's limit applies)")
    sha256: Sha256Hex = Field(description="SHA-256 of the whole file, lowercase hex: checked on completion")


class AttachmentUploadRead(SchemaModel):
    id: str
    name: str
    media_type: str
    size: int
    sha256: str
    chunk_size: int = Field(
        description="Every chunk has this many bytes but the last (size - (chunk_count - 1) * chunk_size)"
    )
    chunk_count: int
    status: str = Field(description="uploading, complete (ready to send), failed, sent")
    reason: str | None = None
    received: int = Field(description="How many chunks arrived")
    missing: list[tuple[int, int]] = Field(description="Chunks still to upload, as inclusive ranges [first, last]")
    message_id: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class SealedAttachment(SchemaModel):
    """An attachment as the message body carries it to the recipients (end to end encrypted
    and signed with the body): what it is, the key that opens it, and each sealed chunk's hash."""

    id: RecordId
    name: FileName
    media_type: MediaType
    size: int = Field(ge=0, le=2**53 - 1)
    sha256: Sha256Hex
    chunk_size: int = Field(ge=1, le=2**31 - 1)
    chunk_count: int = Field(ge=1, le=MAX_CHUNKS)
    key: Annotated[str, StringConstraints(min_length=43, max_length=43)]
    chunks: list[Sha256Hex] = Field(min_length=1, description="SHA-256 of each sealed chunk, in order")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        decode_key(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SealedAttachment:
        if self.chunk_count != chunk_count(self.size, self.chunk_size):
            raise ValueError("chunk_count does not follow from size and chunk_size")
        if len(self.chunks) != self.chunk_count:
            raise ValueError("chunks must list one hash per chunk")
        return self


class HubAttachmentDeclared(SchemaModel):
    """From a sender's node to the hub, before the chunks: which message the attachment
    belongs to and what its sealed chunks are (the hub checks each against it)."""

    message_id: RecordId
    size: int = Field(ge=1, le=2**53 - 1, description="Bytes of all the sealed chunks")
    chunk_bytes: int = Field(ge=1, le=2**31 - 1, description="Bytes of each sealed chunk but the last")
    chunks: list[Sha256Hex] = Field(min_length=1, max_length=MAX_CHUNKS, description="SHA-256 of each sealed chunk")

    @model_validator(mode="after")
    def _consistent(self) -> HubAttachmentDeclared:
        if len(self.chunks) != chunk_count(self.size, self.chunk_bytes):
            raise ValueError("chunks must list one hash per chunk of chunk_bytes in size")
        return self


class HubAttachmentStatus(SchemaModel):
    id: str
    message_id: str
    chunk_count: int
    received: int = Field(description="Chunks 0 to received - 1 are at the hub; send the next one")
    complete: bool


class AttachmentFetched(SchemaModel):
    """From a recipient to the hub: it no longer needs the chunks."""

    outcome: Annotated[str, StringConstraints(pattern=r"^(verified|refused)$")]
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
