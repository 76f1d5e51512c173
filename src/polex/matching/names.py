"""Names as the matcher sees them: tokens with Latin forms, phonetic keys and variant symbols.

A name is split into tokens (letters, marks and digits; apostrophes are dropped so that
``Ba'asyir`` and ``Baasyir`` agree). Each token is analysed once and cached:

- ``latin``: an ASCII transliteration from rigour (its own tables for Cyrillic, Greek,
  Armenian, Georgian and Hangul; ICU through normality for Arabic, Hebrew, Han, Devanagari
  and the rest), so that ``Путин`` and ``Putin`` meet on ``putin``;
- ``compare``: the Latin form with OCR look-alikes folded (``0``/``o``, ``1``/``i``,
  ``rn``/``m``), which edit distances are computed on, and ``collapsed``, the same without
  doubled letters (``Mohammed``/``Mohamed``, ``Ayyub``/``Ayub``), which blocking keys use;
- ``logogram``: for Han tokens, the characters themselves in simplified form (ICU's
  Traditional-Simplified transform): two Han names are compared by character, not by their
  pinyin, since many surnames share a reading (``徐`` and ``許`` are both ``xu``);
- ``phonetic``: a metaphone key (rigour), for spelling variants that sound alike;
- ``skeleton``: the consonants only, because Arabic and Hebrew script write few vowels
  (``محمد`` transliterates to ``mhmd``, ``Mohammed`` has the skeleton ``mhmd``) and Korean
  romanisations disagree on vowels and voicing (``김정은``: ``gimjeongeun``, ``Kim Jong Un``);
- ``symbols``: ids of the variant groups the token belongs to: rigour's person-name groups
  from Wikidata (``Mohammed``, ``Muhammad``, ``محمد``, ``Мухаммед`` share one), its nickname
  groups, and the English nickname list in ``data/nicknames-en.csv`` (``Bill``/``William``);
- ``kind``: particles (``al``, ``bin``, ``van der``) and honorifics (``Dr``, ``Haji``) weigh
  less than name parts, and single letters are initials.
"""

from __future__ import annotations

import csv
import sys
import unicodedata
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import lru_cache
from importlib.resources import files

import icu  # type: ignore[import-untyped]  # PyICU has no type hints; rigour (through normality) needs it
from rigour._core import codepoint_script, person_name_prefixes_list
from rigour.names import NameTypeTag, analyze_names
from rigour.text.phonetics import metaphone
from rigour.text.translit import ascii_text

MAX_TOKENS_PER_NAME = 16


class TokenKind(IntEnum):
    NAME = 0
    PARTICLE = 1
    HONORIFIC = 2
    INITIAL = 3


# How much a token counts in a name comparison, matched or not. A missing "al" or "Dr" says
# little about identity; a missing family name says a lot.
TOKEN_WEIGHTS: dict[TokenKind, float] = {
    TokenKind.NAME: 1.0,
    TokenKind.PARTICLE: 0.1,
    TokenKind.HONORIFIC: 0.1,
    TokenKind.INITIAL: 0.35,
}

# Articles and filiation words between name parts, on the Latin form. "le", "lo", "do" and
# "e" are left out on purpose: they are also common Vietnamese, Korean or Chinese family names.
PARTICLES = frozenset(
    {
        "al", "el", "ul", "ud", "ur", "us", "ed", "ad", "ar", "as", "ash", "at", "az",
        "bin", "ben", "ibn", "bint", "binti", "bte", "ould", "ag",
        "van", "von", "der", "den", "de", "del", "della", "dei", "degli", "di", "da", "dos", "das",
        "du", "des", "la", "ter", "ten", "zu", "af", "av",
    }
)  # fmt: skip

