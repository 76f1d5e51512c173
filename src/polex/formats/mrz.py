"""ICAO Doc 9303 machine readable zones (MRZ): read, check, correct and write them.

Formats, told apart by their shape and, for two-line zones, by the first letter of the
document code (``V`` is a visa):

=======  =========  ==========================================================
TD1      3 x 30     identity cards (Doc 9303 part 5)
TD2      2 x 36     identity cards and other official travel documents (part 6)
TD3      2 x 44     passports (part 4)
MRV-A    2 x 44     full-page visas (part 7)
MRV-B    2 x 36     smaller visas (part 7)
=======  =========  ==========================================================

Reading never corrects anything silently. Every check digit is verified with the 7-3-1
algorithm; a failure is an :class:`MrzError` that names the field. ``parse(..., strict=False)``
returns everything it could read together with the list of problems instead, because a border
post needs to see all that is wrong at once. :func:`suggest_corrections` proposes the usual
OCR swaps (O/0, I/1, B/8, S/5, Z/2, G/6), only in fields whose type is known, and keeps only
candidates whose check digits then all pass.

Two-digit years are given a century by rule: a birth date is the latest date with those digits
that is not in the future (so a holder is assumed younger than 100); an expiry date is put in
the 100-year window from 49 years before the current year to 50 years after it.

Choices where Doc 9303 leaves room, made once here:

- Names are transliterated with Doc 9303 part 3 section 6 and its recommended options
  Ä → AE, Ö → OE, Ü → UE, Å → AA (so "Müller" is ``MUELLER``); Æ → AE, Ø → OE, ß → SS,
  Þ → TH, Ł → L; other Latin diacritics are dropped; Cyrillic follows the section 6 table
  (Ж → ZH, Ц → TS, Ч → CH, Ю → IU, Я → IA ...); other scripts go through rigour's
  transliteration. Spaces and hyphens become fillers; apostrophes and other punctuation are
  dropped.
- Names that do not fit keep the primary identifier whole where it leaves room for ``<<`` and
  one letter of the secondary identifier, and truncate the secondary identifier; a truncated
  name ends in a letter in the last position, as Doc 9303 asks, so readers can see it may be
  truncated.
- A long document number (more than 9 characters, TD1 and TD2) is written as Doc 9303 says:
  the first 9 characters, ``<`` in the check digit position, then the rest of the number, its
  check digit and a filler in the optional data. Its check digit is computed over the whole
  number; some issuers computed it over the printed characters with the ``<`` (e.g. Belgian
  cards of 2013, PRADO BEL-BO-03003), which is accepted and noted on the check digit.
- The document code is kept without trailing fillers (``P<`` reads as ``P``, ``I<`` as ``I``).
- Birth dates may be partly unknown: ``<<`` (or ``00``) for the day, or month and day, gives a
  partial date (``1974-08``, ``1974``).
- The French national identity card of 1988 (2 x 36, ``IDFRA...``) is not an ICAO TD2; it is
  recognised and refused, never read as a TD2.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import IO, Final, Literal

from pydantic import BaseModel, ValidationError
from rigour.text.translit import ascii_text

from polex.domain.countries import ICAO_ALIASES, is_country_code
from polex.domain.dates import parse_partial_date
from polex.domain.document import (
    DocumentHolder,
    DocumentStatus,
    DocumentType,
    TravelDocument,
    normalise_document_number,
)
from polex.domain.person import NameKind, PersonName, Sex
from polex.errors import FieldError, ValidationFailed
from polex.formats.registry import Accepted, ReadResult, Rejection

FILLER: Final = "<"
MRZ_CHARACTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")

# Codes Doc 9303 prints on its specimens that belong to no state.
SPECIMEN_STATES: Final[Mapping[str, str]] = {"UTO": "Utopia, the ICAO Doc 9303 specimen state"}


class MrzFormat(StrEnum):
    TD1 = "TD1"
    TD2 = "TD2"
    TD3 = "TD3"
    MRV_A = "MRV-A"
    MRV_B = "MRV-B"

    @property
    def lines(self) -> int:
        return 3 if self is MrzFormat.TD1 else 2

    @property
    def width(self) -> int:
        return _WIDTHS[self]

    @property
    def is_visa(self) -> bool:
        return self in (MrzFormat.MRV_A, MrzFormat.MRV_B)


_WIDTHS: Final[Mapping[MrzFormat, int]] = {
    MrzFormat.TD1: 30,
    MrzFormat.TD2: 36,
    MrzFormat.TD3: 44,
    MrzFormat.MRV_A: 44,
    MrzFormat.MRV_B: 36,
}


# --- Errors ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MrzProblem:
    """One thing wrong with an MRZ: the field (``birth_date``, ``composite`` ...), why, and
    the line (1-based) it is on when it has one."""

    field: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.field}{where}: {self.reason}"


class MrzError(ValidationFailed, ValueError):
    """An MRZ that cannot be read, or that fails a check. ``field`` and ``reason`` name the
    first problem; ``problems`` holds all that were found."""

    title = "Invalid machine readable zone"
    slug = "invalid-mrz"

    def __init__(
        self, field: str, reason: str, *, line: int | None = None, problems: Sequence[MrzProblem] = ()
    ) -> None:
        first = MrzProblem(field, reason, line)
        self.field = field
        self.reason = reason
        self.line = line
        self.problems: tuple[MrzProblem, ...] = tuple(problems) or (first,)
        more = len(self.problems) - 1
        detail = str(first) + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
        super().__init__(detail, errors=[FieldError(problem.field, problem.reason) for problem in self.problems])

    @classmethod
    def from_problems(cls, problems: Sequence[MrzProblem]) -> MrzError:
        first = problems[0]
        return cls(first.field, first.reason, line=first.line, problems=problems)


# --- Check digits ---------------------------------------------------------------------------

_WEIGHTS: Final = (7, 3, 1)
_VALUES: Final[Mapping[str, int]] = {
    **{str(digit): digit for digit in range(10)},
    **{chr(ord("A") + index): 10 + index for index in range(26)},
    FILLER: 0,
}


def check_digit(data: str) -> int:
    """The Doc 9303 check digit: values 0-9 for digits, 10-35 for A-Z, 0 for ``<``, weighted
    7, 3, 1 in turn, summed, modulo 10."""
    total = 0
    for index, char in enumerate(data):
        value = _VALUES.get(char)
        if value is None:
            raise ValueError(f"{char!r} is not an MRZ character (A-Z, 0-9 and the filler <)")
        total += value * _WEIGHTS[index % 3]
    return total % 10


@dataclass(frozen=True)
class CheckDigit:
    """One check digit as printed and as computed. ``line`` and ``position`` are 1-based."""

    field: str
    printed: str
    computed: int
    ok: bool
    line: int
    position: int
    note: str | None = None

    @property
    def reason(self) -> str:
        if self.ok:
            return self.note or f"check digit {self.printed} matches"
        if self.printed.isdigit():
            return f"check digit {self.printed} does not match the computed {self.computed}"
        if self.printed == FILLER:
            return f"the check digit position holds the filler '<' where the computed digit is {self.computed}"
        return f"check digit '{self.printed}' is not a digit (the computed digit is {self.computed})"


def _verify(
    field: str, data: str, printed: str, line: int, position: int, *, blank_allowed: bool = False
) -> CheckDigit:
    computed = check_digit(data)
    ok = printed == str(computed)
    note = None
    if not ok and blank_allowed and printed == FILLER and set(data) <= {FILLER}:
        ok, note = True, "the field is empty, and so is its check digit"
    return CheckDigit(field, printed, computed, ok, line + 1, position + 1, note)


# --- Layouts --------------------------------------------------------------------------------

_Kind = Literal["alpha", "numeric", "alnum", "sex"]


@dataclass(frozen=True)
class _Span:
    line: int  # 0-based
    start: int
    end: int
    kind: _Kind

    def of(self, rows: Sequence[str]) -> str:
        return rows[self.line][self.start : self.end]


@dataclass(frozen=True)
class _Layout:
    format: MrzFormat
    spans: Mapping[str, _Span]
    composite: tuple[tuple[int, int, int], ...] | None  # (line, start, end) the composite covers
    long_numbers: bool  # whether a long document number may continue in the optional data


# Which field a span's problems and OCR changes are reported under.
_SPAN_FIELD: Final[Mapping[str, str]] = {
    "name": "primary_identifier",
    "document_number_check": "document_number",
    "birth_date_check": "birth_date",
    "expiry_date_check": "expiry_date",
    "personal_number_check": "personal_number",
    "composite_check": "composite",
}


def _td1_layout() -> _Layout:
    spans = {
        "document_code": _Span(0, 0, 2, "alpha"),
        "issuing_state": _Span(0, 2, 5, "alpha"),
        "document_number": _Span(0, 5, 14, "alnum"),
        "document_number_check": _Span(0, 14, 15, "numeric"),
        "optional_data": _Span(0, 15, 30, "alnum"),
        "birth_date": _Span(1, 0, 6, "numeric"),
        "birth_date_check": _Span(1, 6, 7, "numeric"),
        "sex": _Span(1, 7, 8, "sex"),
        "expiry_date": _Span(1, 8, 14, "numeric"),
        "expiry_date_check": _Span(1, 14, 15, "numeric"),
        "nationality": _Span(1, 15, 18, "alpha"),
        "optional_data_2": _Span(1, 18, 29, "alnum"),
        "composite_check": _Span(1, 29, 30, "numeric"),
        "name": _Span(2, 0, 30, "alpha"),
    }
    composite = ((0, 5, 30), (1, 0, 7), (1, 8, 15), (1, 18, 29))
    return _Layout(MrzFormat.TD1, spans, composite, long_numbers=True)


def _two_line_layout(fmt: MrzFormat) -> _Layout:
    width = fmt.width
    spans = {
        "document_code": _Span(0, 0, 2, "alpha"),
        "issuing_state": _Span(0, 2, 5, "alpha"),
        "name": _Span(0, 5, width, "alpha"),
        "document_number": _Span(1, 0, 9, "alnum"),
        "document_number_check": _Span(1, 9, 10, "numeric"),
        "nationality": _Span(1, 10, 13, "alpha"),
        "birth_date": _Span(1, 13, 19, "numeric"),
        "birth_date_check": _Span(1, 19, 20, "numeric"),
        "sex": _Span(1, 20, 21, "sex"),
        "expiry_date": _Span(1, 21, 27, "numeric"),
        "expiry_date_check": _Span(1, 27, 28, "numeric"),
    }
    composite = None
    if fmt is MrzFormat.TD3:
        spans["optional_data"] = _Span(1, 28, 42, "alnum")
        spans["personal_number_check"] = _Span(1, 42, 43, "numeric")
        spans["composite_check"] = _Span(1, 43, 44, "numeric")
        composite = ((1, 0, 10), (1, 13, 20), (1, 21, 43))
    elif fmt is MrzFormat.TD2:
        spans["optional_data"] = _Span(1, 28, 35, "alnum")
        spans["composite_check"] = _Span(1, 35, 36, "numeric")
        composite = ((1, 0, 10), (1, 13, 20), (1, 21, 35))
    else:  # visas have no composite check digit
        spans["optional_data"] = _Span(1, 28, width, "alnum")
    return _Layout(fmt, spans, composite, long_numbers=fmt is MrzFormat.TD2)


_LAYOUTS: Final[Mapping[MrzFormat, _Layout]] = {
    MrzFormat.TD1: _td1_layout(),
    MrzFormat.TD2: _two_line_layout(MrzFormat.TD2),
    MrzFormat.TD3: _two_line_layout(MrzFormat.TD3),
    MrzFormat.MRV_A: _two_line_layout(MrzFormat.MRV_A),
    MrzFormat.MRV_B: _two_line_layout(MrzFormat.MRV_B),
}

# What the first letter of the document code may be, per format (Doc 9303 parts 4 to 7).
_CODE_LETTERS: Final[Mapping[MrzFormat, str]] = {
    MrzFormat.TD1: "ACI",
    MrzFormat.TD2: "ACI",
    MrzFormat.TD3: "P",
    MrzFormat.MRV_A: "V",
    MrzFormat.MRV_B: "V",
}


def _either(letters: str) -> str:
    """``"ACI"`` → ``"A, C or I"``."""
    return letters if len(letters) == 1 else ", ".join(letters[:-1]) + " or " + letters[-1]


# --- Input ----------------------------------------------------------------------------------

_ASCII_UPPER: Final = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _rows(lines: str | Sequence[str]) -> tuple[str, ...]:
    """The MRZ lines: split, trimmed, blank lines dropped, ASCII letters upper-cased, and
    every character checked."""
    pieces: list[str] = []
    if isinstance(lines, str):
        pieces = lines.splitlines()
    elif isinstance(lines, Sequence):
        for index, item in enumerate(lines, 1):
            if not isinstance(item, str):
                raise MrzError("lines", f"item {index} is a {type(item).__name__}, not text")
            pieces.extend(item.splitlines())
    else:
        raise MrzError("lines", f"an MRZ is text or a list of lines, not a {type(lines).__name__}")
    rows = [piece.strip().translate(_ASCII_UPPER) for piece in pieces]
    rows = [row for row in rows if row]
    if not rows:
        raise MrzError("lines", "no MRZ lines were given")
    for number, row in enumerate(rows, 1):
        for position, char in enumerate(row, 1):
            if char not in MRZ_CHARACTERS:
                raise MrzError(
                    "lines",
                    f"line {number}, position {position}: {char!r} is not an MRZ character "
                    "(only A-Z, 0-9 and the filler < are)",
                    line=number,
                )
    return tuple(rows)


def _layout_of(rows: Sequence[str]) -> _Layout:
    """The format, from the number and length of the lines and the document code."""
    count = len(rows)
    if count == 3:
        width, shape = 30, "TD1 line"
    elif count == 2:
        width = len(rows[0])
        if width not in (36, 44):
            raise MrzError(
                "lines",
                f"line 1 has {width} characters; a two-line MRZ has 36 (TD2, MRV-B) or 44 (TD3, MRV-A)",
                line=1,
            )
        shape = "TD2 or MRV-B line" if width == 36 else "TD3 or MRV-A line"
    else:
        raise MrzError("lines", f"an MRZ has 2 lines (TD2, TD3, MRV-A, MRV-B) or 3 (TD1), this one has {count}")
    for number, row in enumerate(rows, 1):
        if len(row) != width:
            raise MrzError("lines", f"line {number} has {len(row)} characters; a {shape} has {width}", line=number)
    if count == 3:
        return _LAYOUTS[MrzFormat.TD1]
    if width == 36 and rows[0].startswith("IDFRA"):
        raise MrzError(
            "format",
            "this is a French national identity card of the 1988 model (2 lines of 36, 'IDFRA...'), "
            "whose layout is not the ICAO 9303 TD2 layout; it cannot be read as an ICAO MRZ",
        )
    visa = rows[0][0] == "V"
    if width == 36:
        return _LAYOUTS[MrzFormat.MRV_B if visa else MrzFormat.TD2]
    return _LAYOUTS[MrzFormat.MRV_A if visa else MrzFormat.TD3]


def detect_format(lines: str | Sequence[str]) -> MrzFormat:
    """The ICAO format of an MRZ; raises :class:`MrzError` for anything else."""
    return _layout_of(_rows(lines)).format


# --- Reading fields -------------------------------------------------------------------------

_SEXES: Final[Mapping[str, Sex]] = {"M": Sex.MALE, "F": Sex.FEMALE, "X": Sex.UNSPECIFIED, FILLER: Sex.UNSPECIFIED}


def _country(raw: str) -> tuple[str | None, str | None]:
    """The normalised code of a printed state or nationality field, or the reason it has none."""
    if any(char.isdigit() for char in raw):
        return None, f"'{raw}' holds a digit; country codes are letters (an OCR error?)"
    code = raw.rstrip(FILLER)
    if not code:
        return None, "the code is missing"
    if FILLER in code:
        return None, f"'{raw}' has a filler inside the code"
    code = ICAO_ALIASES.get(code, code)
    if code in SPECIMEN_STATES or is_country_code(code):
        return code, None
    return None, f"'{code}' is not an ISO 3166-1 alpha-3 code or an ICAO 9303 code"


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()  # the day the domain's "not in the future" checks use


def _century_of_birth(yy: int, month: int | None, day: int | None, today: dt.date) -> int:
    year = today.year - today.year % 100 + yy
    if (year, month or 1, day or 1) > (today.year, today.month, today.day):
        year -= 100
    return year


def _century_of_expiry(yy: int, today: dt.date) -> int:
    last = today.year + 50
    return last - (last - yy) % 100


@dataclass(frozen=True)
class _Date:
    date: dt.date | None = None
    partial: str | None = None
    problem: str | None = None


def _read_date(raw: str, *, birth: bool, today: dt.date) -> _Date:
    if raw == FILLER * 6:
        return _Date()
    if not raw[:2].isdigit():
        return _Date(problem=f"'{raw}' is not a date (YYMMDD)")
    month_text, day_text = raw[2:4], raw[4:6]
    month_known = month_text not in (FILLER * 2, "00")
    day_known = day_text not in (FILLER * 2, "00")
    if (month_known and not month_text.isdigit()) or (day_known and not day_text.isdigit()):
        return _Date(problem=f"'{raw}' is not a date (YYMMDD)")
    if day_known and not month_known:
        return _Date(problem=f"'{raw}' gives a day but no month")
    if not birth and not (month_known and day_known):
        return _Date(problem=f"'{raw}' is not a full date; an expiry date needs its month and day")
    month = int(month_text) if month_known else None
    day = int(day_text) if day_known else None
    if month is not None and not 1 <= month <= 12:
        return _Date(problem=f"'{raw}' has month {month:02d}, which does not exist")
    yy = int(raw[:2])
    year = _century_of_birth(yy, month, day, today) if birth else _century_of_expiry(yy, today)
    if month is None:
        return _Date(partial=f"{year:04d}")
    if day is None:
        return _Date(partial=f"{year:04d}-{month:02d}")
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return _Date(problem=f"'{raw}' is not a date: {year:04d}-{month:02d} has no day {day:02d}")
    return _Date(date=date, partial=date.isoformat())


def _words(text: str) -> str:
    return " ".join(part for part in text.split(FILLER) if part)


@dataclass(frozen=True)
class Mrz:
    """A machine readable zone as read: every field, every check digit, every problem.

    ``issuing_state`` and ``nationality`` are as printed (``D<<``); ``issuing_country`` and
    ``nationality_country`` are the normalised codes (``DEU``), or None when the printed code
    is not one. Names are the primary and secondary identifiers with fillers read as spaces.
    ``optional_data`` is the first optional data field (on a TD3 the personal number), without
    trailing fillers and without the end of a long document number; ``optional_data_2`` is
    the second one, on a TD1 only. ``name_may_be_truncated`` is true when the name fills its
    field to the last position, which is how Doc 9303 shows a name may have been cut.
    """

    format: MrzFormat
    lines: tuple[str, ...]
    document_code: str
    issuing_state: str
    issuing_country: str | None
    primary_identifier: str
    secondary_identifier: str
    name_may_be_truncated: bool
    document_number: str
    nationality: str
    nationality_country: str | None
    birth_date: dt.date | None
    birth_date_partial: str | None
    sex: Sex
    expiry_date: dt.date | None
    optional_data: str
    optional_data_2: str
    check_digits: tuple[CheckDigit, ...]
    problems: tuple[MrzProblem, ...]

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def check_digits_ok(self) -> dict[str, bool]:
        """Each checked field (``document_number``, ``birth_date``, ``expiry_date``,
        ``personal_number`` on a TD3, ``composite``) and whether its check digit passes."""
        return {check.field: check.ok for check in self.check_digits}

    @property
    def all_check_digits_ok(self) -> bool:
        return all(check.ok for check in self.check_digits)

    def check(self, field: str) -> CheckDigit:
        for check in self.check_digits:
            if check.field == field:
                return check
        raise KeyError(f"a {self.format} MRZ has no check digit for {field!r}")


def _read(rows: tuple[str, ...], layout: _Layout, today: dt.date) -> Mrz:
    spans = layout.spans
    problems: list[MrzProblem] = []
    checks: list[CheckDigit] = []

    def text(name: str) -> str:
        return spans[name].of(rows)

    def problem(field: str, reason: str, span: str | None = None) -> None:
        problems.append(MrzProblem(field, reason, spans[span or field].line + 1))

    def add_check(check: CheckDigit) -> None:
        checks.append(check)
        if not check.ok:
            problems.append(MrzProblem(check.field, check.reason, check.line))

    fmt = layout.format
    code = text("document_code")
    letters = _CODE_LETTERS[fmt]
    if code[0] not in letters:
        problem("document_code", f"document code '{code}': a {fmt} document code begins with {_either(letters)}")
    elif code[1] != FILLER and not code[1].isalpha():
        problem("document_code", f"document code '{code}': its second character is a letter or '<'")

    issuing_state = text("issuing_state")
    issuing_country, reason = _country(issuing_state)
    if reason:
        problem("issuing_state", reason)

    name = text("name")
    primary_text, _, secondary_text = name.rstrip(FILLER).partition(FILLER * 2)
    primary, secondary = _words(primary_text), _words(secondary_text)
    for field, value in (("primary_identifier", primary), ("secondary_identifier", secondary)):
        if any(char.isdigit() for char in value):
            problem(field, f"'{value}' holds digits; names in an MRZ are letters only (an OCR error?)", "name")

    check_span = spans["document_number_check"]
    optional = text("optional_data")
    printed = text("document_number_check")
    number = text("document_number")
    if layout.long_numbers and printed == FILLER:
        continuation, _, rest = optional.partition(FILLER)
        if len(continuation) < 2:
            checks.append(
                CheckDigit(
                    "document_number", FILLER, check_digit(number), False, check_span.line + 1, check_span.start + 1
                )
            )
            problem(
                "document_number",
                "the check digit position holds '<', which announces a long document number, "
                "but the optional data does not continue it",
            )
        else:
            position = spans["optional_data"].start + len(continuation) - 1
            check = _verify("document_number", number + continuation[:-1], continuation[-1], check_span.line, position)
            if not check.ok and continuation[-1] == str(check_digit(number + FILLER + continuation[:-1])):
                check = replace(
                    check,
                    ok=True,
                    note="computed over the printed characters with the '<' between the two parts of the number, "
                    "as some issuers did, rather than over the number alone as ICAO 9303 says",
                )
            add_check(check)
            number += continuation[:-1]
            optional = rest
    else:
        add_check(_verify("document_number", number, printed, check_span.line, check_span.start))
    document_number = number.rstrip(FILLER)
    if not document_number:
        problem("document_number", "the document number is empty")
    elif FILLER in document_number:
        problem("document_number", f"'{number}' has a filler inside the number")

    nationality = text("nationality")
    nationality_country, reason = _country(nationality)
    if reason:
        problem("nationality", reason)

    birth = _read_date(text("birth_date"), birth=True, today=today)
    if birth.problem:
        problem("birth_date", birth.problem)
    span = spans["birth_date_check"]
    add_check(_verify("birth_date", text("birth_date"), text("birth_date_check"), span.line, span.start))

    sex_code = text("sex")
    sex = _SEXES.get(sex_code, Sex.UNKNOWN)
    if sex_code not in _SEXES:
        problem("sex", f"'{sex_code}' is not a sex code (M, F, X or <)")

    expiry = _read_date(text("expiry_date"), birth=False, today=today)
    if expiry.problem:
        problem("expiry_date", expiry.problem)
    span = spans["expiry_date_check"]
    add_check(
        _verify(
            "expiry_date", text("expiry_date"), text("expiry_date_check"), span.line, span.start, blank_allowed=True
        )
    )

    if "personal_number_check" in spans:
        span = spans["personal_number_check"]
        data = text("optional_data")
        add_check(
            _verify("personal_number", data, text("personal_number_check"), span.line, span.start, blank_allowed=True)
        )

    if layout.composite is not None:
        span = spans["composite_check"]
        data = "".join(rows[line][start:end] for line, start, end in layout.composite)
        add_check(_verify("composite", data, text("composite_check"), span.line, span.start))

    return Mrz(
        format=fmt,
        lines=rows,
        document_code=code.rstrip(FILLER),
        issuing_state=issuing_state,
        issuing_country=issuing_country,
        primary_identifier=primary,
        secondary_identifier=secondary,
        name_may_be_truncated=not name.endswith(FILLER),
        document_number=document_number,
        nationality=nationality,
        nationality_country=nationality_country,
        birth_date=birth.date,
        birth_date_partial=birth.partial,
        sex=sex,
        expiry_date=expiry.date,
        optional_data=optional.rstrip(FILLER),
        optional_data_2=text("optional_data_2").rstrip(FILLER) if "optional_data_2" in spans else "",
        check_digits=tuple(checks),
        problems=tuple(problems),
    )


def parse(lines: str | Sequence[str], *, strict: bool = True, today: dt.date | None = None) -> Mrz:
    """Read an MRZ given as a list of lines or as one text with line breaks.

    Surrounding whitespace and blank lines are ignored and lower-case letters read as
    capitals. A text that is not an MRZ (wrong number or length of lines, characters other
    than A-Z, 0-9 and ``<``, a known non-ICAO layout) raises :class:`MrzError` naming the
    line. With ``strict`` (the default) any other problem raises too, carrying all problems
    found; with ``strict=False`` the MRZ is returned with its ``problems`` listed.
    ``today`` fixes the date the centuries of two-digit years are chosen against.
    """
    rows = _rows(lines)
    mrz = _read(rows, _layout_of(rows), today or _today())
    if strict and mrz.problems:
        raise MrzError.from_problems(mrz.problems)
    return mrz


# --- OCR corrections ------------------------------------------------------------------------

# The usual OCR confusions between a letter and a digit.
OCR_LETTER_TO_DIGIT: Final[Mapping[str, str]] = {"O": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "G": "6"}
OCR_DIGIT_TO_LETTER: Final[Mapping[str, str]] = {digit: letter for letter, digit in OCR_LETTER_TO_DIGIT.items()}


@dataclass(frozen=True)
class OcrChange:
    """One character changed by a suggestion; ``line`` and ``position`` are 1-based."""

    field: str
    line: int
    position: int
    was: str
    now: str


@dataclass(frozen=True)
class Correction:
    """A candidate reading of a garbled MRZ, the changes that make it, and the MRZ it reads as."""

    lines: tuple[str, ...]
    changes: tuple[OcrChange, ...]
    mrz: Mrz


def suggest_corrections(lines: str | Sequence[str], *, today: dt.date | None = None) -> list[Correction]:
    """Candidate corrections of the usual OCR confusions, for a person to confirm.

    Swaps are made only where the field's type is known: letters read as digits in alphabetic
    fields (document code, country codes, names) and digits read as letters in numeric fields
    (dates and check digits). Document numbers and optional data may hold both, so they are
    never touched. A candidate is returned only when all its check digits pass; an MRZ that
    needs no swap has no candidate.
    """
    rows = _rows(lines)
    layout = _layout_of(rows)
    grid = [list(row) for row in rows]
    name_span = layout.spans["name"]
    separator = name_span.start + name_span.of(rows).find(FILLER * 2)  # before it: the primary identifier
    changes: list[OcrChange] = []
    for name, span in layout.spans.items():
        table = OCR_LETTER_TO_DIGIT if span.kind == "numeric" else OCR_DIGIT_TO_LETTER if span.kind == "alpha" else None
        if table is None:
            continue
        for position in range(span.start, span.end):
            char = grid[span.line][position]
            if char in table:
                grid[span.line][position] = table[char]
                field = _SPAN_FIELD.get(name, name)
                if name == "name" and name_span.start <= separator < position:
                    field = "secondary_identifier"
                changes.append(OcrChange(field, span.line + 1, position + 1, char, table[char]))
    if not changes:
        return []
    candidate = tuple("".join(row) for row in grid)
    try:
        mrz = _read(candidate, _layout_of(candidate), today or _today())
    except MrzError:  # the correction turned it into a layout that is not ICAO
        return []
    if not mrz.all_check_digits_ok:
        return []
    return [Correction(candidate, tuple(changes), mrz)]


# --- Transliteration ------------------------------------------------------------------------

# Doc 9303 part 3 section 6, Latin characters that are not a letter plus diacritics, with the
# recommended option where the table gives several (Ä → AE rather than A).
_LATIN: Final[Mapping[str, str]] = {
    "Ä": "AE",
    "Å": "AA",
    "Æ": "AE",
    "Ö": "OE",
    "Ø": "OE",
    "Ü": "UE",
    "ẞ": "SS",
    "Þ": "TH",
    "Ð": "D",
    "Đ": "D",
    "Ħ": "H",
    "Ĳ": "IJ",
    "Ŀ": "L",
    "Ł": "L",
    "Œ": "OE",
    "Ŧ": "T",
    "Ŋ": "N",
    "ĸ": "K",
    "\u0131": "I",  # dotless i
}

# Doc 9303 part 3 section 6, Cyrillic, keyed by the Unicode name of the capital letter.
_CYRILLIC_BY_NAME: Final[Mapping[str, str]] = {
    "A": "A",
    "BE": "B",
    "VE": "V",
    "GHE": "G",
    "GHE WITH UPTURN": "G",
    "GJE": "G",
    "DE": "D",
    "DJE": "D",
    "IE": "E",
    "IO": "E",
    "UKRAINIAN IE": "IE",
    "ZHE": "ZH",
    "ZE": "Z",
    "DZE": "DZ",
    "I": "I",
    "BYELORUSSIAN-UKRAINIAN I": "I",
    "YI": "I",
    "SHORT I": "I",
    "JE": "J",
    "KA": "K",
    "KJE": "K",
    "EL": "L",
    "LJE": "LJ",
    "EM": "M",
    "EN": "N",
    "NJE": "NJ",
    "O": "O",
    "PE": "P",
    "ER": "R",
    "ES": "S",
    "TE": "T",
    "TSHE": "C",
    "U": "U",
    "SHORT U": "U",
    "EF": "F",
    "HA": "KH",
    "TSE": "TS",
    "CHE": "CH",
    "DZHE": "DZ",
    "SHA": "SH",
    "SHCHA": "SHCH",
    "HARD SIGN": "IE",
    "YERU": "Y",
    "SOFT SIGN": "",
    "E": "E",
    "YU": "IU",
    "YA": "IA",
}
_CYRILLIC_PREFIX: Final = "CYRILLIC CAPITAL LETTER "
CYRILLIC: Final[Mapping[str, str]] = {
    chr(code): _CYRILLIC_BY_NAME[name[len(_CYRILLIC_PREFIX) :]]
    for code in range(0x0400, 0x0530)
    if (name := unicodedata.name(chr(code), "")).startswith(_CYRILLIC_PREFIX)
    and name[len(_CYRILLIC_PREFIX) :] in _CYRILLIC_BY_NAME
}

_SEPARATORS: Final = frozenset("<,/_")
_NOT_LATIN_LETTERS: Final = re.compile(r"[^A-Z ]+")


def _is_separator(char: str) -> bool:
    return char.isspace() or char in _SEPARATORS or unicodedata.category(char) == "Pd"


def transliterate_name(text: str) -> str:
    """A name in the letters an MRZ can print: words of A-Z separated by single spaces.

    ``"Müller"`` → ``"MUELLER"``, ``"Łukasz Żółć"`` → ``"LUKASZ ZOLC"``, ``"Иван Петров"`` →
    ``"IVAN PETROV"``, ``"Γιώργος"`` → ``"GIORGOS"``, ``"Jean-Paul O'Neill"`` →
    ``"JEAN PAUL ONEILL"``.
    """
    out: list[str] = []
    other_script: list[str] = []

    def emit(piece: str) -> None:
        if other_script:
            out.append(_NOT_LATIN_LETTERS.sub("", str(ascii_text("".join(other_script))).upper()))
            other_script.clear()
        out.append(piece)

    for char in unicodedata.normalize("NFC", text).upper():
        if "A" <= char <= "Z":
            emit(char)
        elif char in _LATIN:
            emit(_LATIN[char])
        elif char in CYRILLIC:
            emit(CYRILLIC[char])
        elif _is_separator(char):
            emit(" ")
        elif unicodedata.category(char).startswith("M"):
            if other_script:  # a mark on a letter of another script belongs to it
                other_script.append(char)
        elif unicodedata.category(char).startswith("L"):
            latin = ""
            if unicodedata.name(char, "").startswith("LATIN"):
                latin = "".join(part for part in unicodedata.normalize("NFKD", char) if "A" <= part <= "Z")
            if latin:
                emit(latin)
            else:
                other_script.append(char)
        # digits, apostrophes and other punctuation are left out
    emit("")
    return " ".join("".join(out).split())


def _cut(text: str, length: int) -> str:
    """``text`` cut to ``length`` so that it ends in a letter: a cut that falls just after a
    name component shortens that component by one to show the next one's initial."""
    head = text[:length]
    if len(text) <= length or not head.endswith(FILLER):
        return head
    if length >= 3 and head[length - 3] != FILLER:
        return head[: length - 2] + FILLER + text[length]
    return head.rstrip(FILLER)


