"""The niem-xml format: the FBI NIBRS IEPD samples (NIEM 3.0, read in place), hand-made NIEM 4.0,
5.0 and 6.0 instances, safe parsing, writing NIEM 6.0 that validates against the bundled subset,
round trips, and no input that makes the reader fail with anything but a rejection."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from polex.domain.case import Case, LinkRole
from polex.domain.document import DocumentStatus, TravelDocument
from polex.domain.iccs import validate_iccs_code
from polex.domain.person import (
    EyeColour,
    HairColour,
    IdentifierKind,
    MarkKind,
    NameKind,
    Person,
    PhysicalDescription,
    Sex,
)
from polex.domain.vehicle import Vehicle, VehicleCategory, VehicleStatus
from polex.formats.niem import (
    NIBRS_TO_ICCS,
    NiemAdapter,
    NiemCase,
    NiemError,
    NiemPerson,
    NiemSchemaError,
    NiemTravelDocument,
    NiemVehicle,
    niem6_violations,
    parse_document,
    read_niem,
    validate_niem6,
)
from polex.formats.registry import (
    Accepted,
    FormatRegistry,
    ReadResult,
    Rejection,
    WritableFormatAdapter,
    get_format,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "niem"
NIBRS_IEPD = Path(__file__).parents[3].parent / "shared" / "data" / "niem-nibrs-iepd"
NIBRS_SAMPLES = NIBRS_IEPD / "tools/nibrs-resources/src/main/resources/NIBRS_IEPD_4_2_RC2_FINAL_20171214/iep-sample"


def read(path: Path, **options: Any) -> list[ReadResult]:
    with path.open("rb") as stream:
        return list(NiemAdapter(**options).read(stream))


def accepted(results: list[ReadResult], kind: type[Any]) -> list[Any]:
    return [result.record for result in results if isinstance(result, Accepted) and isinstance(result.record, kind)]


def rejections(results: list[ReadResult]) -> list[Rejection]:
    return [result for result in results if isinstance(result, Rejection)]


def tally(results: list[ReadResult]) -> dict[str, int]:
    counts = Counter(
        type(result.record).__name__ if isinstance(result, Accepted) else "Rejection" for result in results
    )
    return dict(sorted(counts.items()))


# --- NIBRS IEPD 4.2 samples (NIEM 3.0) --------------------------------------------------------

# What each sample gives: NIBRS persons carry no names, so every one is a rejection; property
# of a motor-vehicle category has no VIN or plate, so it is one too; deletions are refused.
NIBRS_EXPECTED = {
    "nibrs_AllFields_Sample.xml": {"NiemCase": 1, "Rejection": 5},
    "nibrs_GroupAIncident_Sample.xml": {"NiemCase": 1, "Rejection": 3},
    "nibrs_GroupAReplace_Sample.xml": {"NiemCase": 1, "Rejection": 3},
    "nibrs_GroupBArrest_Sample.xml": {"NiemCase": 1, "Rejection": 1},
    "nibrs_GroupBArrestDelete_Sample.xml": {"Rejection": 1},
    "nibrs_IncidentDelete_Sample.xml": {"Rejection": 1},
    "nibrs_ZeroReport_Sample.xml": {},
}


def _nibrs_params() -> list[Any]:
    if not NIBRS_SAMPLES.is_dir():
        return [pytest.param(None, id="no-nibrs-iepd", marks=pytest.mark.skip(reason=f"{NIBRS_SAMPLES} is absent"))]
    return [pytest.param(path, id=path.stem) for path in sorted(NIBRS_SAMPLES.glob("*.xml"))]


def nibrs(name: str) -> Path:
    path = NIBRS_SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.parametrize("sample", _nibrs_params())
def test_every_nibrs_sample_reads(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = read(sample)
    assert all(isinstance(result, Accepted | Rejection) for result in results)
    with capsys.disabled():
        print(f"\n  {sample.name}: {tally(results)}")  # the records and rejections per file
    assert tally(results) == NIBRS_EXPECTED[sample.name]
    for rejection in rejections(results):
        assert rejection.field.startswith("/nibrs:Submission/")
        assert rejection.location.startswith("/nibrs:Submission/")
        assert rejection.reason
        assert rejection.raw.startswith("<")


def test_nibrs_all_fields_incident_against_the_xml() -> None:
    results = read(nibrs("nibrs_AllFields_Sample.xml"))
    (case,) = accepted(results, NiemCase)
    # <nc:ActivityIdentification><nc:IdentificationID>54236732 ... <nc:Date>2016-02-19
    assert case.reference == "54236732"
    assert case.opened_on == dt.date(2016, 2, 19)
    # <j:IncidentExceptionalClearanceCode>A ... <nc:Date>2016-02-25
    assert case.status.value == "closed"
    assert case.closed_on == dt.date(2016, 2, 25)
    # <nibrs:OffenseUCRCode>240 (attempted) and <nibrs:ChargeUCRCode>64A on the arrest
    assert case.crime_types == ["0502", "0204"]
    assert case.provenance.original_values["crime_types/0"] == "NIBRS 240 attempted"
    assert case.provenance.original_values["crime_types/1"] == "NIBRS 64A"
    assert "Motor Vehicle Theft (NIBRS 240, attempted)" in case.title
    assert case.provenance.source_format == "niem-xml"
    assert case.provenance.source_id == "123456"  # cjis:MessageIdentification
    # persons are nameless, so none is linked; the summary says who they were
    assert case.links == []
    summary = case.summary or ""
    assert "Victim 1 (PersonVictim1, not read as a person" in summary
    assert "sex M; age 32" in summary
    assert "Subject 1 (PersonSubject1" in summary
    assert "age 25-30" in summary
    assert "Arrestee 1 (PersonArrestee1" in summary
    assert "ArresteeArmedWith 12, 13A" in summary
    assert "Location: cyberspace (58)." in summary
    assert "reporting agency WVNDX0100" in summary
    persons = [rejection for rejection in rejections(results) if "/nc:Person[" in rejection.location]
    assert [rejection.location for rejection in persons] == [
        f"/nibrs:Submission/nibrs:Report/nc:Person[{index}]" for index in range(1, 5)
    ]
    assert all("has no name" in rejection.reason for rejection in persons)
    (automobiles,) = [rejection for rejection in rejections(results) if "nc:Item" in rejection.location]
    # <j:ItemCategoryNIBRSPropertyCategoryCode>03 ... <nc:ItemQuantity>41
    assert automobiles.location == "/nibrs:Submission/nibrs:Report/nc:Item[7]"
    assert "NIBRS property 03 (automobiles, quantity 41)" in automobiles.reason
    assert "no VIN and no registration plate" in automobiles.reason


def test_nibrs_group_a_and_group_b_against_the_xml() -> None:
    (incident,) = accepted(read(nibrs("nibrs_GroupAIncident_Sample.xml")), NiemCase)
    assert incident.reference == "000054236732"
    assert incident.crime_types == ["0201"]  # 13A aggravated assault
    assert "Location: lake/waterway/beach (16)." in (incident.summary or "")
    replaced = read(nibrs("nibrs_GroupAReplace_Sample.xml"))
    assert "action R" in (accepted(replaced, NiemCase)[0].summary or "")
    arrest_results = read(nibrs("nibrs_GroupBArrest_Sample.xml"))
    (arrest,) = accepted(arrest_results, NiemCase)
    assert arrest.reference == "12345"
    assert arrest.title == "Arrest 12345: Human Trafficking, Commercial Sex Acts (NIBRS 64A)"
    assert arrest.crime_types == ["0204"]
    assert arrest.opened_on == dt.date(2016, 2, 28)
    assert arrest.status.value == "open"
    assert arrest.provenance.source_id == "123456#Arrest1"


def test_nibrs_deletions_are_refused_by_name() -> None:
    (incident,) = read(nibrs("nibrs_IncidentDelete_Sample.xml"))
    assert isinstance(incident, Rejection)
    assert "delete incident 020160005029 (NIBRS action D)" in incident.reason
    (arrest,) = read(nibrs("nibrs_GroupBArrestDelete_Sample.xml"))
    assert isinstance(arrest, Rejection)
    assert "delete arrest 12345" in arrest.reason
    assert read(nibrs("nibrs_ZeroReport_Sample.xml")) == []


# --- Hand-made NIEM 4.0, 5.0 and 6.0 instances -------------------------------------------------


def test_niem4_incident() -> None:
    results = read(FIXTURES / "niem4-incident.xml")
    assert tally(results) == {"NiemCase": 1, "NiemPerson": 2, "NiemTravelDocument": 1, "NiemVehicle": 1, "Rejection": 2}
    marie, ivan = accepted(results, NiemPerson)
    assert marie.primary_name.full == "Marie Claire Martin"
    assert (marie.primary_name.given, marie.primary_name.family) == ("Marie Claire", "Martin")
    assert marie.sex is Sex.FEMALE
    assert marie.provenance.original_values["sex"] == "F"
    assert marie.birth_dates == ["1985-07-14"]
    assert marie.nationalities == ["FRA"]
    assert marie.physical is not None
    assert (marie.physical.height_cm, marie.physical.eye_colour, marie.physical.hair_colour) == (165, "green", "brown")
    assert marie.provenance.source_id == "EX4-2024-0001#P1"
    # the name without a category is the primary one even after an alternate name
    assert ivan.primary_name.full == "Ivan Petrov"
    assert [(name.full, name.kind) for name in ivan.names] == [("Vanya", NameKind.ALIAS), ("Ivan Petrov", "primary")]
    assert ivan.birth_dates == ["1979-11"]
    assert ivan.nationalities == ["UKR"]
    assert ivan.provenance.original_values["nationalities/0"] == "UA"
    assert ivan.physical is not None
    assert ivan.physical.weight_kg == 82
    assert [(i.kind.value, i.value) for i in ivan.identifiers] == [("police_reference", "FBI-778899")]
    (passport,) = accepted(results, NiemTravelDocument)
    assert (passport.number, passport.issuing_country, passport.status) == ("15FR12345", "FRA", DocumentStatus.STOLEN)
    assert passport.holder_person_id == marie.id
    assert passport.holder is not None
    assert passport.holder.names[0].full == "Marie Claire Martin"
    (van,) = accepted(results, NiemVehicle)
    assert (van.vin, van.plate, van.plate_country) == ("1M8GDM9AXKP042788", "ABC1234", "USA")
    assert (van.make, van.model, van.model_year, van.colour) == ("Ford", "Transit", 2019, "blue")
    assert van.provenance.original_values["plate_country"] == "US state VA"
    (case,) = accepted(results, NiemCase)
    assert case.reference == "2024-000123"
    assert case.crime_types == ["0502", "0504"]  # 23F (and the arrest charge 23F), 290
    assert {(link.kind.value, link.id, link.role) for link in case.links} == {
        ("person", marie.id, LinkRole.VICTIM),
        ("person", ivan.id, LinkRole.SUSPECT),
        ("vehicle", van.id, LinkRole.RELATED),
        ("travel_document", passport.id, LinkRole.RELATED),
    }
    summary = case.summary or ""
    assert "Witness (P3, not read as a person" in summary
    assert "nc:Organization: OrganizationName Riverside Mall security." in summary  # nothing dropped
    witness, bad_date = rejections(results)
    assert witness.location == "/ex:IncidentReport/nc:Person[3]"
    assert "has no name" in witness.reason
    assert bad_date.location == "/ex:IncidentReport/nc:Person[4]"
    assert bad_date.field == "/ex:IncidentReport/nc:Person[4]/nc:PersonBirthDate/nc:Date"
    assert bad_date.reason == "'1985-02-30' is not a valid nc:Date"


def test_niem5_persons_vehicles_and_documents() -> None:
    results = read(FIXTURES / "niem5-persons.xml")
    assert tally(results) == {"NiemPerson": 2, "NiemTravelDocument": 1, "NiemVehicle": 1, "Rejection": 3}
    klaus, eva = accepted(results, NiemPerson)
    assert [(name.full, name.kind.value) for name in klaus.names] == [
        ("Klaus Becker", "primary"),
        ("Der Bäcker", "alias"),
    ]
    assert klaus.provenance.original_values["names/0/kind"] == "Legal"
    assert klaus.birth_dates == ["1990"]
    assert klaus.nationalities == ["DEU"]
    assert klaus.provenance.original_values["nationalities/0"] == "Germany"
    assert klaus.physical is not None
    assert (klaus.physical.height_cm, klaus.physical.eye_colour) == (182, "hazel")
    assert [(mark.kind.value, mark.location) for mark in klaus.physical.marks] == [("scar", "right cheek")]
    # an identity card identification without a status stays an identifier
    assert [(i.kind.value, i.value, i.country) for i in klaus.identifiers] == [("identity_card", "L01X00T47", "DEU")]
    assert klaus.provenance.source_id == "EX5-LIST-9#PA"
    (passport,) = accepted(results, NiemTravelDocument)
    assert (passport.number, passport.issuing_country, passport.status) == ("NX8AB1234", "NLD", DocumentStatus.LOST)
    assert passport.holder_person_id == eva.id
    (truck,) = accepted(results, NiemVehicle)
    assert (truck.plate, truck.plate_country, truck.status, truck.vin) == (
        "VT123X",
        "NLD",
        VehicleStatus.RECOVERED,
        None,
    )
    fips, vin, location = rejections(results)
    assert fips.field == "/ex:Persons/nc:Person[2]/nc:PersonCitizenshipFIPS10-4Code"
    assert "FIPS 10-4" in fips.reason
    assert vin.field == "/ex:Persons/nc:Vehicle[2]/nc:VehicleIdentification"
    assert "check digit" in vin.reason
    assert location.location == "/ex:Persons/nc:Location"
    assert "is not read" in location.reason


def test_niem6_incident() -> None:
    results = read(FIXTURES / "niem6-incident.xml")
    assert tally(results) == {"NiemCase": 1, "NiemPerson": 2, "Rejection": 1}
    ana, ivan = accepted(results, NiemPerson)
    assert (ana.primary_name.full, ana.birth_dates, ana.nationalities) == ("Ana Silva", ["2001"], ["PRT"])
    assert ivan.primary_name.full == "Иван Сидоров"
    assert ivan.primary_name.script == "Cyrl"
    (case,) = accepted(results, NiemCase)
    assert case.crime_types == ["0102"]  # an attempted 09A is attempted intentional homicide
    assert case.opened_on == dt.date(2023, 12, 31)
    assert case.provenance.original_values["opened_on"] == "nc:DateTime 2023-12-31T23:15:00Z"
    assert {(link.id, link.role) for link in case.links} == {(ana.id, LinkRole.VICTIM), (ivan.id, LinkRole.SUSPECT)}
    (unknown,) = rejections(results)
    assert unknown.field == "/ex:Report/j:Offense[2]/j:OffenseUCRCode"
    assert "'ZZZ' is not a NIBRS/UCR offense code" in unknown.reason


def test_niem6_exchange_fixture_reads() -> None:
    results = read(FIXTURES / "niem6-exchange.xml")
    (person,) = accepted(results, NiemPerson)
    assert [(name.full, name.kind.value) for name in person.names] == [
        ("Giorgos K. Papadopoulos", "primary"),
        ("Γιώργος Παπαδόπουλος", "transliteration"),
    ]
    assert person.provenance.source_id == "X6-1#p1"
    (motorcycle,) = accepted(results, NiemVehicle)
    assert (motorcycle.category, motorcycle.plate, motorcycle.plate_country) == (
        VehicleCategory.MOTORCYCLE,
        "IKY1234",  # Greek capitals read as their Latin twins
        "GRC",
    )
    assert motorcycle.stolen_on == dt.date(2025, 4, 2)
    # without a status the passport stays an identifier, unless the adapter is told one
    assert accepted(results, NiemTravelDocument) == []
    (document,) = accepted(read(FIXTURES / "niem6-exchange.xml", document_status="stolen"), NiemTravelDocument)
    assert (document.number, document.expires_on) == ("AE1234567", dt.date(2030, 1, 31))


def test_records_give_their_plain_content() -> None:
    (person,) = accepted(read(FIXTURES / "niem6-exchange.xml"), NiemPerson)
    content = person.content()
    assert type(content) is Person
    assert content.names == person.names


# --- The offense table ---------------------------------------------------------------------


def test_offense_table_maps_to_iccs_divisions() -> None:
    assert len(NIBRS_TO_ICCS) == 85
    for code, (label, iccs) in NIBRS_TO_ICCS.items():
        assert label, code
        if iccs is not None:
            assert validate_iccs_code(iccs) == iccs
            assert len(iccs) == 4
    assert [code for code, (_, iccs) in NIBRS_TO_ICCS.items() if iccs is None] == ["09C"]


def test_offense_table_covers_the_iepd_code_list() -> None:
    codes_xsd = NIBRS_SAMPLES.parent / "base-xsd" / "nibrs" / "4.2" / "nibrs-codes.xsd"
    if not codes_xsd.exists():
        pytest.skip(f"{codes_xsd} is absent")
    text = codes_xsd.read_text(encoding="utf-8")
    offense_type = text[text.index('name="OffenseCodeSimpleType"') :]
    offense_type = offense_type[: offense_type.index("</xsd:simpleType>")]
    codes = re.findall(r'<xsd:enumeration value="([^"]+)"', offense_type)
    assert len(codes) == 62
    assert set(codes) <= set(NIBRS_TO_ICCS)


# --- Safe parsing ------------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<nc:Person xmlns:nc="http://release.niem.gov/niem/niem-core/4.0/"><nc:PersonName><nc:PersonFullName>&lol9;</nc:PersonFullName></nc:PersonName></nc:Person>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<nc:Person xmlns:nc="http://release.niem.gov/niem/niem-core/4.0/"><nc:PersonName><nc:PersonFullName>&xxe;</nc:PersonFullName></nc:PersonName></nc:Person>
"""


