from polex.case.feature import project_case
from polex.document.feature import project_document
from polex.domain.case import Case
from polex.domain.document import TravelDocument
from polex.domain.person import Person
from polex.domain.vehicle import Vehicle
from polex.person.feature import project_person
from polex.vehicle.feature import project_vehicle
from tests.factories import case_body, document_body, person_body, vehicle_body


def test_person_terms_hold_names_in_both_scripts() -> None:
    projection = project_person(Person.model_validate(person_body()))
    assert {"name:шевченко", "name:shevchenko", "nationality:UKR", "born:1984"} <= projection.terms
    assert projection.label == "Олександр Шевченко"
    assert projection.terms_column().startswith("|")
    assert projection.terms_column().endswith("|")


def test_document_key_identifies_the_document() -> None:
    projection = project_document(TravelDocument.model_validate(document_body(number="12AB34567")))
    assert projection.key == "FRA:passport:12AB34567"
    assert projection.status == "stolen"


def test_vehicle_and_case_terms() -> None:
    vehicle = project_vehicle(Vehicle.model_validate(vehicle_body(plate="AB-123-CD")))
    assert "plate:AB123CD" in vehicle.terms
    case = project_case(Case.model_validate(case_body(crime_types=["050211"])))
    assert {"iccs:05", "iccs:0502", "iccs:05021", "iccs:050211"} <= case.terms
