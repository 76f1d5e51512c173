"""INTERPOL's public notices (``interpol-notices``): documents in the shape of INTERPOL's
public API (``/notices/v1/...``) read into notice requests.

The input is UTF-8 JSON: a detail document (one notice), a list document (its notices
under ``_embedded.notices``), or a JSON array of detail documents. Each notice becomes a
:class:`~polex.domain.notice.NoticeRequest`, accepted, or a
:class:`~polex.formats.registry.Rejection` naming the field at fault in INTERPOL's terms
(``date_of_birth``, ``arrest_warrants/0/charge``) with every error found.

What is read (the inverse of :mod:`polex.notice.public`):

- the notice type from ``_links.self.href`` (``.../notices/v1/red/2023-54608``), or the
  adapter's ``notice_type`` option, or, failing both, from the fields (arrest warrants: red;
  the event of a disappearance: yellow);
- the subject from ``forename``, ``name``, ``date_of_birth`` (``1971/05/12``, ``1971/05``,
  ``1971``; a zero month or day is not known), ``sex_id``, ``nationalities`` and
  ``country_of_birth_id`` (alpha-2, kept alpha-3), ``place_of_birth``, ``height`` (metres)
  and ``weight``, ``eyes_colors_id`` and ``hairs_id`` (the first code the model can hold),
  ``languages_spoken_ids`` (ISO 639-2, kept ISO 639-1 where there is one) and
  ``distinguishing_marks`` (one mark, as written); the ``entity_id`` becomes an identifier of
  kind ``interpol_reference`` and the provenance's ``source_id``;
- one offence per arrest warrant, whose description keeps the ``charge`` as written: in
  English unless a different ``charge_translation`` is given, in which case the original's
  language is guessed (Arabic by its script, French or Spanish by its words and accents, or
  the issuing country's language) and the translation kept as its English translation;
- for a yellow notice, the disappearance: ``date_of_event``, ``place`` and ``country``,
  ``countries_likely_to_be_visited``, the parents' names (kept as ``NAME, Forename``).

Public data cannot tell the legal basis (left empty: the notice workflow's pre-checks ask for
it) and polex has nowhere for some values: a warrant's ``issuing_country_id``, codes it does
not know (a nationality ``XK``, an eye colour ``ABC``), a second eye or hair colour, a
translation of a charge whose original language cannot be told. Those are kept in the
provenance's ``original_values``, by their path in the input, so that nothing is lost.
Photos are links in INTERPOL's documents, not data: they are not fetched.

The source's consent to a public extract is not the importer's to give: requests are read
with ``public_extract`` false unless the adapter is made with ``public_extract=true``.

Reading never raises: input that is not JSON, or not one of the three shapes, is one
rejection for the whole input (field ``$``).

The adapter reads into notice requests (``reads_into``), so ``polex import`` and
``POST /api/v1/imports`` make each accepted notice a draft of the importing agency through
the notice lifecycle at the hub (:mod:`polex.ingest.service`), never a record.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final, TypeVar

from pydantic import ValidationError

from polex.domain.base import Provenance
from polex.domain.dates import parse_partial_date, partial_date_bounds
from polex.domain.notice import Language, LocalText, MissingEvent, NoticeRequest, Offence
from polex.domain.person import (
    DistinguishingMark,
    IdentifierKind,
    MarkKind,
    Person,
    PersonIdentifier,
    PersonName,
    PhysicalDescription,
    Place,
    Sex,
)
from polex.domain.scripts import detect_script
from polex.errors import FieldError
from polex.formats.registry import NOTICE_REQUESTS, Accepted, ReadResult, Rejection
from polex.notice.public import (
    EYE_CODES,
    HAIR_CODES,
    country_alpha3,
    join_parent_name,
    language_from_code,
    partial_date,
)

T = TypeVar("T")

FORMAT_NAME: Final = "interpol-notices"
WHOLE: Final = "$"

_TYPE_IN_HREF: Final = re.compile(r"/notices/v1/([a-z][a-z0-9_]{1,31})(?:/(\d{4})-(\d{1,9}))?(?:[/?#]|$)")
_TYPE_CODE: Final = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_ENTITY_ID: Final = re.compile(r"^(\d{4})[/-](\d{1,9})$")
_NAME_LENGTH: Final = 300  # polex.domain.person.NameText
_YELLOW_FIELDS: Final = ("date_of_event", "mother_name", "father_name", "countries_likely_to_be_visited")

# Codes other systems (ANSI/NIST-ITL) and older INTERPOL documents use for the same colours.
_EYE_ALIASES: Final = {"BLK": "BLA", "GRA": "GRY", "GRN": "GRE", "PNK": "PIN", "BROH": "BRO"}
_HAIR_ALIASES: Final = {
    "BLK": "BLA",
    "BLD": "BLN",
    "GRA": "GRY",
    "SDY": "SAN",
    "GRN": "GRE",
    "ONG": "ORA",
    "PNK": "PIN",
    "PLE": "PUR",
    "BROH": "BRO",
}
_UNKNOWN_CODES: Final = frozenset({"UNK", "XXX", "OTH", "OTHD"})
_EYES_BY_CODE: Final = {code: colour for colour, code in EYE_CODES.items()}
_HAIR_BY_CODE: Final = {code: colour for colour, code in HAIR_CODES.items()}


# Telling the original language of a charge that comes with an English translation.
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SPANISH_WORDS: Final = _words(
    "y el los las del por con para contra sin una delito delitos robo homicidio asesinato secuestro trafico "
    "estupefacientes lavado dinero activos salud publica agravado calificado violacion falsificacion estafa "
    "extorsion asociacion ilicita organizada documento"
)
_FRENCH_WORDS: Final = _words(
    "et le les des du au aux un une pour avec sur vol meurtre assassinat escroquerie blanchiment trafic "
    "stupefiants bande organisee association malfaiteurs viol enlevement sequestration faux usage arme "
    "complicite abus confiance detournement"
)
_SPANISH_LETTERS: Final = frozenset("ñ¿¡áíóú")
_FRENCH_LETTERS: Final = frozenset("çàèùâêîôûëïœ")
# Where neither the words nor the letters tell: the issuing country's language.
_SPANISH_SPEAKING: Final = _words("ARG BOL CHL COL CRI CUB DOM ECU ESP GNQ GTM HND MEX NIC PAN PER PRY SLV URY VEN")
_FRENCH_SPEAKING: Final = _words(
    "BDI BEN BFA CAF CIV CMR COD COG COM DJI FRA GAB GIN HTI LUX MCO MDG MLI NER SEN SYC TCD TGO"
)
_ARABIC_SPEAKING: Final = _words("ARE BHR DZA EGY IRQ JOR KWT LBN LBY MAR MRT OMN PSE QAT SAU SDN SOM SYR TUN YEM")


def guess_language(text: str, country: str | None = None) -> Language | None:
    """The working language (other than English) ``text`` is most likely written in, from its
    script, words and accents, then ``country`` (alpha-3); None when nothing tells."""
    if detect_script(text) == "Arab":
        return Language.ARABIC
    lowered = text.casefold()
    words = re.findall(r"[^\W\d_]+", lowered.replace("'", " "))
    plain = {_strip_accents(word) for word in words}
    spanish = len(plain & _SPANISH_WORDS) + 2 * sum(letter in _SPANISH_LETTERS for letter in lowered)
    french = len(plain & _FRENCH_WORDS) + 2 * sum(letter in _FRENCH_LETTERS for letter in lowered)
    if spanish != french:
        return Language.SPANISH if spanish > french else Language.FRENCH
    if country in _SPANISH_SPEAKING:
        return Language.SPANISH
    if country in _FRENCH_SPEAKING:
        return Language.FRENCH
    if country in _ARABIC_SPEAKING:
        return Language.ARABIC
    return None


def _strip_accents(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


# -- one notice --------------------------------------------------------------------------------


@dataclass
class _Item:
    """What reading one notice gathers: its errors, and the values polex cannot hold."""

    errors: list[FieldError] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)

    def fail(self, path: str, reason: str) -> None:
        self.errors.append(FieldError(path, reason))

    def keep(self, path: str, value: object) -> None:
        self.kept[path] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def build(self, path: str, make: Callable[..., T], **values: Any) -> T | None:
        """``make(**values)``, or None with the model's errors under ``path``."""
        try:
            return make(**values)
        except ValidationError as error:
            for problem in error.errors():
                reason = problem["msg"].removeprefix("Value error, ")
                inner = "/".join(str(part) for part in problem["loc"])
                self.fail(path, f"{inner}: {reason}" if inner else reason)
            return None


