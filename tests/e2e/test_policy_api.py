"""The policy administration API over real HTTP, on the hub: agreements and their approvals,
national rules, country groups, explained decisions, dry runs, suspensions and retention.

Each scenario uses its own countries (or its own agreement ids), so that the tests of this
module do not depend on one another's order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import yaml

from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.factories import case_body, person_body, unique

YAML = "application/yaml"


def agreement_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": unique("agr-"),
        "title": "Franco-Ukrainian exchange of criminal records",
        "kind": "bilateral_treaty",
        "parties": ["FRA", "UKR"],
        "categories": ["persons"],
        "purposes": ["criminal_investigation"],
        "level": "full",
        "valid_from": "2024-01-01",
        "legal_reference": unique("Treaty of Kyiv, art. 4, "),
    }
    body.update(overrides)
    return body


def rules_body(country: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"country": country, "legal_reference": f"Data protection act of {country}, art. 12"}
    body.update(overrides)
    return body


def names_field(body: dict[str, Any], name: str) -> bool:
    """The problem names this field: by an error's field, or, for checks across fields (the
    document as a whole), by the reason's opening ``name:``."""
    return any(
        item["field"].split(".")[0] == name or item["reason"].startswith(f"{name}:") for item in body.get("errors", [])
    )


def json_of(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@dataclass
class Countries:
    """Agencies of member countries registered at the hub, with a cached admin and NCB
    operator each (users cost ~50 ms with argon2)."""

    hub: LiveServer
    _agencies: dict[str, str] = field(default_factory=dict)
    _clients: dict[tuple[str, Role], httpx.Client] = field(default_factory=dict)

    def agency(self, country: str) -> str:
        if country not in self._agencies:
            self._agencies[country] = self.hub.make_agency(country=country)
        return self._agencies[country]

    def client(self, country: str, role: Role) -> httpx.Client:
        if (country, role) not in self._clients:
            self._clients[(country, role)] = self.hub.new_client([role], agency_id=self.agency(country))
        return self._clients[(country, role)]

    def admin(self, country: str) -> httpx.Client:
        return self.client(country, Role.ADMIN)

    def operator(self, country: str) -> httpx.Client:
        return self.client(country, Role.NCB_OPERATOR)


@pytest.fixture(scope="module")
def countries(hub_live: LiveServer) -> Countries:
    return Countries(hub_live)


def propose(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    return json_of(client.post("/api/v1/agreements", json=body), 201)


def approve(client: httpx.Client, agreement_id: str, version: int) -> httpx.Response:
    return client.post(f"/api/v1/agreements/{agreement_id}/approve", json={"version": version})


def in_force(countries: Countries, body: dict[str, Any]) -> dict[str, Any]:
    """An agreement proposed by its first party and approved by every party."""
    first, *others = body["parties"]
    read = propose(countries.admin(first), body)
    for party in (first, *others):
        read = json_of(approve(countries.admin(party), body["id"], read["version"]))
    assert read["status"] == "in_force", read
    return read


# -- agreements ------------------------------------------------------------------------


def test_an_agreement_proposed_as_json_reads_back_as_json_and_yaml(countries: Countries) -> None:
    body = agreement_body()
    created = propose(countries.admin("FRA"), body)
    assert created["version"] == 1
    assert created["status"] == "awaiting_approval"
    assert created["approvals"] == []
    assert created["awaiting"] == ["FRA", "UKR"]
    assert created["proposed_by_country"] == "FRA"
    assert created["document"]["id"] == body["id"]

    # Any member reads it, an operator of a third country too.
    reader = countries.operator("GRC")
    read = json_of(reader.get(f"/api/v1/agreements/{body['id']}"))
    assert read == created

    as_yaml = reader.get(f"/api/v1/agreements/{body['id']}", headers={"Accept": YAML})
    assert as_yaml.status_code == 200, as_yaml.text
    assert as_yaml.headers["content-type"].startswith(YAML)
    assert yaml.safe_load(as_yaml.text) == created["document"]

    listed = json_of(reader.get("/api/v1/agreements"))
    assert body["id"] in {item["document"]["id"] for item in listed["items"]}


def test_an_agreement_proposed_as_yaml_is_the_same_document(countries: Countries) -> None:
    body = agreement_body(categories=["persons", "cases"], purposes=["criminal_investigation", "prosecution"])
    text = yaml.safe_dump(body, sort_keys=False)
    response = countries.admin("UKR").post("/api/v1/agreements", content=text.encode(), headers={"Content-Type": YAML})
    created = json_of(response, 201)
    assert created["proposed_by_country"] == "UKR"
    assert created["document"]["categories"] == ["persons", "cases"]
    assert created["document"]["valid_from"] == "2024-01-01"
    read = json_of(countries.admin("FRA").get(f"/api/v1/agreements/{body['id']}"))
    assert read["document"] == created["document"]
    round_trip = countries.admin("FRA").get(f"/api/v1/agreements/{body['id']}", headers={"Accept": YAML})
    assert yaml.safe_load(round_trip.text) == created["document"]


def test_a_bilateral_treaty_is_in_force_once_both_parties_approve(countries: Countries) -> None:
    body = agreement_body()
    created = propose(countries.admin("FRA"), body)

    first = json_of(approve(countries.admin("FRA"), body["id"], created["version"]))
    assert first["status"] == "awaiting_approval"
    assert [approval["country"] for approval in first["approvals"]] == ["FRA"]
    assert first["awaiting"] == ["UKR"]
    # Approving twice changes nothing.
    assert json_of(approve(countries.admin("FRA"), body["id"], 1))["approvals"] == first["approvals"]

    both = json_of(approve(countries.admin("UKR"), body["id"], created["version"]))
    assert both["status"] == "in_force"
    assert both["awaiting"] == []
    assert sorted(approval["country"] for approval in both["approvals"]) == ["FRA", "UKR"]


def test_a_new_version_starts_the_approvals_again(countries: Countries) -> None:
    body = agreement_body()
    created = propose(countries.admin("FRA"), body)
    json_of(approve(countries.admin("FRA"), body["id"], 1))

    # The same text again is not a new version.
    again = propose(countries.admin("UKR"), body)
    assert again["version"] == 1
    assert [approval["country"] for approval in again["approvals"]] == ["FRA"]

    changed = propose(countries.admin("UKR"), {**body, "purposes": ["criminal_investigation", "prosecution"]})
    assert changed["version"] == 2
    assert changed["approvals"] == []
    assert changed["status"] == "awaiting_approval"
    assert changed["awaiting"] == ["FRA", "UKR"]
    assert changed["created_at"] == created["created_at"]

    versions = json_of(countries.operator("FRA").get(f"/api/v1/agreements/{body['id']}/versions"))["items"]
    assert [item["version"] for item in versions] == [1, 2]
    assert versions[0]["document"]["purposes"] == ["criminal_investigation"]
    assert versions[1]["document"]["purposes"] == ["criminal_investigation", "prosecution"]

    # Approving the version one read before the change is refused.
    stale = assert_problem(approve(countries.admin("FRA"), body["id"], 1), 409)
    assert "version 2" in stale["detail"]
    assert json_of(approve(countries.admin("FRA"), body["id"], 2))["approvals"][0]["country"] == "FRA"


def test_only_a_partys_administrator_approves_or_proposes(countries: Countries, hub_live: LiveServer) -> None:
    body = agreement_body()
    propose(countries.admin("FRA"), body)
    # An administrator of a third country neither approves nor proposes it.
    assert_problem(approve(countries.admin("GRC"), body["id"], 1), 403)
    refused = assert_problem(countries.admin("GRC").post("/api/v1/agreements", json=agreement_body()), 403)
    assert "GRC" in refused["detail"]
    # The hub's administrator is not a party to a bilateral treaty either.
    assert_problem(approve(hub_live.as_roles(Role.ADMIN), body["id"], 1), 403)
    # A party's non-administrators neither propose nor approve.
    operator = countries.operator("FRA")
    assert assert_problem(operator.post("/api/v1/agreements", json=agreement_body()), 403)["permission"] == (
        "policy:admin"
    )
    assert_problem(approve(operator, body["id"], 1), 403)
    assert json_of(operator.get(f"/api/v1/agreements/{body['id']}"))["approvals"] == []


def test_unknown_agreements_are_404(countries: Countries) -> None:
    reader = countries.operator("FRA")
    assert_problem(reader.get("/api/v1/agreements/no-such-agreement"), 404)
    assert_problem(reader.get("/api/v1/agreements/no-such-agreement/versions"), 404)
    assert_problem(approve(countries.admin("FRA"), "no-such-agreement", 1), 404)


def test_a_party_withdraws_its_approval(countries: Countries) -> None:
    body = agreement_body()
    read = in_force(countries, body)
    withdrawn = json_of(
        countries.admin("UKR").post(f"/api/v1/agreements/{body['id']}/withdraw", json={"reason": "denounced"})
    )
    assert withdrawn["status"] == "awaiting_approval"
    assert withdrawn["awaiting"] == ["UKR"]
    assert withdrawn["version"] == read["version"]
    # Nothing to withdraw a second time, nor for a country that never approved.
    again = countries.admin("UKR").post(f"/api/v1/agreements/{body['id']}/withdraw", json={"reason": "denounced"})
    assert_problem(again, 409)
    third = countries.admin("GRC").post(f"/api/v1/agreements/{body['id']}/withdraw", json={"reason": "none"})
    assert_problem(third, 409)
    # Approving again puts it back in force.
    assert json_of(approve(countries.admin("UKR"), body["id"], read["version"]))["status"] == "in_force"


def test_a_retired_agreement_is_no_longer_approved_or_changed(countries: Countries) -> None:
    body = agreement_body()
    propose(countries.admin("FRA"), body)
    json_of(approve(countries.admin("FRA"), body["id"], 1))
    # Only a party (or the proposer, or the hub) retires it.
    assert_problem(
        countries.admin("GRC").post(f"/api/v1/agreements/{body['id']}/retire", json={"reason": "not ours"}), 403
    )
    retired = json_of(
        countries.admin("UKR").post(f"/api/v1/agreements/{body['id']}/retire", json={"reason": "superseded"})
    )
    assert retired["status"] == "retired"
    assert retired["retired_reason"] == "superseded"
    assert retired["retired_at"] is not None

    assert_problem(approve(countries.admin("UKR"), body["id"], 1), 409)
    withdraw = countries.admin("FRA").post(f"/api/v1/agreements/{body['id']}/withdraw", json={"reason": "too late"})
    assert_problem(withdraw, 409)
    again = countries.admin("FRA").post(f"/api/v1/agreements/{body['id']}/retire", json={"reason": "twice"})
    assert_problem(again, 409)
    reproposed = countries.admin("FRA").post("/api/v1/agreements", json={**body, "title": "New text"})
    assert "new id" in assert_problem(reproposed, 409)["detail"]
    assert json_of(countries.admin("FRA").get(f"/api/v1/agreements/{body['id']}"))["status"] == "retired"


def test_a_reason_is_required_to_withdraw_or_retire(countries: Countries) -> None:
    body = agreement_body()
    propose(countries.admin("FRA"), body)
    for action in ("withdraw", "retire"):
        response = countries.admin("FRA").post(f"/api/v1/agreements/{body['id']}/{action}", json={"reason": ""})
        assert "reason" in error_fields(assert_problem(response, 422))


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"parties": ["FRA", "UKR", "GRC"]}, "parties"),  # a bilateral treaty has two
        ({"parties": ["FRA", "not a country!"]}, "parties"),
        ({"parties": ["FRA", "FRA"]}, "parties"),
        ({"parties": []}, "parties"),
        ({"level": "fields"}, "fields"),  # without the list of fields
        ({"fields": ["person.names"]}, "fields"),  # a list of fields with level 'full'
        ({"level": "fields", "fields": ["person.shoe_size"]}, "fields"),
        ({"valid_until": "2023-12-31"}, "valid_until"),  # before valid_from
        ({"purposes": ["curiosity"]}, "purposes"),
        ({"categories": []}, "categories"),
        ({"id": "Not A Slug"}, "id"),
        ({"legal_reference": None}, "legal_reference"),
        ({"secret_clause": "yes"}, "secret_clause"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_an_invalid_agreement_is_422_naming_the_field(
    countries: Countries, overrides: dict[str, Any], field_name: str
) -> None:
    body = agreement_body(**overrides)
    admin = countries.admin("FRA")
    problem = assert_problem(admin.post("/api/v1/agreements", json=body), 422)
    assert names_field(problem, field_name), problem
    # The same document as YAML is refused the same way.
    as_yaml = admin.post("/api/v1/agreements", content=yaml.safe_dump(body).encode(), headers={"Content-Type": YAML})
    assert names_field(assert_problem(as_yaml, 422), field_name)
    assert_problem(admin.get(f"/api/v1/agreements/{body['id']}"), 404 if field_name != "id" else 422)


@pytest.mark.parametrize(
    "text",
    ["id: [unclosed\ntitle: x\n", "id: x\n  title: : :\n\t- y", "- a list\n- not a mapping\n", "just a string"],
    ids=["unclosed", "bad-indentation", "a-list", "a-scalar"],
)
def test_a_malformed_yaml_document_is_400(countries: Countries, text: str) -> None:
    response = countries.admin("FRA").post("/api/v1/agreements", content=text.encode(), headers={"Content-Type": YAML})
    assert "body" in error_fields(assert_problem(response, 400))


def test_malformed_json_is_400(countries: Countries) -> None:
    response = countries.admin("FRA").post(
        "/api/v1/agreements", content=b'{"id": "x",', headers={"Content-Type": "application/json"}
    )
    assert "body" in error_fields(assert_problem(response, 400))


def test_an_unknown_group_party_is_400(countries: Countries) -> None:
    body = agreement_body(kind="multilateral_convention", parties=["FRA", unique("nowhere-")])
    problem = assert_problem(countries.admin("FRA").post("/api/v1/agreements", json=body), 400)
    assert error_fields(problem) == {"parties"}
    assert body["parties"][1] in problem["detail"]


# -- national rules and country groups -----------------------------------------------------


def test_a_country_sets_its_own_national_rules(countries: Countries) -> None:
    admin = countries.admin("UKR")
    body = rules_body("UKR", never_shared=["biometrics", "person.health"], refused_purposes=["border_control"])
    first = json_of(admin.put("/api/v1/national-rules/UKR", json=body))
    assert first["document"]["country"] == "UKR"
    assert first["document"]["never_shared"] == ["biometrics", "person.health"]

    read = json_of(countries.operator("GRC").get("/api/v1/national-rules/UKR"))
    assert read["document"] == first["document"]
    assert read["version"] == first["version"]
    as_yaml = countries.operator("GRC").get("/api/v1/national-rules/UKR", headers={"Accept": YAML})
    assert as_yaml.headers["content-type"].startswith(YAML)
    assert yaml.safe_load(as_yaml.text) == first["document"]
    listed = json_of(countries.operator("GRC").get("/api/v1/national-rules"))["items"]
    assert "UKR" in {item["document"]["country"] for item in listed}

    # Again as YAML, with a change: a new version.
    changed = {**body, "retention_months": {"persons": 120}}
    second = admin.put(
        "/api/v1/national-rules/UKR", content=yaml.safe_dump(changed).encode(), headers={"Content-Type": YAML}
    )
    assert json_of(second)["version"] == first["version"] + 1
    assert json_of(second)["document"]["retention_months"] == {"persons": 120}
    # The same document again changes nothing.
    assert json_of(admin.put("/api/v1/national-rules/UKR", json=changed))["version"] == first["version"] + 1


def test_another_countrys_administrator_cannot_set_its_rules(countries: Countries, hub_live: LiveServer) -> None:
    for admin in (countries.admin("FRA"), hub_live.as_roles(Role.ADMIN)):
        response = admin.put("/api/v1/national-rules/GRC", json=rules_body("GRC", never_shared=["health"]))
        assert "GRC" in assert_problem(response, 403)["detail"]
    assert_problem(countries.operator("GRC").get("/api/v1/national-rules/GRC"), 404)
    # Nor does a non-administrator of the country.
    refused = countries.operator("GRC").put("/api/v1/national-rules/GRC", json=rules_body("GRC"))
    assert assert_problem(refused, 403)["permission"] == "policy:admin"


def test_national_rules_for_another_country_than_the_url_are_400(countries: Countries) -> None:
    response = countries.admin("GRC").put("/api/v1/national-rules/GRC", json=rules_body("FRA"))
    assert error_fields(assert_problem(response, 400)) == {"country"}


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"never_shared": ["shoe_size"]}, "never_shared"),
        ({"never_shared": ["person.shoe_size"]}, "never_shared"),
        ({"retention_months": {"persons": 0}}, "retention_months"),
        ({"retention_months": {"gossip": 12}}, "retention_months"),
        ({"refused_purposes": ["curiosity"]}, "refused_purposes"),
        ({"legal_reference": None}, "legal_reference"),
    ],
)
def test_invalid_national_rules_are_422_naming_the_field(
    countries: Countries, overrides: dict[str, Any], field_name: str
) -> None:
    response = countries.admin("GRC").put("/api/v1/national-rules/GRC", json=rules_body("GRC", **overrides))
    assert names_field(assert_problem(response, 422), field_name)


