"""The STIX 2.1 format against the official suites (read in place, never copied), and its
properties: what polex writes passes the OASIS validator and reads back the same, and no input
makes the reader fail with anything but a rejection.

- ``stix21-oasis-schemas/examples``: 8 example files, 260 objects (SOURCE.md). Every object is
  read; written back, every property and value is kept (JSON compared with key order and
  timestamp spelling normalised) and the validator passes what is written.
- ``stix21-oasis-schemas/interop``: the interoperability profile (JSON schemas, the same as the
  copy the validator ships, which is checked); objects polex makes to the profile pass it.
- ``stix21-validator-cases``: the validator's own test documents; the ones named ``invalid_*``
  are invalid, the others valid.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import string
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance, validate_string

from polex.domain.base import Tlp
from polex.domain.intel import (
    TLP_2_MARKINGS,
    AttackPattern,
    ExternalReference,
    GenericObject,
    GranularMarking,
    Identity,
    Indicator,
    IntelBundle,
    KillChainPhase,
    Malware,
    MarkingDefinition,
    Relationship,
    Sighting,
    ThreatActor,
)
from polex.formats.registry import Accepted, FormatRegistry, Rejection, WritableFormatAdapter
from polex.formats.stix import (
    WHOLE,
    StixAdapter,
    StixWriteError,
    iter_stix,
    read_stix,
    write_stix,
)

SHARED = Path(__file__).parents[3].parent / "shared" / "data"
OASIS = SHARED / "stix21-oasis-schemas"
EXAMPLES = OASIS / "examples"
INTEROP = OASIS / "interop"
CASES = SHARED / "stix21-validator-cases" / "stix2validator" / "test" / "v21" / "test_examples"

# Example files we expect rejections from, with why. None: every example object is read.
EXPECTED_EXAMPLE_REJECTIONS: dict[str, str] = {}

# The invalid validator cases: the field each rejection names, and words of its reason.
INVALID_CASES: dict[str, tuple[str, str]] = {
    "invalid_braces.json": (WHOLE, "not JSON"),  # '<' before the object
    "invalid_comma.json": (WHOLE, "not JSON"),  # a trailing comma
    "invalid_identity.json": ("modified", "required"),
    "invalid_timestamp.json": ("modified", "must be later than or equal to 'created'"),
}

IDENTITY = "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff"


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.json")) if folder.is_dir() else []


def _params(folder: Path) -> list[Any]:
    files = _files(folder)
    if not files:
        return [pytest.param(None, id="absent", marks=pytest.mark.skip(reason=f"{folder} is absent"))]
    return [pytest.param(path, id=path.relative_to(folder).as_posix().removesuffix(".json")) for path in files]


def _objects(document: Any) -> list[Any]:
    return document["objects"] if document.get("type") == "bundle" else [document]


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def _normalised(value: Any) -> Any:
    """JSON with timestamps as instants (STIX gives trailing zeros no meaning); key order does
    not count in dict comparison, and the dump sorts keys for readable diffs."""
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        whole, _, fraction = value.removesuffix("Z").partition(".")
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        return dt.datetime.fromisoformat(whole).replace(microsecond=micro, tzinfo=dt.UTC).isoformat()
    return value


def _validator_errors(text: str) -> list[str]:
    results = validate_string(text, ValidationOptions(version="2.1", silent=True))
    return [str(error) for error in results.errors]


# --- The OASIS examples -----------------------------------------------------------------------


def test_the_examples_are_the_ones_source_md_describes() -> None:
    files = _files(EXAMPLES)
    if not files:
        pytest.skip(f"{EXAMPLES} is absent")
    total = sum(len(_objects(json.loads(path.read_text(encoding="utf-8")))) for path in files)
    assert (len(files), total) == (8, 260)


@pytest.mark.parametrize("path", _params(EXAMPLES))
def test_example_reads_without_rejection(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    result = read_stix(path.read_bytes())
    rejected = {f"{r.location}: {r.field}: {r.reason}" for r in result.rejections}
    expected = EXPECTED_EXAMPLE_REJECTIONS.get(path.name)
    assert bool(rejected) == bool(expected), rejected
    assert [obj.id for obj in result.bundle.objects] == [obj["id"] for obj in _objects(document)]


@pytest.mark.parametrize("path", _params(EXAMPLES))
def test_example_round_trip_keeps_every_property(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    written = json.loads(write_stix([read_stix(path.read_bytes()).bundle]).text)
    if document.get("type") == "bundle":
        assert written["id"] == document["id"]
    for original, back in zip(_objects(document), written["objects"], strict=True):
        assert json.dumps(_normalised(back), sort_keys=True) == json.dumps(_normalised(original), sort_keys=True)


@pytest.mark.parametrize("path", _params(EXAMPLES))
def test_what_we_write_of_an_example_validates(path: Path) -> None:
    result = write_stix([read_stix(path.read_bytes()).bundle])
    assert _validator_errors(result.text) == []
    # the warnings are the example's own (custom properties, URLs without hashes ...)
    original = validate_instance(json.loads(path.read_text(encoding="utf-8")), ValidationOptions(version="2.1"))
    assert len(result.warnings) == len(original.warnings)


@pytest.mark.parametrize("path", _params(EXAMPLES))
def test_writing_what_we_read_is_a_fixed_point(path: Path) -> None:
    once = write_stix([read_stix(path.read_bytes()).bundle]).text
    again = read_stix(once)
    assert again.rejections == []
    assert write_stix([again.bundle]).text == once


def test_the_tlp_marking_of_an_example_is_read() -> None:
    path = EXAMPLES / "interop-objectmarking-test.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    (campaign,) = read_stix(path.read_bytes()).bundle.objects
    # TLP:RED (1.0) and a marking definition nobody published, both kept
    assert isinstance(campaign, GenericObject)
    assert campaign.tlp is Tlp.RED
    assert len(campaign.object_marking_refs) == 2


# --- The interoperability profile -------------------------------------------------------------


def _interop_objects() -> list[Any]:
    author = Identity(id=IDENTITY, created_by_ref=IDENTITY, name="Europol EC3", identity_class="organization")
    indicator = Indicator(
        created_by_ref=IDENTITY,
        name="C2 server",
        indicator_types=["malicious-activity"],
        pattern="[ipv4-addr:value = '198.51.100.7']",
        pattern_type="stix",
        valid_from="2025-01-01T00:00:00Z",
    )
    actor = ThreatActor(
        created_by_ref=IDENTITY,
        name="FIN-X",
        threat_actor_types=["crime-syndicate"],
        roles=["agent"],
        sophistication="expert",
        resource_level="organization",
        primary_motivation="personal-gain",
    )
    technique = AttackPattern(
        created_by_ref=IDENTITY,
        name="Spearphishing Attachment",
        external_references=[ExternalReference(source_name="mitre-attack", external_id="T1566.001")],
        kill_chain_phases=[KillChainPhase(kill_chain_name="mitre-attack", phase_name="initial-access")],
    )
    uses = Relationship(created_by_ref=IDENTITY, relationship_type="uses", source_ref=actor.id, target_ref=technique.id)
    seen = Sighting(
        created_by_ref=IDENTITY,
        sighting_of_ref=indicator.id,
        first_seen="2025-02-01T10:00:00Z",
        last_seen="2025-02-03T10:00:00Z",
        count=3,
        where_sighted_refs=[IDENTITY],
    )
    return [obj.with_tlp(Tlp.AMBER) for obj in (author, indicator, actor, technique, uses, seen)]


def test_the_shared_interop_schemas_are_those_the_validator_checks() -> None:
    bundled = Path(validate_instance.__code__.co_filename).parent / "schemas-2.1" / "interop"
    if not INTEROP.is_dir():
        pytest.skip(f"{INTEROP} is absent")
    for path in _files(INTEROP):
        assert json.loads(path.read_text(encoding="utf-8")) == json.loads((bundled / path.name).read_text())


def test_objects_made_to_the_interop_profile_pass_it() -> None:
    text = write_stix(_interop_objects()).text  # the TLP 2.0 definitions are published, not sent
    results = validate_string(text, ValidationOptions(version="2.1", interop=True, silent=True))
    assert [str(error) for error in results.errors] == []


# --- The validator's test documents -----------------------------------------------------------


@pytest.mark.parametrize("path", _params(CASES))
def test_validator_case(path: Path) -> None:
    result = read_stix(path.read_bytes())
    if path.name.startswith("invalid_"):
        field, words = INVALID_CASES[path.name]
        assert result.bundle.objects == []
        (rejection,) = result.rejections
        assert (rejection.field, words in rejection.reason) == (field, True), rejection
    else:
        assert result.rejections == []
        document = json.loads(path.read_text(encoding="utf-8"))
        assert [obj.to_stix() for obj in result.bundle.objects] == _objects(document)


def test_every_invalid_case_is_known() -> None:
    invalid = {path.name for path in _files(CASES) if path.name.startswith("invalid_")}
    if not invalid:
        pytest.skip(f"{CASES} is absent")
    assert invalid == set(INVALID_CASES)


def test_custom_properties_come_with_the_validator_s_warnings() -> None:
    path = CASES / "tool.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    result = read_stix(path.read_bytes())
    (tool,) = result.bundle.objects
    assert isinstance(tool, GenericObject)
    assert tool.properties["foo_value"] == "bizz"
    assert [w.object_id for w in result.warnings] == [tool.id, tool.id]
    assert all("foo_value" in w.message or "bar_value" in w.message for w in result.warnings)


def test_a_tlp_2_marking_definition_is_read_as_such() -> None:
    path = CASES / "tlp-amber.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    (marking,) = read_stix(path.read_bytes()).bundle.objects
    assert isinstance(marking, MarkingDefinition)
    assert marking.defines_tlp is Tlp.AMBER
    assert marking == MarkingDefinition.for_tlp(Tlp.AMBER)


# --- Rejections -------------------------------------------------------------------------------

IND = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"


def _indicator(**changes: Any) -> dict[str, Any]:
    data = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": IND,
        "created": "2016-04-06T20:03:48.000Z",
        "modified": "2016-04-06T20:03:48.000Z",
        "name": "C2",
        "description": "a command and control server",
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": "2016-04-06T20:03:48Z",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def _bundle(*objects: Any) -> bytes:
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)}).encode()


def _only_rejection(data: bytes, **options: Any) -> Rejection:
    results = list(iter_stix(data, **options))
    assert len(results) == 1
    (result,) = results
    assert isinstance(result, Rejection), result
    return result


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        pytest.param({"pattern": "[ipv4-addr:value = "}, "pattern", "Pattern failed", id="pattern"),
        pytest.param({"valid_until": "2015-01-01T00:00:00Z"}, "valid_until", "later than", id="valid-until"),
        pytest.param(
            {"created_by_ref": "tool--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}, "created_by_ref", "", id="author"
        ),
        pytest.param({"confidence": 101}, "confidence", "101", id="confidence"),
        pytest.param({"external_references": [{"source_name": "x", "url": 5}]}, "external_references", "", id="ref"),
        pytest.param({"labels": []}, "labels", "empty", id="empty-list"),
        pytest.param({"description": "bell\u0007"}, "description", "U+0007", id="control-character"),
        pytest.param({"valid_from": "2016-04-06T20:03:48.1234567Z"}, "valid_from", "timestamp", id="nanoseconds"),
        pytest.param({"pattern": None}, "pattern", "required", id="missing"),
    ],
)
def test_a_bad_object_is_rejected_by_id_property_and_reason(changes: dict[str, Any], field: str, words: str) -> None:
    rejection = _only_rejection(_bundle(_indicator(**changes)))
    assert rejection.location == f"objects[0] {IND}"
    assert rejection.field.startswith(field), rejection
    assert words in rejection.reason
    assert json.loads(rejection.raw) == _indicator(**changes)


def test_the_other_objects_of_a_bundle_are_still_read() -> None:
    good = _indicator(id="indicator--53fe3b22-0201-47cf-85d0-97c02164528d")
    results = list(iter_stix(_bundle(good, _indicator(confidence=-1), good)))
    assert [type(result) for result in results] == [Accepted, Rejection, Accepted]
    assert results[1].location == f"objects[1] {IND}"


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        pytest.param(b"\xff\xfe{}", WHOLE, "not UTF-8", id="not-utf-8"),
        pytest.param(b"", WHOLE, "not JSON", id="empty"),
        pytest.param(b"[]", WHOLE, "not an array", id="array"),
        pytest.param(b"42", WHOLE, "not a single value", id="number"),
        pytest.param(b'{"type": NaN}', WHOLE, "NaN", id="nan"),
        pytest.param(b'{"type": "identity", "type": "tool"}', "type", "twice", id="duplicate-key"),
        pytest.param(b'{"type": "bundle", "id": "bundle--1", "objects": []}', "id", "bundle", id="bundle-id"),
        pytest.param(b'{"type": "bundle", "id": "bundle--1", "objects": {}}', "id", "bundle", id="bundle-objects"),
        pytest.param(b'{"id": "identity--8c6af861-7b20-41ef-9b59-6344fd872a8f"}', "type", "type", id="no-type"),
        pytest.param(b'{"type": "identity"}', "id", "id", id="no-id"),
        pytest.param(b"[" * 100_000, WHOLE, "", id="deep"),
    ],
)
def test_input_that_is_not_stix_is_one_rejection(data: bytes, field: str, words: str) -> None:
    (rejection, *_) = list(iter_stix(data))
    assert isinstance(rejection, Rejection)
    assert (rejection.field, words in rejection.reason) == (field, True), rejection


def test_a_stix_2_0_bundle_is_rejected_with_the_reason() -> None:
    old = _indicator(spec_version=None, labels=["malicious-activity"])
    data = json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "spec_version": "2.0", "objects": [old]})
    bundle, indicator = list(iter_stix(data))
    assert isinstance(bundle, Rejection)
    assert (bundle.field, bundle.location) == ("spec_version", "bundle")
    assert "STIX 2.0" in bundle.reason
    assert isinstance(indicator, Rejection)
    assert indicator.field == "spec_version"
    assert any("STIX 2.0" in error.reason for error in indicator.errors)


CUSTOM = {
    "type": "x-polex-case-link",
    "spec_version": "2.1",
    "id": "x-polex-case-link--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "created": "2016-04-06T20:03:48.000Z",
    "modified": "2016-04-06T20:03:48.000Z",
    "x_case": "EU-2025-0042",
}


def test_a_custom_object_is_kept_whole() -> None:
    result = read_stix(_bundle(CUSTOM))
    (obj,) = result.bundle.objects
    assert isinstance(obj, GenericObject)
    assert obj.is_custom
    assert obj.to_stix() == CUSTOM
    assert json.loads(write_stix([result.bundle]).text)["objects"] == [CUSTOM]


def test_strict_mode_rejects_custom_objects_and_properties_by_name() -> None:
    custom_type = _only_rejection(_bundle(CUSTOM), allow_custom=False)
    assert (custom_type.field, "x-polex-case-link" in custom_type.reason) == ("type", True)
    custom_property = _only_rejection(_bundle(_indicator(x_case="EU-1")), allow_custom=False)
    assert custom_property.field == "x_case"


def test_reading_never_raises_even_when_a_check_breaks() -> None:
    # the validator fails on an id that is not a string; the rejection says what is wrong
    rejection = _only_rejection(_bundle(_indicator(id=5)))
    assert rejection.field == "id"


# --- Writing ----------------------------------------------------------------------------------


def test_objects_polex_makes_are_valid_stix_and_read_back_the_same() -> None:
    statement = MarkingDefinition.for_statement("Copyright 2025, Europol", created_by_ref=IDENTITY)
    family = Malware(name="Poison Ivy", is_family=True, malware_types=["remote-access-trojan"], revoked=False)
    objects = [
        *_interop_objects(),
        family.model_copy(update={"object_marking_refs": [statement.id]}),
        statement,
        MarkingDefinition.for_tlp(Tlp.AMBER),
    ]
    result = write_stix(objects)
    assert _validator_errors(result.text) == []
    back = read_stix(result.text)
    assert back.rejections == []
    assert back.bundle.objects == objects
    assert '"revoked": false' in result.text  # stix2 would leave an explicit default out


def test_a_bundle_keeps_its_id() -> None:
    bundle = IntelBundle(objects=_interop_objects())
    written = json.loads(write_stix([bundle]).text)
    assert written["id"] == bundle.id
    assert read_stix(json.dumps(written)).bundle == bundle


def test_what_stix_forbids_is_not_written_and_every_problem_is_named() -> None:
    bad = Indicator(pattern="[ipv4-addr:value = ", pattern_type="stix", valid_from="2025-01-01T00:00:00Z")
    also_bad = Identity(name="x", lang="xx-invalid")
    stream = io.BytesIO()
    with pytest.raises(StixWriteError) as raised:
        StixAdapter().write([bad, also_bad], stream)
    assert stream.getvalue() == b""
    fields = [error.field for error in raised.value.errors]
    assert f"{bad.id}/pattern" in fields


def test_only_intel_objects_are_written() -> None:
    with pytest.raises(TypeError, match="intel objects"):
        write_stix([ExternalReference(source_name="x", url="https://example.org")])


def test_an_empty_bundle_is_valid() -> None:
    text = write_stix([]).text
    assert _validator_errors(text) == []
    assert read_stix(text).bundle.objects == []


# --- The adapter ------------------------------------------------------------------------------


def test_the_adapter_reads_writes_and_registers() -> None:
    adapter = StixAdapter(pretty=True)
    assert isinstance(adapter, WritableFormatAdapter)
    registry = FormatRegistry(builtins=False, entry_point_group=None)
    info = registry.register(StixAdapter)
    assert (info.name, info.writable) == ("stix2.1", True)

    objects = _interop_objects()
    stream = io.BytesIO()
    adapter.write(objects, stream)
    results = list(registry.get("stix2.1").read(io.BytesIO(stream.getvalue())))
    assert [result.record for result in results if isinstance(result, Accepted)] == objects
    assert all(isinstance(result, Accepted) for result in results)


def test_the_adapter_keeps_the_warnings_of_what_it_read() -> None:
    adapter = StixAdapter()
    list(adapter.read(io.BytesIO(_bundle(_indicator(x_case="EU-1")))))
    assert [(w.object_id, "x_case" in w.message) for w in adapter.warnings] == [(IND, True)]


# --- Properties -------------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r"), max_size=20)
NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
WORD = st.from_regex(r"[a-z]{1,8}(-[a-z]{1,8}){0,2}", fullmatch=True)
TIMES = st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31), timezones=st.just(dt.UTC))
LANG = st.sampled_from(["en", "fr", "de", "es", "nl", "pt"])
URL = st.sampled_from(
    ["https://attack.mitre.org/techniques/T1566/001/", "https://www.europol.europa.eu/", "http://example.org/a?b=c"]
)


def _id(*types: str) -> st.SearchStrategy[str]:
    return st.builds(lambda kind, value: f"{kind}--{value}", st.sampled_from(types), st.uuids(version=4))


JSON_SCALAR = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False) | TEXT
)
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.from_regex(r"[a-z0-9_]{1,8}", fullmatch=True), inner, max_size=3)
    ),
    max_leaves=6,
)
CUSTOM_VALUE = JSON_VALUE.filter(lambda value: value is not None and value != [])
CUSTOM_NAME = st.from_regex(r"x_[a-z0-9_]{1,12}", fullmatch=True).filter(
    lambda name: not name.endswith(("_bin", "_hex"))
)

EXTERNAL_REFERENCE = st.one_of(
    st.builds(
        ExternalReference,
        source_name=st.just("mitre-attack"),
        external_id=st.from_regex(r"T1\d{3}(\.00\d)?", fullmatch=True),
        url=st.none() | URL,
    ),
    st.builds(
        ExternalReference, source_name=st.just("capec"), external_id=st.from_regex(r"CAPEC-\d{1,4}", fullmatch=True)
    ),
    st.builds(
        ExternalReference,
        source_name=st.just("cve"),
        external_id=st.from_regex(r"CVE-20[12]\d-[1-9]\d{3,5}", fullmatch=True),
    ),
    st.builds(
        ExternalReference,
        source_name=NAME.filter(lambda name: name not in ("cve", "capec")),
        description=NAME,
        url=st.none() | URL,
        hashes=st.dictionaries(st.just("SHA-256"), st.from_regex(r"[0-9a-f]{64}", fullmatch=True), max_size=1),
    ),
)
KILL_CHAIN_PHASE = st.builds(KillChainPhase, kill_chain_name=WORD, phase_name=WORD)
MARKING_REFS = st.lists(
    st.sampled_from(sorted(TLP_2_MARKINGS.values())) | _id("marking-definition"), max_size=2, unique=True
)
EXTENSIONS = st.dictionaries(
    _id("extension-definition"),
    st.fixed_dictionaries(
        {"extension_type": st.just("property-extension")}, optional={"x_rank": st.integers(0, 9), "x_note": NAME}
    ),
    max_size=1,
)


@st.composite
def _common(draw: st.DrawFn) -> dict[str, Any]:
    created, modified = sorted(draw(st.lists(TIMES, min_size=2, max_size=2)))
    refs = draw(MARKING_REFS)
    granular = []
    if draw(st.booleans()):
        selectors = draw(st.lists(st.sampled_from(["id", "type", "created", "modified"]), min_size=1, unique=True))
        granular.append(GranularMarking(selectors=selectors, marking_ref=draw(_id("marking-definition"))))
    return {
        "id": None,
        "created": created,
        "modified": modified,
        "created_by_ref": draw(st.none() | _id("identity")),
        "revoked": draw(st.none() | st.booleans()),
        "labels": draw(st.lists(TEXT, max_size=2)),
        "confidence": draw(st.none() | st.integers(0, 100)),
        "lang": draw(st.none() | LANG),
        "external_references": draw(st.lists(EXTERNAL_REFERENCE, max_size=2)),
        "object_marking_refs": refs,
        "granular_markings": granular,
        "extensions": draw(EXTENSIONS),
        "extra": draw(st.dictionaries(CUSTOM_NAME, CUSTOM_VALUE, max_size=2)),
    }


def _pattern(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


PATTERN = st.one_of(
    st.ip_addresses(v=4).map(lambda ip: ("stix", f"[ipv4-addr:value = '{ip}']")),
    TEXT.map(lambda text: ("stix", f"[domain-name:value = '{_pattern(text)}']")),
    st.from_regex(r"[0-9a-f]{64}", fullmatch=True).map(lambda h: ("stix", f"[file:hashes.'SHA-256' = '{h}']")),
    st.tuples(st.sampled_from(["yara", "sigma", "snort", "suricata", "pcre"]), NAME),
)


@st.composite
def _indicators(draw: st.DrawFn) -> Indicator:
    pattern_type, pattern = draw(PATTERN)
    valid_from = draw(TIMES)
    valid_until = draw(st.none() | TIMES.filter(lambda t: t > valid_from))
    return Indicator(
        **{key: value for key, value in draw(_common()).items() if key != "id"},
        name=draw(st.none() | NAME),
        description=draw(st.none() | TEXT),
        indicator_types=draw(
            st.lists(
                st.sampled_from(["malicious-activity", "anomalous-activity", "attribution"]), max_size=2, unique=True
            )
        ),
        pattern=pattern,
        pattern_type=pattern_type,
        pattern_version=draw(st.none() | st.just("2.1")) if pattern_type == "stix" else None,
        valid_from=valid_from,
        valid_until=valid_until,
        kill_chain_phases=draw(st.lists(KILL_CHAIN_PHASE, max_size=2)),
    )


def _seen(draw: st.DrawFn) -> tuple[dt.datetime | None, dt.datetime | None]:
    first, last = sorted(draw(st.lists(TIMES, min_size=2, max_size=2)))
    return draw(st.none() | st.just(first)), draw(st.none() | st.just(last))


@st.composite
def _threat_actors(draw: st.DrawFn) -> ThreatActor:
    first_seen, last_seen = _seen(draw)
    return ThreatActor(
        **{key: value for key, value in draw(_common()).items() if key != "id"},
        name=draw(NAME),
        description=draw(st.none() | TEXT),
        threat_actor_types=draw(
            st.lists(st.sampled_from(["crime-syndicate", "criminal", "hacker"]), max_size=2, unique=True)
        ),
        aliases=draw(st.lists(NAME, max_size=2)),
        first_seen=first_seen,
        last_seen=last_seen,
        roles=draw(st.lists(st.sampled_from(["agent", "director", "sponsor"]), max_size=2, unique=True)),
        goals=draw(st.lists(TEXT, max_size=2)),
        sophistication=draw(st.none() | st.sampled_from(["none", "minimal", "expert"])),
        resource_level=draw(st.none() | st.sampled_from(["individual", "organization"])),
        primary_motivation=draw(st.none() | st.sampled_from(["personal-gain", "ideology"])),
        secondary_motivations=draw(st.lists(st.sampled_from(["dominance", "revenge"]), max_size=2, unique=True)),
    )


@st.composite
def _malware(draw: st.DrawFn) -> Malware:
    first_seen, last_seen = _seen(draw)
    is_family = draw(st.booleans())
    return Malware(
        **{key: value for key, value in draw(_common()).items() if key != "id"},
        name=draw(NAME) if is_family else draw(st.none() | NAME),
        is_family=is_family,
        malware_types=draw(
            st.lists(st.sampled_from(["ransomware", "remote-access-trojan", "bot"]), max_size=2, unique=True)
        ),
        aliases=draw(st.lists(NAME, max_size=2)),
        kill_chain_phases=draw(st.lists(KILL_CHAIN_PHASE, max_size=2)),
        first_seen=first_seen,
        last_seen=last_seen,
        operating_system_refs=draw(st.lists(_id("software"), max_size=1)),
        sample_refs=draw(st.lists(_id("file", "artifact"), max_size=2)),
        capabilities=draw(
            st.lists(st.sampled_from(["exfiltrates-data", "captures-input-peripherals"]), max_size=2, unique=True)
        ),
    )


@st.composite
def _attack_patterns(draw: st.DrawFn) -> AttackPattern:
    return AttackPattern(
        **{key: value for key, value in draw(_common()).items() if key != "id"},
        name=draw(NAME),
        description=draw(st.none() | TEXT),
        aliases=draw(st.lists(NAME, max_size=2)),
        kill_chain_phases=draw(st.lists(KILL_CHAIN_PHASE, max_size=2)),
    )


@st.composite
def _identities(draw: st.DrawFn) -> Identity:
    return Identity(
        **{key: value for key, value in draw(_common()).items() if key != "id"},
        name=draw(NAME),
        description=draw(st.none() | TEXT),
        roles=draw(st.lists(TEXT, max_size=2)),
        identity_class=draw(st.none() | st.sampled_from(["individual", "organization", "group"])),
        sectors=draw(
            st.lists(
                st.sampled_from(["government-national", "government-public-services", "law-enforcement"]),
                max_size=2,
                unique=True,
            )
        ),
        contact_information=draw(st.none() | TEXT),
    )


@st.composite
def _sightings(draw: st.DrawFn) -> Sighting:
    first_seen, last_seen = _seen(draw)
    return Sighting(
        **{key: value for key, value in draw(_common()).items() if key != "id"},
        description=draw(st.none() | TEXT),
        first_seen=first_seen,
        last_seen=last_seen,
        count=draw(st.none() | st.integers(0, 999_999_999)),
        sighting_of_ref=draw(_id("indicator", "malware", "threat-actor", "campaign")),
        observed_data_refs=draw(st.lists(_id("observed-data"), max_size=2)),
        where_sighted_refs=draw(st.lists(_id("identity", "location"), max_size=2)),
        summary=draw(st.none() | st.booleans()),
    )


@st.composite
def _relationships(draw: st.DrawFn) -> Relationship:
    start = draw(st.none() | TIMES)
    stop = draw(st.none() | TIMES.filter(lambda t: start is None or t > start))
    return Relationship(
        **{key: value for key, value in draw(_common()).items() if key != "id"},
        relationship_type=draw(st.sampled_from(["indicates", "uses", "related-to", "attributed-to"]) | WORD),
        description=draw(st.none() | TEXT),
        source_ref=draw(_id("indicator", "threat-actor", "malware", "ipv4-addr")),
        target_ref=draw(_id("malware", "attack-pattern", "identity", "domain-name")),
        start_time=start,
        stop_time=stop,
    )


MARKINGS = st.one_of(
    st.sampled_from(list(Tlp)).map(MarkingDefinition.for_tlp),
    st.builds(MarkingDefinition.for_statement, NAME, created=TIMES, created_by_ref=st.none() | _id("identity")),
)

INTEL = st.one_of(
    _indicators(),
    _threat_actors(),
    _malware(),
    _attack_patterns(),
    _identities(),
    _sightings(),
    _relationships(),
    MARKINGS,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(INTEL, min_size=1, max_size=4))
def test_intel_objects_written_pass_the_validator_and_read_back_the_same(objects: list[Any]) -> None:
    result = write_stix(objects)
    assert _validator_errors(result.text) == []
    back = read_stix(result.text)
    assert back.rejections == []
    assert back.bundle.objects == objects


@settings(max_examples=300, deadline=None)
@given(JSON_VALUE)
def test_arbitrary_json_gives_only_results(value: Any) -> None:
    for data in (
        json.dumps(value),
        json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [value]}),
    ):
        for result in iter_stix(data):
            assert isinstance(result, Accepted | Rejection)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(_indicator())), JSON_VALUE, st.sampled_from(["indicator", "identity", "malware", "x-custom"])
)
def test_a_stix_object_with_any_value_in_any_property_gives_only_results(key: str, value: Any, kind: str) -> None:
    obj = {**_indicator(), "type": kind, "id": IND.replace("indicator", kind), key: value}
    (result,) = list(iter_stix(_bundle(obj)))
    assert isinstance(result, Accepted | Rejection)
    if isinstance(result, Rejection):
        assert result.reason


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(string.printable, max_size=200).map(str.encode))
def test_arbitrary_bytes_give_only_results(data: bytes) -> None:
    assert all(isinstance(result, Accepted | Rejection) for result in iter_stix(data))
