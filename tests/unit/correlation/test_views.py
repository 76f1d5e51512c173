"""What an owner is shown of a correlation: the other record as the engine decides, the
explanation no further than that decision, nothing at all when the decision is none. The
property test draws policies (agreements at every level, field sets, national rules,
owners' restrictions) and checks that no withheld field ever reaches the viewer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polex.correlation.views import Side, correlation_view, shown_explanation
from polex.domain.decisions import (
    AgreementState,
    Decision,
    Outcome,
    PolicySet,
    RecordFacts,
    Requester,
    decide,
)
from polex.domain.policy import AccessLevel, Agreement, AgreementKind, DataCategory, NationalRules, Purpose

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
OWNER_AGENCY = "agency-ukr"
SECRET_NOTE = "our subject was born in Lviv, not Kyiv"  # the other owner's note: never shown
EXPLANATION = [
    {"feature": "name", "score": 1.0, "weight": 1.0, "detail": "'Олексій Коваленко' vs 'Oleksii Kovalenko'"},
    {"feature": "birth_date", "score": 1.0, "weight": 0.05, "detail": "exact: 1981-05-14 / 1981-05-14"},
    {"feature": "nationality", "score": 1.0, "weight": 0.02, "detail": "both UKR"},
    {"feature": "sex", "score": 1.0, "weight": 0.0, "detail": "both M"},
    {"feature": "identifiers", "score": 0.0, "weight": 0.0, "detail": "not known on both sides"},
]
PERSON = {
    "names": [{"full": "Олексій Коваленко", "kind": "primary"}],
    "sex": "male",
    "birth_dates": ["1981-05-14"],
    "birth_place": {"place": "Київ", "country": "UKR"},
    "nationalities": ["UKR"],
    "identifiers": [{"kind": "passport", "value": "FE123456", "country": "UKR"}],
    "physical": {"height_cm": 180},
    "languages": ["ukr"],
    "deceased": False,
    "health": "needs insulin",
    "biometrics": [{"modality": "fingerprints", "reference": "UKR-TCN-1"}],
    "remarks": "armed",
}
PERSON_FIELDS = list(PERSON)
NOTICE_FIELDS = ["notice_type", "subject", "summary", "offences", "legal_basis"]


def record(kind: str) -> dict[str, Any]:
    content: dict[str, Any] = (
        dict(PERSON)
        if kind == "person"
        else {
            "notice_type": "red",
            "subject": dict(PERSON),
            "summary": "armed robbery",
            "offences": ["0401"],
            "legal_basis": "warrant 12/2025",
        }
    )
    original = "names/0/full" if kind == "person" else "subject/names/0/full"
    return {
        **content,
        "id": "record-ukr",
        "kind": kind,
        "owner": {"agency_id": OWNER_AGENCY, "country": "UKR"},
        "restrictions": {},
        "provenance": {"source_format": "api", "original_values": {original: "ОЛЕКСІЙ КОВАЛЕНКО"}},
        "version": 1,
    }


def view(decision: Decision, kind: str, *, withdrawn: bool = False) -> dict[str, Any] | None:
    mine = Side("record-fra", "person", "agency-fra", "FRA", "open")
    other = Side("record-ukr", kind, OWNER_AGENCY, "UKR", "dismissed", SECRET_NOTE, NOW)
    return correlation_view(
        correlation_id="correlation-1",
        score=0.97,
        explanation=EXPLANATION,
        created_at=NOW,
        updated_at=NOW,
        closed_at=None,
        closed_reason=None,
        mine=mine,
        other=other,
        decision=decision,
        other_record=None if withdrawn else record(kind),
    )


def at_path(value: Any, path: list[str]) -> bool:
    """Whether ``path`` (dotted, through lists) holds anything in ``value``."""
    if isinstance(value, list):
        return any(at_path(item, path) for item in value)
    if not isinstance(value, dict) or path[0] not in value:
        return False
    return True if len(path) == 1 else at_path(value[path[0]], path[1:])


def test_in_full_the_explanation_keeps_its_detail() -> None:
    shown = view(Decision(Outcome.FULL, ()), "person")
    assert shown is not None
    assert shown["explanation"] == EXPLANATION
    assert shown["other"]["record"]["biometrics"] == PERSON["biometrics"]


def test_redacted_the_explanation_loses_its_detail_and_the_withheld_fields_features() -> None:
    decision = Decision(Outcome.REDACTED, (), removed_fields=("birth_dates", "biometrics"))
    shown = view(decision, "person")
    assert shown is not None
    assert [feature["feature"] for feature in shown["explanation"]] == ["name", "nationality", "sex", "identifiers"]
    assert all("detail" not in feature for feature in shown["explanation"])
    assert "birth_dates" not in shown["other"]["record"]


def test_a_notices_subject_is_where_its_person_fields_are() -> None:
    decision = Decision(Outcome.REDACTED, (), removed_fields=("subject.names",))
    assert [f["feature"] for f in shown_explanation(EXPLANATION, decision, "notice")] == [
        "birth_date",
        "nationality",
        "sex",
        "identifiers",
    ]
    assert shown_explanation(EXPLANATION, Decision(Outcome.REDACTED, (), ("subject",)), "notice") == []
    # Withholding a field inside the names withholds the name feature too.
    assert "name" not in {
        f["feature"] for f in shown_explanation(EXPLANATION, Decision(Outcome.REDACTED, (), ("names.full",)), "person")
    }


def test_a_feature_of_no_known_field_is_withheld() -> None:
    unknown = [{"feature": "tattoos", "score": 1.0, "weight": 0.1, "detail": "both: dragon"}]
    assert shown_explanation(unknown, Decision(Outcome.REDACTED, (), ("health",)), "person") == []


def test_hit_only_shows_the_reference_owner_and_score() -> None:
    shown = view(Decision(Outcome.HIT_ONLY, ()), "person")
    assert shown is not None
    assert set(shown["other"]["record"]) == {"id", "kind", "owner", "access"}
    assert shown["explanation"] == []
    assert shown["score"] == 0.97


def test_a_withdrawn_record_is_shown_as_its_reference_only() -> None:
    shown = view(Decision(Outcome.FULL, ()), "person", withdrawn=True)
    assert shown is not None
    assert shown["other"]["withdrawn"] is True
    assert shown["other"]["access"] == "hit_only"
    assert set(shown["other"]["record"]) == {"id", "kind", "owner", "access"}


def test_nothing_is_shown_when_the_decision_is_none() -> None:
    assert view(Decision(Outcome.NONE, ()), "person") is None


# -- the property ------------------------------------------------------------------------------

WITHHOLDABLE = [
    "biometrics",
    "health",
    "person.names",
    "person.birth_dates",
    "person.identifiers",
    "notice.subject.names",
    "notice.subject.birth_dates",
    "notice.summary",
]
FIELD_SETS = [f"person.{name}" for name in PERSON_FIELDS] + [f"notice.{name}" for name in NOTICE_FIELDS]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[PolicySet, Requester, RecordFacts]:
    kind = draw(st.sampled_from(["person", "notice"]))
    viewer_country = draw(st.sampled_from(["FRA", "GRC", "UKR"]))
    purpose = draw(st.sampled_from([Purpose.CRIMINAL_INVESTIGATION, Purpose.BORDER_CONTROL]))
    agreements = []
    for number in range(draw(st.integers(0, 3))):
        level = draw(st.sampled_from([AccessLevel.FULL, AccessLevel.FIELDS, AccessLevel.FIELDS, AccessLevel.HIT_ONLY]))
        fields = (
            draw(st.lists(st.sampled_from([f for f in FIELD_SETS if f.startswith(kind)]), min_size=1, unique=True))
            if level is AccessLevel.FIELDS
            else []
        )
        agreement = Agreement(
            id=f"agreement-{number}",
            title="treaty",
            kind=AgreementKind.BILATERAL_TREATY,
            parties=["UKR", draw(st.sampled_from(["FRA", "GRC"]))],
            categories=[DataCategory.PERSONS, DataCategory.NOTICES],
            purposes=draw(st.sampled_from([[purpose], [purpose, Purpose.PROSECUTION], [Purpose.MISSING_PERSONS]])),
            level=level,
            fields=fields,
            valid_from=dt.date(2024, 1, 1),
            legal_reference="treaty, art. 1",
        )
        agreements.append(AgreementState(agreement, 1, frozenset(agreement.parties)))
    never = draw(st.lists(st.sampled_from(WITHHOLDABLE), min_size=draw(st.sampled_from([0, 1, 1])), unique=True))
    rules = {"UKR": NationalRules(country="UKR", never_shared=never, legal_reference="law")} if never else {}
    # Mostly unrestricted, so that every outcome is drawn often.
    others = st.sampled_from([[], [], [], [], ["FRA"], ["GRC"], ["FRA", "GRC"]])
    restrictions: dict[str, Any] = {
        "handling": draw(st.sampled_from(["TLP:GREEN", "TLP:AMBER", "TLP:AMBER", "TLP:RED"])),
        "excluded_countries": draw(others),
        "hit_only_countries": draw(others),
        "allowed_countries": draw(st.sampled_from([None, None, None, ["FRA"], ["GRC"], ["FRA", "GRC"]])),
        "consult_owner": draw(st.booleans()),
    }
    policy = PolicySet(agreements=tuple(agreements), national_rules=rules)
    requester = Requester(agency_id=f"agency-{viewer_country.lower()}", country=viewer_country, purpose=purpose)
    return policy, requester, RecordFacts(kind, OWNER_AGENCY, "UKR", restrictions)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_viewer_never_receives_what_the_engine_withholds(scenario: tuple[PolicySet, Requester, RecordFacts]) -> None:
    policy, requester, facts = scenario
    # What the service renders with (the compiled path), checked against the reference path.
    decision = policy.snapshot(NOW).for_requester(requester).decide(facts)
    reference = decide(policy, requester, facts, NOW)
    assert (decision.outcome, decision.removed_fields) == (reference.outcome, reference.removed_fields)
    shown = view(decision, facts.kind)
    if reference.outcome is Outcome.NONE:
        assert shown is None
        return
    assert shown is not None
    assert SECRET_NOTE not in orjson.dumps(shown).decode()
    assert shown["other"]["access"] == reference.outcome.value
    assert shown["record"] == {
        "id": "record-fra",
        "kind": "person",
        "owner": {"agency_id": "agency-fra", "country": "FRA"},
    }
    other = shown["other"]["record"]
    explanation = shown["explanation"]
    if reference.outcome is Outcome.HIT_ONLY:
        assert set(other) == {"id", "kind", "owner", "access"}
        assert explanation == []
        return
    for path in reference.removed_fields:
        assert not at_path(other, path.split(".")), path
    if reference.outcome is Outcome.REDACTED:
        assert all("detail" not in feature for feature in explanation)
        prefix = "subject." if facts.kind == "notice" else ""
        fields = {"name": "names", "birth_date": "birth_dates", "nationality": "nationalities", "sex": "sex"}
        fields["identifiers"] = "identifiers"
        for feature in explanation:
            path = prefix + fields[feature["feature"]]
            assert not any(
                removed == path or path.startswith(removed + ".") or removed.startswith(path + ".")
                for removed in reference.removed_fields
            )
        # The originals of withheld fields go with them.
        names = prefix + "names"
        if any(names == removed or names.startswith(removed + ".") for removed in reference.removed_fields):
            assert other["provenance"]["original_values"] == {}
