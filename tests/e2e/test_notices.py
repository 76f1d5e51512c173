"""Notices over HTTP: the lifecycle through /api/v1/notices and /api/v1/diffusions with
the roles that may take each step, bad input answered with problems naming the field, and
a published notice pushed to the national replica of an enrolled node within seconds,
then withdrawn from it on cancellation."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest

from polex.auth.principal import Principal, PrincipalKind
from polex.domain.agency import AgencyKind
from polex.domain.base import new_id
from polex.domain.policy import ALL_MEMBERS, AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from tests.e2e.conftest import PASSWORD, LiveServer, assert_problem, error_fields
from tests.factories import diffusion_body, red_notice_body


def _admin(country: str) -> Principal:
    return Principal(PrincipalKind.LOCAL, new_id(), f"admin {country}", new_id(), country, frozenset({Role.ADMIN}))


def _share_notices(hub: LiveServer) -> None:
    agreement = Agreement(
        id=f"notices-{new_id()[-8:]}",
        title="Notices to all members",
        kind=AgreementKind.MULTILATERAL_CONVENTION,
        parties=[ALL_MEMBERS],
        categories=[DataCategory.NOTICES],
        purposes=[Purpose.BORDER_CONTROL, Purpose.PROSECUTION, Purpose.CRIMINAL_INVESTIGATION],
        level=AccessLevel.FULL,
        valid_from=dt.date(2020, 1, 1),
        legal_reference="Rules on the Processing of Data, art. 10",
    )
    read = hub.node.policy.propose(agreement, _admin("XPO"))
    for country in ("XPO", "UKR", "FRA", "ESP", "DEU"):
        hub.node.policy.approve(agreement.id, read.version, _admin(country))


def _user(hub: LiveServer, roles: list[Role], *, country: str | None = None) -> httpx.Client:
    agency_id = hub.make_agency(kind=AgencyKind.NCB, country=country) if country else hub.own_agency_id
    username, _ = hub.make_user(roles, agency_id=agency_id)
    token = hub.login(username, PASSWORD).json()["access_token"]
    return hub.client({"Authorization": f"Bearer {token}"})


def test_the_lifecycle_over_http(hub_live: LiveServer) -> None:
    _share_notices(hub_live)
    ukr = _user(hub_live, [Role.NCB_OPERATOR], country="UKR")
    fra = _user(hub_live, [Role.BORDER_OFFICER], country="FRA")
    reviewer = _user(hub_live, [Role.REVIEWER])

    created = ukr.post("/api/v1/notices", json=red_notice_body(public_extract=True))
    assert created.status_code == 201, created.text
    notice = created.json()
    assert created.headers["ETag"] == '"1"'
    assert notice["status"] == "draft"
    assert notice["access"] == "source"

    photo = ukr.post(
        f"/api/v1/notices/{notice['id']}/files",
        params={"kind": "photo", "public": "true", "name": "face.jpg"},
        content=b"\xff\xd8\xff\xe0" + b"\x00" * 64,
        headers={"Content-Type": "image/jpeg"},
    )
    assert photo.status_code == 201, photo.text
    body = red_notice_body(public_extract=True, attachments=[photo.json()], version=1)
    updated = ukr.put(f"/api/v1/notices/{notice['id']}", json=body)
    assert updated.status_code == 200, updated.text

    submitted = ukr.post(f"/api/v1/notices/{notice['id']}/submit")
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["findings"] is not None
    queue = reviewer.get("/api/v1/notices", params={"scope": "review", "status": "submitted"}).json()["items"]
    assert notice["id"] in {item["id"] for item in queue}

    assert_problem(ukr.post(f"/api/v1/notices/{notice['id']}/approve"), 403)
    refused = assert_problem(reviewer.post(f"/api/v1/notices/{notice['id']}/refuse", json={}), 422)
    assert "reason" in error_fields(refused)
    approved = reviewer.post(f"/api/v1/notices/{notice['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "published"
    assert_problem(reviewer.post(f"/api/v1/notices/{notice['id']}/approve"), 409)

    seen = fra.get(f"/api/v1/notices/{notice['id']}", headers={"X-Polex-Purpose": "border_control"})
    assert seen.status_code == 200, seen.text
    assert seen.json()["access"] == "full"
    assert seen.json()["history"] is None
    image = fra.get(
        f"/api/v1/notices/{notice['id']}/files/{photo.json()['id']}", headers={"X-Polex-Purpose": "border_control"}
    )
    assert image.status_code == 200
    assert image.content.startswith(b"\xff\xd8")
    listed = fra.get("/api/v1/notices", params={"name": "sokolov"}, headers={"X-Polex-Purpose": "border_control"})
    assert notice["id"] in {item["id"] for item in listed.json()["items"]}
    assert_problem(fra.get(f"/api/v1/notices/{notice['id']}"), 400)  # no purpose declared

    cancelled = ukr.post(f"/api/v1/notices/{notice['id']}/cancel", json={"reason": "Arrested in Lyon"})
    assert cancelled.json()["status"] == "cancelled"
    assert_problem(fra.get(f"/api/v1/notices/{notice['id']}", headers={"X-Polex-Purpose": "border_control"}), 404)
    history = ukr.get(f"/api/v1/notices/{notice['id']}").json()["history"]
    assert [step["action"] for step in history] == ["update", "update", "submit", "approve", "cancel"]
    assert history[-1]["reason"] == "Arrested in Lyon"


def test_bad_notice_input_names_the_field(hub_live: LiveServer) -> None:
    ukr = _user(hub_live, [Role.NCB_OPERATOR], country="UKR")
    officer = _user(hub_live, [Role.BORDER_OFFICER], country="UKR")
    unknown = assert_problem(ukr.post("/api/v1/notices", json=red_notice_body(notice_type="teal")), 422)
    assert "notice_type" in error_fields(unknown)
    wrong_place = assert_problem(ukr.post("/api/v1/notices", json=diffusion_body()), 400)
    assert "channel" in error_fields(wrong_place)
    no_consent = assert_problem(
        ukr.post("/api/v1/notices", json=red_notice_body(notice_type="blue", public_extract=True)), 422
    )
    assert "public_extract" in error_fields(no_consent)
    translated = red_notice_body(summary={"language": "en", "text": "x", "translations": {"en": "y"}})
    assert_problem(ukr.post("/api/v1/notices", json=translated), 422)
    assert_problem(officer.post("/api/v1/notices", json=red_notice_body()), 403)
    draft = ukr.post("/api/v1/notices", json=red_notice_body()).json()
    assert_problem(ukr.post(f"/api/v1/notices/{draft['id']}/expire"), 400)
    assert_problem(ukr.put(f"/api/v1/notices/{draft['id']}", json=red_notice_body()), 428)
    stale = assert_problem(ukr.put(f"/api/v1/notices/{draft['id']}", json=red_notice_body(version=7)), 409)
    assert stale["current_version"] == 1
    too_big = ukr.post(
        f"/api/v1/notices/{draft['id']}/files", content=b"x" * 100, headers={"Content-Type": "text/html"}
    )
    assert "Content-Type" in error_fields(assert_problem(too_big, 422))


def test_a_diffusion_goes_only_to_the_countries_it_names(hub_live: LiveServer) -> None:
    _share_notices(hub_live)
    esp = _user(hub_live, [Role.NCB_OPERATOR], country="ESP")
    fra = _user(hub_live, [Role.INVESTIGATOR], country="FRA")
    deu = _user(hub_live, [Role.INVESTIGATOR], country="DEU")
    diffusion = esp.post("/api/v1/diffusions", json=diffusion_body(recipients=["FRA"])).json()
    issued = esp.post(f"/api/v1/diffusions/{diffusion['id']}/issue")
    assert issued.status_code == 200, issued.text
    purpose = {"X-Polex-Purpose": "criminal_investigation"}
    assert fra.get(f"/api/v1/diffusions/{diffusion['id']}", headers=purpose).status_code == 200
    assert_problem(deu.get(f"/api/v1/diffusions/{diffusion['id']}", headers=purpose), 404)
    request = esp.post(f"/api/v1/diffusions/{diffusion['id']}/notice-request")
    assert request.status_code == 201, request.text
    assert request.json()["channel"] == "notice"


def test_a_published_notice_reaches_the_national_replica_and_leaves_it_on_cancellation(
    network: tuple[LiveServer, LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    national, hub = network
    # The national matches below come from the replica's index (not asked online at the hub).
    monkeypatch.setattr(national.node.screening, "online", None)
    _share_notices(hub)
    ukr = _user(hub, [Role.NCB_OPERATOR], country="UKR")
    reviewer = _user(hub, [Role.REVIEWER])
    replica = national.node.replica
    assert replica is not None
    replica.sync_once()  # the copy is current before the notice exists
    # The records the hub pushed (the periodic pull brings the same ones later): proof that the
    # push carried the notice, whatever the machine's speed.
    pushed: list[str] = []
    apply_pushed = replica.apply_pushed

    def spied(changes: Sequence[Mapping[str, Any]], *, caller: str) -> int:
        applied = apply_pushed(changes, caller=caller)
        pushed.extend(change["id"] for change in changes)
        return applied

    monkeypatch.setattr(replica, "apply_pushed", spied)

    notice = ukr.post("/api/v1/notices", json=red_notice_body()).json()
    ukr.post(f"/api/v1/notices/{notice['id']}/submit")
    started = time.monotonic()
    assert reviewer.post(f"/api/v1/notices/{notice['id']}/approve").status_code == 200
    while notice["id"] not in pushed and time.monotonic() - started < 30:
        time.sleep(0.02)
    assert notice["id"] in pushed, "the hub did not push the notice"
    assert replica.rows([notice["id"]]), "the pushed notice is not in the replica"

    username, _ = national.make_user([Role.BORDER_OFFICER])
    officer = national.bearer(national.token_for(username), purpose="border_control")
    match = officer.post(
        "/api/v1/persons/match",
        json={"purpose": "border_control", "query": {"names": ["Ivan Sokolov"], "birth_date": "1979-04-12"}},
    )
    assert match.status_code == 200, match.text
    [candidate] = match.json()["candidates"]
    assert candidate["id"] == notice["id"]
    assert candidate["source"] == "replica"

    started = time.monotonic()
    ukr.post(f"/api/v1/notices/{notice['id']}/cancel", json={"reason": "Arrested"})
    while replica.rows([notice["id"]]) and time.monotonic() - started < 5:
        time.sleep(0.02)
    assert not replica.rows([notice["id"]])
    gone = officer.post(
        "/api/v1/persons/match",
        json={"purpose": "border_control", "query": {"names": ["Ivan Sokolov"], "birth_date": "1979-04-12"}},
    )
    assert gone.json()["candidates"] == []
