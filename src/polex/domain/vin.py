"""Vehicle identification numbers (ISO 3779) and their check digit.

The ninth character is a check digit computed with the transliteration and weights of
ISO 3779 / 49 CFR 565. It is mandatory for vehicles made for North America (the world
manufacturer identifier starts with 1-5) and China (``L``); elsewhere manufacturers may
use the position freely, so a mismatch there is not an error.
"""

from __future__ import annotations

import re

VIN_PATTERN = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")

_TRANSLITERATION = {
    **{str(digit): digit for digit in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_CHECK_DIGIT_REGIONS = frozenset("12345L")


def normalise_vin(raw: str) -> str:
    """Upper-case and drop the spaces and hyphens people type into VINs."""
    return re.sub(r"[\s\-]", "", raw).upper()


def vin_check_digit(vin: str) -> str:
    """The check digit ISO 3779 computes for a 17-character VIN (``0``-``9`` or ``X``)."""
    total = sum(_TRANSLITERATION[char] * weight for char, weight in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def check_digit_applies(vin: str) -> bool:
    return vin[:1] in _CHECK_DIGIT_REGIONS


def validate_vin(raw: str) -> str:
    """Return the normalised VIN or raise ValueError saying what is wrong with it."""
    vin = normalise_vin(raw)
    if len(vin) != 17:
        raise ValueError(f"a VIN has 17 characters, '{vin}' has {len(vin)}")
    if not VIN_PATTERN.match(vin):
        bad = sorted({char for char in vin if not re.match(r"[A-HJ-NPR-Z0-9]", char)})
        raise ValueError(f"a VIN may not contain {', '.join(repr(c) for c in bad)} (I, O and Q are excluded)")
    if check_digit_applies(vin):
        expected = vin_check_digit(vin)
        if vin[8] != expected:
            raise ValueError(f"check digit '{vin[8]}' (position 9) does not match the computed '{expected}'")
    return vin
