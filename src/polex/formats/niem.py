"""NIEM XML (National Information Exchange Model), versions 3.0 to 6.0: read persons, vehicles,
identity documents and incidents; write persons and vehicles as NIEM 6.0.

Reading
=======

Elements are recognised by their local name when their namespace is a known NIEM one, so one
reader serves every release (and the NIBRS IEPD built on NIEM 3.0):

- NIEM core: ``http://niem.gov/niem/niem-core/2.0``, ``http://release.niem.gov/niem/niem-core/3.0/``
  (4.0, 5.0) and ``https://docs.oasis-open.org/niemopen/ns/model/niem-core/6.0/``;
- the justice domain (``j:``): jxdm 4.0 to 7.2 and NIEMOpen justice 6.0;
- the FBI CJIS and NIBRS namespaces (``http://fbi.gov/cjis/1.0``, ``http://fbi.gov/cjis/nibrs/4.2``
  ...), for the NIBRS elements that carry offense codes.

``structures:id`` / ``structures:ref`` (and ``structures:uri="#id"``) of every release are resolved,
so a role (``j:Victim``, ``j:Subject``, ``j:Arrestee``...) that points at its ``nc:Person`` with
``nc:RoleOfPerson`` and the ``*Association`` elements that tie offenses, arrests, victims, subjects,
vehicles and registrations together are followed.

=============================  ==============================================================
NIEM                           polex
=============================  ==============================================================
``nc:Person`` (and an inline   :class:`NiemPerson`. ``nc:PersonName`` / ``nc:PersonAlternateName``
``nc:RoleOfPerson``)           (Given, Middle, Sur, Full names; the category text or code gives
                               the kind: Legal/primary, Alternate/alias, at birth, maiden...);
                               ``nc:PersonBirthDate`` (``nc:Date``, ``nc:DateTime``,
                               ``nc:YearMonthDate``, ``nc:Year``/``nc:YearDate``: partial dates
                               stay partial); ``*PersonSexCode`` / ``nc:PersonSexText`` (M, F, U,
                               X or words); ``nc:PersonCitizenship*`` / ``nc:PersonNationality*``
                               (ISO 3166 alpha-3, alpha-2, numeric codes or names, and ICAO 9303
                               codes; FIPS 10-4 codes are refused, they differ from ISO);
                               height and weight measures with their unit (UN/ECE codes or words,
                               converted to cm and kg); eye and hair colour (NCIC codes or words);
                               ``nc:PersonPhysicalFeature`` (scars, marks, tattoos);
                               ``nc:PersonBirthLocation``; languages; ``nc:PersonLivingIndicator``
                               and ``nc:PersonDeathDate``; ``nc:PersonDescriptionText`` (remarks);
                               every ``*Identification`` (passport, national, state ID card, SSN,
                               tax, driver licence, FBI and fingerprint numbers, other) → a
                               ``PersonIdentifier``.
passport / identity card       also a :class:`NiemTravelDocument` (holder: the person) when the
identifications, ``nc:Passport`` data give number, issuing country and a status (stolen, lost,
                               revoked, invalidated, from ``nc:IdentificationStatus`` or
                               ``nc:IdentificationStolenLostIndicator``), or when the adapter is made
                               with ``document_status``; otherwise only the person's identifier.
``nc:Vehicle`` / ``j:Vehicle`` :class:`NiemVehicle`: ``nc:VehicleIdentification`` (VIN, checked),
                               the registration plate (``*ConveyanceRegistrationPlateIdentification``
                               inside the vehicle, in a ``j:ConveyanceRegistration`` that refers to
                               it, or tied by an ``*RegistrationAssociation``) with its jurisdiction
                               (a country code; a US state postal code means USA), ``nc:ItemMakeName``,
                               ``nc:ItemModelName``, ``nc:ItemModelYearDate``,
                               ``nc:ItemColorDescriptionText``, ``nc:ItemCategoryText``,
                               ``nc:ItemStatus`` (stolen, recovered...), ``nc:ItemDescriptionText``.
NIBRS ``nc:Item`` of property  a vehicle candidate (category car, bus, truck, trailer or other); NIBRS
category 03, 05, 24, 28, 37,   never sends a VIN or a plate, so these are rejections that say so
78 (motor vehicles, trailers)  (the property is still summarised in the case).
``nc:Incident`` + ``j:Offense``:class:`NiemCase`: reference = the incident number
+ ``j:Arrest``                 (``nc:ActivityIdentification``), opened on the incident date,
                               crime types = the NIBRS/UCR offense and arrest charge codes mapped
                               to ICCS divisions by :data:`NIBRS_TO_ICCS` (the codes themselves are
                               kept in the provenance), closed when the incident was cleared
                               exceptionally (code A to E). An arrest with no incident (NIBRS Group
                               B) is a case of its own. Links: the persons in roles (victim;
                               subject, arrestee, suspect; witness; other) that were read as
                               persons, and the vehicles and documents of the same report. What
                               polex has no field for (location, property, ages and sexes of
                               unnamed persons, NIBRS factors) is written into the summary.
=============================  ==============================================================

Which incident an offense, arrest, person or vehicle belongs to: the elements of one report
element (NIBRS ``nibrs:Report``, or the document root) belong to its only incident; when a report
holds several incidents only the ``*Association`` elements decide.

Every record carries :class:`~polex.domain.base.Provenance` with ``source_format="niem-xml"``,
``source_id`` = the document's identifier and the element's ``structures:id`` (``"123456#Person1"``),
and the original text of every value polex normalised (``sex: "M"``, ``crime_types/0: "NIBRS 23F"``).

Nothing is dropped silently. Every element that could have been a record and is not becomes a
:class:`~polex.formats.registry.Rejection` whose ``field`` is the XML path of the faulty element
(``/nibrs:Submission/nibrs:Report/nc:Person[2]/nc:PersonBirthDate``), whose ``location`` is the
path of the record element and whose ``errors`` list every problem found. That includes NIBRS
persons, which are anonymous (age, sex, race) while a polex person needs a name, NIBRS deletion
reports, and elements of a report that are none of the kinds above and belong to no incident.
A document that is not well-formed XML, too large or too deep, or that declares entities
(billion laughs, XXE) is one rejection naming the reason; :func:`parse_document` raises
:class:`NiemError` for the same.

Parsing goes through defusedxml: no entity declarations, no external references, no network;
documents are limited in bytes, depth and element count.

Writing
=======

:func:`to_niem_xml` (and :meth:`NiemAdapter.write`) write persons and vehicles as NIEM 6.0 core
(NIEMOpen ``niem-core/6.0``, plate registrations in the justice 6.0 domain) under a ``polex:Exchange``
root of the extension namespace :data:`POLEX_NS`. Every document is valid against the NIEM 6.0
schemas: :meth:`NiemAdapter.write` checks it with :func:`validate_niem6` before writing anything,
against the subset schema set bundled in ``niem_schemas/6.0`` (NIEMOpen niem-model 6.0 ps02
niem-core, justice, niem-xs, structures and code-lists documents cut down to what polex writes,
plus polex's extension schema for ``polex:Exchange``; ``SOURCE.md`` there says how). By NIEM's
subset rule a document valid against the subset is valid against the full reference schemas.
Written: names (with their kind as ``nc:PersonNameCategoryText``), birth dates, sex, nationalities,
height, weight, eye and hair colour, marks, general description, identifiers (with country and
issue date; NIEM orders them by kind), deceased, remarks; VIN, plate and plate country, make,
model, model year, colour, category, status, the date of theft of a stolen vehicle, remarks. Not
written: patronymics as such (they stay in the full name), name scripts and languages, birth
place, spoken languages, place of theft. Travel documents and cases are not written.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache, partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, Final, TypeVar
from xml.etree.ElementTree import Element

import pycountry
from defusedxml import DefusedXmlException, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import ParseError, iterparse
from pydantic import BaseModel, ValidationError

from polex.domain.base import Provenance, RecordId, SchemaModel, new_id
from polex.domain.case import Case, CaseLink, CaseStatus, LinkRole
from polex.domain.countries import ICAO_ALIASES, is_country_code
from polex.domain.dates import parse_partial_date
from polex.domain.document import DocumentHolder, DocumentStatus, DocumentType, TravelDocument
from polex.domain.iccs import iccs_label
from polex.domain.person import EyeColour, HairColour, IdentifierKind, MarkKind, NameKind, Person, Sex
from polex.domain.vehicle import Vehicle, VehicleCategory, VehicleStatus
from polex.errors import FieldError, ValidationFailed
from polex.formats.registry import Accepted, ReadResult, Rejection

if TYPE_CHECKING:
    from lxml import etree  # type: ignore[import-untyped]  # lxml ships no type hints

FORMAT_NAME: Final = "niem-xml"

# --- Namespaces -----------------------------------------------------------------------------

NC_NAMESPACES: Final = frozenset(
    {
        "http://niem.gov/niem/niem-core/2.0",
        "http://release.niem.gov/niem/niem-core/3.0/",
        "http://release.niem.gov/niem/niem-core/4.0/",
        "http://release.niem.gov/niem/niem-core/5.0/",
        "https://docs.oasis-open.org/niemopen/ns/model/niem-core/6.0/",
    }
)
J_NAMESPACES: Final = frozenset(
    {
        "http://niem.gov/niem/domains/jxdm/4.0",
        "http://niem.gov/niem/domains/jxdm/4.1",
        *(
            f"http://release.niem.gov/niem/domains/jxdm/{version}/"
            for version in ("5.0", "5.1", "5.2", "6.0", "6.1", "6.2", "7.0", "7.1", "7.2")
        ),
        "https://docs.oasis-open.org/niemopen/ns/model/domains/justice/6.0/",
    }
)
STRUCTURES_NAMESPACES: Final = frozenset(
    {
        "http://niem.gov/niem/structures/2.0",
        "http://release.niem.gov/niem/structures/3.0/",
        "http://release.niem.gov/niem/structures/4.0/",
        "http://release.niem.gov/niem/structures/5.0/",
        "https://docs.oasis-open.org/niemopen/ns/model/structures/6.0/",
    }
)
_CJIS_NAMESPACE = re.compile(r"^http://fbi\.gov/cjis/(?:nibrs/)?\d+(?:\.\d+)*/?$")

# What is written.
NC6_NS: Final = "https://docs.oasis-open.org/niemopen/ns/model/niem-core/6.0/"
J6_NS: Final = "https://docs.oasis-open.org/niemopen/ns/model/domains/justice/6.0/"
STRUCTURES6_NS: Final = "https://docs.oasis-open.org/niemopen/ns/model/structures/6.0/"
CLI6_NS: Final = "https://docs.oasis-open.org/niemopen/ns/specification/code-lists/6.0/instance/"
POLEX_NS: Final = "https://polex.dev/ns/niem-exchange/1.0/"
COUNTRY_CODE_LIST: Final = "https://www.icao.int/publications/Documents/9303_p3_cons_en.pdf"
"""The code list ``nc:CountryCode`` values come from: ISO 3166-1 alpha-3 and the ICAO Doc 9303
part 3 codes (``XXA``, ``UNO``, ``XPO``...)."""

_WELL_KNOWN_PREFIXES: Final[Mapping[str, str]] = {
    **dict.fromkeys(NC_NAMESPACES, "nc"),
    **dict.fromkeys(J_NAMESPACES, "j"),
    **dict.fromkeys(STRUCTURES_NAMESPACES, "s"),
    POLEX_NS: "polex",
}

MAX_BYTES: Final = 16 * 1024 * 1024
MAX_DEPTH: Final = 64
MAX_ELEMENTS: Final = 200_000

# --- NIBRS / UCR offense codes → ICCS ---------------------------------------------------------

NIBRS_TO_ICCS: Final[Mapping[str, tuple[str, str | None]]] = {
    # Group A (FBI NIBRS IEPD 4.2, nibrs-codes.xsd OffenseCodeSimpleType)
    "09A": ("Murder & Nonnegligent Manslaughter", "0101"),
    "09B": ("Negligent Manslaughter", "0103"),
    "09C": ("Justifiable Homicide", None),
    "100": ("Kidnapping/Abduction", "0202"),
    "11A": ("Rape", "0301"),
    "11B": ("Sodomy", "0301"),
    "11C": ("Sexual Assault With An Object", "0301"),
    "11D": ("Fondling", "0301"),
    "120": ("Robbery", "0401"),
    "13A": ("Aggravated Assault", "0201"),
    "13B": ("Simple Assault", "0201"),
    "13C": ("Intimidation", "0201"),
    "200": ("Arson", "0504"),
    "210": ("Extortion/Blackmail", "0205"),
    "220": ("Burglary/Breaking & Entering", "0501"),
    "23A": ("Pocket-picking", "0502"),
    "23B": ("Purse-snatching", "0502"),
    "23C": ("Shoplifting", "0502"),
    "23D": ("Theft From Building", "0502"),
    "23E": ("Theft From Coin-Operated Machine or Device", "0502"),
    "23F": ("Theft From Motor Vehicle", "0502"),
    "23G": ("Theft of Motor Vehicle Parts or Accessories", "0502"),
    "23H": ("All Other Larceny", "0502"),
    "240": ("Motor Vehicle Theft", "0502"),
    "250": ("Counterfeiting/Forgery", "0702"),
    "26A": ("False Pretenses/Swindle/Confidence Game", "0701"),
    "26B": ("Credit Card/Automated Teller Machine Fraud", "0701"),
    "26C": ("Impersonation", "0701"),
    "26D": ("Welfare Fraud", "0701"),
    "26E": ("Wire Fraud", "0701"),
    "26F": ("Identity Theft", "0701"),
    "26G": ("Hacking/Computer Invasion", "0903"),
    "270": ("Embezzlement", "0502"),
    "280": ("Stolen Property Offenses", "0704"),
    "290": ("Destruction/Damage/Vandalism of Property", "0504"),
    "35A": ("Drug/Narcotic Violations", "0601"),
    "35B": ("Drug Equipment Violations", "0601"),
    "36A": ("Incest", "0802"),
    "36B": ("Statutory Rape", "0301"),
    "370": ("Pornography/Obscene Material", "0802"),
    "39A": ("Betting/Wagering", "0804"),
    "39B": ("Operating/Promoting/Assisting Gambling", "0804"),
    "39C": ("Gambling Equipment Violation", "0804"),
    "39D": ("Sports Tampering", "0703"),
    "40A": ("Prostitution", "0802"),
    "40B": ("Assisting or Promoting Prostitution", "0302"),
    "40C": ("Purchasing Prostitution", "0802"),
    "510": ("Bribery", "0703"),
    "520": ("Weapon Law Violations", "0901"),
    "64A": ("Human Trafficking, Commercial Sex Acts", "0204"),
    "64B": ("Human Trafficking, Involuntary Servitude", "0204"),
    "720": ("Animal Cruelty", "1009"),
    # Group B (arrests only)
    "90A": ("Bad Checks", "0701"),
    "90B": ("Curfew/Loitering/Vagrancy Violations", "0801"),
    "90C": ("Disorderly Conduct", "0801"),
    "90D": ("Driving Under the Influence", "0907"),
    "90E": ("Drunkenness", "0801"),
    "90F": ("Family Offenses, Nonviolent", "0219"),
    "90G": ("Liquor Law Violations", "0602"),
    "90H": ("Peeping Tom", "0211"),
    "90I": ("Runaway", "1102"),
    "90J": ("Trespass of Real Property", "0509"),
    "90Z": ("All Other Offenses", "1109"),
    # Federal and later additions to NIBRS (2019 onwards)
    "101": ("Treason", "0904"),
    "103": ("Espionage", "0904"),
    "26H": ("Money Laundering", "0704"),
    "30A": ("Illegal Entry into the United States", "0805"),
    "30B": ("False Citizenship", "0805"),
    "30C": ("Smuggling Aliens", "0805"),
    "30D": ("Re-entry after Deportation", "0805"),
    "360": ("Failure to Register as a Sex Offender", "0806"),
    "49A": ("Harboring Escapee/Concealing from Arrest", "0806"),
    "49B": ("Flight to Avoid Prosecution", "0806"),
    "49C": ("Flight to Avoid Deportation", "0805"),
    "521": ("Violation of National Firearm Act of 1934", "0901"),
    "522": ("Weapons of Mass Destruction", "0901"),
    "526": ("Explosives", "0901"),
    "58A": ("Import Violations", "0804"),
    "58B": ("Export Violations", "0804"),
    "61A": ("Federal Liquor Offenses", "0602"),
    "61B": ("Federal Tobacco Offenses", "0602"),
    "620": ("Wildlife Trafficking", "1003"),
    "90K": ("Bond Default (Failure to Appear)", "0806"),
    "90L": ("Federal Resource Violations", "0804"),
    "90M": ("Perjury", "0806"),
}
"""NIBRS/UCR offense code → (FBI label, ICCS division). Choices where the ICCS has no exact
counterpart: 09C (justifiable homicide) is not a crime and maps to nothing; 270 (embezzlement,
private or public) → theft, ICCS 07032 being embezzlement by public officials; 36A (incest),
370 (pornography/obscene material) and 40A/40C (prostitution) → public order sexual standards;
39A-39C (gambling), 58A/58B, 90L → regulatory provisions; 39D (sports tampering) → corruption;
720 (animal cruelty) → other acts against the natural environment; 90F (nonviolent family
offenses) → other acts causing harm to the person. An attempted 09A is ICCS 0102."""

_OFFENSE_CODE_ELEMENTS: Final = frozenset({"OffenseUCRCode", "OffenseNIBRSCode", "OffenseCode", "ChargeUCRCode"})
_NIBRS_VEHICLE_PROPERTY: Final[Mapping[str, VehicleCategory]] = {
    "03": VehicleCategory.CAR,
    "05": VehicleCategory.BUS,
    "24": VehicleCategory.OTHER,
    "28": VehicleCategory.OTHER,
    "37": VehicleCategory.TRUCK,
    "78": VehicleCategory.TRAILER,
}
_NIBRS_PROPERTY_LABELS: Final[Mapping[str, str]] = {
    "01": "aircraft",
    "02": "alcohol",
    "03": "automobiles",
    "04": "bicycles",
    "05": "buses",
    "10": "drugs/narcotics",
    "13": "firearms",
    "20": "money",
    "24": "other motor vehicles",
    "28": "recreational vehicles",
    "37": "trucks",
    "38": "vehicle parts/accessories",
    "65": "identity documents",
    "78": "trailers",
}
_NIBRS_LOCATIONS: Final[Mapping[str, str]] = {
    "13": "highway/road/alley/street/sidewalk",
    "16": "lake/waterway/beach",
    "18": "parking/drop lot/garage",
    "20": "residence/home",
    "25": "other/unknown",
    "58": "cyberspace",
}

# --- Value tables ---------------------------------------------------------------------------

_SEX: Final[Mapping[str, Sex]] = {
    "M": Sex.MALE,
    "MALE": Sex.MALE,
    "F": Sex.FEMALE,
    "FEMALE": Sex.FEMALE,
    "U": Sex.UNKNOWN,
    "UNKNOWN": Sex.UNKNOWN,
    "X": Sex.UNSPECIFIED,
    "UNSPECIFIED": Sex.UNSPECIFIED,
    "NON-BINARY": Sex.UNSPECIFIED,
}
_EYES: Final[Mapping[str, EyeColour]] = {
    "BLK": EyeColour.BLACK,
    "BLU": EyeColour.BLUE,
    "BRO": EyeColour.BROWN,
    "GRY": EyeColour.GRAY,
    "GREY": EyeColour.GRAY,
    "GRN": EyeColour.GREEN,
    "HAZ": EyeColour.HAZEL,
    "MAR": EyeColour.MAROON,
    "MUL": EyeColour.MULTICOLOURED,
    "MULTICOLORED": EyeColour.MULTICOLOURED,
    "PNK": EyeColour.PINK,
    "XXX": EyeColour.UNKNOWN,
    **{colour.value.upper(): colour for colour in EyeColour},
}
_HAIR: Final[Mapping[str, HairColour]] = {
    "BAL": HairColour.BALD,
    "BLK": HairColour.BLACK,
    "BLN": HairColour.BLOND,
    "BLONDE": HairColour.BLOND,
    "BLU": HairColour.BLUE,
    "BRO": HairColour.BROWN,
    "GRN": HairColour.GREEN,
    "GRY": HairColour.GRAY,
    "GREY": HairColour.GRAY,
    "ONG": HairColour.ORANGE,
    "PLE": HairColour.PURPLE,
    "PNK": HairColour.PINK,
    "RED": HairColour.RED,
    "SDY": HairColour.SANDY,
    "WHI": HairColour.WHITE,
    "XXX": HairColour.UNKNOWN,
    **{colour.value.upper(): colour for colour in HairColour},
}
_LENGTH_UNITS: Final[Mapping[str, Decimal]] = {
    **dict.fromkeys(("CMT", "CM", "CENTIMETER", "CENTIMETERS", "CENTIMETRE", "CENTIMETRES"), Decimal(1)),
    **dict.fromkeys(("MTR", "M", "METER", "METERS", "METRE", "METRES"), Decimal(100)),
    **dict.fromkeys(("MMT", "MM", "MILLIMETER", "MILLIMETERS", "MILLIMETRE", "MILLIMETRES"), Decimal("0.1")),
    **dict.fromkeys(("INH", "IN", "INCH", "INCHES"), Decimal("2.54")),
    **dict.fromkeys(("FOT", "FT", "FOOT", "FEET"), Decimal("30.48")),
}
_WEIGHT_UNITS: Final[Mapping[str, Decimal]] = {
    **dict.fromkeys(("KGM", "KG", "KGS", "KILOGRAM", "KILOGRAMS"), Decimal(1)),
    **dict.fromkeys(("LBR", "LB", "LBS", "POUND", "POUNDS"), Decimal("0.45359237")),
    **dict.fromkeys(("GRM", "G", "GRAM", "GRAMS"), Decimal("0.001")),
}
_NAME_KINDS: Final[Mapping[str, NameKind]] = {
    "LEGAL": NameKind.PRIMARY,
    "PRIMARY": NameKind.PRIMARY,
    "ALTERNATE": NameKind.ALIAS,
    "ALIAS": NameKind.ALIAS,
    "ASSERTED": NameKind.ALIAS,
    "AKA": NameKind.ALIAS,
    "AT BIRTH": NameKind.BIRTH_NAME,
    "BIRTH": NameKind.BIRTH_NAME,
    "BIRTH NAME": NameKind.BIRTH_NAME,
    "MAIDEN": NameKind.MAIDEN_NAME,
    "MAIDEN NAME": NameKind.MAIDEN_NAME,
    "NICKNAME": NameKind.NICKNAME,
    "MONIKER": NameKind.NICKNAME,
    "TRANSLITERATION": NameKind.TRANSLITERATION,
    "PREVIOUS": NameKind.PREVIOUS,
    "FORMER": NameKind.PREVIOUS,
}
_IDENTIFICATION_KINDS: Final[Mapping[str, IdentifierKind]] = {
    "PersonPassportIdentification": IdentifierKind.PASSPORT,
    "PassportNumberIdentification": IdentifierKind.PASSPORT,
    "PersonNationalIdentification": IdentifierKind.NATIONAL_ID,
    "PersonStateIdentification": IdentifierKind.IDENTITY_CARD,
    "PersonSSNIdentification": IdentifierKind.SOCIAL_SECURITY,
    "PersonTaxIdentification": IdentifierKind.TAX_ID,
    "PersonLicenseIdentification": IdentifierKind.DRIVING_LICENCE,
    "DriverLicenseIdentification": IdentifierKind.DRIVING_LICENCE,
    "DriverLicenseCardIdentification": IdentifierKind.DRIVING_LICENCE,
    "PersonFBIIdentification": IdentifierKind.POLICE_REFERENCE,
    "PersonStateFingerprintIdentification": IdentifierKind.POLICE_REFERENCE,
    "PersonAFISIdentification": IdentifierKind.POLICE_REFERENCE,
}
_IDENTIFIER_WORDS: Final[Mapping[str, IdentifierKind]] = {
    **{kind.value.replace("_", " ").upper(): kind for kind in IdentifierKind},
    "ID CARD": IdentifierKind.IDENTITY_CARD,
    "NATIONAL IDENTITY CARD": IdentifierKind.IDENTITY_CARD,
    "DRIVER LICENSE": IdentifierKind.DRIVING_LICENCE,
    "DRIVERS LICENSE": IdentifierKind.DRIVING_LICENCE,
    "DRIVING LICENSE": IdentifierKind.DRIVING_LICENCE,
    "SSN": IdentifierKind.SOCIAL_SECURITY,
    "TAX": IdentifierKind.TAX_ID,
    "POLICE": IdentifierKind.POLICE_REFERENCE,
    "INTERPOL": IdentifierKind.INTERPOL_REFERENCE,
}
_TRAVEL_DOCUMENT_TYPES: Final[Mapping[IdentifierKind, DocumentType]] = {
    IdentifierKind.PASSPORT: DocumentType.PASSPORT,
    IdentifierKind.IDENTITY_CARD: DocumentType.IDENTITY_CARD,
    IdentifierKind.RESIDENCE_PERMIT: DocumentType.RESIDENCE_PERMIT,
}
_DOCUMENT_CATEGORIES: Final[Mapping[str, DocumentType]] = {
    **{kind.value.replace("_", " ").upper(): kind for kind in DocumentType if kind is not DocumentType.OTHER},
    "ID CARD": DocumentType.IDENTITY_CARD,
    "NATIONAL IDENTITY CARD": DocumentType.IDENTITY_CARD,
}
_DOCUMENT_STATUSES: Final[Mapping[str, DocumentStatus]] = {
    "STOLEN": DocumentStatus.STOLEN,
    "LOST": DocumentStatus.LOST,
    "REVOKED": DocumentStatus.REVOKED,
    "INVALIDATED": DocumentStatus.INVALIDATED,
    "INVALID": DocumentStatus.INVALIDATED,
    "CANCELLED": DocumentStatus.INVALIDATED,
    "CANCELED": DocumentStatus.INVALIDATED,
    "STOLEN BLANK": DocumentStatus.STOLEN_BLANK,
}
_VEHICLE_STATUSES: Final[Mapping[str, VehicleStatus]] = {
    **{status.value.upper(): status for status in VehicleStatus},
    "STOLEN-EMBEZZLED": VehicleStatus.MISAPPROPRIATED,
    "EMBEZZLED": VehicleStatus.MISAPPROPRIATED,
}
_VEHICLE_CATEGORIES: Final[Mapping[str, VehicleCategory]] = {
    **{category.value.upper(): category for category in VehicleCategory},
    "AUTOMOBILE": VehicleCategory.CAR,
    "PASSENGER CAR": VehicleCategory.CAR,
    "MOTORCYCLE": VehicleCategory.MOTORCYCLE,
    "LORRY": VehicleCategory.TRUCK,
}
_MARK_KINDS: Final[Mapping[str, MarkKind]] = {kind.value.upper(): kind for kind in MarkKind}
_ROLES: Final[Mapping[str, LinkRole]] = {
    "Victim": LinkRole.VICTIM,
    "Subject": LinkRole.SUSPECT,
    "Arrestee": LinkRole.SUSPECT,
    "ArrestSubject": LinkRole.SUSPECT,
    "Suspect": LinkRole.SUSPECT,
    "Witness": LinkRole.WITNESS,
    "EnforcementOfficial": LinkRole.RELATED,
    "MissingPerson": LinkRole.MISSING,
}
_CLEARED_EXCEPTIONALLY: Final = frozenset("ABCDE")
# US Postal Service state and territory codes: a plate issued there was issued in the USA.
_USPS_STATES: Final = frozenset(
    re.findall(
        r"[A-Z]{2}",
        "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
        "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI",
    )
)


# --- Errors ---------------------------------------------------------------------------------


class NiemError(ValidationFailed, ValueError):
    """A document that cannot be read at all: not XML, too large, or unsafe."""

    title = "Invalid NIEM document"
    slug = "invalid-niem"

    def __init__(self, reason: str, *, location: str = "document") -> None:
        self.reason = reason
        self.location = location
        super().__init__(f"{location}: {reason}", errors=[FieldError(location, reason)])


@dataclass(frozen=True)
class _Problem:
    path: str  # the XML path of the faulty element
    reason: str


class _Refused(Exception):
    """Raised by the builders: the element cannot become a record."""

    def __init__(self, problems: Sequence[_Problem]) -> None:
        super().__init__(problems[0].reason)
        self.problems = tuple(problems)


# --- The records read -----------------------------------------------------------------------


class _Imported(SchemaModel):
    """A record read from a NIEM document: its content, the id polex gives it (so that cases can
    link it before it is stored) and where it came from."""

    content_model: ClassVar[type[SchemaModel]]

    id: RecordId
    provenance: Provenance

    def content(self) -> SchemaModel:
        """The plain domain record, without the id and the provenance."""
        return self.content_model.model_validate(self.model_dump(include=set(self.content_model.model_fields)))


class NiemPerson(_Imported, Person):
    content_model = Person


class NiemTravelDocument(_Imported, TravelDocument):
    content_model = TravelDocument


class NiemVehicle(_Imported, Vehicle):
    content_model = Vehicle


class NiemCase(_Imported, Case):
    content_model = Case


# --- Parsing --------------------------------------------------------------------------------


def _split(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def _local(element: Element) -> str:
    return _split(element.tag)[1] if isinstance(element.tag, str) else ""


def _is_niem(element: Element) -> bool:
    """An element in a NIEM core, justice, or FBI CJIS/NIBRS namespace."""
    if not isinstance(element.tag, str):
        return False
    uri = _split(element.tag)[0]
    return uri in NC_NAMESPACES or uri in J_NAMESPACES or bool(_CJIS_NAMESPACE.match(uri))


@dataclass
class NiemDocument:
    """A parsed NIEM document with what reading it needs: namespace prefixes as declared,
    parents, ``structures:id`` targets and XML paths."""

    root: Element
    prefixes: dict[str, str]
    parents: dict[int, Element] = field(default_factory=dict)
    ids: dict[str, Element] = field(default_factory=dict)
    _paths: dict[int, str] = field(default_factory=dict)
    _positions: dict[int, tuple[int, int]] = field(default_factory=dict)  # element → (position, same-named siblings)

    def __post_init__(self) -> None:
        stack = [self.root]
        while stack:
            element = stack.pop()
            sid = _structures_attr(element, "id")
            if sid and sid not in self.ids:
                self.ids[sid] = element
            for child in element:
                self.parents[id(child)] = element
                stack.append(child)

    def prefix(self, uri: str) -> str:
        if uri in self.prefixes:
            return self.prefixes[uri]
        known = _WELL_KNOWN_PREFIXES.get(uri)
        if known is None:
            if _CJIS_NAMESPACE.match(uri):
                known = "nibrs" if "/nibrs/" in uri else "cjis"
            else:
                known = f"ns{len(self.prefixes)}"
        self.prefixes[uri] = known
        return known

    def qname(self, tag: str) -> str:
        uri, local = _split(tag)
        if not uri:
            return local
        prefix = self.prefix(uri)
        return f"{prefix}:{local}" if prefix else local

    def parent(self, element: Element) -> Element | None:
        return self.parents.get(id(element))

    def path(self, element: Element) -> str:
        """``/nibrs:Submission/nibrs:Report/nc:Person[2]``: position among same-named siblings,
        shown when there is more than one."""
        known = self._paths.get(id(element))
        if known is not None:
            return known
        parent = self.parent(element)
        step = self.qname(element.tag) if isinstance(element.tag, str) else "node()"
        if parent is None:
            result = "/" + step
        else:
            if id(element) not in self._positions:
                by_tag: dict[object, list[Element]] = {}
                for child in parent:
                    by_tag.setdefault(child.tag, []).append(child)
                for same in by_tag.values():
                    for position, child in enumerate(same, 1):
                        self._positions[id(child)] = (position, len(same))
            position, count = self._positions[id(element)]
            if count > 1:
                step += f"[{position}]"
            result = self.path(parent) + "/" + step
        self._paths[id(element)] = result
        return result

    def resolve(self, element: Element) -> Element:
        """The element a reference points at (``structures:ref``, ``structures:uri="#id"``), or
        the element itself."""
        ref = _reference(element)
        if ref is None:
            return element
        target = self.ids.get(ref)
        if target is None:
            raise _Refused([_Problem(self.path(element), f"structures:ref '{ref}' points at no element")])
        return target

    def serialize(self, element: Element) -> str:
        """The element as XML text, with the document's prefixes."""
        used: dict[str, str] = {}

        def name(tag: str) -> str:
            uri, local = _split(tag)
            if not uri:
                return local
            prefix = self.prefix(uri)
            used[uri] = prefix
            return f"{prefix}:{local}" if prefix else local

        def emit(node: Element) -> str:
            if not isinstance(node.tag, str):
                return _escape(node.tail or "")
            tag = name(node.tag)
            attributes = "".join(f' {name(key)}="{_escape(value, quote=True)}"' for key, value in node.attrib.items())
            inner = _escape(node.text or "") + "".join(emit(child) for child in node)
            body = f"<{tag}{attributes}>{inner}</{tag}>" if inner else f"<{tag}{attributes}/>"
            return body + _escape(node.tail or "") if node is not element else body

        text = emit(element)
        declarations = "".join(
            f' xmlns:{prefix}="{_escape(uri, quote=True)}"' if prefix else f' xmlns="{_escape(uri, quote=True)}"'
            for uri, prefix in sorted(used.items(), key=lambda item: item[1])
        )
        end = text.find(">")
        if text[end - 1] == "/":
            end -= 1
        return text[:end] + declarations + text[end:]