def test_only_the_hub_defines_country_groups(countries: Countries, hub_live: LiveServer) -> None:
    name = unique("black-sea-")
    body = {"name": name, "title": "Black Sea cooperation", "countries": ["UKR", "grc", "UKR"]}
    refused = countries.admin("FRA").put(f"/api/v1/country-groups/{name}", json=body)
    assert "hub" in assert_problem(refused, 403)["detail"]

    hub_admin = hub_live.as_roles(Role.ADMIN)
    created = json_of(hub_admin.put(f"/api/v1/country-groups/{name}", json=body))
    assert created["document"]["countries"] == ["GRC", "UKR"]
    assert created["version"] == 1
    listed = json_of(countries.operator("FRA").get("/api/v1/country-groups"))["items"]
    assert name in {item["document"]["name"] for item in listed}

    mismatch = hub_admin.put(f"/api/v1/country-groups/{name}x", json=body)
    assert error_fields(assert_problem(mismatch, 400)) == {"name"}
    reserved = hub_admin.put("/api/v1/country-groups/all-members", json={**body, "name": "all-members"})
    assert names_field(assert_problem(reserved, 422), "name")

    # Once defined, the group may be a party to a convention.
    convention = agreement_body(kind="multilateral_convention", parties=[name, "FRA"])
    assert propose(countries.admin("UKR"), convention)["document"]["parties"] == [name, "FRA"]


