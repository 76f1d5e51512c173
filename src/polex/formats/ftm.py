"""FollowTheMoney (FtM) entities as JSON lines: persons, travel documents and vehicles.

FtM is the data model of OpenSanctions and OCCRP Aleph. A stream holds one entity per line,
``{"id": ..., "schema": "Person", "properties": {"name": [...], ...}, "datasets": [...]}``,
the way OpenSanctions exports and the ``ftm`` command line tool emit them. The schemata, the
property types and their cleaning (countries, dates, genders, languages, names) come from the
``followthemoney`` library; FtM's lower-case ISO 3166-1 alpha-2 country codes are converted to
and from polex's alpha-3 with pycountry.

What maps to what
=================

``Person`` → :class:`~polex.domain.person.Person`

- ``name`` → primary names, ``alias`` → aliases, ``weakAlias`` → nicknames, ``previousName``
  → previous names; the parts ``firstName``, ``lastName`` and ``fatherName`` become the
  given name, family name and patronymic of every name whose text contains them as whole
  words (case-insensitive; a part matching in case, then the longest, wins); ``middleName``
  is appended to the given name (polex has no middle-name field) unless it is the patronymic.
  A part that no name contains is kept only in the provenance (see below).
  Writing: transliterations go to ``alias``, birth and maiden names to ``previousName``.
- ``gender`` → sex (``other`` is ``unspecified``; no gender is ``unknown``).
- ``birthDate`` → birth dates (partial dates kept as partial; a time of day is dropped).
- ``birthPlace`` (several joined with ``"; "``) and ``birthCountry`` → birth place; a country
  of birth that no longer exists (``suhh``, ``yucs`` ...) is added to the place text by name.
- ``nationality`` and ``citizenship`` → nationalities (written back as ``nationality``).
- ``passportNumber``, ``idNumber``, ``taxNumber``, ``innCode`` (Russian, so ``RUS``) and
  ``socialSecurityNumber`` → identifiers; so does the number of every ``Passport`` or
  ``Identification`` in the stream whose ``holder`` is the person (with its country, kind
  and issue date). Identifiers with the same value are merged.
- ``height``, ``weight`` (cm, m, kg or lb), ``eyeColor``, ``hairColor``, ``appearance`` →
  physical description; a colour outside the ANSI/NIST list goes into its description text.
- ``spokenLanguage`` → languages; ``deathDate`` → deceased; ``notes`` → remarks (several
  joined with a blank line; past 500 characters cut, ending in "…").

``Passport`` / ``Identification`` → :class:`~polex.domain.document.TravelDocument`

- ``number`` (or the deprecated ``Passport:passportNumber``) → number, ``country`` → issuing
  country, the schema and ``type`` → document type (an identification whose type is a driving
  licence, a tax or social security number is no travel document: a rejection, though its
  number still becomes an identifier of the holder), ``startDate``/``endDate`` → issue and
  expiry dates, ``description`` → remarks, ``holder`` → the holder: ``holder_person_id`` is
  the id the holder's Person is given (see ids below) and, when the holder is in the stream,
  ``holder`` summarises it (its first 20 names, first birth date, sex, first nationality).
- FtM has no document status. Documents get the ``status`` the adapter is made with; without
  one they are rejections naming ``status`` (unless polex wrote them: see below).

``Vehicle`` → :class:`~polex.domain.vehicle.Vehicle`

- ``registrationNumber`` → the plate, or the VIN for a 17-character value (a plate has at
  most 15); a ``vin`` property is read too. ``country`` → plate country, ``model`` → model,
  ``buildDate`` → model year, ``type`` → category (unknown types are ``other``), ``notes``
  → remarks. Writing: ``model`` is make and model together. The status comes from the
  adapter's ``vehicle_status``, as for documents.

Other schemata (``Company``, ``Address``, ``Sanction`` ...) are rejections naming ``schema``.
Properties polex has no field for (``topics``, ``position``, ``address``, ``sourceUrl``,
``Vehicle:owner`` ...) are not read, nor, as in FtM itself, properties the schema does not
have (but ``vin``). Every mapped property that polex cannot hold is a rejection of its entity that
names the property and says why; nothing mapped is dropped silently.

Ids and provenance
==================

An FtM entity ``polex-<uuid>`` becomes the record ``<uuid>``; any other FtM id becomes a
UUIDv5 of it, so the same entity always gets the same record id and holder links resolve
even across streams. Every record read keeps ``Provenance(source_format="ftm",
source_id="<datasets, comma-separated>:<FtM id>")`` and, under the name of each mapping above
(``names``, ``nationalities``, ``identifiers``, ``plate`` ...), the FtM properties as received
(a JSON object) wherever writing the record would not give them back exactly. Records written
get the id ``polex-<record id>``, or back their FtM id when they were read from FtM.

Round trips
===========

polex → FtM → polex gives back the same content. FtM cannot hold everything polex knows (a
name's script and language, which name a part belongs to, identifier kinds and countries,
ICAO codes such as ``XXA`` or ``GBD``, marks, statuses, colours, a vehicle's make ...). The
writer reads each entity back as the reader will; every field that would not come back
exactly is carried, with its exact polex value, in one extra value of ``notes`` (Person,
Vehicle) or ``description`` (Passport, Identification, which have no notes):
``polex:{"v":1,"fields":{...},"fp":{...}}``, in pure ASCII so that FtM's cleaning (NFC) cannot
change it, and only when some field needs it. ``fp`` fingerprints, per mapping, the FtM
properties the field was written with; the reader takes a field from the note only while
those properties are unchanged, so an entity edited in FtM is read from its properties.
A document holder that is not a polex person record is written as a Person entity
``polex-holder-<document id>`` that is read back into the document, not as a person.

FtM → polex → FtM keeps every FtM property polex maps, value for value (plus the ``polex:``
note): properties the writer would not reproduce are in the provenance (above) and are
written back as received for as long as they still read as the record's content.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import IO, Annotated, Any, Final, cast

import pycountry
from followthemoney import Model, registry
from followthemoney.util import ENTITY_ID_LEN
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from rigour.territories import get_territory

from polex.domain.base import Provenance, RecordId, SchemaModel
from polex.domain.countries import ICAO_SPECIAL_CODES, CountryCode
from polex.domain.dates import PastPartialDate
from polex.domain.document import DocumentHolder, DocumentStatus, DocumentType, TravelDocument
from polex.domain.person import (
    EyeColour,
    HairColour,
    IdentifierKind,
    NameKind,
    Person,
    PersonName,
    Sex,
)
from polex.domain.vehicle import Vehicle, VehicleCategory, VehicleStatus
from polex.domain.vin import normalise_vin
from polex.errors import FieldError
from polex.formats.registry import Accepted, ReadResult, Rejection

FORMAT_NAME: Final = "ftm"
EXTENSION_PREFIX: Final = "polex:"
EXTENSION_VERSION: Final = 1
REMARKS_LENGTH: Final = 500
HOLDER_NAMES: Final = 20  # DocumentHolder.names holds at most 20

# Record ids of entities polex did not write: UUIDv5 of the FtM id in this namespace.
FTM_NAMESPACE: Final = uuid.UUID("6f1d3a52-8b0e-5c57-9a4e-2f7c1b9d0e43")

_MODEL: Final = Model.instance()
_UUID: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_POLEX_ID: Final = re.compile(rf"^polex-({_UUID})$")
_HOLDER_ID: Final = re.compile(rf"^polex-holder-({_UUID})$")

Props = dict[str, list[str]]
Json = Any  # a value as pydantic dumps it in JSON mode


def record_id_for(entity_id: str) -> str:
    """The polex record id of an FtM entity: its own for ``polex-<uuid>``, else a UUIDv5."""
    match = _POLEX_ID.match(entity_id)
    if match is not None:
        return match.group(1)
    return str(uuid.uuid5(FTM_NAMESPACE, entity_id))


def entity_id_for(record_id: str) -> str:
    return f"polex-{record_id}"


def holder_entity_id(document_record_id: str) -> str:
    """The Person entity that stands for the holder of a document with no person record."""
    return f"polex-holder-{document_record_id}"


# --- Records read ---------------------------------------------------------------------------


class FtmPerson(Person):
    """A person read from FtM, with the record id polex gives it and where it came from."""

    id: RecordId
    provenance: Provenance


class FtmTravelDocument(TravelDocument):
    """A travel document read from FtM, with its record id and provenance."""

    id: RecordId
    provenance: Provenance


class FtmVehicle(Vehicle):
    """A vehicle read from FtM, with its record id and provenance."""

    id: RecordId
    provenance: Provenance


class _HolderEntity(SchemaModel):
    """A ``polex-holder-...`` Person entity: the holder of one document, as the document has it."""

    names: list[PersonName] = Field(min_length=1, max_length=HOLDER_NAMES)
    sex: Sex = Sex.UNKNOWN
    birth_dates: list[PastPartialDate] = Field(default_factory=list, max_length=1)
    nationalities: list[CountryCode] = Field(default_factory=list, max_length=1)


# --- Countries ------------------------------------------------------------------------------

_FTM_TO_ICAO: Final[Mapping[str, str]] = {"eu": "EUE", "un": "UNO"}
# ICAO codes with an FtM country that says less (the exact code travels in the polex note).
_ICAO_TO_FTM: Final[Mapping[str, str]] = {
    "EUE": "eu",
    "UNO": "un",
    "UNA": "un",
    **dict.fromkeys(("GBD", "GBN", "GBO", "GBP", "GBS"), "gb"),
}


@lru_cache(maxsize=512)
def ftm_to_alpha3(code: str) -> str | None:
    """The alpha-3 (or ICAO) code of an FtM country code; a territory within a country (``gb-sct``,
    ``ua-cri``) gives that country's; a country that no longer exists, or none, gives None."""
    if code in _FTM_TO_ICAO:
        return _FTM_TO_ICAO[code]
    territory = get_territory(code)
    while territory is not None:
        if territory.is_historical:
            return None
        territory_code = str(territory.code)
        if len(territory_code) == 2:
            country = pycountry.countries.get(alpha_2=territory_code.upper())
            if country is not None:
                return str(country.alpha_3)
        territory = territory.parent
    return None