def name_field(primary: str, secondary: str, width: int) -> str:
    """The MRZ name field for a holder: transliterated, fillers for spaces, truncated to
    ``width`` when too long (see the module notes), and padded with fillers."""
    first = FILLER.join(transliterate_name(primary).split())
    second = FILLER.join(transliterate_name(secondary).split())
    if not first:  # a single name is the primary identifier
        first, second = second, ""
    full = first + (FILLER * 2 + second if second else "")
    if len(full) <= width:
        return full.ljust(width, FILLER)
    if second and len(first) <= width - 3:
        field = first + FILLER * 2 + _cut(second, width - len(first) - 2)
    elif len(first) <= width:
        field = first
    else:
        field = _cut(first, width)
    return field.ljust(width, FILLER)


# --- Generating -----------------------------------------------------------------------------

_SEX_CODES: Final[Mapping[Sex, str]] = {
    Sex.MALE: "M",
    Sex.FEMALE: "F",
    Sex.UNSPECIFIED: FILLER,
    Sex.UNKNOWN: FILLER,
}


@dataclass(frozen=True, kw_only=True)
class MrzFields:
    """What an MRZ is made from.

    ``issuing_state`` and ``nationality`` are printed as given (``D`` for Germany, as Doc
    9303 lists it, or ``DEU``). Names may be in any script. ``birth_date`` is a date, a
    partial date (``"1974"``, ``"1974-08"``) or None when unknown; ``expiry_date`` None leaves
    the field blank. ``optional_data_2`` exists on a TD1 only. Sex unspecified and unknown
    are both printed ``<``, which reads back as unspecified.
    """

    document_code: str
    issuing_state: str
    document_number: str
    primary_identifier: str
    secondary_identifier: str = ""
    nationality: str
    birth_date: dt.date | str | None = None
    sex: Sex = Sex.UNSPECIFIED
    expiry_date: dt.date | None = None
    optional_data: str = ""
    optional_data_2: str = ""