# -- decisions and dry runs ------------------------------------------------------------


def test_decide_explains_a_decision_to_admins_and_auditors(countries: Countries, hub_live: LiveServer) -> None:
    body = agreement_body(parties=["ESP", "PRT"], title="Spanish-Portuguese exchange")
    agreement = in_force(countries, body)
    person = json_of(countries.operator("PRT").post("/api/v1/persons", json=person_body()), 201)
    question = {
        "record_kind": "person",
        "record_id": person["id"],
        "agency_id": countries.agency("ESP"),
        "country": "ESP",
        "purpose": "criminal_investigation",
    }
    for client in (hub_live.as_roles(Role.ADMIN), hub_live.as_roles(Role.AUDITOR), countries.admin("ESP")):
        decision = json_of(client.post("/api/v1/policy/decide", json=question))
        assert decision["outcome"] == "full"
        assert decision["removed_fields"] == []
        [rule] = decision["rules"]
        assert rule["code"] == "agreement.full"
        assert rule["reference"] == f"{body['legal_reference']} ({body['id']} v{agreement['version']})"

    # A country in no agreement: nothing, and why.
    elsewhere = {**question, "agency_id": countries.agency("GRC"), "country": "GRC"}
    refused = json_of(hub_live.as_roles(Role.AUDITOR).post("/api/v1/policy/decide", json=elsewhere))
    assert refused["outcome"] == "none"
    assert [rule["code"] for rule in refused["rules"]] == ["no_agreement"]
    # A purpose the agreement does not cover: nothing either.
    border = {**question, "purpose": "border_control"}
    assert json_of(hub_live.as_roles(Role.ADMIN).post("/api/v1/policy/decide", json=border))["outcome"] == "none"
    # Before the agreement was valid.
    before = {**question, "at": "2023-06-01T00:00:00Z"}
    assert json_of(hub_live.as_roles(Role.ADMIN).post("/api/v1/policy/decide", json=before))["outcome"] == "none"


