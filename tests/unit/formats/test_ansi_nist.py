"""The ansi-nist-itl adapter against the two NIST transactions in shared/ (read in place),
against nistitl (an independent reader, installed from PyPI), and against corrupted input.

The samples (NIST ANSI/NIST-ITL 2011 workshop files, through github:wct097/eft-viewer) are a
ten-print card of fourteen Type-14 records, and flats as two Type-4 and one Type-14 record.
Their Type-2 records hold only the placeholder 2.003 'domain defined text place holder', no
demographics, so the EBTS mapping is tested on Type-2 records put into them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import re
import struct
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polex.domain.person import (
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
from polex.formats.ansi_nist import (
    AnsiNistAdapter,
    AnsiNistError,
    Attachment,
    CharacterSet,
    DescriptiveRecord,
    DomainName,
    Header,
    Transaction,
    ebts_fields,
    read_transaction,
    subfields,
    text,
    write_transaction,
)
from polex.formats.registry import Accepted, FormatRegistry, Rejection, WritableFormatAdapter

SAMPLES = Path(__file__).parents[3].parent / "shared" / "data" / "ansi-nist-eft-samples"
TPCARD = SAMPLES / "samples" / "nist-type-14-tpcard.eft"
FLATS = SAMPLES / "samples" / "nist-type-4-14-flats.eft"
needs_samples = pytest.mark.skipif(not TPCARD.exists(), reason=f"the NIST EFT samples are not in {SAMPLES}")
SAMPLE_FILES = [pytest.param(path, id=path.stem, marks=needs_samples) for path in (TPCARD, FLATS)]


@pytest.fixture(scope="module")
def nistitl() -> ModuleType:
    import nistitl as module  # a development dependency: the cross-check must run, never skip

    return module


@dataclasses.dataclass(frozen=True)
class Expected:
    header: dict[str, Any]
    types: dict[int, int]  # records by type, Type-1 excepted


EXPECTED = {
    TPCARD.name: Expected(
        header={
            "version": "0500",
            "transaction_type": "AMN",
            "date": dt.date(2001, 8, 8),
            "priority": 1,
            "destination_agency": "DAI000000",
            "originating_agency": "MDNISTIMG",
            "control_number": "jck tenprint card nqm",
            "native_scanning_resolution": "00.00",
            "domain": DomainName(name="NORAM", version=""),
            "gmt": dt.datetime(2001, 8, 8, 12, 0, tzinfo=dt.UTC),
        },
        types={2: 1, 14: 14},
    ),
    FLATS.name: Expected(
        header={
            "version": "0500",
            "transaction_type": "AMN",
            "date": dt.date(2009, 11, 17),
            "priority": None,
            "control_number": "jck t4 and t14 flats   use type 14 instead of type 4",
            "native_scanning_resolution": "19.69",
            "nominal_transmitting_resolution": "19.69",
            "domain": DomainName(name="NORAM", version="7.02"),
            "gmt": dt.datetime(2009, 11, 17, 12, 45, 23, tzinfo=dt.UTC),
        },
        types={2: 1, 4: 2, 14: 1},
    ),
}


def _counts(types: list[int]) -> dict[int, int]:
    return {record_type: types.count(record_type) for record_type in sorted(set(types))}


def _nist(nistitl: ModuleType, data: bytes) -> Any:
    message = nistitl.Message()
    message.parse(data)
    return message


# --- The samples -------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLE_FILES)
def test_the_header_is_read(path: Path) -> None:
    transaction = read_transaction(path.read_bytes())

    for name, value in EXPECTED[path.name].header.items():
        assert getattr(transaction.header, name) == value, name
    assert transaction.header.character_sets == []
    assert transaction.header.profile == "ebts"  # NORAM
    assert transaction.provenance.source_format == "ansi-nist-itl"
    assert transaction.provenance.source_id == transaction.header.control_number
    assert transaction.warnings == []


@pytest.mark.parametrize("path", SAMPLE_FILES)
def test_the_records_are_those_the_type1_cnt_lists(path: Path, nistitl: ModuleType) -> None:
    data = path.read_bytes()
    transaction = read_transaction(data)
    cnt = _nist(nistitl, data)[0].CNT  # 1.003 as nistitl reads it: [[1, n], [type, idc], ...]

    listed = [(int(record_type), int(idc)) for record_type, idc in cnt[1:]]
    assert int(cnt[0][1]) == len(listed) == len(transaction.records)
    assert [(record.record_type, record.idc) for record in transaction.records] == listed
    assert transaction.content == [(1, len(listed)), *listed]
    assert _counts([record_type for record_type, _ in listed]) == EXPECTED[path.name].types
    assert _counts([record.record_type for record in transaction.records]) == EXPECTED[path.name].types


@pytest.mark.parametrize("path", SAMPLE_FILES)
def test_images_are_kept_byte_for_byte(path: Path, nistitl: ModuleType) -> None:
    data = path.read_bytes()
    transaction = read_transaction(data)
    theirs = list(_nist(nistitl, data))[2:]  # past Type-1 and Type-2

    assert len(theirs) == len(transaction.attachments)
    for ours, other in zip(transaction.attachments, theirs, strict=True):
        assert ours.record_type == other.type
        assert ours.data is not None
        if isinstance(other, nistitl.BinaryRecord):  # Type-4: IDC, then 13 fixed bytes, then the image
            assert ours.idc == other.IDC
            image = other.value[13:]
        else:
            assert ours.idc == int(other.IDC)
            image = other[999].value
        assert len(ours.data) == len(image)
        assert ours.sha256 == hashlib.sha256(image).hexdigest()
        assert ours.data[:2] == b"\xff\xa0"  # the WSQ start-of-image marker


@needs_samples
def test_the_image_metadata_of_the_ten_print_card() -> None:
    transaction = read_transaction(TPCARD.read_bytes())
    rolled, *_, last = transaction.attachments

    assert rolled.record_type == 14
    assert rolled.idc == 1
    assert rolled.impression_type == 3  # nonlive-scan rolled
    assert rolled.finger_positions == (1,)  # right thumb
    assert (rolled.horizontal_line_length, rolled.vertical_line_length) == (804, 752)
    assert rolled.compression == "WSQ20"
    assert rolled.bits_per_pixel == 8
    assert rolled.pixel_scale == (2, 197, 197)  # pixels per centimetre
    assert rolled.pixels_per_inch() == pytest.approx(500.38)
    assert rolled.fields[22] == (("1", "1"),)  # 14.022 NQM, kept as read
    assert (last.impression_type, last.finger_positions, last.horizontal_line_length) == (2, (13,), 1572)
    assert [attachment.finger_positions for attachment in transaction.attachments] == [
        *((position,) for position in range(1, 11)),
        (14,),
        (12,),
        (11,),
        (13,),
    ]


@needs_samples
def test_the_image_metadata_of_the_type4_flats() -> None:
    transaction = read_transaction(FLATS.read_bytes())
    left, right, thumbs = transaction.attachments

    assert (left.record_type, left.idc, right.idc) == (4, 1, 2)
    assert left.fields[4] == subfields("14", "255", "255", "255", "255", "255")  # 4.004 FGP, six bytes
    assert (left.impression_type, left.finger_positions, left.compression) == (2, (14,), "WSQ20")
    assert (left.horizontal_line_length, left.vertical_line_length) == (1608, 1000)
    assert left.scanning_resolution == 0  # so 1.011 NSR, 19.69 pixels per mm
    assert left.pixels_per_inch() is None
    assert left.pixels_per_inch(transaction.header) == pytest.approx(500.126)
    assert (right.finger_positions, right.horizontal_line_length) == ((13,), 1572)
    assert (thumbs.record_type, thumbs.finger_positions, thumbs.pixel_scale) == (14, (15,), (1, 500, 500))
    assert thumbs.pixels_per_inch() == 500.0


@needs_samples
def test_the_flats_are_the_slaps_of_the_ten_print_card() -> None:
    """Both files come from one NIST capture: the Type-4 slaps are the card's Type-14 ones."""
    card = {attachment.sha256: attachment for attachment in read_transaction(TPCARD.read_bytes()).attachments}
    flats = read_transaction(FLATS.read_bytes()).attachments[:2]

    assert [card[flat.sha256].finger_positions for flat in flats] == [(14,), (13,)]


