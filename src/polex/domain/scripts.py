"""Writing systems of names, as ISO 15924 codes (``Latn``, ``Cyrl``, ``Arab``, ``Hani`` ...).

Detection uses rigour (OpenSanctions' text library), which reads each code point's Unicode
script; pycountry supplies the ISO 15924 code list that the names are mapped onto.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

import pycountry
from pydantic import AfterValidator, Field
from rigour.text.scripts import text_scripts

UNKNOWN_SCRIPT = "Zzzz"

# Unicode script names that differ from ISO 15924's English names.
_UNICODE_NAME_TO_CODE = {"Han": "Hani", "Katakana_Or_Hiragana": "Hrkt"}


@lru_cache(maxsize=1)
def _codes_by_name() -> dict[str, str]:
    # Exact names first, so "Latin" is Latn and not "Latin (Fraktur variant)".
    table = {str(script.name): str(script.alpha_4) for script in pycountry.scripts}
    for script in pycountry.scripts:
        table.setdefault(str(script.name).split(" (")[0], str(script.alpha_4))
    table.update(_UNICODE_NAME_TO_CODE)
    return table


@lru_cache(maxsize=1)
def script_codes() -> frozenset[str]:
    return frozenset(str(script.alpha_4) for script in pycountry.scripts)


def detect_script(text: str) -> str:
    """The ISO 15924 code of the script a name is written in.

    Japanese mixes Han with kana (``Jpan``), kana alone are ``Hira``, ``Kana`` or both
    ``Hrkt``; Korean may mix Han with Hangul (``Kore``);
    any other mixture, or text without letters, is ``Zzzz`` (unknown).
    """
    names = set(text_scripts(text))
    if not names:
        return UNKNOWN_SCRIPT
    if names == {"Hiragana"}:
        return "Hira"
    if names == {"Katakana"}:
        return "Kana"
    if names == {"Hiragana", "Katakana"}:
        return "Hrkt"
    if names <= {"Han", "Hiragana", "Katakana"} and "Han" in names and len(names) > 1:
        return "Jpan"
    if names == {"Han", "Hangul"}:
        return "Kore"
    if len(names) > 1:
        return UNKNOWN_SCRIPT
    return _codes_by_name().get(names.pop(), UNKNOWN_SCRIPT)


def _check_script_code(code: str) -> str:
    if code not in script_codes():
        raise ValueError(f"'{code}' is not an ISO 15924 script code")
    return code


ScriptCode = Annotated[
    str,
    Field(min_length=4, max_length=4, examples=["Latn", "Cyrl"]),
    AfterValidator(_check_script_code),
]
