"""The matcher on the cases the issue lists; every positive case has a negative twin."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polex.matching import DEFAULT_THRESHOLD, MatchResult, PersonMatcher, PersonQuery
from polex.matching.scoring import BirthDate, DateAgreement, compare_dates

matcher = PersonMatcher()


def score(query: str | PersonQuery, candidate: str | PersonQuery) -> MatchResult:
    q = PersonQuery((query,)) if isinstance(query, str) else query
    c = PersonQuery((candidate,)) if isinstance(candidate, str) else candidate
    return matcher.score(matcher.prepare(q), matcher.prepare(c))


def feature(result: MatchResult, name: str) -> tuple[float, float, str]:
    found = next(f for f in result.explanation if f.feature == name)
    return found.score, found.weight, found.detail


@pytest.mark.parametrize(
    ("latin", "other", "other_not"),
    [
        ("Vladimir Putin", "Владимир Путин", "Владимир Петров"),
        ("Mohammed Ali", "محمد علي", "محمد حسن"),
        ("Giorgos Papadopoulos", "Γιώργος Παπαδόπουλος", "Γιώργος Νικολάου"),
        ("Benjamin Netanyahu", "בנימין נתניהו", "בנימין כהן"),
        ("Xi Jinping", "习近平", "李克强"),
        ("Narendra Modi", "नरेन्द्र मोदी", "राहुल गांधी"),
        ("Kim Jong Un", "김정은", "박근혜"),
    ],
)
def test_names_match_across_scripts(latin: str, other: str, other_not: str) -> None:
    assert score(latin, other).match
    assert score(other, latin).match
    assert not score(latin, other_not).match


def test_han_names_are_compared_by_character_not_by_reading() -> None:
    # 徐 and 許 are both "xu": two different family names.
    assert score("秀蘭 徐", "秀蘭 徐").score == 1.0
    assert score("秀蘭 徐", "秀蘭 許").score < DEFAULT_THRESHOLD


def test_name_order_does_not_matter() -> None:
    assert score("Ali Mohammed", "Mohammed Ali").score == 1.0
    assert score("SALEK, ABDULHAI", "Abdulhai Salek").score == 1.0


def test_missing_parts_cost_more_on_the_query_side() -> None:
    extra_in_candidate = score("Mohammed Ali", "Mohammed Ali Hassan")
    missing_from_candidate = score("Mohammed Ali Hassan", "Mohammed Ali")
    assert extra_in_candidate.match
    assert extra_in_candidate.score < 1.0
    assert missing_from_candidate.score < extra_in_candidate.score
    assert not score("John Smith", "John Brown").match


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("Dr. Hans van der Berg", "Hans Berg"),
        ("Abdul Rahman bin Hamad al-Thani", "Abdul Rahman Hamad Thani"),
        ("Haji Muhammad Ashraf", "Muhammad Ashraf"),
        ("Mr John Smith Jr", "John Smith"),
    ],
)
def test_particles_and_honorifics_count_little(query: str, candidate: str) -> None:
    assert score(query, candidate).score >= 0.85
    assert score(candidate, query).score >= 0.85


def test_particles_do_not_make_a_match() -> None:
    assert not score("Hans van der Berg", "Pieter van der Meer").match
    assert not score("Ahmed bin Salman", "Khalid bin Salman").match


@pytest.mark.parametrize(
    ("query", "candidate"),
    [("Mohammed Ali", "Muhammad Ali"), ("Mohamed Ali", "Mohammed Ali"), ("Ahmed Hassan", "Ahmad Hasan")],
)
def test_spelling_variants(query: str, candidate: str) -> None:
    result = score(query, candidate)
    assert result.match
    assert result.score < 1.0


@pytest.mark.parametrize(
    ("query", "candidate", "other"),
    [
        ("Bill Clinton", "William Clinton", "Walter Clinton"),
        ("Peggy Smith", "Margaret Smith", "Patricia Smith"),  # from the English nickname list
        ("Bob Jones", "Robert Jones", "Richard Jones"),
    ],
)
def test_nicknames(query: str, candidate: str, other: str) -> None:
    result = score(query, candidate)
    assert result.match
    assert "nickname" in feature(result, "name")[2]
    assert not score(query, other).match


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("Muhammad Jibrril Abdul Rahman", "Muhammad Jibril Abdul Rahman"),
        ("Hafiz Abudl Salam Bhuttavi", "Hafiz Abdul Salam Bhuttavi"),
        ("Arefullaha Ref Ghazi Mohammad", "Arefullah Aref Ghazi Mohammad"),
        ("Salah Eddine Gassmi", "Salah Eddine Gasmi"),
    ],
)
def test_typos(query: str, candidate: str) -> None:
    assert score(query, candidate).match


@pytest.mark.parametrize(
    ("query", "candidate"),
    [("M0HAMMED ALI", "MOHAMMED ALI"), ("1BRAHIM KHAN", "IBRAHIM KHAN"), ("MOHAMRNED ALI", "MOHAMMED ALI")],
)
def test_ocr_confusions(query: str, candidate: str) -> None:
    result = score(query, candidate)
    assert result.score == 1.0
    assert "look-alike letters" in feature(result, "name")[2]


def test_written_together_or_apart() -> None:
    assert score("Abdul Rahman", "Abdulrahman").score == 1.0
    assert score("Xi Jin Ping", "Xi Jinping").score == 1.0
    assert score("Abdul Rahman", "Abdullah Rahimi").score < DEFAULT_THRESHOLD


def test_explanation_names_the_matched_forms() -> None:
    result = score("Mohamed Ali Hassan", "Muhammad Ali")
    name_score, weight, detail = feature(result, "name")
    assert weight == 1.0
    assert name_score == result.score  # no other feature is known
    assert "'mohamed'~'muhammad' (spelling variant" in detail
    assert "'ali'='ali'" in detail
    assert "not in candidate: 'hassan'" in detail
    assert [f.feature for f in result.explanation] == ["name", "birth_date", "nationality", "sex", "identifiers"]


@pytest.mark.parametrize(
    ("a", "b", "agreement"),
    [
        ("1980-03-07", "1980-03-07", DateAgreement.EXACT),
        ("1980", "1980-03-07", DateAgreement.COMPATIBLE),
        ("1980-03", "1980-03-07", DateAgreement.COMPATIBLE),
        ("1980-03", "1980-03", DateAgreement.SAME_MONTH),
        ("1980", "1980", DateAgreement.SAME_YEAR_ONLY),
        ("1958-01-01", "1958", DateAgreement.SAME_YEAR_ONLY),  # 1 January stands for "some day in 1958"
        ("1980", "1981", DateAgreement.NEAR),
        ("1980-03-07", "1980-07-03", DateAgreement.NEAR),
        ("1980-03-07", "1980-03-17", DateAgreement.NEAR),
        ("1980-03-07", "1980-11-20", DateAgreement.SAME_YEAR),
        ("1980", "1984", DateAgreement.APPROXIMATE_CONFLICT),
        ("1980", "1991", DateAgreement.CONFLICT),
        ("1980-03-07", "1983-11-20", DateAgreement.FIRM_CONFLICT),
    ],
)
def test_birth_dates_are_graded(a: str, b: str, agreement: DateAgreement) -> None:
    assert compare_dates(BirthDate.parse(a), BirthDate.parse(b))[0] == agreement
    assert compare_dates(BirthDate.parse(b), BirthDate.parse(a))[0] == agreement


def test_dates_move_the_score() -> None:
    def with_dates(a: str, b: str) -> MatchResult:
        return score(PersonQuery(("Ivan Petrov",), a), PersonQuery(("Ivan Petrov",), b))

    same, compatible = with_dates("1980-03-07", "1980-03-07"), with_dates("1980", "1980-03-07")
    near, conflict = with_dates("1980", "1981"), with_dates("1980-03-07", "1991-06-20")
    assert same.score == compatible.score == 1.0
    assert feature(same, "birth_date")[1] > feature(compatible, "birth_date")[1] > 0
    assert feature(near, "birth_date")[1] < 0
    assert "one year apart" in feature(near, "birth_date")[2]
    assert near.match
    assert conflict.score < near.score
    assert not conflict.match
    assert feature(conflict, "birth_date")[2].startswith("conflict")


def test_sex_and_nationality_conflicts_lower_the_score() -> None:
    base = PersonQuery(("Andrea Rossi",), "1975", ("ITA",), "F")
    same = score(base, PersonQuery(("Andrea Rossi",), "1975", ("ITA",), "F"))
    other_sex = score(base, PersonQuery(("Andrea Rossi",), "1975", ("ITA",), "M"))
    other_country = score(base, PersonQuery(("Andrea Rossi",), "1975", ("FRA",)))
    assert other_sex.score < same.score
    assert other_country.score < same.score
    assert feature(other_sex, "sex")[1] < 0
    assert "no nationality in common" in feature(other_country, "nationality")[2]


def test_a_shared_identifier_raises_the_score() -> None:
    query = PersonQuery(("Mohammed Ali",), identifiers=("P1234567",))
    without = score(query, PersonQuery(("Mohammed Ali Hassan al-Tikriti",)))
    shared = score(query, PersonQuery(("Mohammed Ali Hassan al-Tikriti",), identifiers=("p 123 4567",)))
    other = score(query, PersonQuery(("Mohammed Ali Hassan al-Tikriti",), identifiers=("X9999999",)))
    assert not without.match
    assert shared.match
    assert shared.score > without.score > other.score
    assert "P1234567" in feature(shared, "identifiers")[2]


def test_prepare_rejects_what_person_query_lets_through() -> None:
    with pytest.raises(ValueError, match=r"^names\[1\]: has 17 parts"):
        matcher.prepare(PersonQuery(("Ok Name", " ".join(["x"] * 17))))


def test_threshold_is_a_parameter() -> None:
    prepared = matcher.prepare(PersonQuery(("John Smith",))), matcher.prepare(PersonQuery(("John Smyth",)))
    result = matcher.score(*prepared)
    assert matcher.score(*prepared, threshold=result.score).match
    assert not matcher.score(*prepared, threshold=min(1.0, result.score + 0.01)).match
    with pytest.raises(ValueError, match="threshold"):
        PersonMatcher(threshold=1.5)


# -- properties ------------------------------------------------------------------------------

words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu")), min_size=2, max_size=10)
any_text = st.text(max_size=60)


def _person_or_none(text: str) -> PersonQuery | None:
    try:
        return PersonQuery((text,))
    except ValueError:
        return None


@settings(max_examples=150, deadline=None)
@given(any_text, any_text)
def test_scores_stay_in_range_and_never_crash(a: str, b: str) -> None:
    query, candidate = _person_or_none(a), _person_or_none(b)
    if query is None or candidate is None:
        return
    refusal = ""
    try:
        prepared = matcher.prepare(query), matcher.prepare(candidate)
    except ValueError as error:
        refusal = str(error)
    if refusal:
        assert refusal.startswith("names[0]: ")
        return
    result = matcher.score(*prepared)
    assert 0.0 <= result.score <= 1.0
    assert result.match == (result.score >= DEFAULT_THRESHOLD)
    assert all(0.0 <= f.score <= 1.0 for f in result.explanation)


@settings(max_examples=100, deadline=None)
@given(st.lists(words, min_size=1, max_size=5), st.sampled_from([None, "1970", "1970-05", "1970-05-06"]))
def test_a_person_matches_itself(parts: list[str], birth_date: str | None) -> None:
    person = _person_or_none(" ".join(parts))
    if person is None:
        return
    person = PersonQuery(person.names, birth_date, ("FRA",), "F", ("X12345",))
    prepared = matcher.prepare(person)
    result = matcher.score(prepared, prepared)
    assert result.score == 1.0
    assert result.match


# Distinct names, far apart in spelling and in no variant group together: pairs between them
# are unambiguous, so swapping query and candidate must give the same score.
DISTINCT = ["Anna", "Boris", "Carlos", "Dmitri", "Fatima", "Hiroshi", "Ingrid", "Kwame", "Lucia", "Olga", "Tariq"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(DISTINCT), min_size=2, max_size=4, unique=True), st.data())
def test_scores_are_symmetric_for_reordered_names_with_one_part_replaced(parts: list[str], data: st.DataObject) -> None:
    other = data.draw(st.sampled_from([name for name in DISTINCT if name not in parts]))
    shuffled = data.draw(st.permutations(parts))
    shuffled[0] = other
    a, b = PersonQuery((" ".join(parts),), "1970"), PersonQuery((" ".join(shuffled),), "1971")
    forward, backward = score(a, b), score(b, a)
    assert forward.score == pytest.approx(backward.score, abs=1e-6)
    assert forward.score < DEFAULT_THRESHOLD