def _text(data: Mapping[str, Any], key: str, item: _Item, *, path: str | None = None) -> str | None:
    """A string value, trimmed; None for null, empty or INTERPOL's ``-`` placeholder."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        item.fail(path or key, "must be a string or null")
        return None
    value = " ".join(value.split())
    return None if value in ("", "-") else value


def _codes(data: Mapping[str, Any], key: str, item: _Item) -> list[tuple[str, str]]:
    """A list of codes (a lone string is taken as a list of one), each with its path."""
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        item.fail(key, "must be a list of codes or null")
        return []
    return [(f"{key}/{index}", code.strip()) for index, code in enumerate(value) if code.strip()]


def _country(code: str, path: str, item: _Item) -> str | None:
    alpha3 = country_alpha3(code)
    if alpha3 is None:
        item.keep(path, code)  # e.g. XK: not an ISO 3166-1 country
    return alpha3


def _countries(data: Mapping[str, Any], key: str, item: _Item) -> list[str]:
    found = [_country(code, path, item) for path, code in _codes(data, key, item)]
    return list(dict.fromkeys(code for code in found if code))


def _self_link(data: Mapping[str, Any]) -> re.Match[str] | None:
    """What a document's ``_links.self.href`` says: its type, and the notice's year and number."""
    links = data.get("_links")
    self_link = links.get("self") if isinstance(links, Mapping) else None
    href = self_link.get("href") if isinstance(self_link, Mapping) else None
    return _TYPE_IN_HREF.search(href) if isinstance(href, str) else None


def _notice_type(data: Mapping[str, Any], given: str | None, item: _Item) -> str | None:
    if given is not None:
        return given
    match = _self_link(data)
    if match is not None:
        return match.group(1)
    if data.get("arrest_warrants"):
        return "red"
    if any(data.get(key) for key in _YELLOW_FIELDS):
        return "yellow"
    item.fail("_links/self/href", "the notice type cannot be told; give the adapter's notice_type option")
    return None


def _entity_id(data: Mapping[str, Any], item: _Item) -> str | None:
    value = data.get("entity_id")
    if value is not None:
        match = _ENTITY_ID.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            item.fail("entity_id", "must be a notice reference such as 2023/54608")
            return None
        return f"{match.group(1)}/{match.group(2)}"
    match = _self_link(data)
    return f"{match.group(2)}/{match.group(3)}" if match is not None and match.group(2) else None


def _past_date(value: str | None, path: str, item: _Item) -> str | None:
    if value is None:
        return None
    converted = partial_date(value)
    if converted is None:
        item.fail(path, f"'{value}' is not a date of the form YYYY/MM/DD, YYYY/MM or YYYY")
        return None
    try:
        parse_partial_date(converted)
        start, _ = partial_date_bounds(converted)
    except ValueError as error:
        item.fail(path, str(error))
        return None
    if start > dt.datetime.now(dt.UTC).date():
        item.fail(path, f"{value} is in the future")
        return None
    return converted


def _measure(data: Mapping[str, Any], key: str, scale: float, low: int, high: int, item: _Item) -> int | None:
    value = data.get(key)
    if value is None or value == 0:
        return None  # INTERPOL writes 0 for "not known"
    if isinstance(value, bool) or not isinstance(value, int | float):
        item.fail(key, "must be a number or null")
        return None
    measured = round(value * scale)
    if not low <= measured <= high:
        item.keep(key, value)  # not a plausible value: kept as received, not guessed at
        return None
    return measured


def _colour(
    data: Mapping[str, Any], key: str, table: Mapping[str, Any], aliases: Mapping[str, str], item: _Item
) -> Any:
    chosen = None
    for path, code in _codes(data, key, item):
        upper = code.upper()
        colour = table.get(aliases.get(upper, upper))
        if colour is not None and chosen is None:
            chosen = colour
        elif upper not in _UNKNOWN_CODES:
            item.keep(path, code)  # a code polex does not know, or a second colour
    return chosen


def _person(data: Mapping[str, Any], entity_id: str | None, item: _Item) -> Person | None:
    forename, name = _text(data, "forename", item), _text(data, "name", item)
    if forename is None and name is None:
        item.fail("name", "a notice names its subject: give a forename or a name")
        return None
    full = " ".join(part for part in (forename, name) if part)
    sex_code = _text(data, "sex_id", item)
    sexes = {"M": Sex.MALE, "F": Sex.FEMALE, "U": Sex.UNKNOWN, None: Sex.UNKNOWN}
    sex = sexes.get(sex_code.upper() if sex_code else None)
    if sex is None:
        item.fail("sex_id", f"'{sex_code}' is not one of M, F, U")
    born = _past_date(_text(data, "date_of_birth", item), "date_of_birth", item)
    birth_country_code = _text(data, "country_of_birth_id", item)
    birth_country = _country(birth_country_code, "country_of_birth_id", item) if birth_country_code else None
    birth_place_name = _text(data, "place_of_birth", item)
    languages = []
    for path, code in _codes(data, "languages_spoken_ids", item):
        language = language_from_code(code)
        if language is None:
            item.keep(path, code)
        elif language not in languages:
            languages.append(language)
    marks_text = _text(data, "distinguishing_marks", item)
    physical_values: dict[str, Any] = {
        "height_cm": _measure(data, "height", 100, 30, 275, item),
        "weight_kg": _measure(data, "weight", 1, 1, 700, item),
        "eye_colour": _colour(data, "eyes_colors_id", _EYES_BY_CODE, _EYE_ALIASES, item),
        "hair_colour": _colour(data, "hairs_id", _HAIR_BY_CODE, _HAIR_ALIASES, item),
    }
    nationalities = _countries(data, "nationalities", item)
    too_long = [key for key, part in (("forename", forename), ("name", name)) if part and len(part) > _NAME_LENGTH]
    for key in too_long:
        item.fail(key, f"at most {_NAME_LENGTH} characters")
    if not too_long and len(full) > _NAME_LENGTH:
        item.fail("name", f"the forename and name together are at most {_NAME_LENGTH} characters")
    fits = not too_long and len(full) <= _NAME_LENGTH
    primary = item.build("name", PersonName, full=full, given=forename, family=name) if fits else None
    values: dict[str, Any] = {
        "names": [primary],
        "sex": sex,
        "birth_dates": [born] if born else [],
        "nationalities": nationalities,
        "languages": languages,
    }
    if birth_place_name or birth_country:
        values["birth_place"] = item.build("place_of_birth", Place, place=birth_place_name, country=birth_country)
    physical = {key: value for key, value in physical_values.items() if value is not None}
    if marks_text:
        mark = item.build("distinguishing_marks", DistinguishingMark, kind=MarkKind.OTHER, description=marks_text)
        physical["marks"] = [mark] if mark is not None else []
    if physical:
        values["physical"] = item.build("$", PhysicalDescription, **physical)
    if entity_id:
        values["identifiers"] = [PersonIdentifier(kind=IdentifierKind.INTERPOL_REFERENCE, value=entity_id)]
    if item.errors:
        return None
    return item.build("$", Person, **values)


def _offences(data: Mapping[str, Any], item: _Item) -> list[Offence]:
    warrants = data.get("arrest_warrants")
    if warrants is None:
        return []
    if not isinstance(warrants, list):
        item.fail("arrest_warrants", "must be a list of arrest warrants or null")
        return []
    offences = []
    for index, warrant in enumerate(warrants):
        path = f"arrest_warrants/{index}"
        if not isinstance(warrant, Mapping):
            item.fail(path, "an arrest warrant is an object")
            continue
        charge = _text(warrant, "charge", item, path=f"{path}/charge")
        translation = _text(warrant, "charge_translation", item, path=f"{path}/charge_translation")
        country_code = _text(warrant, "issuing_country_id", item, path=f"{path}/issuing_country_id")
        country = country_alpha3(country_code) if country_code else None
        if country_code:
            item.keep(f"{path}/issuing_country_id", country_code)  # a warrant's country has no place in an offence
        if charge is None:
            item.fail(f"{path}/charge", "an arrest warrant states its charge")
            continue
        language, translations = Language.ENGLISH, {}
        if translation is not None and translation.casefold() != charge.casefold():
            guessed = guess_language(charge, country)
            if guessed is None:
                item.keep(f"{path}/charge_translation", translation)  # the original's language is not known
            else:
                language, translations = guessed, {Language.ENGLISH: translation}
        description = item.build(f"{path}/charge", LocalText, language=language, text=charge, translations=translations)
        if description is not None:
            offences.append(Offence(description=description))
    return offences


def _missing(data: Mapping[str, Any], item: _Item) -> MissingEvent | None:
    date = _past_date(_text(data, "date_of_event", item), "date_of_event", item)
    place_name = _text(data, "place", item)
    country_code = _text(data, "country", item)
    country = _country(country_code, "country", item) if country_code else None
    visited = _countries(data, "countries_likely_to_be_visited", item)
    mother = join_parent_name(_text(data, "mother_forename", item), _text(data, "mother_name", item))
    father = join_parent_name(_text(data, "father_forename", item), _text(data, "father_name", item))
    if date is None:
        if any((place_name, country, visited, mother, father)) and "date_of_event" not in {
            e.field for e in item.errors
        }:
            item.fail("date_of_event", "the date of the disappearance is needed with its other details")
        return None
    if place_name is None and country is None:
        item.fail("place", "where the person went missing is needed: a place or a country")
        return None
    place = item.build("place", Place, place=place_name, country=country)
    parents = {"mother_name": mother, "father_name": father}
    for key, value in parents.items():
        if value is not None and len(value) > 500:
            item.fail(key, "at most 500 characters")
    if item.errors:
        return None
    return item.build(
        "date_of_event",
        MissingEvent,
        date_of_event=date,
        place=place,
        countries_likely_to_be_visited=visited,
        **parents,
    )


def _pydantic_errors(error: ValidationError) -> list[FieldError]:
    """A model's errors, with the model's field paths (``subject/names/0/full``)."""
    return [
        FieldError(
            "/".join(str(part) for part in problem["loc"]) or WHOLE, problem["msg"].removeprefix("Value error, ")
        )
        for problem in error.errors()
    ]


def read_notice(
    data: Any, location: str, *, notice_type: str | None = None, public_extract: bool = False
) -> ReadResult:
    """One notice in INTERPOL's public shape, as a notice request or a rejection."""
    raw = json.dumps(data, ensure_ascii=False)
    if not isinstance(data, Mapping):
        return Rejection(WHOLE, "a notice is a JSON object", raw, location)
    item = _Item()
    entity_id = _entity_id(data, item)
    if entity_id:
        location = f"{location} {entity_id}"
    code = _notice_type(data, notice_type, item)
    try:
        subject = _person(data, entity_id, item)
        offences = _offences(data, item)
        missing = _missing(data, item)
        if item.errors or code is None:
            raise _Failed
        request = NoticeRequest(
            notice_type=code,
            subject=subject,
            offences=offences,
            missing=missing,
            public_extract=public_extract,
        )
    except _Failed:
        pass
    except ValidationError as error:
        item.errors.extend(_pydantic_errors(error))
    if item.errors:
        first = item.errors[0]
        return Rejection(first.field, first.reason, raw, location, errors=tuple(item.errors))
    provenance = Provenance(source_format=FORMAT_NAME, source_id=entity_id, original_values=item.kept)
    return Accepted(request, raw, location, provenance)