# Titles and forms of address. rigour's list of person-name prefixes supplies the European
# ones; the Arabic, Persian and South Asian titles frequent on watch lists are added here.
_EXTRA_HONORIFICS = {
    "haji", "hajji", "hadji", "alhaji", "alhajji", "sheikh", "sheik", "shaikh", "shaykh", "cheikh",
    "mullah", "mulla", "maulana", "mawlana", "maulvi", "mawlawi", "mawlavi", "molvi", "qari",
    "imam", "ustad", "ustadh", "ustaz", "hafiz", "jr", "jnr", "snr", "sr", "ii", "iii", "iv",
}  # fmt: skip

# Letters OCR and hand copying confuse: digits become the letters they stand for inside
# names (a 1 is read as the capital I it usually replaces), and "rn"/"vv" as "m"/"w".
_OCR_SINGLE = str.maketrans({"0": "o", "1": "i", "5": "s", "8": "b", "6": "g"})
_OCR_DIGITS = str.maketrans({"0": "o", "1": "l", "5": "s", "8": "b", "6": "g"})
_OCR_PAIRS = (("rn", "m"), ("vv", "w"))

# Scripts whose Latin forms are unreliable for vowels, so their tokens are also compared by
# consonants: Arabic and Hebrew write few vowels, and Korean has rival romanisations
# ("Kim Jong Un", "Gim Jeong-eun") that differ mostly in vowels and voicing.
_CONSONANT_SCRIPTS = frozenset({"Arabic", "Hebrew", "Syriac", "Thaana", "Hangul"})
# Han and Hangul write a given name as one run of syllables, so the Latin forms of their
# syllables are joined into one token ("近平" -> "jinping", "정은" -> "jeongeun").
_DENSE_SCRIPTS = frozenset({"Han", "Hangul", "Hiragana", "Katakana"})

_KEEP, _SEP, _DROP = 0, 1, 2
# Apostrophes and modifier letters that only mark a glottal stop or an elision ("Ba'asyir",
# the ayn of "Abd", "Cho'ng") are dropped so both spellings meet; hyphens and spaces separate
# tokens. Written as escapes: right and left quotation marks, grave, acute, and the modifier
# letters apostrophe, turned comma, and left and right half rings.
_DROPPED = frozenset("'\u2019\u2018`\u00b4\u02bc\u02bb\u02bf\u02be")
_VOWELS = frozenset("aeiou")
_SKELETON_MAP = str.maketrans({"q": "k", "c": "k", "g": "k", "j": "k", "p": "f", "v": "b", "z": "s", "d": "t"})


@dataclass(frozen=True, slots=True, eq=False)
class NameToken:
    """One token of a name, analysed. Identity comparison is enough: tokens are cached."""

    form: str
    latin: str
    compare: str
    collapsed: str
    logogram: str
    phonetic: str
    skeleton: str
    symbols: frozenset[int]
    kind: TokenKind
    by_consonants: bool  # also compared by skeleton: written in Arabic, Hebrew or Hangul
    weight: float  # TOKEN_WEIGHTS[kind], stored because the scorer reads it for every token


@dataclass(frozen=True, slots=True, eq=False)
class PreparedName:
    """A name as given, and its tokens in order."""

    text: str
    tokens: tuple[NameToken, ...]


_char_classes: dict[str, int] = {}


def _char_class(char: str) -> int:
    found = _char_classes.get(char)
    if found is not None:
        return found
    if char in _DROPPED:
        found = _DROP
    else:
        category = unicodedata.category(char)
        if category[0] in "LMN":
            found = _KEEP
        elif category == "Cf":  # zero-width joiners and direction marks carry no letter
            found = _DROP
        else:
            found = _SEP
    # Names use a few thousand distinct characters; the cap keeps hostile input from growing
    # the cache without end.
    if len(_char_classes) < 50_000:
        _char_classes[char] = found
    return found


def split_name(text: str) -> list[str]:
    """The raw tokens of a name: NFKC-normalised, case-folded, split at anything not a letter."""
    tokens: list[str] = []
    current: list[str] = []
    for char in unicodedata.normalize("NFKC", text).casefold():
        kind = _char_class(char)
        if kind == _KEEP:
            current.append(char)
        elif kind == _SEP and current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


