"""Notices and diffusions: the network's alerts, and the rules of their lifecycle.

A **notice** is requested by a national bureau, reviewed by the hub for compliance, and
published to every member the policy lets see it. A **diffusion** goes from a bureau
straight to the countries it names (or to all), with no prior review, under the same data
rules; it can later become a notice request.

Both carry a subject (a person; for a black notice an unidentified body; for a purple
notice a modus operandi; for an orange notice a threat), the offences and legal basis
behind the request, free texts in the four working languages (each text keeps its original
with its translations), and attachments (photos, documents).

The notice types (``NoticeTypeSpec``) and the lifecycle (``TRANSITIONS``) are data: a new
type, such as the silver notice for criminal assets, is configuration, not code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from polex.domain.base import LongText, RecordId, SchemaModel, Text
from polex.domain.countries import CountryCode
from polex.domain.dates import PastDate, PastPartialDate
from polex.domain.iccs import IccsCode
from polex.domain.person import Person, PhysicalDescription, Place, Sex

TypeCode = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z][a-z0-9_]{1,31}$")]

DEFAULT_VALIDITY_YEARS = 5
REVIEW_BEFORE_EXPIRY = dt.timedelta(days=183)  # the source is asked to review six months ahead


class Language(StrEnum):
    """The network's four working languages (ISO 639-1)."""

    ARABIC = "ar"
    ENGLISH = "en"
    FRENCH = "fr"
    SPANISH = "es"


class LocalText(SchemaModel):
    """A free text as its author wrote it, in one working language, with the translations
    made of it. The original is never replaced by a translation."""

    language: Language = Field(description="The language the original is written in")
    text: LongText
    translations: dict[Language, LongText] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _translations_are_other_languages(self) -> LocalText:
        if self.language in self.translations:
            raise ValueError(f"translations: '{self.language}' is the original's language, not a translation")
        return self

    def in_language(self, language: Language) -> str | None:
        if language is self.language:
            return self.text
        return self.translations.get(language)


class Channel(StrEnum):
    NOTICE = "notice"
    DIFFUSION = "diffusion"


class NoticeStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # waiting for the hub's review
    RETURNED = "returned"  # the hub asked the source for more information
    PUBLISHED = "published"  # in force (a diffusion is in force once issued)
    REFUSED = "refused"
    SUSPENDED = "suspended"  # the hub took it out of circulation pending a decision
    CANCELLED = "cancelled"
    EXPIRED = "expired"


IN_FORCE = frozenset({NoticeStatus.PUBLISHED})
FINAL = frozenset({NoticeStatus.REFUSED, NoticeStatus.CANCELLED, NoticeStatus.EXPIRED})
EDITABLE = frozenset({NoticeStatus.DRAFT, NoticeStatus.RETURNED, NoticeStatus.PUBLISHED})


# -- what a type requires -------------------------------------------------------------------


class SubjectKind(StrEnum):
    PERSON = "person"  # a named person must be given
    PERSON_OPTIONAL = "person_optional"  # a person if there is one (orange: a threat may be an object)
    BODY = "body"  # an unidentified body, described
    NONE = "none"  # purple: a modus operandi, no person


class Requirement(StrEnum):
    """Data a notice type cannot be published without; the pre-checks test each."""

    LEGAL_BASIS = "legal_basis"  # an arrest warrant or judgement, its authority and date
    OFFENCES = "offences"
    PENALTY_THRESHOLD = "penalty_threshold"  # at least 2 years, or at least 6 months left to serve
    IDENTIFIERS = "identifiers"  # enough to identify the person
    MISSING_EVENT = "missing_event"  # when and where the person went missing
    BODY = "body"  # where and when the body was found, its description
    THREAT = "threat"
    MODUS_OPERANDI = "modus_operandi"
    SANCTIONS_REFERENCE = "sanctions_reference"  # the UN Security Council committee's reference
    REASON = "reason"  # the summary: why the information is sought


class NoticeTypeSpec(SchemaModel):
    code: TypeCode
    title: Text
    description: Text
    subject: SubjectKind = SubjectKind.PERSON
    requires: list[Requirement] = Field(default_factory=list)
    purpose: str = Field(description="The purpose of processing its screening and dissemination serve")
    public_extract: bool = Field(default=False, description="May have a public extract, with the source's consent")
    validity_years: int = Field(default=DEFAULT_VALIDITY_YEARS, ge=1, le=20)


