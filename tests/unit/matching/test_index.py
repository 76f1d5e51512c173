from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polex.matching import DEFAULT_THRESHOLD, PersonIndex, PersonMatcher, PersonQuery

WATCHLIST = {
    "putin": PersonQuery(("Владимир Путин", "Vladimir Vladimirovich Putin"), "1952-10-07", ("RUS",), "M"),
    "ali": PersonQuery(("Mohammed Ali Hassan",), "1970-01-02", ("EGY",), "M"),
    "ali-2": PersonQuery(("Muhammad Ali",), "1942-01-17", ("USA",), "M"),
    "smith": PersonQuery(("John Smith",), "1980"),
    "smyth": PersonQuery(("Jon Smyth",), "1980"),
    "xi": PersonQuery(("习近平",), "1953-06-15", ("CHN",)),
    "clinton": PersonQuery(("William Jefferson Clinton",), "1946-08-19", ("USA",), "M", ("P123456",)),
}


@pytest.fixture
def index() -> PersonIndex:
    built = PersonIndex()
    for entry_id, person in WATCHLIST.items():
        built.add(entry_id, person)
    return built


def ids(index: PersonIndex, query: PersonQuery, **options: object) -> list[str]:
    return [candidate.entry_id for candidate in index.search(query, **options)]  # type: ignore[arg-type]


def test_finds_across_scripts_and_forms(index: PersonIndex) -> None:
    assert ids(index, PersonQuery(("Vladimir Putin",))) == ["putin"]
    assert ids(index, PersonQuery(("محمد علي حسن",))) == ["ali"]
    assert ids(index, PersonQuery(("Xi Jinping",))) == ["xi"]
    assert ids(index, PersonQuery(("Bill Clinton",), "1946")) == ["clinton"]
    assert ids(index, PersonQuery(("Angela Merkel",))) == []


def test_results_are_ranked_and_carry_explanations(index: PersonIndex) -> None:
    results = index.search(PersonQuery(("John Smith",), "1980"), threshold=0.5)
    assert [r.entry_id for r in results] == ["smith", "smyth"]
    assert results[0].score > results[1].score
    assert results[0].match
    assert results[0].explanation[0].feature == "name"
    assert "'john'='john'" in results[0].explanation[0].detail


def test_threshold_and_limit(index: PersonIndex) -> None:
    query = PersonQuery(("Ali Hassan Mahmoud",))
    assert index.search(query) == []
    everything = index.search(query, threshold=0.0, limit=50)
    assert [r.score for r in everything] == sorted((r.score for r in everything), reverse=True)
    assert everything[0].entry_id == "ali"  # two parts of three in common: listed, not a match
    assert not everything[0].match
    assert 0.5 < everything[0].score < DEFAULT_THRESHOLD
    assert len(index.search(query, threshold=0.0, limit=1)) == 1
    with pytest.raises(ValueError, match="limit"):
        index.search(query, limit=0)
    with pytest.raises(ValueError, match="threshold"):
        index.search(query, threshold=2.0)


def test_scores_are_the_matchers(index: PersonIndex) -> None:
    matcher = PersonMatcher()
    query = PersonQuery(("Mohamed Ali",), "1970", ("EGY",))
    for candidate in index.search(query, threshold=0.0, limit=20):
        expected = matcher.score(matcher.prepare(query), matcher.prepare(WATCHLIST[candidate.entry_id]))
        assert candidate.score == pytest.approx(expected.score)
        assert candidate.explanation == expected.explanation


def test_add_remove_replace(index: PersonIndex) -> None:
    assert len(index) == len(WATCHLIST)
    index.remove("smith")
    index.remove("no-such-entry")
    assert len(index) == len(WATCHLIST) - 1
    assert "smith" not in ids(index, PersonQuery(("John Smith",), "1980"), threshold=0.0)
    index.add("putin", PersonQuery(("Jane Doe",), "1990"))
    assert len(index) == len(WATCHLIST) - 1
    assert ids(index, PersonQuery(("Vladimir Putin",))) == []
    assert ids(index, PersonQuery(("Jane Doe",))) == ["putin"]
    index.compact()  # rebuilds without the removed entries; nothing found changes
    assert ids(index, PersonQuery(("Jane Doe",))) == ["putin"]
    assert ids(index, PersonQuery(("محمد علي حسن",))) == ["ali"]


def test_a_bad_entry_leaves_the_old_one(index: PersonIndex) -> None:
    with pytest.raises(ValueError, match="entry_id"):
        index.add("", WATCHLIST["smith"])
    with pytest.raises(ValueError, match=r"^names\[0\]"):
        index.add("smith", PersonQuery((" ".join(["x"] * 17),)))
    assert ids(index, PersonQuery(("John Smith",), "1980"))[0] == "smith"


def test_memory_grows_with_entries() -> None:
    index = PersonIndex()
    empty = index.memory_bytes()
    for number in range(200):
        index.add(f"e{number}", PersonQuery((f"Person Number{number} Example",), "1970"))
    assert len(index) == 200
    assert index.memory_bytes() > empty + 200 * 100


def test_candidate_ids_are_what_search_scores(index: PersonIndex) -> None:
    query = PersonQuery(("Mohammed Ali",))
    candidates = index.candidate_ids(query)
    assert {"ali", "ali-2"} <= set(candidates)
    assert {r.entry_id for r in index.search(query, threshold=0.0, limit=50)} <= set(candidates)


names = st.sampled_from(["Anna Petrova", "Boris Ivanov", "Carlos Garcia", "Fatima Zahra", "Kwame Mensah"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text("abc", min_size=1, max_size=3), names), min_size=1, max_size=12))
def test_the_index_holds_the_last_version_of_each_id(operations: list[tuple[str, str]]) -> None:
    index = PersonIndex()
    expected: dict[str, str] = {}
    for entry_id, name in operations:
        index.add(entry_id, PersonQuery((name,)))
        expected[entry_id] = name
    assert len(index) == len(expected)
    for entry_id, name in expected.items():
        assert entry_id in ids(index, PersonQuery((name,)), limit=20)
