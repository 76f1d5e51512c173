"""Partial dates: ``1980``, ``1980-03`` or ``1980-03-14``.

Police records often know only a year of birth, or a month. A partial date keeps exactly the
precision that is known; comparing and matching use the interval it covers.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
EARLIEST_YEAR = 1850


def parse_partial_date(text: str) -> tuple[int, int | None, int | None]:
    """Split a partial date into year, month and day; raise ValueError with the reason."""
    match = _PARTIAL_DATE.match(text)
    if match is None:
        raise ValueError(f"'{text}' is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD")
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    if year < EARLIEST_YEAR:
        raise ValueError(f"year {year} is before {EARLIEST_YEAR}")
    if month is not None and not 1 <= month <= 12:
        raise ValueError(f"month {month:02d} does not exist")
    if day is not None:
        assert month is not None  # the pattern only allows a day after a month
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            raise ValueError(f"day {day:02d} does not exist in {year}-{month:02d}")
    return year, month, day


def partial_date_bounds(text: str) -> tuple[dt.date, dt.date]:
    """The first and last calendar day a partial date may stand for."""
    year, month, day = parse_partial_date(text)
    if month is None:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if day is None:
        return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])
    exact = dt.date(year, month, day)
    return exact, exact


def _coerce(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return value


def _check_partial(text: str) -> str:
    parse_partial_date(text)
    return text


def _check_not_future(text: str) -> str:
    start, _ = partial_date_bounds(text)
    if start > dt.datetime.now(dt.UTC).date():
        raise ValueError(f"{text} is in the future")
    return text


PartialDate = Annotated[
    str,
    BeforeValidator(_coerce),
    Field(examples=["1980", "1980-03", "1980-03-14"]),
    AfterValidator(_check_partial),
]
"""A date known to the year, the month or the day."""

PastPartialDate = Annotated[PartialDate, AfterValidator(_check_not_future)]
"""A partial date that has already begun (a birth date, a date of theft)."""


def check_past_date(value: dt.date) -> dt.date:
    if value > dt.datetime.now(dt.UTC).date():
        raise ValueError(f"{value.isoformat()} is in the future")
    return value


PastDate = Annotated[dt.date, AfterValidator(check_past_date)]
