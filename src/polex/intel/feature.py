"""How intel records (one STIX 2.1 object each) are projected, filtered, checked and restricted.

- The key is the object's STIX id: a country holds one record per object, so importing a
  bundle again quarantines its objects as duplicates instead of storing copies.
- Terms let lists filter by STIX type, TLP marking, label, pattern type, relationship type,
  name or alias, external id (ATT&CK, CVE ...), STIX id, and the ids an object refers to
  (``source_ref``, ``target_ref``, ``sighting_of_ref``, ``where_sighted_refs``,
  ``created_by_ref``, a report's ``object_refs`` ...), so that the relationships and
  sightings of an object are found from it.
- The record's handling is at least as strict as the object's TLP marking: the policy
  engine gives TLP:RED and TLP:AMBER+STRICT their effect (``polex.domain.decisions``).
- What the API stores must pass the OASIS STIX validator, as imported objects do: polex
  exports nothing the validator refuses, and one bad record must not block an export.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from polex.domain.base import Owner, Provenance, RecordKind, Restrictions, Tlp
from polex.domain.intel import GenericObject, Intel, TypedObject, strictest, tlp_of
from polex.domain.records import RECORD_TYPES
from polex.errors import FieldError, ValidationFailed
from polex.record.service import NewRecord
from polex.record.spec import TERM_SEPARATOR, Projection, RecordFeature, TermFilter, name_token, name_tokens

KEY_LENGTH = 200  # the records table's key column
_NOT_REFERENCES = frozenset({"object_marking_refs"})  # markings are handling, not what an object is about
# Punctuation in STIX names that person-name tokens keep ("Phishing: Spearphishing Link").
_NAME_PUNCTUATION = re.compile(r"[:;!?\"\[\]{}<>]")


def references(data: Mapping[str, Any]) -> set[str]:
    """The STIX ids an object (STIX JSON) refers to by its top-level ``*_ref`` and ``*_refs``
    properties, custom ones included, markings excluded."""
    found: set[str] = set()
    for name, value in data.items():
        if name in _NOT_REFERENCES:
            continue
        if name.endswith("_ref") and isinstance(value, str):
            found.add(value)
        elif name.endswith("_refs") and isinstance(value, list):
            found.update(item for item in value if isinstance(item, str))
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))


def _term(name: str, value: str) -> str | None:
    """``name:value``, or None where the value cannot be a term (it holds the separator)."""
    return None if TERM_SEPARATOR in value or not value.strip() else f"{name}:{value.strip()}"


def tlp_term(value: str) -> str:
    """How a TLP level is filtered by: ``AMBER`` for ``TLP:AMBER``, ``tlp:amber`` or ``amber``;
    TLP 1.0's WHITE is TLP 2.0's CLEAR."""
    level = value.strip().upper().removeprefix("TLP:")
    return "CLEAR" if level == "WHITE" else level


def intel_label(intel: Intel) -> str:
    """What a list shows: the type, and the name, the pattern, or what relates to what."""
    data = intel.stix.to_stix()
    name = data.get("name")
    if data["type"] == "relationship":
        about = f"{data['source_ref']} {data['relationship_type']} {data['target_ref']}"
    elif data["type"] == "sighting":
        about = f"of {data['sighting_of_ref']}"
    elif isinstance(name, str) and name.strip():
        about = name
    elif isinstance(data.get("pattern"), str):
        about = data["pattern"]
    else:
        about = intel.stix.id
    return f"{data['type']}: {' '.join(about.split())}"


def project_intel(intel: Intel) -> Projection:
    obj = intel.stix
    data = obj.to_stix()
    candidates: list[str | None] = [_term("type", obj.type), _term("stix_id", obj.id.lower())]
    tlp = obj.tlp
    if tlp is not None:
        candidates.append(_term("tlp", tlp_term(tlp.value)))
    candidates += [_term("label", label.casefold()) for label in _strings(data.get("labels"))]
    candidates += [_term("pattern_type", value.lower()) for value in _strings(data.get("pattern_type"))]
    candidates += [_term("relationship_type", value.lower()) for value in _strings(data.get("relationship_type"))]
    candidates += [_term("ref", ref.lower()) for ref in references(data)]
    names = [_NAME_PUNCTUATION.sub(" ", name) for name in (*_strings(data.get("name")), *_strings(data.get("aliases")))]
    candidates += [f"name:{token}" for token in name_tokens(names)]
    for reference in data.get("external_references") or []:
        if isinstance(reference, Mapping):
            candidates += [_term("external_id", value.upper()) for value in _strings(reference.get("external_id"))]
    # STIX ids are at most ~290 characters; the few longer than the key column are kept
    # without a key (no duplicate check) rather than refused.
    key = obj.id if len(obj.id) <= KEY_LENGTH else None
    return Projection(
        label=intel_label(intel),
        key=key,
        status="revoked" if data.get("revoked") is True else "active",
        terms=frozenset(term for term in candidates if term is not None),
    )


def restrictions_for(intel: Intel, declared: Restrictions | None) -> Restrictions:
    """The owner's restrictions with a handling at least as strict as the object's TLP
    marking; the marking alone where the owner declared no handling."""
    marked = intel.tlp
    if marked is None:
        return declared if declared is not None else Restrictions()
    if declared is None:
        return Restrictions(handling=marked)
    stated = declared.handling if "handling" in declared.model_fields_set else None
    handling = strictest([level for level in (stated, marked) if level is not None]) or marked
    return declared.model_copy(update={"handling": handling})


def check_stix(intel: Intel) -> None:
    """Refuse an object the OASIS STIX validator or the ``stix2`` library refuses, naming its
    properties (``stix.pattern``), as an import would quarantine it."""
    from polex.formats.stix import WHOLE, check_object  # the validator takes a second to load

    problems = check_object(intel.stix)
    if problems:
        errors = [
            FieldError("stix" if p.field == WHOLE else f"stix.{p.field.replace('/', '.')}", p.reason) for p in problems
        ]
        raise ValidationFailed(f"not valid STIX 2.1: {errors[0].field}: {errors[0].reason}", errors=errors)


def intel_record(
    obj: TypedObject | GenericObject, owner: Owner, *, format_name: str, tlp_markings: Mapping[str, Tlp] | None = None
) -> NewRecord:
    """An object an adapter read, as a record of ``owner``: the STIX id is its source id, its
    handling the strictest TLP level its markings stand for (``tlp_markings`` adds those the
    input defines to the published ones)."""
    level = tlp_of(obj.object_marking_refs, tlp_markings) if tlp_markings is not None else obj.tlp
    return NewRecord(
        content=Intel(stix=obj),
        owner_agency_id=owner.agency_id,
        owner_country=owner.country,
        restrictions=Restrictions(handling=level) if level is not None else None,
        provenance=Provenance(source_format=format_name, source_id=obj.id),
    )


INTEL_FEATURE = RecordFeature(
    record_type=RECORD_TYPES[RecordKind.INTEL],
    project=project_intel,
    filters=(
        TermFilter("stix_type", "type", "STIX type: indicator, threat-actor, relationship, sighting ...", str.lower),
        TermFilter("stix_id", "stix_id", "The STIX id (type--UUID) of the object", str.lower),
        TermFilter("refers_to", "ref", "A STIX id the object refers to (source_ref, target_ref, ...)", str.lower),
        TermFilter("tlp", "tlp", "The TLP marking the object carries: clear, green, amber, red ...", tlp_term),
        TermFilter("label", "label", "One of the object's labels", str.casefold),
        TermFilter("pattern_type", "pattern_type", "An indicator's pattern language: stix, yara, sigma ...", str.lower),
        TermFilter("relationship_type", "relationship_type", "A relationship's type: indicates, uses ...", str.lower),
        TermFilter("name", "name", "One token of the name or an alias, any script or its ASCII form", name_token),
        TermFilter("external_id", "external_id", "An external reference's id: T1566.001, CVE-2021-44228 ..."),
    ),
    check_content=check_stix,
    restrictions_for=restrictions_for,
)
