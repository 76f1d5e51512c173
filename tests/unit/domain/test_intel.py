"""Threat intelligence in the common schema: STIX-shaped, lossless, and valid STIX by
construction where one object can tell."""

from __future__ import annotations

import ast
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import polex.domain.intel as intel
from polex.domain.base import Tlp
from polex.domain.intel import (
    TLP_1_MARKINGS,
    TLP_2_MARKINGS,
    AttackPattern,
    ExternalReference,
    GenericObject,
    GranularMarking,
    Identity,
    Indicator,
    IntelBundle,
    Malware,
    MarkingDefinition,
    Relationship,
    Sighting,
    ThreatActor,
    format_timestamp,
    intel_object_from_stix,
    tlp_of,
)

IDENTITY = "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"
INDICATOR = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
STATEMENT = "marking-definition--ad2caa47-58fd-4491-9b6f-2c6e8f0b0b3f"
CREATED = "2016-04-06T20:03:48.000Z"


def _indicator(**changes: Any) -> Indicator:
    fields: dict[str, Any] = {
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": "2016-04-06T20:03:48Z",
    }
    return Indicator(**{**fields, **changes})


def _stix(**changes: Any) -> dict[str, Any]:
    data = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": INDICATOR,
        "created": CREATED,
        "modified": CREATED,
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": "2016-04-06T20:03:48Z",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_the_domain_does_not_import_stix2() -> None:
    tree = ast.parse(Path(intel.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in ("stix2", "stix2validator", "stix2patterns")}


# --- Timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-04-06T20:03:48Z", dt.datetime(2016, 4, 6, 20, 3, 48, tzinfo=dt.UTC)),
        ("2016-04-06T20:03:48.000000Z", dt.datetime(2016, 4, 6, 20, 3, 48, tzinfo=dt.UTC)),
        ("2016-04-06T20:03:48.1Z", dt.datetime(2016, 4, 6, 20, 3, 48, 100_000, tzinfo=dt.UTC)),
        ("2016-04-06T20:03:48.123456000Z", dt.datetime(2016, 4, 6, 20, 3, 48, 123_456, tzinfo=dt.UTC)),
    ],
)
def test_stix_timestamps_are_read_as_instants(text: str, expected: dt.datetime) -> None:
    assert _indicator(valid_from=text).valid_from == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2016-04-06T20:03:48.1234567Z", "microsecond"),
        ("2016-04-06T20:03:60Z", "leap second"),
        ("2016-02-30T20:03:48Z", "real date"),
        ("2016-04-06T20:03:48+01:00", "UTC"),
        ("2016-04-06", "YYYY"),
        (dt.datetime(2016, 4, 6), "time zone"),  # naive, which is the point
        (1459973028, "string"),
        ("0999-04-06T20:03:48Z", "year 1000"),
    ],
)
def test_what_is_not_a_stix_timestamp_is_refused(value: Any, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        _indicator(valid_from=value)


def test_timestamps_in_other_zones_are_kept_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    assert _indicator(valid_from=dt.datetime(2025, 6, 1, 12, tzinfo=paris)).to_stix()["valid_from"] == (
        "2025-06-01T10:00:00Z"
    )


def test_created_and_modified_are_written_to_the_millisecond() -> None:
    when = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
    data = _indicator(created=when, valid_from=when).to_stix()
    assert (data["created"], data["modified"], data["valid_from"]) == (
        "2025-06-01T12:00:00.000Z",
        "2025-06-01T12:00:00.000Z",
        "2025-06-01T12:00:00Z",
    )
    assert format_timestamp(when.replace(microsecond=123_400), millisecond=True) == "2025-06-01T12:00:00.1234Z"


# --- New objects ------------------------------------------------------------------------------


def test_a_new_object_gets_a_version_4_id_of_its_type_and_is_modified_when_created() -> None:
    indicator = _indicator()
    kind, _, value = indicator.id.partition("--")
    assert (kind, uuid.UUID(value).version) == ("indicator", 4)
    assert indicator.modified == indicator.created
    assert indicator.created.microsecond % 1000 == 0


def test_stix_that_is_read_gets_nothing_made_up() -> None:
    with pytest.raises(ValidationError) as raised:
        intel_object_from_stix(_stix(id=None, modified=None))
    assert {error["loc"] for error in raised.value.errors()} == {("id",), ("modified",)}


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"modified": "2015-01-01T00:00:00.000Z"}, "modified must not be earlier than created"),
        ({"valid_until": "2016-04-06T20:03:48Z"}, "valid_until must be later than valid_from"),
        ({"id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, "starts with 'indicator--'"),
        ({"created_by_ref": INDICATOR}, "must refer to identity objects"),
        ({"object_marking_refs": [IDENTITY]}, "must refer to marking-definition objects"),
        ({"confidence": 101}, "less than or equal to 100"),
        ({"labels": ["a\u0000b"]}, r"U\+0000"),
        ({"spec_version": "2.0"}, "2.1"),
        ({"pattern_type": None}, "pattern_type"),
    ],
)
def test_what_stix_forbids_in_an_object_is_refused(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        Indicator.from_stix(_stix(**changes))


def test_relationships_and_sightings_point_only_at_what_they_may() -> None:
    with pytest.raises(ValidationError, match="may not refer to a marking-definition"):
        Relationship(relationship_type="uses", source_ref=INDICATOR, target_ref=STATEMENT)
    with pytest.raises(ValidationError, match="must refer to identity or location"):
        Sighting(sighting_of_ref=INDICATOR, where_sighted_refs=[INDICATOR])
    with pytest.raises(ValidationError, match="last_seen must be later than or equal to first_seen"):
        Sighting(sighting_of_ref=INDICATOR, first_seen="2025-01-02T00:00:00Z", last_seen="2025-01-01T00:00:00Z")
    with pytest.raises(ValidationError, match="stop_time must be later than start_time"):
        Relationship(
            relationship_type="uses",
            source_ref=INDICATOR,
            target_ref=IDENTITY,
            start_time="2025-01-01T00:00:00Z",
            stop_time="2025-01-01T00:00:00Z",
        )


def test_a_malware_family_has_a_name() -> None:
    with pytest.raises(ValidationError, match="needs a name"):
        Malware(is_family=True)
    assert Malware(is_family=False).name is None


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"source_name": "cve", "external_id": "CVE-21-1"}, "like CVE-2021-44228"),
        ({"source_name": "capec", "description": "phishing"}, "like CAPEC-163"),
        ({"source_name": "mitre-attack", "external_id": "CVE-2021-44228"}, "goes with source_name"),
        ({"source_name": "report"}, "needs a description, a url or an external_id"),
        ({"source_name": "sample", "url": "https://example.org", "hashes": {"SHA-256": "abc"}}, "not a SHA-256"),
    ],
)
def test_external_references_follow_stix(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        ExternalReference(**fields)


def test_mitre_attack_ids_come_from_the_external_references() -> None:
    technique = AttackPattern(
        name="Spearphishing Attachment",
        external_references=[
            ExternalReference(source_name="mitre-attack", external_id="T1566.001", url="https://attack.mitre.org/"),
            ExternalReference(source_name="capec", external_id="CAPEC-163"),
        ],
    )
    assert technique.mitre_attack_ids == ["T1566.001"]
    assert technique.external_ids("capec") == ["CAPEC-163"]


# --- Nothing is lost --------------------------------------------------------------------------


def test_properties_polex_does_not_model_are_kept_in_extra() -> None:
    data = _stix(
        x_polex_case="EU-2025-0042",
        external_references=[{"source_name": "polex", "external_id": "N-1", "x_seen_by": ["DEU"]}],
        kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control", "x_n": 1}],
        extensions={
            "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e": {"extension_type": "property-extension"}
        },
        description="  kept as sent\n",
    )
    indicator = Indicator.from_stix(data)
    assert indicator.extra == {"x_polex_case": "EU-2025-0042"}
    assert indicator.external_references[0].extra == {"x_seen_by": ["DEU"]}
    assert indicator.kill_chain_phases[0].extra == {"x_n": 1}
    assert indicator.description == "  kept as sent\n"
    assert indicator.to_stix() == data


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"name": "C2"}, "name is a modelled property"),
        ({"x_a": None}, "null"),
        ({"x_a": []}, "empty list"),
        ({"x_a": {"deep": ["ok", "not\u001b"]}}, r"U\+001B .* \(at x_a/deep/1\)"),
    ],
)
def test_extra_holds_only_what_stix_allows_and_polex_does_not_model(extra: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        _indicator(extra=extra)


def test_a_generic_object_keeps_everything() -> None:
    data = {
        "type": "campaign",
        "spec_version": "2.1",
        "id": "campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": CREATED,
        "modified": CREATED,
        "name": "Operation X",
        "object_marking_refs": [TLP_2_MARKINGS[Tlp.GREEN]],
    }
    campaign = intel_object_from_stix(data)
    assert isinstance(campaign, GenericObject)
    assert not campaign.is_custom
    assert campaign.tlp is Tlp.GREEN
    assert campaign.to_stix() == data


def test_a_typed_object_is_never_generic() -> None:
    with pytest.raises(ValidationError, match="its own model"):
        GenericObject(type="indicator", id=INDICATOR)
    assert isinstance(intel_object_from_stix(_stix()), Indicator)


def test_a_bundle_keeps_its_types_through_json() -> None:
    bundle = IntelBundle(
        objects=[
            _indicator(),
            ThreatActor(name="FIN-X"),
            Identity(name="Europol"),
            MarkingDefinition.for_tlp(Tlp.RED),
            GenericObject(type="x-polex-note", id="x-polex-note--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"),
        ]
    )
    again = IntelBundle.model_validate_json(bundle.model_dump_json())
    assert again == bundle
    assert [type(obj) for obj in again.objects] == [type(obj) for obj in bundle.objects]
    assert bundle.of_type(Indicator) == [bundle.objects[0]]


def test_the_latest_version_of_an_object_is_found() -> None:
    first = _indicator(id=INDICATOR, created="2025-01-01T00:00:00.000Z")
    later = first.model_copy(update={"modified": dt.datetime(2025, 2, 1, tzinfo=dt.UTC), "name": "renamed"})
    bundle = IntelBundle(objects=[later, first])
    assert bundle.get(INDICATOR) == later
    assert bundle.get(IDENTITY) is None


# --- Markings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tlp", list(Tlp))
def test_tlp_2_markings_map_onto_tlp(tlp: Tlp) -> None:
    marked = _indicator().with_tlp(tlp)
    assert marked.object_marking_refs == [TLP_2_MARKINGS[tlp]]
    assert marked.tlp is tlp
    definition = MarkingDefinition.for_tlp(tlp)
    assert (definition.id, definition.defines_tlp, definition.name) == (TLP_2_MARKINGS[tlp], tlp, tlp.value)


def test_tlp_1_markings_are_read_and_white_is_clear() -> None:
    assert sorted(TLP_1_MARKINGS.values()) == sorted([Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.RED])
    white = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
    assert _indicator(object_marking_refs=[white]).tlp is Tlp.CLEAR
    definition = MarkingDefinition(
        id=white, created="2017-01-20T00:00:00.000Z", definition_type="tlp", definition={"tlp": "white"}
    )
    assert definition.defines_tlp is Tlp.CLEAR


def test_the_strictest_tlp_counts_and_other_markings_stay() -> None:
    refs = [TLP_2_MARKINGS[Tlp.GREEN], STATEMENT, TLP_1_MARKINGS_RED]
    indicator = _indicator(object_marking_refs=refs)
    assert indicator.tlp is Tlp.RED
    assert tlp_of([]) is None
    assert indicator.with_tlp(Tlp.AMBER).object_marking_refs == [TLP_2_MARKINGS[Tlp.AMBER], STATEMENT]


TLP_1_MARKINGS_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"


def test_statement_markings_and_markings_a_bundle_defines() -> None:
    statement = MarkingDefinition.for_statement("Copyright 2025, Europol", id=STATEMENT)
    assert statement.statement == "Copyright 2025, Europol"
    assert statement.defines_tlp is None
    own_red = MarkingDefinition(
        id="marking-definition--0a0b0c0d-0000-4000-8000-000000000001",
        created=CREATED,
        definition_type="tlp",
        definition={"tlp": "red"},
    )
    indicator = _indicator(object_marking_refs=[own_red.id, STATEMENT])
    assert indicator.tlp is None  # not a published marking ...
    assert IntelBundle(objects=[own_red, statement, indicator]).tlp_of(indicator) is Tlp.RED  # ... but defined here


def test_marking_definitions_follow_stix() -> None:
    with pytest.raises(ValidationError, match="definition_type and definition go together"):
        MarkingDefinition(definition_type="statement")
    with pytest.raises(ValidationError, match="needs a definition or an extension"):
        MarkingDefinition(name="nothing")
    with pytest.raises(ValidationError, match="may not mark itself"):
        MarkingDefinition.for_statement("x", id=STATEMENT, object_marking_refs=[STATEMENT])


def test_granular_markings_point_at_properties_the_object_has() -> None:
    marking = GranularMarking(marking_ref=STATEMENT, selectors=["description", "external_references.[0].url"])
    with pytest.raises(ValidationError, match="points at nothing"):
        _indicator(granular_markings=[marking], description="x")
    marked = _indicator(
        granular_markings=[marking],
        description="x",
        external_references=[ExternalReference(source_name="polex", url="https://example.org/")],
    )
    assert marked.granular_markings == [marking]
