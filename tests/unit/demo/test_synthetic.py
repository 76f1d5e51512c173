import datetime as dt
import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest

from polex.demo.synthetic import PROFILES, SyntheticData, generate
from polex.domain.case import Case, CaseStatus
from polex.domain.document import DocumentStatus, DocumentType, TravelDocument
from polex.domain.iccs import ICCS_DIVISIONS
from polex.domain.person import IdentifierKind, NameKind, Person
from polex.domain.vehicle import Vehicle
from polex.domain.vin import validate_vin, vin_check_digit

SIZE = 50
NATIONAL = ("FRA", "UKR", "GRC", "JPN")

PASSPORT_NUMBERS = {
    "FRA": r"\d{2}[A-Z]{2}\d{5}",
    "UKR": r"[A-Z]{2}\d{6}",
    "GRC": r"[A-Z]{2}\d{7}",
    "JPN": r"[A-Z]{2}\d{7}",
    "XPO": r"IP\d{7}",
}
IDENTITY_CARD_NUMBERS = {
    "FRA": r"[A-Z0-9]{9}|\d{12}",  # the card of 2021, or the older one
    "UKR": r"\d{9}",
    "GRC": r"[ABEHIKMNOPTXYZ]{2}\d{6}",  # Latin twins of the Greek letters
    "XPO": r"IC\d{7}",
}
PLATES = {  # as stored, after the model normalised them
    "FRA": r"[A-HJ-NP-TV-Z]{2}\d{3}[A-HJ-NP-TV-Z]{2}|\d{1,4}[A-Z]{2}\d{2}",
    "UKR": r"[A-Z]{2}\d{4}[ABEIKMHOPCTX]{2}",
    "GRC": r"[ABEZHIKMNOPTYX]{3}\d{3,4}",  # Greek plate letters, read as their Latin twins
    "JPN": r"[\u4e00-\u9fffぁ-ん]+\d{3}[ぁ-ん]\d{4}",
}


@pytest.fixture(scope="module", params=sorted(PROFILES))
def data(request: pytest.FixtureRequest) -> SyntheticData:
    return generate(request.param, seed=42, persons=SIZE, documents=SIZE, vehicles=SIZE, cases=SIZE)


def _normalised(data: SyntheticData) -> dict[str, Any]:
    """The data as JSON, with each person id replaced by the person's position."""
    index = {person.id: position for position, person in enumerate(data.persons)}
    documents = []
    for document in data.documents:
        dumped = document.model_dump(mode="json")
        if dumped["holder_person_id"] is not None:
            dumped["holder_person_id"] = index[dumped["holder_person_id"]]
        documents.append(dumped)
    cases = []
    for case in data.cases:
        dumped = case.case.model_dump(mode="json")
        for link in dumped["links"]:
            link["id"] = index[link["id"]]
        cases.append(dumped)
    return {
        "country": data.country,
        "persons": [person.person.model_dump(mode="json") for person in data.persons],
        "documents": documents,
        "vehicles": [vehicle.model_dump(mode="json") for vehicle in data.vehicles],
        "cases": cases,
    }


def test_the_required_profiles_exist() -> None:
    assert {"FRA", "UKR", "GRC", "JPN", "XPO"} <= set(PROFILES)
    assert PROFILES["FRA"].locale == "fr_FR"
    assert PROFILES["UKR"].locale == "uk_UA"
    assert PROFILES["GRC"].locale == "el_GR"
    assert PROFILES["JPN"].locale == "ja_JP"
    assert PROFILES["XPO"].locale == "en_GB"


def test_sizes_are_as_requested(data: SyntheticData) -> None:
    assert len(data.persons) == SIZE
    assert len(data.documents) == SIZE
    assert len(data.vehicles) == SIZE
    assert len(data.cases) == SIZE


def test_every_record_validates_again(data: SyntheticData) -> None:
    for person in data.persons:
        assert Person.model_validate(person.person.model_dump()) == person.person
    for document in data.documents:
        assert TravelDocument.model_validate(document.model_dump()) == document
    for vehicle in data.vehicles:
        assert Vehicle.model_validate(vehicle.model_dump()) == vehicle
    for case in data.cases:
        assert Case.model_validate(case.case.model_dump()) == case.case


def test_ids_are_unique(data: SyntheticData) -> None:
    ids = [person.id for person in data.persons] + [case.id for case in data.cases]
    assert len(ids) == len(set(ids))


