"""ANSI/NIST-ITL transactions: the fingerprints, faces and descriptive text police exchange.

One file is one transaction in the traditional encoding of ANSI/NIST-ITL 1-2011 (and of the
profiles built on it: the FBI's EBTS, INTERPOL's INT-I): a Type-1 record that says what the
transaction is and lists its records (1.003 CNT), then those records in that order.

=============  ==============================================================================
Type-1         :class:`Header`: version, TOT, date, priority, DAI, ORI, TCN, TCR, NSR/NTR,
               domain, GMT, character sets; any other Type-1 field is kept as read.
Type-2         :class:`DescriptiveRecord`: every field kept as read, and where the profile is
               known (EBTS, the domain ``NORAM`` or no domain) the demographics as a polex
               :class:`~polex.domain.person.Person`.
Types 3-99     :class:`Attachment`: the record's fields and its binary data byte for byte,
               with the metadata of image records (Types 3-6 and 8, binary; Types 10, 13,
               14, 15 and 16, tagged) read from them.
=============  ==============================================================================

The Type-2 fields of EBTS that become the person (the others stay only in ``fields``):

======  =====  =============================================================================
2.018   NAM    primary name, ``SURNAME,GIVEN NAMES``
2.019   AKA    aliases, same form, one per subfield
2.022   DOB    dates of birth ``YYYYMMDD`` (``00`` for an unknown month or day gives a
               partial date)
2.024   SEX    ``M``, ``F``; ``X``, ``U`` and ``N`` (not reported) are unknown
2.027   HGT    height, feet and inches (``510`` is 5'10", 178 cm)
2.029   WGT    weight in pounds, to kilograms
2.031   EYE    eye colour (``BLK`` ``BLU`` ``BRO`` ``GRY`` ``GRN`` ``HAZ`` ``MAR`` ``MUL`` ``PNK``
               ``XXX``)
2.032   HAI    hair colour (``BAL`` ``BLK`` ``BLN`` ``BRO`` ``GRY`` ``RED`` ``SDY`` ``WHI`` ``BLU``
               ``GRN`` ``ONG`` ``PNK`` ``PLE`` ``XXX``)
2.020   POB    place of birth: an ISO 3166-1 alpha-3 code as the country, anything else (EBTS
               sends NCIC codes) as the place
2.021   CTZ    citizenships: ISO 3166-1 alpha-3 codes as nationalities; NCIC codes, which are
               not ISO codes and are not translated, are noted in the remarks
2.016   SOC    social security numbers (USA)
2.014   FBI    FBI numbers, 2.015 SID state identification numbers: police references (USA)
2.017   MNU    other numbers ``CC-NUMBER``: ``PP`` passport, ``OA`` police reference, others kept
               whole as "other"
2.026   SMT    scars, marks and tattoos (NCIC codes): ``SC...`` scar, ``TAT...`` tattoo, others
               "other", the code as the description
======  =====  =============================================================================

2.025 RAC (race) has no place in the common schema and stays in the raw fields.

Problems that break the structure (a length that disagrees with where a record ends, a
truncated file, a CNT that does not list what is there, a missing mandatory Type-1 field)
raise :class:`AnsiNistError`, naming the field (``14.001 LEN``); problems with the meaning of
one value (an impossible date of birth, an unknown sex code) are warnings on the transaction
(``2.022 DOB: '19741332' is not a date ...``) and that value is left out of the person, so the
fingerprints still get through; ``strict=True`` makes them errors.

Writing builds the transaction from the header, the records' fields and data, with LEN and
CNT computed: what was read is written back byte for byte, except that IDCs are written with
two digits and fields in order (LEN, IDC, the others as held, DATA last). The person is not
written: the Type-2 fields are; :func:`ebts_fields` makes them from a person.

Text is decoded as UTF-8 where 1.015 DCS lists UTF-8 (code ``003``), as ISO 8859-1 otherwise
(which keeps every byte), and written back the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Annotated, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from polex.domain.base import Provenance
from polex.domain.countries import is_country_code
from polex.domain.dates import PastPartialDate
from polex.domain.person import (
    DistinguishingMark,
    EyeColour,
    HairColour,
    IdentifierKind,
    MarkKind,
    NameKind,
    Person,
    PersonIdentifier,
    PersonName,
    PhysicalDescription,
    Place,
    Sex,
)
from polex.errors import FieldError, ValidationFailed
from polex.formats.registry import Accepted, ReadResult, Rejection

FORMAT_NAME: Final = "ansi-nist-itl"

FS: Final = b"\x1c"  # ends a record
GS: Final = b"\x1d"  # separates fields
RS: Final = b"\x1e"  # separates subfields
US: Final = b"\x1f"  # separates items
_SEPARATORS: Final = frozenset("\x1c\x1d\x1e\x1f")

# Records of these types are binary: a 4-byte length, a 1-byte IDC, then fixed fields.
BINARY_TYPES: Final = frozenset({3, 4, 5, 6, 7, 8})
# The fixed fields of the binary records after LEN and IDC: (field number, size in bytes).
_BINARY_LAYOUTS: Final[Mapping[int, tuple[tuple[int, int], ...]]] = {
    **dict.fromkeys((3, 4, 5, 6), ((3, 1), (4, 6), (5, 1), (6, 2), (7, 2), (8, 1))),
    7: (),
    8: ((3, 1), (4, 1), (5, 1), (6, 2), (7, 2)),
}
_UNUSED_POSITION: Final = 255  # an empty slot of the six finger positions of Types 3-6
_BINARY_DATA_FIELD: Final[Mapping[int, int]] = {3: 9, 4: 9, 5: 9, 6: 9, 7: 3, 8: 8}
DATA_FIELD: Final = 999  # the binary data of a tagged record, always its last field

# Tagged image records: HLL 6, VLL 7, SLC 8, THPS 9, TVPS 10, CGA 11; and for friction ridge
# images also IMP 3, BPX 12, FGP 13.
_TAGGED_IMAGE_TYPES: Final = frozenset({10, 13, 14, 15, 16})
_FRICTION_RIDGE_TYPES: Final = frozenset({13, 14, 15})

# Compression codes of the binary records (GCA/BCA) and their tagged-record names.
COMPRESSION_CODES: Final[Mapping[int, str]] = {
    0: "NONE",
    1: "WSQ20",
    2: "JPEGB",
    3: "JPEGL",
    4: "JP2",
    5: "JP2L",
    6: "PNG",
}

_MNEMONICS: Final[Mapping[int, Mapping[int, str]]] = {
    1: {
        1: "LEN",
        2: "VER",
        3: "CNT",
        4: "TOT",
        5: "DAT",
        6: "PRY",
        7: "DAI",
        8: "ORI",
        9: "TCN",
        10: "TCR",
        11: "NSR",
        12: "NTR",
        13: "DOM",
        14: "GMT",
        15: "DCS",
        16: "APS",
        17: "ANM",
        18: "GNS",
    },
    **{
        record_type: {1: "LEN", 2: "IDC", 3: "IMP", 4: "FGP", 5: "ISR", 6: "HLL", 7: "VLL", 8: compression, 9: "DATA"}
        for record_type, compression in ((3, "GCA"), (4, "GCA"), (5, "BCA"), (6, "BCA"))
    },
    7: {1: "LEN", 2: "IDC", 3: "DATA"},
    8: {1: "LEN", 2: "IDC", 3: "SIG", 4: "SRT", 5: "ISR", 6: "HLL", 7: "VLL", 8: "DATA"},
    10: {
        1: "LEN",
        2: "IDC",
        3: "IMT",
        4: "SRC",
        5: "PHD",
        6: "HLL",
        7: "VLL",
        8: "SLC",
        9: "THPS",
        10: "TVPS",
        11: "CGA",
        12: "CSP",
        13: "SAP",
        20: "POS",
        21: "POA",
        40: "SMT",
        999: "DATA",
    },
    **{
        record_type: {
            1: "LEN",
            2: "IDC",
            3: "IMP",
            4: "SRC",
            5: {13: "LCD", 14: "FCD", 15: "PCD"}[record_type],
            6: "HLL",
            7: "VLL",
            8: "SLC",
            9: "THPS",
            10: "TVPS",
            11: "CGA",
            12: "BPX",
            13: "PLP" if record_type == 15 else "FGP",
            20: "COM",
            999: "DATA",
        }
        for record_type in (13, 14, 15)
    },
}
_EBTS_MNEMONICS: Final[Mapping[int, str]] = {
    1: "LEN",
    2: "IDC",
    5: "RET",
    9: "OCA",
    14: "FBI",
    15: "SID",
    16: "SOC",
    17: "MNU",
    18: "NAM",
    19: "AKA",
    20: "POB",
    21: "CTZ",
    22: "DOB",
    24: "SEX",
    25: "RAC",
    26: "SMT",
    27: "HGT",
    29: "WGT",
    31: "EYE",
    32: "HAI",
}
_GENERIC_MNEMONICS: Final[Mapping[int, str]] = {1: "LEN", 2: "IDC", 999: "DATA"}


def field_label(record_type: int, number: int, *, ebts: bool = False) -> str:
    """``14.001 LEN``: the field's number and, where known, its mnemonic."""
    if record_type == 2:
        names = _EBTS_MNEMONICS if ebts else _GENERIC_MNEMONICS
    else:
        names = _MNEMONICS.get(record_type, _GENERIC_MNEMONICS)
    mnemonic = names.get(number)
    return f"{record_type}.{number:03d}" + (f" {mnemonic}" if mnemonic else "")


