"""The FollowTheMoney format: what maps to what, rejections, round trips both ways, and real
OpenSanctions entities (the yente screening bench in /work/shared/data)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import string
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pycountry
import pytest
from followthemoney import Model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from polex.domain.base import new_id
from polex.domain.countries import ICAO_SPECIAL_CODES
from polex.domain.document import DocumentStatus, DocumentType, TravelDocument
from polex.domain.person import (
    DistinguishingMark,
    EyeColour,
    HairColour,
    IdentifierKind,
    MarkKind,
    NameKind,
    Person,
    Sex,
)
from polex.domain.vehicle import Vehicle, VehicleCategory, VehicleStatus
from polex.formats.ftm import (
    EXTENSION_PREFIX,
    KINDS,
    PERSON,
    TRAVEL_DOCUMENT,
    VEHICLE,
    FtmAdapter,
    FtmPerson,
    FtmTravelDocument,
    FtmVehicle,
    alpha3_to_ftm,
    classify_document,
    entity_id_for,
    ftm_to_alpha3,
    holder_entity_id,
    parse_source_id,
    record_id_for,
    source_id_for,
)
from polex.formats.registry import Accepted, FormatRegistry, ReadResult, Rejection, WritableFormatAdapter
from tests.factories import document_body, make_vin, person_body, vehicle_body

MODEL = Model.instance()
TODAY = dt.datetime.now(dt.UTC).date()
BENCH = Path(__file__).parents[3].parent / "shared" / "data" / "yente-screening-bench"
CONTENT = {Person: Person, TravelDocument: TravelDocument, Vehicle: Vehicle}
MAPPED = {kind.name: {prop for spec in kind.specs for prop in spec.props if prop != "schema"} for kind in KINDS}


# --- Helpers ----------------------------------------------------------------------------------


def json_lines(text: str) -> list[str]:
    """The lines of JSON lines text: split at line feeds only, as JSON strings may hold U+2028."""
    return [line for line in text.split("\n") if line.strip()]


def entity(schema: str, entity_id: str, **props: Any) -> dict[str, Any]:
    properties = {key: value if isinstance(value, list) else [value] for key, value in props.items()}
    return {"id": entity_id, "schema": schema, "properties": properties}


def read(entities: Iterable[dict[str, Any] | str], **options: Any) -> list[ReadResult]:
    lines = [item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in entities]
    return list(FtmAdapter(**options).read(io.BytesIO("\n".join(lines).encode())))


def read_one(item: dict[str, Any], **options: Any) -> ReadResult:
    (result,) = read([item], **options)
    return result


def accepted(result: ReadResult) -> Any:
    assert isinstance(result, Accepted), result
    return result.record


def write(records: Iterable[BaseModel]) -> list[dict[str, Any]]:
    out = io.BytesIO()
    FtmAdapter().write(records, out)
    return [json.loads(line) for line in json_lines(out.getvalue().decode())]


def content_of(record: BaseModel) -> dict[str, Any]:
    for model in (Person, TravelDocument, Vehicle):
        if isinstance(record, model):
            return record.model_dump(mode="json", include=set(model.model_fields))
    raise TypeError(record)


def mapped_props(data: dict[str, Any]) -> dict[str, list[str]]:
    kind = {"Person": "person", "Vehicle": "vehicle"}.get(data["schema"], "travel_document")
    props = {}
    for prop, values in data["properties"].items():
        kept = [value for value in values if not value.startswith(EXTENSION_PREFIX)]
        if prop in MAPPED[kind] and kept:
            props[prop] = kept
    return props


def note_of(data: dict[str, Any]) -> dict[str, Any] | None:
    prop = "description" if data["schema"] in ("Passport", "Identification") else "notes"
    notes = [value for value in data["properties"].get(prop, []) if value.startswith(EXTENSION_PREFIX)]
    return json.loads(notes[0][len(EXTENSION_PREFIX) :]) if notes else None


def round_trip(records: list[BaseModel]) -> list[ReadResult]:
    out = io.BytesIO()
    FtmAdapter().write(records, out)
    return list(FtmAdapter().read(io.BytesIO(out.getvalue())))


SANCTIONED = entity(
    "Person",
    "NK-test1",
    name=["Vitaly Yurievich KUZMENKO", "Виталий Юрьевич КУЗЬМЕНКО"],
    alias="Vitalij Kuzmenko",
    weakAlias="Vitya",
    previousName="Vitaly Petrov",
    firstName=["Vitaly", "Виталий", "Vitalij"],
    middleName=["Yurievich"],
    fatherName=["Юрьевич"],
    lastName=["KUZMENKO", "КУЗЬМЕНКО", "Kuzmenko"],
    gender="male",
    birthDate=["1971-01-22", "1972"],
    birthPlace=["Voronezh"],
    birthCountry="ru",
    nationality="ru",
    citizenship=["by", "ru"],
    passportNumber="75 1234567",
    taxNumber="366510784303",
    innCode="366510784303",
    idNumber="AB-998877",
    height="1.82 m",
    weight="90",
    eyeColor="Grey",
    hairColor="Salt and pepper",
    appearance="scar on the left cheek",
    spokenLanguage=["rus", "eng"],
    notes=["General Director of JSC 163 Armor Repair Plant", "Suspected location: Voronezh"],
    topics="sanction",
    position="General Director",
)


# --- Reading persons --------------------------------------------------------------------------


def test_a_sanctioned_person_maps_field_by_field() -> None:
    data = {**SANCTIONED, "datasets": ["eu_fsf", "us_ofac_sdn"]}
    person = accepted(read_one(data))
    assert isinstance(person, FtmPerson)
    names = [(name.full, name.kind, name.given, name.family, name.patronymic, name.script) for name in person.names]
    assert names == [
        ("Vitaly Yurievich KUZMENKO", NameKind.PRIMARY, "Vitaly Yurievich", "KUZMENKO", None, "Latn"),
        ("Виталий Юрьевич КУЗЬМЕНКО", NameKind.PRIMARY, "Виталий", "КУЗЬМЕНКО", "Юрьевич", "Cyrl"),
        ("Vitalij Kuzmenko", NameKind.ALIAS, "Vitalij", "Kuzmenko", None, "Latn"),
        ("Vitya", NameKind.NICKNAME, None, None, None, "Latn"),
        ("Vitaly Petrov", NameKind.PREVIOUS, "Vitaly", None, None, "Latn"),
    ]
    assert person.sex is Sex.MALE
    assert person.birth_dates == ["1971-01-22", "1972"]
    assert person.birth_place is not None
    assert (person.birth_place.place, person.birth_place.country) == ("Voronezh", "RUS")
    assert person.nationalities == ["RUS", "BLR"]
    identifiers = [(i.kind, i.value, i.country) for i in person.identifiers]
    assert identifiers == [
        (IdentifierKind.PASSPORT, "75 1234567", None),
        (IdentifierKind.NATIONAL_ID, "AB-998877", None),
        (IdentifierKind.TAX_ID, "366510784303", "RUS"),  # taxNumber and innCode: one identifier
    ]
    assert person.physical is not None
    assert person.physical.height_cm == 182
    assert person.physical.weight_kg == 90
    assert person.physical.eye_colour is EyeColour.GRAY
    assert person.physical.hair_colour is HairColour.GRAY
    assert person.physical.description == "scar on the left cheek"
    assert person.languages == ["rus", "eng"]
    assert person.remarks == "General Director of JSC 163 Armor Repair Plant\n\nSuspected location: Voronezh"
    assert person.id == record_id_for("NK-test1")
    assert person.provenance.source_format == "ftm"
    assert person.provenance.source_id == "eu_fsf,us_ofac_sdn:NK-test1"
    assert parse_source_id(person.provenance.source_id) == (["eu_fsf", "us_ofac_sdn"], "NK-test1")
    # What writing would not give back is kept as received, under the mapping's name.
    originals = person.provenance.original_values
    assert json.loads(originals["nationalities"]) == {"nationality": ["ru"], "citizenship": ["by", "ru"]}
    assert json.loads(originals["physical"])["height"] == ["1.82 m"]
    assert "sex" not in originals
    assert "birth_dates" not in originals


def test_record_ids_are_stable_and_polex_ids_come_back() -> None:
    record_id = new_id()
    assert record_id_for(entity_id_for(record_id)) == record_id
    assert record_id_for("NK-test1") == record_id_for("NK-test1") != record_id_for("NK-test2")
    uuid.UUID(record_id_for("NK-test1"))
    first = accepted(read_one(SANCTIONED))
    again = accepted(read_one(SANCTIONED))
    assert first.id == again.id == record_id_for("NK-test1")


def test_a_person_without_datasets_keeps_the_id_alone() -> None:
    person = accepted(read_one(entity("Person", "abc123", name="Frau Lina Dachner", country="de")))
    assert person.provenance.source_id == ":abc123"
    assert parse_source_id(":abc123") == ([], "abc123")


def test_a_long_dataset_list_is_cut_to_fit_the_source_id() -> None:
    datasets = [f"dataset_number_{index:03d}" for index in range(60)]
    source_id = source_id_for("NK-x", datasets)
    assert len(source_id) <= 500
    names, entity_id = parse_source_id(source_id)
    assert entity_id == "NK-x"
    assert names == sorted(datasets)[: len(names)]
    assert 0 < len(names) < 60


def test_name_parts_attach_by_words_and_a_middle_name_joins_the_given_name() -> None:
    data = entity(
        "Person",
        "p1",
        name=["Maria Aleksandrovna OSETROVA", "Мария Александровна Осетрова"],
        firstName=["Maria", "Мария"],
        middleName=["Aleksandrovna", "Александровна"],
        fatherName=["АЛЕКСАНДРОВНА"],
        lastName=["OSETROVA", "Осетрова", "Osetrova"],
    )
    person = accepted(read_one(data))
    latin, cyrillic = person.names
    assert (latin.given, latin.family, latin.patronymic) == ("Maria Aleksandrovna", "OSETROVA", None)
    # The middle name is the patronymic here: it stays there and out of the given name.
    assert (cyrillic.given, cyrillic.family, cyrillic.patronymic) == ("Мария", "Осетрова", "АЛЕКСАНДРОВНА")


def test_gender_other_is_unspecified_and_none_is_unknown() -> None:
    assert accepted(read_one(entity("Person", "p", name="A B", gender="other"))).sex is Sex.UNSPECIFIED
    assert accepted(read_one(entity("Person", "p", name="A B"))).sex is Sex.UNKNOWN


def test_a_birth_country_that_no_longer_exists_is_kept_by_name() -> None:
    person = accepted(read_one(entity("Person", "p", name="A B", birthPlace="Izhevsk", birthCountry="suhh")))
    assert person.birth_place is not None
    assert (person.birth_place.place, person.birth_place.country) == ("Izhevsk; Soviet Union", None)
    assert json.loads(person.provenance.original_values["birth_place"]) == {
        "birthPlace": ["Izhevsk"],
        "birthCountry": ["suhh"],
    }


def test_territories_read_as_their_country_and_eu_un_as_icao_codes() -> None:
    assert ftm_to_alpha3("ru") == "RUS"
    assert ftm_to_alpha3("gb-sct") == "GBR"
    assert ftm_to_alpha3("ua-cri") == "UKR"
    assert ftm_to_alpha3("eu") == "EUE"
    assert ftm_to_alpha3("un") == "UNO"
    assert ftm_to_alpha3("suhh") is None
    assert ftm_to_alpha3("xk") is None
    assert ftm_to_alpha3("zz") is None
    assert alpha3_to_ftm("DEU") == "de"
    assert alpha3_to_ftm("GBD") == "gb"
    assert alpha3_to_ftm("XXA") is None
    assert alpha3_to_ftm("XPO") is None
    for country in pycountry.countries:
        code = alpha3_to_ftm(country.alpha_3)
        if code is not None:
            assert ftm_to_alpha3(code) == country.alpha_3


def test_long_notes_are_cut_and_kept_whole_in_the_provenance() -> None:
    notes = ["word " * 150, "second note"]
    person = accepted(read_one(entity("Person", "p", name="A B", notes=notes)))
    assert person.remarks is not None
    assert len(person.remarks) == 500
    assert person.remarks.endswith("…")
    assert json.loads(person.provenance.original_values["remarks"]) == {"notes": notes}


def test_identifiers_of_linked_documents_join_the_holder() -> None:
    holder = entity("Person", "h1", name="Anna Maria Eriksson", passportNumber="L898902C3")
    passport = entity(
        "Passport", "pp1", holder="h1", number="L898902C3", country="se", startDate="2012-04-16", type="Passport"
    )
    licence = entity("Identification", "dl1", holder="h1", number="DL-42", country="se", type="Driving license")
    person, document, rejected = read([holder, passport, licence], status="stolen")
    record = accepted(person)
    identifiers = [(i.kind, i.value, i.country, i.issued_on) for i in record.identifiers]
    assert identifiers == [
        (IdentifierKind.PASSPORT, "L898902C3", "SWE", dt.date(2012, 4, 16)),
        (IdentifierKind.DRIVING_LICENCE, "DL-42", "SWE", None),
    ]
    travel = accepted(document)
    assert isinstance(travel, FtmTravelDocument)
    assert travel.holder_person_id == record.id
    assert travel.holder is not None
    assert travel.holder.names[0].full == "Anna Maria Eriksson"
    assert isinstance(rejected, Rejection)
    assert rejected.field == "type"
    assert "no travel document" in rejected.reason
    assert "driving licence" in rejected.reason


# --- Reading documents and vehicles -----------------------------------------------------------


def test_a_document_without_status_is_rejected_unless_the_adapter_gives_one() -> None:
    passport = entity("Passport", "pp1", holder="h-elsewhere", number="X1234567", country="fr")
    rejection = read_one(passport)
    assert isinstance(rejection, Rejection)
    assert rejection.field == "status"
    assert "status=" in rejection.reason
    document = accepted(read_one(passport, status="lost"))
    assert document.status is DocumentStatus.LOST
    assert document.number == "X1234567"
    assert document.issuing_country == "FRA"
    assert document.document_type is DocumentType.PASSPORT
    # The holder is not in the stream: the link alone, to the id its person would get.
    assert document.holder_person_id == record_id_for("h-elsewhere")
    assert document.holder is None


@pytest.mark.parametrize(
    ("schema", "type_text", "expected"),
    [
        ("Passport", None, DocumentType.PASSPORT),
        ("Passport", "Diplomatic passport", DocumentType.DIPLOMATIC_PASSPORT),
        ("Identification", "Passport", DocumentType.PASSPORT),
        ("Identification", "National ID card", DocumentType.IDENTITY_CARD),
        ("Identification", "Residence permit", DocumentType.RESIDENCE_PERMIT),
        ("Identification", "Seafarer identity document", DocumentType.SEAFARER_IDENTITY),
        ("Identification", "Refugee travel document", DocumentType.TRAVEL_DOCUMENT),
        ("Identification", None, DocumentType.OTHER),
        ("Identification", "Voter card", DocumentType.OTHER),
        ("Identification", "Driving license", None),
        ("Identification", "Tax card", None),
    ],
)
def test_document_types(schema: str, type_text: str | None, expected: DocumentType | None) -> None:
    assert classify_document(schema, type_text)[0] == expected


def test_a_document_number_is_normalised_and_kept_as_received() -> None:
    document = accepted(read_one(entity("Identification", "i1", number="ab 123-456", country="BE"), status="stolen"))
    assert document.number == "AB123456"
    assert json.loads(document.provenance.original_values["number"]) == {"number": ["ab 123-456"]}


@pytest.mark.parametrize(
    ("props", "field", "reason"),
    [
        ({"country": "fr"}, "number", "needs a number"),
        ({"number": "X1"}, "country", "needs the country"),
        ({"number": "X1", "country": "suhh"}, "country", "Soviet Union"),
        ({"number": "X1", "country": "fr", "startDate": "2019"}, "startDate", "not a full date"),
        ({"number": "X1", "country": "fr", "startDate": "2020-01-01", "endDate": "2019-01-01"}, "endDate", "after"),
        ({"number": "X1", "country": "fr", "holder": ["a", "b"]}, "holder", "one holder"),
        ({"number": "X1!", "country": "fr"}, "number", "letters A-Z and digits"),
    ],
)
def test_document_rejections_name_the_property(props: dict[str, Any], field: str, reason: str) -> None:
    rejection = read_one(entity("Identification", "i1", **props), status="stolen")
    assert isinstance(rejection, Rejection)
    assert rejection.field == field
    assert reason in rejection.reason


def test_a_document_whose_holder_is_rejected_is_rejected_too() -> None:
    holder = entity("Person", "h1", name="A B", nationality="suhh")
    results = read([holder, entity("Passport", "pp1", holder="h1", number="X1", country="fr")], status="stolen")
    assert [type(result) for result in results] == [Rejection, Rejection]
    person, document = results
    assert isinstance(person, Rejection)
    assert person.field == "nationality"
    assert isinstance(document, Rejection)
    assert document.field == "holder"
    assert "nationality" in document.reason


def test_a_vehicle_maps_plate_vin_country_model_and_type() -> None:
    vin = make_vin()
    data = entity(
        "Vehicle",
        "v1",
        registrationNumber=["AB-123-CD", vin],
        country="fr",
        model="Renault Clio",
        buildDate="2019-05-01",
        type="Car",
        notes="Seen in Lyon",
        owner="someone",
    )
    rejection = read_one(data)
    assert isinstance(rejection, Rejection)
    assert rejection.field == "status"
    vehicle = accepted(read_one(data, vehicle_status="wanted"))
    assert isinstance(vehicle, FtmVehicle)
    assert (vehicle.plate, vehicle.vin, vehicle.plate_country) == ("AB123CD", vin, "FRA")
    assert (vehicle.make, vehicle.model, vehicle.model_year) == (None, "Renault Clio", 2019)
    assert vehicle.category is VehicleCategory.CAR
    assert vehicle.status is VehicleStatus.WANTED
    assert vehicle.remarks == "Seen in Lyon"


def test_an_unknown_vehicle_type_is_other_and_a_bad_vin_is_named() -> None:
    vehicle = accepted(
        read_one(
            entity("Vehicle", "v1", registrationNumber="B 1234", country="de", type="Hovercraft"),
            vehicle_status="stolen",
        )
    )
    assert vehicle.category is VehicleCategory.OTHER
    rejection = read_one(entity("Vehicle", "v2", registrationNumber="1HGCM82633A00435X"), vehicle_status="stolen")
    assert isinstance(rejection, Rejection)
    assert rejection.field == "registrationNumber"
    assert "check digit" in rejection.reason


# --- Rejections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("{not json", "line", "not a JSON object"),
        ("[1, 2]", "line", "JSON object"),
        (json.dumps({"schema": "Person", "properties": {}}), "id", "needs an id"),
        (json.dumps({"id": "x", "schema": "Spaceship", "properties": {}}), "schema", "not an FtM schema"),
        (json.dumps(entity("Company", "c1", name="ACME")), "schema", "no record for a Company"),
        (
            json.dumps(entity("Person", "p1", alias="Only An Alias")),
            "name",
            "at least one name must be of kind 'primary'",
        ),
        (json.dumps(entity("Person", "p1", country="de")), "name", "a person needs a name"),
        (json.dumps(entity("Person", "p1", name="A B", gender="both")), "gender", "not a gender"),
        (json.dumps(entity("Person", "p1", name="A B", gender=["male", "female"])), "gender", "one sex"),
        (json.dumps(entity("Person", "p1", name="A B", birthDate="2999-01-01")), "birthDate", "in the future"),
        (json.dumps(entity("Person", "p1", name="A B", birthDate="1700")), "birthDate", "before 1850"),
        (json.dumps(entity("Person", "p1", name="A B", birthDate="someday")), "birthDate", "not a date"),
        (json.dumps(entity("Person", "p1", name="A B", nationality="xk")), "nationality", "Kosovo"),
        (json.dumps(entity("Person", "p1", name="A B", citizenship="Narnia")), "citizenship", "not a country"),
        (json.dumps(entity("Person", "p1", name="A B", height="tall")), "height", "not a number"),
        (json.dumps(entity("Person", "p1", name="A B", height="1200")), "height", "less than or equal to 275"),
        (json.dumps(entity("Person", "p1", name="A B", eyeColor=["blue", "brown"])), "eyeColor", "one eye colour"),
        (json.dumps(entity("Person", "p1", name=["A B", "x" * 301])), "name", "at most 300 characters"),
        (json.dumps(entity("Person", "p1", name="A B", alias=["y" * 301])), "alias", "at most 300 characters"),
        (json.dumps(entity("Person", "p1", name="A B", notes="polex:{broken")), "notes", "not JSON"),
        (json.dumps(entity("Vehicle", "v1", registrationNumber=["AB1", "CD2"])), "registrationNumber", "one plate"),
        (json.dumps(entity("Vehicle", "v1", registrationNumber="AB1")), "country", "plate needs the country"),
    ],
)
def test_rejections_name_the_property_and_why(line: str, field: str, reason: str) -> None:
    (rejection,) = FtmAdapter(status="stolen", vehicle_status="stolen").read(io.BytesIO(line.encode()))
    assert isinstance(rejection, Rejection), rejection
    assert rejection.field == field
    assert reason in rejection.reason
    assert rejection.raw == line
    assert rejection.location == "line 1"
    assert rejection.errors
    assert rejection.errors[0].field == field


def test_every_problem_of_an_entity_is_listed() -> None:
    data = entity("Person", "p1", name="A B", nationality="xk", birthDate="someday")
    rejection = read_one(data)
    assert isinstance(rejection, Rejection)
    assert {error.field for error in rejection.errors} == {"nationality", "birthDate"}


def test_a_second_entity_with_the_same_id_is_rejected_and_blank_lines_are_skipped() -> None:
    person = json.dumps(entity("Person", "p1", name="A B"))
    results = list(FtmAdapter().read(io.BytesIO(f"\ufeff{person}\n\n{person}\n".encode())))
    assert isinstance(results[0], Accepted)
    assert isinstance(results[1], Rejection)
    assert results[1].field == "id"
    assert "line 1" in results[1].reason
    assert results[1].location == "line 3"


ALL_PROPS = sorted({prop for kind in KINDS for spec in kind.specs for prop in spec.props if prop != "schema"})
junk = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["ru", "suhh", "1984-13-40", "2999", "1.82 m", "-5", "male", "polex:{}", "polex:[1]", "p1", "x" * 400]
    ),
    st.integers(),
    st.none(),
)
junk_entities = st.fixed_dictionaries(
    {
        "id": st.one_of(st.sampled_from(["p1", "p2", "d1", "polex-holder-" + new_id()]), st.text(max_size=8)),
        "schema": st.sampled_from(["Person", "Passport", "Identification", "Vehicle", "Company", "Nope"]),
        "properties": st.dictionaries(
            st.sampled_from([*ALL_PROPS, "holder", "topics", "unknownProp"]), st.lists(junk, max_size=3), max_size=8
        ),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(junk_entities, min_size=1, max_size=6))
def test_no_input_makes_the_reader_raise(entities: list[dict[str, Any]]) -> None:
    results = read(entities, status="stolen", vehicle_status="stolen")
    assert len(results) <= len(entities)  # holder entities are read into their documents
    for result in results:
        if isinstance(result, Rejection):
            assert result.field
            assert result.reason
            assert result.errors


def test_unmapped_properties_are_not_read() -> None:
    person = accepted(read_one(entity("Person", "p1", name="A B", topics="sanction", position="Minister")))
    assert content_of(person) == content_of(Person.model_validate({"names": [{"full": "A B"}]}))


# --- Writing ----------------------------------------------------------------------------------


def test_writing_gives_valid_ftm_entities_with_ids_from_record_ids() -> None:
    person_id, document_id = new_id(), new_id()
    person = FtmPerson.model_validate({**person_body(), "id": person_id, "provenance": {"source_format": "api"}})
    document = FtmTravelDocument.model_validate(
        {
            **document_body(holder=None, holder_person_id=person_id),
            "id": document_id,
            "provenance": {"source_format": "api"},
        }
    )
    vehicle = Vehicle.model_validate(vehicle_body())
    entities = write([person, document, vehicle])
    assert [data["schema"] for data in entities] == ["Person", "Passport", "Vehicle"]
    assert entities[0]["id"] == entity_id_for(person_id) == f"polex-{person_id}"
    assert entities[1]["id"] == f"polex-{document_id}"
    assert entities[1]["properties"]["holder"] == [f"polex-{person_id}"]
    assert entities[1]["properties"]["country"] == ["fr"]
    assert entities[0]["properties"]["nationality"] == ["ua"]
    assert entities[0]["properties"]["firstName"] == ["Олександр"]
    assert entities[2]["properties"]["registrationNumber"][0] == vehicle.plate
    assert entities[2]["properties"]["model"] == ["Renault Clio"]
    for data in entities:
        proxy = MODEL.get_proxy(data, cleaned=False)  # FtM re-cleans every value
        assert proxy.to_dict()["properties"] == data["properties"]
        assert all(proxy.has(prop) for prop in proxy.schema.required), data
    # A vehicle with no id gets one from its content: the same content, the same id.
    assert write([vehicle])[0]["id"] == entities[2]["id"]


def test_what_ftm_cannot_hold_travels_in_the_note() -> None:
    person = Person.model_validate(
        person_body(
            nationalities=["XXA"],
            physical={"marks": [{"kind": "tattoo", "location": "left arm", "description": "anchor"}]},
        )
    )
    (data,) = write([person])
    note = note_of(data)
    assert note is not None
    assert note["v"] == 1
    assert set(note["fields"]) >= {"names", "nationalities", "identifiers", "physical"}
    assert note["fields"]["nationalities"] == ["XXA"]
    assert "nationality" not in data["properties"]  # stateless: FtM has no code for it
    assert "sex" not in note["fields"]  # gender says it all
    assert all(ord(char) < 128 for char in data["properties"]["notes"][-1])


def test_a_person_ftm_can_hold_entirely_has_no_note() -> None:
    person = Person.model_validate(
        {"names": [{"full": "Anna Eriksson", "given": "Anna", "family": "Eriksson"}], "sex": "female"}
    )
    (data,) = write([person])
    assert note_of(data) is None
    assert data["properties"] == {
        "name": ["Anna Eriksson"],
        "firstName": ["Anna"],
        "lastName": ["Eriksson"],
        "gender": ["female"],
    }


def test_a_holder_without_a_person_record_is_written_as_a_holder_entity() -> None:
    document = TravelDocument.model_validate(document_body())
    holder, passport = write([document])
    assert holder["schema"] == "Person"
    assert passport["properties"]["holder"] == [holder["id"]]
    assert holder["id"] == holder_entity_id(record_id_for(passport["id"]))
    (back,) = FtmAdapter().read(io.BytesIO(("\n".join(json.dumps(e) for e in (holder, passport))).encode()))
    record = accepted(back)
    assert content_of(record) == content_of(document)
    assert back.location.startswith("line 2 (its holder: line 1)")


def test_a_note_is_ignored_for_properties_edited_in_ftm() -> None:
    person = Person.model_validate(person_body())
    (data,) = write([person])
    data["properties"]["nationality"] = ["pl"]  # edited by an FtM user
    back = accepted(read_one(data))
    assert back.nationalities == ["POL"]
    assert back.names == person.names  # untouched properties still come from the note


def test_the_note_survives_ftm_cleaning_the_entity_again() -> None:
    decomposed = unicodedata.normalize("NFD", "Zoë Ångström")  # FtM keeps text in NFC
    person = Person.model_validate(
        {"names": [{"full": decomposed, "language": "sv"}], "remarks": "  kept  ", "nationalities": ["XXB"]}
    )
    (data,) = write([person])
    recleaned = MODEL.get_proxy(data, cleaned=False).to_dict()
    assert recleaned["properties"]["name"] == [unicodedata.normalize("NFC", decomposed)]
    assert content_of(accepted(read_one(recleaned))) == content_of(person)


def test_documents_are_written_with_the_schema_and_type_of_their_kind() -> None:
    for document_type in DocumentType:
        body = document_body(document_type=document_type.value)
        (_holder, data) = write([TravelDocument.model_validate(body)])
        assert data["schema"] == ("Passport" if "passport" in document_type.value else "Identification")
        assert classify_document(data["schema"], (data["properties"].get("type") or [None])[0])[0] is document_type


def test_a_record_changed_in_polex_is_not_written_from_stale_originals() -> None:
    person = accepted(read_one(SANCTIONED))
    assert "nationalities" in person.provenance.original_values
    person.nationalities = ["UKR"]
    (data,) = write([person])
    assert data["id"] == "NK-test1"  # still the FtM entity it was read from
    assert data["properties"]["nationality"] == ["ua"]
    assert "citizenship" not in data["properties"]
    assert data["properties"]["middleName"] == ["Yurievich"]  # unchanged names: as received


def test_writing_refuses_other_records() -> None:
    with pytest.raises(TypeError, match="not DistinguishingMark"):
        write([DistinguishingMark(kind=MarkKind.SCAR)])


# --- Round trips ------------------------------------------------------------------------------

LATIN = string.ascii_letters
CYRILLIC = "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЭЮЯабвгдежзийклмнопрстуфхцчшщэюяЁёІіЇїЄє"
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
HAN = "王李张刘陈杨黄赵吴周"
GREEK = "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩαβγδεζηθικλμνξοπρστυφχψω"
COUNTRIES = sorted({str(country.alpha_3) for country in pycountry.countries} | set(ICAO_SPECIAL_CODES))
TEXT = st.text(alphabet=LATIN + "ÄÖÜäöüéèçñ -'.,\"\n", min_size=1, max_size=60).filter(lambda text: text.strip() != "")

word = st.one_of(
    *(st.text(alphabet=alphabet, min_size=1, max_size=10) for alphabet in (LATIN, CYRILLIC, ARABIC, HAN, GREEK))
)
full_names = st.lists(word, min_size=1, max_size=4).map(" ".join)


@st.composite
def person_names(draw: st.DrawFn, kind: NameKind | None = None) -> dict[str, Any]:
    full = draw(full_names)
    words = full.split()
    part = st.one_of(st.none(), st.sampled_from(words), word)
    name: dict[str, Any] = {
        "full": full,
        "given": draw(part),
        "family": draw(part),
        "patronymic": draw(st.one_of(st.none(), part)),
        "kind": (kind or draw(st.sampled_from(list(NameKind)))).value,
        "script": draw(st.one_of(st.none(), st.sampled_from(["Latn", "Cyrl", "Arab", "Hani", "Grek", "Zzzz"]))),
        "language": draw(st.one_of(st.none(), st.sampled_from(["en", "ru", "uk", "ar", "zh", "ell"]))),
    }
    if draw(st.booleans()):
        name["full"] = f'"{full}"'  # quotes FtM strips from names
    return name


partial_dates = st.builds(
    lambda date, precision: date.isoformat()[:precision],
    st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY),
    st.sampled_from([4, 7, 10]),
)
past_dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=TODAY)
identifier_values = st.text(alphabet=string.ascii_uppercase + string.digits + " -", min_size=1, max_size=20).filter(
    lambda text: text.strip() != ""
)


@st.composite
def persons(draw: st.DrawFn) -> Person:
    names = [draw(person_names(NameKind.PRIMARY)), *draw(st.lists(person_names(), max_size=5))]
    identifiers = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "kind": st.sampled_from([kind.value for kind in IdentifierKind]),
                    "value": identifier_values,
                    "country": st.one_of(st.none(), st.sampled_from(COUNTRIES)),
                    "issued_on": st.one_of(st.none(), past_dates.map(dt.date.isoformat)),
                }
            ),
            max_size=4,
        )
    )
    physical = st.fixed_dictionaries(
        {
            "height_cm": st.one_of(st.none(), st.integers(30, 275)),
            "weight_kg": st.one_of(st.none(), st.integers(1, 700)),
            "eye_colour": st.one_of(st.none(), st.sampled_from([colour.value for colour in EyeColour])),
            "hair_colour": st.one_of(st.none(), st.sampled_from([colour.value for colour in HairColour])),
            "marks": st.lists(
                st.builds(
                    lambda kind, location: {"kind": kind, "location": location},
                    st.sampled_from([kind.value for kind in MarkKind]),
                    st.one_of(st.none(), TEXT),
                ),
                max_size=2,
            ),
            "description": st.one_of(st.none(), TEXT),
        }
    )
    body = person_body(
        names=names,
        sex=draw(st.sampled_from([sex.value for sex in Sex])),
        birth_dates=draw(st.lists(partial_dates, max_size=3)),
        birth_place=draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries({"place": TEXT, "country": st.one_of(st.none(), st.sampled_from(COUNTRIES))}),
                st.fixed_dictionaries({"country": st.sampled_from(COUNTRIES)}),
            )
        ),
        nationalities=draw(st.lists(st.sampled_from(COUNTRIES), max_size=3, unique=True)),
        identifiers=identifiers,
        physical=draw(st.one_of(st.none(), physical)),
        languages=draw(
            st.lists(st.sampled_from(["en", "ru", "uk", "fra", "deu", "ar", "zz"]), max_size=3, unique=True)
        ),
        deceased=draw(st.booleans()),
        remarks=draw(st.one_of(st.none(), TEXT, st.just("first paragraph\n\nsecond paragraph"))),
    )
    return Person.model_validate(body)


@st.composite
def documents(draw: st.DrawFn, holder_ids: list[str] | None = None) -> TravelDocument:
    status = draw(st.sampled_from(list(DocumentStatus)))
    issued = draw(st.one_of(st.none(), st.dates(min_value=dt.date(2000, 1, 1), max_value=TODAY)))
    expires = None
    if issued is not None and draw(st.booleans()):
        expires = issued + dt.timedelta(days=draw(st.integers(1, 3650)))
    reported = None
    if draw(st.booleans()):
        reported = draw(st.dates(min_value=issued or dt.date(2000, 1, 1), max_value=TODAY))
    holder = draw(
        st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "names": st.lists(person_names(), min_size=1, max_size=3),
                    "birth_date": st.one_of(st.none(), partial_dates),
                    "sex": st.sampled_from([sex.value for sex in Sex]),
                    "nationality": st.one_of(st.none(), st.sampled_from(COUNTRIES)),
                }
            ),
        )
    )
    holder_id = draw(st.one_of(st.none(), st.sampled_from(holder_ids) if holder_ids else st.just(new_id())))
    if status is DocumentStatus.STOLEN_BLANK:
        issued = expires = None
        holder = holder_id = None
    body = document_body(
        number=draw(st.text(alphabet=string.ascii_uppercase + string.digits, min_size=1, max_size=20)),
        issuing_country=draw(st.sampled_from(COUNTRIES)),
        document_type=draw(st.sampled_from([kind.value for kind in DocumentType])),
        status=status.value,
        issued_on=issued.isoformat() if issued else None,
        expires_on=expires.isoformat() if expires else None,
        reported_on=reported.isoformat() if reported else None,
        place_of_loss=draw(st.one_of(st.none(), TEXT)),
        holder=holder,
        holder_person_id=holder_id,
        remarks=draw(st.one_of(st.none(), TEXT)),
    )
    return TravelDocument.model_validate(body)


@st.composite
def vehicles(draw: st.DrawFn) -> Vehicle:
    vin = draw(st.one_of(st.none(), st.integers(0, 999_999).map(lambda serial: make_vin(serial=f"{serial:06d}"))))
    plate = draw(
        st.one_of(st.none(), st.text(alphabet=string.ascii_uppercase + string.digits + " -", min_size=1, max_size=12))
    )
    if plate is not None and not plate.replace(" ", "").replace("-", ""):
        plate = None
    if vin is None and plate is None:
        plate = "AB123CD"
    body = vehicle_body(
        vin=vin,
        plate=plate,
        plate_country=draw(st.sampled_from(COUNTRIES))
        if plate
        else draw(st.one_of(st.none(), st.sampled_from(COUNTRIES))),
        make=draw(st.one_of(st.none(), TEXT)),
        model=draw(st.one_of(st.none(), TEXT)),
        model_year=draw(st.one_of(st.none(), st.integers(1950, TODAY.year))),
        colour=draw(st.one_of(st.none(), TEXT)),
        category=draw(st.sampled_from([category.value for category in VehicleCategory])),
        status=draw(st.sampled_from([status.value for status in VehicleStatus])),
        stolen_on=draw(st.one_of(st.none(), past_dates.map(dt.date.isoformat))),
        place_of_theft=draw(st.one_of(st.none(), TEXT)),
        remarks=draw(st.one_of(st.none(), TEXT)),
    )
    return Vehicle.model_validate(body)


ROUND_TRIPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROUND_TRIPS
@given(persons())
def test_a_person_comes_back_the_same(person: Person) -> None:
    (result,) = round_trip([person])
    assert content_of(accepted(result)) == content_of(person)


@ROUND_TRIPS
@given(documents())
def test_a_travel_document_comes_back_the_same(document: TravelDocument) -> None:
    (result,) = round_trip([document])  # no status option needed: the note has it
    assert content_of(accepted(result)) == content_of(document)


@ROUND_TRIPS
@given(vehicles())
def test_a_vehicle_comes_back_the_same(vehicle: Vehicle) -> None:
    (result,) = round_trip([vehicle])
    assert content_of(accepted(result)) == content_of(vehicle)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_records_linked_in_a_batch_come_back_the_same_with_their_ids(data: st.DataObject) -> None:
    people = [
        FtmPerson.model_validate({**content_of(p), "id": new_id(), "provenance": {}})
        for p in data.draw(st.lists(persons(), min_size=1, max_size=3))
    ]
    ids = [person.id for person in people]
    docs = [
        FtmTravelDocument.model_validate({**content_of(d), "id": new_id(), "provenance": {}})
        for d in data.draw(st.lists(documents(ids), max_size=4))
    ]
    cars = [
        FtmVehicle.model_validate({**content_of(v), "id": new_id(), "provenance": {}})
        for v in data.draw(st.lists(vehicles(), max_size=2))
    ]
    records: list[BaseModel] = [*people, *docs, *cars]
    results = round_trip(records)
    assert [accepted(result).id for result in results] == [record.id for record in records]  # type: ignore[attr-defined]
    for record, result in zip(records, results, strict=True):
        assert content_of(accepted(result)) == content_of(record)


FTM_ENTITIES = [
    SANCTIONED,
    entity(
        "Person",
        "NK-second",
        name=["Anna Maria ERIKSSON", "Анна Мария Эрикссон"],
        firstName=["Anna", "Анна"],
        middleName="Maria",
        lastName=["ERIKSSON", "Эрикссон"],
        birthDate="1974-08",
        birthPlace=["Stockholm", "Sthlm"],
        birthCountry="suhh",
        deathDate="2020-02-02",
        nationality="se",
        eyeColor="dark green",
        notes=["n" * 400, "m" * 200],
    ),
    entity(
        "Passport",
        "pp-1",
        holder="NK-second",
        number="L 898902C3",
        country="se",
        startDate="2012-04-16",
        type="Ordinary passport",
        passportNumber="L898902C3",
    ),
    entity(
        "Identification",
        "id-1",
        holder="NK-test1",
        number="ID998877",
        country="by",
        type="Personal ID card",
        endDate="2030-01-01",
        description="Issued in Minsk",
    ),
    entity("Identification", "id-2", holder="NK-elsewhere", number="777", country="de", type="Residence permit"),
    entity(
        "Vehicle",
        "veh-1",
        registrationNumber=["ab-123-cd"],
        country="fr",
        model="Clio",
        buildDate="2019-05-01",
        type="Passenger car",
        notes="Seen in Lyon",
    ),
]


def test_ftm_to_polex_to_ftm_keeps_every_mapped_property() -> None:
    results = read(FTM_ENTITIES, status="stolen", vehicle_status="stolen")
    records = [accepted(result) for result in results]
    written = {data["id"]: data for data in write(records)}
    assert set(written) == {data["id"] for data in FTM_ENTITIES}  # the FtM ids come back
    for original in FTM_ENTITIES:
        again = written[original["id"]]
        assert again["schema"] == original["schema"]
        assert mapped_props(again) == mapped_props(original), original["id"]
    # And reading what was written gives the same records.
    back = read(written.values())
    assert [content_of(accepted(result)) for result in back] == [content_of(record) for record in records]


# --- Real data: OpenSanctions entities in the yente screening bench ---------------------------


def _bench_files() -> list[Path]:
    if not BENCH.is_dir():
        pytest.skip(f"the shared yente screening bench is not at {BENCH}")
    return sorted(BENCH.glob("tests/fixtures/dataset/*/entities.ftm.json"))


def test_every_sanctioned_person_in_the_bench_is_read() -> None:
    accepted_count = 0
    rejections: Counter[tuple[str, str]] = Counter()
    persons_seen = 0
    for path in _bench_files():
        schemas = [json.loads(line)["schema"] for line in json_lines(path.read_text())]
        with path.open("rb") as stream:
            results = list(FtmAdapter().read(stream))  # no exception escapes
        assert len(results) == len(schemas)
        for schema, result in zip(schemas, results, strict=True):
            if schema != "Person":
                assert isinstance(result, Rejection)  # addresses, companies, payments ...
                continue
            persons_seen += 1
            if isinstance(result, Accepted):
                accepted_count += 1
                assert isinstance(result.record, FtmPerson)
                assert result.record.provenance.source_id
            else:
                assert result.field in MODEL["Person"].properties, result
                rejections[(result.field, result.reason)] += 1
    # 32 Person entities (eu_fsf, OFAC, UK, Swiss, Japanese ... lists and German party donors): all read.
    assert persons_seen == 32
    assert accepted_count / persons_seen >= 0.95, rejections
    assert accepted_count == 32


def test_the_bench_persons_round_trip_through_ftm() -> None:
    for path in _bench_files():
        original = {data["id"]: data for data in map(json.loads, json_lines(path.read_text()))}
        records = [
            result.record for result in FtmAdapter().read(io.BytesIO(path.read_bytes())) if isinstance(result, Accepted)
        ]
        written = write(records)
        for data in written:
            assert mapped_props(data) == mapped_props(original[data["id"]])
        back = [accepted(result) for result in read(written)]
        assert [content_of(record) for record in back] == [content_of(record) for record in records]


def test_the_bench_passport_without_a_number_is_rejected_by_name() -> None:
    path = _bench_files()[-1]
    results = list(FtmAdapter(status="stolen").read(io.BytesIO(path.read_bytes())))
    passports = [result for result in results if isinstance(result, Rejection) and '"Passport"' in result.raw]
    assert [(result.field, result.reason) for result in passports] == [("number", "a travel document needs a number")]


def test_the_un_sanctions_list_made_into_ftm_persons_is_read() -> None:
    path = BENCH / "contrib" / "candidate_generation_benchmark" / "fixtures" / "positives_un_untreated.csv"
    if not path.is_file():
        pytest.skip(f"the UN sanctions positives are not at {path}")
    lines = []
    with path.open(newline="") as stream:
        for index, row in enumerate(csv.DictReader(stream)):
            person = MODEL.make_entity("Person")
            person.id = f"un-{index}"
            person.add("name", row["full_name"])
            person.add("firstName", row["first_name"])
            person.add("middleName", row["middle_name"])
            person.add("lastName", row["last_name"])
            person.add("gender", row["gender"])
            person.add("birthDate", row["date_of_birth"])
            person.add("birthPlace", row["place_of_birth"])
            person.add("nationality", row["nationality"])
            lines.append(json.dumps(person.to_dict(), ensure_ascii=False))
    results = list(FtmAdapter().read(io.BytesIO("\n".join(lines).encode())))
    accepted_count = sum(isinstance(result, Accepted) for result in results)
    assert len(results) == 683
    assert accepted_count / len(results) >= 0.95
    assert all(result.field in MODEL["Person"].properties for result in results if isinstance(result, Rejection))


# --- The registry -----------------------------------------------------------------------------


def test_the_adapter_registers_as_a_writable_format() -> None:
    formats = FormatRegistry(builtins=False, entry_point_group=None)
    info = formats.register(FtmAdapter)
    assert (info.name, info.writable) == ("ftm", True)
    adapter = formats.get("ftm", status="lost", vehicle_status="recovered")
    assert isinstance(adapter, WritableFormatAdapter)
    assert isinstance(adapter, FtmAdapter)
    assert adapter.status is DocumentStatus.LOST
    with pytest.raises(ValueError, match="not a valid DocumentStatus"):
        FtmAdapter(status="misplaced")


def test_every_field_of_every_record_has_a_mapping() -> None:
    for kind in KINDS:
        fields = [name for spec in kind.specs for name in spec.fields]
        assert sorted(fields) == sorted(kind.content.model_fields), kind.name
    assert {kind.name for kind in (PERSON, TRAVEL_DOCUMENT, VEHICLE)} == {"person", "travel_document", "vehicle"}
