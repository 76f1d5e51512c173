"""The public extract of notices, in the shape of INTERPOL's public notices API.

INTERPOL publishes extracts of red and yellow notices at ``/notices/v1/{red,yellow}``; polex
serves the same documents at ``/public/notices/v1/...`` so that consumers written for
INTERPOL's API work with a polex hub unchanged. Only what the source consented to make
public, of a type that may have a public extract, while the notice is in force, is ever
shown, and only the fields INTERPOL's extract has: never identifiers, biometrics, health,
legal basis details, restrictions or anything else the notice carries.

This module builds the documents from stored rows (pure functions, unit-tested) and keeps a
small in-memory index of the public notices (:class:`PublicNotices`), rebuilt whenever the
live notice records change (checked on every request, so a cancelled notice disappears at
once).

What maps to what:

=========================  ==============================================================
INTERPOL                   polex
=========================  ==============================================================
``entity_id`` 2023/54608   ``Notice.reference`` (path ``2023-54608``)
``forename``, ``name``     the subject's primary name: ``given``, ``family`` (``full``
                           as ``name`` when the parts are not known)
``date_of_birth``          the first birth date, ``YYYY/MM/DD`` (or ``YYYY``, ``YYYY/MM``)
``nationalities``          alpha-3 nationalities as ISO 3166-1 alpha-2 (unknown: left out)
``sex_id``                 ``M``, ``F``, else ``U``
``place_of_birth``,        ``birth_place.place``, ``birth_place.country`` (alpha-2)
``country_of_birth_id``
``height``, ``weight``     ``height_cm`` / 100 (metres), ``weight_kg``
``eyes_colors_id``,        :data:`EYE_CODES`, :data:`HAIR_CODES`
``hairs_id``
``languages_spoken_ids``   ISO 639-2/B, upper case (``ENG``, ``FRE``, ``SPA``)
``distinguishing_marks``   the marks, as text, separated by ``"; "``
``arrest_warrants``        one per offence: ``charge`` the original text,
                           ``charge_translation`` its English translation (null when there
                           is none or the original is English), ``issuing_country_id`` the
                           legal basis' issuing country when they all agree, else the
                           requesting (owner) country
yellow: ``date_of_event``, ``missing``: date, ``place.place``, ``place.country``,
``place``, ``country``,    ``countries_likely_to_be_visited``; ``mother_name`` and
``mother_name`` ...        ``father_name`` written ``FAMILY, Given`` are split into
                           ``*_name`` and ``*_forename``
=========================  ==============================================================
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import pycountry
from pydantic import ValidationError
from rigour.text.translit import ascii_text
from sqlalchemy import func, select

from polex.domain.dates import partial_date_bounds
from polex.domain.notice import (
    AttachmentKind,
    Channel,
    Language,
    Notice,
    NoticeAttachment,
    NoticeStatus,
    NoticeTypeSpec,
    Requirement,
)
from polex.domain.person import DistinguishingMark, EyeColour, HairColour, MarkKind, Person, Sex
from polex.notice.types import NoticeTypes
from polex.storage.tables import NoticeFileRow, RecordRow
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.notice.public")

PUBLIC_PREFIX = "/public/notices/v1"
DEFAULT_RESULTS_PER_PAGE = 20
MAX_RESULTS_PER_PAGE = 160

# The photo formats served publicly: a "photo" of another type (SVG, HTML) is never served
# from the node's origin, whatever the attachment says.
PUBLIC_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

EYE_CODES: dict[EyeColour, str] = {
    EyeColour.BLACK: "BLA",
    EyeColour.BLUE: "BLU",
    EyeColour.BROWN: "BRO",
    EyeColour.GRAY: "GRY",
    EyeColour.GREEN: "GRE",
    EyeColour.HAZEL: "HAZ",
    EyeColour.MAROON: "MAR",
    EyeColour.MULTICOLOURED: "MUL",
    EyeColour.PINK: "PIN",
}
"""INTERPOL's eye colour codes (``unknown`` is left out)."""