# --- Problems ----------------------------------------------------------------------------


class Problem(BaseModel):
    """One thing wrong with a transaction: the field (``2.022 DOB``), why, and where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str
    reason: str
    location: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}" + (f" ({self.location})" if self.location else "")


class AnsiNistError(ValidationFailed, ValueError):
    """A transaction that cannot be read or written. ``field``, ``reason`` and ``location``
    describe the first problem; ``problems`` holds all that were found."""

    title = "Invalid ANSI/NIST-ITL transaction"
    slug = "invalid-ansi-nist-itl"

    def __init__(
        self, field: str, reason: str, *, location: str | None = None, problems: Sequence[Problem] = ()
    ) -> None:
        first = Problem(field=field, reason=reason, location=location)
        self.field = field
        self.reason = reason
        self.location = location
        self.problems: tuple[Problem, ...] = tuple(problems) or (first,)
        more = len(self.problems) - 1
        detail = str(first) + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
        super().__init__(detail, errors=[FieldError(problem.field, problem.reason) for problem in self.problems])

    @classmethod
    def from_problems(cls, problems: Sequence[Problem]) -> AnsiNistError:
        first = problems[0]
        return cls(first.field, first.reason, location=first.location, problems=problems)


# --- The transaction ---------------------------------------------------------------------

Items = Annotated[tuple[str, ...], Field(min_length=1)]
FieldValue = Annotated[tuple[Items, ...], Field(min_length=1)]
"""A field's value: its subfields (separated by RS), each of its items (separated by US).
``"DOE,JOHN"`` is ``(("DOE,JOHN",),)``; ``"1^_15^^2^_00"`` is ``(("1", "15"), ("2", "00"))``."""


def text(value: str) -> FieldValue:
    """The value of a field that holds one text."""
    return ((value,),)


def subfields(*values: str) -> FieldValue:
    """The value of a field that holds one text per subfield."""
    return tuple((value,) for value in values)


def as_text(value: FieldValue) -> str:
    """A field's value as written, with ``^`` for RS and ``|`` for US: for messages."""
    return "^".join("|".join(items) for items in value)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")


class DomainName(_Model):
    """1.013 DOM: the profile the Type-2 (and other user-defined) fields follow."""

    name: str = Field(min_length=1)
    version: str | None = Field(default=None, description="None when absent; '' when sent empty")


class CharacterSet(_Model):
    """One entry of 1.015 DCS."""

    index: str = Field(min_length=1, description="'000' ASCII, '001' ISO 8859-1, '003' UTF-8 ...")
    name: str
    version: str | None = None


_TYPE1_MODELLED: Final = frozenset(range(1, 16))


class Header(_Model):
    """The Type-1 record. LEN and CNT are not held: they are computed when writing."""

    version: str = Field(min_length=1, description="1.002 VER, e.g. '0500' for ANSI/NIST-ITL 1-2011")
    transaction_type: str = Field(min_length=1, description="1.004 TOT, e.g. 'CAR', 'MPR', 'AMN'")
    date: dt.date = Field(description="1.005 DAT")
    priority: int | None = Field(default=None, ge=1, le=9, description="1.006 PRY, 1 is the most urgent")
    destination_agency: str = Field(min_length=1, description="1.007 DAI")
    originating_agency: str = Field(min_length=1, description="1.008 ORI")
    control_number: str = Field(min_length=1, description="1.009 TCN")
    control_reference: str | None = Field(default=None, description="1.010 TCR: the TCN this answers")
    native_scanning_resolution: str = Field(default="00.00", description="1.011 NSR, pixels per mm")
    nominal_transmitting_resolution: str = Field(default="00.00", description="1.012 NTR, pixels per mm")
    domain: DomainName | None = Field(default=None, description="1.013 DOM")
    gmt: dt.datetime | None = Field(default=None, description="1.014 GMT, in UTC")
    character_sets: list[CharacterSet] = Field(default_factory=list, description="1.015 DCS")
    other_fields: dict[Annotated[int, Field(ge=16, le=999)], FieldValue] = Field(
        default_factory=dict, description="Type-1 fields from 1.016 on, as read"
    )

    @property
    def text_encoding(self) -> str:
        """How the text of the records after Type-1 is encoded: UTF-8 where DCS says so."""
        for charset in self.character_sets:
            if charset.index == "003" or charset.name.upper().replace("-", "") == "UTF8":
                return "utf-8"
        return "latin-1"

    @property
    def profile(self) -> Literal["ebts"] | None:
        """``ebts`` for the FBI's domain (NORAM, also the default when DOM is absent)."""
        if self.domain is None or self.domain.name.strip().upper() == "NORAM":
            return "ebts"
        return None


class DescriptiveRecord(_Model):
    """A Type-2 record: every field as read (but LEN and IDC), and the person it describes
    where the profile is known. ``fields`` is what is written; ``person`` is read from them."""

    record_type: Literal[2] = 2
    idc: int = Field(ge=0, le=255)
    fields: dict[Annotated[int, Field(ge=3, le=999)], FieldValue] = Field(default_factory=dict)
    person: Person | None = None