def _code_field(value: str, fmt: MrzFormat) -> str:
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z][A-Z<]?", code):
        raise MrzError("document_code", f"'{value}' is not a document code (one or two letters)")
    letters = _CODE_LETTERS[fmt]
    if code[0] not in letters:
        raise MrzError("document_code", f"a {fmt} document code begins with {_either(letters)}, not '{code[0]}'")
    return code.ljust(2, FILLER)


def _country_field(value: str, field: str) -> str:
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{1,3}", code):
        raise MrzError(field, f"'{value}' is not a country code of one to three letters")
    normal = ICAO_ALIASES.get(code, code)
    if normal not in SPECIMEN_STATES and not is_country_code(normal):
        raise MrzError(field, f"'{value}' is not an ISO 3166-1 alpha-3 code or an ICAO 9303 code")
    return code.ljust(3, FILLER)


def _date_field(value: dt.date | str | None, field: str, *, partial: bool) -> str:
    if value is None:
        return FILLER * 6
    if isinstance(value, dt.date):
        return f"{value.year % 100:02d}{value.month:02d}{value.day:02d}"
    if partial:
        try:
            year, month, day = parse_partial_date(value.strip())
        except ValueError as error:
            raise MrzError(field, str(error)) from None
        month_text = f"{month:02d}" if month else FILLER * 2
        day_text = f"{day:02d}" if day else FILLER * 2
        return f"{year % 100:02d}{month_text}{day_text}"
    raise MrzError(field, f"'{value}' is not a date")