def test_entity_expansion_is_refused() -> None:
    with pytest.raises(NiemError, match=r"entity 'lol'.*billion laughs"):
        parse_document(BILLION_LAUGHS)
    (result,) = read_niem(BILLION_LAUGHS)
    assert isinstance(result, Rejection)
    assert result.field == "document"
    assert "entity declarations are refused" in result.reason


def test_external_entity_is_refused() -> None:
    with pytest.raises(NiemError, match=r"external entity \(SYSTEM 'file:///etc/passwd'\) 'xxe'.*XXE"):
        parse_document(EXTERNAL_ENTITY)
    (result,) = read_niem(EXTERNAL_ENTITY)
    assert isinstance(result, Rejection)
    assert "root:" not in result.raw
    assert "root:" not in result.reason


def test_limits_and_malformed_documents() -> None:
    person = b'<nc:Person xmlns:nc="http://release.niem.gov/niem/niem-core/4.0/"/>'
    with pytest.raises(NiemError, match="at most 10"):
        parse_document(person, max_bytes=10)
    deep = b"<a>" * 70 + b"</a>" * 70
    with pytest.raises(NiemError, match="nested more than 64 deep"):
        parse_document(deep)
    wide = b"<a>" + b"<b/>" * 50 + b"</a>"
    with pytest.raises(NiemError, match="more than 20 elements"):
        parse_document(wide, max_elements=20)
    (result,) = read_niem(b"<a><b></a>")
    assert isinstance(result, Rejection)
    assert result.location == "line 1, column 8"
    assert "not well-formed" in result.reason
    (empty,) = read_niem(b"")
    assert isinstance(empty, Rejection)
    assert empty.field == "document"
    (large,) = read_niem(person, max_bytes=10)
    assert isinstance(large, Rejection)
    assert "at most 10" in large.reason