class Attachment(_Model):
    """Any record after Type-2, image records above all: the record's fields as read (LEN,
    IDC and the data excepted; for the binary Types 3-8, the fixed fields after IDC, as
    decimal text, the finger positions of Types 3-6 one per subfield) and its binary data."""

    record_type: int = Field(ge=3, le=99)
    idc: int = Field(ge=0, le=255)
    fields: dict[Annotated[int, Field(ge=3, le=998)], FieldValue] = Field(default_factory=dict)
    data: bytes | None = Field(default=None, description="The image (or other) data, byte for byte")

    @model_validator(mode="after")
    def _binary_fields(self) -> Attachment:
        if self.record_type in BINARY_TYPES:
            known = {number for number, _ in _BINARY_LAYOUTS[self.record_type]}
            unknown = sorted(set(self.fields) - known)
            if unknown:
                raise ValueError(
                    f"a Type-{self.record_type} record is binary and has no field "
                    + ", ".join(f"{self.record_type}.{number:03d}" for number in unknown)
                )
        return self

    @property
    def is_binary(self) -> bool:
        return self.record_type in BINARY_TYPES

    def label(self, number: int) -> str:
        return field_label(self.record_type, number)

    def _text(self, number: int) -> str | None:
        value = self.fields.get(number)
        return value[0][0] if value else None

    def _number(self, number: int) -> int | None:
        raw = self._text(number)
        return int(raw) if raw is not None and _DIGITS.fullmatch(raw) else None

    def _has_image_fields(self) -> bool:
        return self.record_type in _TAGGED_IMAGE_TYPES or self.record_type in {3, 4, 5, 6, 8}

    @property
    def sha256(self) -> str | None:
        return hashlib.sha256(self.data).hexdigest() if self.data is not None else None

    @property
    def image_type(self) -> str | None:
        """10.003 IMT: ``FACE``, ``SMT`` ..."""
        return self._text(3) if self.record_type == 10 else None

    @property
    def pose(self) -> str | None:
        """10.020 POS: ``F`` full face, ``R`` right profile, ``L`` left profile, ``A`` angled."""
        return self._text(20) if self.record_type == 10 else None

    @property
    def pose_offset_angle(self) -> int | None:
        """10.021 POA, degrees (-180 to 180)."""
        raw = self._text(21) if self.record_type == 10 else None
        return int(raw) if raw is not None and re.fullmatch(r"[+-]?[0-9]{1,3}", raw) else None

    @property
    def impression_type(self) -> int | None:
        """IMP: 0 live-scan plain, 1 live-scan rolled, 2 nonlive-scan plain, 3 nonlive-scan
        rolled, 4 latent impression ... (ANSI/NIST-ITL 1-2011 table 7)."""
        if self.record_type in {3, 4, 5, 6} | _FRICTION_RIDGE_TYPES:
            return self._number(3)
        return None

    @property
    def finger_positions(self) -> tuple[int, ...]:
        """FGP (PLP for palms): the finger or palm positions, unused slots left out."""
        if self.record_type in {3, 4, 5, 6}:
            number = 4
        elif self.record_type in _FRICTION_RIDGE_TYPES:
            number = 13
        else:
            return ()
        found = [
            int(item)
            for items in self.fields.get(number, ())
            for item in items
            if _DIGITS.fullmatch(item) and int(item) != _UNUSED_POSITION
        ]
        return tuple(found)

    @property
    def horizontal_line_length(self) -> int | None:
        """HLL: the image's width in pixels."""
        return self._number(6) if self._has_image_fields() else None

    @property
    def vertical_line_length(self) -> int | None:
        """VLL: the image's height in pixels."""
        return self._number(7) if self._has_image_fields() else None

    @property
    def bits_per_pixel(self) -> int | None:
        if self.record_type in {3, 4}:
            return 8
        if self.record_type in {5, 6, 8}:
            return 1
        return self._number(12) if self.record_type in _FRICTION_RIDGE_TYPES else None

    @property
    def compression(self) -> str | None:
        """The compression algorithm: the CGA of tagged records (``WSQ20``, ``JPEGB`` ...), the
        GCA/BCA code of Types 3-6 by name (``NONE``, ``WSQ20``), the SRT of Type-8."""
        if self.record_type in {3, 4, 5, 6}:
            code = self._number(8)
            return None if code is None else COMPRESSION_CODES.get(code, str(code))
        if self.record_type == 8:
            code = self._number(4)
            return None if code is None else ("NONE" if code == 0 else str(code))
        return self._text(11) if self.record_type in _TAGGED_IMAGE_TYPES else None

    @property
    def scanning_resolution(self) -> int | None:
        """ISR of the binary image records: 0 is the minimum (1.011 NSR), 1 the native (1.012 NTR)."""
        return self._number(5) if self.record_type in {3, 4, 5, 6, 8} else None

    @property
    def pixel_scale(self) -> tuple[int, int, int] | None:
        """SLC (0 aspect ratio only, 1 pixels per inch, 2 pixels per cm), THPS, TVPS."""
        if self.record_type not in _TAGGED_IMAGE_TYPES:
            return None
        units, horizontal, vertical = self._number(8), self._number(9), self._number(10)
        if units is None or horizontal is None or vertical is None:
            return None
        return units, horizontal, vertical

    def pixels_per_inch(self, header: Header | None = None) -> float | None:
        """The horizontal resolution; the binary records need the header's NSR or NTR."""
        scale = self.pixel_scale
        if scale is not None:
            units, horizontal, _ = scale
            return float(horizontal) if units == 1 else horizontal * 2.54 if units == 2 else None
        code = self.scanning_resolution
        if code is None or header is None:
            return None
        ppmm = header.native_scanning_resolution if code == 0 else header.nominal_transmitting_resolution
        try:
            value = float(ppmm)
        except ValueError:
            return None
        return value * 25.4 if value > 0 else None


TransactionRecord = Annotated[DescriptiveRecord | Attachment, Field(union_mode="smart")]


class Transaction(_Model):
    """One ANSI/NIST-ITL transaction, in the order of its records (Type-1 is ``header``)."""

    header: Header
    records: list[TransactionRecord] = Field(default_factory=list)
    provenance: Provenance = Field(default_factory=lambda: Provenance(source_format=FORMAT_NAME))
    warnings: list[Problem] = Field(default_factory=list, description="Problems with values, found on reading")

    @property
    def content(self) -> list[tuple[int, int]]:
        """1.003 CNT as it is written: ``(1, number of other records)``, then (type, IDC) of each."""
        return [(1, len(self.records)), *((record.record_type, record.idc) for record in self.records)]

    @property
    def descriptive(self) -> list[DescriptiveRecord]:
        return [record for record in self.records if isinstance(record, DescriptiveRecord)]

    @property
    def attachments(self) -> list[Attachment]:
        return [record for record in self.records if isinstance(record, Attachment)]

    @property
    def person(self) -> Person | None:
        """The person of the first Type-2 record that describes one (its profile known)."""
        return next((record.person for record in self.descriptive if record.person is not None), None)

    def records_of_type(self, record_type: int) -> list[DescriptiveRecord | Attachment]:
        return [record for record in self.records if record.record_type == record_type]


# --- Reading: records and fields ---------------------------------------------------------

_DIGITS: Final = re.compile(r"[0-9]{1,9}")
_TAG: Final = re.compile(rb"([0-9]{1,2})\.([0-9]{1,3}):")
_LENGTH_FIELD: Final = re.compile(rb"([0-9]{1,2})\.0{0,2}1:([0-9]{1,10})(?=[\x1c\x1d])")


@dataclass
class _Raw:
    """One record as framed: where it is, its fields as bytes (binary fields as text)."""

    index: int  # 1-based, Type-1 is record 1
    record_type: int
    offset: int
    length: int
    idc: int | None
    fields: dict[int, bytes] = field(default_factory=dict)
    data: bytes | None = None

    def where(self) -> str:
        return f"record {self.index} (Type-{self.record_type}), byte {self.offset}"


def _fail(field_name: str, reason: str, location: str | None = None) -> AnsiNistError:
    return AnsiNistError(field_name, reason, location=location)


def _listed_wrongly(record_type: int, index: int, found: int, offset: int) -> AnsiNistError:
    reason = f"lists a Type-{record_type} record as record {index}, but a Type-{found} record is there"
    return _fail("1.003 CNT", reason, f"byte {offset}")


def _number_or_none(raw: bytes) -> int | None:
    return int(raw) if re.fullmatch(rb"[0-9]{1,9}", raw) else None


