"""The contract a record kind fulfils to be stored, listed and served."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rigour.text.translit import ascii_text

from polex.auth.principal import Principal
from polex.domain.base import Restrictions
from polex.domain.records import RecordType

TERM_SEPARATOR = "|"
_TOKEN_SPLIT = re.compile(r"[\s\-'\u2019,.()/]+")  # \u2019: the typographic apostrophe


@dataclass(frozen=True)
class Projection:
    """What the ``records`` table keeps beside the JSON content, for filters and display."""

    label: str
    key: str | None = None
    status: str | None = None
    terms: frozenset[str] = frozenset()
    # Exact identifiers checks look the record up by (``record_keys``), e.g. ``vin:...``.
    lookup: frozenset[str] = frozenset()

    def terms_column(self) -> str:
        if not self.terms:
            return ""
        return TERM_SEPARATOR + TERM_SEPARATOR.join(sorted(self.terms)) + TERM_SEPARATOR


@dataclass(frozen=True)
class TermFilter:
    """A list filter, ``?name=value``, matched against the terms the projection stored."""

    name: str
    term: str
    description: str
    normalise: Callable[[str], str] = str.upper

    def term_for(self, value: str) -> str:
        return f"{self.term}:{self.normalise(value.strip())}"


class LookupKeyListener(Protocol):
    """Told, after the commit, which lookup keys a change added and removed (the screening
    index keeps itself current this way). A key filed under two records is added twice."""

    def keys_changed(self, added: Iterable[str], removed: Iterable[str]) -> None: ...


class RecordChangeListener(Protocol):
    """Told, after the commit, which records of a kind changed: the new content (JSON
    form), or None for a record withdrawn or purged (the person watch list follows)."""

    def records_changed(self, kind: str, changed: Mapping[str, Mapping[str, Any] | None]) -> None: ...


@dataclass(frozen=True)
class RecordFeature:
    record_type: RecordType
    project: Callable[[Any], Projection]
    filters: tuple[TermFilter, ...] = ()
    # Raises a PolexError when the principal may not hold this content (e.g. only the
    # issuing country reports its travel documents).
    check_owner: Callable[[Any, Principal], None] | None = field(default=None)
    # Raises a ValidationFailed naming the field when content its model accepts is still not
    # valid in its own standard (a STIX object the OASIS validator refuses): run on what the
    # API creates or replaces and on released quarantine items (adapters check what they read).
    check_content: Callable[[Any], None] | None = field(default=None)
    # The restrictions a record gets from its content and those its owner declared (None when
    # none were): a STIX object's TLP marking makes its handling at least as strict.
    restrictions_for: Callable[[Any, Restrictions | None], Restrictions] | None = field(default=None)


def name_tokens(texts: Iterable[str]) -> set[str]:
    """Lower-case name tokens, in the original script and in ASCII transliteration."""
    tokens: set[str] = set()
    for text in texts:
        for variant in (text, ascii_text(text)):
            for token in _TOKEN_SPLIT.split(variant.casefold()):
                if token and TERM_SEPARATOR not in token:
                    tokens.add(token)
    return tokens


def name_token(value: str) -> str:
    """How a ``?name=`` filter value is compared: one token, case-folded."""
    return value.casefold()
