"""What one owner is shown of a correlation: its own side, and the other record exactly as
the policy engine decides for that owner and the purpose declared (``polex.domain.decisions``).

- ``full``: the other record, and the explanation with its detail (which name forms, which
  dates matched: both records' content);
- ``redacted``: the record without the withheld fields, and the explanation's feature
  scores without detail, less the features of withheld fields (a birth-date agreement of
  1.0 would tell a withheld birth date);
- ``hit_only``: the other record's reference, kind and owner (whom to contact) and the
  score; no explanation;
- ``none``: nothing: the caller is not shown the correlation at all.

The other owner's answer (confirmed, dismissed) is shown, never its note: a note may quote
its record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from polex.domain.decisions import Decision, Outcome, apply_decision

# The matcher's features, and the person fields each reads.
FEATURE_FIELDS = {
    "name": "names",
    "birth_date": "birth_dates",
    "nationality": "nationalities",
    "sex": "sex",
    "identifiers": "identifiers",
}


@dataclass(frozen=True)
class Side:
    """One record of a pair and what its owner said of the correlation."""

    record_id: str
    kind: str
    agency_id: str
    country: str
    status: str
    note: str | None = None
    answered_at: dt.datetime | None = None

    def reference(self) -> dict[str, Any]:
        return {
            "id": self.record_id,
            "kind": self.kind,
            "owner": {"agency_id": self.agency_id, "country": self.country},
        }


def person_path(kind: str, field: str) -> str:
    """Where a person field lies in a record of this kind (a notice holds its subject)."""
    return f"subject.{field}" if kind == "notice" else field


def _withheld(path: str, removed_fields: Sequence[str]) -> bool:
    """The path is removed, lies inside a removed field, or holds a removed field."""
    return any(
        removed == path or path.startswith(removed + ".") or removed.startswith(path + ".")
        for removed in removed_fields
    )


def shown_explanation(explanation: Sequence[Mapping[str, Any]], decision: Decision, kind: str) -> list[dict[str, Any]]:
    """The stored explanation as far as the decision on the other record lets it go."""
    if decision.outcome is Outcome.FULL:
        return [dict(feature) for feature in explanation]
    if decision.outcome is not Outcome.REDACTED:
        return []
    shown = []
    for feature in explanation:
        field = FEATURE_FIELDS.get(str(feature.get("feature")))
        # A feature of no known field is withheld: deny what is not understood.
        if field is None or _withheld(person_path(kind, field), decision.removed_fields):
            continue
        shown.append({"feature": feature["feature"], "score": feature["score"], "weight": feature["weight"]})
    return shown


def correlation_view(
    *,
    correlation_id: str,
    score: float,
    explanation: Sequence[Mapping[str, Any]],
    created_at: dt.datetime,
    updated_at: dt.datetime,
    closed_at: dt.datetime | None,
    closed_reason: str | None,
    mine: Side,
    other: Side,
    decision: Decision,
    other_record: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """The correlation as its owner ``mine`` may see it, or None when the decision on the
    other record is ``none``. ``other_record``: the other record's JSON form before the policy,
    None when it is no longer live (withdrawn): then only its reference is shown, whatever
    the decision allowed of its content."""
    if not decision.visible:
        return None
    withdrawn = other_record is None
    if other_record is None:
        decision = Decision(Outcome.HIT_ONLY, decision.rules, consult_owner=decision.consult_owner)
        other_record = other.reference()
    shown = apply_decision(other_record, decision)
    if shown is None:  # not reached: the decision is visible
        return None
    return {
        "id": correlation_id,
        "score": round(score, 4),
        "explanation": shown_explanation(explanation, decision, other.kind),
        "created_at": created_at.isoformat(),
        "updated_at": updated_at.isoformat(),
        "closed_at": closed_at.isoformat() if closed_at else None,
        "closed_reason": closed_reason,
        "status": mine.status,
        "note": mine.note,
        "answered_at": mine.answered_at.isoformat() if mine.answered_at else None,
        "record": mine.reference(),
        "other": {
            "access": decision.outcome.value,
            "owner": {"agency_id": other.agency_id, "country": other.country},
            "consult_owner": decision.consult_owner,
            "status": other.status,
            "withdrawn": withdrawn,
            "record": shown,
        },
    }
