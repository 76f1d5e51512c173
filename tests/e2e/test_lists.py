"""Lists over real HTTP: cursor pagination, filters, and refusal of what a list does not know."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.factories import case_body, document_body, make_vin, person_body, vehicle_body

# Cyrillic letters whose Latin transliteration is one unambiguous letter.
_CYRILLIC_TO_LATIN = dict(zip("абвдклмнопрст", "abvdklmnoprst", strict=True))


@pytest.fixture(scope="module")
def operator(live: LiveServer) -> httpx.Client:
    return live.as_roles(Role.NCB_OPERATOR)


def _create(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _ids(client: httpx.Client, url: str, **params: Any) -> list[str]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def _walk(client: httpx.Client, url: str, limit: int, **params: Any) -> list[list[str]]:
    """Every page of a list, following next_cursor to the end."""
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(url, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 1000, "the cursor never ends"


def test_cursor_walks_every_record_exactly_once(live: LiveServer) -> None:
    agency_id = live.make_agency()
    client = live.new_client([Role.INVESTIGATOR], agency_id=agency_id)
    created = [_create(client, "/api/v1/cases", case_body())["id"] for _ in range(7)]
    for limit, sizes in ((3, [3, 3, 1]), (7, [7]), (1, [1] * 7), (500, [7])):
        pages = _walk(client, "/api/v1/cases", limit, owner_agency_id=agency_id)
        assert [len(page) for page in pages] == sizes
        assert [record_id for page in pages for record_id in page] == created  # creation order
    # An exact multiple of the page size ends without an empty page.
    pages = _walk(client, "/api/v1/cases", 7, owner_agency_id=agency_id)
    assert pages == [created]


def test_cursor_over_the_whole_list_sees_nothing_twice(operator: httpx.Client) -> None:
    mine = [_create(operator, "/api/v1/vehicles", vehicle_body())["id"] for _ in range(3)]
    pages = _walk(operator, "/api/v1/vehicles", 2)
    seen = [record_id for page in pages for record_id in page]
    assert len(seen) == len(set(seen))
    assert set(mine) <= set(seen)
    assert all(len(page) == 2 for page in pages[:-1])
    assert len(pages[-1]) in (1, 2)


def test_records_created_during_a_walk_come_at_the_end(operator: httpx.Client, live: LiveServer) -> None:
    agency_id = live.make_agency()
    client = live.new_client([Role.NCB_OPERATOR], agency_id=agency_id)
    first = [_create(client, "/api/v1/persons", person_body())["id"] for _ in range(3)]
    page = client.get("/api/v1/persons", params={"owner_agency_id": agency_id, "limit": 2}).json()
    later = _create(client, "/api/v1/persons", person_body())["id"]
    rest = client.get(
        "/api/v1/persons", params={"owner_agency_id": agency_id, "limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [item["id"] for item in page["items"] + rest["items"]] == [*first, later]
    assert rest["next_cursor"] is None


def test_persons_by_name_in_any_script(operator: httpx.Client) -> None:
    cyrillic = "".join(secrets.choice(list(_CYRILLIC_TO_LATIN)) for _ in range(10))
    latin = "".join(_CYRILLIC_TO_LATIN[letter] for letter in cyrillic)
    family = cyrillic.capitalize()
    person = _create(
        operator,
        "/api/v1/persons",
        person_body(
            names=[{"full": f"Тарас {family}", "given": "Тарас", "family": family}],
            nationalities=["UKR", "POL"],
            birth_dates=["1984-07-12", "1985"],
        ),
    )
    for name in (latin, latin.upper(), latin.capitalize(), cyrillic, family.upper(), f" {latin} "):
        assert _ids(operator, "/api/v1/persons", name=name) == [person["id"]], name
    # A token, not a substring.
    assert _ids(operator, "/api/v1/persons", name=latin[:-1]) == []
    assert _ids(operator, "/api/v1/persons", name=latin, nationality="UKR") == [person["id"]]
    assert _ids(operator, "/api/v1/persons", name=latin, nationality="pol") == [person["id"]]
    assert _ids(operator, "/api/v1/persons", name=latin, nationality="FRA") == []
    assert _ids(operator, "/api/v1/persons", name=latin, birth_year="1984") == [person["id"]]
    assert _ids(operator, "/api/v1/persons", name=latin, birth_year="1985") == [person["id"]]
    assert _ids(operator, "/api/v1/persons", name=latin, birth_year="1986") == []
    assert _ids(operator, "/api/v1/persons", name=latin, sex="male") == [person["id"]]
    assert _ids(operator, "/api/v1/persons", name=latin, sex="female") == []


def test_documents_by_number_issuer_and_status(operator: httpx.Client) -> None:
    number = f"{secrets.randbelow(90) + 10}XY{secrets.randbelow(90000) + 10000}"
    stolen = _create(operator, "/api/v1/travel-documents", document_body(number=number))
    lost = _create(
        operator, "/api/v1/travel-documents", document_body(number=number, document_type="identity_card", status="lost")
    )
    both = [stolen["id"], lost["id"]]
    spaced = f" {number[:2].lower()} {number[2:4].lower()} {number[4:]} "
    for typed in (number, number.lower(), spaced, f"{number}<<<"):
        assert _ids(operator, "/api/v1/travel-documents", number=typed) == both, typed
    assert _ids(operator, "/api/v1/travel-documents", number=number, issuing_country="FRA") == both
    assert _ids(operator, "/api/v1/travel-documents", number=number, issuing_country="DEU") == []
    assert _ids(operator, "/api/v1/travel-documents", number=number, status="stolen") == [stolen["id"]]
    assert _ids(operator, "/api/v1/travel-documents", number=number, status="lost") == [lost["id"]]
    assert _ids(operator, "/api/v1/travel-documents", number=number, document_type="identity_card") == [lost["id"]]
    assert _ids(operator, "/api/v1/travel-documents", number=number[:-1]) == []


def test_vehicles_by_vin_plate_and_plate_country(operator: httpx.Client) -> None:
    vin = make_vin()
    plate = f"ZQ-{secrets.randbelow(900) + 100}-{secrets.choice(['KL', 'MN', 'PR'])}"
    vehicle = _create(operator, "/api/v1/vehicles", vehicle_body(vin=vin, plate=plate, plate_country="BEL"))
    assert vehicle["plate"] == plate.replace("-", "")
    assert _ids(operator, "/api/v1/vehicles", vin=vin) == [vehicle["id"]]
    assert _ids(operator, "/api/v1/vehicles", vin=f"{vin[:5].lower()} {vin[5:]}") == [vehicle["id"]]
    compact = plate.replace("-", "")
    for typed in (plate, compact, compact.lower(), f"{compact[:2]} {compact[2:5]} {compact[5:]}"):
        assert _ids(operator, "/api/v1/vehicles", plate=typed) == [vehicle["id"]], typed
    assert _ids(operator, "/api/v1/vehicles", plate=plate, plate_country="BEL") == [vehicle["id"]]
    assert _ids(operator, "/api/v1/vehicles", plate=plate, plate_country="FRA") == []
    assert _ids(operator, "/api/v1/vehicles", vin=vin, status="recovered") == []
    assert _ids(operator, "/api/v1/vehicles", vin=vin, status="stolen") == [vehicle["id"]]


def test_cases_by_crime_type_at_any_level(operator: httpx.Client) -> None:
    case = _create(operator, "/api/v1/cases", case_body(crime_types=["0502"]))
    reference = case["reference"]
    for code in ("05", "0502"):
        assert _ids(operator, "/api/v1/cases", reference=reference, crime_type=code) == [case["id"]], code
    for code in ("01", "0501", "0905", "050"):
        assert _ids(operator, "/api/v1/cases", reference=reference, crime_type=code) == [], code
    assert _ids(operator, "/api/v1/cases", reference=reference.lower()) == [case["id"]]


def test_owner_country_filter(operator: httpx.Client) -> None:
    case = _create(operator, "/api/v1/cases", case_body())
    assert _ids(operator, "/api/v1/cases", reference=case["reference"], owner_country="FRA") == [case["id"]]
    assert _ids(operator, "/api/v1/cases", reference=case["reference"], owner_country="DEU") == []


@pytest.mark.parametrize("url", ["/api/v1/persons", "/api/v1/travel-documents", "/api/v1/vehicles", "/api/v1/cases"])
def test_unknown_query_parameter_is_named(operator: httpx.Client, url: str) -> None:
    body = assert_problem(operator.get(url, params={"colour_of_sky": "blue"}), 422)
    assert error_fields(body) == {"colour_of_sky"}
    assert "colour_of_sky" in body["detail"]


def test_a_filter_of_another_list_is_unknown_here(operator: httpx.Client) -> None:
    assert error_fields(assert_problem(operator.get("/api/v1/cases", params={"vin": make_vin()}), 422)) == {"vin"}
    assert error_fields(assert_problem(operator.get("/api/v1/persons", params={"name": ""}), 422)) == {"name"}
    assert error_fields(assert_problem(operator.get("/api/v1/persons", params={"name": "a|b"}), 422)) == {"name"}


@pytest.mark.parametrize("cursor", ["not-a-cursor!", "eyJ2IjoxfQ", "AAAA", "e30", "%%%", "x" * 400])
def test_bad_cursor_is_400_naming_cursor(operator: httpx.Client, cursor: str) -> None:
    body = assert_problem(operator.get("/api/v1/persons", params={"cursor": cursor}), 400)
    assert error_fields(body) == {"cursor"}


def test_cursor_of_another_list_is_refused(operator: httpx.Client) -> None:
    for _ in range(2):
        _create(operator, "/api/v1/cases", case_body())
    cursor = operator.get("/api/v1/cases", params={"limit": 1}).json()["next_cursor"]
    assert cursor is not None
    assert operator.get("/api/v1/cases", params={"limit": 1, "cursor": cursor}).status_code == 200
    body = assert_problem(operator.get("/api/v1/persons", params={"cursor": cursor}), 400)
    assert error_fields(body) == {"cursor"}


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5"])
def test_limit_out_of_range_is_422(operator: httpx.Client, limit: str) -> None:
    body = assert_problem(operator.get("/api/v1/vehicles", params={"limit": limit}), 422)
    assert error_fields(body) == {"limit"}


@pytest.mark.parametrize(
    ("name", "value"),
    [("owner_country", "ZZZ"), ("owner_agency_id", "nobody"), ("status", "Stolen!"), ("updated_since", "yesterday")],
)
def test_bad_common_parameters_are_422(operator: httpx.Client, name: str, value: str) -> None:
    body = assert_problem(operator.get("/api/v1/vehicles", params={name: value}), 422)
    assert error_fields(body) == {name}


def test_limit_bounds_are_accepted(operator: httpx.Client) -> None:
    assert operator.get("/api/v1/cases", params={"limit": 1}).status_code == 200
    assert operator.get("/api/v1/cases", params={"limit": 500}).status_code == 200