def _optional_field(value: str, field: str, width: int) -> str:
    text = value.strip().upper().replace(" ", FILLER)
    if not set(text) <= MRZ_CHARACTERS:
        raise MrzError(field, f"'{value}' holds characters other than A-Z, 0-9 and <")
    if len(text) > width:
        raise MrzError(field, f"'{value}' has {len(text)} characters; the field holds {width}")
    return text.ljust(width, FILLER)


def _number_fields(value: str, fmt: MrzFormat, optional: str, optional_width: int) -> tuple[str, str]:
    """The 10 characters of document number and check digit, and the optional data field,
    which continues a long document number on a TD1 or TD2."""
    number = normalise_document_number(value)
    if not number or not number.isascii() or not number.isalnum():
        raise MrzError("document_number", f"'{value}' is not a document number of letters A-Z and digits")
    if len(number) <= 9:
        padded = number.ljust(9, FILLER)
        return padded + str(check_digit(padded)), _optional_field(optional, "optional_data", optional_width)
    room = optional_width - 1 if fmt in (MrzFormat.TD1, MrzFormat.TD2) else 0
    if len(number) - 9 > room:
        raise MrzError(
            "document_number", f"'{number}' has {len(number)} characters; a {fmt} holds at most {9 + max(room, 0)}"
        )
    continuation = number[9:] + str(check_digit(number))
    rest = optional.strip().upper()
    tail = continuation + (FILLER + rest if rest else "")
    if len(tail) > optional_width:
        raise MrzError(
            "optional_data",
            f"'{optional}' does not fit after the end of the long document number; "
            f"{optional_width - len(continuation) - 1} characters are left",
        )
    return number[:9] + FILLER, _optional_field(tail, "optional_data", optional_width)


