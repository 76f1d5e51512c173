"""How person records are projected for lists and filtered."""

from __future__ import annotations

from polex.domain.base import RecordKind
from polex.domain.dates import parse_partial_date
from polex.domain.person import Person
from polex.domain.records import RECORD_TYPES
from polex.record.spec import Projection, RecordFeature, TermFilter, name_token, name_tokens


def project_person(person: Person) -> Projection:
    terms = {f"name:{token}" for token in name_tokens(name.full for name in person.names)}
    terms |= {f"nationality:{code}" for code in person.nationalities}
    terms |= {f"born:{parse_partial_date(date)[0]}" for date in person.birth_dates}
    terms.add(f"sex:{person.sex.value.upper()}")
    terms |= {f"id:{identifier.value.upper()}" for identifier in person.identifiers}
    return Projection(label=person.primary_name.full, status=None, terms=frozenset(terms))


PERSON_FEATURE = RecordFeature(
    record_type=RECORD_TYPES[RecordKind.PERSON],
    project=project_person,
    filters=(
        TermFilter("name", "name", "One name token, any script or its ASCII transliteration", name_token),
        TermFilter("nationality", "nationality", "ISO 3166-1 alpha-3"),
        TermFilter("birth_year", "born", "Year of a known or claimed birth date"),
        TermFilter("sex", "sex", "male, female, unspecified or unknown"),
        TermFilter("identifier", "id", "The value of any identifier"),
    ),
)
