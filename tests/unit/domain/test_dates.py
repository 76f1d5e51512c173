import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from polex.domain.dates import PartialDate, PastPartialDate, parse_partial_date, partial_date_bounds

partial = TypeAdapter(PartialDate)
past = TypeAdapter(PastPartialDate)


@given(st.dates(min_value=dt.date(1850, 1, 1), max_value=dt.date(2999, 12, 31)))
def test_a_date_at_every_precision_is_valid_and_its_bounds_contain_it(day: dt.date) -> None:
    for text in (day.isoformat(), day.isoformat()[:7], day.isoformat()[:4]):
        assert partial.validate_python(text) == text
        start, end = partial_date_bounds(text)
        assert start <= day <= end


@given(st.dates(min_value=dt.date(1850, 1, 1), max_value=dt.date(2999, 12, 31)))
def test_dates_and_years_are_coerced_to_text(day: dt.date) -> None:
    assert partial.validate_python(day) == day.isoformat()
    assert partial.validate_python(day.year) == str(day.year)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1980-02-30", "day 30 does not exist"),
        ("1981-02-29", "day 29 does not exist"),
        ("1980-13", "month 13 does not exist"),
        ("1980-00-10", "month 00 does not exist"),
        ("1700", "before 1850"),
        ("80-01-01", "not a date of the form"),
        ("1980/01/01", "not a date of the form"),
        ("01.02.1980", "not a date of the form"),
    ],
)
def test_impossible_dates_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        partial.validate_python(text)


def test_leap_day_exists_in_leap_years() -> None:
    assert parse_partial_date("2000-02-29") == (2000, 2, 29)


def test_a_past_date_may_not_begin_in_the_future() -> None:
    next_year = str(dt.date.today().year + 1)
    with pytest.raises(ValidationError, match="in the future"):
        past.validate_python(next_year)
    # The current year has begun, even if the exact day is unknown.
    assert past.validate_python(str(dt.date.today().year))


@given(st.text(max_size=12))
def test_arbitrary_text_is_either_a_partial_date_or_a_clear_error(text: str) -> None:
    try:
        value = partial.validate_python(text)
    except ValidationError as error:
        assert error.errors()[0]["msg"]  # noqa: PT017 - either outcome is valid; the error must explain
    else:
        parse_partial_date(value)