def generate(format: MrzFormat | str, fields: MrzFields) -> tuple[str, ...]:
    """The lines of an MRZ of ``format`` holding ``fields``, with all its check digits."""
    try:
        fmt = MrzFormat(format)
    except ValueError:
        raise MrzError("format", f"'{format}' is not an MRZ format ({', '.join(MrzFormat)})") from None
    width = fmt.width
    code = _code_field(fields.document_code, fmt)
    state = _country_field(fields.issuing_state, "issuing_state")
    if fmt is MrzFormat.TD2 and (code + state).startswith("IDFRA"):
        raise MrzError("document_code", "'ID' from FRA on 2 lines of 36 reads as the French card of 1988; use TD1")
    nationality = _country_field(fields.nationality, "nationality")
    birth = _date_field(fields.birth_date, "birth_date", partial=True)
    expiry = _date_field(fields.expiry_date, "expiry_date", partial=False)
    sex = _SEX_CODES[fields.sex]
    if fmt is not MrzFormat.TD1 and fields.optional_data_2.strip():
        raise MrzError("optional_data_2", f"only a TD1 has a second optional data field, not a {fmt}")
    name_width = 30 if fmt is MrzFormat.TD1 else width - 5
    name = name_field(fields.primary_identifier, fields.secondary_identifier, name_width)
    if name == FILLER * name_width:
        raise MrzError("primary_identifier", "the holder's name has no letter an MRZ can print")
    dates = birth + str(check_digit(birth)) + sex + expiry + str(check_digit(expiry))

    if fmt is MrzFormat.TD1:
        number, optional = _number_fields(fields.document_number, fmt, fields.optional_data, 15)
        optional_2 = _optional_field(fields.optional_data_2, "optional_data_2", 11)
        line1 = code + state + number + optional
        line2 = dates + nationality + optional_2
        line2 += str(check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29]))
        return line1, line2, name

    line1 = code + state + name
    if fmt is MrzFormat.TD3:
        number, _ = _number_fields(fields.document_number, fmt, "", 0)
        personal = _optional_field(fields.optional_data, "optional_data", 14)
        personal_check = FILLER if set(personal) == {FILLER} else str(check_digit(personal))
        line2 = number + nationality + dates + personal + personal_check
    elif fmt is MrzFormat.TD2:
        number, optional = _number_fields(fields.document_number, fmt, fields.optional_data, 7)
        line2 = number + nationality + dates + optional
    else:
        number, _ = _number_fields(fields.document_number, fmt, "", 0)
        line2 = number + nationality + dates + _optional_field(fields.optional_data, "optional_data", width - 28)
        return line1, line2
    line2 += str(check_digit(line2[0:10] + line2[13:20] + line2[21:]))
    return line1, line2


