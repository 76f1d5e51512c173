"""Every API path that returns record data goes through the policy engine: one test per path.

The scenario, on the hub: France and Ukraine share persons in full for criminal
investigations under a bilateral treaty both approved; Greece is in no agreement. Ukraine's
law never sends biometrics abroad. Ukraine holds a person with biometrics (France sees it
redacted), a person France may see only as a hit, and a person France is excluded from
(hidden). France holds a person Ukraine sees in full. (The CLI and HTTP export paths are
covered by the export tests.)
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.factories import person_body, unique

PERSONS = "/api/v1/persons"
PURPOSE = "X-Polex-Purpose"
# What a hit says: that the record exists, whose it is, and the decision.
HIT_FIELDS = {"id", "kind", "owner", "access"}


def named_person(family: str, **overrides: Any) -> dict[str, Any]:
    """A person whose family name is a token no other test uses (for ?name= filters)."""
    return person_body(names=[{"full": f"Taras {family}", "given": "Taras", "family": family}], **overrides)


@dataclass
class Officer:
    client: httpx.Client
    user_id: str
    token: str


@dataclass
class Scenario:
    hub: LiveServer
    agencies: dict[str, str]  # country to agency id
    officers: dict[str, Officer]  # country to an NCB operator of that agency
    legal_reference: str
    agreement_id: str
    family: str  # the family name every Ukrainian person of the scenario shares
    fra_person: dict[str, Any]
    redacted: dict[str, Any]  # UKR, with biometrics
    hit_only: dict[str, Any]  # UKR, hit_only_countries [FRA]
    hidden: dict[str, Any]  # UKR, excluded_countries [FRA]

    def reader(self, country: str) -> httpx.Client:
        return self.officers[country].client


def _created(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(PERSONS, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def scenario(hub_live: LiveServer) -> Scenario:
    agencies = {country: hub_live.make_agency(country=country) for country in ("FRA", "UKR", "GRC")}
    officers = {}
    for country, agency in agencies.items():
        username, user_id = hub_live.make_user([Role.NCB_OPERATOR], agency_id=agency)
        token = hub_live.token_for(username)
        officers[country] = Officer(hub_live.bearer(token), user_id, token)
    admins = {country: hub_live.new_client([Role.ADMIN], agency_id=agencies[country]) for country in ("FRA", "UKR")}

    agreement_id = unique("fra-ukr-")
    legal_reference = "Franco-Ukrainian treaty on mutual legal assistance, art. 7"
    agreement = {
        "id": agreement_id,
        "title": "Franco-Ukrainian exchange of criminal records",
        "kind": "bilateral_treaty",
        "parties": ["FRA", "UKR"],
        "categories": ["persons"],
        "purposes": ["criminal_investigation"],
        "level": "full",
        "valid_from": "2024-01-01",
        "legal_reference": legal_reference,
    }
    assert admins["FRA"].post("/api/v1/agreements", json=agreement).status_code == 201
    for admin in admins.values():
        approved = admin.post(f"/api/v1/agreements/{agreement_id}/approve", json={"version": 1})
        assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "in_force"
    rules = {"country": "UKR", "never_shared": ["biometrics"], "legal_reference": "Law of Ukraine on personal data"}
    assert admins["UKR"].put("/api/v1/national-rules/UKR", json=rules).status_code == 200

    family = unique("Zz")
    ukr = officers["UKR"].client
    return Scenario(
        hub=hub_live,
        agencies=agencies,
        officers=officers,
        legal_reference=legal_reference,
        agreement_id=agreement_id,
        family=family,
        fra_person=_created(officers["FRA"].client, named_person(unique("Yy"))),
        redacted=_created(
            ukr,
            named_person(
                family,
                biometrics=[{"modality": "fingerprints", "reference": "UKR-TCN-1"}],
                health="needs insulin",
            ),
        ),
        hit_only=_created(ukr, named_person(family, restrictions={"hit_only_countries": ["FRA"]})),
        hidden=_created(ukr, named_person(family, restrictions={"excluded_countries": ["FRA"]})),
    )


def _same_not_found(hidden: httpx.Response, missing: httpx.Response, hidden_id: str, missing_id: str) -> None:
    """A hidden record is answered exactly as one that does not exist."""
    first, second = assert_problem(hidden, 404), assert_problem(missing, 404)
    assert first["type"] == second["type"]
    assert first["title"] == second["title"]
    assert first["detail"].replace(hidden_id, "{id}") == second["detail"].replace(missing_id, "{id}")
    assert hidden_id in first["detail"]
    assert set(first) == set(second)
    assert first.get("errors") == second.get("errors")


def _decoded(cursor: str) -> str:
    return base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()


def _pages(client: httpx.Client, params: dict[str, Any], **headers: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every item of a list, page after page, and the cursors handed out."""
    items: list[dict[str, Any]] = []
    cursors: list[str] = []
    cursor: str | None = None
    while True:
        page = _ok(client.get(PERSONS, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers))
        assert set(page) == {"items", "next_cursor"}  # no totals, no counts
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items, cursors
        cursors.append(cursor)
        assert len(cursors) < 100


