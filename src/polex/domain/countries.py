"""Country codes: ISO 3166-1 alpha-3, as ICAO Doc 9303 uses them.

ICAO 9303 (part 3, section 5) adds codes that ISO 3166-1 does not have but that travel
documents and nationalities carry: organisations that issue documents (the United Nations,
INTERPOL, ...) and the codes for stateless persons and refugees. Germany's one-letter code
``D`` appears in machine readable zones; it is read as ``DEU`` and the original is kept in the
record's provenance by whoever normalises it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

import pycountry
from pydantic import AfterValidator, BeforeValidator, Field

# ICAO Doc 9303 part 3, codes that are not ISO 3166-1 countries.
ICAO_SPECIAL_CODES: dict[str, str] = {
    "GBD": "British Overseas Territories Citizen",
    "GBN": "British National (Overseas)",
    "GBO": "British Overseas Citizen",
    "GBP": "British Protected Person",
    "GBS": "British Subject",
    "EUE": "European Union",
    "UNO": "United Nations Organization or one of its officials",
    "UNA": "Specialized agency of the United Nations or one of its officials",
    "UNK": "Resident of Kosovo to whom a travel document has been issued by UNMIK",
    "XBA": "African Development Bank",
    "XIM": "African Export-Import Bank",
    "XCC": "Caribbean Community or one of its emissaries",
    "XCE": "Council of Europe",
    "XCO": "Common Market for Eastern and Southern Africa",
    "XEC": "Economic Community of West African States",
    "XPO": "International Criminal Police Organization (INTERPOL)",
    "XES": "Organisation of Eastern Caribbean States",
    "XMP": "Parliamentary Assembly of the Mediterranean",
    "XOM": "Sovereign Military Order of Malta or one of its emissaries",
    "XDC": "Southern African Development Community",
    "XXA": "Stateless person",
    "XXB": "Refugee (1951 Convention)",
    "XXC": "Refugee (other than under the 1951 Convention)",
    "XXX": "Person of unspecified nationality",
}

# Codes seen in machine readable zones that stand for an ISO 3166-1 alpha-3 code.
ICAO_ALIASES: dict[str, str] = {"D": "DEU", "D<<": "DEU"}

HUB_COUNTRY = "XPO"


@lru_cache(maxsize=1)
def _iso_alpha3() -> frozenset[str]:
    return frozenset(country.alpha_3 for country in pycountry.countries)


def is_country_code(code: str) -> bool:
    """True for an ISO 3166-1 alpha-3 code or an ICAO 9303 special code."""
    return code in _iso_alpha3() or code in ICAO_SPECIAL_CODES


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_3=code)
    if country is not None:
        return str(getattr(country, "common_name", None) or country.name)
    return ICAO_SPECIAL_CODES.get(code, code)


def normalise_country_code(value: object) -> object:
    """Upper-case and trim; map ICAO aliases. Non-strings are left for the type check."""
    if not isinstance(value, str):
        return value
    code = value.strip().upper()
    return ICAO_ALIASES.get(code, code)


def _check_country_code(code: str) -> str:
    if not is_country_code(code):
        raise ValueError(f"'{code}' is not an ISO 3166-1 alpha-3 country code")
    return code


CountryCode = Annotated[
    str,
    BeforeValidator(normalise_country_code),
    Field(min_length=3, max_length=3, examples=["FRA", "UKR", "XPO"]),
    AfterValidator(_check_country_code),
]
"""ISO 3166-1 alpha-3 (or ICAO 9303 special) code, e.g. ``FRA``."""
