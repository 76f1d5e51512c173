"""Pairing, deduplication and refresh: one correlation per unordered pair, scored the same
whichever record changed, raised, refreshed, reopened or closed as the records change."""

from __future__ import annotations

import pytest

from polex.correlation.pairs import THRESHOLD, Existing, PairScore, pair_key, plan_refresh, score_pair, to_close
from polex.matching import DEFAULT_THRESHOLD, PersonMatcher, PersonQuery, PreparedPerson

MATCHER = PersonMatcher()


def prepared(*names: str, birth_dates: tuple[str | None, ...] = (None,), **fields: object) -> list[PreparedPerson]:
    return [MATCHER.prepare(PersonQuery(names=names, birth_date=date, **fields)) for date in birth_dates]  # type: ignore[arg-type]


def pair(score: float) -> PairScore:
    return PairScore(score, (), "x")


def test_the_threshold_is_the_matchers_own() -> None:
    assert THRESHOLD == DEFAULT_THRESHOLD == MATCHER.threshold


def test_a_pair_has_one_key_whichever_record_comes_first() -> None:
    assert pair_key("b", "a") == pair_key("a", "b") == ("a", "b")
    with pytest.raises(ValueError, match="itself"):
        pair_key("a", "a")


def test_a_pair_scores_the_same_whichever_record_changed() -> None:
    ukr = prepared("Олексій Коваленко", birth_dates=("1981-05-14",), nationalities=("UKR",))
    fra = prepared("Oleksii Kovalenko", birth_dates=("1981-05-14",), nationalities=("UKR",))
    first = score_pair(MATCHER, "id-1", ukr, "id-2", fra)
    second = score_pair(MATCHER, "id-2", fra, "id-1", ukr)
    assert first is not None
    assert second is not None
    assert first == second
    assert first.score >= THRESHOLD


def test_a_pair_keeps_the_better_of_the_two_directions() -> None:
    # The matcher forgives a part missing from the query less than one missing from the candidate.
    short, long = prepared("John Smith"), prepared("John Michael Smith")
    forward = MATCHER.score(short[0], long[0]).score
    backward = MATCHER.score(long[0], short[0]).score
    assert forward >= THRESHOLD > backward  # one direction alone would miss it when the long one changes
    for scored in (score_pair(MATCHER, "a", short, "b", long), score_pair(MATCHER, "a", long, "b", short)):
        assert scored is not None
        assert scored.score == pytest.approx(forward)


def test_a_pair_keeps_its_best_birth_date_entry() -> None:
    several = prepared("Maria Papadopoulou", birth_dates=("1975-01-01", "1979-11-23"))
    one = prepared("Maria Papadopoulou", birth_dates=("1979-11-23",))
    scored = score_pair(MATCHER, "a", several, "b", one)
    assert scored is not None
    dates = next(feature for feature in scored.explanation if feature.feature == "birth_date")
    assert dates.score == 1.0
    assert scored.score == pytest.approx(MATCHER.score(several[1], one[0]).score)


def test_a_record_the_matcher_cannot_read_pairs_with_nothing() -> None:
    assert score_pair(MATCHER, "a", [], "b", prepared("Anyone")) is None


def test_a_new_match_is_raised_once_and_a_known_one_refreshed() -> None:
    plan = plan_refresh(
        {"other-2": pair(0.9), "other-1": pair(0.95)},
        ["other-1", "other-2"],
        [Existing("c1", "other-1", closed=False)],
    )
    assert plan.raise_with == ["other-2"]
    assert plan.refresh == ["c1"]
    assert plan.reopen == plan.close == []


def test_a_pair_that_no_longer_matches_is_closed_and_reopened_when_it_matches_again() -> None:
    existing = [Existing("c1", "other-1", closed=False)]
    closing = plan_refresh({}, ["other-1"], existing)
    assert closing.close == ["c1"]
    assert closing.raise_with == []
    reopening = plan_refresh({"other-1": pair(0.9)}, ["other-1"], [Existing("c1", "other-1", closed=True)])
    assert reopening.reopen == ["c1"]
    assert reopening.raise_with == reopening.close == []


def test_a_correlation_whose_other_record_was_not_scored_is_left_alone() -> None:
    # Raised meanwhile by another process: nothing says it no longer matches.
    plan = plan_refresh({}, [], [Existing("c1", "other-1", closed=False)])
    assert not plan


def test_a_closed_correlation_that_still_does_not_match_stays_closed() -> None:
    assert not plan_refresh({}, ["other-1"], [Existing("c1", "other-1", closed=True)])


def test_a_withdrawn_record_closes_only_its_open_correlations() -> None:
    existing = [Existing("c1", "x", closed=False), Existing("c2", "y", closed=True), Existing("c3", "z", closed=False)]
    assert to_close(existing) == ["c1", "c3"]