def test_the_same_seed_gives_the_same_data() -> None:
    for country in PROFILES:
        first = generate(country, seed=7, persons=30, documents=30, vehicles=30, cases=30)
        second = generate(country, seed=7, persons=30, documents=30, vehicles=30, cases=30)
        assert _normalised(first) == _normalised(second)
        assert [p.id for p in first.persons] != [p.id for p in second.persons]


def test_other_seeds_and_countries_give_other_data() -> None:
    one = generate("FRA", seed=1, persons=20, documents=20, vehicles=20, cases=5)
    two = generate("FRA", seed=2, persons=20, documents=20, vehicles=20, cases=5)
    assert _normalised(one)["persons"] != _normalised(two)["persons"]
    greek = generate("GRC", seed=1, persons=20, documents=20, vehicles=20, cases=5)
    serials = [{v.vin[11:] for v in data.vehicles if v.vin} for data in (one, greek)]
    assert not serials[0] & serials[1]
    numbers = [{d.number[-5:] for d in data.documents} for data in (one, greek)]
    assert len(numbers[0] & numbers[1]) < 3


def test_unknown_countries_and_negative_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="no synthetic data profile"):
        generate("ZZZ", seed=1, persons=1, documents=1, vehicles=1, cases=1)
    with pytest.raises(ValueError, match="persons must not be negative"):
        generate("FRA", seed=1, persons=-1, documents=1, vehicles=1, cases=1)


def test_nothing_requested_gives_nothing_and_cases_without_persons_have_no_links() -> None:
    data = generate("UKR", seed=3, persons=0, documents=0, vehicles=0, cases=5)
    assert data.persons == []
    assert data.documents == []
    assert data.vehicles == []
    assert len(data.cases) == 5
    assert all(case.case.links == [] for case in data.cases)


# --- persons -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("country", "scripts"), [("UKR", {"Cyrl"}), ("GRC", {"Grek"}), ("JPN", {"Hani", "Jpan"})])
def test_primary_names_are_in_the_countrys_script(country: str, scripts: set[str]) -> None:
    data = generate(country, seed=5, persons=SIZE, documents=0, vehicles=0, cases=0)
    for person in data.persons:
        assert person.person.primary_name.script in scripts


def test_french_names_are_latin() -> None:
    data = generate("FRA", seed=5, persons=SIZE, documents=0, vehicles=0, cases=0)
    assert all(person.person.primary_name.script == "Latn" for person in data.persons)


def test_non_latin_names_carry_a_latin_transliteration(data: SyntheticData) -> None:
    names = [person.person.names for person in data.persons]
    names += [document.holder.names for document in data.documents if document.holder]
    for person_names in names:
        primary = next(name for name in person_names if name.kind is NameKind.PRIMARY)
        assert primary.given
        assert primary.family
        if primary.script != "Latn":
            latin = [n for n in person_names if n.kind is NameKind.TRANSLITERATION and n.script == "Latn"]
            assert latin, primary.full
            assert latin[0].given
            assert latin[0].family


def test_japanese_persons_have_a_kana_reading_and_a_romanized_name() -> None:
    data = generate("JPN", seed=5, persons=SIZE, documents=0, vehicles=0, cases=0)
    for person in data.persons:
        readings = [n for n in person.person.names if n.kind is NameKind.TRANSLITERATION]
        assert [n.script for n in readings] == ["Kana", "Latn"]
        assert re.fullmatch(r"[ァ-ヶー]+ [ァ-ヶー]+", readings[0].full)


def test_ukrainian_persons_mostly_have_a_patronymic() -> None:
    data = generate("UKR", seed=5, persons=SIZE, documents=0, vehicles=0, cases=0)
    with_patronymic = [p for p in data.persons if p.person.primary_name.patronymic]
    assert len(with_patronymic) > SIZE * 0.7
    for person in with_patronymic:
        patronymic = person.person.primary_name.patronymic or ""
        assert patronymic.endswith(("ич", "на"))


def test_the_hub_holds_persons_of_many_nationalities_in_their_scripts() -> None:
    data = generate("XPO", seed=5, persons=200, documents=0, vehicles=0, cases=0)
    nationalities = {person.person.nationalities[0] for person in data.persons}
    scripts = {person.person.primary_name.script for person in data.persons}
    assert len(nationalities) >= 10
    assert {"Latn", "Cyrl", "Arab"} <= scripts
    assert scripts & {"Hani", "Jpan", "Hang"}
    assert any(
        identifier.kind is IdentifierKind.INTERPOL_REFERENCE
        for person in data.persons
        for identifier in person.person.identifiers
    )