# --- Writing -------------------------------------------------------------------------------

PERSON = Person.model_validate(
    {
        "names": [
            {"full": "Jean Dupont", "given": "Jean", "family": "Dupont"},
            {"full": "Johnny D", "kind": "alias"},
            {"full": "Jean Durand", "given": "Jean", "family": "Durand", "kind": "birth_name"},
        ],
        "sex": "male",
        "birth_dates": ["1980-03-14", "1980-03", "1979"],
        "nationalities": ["FRA", "XXA"],
        "identifiers": [
            {"kind": "passport", "value": "12AB34567", "country": "FRA", "issued_on": "2015-01-02"},
            {"kind": "police_reference", "value": "X-1"},
            {"kind": "identity_card", "value": "C1"},
            {"kind": "driving_licence", "value": "DL-9", "country": "BEL"},
            {"kind": "tax_id", "value": "T1"},
        ],
        "physical": {
            "height_cm": 180,
            "weight_kg": 80,
            "eye_colour": "blue",
            "hair_colour": "brown",
            "marks": [{"kind": "tattoo", "location": "left arm", "description": "anchor & rope <small>"}],
            "description": "thin",
        },
        "deceased": True,
        "remarks": "armed",
    }
)
VEHICLE = Vehicle.model_validate(
    {
        "vin": "WVWZZZ1JZXW000001",
        "plate": "AB-123-CD",
        "plate_country": "FRA",
        "make": "Volkswagen",
        "model": "Golf",
        "model_year": 1999,
        "colour": "red",
        "stolen_on": "2024-01-05",
        "remarks": "keys left inside",
    }
)
PLATE_ONLY = Vehicle.model_validate(
    {"plate": "KA 01 AB 1234", "plate_country": "IND", "status": "wanted", "category": "van"}
)


