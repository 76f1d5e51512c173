"""Records of every kind over real HTTP: create, read, update, delete, ownership, duplicates."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from polex.domain.agency import AgencyKind
from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.factories import case_body, document_body, person_body, vehicle_body

KINDS: dict[str, tuple[str, Callable[..., dict[str, Any]]]] = {
    "person": ("/api/v1/persons", person_body),
    "travel_document": ("/api/v1/travel-documents", document_body),
    "vehicle": ("/api/v1/vehicles", vehicle_body),
    "case": ("/api/v1/cases", case_body),
}
# A harmless change per kind, to see an update land.
CHANGES: dict[str, dict[str, Any]] = {
    "person": {"remarks": "seen in Marseille"},
    "travel_document": {"place_of_loss": "Marseille"},
    "vehicle": {"colour": "dark blue"},
    "case": {"title": "Réseau de vols de véhicules"},
}


@pytest.fixture(scope="module")
def operator(live: LiveServer) -> httpx.Client:
    return live.as_roles(Role.NCB_OPERATOR)


@pytest.fixture(scope="module")
def other_agency_operator(live: LiveServer) -> httpx.Client:
    """An NCB operator of another agency of the same node (a French police force)."""
    return live.new_client([Role.NCB_OPERATOR], agency_id=live.make_agency(kind=AgencyKind.POLICE))


def _create(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _record(read: dict[str, Any]) -> dict[str, Any]:
    """A record as read, without the policy's decision that every read carries."""
    return {name: value for name, value in read.items() if name != "access"}


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _document_number() -> tuple[str, str]:
    """A document number as typed, with lower case, a space and MRZ fillers, and as stored."""
    digits = f"{secrets.randbelow(90) + 10}"
    tail = f"{secrets.randbelow(90000) + 10000}"
    return f"{digits}ab {tail}<<", f"{digits}AB{tail}"


@pytest.mark.parametrize("kind", list(KINDS))
def test_create_then_read(live: LiveServer, operator: httpx.Client, kind: str) -> None:
    url, factory = KINDS[kind]
    body = factory()
    response = operator.post(url, json=body)
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    created = response.json()
    assert response.headers["location"] == f"{url}/{created['id']}"
    assert created["kind"] == kind
    assert created["version"] == 1
    assert created["schema"] == "polex.schema/v1"
    assert created["owner"] == {"agency_id": live.own_agency_id, "country": "FRA"}
    assert created["restrictions"]["handling"] == "TLP:AMBER"
    assert created["provenance"]["source_format"] == "api"
    assert created["created_at"] == created["updated_at"]

    read = operator.get(response.headers["location"])
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'
    assert _record(read.json()) == created
    assert read.json()["access"]["outcome"] == "full"
    assert [rule["code"] for rule in read.json()["access"]["rules"]] == ["owner"]
    # Any reader of the owning agency sees the same record.
    assert _record(live.as_roles(Role.ANALYST).get(f"{url}/{created['id']}").json()) == created


def test_owner_comes_from_the_caller_not_the_body(live: LiveServer, operator: httpx.Client) -> None:
    body = person_body(owner={"agency_id": live.own_agency_id, "country": "DEU"})
    assert "owner" in error_fields(assert_problem(operator.post("/api/v1/persons", json=body), 422))
    url, factory = KINDS["case"]
    created = _create(operator, url, factory())
    assert created["owner"]["agency_id"] == live.own_agency_id


def test_provenance_keeps_the_values_polex_normalised(operator: httpx.Client) -> None:
    typed, stored = _document_number()
    body = document_body(number=typed)
    body["holder"]["nationality"] = "fra"
    created = _create(operator, "/api/v1/travel-documents", body)
    assert created["number"] == stored
    assert created["holder"]["nationality"] == "FRA"
    originals = created["provenance"]["original_values"]
    assert originals["number"] == typed
    assert originals["holder/nationality"] == "fra"
    assert "issuing_country" not in originals  # unchanged values are not repeated
    assert "place_of_loss" not in originals
    assert operator.get(f"/api/v1/travel-documents/{created['id']}").json()["provenance"] == created["provenance"]


def test_provenance_keeps_the_original_exactly_as_sent(operator: httpx.Client) -> None:
    # The value "as received": surrounding blanks are part of what the source sent.
    body = person_body(nationalities=[" ukr "])
    created = _create(operator, "/api/v1/persons", body)
    assert created["nationalities"] == ["UKR"]
    assert created["provenance"]["original_values"] == {"nationalities/0": " ukr "}