def test_decide_is_refused_to_officers_and_404_for_unknown_records(countries: Countries, hub_live: LiveServer) -> None:
    question = {
        "record_kind": "person",
        "record_id": str(uuid.uuid4()),
        "agency_id": countries.agency("ESP"),
        "country": "ESP",
        "purpose": "criminal_investigation",
    }
    investigator = hub_live.new_client([Role.INVESTIGATOR], agency_id=countries.agency("ESP"))
    problem = assert_problem(investigator.post("/api/v1/policy/decide", json=question), 403)
    assert problem["permission"] == "policy:explain"
    assert_problem(countries.operator("ESP").post("/api/v1/policy/decide", json=question), 403)
    assert_problem(hub_live.as_roles(Role.AUDITOR).post("/api/v1/policy/decide", json=question), 404)
    bad = {**question, "record_kind": "rumour", "purpose": "curiosity"}
    assert error_fields(
        assert_problem(hub_live.as_roles(Role.AUDITOR).post("/api/v1/policy/decide", json=bad), 422)
    ) >= {
        "record_kind",
        "purpose",
    }


def test_a_dry_run_reports_what_a_proposed_agreement_would_change(countries: Countries, hub_live: LiveServer) -> None:
    json_of(countries.operator("PRT").post("/api/v1/persons", json=person_body()), 201)
    body = agreement_body(parties=["ITA", "PRT"], title="Italo-Portuguese exchange")
    countries.agency("ITA")
    report = json_of(hub_live.as_roles(Role.AUDITOR).post("/api/v1/agreements/dry-run", json={"document": body}))
    assert report["agreement_id"] == body["id"]
    assert {"ITA", "PRT"} <= set(report["countries"])
    assert report["records_considered"] >= 1
    assert report["decisions"] >= report["records_considered"]
    changes = {(c["country"], c["record_kind"], c["purpose"], c["before"], c["after"]): c for c in report["changes"]}
    change = changes[("ITA", "person", "criminal_investigation", "none", "full")]
    assert change["records"] >= 1
    # Only ITA and PRT are concerned, and nothing is stored.
    assert {c["country"] for c in report["changes"]} <= {"ITA", "PRT"}
    assert_problem(countries.operator("ITA").get(f"/api/v1/agreements/{body['id']}"), 404)
    # Officers do not run dry runs; invalid documents are 422 naming the field.
    assert_problem(countries.operator("ITA").post("/api/v1/agreements/dry-run", json={"document": body}), 403)
    invalid = {"document": {**body, "valid_until": "2020-01-01"}}
    problem = assert_problem(hub_live.as_roles(Role.ADMIN).post("/api/v1/agreements/dry-run", json=invalid), 422)
    assert any(item["field"].startswith("document") for item in problem["errors"])