HAIR_CODES: dict[HairColour, str] = {
    HairColour.BALD: "BAL",
    HairColour.BLACK: "BLA",
    HairColour.BLOND: "BLN",
    HairColour.BROWN: "BRO",
    HairColour.GRAY: "GRY",
    HairColour.RED: "RED",
    HairColour.SANDY: "SAN",
    HairColour.WHITE: "WHI",
    HairColour.BLUE: "BLU",
    HairColour.GREEN: "GRE",
    HairColour.ORANGE: "ORA",
    HairColour.PINK: "PIN",
    HairColour.PURPLE: "PUR",
}
"""INTERPOL's hair colour codes (``unknown`` is left out)."""

SEX_CODES: dict[Sex, str] = {Sex.MALE: "M", Sex.FEMALE: "F", Sex.UNSPECIFIED: "U", Sex.UNKNOWN: "U"}

_PATH_ID = re.compile(r"^(\d{4})-(\d{1,9})$")
_REFERENCE = re.compile(r"^(\d{4})/(\d{1,9})$")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


# -- codes and dates -------------------------------------------------------------------------


def country_alpha2(alpha3: str | None) -> str | None:
    """ISO 3166-1 alpha-2 for an alpha-3 code; None for ICAO special codes and unknown ones."""
    if not alpha3:
        return None
    try:
        country = pycountry.countries.get(alpha_3=alpha3.upper())
    except (KeyError, LookupError):
        return None
    return str(country.alpha_2) if country is not None else None


def country_alpha3(alpha2: str | None) -> str | None:
    """ISO 3166-1 alpha-3 for an alpha-2 code; None when there is no such country."""
    if not alpha2 or len(alpha2.strip()) != 2:
        return None
    try:
        country = pycountry.countries.get(alpha_2=alpha2.strip().upper())
    except (KeyError, LookupError):
        return None
    return str(country.alpha_3) if country is not None else None


def language_code(code: str) -> str | None:
    """An ISO 639 code (``en``, ``fra``) as INTERPOL writes it: ISO 639-2/B, upper case."""
    language = _language(code)
    if language is None:
        return None
    return str(getattr(language, "bibliographic", None) or language.alpha_3).upper()


def language_from_code(code: str) -> str | None:
    """INTERPOL's language code (``ENG``, ``FRE``) as polex keeps it: ISO 639-1 where the
    language has one, else ISO 639-2/T (``eng`` -> ``en``, ``che`` -> ``ce``)."""
    language = _language(code)
    if language is None:
        return None
    return str(getattr(language, "alpha_2", None) or language.alpha_3).lower()


def _language(code: str) -> Any:
    text = code.strip().lower()
    try:
        if len(text) == 2:
            return pycountry.languages.get(alpha_2=text)
        if len(text) == 3:
            return pycountry.languages.get(alpha_3=text) or pycountry.languages.get(bibliographic=text)
    except (KeyError, LookupError):
        return None
    return None


def interpol_date(partial: str) -> str:
    """A polex partial date as INTERPOL writes it: ``1971-05-12`` -> ``1971/05/12``."""
    return partial.replace("-", "/")


def partial_date(text: str) -> str | None:
    """An INTERPOL date as a polex partial date (``1971/05/12`` -> ``1971-05-12``; a zero
    month or day, ``1971/00/00``, means it is not known). None when it is not a date."""
    parts = text.strip().replace("-", "/").split("/")
    if not parts or not all(part.isdigit() for part in parts) or len(parts) > 3 or len(parts[0]) != 4:
        return None
    kept = [parts[0]]
    for part in parts[1:]:
        if int(part) == 0:
            break
        kept.append(f"{int(part):02d}")
    return "-".join(kept)


def path_id(reference: str) -> str:
    """A reference as it appears in URLs: ``2026/1234`` -> ``2026-1234``."""
    return reference.replace("/", "-")


def reference_of(path: str) -> str | None:
    """The reference a URL's ``2026-1234`` stands for, or None if it is not one."""
    match = _PATH_ID.match(path)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def is_public_reference(reference: str | None) -> bool:
    return reference is not None and _REFERENCE.match(reference) is not None


def fold(text: str) -> str:
    """Text for matching: transliterated to ASCII, case-folded, punctuation as spaces."""
    return " ".join(_NOT_ALNUM.sub(" ", ascii_text(text).casefold()).split())


def word_match(query: str, text: str) -> bool:
    """Whether folded ``query`` starts at a word of folded ``text`` (``jo`` finds
    ``Mary Jo Smith`` and ``John``, not ``Bojo``)."""
    return bool(query) and f" {text}".find(f" {query}") >= 0


