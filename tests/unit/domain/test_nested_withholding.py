"""National rules that reach inside a record: a notice's subject is a person, and what the
owner country's law never sends abroad of a person (health, biometrics, or any field path
inside a field) is taken out of the subject while the rest of the notice is shared. Both
evaluations name the same nested paths; what leaves the node holds nothing under them."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polex.domain.decisions import Decision, Outcome, apply_decision, without_fields
from polex.domain.policy import NationalRules, check_field_path
from tests.unit.domain.test_policy_engine import (
    FROM_KYIV,
    approved,
    assert_only_removed,
    cites,
    codes,
    french_record,
    judge,
    leaves,
    make_agreement,
    policy,
    stored_record,
    under,
)

NOTICES = make_agreement(id="fra-ukr-notices", categories=["notices", "persons"], level="full")
NOTICE = french_record(kind="notice")
PERSON = french_record(kind="person")
NOTICE_RECORD = stored_record("notice")
PERSON_RECORD = stored_record("person")


def law(*never: str) -> NationalRules:
    return NationalRules(country="FRA", never_shared=list(never), legal_reference="Loi 78-17, art. 88")


def decided(*never: str, agreement: Any = NOTICES, facts: Any = NOTICE) -> Decision:
    return judge(policy(approved(agreement), laws=[law(*never)]), FROM_KYIV, facts)


def test_special_categories_are_taken_out_of_a_notices_subject() -> None:
    decision = decided("health", "biometrics")
    assert decision.outcome is Outcome.REDACTED
    assert decision.removed_fields == ("subject.health", "subject.biometrics")
    assert codes(decision) == ["agreement.full", "national.never_shared"]
    assert cites(decision, "national.never_shared", "Loi 78-17, art. 88")
    assert decision.rules[-1].text == "the law of FRA never sends abroad: subject.health, subject.biometrics"
    # The same law on a person record: the top-level fields, as before.
    assert decided("health", "biometrics", facts=PERSON).removed_fields == ("health", "biometrics")


def test_what_leaves_is_the_notice_without_its_subjects_special_categories() -> None:
    before = copy.deepcopy(NOTICE_RECORD)
    decision = decided("health", "biometrics")
    shown = apply_decision(NOTICE_RECORD, decision)
    assert shown is not None
    assert "health" not in shown["subject"]
    assert "biometrics" not in shown["subject"]
    assert shown["subject"] == {
        name: value for name, value in NOTICE_RECORD["subject"].items() if name not in ("health", "biometrics")
    }
    for name in set(NOTICE_RECORD) - {"subject", "provenance"}:
        assert shown[name] == NOTICE_RECORD[name]
    assert shown["provenance"]["original_values"] == {
        "subject/names/0/full": "ivan petrovich sokolov",
        "subject/physical/marks/0/location": "Left arm ",
        "offences/0/law": "criminal code art 115",
    }
    assert shown["access"]["outcome"] == "redacted"
    assert shown["access"]["removed_fields"] == ["subject.health", "subject.biometrics"]
    assert before == NOTICE_RECORD  # the stored record, and its nested objects, are left as they were


def test_a_field_path_inside_a_field_is_of_that_kind_only() -> None:
    assert decided("notice.subject.identifiers").removed_fields == ("subject.identifiers",)
    assert decided("notice.subject.identifiers", facts=PERSON).outcome is Outcome.FULL
    # 'person.health' names the person record's field; a notice's subject is reached by its own path.
    assert decided("person.health").outcome is Outcome.FULL


def test_a_path_through_a_list_is_taken_from_every_element() -> None:
    decision = decided("notice.offences.law", "notice.subject.physical.marks")
    assert decision.removed_fields == ("subject.physical.marks", "offences.law")  # in the models' order
    shown = apply_decision(NOTICE_RECORD, decision)
    assert shown is not None
    assert all("law" not in offence for offence in shown["offences"])
    assert [offence["iccs"] for offence in shown["offences"]] == [o["iccs"] for o in NOTICE_RECORD["offences"]]
    assert "marks" not in shown["subject"]["physical"]
    assert shown["subject"]["physical"]["height_cm"] == 182
    assert "offences/0/law" not in shown["provenance"]["original_values"]
    person = apply_decision(PERSON_RECORD, decided("person.names.full", facts=PERSON))
    assert person is not None
    assert all("full" not in name for name in person["names"])
    assert person["names"][0]["family"] == PERSON_RECORD["names"][0]["family"]
    assert "names/0/full" not in person["provenance"]["original_values"]


def test_only_the_outermost_of_nested_paths_is_named() -> None:
    decision = decided("notice.subject.physical.height_cm", "notice.subject.physical", "biometrics")
    assert decision.removed_fields == ("subject.physical", "subject.biometrics")


def test_nothing_is_named_inside_a_field_withheld_whole() -> None:
    decision = decided("health", "notice.subject", "notice.subject.biometrics")
    assert decision.removed_fields == ("subject",)
    assert decision.rules[-1].text == "the law of FRA never sends abroad: subject"


def test_top_level_fields_come_first_then_nested_ones() -> None:
    decision = decided("notice.subject.biometrics", "notice.summary", "health")
    assert decision.removed_fields == ("summary", "subject.health", "subject.biometrics")


def test_with_a_field_set_the_law_acts_inside_the_fields_shared() -> None:
    shared = ["notice.notice_type", "notice.subject", "notice.offences", "person.names"]
    fields = make_agreement(id="fra-ukr-fields", categories=["notices", "persons"], level="fields", fields=shared)
    decision = decided("health", agreement=fields)
    assert decision.removed_fields[-1] == "subject.health"
    assert "subject" not in decision.removed_fields
    assert codes(decision) == ["agreement.fields", "agreement.fields", "national.never_shared"]
    # The subject is not shared at all: the law has nothing left to take, and is not cited.
    without_subject = make_agreement(
        id="fra-ukr-offences", categories=["notices"], level="fields", fields=["notice.offences"]
    )
    decision = decided("health", agreement=without_subject)
    assert "subject" in decision.removed_fields
    assert not [name for name in decision.removed_fields if "." in name]
    assert codes(decision) == ["agreement.fields", "agreement.fields"]


@pytest.mark.parametrize(
    ("never", "removed"),
    [
        (["notice.subject.health"], ["subject.health"]),
        (["biometrics", "genetic"], ["subject.biometrics"]),
        (["religion", "ethnicity"], []),
    ],
)
def test_outcome_is_redacted_exactly_when_something_is_removed(never: list[str], removed: list[str]) -> None:
    decision = decided(*never)
    assert list(decision.removed_fields) == removed
    assert decision.outcome is (Outcome.REDACTED if removed else Outcome.FULL)


# -- properties ----------------------------------------------------------------------------


def _name_paths(value: Any) -> set[str]:
    """Every dotted path of field names (list indices skipped) in a record's content."""
    found: set[str] = set()
    for path in leaves(value):
        names = [part for part in path if isinstance(part, str)]
        found.update(".".join(names[: depth + 1]) for depth in range(len(names)))
    return found