# -- suspensions -----------------------------------------------------------------------


def suspend(admin: httpx.Client, kind: str, subject_id: str) -> dict[str, Any]:
    return json_of(
        admin.post(
            "/api/v1/suspensions", json={"subject_kind": kind, "subject_id": subject_id, "reason": "misuse inquiry"}
        ),
        201,
    )


def test_a_suspended_user_is_refused_from_its_next_request_until_lifted(
    countries: Countries, hub_live: LiveServer
) -> None:
    username, user_id = hub_live.make_user([Role.INVESTIGATOR], agency_id=countries.agency("FRA"))
    token = hub_live.token_for(username)
    officer = hub_live.bearer(token)
    assert officer.get("/api/v1/persons").status_code == 200

    admin = countries.admin("FRA")
    suspension = suspend(admin, "user", user_id)
    assert suspension["subject_id"] == user_id
    assert suspension["country"] == "FRA"
    assert suspension["lifted_at"] is None
    # The same token, still valid, is refused everything.
    assert "suspended" in assert_problem(officer.get("/api/v1/persons"), 403)["detail"]
    assert_problem(officer.post("/api/v1/persons", json=person_body()), 403)
    assert_problem(hub_live.bearer(token, purpose=None).get("/api/v1/agreements"), 403)
    # Suspending again returns the active suspension.
    assert suspend(admin, "user", user_id)["id"] == suspension["id"]

    active = json_of(admin.get("/api/v1/suspensions"))["items"]
    assert suspension["id"] in {item["id"] for item in active}

    lifted = json_of(admin.post(f"/api/v1/suspensions/{suspension['id']}/lift", json={"reason": "cleared"}))
    assert lifted["lifted_at"] is not None
    assert lifted["lift_reason"] == "cleared"
    assert officer.get("/api/v1/persons").status_code == 200
    assert suspension["id"] not in {item["id"] for item in json_of(admin.get("/api/v1/suspensions"))["items"]}
    history = json_of(admin.get("/api/v1/suspensions", params={"include_lifted": "true"}))["items"]
    assert suspension["id"] in {item["id"] for item in history}


