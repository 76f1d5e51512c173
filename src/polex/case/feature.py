"""How case records are projected and filtered."""

from __future__ import annotations

from polex.domain.base import RecordKind
from polex.domain.case import Case
from polex.domain.records import RECORD_TYPES
from polex.record.spec import Projection, RecordFeature, TermFilter


def project_case(case: Case) -> Projection:
    terms = {f"reference:{case.reference.upper()}"}
    for code in case.crime_types:
        # Every level of the code, so that ?crime_type=05 finds thefts (0502) too.
        terms |= {f"iccs:{code[:length]}" for length in (2, 4, 5, 6) if length <= len(code)}
    terms |= {f"linked:{link.id}" for link in case.links}
    return Projection(label=f"{case.reference}: {case.title}", status=case.status.value, terms=frozenset(terms))


CASE_FEATURE = RecordFeature(
    record_type=RECORD_TYPES[RecordKind.CASE],
    project=project_case,
    filters=(
        TermFilter("reference", "reference", "The owner's case number"),
        TermFilter("crime_type", "iccs", "ICCS code at any level (01, 0502, ...)"),
        TermFilter("linked_record", "linked", "Id of a record linked to the case", str.lower),
    ),
)