def _written(records: list[Any]) -> bytes:
    stream = io.BytesIO()
    NiemAdapter().write(records, stream)
    return stream.getvalue()


MANY_SCRIPTS = Person.model_validate(
    {
        "names": [
            {"full": "Γιώργος Παπαδόπουλος", "given": "Γιώργος", "family": "Παπαδόπουλος"},
            {"full": "Иван Петрович Сидоров", "kind": "alias"},
            {"full": "محمد عبد الله", "kind": "alias"},
            {"full": "王小明", "given": "小明", "family": "王", "kind": "alias"},
            {"full": "अमित कुमार", "kind": "alias"},
            {"full": 'O\'Brien & <Sons> "Ltd"', "kind": "alias"},
        ],
        "sex": "unspecified",
    }
)


@pytest.mark.parametrize(
    "records",
    [
        pytest.param([PERSON], id="person-every-field"),
        pytest.param([VEHICLE], id="vehicle-every-field"),
        pytest.param([PLATE_ONLY], id="plate-only"),
        pytest.param([Person.model_validate({"names": [{"full": "X"}]})], id="person-name-only"),
        pytest.param([MANY_SCRIPTS], id="names-in-several-scripts"),
        pytest.param([], id="empty-exchange"),
        pytest.param([PERSON, VEHICLE, PLATE_ONLY, MANY_SCRIPTS, VEHICLE, PERSON], id="mixed-and-repeated"),
    ],
)
def test_written_xml_validates_against_the_niem_6_schemas(records: list[Any]) -> None:
    document = _written(records)
    assert niem6_violations(document) == []
    assert len(accepted(read_niem(document), NiemPerson)) == sum(isinstance(r, Person) for r in records)


