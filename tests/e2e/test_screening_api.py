"""Document and vehicle checks and the hit-confirmation exchange over HTTP, against a live
hub: the fixed wire shapes border systems call, bad input as clear 4xx problems, and the
owner told of a hit in real time."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import httpx
import pytest

from polex.auth.principal import Principal, PrincipalKind
from polex.domain.base import new_id
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer, assert_problem, error_fields, read_events
from tests.factories import document_body, make_vin, td3_lines, vehicle_body


def admin(country: str) -> Principal:
    return Principal(PrincipalKind.LOCAL, new_id(), "admin", new_id(), country, frozenset({Role.ADMIN}))


@pytest.fixture(scope="module")
def parties(hub_live: LiveServer) -> dict[str, httpx.Client]:
    """A French owner and a Ukrainian border post at the hub, bound by a border treaty."""
    node = hub_live.node
    agreement = Agreement(
        id="fra-ukr-border-e2e",
        title="Border checks",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.TRAVEL_DOCUMENTS, DataCategory.VEHICLES],
        purposes=[Purpose.BORDER_CONTROL],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="FRA-UKR border treaty, art. 4",
    )
    read = node.policy.propose(agreement, admin("FRA"))
    for country in ("FRA", "UKR"):
        node.policy.approve(agreement.id, read.version, admin(country))
    owner = hub_live.new_client([Role.NCB_OPERATOR], agency_id=hub_live.make_agency(country="FRA"))
    # Border systems declare the purpose in the body of a check, not in a header.
    username, _ = hub_live.make_user([Role.BORDER_OFFICER], agency_id=hub_live.make_agency(country="UKR"))
    border = hub_live.bearer(hub_live.token_for(username), purpose=None)
    return {"owner": owner, "border": border}


def test_documents_are_checked_in_the_fixed_wire_shape(parties: dict[str, httpx.Client]) -> None:
    owner, border = parties["owner"], parties["border"]
    filed = owner.post("/api/v1/travel-documents", json=document_body(number="21XY43210"))
    assert filed.status_code == 201, filed.text
    body = {
        "purpose": "border_control",
        "documents": [
            {"number": "21xy 43210", "country": "FRA", "type": "P"},
            {"mrz": "\n".join(td3_lines(number="21XY43210"))},
            {"number": "00NO00000", "country": "FRA"},
            {"number": "21XY43210", "country": "NOPE"},
        ],
    }
    response = border.post("/api/v1/documents/check", json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [result["hit"] for result in results] == [True, True, False, None]
    hit = results[0]
    assert hit["access"] == "full"
    assert hit["reference"] == filed.json()["id"]
    assert hit["owner"]["country"] == "FRA"
    assert hit["record"]["number"] == "21XY43210"
    assert results[3]["error"]["errors"][0]["field"] == "documents[3].country"


def test_bad_requests_are_problems_that_name_the_field(parties: dict[str, httpx.Client]) -> None:
    border = parties["border"]
    missing = assert_problem(border.post("/api/v1/documents/check", json={"documents": [{"number": "1"}]}), 422)
    assert "purpose" in {field.split(".")[-1] for field in error_fields(missing)}
    unknown = assert_problem(
        border.post("/api/v1/documents/check", json={"purpose": "curiosity", "documents": [{"number": "1"}]}), 400
    )
    assert error_fields(unknown) == {"purpose"}
    differs = border.post(  # two declarations that disagree: which one would the trail believe?
        "/api/v1/documents/check",
        json={"purpose": "border_control", "documents": [{"number": "1", "country": "FRA"}]},
        headers={"X-Polex-Purpose": "criminal_investigation"},
    )
    assert error_fields(assert_problem(differs, 400)) == {"purpose"}
    too_many = {"purpose": "border_control", "documents": [{"number": "1", "country": "FRA"}] * 1001}
    assert_problem(border.post("/api/v1/documents/check", json=too_many), 422)
    absurd = {"purpose": "border_control", "documents": [{"number": "1" * 10_000, "country": "FRA"}]}
    assert_problem(border.post("/api/v1/documents/check", json=absurd), 422)
    typo = {"purpose": "border_control", "documents": [{"numbr": "1", "country": "FRA"}]}
    assert_problem(border.post("/api/v1/documents/check", json=typo), 422)
    anonymous = httpx.post(str(border.base_url) + "/api/v1/documents/check", json={"purpose": "border_control"})
    assert_problem(anonymous, 401)


def test_vehicles_are_checked_by_vin_or_plate(parties: dict[str, httpx.Client]) -> None:
    owner, border = parties["owner"], parties["border"]
    vin = make_vin()
    filed = owner.post("/api/v1/vehicles", json=vehicle_body(vin=vin, plate="GH-456-JK", plate_country="FRA"))
    assert filed.status_code == 201, filed.text
    body = {
        "purpose": "border_control",
        "vehicles": [{"vin": vin}, {"plate": "gh 456 jk", "country": "FRA"}, {"vin": "SHORT"}],
    }
    results = border.post("/api/v1/vehicles/check", json=body).json()["results"]
    assert [result["hit"] for result in results] == [True, True, None]
    assert results[0]["reference"] == results[1]["reference"] == filed.json()["id"]
    assert results[2]["error"]["errors"][0]["field"] == "vehicles[2].vin"


def test_the_owner_is_told_of_a_hit_and_answers_the_confirmation(parties: dict[str, httpx.Client]) -> None:
    owner, border = parties["owner"], parties["border"]
    assert owner.post("/api/v1/travel-documents", json=document_body(number="31QR65432")).status_code == 201
    received: list[dict[str, Any]] = []
    opened = threading.Event()

    def listen() -> None:
        with owner.stream("GET", "/api/v1/events", timeout=20) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "retry: 3000"
            opened.set()
            received.extend(event for event in read_events(lines, 1) if event["event"] == "hit.raised")

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert opened.wait(10)
    check = {
        "purpose": "border_control",
        "case_reference": "UA-77",
        "documents": [{"number": "31QR65432", "country": "FRA"}],
    }
    [result] = border.post("/api/v1/documents/check", json=check).json()["results"]
    thread.join(20)
    [event] = received
    assert event["data"]["id"] == result["hit_id"]
    assert event["data"]["checked_by"]["country"] == "UKR"
    assert event["data"]["purpose"] == "border_control"

    hit_id = result["hit_id"]
    assert border.post(f"/api/v1/hits/{hit_id}/confirmation-request", json={"note": "At gate 3"}).status_code == 200
    mine = owner.get("/api/v1/hits").json()["items"]
    assert any(item["id"] == hit_id and item["status"] == "confirmation_requested" for item in mine)
    assert_problem(owner.post(f"/api/v1/hits/{hit_id}/reject", json={}), 422)  # a rejection says why
    assert_problem(border.post(f"/api/v1/hits/{hit_id}/confirm"), 403)  # a border officer cannot answer
    confirmed = owner.post(f"/api/v1/hits/{hit_id}/confirm", json={"note": "Confirmed, still stolen"})
    assert confirmed.json()["status"] == "confirmed"
    seen = border.get(f"/api/v1/hits/{hit_id}").json()
    assert seen["status"] == "confirmed"
    assert seen["age_seconds"] >= 0
    assert_problem(owner.post(f"/api/v1/hits/{hit_id}/confirm"), 409)


def test_persons_are_matched_across_scripts_over_http(hub_live: LiveServer, parties: dict[str, httpx.Client]) -> None:
    node, border = hub_live.node, parties["border"]
    fra = hub_live.new_client([Role.NCB_OPERATOR], agency_id=hub_live.make_agency(country="FRA"))
    person = {"names": [{"full": "Камиль Мартен"}, {"full": "Camille Martin"}], "birth_dates": ["1990-01-02"]}
    assert fra.post("/api/v1/persons", json=person).status_code == 201
    agreement = Agreement(
        id="fra-ukr-persons-e2e",
        title="Persons for border control",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.PERSONS],
        purposes=[Purpose.BORDER_CONTROL],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="FRA-UKR border treaty, art. 5",
    )
    read = node.policy.propose(agreement, admin("FRA"))
    for country in ("FRA", "UKR"):
        node.policy.approve(agreement.id, read.version, admin(country))
    body = {
        "purpose": "border_control",
        "query": {"names": ["MARTIN Camille"], "birth_date": "1990-01", "nationalities": ["FRA"], "sex": "F"},
        "limit": 10,
        "threshold": 0.7,
    }
    response = border.post("/api/v1/persons/match", json=body)
    assert response.status_code == 200, response.text
    [candidate] = response.json()["candidates"]
    assert candidate["match"] is True
    assert 0.7 <= candidate["score"] <= 1
    assert {feature["feature"] for feature in candidate["explanation"]} >= {"name", "birth_date"}
    assert candidate["access"] == "full"
    bad = {**body, "query": {"names": ["\x07"]}}
    assert error_fields(assert_problem(border.post("/api/v1/persons/match", json=bad), 422)) == {"query.names[0]"}
    huge = {**body, "query": {"names": ["a" * 10_000]}}
    assert_problem(border.post("/api/v1/persons/match", json=huge), 422)


def test_a_manifest_is_screened_in_the_background_and_its_results_stream(parties: dict[str, httpx.Client]) -> None:
    owner, border = parties["owner"], parties["border"]
    assert owner.post("/api/v1/travel-documents", json=document_body(number="41MN98765")).status_code == 201
    rows = "".join(f"P{n},Traveller Number{n},{'41MN98765' if n == 7 else f'55CC{n:05d}'},FRA\n" for n in range(40))
    manifest = "id,name,passport_number,issuing_country\n" + rows + "P40,,,\n"
    submitted = border.post(
        "/api/v1/screenings?purpose=border_control&source=AF1234",
        content=manifest.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert submitted.headers["Location"] == f"/api/v1/screenings/{job['id']}"
    with border.stream("GET", f"/api/v1/screenings/{job['id']}/results?follow=true", timeout=60) as stream:
        assert stream.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in stream.iter_lines() if line]
    assert [line["ref"] for line in lines] == [f"P{n}" for n in range(41)]
    assert [line["ref"] for line in lines if line["hit"]] == ["P7"]
    assert lines[-1]["status"] == "error"
    status = border.get(f"/api/v1/screenings/{job['id']}").json()
    assert status["status"] == "done"
    assert status["progress"] == 1.0
    assert status["summary"] == {"rows": 41, "rows_with_errors": 1, "document_hits": 1, "person_matches": 0}
    resumed = border.get(f"/api/v1/screenings/{job['id']}/results?after=40")
    assert [json.loads(line)["ref"] for line in resumed.text.splitlines()] == ["P40"]
    # Another agency's job is not there; a manifest of unknown type is refused.
    assert_problem(owner.get(f"/api/v1/screenings/{job['id']}"), 404)
    unknown = border.post("/api/v1/screenings?purpose=border_control", content=b"x", headers={"Content-Type": "a/b"})
    assert error_fields(assert_problem(unknown, 422)) == {"format"}
    assert_problem(
        border.post("/api/v1/screenings", content=manifest.encode(), headers={"Content-Type": "text/csv"}), 422
    )