def test_a_suspended_agency_blocks_all_its_users(countries: Countries, hub_live: LiveServer) -> None:
    agency = hub_live.make_agency(country="FRA")
    officers = [hub_live.new_client([role], agency_id=agency) for role in (Role.INVESTIGATOR, Role.NCB_OPERATOR)]
    bystander = countries.operator("FRA")  # another French agency
    for officer in officers:
        assert officer.get("/api/v1/persons").status_code == 200

    suspension = suspend(hub_live.as_roles(Role.ADMIN), "agency", agency)  # the hub suspends any agency
    assert suspension["country"] == "FRA"
    for officer in officers:
        assert "agency" in assert_problem(officer.get("/api/v1/persons"), 403)["detail"]
    assert bystander.get("/api/v1/persons").status_code == 200

    # France's administrator lifts France's suspension.
    countries.admin("FRA").post(f"/api/v1/suspensions/{suspension['id']}/lift", json={"reason": "cleared"})
    for officer in officers:
        assert officer.get("/api/v1/persons").status_code == 200


def test_who_may_suspend_whom(countries: Countries, hub_live: LiveServer) -> None:
    username, admin_id = hub_live.make_user([Role.ADMIN], agency_id=countries.agency("GRC"))
    admin = hub_live.bearer(hub_live.token_for(username))
    body = {"subject_kind": "user", "subject_id": admin_id, "reason": "testing myself"}
    assert "itself" in assert_problem(admin.post("/api/v1/suspensions", json=body), 403)["detail"]
    own_agency = {"subject_kind": "agency", "subject_id": countries.agency("GRC"), "reason": "testing"}
    assert_problem(admin.post("/api/v1/suspensions", json=own_agency), 403)
    # Another country's agency or user is not GRC's to suspend.
    foreign = {"subject_kind": "agency", "subject_id": countries.agency("FRA"), "reason": "not ours"}
    assert_problem(admin.post("/api/v1/suspensions", json=foreign), 403)
    # Officers and auditors suspend nobody, nor list suspensions.
    _, victim = hub_live.make_user([Role.ANALYST], agency_id=countries.agency("GRC"))
    for client in (countries.operator("GRC"), hub_live.as_roles(Role.AUDITOR)):
        victim_body = {"subject_kind": "user", "subject_id": victim, "reason": "not allowed"}
        assert assert_problem(client.post("/api/v1/suspensions", json=victim_body), 403)["permission"] == (
            "sanction:admin"
        )
        assert_problem(client.get("/api/v1/suspensions"), 403)
    unknown = {"subject_kind": "user", "subject_id": str(uuid.uuid4()), "reason": "nobody"}
    assert_problem(admin.post("/api/v1/suspensions", json=unknown), 404)
    assert_problem(admin.post(f"/api/v1/suspensions/{uuid.uuid4()}/lift", json={"reason": "nothing"}), 404)
    # The admin still works: nothing above suspended it.
    assert admin.get("/api/v1/suspensions").status_code == 200