class _Failed(Exception):
    """Errors were found; they are in the item."""


def _decode(data: bytes | str) -> tuple[Any, Rejection | None]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            return None, Rejection(WHOLE, f"the input is not UTF-8 ({error.reason} at byte {error.start})", "", "input")
    try:
        return json.loads(data), None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        return None, Rejection(WHOLE, f"the input is not JSON: {error.msg} ({where})", data[:2000], where)


def iter_interpol_notices(
    data: bytes | str, *, notice_type: str | None = None, public_extract: bool = False
) -> Iterator[ReadResult]:
    """Each notice of the document, accepted or rejected, in order."""
    decoded, failure = _decode(data)
    if failure is not None:
        yield failure
        return
    if isinstance(decoded, list):
        for index, notice in enumerate(decoded):
            yield read_notice(notice, f"[{index}]", notice_type=notice_type, public_extract=public_extract)
        return
    if isinstance(decoded, Mapping):
        embedded = decoded.get("_embedded")
        if isinstance(embedded, Mapping) and "notices" in embedded:
            notices = embedded["notices"]
            if not isinstance(notices, list):
                yield Rejection("_embedded/notices", "must be a list of notices", json.dumps(embedded), "list")
                return
            of_list = notice_type or _list_type(decoded)
            for index, notice in enumerate(notices):
                yield read_notice(notice, f"notices[{index}]", notice_type=of_list, public_extract=public_extract)
            return
        yield read_notice(decoded, "notice", notice_type=notice_type, public_extract=public_extract)
        return
    yield Rejection(
        WHOLE,
        "expected a notice, a list of notices (_embedded.notices) or an array of notices",
        str(data)[:2000],
        "input",
    )