def collapse_doubles(text: str) -> str:
    """Doubled letters written once: spellings and typos add and drop them freely."""
    out: list[str] = []
    for char in text:
        if not out or out[-1] != char:
            out.append(char)
    return "".join(out)


@lru_cache(maxsize=1)
def _simplifier() -> icu.Transliterator:
    return icu.Transliterator.createInstance("Traditional-Simplified")


def ocr_fold(latin: str) -> str:
    """Fold OCR look-alikes, so "M0HAMMED", "MOHAMRNED" and "Mohammed" compare equal."""
    folded = latin.translate(_OCR_SINGLE)
    for pair, single in _OCR_PAIRS:
        if pair in folded:
            folded = folded.replace(pair, single)
    return folded


def consonant_skeleton(latin: str) -> str:
    """Consonants with repeats collapsed: what Arabic and Hebrew script writes of a name.

    A leading ``w``/``y`` is kept (it is a consonant there); elsewhere they are dropped, as
    they usually stand for the long vowels ``u`` and ``i``. Letters that the scripts do not
    tell apart, or that romanisations render differently, are merged (``q``/``k``/``c``/``g``/
    ``j``, ``p``/``f``, ``v``/``b``, ``z``/``s``, ``d``/``t``).
    """
    text = latin.translate(_OCR_DIGITS).translate(_SKELETON_MAP)
    out: list[str] = []
    for index, char in enumerate(text):
        if char in _VOWELS or (index > 0 and char in "wy") or not char.isalpha():
            continue
        if out and out[-1] == char:
            continue
        out.append(char)
    return "".join(out)


def join_skeletons(skeletons: list[str]) -> str:
    """The skeleton of tokens written together: theirs in a row, a repeat at a seam dropped."""
    joined = ""
    for skeleton in skeletons:
        if joined and skeleton and joined[-1] == skeleton[0]:
            joined += skeleton[1:]
        else:
            joined += skeleton
    return joined


def _scripts_of(form: str) -> set[str]:
    scripts: set[str] = set()
    for char in form:
        script = codepoint_script(ord(char))
        if script is not None and script not in ("Common", "Inherited"):
            scripts.add(script)
    return scripts


def _to_latin(form: str, scripts: set[str]) -> str:
    if form.isascii():
        latin = form
    elif scripts & _DENSE_SCRIPTS:
        latin = "".join(ascii_text(char) for char in form)
    else:
        latin = ascii_text(form)
    latin = "".join(char for char in latin.lower() if char.isascii() and char.isalnum())
    # A script nothing transliterates keeps its own form, which still matches itself.
    if not latin or latin == form:
        return form
    return latin


@lru_cache(maxsize=1)
def _honorifics() -> frozenset[str]:
    words = {word for prefix in person_name_prefixes_list() for word in split_name(prefix)}
    # Multi-word prefixes ("The Hon") contribute words that are not titles on their own.
    words -= {"the", "of", "her", "his", "right", "most", "much", "grand", "field", "rear", "ex"}
    words -= {"company", "secretary", "managing", "associate", "royal", "private"}
    return frozenset({_to_latin(word, _scripts_of(word)) for word in words} | _EXTRA_HONORIFICS)