@lru_cache(maxsize=512)
def alpha3_to_ftm(code: str) -> str | None:
    """The FtM country code of a polex country code, or None where FtM has none (``XXA``, ``XPO``)."""
    if code in _ICAO_TO_FTM:
        return _ICAO_TO_FTM[code]
    if code in ICAO_SPECIAL_CODES:
        return None
    country = pycountry.countries.get(alpha_3=code)
    if country is None:
        return None
    return registry.country.clean_text(str(country.alpha_2).lower())


# --- Reading helpers ------------------------------------------------------------------------


class _Problem(Exception):
    """A mapped FtM property polex cannot hold, and why."""

    def __init__(self, prop: str, reason: str) -> None:
        super().__init__(f"{prop}: {reason}")
        self.prop = prop
        self.reason = reason


def _values(props: Mapping[str, list[str]], prop: str) -> list[str]:
    """The property's values, trimmed, blank ones left out, each once."""
    return list(dict.fromkeys(value.strip() for value in props.get(prop, []) if value.strip()))


def _one(props: Mapping[str, list[str]], prop: str, what: str) -> str | None:
    values = _values(props, prop)
    if len(values) > 1:
        shown = ", ".join(repr(value) for value in values[:5])
        raise _Problem(prop, f"polex holds one {what}, the entity has {len(values)}: {shown}")
    return values[0] if values else None


def _date(prop: str, value: str) -> str:
    cleaned = registry.date.clean_text(value)
    if cleaned is None:
        raise _Problem(prop, f"'{value}' is not a date")
    return cleaned[:10]


def _full_date(prop: str, value: str) -> str:
    date = _date(prop, value)
    if len(date) != 10:
        raise _Problem(prop, f"'{value}' is not a full date; polex needs the day")
    return date


def _country(prop: str, value: str) -> str:
    code = registry.country.clean_text(value)
    if code is None:
        raise _Problem(prop, f"'{value}' is not a country FtM knows")
    alpha3 = ftm_to_alpha3(code)
    if alpha3 is None:
        name = registry.country.caption(code)
        raise _Problem(prop, f"'{value}' ({name}) has no ISO 3166-1 alpha-3 or ICAO 9303 code, which polex needs here")
    return alpha3