def _valid(path: str) -> bool:
    try:
        check_field_path(path)
    except ValueError:
        return False
    return True


ENVELOPE = ("id", "kind", "schema", "owner", "restrictions", "provenance", "created_at", "updated_at", "version")
NOTICE_PATHS = sorted(
    path
    for path in (
        f"notice.{name}" for name in _name_paths({k: v for k, v in NOTICE_RECORD.items() if k not in ENVELOPE})
    )
    if _valid(path)
)
CATEGORIES = ["health", "biometrics", "genetic", "religion"]


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(never=st.lists(st.sampled_from(NOTICE_PATHS + CATEGORIES), min_size=1, max_size=6, unique=True))
def test_nothing_under_a_path_the_law_names_leaves_and_nothing_else_is_removed(never: list[str]) -> None:
    rules = law(*never)
    decision = judge(policy(approved(NOTICES), laws=[rules]), FROM_KYIV, NOTICE)
    named = [path.removeprefix("notice.") for path in rules.withheld_fields() if path.startswith("notice.")]
    shown = apply_decision(NOTICE_RECORD, decision)
    assert shown is not None
    # The decision names the outermost of the paths the law names; applied, they remove
    # exactly what lies under any of them.
    for field in named:
        assert any(field == path or field.startswith(f"{path}.") for path in decision.removed_fields)
    assert all(path in named for path in decision.removed_fields)
    assert_only_removed(NOTICE_RECORD, shown, named)
    assert decision.outcome is (Outcome.REDACTED if decision.removed_fields else Outcome.FULL)


# Arbitrary JSON with a small vocabulary of keys, so that removed paths often meet it.
KEYS = st.sampled_from(["a", "b", "c", "subject", "health"])
JSON = st.recursive(
    st.none() | st.integers(-3, 3) | st.text("xyz", max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=25,
)
PATHS = st.lists(KEYS, min_size=1, max_size=3).map(".".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(content=st.dictionaries(KEYS, JSON, max_size=5), removed=st.lists(PATHS, max_size=4, unique=True))
def test_removal_takes_every_leaf_under_a_path_and_no_other(content: dict[str, Any], removed: list[str]) -> None:
    before = copy.deepcopy(content)
    shown = without_fields(content, removed)
    assert content == before  # nothing shared with the stored record is changed
    assert_only_removed(content, shown, removed)


@settings(max_examples=200, deadline=None, database=None)
@given(removed=st.lists(PATHS, min_size=1, max_size=4, unique=True), keys=st.lists(PATHS, max_size=6, unique=True))
def test_original_values_under_a_removed_path_go_with_it(removed: list[str], keys: list[str]) -> None:
    originals = {key.replace(".", "/0/", 1).replace(".", "/"): "as received" for key in keys}
    record = {"id": "x", "provenance": {"source_format": "api", "original_values": originals}}
    shown = apply_decision(record, Decision(Outcome.REDACTED, (), tuple(removed)))
    assert shown is not None
    assert shown["provenance"]["original_values"] == {
        key: value
        for key, value in originals.items()
        if not under(tuple(int(part) if part.isdigit() else part for part in key.split("/")), removed)
    }