def test_persons_are_plausible(data: SyntheticData) -> None:
    today = dt.datetime.now(dt.UTC).date()
    for synthetic in data.persons:
        person = synthetic.person
        assert person.sex in ("male", "female")
        assert person.birth_dates
        year = int(person.birth_dates[0][:4])
        assert today.year - 81 <= year <= today.year - 16
        assert 1 <= len(person.nationalities) <= 2
        if person.physical and person.physical.height_cm:
            assert 130 <= person.physical.height_cm <= 215


def test_some_persons_have_aliases_partial_birth_dates_and_marks() -> None:
    data = generate("FRA", seed=11, persons=300, documents=0, vehicles=0, cases=0)
    persons = [p.person for p in data.persons]
    aliased = [p for p in persons if any(n.kind is NameKind.ALIAS for n in p.names)]
    assert 0.08 * len(persons) < len(aliased) < 0.25 * len(persons)
    assert any(len(p.birth_dates[0]) == 7 for p in persons)  # YYYY-MM
    assert any(len(p.birth_dates[0]) == 4 for p in persons)  # YYYY
    assert any(mark.location for p in persons if p.physical for mark in p.physical.marks)


def _luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def _my_number_valid(number: str) -> bool:
    body, check = number[:11], int(number[11])
    total = sum(int(c) * (n + 1 if n <= 6 else n - 5) for n, c in enumerate(reversed(body), 1))
    return check == (0 if total % 11 <= 1 else 11 - total % 11)


def _unzr_valid(number: str) -> bool:
    digits = number.replace("-", "")
    return sum(int(c) * (7, 3, 1)[i % 3] for i, c in enumerate(digits[:12])) % 10 == int(digits[12])


def _nir_valid(number: str) -> bool:
    return len(number) == 15 and 97 - int(number[:13]) % 97 == int(number[13:])


def test_national_numbers_carry_valid_check_digits() -> None:
    checks: dict[str, Callable[[str], bool]] = {
        "FRA": _nir_valid,  # the key of the NIR
        "UKR": lambda n: re.fullmatch(r"\d{8}-\d{5}", n) is not None and _unzr_valid(n),
        "GRC": lambda n: len(n) == 11 and _luhn_valid(n),  # AMKA
        "JPN": lambda n: len(n) == 12 and _my_number_valid(n),
    }
    for country, valid in checks.items():
        data = generate(country, seed=9, persons=100, documents=0, vehicles=0, cases=0)
        numbers = [
            identifier.value
            for person in data.persons
            for identifier in person.person.identifiers
            if identifier.kind in (IdentifierKind.NATIONAL_ID, IdentifierKind.SOCIAL_SECURITY)
        ]
        assert numbers
        assert all(valid(number) for number in numbers), country


def test_passport_identifiers_follow_the_national_format(data: SyntheticData) -> None:
    for person in data.persons:
        for identifier in person.person.identifiers:
            if identifier.kind is IdentifierKind.PASSPORT and identifier.country in PASSPORT_NUMBERS:
                assert re.fullmatch(PASSPORT_NUMBERS[identifier.country], identifier.value)


# --- travel documents --------------------------------------------------------------------------


def test_document_keys_are_unique(data: SyntheticData) -> None:
    keys = [(d.issuing_country, d.document_type, d.number) for d in data.documents]
    assert len(keys) == len(set(keys))


def test_document_numbers_follow_the_issuers_format(data: SyntheticData) -> None:
    for document in data.documents:
        assert document.issuing_country == data.country
        if document.document_type is DocumentType.IDENTITY_CARD:
            pattern = IDENTITY_CARD_NUMBERS[data.country]
        else:
            pattern = PASSPORT_NUMBERS[data.country]
        assert re.fullmatch(pattern, document.number), document.number


def test_documents_are_consistent(data: SyntheticData) -> None:
    today = dt.datetime.now(dt.UTC).date()
    statuses = {document.status for document in data.documents}
    assert {DocumentStatus.STOLEN, DocumentStatus.LOST} <= statuses
    person_ids = {person.id for person in data.persons}
    for document in data.documents:
        assert document.reported_on is not None
        assert document.reported_on <= today
        if document.status is DocumentStatus.STOLEN_BLANK:
            assert document.holder is None
            assert document.issued_on is None
            continue
        assert document.holder is not None
        assert document.issued_on
        assert document.expires_on
        assert document.expires_on > document.issued_on
        assert document.issued_on <= document.reported_on
        years = document.expires_on.year - document.issued_on.year
        assert years in (5, 10)
        if document.holder_person_id is not None:
            assert document.holder_person_id in person_ids