def _fit(text: str, limit: int = REMARKS_LENGTH) -> str:
    """The text, or its beginning and "…" when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _key(value: str) -> str:
    """An identifier as compared: no case, spaces or separators."""
    return re.sub(r"[\s\-./]", "", value).upper()


def _words(text: str) -> str:
    return " ".join(text.casefold().split())


# --- Names ------------------------------------------------------------------------------------

_NAME_PROPS: Final = (
    ("name", NameKind.PRIMARY),
    ("alias", NameKind.ALIAS),
    ("weakAlias", NameKind.NICKNAME),
    ("previousName", NameKind.PREVIOUS),
)
_NAME_PROP_OF: Final[Mapping[NameKind, str]] = {
    NameKind.PRIMARY: "name",
    NameKind.ALIAS: "alias",
    NameKind.TRANSLITERATION: "alias",
    NameKind.NICKNAME: "weakAlias",
    NameKind.PREVIOUS: "previousName",
    NameKind.BIRTH_NAME: "previousName",
    NameKind.MAIDEN_NAME: "previousName",
}


_PART_PROPS: Final = ("firstName", "middleName", "lastName", "fatherName")


def _contains(full: str, part: str) -> bool:
    """Whether ``part`` is in ``full`` as whole words, without regard to case."""
    return re.search(rf"(?<!\w){re.escape(part.casefold())}(?!\w)", full.casefold()) is not None


def _pick(full: str, parts: list[str]) -> str | None:
    found = [part for part in parts if _contains(full, part)]
    if not found:
        return None
    exact = [part for part in found if part in full]
    return max(exact or found, key=len)


def _name_sources(props: Mapping[str, list[str]]) -> list[str]:
    """The FtM property of each name, in the order the names are read."""
    return [prop for prop, _ in _NAME_PROPS for _ in _values(props, prop)]


def _read_names(props: Props, ctx: _Context) -> dict[str, Json]:
    firsts, middles, lasts, fathers = (_values(props, prop) for prop in _PART_PROPS)
    names: list[dict[str, Json]] = []
    for prop, kind in _NAME_PROPS:
        for full in _values(props, prop):
            name: dict[str, Json] = {"full": full, "kind": kind.value}
            given = _pick(full, firsts)
            family = _pick(full, lasts)
            patronymic = _pick(full, fathers)
            middle = _pick(full, middles)
            if middle and not (patronymic and middle.casefold() == patronymic.casefold()):
                if not given:
                    given = middle
                elif not _contains(given, middle):
                    given = f"{given} {middle}"
            for key, value in (("given", given), ("family", family), ("patronymic", patronymic)):
                if value:
                    name[key] = value
            names.append(name)
    if not names:
        raise _Problem("name", "a person needs a name (name, alias, weakAlias or previousName)")
    return {"names": names}


def _write_names(content: Mapping[str, Json], ctx: _Context) -> Props:
    out: dict[str, list[str]] = {}
    for name in content["names"]:
        out.setdefault(_NAME_PROP_OF[NameKind(name["kind"])], []).append(name["full"])
        for key, prop in (("given", "firstName"), ("family", "lastName"), ("patronymic", "fatherName")):
            if name.get(key):
                out.setdefault(prop, []).append(name[key])
    return {prop: list(dict.fromkeys(values)) for prop, values in out.items()}


# --- Person fields ----------------------------------------------------------------------------

_SEX_OF: Final[Mapping[str, Sex]] = {"male": Sex.MALE, "female": Sex.FEMALE, "other": Sex.UNSPECIFIED}
_GENDER_OF: Final[Mapping[str, str]] = {"male": "male", "female": "female", "unspecified": "other"}


def _read_sex(props: Props, ctx: _Context) -> dict[str, Json]:
    genders = []
    for value in _values(props, "gender"):
        gender = registry.gender.clean_text(value)
        if gender is None:
            raise _Problem("gender", f"'{value}' is not a gender FtM knows (male, female, other)")
        genders.append(gender)
    distinct = list(dict.fromkeys(genders))
    if len(distinct) > 1:
        raise _Problem("gender", f"polex holds one sex, the entity has {len(distinct)}: {', '.join(distinct)}")
    return {"sex": (_SEX_OF[distinct[0]] if distinct else Sex.UNKNOWN).value}


def _write_sex(content: Mapping[str, Json], ctx: _Context) -> Props:
    gender = _GENDER_OF.get(content["sex"])
    return {"gender": [gender]} if gender else {}


def _read_birth_dates(props: Props, ctx: _Context) -> dict[str, Json]:
    dates = [_date("birthDate", value) for value in _values(props, "birthDate")]
    return {"birth_dates": list(dict.fromkeys(dates))}


def _write_birth_dates(content: Mapping[str, Json], ctx: _Context) -> Props:
    return {"birthDate": list(content["birth_dates"])} if content["birth_dates"] else {}


def _read_birth_place(props: Props, ctx: _Context) -> dict[str, Json]:
    places = _values(props, "birthPlace")
    country = None
    code = _one(props, "birthCountry", "country of birth")
    if code is not None:
        cleaned = registry.country.clean_text(code)
        if cleaned is None:
            raise _Problem("birthCountry", f"'{code}' is not a country FtM knows")
        country = ftm_to_alpha3(cleaned)
        if country is None:  # a country that no longer exists: kept by name with the place
            places.append(registry.country.caption(cleaned))
    place = "; ".join(places) or None
    if place is None and country is None:
        return {"birth_place": None}
    return {"birth_place": {"place": place, "country": country}}


def _write_birth_place(content: Mapping[str, Json], ctx: _Context) -> Props:
    place = content["birth_place"]
    if not place:
        return {}
    out: Props = {}
    if place.get("place"):
        out["birthPlace"] = [place["place"]]
    code = alpha3_to_ftm(place["country"]) if place.get("country") else None
    if code:
        out["birthCountry"] = [code]
    return out


def _read_nationalities(props: Props, ctx: _Context) -> dict[str, Json]:
    codes = [_country(prop, value) for prop in ("nationality", "citizenship") for value in _values(props, prop)]
    return {"nationalities": list(dict.fromkeys(codes))}


def _write_nationalities(content: Mapping[str, Json], ctx: _Context) -> Props:
    codes = [alpha3_to_ftm(code) for code in content["nationalities"]]
    present = [code for code in codes if code]
    return {"nationality": list(dict.fromkeys(present))} if present else {}


_IDENTIFIER_PROPS: Final = (
    ("passportNumber", IdentifierKind.PASSPORT, None),
    ("idNumber", IdentifierKind.NATIONAL_ID, None),
    ("taxNumber", IdentifierKind.TAX_ID, None),
    ("innCode", IdentifierKind.TAX_ID, "RUS"),
    ("socialSecurityNumber", IdentifierKind.SOCIAL_SECURITY, None),
)
_GENERIC_KINDS: Final = frozenset({IdentifierKind.NATIONAL_ID.value, IdentifierKind.OTHER.value})


def _merge_identifier(known: list[dict[str, Json]], identifier: dict[str, Json]) -> None:
    """Add an identifier, or complete the one with the same value (its kind made specific,
    its country and issue date filled in)."""
    key = _key(identifier["value"])
    for other in known:
        if _key(other["value"]) == key:
            if other["kind"] in _GENERIC_KINDS and identifier["kind"] not in _GENERIC_KINDS:
                other["kind"] = identifier["kind"]
            for attribute in ("country", "issued_on"):
                if other.get(attribute) is None and identifier.get(attribute) is not None:
                    other[attribute] = identifier[attribute]
            return
    known.append(dict(identifier))


def _read_identifiers(props: Props, ctx: _Context) -> dict[str, Json]:
    identifiers: list[dict[str, Json]] = []
    for prop, kind, country in _IDENTIFIER_PROPS:
        for value in _values(props, prop):
            _merge_identifier(identifiers, {"kind": kind.value, "value": value, "country": country, "issued_on": None})
    for schema, document in ctx.documents_of(ctx.entity_id):
        identifier = _document_identifier(schema, document)
        if identifier is not None:
            _merge_identifier(identifiers, identifier)
    return {"identifiers": identifiers}


def _write_identifiers(content: Mapping[str, Json], ctx: _Context) -> Props:
    out: dict[str, list[str]] = {}
    for identifier in content["identifiers"]:
        kind = identifier["kind"]
        if kind == IdentifierKind.PASSPORT.value:
            prop = "passportNumber"
        elif kind == IdentifierKind.TAX_ID.value:
            prop = "taxNumber"
        elif kind == IdentifierKind.SOCIAL_SECURITY.value:
            prop = "socialSecurityNumber"
        else:
            prop = "idNumber"
        out.setdefault(prop, []).append(identifier["value"])
    return {prop: list(dict.fromkeys(values)) for prop, values in out.items()}


_HEIGHT_UNITS: Final[Mapping[str, float]] = {"cm": 1.0, "m": 100.0, "mm": 0.1}
_WEIGHT_UNITS: Final[Mapping[str, float]] = {"kg": 1.0, "lb": 0.45359237, "lbs": 0.45359237}
_MEASURE: Final = re.compile(r"^(\d+(?:[.,]\d+)?)\s*([a-zA-Z]*)$")
_EYE_SYNONYMS: Final[Mapping[str, str]] = {
    "grey": "gray",
    "multicolored": "multicoloured",
    "multi-coloured": "multicoloured",
}
_HAIR_SYNONYMS: Final[Mapping[str, str]] = {
    "grey": "gray",
    "blonde": "blond",
    "fair": "blond",
    "salt and pepper": "gray",
}


def _measure(prop: str, value: str, units: Mapping[str, float], default: Callable[[float], str]) -> int:
    match = _MEASURE.match(value.strip())
    unit = match.group(2).lower() if match else ""
    if match is None or (unit and unit not in units):
        raise _Problem(prop, f"'{value}' is not a number, or a number in {', '.join(units)}")
    number = float(match.group(1).replace(",", "."))
    return round(number * units[unit or default(number)])


def _one_measure(props: Props, prop: str, units: Mapping[str, float], default: Callable[[float], str]) -> int | None:
    measures = list(dict.fromkeys(_measure(prop, value, units, default) for value in _values(props, prop)))
    if len(measures) > 1:
        raise _Problem(prop, f"polex holds one {prop}, the entity has {len(measures)}")
    return measures[0] if measures else None


def _colour(
    props: Props, prop: str, enum: type[StrEnum], synonyms: Mapping[str, str], unmatched: list[str]
) -> str | None:
    found: list[str] = []
    label = "eye colour" if prop == "eyeColor" else "hair colour"
    for value in _values(props, prop):
        key = synonyms.get(_words(value), _words(value))
        if key in enum.__members__.values():
            found.append(key)
        else:
            unmatched.append(f"{label}: {value}")
    distinct = list(dict.fromkeys(found))
    if len(distinct) > 1:
        raise _Problem(prop, f"polex holds one {label}, the entity has {len(distinct)}: {', '.join(distinct)}")
    return distinct[0] if distinct else None


def _read_physical(props: Props, ctx: _Context) -> dict[str, Json]:
    height = _one_measure(props, "height", _HEIGHT_UNITS, lambda number: "m" if number < 3 else "cm")
    weight = _one_measure(props, "weight", _WEIGHT_UNITS, lambda number: "kg")
    extra: list[str] = []
    eye = _colour(props, "eyeColor", EyeColour, _EYE_SYNONYMS, extra)
    hair = _colour(props, "hairColor", HairColour, _HAIR_SYNONYMS, extra)
    description = "; ".join([*_values(props, "appearance"), *extra]) or None
    if height is None and weight is None and eye is None and hair is None and description is None:
        return {"physical": None}
    physical: dict[str, Json] = {
        "height_cm": height,
        "weight_kg": weight,
        "eye_colour": eye,
        "hair_colour": hair,
        "marks": [],
        "description": description,
    }
    return {"physical": physical}


def _write_physical(content: Mapping[str, Json], ctx: _Context) -> Props:
    physical = content["physical"]
    if not physical:
        return {}
    out: Props = {}
    for key, prop in (
        ("height_cm", "height"),
        ("weight_kg", "weight"),
        ("eye_colour", "eyeColor"),
        ("hair_colour", "hairColor"),
        ("description", "appearance"),
    ):
        if physical.get(key) is not None:
            out[prop] = [str(physical[key])]
    return out


def _read_languages(props: Props, ctx: _Context) -> dict[str, Json]:
    codes = []
    for value in _values(props, "spokenLanguage"):
        code = registry.language.clean_text(value)
        if code is None:
            raise _Problem("spokenLanguage", f"'{value}' is not a language FtM knows")
        codes.append(code)
    return {"languages": list(dict.fromkeys(codes))}


def _write_languages(content: Mapping[str, Json], ctx: _Context) -> Props:
    codes = [registry.language.clean_text(code) for code in content["languages"]]
    present = [code for code in codes if code]
    return {"spokenLanguage": list(dict.fromkeys(present))} if present else {}


def _read_deceased(props: Props, ctx: _Context) -> dict[str, Json]:
    for value in _values(props, "deathDate"):
        _date("deathDate", value)
    return {"deceased": bool(_values(props, "deathDate"))}


def _write_nothing(content: Mapping[str, Json], ctx: _Context) -> Props:
    return {}


def _remarks(
    prop: str,
) -> tuple[Callable[[Props, _Context], dict[str, Json]], Callable[[Mapping[str, Json], _Context], Props]]:
    def read(props: Props, ctx: _Context) -> dict[str, Json]:
        text = "\n\n".join(_values(props, prop))
        return {"remarks": _fit(text) if text else None}

    def write(content: Mapping[str, Json], ctx: _Context) -> Props:
        return {prop: [content["remarks"]]} if content["remarks"] else {}

    return read, write


# --- Travel document fields -------------------------------------------------------------------

# Identification types that are no travel document: the identifier kind their number is.
_NOT_TRAVEL: Final[tuple[tuple[tuple[str, ...], IdentifierKind], ...]] = (
    (("driv",), IdentifierKind.DRIVING_LICENCE),
    (("tax",), IdentifierKind.TAX_ID),
    (("social security", "ssn"), IdentifierKind.SOCIAL_SECURITY),
)
_TRAVEL: Final[tuple[tuple[tuple[str, ...], DocumentType, IdentifierKind], ...]] = (
    (("seafarer", "seaman", "seamen"), DocumentType.SEAFARER_IDENTITY, IdentifierKind.OTHER),
    (("emergency",), DocumentType.EMERGENCY_TRAVEL_DOCUMENT, IdentifierKind.OTHER),
    (("travel document", "refugee"), DocumentType.TRAVEL_DOCUMENT, IdentifierKind.OTHER),
    (("visa",), DocumentType.VISA, IdentifierKind.OTHER),
    (("residen", "permit"), DocumentType.RESIDENCE_PERMIT, IdentifierKind.RESIDENCE_PERMIT),
    (
        ("identity", "id card", "national id", "identification card"),
        DocumentType.IDENTITY_CARD,
        IdentifierKind.IDENTITY_CARD,
    ),
)
_DOCUMENT_LABELS: Final[Mapping[DocumentType, tuple[str, str | None]]] = {
    DocumentType.PASSPORT: ("Passport", "Passport"),
    DocumentType.DIPLOMATIC_PASSPORT: ("Passport", "Diplomatic passport"),
    DocumentType.SERVICE_PASSPORT: ("Passport", "Service passport"),
    DocumentType.IDENTITY_CARD: ("Identification", "Identity card"),
    DocumentType.RESIDENCE_PERMIT: ("Identification", "Residence permit"),
    DocumentType.VISA: ("Identification", "Visa"),
    DocumentType.TRAVEL_DOCUMENT: ("Identification", "Travel document"),
    DocumentType.EMERGENCY_TRAVEL_DOCUMENT: ("Identification", "Emergency travel document"),
    DocumentType.SEAFARER_IDENTITY: ("Identification", "Seafarer identity document"),
    DocumentType.OTHER: ("Identification", None),
}


def classify_document(schema: str, type_text: str | None) -> tuple[DocumentType | None, IdentifierKind]:
    """The document type (None: no travel document) and identifier kind of an FtM Passport or
    Identification with this ``type``."""
    text = _words(type_text or "")
    if schema == "Passport" or "passport" in text:
        if "diplomatic" in text:
            return DocumentType.DIPLOMATIC_PASSPORT, IdentifierKind.PASSPORT
        if "service" in text or "official" in text:
            return DocumentType.SERVICE_PASSPORT, IdentifierKind.PASSPORT
        return DocumentType.PASSPORT, IdentifierKind.PASSPORT
    for words, identifier_kind in _NOT_TRAVEL:
        if any(word in text for word in words):
            return None, identifier_kind
    for words, document_type, kind in _TRAVEL:
        if any(word in text for word in words):
            return document_type, kind
    return DocumentType.OTHER, IdentifierKind.OTHER


def _document_identifier(schema: str, props: Mapping[str, list[str]]) -> dict[str, Json] | None:
    """What a Passport or Identification adds to its holder's identifiers."""
    numbers = _values(props, "number") or _values(props, "passportNumber")
    if not numbers or len(numbers[0]) > 64:  # no number a person could hold: the document's reading says why
        return None
    types = _values(props, "type")
    _, kind = classify_document(schema, types[0] if types else None)
    country = None
    for value in _values(props, "country")[:1]:
        try:
            country = _country("country", value)
        except _Problem:  # the document's own reading names it
            country = None
    issued_on = None
    for value in _values(props, "startDate")[:1]:
        try:
            issued_on = _full_date("startDate", value)
        except _Problem:
            issued_on = None
    return {"kind": kind.value, "value": numbers[0], "country": country, "issued_on": issued_on}