def split_parent_name(value: str | None) -> tuple[str | None, str | None]:
    """A parent's name as (forename, name): ``DOE, Jane`` is split at the comma; a name
    without one is kept whole as the name."""
    if not value:
        return None, None
    family, separator, given = value.partition(",")
    if separator and family.strip() and given.strip():
        return given.strip(), family.strip()
    return None, value.strip()


def join_parent_name(forename: str | None, name: str | None) -> str | None:
    """The inverse of :func:`split_parent_name`."""
    forename, name = (forename or "").strip() or None, (name or "").strip() or None
    if forename and name:
        return f"{name}, {forename}"
    return name or forename


def mark_text(mark: DistinguishingMark) -> str:
    """A mark as INTERPOL's text: ``Tattoo (left forearm): an eagle``; a mark of kind
    ``other`` with only a description is its description."""
    label = mark.kind.value.capitalize() if mark.kind is not MarkKind.OTHER else ""
    where = f"({mark.location})" if mark.location else ""
    head = " ".join(part for part in (label, where) if part)
    if mark.description:
        return f"{head}: {mark.description}" if head else mark.description
    return head or mark.kind.value.capitalize()


def age_range(partial: str, today: dt.date) -> tuple[int, int]:
    """The youngest and oldest a person born on ``partial`` can be on ``today``."""
    earliest, latest = partial_date_bounds(partial)
    return _age(latest, today), _age(earliest, today)


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def carries_warrants(spec: NoticeTypeSpec) -> bool:
    """Types whose extract lists arrest warrants (red, and any that needs a legal basis)."""
    return spec.code == "red" or Requirement.LEGAL_BASIS in spec.requires


# -- the public notices ----------------------------------------------------------------------


@dataclass(frozen=True)
class PublicNotice:
    """A notice that may be shown publicly, with what searches match it against."""

    id: str
    notice_type: str
    reference: str
    owner_country: str
    notice: Notice
    subject: Person
    photos: tuple[NoticeAttachment, ...]
    warrants: bool  # the type's extract lists arrest warrants
    forenames: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    text: str = ""
    nationalities: frozenset[str] = frozenset()  # alpha-2
    warrant_countries: frozenset[str] = frozenset()  # alpha-2

    @property
    def path_id(self) -> str:
        return path_id(self.reference)

    @property
    def sex_id(self) -> str:
        return SEX_CODES[self.subject.sex]

    def in_force(self, now: dt.datetime) -> bool:
        expires = self.notice.expires_at
        return expires is None or expires > now

    def sort_key(self) -> tuple[float, int, int]:
        published = self.notice.published_at
        year, number = (int(part) for part in self.reference.split("/"))
        return (-(published.timestamp() if published else 0.0), -year, -number)


def public_notice(
    record_id: str, owner_country: str, content: Mapping[str, Any], types: NoticeTypes
) -> PublicNotice | None:
    """The public extract of a stored notice record, or None when it must not be shown:
    not published, not a notice (a diffusion), no consent, a type without public extracts,
    no reference, or no person as its subject."""
    if content.get("status") != NoticeStatus.PUBLISHED.value or content.get("channel") != Channel.NOTICE.value:
        return None
    if content.get("public_extract") is not True or not is_public_reference(content.get("reference")):
        return None
    code = content.get("notice_type")
    if not isinstance(code, str) or code not in types:
        return None
    spec = types.get(code)
    if not spec.public_extract:
        return None
    try:
        notice = Notice.model_validate(dict(content))
    except ValidationError as error:
        log.warning("notice %s is not shown publicly: its content does not validate (%s)", record_id, error)
        return None
    if notice.subject is None or notice.reference is None:
        return None
    photos = tuple(
        attachment
        for attachment in notice.attachments
        if attachment.kind is AttachmentKind.PHOTO and attachment.public and attachment.media_type in PUBLIC_IMAGE_TYPES
    )
    entry = PublicNotice(
        id=record_id,
        notice_type=spec.code,
        reference=notice.reference,
        owner_country=owner_country,
        notice=notice,
        subject=notice.subject,
        photos=photos,
        warrants=carries_warrants(spec),
    )
    document = detail_document(entry, "")
    # Every name counts (aliases, birth names ...); a name without parts is matched whole.
    forenames = {fold(name.given or name.full) for name in notice.subject.names}
    names = {fold(name.family or name.full) for name in notice.subject.names}
    texts = [name.full for name in notice.subject.names]
    for key in ("place_of_birth", "distinguishing_marks", "place"):
        if document.get(key):
            texts.append(str(document[key]))
    for warrant in document.get("arrest_warrants", []):
        texts.extend(str(warrant[key]) for key in ("charge", "charge_translation") if warrant.get(key))
    return replace(
        entry,
        forenames=tuple(sorted(forenames - {""})),
        names=tuple(sorted(names - {""})),
        text=fold(" ".join(texts)),
        nationalities=frozenset(document["nationalities"]),
        warrant_countries=frozenset(
            warrant["issuing_country_id"]
            for warrant in document.get("arrest_warrants", [])
            if warrant["issuing_country_id"]
        ),
    )