def _escape(text: str, *, quote: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text


def _structures_attr(element: Element, name: str) -> str | None:
    for key, value in element.attrib.items():
        uri, local = _split(key)
        if local == name and uri in STRUCTURES_NAMESPACES:
            return value.strip() or None
    return None


def _reference(element: Element) -> str | None:
    ref = _structures_attr(element, "ref")
    if ref is not None:
        return ref
    uri = _structures_attr(element, "uri")
    if uri is not None and uri.startswith("#") and len(uri) > 1:
        return uri[1:]
    return None


def parse_document(
    data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS
) -> NiemDocument:
    """Parse a NIEM document safely: no entity declarations (so no entity expansion and no
    external entities), no network, and limits on size, depth and element count. Raises
    :class:`NiemError` with the reason."""
    if len(data) > max_bytes:
        raise NiemError(f"the document has {len(data)} bytes; this reader takes at most {max_bytes}")
    prefixes: dict[str, str] = {}
    root: Element | None = None
    depth = count = 0
    try:
        for event, item in iterparse(
            io.BytesIO(data),
            events=("start", "end", "start-ns"),
            forbid_dtd=False,
            forbid_entities=True,
            forbid_external=True,
        ):
            if event == "start-ns":
                prefix, uri = item
                if uri not in prefixes or (not prefixes[uri] and prefix):
                    prefixes[uri] = prefix
            elif event == "start":
                depth += 1
                count += 1
                if root is None:
                    root = item
                if depth > max_depth:
                    raise NiemError(f"elements are nested more than {max_depth} deep")
                if count > max_elements:
                    raise NiemError(f"the document has more than {max_elements} elements")
            else:
                depth -= 1
    except EntitiesForbidden as error:
        kind = f"external entity (SYSTEM '{error.sysid}')" if error.sysid else "entity"
        raise NiemError(
            f"the document declares the {kind} '{error.name}'; entity declarations are refused "
            "(they allow entity expansion attacks such as billion laughs, and external entities (XXE))"
        ) from None
    except ExternalReferenceForbidden as error:
        raise NiemError(f"the document refers to the external resource '{error.sysid}', which is refused") from None
    except DefusedXmlException as error:
        raise NiemError(f"the document was refused as unsafe: {error}") from None
    except ParseError as error:
        line, column = getattr(error, "position", (0, 0))
        raise NiemError(f"not well-formed XML: {error}", location=f"line {line}, column {column}") from None
    except (ValueError, LookupError, UnicodeError) as error:  # unknown or broken encodings
        raise NiemError(f"the document cannot be decoded: {error}") from None
    if root is None:
        raise NiemError("the document has no element")
    return NiemDocument(root=root, prefixes=prefixes)


# --- Small readers ----------------------------------------------------------------------------


def _text(element: Element | None) -> str | None:
    if element is None or not isinstance(element.text, str):
        return None
    value = element.text.strip()
    return value or None


def _kids(element: Element, *names: str) -> list[Element]:
    """Direct NIEM children with one of these local names."""
    return [child for child in element if _is_niem(child) and _local(child) in names]


def _descendants(element: Element, *names: str) -> list[Element]:
    return [node for node in element.iter() if node is not element and _is_niem(node) and _local(node) in names]


def _first_text(element: Element, *names: str) -> tuple[Element, str] | None:
    for node in _descendants(element, *names):
        value = _text(node)
        if value is not None:
            return node, value
    return None


def _properties(element: Element) -> list[Element]:
    """An object's properties: its NIEM children, and the children of its augmentations
    (``j:PersonAugmentation``...)."""
    found: list[Element] = []
    for child in element:
        if not _is_niem(child):
            continue
        if _local(child).endswith("Augmentation"):
            found.extend(grandchild for grandchild in child if _is_niem(grandchild))
        else:
            found.append(child)
    return found


def _words(value: str) -> str:
    return re.sub(r"[\s_\-]+", " ", value.strip()).upper()


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?$")
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:Z|[+-]\d{2}:\d{2})?$")
_YEAR = re.compile(r"^(\d{4})(?:Z|[+-]\d{2}:\d{2})?$")
_DATE_ELEMENTS: Final = ("Date", "DateTime", "YearMonthDate", "Year", "YearDate", "ZuluDateTime")


