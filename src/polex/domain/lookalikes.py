"""Cyrillic and Greek capitals that look like Latin ones, as plates and documents use them.

Greek and Ukrainian registration plates are made only of letters with a Latin twin, and
border officers type what they see: ``ΙΚΥ-1234`` and ``IKY-1234`` are one plate. Document
numbers printed in Greek or Cyrillic letters read the same way in the MRZ. Identifiers are
compared in Latin; the value as received stays in the record's provenance.
"""

from __future__ import annotations

_CYRILLIC = "АВЕКМНОРСТУХІЈЅ"
_CYRILLIC_LATIN = "ABEKMHOPCTYXIJS"
_GREEK = "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ"
_GREEK_LATIN = "ABEZHIKMNOPTYX"

_TO_LATIN = str.maketrans(_CYRILLIC + _GREEK, _CYRILLIC_LATIN + _GREEK_LATIN)


def latin_lookalikes(text: str) -> str:
    """Replace upper-case Cyrillic and Greek letters by the Latin letters they look like."""
    return text.translate(_TO_LATIN)