def generate_td1(fields: MrzFields) -> tuple[str, ...]:
    return generate(MrzFormat.TD1, fields)


def generate_td2(fields: MrzFields) -> tuple[str, ...]:
    return generate(MrzFormat.TD2, fields)


def generate_td3(fields: MrzFields) -> tuple[str, ...]:
    return generate(MrzFormat.TD3, fields)


def generate_mrva(fields: MrzFields) -> tuple[str, ...]:
    return generate(MrzFormat.MRV_A, fields)


def generate_mrvb(fields: MrzFields) -> tuple[str, ...]:
    return generate(MrzFormat.MRV_B, fields)


# --- The domain -----------------------------------------------------------------------------


def document_type_for(code: str) -> DocumentType:
    """The document type a Doc 9303 document code stands for."""
    code = code.rstrip(FILLER)
    if code in ("PD", "PS", "PT"):
        return {
            "PD": DocumentType.DIPLOMATIC_PASSPORT,
            "PS": DocumentType.SERVICE_PASSPORT,
            "PT": DocumentType.TRAVEL_DOCUMENT,
        }[code]
    if code in ("IR", "AR"):
        return DocumentType.RESIDENCE_PERMIT
    first = code[:1]
    if first == "P":
        return DocumentType.PASSPORT
    if first == "V":
        return DocumentType.VISA
    if first in ("I", "A", "C"):
        return DocumentType.IDENTITY_CARD
    return DocumentType.OTHER