@dataclass(frozen=True)
class _DateValue:
    value: str  # YYYY, YYYY-MM or YYYY-MM-DD
    text: str  # as written
    original: str  # "nc:Date 1980-03-14"
    path: str
    others: tuple[str, ...]  # the other representations, as "nc:Year 1980"

    @property
    def full(self) -> dt.date | None:
        return dt.date.fromisoformat(self.value) if len(self.value) == 10 else None

    @property
    def note(self) -> str:
        return "; ".join((self.original, *self.others))


def _partial(local: str, text: str) -> str | None:
    """The partial ISO date a NIEM date representation stands for, or None."""
    if local == "Date":
        match = _DATE.match(text)
    elif local in ("DateTime", "ZuluDateTime"):
        match = _DATETIME.match(text)
    elif local == "YearMonthDate":
        match = _YEAR_MONTH.match(text)
    else:
        match = _YEAR.match(text)
    if match is None:
        return None
    value = "-".join(match.groups())
    try:
        parse_partial_date(value)
        if len(value) == 10:
            dt.date.fromisoformat(value)
    except ValueError:
        return None
    return value


def _date(doc: NiemDocument, container: Element, *, consistent: bool) -> _DateValue:
    """The date in a ``nc:DateType`` element: the most precise representation. ``consistent``
    demands that the others agree with it."""
    found: list[tuple[str, Element, str]] = []
    problems: list[_Problem] = []
    for node in container.iter():
        local = _local(node)
        if node is container or not _is_niem(node) or local not in _DATE_ELEMENTS:
            continue
        text = _text(node)
        if text is None:
            continue
        value = _partial(local, text)
        if value is None:
            problems.append(_Problem(doc.path(node), f"'{text}' is not a valid {doc.qname(node.tag)}"))
        else:
            found.append((value, node, text))
    if problems:
        raise _Refused(problems)
    if not found:
        raise _Refused([_Problem(doc.path(container), "the date is empty (no nc:Date, nc:YearMonthDate or nc:Year)")])
    found.sort(key=lambda item: -len(item[0]))
    value, node, text = found[0]
    others = tuple(f"{doc.qname(other.tag)} {other_text}" for _, other, other_text in found[1:])
    if consistent:
        for other_value, other, other_text in found[1:]:
            if not value.startswith(other_value):
                raise _Refused(
                    [_Problem(doc.path(other), f"{other_text} disagrees with {text} in {doc.qname(node.tag)}")]
                )
    return _DateValue(value, text, f"{doc.qname(node.tag)} {text}", doc.path(node), others)


_COUNTRY_LEAF = re.compile(r"ISO3166|Country|GENC|^PersonCitizenship|^PersonNationality")
_NOT_COUNTRY = re.compile(r"Category|Status|Date|Indicator|Description|Augmentation|State|Subdivision|County")


def _country_code(text: str, local: str) -> str:
    """An ISO 3166-1 alpha-3 or ICAO 9303 code from a code or a country name."""
    value = text.strip()
    upper = value.upper()
    if "FIPS" in local.upper():
        raise ValueError(f"'{value}' is a FIPS 10-4 code, which differs from ISO 3166; give an ISO 3166 code")
    if re.fullmatch(r"[A-Z]{3}|D|D<<", upper):
        code = ICAO_ALIASES.get(upper, upper)
        if is_country_code(code):
            return code
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-3 or ICAO 9303 country code")
    if re.fullmatch(r"[A-Z]{2}", upper):
        country = pycountry.countries.get(alpha_2=upper)
        if country is None:
            raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code")
        return str(country.alpha_3)
    if re.fullmatch(r"\d{3}", upper):
        country = pycountry.countries.get(numeric=upper)
        if country is None:
            raise ValueError(f"'{value}' is not an ISO 3166-1 numeric country code")
        return str(country.alpha_3)
    try:
        return str(pycountry.countries.lookup(value).alpha_3)
    except LookupError:
        raise ValueError(f"'{value}' is not a country polex knows (an ISO 3166 code or name)") from None