# -- retention -------------------------------------------------------------------------


def test_retention_due_and_extension(countries: Countries, hub_live: LiveServer) -> None:
    admin = countries.admin("DEU")
    # A short retention set before the record is stored gives it a near deadline.
    json_of(admin.put("/api/v1/national-rules/DEU", json=rules_body("DEU", retention_months={"persons": 1})))
    owner = countries.operator("DEU")
    near = json_of(owner.post("/api/v1/persons", json=person_body()), 201)
    # A case keeps the default five years: not due.
    far = json_of(owner.post("/api/v1/cases", json=case_body(reference=unique("DEU-"))), 201)

    due = json_of(owner.get("/api/v1/retention/due"))["items"]
    by_id = {item["record_id"]: item for item in due}
    assert far["id"] not in by_id
    item = by_id[near["id"]]
    assert item["record_kind"] == "person"
    deadline = dt.datetime.fromisoformat(item["retain_until"])
    now = dt.datetime.now(dt.UTC)
    assert now + dt.timedelta(days=27) < deadline < now + dt.timedelta(days=32)
    # Another agency's list does not show it.
    other = countries.operator("FRA")
    assert near["id"] not in {entry["record_id"] for entry in json_of(other.get("/api/v1/retention/due"))["items"]}

    # The law now allows two years: the owner keeps the record longer, with reasons.
    json_of(admin.put("/api/v1/national-rules/DEU", json=rules_body("DEU", retention_months={"persons": 24})))
    later = (deadline + dt.timedelta(days=90)).isoformat()
    request = {"record_kind": "person", "record_id": near["id"], "retain_until": later, "reason": "trial pending"}
    extended = json_of(owner.post("/api/v1/retention/extend", json=request))
    assert extended["record_id"] == near["id"]
    assert dt.datetime.fromisoformat(extended["retain_until"]) == deadline + dt.timedelta(days=90)
    due_after = {entry["record_id"]: entry for entry in json_of(owner.get("/api/v1/retention/due"))["items"]}
    assert dt.datetime.fromisoformat(due_after[near["id"]]["retain_until"]) == deadline + dt.timedelta(days=90)

    # Not by another agency: the record is not theirs, as if it did not exist.
    assert_problem(other.post("/api/v1/retention/extend", json=request), 404)
    missing = {**request, "record_id": str(uuid.uuid4())}
    assert_problem(owner.post("/api/v1/retention/extend", json=missing), 404)
    wrong_kind = {**request, "record_kind": "vehicle"}
    assert_problem(owner.post("/api/v1/retention/extend", json=wrong_kind), 404)
    # An extension moves the deadline later, never earlier, and at most one period ahead.
    earlier = {**request, "retain_until": deadline.isoformat()}
    assert error_fields(assert_problem(owner.post("/api/v1/retention/extend", json=earlier), 400)) == {"retain_until"}
    too_far = {**request, "retain_until": (now + dt.timedelta(days=365 * 3)).isoformat()}
    assert error_fields(assert_problem(owner.post("/api/v1/retention/extend", json=too_far), 400)) == {"retain_until"}
    no_reason = {**request, "reason": ""}
    assert "reason" in error_fields(assert_problem(owner.post("/api/v1/retention/extend", json=no_reason), 422))
    # Administrators and auditors handle no records.
    assert_problem(admin.get("/api/v1/retention/due"), 403)