# -- the documents -------------------------------------------------------------------------


def notice_url(base_url: str, entry: PublicNotice) -> str:
    return f"{base_url}{PUBLIC_PREFIX}/{entry.notice_type}/{entry.path_id}"


def _links(entry: PublicNotice, base_url: str) -> dict[str, dict[str, str]]:
    url = notice_url(base_url, entry)
    links = {"self": {"href": url}, "images": {"href": f"{url}/images"}}
    if entry.photos:
        links["thumbnail"] = {"href": f"{url}/images/{entry.photos[0].id}"}
    return links


def _names(subject: Person) -> tuple[str | None, str | None]:
    primary = subject.primary_name
    if primary.given is None and primary.family is None:
        return None, primary.full
    return primary.given, primary.family


def _nationalities(subject: Person) -> list[str]:
    return [code for code in (country_alpha2(item) for item in subject.nationalities) if code]


def _date_of_birth(subject: Person) -> str | None:
    return interpol_date(subject.birth_dates[0]) if subject.birth_dates else None


def list_item(entry: PublicNotice, base_url: str) -> dict[str, Any]:
    """A notice as INTERPOL's list shows it."""
    forename, name = _names(entry.subject)
    return {
        "forename": forename,
        "date_of_birth": _date_of_birth(entry.subject),
        "entity_id": entry.reference,
        "nationalities": _nationalities(entry.subject),
        "name": name,
        "_links": _links(entry, base_url),
    }


def _warrant_country(entry: PublicNotice) -> str | None:
    issuing = {basis.issuing_country for basis in entry.notice.legal_basis}
    country = issuing.pop() if len(issuing) == 1 else entry.owner_country
    return country_alpha2(country)


def arrest_warrants(entry: PublicNotice) -> list[dict[str, Any]]:
    """One warrant per offence: the charge as written, its English translation if any."""
    country = _warrant_country(entry)
    warrants = []
    for offence in entry.notice.offences:
        description = offence.description
        translation = (
            None if description.language is Language.ENGLISH else description.translations.get(Language.ENGLISH)
        )
        warrants.append({"charge": description.text, "issuing_country_id": country, "charge_translation": translation})
    return warrants


def detail_document(entry: PublicNotice, base_url: str) -> dict[str, Any]:
    """A notice as INTERPOL's detail document shows it."""
    subject = entry.subject
    physical = subject.physical
    forename, name = _names(subject)
    birth_place = subject.birth_place
    eyes = [EYE_CODES[physical.eye_colour]] if physical and physical.eye_colour in EYE_CODES else []
    hairs = [HAIR_CODES[physical.hair_colour]] if physical and physical.hair_colour in HAIR_CODES else []
    languages = [code for code in (language_code(item) for item in subject.languages) if code]
    marks = "; ".join(mark_text(mark) for mark in physical.marks) if physical and physical.marks else None
    document: dict[str, Any] = {}
    if entry.warrants:
        document["arrest_warrants"] = arrest_warrants(entry)
    document.update(
        {
            "weight": physical.weight_kg if physical else None,
            "forename": forename,
            "date_of_birth": _date_of_birth(subject),
            "entity_id": entry.reference,
            "languages_spoken_ids": languages or None,
            "nationalities": _nationalities(subject),
            "height": round(physical.height_cm / 100, 2) if physical and physical.height_cm else None,
            "sex_id": entry.sex_id,
            "country_of_birth_id": country_alpha2(birth_place.country) if birth_place else None,
            "name": name,
            "distinguishing_marks": marks,
            "eyes_colors_id": eyes or None,
            "hairs_id": hairs or None,
            "place_of_birth": birth_place.place if birth_place else None,
        }
    )
    missing = entry.notice.missing
    if missing is not None or entry.notice_type == "yellow":
        mother_forename, mother_name = split_parent_name(missing.mother_name if missing else None)
        father_forename, father_name = split_parent_name(missing.father_name if missing else None)
        visited = [country_alpha2(code) for code in missing.countries_likely_to_be_visited] if missing else []
        document.update(
            {
                "date_of_event": interpol_date(missing.date_of_event) if missing else None,
                "place": missing.place.place if missing else None,
                "country": country_alpha2(missing.place.country) if missing else None,
                "mother_forename": mother_forename,
                "mother_name": mother_name,
                "father_forename": father_forename,
                "father_name": father_name,
                "countries_likely_to_be_visited": [code for code in visited if code],
            }
        )
    document["_embedded"] = {"links": []}
    document["_links"] = _links(entry, base_url)
    return document


