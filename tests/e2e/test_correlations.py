"""Cross-border correlation alerts over HTTP at the hub, on SQLite and PostgreSQL.

The scenario: France and Ukraine share persons in full for criminal investigations under a
treaty; France, Ukraine and Greece share persons as hits only for border control under a
convention; Ukraine's law never sends biometrics abroad. Each test gives each country fresh
agencies and made-up names, so that its correlations are its own. A Ukrainian and a French
officer file the same person (in Cyrillic and in Latin letters): each owner sees the
correlation, the other record as the policy lets it; Greece sees nothing; a record Ukraine
keeps from France raises no alert there and nothing counts it; owners confirm or dismiss
their side with a reason; a withdrawal closes the correlation.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from polex.auth.principal import Principal, PrincipalKind
from polex.domain.audit import AuditTag
from polex.domain.base import new_id
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, NationalRules, Purpose
from polex.domain.roles import Role
from polex.storage.tables import AuditEventRow
from tests.e2e.conftest import LiveServer, assert_problem, error_fields, read_events
from tests.factories import unique
from tests.integration.test_correlation import made_up_name

CORRELATIONS = "/api/v1/correlations"
PERSONS = "/api/v1/persons"
PURPOSE = "X-Polex-Purpose"
HIT_FIELDS = {"id", "kind", "owner", "access"}


def admin(country: str) -> Principal:
    return Principal(PrincipalKind.LOCAL, new_id(), "admin", new_id(), country, frozenset({Role.ADMIN}))


@pytest.fixture(scope="module")
def hub(hub_live: LiveServer) -> LiveServer:
    node = hub_live.node
    agreements = [
        Agreement(
            id=unique("fra-ukr-persons-"),
            title="Franco-Ukrainian exchange of criminal records",
            kind=AgreementKind.BILATERAL_TREATY,
            parties=["FRA", "UKR"],
            categories=[DataCategory.PERSONS],
            purposes=[Purpose.CRIMINAL_INVESTIGATION],
            level=AccessLevel.FULL,
            valid_from=dt.date(2024, 1, 1),
            legal_reference="FRA-UKR treaty, art. 2",
        ),
        Agreement(
            id=unique("hit-no-hit-"),
            title="Hit/no-hit consultation of persons",
            kind=AgreementKind.MULTILATERAL_CONVENTION,
            parties=["FRA", "UKR", "GRC"],
            categories=[DataCategory.PERSONS],
            purposes=[Purpose.BORDER_CONTROL],
            level=AccessLevel.HIT_ONLY,
            valid_from=dt.date(2024, 1, 1),
            legal_reference="Hit/no-hit convention, art. 3",
        ),
    ]
    for agreement in agreements:
        read = node.policy.propose(agreement, admin(agreement.parties[0]))
        for country in agreement.parties:
            node.policy.approve(agreement.id, read.version, admin(country))
    rules = NationalRules(country="UKR", never_shared=["biometrics"], legal_reference="Law of Ukraine on data")
    node.policy.set_national_rules(rules, admin("UKR"))
    return hub_live


@dataclass
class Owner:
    agency_id: str
    client: httpx.Client  # an NCB operator, declaring criminal_investigation

    def read(self, path: str, purpose: str = "criminal_investigation", **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers={PURPOSE: purpose})

    def listed(self, purpose: str = "criminal_investigation", **params: Any) -> list[dict[str, Any]]:
        response = self.read(CORRELATIONS, purpose, **params)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        assert set(page) == {"items", "next_cursor"}  # no totals, no counts
        items: list[dict[str, Any]] = page["items"]
        return items

    def file(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(PERSONS, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def owners(hub: LiveServer, *countries: str) -> dict[str, Owner]:
    made = {}
    for country in countries:
        agency_id = hub.make_agency(country=country)
        made[country] = Owner(agency_id, hub.new_client([Role.NCB_OPERATOR], agency_id=agency_id))
    return made


def made_up() -> tuple[str, str, str]:
    """A made-up name (in Cyrillic and in Latin letters) and a birth date of its own: the
    hub holds every earlier test's made-up persons, and a shared date would let two close
    names correlate across tests."""
    cyrillic, latin = made_up_name()
    born = dt.date(1950, 1, 1) + dt.timedelta(days=secrets.randbelow(50 * 365))
    return cyrillic, latin, born.isoformat()


def person(name: str, born: str, **fields: Any) -> dict[str, Any]:
    return {"names": [{"full": name}], "sex": "male", "birth_dates": [born], **fields}


def wait_for(check: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Listener:
    """An owner's event stream, read in a thread: the first ``want`` correlation events."""

    def __init__(self, client: httpx.Client, want: int) -> None:
        self.events: list[dict[str, Any]] = []
        opened = threading.Event()

        def listen() -> None:
            with client.stream("GET", "/api/v1/events", timeout=30) as stream:
                lines = stream.iter_lines()
                assert next(lines) == "retry: 3000"
                opened.set()
                self.events.extend(read_events(lines, want, seconds=60))

        self._thread = threading.Thread(target=listen, daemon=True)
        self._thread.start()
        assert opened.wait(10)

    def received(self) -> list[dict[str, Any]]:
        self._thread.join(60)
        return self.events