@pytest.mark.parametrize("path", SAMPLE_FILES)
def test_the_type2_text_is_kept_and_holds_no_demographics(path: Path) -> None:
    (descriptive,) = read_transaction(path.read_bytes()).descriptive

    assert descriptive.idc == 0
    assert descriptive.fields == {3: text("domain defined text place holder")}
    assert descriptive.person is None


@pytest.mark.parametrize("path", SAMPLE_FILES)
def test_writing_what_was_read_gives_the_same_bytes(path: Path, nistitl: ModuleType) -> None:
    data = path.read_bytes()
    transaction = read_transaction(data)

    written = write_transaction(transaction)

    assert written == data
    assert read_transaction(written) == transaction
    assert len(_nist(nistitl, written)) == len(transaction.records) + 1


@needs_samples
def test_a_transaction_survives_json() -> None:
    transaction = read_transaction(FLATS.read_bytes())

    assert Transaction.model_validate_json(transaction.model_dump_json()) == transaction


# --- Type-2 demographics (EBTS) ------------------------------------------------------------

DEMOGRAPHICS = {
    14: text("123456AB1"),
    16: text("123456789"),
    17: subfields("PP-X1234567", "AR-987654"),
    18: text("DOE,JOHN PAUL"),
    19: subfields("DOE,JACK", "SMITH,JOHN"),
    20: text("TX"),
    21: subfields("US", "FRA"),
    22: text("19740812"),
    24: text("M"),
    25: text("W"),
    26: subfields("SC L ARM", "TAT R SHLD"),
    27: text("510"),
    29: text("185"),
    31: text("BRO"),
    32: text("BLK"),
}