def _countries(doc: NiemDocument, element: Element) -> list[tuple[str, str, str]]:
    """(code, original, path) for every country value in or under ``element``."""
    found: list[tuple[str, str, str]] = []
    problems: list[_Problem] = []
    for node in element.iter():
        if not _is_niem(node) or len(node):
            continue
        local = _local(node)
        if not _COUNTRY_LEAF.search(local) or _NOT_COUNTRY.search(local):
            continue
        text = _text(node)
        if text is None:
            continue
        try:
            found.append((_country_code(text, local), text, doc.path(node)))
        except ValueError as error:
            problems.append(_Problem(doc.path(node), str(error)))
    if problems:
        raise _Refused(problems)
    return found


def _us_state(element: Element) -> str | None:
    """A US state or territory postal code under ``element`` (a plate's jurisdiction)."""
    for node in element.iter():
        local = _local(node)
        if _is_niem(node) and ("USPostalServiceCode" in local or "NCICLISCode" in local or "NCICLSTACode" in local):
            text = _text(node)
            if text is not None and text.upper() in _USPS_STATES:
                return text
    return None


def _read_measure(
    doc: NiemDocument, element: Element, units: Mapping[str, Decimal], what: str
) -> tuple[int, str | None, str]:
    """(value in the polex unit, the original when converted, path) of a ``nc:*Measure``."""
    path = doc.path(element)
    value_node = next(
        (
            node
            for node in _descendants(
                element, "MeasureIntegerValue", "MeasureDecimalValue", "MeasurePointValue", "MeasureValueText"
            )
            if _text(node)
        ),
        None,
    )
    if value_node is None:
        raise _Refused([_Problem(path, f"the {what} has no value")])
    raw_value = _text(value_node) or ""
    unit_hit = next(
        (
            (node, text)
            for node in element.iter()
            if _is_niem(node) and ("Unit" in _local(node)) and (text := _text(node)) is not None
        ),
        None,
    )
    if unit_hit is None:
        raise _Refused([_Problem(path, f"the {what} '{raw_value}' has no unit")])
    unit_node, unit_text = unit_hit
    factor = units.get(_words(unit_text))
    if factor is None:
        raise _Refused([_Problem(doc.path(unit_node), f"'{unit_text}' is not a unit of {what} polex knows")])
    try:
        number = Decimal(raw_value.replace(",", "."))
    except InvalidOperation:
        raise _Refused([_Problem(doc.path(value_node), f"'{raw_value}' is not a number")]) from None
    if not number.is_finite():
        raise _Refused([_Problem(doc.path(value_node), f"'{raw_value}' is not a number")])
    converted = (number * factor).to_integral_value()
    if abs(converted) > 100_000:
        raise _Refused([_Problem(doc.path(value_node), f"{raw_value} {unit_text} is not a plausible {what}")])
    original = None if factor == 1 and raw_value == str(int(converted)) else f"{raw_value} {unit_text}"
    return int(converted), original, path


# --- Building records ----------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


@dataclass
class _Draft:
    """What a builder gathered: the fields, where each came from (XML paths), and the values as
    received where polex normalised them."""

    doc: NiemDocument
    element: Element
    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # polex field path → XML path
    originals: dict[str, str] = field(default_factory=dict)
    problems: list[_Problem] = field(default_factory=list)

    def attempt(self, action: Callable[[], object]) -> None:
        try:
            action()
        except _Refused as refused:
            self.problems.extend(refused.problems)

    def original(self, key: str, value: str, normalised: object) -> None:
        if str(normalised) != value:
            self.originals[key] = value

    def build(self, model: type[M], fixed: Mapping[str, Any]) -> M:
        if self.problems:
            raise _Refused(self.problems)
        try:
            return model.model_validate({**self.data, **fixed})
        except ValidationError as error:
            raise _Refused(_problems_from(error, self.origins, self.doc.path(self.element))) from None


def _problems_from(error: ValidationError, origins: Mapping[str, str], default: str) -> list[_Problem]:
    """Pydantic's errors, each at the XML element its field came from."""
    problems = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        key = "/".join(str(part) for part in item["loc"])
        if not key:
            head, sep, _ = message.partition(":")
            key = head if sep and re.fullmatch(r"[a-z_]+", head) else ""
        path = default
        for candidate in sorted(origins, key=len, reverse=True):
            if key == candidate or key.startswith(candidate + "/"):
                path = origins[candidate]
                break
        reason = message if not key or message.startswith(key) else f"{key}: {message}"
        problems.append(_Problem(path, reason))
    return problems


@dataclass
class _Scope:
    """One case to build: an incident (or an arrest standing alone) with its offenses and arrests,
    and the report element they were found in."""

    incident: Element | None
    container: Element
    offenses: list[Element] = field(default_factory=list)
    arrests: list[Element] = field(default_factory=list)

    @property
    def main(self) -> Element:
        return self.incident if self.incident is not None else self.arrests[0]

    @property
    def elements(self) -> list[Element]:
        return [*([self.incident] if self.incident is not None else []), *self.offenses, *self.arrests]


def _is_person(element: Element) -> bool:
    if not _is_niem(element) or _reference(element) is not None:
        return False
    local = _local(element)
    # a person given inline in a role, rather than by reference, is a person too
    return local == "Person" or (
        local == "RoleOfPerson" and any(_local(child).startswith("Person") for child in element)
    )


def _is_vehicle(element: Element) -> bool:
    if not _is_niem(element) or _reference(element) is not None:
        return False
    local = _local(element)
    if local == "Vehicle":
        return True
    if local == "Item":
        code = _text(next(iter(_kids(element, "ItemCategoryNIBRSPropertyCategoryCode")), None))
        return code in _NIBRS_VEHICLE_PROPERTY
    return False


def _is_identity_document(element: Element) -> bool:
    if not _is_niem(element) or _reference(element) is not None:
        return False
    local = _local(element)
    if local == "Passport":
        return True
    if local != "Document":
        return False
    category = _first_text(element, "DocumentCategoryText", "DocumentCategoryName", "DocumentCategoryCode")
    return category is not None and _words(category[1]) in _DOCUMENT_CATEGORIES


_RECORD_ELEMENTS: Final = frozenset(
    {"Person", "Vehicle", "Incident", "Offense", "Arrest", "Document", "Item", "Passport"}
)
_ENVELOPE_SUFFIXES: Final = ("Association", "Metadata", "Header", "Report", "Submission")
# What is part of a report's envelope, or read with another record (registrations with vehicles).
_ENVELOPE_NAMES: Final = frozenset(
    {
        "DocumentIdentification",
        "MessageIdentification",
        "ExchangeIdentification",
        "ConveyanceRegistration",
        "ItemRegistration",
        "VehicleRegistration",
    }
)
_PLATES: Final = ("ConveyanceRegistrationPlateIdentification", "VehicleRegistrationPlateIdentification")


def _is_record_element(element: Element) -> bool:
    return _is_niem(element) and _local(element) in _RECORD_ELEMENTS


def _identification_id(element: Element) -> str | None:
    return _text(next(iter(_kids(element, "IdentificationID")), None))


