"""Persons: wanted, missing, victims, witnesses, unidentified; names in any script."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from polex.domain.base import SchemaModel, Text
from polex.domain.countries import CountryCode
from polex.domain.dates import PastPartialDate
from polex.domain.scripts import ScriptCode, detect_script

NameText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class NameKind(StrEnum):
    PRIMARY = "primary"
    ALIAS = "alias"
    BIRTH_NAME = "birth_name"
    MAIDEN_NAME = "maiden_name"
    TRANSLITERATION = "transliteration"
    NICKNAME = "nickname"
    PREVIOUS = "previous"


class Sex(StrEnum):
    """ICAO 9303 knows M, F and X (unspecified); records may also not know."""

    MALE = "male"
    FEMALE = "female"
    UNSPECIFIED = "unspecified"
    UNKNOWN = "unknown"


class PersonName(SchemaModel):
    """One name of a person, as written in one script.

    ``full`` is the name as it is written; ``given`` and ``family`` are its parts where the
    source knows them. ``script`` (ISO 15924) is detected from ``full`` when not given.
    """

    full: NameText
    given: NameText | None = None
    family: NameText | None = None
    patronymic: NameText | None = None
    kind: NameKind = NameKind.PRIMARY
    script: ScriptCode | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] | None = Field(
        default=None, description="ISO 639 code of the language the name is written in"
    )

    @model_validator(mode="after")
    def _fill_script(self) -> PersonName:
        if self.script is None:
            self.script = detect_script(self.full)
        return self


class IdentifierKind(StrEnum):
    PASSPORT = "passport"
    IDENTITY_CARD = "identity_card"
    NATIONAL_ID = "national_id"
    DRIVING_LICENCE = "driving_licence"
    RESIDENCE_PERMIT = "residence_permit"
    SOCIAL_SECURITY = "social_security"
    TAX_ID = "tax_id"
    POLICE_REFERENCE = "police_reference"
    INTERPOL_REFERENCE = "interpol_reference"
    OTHER = "other"


class PersonIdentifier(SchemaModel):
    kind: IdentifierKind
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    country: CountryCode | None = None
    issued_on: dt.date | None = None


class Place(SchemaModel):
    place: Text | None = None
    country: CountryCode | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Place:
        if self.place is None and self.country is None:
            raise ValueError("a place needs a place name, a country, or both")
        return self


class EyeColour(StrEnum):
    """ANSI/NIST-ITL eye colour codes, spelt out."""

    BLACK = "black"
    BLUE = "blue"
    BROWN = "brown"
    GRAY = "gray"
    GREEN = "green"
    HAZEL = "hazel"
    MAROON = "maroon"
    MULTICOLOURED = "multicoloured"
    PINK = "pink"
    UNKNOWN = "unknown"


class HairColour(StrEnum):
    """ANSI/NIST-ITL hair colour codes, spelt out."""

    BALD = "bald"
    BLACK = "black"
    BLOND = "blond"
    BROWN = "brown"
    GRAY = "gray"
    RED = "red"
    SANDY = "sandy"
    WHITE = "white"
    BLUE = "blue"
    GREEN = "green"
    ORANGE = "orange"
    PINK = "pink"
    PURPLE = "purple"
    UNKNOWN = "unknown"


class MarkKind(StrEnum):
    SCAR = "scar"
    MARK = "mark"
    TATTOO = "tattoo"
    PIERCING = "piercing"
    AMPUTATION = "amputation"
    OTHER = "other"


class DistinguishingMark(SchemaModel):
    kind: MarkKind
    location: Text | None = None
    description: Text | None = None


class PhysicalDescription(SchemaModel):
    height_cm: int | None = Field(default=None, ge=30, le=275)
    weight_kg: int | None = Field(default=None, ge=1, le=700)
    eye_colour: EyeColour | None = None
    hair_colour: HairColour | None = None
    marks: list[DistinguishingMark] = Field(default_factory=list, max_length=50)
    description: Text | None = None


class BiometricModality(StrEnum):
    FINGERPRINTS = "fingerprints"
    PALM_PRINTS = "palm_prints"
    FACE = "face"
    IRIS = "iris"
    DNA = "dna"


class BiometricReference(SchemaModel):
    """Where biometric data on the person is held (an ANSI/NIST-ITL transaction, a DNA
    profile at a laboratory): a reference, not the data. Biometric data is a special
    category under data-protection law, which is why it has a field of its own that the
    policy engine can withhold."""

    modality: BiometricModality
    reference: Text = Field(description="e.g. the ANSI/NIST-ITL transaction control number")
    held_by: Text | None = Field(default=None, description="The service that holds the data")
    captured_on: dt.date | None = None


class Person(SchemaModel):
    """A person of interest to police, as the common schema v1 describes one."""

    names: list[PersonName] = Field(min_length=1, max_length=100)
    sex: Sex = Sex.UNKNOWN
    birth_dates: list[PastPartialDate] = Field(
        default_factory=list, max_length=20, description="Known or claimed dates of birth"
    )
    birth_place: Place | None = None
    nationalities: list[CountryCode] = Field(default_factory=list, max_length=10)
    identifiers: list[PersonIdentifier] = Field(default_factory=list, max_length=100)
    physical: PhysicalDescription | None = None
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=list, max_length=20, description="ISO 639 codes of languages spoken"
    )
    deceased: bool = False
    health: Text | None = Field(
        default=None,
        description="Medical information that matters to finding or handling the person "
        "(e.g. needs insulin); a special category of data",
    )
    biometrics: list[BiometricReference] = Field(default_factory=list, max_length=20)
    remarks: Text | None = None

    @model_validator(mode="after")
    def _one_primary_name(self) -> Person:
        primaries = [name for name in self.names if name.kind is NameKind.PRIMARY]
        if not primaries:
            raise ValueError("names: at least one name must be of kind 'primary'")
        return self

    @property
    def primary_name(self) -> PersonName:
        return next(name for name in self.names if name.kind is NameKind.PRIMARY)