def _with_type2(fields: dict[int, Any], *, base: Path = FLATS, **header: Any) -> Transaction:
    transaction = read_transaction(base.read_bytes())
    transaction.records[0] = DescriptiveRecord(idc=0, fields=fields)
    if header:
        transaction.header = transaction.header.model_copy(update=header)
    return transaction


def _reread(transaction: Transaction, **options: Any) -> Transaction:
    return read_transaction(write_transaction(transaction), **options)


@needs_samples
def test_ebts_demographics_become_a_person(nistitl: ModuleType) -> None:
    written = write_transaction(_with_type2(DEMOGRAPHICS))
    transaction = read_transaction(written)
    person = transaction.person

    assert person is not None
    assert transaction.warnings == []
    primary = person.primary_name
    assert (primary.full, primary.given, primary.family, primary.script) == (
        "JOHN PAUL DOE",
        "JOHN PAUL",
        "DOE",
        "Latn",
    )
    assert [(name.kind, name.full) for name in person.names[1:]] == [
        (NameKind.ALIAS, "JACK DOE"),
        (NameKind.ALIAS, "JOHN SMITH"),
    ]
    assert person.birth_dates == ["1974-08-12"]
    assert person.sex is Sex.MALE
    assert person.physical == PhysicalDescription(
        height_cm=178,
        weight_kg=84,
        eye_colour=EyeColour.BROWN,
        hair_colour=HairColour.BLACK,
        marks=[
            {"kind": MarkKind.SCAR, "description": "SC L ARM"},
            {"kind": MarkKind.TATTOO, "description": "TAT R SHLD"},
        ],
    )
    assert person.birth_place == Place(place="TX")  # an NCIC code, not translated
    assert person.nationalities == ["FRA"]
    assert person.remarks == "2.021 CTZ (not ISO 3166-1 codes): US"
    assert person.identifiers == [
        PersonIdentifier(kind=IdentifierKind.POLICE_REFERENCE, value="123456AB1", country="USA"),
        PersonIdentifier(kind=IdentifierKind.SOCIAL_SECURITY, value="123456789", country="USA"),
        PersonIdentifier(kind=IdentifierKind.PASSPORT, value="X1234567"),
        PersonIdentifier(kind=IdentifierKind.OTHER, value="AR-987654"),
    ]
    assert transaction.descriptive[0].fields == DEMOGRAPHICS  # race and all the rest, as sent
    assert transaction.provenance.original_values == {
        "records/0/person/names/0/full": "DOE,JOHN PAUL",
        "records/0/person/physical/height_cm": "510",
        "records/0/person/physical/weight_kg": "185",
    }
    type2 = _nist(nistitl, written)[(2, 0)]
    assert type2[18].value == "DOE,JOHN PAUL"
    assert type2[22].value == "19740812"


@needs_samples
def test_a_date_of_birth_may_be_partial() -> None:
    person = _reread(_with_type2({18: text("DOE,JANE"), 22: subfields("19740800", "19750000")})).person

    assert person is not None
    assert person.birth_dates == ["1974-08", "1975"]