class _Reader:
    """Reads one parsed document into results: persons, documents and vehicles first (in document
    order), then cases (which link them), then what was not read."""

    def __init__(self, doc: NiemDocument, adapter: NiemAdapter) -> None:
        self.doc = doc
        self.adapter = adapter
        self.document_id = self._document_id()
        self.persons: dict[int, NiemPerson] = {}  # by id() of the element
        self.vehicles: dict[int, str] = {}
        self.documents: dict[int, tuple[str, Element]] = {}  # → (record id, holder or document element)
        self.consumed: set[int] = set()
        self.scopes: list[_Scope] = []
        self.scopes_per_container: Counter[int] = Counter()
        self.associations = [
            node for node in doc.root.iter() if _is_niem(node) and _local(node).endswith("Association")
        ]
        self.results: list[tuple[int, ReadResult]] = []  # (phase, result)

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> list[ReadResult]:
        everything = [node for node in self.doc.root.iter() if _is_niem(node) and _reference(node) is None]
        for node in everything:
            if _is_person(node):
                self._read_person(node)
        for node in everything:
            if _is_identity_document(node):
                self._read_document(node)
        plates = self._registrations(everything)
        for node in everything:
            if _is_vehicle(node):
                self._read_vehicle(node, plates.get(id(node), []))
        self.scopes = self._scopes(everything)
        self.scopes_per_container = Counter(id(scope.container) for scope in self.scopes)
        for scope in self.scopes:
            self._read_case(scope)
        self._left_over()
        ordered = sorted(enumerate(self.results), key=lambda item: (item[1][0], item[0]))
        return [result for _, (_, result) in ordered]

    # -- provenance and results ----------------------------------------------------------------

    def _document_id(self) -> str | None:
        root = self.doc.root
        sid = _structures_attr(root, "id")
        if sid:
            return sid
        queue = [(root, 0)]
        while queue:
            element, depth = queue.pop(0)
            for child in element:
                if _local(child) in ("MessageIdentification", "DocumentIdentification", "ExchangeIdentification"):
                    value = _identification_id(child)
                    if value:
                        return value
                if depth < 2 and not _is_record_element(child):
                    queue.append((child, depth + 1))
        return None

    def _provenance(self, element: Element, originals: Mapping[str, str]) -> Provenance:
        parts = [part for part in (self.document_id, _structures_attr(element, "id")) if part]
        source_id = "#".join(parts)[:500] or None
        return Provenance(source_format=FORMAT_NAME, source_id=source_id, original_values=dict(originals))

    def _accept(self, phase: int, record: BaseModel, element: Element, raw: str | None = None) -> None:
        text = raw if raw is not None else self.doc.serialize(element)
        self.results.append((phase, Accepted(record, raw=text, location=self.doc.path(element))))

    def _reject(self, phase: int, element: Element, problems: Sequence[_Problem], raw: str | None = None) -> None:
        first = problems[0]
        self.results.append(
            (
                phase,
                Rejection(
                    field=first.path,
                    reason=first.reason,
                    raw=raw if raw is not None else self.doc.serialize(element),
                    location=self.doc.path(element),
                    errors=tuple(FieldError(problem.path, problem.reason) for problem in problems),
                ),
            )
        )

    # -- persons ------------------------------------------------------------------------------

    def _read_person(self, element: Element) -> None:
        self.consumed.add(id(element))
        draft = _Draft(self.doc, element)
        draft.attempt(partial(self._person_names, draft))
        draft.attempt(partial(self._person_details, draft))
        try:
            person = draft.build(NiemPerson, {"id": new_id(), "provenance": self._provenance(element, draft.originals)})
        except _Refused as refused:
            self._reject(1, element, refused.problems)
            return
        self.persons[id(element)] = person
        self._accept(1, person, element)
        for node in _properties(element):
            if not _kids(node, "IdentificationID"):
                continue
            kind = self._identification_kind(node)
            document_type = _TRAVEL_DOCUMENT_TYPES.get(kind)
            if document_type is not None:
                self._travel_document(node, document_type, person, element, standalone=False)

    def _person_names(self, draft: _Draft) -> None:
        doc, element = draft.doc, draft.element
        names: list[dict[str, Any]] = []
        primary_seen = False
        first_person_name: int | None = None
        for node in _properties(element):
            local = _local(node)
            if local not in ("PersonName", "PersonAlternateName", "PersonAliasName"):
                continue
            given = " ".join(value for part in _kids(node, "PersonGivenName") if (value := _text(part)))
            middle = " ".join(value for part in _kids(node, "PersonMiddleName") if (value := _text(part)))
            family = " ".join(value for part in _kids(node, "PersonSurName") if (value := _text(part)))
            full = _text(next(iter(_kids(node, "PersonFullName")), None))
            if not (given or middle or family or full):
                continue
            category = next(
                (
                    value
                    for part in _kids(
                        node, "PersonNameCategoryCode", "PersonNameCategoryText", "PersonNameCategoryDescriptionText"
                    )
                    if (value := _text(part))
                ),
                None,
            )
            index = len(names)
            if category is None:
                kind = NameKind.PRIMARY if local == "PersonName" and not primary_seen else NameKind.ALIAS
            else:
                kind = _NAME_KINDS.get(_words(category), NameKind.ALIAS)
                if _words(category) not in _NAME_KINDS or category != kind.value:
                    draft.originals[f"names/{index}/kind"] = category
            primary_seen = primary_seen or kind is NameKind.PRIMARY
            if local == "PersonName" and first_person_name is None:
                first_person_name = index
            given_all = " ".join(part for part in (given, middle) if part) or None
            names.append(
                {
                    "full": full or " ".join(part for part in (given, middle, family) if part),
                    "given": given_all,
                    "family": family or None,
                    "kind": kind,
                }
            )
            draft.origins[f"names/{index}"] = doc.path(node)
            for maiden in _kids(node, "PersonMaidenName"):
                value = _text(maiden)
                if value:
                    draft.origins[f"names/{len(names)}"] = doc.path(maiden)
                    names.append(
                        {
                            "full": " ".join(part for part in (given_all, value) if part),
                            "given": given_all,
                            "family": value,
                            "kind": NameKind.MAIDEN_NAME,
                        }
                    )
        if not names:
            raise _Refused(
                [
                    _Problem(
                        doc.path(element),
                        "the person has no name (no nc:PersonName with a given, sur or full name) and a polex "
                        "person needs one; NIBRS reports victims, subjects and arrestees without names",
                    )
                ]
            )
        if not primary_seen:
            # every name is an alias or the like: the first nc:PersonName stands as the primary one
            index = first_person_name or 0
            draft.originals.setdefault(f"names/{index}/kind", str(names[index]["kind"].value))
            names[index]["kind"] = NameKind.PRIMARY
        draft.data["names"] = names

    def _person_details(self, draft: _Draft) -> None:
        physical: dict[str, Any] = {}
        marks: list[dict[str, Any]] = []
        for node in _properties(draft.element):
            local = _local(node)
            path = draft.doc.path(node)
            text = _text(node)
            if local in ("PersonSexCode", "PersonSexText", "PersonSex", "PersonGenderCode"):
                draft.attempt(partial(self._sex, draft, node))
            elif local == "PersonBirthDate":
                draft.attempt(partial(self._birth_date, draft, node))
            elif local.startswith(("PersonCitizenship", "PersonNationality")):
                draft.attempt(partial(self._nationality, draft, node))
            elif local == "PersonHeightMeasure":
                draft.attempt(
                    partial(self._physical_measure, draft, physical, node, "height_cm", _LENGTH_UNITS, "height")
                )
            elif local == "PersonWeightMeasure":
                draft.attempt(
                    partial(self._physical_measure, draft, physical, node, "weight_kg", _WEIGHT_UNITS, "weight")
                )
            elif local.startswith("PersonEyeColor") and text:
                draft.attempt(partial(self._colour, draft, physical, node, "eye_colour", _EYES))
            elif local.startswith("PersonHairColor") and text:
                draft.attempt(partial(self._colour, draft, physical, node, "hair_colour", _HAIR))
            elif local == "PersonPhysicalFeature":
                self._mark(draft, marks, node)
            elif local == "PersonGeneralAppearanceDescriptionText" and text:
                physical["description"] = text
                draft.origins["physical/description"] = path
            elif local == "PersonDescriptionText" and text:
                draft.data["remarks"] = text
                draft.origins["remarks"] = path
            elif local == "PersonLivingIndicator" and text:
                if text.lower() not in ("true", "false", "1", "0"):
                    draft.problems.append(_Problem(path, f"'{text}' is not a boolean"))
                elif text.lower() in ("false", "0"):
                    draft.data["deceased"] = True
            elif local == "PersonDeathDate":
                draft.data["deceased"] = True
            elif local == "PersonBirthLocation":
                draft.attempt(partial(self._birth_place, draft, node))
            elif local in ("PersonPrimaryLanguage", "PersonSecondaryLanguage", "PersonLanguage"):
                draft.attempt(partial(self._language, draft, node))
            elif local.endswith("Identification") or local in ("DriverLicense", "PersonDriverLicense"):
                draft.attempt(partial(self._identifiers, draft, node))
        if marks:
            physical["marks"] = marks
        if physical:
            draft.data["physical"] = physical

    def _sex(self, draft: _Draft, node: Element) -> None:
        text = _text(node)
        if text is None:
            return
        path = draft.doc.path(node)
        sex = _SEX.get(_words(text).replace(" ", "-"))
        if sex is None:
            raise _Refused([_Problem(path, f"'{text}' is not a sex polex knows (M, F, U, X or the words)")])
        if "sex" in draft.data and draft.data["sex"] is not sex:
            raise _Refused([_Problem(path, f"'{text}' contradicts the sex given before")])
        draft.data["sex"] = sex
        draft.origins["sex"] = path
        draft.original("sex", text, sex.value)

    def _birth_date(self, draft: _Draft, node: Element) -> None:
        date = _date(draft.doc, node, consistent=True)
        dates: list[str] = draft.data.setdefault("birth_dates", [])
        key = f"birth_dates/{len(dates)}"
        dates.append(date.value)
        draft.origins[key] = date.path
        draft.original(key, date.text, date.value)

    def _nationality(self, draft: _Draft, node: Element) -> None:
        codes: list[str] = draft.data.setdefault("nationalities", [])
        for code, original, path in _countries(draft.doc, node):
            if code not in codes:
                key = f"nationalities/{len(codes)}"
                codes.append(code)
                draft.origins[key] = path
                draft.original(key, original, code)

    def _physical_measure(
        self,
        draft: _Draft,
        physical: dict[str, Any],
        node: Element,
        key: str,
        units: Mapping[str, Decimal],
        what: str,
    ) -> None:
        value, original, path = _read_measure(draft.doc, node, units, what)
        physical[key] = value
        draft.origins[f"physical/{key}"] = path
        if original is not None:
            draft.originals[f"physical/{key}"] = original

    def _colour(
        self, draft: _Draft, physical: dict[str, Any], node: Element, key: str, table: Mapping[str, Any]
    ) -> None:
        text = _text(node) or ""
        colour = table.get(_words(text))
        path = draft.doc.path(node)
        if colour is None:
            raise _Refused([_Problem(path, f"'{text}' is not a {key.replace('_', ' ')} polex knows")])
        physical[key] = colour
        draft.origins[f"physical/{key}"] = path
        draft.original(f"physical/{key}", text, colour.value)

    def _mark(self, draft: _Draft, marks: list[dict[str, Any]], node: Element) -> None:
        category = _first_text(node, "PhysicalFeatureCategoryText", "PhysicalFeatureCategoryCode")
        description = _first_text(node, "PhysicalFeatureDescriptionText")
        location = _first_text(node, "PhysicalFeatureLocationText")
        if not (category or description or location):
            return
        index = len(marks)
        kind = _MARK_KINDS.get(_words(category[1]), MarkKind.OTHER) if category else MarkKind.OTHER
        if category and category[1] != kind.value:
            draft.originals[f"physical/marks/{index}/kind"] = category[1]
        draft.origins[f"physical/marks/{index}"] = draft.doc.path(node)
        marks.append(
            {
                "kind": kind,
                "description": description[1] if description else None,
                "location": location[1] if location else None,
            }
        )

    def _birth_place(self, draft: _Draft, node: Element) -> None:
        place = _first_text(node, "LocationCityName", "LocationName", "LocationDescriptionText", "AddressFullText")
        countries = _countries(draft.doc, node)
        if place is None and not countries:
            raise _Refused([_Problem(draft.doc.path(node), "the birth place has neither a place name nor a country")])
        draft.data["birth_place"] = {
            "place": place[1] if place else None,
            "country": countries[0][0] if countries else None,
        }
        draft.origins["birth_place"] = draft.doc.path(node)
        if countries:
            draft.original("birth_place/country", countries[0][1], countries[0][0])

    def _language(self, draft: _Draft, node: Element) -> None:
        languages: list[str] = draft.data.setdefault("languages", [])
        for leaf in node.iter():
            text = _text(leaf)
            if not _is_niem(leaf) or text is None or not _local(leaf).startswith("Language") or len(leaf):
                continue
            code = text.lower()
            if not re.fullmatch(r"[a-z]{2,3}", code):
                try:
                    language = pycountry.languages.lookup(text)
                except LookupError:
                    raise _Refused([_Problem(draft.doc.path(leaf), f"'{text}' is not an ISO 639 language")]) from None
                code = str(getattr(language, "alpha_2", None) or language.alpha_3)
            if code not in languages:
                key = f"languages/{len(languages)}"
                draft.origins[key] = draft.doc.path(leaf)
                draft.original(key, text, code)
                languages.append(code)

    def _identification_kind(self, identification: Element) -> IdentifierKind:
        kind = _IDENTIFICATION_KINDS.get(_local(identification), IdentifierKind.OTHER)
        if kind is IdentifierKind.OTHER:
            category = _first_text(
                identification,
                "IdentificationCategoryText",
                "IdentificationCategoryDescriptionText",
                "IdentificationCategoryCode",
            )
            if category is not None:
                kind = _IDENTIFIER_WORDS.get(_words(category[1]), IdentifierKind.OTHER)
        return kind

    def _identifiers(self, draft: _Draft, node: Element) -> None:
        doc = draft.doc
        identifications = [node] if _kids(node, "IdentificationID") else _descendants(node, *_IDENTIFICATION_KINDS)
        if not identifications:
            raise _Refused([_Problem(doc.path(node), "the identification has no nc:IdentificationID")])
        for identification in identifications:
            value = _identification_id(identification)
            path = doc.path(identification)
            if value is None:
                raise _Refused([_Problem(path, "the identification has no nc:IdentificationID")])
            kind = self._identification_kind(identification)
            identifiers: list[dict[str, Any]] = draft.data.setdefault("identifiers", [])
            key = f"identifiers/{len(identifiers)}"
            entry: dict[str, Any] = {"kind": kind, "value": value}
            countries = _countries(doc, identification)
            if countries:
                entry["country"] = countries[0][0]
                draft.original(f"{key}/country", countries[0][1], countries[0][0])
            for issued in _kids(identification, "IdentificationIssueDate", "IdentificationEffectiveDate")[:1]:
                date = _date(doc, issued, consistent=True)
                if date.full is None:
                    raise _Refused([_Problem(date.path, f"the issue date {date.value} is not a full date")])
                entry["issued_on"] = date.full
            if _IDENTIFICATION_KINDS.get(_local(identification)) is not kind:
                draft.originals[f"{key}/kind"] = doc.qname(identification.tag)
            draft.origins[key] = path
            identifiers.append(entry)

    # -- travel documents ---------------------------------------------------------------------

    def _document_status(self, element: Element) -> tuple[DocumentStatus, str, str] | None:
        for node in element.iter():
            text = _text(node)
            if not _is_niem(node) or text is None:
                continue
            local = _local(node)
            if local == "IdentificationStolenLostIndicator" and text.lower() in ("true", "1"):
                return DocumentStatus.STOLEN, f"{self.doc.qname(node.tag)} {text}", self.doc.path(node)
            if local in ("StatusDescriptionText", "StatusText", "StatusCode", "DocumentStatusText"):
                status = _DOCUMENT_STATUSES.get(_words(text))
                if status is not None:
                    return status, text, self.doc.path(node)
        return None

    def _travel_document(
        self,
        element: Element,
        document_type: DocumentType,
        person: NiemPerson | None,
        holder: Element | None,
        *,
        standalone: bool,
    ) -> None:
        """A travel document from an identification of a person (only when number, country and
        status are all there: otherwise it stays the person's identifier) or from a document
        element standing on its own (a rejection when something is missing)."""
        doc = self.doc
        status_hit = self._document_status(element)
        status = status_hit[0] if status_hit else self.adapter.document_status
        if not standalone:
            try:
                if status is None or not _countries(doc, element):
                    return
            except _Refused:
                return
        draft = _Draft(doc, element)
        number = _first_text(element, "IdentificationID")
        if number is None:
            draft.problems.append(_Problem(doc.path(element), "the document has no nc:IdentificationID"))
        else:
            draft.data["number"] = number[1]
            draft.origins["number"] = doc.path(number[0])
            draft.original("number", number[1], re.sub(r"[\s<\-./]", "", number[1]).upper())

        def country() -> None:
            found = _countries(doc, element)
            if not found:
                raise _Refused([_Problem(doc.path(element), "the document names no issuing country")])
            draft.data["issuing_country"] = found[0][0]
            draft.origins["issuing_country"] = found[0][2]
            draft.original("issuing_country", found[0][1], found[0][0])

        def dates() -> None:
            for local, key in (
                ("IdentificationIssueDate", "issued_on"),
                ("IdentificationEffectiveDate", "issued_on"),
                ("DocumentIssueDate", "issued_on"),
                ("DocumentEffectiveDate", "issued_on"),
                ("IdentificationExpirationDate", "expires_on"),
                ("DocumentExpirationDate", "expires_on"),
            ):
                for node in _descendants(element, local):
                    date = _date(doc, node, consistent=True)
                    if date.full is None:
                        raise _Refused([_Problem(date.path, f"{date.value} is not a full date")])
                    draft.data.setdefault(key, date.full)
                    draft.origins.setdefault(key, date.path)

        draft.attempt(country)
        draft.attempt(dates)
        if document_type is DocumentType.OTHER:
            draft.problems.append(
                _Problem(doc.path(element), "the document is not a passport, identity card, visa or travel document")
            )
        draft.data["document_type"] = document_type
        if status is None:
            draft.problems.append(
                _Problem(
                    doc.path(element),
                    "the document has no status (stolen, lost, revoked, invalidated); give one, or make the "
                    "adapter with document_status",
                )
            )
        else:
            draft.data["status"] = status
            if status_hit:
                draft.origins["status"] = status_hit[2]
                draft.original("status", status_hit[1], status.value)
        if person is not None:
            draft.data["holder"] = DocumentHolder(
                names=[person.primary_name],
                birth_date=person.birth_dates[0] if person.birth_dates else None,
                sex=person.sex,
                nationality=person.nationalities[0] if person.nationalities else None,
            )
            draft.data["holder_person_id"] = person.id
        try:
            named = element if _structures_attr(element, "id") or holder is None else holder
            document = draft.build(
                NiemTravelDocument, {"id": new_id(), "provenance": self._provenance(named, draft.originals)}
            )
        except _Refused as refused:
            self._reject(1, element, refused.problems)
            return
        self.documents[id(element)] = (document.id, holder if holder is not None else element)
        self._accept(1, document, element)

    def _read_document(self, element: Element) -> None:
        """An ``nc:Document`` of an identity document kind, or an ``nc:Passport``, on its own."""
        self.consumed.add(id(element))
        category = _first_text(element, "DocumentCategoryText", "DocumentCategoryName", "DocumentCategoryCode")
        if _local(element) == "Passport":
            document_type = DocumentType.PASSPORT
        elif category is not None:
            document_type = _DOCUMENT_CATEGORIES.get(_words(category[1]), DocumentType.OTHER)
        else:
            document_type = DocumentType.OTHER
        holder = self._document_holder(element)
        person = self.persons.get(id(holder)) if holder is not None else None
        self._travel_document(element, document_type, person, holder, standalone=True)

    def _document_holder(self, element: Element) -> Element | None:
        """The person an association ties a document to."""
        sid = _structures_attr(element, "id")
        if sid is None:
            return None
        for association in self.associations:
            members = [child for child in association if _is_niem(child)]
            if not any(_reference(child) == sid for child in members):
                continue
            for child in members:
                if _local(child) in ("Person", "DocumentHolder", "IdentificationPerson", "RoleOfPerson"):
                    try:
                        return self.doc.resolve(child)
                    except _Refused:
                        return None
        return None

    # -- vehicles -----------------------------------------------------------------------------

    def _registrations(self, everything: Sequence[Element]) -> dict[int, list[Element]]:
        """Plate identifications outside a vehicle, by the vehicle element they register."""
        found: dict[int, list[Element]] = {}
        for node in everything:
            local = _local(node)
            if local in ("ConveyanceRegistration", "ItemRegistration", "VehicleRegistration"):
                self.consumed.add(id(node))
                plates = _descendants(node, *_PLATES)
                for child in _kids(node, "Conveyance", "Vehicle", "Item", "RegistrationItem"):
                    try:
                        target = self.doc.resolve(child)
                    except _Refused:
                        continue
                    found.setdefault(id(target), []).extend(plate for plate in plates if plate not in target.iter())
            elif local.endswith("RegistrationAssociation"):
                self.consumed.add(id(node))
                registrations: list[Element] = []
                targets: list[Element] = []
                for child in node:
                    try:
                        resolved = self.doc.resolve(child)
                    except _Refused:
                        continue
                    if "Registration" in _local(child):
                        registrations.append(resolved)
                    elif _local(child) in ("Conveyance", "Vehicle", "Item"):
                        targets.append(resolved)
                for target in targets:
                    for registration in registrations:
                        found.setdefault(id(target), []).extend(_descendants(registration, *_PLATES))
        return found

    def _read_vehicle(self, element: Element, plates: list[Element]) -> None:
        self.consumed.add(id(element))
        draft = _Draft(self.doc, element)
        draft.attempt(partial(self._vehicle_fields, draft, plates))
        try:
            vehicle = draft.build(
                NiemVehicle, {"id": new_id(), "provenance": self._provenance(element, draft.originals)}
            )
        except _Refused as refused:
            self._reject(1, element, refused.problems)
            return
        self.vehicles[id(element)] = vehicle.id
        self._accept(1, vehicle, element)

    def _vehicle_fields(self, draft: _Draft, plates: list[Element]) -> None:
        doc, element, data = draft.doc, draft.element, draft.data
        vin = _first_text(element, "VehicleVINAText", "VehicleVINText")
        for node in _descendants(element, "VehicleIdentification"):
            value = _identification_id(node)
            if value is not None:
                vin = (node, value)
                break
        if vin is not None:
            data["vin"] = vin[1]
            draft.origins["vin"] = doc.path(vin[0])
            draft.original("vin", vin[1], re.sub(r"[\s\-]", "", vin[1]).upper())
        self._plate(draft, [*_descendants(element, *_PLATES), *plates])
        for key, names in (
            ("make", ("ItemMakeName", "VehicleMakeText", "VehicleMakeCode", "ItemBrandName")),
            ("model", ("ItemModelName", "VehicleModelText", "VehicleModelCode")),
            (
                "colour",
                (
                    "ItemColorDescriptionText",
                    "VehicleColorPrimaryText",
                    "VehicleColorPrimaryCode",
                    "ConveyanceColorPrimaryText",
                ),
            ),
            ("remarks", ("ItemDescriptionText",)),
        ):
            hit = next(((node, value) for node in _kids(element, *names) if (value := _text(node))), None)
            if hit is not None:
                data[key] = hit[1]
                draft.origins[key] = doc.path(hit[0])
        year = next(
            (
                (node, value)
                for node in _kids(element, "ItemModelYearDate", "VehicleModelYearDate")
                if (value := _text(node))
            ),
            None,
        )
        if year is not None:
            draft.origins["model_year"] = doc.path(year[0])
            if re.fullmatch(r"\d{4}", year[1]):
                data["model_year"] = int(year[1])
            else:
                draft.problems.append(_Problem(doc.path(year[0]), f"'{year[1]}' is not a year"))
        nibrs = next(
            (value for node in _kids(element, "ItemCategoryNIBRSPropertyCategoryCode") if (value := _text(node))), None
        )
        category = next(((node, value) for node in _kids(element, "ItemCategoryText") if (value := _text(node))), None)
        if nibrs is not None and nibrs in _NIBRS_VEHICLE_PROPERTY:
            data["category"] = _NIBRS_VEHICLE_PROPERTY[nibrs]
            draft.originals["category"] = f"NIBRS property {nibrs} ({_NIBRS_PROPERTY_LABELS.get(nibrs, nibrs)})"
        elif category is not None:
            known = _VEHICLE_CATEGORIES.get(_words(category[1]))
            if known is None:
                draft.problems.append(
                    _Problem(doc.path(category[0]), f"'{category[1]}' is not a vehicle category polex knows")
                )
            else:
                data["category"] = known
                draft.original("category", category[1], known.value)
        for status_element in _kids(element, "ItemStatus"):
            self._vehicle_status(draft, status_element)
        data.setdefault("status", self.adapter.vehicle_status)
        if "vin" not in data and "plate" not in data and nibrs is not None and nibrs in _NIBRS_VEHICLE_PROPERTY:
            quantity = _first_text(element, "ItemQuantity")
            draft.problems.append(
                _Problem(
                    doc.path(element),
                    f"NIBRS property {nibrs} ({_NIBRS_PROPERTY_LABELS.get(nibrs, nibrs)}"
                    + (f", quantity {quantity[1]}" if quantity else "")
                    + ") has no VIN and no registration plate, and a polex vehicle needs one",
                )
            )

    def _plate(self, draft: _Draft, candidates: list[Element]) -> None:
        doc, data = draft.doc, draft.data
        plates = [plate for plate in candidates if _identification_id(plate)]
        if not plates:
            return
        plate = plates[0]
        number = _identification_id(plate) or ""
        data["plate"] = number
        draft.origins["plate"] = doc.path(plate)
        draft.origins["plate_country"] = doc.path(plate)
        draft.original("plate", number, re.sub(r"[\s\-.]", "", number).upper())
        for index, extra in enumerate(plates[1:], 1):
            draft.originals[f"plate/{index}"] = _identification_id(extra) or ""
        countries = _countries(doc, plate)
        if countries:
            data["plate_country"] = countries[0][0]
            draft.origins["plate_country"] = countries[0][2]
            draft.original("plate_country", countries[0][1], countries[0][0])
            return
        state = _us_state(plate)
        if state is not None:
            data["plate_country"] = "USA"
            draft.originals["plate_country"] = f"US state {state}"

    def _vehicle_status(self, draft: _Draft, status_element: Element) -> None:
        doc, data = draft.doc, draft.data
        hit = _first_text(status_element, "StatusDescriptionText", "StatusText", "ItemStatusCode", "StatusCode")
        if hit is None:
            return
        words = _words(hit[1]).replace(" ", "-")
        status = _VEHICLE_STATUSES.get(words) or (VehicleStatus.STOLEN if words.startswith("STOLEN") else None)
        if status is None:
            draft.problems.append(
                _Problem(
                    doc.path(hit[0]),
                    f"the status '{hit[1]}' has no polex equivalent (stolen, misappropriated, wanted, recovered)",
                )
            )
            return
        data["status"] = status
        draft.origins["status"] = doc.path(hit[0])
        draft.original("status", hit[1], status.value)
        for date_element in _kids(status_element, "StatusDate"):
            try:
                date = _date(doc, date_element, consistent=True)
            except _Refused as refused:
                draft.problems.extend(refused.problems)
                continue
            if date.full is None:
                draft.problems.append(_Problem(date.path, f"{date.value} is not a full date"))
            elif status is VehicleStatus.STOLEN:
                data["stolen_on"] = date.full
                draft.origins["stolen_on"] = date.path
            else:
                draft.originals["status_date"] = date.text

    # -- cases --------------------------------------------------------------------------------

    def _scopes(self, everything: Sequence[Element]) -> list[_Scope]:
        """Each incident with its offenses and arrests, and each arrest that has no incident."""
        linked = self._activity_links()
        scopes: dict[int, _Scope] = {}
        for node in everything:
            if _local(node) == "Incident":
                scopes[id(node)] = _Scope(node, self.doc.parent(node) or self.doc.root)
        by_container: dict[int, list[_Scope]] = {}
        for scope in scopes.values():
            by_container.setdefault(id(scope.container), []).append(scope)

        def owner(activity: Element) -> _Scope | None:
            for other in linked.get(id(activity), []):
                if id(other) in scopes:
                    return scopes[id(other)]
            ancestor = self.doc.parent(activity)
            while ancestor is not None:
                if id(ancestor) in scopes:
                    return scopes[id(ancestor)]
                candidates = by_container.get(id(ancestor), [])
                if candidates:
                    return candidates[0] if len(candidates) == 1 else None
                ancestor = self.doc.parent(ancestor)
            return None

        orphans: list[Element] = []
        for node in everything:
            if _local(node) == "Offense":
                found = owner(node)
                if found is None:
                    orphans.append(node)
                else:
                    found.offenses.append(node)
        for node in everything:
            if _local(node) == "Arrest":
                found = owner(node)
                if found is None:
                    found = scopes[id(node)] = _Scope(None, self.doc.parent(node) or self.doc.root)
                found.arrests.append(node)
        for offense in orphans:
            target = next((scopes[id(other)] for other in linked.get(id(offense), []) if id(other) in scopes), None)
            if target is not None:
                target.offenses.append(offense)
                continue
            self.consumed.add(id(offense))
            self._reject(
                2,
                offense,
                [
                    _Problem(
                        self.doc.path(offense),
                        "the offense belongs to no incident or arrest (there is none in its report, or several "
                        "and no association says which)",
                    )
                ],
            )
        return list(scopes.values())

    def _activity_links(self) -> dict[int, list[Element]]:
        """Incidents, offenses and arrests tied together by association elements."""
        links: dict[int, list[Element]] = {}
        for association in self.associations:
            members = []
            for child in association:
                if not _is_niem(child):
                    continue
                try:
                    target = self.doc.resolve(child)
                except _Refused:
                    continue
                if _local(target) in ("Incident", "Offense", "Arrest") and target is not child:
                    members.append(target)
            for member in members:
                links.setdefault(id(member), []).extend(other for other in members if other is not member)
        return links

    def _members(self, scope: _Scope) -> list[Element]:
        """The elements of the scope's report that belong to its case: all of them when the report
        holds one case, else those that associations tie to it."""
        siblings = [child for child in scope.container if isinstance(child.tag, str)]
        if self.scopes_per_container.get(id(scope.container), 0) <= 1:
            return siblings
        related = {id(element) for element in scope.elements}
        members = list(scope.elements)
        for association in siblings:
            if not _local(association).endswith("Association"):
                continue
            resolved = []
            for child in association:
                try:
                    resolved.append(self.doc.resolve(child))
                except _Refused:
                    continue
            if any(id(node) in related for node in resolved):
                members.append(association)
                for node in resolved:
                    if id(node) not in related:
                        related.add(id(node))
                        members.append(node)
        # the roles that point at the persons and the associations found
        for sibling in siblings:
            if _local(sibling) in _ROLES and id(sibling) in related:
                continue
            if _local(sibling) in _ROLES:
                people = [self._role_person(sibling)]
                if any(person is not None and id(person) in related for person in people):
                    members.append(sibling)
        return members

    def _role_person(self, role: Element) -> Element | None:
        for child in _kids(role, "RoleOfPerson", "Person"):
            try:
                return self.doc.resolve(child)
            except _Refused:
                return None
        return None

    def _read_case(self, scope: _Scope) -> None:
        doc = self.doc
        main = scope.main
        members = self._members(scope)
        for member in [*scope.elements, *members]:
            self.consumed.add(id(member))
        raw = "\n".join(doc.serialize(element) for element in scope.elements)
        action = self._report_action(scope.container)
        if action == "D":
            number = next(
                (
                    hit
                    for node in _kids(main, "ActivityIdentification")
                    if (hit := _first_text(node, "IdentificationID"))
                ),
                None,
            )
            what = "incident" if scope.incident is not None else "arrest"
            reason = (
                f"the report asks to delete {what} {number[1] if number else '(no number)'} (NIBRS action D); "
                "polex does not apply deletions read from NIEM documents"
            )
            self._reject(2, main, [_Problem(doc.path(main), reason)], raw=raw)
            return
        draft = _Draft(doc, main)
        draft.attempt(partial(self._case_fields, draft, scope, members, action))
        try:
            case = draft.build(NiemCase, {"id": new_id(), "provenance": self._provenance(main, draft.originals)})
        except _Refused as refused:
            self._reject(2, main, refused.problems, raw=raw)
        else:
            self._accept(2, case, main, raw=raw)

    def _report_action(self, container: Element) -> str | None:
        hit = _first_text(container, "ReportActionCategoryCode")
        return hit[1].upper() if hit else None

    def _case_fields(self, draft: _Draft, scope: _Scope, members: list[Element], action: str | None) -> None:
        doc, main, data = self.doc, draft.element, draft.data
        kind = "Incident" if scope.incident is not None else "Arrest"
        number = next(
            (hit for node in _kids(main, "ActivityIdentification") if (hit := _first_text(node, "IdentificationID"))),
            None,
        )
        reference = number[1] if number else _structures_attr(main, "id")
        if reference is None:
            raise _Refused(
                [
                    _Problem(
                        doc.path(main), f"the {kind.lower()} has neither nc:ActivityIdentification nor structures:id"
                    )
                ]
            )
        data["reference"] = reference
        draft.origins["reference"] = doc.path(number[0]) if number else doc.path(main)
        self._case_opened(draft, scope, kind)
        crime_types, labels = self._crime_types(draft, scope, kind)
        data["title"] = f"{kind} {reference}: {'; '.join(labels)}"[:500]
        clearance = _first_text(main, "IncidentExceptionalClearanceCode")
        if clearance is not None and clearance[1].upper() in _CLEARED_EXCEPTIONALLY:
            data["status"] = CaseStatus.CLOSED
            draft.originals["status"] = f"NIBRS exceptional clearance {clearance[1]}"
            draft.origins["status"] = doc.path(clearance[0])
            for node in _descendants(main, "IncidentExceptionalClearanceDate"):
                date = _date(doc, node, consistent=False)
                if date.full is not None:
                    data["closed_on"] = date.full
                    draft.origins["closed_on"] = date.path
        links, people = self._case_links(members)
        data["links"] = links
        data["summary"] = self._case_summary(scope, members, action, crime_types, labels, people)[:20_000]

    def _case_opened(self, draft: _Draft, scope: _Scope, kind: str) -> None:
        doc = self.doc
        for activity in [scope.main, *scope.arrests]:
            for node in _kids(activity, "ActivityDate"):
                date = _date(doc, node, consistent=False)
                if date.full is None:
                    continue
                draft.data["opened_on"] = date.full
                draft.origins["opened_on"] = date.path
                prefix = "" if activity is scope.main else "arrest date: "
                if prefix or date.others or date.text != date.value:
                    draft.originals["opened_on"] = prefix + date.note
                return
        dates = _kids(scope.main, "ActivityDate")
        where = doc.path(dates[0]) if dates else doc.path(scope.main)
        raise _Refused([_Problem(where, f"the {kind.lower()} has no full date (nc:ActivityDate/nc:Date)")])

    def _crime_types(self, draft: _Draft, scope: _Scope, kind: str) -> tuple[list[str], list[str]]:
        """ICCS divisions of the offense and arrest charge codes; an unmapped code is a rejection
        of its own, and the case stands on the codes that map."""
        doc = self.doc
        crime_types: list[str] = []
        sources: dict[str, list[str]] = {}
        labels: list[str] = []
        problems: list[_Problem] = []
        for activity in [*scope.offenses, *scope.arrests]:
            attempted = any(
                (_text(node) or "").lower() in ("true", "1") for node in _kids(activity, "OffenseAttemptedIndicator")
            )
            found = [node for node in _descendants(activity, *_OFFENSE_CODE_ELEMENTS) if _text(node)]
            if not found and _local(activity) == "Offense":
                problems.append(_Problem(doc.path(activity), "the offense has no NIBRS/UCR offense code"))
            for node in found:
                code = (_text(node) or "").upper()
                entry = NIBRS_TO_ICCS.get(code)
                if entry is None:
                    problems.append(
                        _Problem(doc.path(node), f"'{code}' is not a NIBRS/UCR offense code polex maps to ICCS")
                    )
                    continue
                label, iccs = entry
                if iccs is None:
                    problems.append(
                        _Problem(
                            doc.path(node), f"NIBRS {code} ({label}) is not a criminal offence and has no ICCS division"
                        )
                    )
                    continue
                if code == "09A" and attempted:
                    iccs = "0102"
                if iccs not in crime_types:
                    draft.origins[f"crime_types/{len(crime_types)}"] = doc.path(node)
                    crime_types.append(iccs)
                sources.setdefault(iccs, []).append(f"NIBRS {code}" + (" attempted" if attempted else ""))
                labels.append(f"{label} (NIBRS {code}{', attempted' if attempted else ''})")
        if not crime_types:
            raise _Refused(problems or [_Problem(doc.path(scope.main), f"the {kind.lower()} has no offense code")])
        for problem in problems:
            self.results.append(
                (
                    2,
                    Rejection(
                        field=problem.path,
                        reason=problem.reason,
                        raw=doc.serialize(scope.main),
                        location=problem.path,
                        errors=(FieldError(problem.path, problem.reason),),
                    ),
                )
            )
        draft.data["crime_types"] = crime_types
        for index, iccs in enumerate(crime_types):
            draft.originals[f"crime_types/{index}"] = ", ".join(dict.fromkeys(sources[iccs]))
        return crime_types, list(dict.fromkeys(labels))

    def _case_links(self, members: Sequence[Element]) -> tuple[list[CaseLink], list[str]]:
        """Links to the persons, vehicles and documents read from the case's report, and a line
        for each person in a role (read or not)."""
        links: list[CaseLink] = []
        lines: list[str] = []
        seen: set[tuple[str, LinkRole]] = set()
        in_role: set[int] = set()

        def link(kind: str, record_id: str, role: LinkRole) -> None:
            if (record_id, role) not in seen:
                seen.add((record_id, role))
                links.append(CaseLink.model_validate({"kind": kind, "id": record_id, "role": role}))

        for member in members:
            for role_element in member.iter():
                if not _is_niem(role_element) or _local(role_element) not in _ROLES or _reference(role_element):
                    continue
                person = self._role_person(role_element)
                if person is None:
                    continue
                in_role.add(id(person))
                record = self.persons.get(id(person))
                if record is not None:
                    link("person", record.id, _ROLES[_local(role_element)])
                lines.append(self._role_line(role_element, person, record is not None))
        inside = {id(node) for member in members for node in member.iter()}
        for node_id, other in self.persons.items():
            if node_id in inside and node_id not in in_role:
                link("person", other.id, LinkRole.RELATED)
        for node_id, vehicle_id in self.vehicles.items():
            if node_id in inside:
                link("vehicle", vehicle_id, LinkRole.RELATED)
        for document_id, holder in self.documents.values():
            if id(holder) in inside:
                link("travel_document", document_id, LinkRole.RELATED)
        return links, lines

    def _role_line(self, role_element: Element, person: Element, read: bool) -> str:
        sequence = _first_text(
            role_element, "VictimSequenceNumberText", "SubjectSequenceNumberText", "ArrestSequenceID"
        )
        facts: list[str] = []
        sex = _first_text(person, "PersonSexCode", "PersonSexText")
        if sex:
            facts.append(f"sex {sex[1]}")
        age = next(iter(_descendants(person, "PersonAgeMeasure")), None)
        if age is not None:
            low = _first_text(age, "RangeMinimumIntegerValue")
            high = _first_text(age, "RangeMaximumIntegerValue")
            value = _first_text(age, "MeasureIntegerValue", "MeasureValueText", "MeasureDecimalValue")
            if low and high:
                facts.append(f"age {low[1]}-{high[1]}")
            elif value:
                facts.append(f"age {value[1]}")
        for name in (
            "VictimCategoryCode",
            "InjuryCategoryCode",
            "ArresteeArmedWithCode",
            "EnforcementOfficialActivityCategoryCode",
        ):
            values = [entry for node in _descendants(role_element, name) if (entry := _text(node))]
            if values:
                facts.append(f"{name.removesuffix('Code')} {', '.join(values)}")
        who = _structures_attr(person, "id") or self.doc.path(person)
        state = "read as a person" if read else "not read as a person, see its rejection"
        number = f" {sequence[1]}" if sequence else ""
        return f"{_local(role_element)}{number} ({who}, {state}): {'; '.join(facts) or 'no details'}."

    def _case_summary(
        self,
        scope: _Scope,
        members: Sequence[Element],
        action: str | None,
        crime_types: Sequence[str],
        labels: Sequence[str],
        people: Sequence[str],
    ) -> str:
        doc = self.doc
        container = scope.container
        category = _first_text(container, "NIBRSReportCategoryCode")
        agency = next(
            (
                hit
                for node in _descendants(container, "ReportingAgency")
                if (hit := _first_text(node, "IdentificationID"))
            ),
            None,
        )
        month = next(
            (hit for node in _descendants(container, "ReportDate") if (hit := _first_text(node, *_DATE_ELEMENTS))), None
        )
        header = [
            f"NIEM {self._version()}",
            *([category[1]] if category else []),
            *([f"action {action}"] if action else []),
            *([f"reporting agency {agency[1]}"] if agency else []),
            *([f"report month {month[1]}"] if month else []),
        ]
        lines = ["Source: " + ", ".join(header) + "."]
        lines.append(
            "Offenses: "
            + "; ".join(labels)
            + ". ICCS: "
            + ", ".join(f"{code} {iccs_label(code)}" for code in crime_types)
            + "."
        )
        for activity in scope.elements:
            facts = _leaf_facts(activity, skip=_OFFENSE_CODE_ELEMENTS | {"IdentificationID"})
            if facts:
                sid = _structures_attr(activity, "id")
                lines.append(f"{_local(activity)}{f' {sid}' if sid else ''}: {facts}.")
        lines.extend(people)
        for member in members:
            local = _local(member)
            if (
                member in scope.elements
                or _is_person(member)
                or id(member) in self.vehicles
                or not isinstance(member.tag, str)
            ):
                continue
            if local in _ROLES or local.endswith(_ENVELOPE_SUFFIXES) or local in _ENVELOPE_NAMES:
                continue
            if id(member) in self.documents:
                continue
            if local == "Location":
                place = _first_text(member, "LocationCategoryCode")
                if place is not None:
                    lines.append(f"Location: {_NIBRS_LOCATIONS.get(place[1], 'NIBRS location category')} ({place[1]}).")
                    continue
            facts = _leaf_facts(member, skip=frozenset())
            if local in ("Item", "Substance"):
                kind = _first_text(member, "ItemCategoryNIBRSPropertyCategoryCode")
                label = f" {_NIBRS_PROPERTY_LABELS[kind[1]]}" if kind and kind[1] in _NIBRS_PROPERTY_LABELS else ""
                lines.append(f"Property{label}: {facts or 'no details'}.")
            else:
                lines.append(f"{doc.qname(member.tag)}: {facts or 'no details'}.")
        return "\n".join(lines)

    def _version(self) -> str:
        for uri in self.doc.prefixes:
            if uri in NC_NAMESPACES:
                match = re.search(r"(\d\.\d)", uri)
                return match.group(1) if match else "core"
        return "core"

    # -- what was not read ---------------------------------------------------------------------

    def _left_over(self) -> None:
        """Elements of a report that are none of the kinds polex reads and belong to no case."""
        root = self.doc.root
        containers = [root] if not _is_record_element(root) else []
        containers.extend(
            node
            for node in root.iter()
            if node is not root and not _is_record_element(node) and any(_is_record_element(child) for child in node)
        )
        seen: set[int] = set()
        for container in containers:
            if id(container) in seen or (id(container) in self.consumed and container is not root):
                continue
            seen.add(id(container))
            for child in container:
                if not isinstance(child.tag, str) or id(child) in self.consumed or _reference(child) is not None:
                    continue
                local = _local(child)
                if (
                    local.endswith(_ENVELOPE_SUFFIXES)
                    or local in _ROLES
                    or local in ("ConveyanceRegistration", "ItemRegistration")
                ):
                    continue
                if not _is_record_element(child) and any(_is_record_element(grandchild) for grandchild in child):
                    continue  # a container of its own
                reason = (
                    f"{self.doc.qname(child.tag)} is not read: polex reads persons, vehicles, identity documents "
                    "and incidents, and this element belongs to no incident it could be summarised in"
                )
                self._reject(3, child, [_Problem(self.doc.path(child), reason)])