def test_written_xml_uses_every_element_polex_writes() -> None:
    # The documents above cover each element of the subset the writer can emit.
    document = _written([PERSON, VEHICLE, PLATE_ONLY, MANY_SCRIPTS]).decode()
    for tag in (
        "nc:PersonBirthDate", "nc:YearDate", "nc:YearMonthDate", "nc:Date", "nc:PersonDescriptionText",
        "nc:PersonEyeColorText", "nc:PersonGeneralAppearanceDescriptionText", "nc:PersonHairColorText",
        "nc:PersonHeightMeasure", "nc:MeasureIntegerValue", "nc:MeasureUnitText", "nc:PersonLivingIndicator",
        "nc:PersonGivenName", "nc:PersonSurName", "nc:PersonFullName", "nc:PersonNameCategoryText",
        "nc:PersonOtherIdentification", "nc:IdentificationCategoryDescriptionText", "nc:PersonPassportIdentification",
        "nc:IdentificationIssueDate", "nc:IdentificationIssuerCountry", "nc:CountryCode", "nc:PersonPhysicalFeature",
        "nc:PhysicalFeatureCategoryText", "nc:PhysicalFeatureDescriptionText", "nc:PhysicalFeatureLocationText",
        "nc:PersonSexText", "nc:PersonStateIdentification", "nc:PersonTaxIdentification", "nc:PersonWeightMeasure",
        "nc:PersonNationality", "nc:PersonNationalityCountry", "nc:ItemCategoryText", "nc:ItemColorDescriptionText",
        "nc:ItemDescriptionText", "nc:ItemMakeName", "nc:ItemModelName", "nc:ItemModelYearDate", "nc:ItemStatus",
        "nc:StatusDescriptionText", "nc:StatusDate", "nc:VehicleIdentification", "j:ConveyanceRegistration",
        "nc:Conveyance", "j:ConveyanceRegistrationPlateIdentification",
    ):  # fmt: skip
        assert f"<{tag}" in document, tag


def test_a_record_given_twice_keeps_structures_ids_unique() -> None:
    # structures:id is an xs:ID: the second copy of a record with an id gets its position appended
    record_id = "0190f0c0-0000-7000-8000-000000000001"
    person = PERSON.model_copy(update={"id": record_id})
    document = _written([person, person])
    assert niem6_violations(document) == []
    assert f'structures:id="person-{record_id}"'.encode() in document
    assert f'structures:id="person-{record_id}-2"'.encode() in document


def test_niem6_fixture_validates() -> None:
    assert niem6_violations((FIXTURES / "niem6-exchange.xml").read_bytes()) == []


