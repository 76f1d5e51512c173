import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from polex.domain.base import RecordEnvelope, collect_original_values
from polex.domain.case import Case
from polex.domain.document import TravelDocument, normalise_document_number
from polex.domain.person import NameKind, Person
from polex.domain.records import RECORD_TYPES
from polex.domain.vehicle import Vehicle
from tests.factories import case_body, document_body, person_body, vehicle_body


def test_no_record_kind_reuses_an_envelope_field_name() -> None:
    envelope = set(RecordEnvelope.model_fields) | {"schema"}
    for record_type in RECORD_TYPES.values():
        assert not envelope & set(record_type.content.model_fields), record_type.kind


def test_a_person_needs_a_primary_name_and_gets_its_script() -> None:
    person = Person.model_validate(person_body())
    assert person.primary_name.script == "Cyrl"
    assert person.names[1].kind is NameKind.TRANSLITERATION
    assert person.names[1].script == "Latn"
    with pytest.raises(ValidationError, match="at least one name must be of kind 'primary'"):
        Person.model_validate(person_body(names=[{"full": "Sasha", "kind": "alias"}]))
    with pytest.raises(ValidationError):
        Person.model_validate(person_body(names=[]))


def test_unknown_fields_are_errors_not_silently_dropped() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Person.model_validate(person_body(shoe_size=44))
    with pytest.raises(ValidationError, match="extra"):
        Person.model_validate(person_body(names=[{"full": "A B", "middle": "C"}]))


def test_physical_description_bounds() -> None:
    with pytest.raises(ValidationError, match="height_cm"):
        Person.model_validate(person_body(physical={"height_cm": 400}))
    person = Person.model_validate(
        person_body(
            physical={
                "height_cm": 182,
                "eye_colour": "brown",
                "marks": [{"kind": "tattoo", "location": "left forearm"}],
            }
        )
    )
    assert person.physical is not None
    assert person.physical.marks[0].location == "left forearm"


def test_document_rules() -> None:
    document = TravelDocument.model_validate(document_body(number="12ab 345-67<<", issuing_country="fra"))
    assert document.number == "12AB34567"
    assert document.issuing_country == "FRA"
    with pytest.raises(ValidationError, match="expires_on: must be after issued_on"):
        TravelDocument.model_validate(document_body(issued_on="2020-01-01", expires_on="2019-01-01"))
    with pytest.raises(ValidationError, match="a blank document has no holder"):
        TravelDocument.model_validate(document_body(status="stolen_blank"))
    with pytest.raises(ValidationError, match="only the letters A-Z and digits"):
        TravelDocument.model_validate(document_body(number="AB№123"))
    future = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    with pytest.raises(ValidationError, match="in the future"):
        TravelDocument.model_validate(document_body(reported_on=future))


@given(st.text(alphabet="abcXYZ0123456789 <-./", min_size=1, max_size=30))
def test_document_number_normalisation_is_idempotent(raw: str) -> None:
    once = normalise_document_number(raw)
    assert normalise_document_number(once) == once
    assert " " not in once
    assert "<" not in once


def test_vehicle_rules() -> None:
    vehicle = Vehicle.model_validate(vehicle_body(plate="ab-123 cd"))
    assert vehicle.plate == "AB123CD"
    with pytest.raises(ValidationError, match="a vehicle needs a VIN or a plate"):
        Vehicle.model_validate(vehicle_body(vin=None, plate=None))
    with pytest.raises(ValidationError, match="a plate needs the country"):
        Vehicle.model_validate(vehicle_body(plate_country=None))
    with pytest.raises(ValidationError, match="more than a year ahead"):
        Vehicle.model_validate(vehicle_body(model_year=dt.date.today().year + 3))
    assert Vehicle.model_validate(vehicle_body(plate="ΙΚΥ-1234", plate_country="GRC")).plate == "IKY1234"


def test_case_rules() -> None:
    assert Case.model_validate(case_body()).crime_types == ["0502", "0905"]
    with pytest.raises(ValidationError, match="only a closed case has a closing date"):
        Case.model_validate(case_body(closed_on="2025-03-01"))
    with pytest.raises(ValidationError, match="must not be before opened_on"):
        Case.model_validate(case_body(status="closed", closed_on="2024-03-01"))
    with pytest.raises(ValidationError, match="crime_types"):
        Case.model_validate(case_body(crime_types=[]))


def test_original_values_are_collected_where_normalisation_changed_a_string() -> None:
    raw = person_body(nationalities=["ukr", "POL"], identifiers=[{"kind": "passport", "value": "fe 123"}])
    normalised = Person.model_validate(raw).model_dump(mode="json")
    originals = collect_original_values(raw, normalised)
    assert originals == {"nationalities/0": "ukr"}
    assert collect_original_values({"number": " AB1 "}, {"number": "AB1"}) == {}  # trimming only


def test_plates_and_document_numbers_read_greek_and_cyrillic_lookalikes_as_latin() -> None:
    assert Vehicle.model_validate(vehicle_body(plate="ΙΚΥ-1234", plate_country="GRC")).plate == "IKY1234"
    assert Vehicle.model_validate(vehicle_body(plate="АА 1234 ВВ", plate_country="UKR")).plate == "AA1234BB"
    assert Vehicle.model_validate(vehicle_body(plate="品川 300 さ ・1-23", plate_country="JPN")).plate == "品川300さ123"
    assert TravelDocument.model_validate(document_body(number="ΑΒ 123456", issuing_country="GRC")).number == "AB123456"


def test_blank_documents_were_never_issued_and_nothing_is_reported_before_issue() -> None:
    with pytest.raises(ValidationError, match="never issued"):
        TravelDocument.model_validate(document_body(status="stolen_blank", holder=None))
    blank = TravelDocument.model_validate(
        document_body(status="stolen_blank", holder=None, issued_on=None, expires_on=None)
    )
    assert blank.holder is None
    with pytest.raises(ValidationError, match="reported before it was issued"):
        TravelDocument.model_validate(document_body(issued_on="2024-01-01", reported_on="2023-01-01"))