_GENERIC_LEAVES: Final = frozenset(
    {*_DATE_ELEMENTS, "IdentificationID", "Amount", "MeasureDecimalValue", "MeasureIntegerValue", "MeasureValueText"}
)


def _leaf_facts(element: Element, *, skip: frozenset[str]) -> str:
    """``Name value`` for the leaves under an element, for case summaries; a generic leaf
    (``nc:Date``, ``nc:IdentificationID``...) is named after its parent too."""
    facts = []
    parents = {id(child): node for node in element.iter() for child in node}
    for node in element.iter():
        text = _text(node)
        if text is None or len(node) or not isinstance(node.tag, str) or _local(node) in skip:
            continue
        name = _local(node)
        parent = parents.get(id(node))
        if name in _GENERIC_LEAVES and parent is not None and parent is not element:
            name = f"{_local(parent)}/{name}"
        facts.append(f"{name} {text}")
    return ", ".join(facts)[:2000]


# --- The format adapter ---------------------------------------------------------------------


class NiemAdapter:
    """The ``niem-xml`` format: NIEM 3.0 to 6.0 XML instances (NIBRS included) in; persons and
    vehicles as NIEM 6.0 out.

    ``document_status`` makes a travel document of every passport or identity card
    identification that has a number and an issuing country but no status of its own (as the
    MRZ adapter does); by default such identifications stay person identifiers. A vehicle with
    no ``nc:ItemStatus`` gets ``vehicle_status``.

    What :meth:`write` writes is validated against the bundled NIEM 6.0 schema set first
    (:func:`validate_niem6`; it takes about as long as writing the document, some 0.1 s per
    thousand persons and thousand vehicles); ``validate=False`` skips that for very large exports.
    """

    name = FORMAT_NAME
    description = (
        "NIEM XML (3.0 to 6.0, NIBRS included): persons, vehicles, identity documents and incidents in; "
        "persons and vehicles out as NIEM 6.0 core"
    )
    media_types: tuple[str, ...] = ("application/xml", "text/xml")

    def __init__(
        self,
        *,
        document_status: DocumentStatus | None = None,
        vehicle_status: VehicleStatus = VehicleStatus.STOLEN,
        max_bytes: int = MAX_BYTES,
        max_depth: int = MAX_DEPTH,
        max_elements: int = MAX_ELEMENTS,
        validate: bool = True,
    ) -> None:
        self.document_status = DocumentStatus(document_status) if document_status is not None else None
        self.vehicle_status = VehicleStatus(vehicle_status)
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.max_elements = max_elements
        self.validate = validate

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        data = stream.read(self.max_bytes + 1)
        try:
            doc = parse_document(
                data, max_bytes=self.max_bytes, max_depth=self.max_depth, max_elements=self.max_elements
            )
        except NiemError as error:
            raw = data[:4096].decode("utf-8", errors="replace")
            yield Rejection(
                "document",
                error.reason,
                raw=raw,
                location=error.location,
                errors=(FieldError("document", error.reason),),
            )
            return
        yield from _Reader(doc, self).run()

    def write(self, records: Iterable[BaseModel], stream: IO[bytes]) -> None:
        """Persons and vehicles as one NIEM 6.0 exchange document; nothing is written when the
        document would not be valid (:class:`NiemSchemaError`)."""
        persons: list[Person] = []
        vehicles: list[Vehicle] = []
        for record in records:
            if isinstance(record, Person):
                persons.append(record)
            elif isinstance(record, Vehicle):
                vehicles.append(record)
            else:
                raise TypeError(f"the {FORMAT_NAME} format writes persons and vehicles, not {type(record).__name__}")
        document = to_niem_xml(persons, vehicles).encode("utf-8")
        if self.validate:
            validate_niem6(document)
        stream.write(document)