def _broken(old: str, new: str) -> bytes:
    document = _written([PERSON, VEHICLE]).decode()
    assert old in document
    return document.replace(old, new, 1).encode()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(  # nc:PersonSexText moved before the names: NIEM fixes the order of properties
            "    <nc:PersonDescriptionText>armed</nc:PersonDescriptionText>\n",
            "    <nc:PersonSexText>male</nc:PersonSexText>\n"
            "    <nc:PersonDescriptionText>armed</nc:PersonDescriptionText>\n",
            r"line \d+: Element 'nc:PersonDescriptionText': This element is not expected",
            id="wrong-order",
        ),
        pytest.param(
            "<nc:Date>1980-03-14</nc:Date>",
            "<nc:Date>1980-02-30</nc:Date>",
            r"Element 'nc:Date': '1980-02-30' is not a valid value of the atomic type 'xs:date'",
            id="bad-date",
        ),
        pytest.param(
            "<nc:YearDate>1979</nc:YearDate>",
            "<nc:YearDate>79</nc:YearDate>",
            r"'79' is not a valid value of the atomic type 'xs:gYear'",
            id="bad-year",
        ),
        pytest.param(
            "    <nc:PersonDescriptionText>armed</nc:PersonDescriptionText>\n",
            "    <nc:PersonShoeSizeText>44</nc:PersonShoeSizeText>\n",
            r"Element 'nc:PersonShoeSizeText': This element is not expected",
            id="unknown-element",
        ),
        pytest.param(
            "<nc:MeasureIntegerValue>180</nc:MeasureIntegerValue>",
            "<nc:MeasureIntegerValue>1.80</nc:MeasureIntegerValue>",
            r"'1.80' is not a valid value of the atomic type 'xs:integer'",
            id="decimal-for-integer",
        ),
        pytest.param(
            ' cli:codeListURI="https://www.icao.int/publications/Documents/9303_p3_cons_en.pdf">FRA<',
            ">FRA<",
            r"Element 'nc:CountryCode': The attribute 'cli:codeListURI' is required but missing",
            id="code-without-its-code-list",
        ),
        pytest.param(
            '<nc:Conveyance structures:ref="vehicle1"/>',
            '<nc:Conveyance structures:ref="vehicle9"/>',
            r"Element 'nc:Conveyance', attribute 'structures:ref': 'vehicle9' refers to no structures:id",
            id="dangling-reference",
        ),
        pytest.param(
            "<nc:PersonLivingIndicator>false</nc:PersonLivingIndicator>",
            "<nc:PersonLivingIndicator>dead</nc:PersonLivingIndicator>",
            r"'dead' is not a valid value of the atomic type 'xs:boolean'",
            id="bad-boolean",
        ),
    ],
)
def test_broken_documents_fail_with_a_clear_error(old: str, new: str, expected: str) -> None:
    document = _broken(old, new)
    violations = niem6_violations(document)
    assert violations, "the broken document validated"
    assert any(re.search(expected, violation) for violation in violations), violations
    with pytest.raises(NiemSchemaError, match=r"not valid NIEM 6\.0: line "):
        validate_niem6(document)


def test_validation_refuses_what_is_not_a_safe_exchange_document() -> None:
    (not_xml,) = niem6_violations(b"<polex:Exchange")
    assert not_xml.startswith("line 1: not well-formed XML")
    doctype = b'<!DOCTYPE x [<!ENTITY e "e">]><polex:Exchange xmlns:polex="https://polex.dev/ns/niem-exchange/1.0/"/>'
    assert niem6_violations(doctype) == ["line 1: a document type declaration is not allowed"]
    other_root = b'<nc:Person xmlns:nc="https://docs.oasis-open.org/niemopen/ns/model/niem-core/6.0/"/>'
    assert niem6_violations(other_root) == ["line 1: the root element is nc:Person, not polex:Exchange"]


def test_write_checks_what_it_writes() -> None:
    stream = io.BytesIO()
    person = Person.model_validate({"names": [{"full": "Jean\uffffDupont"}]})
    with pytest.raises(ValueError, match=r"nc:PersonFullName: U\+FFFF cannot be written in XML 1.0"):
        NiemAdapter().write([person], stream)
    assert stream.getvalue() == b""
    # validate=False skips the schema check, not the writing
    assert _written([PERSON]) == _write_unchecked([PERSON])


def _write_unchecked(records: list[Any]) -> bytes:
    stream = io.BytesIO()
    NiemAdapter(validate=False).write(records, stream)
    return stream.getvalue()


def test_round_trip_keeps_persons_and_vehicles() -> None:
    results = read_niem(_written([PERSON, VEHICLE, PLATE_ONLY]))
    assert all(isinstance(result, Accepted) for result in results)
    (person,) = accepted(results, NiemPerson)
    vehicle, plate_only = accepted(results, NiemVehicle)
    back = person.content()
    assert isinstance(back, Person)
    # NIEM groups identifications by kind, so they come back in NIEM's order
    key = lambda identifier: identifier.model_dump_json()  # noqa: E731
    assert sorted(back.identifiers, key=key) == sorted(PERSON.identifiers, key=key)
    assert back.model_copy(update={"identifiers": PERSON.identifiers}) == PERSON
    assert vehicle.content() == VEHICLE
    assert plate_only.content() == PLATE_ONLY