def _read_number(props: Props, ctx: _Context) -> dict[str, Json]:
    number = _one(props, "number", "document number")
    if number is None:
        number = _one(props, "passportNumber", "document number")
    if number is None:
        raise _Problem("number", "a travel document needs a number")
    return {"number": number}


def _write_number(content: Mapping[str, Json], ctx: _Context) -> Props:
    return {"number": [content["number"]]}


def _read_issuing_country(props: Props, ctx: _Context) -> dict[str, Json]:
    value = _one(props, "country", "issuing country")
    if value is None:
        raise _Problem("country", "a travel document needs the country that issued it")
    return {"issuing_country": _country("country", value)}


def _write_issuing_country(content: Mapping[str, Json], ctx: _Context) -> Props:
    code = alpha3_to_ftm(content["issuing_country"])
    return {"country": [code]} if code else {}


def _read_document_type(props: Props, ctx: _Context) -> dict[str, Json]:
    type_text = _one(props, "type", "document type")
    document_type, kind = classify_document(ctx.schema, type_text)
    if document_type is None:
        raise _Problem(
            "type",
            f"an identification of type '{type_text}' is no travel document; "
            f"its number is read as a {kind.value.replace('_', ' ')} of its holder instead",
        )
    return {"document_type": document_type.value}


def _write_document_type(content: Mapping[str, Json], ctx: _Context) -> Props:
    schema, label = _DOCUMENT_LABELS[DocumentType(content["document_type"])]
    return {"schema": [schema], "type": [label]} if label else {"schema": [schema]}


def _read_document_status(props: Props, ctx: _Context) -> dict[str, Json]:
    if ctx.document_status is None:
        raise _Problem(
            "status",
            "FtM has no document status; read travel documents with the adapter option status= "
            "(stolen, lost, revoked, invalidated or stolen_blank)",
        )
    return {"status": ctx.document_status}


def _date_spec(prop: str, field_name: str) -> _Spec:
    def read(props: Props, ctx: _Context) -> dict[str, Json]:
        value = _one(props, prop, field_name.replace("_", " ") + " date")
        return {field_name: _full_date(prop, value) if value else None}

    def write(content: Mapping[str, Json], ctx: _Context) -> Props:
        return {prop: [content[field_name]]} if content[field_name] else {}

    return _Spec(field_name, (prop,), (field_name,), read, write)


def _read_holder_id(props: Props, ctx: _Context) -> dict[str, Json]:
    holder = _one(props, "holder", "holder")
    if holder is None or _HOLDER_ID.match(holder):
        return {"holder_person_id": None}
    return {"holder_person_id": record_id_for(holder)}


def _write_holder_id(content: Mapping[str, Json], ctx: _Context) -> Props:
    if content["holder_person_id"]:
        return {"holder": [ctx.entity_id_of(content["holder_person_id"])]}
    if content["holder"]:
        return {"holder": [holder_entity_id(ctx.record_id)]}
    return {}


def _read_holder(props: Props, ctx: _Context) -> dict[str, Json]:
    holder = _one(props, "holder", "holder")
    return {"holder": ctx.holder_of(holder) if holder else None}


def holder_summary(person: Mapping[str, Json]) -> dict[str, Json]:
    """A document holder as a person (or holder entity) in JSON describes it."""
    summary = {
        "names": list(person["names"])[:HOLDER_NAMES],
        "birth_date": person["birth_dates"][0] if person["birth_dates"] else None,
        "sex": person["sex"],
        "nationality": person["nationalities"][0] if person["nationalities"] else None,
    }
    return DocumentHolder.model_validate(summary).model_dump(mode="json")


# --- Vehicle fields ---------------------------------------------------------------------------