# --- Writing --------------------------------------------------------------------------------


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def open(self, tag: str, attributes: Mapping[str, str] | None = None) -> None:
        self.lines.append("  " * self.depth + f"<{tag}{_attributes(attributes)}>")
        self.depth += 1

    def close(self, tag: str) -> None:
        self.depth -= 1
        self.lines.append("  " * self.depth + f"</{tag}>")

    def leaf(self, tag: str, value: str, attributes: Mapping[str, str] | None = None) -> None:
        # A carriage return as a character reference: a parser turns a literal one into a line feed.
        text = _escape(_xml_chars(tag, value)).replace("\r", "&#13;")
        self.lines.append("  " * self.depth + f"<{tag}{_attributes(attributes)}>{text}</{tag}>")

    def empty(self, tag: str, attributes: Mapping[str, str] | None = None) -> None:
        self.lines.append("  " * self.depth + f"<{tag}{_attributes(attributes)}/>")

    def date(self, tag: str, value: str) -> None:
        self.open(tag)
        inner = {4: "nc:YearDate", 7: "nc:YearMonthDate"}.get(len(value), "nc:Date")
        self.leaf(inner, value)
        self.close(tag)

    def country(self, tag: str, code: str) -> None:
        self.open(tag)
        self.leaf("nc:CountryCode", code, {"cli:codeListURI": COUNTRY_CODE_LIST})
        self.close(tag)