def images_document(entry: PublicNotice, base_url: str) -> dict[str, Any]:
    url = notice_url(base_url, entry)
    images = [
        {"picture_id": photo.id, "_links": {"self": {"href": f"{url}/images/{photo.id}"}}} for photo in entry.photos
    ]
    links = {"self": {"href": f"{url}/images"}, "notice": {"href": url}}
    if entry.photos:
        links["thumbnail"] = {"href": f"{url}/images/{entry.photos[0].id}"}
    return {"_embedded": {"images": images}, "_links": links}


# -- searching -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeQuery:
    """The filters of INTERPOL's list endpoints. Countries are ISO 3166-1 alpha-2 and
    ``sex_id`` is ``M``, ``F`` or ``U``, as INTERPOL's parameters give them; names and free
    text match at the start of words, whatever the case, accents or script."""

    forename: str | None = None
    name: str | None = None
    nationality: str | None = None
    sex_id: str | None = None
    age_min: int | None = None
    age_max: int | None = None
    arrest_warrant_country: str | None = None
    free_text: str | None = None
    given: dict[str, Any] = field(default_factory=dict)  # the parameters as sent, for "query"

    def matches(self, entry: PublicNotice, today: dt.date) -> bool:
        if self.forename is not None and not any(word_match(fold(self.forename), f) for f in entry.forenames):
            return False
        if self.name is not None and not any(word_match(fold(self.name), n) for n in entry.names):
            return False
        if self.nationality is not None and self.nationality not in entry.nationalities:
            return False
        if self.sex_id is not None and entry.sex_id != self.sex_id:
            return False
        if self.arrest_warrant_country is not None and self.arrest_warrant_country not in entry.warrant_countries:
            return False
        if self.free_text is not None:
            words = fold(self.free_text).split()
            if not all(word_match(word, entry.text) for word in words):
                return False
        if self.age_min is not None or self.age_max is not None:
            return self._age_matches(entry.subject.birth_dates, today)
        return True

    def _age_matches(self, birth_dates: Sequence[str], today: dt.date) -> bool:
        low = self.age_min if self.age_min is not None else 0
        high = self.age_max if self.age_max is not None else 10_000
        for born in birth_dates:
            youngest, oldest = age_range(born, today)
            if oldest >= low and youngest <= high:
                return True
        return False  # no birth date: an age filter cannot be met


def page_links(
    base_url: str, notice_type: str, query: NoticeQuery, page: int, per_page: int, total: int
) -> dict[str, dict[str, str]]:
    """``self``, ``first``, ``last``, and ``next`` and ``previous`` where there are."""
    last = max(1, math.ceil(total / per_page))

    def href(number: int) -> dict[str, str]:
        parameters = {**query.given, "page": number, "resultPerPage": per_page}
        return {"href": f"{base_url}{PUBLIC_PREFIX}/{notice_type}?{urlencode(parameters)}"}

    links = {"self": href(page), "first": href(1)}
    if page > 1:
        links["previous"] = href(min(page - 1, last))
    if page < last:
        links["next"] = href(page + 1)
    links["last"] = href(last)
    return links


def list_document(
    entries: Sequence[PublicNotice],
    *,
    total: int,
    notice_type: str,
    query: NoticeQuery,
    page: int,
    per_page: int,
    base_url: str,
) -> dict[str, Any]:
    """One page of a list, as INTERPOL's list endpoints answer."""
    return {
        "total": total,
        "query": {"page": page, "resultPerPage": per_page, **query.given},
        "_embedded": {"notices": [list_item(entry, base_url) for entry in entries]},
        "_links": page_links(base_url, notice_type, query, page, per_page, total),
    }


