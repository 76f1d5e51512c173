"""Person scores: the best name comparison, then birth date, nationality, sex and identifiers.

The score starts at the best name score over every pair of the two persons' names
(``alignment``), then each other feature adds or removes a few points: agreement supports a
match a little, a conflict removes more, a missing value changes nothing. Identifiers are
the exception: the same document number adds a lot, since names alone cannot say as much.
The total is clipped to [0, 1]; ``match`` is ``score >= threshold``.

Dates are graded rather than equal or not, because watch lists record approximations
(a year only), and clerks and OCR swap digits, days and months:

========================  ==============================================  ===========
agreement                 example                                         points
========================  ==============================================  ===========
exact                     1980-03-07 / 1980-03-07                         +0.05
same year-month / year    1980-03 / 1980-03, 1980 / 1980                  +0.03/+0.02
compatible                1980 / 1980-03-07 (one is less precise)         +0.02
near                      one year apart, one digit wrong (dates with a   -0.03
                          month), day and month swapped, same month but
                          another day
same year                 1980-03-07 / 1980-11-02                         -0.06
conflict, approximate     1980 / 1984 (a year-only date, five years or    -0.10
                          less apart)
conflict                  1980 / 1991, 1980-03 / 1983-06                  -0.20
firm conflict             1980-03-07 / 1981-06-20 (two full dates)        -0.30
========================  ==============================================  ===========

A 1 January date counts as a year only: lists record "born in 1958" as 1958-01-01 so often
that the day and month say nothing. Two full dates that disagree beyond a typo are strong
evidence of two people, which is what keeps namesakes (common in any large list) apart.

Two rules keep conflicting evidence off the threshold (``settle``):

- *A name does not outvote an unconfirmed conflict.* A firm conflict (birth dates of other
  months or years, beyond a near miss or an approximate year; no nationality in common;
  another sex) that no other feature confirms (no agreeing date, no nationality in common, no
  shared or near document number) makes the features cost at least ``UNCONFIRMED_CONFLICT``
  (0.25) in all: more than the 0.20 between a perfect name and the default threshold, so such
  a candidate scores at most 0.75. With a confirmation, each conflict costs its own points
  (an exact name, the same nationality and a birth year nine years off: 0.819).
- *Conflicts break ties against the match.* Every feature that speaks against a candidate
  costs ``CONFLICT_TIE_BREAK`` (0.001) more than its points. Round name scores and the points
  are multiples of 0.005, so round combinations would otherwise land exactly on round
  thresholds (0.85 + 0.05 - 0.10 = 0.80); with one to four conflicts the total is never a
  multiple of 0.005 (0.799 there), and it falls just below instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from polex.matching.alignment import BatchAlignment, CandidateBatch, Pair, PairReason, QueryName, align, align_batch
from polex.matching.model import FeatureExplanation, MatchResult, PersonQuery
from polex.matching.names import SYMBOL_IDS, NameToken, PreparedName, prepare_name

# Chosen from the quality benchmark (benchmarks/person_match_quality.py, docs/matching.md).
DEFAULT_THRESHOLD = 0.8


class DateAgreement(StrEnum):
    UNKNOWN = "unknown"
    EXACT = "exact"
    SAME_MONTH = "same year-month"
    SAME_YEAR_ONLY = "same year"
    COMPATIBLE = "compatible"
    NEAR = "near"
    SAME_YEAR = "same year, other month"
    APPROXIMATE_CONFLICT = "conflict (approximate date)"
    CONFLICT = "conflict"
    FIRM_CONFLICT = "conflict (two full dates)"


DATE_POINTS: dict[DateAgreement, float] = {
    DateAgreement.UNKNOWN: 0.0,
    DateAgreement.EXACT: 0.05,
    DateAgreement.SAME_MONTH: 0.03,
    DateAgreement.SAME_YEAR_ONLY: 0.02,
    DateAgreement.COMPATIBLE: 0.02,
    DateAgreement.NEAR: -0.03,
    DateAgreement.SAME_YEAR: -0.06,
    DateAgreement.APPROXIMATE_CONFLICT: -0.10,
    DateAgreement.CONFLICT: -0.20,
    DateAgreement.FIRM_CONFLICT: -0.30,
}
DATE_SCORES: dict[DateAgreement, float] = {
    DateAgreement.UNKNOWN: 0.0,
    DateAgreement.EXACT: 1.0,
    DateAgreement.SAME_MONTH: 1.0,
    DateAgreement.SAME_YEAR_ONLY: 1.0,
    DateAgreement.COMPATIBLE: 1.0,
    DateAgreement.NEAR: 0.7,
    DateAgreement.SAME_YEAR: 0.5,
    DateAgreement.APPROXIMATE_CONFLICT: 0.2,
    DateAgreement.CONFLICT: 0.0,
    DateAgreement.FIRM_CONFLICT: 0.0,
}
APPROXIMATE_YEARS = 5
_NO_CODES: frozenset[str] = frozenset()  # shared: a new empty frozenset costs 216 bytes
NATIONALITY_AGREES = 0.02
NATIONALITY_CONFLICT = -0.10
SEX_CONFLICT = -0.20
IDENTIFIER_MATCH = 0.30
IDENTIFIER_NEAR = 0.10
IDENTIFIER_CONFLICT = -0.05
# Date disagreements that count as conflicts for the rule on unconfirmed conflicts; a near
# miss (a typo, a year off) and an approximate year (a listed estimate) do not.
FIRM_DATE_CONFLICTS = frozenset({DateAgreement.SAME_YEAR, DateAgreement.CONFLICT, DateAgreement.FIRM_CONFLICT})
# What conflicts no other feature confirms cost at least, in all: more than the margin of a
# perfect name over DEFAULT_THRESHOLD (1.00 - 0.80), so that the name alone never carries them.
UNCONFIRMED_CONFLICT = 0.25
# What every feature speaking against a candidate costs beyond its points: a tie-break that keeps
# conflicted totals off the multiples of 0.005 that round names and points land on.
CONFLICT_TIE_BREAK = 0.001


@dataclass(frozen=True, slots=True)
class BirthDate:
    year: int
    month: int | None
    day: int | None

    @classmethod
    def parse(cls, text: str) -> BirthDate:
        """From a normalised ``PersonQuery.birth_date`` (zero-padded, already checked)."""
        parts = [int(part) for part in text.split("-")]
        return cls(parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None)

    @property
    def precision(self) -> int:
        if self.month is None or (self.month == 1 and self.day == 1):
            return 1
        return 2 if self.day is None else 3

    def digits(self, precision: int) -> str:
        text = f"{self.year:04d}{self.month or 0:02d}{self.day or 0:02d}"
        return text[: (4, 6, 8)[precision - 1]]

    def __str__(self) -> str:
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
        if self.day is not None:
            text += f"-{self.day:02d}"
        return text


@dataclass(frozen=True, slots=True, eq=False)
class PreparedPerson:
    """A person normalised once for many comparisons (``PersonMatcher.prepare``)."""

    names: tuple[PreparedName, ...]
    birth_date: BirthDate | None
    nationalities: frozenset[str]
    sex: str | None
    identifiers: frozenset[str]


def _date_agreement(query: BirthDate, candidate: BirthDate) -> tuple[DateAgreement, str]:
    """How two dates agree, and why (the reason may name the ``{years}`` between them)."""
    common = min(query.precision, candidate.precision)
    q_digits, c_digits = query.digits(common), candidate.digits(common)
    if q_digits == c_digits:
        if query.precision != candidate.precision:
            return DateAgreement.COMPATIBLE, "agree as far as both go"
        if common == 3:
            return DateAgreement.EXACT, "same day"
        if common == 2:
            return DateAgreement.SAME_MONTH, "same year and month"
        return DateAgreement.SAME_YEAR_ONLY, "same year"
    years_apart = abs(query.year - candidate.year)
    if years_apart == 1 and q_digits[4:] == c_digits[4:]:
        return DateAgreement.NEAR, "one year apart"
    if common > 1 and sum(a != b for a, b in zip(q_digits, c_digits, strict=True)) == 1:
        return DateAgreement.NEAR, "one digit differs"
    if common == 3 and years_apart == 0:
        if query.month == candidate.day and query.day == candidate.month:
            return DateAgreement.NEAR, "day and month swapped"
        if query.month == candidate.month:
            return DateAgreement.NEAR, "same month, another day"
    if years_apart == 0:
        return DateAgreement.SAME_YEAR, "same year, another month"
    if common == 1 and years_apart <= APPROXIMATE_YEARS:
        return DateAgreement.APPROXIMATE_CONFLICT, "{years} years apart (a year-only date)"
    if common == 3:
        return DateAgreement.FIRM_CONFLICT, "{years} years apart"
    return DateAgreement.CONFLICT, "{years} years apart"


def compare_dates(query: BirthDate | None, candidate: BirthDate | None) -> tuple[DateAgreement, str]:
    if query is None or candidate is None:
        return DateAgreement.UNKNOWN, "not known on both sides"
    agreement, reason = _date_agreement(query, candidate)
    return agreement, f"{query} / {candidate}: " + reason.format(years=abs(query.year - candidate.year))


def _nationality_feature(query: frozenset[str], candidate: frozenset[str]) -> FeatureExplanation:
    if not query or not candidate:
        return FeatureExplanation("nationality", 0.0, 0.0, "not known on both sides")
    shared = sorted(query & candidate)
    if shared:
        return FeatureExplanation("nationality", 1.0, NATIONALITY_AGREES, f"both {', '.join(shared)}")
    detail = f"{', '.join(sorted(query))} / {', '.join(sorted(candidate))}: no nationality in common"
    return FeatureExplanation("nationality", 0.0, NATIONALITY_CONFLICT, detail)


def _sex_feature(query: str | None, candidate: str | None) -> FeatureExplanation:
    if query is None or candidate is None:
        return FeatureExplanation("sex", 0.0, 0.0, "not known on both sides")
    if query == candidate:
        return FeatureExplanation("sex", 1.0, 0.0, f"both {query}")
    return FeatureExplanation("sex", 0.0, SEX_CONFLICT, f"{query} / {candidate}: conflict")


def _one_edit_apart(a: str, b: str) -> bool:
    if len(a) != len(b) or len(a) < 6:
        return False
    return sum(x != y for x, y in zip(a, b, strict=True)) == 1


def _identifier_feature(query: frozenset[str], candidate: frozenset[str]) -> FeatureExplanation:
    if not query or not candidate:
        return FeatureExplanation("identifiers", 0.0, 0.0, "not known on both sides")
    shared = sorted(query & candidate)
    if shared:
        return FeatureExplanation("identifiers", 1.0, IDENTIFIER_MATCH, f"same number: {', '.join(shared)}")
    for a in sorted(query):
        for b in sorted(candidate):
            if _one_edit_apart(a, b):
                return FeatureExplanation("identifiers", 0.7, IDENTIFIER_NEAR, f"{a} / {b}: one character differs")
    return FeatureExplanation("identifiers", 0.0, IDENTIFIER_CONFLICT, "no number in common")


def unconfirmed_shortfall(points: Sequence[float], firm: Sequence[bool]) -> tuple[int, float] | None:
    """When firm conflicts (``firm``) stand with no feature confirming the person (none adds
    points) and cost less than ``UNCONFIRMED_CONFLICT`` in all: the first firm one, and what
    it costs more."""
    if not any(firm) or any(value > 0 for value in points):
        return None
    against = -sum(value for value in points if value < 0)
    if against >= UNCONFIRMED_CONFLICT:
        return None
    return firm.index(True), UNCONFIRMED_CONFLICT - against


def settle(points: tuple[float, ...], firm: Sequence[bool]) -> tuple[float, ...]:
    """The points of birth date, nationality, sex and identifiers (in that order) after the two
    rules on conflicts: an unconfirmed firm conflict costs its shortfall more
    (``unconfirmed_shortfall``), then every feature speaking against the candidate costs
    ``CONFLICT_TIE_BREAK`` more."""
    if all(value >= 0 for value in points):
        return points
    settled = list(points)
    shortfall = unconfirmed_shortfall(points, firm)
    if shortfall is not None:
        settled[shortfall[0]] -= shortfall[1]
    return tuple(value - CONFLICT_TIE_BREAK if value < 0 else value for value in settled)


def total_score(name_score: float, points: float) -> float:
    """The name score moved by the other features' points, clipped to [0, 1] and rounded to
    six decimals (the name score is computed in 32-bit floats; more digits mean nothing)."""
    return round(min(1.0, max(0.0, name_score + points)), 6)


def qualify(query: PreparedPerson, candidate: PreparedPerson) -> tuple[float, list[FeatureExplanation]]:
    """The points the features other than names add, and their explanations."""
    agreement, detail = compare_dates(query.birth_date, candidate.birth_date)
    features = [
        FeatureExplanation(
            "birth_date", DATE_SCORES[agreement], DATE_POINTS[agreement], f"{agreement.value}: {detail}"
        ),
        _nationality_feature(query.nationalities, candidate.nationalities),
        _sex_feature(query.sex, candidate.sex),
        _identifier_feature(query.identifiers, candidate.identifiers),
    ]
    tabled = tuple(feature.weight for feature in features)
    firm = firm_conflicts(agreement, tabled)
    settled = settle(tabled, firm)
    if settled is not tabled:
        shortfall = unconfirmed_shortfall(tabled, firm)
        for index, weight in enumerate(settled):
            feature = replace(features[index], weight=weight)
            if shortfall is not None and index == shortfall[0]:
                detail = f"{feature.detail}; nothing else agrees: conflicts cost {UNCONFIRMED_CONFLICT:.2f} at least"
                feature = replace(feature, detail=detail)
            features[index] = feature
    return sum(feature.weight for feature in features), features


def firm_conflicts(date: DateAgreement, points: tuple[float, ...]) -> tuple[bool, bool, bool, bool]:
    """Which of the features' points are firm conflicts (the identifiers never are: people hold
    several documents)."""
    return date in FIRM_DATE_CONFLICTS, points[1] < 0, points[2] < 0, False


def points(query: PreparedPerson, candidate: PreparedPerson) -> float:
    """The points ``qualify`` gives, the same number, without writing its explanations: an
    index scores dozens of candidates a search and explains only those it returns."""
    agreement = DateAgreement.UNKNOWN
    if query.birth_date is not None and candidate.birth_date is not None:
        agreement = _date_agreement(query.birth_date, candidate.birth_date)[0]
    date = DATE_POINTS[agreement]
    nationality = 0.0
    if query.nationalities and candidate.nationalities:
        nationality = (
            NATIONALITY_CONFLICT if query.nationalities.isdisjoint(candidate.nationalities) else NATIONALITY_AGREES
        )
    sex = SEX_CONFLICT if query.sex is not None and candidate.sex is not None and query.sex != candidate.sex else 0.0
    documents = 0.0
    if query.identifiers and candidate.identifiers:
        if not query.identifiers.isdisjoint(candidate.identifiers):
            documents = IDENTIFIER_MATCH
        elif any(_one_edit_apart(a, b) for a in query.identifiers for b in candidate.identifiers):
            documents = IDENTIFIER_NEAR
        else:
            documents = IDENTIFIER_CONFLICT
    tabled = (date, nationality, sex, documents)
    date, nationality, sex, documents = settle(tabled, firm_conflicts(agreement, tabled))
    # Added in qualify's order, so that the sum is the same to the last bit.
    return 0 + date + nationality + sex + documents


# What the most favourable other features can add: a name score this far below the threshold
# cannot reach it, so the index skips the rest of the comparison.
MAX_BONUS = DATE_POINTS[DateAgreement.EXACT] + NATIONALITY_AGREES + IDENTIFIER_MATCH
MAX_BONUS_WITHOUT_IDENTIFIERS = DATE_POINTS[DateAgreement.EXACT] + NATIONALITY_AGREES

_REASON_TEXT = {
    PairReason.EDITS: "spelling",
    PairReason.VARIANT: "name variant",
    PairReason.PHONETIC: "sounds alike",
    PairReason.SKELETON: "same consonants",
    PairReason.INITIAL: "initial",
    PairReason.JOINED: "written together or apart",
    PairReason.DOUBLED: "doubled letter",
}


def _quote(tokens: tuple[NameToken, ...]) -> str:
    return "'" + " ".join(token.form for token in tokens) + "'"


def _pair_text(query: tuple[NameToken, ...], candidate: tuple[NameToken, ...], score: float, reason: PairReason) -> str:
    left, right = _quote(query), _quote(candidate)
    if reason == PairReason.SAME:
        if all(q.form == c.form for q, c in zip(query, candidate, strict=True)):
            return f"{left}={right}"
        if all(q.latin == c.latin for q, c in zip(query, candidate, strict=True)):
            return f"{left}={right} (transliteration)"
        return f"{left}~{right} (look-alike letters)"
    label = _REASON_TEXT.get(reason, "similar")
    if reason == PairReason.VARIANT and len(query) == 1 and len(candidate) == 1:
        shared = query[0].symbols & candidate[0].symbols
        if shared and all(SYMBOL_IDS.name(symbol).startswith("NICK") for symbol in shared):
            label = "nickname"
        elif (
            query[0].form.isascii() != candidate[0].form.isascii()
            or query[0].by_consonants != candidate[0].by_consonants
        ):
            label = "name variant, other script"
        else:
            label = "spelling variant"
    return f"{left}~{right} ({label}, {score:.2f})"


def explain_names(query: QueryName, candidate: PreparedName, score: float, pairs: list[Pair] | None = None) -> str:
    """Which parts of the two names paired, how, and which were left over. ``pairs`` come
    from the alignment that gave ``score``; they are recomputed when not given."""
    if pairs is None:
        pairs = align(query, [candidate.tokens]).pairs(0)
    q_tokens, c_tokens = query.name.tokens, candidate.tokens
    parts: list[str] = []
    q_used: set[int] = set()
    c_used: set[int] = set()
    for pair in sorted(pairs, key=lambda p: p.query_start):
        parts.append(
            _pair_text(
                q_tokens[pair.query_start : pair.query_end],
                c_tokens[pair.candidate_start : pair.candidate_end],
                pair.score,
                pair.reason,
            )
        )
        q_used.update(range(pair.query_start, pair.query_end))
        c_used.update(range(pair.candidate_start, pair.candidate_end))
    text = f"'{query.name.text}' vs '{candidate.text}' ({score:.2f}): " + (", ".join(parts) or "no part in common")
    missing = [token.form for index, token in enumerate(q_tokens) if index not in q_used]
    extra = [token.form for index, token in enumerate(c_tokens) if index not in c_used]
    if missing:
        text += "; not in candidate: " + ", ".join(f"'{form}'" for form in missing)
    if extra:
        text += "; only in candidate: " + ", ".join(f"'{form}'" for form in extra)
    return text


@dataclass(frozen=True)
class NameScores:
    """Per candidate person: the best name score, which query and candidate name gave it, and
    how their parts paired."""

    scores: list[float]
    query_names: list[int]
    candidate_names: list[int]  # index into that person's names
    alignments: list[BatchAlignment]  # per query name
    rows: list[int]  # per person: the batch row of its best name

    def pairs(self, person: int) -> list[Pair]:
        return self.alignments[self.query_names[person]].pairs(self.rows[person])


def best_name_scores(query: list[QueryName], people: Sequence[PreparedPerson]) -> NameScores:
    """Every query name against every name of every person, in one batch per query name."""
    names = [name.tokens for person in people for name in person.names]
    if not names:
        return NameScores([], [], [], [], [])
    return best_names_in_batch(query, CandidateBatch.of_names(names), [len(person.names) for person in people])


def best_names_in_batch(query: list[QueryName], batch: CandidateBatch, counts: list[int]) -> NameScores:
    """The best name pair per person, the batch holding ``counts[i]`` names of person ``i`` in
    a row. Ties go to the candidate's first name, then to the query's first name."""
    alignments = [align_batch(query_name, batch) for query_name in query]
    best = alignments[0].scores
    best_query = np.zeros(batch.count, dtype=np.int64)
    for q_index, alignment in enumerate(alignments[1:], start=1):
        better = alignment.scores > best
        best = np.where(better, alignment.scores, best)
        best_query[better] = q_index
    if len(counts) == batch.count:  # one name a person
        chosen = np.arange(batch.count)
        person_best = best
        starts = chosen
    else:
        starts = (np.cumsum(counts) - counts).astype(np.int64)
        person_best = np.maximum.reduceat(best, starts)
        # The first row of each person holding its best score.
        rows = np.arange(batch.count)
        owner_best = np.repeat(person_best, counts)
        chosen = np.minimum.reduceat(np.where(best == owner_best, rows, batch.count), starts)
    return NameScores(
        scores=person_best.tolist(),
        query_names=best_query[chosen].tolist(),
        candidate_names=(chosen - starts).tolist(),
        alignments=alignments,
        rows=chosen.tolist(),
    )


def match_result(
    query_names: list[QueryName],
    query: PreparedPerson,
    candidate: PreparedPerson,
    found: NameScores,
    position: int,
    threshold: float,
) -> MatchResult:
    """The score and its explanation, from the best name pair already found (``found``,
    where the candidate is person number ``position``)."""
    name_score = found.scores[position]
    query_name = query_names[found.query_names[position]]
    detail = explain_names(
        query_name, candidate.names[found.candidate_names[position]], name_score, found.pairs(position)
    )
    points, features = qualify(query, candidate)
    total = total_score(name_score, points)
    explanation = (FeatureExplanation("name", name_score, 1.0, detail), *features)
    return MatchResult(score=total, match=total >= threshold, explanation=explanation)


class PersonMatcher:
    """Scores pairs of persons; ``threshold`` is the default ``match`` cut-off."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold: must be between 0 and 1")
        self.threshold = threshold

    def prepare(self, person: PersonQuery) -> PreparedPerson:
        """Normalise once: tokens and keys of every name, the date, the codes."""
        names: list[PreparedName] = []
        seen: set[tuple[str, ...]] = set()
        for index, text in enumerate(person.names):
            try:
                name = prepare_name(text)
            except ValueError as error:
                raise ValueError(f"names[{index}]: {error}") from None
            forms = tuple(token.form for token in name.tokens)
            if forms not in seen:  # "MOHAMMED ALI" and "Mohammed Ali" compare the same
                seen.add(forms)
                names.append(name)
        return PreparedPerson(
            names=tuple(names),
            birth_date=BirthDate.parse(person.birth_date) if person.birth_date else None,
            nationalities=frozenset(person.nationalities) if person.nationalities else _NO_CODES,
            sex=person.sex,
            identifiers=frozenset(person.identifiers) if person.identifiers else _NO_CODES,
        )

    def query_names(self, query: PreparedPerson) -> list[QueryName]:
        return [QueryName.build(name) for name in query.names]

    def score(self, query: PreparedPerson, candidate: PreparedPerson, threshold: float | None = None) -> MatchResult:
        """The score of ``candidate`` for ``query`` in [0, 1], ``match`` at ``threshold`` (the
        matcher's default when not given), and an explanation per feature."""
        query_names = self.query_names(query)
        found = best_name_scores(query_names, [candidate])
        cut = self.threshold if threshold is None else threshold
        return match_result(query_names, query, candidate, found, 0, cut)