class _Framer:
    """Splits a transaction into records and fields, checking every length against where a
    record really ends."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def tagged(self, offset: int, record_type: int, index: int, previous: _Raw | None) -> _Raw:
        data = self.data
        match = _LENGTH_FIELD.match(data, offset)
        if match is None or int(match.group(1)) != record_type:
            raise self._bad_start(offset, record_type, index, previous, match)
        length = int(match.group(2))
        label = field_label(record_type, 1)
        where = f"record {index} (Type-{record_type}), byte {offset}"
        remaining = len(data) - offset
        if length > remaining:
            raise _fail(
                label,
                f"says record {index} is {length} bytes long, but only {remaining} bytes are left: "
                "the transaction is truncated, or the length is wrong",
                where,
            )
        if length < match.end() - offset + 1:
            raise _fail(
                label, f"says record {index} is {length} bytes long, shorter than the length field itself", where
            )
        if data[offset + length - 1 : offset + length] != FS:
            raise _fail(label, self._no_separator(offset, length, record_type, index), where)
        raw = _Raw(index=index, record_type=record_type, offset=offset, length=length, idc=None)
        self._fields(raw, data[offset : offset + length - 1])
        if record_type != 1:
            idc = raw.fields.get(2)
            if idc is None:
                raise _fail(field_label(record_type, 2), "missing: every record after Type-1 has an IDC", where)
            raw.idc = _number_or_none(idc)
            if raw.idc is None or raw.idc > 255:
                raise _fail(field_label(record_type, 2), f"{idc.decode('latin-1')!r} is not an IDC (0-99)", where)
        return raw

    def _no_separator(self, offset: int, length: int, record_type: int, index: int) -> str:
        data = self.data
        data_tag = GS + f"{record_type}.{DATA_FIELD}:".encode()
        has_data = record_type > 2 and data.find(data_tag, offset, offset + length) != -1
        first_fs = data.find(FS, offset)
        if not has_data and first_fs != -1:
            return (
                f"says record {index} is {length} bytes long, but the record ends with FS after "
                f"{first_fs - offset + 1} bytes"
            )
        last = offset + length - 1
        return f"says record {index} is {length} bytes long, but byte {last} is not the FS that ends a record"

    def _bad_start(
        self, offset: int, record_type: int, index: int, previous: _Raw | None, match: re.Match[bytes] | None
    ) -> AnsiNistError:
        where = f"byte {offset}"
        if index == 1:
            return _fail("1.001 LEN", "the transaction does not start with the Type-1 length field '1.001:'", where)
        if match is not None:
            return _listed_wrongly(record_type, index, int(match.group(1)), offset)
        if previous is not None and previous.record_type in BINARY_TYPES:
            return self._blame_previous(previous, index, record_type, offset)
        return _fail(
            field_label(record_type, 1),
            f"record {index} (Type-{record_type}, as 1.003 CNT lists it) does not start with its length field",
            where,
        )

    def _blame_previous(self, previous: _Raw, index: int, record_type: int, offset: int) -> AnsiNistError:
        return _fail(
            field_label(previous.record_type, 1),
            f"says record {previous.index} is {previous.length} bytes long, but record {index} "
            f"(Type-{record_type}, as 1.003 CNT lists it) does not start where that ends",
            previous.where(),
        )

    def _fields(self, raw: _Raw, body: bytes) -> None:
        """Split a tagged record (without its FS) into fields; 999 holds the rest, as bytes."""
        position = 0
        record_type = raw.record_type
        while position < len(body):
            tag = _TAG.match(body, position)
            where = f"record {raw.index} (Type-{record_type}), byte {raw.offset + position}"
            if tag is None:
                shown = body[position : position + 12].decode("latin-1")
                reason = f"{shown!r} does not start with a field tag ('{record_type}.NNN:')"
                raise _fail(f"Type-{record_type} record", reason, where)
            tagged_type, number = int(tag.group(1)), int(tag.group(2))
            if tagged_type != record_type:
                raise _fail(
                    f"{tagged_type}.{number:03d}",
                    f"is a Type-{tagged_type} field in a Type-{record_type} record",
                    where,
                )
            if number == 0:
                raise _fail(f"{record_type}.000", "is not a field number (they start at 1)", where)
            if number in raw.fields or (number == DATA_FIELD and raw.data is not None):
                raise _fail(field_label(record_type, number), "appears twice in the record", where)
            if number == DATA_FIELD and record_type > 2:
                raw.data = body[tag.end() :]
                return
            end = body.find(GS, tag.end())
            if end == -1:
                end = len(body)
            elif end == len(body) - 1:
                raise _fail(field_label(record_type, number), "is followed by a GS but no other field", where)
            value = body[tag.end() : end]
            if FS in value:
                raise _fail(field_label(record_type, number), "holds the record separator FS", where)
            raw.fields[number] = value  # the first is LEN: the caller matched it
            position = end + 1

    def binary(self, offset: int, record_type: int, index: int, idc: int, previous: _Raw) -> _Raw:
        data = self.data
        layout = _BINARY_LAYOUTS[record_type]
        header_size = 5 + sum(size for _, size in layout)
        remaining = len(data) - offset
        where = f"record {index} (Type-{record_type}), byte {offset}"
        label = field_label(record_type, 1)
        tagged = _LENGTH_FIELD.match(data, offset)
        if tagged is not None:
            raise _listed_wrongly(record_type, index, int(tagged.group(1)), offset)
        suspect = previous.record_type in BINARY_TYPES
        if remaining < header_size:
            if suspect:
                raise self._blame_previous(previous, index, record_type, offset)
            raise _fail(
                label,
                f"record {index} needs at least {header_size} bytes, but only {remaining} are left: "
                "the transaction is truncated",
                where,
            )
        (length,) = struct.unpack_from(">I", data, offset)
        found_idc = data[offset + 4]
        if length > remaining or length < header_size or found_idc != idc:
            if suspect:
                raise self._blame_previous(previous, index, record_type, offset)
            if found_idc != idc:
                raise _fail(
                    field_label(record_type, 2),
                    f"is {found_idc} where 1.003 CNT lists {idc:02d} for record {index}",
                    where,
                )
            if length < header_size:
                raise _fail(
                    label,
                    f"says record {index} is {length} bytes long, shorter than its {header_size} fixed bytes",
                    where,
                )
            raise _fail(
                label,
                f"says record {index} is {length} bytes long, but only {remaining} bytes are left: "
                "the transaction is truncated, or the length is wrong",
                where,
            )
        raw = _Raw(index=index, record_type=record_type, offset=offset, length=length, idc=found_idc)
        position = offset + 5
        for number, size in layout:
            chunk = data[position : position + size]
            if number == 4 and record_type in {3, 4, 5, 6}:
                raw.fields[number] = RS.join(str(byte).encode() for byte in chunk)
            else:
                raw.fields[number] = str(int.from_bytes(chunk, "big")).encode()
            position += size
        raw.data = data[position : offset + length]
        return raw


def _content(value: bytes, label: str, where: str) -> list[tuple[int, int]]:
    """1.003 CNT: (1, count), then (type, IDC) of each record."""
    entries: list[tuple[int, int]] = []
    for number, subfield in enumerate(value.split(RS), 1):
        items = subfield.split(US)
        numbers = [_number_or_none(item) for item in items]
        if len(items) != 2 or None in numbers:
            shown = subfield.decode("latin-1")
            raise _fail(label, f"subfield {number} {shown!r} is not two numbers (record type, IDC)", where)
        record_type, idc = (found for found in numbers if found is not None)
        entries.append((record_type, idc))
    first_type, count = entries[0]
    if first_type != 1:
        raise _fail(
            label, f"the first subfield is for Type-{first_type}; it must be 1 and the number of records", where
        )
    if count != len(entries) - 1:
        raise _fail(label, f"says {count} records follow the Type-1 record, but lists {len(entries) - 1}", where)
    for number, (record_type, idc) in enumerate(entries[1:], 2):
        if record_type in (0, 1) or record_type > 99:
            raise _fail(
                label, f"subfield {number} lists a Type-{record_type} record, which cannot follow Type-1", where
            )
        if idc > 255:
            raise _fail(label, f"subfield {number} gives IDC {idc}, which is not an IDC (0-99)", where)
    return entries


def _frame(data: bytes) -> tuple[_Raw, list[_Raw], list[tuple[int, int]]]:
    if not data:
        raise _fail("1.001 LEN", "the input is empty", "byte 0")
    framer = _Framer(data)
    first = framer.tagged(0, 1, 1, None)
    cnt = first.fields.get(3)
    if cnt is None:
        raise _fail("1.003 CNT", "missing: the Type-1 record must list the records that follow", first.where())
    content = _content(cnt, "1.003 CNT", first.where())
    records: list[_Raw] = []
    offset = first.length
    previous = first
    for index, (record_type, idc) in enumerate(content[1:], 2):
        if offset >= len(data):
            raise _fail(
                "1.003 CNT",
                f"lists {len(content) - 1} records after Type-1, but the transaction ends after record {index - 1}: "
                "it is truncated",
                f"byte {offset}",
            )
        if record_type in BINARY_TYPES:
            raw = framer.binary(offset, record_type, index, idc, previous)
        else:
            raw = framer.tagged(offset, record_type, index, previous)
            if raw.idc != idc:
                raise _fail(
                    field_label(record_type, 2),
                    f"is {raw.idc:02d} where 1.003 CNT lists {idc:02d} for record {index}",
                    raw.where(),
                )
        records.append(raw)
        offset += raw.length
        previous = raw
    if offset < len(data):
        left = len(data) - offset
        if previous.record_type in BINARY_TYPES:
            raise _fail(
                field_label(previous.record_type, 1),
                f"says record {previous.index} is {previous.length} bytes long, but {left} bytes are left after it, "
                "the last record 1.003 CNT lists",
                previous.where(),
            )
        raise _fail("1.003 CNT", f"{left} bytes follow the last record it lists", f"byte {offset}")
    return first, records, content


def _decode(raw: bytes, encoding: str, label: str, where: str) -> FieldValue:
    try:
        return tuple(tuple(item.decode(encoding) for item in sub.split(US)) for sub in raw.split(RS))
    except UnicodeDecodeError as error:
        raise _fail(
            label, f"is not valid {encoding.upper()} (byte {error.start}), as 1.015 DCS declares", where
        ) from None


# --- Reading: the header -----------------------------------------------------------------

_TYPE1_MANDATORY: Final = (2, 3, 4, 5, 7, 8, 9, 11, 12)


def _date(raw: str) -> dt.date | None:
    match = re.fullmatch(r"([0-9]{4})([0-9]{2})([0-9]{2})", raw)
    if match is None:
        return None
    try:
        return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def _gmt(raw: str) -> dt.datetime | None:
    match = re.fullmatch(r"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})Z", raw)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    try:
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError:
        return None


def _header(raw: _Raw) -> Header:
    where = raw.where()
    values = {number: _decode(value, "latin-1", field_label(1, number), where) for number, value in raw.fields.items()}
    problems: list[Problem] = []

    def problem(number: int, reason: str) -> None:
        problems.append(Problem(field=field_label(1, number), reason=reason, location=where))

    for number in _TYPE1_MANDATORY:
        if number not in values:
            problem(number, "missing: the field is mandatory")

    def single(number: int) -> str | None:
        value = values.get(number)
        if value is None:
            return None
        if len(value) != 1 or len(value[0]) != 1:
            problem(number, f"{as_text(value)!r} has subfields or items where one value is expected")
            return None
        return value[0][0]

    version = single(2)
    transaction_type = single(4)
    raw_date = single(5)
    date = _date(raw_date) if raw_date is not None else None
    if raw_date is not None and date is None:
        problem(5, f"{raw_date!r} is not a date (YYYYMMDD)")
    raw_priority = single(6)
    priority = int(raw_priority) if raw_priority is not None and re.fullmatch("[1-9]", raw_priority) else None
    if raw_priority is not None and priority is None:
        problem(6, f"{raw_priority!r} is not a priority (1-9)")
    texts = {number: single(number) for number in (7, 8, 9, 10, 11, 12)}
    for number, value in ((2, version), (4, transaction_type), (7, texts[7]), (8, texts[8]), (9, texts[9])):
        if value is not None and not value.strip():
            problem(number, "is empty")
    control = texts[9]
    if control is not None and (_CONTROL.search(control) or len(control.strip()) > 500):
        problem(9, f"{control!r} is not a transaction control number (printable, up to 500 characters)")
    raw_gmt = single(14)
    gmt = _gmt(raw_gmt) if raw_gmt is not None else None
    if raw_gmt is not None and gmt is None:
        problem(14, f"{raw_gmt!r} is not a UTC date and time (YYYYMMDDhhmmssZ)")
    domain = None
    if 13 in values:
        dom = values[13]
        if len(dom) != 1 or len(dom[0]) > 2 or not dom[0][0]:
            problem(13, f"{as_text(dom)!r} is not a domain name and version")
        else:
            domain = DomainName(name=dom[0][0], version=dom[0][1] if len(dom[0]) > 1 else None)
    character_sets = []
    for items in values.get(15, ()):
        if not 2 <= len(items) <= 3 or not items[0]:
            problem(15, f"{'|'.join(items)!r} is not a character set (index, name, version)")
            continue
        character_sets.append(CharacterSet(index=items[0], name=items[1], version=items[2] if len(items) > 2 else None))
    if problems:
        raise AnsiNistError.from_problems(problems)
    try:  # the mandatory fields are all there and well formed: pydantic sees them present
        return Header(
            version=version,
            transaction_type=transaction_type,
            date=date,
            priority=priority,
            destination_agency=texts[7],
            originating_agency=texts[8],
            control_number=texts[9],
            control_reference=texts[10],
            native_scanning_resolution=texts[11],
            nominal_transmitting_resolution=texts[12],
            domain=domain,
            gmt=gmt,
            character_sets=character_sets,
            other_fields={number: value for number, value in values.items() if number not in _TYPE1_MODELLED},
        )
    except ValidationError as error:  # only what the checks above let through: say which
        first = error.errors()[0]
        raise _fail("Type-1 record", f"{'.'.join(map(str, first['loc']))}: {first['msg']}", where) from None


# --- Reading: Type-2 as a person (EBTS) --------------------------------------------------

_EBTS_SEX: Final[Mapping[str, Sex]] = {
    "M": Sex.MALE,
    "F": Sex.FEMALE,
    "X": Sex.UNKNOWN,
    "U": Sex.UNKNOWN,
    "N": Sex.UNKNOWN,
}
_EBTS_EYES: Final[Mapping[str, EyeColour]] = {
    "BLK": EyeColour.BLACK,
    "BLU": EyeColour.BLUE,
    "BRO": EyeColour.BROWN,
    "GRY": EyeColour.GRAY,
    "GRN": EyeColour.GREEN,
    "HAZ": EyeColour.HAZEL,
    "MAR": EyeColour.MAROON,
    "MUL": EyeColour.MULTICOLOURED,
    "PNK": EyeColour.PINK,
    "XXX": EyeColour.UNKNOWN,
}
_EBTS_HAIR: Final[Mapping[str, HairColour]] = {
    "BAL": HairColour.BALD,
    "BLK": HairColour.BLACK,
    "BLN": HairColour.BLOND,
    "BRO": HairColour.BROWN,
    "GRY": HairColour.GRAY,
    "RED": HairColour.RED,
    "SDY": HairColour.SANDY,
    "WHI": HairColour.WHITE,
    "BLU": HairColour.BLUE,
    "GRN": HairColour.GREEN,
    "ONG": HairColour.ORANGE,
    "PNK": HairColour.PINK,
    "PLE": HairColour.PURPLE,
    "XXX": HairColour.UNKNOWN,
}
# 2.017 MNU identifying codes that have a kind of their own; the others are "other".
_MNU_KINDS: Final[Mapping[str, tuple[IdentifierKind, str | None]]] = {
    "PP": (IdentifierKind.PASSPORT, None),
    "OA": (IdentifierKind.POLICE_REFERENCE, None),
    "CI": (IdentifierKind.SOCIAL_SECURITY, "CAN"),
    "MP": (IdentifierKind.POLICE_REFERENCE, "CAN"),
}
_MARK_PREFIXES: Final = (("TAT", MarkKind.TATTOO), ("SC", MarkKind.SCAR))
_Code = TypeVar("_Code", EyeColour, HairColour)
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BIRTH_DATE: Final = TypeAdapter(PastPartialDate)
_CM_PER_INCH: Final = 2.54
_KG_PER_POUND: Final = 0.45359237


def _reason(error: ValidationError) -> str:
    message = str(error.errors()[0]["msg"])
    return message.removeprefix("Value error, ")


class _EbtsPerson:
    """Reads the demographics of one EBTS Type-2 record; every value that cannot be used is a
    problem naming its field, and is left out."""

    def __init__(self, fields: Mapping[int, FieldValue], path: str, where: str) -> None:
        self.fields = fields
        self.path = path
        self.where = where
        self.problems: list[Problem] = []
        self.originals: dict[str, str] = {}

    def problem(self, number: int, reason: str) -> None:
        self.problems.append(Problem(field=field_label(2, number, ebts=True), reason=reason, location=self.where))

    def original(self, path: str, value: str) -> None:
        if not _CONTROL.search(value):
            self.originals[f"{self.path}/{path}"] = value

    def values(self, number: int) -> list[str]:
        """Each non-blank subfield's first item."""
        return [items[0].strip() for items in self.fields.get(number, ()) if items[0].strip()]

    def one(self, number: int) -> str | None:
        found = self.values(number)
        return found[0] if found else None

    def name(self, number: int, raw: str, kind: NameKind) -> PersonName | None:
        family, _, given = raw.partition(",")
        family, given = family.strip(), given.strip()
        full = f"{given} {family}".strip() if family else given
        try:
            return PersonName(full=full, given=given or None, family=family or None, kind=kind)
        except ValidationError as error:
            self.problem(number, f"{raw!r} is not a name: {_reason(error)}")
            return None

    def birth_date(self, raw: str) -> str | None:
        match = re.fullmatch(r"([0-9]{4})([0-9]{2})([0-9]{2})", raw)
        if match is None:
            self.problem(22, f"{raw!r} is not a date (YYYYMMDD)")
            return None
        year, month, day = match.groups()
        if month == "00" and day != "00":
            self.problem(22, f"{raw!r} is not a date (a day without a month)")
            return None
        text = year if month == "00" else f"{year}-{month}" if day == "00" else f"{year}-{month}-{day}"
        try:
            return str(_BIRTH_DATE.validate_python(text))
        except ValidationError as error:
            self.problem(22, f"{raw!r} is not a date ({_reason(error)})")
            return None

    def sex(self) -> Sex:
        raw = self.one(24)
        if raw is None:
            return Sex.UNKNOWN
        sex = _EBTS_SEX.get(raw.upper())
        if sex is None:
            self.problem(24, f"{raw!r} is not a sex code (M, F, X, U, N)")
            return Sex.UNKNOWN
        return sex

    def physical(self) -> PhysicalDescription | None:
        height = self.height()
        weight = self.weight()
        eyes = self.code(31, _EBTS_EYES, "an eye colour code")
        hair = self.code(32, _EBTS_HAIR, "a hair colour code")
        marks = self.marks()
        if height is None and weight is None and eyes is None and hair is None and not marks:
            return None
        return PhysicalDescription(height_cm=height, weight_kg=weight, eye_colour=eyes, hair_colour=hair, marks=marks)

    def height(self) -> int | None:
        raw = self.one(27)
        if raw is None or raw == "000":
            return None
        match = re.fullmatch(r"([0-9])([0-9]{2})", raw)
        if match is None or int(match.group(2)) > 11:
            self.problem(27, f"{raw!r} is not a height in feet and inches (e.g. 510 for 5'10\")")
            return None
        centimetres = round((int(match.group(1)) * 12 + int(match.group(2))) * _CM_PER_INCH)
        if not 30 <= centimetres <= 275:
            self.problem(27, f"{raw!r} ({centimetres} cm) is not a human height")
            return None
        self.original("physical/height_cm", raw)
        return centimetres

    def weight(self) -> int | None:
        raw = self.one(29)
        if raw is None or raw == "000":
            return None
        if not re.fullmatch(r"[0-9]{1,4}", raw):
            self.problem(29, f"{raw!r} is not a weight in pounds")
            return None
        kilograms = round(int(raw) * _KG_PER_POUND)
        if not 1 <= kilograms <= 700:
            self.problem(29, f"{raw!r} ({kilograms} kg) is not a human weight")
            return None
        self.original("physical/weight_kg", raw)
        return kilograms

    def code(self, number: int, table: Mapping[str, _Code], what: str) -> _Code | None:
        raw = self.one(number)
        if raw is None:
            return None
        found = table.get(raw.upper())
        if found is None:
            self.problem(number, f"{raw!r} is not {what} ({', '.join(table)})")
            return None
        return found

    def marks(self) -> list[DistinguishingMark]:
        marks = []
        for raw in self.values(26)[:50]:
            kind = next((kind for prefix, kind in _MARK_PREFIXES if raw.upper().startswith(prefix)), MarkKind.OTHER)
            try:
                marks.append(DistinguishingMark(kind=kind, description=raw))
            except ValidationError as error:
                self.problem(26, f"{raw!r} is not a mark: {_reason(error)}")
        return marks

    def identifiers(self) -> list[PersonIdentifier]:
        found: list[PersonIdentifier] = []
        sources: list[tuple[int, IdentifierKind, str | None]] = [
            (14, IdentifierKind.POLICE_REFERENCE, "USA"),
            (15, IdentifierKind.POLICE_REFERENCE, "USA"),
            (16, IdentifierKind.SOCIAL_SECURITY, "USA"),
        ]
        for number, kind, country in sources:
            for raw in self.values(number):
                self.identifier(number, kind, raw, country, found)
        for raw in self.values(17):
            code, dash, value = raw.partition("-")
            known = _MNU_KINDS.get(code.upper()) if dash and value else None
            if known is None:
                self.identifier(17, IdentifierKind.OTHER, raw, None, found)
            else:
                self.identifier(17, known[0], value, known[1], found)
        return found[:100]

    def identifier(
        self, number: int, kind: IdentifierKind, value: str, country: str | None, found: list[PersonIdentifier]
    ) -> None:
        try:
            found.append(PersonIdentifier(kind=kind, value=value, country=country))
        except ValidationError as error:
            self.problem(number, f"{value!r} is not an identifier: {_reason(error)}")

    def birth_place(self) -> Place | None:
        raw = self.one(20)
        if raw is None:
            return None
        try:
            return Place(country=raw.upper()) if is_country_code(raw.upper()) else Place(place=raw)
        except ValidationError as error:
            self.problem(20, f"{raw!r} is not a place: {_reason(error)}")
            return None

    def nationalities(self) -> tuple[list[str], list[str]]:
        codes: list[str] = []
        other: list[str] = []
        for raw in self.values(21):
            if is_country_code(raw.upper()):
                codes.append(raw.upper())
            else:
                other.append(raw)
        return list(dict.fromkeys(codes))[:10], other

    def person(self) -> Person | None:
        names = []
        raw_name = self.one(18)
        if raw_name is not None:
            primary = self.name(18, raw_name, NameKind.PRIMARY)
            if primary is not None:
                names.append(primary)
                if primary.full != raw_name:
                    self.original("names/0/full", raw_name)
        for raw in self.values(19)[:99]:
            alias = self.name(19, raw, NameKind.ALIAS)
            if alias is not None:
                names.append(alias)
        birth_dates = []
        for raw in self.values(22)[:20]:
            date = self.birth_date(raw)
            if date is not None:
                birth_dates.append(date)
        sex = self.sex()
        physical = self.physical()
        identifiers = self.identifiers()
        birth_place = self.birth_place()
        nationalities, other_citizenships = self.nationalities()
        if not names or names[0].kind is not NameKind.PRIMARY:
            if self.fields.keys() & {19, 20, 21, 22, 24, 27, 29, 31, 32}:
                self.problem(18, "missing or unusable: without a name the demographics stay in the Type-2 fields only")
            return None
        remarks = None
        if other_citizenships:
            remarks = "2.021 CTZ (not ISO 3166-1 codes): " + ", ".join(other_citizenships)
        try:
            return Person(
                names=names,
                sex=sex,
                birth_dates=birth_dates,
                birth_place=birth_place,
                nationalities=nationalities,
                identifiers=identifiers,
                physical=physical,
                remarks=remarks[:500] if remarks else None,
            )
        except ValidationError as error:
            self.problem(18, f"the demographics do not make a person: {_reason(error)}")
            return None