def test_blank_documents_are_reported_in_numbered_batches() -> None:
    data = generate("UKR", seed=4, persons=0, documents=400, vehicles=0, cases=0)
    blanks = [d for d in data.documents if d.status is DocumentStatus.STOLEN_BLANK]
    assert blanks
    assert all(d.holder is None and d.holder_person_id is None for d in blanks)
    consecutive = [
        (a, b)
        for a, b in itertools.pairwise(blanks)
        if a.number[:2] == b.number[:2] and int(b.number[2:]) == int(a.number[2:]) + 1
    ]
    assert consecutive


def test_national_documents_are_linked_to_the_persons_holding_them() -> None:
    data = generate("GRC", seed=6, persons=100, documents=100, vehicles=0, cases=0)
    persons = {person.id: person.person for person in data.persons}
    linked = [d for d in data.documents if d.holder_person_id]
    assert linked
    for document in linked:
        holder = persons[document.holder_person_id or ""]
        assert document.number in {identifier.value for identifier in holder.identifiers}
        assert document.holder is not None
        assert document.holder.names[0] == holder.primary_name


# --- vehicles ----------------------------------------------------------------------------------


def test_vins_are_valid_with_their_check_digit(data: SyntheticData) -> None:
    vins = [vehicle.vin for vehicle in data.vehicles if vehicle.vin]
    assert vins
    assert len(vins) == len(set(vins))
    for vin in vins:
        assert validate_vin(vin) == vin
        assert vin[8] == vin_check_digit(vin)


def test_vehicles_are_plausible(data: SyntheticData) -> None:
    today = dt.datetime.now(dt.UTC).date()
    only_plate = only_vin = 0
    for vehicle in data.vehicles:
        assert vehicle.vin or vehicle.plate
        only_plate += vehicle.vin is None
        only_vin += vehicle.plate is None
        assert vehicle.model_year is not None
        assert 1995 <= vehicle.model_year <= today.year
        assert vehicle.make
        assert vehicle.model
        assert vehicle.stolen_on is not None
        assert vehicle.stolen_on <= today
        if vehicle.plate is not None:
            assert vehicle.plate_country is not None
            assert re.fullmatch(PLATES[vehicle.plate_country], vehicle.plate), vehicle.plate
            if data.country in NATIONAL:
                assert vehicle.plate_country == data.country
    assert only_plate
    assert only_vin
    assert sum(vehicle.status == "stolen" for vehicle in data.vehicles) > len(data.vehicles) / 2


def test_french_vehicles_come_from_french_makers() -> None:
    data = generate("FRA", seed=8, persons=0, documents=0, vehicles=200, cases=0)
    wmis = {vehicle.vin[:3] for vehicle in data.vehicles if vehicle.vin}
    assert {"VF1", "VF3", "VF7"} <= wmis


# --- cases -------------------------------------------------------------------------------------


def test_case_links_point_to_generated_persons(data: SyntheticData) -> None:
    person_ids = {person.id for person in data.persons}
    for synthetic in data.cases:
        links = synthetic.case.links
        assert 1 <= len(links) <= 4
        assert len({link.id for link in links}) == len(links)
        for link in links:
            assert link.kind == "person"
            assert link.id in person_ids
            assert link.role in ("suspect", "victim", "witness", "wanted")


def test_cases_are_consistent(data: SyntheticData) -> None:
    today = dt.datetime.now(dt.UTC).date()
    references = [case.case.reference for case in data.cases]
    assert len(references) == len(set(references))
    statuses = set()
    for synthetic in data.cases:
        case = synthetic.case
        statuses.add(case.status)
        assert 1 <= len(case.crime_types) <= 3
        assert len(set(case.crime_types)) == len(case.crime_types)
        assert all(code in ICCS_DIVISIONS for code in case.crime_types)
        assert case.opened_on <= today
        if case.status is CaseStatus.CLOSED:
            assert case.closed_on is not None
            assert case.opened_on <= case.closed_on <= today
        else:
            assert case.closed_on is None
        assert case.summary
    assert CaseStatus.CLOSED in statuses
    assert len(statuses) >= 3


@pytest.mark.parametrize(
    ("country", "word"),
    [("FRA", "procédure"), ("UKR", "провадженні"), ("GRC", "πρόσωπα"), ("JPN", "事件"), ("XPO", "case")],
)
def test_cases_are_written_in_the_countrys_language(country: str, word: str) -> None:
    data = generate(country, seed=2, persons=10, documents=0, vehicles=0, cases=20)
    assert all(word in (case.case.summary or "") + case.case.title for case in data.cases)