@needs_samples
@pytest.mark.parametrize(
    ("number", "value", "expected"),
    [
        (22, "19741332", "2.022 DOB: '19741332' is not a date (month 13 does not exist)"),
        (22, "19740231", "2.022 DOB: '19740231' is not a date (day 31 does not exist in 1974-02)"),
        (22, "1974", "2.022 DOB: '1974' is not a date (YYYYMMDD)"),
        (22, "29990101", "2.022 DOB: '29990101' is not a date (2999-01-01 is in the future)"),
        (24, "Q", "2.024 SEX: 'Q' is not a sex code (M, F, X, U, N)"),
        (27, "5X1", "2.027 HGT: '5X1' is not a height in feet and inches"),
        (27, "513", "2.027 HGT: '513' is not a height in feet and inches"),
        (29, "heavy", "2.029 WGT: 'heavy' is not a weight in pounds"),
        (31, "PUR", "2.031 EYE: 'PUR' is not an eye colour code"),
        (32, "AUB", "2.032 HAI: 'AUB' is not a hair colour code"),
    ],
)
def test_a_value_that_cannot_be_read_is_a_warning_naming_the_field(number: int, value: str, expected: str) -> None:
    transaction = _reread(_with_type2({18: text("DOE,JANE"), number: text(value)}))

    (warning,) = transaction.warnings
    assert str(warning).startswith(expected)
    assert warning.location == "record 2 (Type-2), byte 231"
    assert transaction.person is not None  # without that value
    assert transaction.descriptive[0].fields[number] == text(value)  # which is still kept


@needs_samples
def test_strict_reading_refuses_what_would_be_a_warning() -> None:
    data = write_transaction(_with_type2({18: text("DOE,JANE"), 22: text("19741332"), 24: text("Q")}))

    with pytest.raises(AnsiNistError) as caught:
        read_transaction(data, strict=True)

    assert caught.value.field == "2.022 DOB"
    assert [problem.field for problem in caught.value.problems] == ["2.022 DOB", "2.024 SEX"]
    (result,) = AnsiNistAdapter(strict=True).read(io.BytesIO(data))
    assert isinstance(result, Rejection)
    assert (result.field, result.reason) == ("2.022 DOB", "'19741332' is not a date (month 13 does not exist)")


@needs_samples
def test_demographics_without_a_name_stay_in_the_fields() -> None:
    transaction = _reread(_with_type2({22: text("19740812"), 24: text("F")}))

    assert transaction.person is None
    assert [str(warning).split(":")[0] for warning in transaction.warnings] == ["2.018 NAM"]
    assert transaction.descriptive[0].fields == {22: text("19740812"), 24: text("F")}


@needs_samples
def test_type2_is_not_read_as_ebts_in_another_domain() -> None:
    other = _with_type2(DEMOGRAPHICS, domain=DomainName(name="INT-I", version="5.0"))

    assert _reread(other).person is None
    assert _reread(other, profile="ebts").person is not None
    assert _reread(_with_type2(DEMOGRAPHICS), profile="none").person is None


PERSON = Person(
    names=[
        PersonName(full="Jörg Müller", given="Jörg", family="Müller"),
        PersonName(full="George Miller", given="George", family="Miller", kind=NameKind.ALIAS),
    ],
    sex=Sex.FEMALE,
    birth_dates=["1980-03"],
    birth_place=Place(country="FRA"),
    nationalities=["DEU"],
    identifiers=[
        PersonIdentifier(kind=IdentifierKind.PASSPORT, value="C01X00T47"),
        PersonIdentifier(kind=IdentifierKind.SOCIAL_SECURITY, value="078051120", country="USA"),
        PersonIdentifier(kind=IdentifierKind.POLICE_REFERENCE, value="A-77", country="FRA"),
    ],
    physical=PhysicalDescription(height_cm=178, weight_kg=84, eye_colour=EyeColour.GREEN, hair_colour=HairColour.RED),
)


# EBTS puts SOC (2.016) before MNU (2.017), and MNU says nothing of a number's country.
PERSON_AS_READ = PERSON.model_copy(
    update={
        "identifiers": [
            PERSON.identifiers[1],
            PERSON.identifiers[0],
            PersonIdentifier(kind=IdentifierKind.OTHER, value="A-77"),
        ]
    }
)


@needs_samples
def test_a_person_written_as_ebts_reads_back_the_same() -> None:
    fields = ebts_fields(PERSON)

    assert fields[18] == text("Müller,Jörg")
    assert fields[22] == text("19800300")
    assert (fields[24], fields[27], fields[29]) == (text("F"), text("510"), text("185"))
    assert fields[17] == subfields("PP-C01X00T47", "A-77")
    assert _reread(_with_type2(fields)).person == PERSON_AS_READ