def person_from_ebts(
    fields: Mapping[int, FieldValue], *, path: str = "person", location: str | None = None
) -> tuple[Person | None, list[Problem], dict[str, str]]:
    """The person an EBTS Type-2 record describes (None without a usable 2.018 NAM), the
    problems with its values, and the original of each value that was converted."""
    reader = _EbtsPerson(fields, path, location or "Type-2 record")
    person = reader.person()
    return person, reader.problems, reader.originals


_EYE_CODES: Final = {colour: code for code, colour in _EBTS_EYES.items()}
_HAIR_CODES: Final = {colour: code for code, colour in _EBTS_HAIR.items()}
_SEX_CODES: Final = {Sex.MALE: "M", Sex.FEMALE: "F"}


def _ebts_identifier(identifier: PersonIdentifier) -> tuple[int, str]:
    """Where an identifier goes in EBTS: SOC and FBI for the US ones, MNU for the rest."""
    kind, value, country = identifier.kind, identifier.value, identifier.country
    if kind is IdentifierKind.SOCIAL_SECURITY and country in (None, "USA"):
        return 16, value
    if kind is IdentifierKind.POLICE_REFERENCE and country == "USA":
        return 14, value
    for code, (mnu_kind, mnu_country) in _MNU_KINDS.items():
        if kind is mnu_kind and country == mnu_country:
            return 17, f"{code}-{value}"
    return 17, value


