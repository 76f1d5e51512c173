"""Travel documents reported stolen, lost, revoked or invalidated (INTERPOL's SLTD)."""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from polex.domain.base import RecordId, SchemaModel, Text
from polex.domain.countries import CountryCode
from polex.domain.dates import PastDate, PastPartialDate
from polex.domain.lookalikes import latin_lookalikes
from polex.domain.person import PersonName, Sex

_FILLERS = re.compile(r"[\s<\-./]")


def normalise_document_number(raw: str) -> str:
    """Upper-case; drop spaces, MRZ fillers (``<``) and separators people type; read Greek
    and Cyrillic capitals as the Latin letters the MRZ prints for them."""
    return latin_lookalikes(_FILLERS.sub("", raw).upper())


def _check_number(number: str) -> str:
    if not number:
        raise ValueError("a document number needs at least one letter or digit")
    if len(number) > 20:
        raise ValueError(f"a document number has at most 20 characters, this one has {len(number)}")
    if not number.isascii() or not number.isalnum():
        raise ValueError("a document number holds only the letters A-Z and digits")
    return number


def document_key(issuing_country: str, number: str) -> str:
    """The identifier a document is checked by: issuer and normalised number, not its type
    (a border post may read a passport number off a card; a stolen number is a hit whatever
    type the reporting country filed it under)."""
    return f"doc:{issuing_country}:{number}"


DocumentNumber = Annotated[
    str,
    BeforeValidator(lambda value: normalise_document_number(value) if isinstance(value, str) else value),
    AfterValidator(_check_number),
]


class DocumentType(StrEnum):
    """Document types, with the ICAO 9303 document code each usually carries."""

    PASSPORT = "passport"  # P
    DIPLOMATIC_PASSPORT = "diplomatic_passport"  # PD
    SERVICE_PASSPORT = "service_passport"  # PS
    IDENTITY_CARD = "identity_card"  # I, ID
    RESIDENCE_PERMIT = "residence_permit"  # IR, AR
    VISA = "visa"  # V
    TRAVEL_DOCUMENT = "travel_document"  # refugee or stateless travel documents (PT)
    EMERGENCY_TRAVEL_DOCUMENT = "emergency_travel_document"
    SEAFARER_IDENTITY = "seafarer_identity"
    OTHER = "other"


class DocumentStatus(StrEnum):
    STOLEN = "stolen"
    LOST = "lost"
    REVOKED = "revoked"
    INVALIDATED = "invalidated"
    STOLEN_BLANK = "stolen_blank"


class DocumentHolder(SchemaModel):
    names: list[PersonName] = Field(min_length=1, max_length=20)
    birth_date: PastPartialDate | None = None
    sex: Sex = Sex.UNKNOWN
    nationality: CountryCode | None = None


class TravelDocument(SchemaModel):
    """A travel document whose status an issuing country reports to the network."""

    number: DocumentNumber
    issuing_country: CountryCode
    document_type: DocumentType = DocumentType.PASSPORT
    status: DocumentStatus
    issued_on: dt.date | None = None
    expires_on: dt.date | None = None
    reported_on: PastDate | None = None
    place_of_loss: Text | None = None
    holder: DocumentHolder | None = None
    holder_person_id: RecordId | None = Field(default=None, description="A person record of the holder")
    remarks: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TravelDocument:
        if self.issued_on and self.expires_on and self.expires_on <= self.issued_on:
            raise ValueError("expires_on: must be after issued_on")
        if self.issued_on and self.reported_on and self.reported_on < self.issued_on:
            raise ValueError("reported_on: a document cannot be reported before it was issued")
        if self.status is DocumentStatus.STOLEN_BLANK:
            if self.holder or self.holder_person_id:
                raise ValueError("holder: a blank document has no holder")
            if self.issued_on or self.expires_on:
                raise ValueError("issued_on: a blank document was never issued, so it has no issue or expiry date")
        return self