def test_provenance_declared_by_the_client_is_kept(operator: httpx.Client) -> None:
    vin = vehicle_body()["vin"]
    body = vehicle_body(
        vin=f"{vin[:3].lower()}-{vin[3:].lower()}",
        provenance={"source_format": "sis-ii", "source_id": "SIS-123", "original_values": {"colour": "gris"}},
    )
    created = _create(operator, "/api/v1/vehicles", body)
    provenance = created["provenance"]
    assert provenance["source_format"] == "sis-ii"
    assert provenance["source_id"] == "SIS-123"
    assert provenance["original_values"]["colour"] == "gris"
    assert provenance["original_values"]["vin"] == body["vin"]
    assert created["vin"] == vin


@pytest.mark.parametrize("kind", list(KINDS))
def test_update_with_if_match_then_with_body_version(operator: httpx.Client, kind: str) -> None:
    url, factory = KINDS[kind]
    body = factory()
    created = _create(operator, url, body)
    location = f"{url}/{created['id']}"

    first = operator.put(location, json={**body, **CHANGES[kind]}, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"2"'
    assert first.json()["version"] == 2
    for field, value in CHANGES[kind].items():
        assert first.json()[field] == value
    assert first.json()["created_at"] == created["created_at"]
    assert _instant(first.json()["updated_at"]) > _instant(created["updated_at"])
    assert first.json()["owner"] == created["owner"]

    second = operator.put(location, json={**body, "version": 2})
    assert second.status_code == 200, second.text
    assert second.headers["etag"] == '"3"'
    assert second.json()["version"] == 3
    read = operator.get(location)
    assert read.headers["etag"] == '"3"'
    assert _record(read.json()) == second.json()

    # A weak ETag names the same version.
    third = operator.put(location, json=body, headers={"If-Match": 'W/"3"'})
    assert third.status_code == 200, third.text
    assert third.json()["version"] == 4


@pytest.mark.parametrize("kind", list(KINDS))
def test_stale_and_missing_versions_are_refused(operator: httpx.Client, kind: str) -> None:
    url, factory = KINDS[kind]
    body = factory()
    created = _create(operator, url, body)
    location = f"{url}/{created['id']}"
    assert operator.put(location, json=body, headers={"If-Match": '"1"'}).status_code == 200

    stale = assert_problem(operator.put(location, json={**body, **CHANGES[kind]}, headers={"If-Match": '"1"'}), 409)
    assert stale["current_version"] == 2
    stale_body = assert_problem(operator.put(location, json={**body, "version": 1}), 409)
    assert stale_body["current_version"] == 2
    ahead = assert_problem(operator.put(location, json={**body, "version": 7}), 409)
    assert ahead["current_version"] == 2

    missing = assert_problem(operator.put(location, json={**body, **CHANGES[kind]}), 428)
    assert "version" in error_fields(missing)
    # None of the refused updates changed anything.
    read = operator.get(location)
    assert read.json()["version"] == 2
    for field in CHANGES[kind]:
        assert read.json().get(field) == body.get(field)


def test_if_match_wins_over_the_body_version(operator: httpx.Client) -> None:
    body = case_body()
    created = _create(operator, "/api/v1/cases", body)
    location = f"/api/v1/cases/{created['id']}"
    response = operator.put(location, json={**body, "version": 5}, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2


@pytest.mark.parametrize("kind", list(KINDS))
def test_only_the_owning_agency_changes_or_deletes(
    live: LiveServer, operator: httpx.Client, other_agency_operator: httpx.Client, kind: str
) -> None:
    url, factory = KINDS[kind]
    body = factory()
    created = _create(operator, url, body)
    location = f"{url}/{created['id']}"
    # The other agency reads it ...
    assert other_agency_operator.get(location).status_code == 200
    # ... but neither replaces nor withdraws it: answered as for a record that does not
    # exist, since a 403 would confirm the existence of records a caller may not see.
    refused = assert_problem(
        other_agency_operator.put(location, json={**body, **CHANGES[kind]}, headers={"If-Match": '"1"'}), 404
    )
    assert "only the owning agency" in refused["detail"]
    assert_problem(other_agency_operator.delete(location, headers={"If-Match": '"1"'}), 404)
    read = operator.get(location)
    assert read.status_code == 200
    assert _record(read.json()) == created
    # Another role of the owning agency may.
    investigator = live.as_roles(Role.INVESTIGATOR)
    assert investigator.put(location, json=body, headers={"If-Match": '"1"'}).status_code == 200


def test_other_agency_owns_what_it_creates(live: LiveServer, other_agency_operator: httpx.Client) -> None:
    created = _create(other_agency_operator, "/api/v1/cases", case_body())
    assert created["owner"]["agency_id"] != live.own_agency_id
    assert created["owner"]["country"] == "FRA"


@pytest.mark.parametrize("kind", list(KINDS))
def test_delete_needs_if_match_then_the_record_is_gone(operator: httpx.Client, kind: str) -> None:
    url, factory = KINDS[kind]
    created = _create(operator, url, factory())
    location = f"{url}/{created['id']}"
    assert "If-Match" in error_fields(assert_problem(operator.delete(location), 428))
    assert operator.get(location).status_code == 200
    assert_problem(operator.delete(location, headers={"If-Match": '"2"'}), 409)

    deleted = operator.delete(location, headers={"If-Match": '"1"'})
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(operator.get(location), 404)
    assert_problem(operator.delete(location, headers={"If-Match": '"1"'}), 404)
    assert_problem(operator.put(location, json={**factory(), "version": 1}), 404)
    listed = operator.get(url, params={"owner_agency_id": created["owner"]["agency_id"], "limit": 500})
    assert created["id"] not in {item["id"] for item in listed.json()["items"]}


@pytest.mark.parametrize("kind", list(KINDS))
def test_unknown_record_is_404(operator: httpx.Client, kind: str) -> None:
    url, _ = KINDS[kind]
    assert_problem(operator.get(f"{url}/0190f1c2-7a3b-7c4d-8e5f-0123456789ab"), 404)
    assert "record_id" in error_fields(assert_problem(operator.get(f"{url}/not-an-id"), 422))


def test_a_person_id_is_not_found_as_a_vehicle(operator: httpx.Client) -> None:
    person = _create(operator, "/api/v1/persons", person_body())
    assert_problem(operator.get(f"/api/v1/vehicles/{person['id']}"), 404)
    assert_problem(operator.delete(f"/api/v1/vehicles/{person['id']}", headers={"If-Match": '"1"'}), 404)


def test_only_the_issuing_country_reports_its_documents(live: LiveServer, operator: httpx.Client) -> None:
    before = operator.get("/api/v1/travel-documents", params={"issuing_country": "DEU"}).json()["items"]
    refused = assert_problem(operator.post("/api/v1/travel-documents", json=document_body(issuing_country="DEU")), 403)
    assert "DEU" in refused["detail"]
    after = operator.get("/api/v1/travel-documents", params={"issuing_country": "DEU"}).json()["items"]
    assert after == before
    # Nor can an owned document be turned into another country's.
    body = document_body()
    created = _create(operator, "/api/v1/travel-documents", body)
    location = f"/api/v1/travel-documents/{created['id']}"
    assert_problem(operator.put(location, json={**body, "issuing_country": "DEU"}, headers={"If-Match": '"1"'}), 403)
    assert operator.get(location).json()["issuing_country"] == "FRA"


def test_a_document_is_reported_once(operator: httpx.Client, other_agency_operator: httpx.Client) -> None:
    typed, stored = _document_number()
    first = _create(operator, "/api/v1/travel-documents", document_body(number=typed))
    # Same issuer, type and number, however it is typed and whichever French agency reports it.
    for client, number in ((operator, stored), (other_agency_operator, stored.lower()), (operator, typed)):
        duplicate = assert_problem(
            client.post("/api/v1/travel-documents", json=document_body(number=number, status="lost")), 409
        )
        assert duplicate["type"].endswith("already-exists")
    listed = operator.get("/api/v1/travel-documents", params={"number": stored}).json()["items"]
    assert [item["id"] for item in listed] == [first["id"]]
    # Another type with the same number is another document.
    _create(operator, "/api/v1/travel-documents", document_body(number=stored, document_type="identity_card"))
    # Once withdrawn, the document may be reported again.
    assert operator.delete(f"/api/v1/travel-documents/{first['id']}", headers={"If-Match": '"1"'}).status_code == 204
    _create(operator, "/api/v1/travel-documents", document_body(number=stored))


def test_an_update_cannot_make_a_duplicate_document(live: LiveServer, operator: httpx.Client) -> None:
    _, taken = _document_number()
    _create(operator, "/api/v1/travel-documents", document_body(number=taken))
    body = document_body()
    other = _create(operator, "/api/v1/travel-documents", body)
    location = f"/api/v1/travel-documents/{other['id']}"
    # A connection of its own: a server that fails drops the connection, and later tests need theirs.
    with httpx.Client(base_url=live.base_url, headers=operator.headers, timeout=30) as own:
        response = own.put(location, json={**body, "number": taken}, headers={"If-Match": '"1"'})
    assert_problem(response, 409)
    assert _record(operator.get(location).json()) == other
