"""STIX 2.1 test data for intel records, made from the OASIS examples (read in place from
/work/shared/data/stix21-oasis-schemas, never copied; see its SOURCE.md for the licence).

``marked_bundle`` is the example "indicators for C2 with a course of action" (a MITRE
identity, the Poison Ivy malware, two indicators, a course of action and the three
relationships between them), each object marked with a TLP level as a partner would send it,
plus the interoperability example's campaign, marked TLP:RED (with the TLP 1.0 marking).
``BROKEN`` is an indicator whose pattern the OASIS validator refuses."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from polex.domain.base import Tlp
from polex.domain.intel import TLP_1_MARKINGS, TLP_2_MARKINGS

EXAMPLES = Path(__file__).parents[1].parent / "shared" / "data" / "stix21-oasis-schemas" / "examples"

IDENTITY = "identity--f690c992-8e7d-4b9a-9303-3312616c0220"
MALWARE = "malware--fdd60b30-b67c-41e3-b0b9-f01faf20d111"
IP_INDICATOR = "indicator--53fe3b22-0201-47cf-85d0-97c02164528d"
HASH_INDICATOR = "indicator--a932fcc6-e032-476c-826f-cb970a5a1ade"
COURSE_OF_ACTION = "course-of-action--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
RED_CAMPAIGN = "campaign--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"
TLP_1_RED = next(identifier for identifier, tlp in TLP_1_MARKINGS.items() if tlp is Tlp.RED)

# The level each object is marked with; the three relationships are not marked.
MARKINGS: dict[str, Tlp] = {
    IDENTITY: Tlp.CLEAR,
    MALWARE: Tlp.AMBER,
    IP_INDICATOR: Tlp.GREEN,
    HASH_INDICATOR: Tlp.GREEN,
    COURSE_OF_ACTION: Tlp.AMBER_STRICT,
}

BROKEN: dict[str, Any] = {
    "type": "indicator",
    "spec_version": "2.1",
    "id": "indicator--1f3c9f66-0ad5-4a0e-9c2b-7d6f1b1c2e3a",
    "created": "2024-05-01T10:00:00.000Z",
    "modified": "2024-05-01T10:00:00.000Z",
    "name": "Unfinished pattern",
    "pattern": "[ipv4-addr:value = '203.0.113.7'",
    "pattern_type": "stix",
    "valid_from": "2024-05-01T10:00:00Z",
}


def example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return document


def example_objects() -> list[dict[str, Any]]:
    """Every object of every OASIS example, each id once (a few examples repeat an identity)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(EXAMPLES.rglob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for obj in document["objects"] if document.get("type") == "bundle" else [document]:
            found.setdefault(obj["id"], obj)
    return list(found.values())


def marked_objects() -> list[dict[str, Any]]:
    objects = copy.deepcopy(example("indicators-for-C2-with-COA.json")["objects"])
    for obj in objects:
        if obj["id"] in MARKINGS:
            obj["object_marking_refs"] = [TLP_2_MARKINGS[MARKINGS[obj["id"]]]]
    campaign = example("interop-objectmarking-test.json")
    assert campaign["id"] == RED_CAMPAIGN
    assert TLP_1_RED in campaign["object_marking_refs"]
    return [*objects, campaign]


def bundle(objects: list[dict[str, Any]], identifier: str = "bundle--63fe3b22-0201-47cf-85d0-97c02164528d") -> bytes:
    return json.dumps({"type": "bundle", "id": identifier, "objects": objects}).encode()


def marked_bundle(*, broken: bool = False) -> bytes:
    return bundle([*marked_objects(), *([BROKEN] if broken else [])])


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def instants(value: Any) -> Any:
    """STIX JSON with timestamps as instants: STIX gives trailing zeros of a fraction no
    meaning, and polex does not keep how many a producer wrote."""
    if isinstance(value, dict):
        return {key: instants(item) for key, item in value.items()}
    if isinstance(value, list):
        return [instants(item) for item in value]
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        whole, _, fraction = value.removesuffix("Z").partition(".")
        micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
        return dt.datetime.fromisoformat(whole).replace(microsecond=micro, tzinfo=dt.UTC).isoformat()
    return value