def audit_entries(hub: LiveServer, tag: AuditTag) -> list[dict[str, Any]]:
    with hub.node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(AuditEventRow).where(AuditEventRow.tag == tag.value)).all()
    return [orjson.loads(row.entry) for row in rows]


def pair_of(hub: LiveServer) -> tuple[dict[str, Owner], dict[str, Any], dict[str, Any], str]:
    """France and Ukraine file the same person; the correlation's id, once France sees it."""
    parties = owners(hub, "FRA", "UKR", "GRC")
    cyrillic, latin, born = made_up()
    ukrainian = parties["UKR"].file(person(cyrillic, born))
    french = parties["FRA"].file(person(latin, born))
    [item] = wait_for(parties["FRA"].listed, "France's correlation")
    return parties, ukrainian, french, item["id"]


def test_both_owners_see_the_correlation_as_the_policy_lets_them_and_a_third_country_nothing(
    hub: LiveServer,
) -> None:
    parties = owners(hub, "FRA", "UKR", "GRC")
    fra, ukr, grc = parties["FRA"], parties["UKR"], parties["GRC"]
    fra_events, ukr_events = Listener(fra.client, 1), Listener(ukr.client, 1)
    cyrillic, latin, born = made_up()
    fingerprints = [{"modality": "fingerprints", "reference": "UKR-AFIS-77"}]
    ukrainian = ukr.file(person(cyrillic, born, nationalities=["UKR"], biometrics=fingerprints))
    french = fra.file(person(latin, born, nationalities=["UKR"]))

    [seen_by_france] = wait_for(fra.listed, "France's correlation")
    assert seen_by_france["record"]["id"] == french["id"]
    assert seen_by_france["score"] >= 0.8
    other = seen_by_france["other"]
    # Ukraine's law keeps the fingerprints at home: France sees the record redacted, and the
    # explanation without the detail that quotes the names and dates.
    assert (other["access"], other["owner"]["country"], other["record"]["id"]) == ("redacted", "UKR", ukrainian["id"])
    assert other["record"]["access"]["removed_fields"] == ["biometrics"]
    assert "biometrics" not in other["record"]
    assert other["record"]["names"][0]["full"] == cyrillic
    assert [f["feature"] for f in seen_by_france["explanation"]] == [
        "name",
        "birth_date",
        "nationality",
        "sex",
        "identifiers",
    ]
    assert all("detail" not in feature for feature in seen_by_france["explanation"])

    [seen_by_ukraine] = wait_for(ukr.listed, "Ukraine's correlation")
    assert seen_by_ukraine["id"] == seen_by_france["id"]
    assert seen_by_ukraine["other"]["access"] == "full"
    assert seen_by_ukraine["other"]["record"]["names"][0]["full"] == latin
    assert latin in seen_by_ukraine["explanation"][0]["detail"]

    # For border control, the convention gives hits only: whom to contact, and the score.
    [as_hit] = fra.listed("border_control")
    assert set(as_hit["other"]["record"]) == HIT_FIELDS
    assert as_hit["other"]["access"] == "hit_only"
    assert as_hit["explanation"] == []
    # For prosecution no agreement covers persons: nothing, not even that it exists.
    assert fra.listed("prosecution") == []
    hidden = fra.read(f"{CORRELATIONS}/{seen_by_france['id']}", "prosecution")
    missing = fra.read(f"{CORRELATIONS}/{new_id()}", "prosecution")
    assert assert_problem(hidden, 404)["title"] == assert_problem(missing, 404)["title"]

    # Greece owns neither record: no correlation, not even by its id.
    assert grc.listed() == []
    assert grc.listed("border_control") == []
    assert_problem(grc.read(f"{CORRELATIONS}/{seen_by_france['id']}", "border_control"), 404)

    one = fra.read(f"{CORRELATIONS}/{seen_by_france['id']}")
    assert one.status_code == 200, one.text
    assert one.json() == seen_by_france

    # Both owners were told at once, with no more than a hit says.
    [told_france] = fra_events.received()
    assert told_france["event"] == "correlation.raised"
    assert told_france["data"]["id"] == seen_by_france["id"]
    assert told_france["data"]["record"]["id"] == french["id"]
    assert set(told_france["data"]["other"]) == {"id", "kind", "owner"}
    assert told_france["data"]["other"]["id"] == ukrainian["id"]
    [told_ukraine] = ukr_events.received()
    assert told_ukraine["data"]["other"]["id"] == french["id"]

    raised = [
        e for e in audit_entries(hub, AuditTag.CORRELATION_RAISED) if e["details"]["correlation"] == one.json()["id"]
    ]
    assert [sorted(event["details"]["told"]) for event in raised] == [sorted([fra.agency_id, ukr.agency_id])]
    viewed = [e for e in audit_entries(hub, AuditTag.CORRELATION_VIEWED) if e["actor"]["agency_id"] == fra.agency_id]
    assert {event["purpose"] for event in viewed} >= {"criminal_investigation", "border_control", "prosecution"}
    assert any(event["record_ids"] == [ukrainian["id"]] for event in viewed)