def ebts_fields(person: Person) -> dict[int, FieldValue]:
    """EBTS Type-2 fields for a person, the inverse of :func:`person_from_ebts` for what EBTS
    can say: NAM, AKA, DOB (``00`` for an unknown month or day), SEX (``X`` unless male or
    female), HGT (to the inch), WGT (to the pound), EYE, HAI, POB, CTZ, SOC, FBI (US police
    references; SID is not told apart), MNU (``PP-`` passports, ``OA-`` other police
    references ..., the rest as they are), SMT."""
    fields: dict[int, FieldValue] = {}

    def name(value: PersonName) -> str:
        if value.family:
            return f"{value.family},{value.given or ''}"
        return value.full

    primary = person.primary_name
    fields[18] = text(name(primary))
    aliases = [name(value) for value in person.names if value is not primary and value.kind is not NameKind.PRIMARY]
    if aliases:
        fields[19] = subfields(*aliases)
    if person.birth_place is not None:
        fields[20] = text(person.birth_place.country or person.birth_place.place or "")
    if person.nationalities:
        fields[21] = subfields(*person.nationalities)
    if person.birth_dates:
        fields[22] = subfields(*((date.replace("-", "") + "0000")[:8] for date in person.birth_dates))
    fields[24] = text(_SEX_CODES.get(person.sex, "X"))
    physical = person.physical
    if physical is not None:
        if physical.marks:
            fields[26] = subfields(*(mark.description or mark.kind.value.upper() for mark in physical.marks))
        if physical.height_cm is not None:
            feet, inches = divmod(round(physical.height_cm / _CM_PER_INCH), 12)
            fields[27] = text(f"{feet}{inches:02d}")
        if physical.weight_kg is not None:
            fields[29] = text(f"{round(physical.weight_kg / _KG_PER_POUND):03d}")
        if physical.eye_colour is not None:
            fields[31] = text(_EYE_CODES[physical.eye_colour])
        if physical.hair_colour is not None:
            fields[32] = text(_HAIR_CODES[physical.hair_colour])
    numbered: dict[int, list[str]] = {}
    for identifier in person.identifiers:
        number, value = _ebts_identifier(identifier)
        numbered.setdefault(number, []).append(value)
    for number, values in numbered.items():
        fields[number] = subfields(*values)
    return dict(sorted(fields.items()))