def _list_type(document: Mapping[str, Any]) -> str | None:
    """The type a list document is of, from its own ``self`` link (``.../notices/v1/red?...``)."""
    match = _self_link(document)
    return match.group(1) if match is not None else None


def read_interpol_notices(
    data: bytes | str, *, notice_type: str | None = None, public_extract: bool = False
) -> list[ReadResult]:
    """Every notice of a document in INTERPOL's public shape: :class:`Accepted` with a
    :class:`~polex.domain.notice.NoticeRequest` (and its provenance), or :class:`Rejection`."""
    return list(iter_interpol_notices(data, notice_type=notice_type, public_extract=public_extract))


# -- the adapter -------------------------------------------------------------------------------


def _flag(value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise TypeError(f"public_extract must be true or false, not {value!r}")


class InterpolNoticesAdapter:
    """Documents of INTERPOL's public notices API, read into notice requests."""

    name: str = FORMAT_NAME
    description: str = (
        "INTERPOL public notices (JSON, as /notices/v1/ serves them): a notice, a list of notices or an array "
        "of notices, read into red, yellow or other notice requests"
    )
    media_types: tuple[str, ...] = ("application/json", "application/hal+json")
    reads_into: str = NOTICE_REQUESTS  # an import creates notice drafts (polex.ingest.service)

    def __init__(self, *, notice_type: str | None = None, public_extract: bool | str = False) -> None:
        if notice_type is not None and not _TYPE_CODE.match(notice_type.strip().lower()):
            raise TypeError(f"notice_type must be a notice type code such as red or yellow, not {notice_type!r}")
        self.notice_type = notice_type.strip().lower() if notice_type is not None else None
        self.public_extract = _flag(public_extract)

    def read(self, stream: IO[bytes]) -> Iterator[ReadResult]:
        try:
            data = stream.read()
        except Exception as error:  # a stream that cannot be read is the input's fault
            yield Rejection(WHOLE, f"the input could not be read ({type(error).__name__}: {error})", "", "input")
            return
        yield from iter_interpol_notices(data, notice_type=self.notice_type, public_extract=self.public_extract)