BUILTIN_TYPES: tuple[NoticeTypeSpec, ...] = (
    NoticeTypeSpec(
        code="red",
        title="Red notice",
        description="To seek the location and arrest of a person wanted for prosecution or to serve a sentence",
        requires=[
            Requirement.LEGAL_BASIS,
            Requirement.OFFENCES,
            Requirement.PENALTY_THRESHOLD,
            Requirement.IDENTIFIERS,
        ],
        purpose="prosecution",
        public_extract=True,
    ),
    NoticeTypeSpec(
        code="yellow",
        title="Yellow notice",
        description="To help locate a missing person, often a minor, or to identify a person unable to do so",
        requires=[Requirement.MISSING_EVENT, Requirement.IDENTIFIERS],
        purpose="missing_persons",
        public_extract=True,
    ),
    NoticeTypeSpec(
        code="blue",
        title="Blue notice",
        description="To collect information about a person's identity, location or activities in a criminal matter",
        requires=[Requirement.REASON],
        purpose="criminal_investigation",
    ),
    NoticeTypeSpec(
        code="black",
        title="Black notice",
        description="To seek information on unidentified bodies",
        subject=SubjectKind.BODY,
        requires=[Requirement.BODY],
        purpose="body_identification",
    ),
    NoticeTypeSpec(
        code="green",
        title="Green notice",
        description="To warn about a person's criminal activities where they are a likely threat to public safety",
        requires=[Requirement.OFFENCES, Requirement.REASON],
        purpose="crime_prevention",
    ),
    NoticeTypeSpec(
        code="orange",
        title="Orange notice",
        description="To warn of an event, a person, an object or a process representing a serious and imminent threat",
        subject=SubjectKind.PERSON_OPTIONAL,
        requires=[Requirement.THREAT],
        purpose="imminent_threat",
    ),
    NoticeTypeSpec(
        code="purple",
        title="Purple notice",
        description="To seek or provide information on modi operandi, objects, devices and concealment methods",
        subject=SubjectKind.NONE,
        requires=[Requirement.MODUS_OPERANDI],
        purpose="crime_prevention",
    ),
    NoticeTypeSpec(
        code="un_special",
        title="INTERPOL-United Nations Security Council Special Notice",
        description="Individuals and entities subject to UN Security Council sanctions",
        requires=[Requirement.SANCTIONS_REFERENCE],
        purpose="counter_terrorism",
    ),
)


# -- the content -------------------------------------------------------------------------------


class LegalBasisKind(StrEnum):
    ARREST_WARRANT = "arrest_warrant"
    JUDGEMENT = "judgement"


class LegalBasis(SchemaModel):
    """The arrest warrant or court decision a red notice rests on."""

    kind: LegalBasisKind
    reference: Text
    issuing_authority: Text
    issued_on: PastDate
    issuing_country: CountryCode
    valid_until: dt.date | None = None


class Offence(SchemaModel):
    description: LocalText
    iccs: IccsCode | None = None
    committed_on: PastPartialDate | None = None
    place: Place | None = None
    law: Text | None = Field(default=None, description="The provision of national law, e.g. 'Penal Code art. 111'")
    max_penalty_months: int | None = Field(default=None, ge=0, le=1200, description="1200 for life")


class Sentence(SchemaModel):
    """A sentence already imposed, for a person wanted to serve it."""

    imposed_months: int = Field(ge=0, le=1200)
    remaining_months: int = Field(ge=0, le=1200)

    @model_validator(mode="after")
    def _remaining_within_imposed(self) -> Sentence:
        if self.remaining_months > self.imposed_months:
            raise ValueError("remaining_months: cannot exceed imposed_months")
        return self


class MissingEvent(SchemaModel):
    """When and where a missing person was last seen (yellow notices)."""

    date_of_event: PastPartialDate
    place: Place
    circumstances: LocalText | None = None
    mother_name: Text | None = None
    father_name: Text | None = None
    countries_likely_to_be_visited: list[CountryCode] = Field(default_factory=list, max_length=30)