def _attributes(attributes: Mapping[str, str] | None) -> str:
    return "".join(f' {key}="{_escape(value, quote=True)}"' for key, value in (attributes or {}).items())


# What XML 1.0 cannot carry at all (its Char production): the domain already refuses C0 controls,
# but a str may still hold surrogates or the noncharacters U+FFFE and U+FFFF.
_NOT_XML_CHAR: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_chars(tag: str, value: str) -> str:
    found = _NOT_XML_CHAR.search(value)
    if found is not None:
        raise ValueError(f"{tag}: U+{ord(found.group()):04X} cannot be written in XML 1.0")
    return value


def _ncname(prefix: str, record: BaseModel, index: int, taken: set[str]) -> str:
    """The record's ``structures:id``: from its polex id when it has one. ``structures:id`` is an
    ``xs:ID``, unique in the document, so a record given twice gets its position appended."""
    record_id = getattr(record, "id", None)
    sid = f"{prefix}-{record_id}" if isinstance(record_id, str) and record_id else f"{prefix}{index}"
    if sid in taken:
        sid = f"{sid}-{index}"
    taken.add(sid)
    return sid


_IDENTIFIER_ELEMENTS: Final[Mapping[IdentifierKind, str]] = {
    IdentifierKind.NATIONAL_ID: "nc:PersonNationalIdentification",
    IdentifierKind.PASSPORT: "nc:PersonPassportIdentification",
    IdentifierKind.SOCIAL_SECURITY: "nc:PersonSSNIdentification",
    IdentifierKind.IDENTITY_CARD: "nc:PersonStateIdentification",
    IdentifierKind.TAX_ID: "nc:PersonTaxIdentification",
}
# nc:PersonType's properties in NIEM 6.0 order, as far as polex writes them.
_PERSON_ORDER: Final = (
    "nc:PersonNationalIdentification",
    "nc:PersonOtherIdentification",
    "nc:PersonPassportIdentification",
)
_PERSON_LATE_ORDER: Final = (
    "nc:PersonSSNIdentification",
    "nc:PersonStateIdentification",
    "nc:PersonTaxIdentification",
)


def _write_identifications(writer: _Writer, person: Person, tags: Sequence[str]) -> None:
    for tag in tags:
        for identifier in person.identifiers:
            if _IDENTIFIER_ELEMENTS.get(identifier.kind, "nc:PersonOtherIdentification") != tag:
                continue
            writer.open(tag)
            writer.leaf("nc:IdentificationID", identifier.value)
            if tag == "nc:PersonOtherIdentification":
                writer.leaf("nc:IdentificationCategoryDescriptionText", identifier.kind.value)
            if identifier.issued_on is not None:
                writer.date("nc:IdentificationIssueDate", identifier.issued_on.isoformat())
            if identifier.country is not None:
                writer.country("nc:IdentificationIssuerCountry", identifier.country)
            writer.close(tag)


def _write_measure(writer: _Writer, tag: str, value: int, unit: str) -> None:
    writer.open(tag)
    writer.leaf("nc:MeasureIntegerValue", str(value))
    writer.leaf("nc:MeasureUnitText", unit)
    writer.close(tag)


def _write_person(writer: _Writer, person: Person, sid: str) -> None:
    physical = person.physical
    writer.open("nc:Person", {"structures:id": sid})
    for birth_date in person.birth_dates:
        writer.date("nc:PersonBirthDate", birth_date)
    if person.remarks:
        writer.leaf("nc:PersonDescriptionText", person.remarks)
    if physical is not None and physical.eye_colour is not None:
        writer.leaf("nc:PersonEyeColorText", physical.eye_colour.value)
    if physical is not None and physical.description:
        writer.leaf("nc:PersonGeneralAppearanceDescriptionText", physical.description)
    if physical is not None and physical.hair_colour is not None:
        writer.leaf("nc:PersonHairColorText", physical.hair_colour.value)
    if physical is not None and physical.height_cm is not None:
        _write_measure(writer, "nc:PersonHeightMeasure", physical.height_cm, "cm")
    if person.deceased:
        writer.leaf("nc:PersonLivingIndicator", "false")
    for name in person.names:
        writer.open("nc:PersonName")
        if name.given:
            writer.leaf("nc:PersonGivenName", name.given)
        if name.family:
            writer.leaf("nc:PersonSurName", name.family)
        writer.leaf("nc:PersonFullName", name.full)
        writer.leaf("nc:PersonNameCategoryText", name.kind.value)
        writer.close("nc:PersonName")
    _write_identifications(writer, person, _PERSON_ORDER)
    for mark in physical.marks if physical is not None else []:
        writer.open("nc:PersonPhysicalFeature")
        writer.leaf("nc:PhysicalFeatureCategoryText", mark.kind.value)
        if mark.description:
            writer.leaf("nc:PhysicalFeatureDescriptionText", mark.description)
        if mark.location:
            writer.leaf("nc:PhysicalFeatureLocationText", mark.location)
        writer.close("nc:PersonPhysicalFeature")
    if person.sex is not Sex.UNKNOWN:
        writer.leaf("nc:PersonSexText", person.sex.value)
    _write_identifications(writer, person, _PERSON_LATE_ORDER)
    if physical is not None and physical.weight_kg is not None:
        _write_measure(writer, "nc:PersonWeightMeasure", physical.weight_kg, "kg")
    for nationality in person.nationalities:
        writer.open("nc:PersonNationality")
        writer.country("nc:PersonNationalityCountry", nationality)
        writer.close("nc:PersonNationality")
    writer.close("nc:Person")


def _write_vehicle(writer: _Writer, vehicle: Vehicle, sid: str) -> None:
    writer.open("nc:Vehicle", {"structures:id": sid})
    writer.leaf("nc:ItemCategoryText", vehicle.category.value)
    if vehicle.colour:
        writer.leaf("nc:ItemColorDescriptionText", vehicle.colour)
    if vehicle.remarks:
        writer.leaf("nc:ItemDescriptionText", vehicle.remarks)
    if vehicle.make:
        writer.leaf("nc:ItemMakeName", vehicle.make)
    if vehicle.model:
        writer.leaf("nc:ItemModelName", vehicle.model)
    if vehicle.model_year is not None:
        writer.leaf("nc:ItemModelYearDate", f"{vehicle.model_year:04d}")
    writer.open("nc:ItemStatus")
    writer.leaf("nc:StatusDescriptionText", vehicle.status.value)
    if vehicle.stolen_on is not None and vehicle.status is VehicleStatus.STOLEN:
        writer.date("nc:StatusDate", vehicle.stolen_on.isoformat())
    writer.close("nc:ItemStatus")
    if vehicle.vin:
        writer.open("nc:VehicleIdentification")
        writer.leaf("nc:IdentificationID", vehicle.vin)
        writer.close("nc:VehicleIdentification")
    writer.close("nc:Vehicle")


def to_niem_xml(persons: Sequence[Person], vehicles: Sequence[Vehicle]) -> str:
    """Persons and vehicles as a NIEM 6.0 document under ``polex:Exchange``; registration plates
    as ``j:ConveyanceRegistration`` elements that refer to their vehicle."""
    writer = _Writer()
    namespaces = {
        "xmlns:polex": POLEX_NS,
        "xmlns:nc": NC6_NS,
        "xmlns:j": J6_NS,
        "xmlns:structures": STRUCTURES6_NS,
        "xmlns:cli": CLI6_NS,
    }
    writer.open("polex:Exchange", namespaces)
    taken: set[str] = set()
    for index, person in enumerate(persons, 1):
        _write_person(writer, person, _ncname("person", person, index, taken))
    vehicle_ids = [_ncname("vehicle", vehicle, index, taken) for index, vehicle in enumerate(vehicles, 1)]
    for vehicle, sid in zip(vehicles, vehicle_ids, strict=True):
        _write_vehicle(writer, vehicle, sid)
    for vehicle, sid in zip(vehicles, vehicle_ids, strict=True):
        if vehicle.plate is None:
            continue
        writer.open("j:ConveyanceRegistration")
        writer.empty("nc:Conveyance", {"structures:ref": sid})
        writer.open("j:ConveyanceRegistrationPlateIdentification")
        writer.leaf("nc:IdentificationID", vehicle.plate)
        if vehicle.plate_country is not None:
            writer.country("nc:IdentificationIssuerCountry", vehicle.plate_country)
        writer.close("j:ConveyanceRegistrationPlateIdentification")
        writer.close("j:ConveyanceRegistration")
    writer.close("polex:Exchange")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + "\n".join(writer.lines) + "\n"


# --- Schema validation ------------------------------------------------------------------------

NIEM6_SCHEMAS: Final = Path(__file__).with_name("niem_schemas") / "6.0"
"""The NIEM 6.0 subset schema set (niem-core, justice, niem-xs, structures, code lists) and polex's
extension schema; where each document comes from and how it was cut is in ``SOURCE.md`` there."""
NIEM6_EXCHANGE_SCHEMA: Final = NIEM6_SCHEMAS / "extension" / "polex-exchange.xsd"

_PREFIXES_IN_MESSAGES: Final[Mapping[str, str]] = {
    NC6_NS: "nc",
    J6_NS: "j",
    STRUCTURES6_NS: "structures",
    CLI6_NS: "cli",
    POLEX_NS: "polex",
}
_STRUCTURES_ID: Final = f"{{{STRUCTURES6_NS}}}id"
_STRUCTURES_REF: Final = f"{{{STRUCTURES6_NS}}}ref"
_EXCHANGE_ROOT: Final = f"{{{POLEX_NS}}}Exchange"


class NiemSchemaError(ValueError):
    """A document that is not valid against the NIEM 6.0 schema set polex writes to; ``violations``
    lists every problem as ``"line N: message"``."""

    def __init__(self, violations: Sequence[str]) -> None:
        self.violations = tuple(violations)
        shown = "; ".join(self.violations[:5])
        more = f" (and {len(self.violations) - 5} more)" if len(self.violations) > 5 else ""
        super().__init__(f"not valid NIEM 6.0: {shown}{more}")


@cache
def _niem6_schema() -> tuple[etree.XMLSchema, threading.Lock]:
    # lxml is imported here, not with the module, so reading NIEM does not load it. The schema
    # documents are local files with relative schemaLocations; no network, no DTDs, no entities.
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    schema = etree.XMLSchema(etree.parse(str(NIEM6_EXCHANGE_SCHEMA), parser))
    # A validator keeps its error log on itself: one validation at a time.
    return schema, threading.Lock()


def niem6_violations(document: bytes) -> list[str]:
    """Every way ``document`` breaks the NIEM 6.0 schema set of :func:`to_niem_xml` (polex's
    ``polex:Exchange`` root, NIEM core, the justice domain); empty when it is valid. Parsed safely:
    no DTD, no entities, no network."""
    from lxml import etree

    schema, lock = _niem6_schema()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        tree = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as error:
        return [f"line {error.lineno}: not well-formed XML: {error.msg}"]
    if tree.getroottree().docinfo.doctype:
        return ["line 1: a document type declaration is not allowed"]
    if tree.tag != _EXCHANGE_ROOT:
        # Any global element of the schema set would validate as a root; an exchange has this one.
        return [f"line {tree.sourceline}: the root element is {_readable(str(tree.tag))}, not polex:Exchange"]
    with lock:
        valid = schema.validate(tree)
        violations = [] if valid else [f"line {entry.line}: {_readable(entry.message)}" for entry in schema.error_log]
    # structures:ref is an xs:IDREF, but libxml2 checks IDREFs only under a DTD: do it here.
    ids = {value for element in tree.iter(etree.Element) if (value := element.get(_STRUCTURES_ID)) is not None}
    violations.extend(
        f"line {element.sourceline}: Element '{_readable(element.tag)}', attribute 'structures:ref': "
        f"'{ref}' refers to no structures:id in the document"
        for element in tree.iter(etree.Element)
        if (ref := element.get(_STRUCTURES_REF)) is not None and ref not in ids
    )
    return violations


def validate_niem6(document: bytes) -> None:
    """Raise :class:`NiemSchemaError` unless ``document`` is valid against the NIEM 6.0 schema set
    of :func:`to_niem_xml`."""
    violations = niem6_violations(document)
    if violations:
        raise NiemSchemaError(violations)


def _readable(message: str) -> str:
    for uri, prefix in _PREFIXES_IN_MESSAGES.items():
        message = message.replace("{" + uri + "}", prefix + ":")
    return message


def read_niem(data: bytes, **options: Any) -> list[ReadResult]:
    """Every result of reading ``data`` with a :class:`NiemAdapter` made with ``options``."""
    return list(NiemAdapter(**options).read(io.BytesIO(data)))


__all__ = [
    "FORMAT_NAME",
    "NIBRS_TO_ICCS",
    "NiemAdapter",
    "NiemCase",
    "NiemDocument",
    "NiemError",
    "NiemPerson",
    "NiemSchemaError",
    "NiemTravelDocument",
    "NiemVehicle",
    "niem6_violations",
    "parse_document",
    "read_niem",
    "to_niem_xml",
    "validate_niem6",
]