def test_a_record_kept_from_a_country_raises_no_alert_there_and_nothing_counts_it(hub: LiveServer) -> None:
    parties = owners(hub, "FRA", "UKR")
    fra, ukr = parties["FRA"], parties["UKR"]
    cyrillic, latin, born = made_up()
    french = fra.file(person(latin, born))
    fra_events = Listener(fra.client, 1)
    # Filed first, so that an alert about it would reach France before the next one does.
    kept = ukr.file(person(cyrillic, born, restrictions={"excluded_countries": ["FRA"]}))
    shared = ukr.file(person(cyrillic, born))

    both = wait_for(lambda: len(ukr.listed()) == 2 and ukr.listed(), "Ukraine's two correlations")
    by_record = {item["record"]["id"]: item for item in both}
    hidden_id = by_record[kept["id"]]["id"]
    visible_id = by_record[shared["id"]]["id"]
    assert by_record[kept["id"]]["other"]["record"]["id"] == french["id"]  # Ukraine sees France's record

    [only] = fra.listed()
    assert only["id"] == visible_id
    assert [item["id"] for item in fra.listed(record_id=french["id"])] == [visible_id]
    assert [item["id"] for item in fra.listed(state="all")] == [visible_id]
    for purpose in ("border_control", "prosecution"):
        assert hidden_id not in [item["id"] for item in fra.listed(purpose)]
    page = fra.read(CORRELATIONS, limit=1).json()
    assert ([item["id"] for item in page["items"]], page["next_cursor"]) == ([visible_id], None)

    hidden = fra.read(f"{CORRELATIONS}/{hidden_id}")
    missing_id = new_id()
    missing = fra.read(f"{CORRELATIONS}/{missing_id}")
    first, second = assert_problem(hidden, 404), assert_problem(missing, 404)
    assert set(first) == set(second)
    assert first["detail"].replace(hidden_id, "{id}") == second["detail"].replace(missing_id, "{id}")
    refused = fra.client.post(f"{CORRELATIONS}/{hidden_id}/confirm", json={"reason": "seen it"})
    assert assert_problem(refused, 404)["detail"] == first["detail"]

    # France's first correlation event is the shared one: none came about the kept record.
    [event] = fra_events.received()
    assert event["data"]["id"] == visible_id
    assert kept["id"] not in orjson.dumps(event).decode()
    denied = [
        e
        for e in audit_entries(hub, AuditTag.CORRELATION_VIEWED)
        if e["details"]["correlations"] == [hidden_id] and e["actor"]["agency_id"] == fra.agency_id
    ]
    assert denied
    assert {e["decision"] for e in denied} == {"denied"}