class UnidentifiedBody(SchemaModel):
    """An unidentified body (black notices)."""

    found_on: PastDate
    place: Place
    sex: Sex = Sex.UNKNOWN
    estimated_age_min: int | None = Field(default=None, ge=0, le=130)
    estimated_age_max: int | None = Field(default=None, ge=0, le=130)
    physical: PhysicalDescription | None = None
    circumstances: LocalText | None = None

    @model_validator(mode="after")
    def _age_range(self) -> UnidentifiedBody:
        low, high = self.estimated_age_min, self.estimated_age_max
        if low is not None and high is not None and low > high:
            raise ValueError("estimated_age_max: must not be below estimated_age_min")
        return self


class AttachmentKind(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"
    FINGERPRINTS = "fingerprints"
    OTHER = "other"


class NoticeAttachment(SchemaModel):
    """A file uploaded to the notice (``/api/v1/notices/{id}/files``): its reference and
    digest; the bytes are stored beside the notice."""

    id: RecordId
    kind: AttachmentKind
    media_type: Annotated[str, StringConstraints(pattern=r"^[a-z]+/[a-z0-9.+-]+$", max_length=100)]
    name: Text | None = None
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(ge=1)
    public: bool = Field(default=False, description="May appear in the public extract (photos only)")


class NoticeRequest(SchemaModel):
    """What the source writes: a notice request or a diffusion. Everything but the lifecycle."""

    notice_type: TypeCode
    channel: Channel = Channel.NOTICE
    subject: Person | None = None
    summary: LocalText | None = Field(default=None, description="Why the notice is requested; what is sought")
    offences: list[Offence] = Field(default_factory=list, max_length=50)
    legal_basis: list[LegalBasis] = Field(default_factory=list, max_length=20)
    sentence: Sentence | None = None
    missing: MissingEvent | None = None
    body: UnidentifiedBody | None = None
    threat: LocalText | None = None
    modus_operandi: LocalText | None = None
    sanctions_reference: Text | None = Field(
        default=None, description="The UN Security Council sanctions list reference, e.g. QDi.431"
    )
    recipients: list[CountryCode] | None = Field(
        default=None, description="Diffusions only: the countries it goes to; null sends it to all members"
    )
    public_extract: bool = Field(default=False, description="The source consents to a public extract")
    attachments: list[NoticeAttachment] = Field(default_factory=list, max_length=50)
    from_diffusion: RecordId | None = Field(default=None, description="The diffusion this request was made from")

    @field_validator("recipients")
    @classmethod
    def _distinct(cls, value: list[CountryCode] | None) -> list[CountryCode] | None:
        if value is not None:
            if not value:
                raise ValueError("name at least one country, or leave recipients out to send to all members")
            return sorted(set(value))
        return value

    @model_validator(mode="after")
    def _channel_fields(self) -> NoticeRequest:
        if self.channel is Channel.NOTICE and self.recipients is not None:
            raise ValueError("recipients: only a diffusion names its recipients; a notice goes to all members")
        return self


class Notice(NoticeRequest):
    """A notice or diffusion as stored: the request plus its place in the lifecycle."""

    status: NoticeStatus = NoticeStatus.DRAFT
    reference: Text | None = Field(default=None, description="Given at publication, e.g. '2026/1234'")
    published_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    review_due_at: dt.datetime | None = None


# -- the lifecycle ----------------------------------------------------------------------------


class Action(StrEnum):
    SUBMIT = "submit"  # the source sends a notice request to the hub
    ISSUE = "issue"  # the source issues a diffusion (no review)
    APPROVE = "approve"  # the hub publishes
    REFUSE = "refuse"
    RETURN = "return"  # the hub asks for more information
    UPDATE = "update"  # the source changes its request or its published notice
    SUSPEND = "suspend"  # the hub
    REINSTATE = "reinstate"  # the hub
    CANCEL = "cancel"  # the source, or the hub
    EXTEND = "extend"  # the source, with reasons, before expiry
    EXPIRE = "expire"  # the system, at the end of the validity
    REVIEW_REQUESTED = "review_requested"  # the system asks the source six months ahead


class Initiator(StrEnum):
    SOURCE = "source"
    HUB = "hub"
    SOURCE_OR_HUB = "source_or_hub"
    SYSTEM = "system"


@dataclass(frozen=True)
class Transition:
    action: Action
    channels: frozenset[Channel]
    sources: frozenset[NoticeStatus]
    target: NoticeStatus | None  # None: the status does not change
    initiator: Initiator
    needs_reason: bool


_BOTH = frozenset(Channel)
_NOTICE = frozenset({Channel.NOTICE})
_DIFFUSION = frozenset({Channel.DIFFUSION})

TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        Transition(
            Action.SUBMIT,
            _NOTICE,
            frozenset({NoticeStatus.DRAFT, NoticeStatus.RETURNED}),
            NoticeStatus.SUBMITTED,
            Initiator.SOURCE,
            False,
        ),
        Transition(
            Action.ISSUE, _DIFFUSION, frozenset({NoticeStatus.DRAFT}), NoticeStatus.PUBLISHED, Initiator.SOURCE, False
        ),
        Transition(
            Action.APPROVE, _NOTICE, frozenset({NoticeStatus.SUBMITTED}), NoticeStatus.PUBLISHED, Initiator.HUB, False
        ),
        Transition(
            Action.REFUSE, _NOTICE, frozenset({NoticeStatus.SUBMITTED}), NoticeStatus.REFUSED, Initiator.HUB, True
        ),
        Transition(
            Action.RETURN, _NOTICE, frozenset({NoticeStatus.SUBMITTED}), NoticeStatus.RETURNED, Initiator.HUB, True
        ),
        Transition(Action.UPDATE, _BOTH, EDITABLE, None, Initiator.SOURCE, False),
        Transition(
            Action.SUSPEND, _BOTH, frozenset({NoticeStatus.PUBLISHED}), NoticeStatus.SUSPENDED, Initiator.HUB, True
        ),
        Transition(
            Action.REINSTATE, _BOTH, frozenset({NoticeStatus.SUSPENDED}), NoticeStatus.PUBLISHED, Initiator.HUB, True
        ),
        Transition(
            Action.CANCEL,
            _BOTH,
            frozenset(
                {
                    NoticeStatus.DRAFT,
                    NoticeStatus.SUBMITTED,
                    NoticeStatus.RETURNED,
                    NoticeStatus.PUBLISHED,
                    NoticeStatus.SUSPENDED,
                }
            ),
            NoticeStatus.CANCELLED,
            Initiator.SOURCE_OR_HUB,
            True,
        ),
        Transition(
            Action.EXTEND,
            _BOTH,
            frozenset({NoticeStatus.PUBLISHED, NoticeStatus.SUSPENDED}),
            None,
            Initiator.SOURCE,
            True,
        ),
        Transition(
            Action.EXPIRE,
            _BOTH,
            frozenset({NoticeStatus.PUBLISHED, NoticeStatus.SUSPENDED}),
            NoticeStatus.EXPIRED,
            Initiator.SYSTEM,
            False,
        ),
        Transition(Action.REVIEW_REQUESTED, _BOTH, frozenset({NoticeStatus.PUBLISHED}), None, Initiator.SYSTEM, False),
    )
}


class InvalidTransition(ValueError):
    """An action the lifecycle does not allow from the notice's status (or on its channel)."""


def transition_for(action: Action, channel: Channel, status: NoticeStatus) -> Transition:
    """The transition ``action`` makes from ``status``, or InvalidTransition saying why not."""
    transition = TRANSITIONS[action]
    if channel not in transition.channels:
        other = "notice" if channel is Channel.DIFFUSION else "diffusion"
        raise InvalidTransition(f"'{action}' applies to a {other}, not to a {channel}")
    if status not in transition.sources:
        allowed = ", ".join(sorted(s.value for s in transition.sources))
        raise InvalidTransition(f"a {status} {channel} cannot be '{action}'ed; '{action}' applies when it is {allowed}")
    return transition


def validity_end(published_at: dt.datetime, years: int) -> dt.datetime:
    """The end of a validity of ``years`` from ``published_at`` (29 February becomes 28)."""
    try:
        return published_at.replace(year=published_at.year + years)
    except ValueError:
        return published_at.replace(year=published_at.year + years, day=28)
