"""Person matching: names in any script, partial birth dates, nationality, sex, documents.

``PersonMatcher`` scores two persons with an explanation per feature; ``PersonIndex`` holds a
watch list in memory and finds the entries that match a query. The package imports no
framework; ``polex.matching.cli`` (the ``polex match`` command) is the one module that uses
typer. How it works and what it measures: docs/matching.md.
"""

from polex.matching.index import PersonIndex
from polex.matching.model import Candidate, FeatureExplanation, MatchResult, PersonQuery
from polex.matching.scoring import DEFAULT_THRESHOLD, PersonMatcher, PreparedPerson

__all__ = [
    "DEFAULT_THRESHOLD",
    "Candidate",
    "FeatureExplanation",
    "MatchResult",
    "PersonIndex",
    "PersonMatcher",
    "PersonQuery",
    "PreparedPerson",
]