@needs_samples
def test_utf8_text_is_read_and_written_where_dcs_declares_it() -> None:
    utf8 = [CharacterSet(index="003", name="UTF-8")]
    transaction = _with_type2({18: text("ИВАНОВ,ИВАН")}, character_sets=utf8)

    data = write_transaction(transaction)
    again = read_transaction(data)

    assert "ИВАНОВ".encode() in data
    assert again.header.character_sets == utf8
    assert again.person is not None
    assert (again.person.primary_name.full, again.person.primary_name.script) == ("ИВАН ИВАНОВ", "Cyrl")
    with pytest.raises(AnsiNistError, match=r"^2\.018 NAM: 'ИВАНОВ,ИВАН' cannot be written in ISO 8859-1"):
        write_transaction(_with_type2({18: text("ИВАНОВ,ИВАН")}))
    latin = data.replace(b"1.015:003\x1fUTF-8", b"1.015:001\x1fLATIN")  # as long: LEN still holds
    assert read_transaction(latin).descriptive[0].fields[18] == text("ИВАНОВ,ИВАН".encode().decode("latin-1"))


# --- Faces and transactions made from scratch ----------------------------------------------

FACE = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\x1c\x1d\xff\xd9"  # separators inside the data too


def _new_transaction() -> Transaction:
    header = Header(
        version="0500",
        transaction_type="CPDR",
        date=dt.date(2025, 6, 1),
        priority=2,
        destination_agency="XPOIPSG00",
        originating_agency="FRA000000",
        control_number="FRA-2025-000123",
        domain=DomainName(name="NORAM"),
        gmt=dt.datetime(2025, 6, 1, 9, 30, tzinfo=dt.UTC),
    )
    face = Attachment(
        record_type=10,
        idc=1,
        fields={
            3: text("FACE"),
            4: text("FRA000000"),
            5: text("20250601"),
            6: text("480"),
            7: text("600"),
            8: text("1"),
            9: text("300"),
            10: text("300"),
            11: text("JPEGB"),
            12: text("YCC"),
            20: text("F"),
            21: text("-5"),
        },
        data=FACE,
    )
    return Transaction(header=header, records=[DescriptiveRecord(idc=0, fields=ebts_fields(PERSON)), face])


def test_a_face_record_round_trips_and_nistitl_reads_it(nistitl: ModuleType) -> None:
    transaction = _new_transaction()

    data = write_transaction(transaction)
    again = read_transaction(data)

    face = again.attachments[0]
    assert (face.image_type, face.pose, face.pose_offset_angle, face.compression) == ("FACE", "F", -5, "JPEGB")
    assert (face.horizontal_line_length, face.vertical_line_length, face.pixels_per_inch()) == (480, 600, 300.0)
    assert face.data == FACE
    assert again.person == PERSON_AS_READ
    assert again.header == transaction.header
    assert again.records[0].fields == transaction.records[0].fields
    assert again.records[1] == transaction.records[1]
    message = _nist(nistitl, data)
    assert message[0].TCN == "FRA-2025-000123"
    assert message[(10, 1)][999].value == FACE
    assert message[(10, 1)].IMT == "FACE"


def test_the_cnt_and_lengths_are_computed_on_writing() -> None:
    data = write_transaction(_new_transaction())

    assert re.search(rb"1\.003:1\x1f2\x1e2\x1f00\x1e10\x1f01\x1d", data)
    offset = 0
    for _ in range(3):
        match = re.match(rb"\d+\.001:(\d+)\x1d", data[offset:])
        assert match is not None
        length = int(match.group(1))
        assert data[offset + length - 1 : offset + length] == b"\x1c"
        offset += length
    assert offset == len(data)


def test_an_uncompressed_image_whose_size_disagrees_is_a_warning() -> None:
    image = Attachment(
        record_type=4,
        idc=1,
        fields={3: text("0"), 4: subfields("2"), 5: text("1"), 6: text("10"), 7: text("10"), 8: text("0")},
        data=bytes(99),
    )
    transaction = _new_transaction()
    transaction.records.append(image)

    again = read_transaction(write_transaction(transaction))

    assert [str(warning).split(" (")[0] for warning in again.warnings] == [
        "4.009 DATA: holds 99 bytes where an uncompressed 10 x 10 image of 8 bits per pixel has 100"
    ]
    assert again.attachments[1].fields[4] == subfields("2", "255", "255", "255", "255", "255")


def test_writing_refuses_what_cannot_be_written() -> None:
    transaction = _new_transaction()
    transaction.records[0].fields[18] = text("DOE\x1eJOHN")
    with pytest.raises(AnsiNistError, match=r"^2\.018 NAM: 'DOE\\x1eJOHN' holds a separator"):
        write_transaction(transaction)

    transaction = _new_transaction()
    transaction.records.append(Attachment(record_type=4, idc=2, fields={3: text("1")}, data=b"x"))
    with pytest.raises(AnsiNistError, match=r"^4\.004 FGP: missing"):
        write_transaction(transaction)

    with pytest.raises(ValueError, match=r"has no field 4\.010"):
        Attachment(record_type=4, idc=2, fields={10: text("1")}, data=b"x")