_CATEGORY_WORDS: Final = (
    (VehicleCategory.MOTORCYCLE, ("motorcycle", "motorbike", "moped", "scooter")),
    (VehicleCategory.TRAILER, ("trailer", "semitrailer")),
    (VehicleCategory.BUS, ("bus", "coach", "minibus")),
    (VehicleCategory.TRUCK, ("truck", "lorry")),
    (VehicleCategory.VAN, ("van", "minivan")),
    (VehicleCategory.AGRICULTURAL, ("tractor", "agricultural", "harvester")),
    (VehicleCategory.CONSTRUCTION, ("construction", "excavator", "bulldozer", "crane", "loader")),
    (VehicleCategory.CAR, ("car", "automobile", "sedan", "saloon", "suv", "passenger")),
)


def _category(text: str) -> VehicleCategory:
    key = _words(text)
    if key in VehicleCategory.__members__.values():
        return VehicleCategory(key)
    words = set(re.findall(r"\w+", key))
    for category, names in _CATEGORY_WORDS:
        if words & set(names):
            return category
    return VehicleCategory.OTHER


def _read_registration(props: Props, ctx: _Context) -> dict[str, Json]:
    plates: list[str] = []
    vins: list[str] = []
    for prop in ("registrationNumber", "vin"):
        for value in _values(props, prop):
            compact = normalise_vin(value)
            if prop == "vin" or (len(compact) == 17 and compact.isalnum()):
                vins.append(value)
            else:
                plates.append(value)
    for found, what in ((plates, "plate"), (vins, "VIN")):
        if len({_key(value) for value in found}) > 1:
            shown = ", ".join(repr(value) for value in found[:5])
            raise _Problem("registrationNumber", f"polex holds one {what}, the entity has {len(found)}: {shown}")
    return {"plate": plates[0] if plates else None, "vin": vins[0] if vins else None}


def _write_registration(content: Mapping[str, Json], ctx: _Context) -> Props:
    values = [value for value in (content["plate"], content["vin"]) if value]
    return {"registrationNumber": values} if values else {}


def _read_plate_country(props: Props, ctx: _Context) -> dict[str, Json]:
    value = _one(props, "country", "plate country")
    return {"plate_country": _country("country", value) if value else None}


def _write_plate_country(content: Mapping[str, Json], ctx: _Context) -> Props:
    code = alpha3_to_ftm(content["plate_country"]) if content["plate_country"] else None
    return {"country": [code]} if code else {}


def _read_model(props: Props, ctx: _Context) -> dict[str, Json]:
    return {"make": None, "model": _one(props, "model", "model")}


def _write_model(content: Mapping[str, Json], ctx: _Context) -> Props:
    text = " ".join(value for value in (content["make"], content["model"]) if value)
    return {"model": [text]} if text else {}


def _read_model_year(props: Props, ctx: _Context) -> dict[str, Json]:
    value = _one(props, "buildDate", "build date")
    return {"model_year": int(_date("buildDate", value)[:4]) if value else None}


def _write_model_year(content: Mapping[str, Json], ctx: _Context) -> Props:
    return {"buildDate": [str(content["model_year"])]} if content["model_year"] is not None else {}


def _read_category(props: Props, ctx: _Context) -> dict[str, Json]:
    value = _one(props, "type", "vehicle type")
    return {"category": (_category(value) if value else VehicleCategory.OTHER).value}


def _write_category(content: Mapping[str, Json], ctx: _Context) -> Props:
    return {"type": [str(content["category"]).capitalize()]}


def _read_vehicle_status(props: Props, ctx: _Context) -> dict[str, Json]:
    if ctx.vehicle_status is None:
        raise _Problem(
            "status",
            "FtM has no vehicle status; read vehicles with the adapter option vehicle_status= "
            "(stolen, misappropriated, wanted or recovered)",
        )
    return {"status": ctx.vehicle_status}


def _nothing(*fields: str) -> Callable[[Props, _Context], dict[str, Json]]:
    def read(props: Props, ctx: _Context) -> dict[str, Json]:
        return dict.fromkeys(fields)

    return read


def _no_biometrics(props: Props, ctx: _Context) -> dict[str, Json]:
    return {"biometrics": []}


# --- Mappings ---------------------------------------------------------------------------------


def _no_documents(entity_id: str) -> list[tuple[str, Props]]:
    return []


def _no_holder(entity_id: str) -> Json:
    return None


@dataclass
class _Context:
    """What a mapping needs besides the entity: other entities of the stream (or batch) and
    the adapter's options."""

    entity_id: str
    schema: str
    record_id: str = ""
    document_status: str | None = None
    vehicle_status: str | None = None
    documents_of: Callable[[str], list[tuple[str, Props]]] = _no_documents
    holder_of: Callable[[str], Json] = _no_holder
    entity_id_of: Callable[[str], str] = entity_id_for


@dataclass(frozen=True)
class _Spec:
    """One mapping between FtM properties and polex fields, both ways.

    ``read`` gives the fields from the properties (raising :class:`_Problem`); ``write`` gives
    the properties from the record's content (JSON). ``writes`` is false where the fields are
    derived from other entities and the properties are written by another mapping."""

    name: str
    props: tuple[str, ...]
    fields: tuple[str, ...]
    read: Callable[[Props, _Context], dict[str, Json]]
    write: Callable[[Mapping[str, Json], _Context], Props]
    writes: bool = True


@dataclass(frozen=True)
class _Kind:
    name: str
    content: type[SchemaModel]
    record: type[BaseModel] | None
    specs: tuple[_Spec, ...]
    extension_prop: str
    schema: str | None  # None: the mapping "document_type" chooses it

    def spec_of(self, field_name: str) -> _Spec | None:
        return next((spec for spec in self.specs if field_name in spec.fields), None)


_NAMES_SPEC: Final = _Spec(
    "names", ("name", "alias", "weakAlias", "previousName", *_PART_PROPS), ("names",), _read_names, _write_names
)
_SEX_SPEC: Final = _Spec("sex", ("gender",), ("sex",), _read_sex, _write_sex)
_BIRTH_DATES_SPEC: Final = _Spec("birth_dates", ("birthDate",), ("birth_dates",), _read_birth_dates, _write_birth_dates)
_NATIONALITIES_SPEC: Final = _Spec(
    "nationalities", ("nationality", "citizenship"), ("nationalities",), _read_nationalities, _write_nationalities
)

PERSON: Final = _Kind(
    "person",
    Person,
    FtmPerson,
    (
        _NAMES_SPEC,
        _SEX_SPEC,
        _BIRTH_DATES_SPEC,
        _Spec("birth_place", ("birthPlace", "birthCountry"), ("birth_place",), _read_birth_place, _write_birth_place),
        _NATIONALITIES_SPEC,
        _Spec(
            "identifiers",
            tuple(prop for prop, _, _ in _IDENTIFIER_PROPS),
            ("identifiers",),
            _read_identifiers,
            _write_identifiers,
        ),
        _Spec(
            "physical",
            ("height", "weight", "eyeColor", "hairColor", "appearance"),
            ("physical",),
            _read_physical,
            _write_physical,
        ),
        _Spec("languages", ("spokenLanguage",), ("languages",), _read_languages, _write_languages),
        _Spec("deceased", ("deathDate",), ("deceased",), _read_deceased, _write_nothing),
        # FtM has no property for medical information or biometric references (special
        # categories of data): they travel in the polex: note only.
        _Spec("health", (), ("health",), _nothing("health"), _write_nothing),
        _Spec("biometrics", (), ("biometrics",), _no_biometrics, _write_nothing),
        _Spec("remarks", ("notes",), ("remarks",), *_remarks("notes")),
    ),
    "notes",
    "Person",
)

HOLDER: Final = _Kind(
    "holder",
    _HolderEntity,
    None,
    (_NAMES_SPEC, _SEX_SPEC, _BIRTH_DATES_SPEC, _NATIONALITIES_SPEC),
    "notes",
    "Person",
)

TRAVEL_DOCUMENT: Final = _Kind(
    "travel_document",
    TravelDocument,
    FtmTravelDocument,
    (
        _Spec("number", ("number", "passportNumber"), ("number",), _read_number, _write_number),
        _Spec("issuing_country", ("country",), ("issuing_country",), _read_issuing_country, _write_issuing_country),
        _Spec("document_type", ("schema", "type"), ("document_type",), _read_document_type, _write_document_type),
        _Spec("status", (), ("status",), _read_document_status, _write_nothing),
        _date_spec("startDate", "issued_on"),
        _date_spec("endDate", "expires_on"),
        _Spec("reported_on", (), ("reported_on",), _nothing("reported_on"), _write_nothing),
        _Spec("place_of_loss", (), ("place_of_loss",), _nothing("place_of_loss"), _write_nothing),
        _Spec("holder_person_id", ("holder",), ("holder_person_id",), _read_holder_id, _write_holder_id),
        _Spec("holder", ("holder",), ("holder",), _read_holder, _write_nothing, writes=False),
        _Spec("remarks", ("description",), ("remarks",), *_remarks("description")),
    ),
    "description",
    None,
)