def test_write_refuses_other_records() -> None:
    case = Case.model_validate({"reference": "1", "title": "t", "crime_types": ["0101"], "opened_on": "2020-01-01"})
    with pytest.raises(TypeError, match="writes persons and vehicles, not Case"):
        _written([case])
    document = TravelDocument.model_validate({"number": "X1", "issuing_country": "FRA", "status": "stolen"})
    with pytest.raises(TypeError):
        _written([document])


def test_adapter_is_a_writable_format() -> None:
    adapter = NiemAdapter()
    assert isinstance(adapter, WritableFormatAdapter)
    registry = FormatRegistry(builtins=False, entry_point_group=None)
    info = registry.register(NiemAdapter)
    assert (info.name, info.writable) == ("niem-xml", True)
    assert isinstance(registry.get("niem-xml", document_status="lost"), NiemAdapter)
    # `polex export --format niem-xml` writes through the registry's adapter, which validates
    exporter = get_format("niem-xml")
    assert isinstance(exporter, NiemAdapter)
    assert exporter.validate


# Any text XML 1.0 can carry (the domain refuses C0 controls; surrogates and U+FFFE/U+FFFF cannot be
# written at all), in every script.
XML_TEXT = st.text(
    st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff", include_characters="\t\n\r"
    ),
    min_size=1,
    max_size=24,
).filter(str.strip)
PAST_DATES = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2024, 12, 31))
PARTIAL_DATES = PAST_DATES.flatmap(
    lambda day: st.sampled_from([day.isoformat(), day.isoformat()[:7], day.isoformat()[:4]])
)
COUNTRIES = st.sampled_from(["FRA", "DEU", "GRC", "IND", "XXA", "UNO"])


@st.composite
def persons(draw: st.DrawFn) -> Person:
    name = st.fixed_dictionaries(
        {"full": XML_TEXT},
        optional={"given": XML_TEXT, "family": XML_TEXT, "kind": st.sampled_from(list(NameKind))},
    )
    identifier = st.fixed_dictionaries(
        {"kind": st.sampled_from(list(IdentifierKind)), "value": XML_TEXT},
        optional={"country": COUNTRIES, "issued_on": PAST_DATES},
    )
    mark = st.fixed_dictionaries(
        {"kind": st.sampled_from(list(MarkKind))}, optional={"location": XML_TEXT, "description": XML_TEXT}
    )
    physical = st.fixed_dictionaries(
        {},
        optional={
            "height_cm": st.integers(30, 275),
            "weight_kg": st.integers(1, 700),
            "eye_colour": st.sampled_from(list(EyeColour)),
            "hair_colour": st.sampled_from(list(HairColour)),
            "marks": st.lists(mark, max_size=2),
            "description": XML_TEXT,
        },
    )
    data = draw(
        st.fixed_dictionaries(
            {"names": st.lists(name, min_size=1, max_size=3)},
            optional={
                "sex": st.sampled_from(list(Sex)),
                "birth_dates": st.lists(PARTIAL_DATES, max_size=2),
                "nationalities": st.lists(COUNTRIES, max_size=2, unique=True),
                "identifiers": st.lists(identifier, max_size=3),
                "physical": physical,
                "deceased": st.booleans(),
                "remarks": XML_TEXT,
            },
        )
    )
    try:
        return Person.model_validate(data)
    except ValidationError:
        assume(False)
        raise


@st.composite
def vehicles(draw: st.DrawFn) -> Vehicle:
    plate = st.text(st.sampled_from("ABCDEFGHJKLMNPRSTUVWXYZ0123456789"), min_size=1, max_size=10)
    data = draw(
        st.fixed_dictionaries(
            {"plate": plate, "plate_country": COUNTRIES},
            optional={
                "vin": st.just("WVWZZZ1JZXW000001"),
                "make": XML_TEXT,
                "model": XML_TEXT,
                "model_year": st.integers(1886, 2025),
                "colour": XML_TEXT,
                "category": st.sampled_from(list(VehicleCategory)),
                "status": st.sampled_from(list(VehicleStatus)),
                "stolen_on": PAST_DATES,
                "remarks": XML_TEXT,
            },
        )
    )
    try:
        return Vehicle.model_validate(data)
    except ValidationError:
        assume(False)
        raise


def _comparable(person: Person) -> Person:
    # Identifiers come back grouped by kind (compared apart); an empty physical description is none.
    physical = person.physical if person.physical != PhysicalDescription() else None
    return person.model_copy(update={"identifiers": [], "physical": physical})


def _without_unwritten(vehicle: Vehicle) -> Vehicle:
    # Only a stolen vehicle's date of theft is written.
    return vehicle if vehicle.status is VehicleStatus.STOLEN else vehicle.model_copy(update={"stolen_on": None})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(persons(), max_size=3), st.lists(vehicles(), max_size=3))