# -- defects found and fixed (regression tests) ---------------------------------------------


def test_a_third_country_cannot_rewrite_an_agreement_it_is_not_party_to(countries: Countries) -> None:
    body = agreement_body()
    in_force(countries, body)
    hijack = countries.admin("GRC").post("/api/v1/agreements", json={**body, "parties": ["GRC", "UKR"]})
    assert_problem(hijack, 403)
    read = json_of(countries.operator("FRA").get(f"/api/v1/agreements/{body['id']}"))
    assert read["status"] == "in_force"
    assert read["document"]["parties"] == ["FRA", "UKR"]


def test_decide_as_of_a_naive_time(countries: Countries, hub_live: LiveServer) -> None:
    person = json_of(countries.operator("PRT").post("/api/v1/persons", json=person_body()), 201)
    question = {
        "record_kind": "person",
        "record_id": person["id"],
        "agency_id": countries.agency("GRC"),
        "country": "GRC",
        "purpose": "criminal_investigation",
        "at": "2025-06-01T00:00:00",
    }
    response = hub_live.as_roles(Role.AUDITOR).post("/api/v1/policy/decide", json=question)
    assert response.status_code == 200, response.text  # a time without a zone is read as UTC


def test_a_convention_is_not_in_force_with_one_party_and_the_hub(countries: Countries, hub_live: LiveServer) -> None:
    body = agreement_body(kind="multilateral_convention", parties=["FRA", "UKR"])
    hub_admin = hub_live.as_roles(Role.ADMIN)
    propose(hub_admin, body)
    approve(hub_admin, body["id"], 1)
    read = json_of(approve(countries.admin("FRA"), body["id"], 1))
    assert read["awaiting"] == ["UKR"]
    assert read["status"] == "awaiting_approval"


# -- authentication --------------------------------------------------------------------

ANY_ID = "00000000-0000-4000-8000-000000000000"
ENDPOINTS = [
    ("GET", "/api/v1/agreements"),
    ("POST", "/api/v1/agreements"),
    ("POST", "/api/v1/agreements/dry-run"),
    ("GET", "/api/v1/agreements/some-agreement"),
    ("GET", "/api/v1/agreements/some-agreement/versions"),
    ("POST", "/api/v1/agreements/some-agreement/approve"),
    ("POST", "/api/v1/agreements/some-agreement/withdraw"),
    ("POST", "/api/v1/agreements/some-agreement/retire"),
    ("GET", "/api/v1/national-rules"),
    ("GET", "/api/v1/national-rules/FRA"),
    ("PUT", "/api/v1/national-rules/FRA"),
    ("GET", "/api/v1/country-groups"),
    ("PUT", "/api/v1/country-groups/some-group"),
    ("POST", "/api/v1/policy/decide"),
    ("GET", "/api/v1/suspensions"),
    ("POST", "/api/v1/suspensions"),
    ("POST", f"/api/v1/suspensions/{ANY_ID}/lift"),
    ("GET", "/api/v1/retention/due"),
    ("POST", "/api/v1/retention/extend"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[f"{m} {p}" for m, p in ENDPOINTS])
def test_every_policy_endpoint_needs_credentials(hub_live: LiveServer, method: str, path: str) -> None:
    anonymous = hub_live.client()
    body: dict[str, Any] | None = {} if method in ("POST", "PUT") else None
    assert_problem(anonymous.request(method, path, json=body), 401)
    forged = hub_live.client({"Authorization": "Bearer not-a-token"})
    assert_problem(forged.request(method, path, json=body), 401)