# Where a domain field came from in the MRZ, to name it in errors.
_DOMAIN_TO_MRZ: Final = (
    ("number", "document_number"),
    ("issuing_country", "issuing_state"),
    ("expires_on", "expiry_date"),
    ("holder.nationality", "nationality"),
    ("holder.birth_date", "birth_date"),
    ("holder.sex", "sex"),
    ("holder.names", "primary_identifier"),
)


def _from_validation(error: ValidationError) -> MrzError:
    problems = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"])
        field = next((mrz for domain, mrz in _DOMAIN_TO_MRZ if path.startswith(domain)), path or "document")
        problems.append(MrzProblem(field, str(item["msg"])))
    return MrzError.from_problems(problems)


def to_travel_document(mrz: Mrz, *, status: DocumentStatus) -> TravelDocument:
    """The travel document an MRZ describes, reported with ``status``. An MRZ with problems,
    or one the domain refuses (a specimen state, say), raises :class:`MrzError`."""
    if mrz.problems:
        raise MrzError.from_problems(mrz.problems)
    specimen = SPECIMEN_STATES.get(mrz.issuing_country or "")
    if specimen:
        raise MrzError("issuing_state", f"'{mrz.issuing_country}' is {specimen}; a specimen is not a travel document")
    family = mrz.primary_identifier or None
    given = mrz.secondary_identifier or None
    full = " ".join(part for part in (given, family) if part)
    if not full:
        raise MrzError("primary_identifier", "the MRZ holds no name")
    try:
        holder = DocumentHolder(
            names=[PersonName(full=full, given=given, family=family, kind=NameKind.PRIMARY)],
            birth_date=mrz.birth_date_partial,
            sex=mrz.sex,
            nationality=mrz.nationality_country,
        )
        return TravelDocument(
            number=mrz.document_number,
            issuing_country=mrz.issuing_country,
            document_type=document_type_for(mrz.document_code),
            status=status,
            expires_on=mrz.expiry_date,
            holder=holder,
        )
    except ValidationError as error:
        raise _from_validation(error) from None