def test_every_written_document_validates_and_reads_back(people: list[Person], cars: list[Vehicle]) -> None:
    document = _written([*people, *cars])
    assert niem6_violations(document) == []
    results = read_niem(document)
    assert all(isinstance(result, Accepted) for result in results), rejections(results)
    back = [person.content() for person in accepted(results, NiemPerson)]
    key = lambda identifier: identifier.model_dump_json()  # noqa: E731
    assert [sorted(p.identifiers, key=key) for p in back] == [sorted(p.identifiers, key=key) for p in people]
    assert [_comparable(p) for p in back] == [_comparable(p) for p in people]
    assert [vehicle.content() for vehicle in accepted(results, NiemVehicle)] == [_without_unwritten(v) for v in cars]


# --- No input makes the reader fail --------------------------------------------------------

NC4 = "http://release.niem.gov/niem/niem-core/4.0/"
J6 = "http://release.niem.gov/niem/domains/jxdm/6.0/"
S4 = "http://release.niem.gov/niem/structures/4.0/"
VOCABULARY = [
    ("nc", "Person"),
    ("nc", "PersonName"),
    ("nc", "PersonGivenName"),
    ("nc", "PersonSurName"),
    ("nc", "PersonFullName"),
    ("nc", "PersonAlternateName"),
    ("nc", "PersonNameCategoryCode"),
    ("nc", "PersonBirthDate"),
    ("nc", "Date"),
    ("nc", "DateTime"),
    ("nc", "YearMonthDate"),
    ("nc", "Year"),
    ("j", "PersonSexCode"),
    ("nc", "PersonSexText"),
    ("nc", "PersonCitizenshipISO3166Alpha3Code"),
    ("nc", "PersonNationality"),
    ("nc", "CountryCode"),
    ("nc", "PersonHeightMeasure"),
    ("nc", "PersonWeightMeasure"),
    ("nc", "MeasureValueText"),
    ("nc", "MeasureIntegerValue"),
    ("nc", "LengthUnitCode"),
    ("nc", "PersonEyeColorText"),
    ("nc", "PersonPassportIdentification"),
    ("nc", "IdentificationID"),
    ("nc", "IdentificationStatus"),
    ("nc", "StatusDescriptionText"),
    ("nc", "IdentificationJurisdiction"),
    ("nc", "Vehicle"),
    ("nc", "VehicleIdentification"),
    ("nc", "ItemModelYearDate"),
    ("nc", "ItemStatus"),
    ("j", "ConveyanceRegistrationPlateIdentification"),
    ("nc", "Incident"),
    ("nc", "ActivityIdentification"),
    ("nc", "ActivityDate"),
    ("j", "Offense"),
    ("j", "OffenseUCRCode"),
    ("j", "Arrest"),
    ("j", "Victim"),
    ("j", "Subject"),
    ("nc", "RoleOfPerson"),
    ("j", "OffenseVictimAssociation"),
    ("nc", "Document"),
    ("nc", "DocumentCategoryText"),
    ("nc", "Location"),
    ("nc", "Item"),
    ("j", "ItemCategoryNIBRSPropertyCategoryCode"),
]
VALUES = st.sampled_from(
    [
        "",
        " ",
        "M",
        "F",
        "X",
        "FRA",
        "fr",
        "250",
        "GM",
        "Germany",
        "1980",
        "1980-13",
        "1980-02-29",
        "2024-02-30",
        "2016-02-19T10:00:00",
        "cm",
        "CMT",
        "LBR",
        "180",
        "1.8",
        "blue",
        "stolen",
        "lost",
        "03",
        "13A",
        "09A",
        "09C",
        "ZZZ",
        "1M8GDM9AXKP042788",
        "ABC-123",
        "true",
        "Legal",
        "Alternate",
        "passport",
        "<",
        "&",
        "Ω",
        "\u00e9",
    ]
) | st.text(max_size=12)
IDS = st.sampled_from(["A", "B", "C"])


@st.composite
def xml_trees(draw: st.DrawFn, depth: int = 0) -> str:
    prefix, local = draw(st.sampled_from(VOCABULARY))
    attributes = ""
    if draw(st.booleans()):
        attributes += f' s:id="{draw(IDS)}"'
    if draw(st.integers(0, 4)) == 0:
        attributes += f' s:ref="{draw(IDS)}"'
    children = [] if depth >= 4 else draw(st.lists(xml_trees(depth + 1), max_size=4))
    text_only: bool = draw(st.booleans())
    text = "" if children and text_only else draw(VALUES)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    return f"<{prefix}:{local}{attributes}>{escaped}{''.join(children)}</{prefix}:{local}>"


def _document(body: list[str]) -> bytes:
    return (
        f'<ex:Report xmlns:ex="urn:example" xmlns:nc="{NC4}" xmlns:j="{J6}" xmlns:s="{S4}">{"".join(body)}</ex:Report>'
    ).encode()


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(xml_trees(), min_size=1, max_size=6))
def test_any_niem_shaped_document_gives_results_not_errors(body: list[str]) -> None:
    results = read_niem(_document(body))
    for result in results:
        assert isinstance(result, Accepted | Rejection)
        if isinstance(result, Rejection):
            assert result.field
            assert result.reason
            assert result.location


@SETTINGS
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_give_results_or_a_parse_rejection(data: bytes) -> None:
    results = read_niem(data)
    assert all(isinstance(result, Accepted | Rejection) for result in results)
    try:
        parse_document(data)
    except NiemError as error:  # the only error parsing may raise, with its reason
        outcome = error.reason
    else:
        outcome = "parsed"
    assert outcome
