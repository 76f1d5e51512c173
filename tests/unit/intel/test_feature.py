"""Intel records: the STIX JSON content, its projection and filters, the TLP handling it
imposes, and the STIX checks on what the API stores."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from pydantic import ValidationError
from stix2validator import ValidationOptions, validate_string

from polex.domain.base import Owner, Restrictions, Tlp
from polex.domain.decisions import AgreementState, Outcome, PolicySet, RecordFacts, Requester, apply_decision
from polex.domain.intel import TLP_1_MARKINGS, TLP_2_MARKINGS, Indicator, Intel, MarkingDefinition, tlp_defined_by
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, NationalRules, Purpose
from polex.domain.records import IntelRecord
from polex.errors import ValidationFailed
from polex.formats.registry import Accepted
from polex.formats.stix import StixAdapter, tlp_markings_in
from polex.intel.feature import (
    INTEL_FEATURE,
    check_stix,
    intel_label,
    intel_record,
    project_intel,
    references,
    restrictions_for,
    tlp_term,
)

IDENTITY = "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"
INDICATOR = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
MALWARE = "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"
STATEMENT = "marking-definition--ad2caa47-58fd-4491-9b6f-2c6e8f0b0b3f"
CUSTOM_RED = "marking-definition--0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
CREATED = "2016-04-06T20:03:48.000Z"
AGENCY = "01900000-0000-7000-8000-000000000001"


def indicator(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": INDICATOR,
        "created_by_ref": IDENTITY,
        "created": CREATED,
        "modified": CREATED,
        "name": "Poison Ivy C2",
        "labels": ["Command-and-Control", "a|b"],
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": "2016-04-06T20:03:48Z",
        "object_marking_refs": [TLP_2_MARKINGS[Tlp.GREEN], STATEMENT],
        "external_references": [{"source_name": "capec", "external_id": "CAPEC-163"}],
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def relationship(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
        "created": CREATED,
        "modified": CREATED,
        "relationship_type": "indicates",
        "source_ref": INDICATOR,
        "target_ref": MALWARE,
    }
    data.update(changes)
    return data


def intel(data: dict[str, Any]) -> Intel:
    return Intel.model_validate({"stix": data})


# --- The content: one object, in STIX JSON ------------------------------------------------------


def test_the_content_is_stix_json_in_and_out() -> None:
    sent = indicator(x_acme_confidence="high")
    content = intel(sent)
    assert type(content.stix).__name__ == "Indicator"
    assert content.model_dump(mode="json") == {"stix": sent}  # the custom property is kept, in place
    assert Intel.model_validate(content.model_dump(mode="json")) == content
    assert content.tlp is Tlp.GREEN


def test_other_types_are_kept_whole() -> None:
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": "report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",
        "created": CREATED,
        "modified": CREATED,
        "name": "The Black Vine Cyberespionage Group",
        "published": "2016-01-20T17:00:00Z",
        "object_refs": [INDICATOR, MALWARE],
    }
    content = intel(report)
    assert type(content.stix).__name__ == "GenericObject"
    assert content.model_dump(mode="json") == {"stix": report}


def test_a_new_object_gets_its_id_and_times() -> None:
    content = intel(indicator(id=None, created=None, modified=None))
    assert content.stix.id.startswith("indicator--")
    dumped = content.model_dump(mode="json")["stix"]
    assert dumped["created"] == dumped["modified"]


@pytest.mark.parametrize(
    ("stix", "location"),
    [
        (indicator(pattern=None), ("stix", "indicator", "pattern")),
        (indicator(valid_from="yesterday"), ("stix", "indicator", "valid_from")),
        ({"type": "campaign", "name": "No id"}, ("stix", "generic", "id")),
        ("an indicator", ("stix", "generic")),
    ],
)
def test_what_is_not_a_stix_object_is_refused_by_field(stix: Any, location: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as raised:
        Intel.model_validate({"stix": stix})
    assert location in {tuple(str(part) for part in error["loc"]) for error in raised.value.errors()}


def test_the_validator_checks_what_the_model_cannot() -> None:
    check_stix(intel(indicator()))
    with pytest.raises(ValidationFailed) as raised:
        check_stix(intel(indicator(pattern="[ipv4-addr:value = '198.51.100.1'")))
    assert [error.field for error in raised.value.errors] == ["stix.pattern"]
    assert "not valid STIX 2.1" in raised.value.detail


# --- The projection and the filters -------------------------------------------------------------


def test_an_indicator_is_found_by_type_marking_label_pattern_and_references() -> None:
    projection = project_intel(intel(indicator()))
    assert projection.key == INDICATOR
    assert projection.status == "active"
    assert projection.label == "indicator: Poison Ivy C2"
    assert {
        "type:indicator",
        f"stix_id:{INDICATOR}",
        "tlp:GREEN",
        "label:command-and-control",
        "pattern_type:stix",
        f"ref:{IDENTITY}",
        "name:poison",
        "name:ivy",
        "external_id:CAPEC-163",
    } <= projection.terms
    # Markings are handling, not what the object is about; a label holding the separator is no term.
    assert not any(term.startswith("ref:marking-definition") for term in projection.terms)
    assert not any("|" in term for term in projection.terms)


def test_relationships_and_sightings_are_found_from_what_they_join() -> None:
    joined = project_intel(intel(relationship(revoked=True)))
    assert {f"ref:{INDICATOR}", f"ref:{MALWARE}", "relationship_type:indicates"} <= joined.terms
    assert joined.status == "revoked"
    assert intel_label(intel(relationship())) == f"relationship: {INDICATOR} indicates {MALWARE}"
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--ee20065d-2555-424f-ad9e-0f8428623c75",
        "created": CREATED,
        "modified": CREATED,
        "sighting_of_ref": INDICATOR,
        "where_sighted_refs": [IDENTITY],
    }
    assert {f"ref:{INDICATOR}", f"ref:{IDENTITY}"} <= project_intel(intel(sighting)).terms
    assert references({"object_refs": [INDICATOR], "x_source_ref": MALWARE, "object_marking_refs": [STATEMENT]}) == {
        INDICATOR,
        MALWARE,
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("stix_type", " Indicator "),
        ("stix_id", INDICATOR.upper().replace("INDICATOR", "indicator")),
        ("refers_to", IDENTITY.upper()),
        ("tlp", "tlp:green"),
        ("tlp", "Green"),
        ("label", "COMMAND-and-control"),
        ("pattern_type", "STIX"),
        ("name", "IVY"),
        ("external_id", "capec-163"),
    ],
)
def test_filter_values_are_normalised_as_the_terms_are(name: str, value: str) -> None:
    terms = project_intel(intel(indicator())).terms
    spec = next(spec for spec in INTEL_FEATURE.filters if spec.name == name)
    assert spec.term_for(value) in terms


def test_tlp_filter_values() -> None:
    assert [tlp_term(value) for value in ("TLP:AMBER+STRICT", "white", " red ")] == ["AMBER+STRICT", "CLEAR", "RED"]


# --- Handling: never looser than the object's marking -------------------------------------------


@pytest.mark.parametrize(
    ("marking", "declared", "handling"),
    [
        (Tlp.GREEN, None, Tlp.GREEN),
        (None, None, Tlp.AMBER),  # the default, as for any record
        (Tlp.RED, Restrictions(handling=Tlp.GREEN), Tlp.RED),  # the marking binds
        (Tlp.GREEN, Restrictions(handling=Tlp.AMBER_STRICT), Tlp.AMBER_STRICT),  # stricter is the owner's right
        (Tlp.CLEAR, Restrictions(excluded_countries=["GRC"]), Tlp.CLEAR),  # no handling declared: the marking
        (None, Restrictions(handling=Tlp.GREEN), Tlp.GREEN),
    ],
)
def test_the_marking_sets_the_handling(marking: Tlp | None, declared: Restrictions | None, handling: Tlp) -> None:
    refs = [TLP_2_MARKINGS[marking]] if marking else None
    restrictions = restrictions_for(intel(indicator(object_marking_refs=refs)), declared)
    assert restrictions.handling is handling
    if declared is not None:
        assert restrictions.excluded_countries == declared.excluded_countries


def test_an_import_knows_the_tlp_markings_its_bundle_defines() -> None:
    custom = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": CUSTOM_RED,
        "created": CREATED,
        "definition_type": "tlp",
        "definition": {"tlp": "red"},
    }
    marked = indicator(object_marking_refs=[CUSTOM_RED])
    bundle = {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [marked, custom]}
    assert tlp_defined_by(custom) is Tlp.RED
    assert tlp_defined_by(MarkingDefinition.for_tlp(Tlp.AMBER).to_stix()) is Tlp.AMBER
    assert tlp_defined_by(marked) is None
    assert tlp_markings_in(bundle)[CUSTOM_RED] is Tlp.RED
    assert tlp_markings_in(bundle)[next(iter(TLP_1_MARKINGS))] is Tlp.CLEAR

    adapter = StixAdapter()
    first = next(iter(adapter.read(io.BytesIO(json.dumps(bundle).encode()))))
    # Known before the object that uses it is read, though the bundle defines it after.
    assert adapter.tlp_markings[CUSTOM_RED] is Tlp.RED
    assert isinstance(first, Accepted)
    assert isinstance(first.record, Indicator)
    owner = Owner(agency_id=AGENCY, country="FRA")
    new = intel_record(first.record, owner, format_name="stix2.1", tlp_markings=adapter.tlp_markings)
    assert new.restrictions is not None
    assert new.restrictions.handling is Tlp.RED
    assert new.provenance is not None
    assert (new.provenance.source_id, new.provenance.source_format) == (INDICATOR, "stix2.1")
    assert new.id is None  # the record gets a polex id; the STIX id is its key and source id
    assert isinstance(new.content, Intel)
    assert restrictions_for(new.content, new.restrictions).handling is Tlp.RED
    # Without the bundle's definitions the marking is unknown: the default handling.
    assert intel_record(first.record, owner, format_name="stix2.1").restrictions is None


def test_exported_contents_are_written_as_one_valid_bundle() -> None:
    out = io.BytesIO()
    StixAdapter().write([intel(indicator()), intel(relationship())], out)
    written = json.loads(out.getvalue())
    assert [obj["id"] for obj in written["objects"]] == [INDICATOR, relationship()["id"]]
    results = validate_string(out.getvalue().decode(), ValidationOptions(version="2.1", silent=True))
    assert results.is_valid, [str(error) for error in results.errors]


# --- The policy engine: threat intelligence, TLP, and properties a law keeps at home -------------


def test_the_engine_files_intel_under_threat_intelligence_and_redacts_stix_properties() -> None:
    agreement = Agreement(
        id="fra-ukr-intel",
        title="France and Ukraine share threat intelligence",
        kind=AgreementKind.BILATERAL_TREATY,
        parties=["FRA", "UKR"],
        categories=[DataCategory.THREAT_INTELLIGENCE],
        purposes=[Purpose.CRIMINAL_INVESTIGATION],
        level=AccessLevel.FULL,
        valid_from=dt.date(2024, 1, 1),
        legal_reference="FRA-UKR treaty, art. 3",
    )
    law = NationalRules(country="FRA", never_shared=["intel.stix.description"], legal_reference="Loi")
    states = (AgreementState(agreement, 1, frozenset({"FRA", "UKR"})),)
    now = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    content = intel(indicator(description="Seen in a Lyon investigation"))
    record = IntelRecord.model_validate(
        {
            **content.model_dump(mode="json"),
            "id": "01900000-0000-7000-8000-000000000abc",
            "owner": {"agency_id": AGENCY, "country": "FRA"},
            "restrictions": restrictions_for(content, None).model_dump(mode="json"),
            "provenance": {"source_format": "stix2.1", "source_id": INDICATOR},
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "version": 1,
        }
    ).model_dump(mode="json", by_alias=True)
    facts = RecordFacts("intel", AGENCY, "FRA", record["restrictions"])
    kyiv = Requester("01900000-0000-7000-8000-0000000000bb", "UKR", Purpose.CRIMINAL_INVESTIGATION)

    decision = PolicySet(agreements=states, national_rules={"FRA": law}).snapshot(now).decide(kyiv, facts)
    assert (decision.outcome, decision.removed_fields) == (Outcome.REDACTED, ("stix.description",))
    shown = apply_decision(record, decision)
    assert shown is not None
    assert "description" not in shown["stix"]
    assert Intel.model_validate({"stix": shown["stix"]}).stix.id == INDICATOR  # still an object to export

    assert PolicySet(agreements=states).snapshot(now).decide(kyiv, facts).outcome is Outcome.FULL
    persons_only = agreement.model_copy(update={"categories": [DataCategory.PERSONS]})
    elsewhere = PolicySet(agreements=(AgreementState(persons_only, 1, frozenset({"FRA", "UKR"})),))
    refused = elsewhere.snapshot(now).decide(kyiv, facts)
    assert (refused.outcome, refused.rules[0].code) == (Outcome.NONE, "no_agreement")
    assert "threat_intelligence" in refused.rules[0].text
    red = RecordFacts("intel", AGENCY, "FRA", {"handling": Tlp.RED.value})
    assert PolicySet(agreements=states).snapshot(now).decide(kyiv, red).rules[0].code == "restriction.tlp_red"