# Random valid transactions: whatever is written reads back the same, and nistitl reads it.
# Items leave out ':' so that nistitl, which looks for '999:' anywhere, finds the DATA tag.
_LATIN = st.characters(codec="latin-1", exclude_characters="\x1c\x1d\x1e\x1f:")
_UNICODE = st.characters(exclude_categories=("Cs",), exclude_characters="\x1c\x1d\x1e\x1f:")
_WORD = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12)


def _values(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    items = st.lists(st.text(alphabet=alphabet, max_size=8), min_size=1, max_size=3).map(tuple)
    return st.lists(items, min_size=1, max_size=3).map(tuple)


def _byte(size: int = 1) -> st.SearchStrategy[Any]:
    return st.integers(0, 256**size - 1).map(lambda number: text(str(number)))


_BINARY_RECORDS = st.one_of(
    st.builds(
        lambda idc, fixed, positions, data: Attachment(
            record_type=4, idc=idc, fields={**fixed, 4: subfields(*map(str, positions))}, data=data
        ),
        st.integers(0, 99),
        st.fixed_dictionaries({3: _byte(), 5: _byte(), 6: _byte(2), 7: _byte(2), 8: _byte()}),
        st.lists(st.integers(0, 255), min_size=6, max_size=6),
        st.binary(max_size=64),
    ),
    st.builds(
        lambda idc, fixed, data: Attachment(record_type=8, idc=idc, fields=fixed, data=data),
        st.integers(0, 99),
        st.fixed_dictionaries({3: _byte(), 4: _byte(), 5: _byte(), 6: _byte(2), 7: _byte(2)}),
        st.binary(max_size=64),
    ),
    st.builds(
        lambda idc, data: Attachment(record_type=7, idc=idc, data=data), st.integers(0, 99), st.binary(max_size=64)
    ),
)


@st.composite
def _transactions(draw: st.DrawFn) -> Transaction:
    utf8 = draw(st.booleans())
    alphabet = _UNICODE if utf8 else _LATIN
    header = Header(
        version=draw(st.sampled_from(["0400", "0500", "0502"])),
        transaction_type=draw(_WORD),
        date=draw(st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))),
        priority=draw(st.none() | st.integers(1, 9)),
        destination_agency=draw(_WORD),
        originating_agency=draw(_WORD),
        control_number=draw(_WORD),
        control_reference=draw(st.none() | _WORD),
        native_scanning_resolution=draw(st.sampled_from(["00.00", "19.69", "39.37"])),
        nominal_transmitting_resolution=draw(st.sampled_from(["00.00", "19.69"])),
        domain=draw(st.none() | st.builds(DomainName, name=_WORD, version=st.none() | st.just("") | _WORD)),
        gmt=draw(
            st.none()
            | st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)).map(
                lambda moment: moment.replace(microsecond=0)
            )
        ),
        character_sets=[CharacterSet(index="003", name="UTF-8")] if utf8 else [],
        other_fields=draw(st.dictionaries(st.integers(16, 30), _values(_LATIN), max_size=3)),
    )
    descriptive = st.builds(
        lambda idc, fields: DescriptiveRecord(idc=idc, fields=fields),
        st.integers(0, 99),
        st.dictionaries(st.integers(3, 999), _values(alphabet), max_size=6),
    )
    tagged = st.builds(  # Type-9 (minutiae) has no DATA field; the image records have 999
        lambda record_type, idc, fields, data: Attachment(
            record_type=record_type, idc=idc, fields=fields, data=None if record_type == 9 else data
        ),
        st.sampled_from([9, 10, 13, 14, 15, 17]),
        st.integers(0, 99),
        st.dictionaries(st.integers(3, 998), _values(alphabet), max_size=5),
        st.none() | st.binary(max_size=64),
    )
    records = draw(st.lists(descriptive, max_size=2)) + draw(st.lists(tagged | _BINARY_RECORDS, max_size=4))
    return Transaction(header=header, records=records)


def _essence(transaction: Transaction) -> list[Any]:
    """What is written: the header, and each record's type, IDC, fields and data."""
    return [
        transaction.header,
        *(
            (record.record_type, record.idc, record.fields, getattr(record, "data", None))
            for record in transaction.records
        ),
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_transactions())
def test_random_transactions_round_trip_and_nistitl_reads_them(nistitl: ModuleType, transaction: Transaction) -> None:
    data = write_transaction(transaction)

    again = read_transaction(data)

    assert _essence(again) == _essence(transaction)
    assert write_transaction(again) == data
    message = _nist(nistitl, data)
    assert [record.type for record in message] == [1, *(record.record_type for record in transaction.records)]
    for ours, theirs in zip(transaction.attachments, list(message)[1 + len(transaction.descriptive) :], strict=True):
        if ours.record_type in (4, 7, 8):
            assert theirs.value.endswith(ours.data or b"")
        elif ours.data is not None:
            assert theirs[999].value == ours.data