# -- the index -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicImage:
    media_type: str
    data: bytes
    sha256: str


class PublicNotices:
    """The notices that may be shown publicly, by type and reference.

    The index is rebuilt from the live notice records whenever they change: every call
    first reads their count, latest update and summed versions (one small aggregate query),
    so a suspended, cancelled or expired notice is never served from a stale index.
    """

    def __init__(self, uow: UnitOfWorkFactory, types: NoticeTypes) -> None:
        self._uow = uow
        self._types = types
        self._lock = threading.Lock()
        self._fingerprint: tuple[Any, ...] | None = None
        self._by_type: dict[str, list[PublicNotice]] = {}
        self._by_reference: dict[str, PublicNotice] = {}

    def is_public_type(self, code: str) -> bool:
        return code in self._types and self._types.get(code).public_extract

    def carries_warrants(self, code: str) -> bool:
        return code in self._types and carries_warrants(self._types.get(code))

    def search(
        self, notice_type: str, query: NoticeQuery, *, page: int, per_page: int, now: dt.datetime | None = None
    ) -> tuple[int, list[PublicNotice]]:
        """The number of notices of ``notice_type`` that match, and those on ``page``."""
        now = now or dt.datetime.now(dt.UTC)
        today = now.date()
        found = [entry for entry in self._entries(notice_type) if entry.in_force(now) and query.matches(entry, today)]
        start = (page - 1) * per_page
        return len(found), found[start : start + per_page]

    def get(self, notice_type: str, reference: str, *, now: dt.datetime | None = None) -> PublicNotice | None:
        """The public notice with this reference, if it is of this type and in force."""
        self._refresh()
        entry = self._by_reference.get(reference)
        if entry is None or entry.notice_type != notice_type or not entry.in_force(now or dt.datetime.now(dt.UTC)):
            return None
        return entry

    def image(
        self, notice_type: str, reference: str, picture_id: str, *, now: dt.datetime | None = None
    ) -> PublicImage | None:
        """A public photo of a public notice, checked against the digest the notice holds."""
        entry = self.get(notice_type, reference, now=now)
        photo = next((item for item in entry.photos if item.id == picture_id), None) if entry else None
        if entry is None or photo is None:
            return None
        with self._uow(read_only=True) as uow:
            row = uow.session.get(NoticeFileRow, picture_id)
            if row is None or row.notice_id != entry.id:
                return None
            if row.sha256 != photo.sha256:
                log.warning("photo %s of notice %s does not match its digest; not served", picture_id, entry.id)
                return None
            return PublicImage(photo.media_type, bytes(row.data), row.sha256)

    # -- the index ---------------------------------------------------------------------------

    def _entries(self, notice_type: str) -> list[PublicNotice]:
        self._refresh()
        return self._by_type.get(notice_type, [])

    def _refresh(self) -> None:
        live = (RecordRow.kind == "notice", RecordRow.deleted_at.is_(None))
        with self._uow(read_only=True) as uow:
            counted = uow.session.execute(
                select(func.count(), func.max(RecordRow.updated_at), func.sum(RecordRow.version)).where(*live)
            ).one()
            fingerprint = tuple(counted)
            if fingerprint == self._fingerprint:
                return
            with self._lock:
                if fingerprint == self._fingerprint:
                    return
                rows = uow.session.execute(
                    select(RecordRow.id, RecordRow.owner_country, RecordRow.content).where(*live)
                ).all()
                self._rebuild(rows)
                self._fingerprint = fingerprint

    def _rebuild(self, rows: Iterable[Any]) -> None:
        by_type: dict[str, list[PublicNotice]] = {}
        by_reference: dict[str, PublicNotice] = {}
        for record_id, owner_country, content in rows:
            if not isinstance(content, Mapping):
                continue
            entry = public_notice(record_id, owner_country, content, self._types)
            if entry is None:
                continue
            by_type.setdefault(entry.notice_type, []).append(entry)
            by_reference[entry.reference] = entry
        for entries in by_type.values():
            entries.sort(key=PublicNotice.sort_key)
        self._by_type, self._by_reference = by_type, by_reference