def test_each_owner_confirms_or_dismisses_its_side_with_a_reason(hub: LiveServer) -> None:
    parties, ukrainian, french, correlation_id = pair_of(hub)
    fra, ukr, grc = parties["FRA"], parties["UKR"], parties["GRC"]
    confirm, dismiss = f"{CORRELATIONS}/{correlation_id}/confirm", f"{CORRELATIONS}/{correlation_id}/dismiss"

    assert "reason" in error_fields(assert_problem(fra.client.post(confirm, json={"reason": "  "}), 422))
    assert_problem(fra.client.post(confirm, json={}), 422)
    assert_problem(fra.client.post(confirm, json={"reason": "x", "extra": 1}), 422)
    undeclared = fra.client.post(confirm, json={"reason": "x"}, headers={PURPOSE: ""})
    assert PURPOSE in error_fields(assert_problem(undeclared, 400))
    assert_problem(fra.client.post(f"{CORRELATIONS}/not-an-id/confirm", json={"reason": "x"}), 422)
    assert_problem(hub.client().post(confirm, json={"reason": "x"}), 401)
    border = hub.new_client([Role.BORDER_OFFICER], agency_id=fra.agency_id)
    assert_problem(border.post(confirm, json={"reason": "x"}), 403)
    assert_problem(grc.client.post(confirm, json={"reason": "x"}), 404)

    ukr_events = Listener(ukr.client, 1)
    note = "Same fingerprints in the French AFIS, checked with NCB Kyiv on 3 June"
    confirmed = fra.client.post(confirm, json={"reason": note})
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["status"], confirmed.json()["note"]) == ("confirmed", note)
    assert_problem(fra.client.post(dismiss, json={"reason": "changed our mind"}), 409)
    [told] = ukr_events.received()
    assert told["event"] == "correlation.answered"
    assert (told["data"]["id"], told["data"]["other_status"]) == (correlation_id, "confirmed")

    seen = ukr.read(f"{CORRELATIONS}/{correlation_id}").json()
    assert (seen["status"], seen["other"]["status"]) == ("open", "confirmed")
    assert note not in orjson.dumps(seen).decode()  # the other owner's reason is its own
    dismissed = ukr.client.post(dismiss, json={"reason": "Our subject was in custody in Kyiv that day"})
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["status"] == "dismissed"
    assert fra.read(f"{CORRELATIONS}/{correlation_id}").json()["other"]["status"] == "dismissed"

    for tag, agency in ((AuditTag.CORRELATION_CONFIRMED, fra), (AuditTag.CORRELATION_DISMISSED, ukr)):
        [event] = [e for e in audit_entries(hub, tag) if e["details"]["correlation"] == correlation_id]
        assert event["actor"]["agency_id"] == agency.agency_id
        assert sorted(event["record_ids"]) == sorted([ukrainian["id"], french["id"]])
        assert event["purpose"] == "criminal_investigation"


def test_a_withdrawn_record_closes_the_correlation_for_both_owners(hub: LiveServer) -> None:
    parties, ukrainian, french, correlation_id = pair_of(hub)
    fra, ukr = parties["FRA"], parties["UKR"]
    ukr_events = Listener(ukr.client, 1)
    deleted = fra.client.delete(f"{PERSONS}/{french['id']}", headers={"If-Match": f'"{french["version"]}"'})
    assert deleted.status_code == 204, deleted.text

    [closed] = wait_for(lambda: ukr.listed(state="closed"), "the closed correlation")
    assert (closed["id"], closed["closed_reason"]) == (correlation_id, "withdrawn")
    assert closed["other"]["withdrawn"] is True
    assert set(closed["other"]["record"]) == HIT_FIELDS  # a withdrawn record's content is gone
    assert ukr.listed() == []
    [france_closed] = fra.listed(state="closed")
    assert (france_closed["id"], france_closed["other"]["record"]["id"]) == (correlation_id, ukrainian["id"])
    assert france_closed["other"]["withdrawn"] is False  # Ukraine's record is still on file
    refused = ukr.client.post(f"{CORRELATIONS}/{correlation_id}/confirm", json={"reason": "too late"})
    assert "status" in error_fields(assert_problem(refused, 409))
    [told] = ukr_events.received()
    assert (told["event"], told["data"]["reason"]) == ("correlation.closed", "withdrawn")
    closing = [
        e for e in audit_entries(hub, AuditTag.CORRELATION_CLOSED) if e["details"]["correlation"] == correlation_id
    ]
    assert [event["details"]["reason"] for event in closing] == ["withdrawn"]


def test_reading_correlations_needs_a_declared_purpose_and_a_login(hub: LiveServer) -> None:
    [fra] = owners(hub, "FRA").values()
    username, _ = hub.make_user([Role.NCB_OPERATOR], agency_id=fra.agency_id)
    undeclared = hub.bearer(hub.token_for(username), purpose=None)
    assert PURPOSE in error_fields(assert_problem(undeclared.get(CORRELATIONS), 400))
    assert PURPOSE in error_fields(assert_problem(undeclared.get(f"{CORRELATIONS}/{new_id()}"), 400))
    assert PURPOSE in error_fields(assert_problem(fra.read(CORRELATIONS, "curiosity"), 400))
    assert "state" in error_fields(assert_problem(fra.read(CORRELATIONS, state="maybe"), 422))
    assert "limit" in error_fields(assert_problem(fra.read(CORRELATIONS, limit=0), 422))
    assert "cursor" in error_fields(assert_problem(fra.read(CORRELATIONS, cursor="garbage"), 400))
    assert_problem(hub.client().get(CORRELATIONS, headers={PURPOSE: "criminal_investigation"}), 401)
    auditor = hub.new_client([Role.AUDITOR], agency_id=fra.agency_id)
    assert_problem(auditor.get(CORRELATIONS), 403)