_DEFAULT_FORMATS: Final[Mapping[DocumentType, MrzFormat]] = {
    DocumentType.PASSPORT: MrzFormat.TD3,
    DocumentType.DIPLOMATIC_PASSPORT: MrzFormat.TD3,
    DocumentType.SERVICE_PASSPORT: MrzFormat.TD3,
    DocumentType.TRAVEL_DOCUMENT: MrzFormat.TD3,
    DocumentType.EMERGENCY_TRAVEL_DOCUMENT: MrzFormat.TD3,
    DocumentType.IDENTITY_CARD: MrzFormat.TD1,
    DocumentType.RESIDENCE_PERMIT: MrzFormat.TD1,
    DocumentType.VISA: MrzFormat.MRV_A,
}
_DEFAULT_CODES: Final[Mapping[DocumentType, str]] = {
    DocumentType.PASSPORT: "P",
    DocumentType.DIPLOMATIC_PASSPORT: "PD",
    DocumentType.SERVICE_PASSPORT: "PS",
    DocumentType.TRAVEL_DOCUMENT: "PT",
    DocumentType.IDENTITY_CARD: "ID",
    DocumentType.RESIDENCE_PERMIT: "IR",
    DocumentType.VISA: "V",
}
# Doc 9303 part 3 gives Germany the one-letter code D.
_ICAO_PRINTED_CODES: Final[Mapping[str, str]] = {"DEU": "D"}


def from_travel_document(
    document: TravelDocument, format: MrzFormat | str | None = None, *, document_code: str | None = None
) -> tuple[str, ...]:
    """The MRZ lines for a travel document. The format and document code follow from the
    document type unless given (TD3 for passports, TD1 for cards, MRV-A for visas)."""
    fmt = MrzFormat(format) if format else _DEFAULT_FORMATS.get(document.document_type)
    code = document_code or _DEFAULT_CODES.get(document.document_type)
    if fmt is None or code is None:
        raise MrzError(
            "document_type", f"no MRZ format or document code is known for a {document.document_type}; give them"
        )
    holder = document.holder
    if holder is None:
        raise MrzError("holder", "the document has no holder (a stolen blank?), so there is no MRZ to write")
    if holder.nationality is None:
        raise MrzError("nationality", "the holder's nationality is not known, and an MRZ needs it")
    name = next((name for name in holder.names if name.kind is NameKind.PRIMARY), holder.names[0])
    primary = name.family or (name.full if not name.given else "")
    fields = MrzFields(
        document_code=code,
        issuing_state=_ICAO_PRINTED_CODES.get(document.issuing_country, document.issuing_country),
        document_number=document.number,
        primary_identifier=primary,
        secondary_identifier=name.given or "",
        nationality=_ICAO_PRINTED_CODES.get(holder.nationality, holder.nationality),
        birth_date=holder.birth_date,
        sex=holder.sex,
        expiry_date=document.expires_on,
    )
    return generate(fmt, fields)


# --- The format adapter ---------------------------------------------------------------------


def _blocks(text: str) -> Iterator[tuple[int, int, str]]:
    """The blocks of non-blank lines in a text, with their first and last line numbers."""
    block: list[str] = []
    first = 0
    for number, line in enumerate([*text.splitlines(), ""], 1):
        if line.strip():
            if not block:
                first = number
            block.append(line)
        elif block:
            yield first, number - 1, "\n".join(block)
            block = []


class MrzAdapter:
    """The ``icao-mrz`` format: MRZ blocks separated by blank lines, one travel document each.

    An MRZ says nothing of why it is reported, so every document read gets the ``status``
    the adapter is made with (stolen unless told otherwise). A block that is not a valid MRZ,
    or a document the domain refuses, is a rejection naming the field.
    """

    name = "icao-mrz"
    description = (
        "ICAO Doc 9303 machine readable zones (TD1, TD2, TD3, MRV-A, MRV-B) as text, "
        "one block of lines per travel document, blocks separated by blank lines"
    )
    media_types: tuple[str, ...] = ("text/plain",)

    def __init__(self, *, status: DocumentStatus = DocumentStatus.STOLEN, today: dt.date | None = None) -> None:
        self.status = DocumentStatus(status)
        self.today = today

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        text = stream.read().decode("utf-8-sig", errors="replace")
        for first, last, block in _blocks(text):
            location = f"line {first}" if first == last else f"lines {first}-{last}"
            try:
                document = to_travel_document(parse(block, strict=False, today=self.today), status=self.status)
            except MrzError as error:
                errors = tuple(FieldError(problem.field, problem.reason) for problem in error.problems)
                yield Rejection(error.field, error.reason, raw=block, location=location, errors=errors)
            else:
                yield Accepted(document, raw=block, location=location)

    def write(self, records: Iterable[BaseModel], stream: IO[bytes]) -> None:
        """Each travel document as an MRZ block, in the format its type usually has."""
        blocks = []
        for record in records:
            if not isinstance(record, TravelDocument):
                raise TypeError(f"the icao-mrz format writes travel documents, not {type(record).__name__}")
            blocks.append("\n".join(from_travel_document(record)) + "\n")
        stream.write("\n".join(blocks).encode("ascii"))