# -- GET /api/v1/persons/{id} ----------------------------------------------------------


def test_read_in_full_under_the_agreement(scenario: Scenario) -> None:
    record = scenario.fra_person
    read = _ok(scenario.reader("UKR").get(f"{PERSONS}/{record['id']}"))
    access = read.pop("access")
    assert read == record
    assert access["outcome"] == "full"
    assert access["removed_fields"] == []
    [rule] = access["rules"]
    assert rule["code"] == "agreement.full"
    assert rule["reference"].startswith(scenario.legal_reference)
    assert scenario.agreement_id in rule["reference"]


def test_read_redacted_by_the_owner_countrys_law(scenario: Scenario) -> None:
    record = scenario.redacted
    assert record["biometrics"]  # the owner sees them
    assert _ok(scenario.reader("UKR").get(f"{PERSONS}/{record['id']}"))["access"]["outcome"] == "full"

    read = _ok(scenario.reader("FRA").get(f"{PERSONS}/{record['id']}"))
    access = read.pop("access")
    assert "biometrics" not in read
    assert "UKR-TCN-1" not in json.dumps(read)
    assert access["outcome"] == "redacted"
    assert access["removed_fields"] == ["biometrics"]
    codes = [rule["code"] for rule in access["rules"]]
    assert codes == ["agreement.full", "national.never_shared"]
    assert access["rules"][1]["reference"] == "Law of Ukraine on personal data"
    # Everything else is the record as stored.
    expected = {name: value for name, value in record.items() if name != "biometrics"}
    assert read == expected


def test_read_hit_only_shows_no_content(scenario: Scenario) -> None:
    record = scenario.hit_only
    read = _ok(scenario.reader("FRA").get(f"{PERSONS}/{record['id']}"))
    assert set(read) == HIT_FIELDS
    assert read["id"] == record["id"]
    assert read["owner"] == {"agency_id": scenario.agencies["UKR"], "country": "UKR"}
    assert scenario.family not in json.dumps(read)
    access = read["access"]
    assert access["outcome"] == "hit_only"
    assert [rule["code"] for rule in access["rules"]] == ["agreement.full", "restriction.hit_only_countries"]


def test_read_of_a_hidden_record_is_the_404_of_a_missing_one(scenario: Scenario) -> None:
    reader = scenario.reader("FRA")
    hidden_id, missing_id = scenario.hidden["id"], str(uuid.uuid4())
    hidden, missing = reader.get(f"{PERSONS}/{hidden_id}"), reader.get(f"{PERSONS}/{missing_id}")
    _same_not_found(hidden, missing, hidden_id, missing_id)
    assert "etag" not in hidden.headers
    assert scenario.family not in hidden.text


# -- GET /api/v1/persons ---------------------------------------------------------------


def test_list_never_shows_a_hidden_record_and_shows_the_others_as_read(scenario: Scenario) -> None:
    items, _ = _pages(scenario.reader("FRA"), {"owner_country": "UKR", "limit": 500})
    by_id = {item["id"]: item for item in items}
    assert scenario.hidden["id"] not in by_id
    assert "biometrics" not in by_id[scenario.redacted["id"]]
    assert by_id[scenario.redacted["id"]]["access"]["removed_fields"] == ["biometrics"]
    assert set(by_id[scenario.hit_only["id"]]) == HIT_FIELDS
    assert by_id[scenario.hit_only["id"]]["access"]["outcome"] == "hit_only"
    # Each item is what a read of it returns.
    for record in (scenario.redacted, scenario.hit_only):
        assert by_id[record["id"]] == _ok(scenario.reader("FRA").get(f"{PERSONS}/{record['id']}"))
    # The owner lists all of its own.
    own, _ = _pages(scenario.reader("UKR"), {"name": scenario.family})
    assert {item["id"] for item in own} == {
        scenario.redacted["id"],
        scenario.hit_only["id"],
        scenario.hidden["id"],
    }


