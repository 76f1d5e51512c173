"""Intel records over real HTTP, on the hub: France imports a STIX bundle (the OASIS example
of indicators for a C2 channel, each object marked with a TLP level, and a TLP:RED
campaign), then lists, reads and filters it; other countries see what the agreements and
the markings let them: Ukraine shares threat intelligence in full, Germany as hits only,
Greece shares persons but no threat intelligence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from polex.domain.base import Tlp
from polex.domain.intel import TLP_2_MARKINGS
from polex.domain.roles import Role
from tests.e2e.conftest import LiveServer, assert_problem, error_fields
from tests.factories import unique
from tests.intel_examples import (
    BROKEN,
    HASH_INDICATOR,
    IP_INDICATOR,
    MALWARE,
    MARKINGS,
    RED_CAMPAIGN,
    instants,
    marked_bundle,
    marked_objects,
)

INTEL = "/api/v1/intel"
SENT = {obj["id"]: obj for obj in marked_objects()}


@dataclass
class Scenario:
    hub: LiveServer
    clients: dict[str, httpx.Client]  # country to an NCB operator of its police
    summary: dict[str, Any]  # France's import


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _agree(admins: dict[str, httpx.Client], other: str, categories: list[str], level: str) -> None:
    agreement_id = unique(f"fra-{other.lower()}-")
    body = {
        "id": agreement_id,
        "title": f"France and {other}: {', '.join(categories)}",
        "kind": "bilateral_treaty",
        "parties": ["FRA", other],
        "categories": categories,
        "purposes": ["criminal_investigation"],
        "level": level,
        "valid_from": "2024-01-01",
        "legal_reference": f"FRA-{other} treaty, art. 2",
    }
    _ok(admins["FRA"].post("/api/v1/agreements", json=body), 201)
    for country in ("FRA", other):
        approved = _ok(admins[country].post(f"/api/v1/agreements/{agreement_id}/approve", json={"version": 1}))
    assert approved["status"] == "in_force"


def _upload(client: httpx.Client, content: bytes) -> httpx.Response:
    return client.post(
        "/api/v1/imports",
        data={"format": "stix2.1"},
        files={"file": ("c2-bundle.json", content, "application/stix+json;version=2.1")},
    )


@pytest.fixture(scope="module")
def scenario(hub_live: LiveServer) -> Scenario:
    countries = ("FRA", "UKR", "DEU", "GRC")
    agencies = {country: hub_live.make_agency(country=country) for country in countries}
    clients = {country: hub_live.new_client([Role.NCB_OPERATOR], agency_id=agencies[country]) for country in countries}
    admins = {country: hub_live.new_client([Role.ADMIN], agency_id=agencies[country]) for country in countries}
    _agree(admins, "UKR", ["threat_intelligence"], "full")
    _agree(admins, "DEU", ["threat_intelligence"], "hit_only")
    _agree(admins, "GRC", ["persons", "cases"], "full")
    summary = _ok(_upload(clients["FRA"], marked_bundle(broken=True)), 201)
    return Scenario(hub_live, clients, summary)


def _all(client: httpx.Client, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = _ok(client.get(INTEL, params={**params, "limit": "20", **({"cursor": cursor} if cursor else {})}))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _by_stix_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        stix_id = item["stix"]["id"] if "stix" in item else item["id"]
        assert stix_id not in found
        found[stix_id] = item
    return found


def _record_id(scenario: Scenario, stix_id: str) -> str:
    [item] = _all(scenario.clients["FRA"], stix_id=stix_id)
    record_id: str = item["id"]
    return record_id


def test_the_import_stores_each_object_and_quarantines_the_broken_one(scenario: Scenario) -> None:
    summary = scenario.summary
    assert (summary["accepted"], summary["rejected"], summary["by_kind"]) == (len(SENT), 1, {"intel": len(SENT)})
    operator = scenario.clients["FRA"]
    [item] = _ok(operator.get(f"/api/v1/imports/{summary['id']}/quarantine"))["items"]
    assert item["field"] == "pattern"
    assert BROKEN["id"] in item["location"]
    assert BROKEN["pattern"] in item["raw"]  # kept exactly as received
    assert_problem(scenario.clients["UKR"].get(f"/api/v1/imports/{summary['id']}/quarantine"), 404)


def test_each_object_is_a_record_owned_by_the_importer_with_its_markings_handling(scenario: Scenario) -> None:
    stored = _by_stix_id(_all(scenario.clients["FRA"]))
    assert set(SENT) <= set(stored)
    for stix_id, sent in SENT.items():
        record = stored[stix_id]
        expected = Tlp.RED if stix_id == RED_CAMPAIGN else MARKINGS.get(stix_id, Tlp.AMBER)
        assert record["kind"] == "intel"
        assert record["restrictions"]["handling"] == expected.value, stix_id
        assert record["provenance"] == {"source_format": "stix2.1", "source_id": stix_id, "original_values": {}}
        assert instants(record["stix"]) == instants(sent)
        assert record["access"]["outcome"] == "full"
    read = scenario.clients["FRA"].get(f"{INTEL}/{stored[MALWARE]['id']}")
    assert read.headers["ETag"] == '"1"'
    assert instants(_ok(read)["stix"]) == instants(SENT[MALWARE])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"stix_type": "indicator"}, {IP_INDICATOR, HASH_INDICATOR}),
        ({"tlp": "green"}, {IP_INDICATOR, HASH_INDICATOR}),
        ({"tlp": "TLP:RED"}, {RED_CAMPAIGN}),
        ({"stix_type": "malware", "name": "ivy"}, {MALWARE}),
        ({"stix_id": IP_INDICATOR.upper().replace("INDICATOR", "indicator")}, {IP_INDICATOR}),
        ({"pattern_type": "stix", "tlp": "green"}, {IP_INDICATOR, HASH_INDICATOR}),
        ({"external_id": "capec-163"}, {RED_CAMPAIGN}),
    ],
)
def test_lists_filter_by_stix_type_marking_name_and_id(
    scenario: Scenario, params: dict[str, str], expected: set[str]
) -> None:
    assert set(_by_stix_id(_all(scenario.clients["FRA"], **params))) == expected


def test_relationships_are_found_from_what_they_join(scenario: Scenario) -> None:
    operator = scenario.clients["FRA"]
    joined = _all(operator, refers_to=MALWARE, stix_type="relationship")
    assert {item["stix"]["relationship_type"] for item in joined} == {"indicates", "mitigates"}
    assert {item["stix"]["id"] for item in joined} == {
        stix_id for stix_id, obj in SENT.items() if MALWARE in (obj.get("source_ref"), obj.get("target_ref"))
    }
    [indicates] = _all(operator, refers_to=IP_INDICATOR, relationship_type="indicates")
    assert indicates["stix"]["target_ref"] == MALWARE
    unknown = operator.get(INTEL, params={"pattern": "x"})
    assert "pattern" in error_fields(assert_problem(unknown, 422))


def test_a_country_sharing_threat_intelligence_sees_all_but_tlp_red(scenario: Scenario) -> None:
    seen = _by_stix_id(_all(scenario.clients["UKR"]))
    assert set(seen) == set(SENT) - {RED_CAMPAIGN}
    for stix_id, item in seen.items():
        assert item["access"]["outcome"] == "full"
        assert instants(item["stix"]) == instants(SENT[stix_id])
    assert _all(scenario.clients["UKR"], tlp="red") == []
    red = _record_id(scenario, RED_CAMPAIGN)
    missing = "01900000-0000-7000-8000-00000000dead"
    hidden, absent = scenario.clients["UKR"].get(f"{INTEL}/{red}"), scenario.clients["UKR"].get(f"{INTEL}/{missing}")
    assert assert_problem(hidden, 404)["title"] == assert_problem(absent, 404)["title"]
    # The owner's own agency sees it, as any owner does.
    assert _ok(scenario.clients["FRA"].get(f"{INTEL}/{red}"))["stix"]["id"] == RED_CAMPAIGN


def test_a_hit_only_agreement_shows_that_objects_exist_and_nothing_of_them(scenario: Scenario) -> None:
    hits = _all(scenario.clients["DEU"])
    assert len(hits) == len(SENT) - 1
    for item in hits:
        assert set(item) == {"id", "kind", "owner", "access"}
        assert item["access"]["outcome"] == "hit_only"
    read = _ok(scenario.clients["DEU"].get(f"{INTEL}/{_record_id(scenario, MALWARE)}"))
    assert "stix" not in read
    assert MALWARE not in str(read)


def test_without_a_threat_intelligence_agreement_nothing_is_seen(scenario: Scenario) -> None:
    assert _all(scenario.clients["GRC"]) == []
    assert _all(scenario.clients["GRC"], stix_type="indicator") == []
    assert_problem(scenario.clients["GRC"].get(f"{INTEL}/{_record_id(scenario, IP_INDICATOR)}"), 404)


def test_importing_the_bundle_again_adds_nothing(scenario: Scenario) -> None:
    before = _by_stix_id(_all(scenario.clients["FRA"]))
    again = _ok(_upload(scenario.clients["FRA"], marked_bundle(broken=True)), 201)
    assert (again["accepted"], again["rejected"], again["by_kind"]) == (0, len(SENT) + 1, {"intel": 0})
    assert again["reasons"]["record: an intel with the same identifying data is already recorded"] == len(SENT)
    after = _by_stix_id(_all(scenario.clients["FRA"]))
    assert {key: item["id"] for key, item in after.items()} == {key: item["id"] for key, item in before.items()}
    assert all(item["version"] == 1 for item in after.values())


def _new_indicator(**changes: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "name": "Fake parcel-tracking domain",
        "pattern": "[domain-name:value = 'suivi-colis-livraison.example']",
        "pattern_type": "stix",
        "valid_from": "2025-03-12T09:30:00Z",
        "object_marking_refs": [TLP_2_MARKINGS[Tlp.AMBER]],
        **changes,
    }


def test_the_api_stores_valid_stix_with_a_handling_no_looser_than_its_marking(scenario: Scenario) -> None:
    operator = scenario.clients["FRA"]
    created = _ok(operator.post(INTEL, json={"stix": _new_indicator(), "restrictions": {"handling": "TLP:GREEN"}}), 201)
    assert created["stix"]["id"].startswith("indicator--")
    assert created["stix"]["created"] == created["stix"]["modified"]
    assert created["restrictions"]["handling"] == "TLP:AMBER"  # the marking binds
    assert created["id"] in {item["id"] for item in _all(scenario.clients["UKR"], stix_type="indicator")}

    duplicate = operator.post(INTEL, json={"stix": created["stix"]})
    assert_problem(duplicate, 409)

    # Marked TLP:RED on replacement: the handling follows, and Ukraine no longer sees it.
    red = {**created["stix"], "object_marking_refs": [TLP_2_MARKINGS[Tlp.RED]]}
    replaced = _ok(operator.put(f"{INTEL}/{created['id']}", json={"stix": red}, headers={"If-Match": '"1"'}))
    assert replaced["restrictions"]["handling"] == "TLP:RED"
    assert_problem(scenario.clients["UKR"].get(f"{INTEL}/{created['id']}"), 404)


@pytest.mark.parametrize(
    ("stix", "field"),
    [
        (_new_indicator(pattern="[domain-name:value = 'colis.example'"), "stix.pattern"),
        (_new_indicator(pattern=None), "stix.indicator.pattern"),
        (_new_indicator(valid_from="2025-13-40T00:00:00Z"), "stix.indicator.valid_from"),
        (_new_indicator(object_marking_refs=["TLP:AMBER"]), "stix.indicator.object_marking_refs.0"),
        ("an indicator", "stix.generic"),
    ],
)
def test_what_is_not_valid_stix_is_refused_naming_the_property(scenario: Scenario, stix: Any, field: str) -> None:
    if isinstance(stix, dict):
        stix = {key: value for key, value in stix.items() if value is not None}
    body = assert_problem(scenario.clients["FRA"].post(INTEL, json={"stix": stix}), 422)
    assert field in error_fields(body), body


def test_a_quarantined_object_is_released_once_corrected_and_valid(scenario: Scenario) -> None:
    operator = scenario.clients["FRA"]
    import_id = scenario.summary["id"]
    [item] = _ok(operator.get(f"/api/v1/imports/{import_id}/quarantine"))["items"]
    release = f"/api/v1/imports/{import_id}/quarantine/{item['id']}/release"
    still_broken = {"kind": "intel", "record": {"stix": BROKEN}, "note": "released as received"}
    assert "stix.pattern" in error_fields(assert_problem(operator.post(release, json=still_broken), 422))
    corrected = {**BROKEN, "pattern": BROKEN["pattern"] + "]"}
    fixed = {"kind": "intel", "record": {"stix": corrected}, "note": "closed the bracket"}
    released = _ok(operator.post(release, json=fixed), 201)
    record = _ok(operator.get(f"{INTEL}/{released['record_id']}"))
    assert record["stix"]["pattern"] == corrected["pattern"]
    assert record["restrictions"]["handling"] == "TLP:AMBER"  # unmarked: the default