class _SymbolIds:
    """Small integer ids for variant-group names, so tokens hold compact frozensets."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._names: list[str] = []

    def get(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self._names)
            self._names.append(name)
        return found

    def name(self, symbol: int) -> str:
        return self._names[symbol]


SYMBOL_IDS = _SymbolIds()
_EMPTY: frozenset[int] = frozenset()


@lru_cache(maxsize=1)
def nickname_groups() -> dict[str, frozenset[int]]:
    """Latin name -> the ids of the English nickname groups it is in (loaded on first use)."""
    groups: dict[str, set[int]] = {}
    source = files("polex.matching").joinpath("data/nicknames-en.csv")
    with source.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            formal, nickname = row["name1"].strip().lower(), row["name2"].strip().lower()
            group = SYMBOL_IDS.get(f"NICK-EN:{formal}")
            for name in (formal, nickname):
                groups.setdefault(name, set()).add(group)
    return {name: frozenset(ids) for name, ids in groups.items()}


# rigour symbol categories that mean "another form of the same name".
_VARIANT_CATEGORIES = ("NAME", "NICK", "SYMBOL")


def load_name_data() -> None:
    """Build rigour's name tagger now rather than on the first name analysed. Since rigour
    2.x its Rust core builds it on first use: about 10 s of CPU, once a process, during
    which it holds the interpreter, so no other thread of the process (an event loop
    answering requests) runs. A server calls this before it serves."""
    analyze_names(NameTypeTag.PER, ["Name Data"], phonetics=False, numerics=False, consolidate=False, rewrite=False)


def _symbols(form: str, latin: str) -> frozenset[int]:
    ids: set[int] = set()
    for name in analyze_names(
        NameTypeTag.PER, [form], phonetics=False, numerics=False, consolidate=False, rewrite=False
    ):
        for span in name.spans:
            if len(span.parts) == 1 and span.symbol.category.value in _VARIANT_CATEGORIES:
                ids.add(SYMBOL_IDS.get(f"{span.symbol.category.value}:{span.symbol.id}"))
    ids |= nickname_groups().get(latin, _EMPTY)
    return frozenset(ids) if ids else _EMPTY


@lru_cache(maxsize=1 << 18)
def analyse_token(form: str) -> NameToken:
    """Analyse one raw token (as returned by ``split_name``). Cached: names repeat tokens."""
    scripts = _scripts_of(form)
    latin = _to_latin(form, scripts)
    if len(latin) == 1 and latin.isalpha():
        kind = TokenKind.INITIAL
    elif latin in PARTICLES:
        kind = TokenKind.PARTICLE
    elif latin in _honorifics():
        kind = TokenKind.HONORIFIC
    else:
        kind = TokenKind.NAME
    symbols = _symbols(form, latin) if kind == TokenKind.NAME else _EMPTY
    compare = ocr_fold(latin) if latin.isascii() else latin
    if compare == latin:
        compare = latin  # one string object where the forms agree: a million names add up
    collapsed = collapse_doubles(compare)
    if collapsed == compare:
        collapsed = compare
    logogram = _simplifier().transliterate(form) if "Han" in scripts else ""
    phonetic = sys.intern(metaphone(latin.translate(_OCR_DIGITS))) if latin.isascii() else ""
    if len(phonetic) < 3:  # two sounds ("MR" for Maria and Mario) tell names apart too poorly
        phonetic = ""
    return NameToken(
        form=form,
        latin=latin,
        compare=compare,
        collapsed=collapsed,
        logogram=logogram,
        phonetic=phonetic,
        skeleton=sys.intern(consonant_skeleton(latin)) if latin.isascii() else "",
        symbols=symbols,
        kind=kind,
        by_consonants=bool(scripts & _CONSONANT_SCRIPTS),
        weight=TOKEN_WEIGHTS[kind],
    )


def prepare_name(text: str) -> PreparedName:
    """Tokens of a name; raises ValueError when it has none or too many."""
    raw = split_name(text)
    if not raw:
        raise ValueError("has no letters or digits")
    if len(raw) > MAX_TOKENS_PER_NAME:
        raise ValueError(f"has {len(raw)} parts, more than {MAX_TOKENS_PER_NAME}")
    tokens = tuple(analyse_token(form) for form in raw)
    if all(token.kind in (TokenKind.PARTICLE, TokenKind.HONORIFIC) for token in tokens):
        # "Al Haji" alone: the words are all there is to compare, so they count in full.
        tokens = tuple(replace(token, kind=TokenKind.NAME, weight=TOKEN_WEIGHTS[TokenKind.NAME]) for token in tokens)
    return PreparedName(text=text, tokens=tokens)