# --- Corrupted input -------------------------------------------------------------------------


def _edit_type1(data: bytes, old: bytes, new: bytes) -> bytes:
    """Change the Type-1 record and fix its length (keeping its number of digits)."""
    match = re.match(rb"1\.001:(\d+)\x1d", data)
    assert match is not None
    length = int(match.group(1))
    record = data[:length]
    assert record.count(old) == 1
    edited = record.replace(old, new)
    assert len(str(len(edited))) == len(match.group(1))
    return edited.replace(match.group(0), b"1.001:%d\x1d" % len(edited), 1) + data[length:]


def _refused(data: bytes) -> AnsiNistError:
    with pytest.raises(AnsiNistError) as caught:
        read_transaction(data)
    (result,) = AnsiNistAdapter().read(io.BytesIO(data))
    assert isinstance(result, Rejection)
    assert (result.field, result.reason, result.location) == (
        caught.value.field,
        caught.value.reason,
        caught.value.location,
    )
    assert result.raw.encode("latin-1") == data
    return caught.value


@needs_samples
@pytest.mark.parametrize(
    ("cut", "field", "reason"),
    [
        (100, "1.001 LEN", "says record 1 is 273 bytes long, but only 100 bytes are left"),
        (273, "1.003 CNT", "lists 15 records after Type-1, but the transaction ends after record 1"),
        (300, "2.001 LEN", "says record 2 is 57 bytes long, but only 27 bytes are left"),
        (400, "14.001 LEN", "says record 3 is 42465 bytes long, but only 70 bytes are left"),
        (-1, "14.001 LEN", "says record 16 is 112701 bytes long, but only 112700 bytes are left"),
    ],
)
def test_a_truncated_transaction_is_refused_naming_the_length(cut: int, field: str, reason: str) -> None:
    error = _refused(TPCARD.read_bytes()[:cut])

    assert (error.field, error.reason.split(":")[0]) == (field, reason)


@needs_samples
def test_a_wrong_length_is_refused_naming_the_record() -> None:
    data = TPCARD.read_bytes()

    error = _refused(data.replace(b"14.001:42465\x1d", b"14.001:42466\x1d", 1))
    assert (error.field, error.location) == ("14.001 LEN", "record 3 (Type-14), byte 330")
    assert error.reason == "says record 3 is 42466 bytes long, but byte 42795 is not the FS that ends a record"

    error = _refused(data.replace(b"2.001:57\x1d", b"2.001:58\x1d", 1))
    assert (error.field, error.reason) == (
        "2.001 LEN",
        "says record 2 is 58 bytes long, but the record ends with FS after 57 bytes",
    )


@needs_samples
def test_a_wrong_binary_length_is_refused_naming_that_record() -> None:
    data = bytearray(FLATS.read_bytes())
    offset = 231 + 57  # the first Type-4 record
    (length,) = struct.unpack_from(">I", data, offset)
    struct.pack_into(">I", data, offset, length + 3)

    error = _refused(bytes(data))

    assert (error.field, error.location) == ("4.001 LEN", "record 3 (Type-4), byte 288")
    assert error.reason == (
        f"says record 3 is {length + 3} bytes long, but record 4 (Type-4, as 1.003 CNT lists it) "
        "does not start where that ends"
    )