# --- Reading: the whole transaction ------------------------------------------------------


def _attachment_warnings(attachment: Attachment, where: str) -> list[Problem]:
    """Image metadata that does not add up: a number that is not one, missing image data,
    an uncompressed image whose size disagrees with its dimensions."""
    problems: list[Problem] = []
    record_type = attachment.record_type

    def problem(number: int, reason: str) -> None:
        problems.append(Problem(field=field_label(record_type, number), reason=reason, location=where))

    if record_type in _TAGGED_IMAGE_TYPES:
        numeric = [6, 7, 8, 9, 10] + ([3, 12] if record_type in _FRICTION_RIDGE_TYPES else [])
        for number in numeric:
            value = attachment.fields.get(number)
            if value is not None and not _DIGITS.fullmatch(value[0][0]):
                problem(number, f"{as_text(value)!r} is not a number")
        if attachment.data is None:
            problem(DATA_FIELD, "missing: the record has no image data")
    if attachment.compression == "NONE" and attachment.data is not None:
        width, height, depth = (
            attachment.horizontal_line_length,
            attachment.vertical_line_length,
            attachment.bits_per_pixel,
        )
        if width is not None and height is not None and depth is not None:
            expected = (width * depth + 7) // 8 * height
            if expected != len(attachment.data):
                data_field = _BINARY_DATA_FIELD.get(record_type, DATA_FIELD)
                problem(
                    data_field,
                    f"holds {len(attachment.data)} bytes where an uncompressed {width} x {height} image of "
                    f"{depth} bits per pixel has {expected}",
                )
    return problems


def read_transaction(
    data: bytes, *, strict: bool = False, profile: Literal["auto", "ebts", "none"] = "auto"
) -> Transaction:
    """Read one transaction. Structural problems raise :class:`AnsiNistError`; problems with
    values are the transaction's ``warnings`` (errors too with ``strict``). ``profile`` says
    how to read Type-2: by the domain (``auto``: EBTS for NORAM or no domain), as EBTS, or not."""
    first, raws, _ = _frame(bytes(data))
    header = _header(first)
    encoding = header.text_encoding
    ebts = profile == "ebts" or (profile == "auto" and header.profile == "ebts")
    records: list[DescriptiveRecord | Attachment] = []
    warnings: list[Problem] = []
    originals: dict[str, str] = {}
    for position, raw in enumerate(raws):
        where = raw.where()
        assert raw.idc is not None  # every record after Type-1 has one
        decoded = {
            number: _decode(value, encoding, field_label(raw.record_type, number, ebts=ebts), where)
            for number, value in raw.fields.items()
            if number > 2 or raw.record_type in BINARY_TYPES
        }
        if raw.record_type == 2:
            person = None
            if ebts:
                person, problems, found = person_from_ebts(decoded, path=f"records/{position}/person", location=where)
                warnings.extend(problems)
                originals.update(found)
            records.append(DescriptiveRecord(idc=raw.idc, fields=decoded, person=person))
        else:
            try:
                attachment = Attachment(record_type=raw.record_type, idc=raw.idc, fields=decoded, data=raw.data)
            except ValidationError as error:
                raise _fail(f"Type-{raw.record_type} record", _reason(error), where) from None
            warnings.extend(_attachment_warnings(attachment, where))
            records.append(attachment)
    if strict and warnings:
        raise AnsiNistError.from_problems(warnings)
    provenance = Provenance(
        source_format=FORMAT_NAME, source_id=header.control_number.strip(), original_values=originals
    )
    return Transaction(header=header, records=records, provenance=provenance, warnings=warnings)


# --- Writing -----------------------------------------------------------------------------


