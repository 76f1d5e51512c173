"""Intel records on the hub, on SQLite and PostgreSQL: a bundle imported for France, then
exported for other countries through the policy engine. Ukraine shares threat intelligence
with France in full, Germany only as hits, Greece shares persons but no threat intelligence;
the campaign marked TLP:RED goes to nobody abroad. What is exported passes the OASIS
validator and holds each object as France sent it."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

from stix2validator import ValidationOptions, validate_string

from polex.agency.schemas import AgencyCreate
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import Tlp, new_id
from polex.domain.decisions import Outcome
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, Purpose
from polex.domain.roles import Role
from polex.formats.registry import get_format
from polex.record.service import ListFilters
from tests.intel_examples import MARKINGS, RED_CAMPAIGN, instants, marked_bundle, marked_objects

PURPOSE = Purpose.CRIMINAL_INVESTIGATION


def person(agency_id: str, country: str, role: Role = Role.ANALYST) -> Principal:
    return Principal(PrincipalKind.USER, new_id(), "officer", agency_id, country, frozenset({role}))


def agree(node: Node, other: str, categories: list[DataCategory], level: AccessLevel) -> None:
    agreement = Agreement(
        id=f"fra-{other.lower()}-{new_id()[-8:]}",
        title=f"France and {other} share {', '.join(categories)}",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", other],
        categories=categories,
        purposes=[PURPOSE],
        level=level,
        valid_from=dt.date(2024, 1, 1),
        legal_reference=f"FRA-{other} treaty, art. 1",
    )
    admins = {country: person(new_id(), country, Role.ADMIN) for country in ("FRA", other)}
    read = node.policy.propose(agreement, admins["FRA"])
    for admin in admins.values():
        node.policy.approve(agreement.id, read.version, admin)


def test_an_imported_bundle_is_exported_as_each_country_may_see_it(hub_node: Node) -> None:
    agencies = {
        country: hub_node.agencies.ensure(
            AgencyCreate(name=f"Police {country}", country=country, kind=AgencyKind.POLICE)
        ).id
        for country in ("FRA", "UKR", "DEU", "GRC")
    }
    agree(hub_node, "UKR", [DataCategory.THREAT_INTELLIGENCE], AccessLevel.FULL)
    agree(hub_node, "DEU", [DataCategory.THREAT_INTELLIGENCE], AccessLevel.HIT_ONLY)
    agree(hub_node, "GRC", [DataCategory.PERSONS, DataCategory.CASES], AccessLevel.FULL)

    importer = person(agencies["FRA"], "FRA", Role.NCB_OPERATOR)
    summary = hub_node.imports.run(get_format("stix2.1"), io.BytesIO(marked_bundle()), source="c2.json", owner=importer)
    sent = marked_objects()
    assert (summary.accepted, summary.rejected, summary.by_kind) == (len(sent), 0, {"intel": len(sent)})

    intel = hub_node.records["intel"]
    own = intel.list(importer, ListFilters(), purpose=PURPOSE, cursor=None, limit=50).items
    handling = {item["stix"]["id"]: item["restrictions"]["handling"] for item in own}
    assert handling == {
        obj["id"]: (MARKINGS.get(obj["id"], Tlp.AMBER) if obj["id"] != RED_CAMPAIGN else Tlp.RED).value for obj in sent
    }
    assert {item["provenance"]["source_id"] for item in own} == {obj["id"] for obj in sent}

    written: dict[str, dict[str, Any]] = {}
    for country in ("FRA", "UKR", "DEU", "GRC"):
        exported = intel.export(person(agencies[country], country), purpose=PURPOSE, format_name="stix2.1")
        out = io.BytesIO()
        get_format("stix2.1").write(exported.contents, out)
        results = validate_string(out.getvalue().decode(), ValidationOptions(version="2.1", silent=True))
        assert results.is_valid, [str(error) for error in results.errors]
        written[country] = {
            "ids": [obj["id"] for obj in json.loads(out.getvalue()).get("objects", [])],
            "withheld": exported.withheld,
            "objects": json.loads(out.getvalue()).get("objects", []),
        }

    everything = [obj["id"] for obj in sent]
    assert (written["FRA"]["ids"], written["FRA"]["withheld"]) == (everything, 0)
    assert instants(written["FRA"]["objects"]) == instants(sent)
    # Abroad: everything but the TLP:RED campaign, in full; AMBER+STRICT is shown, not passed on.
    assert (written["UKR"]["ids"], written["UKR"]["withheld"]) == ([i for i in everything if i != RED_CAMPAIGN], 0)
    assert (written["DEU"]["ids"], written["DEU"]["withheld"]) == ([], len(everything) - 1)  # hits only
    assert (written["GRC"]["ids"], written["GRC"]["withheld"]) == ([], 0)  # nothing, not even a count

    seen = intel.list(person(agencies["UKR"], "UKR"), ListFilters(), purpose=PURPOSE, cursor=None, limit=50).items
    access = {item["stix"]["id"]: item["access"] for item in seen}
    assert RED_CAMPAIGN not in access
    assert {entry["outcome"] for entry in access.values()} == {Outcome.FULL.value}
    strict = next(key for key, tlp in MARKINGS.items() if tlp is Tlp.AMBER_STRICT)
    assert access[strict]["onward_transmission"] is False
    hits = intel.list(person(agencies["DEU"], "DEU"), ListFilters(), purpose=PURPOSE, cursor=None, limit=50).items
    assert {item["access"]["outcome"] for item in hits} == {Outcome.HIT_ONLY.value}
    assert all("stix" not in item for item in hits)
    assert intel.list(person(agencies["GRC"], "GRC"), ListFilters(), purpose=PURPOSE, cursor=None, limit=50).items == []