def test_pagination_never_hands_out_a_hidden_id(scenario: Scenario) -> None:
    # Hidden and visible records interleaved, so that a page often ends next to a hidden one.
    family = unique("Xx")
    ukr = scenario.reader("UKR")
    hidden_ids, visible_ids = set(), set()
    for _ in range(4):
        hidden_ids.add(_created(ukr, named_person(family, restrictions={"excluded_countries": ["FRA"]}))["id"])
        visible_ids.add(_created(ukr, named_person(family))["id"])
    hidden_ids.add(_created(ukr, named_person(family, restrictions={"excluded_countries": ["FRA"]}))["id"])

    for limit in (1, 2, 3):
        items, cursors = _pages(scenario.reader("FRA"), {"name": family, "limit": limit})
        assert [item["id"] for item in items] == sorted(visible_ids)  # each once, in order
        assert len(cursors) == -(-len(visible_ids) // limit) - 1
        for cursor in cursors:
            decoded = _decoded(cursor)
            assert not any(hidden_id in decoded for hidden_id in hidden_ids), decoded
            assert json.loads(decoded)["after"] in visible_ids
    # Over the whole list, too.
    items, cursors = _pages(scenario.reader("FRA"), {"limit": 2})
    shown = {item["id"] for item in items}
    assert not shown & hidden_ids
    assert visible_ids <= shown
    assert not any(hidden_id in _decoded(cursor) for cursor in cursors for hidden_id in hidden_ids)


def test_list_filters_cannot_find_a_hidden_record(scenario: Scenario) -> None:
    reader = scenario.reader("FRA")
    found = _ok(reader.get(PERSONS, params={"name": scenario.family}))["items"]
    assert {item["id"] for item in found} == {scenario.redacted["id"], scenario.hit_only["id"]}
    # A filter that matches the hidden record alone finds nothing: no count, no cursor.
    family = unique("Ww")
    alone = _created(
        scenario.reader("UKR"),
        named_person(
            family,
            identifiers=[{"kind": "passport", "value": family.upper(), "country": "UKR"}],
            restrictions={"excluded_countries": ["FRA"]},
        ),
    )
    for params in ({"name": family}, {"identifier": family.upper()}, {"name": family, "owner_country": "UKR"}):
        assert _ok(reader.get(PERSONS, params=params)) == {"items": [], "next_cursor": None}
    # Its owner finds it by the same filters.
    assert [item["id"] for item in _ok(scenario.reader("UKR").get(PERSONS, params={"name": family}))["items"]] == [
        alone["id"]
    ]


# -- writes and the owner's view ---------------------------------------------------------


def test_put_and_delete_on_a_hidden_record_are_the_404_of_a_missing_one(scenario: Scenario) -> None:
    reader = scenario.reader("FRA")
    missing_id = str(uuid.uuid4())
    version = {"If-Match": '"1"'}
    for record in (scenario.hidden, scenario.redacted):  # hidden, or visible but not France's
        record_id = record["id"]
        put = reader.put(f"{PERSONS}/{record_id}", json=named_person("Changed"), headers=version)
        put_missing = reader.put(f"{PERSONS}/{missing_id}", json=named_person("Changed"), headers=version)
        _same_not_found(put, put_missing, record_id, missing_id)
        delete = reader.delete(f"{PERSONS}/{record_id}", headers=version)
        delete_missing = reader.delete(f"{PERSONS}/{missing_id}", headers=version)
        _same_not_found(delete, delete_missing, record_id, missing_id)
        # Nothing changed.
        assert _ok(scenario.reader("UKR").get(f"{PERSONS}/{record_id}"))["version"] == 1


def test_accesses_of_a_record_are_its_owners_only(scenario: Scenario) -> None:
    missing_id = str(uuid.uuid4())
    for country in ("FRA", "GRC"):
        for record in (scenario.hidden, scenario.redacted):
            reader = scenario.reader(country)
            _same_not_found(
                reader.get(f"{PERSONS}/{record['id']}/accesses"),
                reader.get(f"{PERSONS}/{missing_id}/accesses"),
                record["id"],
                missing_id,
            )
    scenario.reader("FRA").get(f"{PERSONS}/{scenario.redacted['id']}")
    accesses = _ok(scenario.reader("UKR").get(f"{PERSONS}/{scenario.redacted['id']}/accesses"))["items"]
    french = [item for item in accesses if item["country"] == "FRA" and item["tag"] == "record:person:read"]
    assert french
    assert french[-1]["agency_id"] == scenario.agencies["FRA"]
    assert french[-1]["purpose"] == "criminal_investigation"


# -- the declared purpose ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["one", "list"])
def test_a_read_without_a_purpose_is_400_naming_the_header(scenario: Scenario, path: str) -> None:
    url = PERSONS if path == "list" else f"{PERSONS}/{scenario.fra_person['id']}"
    undeclared = scenario.hub.bearer(scenario.officers["FRA"].token, purpose=None)
    problem = assert_problem(undeclared.get(url), 400)
    assert error_fields(problem) == {PURPOSE}
    assert "criminal_investigation" in problem["errors"][0]["reason"]
    unknown = assert_problem(undeclared.get(url, headers={PURPOSE: "curiosity"}), 400)
    assert error_fields(unknown) == {PURPOSE}
    assert "curiosity" in unknown["detail"]
    # The case does not matter; the purpose is a word of the list.
    assert undeclared.get(url, headers={PURPOSE: "Criminal_Investigation"}).status_code == 200


def test_a_purpose_the_agreement_does_not_cover_hides_the_records(scenario: Scenario) -> None:
    reader = scenario.reader("FRA")
    border = {PURPOSE: "border_control"}
    missing_id = str(uuid.uuid4())
    for record in (scenario.redacted, scenario.hit_only):
        _same_not_found(
            reader.get(f"{PERSONS}/{record['id']}", headers=border),
            reader.get(f"{PERSONS}/{missing_id}", headers=border),
            record["id"],
            missing_id,
        )
    assert _ok(reader.get(PERSONS, params={"name": scenario.family}, headers=border))["items"] == []
    items, _ = _pages(reader, {"owner_country": "UKR"}, **border)
    assert items == []
    # The owner sees its own records whatever the purpose.
    assert _ok(reader.get(f"{PERSONS}/{scenario.fra_person['id']}", headers=border))["access"]["outcome"] == "full"


def test_a_country_in_no_agreement_sees_nothing(scenario: Scenario) -> None:
    reader = scenario.reader("GRC")
    missing_id = str(uuid.uuid4())
    for record in (scenario.redacted, scenario.hit_only, scenario.hidden, scenario.fra_person):
        _same_not_found(
            reader.get(f"{PERSONS}/{record['id']}"),
            reader.get(f"{PERSONS}/{missing_id}"),
            record["id"],
            missing_id,
        )
    assert _ok(reader.get(PERSONS, params={"name": scenario.family})) == {"items": [], "next_cursor": None}
    items, _ = _pages(reader, {"limit": 3})
    assert {item["owner"]["country"] for item in items} <= {"GRC"}
    assert _pages(reader, {"owner_country": "UKR"})[0] == []


# -- the audit trail ---------------------------------------------------------------------


def _events(auditor: httpx.Client, record_id: str, actor_id: str) -> list[dict[str, Any]]:
    page = _ok(
        auditor.get(
            "/api/v1/audit/events", params={"record_id": record_id, "actor_id": actor_id, "tag": "record:person:read"}
        )
    )
    items: list[dict[str, Any]] = page["items"]
    return items


def test_the_trail_records_a_refusal_as_denied_and_a_miss_as_allowed(scenario: Scenario) -> None:
    officer = scenario.officers["FRA"]
    missing_id = str(uuid.uuid4())
    assert_problem(officer.client.get(f"{PERSONS}/{scenario.hidden['id']}"), 404)
    assert_problem(officer.client.get(f"{PERSONS}/{missing_id}"), 404)
    _ok(officer.client.get(f"{PERSONS}/{scenario.redacted['id']}"))

    auditor = scenario.hub.new_client([Role.AUDITOR], agency_id=scenario.agencies["FRA"])
    refused = _events(auditor, scenario.hidden["id"], officer.user_id)
    assert refused
    last = refused[-1]
    assert last["decision"] == "denied"
    assert last["result_count"] == 0
    assert last["details"] == {"outcome": "none"}
    assert last["purpose"] == "criminal_investigation"
    assert last["actor"]["country"] == "FRA"

    [miss] = _events(auditor, missing_id, officer.user_id)
    assert miss["decision"] == "allowed"
    assert miss["result_count"] == 0
    assert miss["record_ids"] == [missing_id]

    shown = _events(auditor, scenario.redacted["id"], officer.user_id)[-1]
    assert shown["decision"] == "allowed"
    assert shown["result_count"] == 1
    assert shown["details"] == {"outcome": "redacted"}