VEHICLE: Final = _Kind(
    "vehicle",
    Vehicle,
    FtmVehicle,
    (
        _Spec("plate", ("registrationNumber", "vin"), ("plate", "vin"), _read_registration, _write_registration),
        _Spec("plate_country", ("country",), ("plate_country",), _read_plate_country, _write_plate_country),
        _Spec("model", ("model",), ("make", "model"), _read_model, _write_model),
        _Spec("model_year", ("buildDate",), ("model_year",), _read_model_year, _write_model_year),
        _Spec("colour", (), ("colour",), _nothing("colour"), _write_nothing),
        _Spec("category", ("type",), ("category",), _read_category, _write_category),
        _Spec("status", (), ("status",), _read_vehicle_status, _write_nothing),
        _Spec("stolen_on", (), ("stolen_on",), _nothing("stolen_on"), _write_nothing),
        _Spec("place_of_theft", (), ("place_of_theft",), _nothing("place_of_theft"), _write_nothing),
        _Spec("remarks", ("notes",), ("remarks",), *_remarks("notes")),
    ),
    "notes",
    "Vehicle",
)

KINDS: Final = (PERSON, TRAVEL_DOCUMENT, VEHICLE)


def _kind_of_schema(schema: str) -> _Kind | None:
    found = _MODEL.get(schema)
    if found is None:
        return None
    if found.is_a("Person"):
        return PERSON
    if found.is_a("Identification"):
        return TRAVEL_DOCUMENT
    if found.is_a("Vehicle"):
        return VEHICLE
    return None


def _kind_of_record(record: BaseModel) -> _Kind:
    for kind in KINDS:
        if isinstance(record, kind.content):
            return kind
    raise TypeError(f"the ftm format writes persons, travel documents and vehicles, not {type(record).__name__}")


# --- The polex note, fingerprints, field comparison -------------------------------------------


@dataclass(frozen=True)
class _Extension:
    fields: dict[str, Json]
    fingerprints: dict[str, str]