@needs_samples
@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        (b"1.004:AMN\x1d", b"", "1.004 TOT", "missing: the field is mandatory"),
        (b"1.009:jck tenprint card nqm\x1d", b"", "1.009 TCN", "missing: the field is mandatory"),
        (b"1.005:20010808", b"1.005:20011332", "1.005 DAT", "'20011332' is not a date (YYYYMMDD)"),
        (b"1.006:1", b"1.006:0", "1.006 PRY", "'0' is not a priority (1-9)"),
        (b"1^_15^^", b"1^_14^^", "1.003 CNT", "says 14 records follow the Type-1 record, but lists 15"),
        (b"\x1e14\x1f01", b"\x1e10\x1f01", "1.003 CNT", "lists a Type-10 record as record 3, but a Type-14"),
        (b"\x1e14\x1f01", b"\x1e14\x1f09", "14.002 IDC", "is 01 where 1.003 CNT lists 09 for record 3"),
        (b"\x1e14\x1f01", b"\x1e14\x1fAB", "1.003 CNT", "subfield 3 '14\\x1fAB' is not two numbers"),
        (b"1.004:AMN", b"1.000:AMN", "1.000", "is not a field number"),
        (b"1.004:AMN", b"2.004:AMN", "2.004", "is a Type-2 field in a Type-1 record"),
    ],
)
def test_a_bad_type1_is_refused_naming_the_field(old: bytes, new: bytes, field: str, reason: str) -> None:
    old, new = (value.replace(b"^_", b"\x1f").replace(b"^^", b"\x1e") for value in (old, new))

    error = _refused(_edit_type1(TPCARD.read_bytes(), old, new))

    assert error.field == field
    assert error.reason.startswith(reason)


@needs_samples
def test_all_missing_mandatory_fields_are_named_at_once() -> None:
    data = _edit_type1(TPCARD.read_bytes(), b"1.007:DAI000000\x1d1.008:MDNISTIMG\x1d", b"")

    assert [problem.field for problem in _refused(data).problems] == ["1.007 DAI", "1.008 ORI"]


@needs_samples
def test_bytes_after_the_last_record_are_refused() -> None:
    error = _refused(TPCARD.read_bytes() + b"\x00\x01")

    assert (error.field, error.reason) == ("1.003 CNT", "2 bytes follow the last record it lists")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "1.001 LEN"),
        (b"hello world", "1.001 LEN"),
        (b"\x00" * 100, "1.001 LEN"),
        (b"1.001:5\x1c", "1.001 LEN"),
        (b"1.001:17\x1d1.002:0\x1c", "1.003 CNT"),
        (b"%PDF-1.7\n", "1.001 LEN"),
    ],
)
def test_garbage_is_refused(data: bytes, field: str) -> None:
    assert _refused(data).field == field


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_raise_only_the_adapters_error(data: bytes) -> None:
    with contextlib.suppress(AnsiNistError):
        read_transaction(data)
    (result,) = AnsiNistAdapter().read(io.BytesIO(data))
    assert isinstance(result, Accepted | Rejection)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_after_a_type1_start_raise_only_the_adapters_error(tail: bytes) -> None:
    for head in (b"1.001:", b"1.001:40\x1d1.002:0500\x1d1.003:1\x1f1\x1e4\x1f01\x1d", b"1.001:273\x1d"):
        with contextlib.suppress(AnsiNistError):
            read_transaction(head + tail)


@needs_samples
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([TPCARD, FLATS]),
    st.lists(st.tuples(st.integers(0, 1200), st.integers(0, 255)), min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(0, 300_000)),
)
def test_damaged_samples_are_read_or_refused_never_crash(
    path: Path, changes: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(path.read_bytes())
    for position, value in changes:
        data[position] = value
    damaged = bytes(data[:cut] if cut is not None else data)
    try:
        transaction = read_transaction(damaged)
    except AnsiNistError as error:
        field = error.field
    else:
        assert read_transaction(write_transaction(transaction)) == transaction
        return
    assert re.match(r"^(\d+\.\d{3}( [A-Z]+)?|Type-\d+ record)$", field), field


# --- The adapter ------------------------------------------------------------------------------


@needs_samples
def test_the_adapter_reads_one_transaction_and_writes_it_back() -> None:
    adapter = AnsiNistAdapter()
    data = FLATS.read_bytes()

    (result,) = adapter.read(io.BytesIO(data))
    assert isinstance(result, Accepted)
    assert isinstance(result.record, Transaction)
    assert result.location == f"bytes 0-{len(data) - 1}"
    assert result.raw.encode("latin-1") == data
    out = io.BytesIO()
    adapter.write([result.record], out)
    assert out.getvalue() == data


def test_the_adapter_writes_exactly_one_transaction() -> None:
    adapter = AnsiNistAdapter()
    with pytest.raises(TypeError, match="writes transactions, not Person"):
        adapter.write([PERSON], io.BytesIO())
    with pytest.raises(ValueError, match="one transaction, not 2"):
        adapter.write([_new_transaction(), _new_transaction()], io.BytesIO())


def test_the_adapter_registers_as_a_writable_format() -> None:
    registry = FormatRegistry(builtins=False, entry_point_group=None)

    info = registry.register(AnsiNistAdapter)

    assert (info.name, info.writable) == ("ansi-nist-itl", True)
    assert isinstance(registry.get("ansi-nist-itl", strict=True), WritableFormatAdapter)