def _encode_value(value: FieldValue, encoding: str, label: str) -> bytes:
    parts = []
    for items in value:
        encoded = []
        for item in items:
            if _SEPARATORS & set(item):
                raise _fail(label, f"{item!r} holds a separator character (FS, GS, RS or US)")
            try:
                encoded.append(item.encode(encoding))
            except UnicodeEncodeError:
                raise _fail(
                    label, f"{item!r} cannot be written in ISO 8859-1; declare UTF-8 (003) in 1.015 DCS"
                ) from None
        parts.append(US.join(encoded))
    return RS.join(parts)


def _tagged_record(record_type: int, fields: Sequence[tuple[int, bytes]], data: bytes | None = None) -> bytes:
    """A tagged record: LEN (computed), the fields in the order given, DATA last, then FS."""
    body = b"".join(GS + f"{record_type}.{number:03d}:".encode() + value for number, value in fields)
    if data is not None:
        body += GS + f"{record_type}.{DATA_FIELD:03d}:".encode() + data
    body += FS
    prefix = f"{record_type}.001:".encode()
    base = len(prefix) + len(body)
    digits = 1
    while len(str(base + digits)) != digits:
        digits += 1
    return prefix + str(base + digits).encode() + body


def _binary_record(attachment: Attachment) -> bytes:
    record_type = attachment.record_type
    fixed = bytearray([attachment.idc])
    for number, size in _BINARY_LAYOUTS[record_type]:
        label = attachment.label(number)
        value = attachment.fields.get(number)
        if value is None:
            raise _fail(label, f"missing: a Type-{record_type} record needs it")
        if number == 4 and record_type in {3, 4, 5, 6}:
            positions = [item for items in value for item in items]
            if len(positions) > 6:
                raise _fail(label, f"{as_text(value)!r} holds more than six positions")
            positions += [str(_UNUSED_POSITION)] * (6 - len(positions))
            numbers = [int(item) if _DIGITS.fullmatch(item) else -1 for item in positions]
            if any(not 0 <= number <= 255 for number in numbers):
                raise _fail(label, f"{as_text(value)!r} is not up to six finger positions (0-255)")
            fixed += bytes(numbers)
            continue
        raw = value[0][0]
        number_value = int(raw) if len(value) == 1 and len(value[0]) == 1 and _DIGITS.fullmatch(raw) else -1
        if not 0 <= number_value < 256**size:
            raise _fail(label, f"{as_text(value)!r} is not a number from 0 to {256**size - 1}")
        fixed += number_value.to_bytes(size, "big")
    data = attachment.data or b""
    length = 4 + len(fixed) + len(data)
    if length >= 2**32:
        raise _fail(field_label(record_type, 1), f"the record would be {length} bytes long, more than 4 GiB")
    return struct.pack(">I", length) + bytes(fixed) + data


def write_transaction(transaction: Transaction) -> bytes:
    """The transaction in the traditional encoding, with LEN and CNT computed."""
    header = transaction.header
    encoding = header.text_encoding
    ebts = header.profile == "ebts"
    records = []
    for record in transaction.records:
        record_type = record.record_type
        if isinstance(record, Attachment) and record.is_binary:
            if record.data is None and record_type != 7:
                raise _fail(
                    field_label(record_type, _BINARY_DATA_FIELD[record_type]), "missing: a binary record needs its data"
                )
            records.append(_binary_record(record))
            continue
        fields = [(2, f"{record.idc:02d}".encode())]
        held_apart = (1, 2, DATA_FIELD) if isinstance(record, Attachment) else (1, 2)
        for number, value in record.fields.items():
            label = field_label(record_type, number, ebts=ebts)
            if number in held_apart:
                raise _fail(label, "is computed or held apart; it cannot be among the fields")
            fields.append((number, _encode_value(value, encoding, label)))
        data = record.data if isinstance(record, Attachment) else None
        records.append(_tagged_record(record_type, fields, data))
    records.insert(0, _tagged_record(1, _type1_fields(transaction)))
    return b"".join(records)


def _type1_fields(transaction: Transaction) -> list[tuple[int, bytes]]:
    header = transaction.header

    def ascii_text(number: int, value: str | FieldValue) -> tuple[int, bytes]:
        return number, _encode_value(
            text(value) if isinstance(value, str) else value, "latin-1", field_label(1, number)
        )

    content = [(str(record_type), f"{idc:02d}") for record_type, idc in transaction.content[1:]]
    date = header.date
    fields = [
        ascii_text(2, header.version),
        ascii_text(3, (("1", str(len(content))), *content)),
        ascii_text(4, header.transaction_type),
        ascii_text(5, f"{date.year:04d}{date.month:02d}{date.day:02d}"),
    ]
    if header.priority is not None:
        fields.append(ascii_text(6, str(header.priority)))
    fields += [
        ascii_text(7, header.destination_agency),
        ascii_text(8, header.originating_agency),
        ascii_text(9, header.control_number),
    ]
    if header.control_reference is not None:
        fields.append(ascii_text(10, header.control_reference))
    fields += [
        ascii_text(11, header.native_scanning_resolution),
        ascii_text(12, header.nominal_transmitting_resolution),
    ]
    if header.domain is not None:
        domain = header.domain
        fields.append(ascii_text(13, ((domain.name,) if domain.version is None else (domain.name, domain.version),)))
    if header.gmt is not None:
        gmt = header.gmt.astimezone(dt.UTC)
        stamp = f"{gmt.year:04d}{gmt.month:02d}{gmt.day:02d}{gmt.hour:02d}{gmt.minute:02d}{gmt.second:02d}Z"
        fields.append(ascii_text(14, stamp))
    if header.character_sets:
        sets = tuple(
            (charset.index, charset.name) + (() if charset.version is None else (charset.version,))
            for charset in header.character_sets
        )
        fields.append(ascii_text(15, sets))
    fields += [ascii_text(number, value) for number, value in header.other_fields.items()]
    return fields


# --- The format adapter ------------------------------------------------------------------


class AnsiNistAdapter:
    """The ``ansi-nist-itl`` format: one ANSI/NIST-ITL transaction (traditional encoding) per
    file, read into a :class:`Transaction`; a transaction that cannot be read is a rejection
    naming the field. The raw input of a result is the file's bytes as ISO 8859-1 text
    (``raw.encode("latin-1")`` gives them back)."""

    name = FORMAT_NAME
    description = (
        "ANSI/NIST-ITL 1-2011 transactions in the traditional encoding (FBI EBTS, INTERPOL INT-I): "
        "Type-1 header, Type-2 descriptive text (EBTS demographics as a person), fingerprint, palm "
        "and face image records byte for byte"
    )
    media_types: tuple[str, ...] = ("application/octet-stream",)

    def __init__(self, *, strict: bool = False, profile: Literal["auto", "ebts", "none"] = "auto") -> None:
        self.strict = strict
        self.profile: Literal["auto", "ebts", "none"] = profile

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        data = stream.read()
        raw = data.decode("latin-1")
        try:
            transaction = read_transaction(data, strict=self.strict, profile=self.profile)
        except AnsiNistError as error:
            errors = tuple(FieldError(problem.field, problem.reason) for problem in error.problems)
            yield Rejection(error.field, error.reason, raw=raw, location=error.location or "transaction", errors=errors)
        else:
            yield Accepted(transaction, raw=raw, location=f"bytes 0-{len(data) - 1}")

    def write(self, records: Iterable[BaseModel], stream: IO[bytes]) -> None:
        """One transaction: an ANSI/NIST-ITL file holds exactly one."""
        transactions = []
        for record in records:
            if not isinstance(record, Transaction):
                raise TypeError(f"the {FORMAT_NAME} format writes transactions, not {type(record).__name__}")
            transactions.append(record)
        if len(transactions) != 1:
            raise ValueError(f"an ANSI/NIST-ITL file holds one transaction, not {len(transactions)}")
        stream.write(write_transaction(transactions[0]))
