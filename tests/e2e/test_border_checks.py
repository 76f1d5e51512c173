"""The border routes' lean path (polex.screening.border, polex.api.lean) against the FastAPI routes it stands
in front of, on a live hub: every request is sent twice, once with the lean path switched
off (the routes answer) and once with it on, and both must give the same status, body and
audit events, the bad requests included (401, 403, 400, 422, 413, 405)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from polex.api.lean import LeanRoutes
from polex.auth.principal import Principal, PrincipalKind
from polex.auth.schemas import ApiKeyCreate
from polex.domain.base import new_id
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.screening.border import BorderCheck
from tests.e2e.conftest import LiveServer
from tests.e2e.lean_paths import audit_size, both_ways, exchange, lean_layer
from tests.factories import document_body, make_vin, td3_lines, vehicle_body

# The lean path admits a remembered principal; see the fixture.
pytestmark = pytest.mark.usefixtures("principals_remembered_for_the_module")

DOCUMENTS = "/api/v1/documents/check"
VEHICLES = "/api/v1/vehicles/check"


def admin(country: str) -> Principal:
    return Principal(PrincipalKind.LOCAL, new_id(), "admin", new_id(), country, frozenset({Role.ADMIN}))


@pytest.fixture(scope="module")
def border(hub_live: LiveServer) -> dict[str, Any]:
    """A French owner's document and vehicle, a Ukrainian border officer and an auditor (no
    right to read records) at the hub, under a border treaty."""
    node = hub_live.node
    agreement = Agreement(
        id="fra-ukr-border-lean",
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
    document = owner.post("/api/v1/travel-documents", json=document_body(number="41LP98765"))
    assert document.status_code == 201, document.text
    vin = make_vin()
    vehicle = owner.post("/api/v1/vehicles", json=vehicle_body(vin=vin, plate="KL-789-MN", plate_country="FRA"))
    assert vehicle.status_code == 201, vehicle.text
    ukraine = hub_live.make_agency(country="UKR")
    officer, _ = hub_live.make_user([Role.BORDER_OFFICER], agency_id=ukraine)
    auditor, _ = hub_live.make_user([Role.AUDITOR], agency_id=ukraine)
    gate = node.auth.create_api_key(ApiKeyCreate(name="border gate 9", roles=[Role.BORDER_OFFICER], agency_id=ukraine))
    return {
        "officer": hub_live.token_for(officer),
        "auditor": hub_live.token_for(auditor),
        "gate": gate.key,
        "gate_id": gate.id,
        "vin": vin,
    }


@pytest.fixture
def lean(hub_live: LiveServer) -> Iterator[LeanRoutes]:
    hub_live.client().get("/healthz")  # builds the middleware stack
    layer = lean_layer(hub_live)
    yield layer
    layer.enabled = True


def json_headers(token: str | None, **more: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", **more}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def test_checks_are_answered_by_the_lean_path_as_by_the_routes(
    hub_live: LiveServer, border: dict[str, Any], lean: LeanRoutes
) -> None:
    officer = json_headers(border["officer"])
    miss = {"purpose": "border_control", "documents": [{"number": "00NO00000", "country": "FRA"}]}
    (status, media, body, events), taken = both_ways(hub_live, lean, "POST", DOCUMENTS, miss, officer)
    assert (status, media, taken) == (200, "application/json", True)
    assert body == {
        "results": [{"hit": False, "query": {"number": "00NO00000", "country": "FRA", "type": None}}],
        "replica": None,
        "hub": None,
    }
    assert [event["tag"] for event in events] == ["screening:document:checked"]
    assert events[0]["purpose"] == "border_control"
    assert events[0]["details"]["hits"] == 0

    batch = {
        "purpose": "border_control",
        "case_reference": "UKR-BORDER-7",
        "documents": [
            {"number": "41lp 98765", "country": "fra", "type": "P"},
            {"mrz": "\n".join(td3_lines(number="41LP98765"))},
            {"number": "00NO00000", "country": "FRA"},
            {"number": "21XY43210", "country": "NOPE"},
        ],
    }
    (status, _, body, events), taken = both_ways(hub_live, lean, "POST", DOCUMENTS, batch, officer)
    assert (status, taken) == (200, True)
    assert [result["hit"] for result in body["results"]] == [True, True, False, None]
    assert body["results"][0]["access"] == "full"
    assert body["results"][0]["owner"]["country"] == "FRA"
    assert events[0]["case_reference"] == "UKR-BORDER-7"
    assert events[0]["details"]["hits"] == 2

    vehicles = {
        "purpose": "border_control",
        "vehicles": [{"vin": border["vin"]}, {"plate": "kl 789 mn", "country": "FRA"}],
    }
    (status, _, body, events), taken = both_ways(hub_live, lean, "POST", VEHICLES, vehicles, officer)
    assert (status, taken) == (200, True)
    assert [result["hit"] for result in body["results"]] == [True, True]
    assert [event["tag"] for event in events] == ["screening:vehicle:checked"]

    # A batch too large to read on the event loop goes to a worker thread: the same answer.
    many = {"purpose": "border_control", "documents": [{"number": f"77ZZ{n:05d}", "country": "FRA"} for n in range(40)]}
    (status, _, body, events), taken = both_ways(hub_live, lean, "POST", DOCUMENTS, many, officer)
    assert (status, taken) == (200, True)
    assert [result["hit"] for result in body["results"]] == [False] * 40
    assert events[0]["details"]["items"] == 40

    plain_miss = {"purpose": "border_control", "vehicles": [{"vin": make_vin()}, {"vin": "SHORT"}]}
    header = json_headers(border["officer"], **{"X-Polex-Purpose": "Border_Control"})
    (status, _, body, events), taken = both_ways(hub_live, lean, "POST", VEHICLES, plain_miss, header)
    assert (status, taken) == (200, True)
    assert [result["hit"] for result in body["results"]] == [False, None]
    assert body["results"][1]["error"]["errors"][0]["field"] == "vehicles[1].vin"
    assert events[0]["details"]["errors"] == 1


def test_border_systems_calling_with_an_api_key_take_the_lean_path_until_it_is_revoked(
    hub_live: LiveServer, border: dict[str, Any], lean: LeanRoutes
) -> None:
    miss = {"purpose": "border_control", "documents": [{"number": "00NO00001", "country": "FRA"}]}
    gate = {"Content-Type": "application/json", "X-API-Key": border["gate"]}
    (status, _, body, events), taken = both_ways(hub_live, lean, "POST", DOCUMENTS, miss, gate)
    assert (status, taken) == (200, True)
    assert body["results"][0]["hit"] is False
    assert events[0]["actor"]["kind"] == "api_key"
    hub_live.node.auth.revoke_api_key(border["gate_id"], admin("UKR"))
    (status, _, problem, _), taken = both_ways(hub_live, lean, "POST", DOCUMENTS, miss, gate)
    assert (status, taken) == (401, False)
    assert "revoked" in problem["detail"]


def test_refusals_are_the_routes_own(hub_live: LiveServer, border: dict[str, Any], lean: LeanRoutes) -> None:
    """Whatever is not a plain check goes to the routes, which answer it as before: the lean
    path never answers an error of its own."""
    officer = json_headers(border["officer"])
    document = {"number": "123456789", "country": "FRA"}
    plain: dict[str, Any] = {"purpose": "border_control", "documents": [document]}
    cases: list[tuple[str, Any, dict[str, str], int, set[str]]] = [
        ("no credential", plain, json_headers(None), 401, set()),
        ("an unknown token", plain, json_headers("not-a-token"), 401, set()),
        ("a role without record:read", plain, json_headers(border["auditor"]), 403, set()),
        ("no purpose", {"documents": [document]}, officer, 422, {"purpose"}),
        ("a purpose that is none", {**plain, "purpose": "curiosity"}, officer, 400, {"purpose"}),
        (
            "purposes that differ",
            plain,
            json_headers(border["officer"], **{"X-Polex-Purpose": "criminal_investigation"}),
            400,
            {"purpose"},
        ),
        ("a header too long", plain, json_headers(border["officer"], **{"X-Polex-Purpose": "x" * 65}), 422, set()),
        ("a misspelt field", {**plain, "documents": [{"numbr": "1", "country": "FRA"}]}, officer, 422, set()),
        ("an absurd number", {**plain, "documents": [{"number": "1" * 10_000, "country": "FRA"}]}, officer, 422, set()),
        ("nothing to check", {**plain, "documents": []}, officer, 422, {"documents"}),
        ("too many", {**plain, "documents": [document] * 1001}, officer, 422, {"documents"}),
        ("broken JSON", b'{"purpose": "border_control", "documents": [', officer, 400, {"body"}),
        (
            "not JSON",
            b"purpose=border_control",
            json_headers(border["officer"], **{"Content-Type": "text/plain"}),
            422,
            set(),
        ),
        ("an oversized body", {**plain, "padding": "x" * 1_100_000}, officer, 413, {"body"}),
        ("no content type", plain, {"Authorization": f"Bearer {border['officer']}"}, 422, set()),
    ]
    for name, body, headers, expected, fields in cases:
        (status, media, problem, events), taken = both_ways(hub_live, lean, "POST", DOCUMENTS, body, headers)
        assert status == expected, (name, problem)
        assert media.startswith("application/problem+json"), name
        assert not taken, name
        assert fields <= {error["field"].split(".")[-1] for error in problem.get("errors", [])}, (name, problem)
        if expected == 403:  # the denial is in the trail, whichever path it came through
            assert [event["tag"] for event in events] == ["policy:access:denied"], name
    status, _, _, _ = exchange(hub_live, "GET", DOCUMENTS, b"", officer)
    assert status == 405


def test_a_busy_index_sends_the_check_the_long_way(
    hub_live: LiveServer, border: dict[str, Any], lean: LeanRoutes
) -> None:
    """While a writer holds the index (a merge), the event loop does not wait for it: the
    check runs in a worker thread and answers the same."""
    index = hub_live.node.screening.index
    plain = {"purpose": "border_control", "documents": [{"number": "123456789", "country": "FRA"}]}
    assert index.contains_many_nowait(["doc:FRA:123456789"]) is not None
    index._lock.acquire()  # as a merge holds it, for a moment
    assert index.contains_many_nowait(["doc:FRA:123456789"]) is None
    threading.Timer(0.3, index._lock.release).start()
    response = httpx.post(hub_live.base_url + DOCUMENTS, json=plain, headers=json_headers(border["officer"]))
    assert response.status_code == 200
    assert response.json()["results"][0]["hit"] is False


def test_concurrent_checks_answered_here_share_audit_transactions_each_with_its_own_event(
    hub_live: LiveServer, border: dict[str, Any], lean: LeanRoutes
) -> None:
    # Forty checks at once: each answer waits for its own event, and the events commit in
    # fewer transactions than there are checks, each under its request's id and purpose.
    headers = {"Authorization": f"Bearer {border['officer']}", "X-Polex-Purpose": "border_control"}
    request_ids = [new_id() for _ in range(40)]

    async def ask_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=hub_live.base_url, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/documents/check",
                        json={
                            "purpose": "border_control",
                            "documents": [{"number": f"ZZ{index:07d}", "country": "FRA"}],
                        },
                        headers={**headers, "X-Request-ID": request_id},
                    )
                    for index, request_id in enumerate(request_ids)
                )
            )

    warm = httpx.post(  # the token verified once, as a border system's first request does
        hub_live.base_url + "/api/v1/documents/check",
        json={"purpose": "border_control", "documents": [{"number": "ZZ9999999", "country": "FRA"}]},
        headers=headers,
    )
    assert warm.status_code == 200, warm.text
    route = lean.route(DOCUMENTS)
    assert isinstance(route, BorderCheck)
    groups, events, full = route.audit.groups, route.audit.events, route.full_checks
    since = audit_size(hub_live)
    answers = asyncio.run(ask_all())
    assert [answer.status_code for answer in answers] == [200] * 40
    assert all(answer.json()["results"][0]["hit"] is False for answer in answers)
    # A check goes the long way when a background index update holds the index's lock as
    # it arrives; the rest are answered here, and grouped.
    answered_here = route.audit.events - events
    assert answered_here + route.full_checks - full == 40
    assert answered_here > 20
    assert route.audit.groups - groups < answered_here
    logged = [hub_live.node.audit.leaf(index)[0] for index in range(since, audit_size(hub_live))]
    mine = [event for event in logged if event.request_id in set(request_ids)]
    assert sorted(event.request_id or "" for event in mine) == sorted(request_ids)
    assert {event.purpose for event in mine} == {"border_control"}
