"""Pure rules of correlation: which two records make a pair, how a pair is scored, and what
a change of one record does to the correlations it is part of. No storage, no policy.

A pair is unordered: ``pair_key`` orders the two record ids, so one pair has one
correlation whichever record changed. The matcher is asymmetric (a name part the query
lacks costs more than one the candidate lacks: "John Smith" finds "John Michael Smith" at
0.87, the other way round at 0.71), so a pair is scored both ways, for every birth date each
record holds, and keeps the best: the score does not depend on which record changed last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from polex.matching.model import FeatureExplanation
from polex.matching.scoring import DEFAULT_THRESHOLD, PersonMatcher, PreparedPerson

THRESHOLD = DEFAULT_THRESHOLD  # the matcher's own: a pair at or above it is a correlation


class SideStatus(StrEnum):
    """What one owner said of a correlation."""

    OPEN = "open"
    CONFIRMED = "confirmed"  # the same person
    DISMISSED = "dismissed"  # not the same person


class ClosedReason(StrEnum):
    WITHDRAWN = "withdrawn"  # one of the records was withdrawn by its owner
    PURGED = "purged"  # one of the records reached the end of its retention
    NO_LONGER_MATCHES = "no_longer_matches"  # a change took the pair below the threshold


def pair_key(first: str, second: str) -> tuple[str, str]:
    """The two record ids of a pair in their stored order (side a, side b)."""
    if first == second:
        raise ValueError("a record is not paired with itself")
    return (first, second) if first < second else (second, first)


@dataclass(frozen=True)
class PairScore:
    score: float
    explanation: tuple[FeatureExplanation, ...]
    query_id: str  # whose record was the query of the best comparison (the detail reads "query vs candidate")

    def explanation_json(self) -> list[dict[str, Any]]:
        return [
            {
                "feature": feature.feature,
                "score": round(feature.score, 4),
                "weight": round(feature.weight, 4),
                "detail": feature.detail,
            }
            for feature in self.explanation
        ]


def score_pair(
    matcher: PersonMatcher,
    first_id: str,
    first: Sequence[PreparedPerson],
    second_id: str,
    second: Sequence[PreparedPerson],
) -> PairScore | None:
    """The best score of the two records, both ways and over every birth-date entry of each;
    None when either has nothing the matcher can read. The same for (first, second) and
    (second, first): the comparisons run in ``pair_key`` order, and a tie keeps the first."""
    if not first or not second:
        return None
    (a_id, a), (b_id, b) = sorted(((first_id, first), (second_id, second)), key=lambda side: side[0])
    best: PairScore | None = None
    for query_id, queries, candidates in ((a_id, a, b), (b_id, b, a)):
        for query in queries:
            for candidate in candidates:
                result = matcher.score(query, candidate)
                if best is None or result.score > best.score:
                    best = PairScore(result.score, result.explanation, query_id)
    return best


@dataclass(frozen=True)
class Existing:
    """A stored correlation of the changed record, as a refresh needs it."""

    id: str
    other_id: str
    closed: bool


@dataclass
class Plan:
    """What one record's change does: correlations to raise (by the other record's id), to
    reopen, to refresh (still matching: new score and explanation), and to close."""

    raise_with: list[str] = field(default_factory=list)
    reopen: list[str] = field(default_factory=list)
    refresh: list[str] = field(default_factory=list)
    close: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.raise_with or self.reopen or self.refresh or self.close)


def plan_refresh(matches: Mapping[str, PairScore], scored: Iterable[str], existing: Sequence[Existing]) -> Plan:
    """The changed record's correlations after its change. ``matches``: the other records now
    at or above the threshold, by id; ``scored``: every other record the pair was scored with
    (the matches among them). A stored correlation whose other record was scored and no longer
    matches is closed; one not scored (another process raised it meanwhile) is left alone. A
    closed correlation that matches again is reopened, its owners' answers kept."""
    scored_ids = set(scored) | set(matches)
    plan = Plan()
    known: set[str] = set()
    for correlation in existing:
        known.add(correlation.other_id)
        if correlation.other_id in matches:
            (plan.reopen if correlation.closed else plan.refresh).append(correlation.id)
        elif not correlation.closed and correlation.other_id in scored_ids:
            plan.close.append(correlation.id)
    plan.raise_with = sorted(other for other in matches if other not in known)
    return plan


def to_close(existing: Sequence[Existing]) -> list[str]:
    """A record withdrawn or purged: every open correlation it is part of closes."""
    return [correlation.id for correlation in existing if not correlation.closed]
