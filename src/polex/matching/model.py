"""The matcher's inputs and outputs: a person to look for, a score and its explanation.

``PersonQuery`` checks and normalises its fields when it is built, so every instance is
valid: a bad field raises ``ValueError`` whose message starts with the field's name
(``names[0]: ...``, ``birth_date: ...``), which the API layer turns into a 422.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import pycountry

from polex.domain.countries import ICAO_ALIASES, ICAO_SPECIAL_CODES
from polex.domain.dates import parse_partial_date
from polex.domain.lookalikes import latin_lookalikes

MAX_NAMES = 20
MAX_NAME_LENGTH = 300
MAX_NATIONALITIES = 10
MAX_IDENTIFIERS = 20
MAX_IDENTIFIER_LENGTH = 64

_LOOSE_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
# Spaces, dashes, dots, slashes and the MRZ filler separate groups of a document number.
_IDENTIFIER_SEPARATORS = re.compile(r"[\s\-./<_]+")
_SEX_VALUES = {
    "m": "M", "male": "M", "man": "M",
    "f": "F", "female": "F", "woman": "F",
    "x": None, "u": None, "other": None, "unknown": None, "unspecified": None, "": None,
}  # fmt: skip
# Characters that never belong in a name: control characters, surrogates, line breaks.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


@dataclass(frozen=True)
class PersonQuery:
    """A person: what is searched for, and what a watch list holds.

    ``names`` in any script, each with at least one letter or digit (at most 20 names of
    300 characters). ``birth_date`` is ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (month and
    day may be written without a leading zero; they are padded). ``nationalities`` are ISO
    3166-1 alpha-3 or alpha-2 codes, or ICAO 9303 codes, stored as alpha-3. ``sex`` is
    ``"M"``, ``"F"`` or ``None`` (``male``/``female`` are accepted; ``X`` and ``unknown``
    read as ``None``). ``identifiers`` are document or national numbers, stored upper-case
    without spaces, dashes or MRZ fillers.
    """

    names: tuple[str, ...]
    birth_date: str | None = None
    nationalities: tuple[str, ...] = ()
    sex: str | None = None
    identifiers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Normalising in place keeps the dataclass frozen for everyone else.
        object.__setattr__(self, "names", _check_names(self.names))
        object.__setattr__(self, "birth_date", normalise_birth_date(self.birth_date))
        object.__setattr__(self, "nationalities", _check_nationalities(self.nationalities))
        object.__setattr__(self, "sex", normalise_sex(self.sex))
        object.__setattr__(self, "identifiers", _check_identifiers(self.identifiers))


@dataclass(frozen=True)
class FeatureExplanation:
    """What one feature contributed to a score.

    ``score`` is the feature's own agreement in [0, 1] (1 = identical). ``weight`` is what it
    did to the total: the name feature sets the base (weight 1.0, the total starts at its
    score); every other feature adds its ``weight``, which is positive for supporting
    evidence, negative for a conflict and 0 when one side lacks the value.
    """

    feature: str
    score: float
    weight: float
    detail: str


@dataclass(frozen=True)
class MatchResult:
    score: float
    match: bool
    explanation: tuple[FeatureExplanation, ...]


@dataclass(frozen=True)
class Candidate:
    entry_id: str
    score: float
    match: bool
    explanation: tuple[FeatureExplanation, ...]


def _as_tuple(values: object, field: str) -> tuple[object, ...]:
    if isinstance(values, str | bytes):
        raise ValueError(f"{field}: must be a list of strings, not a single string")
    if not isinstance(values, tuple | list):
        raise ValueError(f"{field}: must be a list of strings")
    return tuple(values)


def _check_names(names: object) -> tuple[str, ...]:
    values = _as_tuple(names, "names")
    if not values:
        raise ValueError("names: at least one name is required")
    if len(values) > MAX_NAMES:
        raise ValueError(f"names: {len(values)} names, at most {MAX_NAMES} are allowed")
    checked: list[str] = []
    for index, name in enumerate(values):
        field = f"names[{index}]"
        if not isinstance(name, str):
            raise ValueError(f"{field}: must be a string")
        name = name.strip()
        if len(name) > MAX_NAME_LENGTH:
            raise ValueError(f"{field}: {len(name)} characters, at most {MAX_NAME_LENGTH} are allowed")
        for char in name:
            if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
                raise ValueError(f"{field}: contains the control character U+{ord(char):04X}")
        if not any(char.isalnum() for char in name):
            raise ValueError(f"{field}: has no letters or digits")
        checked.append(name)
    return tuple(checked)


def normalise_birth_date(value: object) -> str | None:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` with zero padding; raises ValueError naming the field."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("birth_date: must be a string such as 1980, 1980-03 or 1980-03-07")
    text = value.strip()
    if not text:
        return None
    match = _LOOSE_DATE.match(text)
    if match is None:
        raise ValueError(f"birth_date: '{text[:40]}' is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = match.groups()
    padded = year + (f"-{int(month):02d}" if month else "") + (f"-{int(day):02d}" if day else "")
    try:
        parse_partial_date(padded)
    except ValueError as error:
        raise ValueError(f"birth_date: {error}") from None
    return padded


@lru_cache(maxsize=1)
def _country_codes() -> dict[str, str]:
    codes: dict[str, str] = {}
    for country in pycountry.countries:
        codes[country.alpha_3] = country.alpha_3
        codes[country.alpha_2] = country.alpha_3
    for code in ICAO_SPECIAL_CODES:
        codes[code] = code
    codes.update(ICAO_ALIASES)
    # Codes still found on older documents and lists.
    codes.update({"UK": "GBR", "XK": "XKX", "XKX": "XKX", "RKS": "XKX", "ZAR": "COD", "ROM": "ROU", "TMP": "TLS"})
    return codes


def normalise_country(value: str) -> str | None:
    """ISO alpha-3 (or ICAO) for an alpha-2, alpha-3 or ICAO code; None if unknown."""
    return _country_codes().get(value.strip().upper())


def _check_nationalities(values: object) -> tuple[str, ...]:
    items = _as_tuple(values, "nationalities")
    if len(items) > MAX_NATIONALITIES:
        raise ValueError(f"nationalities: {len(items)} values, at most {MAX_NATIONALITIES} are allowed")
    codes: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ValueError(f"nationalities[{index}]: must be a string")
        code = normalise_country(item)
        if code is None:
            raise ValueError(f"nationalities[{index}]: '{item[:20]}' is not an ISO 3166-1 country code")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


def normalise_sex(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().lower() not in _SEX_VALUES:
        raise ValueError(f"sex: '{str(value)[:20]}' is not one of male, female, M, F, X or unknown")
    return _SEX_VALUES[value.strip().lower()]


def normalise_identifier(value: str) -> str:
    """Upper-case, without separators; Cyrillic and Greek look-alikes read as the Latin letters."""
    return latin_lookalikes(_IDENTIFIER_SEPARATORS.sub("", value).upper())


def _check_identifiers(values: object) -> tuple[str, ...]:
    items = _as_tuple(values, "identifiers")
    if len(items) > MAX_IDENTIFIERS:
        raise ValueError(f"identifiers: {len(items)} values, at most {MAX_IDENTIFIERS} are allowed")
    checked: list[str] = []
    for index, item in enumerate(items):
        field = f"identifiers[{index}]"
        if not isinstance(item, str):
            raise ValueError(f"{field}: must be a string")
        number = normalise_identifier(item)
        if not number:
            raise ValueError(f"{field}: is empty")
        if len(number) > MAX_IDENTIFIER_LENGTH:
            raise ValueError(f"{field}: {len(number)} characters, at most {MAX_IDENTIFIER_LENGTH} are allowed")
        if not number.isalnum():
            raise ValueError(f"{field}: may only contain letters and digits")
        if number not in checked:
            checked.append(number)
    return tuple(checked)