def _fingerprint(props: Mapping[str, list[str]], spec: _Spec) -> str:
    data = json.dumps([props.get(prop, []) for prop in spec.props], ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _take_extension(props: Props, prop: str) -> _Extension | None:
    """Remove the ``polex:`` value from ``props[prop]`` and read it."""
    values = props.get(prop, [])
    notes = [value for value in values if value.startswith(EXTENSION_PREFIX)]
    if not notes:
        return None
    rest = [value for value in values if not value.startswith(EXTENSION_PREFIX)]
    if rest:
        props[prop] = rest
    else:
        props.pop(prop, None)
    if len(notes) > 1:
        raise _Problem(prop, f"the entity has {len(notes)} '{EXTENSION_PREFIX}' values; polex writes one")
    try:
        data = json.loads(notes[0][len(EXTENSION_PREFIX) :])
    except ValueError as error:
        raise _Problem(prop, f"the '{EXTENSION_PREFIX}' value is not JSON ({error})") from error
    if (
        not isinstance(data, dict)
        or data.get("v") != EXTENSION_VERSION
        or not isinstance(data.get("fields"), dict)
        or not isinstance(data.get("fp"), dict)
    ):
        raise _Problem(prop, f"the '{EXTENSION_PREFIX}' value is not a polex note of version {EXTENSION_VERSION}")
    return _Extension(fields=data["fields"], fingerprints={str(k): str(v) for k, v in data["fp"].items()})


def _extension_value(extension: _Extension) -> str:
    data = {"v": EXTENSION_VERSION, "fields": extension.fields, "fp": extension.fingerprints}
    return EXTENSION_PREFIX + json.dumps(data, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


class _Invalid:
    """What a field that does not validate compares as: equal to nothing."""

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return id(self)


@lru_cache(maxsize=128)
def _field_adapter(model: type[BaseModel], field_name: str) -> TypeAdapter[Any]:
    info = model.model_fields[field_name]
    return TypeAdapter(cast(Any, Annotated[info.annotation, info]))  # the field with its constraints


def _normalised(model: type[BaseModel], field_name: str, value: Json) -> Json:
    """A field's value as the model would store it, or :class:`_Invalid`."""
    adapter = _field_adapter(model, field_name)
    try:
        return adapter.dump_python(adapter.validate_python(value), mode="json")
    except ValidationError:
        return _Invalid()


def _native(kind: _Kind, props: Props, ctx: _Context) -> tuple[dict[str, Json], set[str]]:
    """The fields read from the properties alone, and the fields that could not be read."""
    fields: dict[str, Json] = {}
    failed: set[str] = set()
    for spec in kind.specs:
        try:
            fields.update(spec.read(props, ctx))
        except _Problem:
            failed.update(spec.fields)
    return fields, failed


# --- Reading ----------------------------------------------------------------------------------


@dataclass
class _Item:
    """One line of the stream."""

    line: int
    raw: str
    entity_id: str = ""
    schema: str = ""
    props: Props = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    kind: _Kind | None = None
    rejection: Rejection | None = None


@dataclass(frozen=True)
class _Read:
    """An entity read into content, or the problems that stopped it."""

    content: dict[str, Json] | None
    originals: dict[str, str]
    problems: tuple[_Problem, ...] = ()


def _reject(field_name: str, reason: str, raw: str, location: str) -> Rejection:
    return Rejection(field_name, reason, raw=raw, location=location, errors=(FieldError(field_name, reason),))


def _parse_line(number: int, line: str) -> _Item:
    item = _Item(line=number, raw=line)
    location = f"line {number}"
    try:
        data = json.loads(line)
    except ValueError as error:
        item.rejection = _reject("line", f"not a JSON object: {error}", line, location)
        return item
    if not isinstance(data, dict):
        item.rejection = _reject("line", "an FtM entity is a JSON object", line, location)
        return item
    entity_id, schema, properties = data.get("id"), data.get("schema"), data.get("properties", {})
    if not isinstance(entity_id, str) or not entity_id.strip():
        item.rejection = _reject("id", "an FtM entity needs an id", line, location)
        return item
    item.entity_id = entity_id.strip()
    if len(item.entity_id) > ENTITY_ID_LEN or registry.entity.clean_text(item.entity_id) is None:
        item.rejection = _reject(
            "id",
            f"'{item.entity_id[:80]}' is not an FtM entity id (letters, digits, dots and hyphens, "
            f"at most {ENTITY_ID_LEN} characters)",
            line,
            location,
        )
        return item
    if not isinstance(schema, str) or _MODEL.get(schema) is None:
        item.rejection = _reject("schema", f"{schema!r} is not an FtM schema", line, location)
        return item
    item.schema = schema
    item.kind = _kind_of_schema(schema)
    if item.kind is None:
        item.rejection = _reject(
            "schema",
            f"polex reads Person, Passport, Identification and Vehicle entities; it has no record for a {schema}",
            line,
            location,
        )
        return item
    if not isinstance(properties, dict):
        item.rejection = _reject("properties", "properties must be a JSON object", line, location)
        return item
    for prop, values in properties.items():
        listed = values if isinstance(values, list) else [values]
        item.props[str(prop)] = [value if isinstance(value, str) else json.dumps(value) for value in listed]
    datasets = data.get("datasets") or []
    item.datasets = sorted(str(dataset) for dataset in datasets) if isinstance(datasets, list) else []
    return item


def source_id_for(entity_id: str, datasets: Iterable[str]) -> str:
    """``<datasets, comma-separated>:<FtM id>`` (FtM ids have no colon), in at most 500 characters."""
    names = sorted(datasets)
    text = ",".join(names)
    budget = 500 - len(entity_id) - 1
    if len(text) > budget:
        kept: list[str] = []
        for name in names:
            if len(",".join([*kept, name, "…"])) > budget:
                break
            kept.append(name)
        text = ",".join([*kept, "…"])
    return f"{text}:{entity_id}"


def parse_source_id(source_id: str) -> tuple[list[str], str]:
    """The datasets and FtM id in a ``source_id`` written by :func:`source_id_for`."""
    datasets, _, entity_id = source_id.rpartition(":")
    return [name for name in datasets.split(",") if name and name != "…"], entity_id


def _received(spec: _Spec, props: Mapping[str, list[str]]) -> dict[str, list[str]]:
    return {prop: list(props[prop]) for prop in spec.props if props.get(prop)}


def _convert(kind: _Kind, props_in: Props, ctx: _Context) -> _Read:
    """Read one entity's properties into content (validated, as JSON), with the originals to keep."""
    props = {prop: list(values) for prop, values in props_in.items()}
    try:
        extension = _take_extension(props, kind.extension_prop)
    except _Problem as problem:
        return _Read(None, {}, (problem,))
    if kind.schema is None:
        props["schema"] = [ctx.schema]
    trusted: set[str] = set()
    if extension is not None:
        trusted = {
            spec.name for spec in kind.specs if extension.fingerprints.get(spec.name) == _fingerprint(props, spec)
        }
    content: dict[str, Json] = {}
    problems: list[_Problem] = []
    for spec in kind.specs:
        from_note = {}
        if extension is not None and spec.name in trusted:
            from_note = {name: extension.fields[name] for name in spec.fields if name in extension.fields}
        if len(from_note) < len(spec.fields):
            try:
                content.update(spec.read(props, ctx))
            except _Problem as problem:
                problems.append(problem)
        content.update(from_note)
    if problems:
        return _Read(None, {}, tuple(problems))
    try:
        model = kind.content.model_validate(content)
    except ValidationError as error:
        return _Read(None, {}, tuple(_problems_of(error, kind, props)))
    dumped = model.model_dump(mode="json")
    originals: dict[str, str] = {}
    for spec in kind.specs:
        if not spec.writes or spec.name in trusted:
            continue
        received = _received(spec, props)
        written = {prop: values for prop, values in spec.write(dumped, ctx).items() if values}
        linked = ctx.documents_of(ctx.entity_id) if spec.name == "identifiers" else []
        if received != written:
            kept: dict[str, Json] = dict(received)
            if linked:
                kept["@linked"] = [[schema, document] for schema, document in linked]
            originals[spec.name] = json.dumps(kept, ensure_ascii=False)
    return _Read(dumped, originals)


def _problems_of(error: ValidationError, kind: _Kind, props: Props) -> list[_Problem]:
    """Validation errors as problems naming the FtM property each comes from."""
    problems = []
    for detail in error.errors():
        loc = detail["loc"]
        message = str(detail["msg"]).removeprefix("Value error, ")
        if loc:
            field_name = str(loc[0])
            where = "/".join(str(part) for part in loc)
            reason = f"{message} ({where})" if len(loc) > 1 else message
        else:  # a model check: "field: reason"
            field_name, _, rest = message.partition(": ")
            reason = rest or message
        prop = _prop_of(kind, field_name, loc, props, model_level=not loc)
        problems.append(_Problem(prop, reason))
    return problems


def _prop_of(kind: _Kind, field_name: str, loc: tuple[int | str, ...], props: Props, *, model_level: bool) -> str:
    spec = kind.spec_of(field_name)
    if spec is None:
        return field_name
    if field_name == "names" and len(loc) > 1 and isinstance(loc[1], int):
        sources = _name_sources(props)
        if loc[1] < len(sources):
            return sources[loc[1]]
    candidates = [prop for prop in spec.props if prop != "schema"]
    if not candidates:
        return field_name
    if model_level:
        return candidates[0]
    return next((prop for prop in candidates if props.get(prop)), candidates[0])


class _Reader:
    """One read of a stream: every line parsed first, so holders and documents find each other."""

    def __init__(self, items: list[_Item], document_status: str | None, vehicle_status: str | None) -> None:
        self.items = items
        self.document_status = document_status
        self.vehicle_status = vehicle_status
        self.by_id: dict[str, _Item] = {}
        self.documents: dict[str, list[_Item]] = {}
        self.duplicates: dict[int, int] = {}
        for item in items:
            if item.rejection is not None or item.kind is None:
                continue
            if item.entity_id in self.by_id:
                self.duplicates[item.line] = self.by_id[item.entity_id].line
                continue
            self.by_id[item.entity_id] = item
            if item.kind is TRAVEL_DOCUMENT:
                for holder in _values(item.props, "holder"):
                    self.documents.setdefault(holder, []).append(item)
        self.record_ids = {record_id_for(entity_id): entity_id for entity_id in self.by_id}
        self.persons: dict[str, _Read] = {}
        self.holders: dict[str, _Read] = {}

    def context(self, item: _Item) -> _Context:
        return _Context(
            entity_id=item.entity_id,
            schema=item.schema,
            record_id=record_id_for(item.entity_id),
            document_status=self.document_status,
            vehicle_status=self.vehicle_status,
            documents_of=self.documents_of,
            holder_of=self.holder_of,
            entity_id_of=lambda record_id: self.record_ids.get(record_id, entity_id_for(record_id)),
        )

    def documents_of(self, entity_id: str) -> list[tuple[str, Props]]:
        keep = ("number", "passportNumber", "country", "type", "startDate")
        return [
            (item.schema, {prop: list(item.props[prop]) for prop in keep if item.props.get(prop)})
            for item in self.documents.get(entity_id, [])
        ]

    def person(self, item: _Item) -> _Read:
        if item.entity_id not in self.persons:
            self.persons[item.entity_id] = _convert(PERSON, item.props, self.context(item))
        return self.persons[item.entity_id]

    def holder_of(self, entity_id: str) -> Json:
        item = self.by_id.get(entity_id)
        if item is None:
            return None  # not in this stream: the link alone
        if item.kind is not PERSON:
            raise _Problem(
                "holder", f"the holder '{entity_id}' is a {item.schema}; polex documents are held by persons"
            )
        if _HOLDER_ID.match(entity_id):
            if entity_id not in self.holders:
                self.holders[entity_id] = _convert(HOLDER, item.props, self.context(item))
            read = self.holders[entity_id]
        else:
            read = self.person(item)
        if read.content is None:
            first = read.problems[0]
            raise _Problem("holder", f"the holder '{entity_id}' (line {item.line}) cannot be read: {first}")
        try:
            return holder_summary(read.content)
        except ValidationError as error:
            raise _Problem("holder", f"the holder '{entity_id}' does not make a document holder: {error}") from error

    def results(self) -> Iterator[ReadResult]:
        holder_lines = self._holder_lines()
        for item in self.items:
            location = f"line {item.line}"
            if item.rejection is not None:
                yield item.rejection
                continue
            if item.line in self.duplicates:
                reason = f"entity '{item.entity_id}' was already read on line {self.duplicates[item.line]}"
                yield _reject("id", reason, item.raw, location)
                continue
            if _HOLDER_ID.match(item.entity_id):
                if item.entity_id not in holder_lines:
                    reason = "this Person stands for the holder of a travel document that is not in the stream"
                    yield _reject("id", reason, item.raw, location)
                continue  # read into its document
            yield self._result(item)

    def _holder_lines(self) -> dict[str, _Item]:
        found = {}
        for holder_id, documents in self.documents.items():
            holder = self.by_id.get(holder_id)
            if holder is not None and documents and _HOLDER_ID.match(holder_id):
                found[holder_id] = holder
        return found

    def _result(self, item: _Item) -> ReadResult:
        assert item.kind is not None  # items without a kind were rejected when parsed
        kind = item.kind
        raw, location = item.raw, f"line {item.line}"
        if kind is PERSON:
            read = self.person(item)
        else:
            read = _convert(kind, item.props, self.context(item))
            holder = _one_or_none(item.props.get("holder", []))
            if kind is TRAVEL_DOCUMENT and holder and _HOLDER_ID.match(holder) and holder in self.by_id:
                holder_item = self.by_id[holder]
                raw = f"{holder_item.raw}\n{item.raw}"
                location = f"line {item.line} (its holder: line {holder_item.line})"
        if read.content is None:
            errors = tuple(FieldError(problem.prop, problem.reason) for problem in read.problems)
            first = read.problems[0]
            return Rejection(first.prop, first.reason, raw=raw, location=location, errors=errors)
        provenance = Provenance(
            source_format=FORMAT_NAME,
            source_id=source_id_for(item.entity_id, item.datasets),
            original_values=read.originals,
        )
        assert kind.record is not None  # persons, documents and vehicles have record models
        record = kind.record.model_validate(
            {**read.content, "id": record_id_for(item.entity_id), "provenance": provenance}
        )
        return Accepted(record, raw=raw, location=location)


def _one_or_none(values: list[str]) -> str | None:
    cleaned = [value.strip() for value in values if value.strip()]
    return cleaned[0] if len(cleaned) == 1 else None


# --- Writing ----------------------------------------------------------------------------------


@dataclass
class _Built:
    """One entity being written."""

    kind: _Kind
    record_id: str
    entity_id: str
    schema: str
    content: dict[str, Json]
    props: Props
    datasets: list[str]


def _record_id_of(record: BaseModel, content: Mapping[str, Json]) -> str:
    record_id = getattr(record, "id", None)
    if isinstance(record_id, str) and re.fullmatch(_UUID, record_id):
        return record_id
    canonical = json.dumps(content, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return str(uuid.uuid5(FTM_NAMESPACE, "polex-content:" + canonical))


def _ftm_provenance(record: BaseModel) -> Provenance | None:
    provenance = getattr(record, "provenance", None)
    if isinstance(provenance, Provenance) and provenance.source_format == FORMAT_NAME:
        return provenance
    return None


def _from_originals(kind: _Kind, spec: _Spec, text: str, content: Mapping[str, Json], ctx: _Context) -> Props | None:
    """The properties as received, while they still read as the record's content."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    linked = data.pop("@linked", [])
    props: Props = {
        str(prop): [str(value) for value in values] for prop, values in data.items() if isinstance(values, list)
    }
    documents = [(str(schema), dict(document)) for schema, document in linked] if isinstance(linked, list) else []
    check = _Context(
        entity_id=ctx.entity_id,
        schema=ctx.schema,
        record_id=ctx.record_id,
        documents_of=lambda entity_id: documents,
        holder_of=ctx.holder_of,
        entity_id_of=ctx.entity_id_of,
    )
    try:
        fields = spec.read(props, check)
    except (_Problem, TypeError, ValueError):
        return None
    for name in spec.fields:
        if _normalised(kind.content, name, fields.get(name)) != _normalised(kind.content, name, content[name]):
            return None
    return props


class _Writer:
    def __init__(self, records: Iterable[BaseModel]) -> None:
        self.built: list[_Built] = []
        self.entity_ids: dict[str, str] = {}
        pending: list[tuple[_Kind, BaseModel, str, dict[str, Json], Provenance | None]] = []
        for record in records:
            kind = _kind_of_record(record)
            content = record.model_dump(mode="json", include=set(kind.content.model_fields))
            record_id = _record_id_of(record, content)
            provenance = _ftm_provenance(record)
            entity_id = entity_id_for(record_id)
            if provenance is not None and provenance.source_id:
                _, source_entity = parse_source_id(provenance.source_id)
                if source_entity and record_id_for(source_entity) == record_id:
                    entity_id = source_entity
            self.entity_ids[record_id] = entity_id
            pending.append((kind, record, record_id, content, provenance))
        for kind, _record, record_id, content, provenance in pending:
            if kind is TRAVEL_DOCUMENT and content["holder"] and not content["holder_person_id"]:
                holder = content["holder"]
                holder_content = {
                    "names": holder["names"],
                    "sex": holder["sex"],
                    "birth_dates": [holder["birth_date"]] if holder["birth_date"] else [],
                    "nationalities": [holder["nationality"]] if holder["nationality"] else [],
                }
                self._build(HOLDER, record_id, holder_entity_id(record_id), holder_content, None)
            self._build(kind, record_id, self.entity_ids[record_id], content, provenance)

    def _context(self, kind: _Kind, record_id: str, entity_id: str, schema: str) -> _Context:
        return _Context(
            entity_id=entity_id,
            schema=schema,
            record_id=record_id,
            documents_of=self.documents_of,
            holder_of=self.holder_of,
            entity_id_of=lambda other: self.entity_ids.get(other, entity_id_for(other)),
        )

    def _build(
        self, kind: _Kind, record_id: str, entity_id: str, content: dict[str, Json], provenance: Provenance | None
    ) -> None:
        ctx = self._context(kind, record_id, entity_id, kind.schema or "")
        originals = provenance.original_values if provenance is not None else {}
        merged: Props = {}
        for spec in kind.specs:
            if not spec.writes:
                continue
            props = None
            if spec.name in originals:
                props = _from_originals(kind, spec, originals[spec.name], content, ctx)
            if props is None:
                props = spec.write(content, ctx)
            for prop, values in props.items():
                target = merged.setdefault(prop, [])
                target.extend(value for value in values if value not in target)
        schema = kind.schema or merged.pop("schema", ["Identification"])[0]
        proxy = _MODEL.make_entity(schema)
        proxy.id = entity_id
        for prop, values in merged.items():
            proxy.add(prop, values, quiet=True)  # cleaned by FtM; what it changes travels in the note
        datasets = parse_source_id(provenance.source_id)[0] if provenance and provenance.source_id else []
        self.built.append(_Built(kind, record_id, entity_id, schema, content, proxy.properties, datasets))

    def documents_of(self, entity_id: str) -> list[tuple[str, Props]]:
        keep = ("number", "passportNumber", "country", "type", "startDate")
        return [
            (built.schema, {prop: list(built.props[prop]) for prop in keep if built.props.get(prop)})
            for built in self.built
            if built.kind is TRAVEL_DOCUMENT and built.props.get("holder", [None])[0] == entity_id
        ]

    def holder_of(self, entity_id: str) -> Json:
        for built in self.built:
            if built.entity_id == entity_id and built.kind in (PERSON, HOLDER):
                return holder_summary(built.content)
        return None

    def entities(self) -> Iterator[dict[str, Json]]:
        for built in self.built:
            kind = built.kind
            props = {prop: list(values) for prop, values in built.props.items()}
            if kind.schema is None:
                props["schema"] = [built.schema]
            ctx = self._context(kind, built.record_id, built.entity_id, built.schema)
            native, failed = _native(kind, props, ctx)
            fields: dict[str, Json] = {}
            fingerprints: dict[str, str] = {}
            for spec in kind.specs:
                for name in spec.fields:
                    same = name not in failed and _normalised(kind.content, name, native.get(name)) == _normalised(
                        kind.content, name, built.content[name]
                    )
                    if not same:
                        fields[name] = built.content[name]
                        fingerprints[spec.name] = _fingerprint(props, spec)
            proxy = _MODEL.make_entity(built.schema)
            proxy.id = built.entity_id
            for prop, values in built.props.items():
                proxy.add(prop, values, cleaned=True)
            if fields:  # only what the properties cannot say
                note = _extension_value(_Extension(fields, fingerprints))
                proxy.add(kind.extension_prop, note, cleaned=True)
                if note not in proxy.get(kind.extension_prop):
                    raise ValueError(f"entity {built.entity_id} is too large for FtM to hold its polex note")
            data = proxy.to_dict()
            if built.datasets:
                data["datasets"] = built.datasets
            yield data


# --- The adapter ------------------------------------------------------------------------------


class FtmAdapter:
    """The ``ftm`` format: FollowTheMoney entities as JSON lines.

    Options: ``status`` gives travel documents (Passport, Identification) the status FtM
    cannot say; ``vehicle_status`` does the same for vehicles. Without them such entities are
    rejections, unless polex wrote them (its note carries the status).
    """

    name = FORMAT_NAME
    description = (
        "FollowTheMoney entities (OpenSanctions, OCCRP Aleph) as JSON lines: Person, Passport, "
        "Identification and Vehicle, with holders linked within the stream"
    )
    media_types: tuple[str, ...] = ("application/x-ndjson", "application/jsonl")

    def __init__(
        self,
        *,
        status: DocumentStatus | str | None = None,
        vehicle_status: VehicleStatus | str | None = None,
    ) -> None:
        self.status = DocumentStatus(status) if status is not None else None
        self.vehicle_status = VehicleStatus(vehicle_status) if vehicle_status is not None else None

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        text = stream.read().decode("utf-8-sig", errors="replace")
        lines = [line.removesuffix("\r") for line in text.split("\n")]  # JSON text may hold U+2028, U+0085 ...
        items = [_parse_line(number, line) for number, line in enumerate(lines, 1) if line.strip()]
        reader = _Reader(
            items,
            self.status.value if self.status is not None else None,
            self.vehicle_status.value if self.vehicle_status is not None else None,
        )
        yield from reader.results()

    def write(self, records: Iterable[BaseModel], stream: IO[bytes]) -> None:
        """Each person, travel document and vehicle as an FtM entity, one JSON object a line."""
        writer = _Writer(records)
        for entity in writer.entities():
            stream.write((json.dumps(entity, ensure_ascii=False) + "\n").encode("utf-8"))
