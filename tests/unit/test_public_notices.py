"""The public notices extract (INTERPOL's public API shape) and the ``interpol-notices``
adapter: codes, matching, documents, paging, the rate limiter, and the round trip
INTERPOL document -> notice request -> INTERPOL document."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from polex.domain.notice import (
    AttachmentKind,
    Channel,
    Language,
    LegalBasis,
    LegalBasisKind,
    LocalText,
    MissingEvent,
    Notice,
    NoticeAttachment,
    NoticeRequest,
    NoticeStatus,
    NoticeTypeSpec,
    Offence,
    Requirement,
)
from polex.domain.person import (
    DistinguishingMark,
    EyeColour,
    HairColour,
    IdentifierKind,
    MarkKind,
    Person,
    PersonName,
    PhysicalDescription,
    Place,
    Sex,
)
from polex.formats import registry as registry_module
from polex.formats.interpol_notices import (
    FORMAT_NAME,
    InterpolNoticesAdapter,
    guess_language,
    read_interpol_notices,
)
from polex.formats.registry import ENTRY_POINT_GROUP, Accepted, FormatRegistry, Rejection
from polex.notice.public import (
    NoticeQuery,
    PublicNotice,
    age_range,
    country_alpha2,
    country_alpha3,
    detail_document,
    fold,
    images_document,
    interpol_date,
    join_parent_name,
    language_code,
    language_from_code,
    list_document,
    list_item,
    mark_text,
    partial_date,
    path_id,
    public_notice,
    reference_of,
    split_parent_name,
    word_match,
)
from polex.notice.public_endpoints import SlidingWindowLimiter, client_key
from polex.notice.types import NoticeTypes

BASE = "https://hub.polex.example"
RECORD_ID = "0190f1c2-7a3b-7c4d-8e5f-0123456789ab"
PHOTO_ID = "0190f1c2-7a3b-7c4d-8e5f-00000000a001"
TODAY = dt.date(2026, 6, 1)
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
INTERPOL = "https://ws-public.interpol.int/notices/v1"

# A red notice as INTERPOL's public API serves it (written by hand from its documented shape).
RED_DETAIL: dict[str, Any] = {
    "arrest_warrants": [
        {
            "charge": "Homicidio agravado y asociación ilícita",
            "issuing_country_id": "SV",
            "charge_translation": "Aggravated homicide and unlawful association",
        },
        {"charge": "Extortion", "issuing_country_id": "SV", "charge_translation": None},
    ],
    "weight": 72,
    "forename": "JOSÉ ANTONIO",
    "date_of_birth": "1988/03/14",
    "entity_id": "2023/54608",
    "languages_spoken_ids": ["SPA", "ENG"],
    "nationalities": ["SV", "GT"],
    "height": 1.72,
    "sex_id": "M",
    "country_of_birth_id": "SV",
    "name": "MARTÍNEZ LÓPEZ",
    "distinguishing_marks": "Tattoo on the left forearm",
    "eyes_colors_id": ["BRO"],
    "hairs_id": ["BLA"],
    "place_of_birth": "San Salvador",
    "_embedded": {"links": []},
    "_links": {
        "self": {"href": f"{INTERPOL}/red/2023-54608"},
        "images": {"href": f"{INTERPOL}/red/2023-54608/images"},
        "thumbnail": {"href": f"{INTERPOL}/red/2023-54608/images/62179835"},
    },
}

# A yellow notice: a missing child.
YELLOW_DETAIL: dict[str, Any] = {
    "weight": 31,
    "forename": "LÉA",
    "date_of_birth": "2014/09",
    "entity_id": "2024/11873",
    "languages_spoken_ids": ["FRE"],
    "nationalities": ["FR"],
    "height": 1.35,
    "sex_id": "F",
    "country_of_birth_id": "FR",
    "name": "MOREAU",
    "distinguishing_marks": None,
    "eyes_colors_id": ["BLU"],
    "hairs_id": ["BLN"],
    "place_of_birth": "Lyon",
    "date_of_event": "2024/02/11",
    "place": "Marseille",
    "country": "FR",
    "mother_forename": "Claire",
    "mother_name": "MOREAU",
    "father_forename": None,
    "father_name": "DURAND",
    "countries_likely_to_be_visited": ["ES", "IT"],
    "_embedded": {"links": []},
    "_links": {
        "self": {"href": f"{INTERPOL}/yellow/2024-11873"},
        "images": {"href": f"{INTERPOL}/yellow/2024-11873/images"},
    },
}

RED_LIST: dict[str, Any] = {
    "total": 2,
    "query": {"page": 1, "resultPerPage": 20, "nationality": "SV"},
    "_embedded": {
        "notices": [
            {
                "forename": "JOSÉ ANTONIO",
                "date_of_birth": "1988/03/14",
                "entity_id": "2023/54608",
                "nationalities": ["SV", "GT"],
                "name": "MARTÍNEZ LÓPEZ",
                "_links": {
                    "self": {"href": f"{INTERPOL}/red/2023-54608"},
                    "images": {"href": f"{INTERPOL}/red/2023-54608/images"},
                },
            },
            {
                "forename": "CARLOS",
                "date_of_birth": "1979",
                "entity_id": "2019/7741",
                "nationalities": ["SV"],
                "name": "RIVAS",
                "_links": {"self": {"href": f"{INTERPOL}/red/2019-7741"}},
            },
        ]
    },
    "_links": {
        "self": {"href": f"{INTERPOL}/red?nationality=SV&page=1&resultPerPage=20"},
        "first": {"href": f"{INTERPOL}/red?nationality=SV&page=1&resultPerPage=20"},
        "last": {"href": f"{INTERPOL}/red?nationality=SV&page=1&resultPerPage=20"},
    },
}


def _published(request: NoticeRequest, reference: str, **changes: Any) -> dict[str, Any]:
    """The stored content of a published notice (``Notice.model_dump(mode="json")``)."""
    notice = Notice(
        **request.model_dump(),
        status=NoticeStatus.PUBLISHED,
        reference=reference,
        published_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        expires_at=dt.datetime(2031, 1, 5, tzinfo=dt.UTC),
    )
    content = notice.model_dump(mode="json")
    content.update(changes)
    return content


def _red_request(**changes: Any) -> NoticeRequest:
    subject = Person(
        names=[
            PersonName(full="José Antonio MARTÍNEZ LÓPEZ", given="José Antonio", family="MARTÍNEZ LÓPEZ"),
            PersonName(full="El Flaco", kind="alias"),
        ],
        sex=Sex.MALE,
        birth_dates=["1988-03-14", "1987"],
        birth_place=Place(place="San Salvador", country="SLV"),
        nationalities=["SLV", "XXA"],
        identifiers=[{"kind": "passport", "value": "A12345678", "country": "SLV"}],
        physical=PhysicalDescription(
            height_cm=172,
            weight_kg=72,
            eye_colour=EyeColour.BROWN,
            hair_colour=HairColour.BLACK,
            marks=[
                DistinguishingMark(kind=MarkKind.TATTOO, location="left forearm", description="an eagle"),
                DistinguishingMark(kind=MarkKind.SCAR, location="chin"),
            ],
        ),
        languages=["es", "en"],
        health="needs insulin",
    )
    values: dict[str, Any] = {
        "notice_type": "red",
        "subject": subject,
        "offences": [
            Offence(
                description=LocalText(
                    language=Language.SPANISH,
                    text="Homicidio agravado",
                    translations={Language.ENGLISH: "Aggravated homicide"},
                )
            ),
            Offence(description=LocalText(language=Language.ENGLISH, text="Extortion")),
        ],
        "legal_basis": [
            LegalBasis(
                kind=LegalBasisKind.ARREST_WARRANT,
                reference="OJ-2022-118",
                issuing_authority="Juzgado Especializado de Instrucción, San Salvador",
                issued_on=dt.date(2022, 11, 3),
                issuing_country="SLV",
            )
        ],
        "public_extract": True,
        "attachments": [
            NoticeAttachment(
                id=PHOTO_ID, kind=AttachmentKind.PHOTO, media_type="image/jpeg", sha256="a" * 64, size=10, public=True
            ),
            NoticeAttachment(
                id="0190f1c2-7a3b-7c4d-8e5f-00000000a002",
                kind=AttachmentKind.PHOTO,
                media_type="image/jpeg",
                sha256="b" * 64,
                size=10,
                public=False,
            ),
            NoticeAttachment(
                id="0190f1c2-7a3b-7c4d-8e5f-00000000a003",
                kind=AttachmentKind.PHOTO,
                media_type="image/svg+xml",
                sha256="c" * 64,
                size=10,
                public=True,
            ),
            NoticeAttachment(
                id="0190f1c2-7a3b-7c4d-8e5f-00000000a004",
                kind=AttachmentKind.DOCUMENT,
                media_type="image/png",
                sha256="d" * 64,
                size=10,
                public=True,
            ),
        ],
    }
    values.update(changes)
    return NoticeRequest(**values)


def _entry(content: dict[str, Any], *, owner: str = "SLV", types: NoticeTypes | None = None) -> PublicNotice:
    entry = public_notice(RECORD_ID, owner, content, types or NoticeTypes())
    assert entry is not None
    return entry


# -- codes and dates ----------------------------------------------------------------------------


def test_country_codes_convert_between_alpha_3_and_alpha_2() -> None:
    assert country_alpha2("SLV") == "SV"
    assert country_alpha2("XXA") is None  # stateless: an ICAO code, not a country
    assert country_alpha2(None) is None
    assert country_alpha3("sv") == "SLV"
    assert country_alpha3("XK") is None
    assert country_alpha3("SLV") is None


def test_languages_are_iso_639_2_bibliographic_upper_case() -> None:
    assert [language_code(code) for code in ("en", "fr", "es", "ar", "de", "fra")] == [
        "ENG",
        "FRE",
        "SPA",
        "ARA",
        "GER",
        "FRE",
    ]
    assert language_code("zz") is None
    assert [language_from_code(code) for code in ("ENG", "FRE", "fra", "GER", "SPA")] == ["en", "fr", "fr", "de", "es"]
    assert language_from_code("QQQ") is None


def test_dates_and_references() -> None:
    assert interpol_date("1971-05-12") == "1971/05/12"
    assert interpol_date("1971-05") == "1971/05"
    assert interpol_date("1971") == "1971"
    assert partial_date("1971/05/12") == "1971-05-12"
    assert partial_date("1971/5") == "1971-05"
    assert partial_date("1971/00/00") == "1971"
    assert partial_date("1971/05/00") == "1971-05"
    assert partial_date("12/05/1971") is None
    assert partial_date("unknown") is None
    assert path_id("2026/1234") == "2026-1234"
    assert reference_of("2026-1234") == "2026/1234"
    for wrong in ("2026/1234", "26-1234", "2026-", "2026-12a", "D-2026-1"):
        assert reference_of(wrong) is None


def test_matching_ignores_case_accents_and_script_and_starts_at_words() -> None:
    assert fold("  MARTÍNEZ  López-Ñúñez ") == "martinez lopez nunez"
    assert word_match(fold("marti"), fold("José MARTÍNEZ"))
    assert word_match(fold("jo"), fold("Mary Jo Smith"))
    assert word_match(fold("Jo"), fold("John"))
    assert not word_match(fold("jo"), fold("Bojo"))
    assert word_match(fold("ivan"), fold("Иван Петров"))
    assert word_match(fold("Иван"), fold("Ivan Petrov"))
    assert not word_match("", "anything")


def test_parent_names_split_at_the_comma() -> None:
    assert split_parent_name("MOREAU, Claire") == ("Claire", "MOREAU")
    assert split_parent_name("Claire Moreau") == (None, "Claire Moreau")
    assert split_parent_name(None) == (None, None)
    assert join_parent_name("Claire", "MOREAU") == "MOREAU, Claire"
    assert join_parent_name(None, "DURAND") == "DURAND"
    assert split_parent_name(join_parent_name("Claire", "MOREAU")) == ("Claire", "MOREAU")


def test_marks_as_text() -> None:
    assert mark_text(DistinguishingMark(kind=MarkKind.TATTOO, location="left forearm", description="an eagle")) == (
        "Tattoo (left forearm): an eagle"
    )
    assert mark_text(DistinguishingMark(kind=MarkKind.SCAR)) == "Scar"
    assert mark_text(DistinguishingMark(kind=MarkKind.OTHER, description="Limps")) == "Limps"


def test_age_from_a_partial_birth_date() -> None:
    assert age_range("1988-03-14", TODAY) == (38, 38)
    assert age_range("1988-07-01", TODAY) == (37, 37)
    assert age_range("1988", TODAY) == (37, 38)


# -- what may be public ---------------------------------------------------------------------------


def test_only_published_consented_notices_of_public_types_with_a_person_are_public() -> None:
    content = _published(_red_request(), "2026/17")
    types = NoticeTypes()
    assert public_notice(RECORD_ID, "SLV", content, types) is not None
    changes: tuple[dict[str, Any], ...] = (
        {"status": "suspended"},
        {"status": "cancelled"},
        {"status": "submitted"},
        {"public_extract": False},
        {"channel": "diffusion"},
        {"notice_type": "blue"},
        {"notice_type": "silver"},  # not a type of this network
        {"reference": None},
        {"reference": "D-2026/17"},
        {"subject": None},
        {"subject": {"names": []}},  # does not validate: never shown
    )
    for change in changes:
        assert public_notice(RECORD_ID, "SLV", {**content, **change}, types) is None, change


def test_a_configured_type_with_public_extracts_is_public() -> None:
    silver = NoticeTypeSpec(
        code="silver",
        title="Silver notice",
        description="To locate criminal assets",
        requires=[Requirement.LEGAL_BASIS],
        purpose="criminal_investigation",
        public_extract=True,
    )
    types = NoticeTypes([silver])
    content = _published(_red_request(notice_type="silver"), "2026/18")
    entry = _entry(content, types=types)
    assert entry.notice_type == "silver"
    assert entry.warrants  # it needs a legal basis: its extract lists the warrants
    assert "arrest_warrants" in detail_document(entry, BASE)


def test_only_public_photos_in_an_image_format_are_shown() -> None:
    entry = _entry(_published(_red_request(), "2026/17"))
    assert [photo.id for photo in entry.photos] == [PHOTO_ID]
    images = images_document(entry, BASE)
    url = f"{BASE}/public/notices/v1/red/2026-17"
    assert images == {
        "_embedded": {"images": [{"picture_id": PHOTO_ID, "_links": {"self": {"href": f"{url}/images/{PHOTO_ID}"}}}]},
        "_links": {
            "self": {"href": f"{url}/images"},
            "notice": {"href": url},
            "thumbnail": {"href": f"{url}/images/{PHOTO_ID}"},
        },
    }
    bare = _entry(_published(_red_request(attachments=[]), "2026/19"))
    assert images_document(bare, BASE)["_embedded"]["images"] == []
    assert "thumbnail" not in images_document(bare, BASE)["_links"]
    assert "thumbnail" not in list_item(bare, BASE)["_links"]


# -- the documents ------------------------------------------------------------------------------


def test_a_red_notice_as_interpol_shows_it() -> None:
    entry = _entry(_published(_red_request(), "2026/17"), owner="FRA")
    url = f"{BASE}/public/notices/v1/red/2026-17"
    assert detail_document(entry, BASE) == {
        "arrest_warrants": [
            {"charge": "Homicidio agravado", "issuing_country_id": "SV", "charge_translation": "Aggravated homicide"},
            {"charge": "Extortion", "issuing_country_id": "SV", "charge_translation": None},
        ],
        "weight": 72,
        "forename": "José Antonio",
        "date_of_birth": "1988/03/14",
        "entity_id": "2026/17",
        "languages_spoken_ids": ["SPA", "ENG"],
        "nationalities": ["SV"],
        "height": 1.72,
        "sex_id": "M",
        "country_of_birth_id": "SV",
        "name": "MARTÍNEZ LÓPEZ",
        "distinguishing_marks": "Tattoo (left forearm): an eagle; Scar (chin)",
        "eyes_colors_id": ["BRO"],
        "hairs_id": ["BLA"],
        "place_of_birth": "San Salvador",
        "_embedded": {"links": []},
        "_links": {
            "self": {"href": url},
            "images": {"href": f"{url}/images"},
            "thumbnail": {"href": f"{url}/images/{PHOTO_ID}"},
        },
    }
    assert list_item(entry, BASE) == {
        "forename": "José Antonio",
        "date_of_birth": "1988/03/14",
        "entity_id": "2026/17",
        "nationalities": ["SV"],
        "name": "MARTÍNEZ LÓPEZ",
        "_links": detail_document(entry, BASE)["_links"],
    }


def test_nothing_but_the_extract_leaves() -> None:
    entry = _entry(_published(_red_request(), "2026/17"))
    text = json.dumps(detail_document(entry, BASE), ensure_ascii=False)
    for secret in (
        "A12345678",
        "insulin",
        "OJ-2022-118",
        "Juzgado",
        "El Flaco",
        RECORD_ID,
        "0190f1c2-7a3b-7c4d-8e5f-00000000a002",
    ):
        assert secret not in text


def test_warrants_come_from_the_owner_country_when_the_legal_bases_disagree() -> None:
    basis = _red_request().legal_basis[0]
    other = basis.model_copy(update={"issuing_country": "GTM"})
    entry = _entry(_published(_red_request(legal_basis=[basis, other]), "2026/17"), owner="FRA")
    assert {warrant["issuing_country_id"] for warrant in detail_document(entry, BASE)["arrest_warrants"]} == {"FR"}
    entry = _entry(_published(_red_request(legal_basis=[]), "2026/17"), owner="SLV")
    assert {warrant["issuing_country_id"] for warrant in detail_document(entry, BASE)["arrest_warrants"]} == {"SV"}


def test_a_yellow_notice_as_interpol_shows_it() -> None:
    request = NoticeRequest(
        notice_type="yellow",
        subject=Person(
            names=[PersonName(full="Léa MOREAU", given="Léa", family="MOREAU")],
            sex=Sex.FEMALE,
            birth_dates=["2014-09"],
            nationalities=["FRA"],
        ),
        missing=MissingEvent(
            date_of_event="2024-02-11",
            place=Place(place="Marseille", country="FRA"),
            mother_name="MOREAU, Claire",
            father_name="Paul Durand",
            countries_likely_to_be_visited=["ESP", "ITA"],
        ),
        public_extract=True,
    )
    document = detail_document(_entry(_published(request, "2026/20"), owner="FRA"), BASE)
    assert "arrest_warrants" not in document
    assert {key: document[key] for key in document if key not in ("_links", "_embedded")} == {
        "weight": None,
        "forename": "Léa",
        "date_of_birth": "2014/09",
        "entity_id": "2026/20",
        "languages_spoken_ids": None,
        "nationalities": ["FR"],
        "height": None,
        "sex_id": "F",
        "country_of_birth_id": None,
        "name": "MOREAU",
        "distinguishing_marks": None,
        "eyes_colors_id": None,
        "hairs_id": None,
        "place_of_birth": None,
        "date_of_event": "2024/02/11",
        "place": "Marseille",
        "country": "FR",
        "mother_forename": "Claire",
        "mother_name": "MOREAU",
        "father_forename": None,
        "father_name": "Paul Durand",
        "countries_likely_to_be_visited": ["ES", "IT"],
    }


def test_a_name_without_parts_is_the_name() -> None:
    request = _red_request(subject=Person(names=[PersonName(full="Moussa Traoré")]))
    item = list_item(_entry(_published(request, "2026/21")), BASE)
    assert (item["forename"], item["name"], item["date_of_birth"], item["nationalities"]) == (
        None,
        "Moussa Traoré",
        None,
        [],
    )


# -- searching and paging -----------------------------------------------------------------------


def test_filters_match_like_interpol() -> None:
    entry = _entry(_published(_red_request(), "2026/17"))

    def matches(**filters: Any) -> bool:
        return NoticeQuery(**filters).matches(entry, TODAY)

    assert matches()
    assert matches(forename="jose")
    assert matches(forename="JOSÉ ANT")
    assert matches(forename="antonio")
    assert not matches(forename="martinez")
    assert matches(name="martinez lo")
    assert matches(name="lopez")
    assert matches(name="flaco")  # an alias is a name too
    assert not matches(name="tinez")
    assert matches(nationality="SV")
    assert not matches(nationality="FR")
    assert matches(sex_id="M")
    assert not matches(sex_id="F")
    assert matches(age_min=38, age_max=38)
    assert matches(age_min=30)
    assert matches(age_max=38)
    assert not matches(age_min=40)
    assert not matches(age_max=35)
    assert matches(arrest_warrant_country="SV")
    assert not matches(arrest_warrant_country="FR")
    assert matches(free_text="homicide")  # the English translation
    assert matches(free_text="homicidio san salvador")
    assert matches(free_text="eagle")
    assert not matches(free_text="homicidio guatemala")
    undated = _entry(_published(_red_request(subject=Person(names=[PersonName(full="X Y")])), "2026/22"))
    assert not NoticeQuery(age_min=18).matches(undated, TODAY)
    assert NoticeQuery(sex_id="U").matches(undated, TODAY)


def test_pages_link_to_their_neighbours_with_the_filters() -> None:
    entry = _entry(_published(_red_request(), "2026/17"))
    query = NoticeQuery(nationality="SV", given={"nationality": "SV", "forename": "José"})

    def links(page: int, total: int = 45) -> dict[str, str]:
        document = list_document(
            [entry], total=total, notice_type="red", query=query, page=page, per_page=20, base_url=BASE
        )
        assert document["total"] == total
        assert document["query"] == {"page": page, "resultPerPage": 20, "nationality": "SV", "forename": "José"}
        return {name: link["href"] for name, link in document["_links"].items()}

    first = links(1)
    assert set(first) == {"self", "first", "next", "last"}
    assert first["self"] == f"{BASE}/public/notices/v1/red?nationality=SV&forename=Jos%C3%A9&page=1&resultPerPage=20"
    assert first["next"].endswith("&page=2&resultPerPage=20")
    assert first["last"].endswith("&page=3&resultPerPage=20")
    assert set(links(2)) == {"self", "first", "previous", "next", "last"}
    assert links(2)["previous"].endswith("&page=1&resultPerPage=20")
    assert set(links(3)) == {"self", "first", "previous", "last"}
    assert links(9)["previous"].endswith("&page=3&resultPerPage=20")  # past the end: back to the last page
    assert set(links(1, total=0)) == {"self", "first", "last"}


# -- the rate limit -----------------------------------------------------------------------------


def test_the_limiter_admits_so_many_a_minute_per_client() -> None:
    now = [1000.0]
    limiter = SlidingWindowLimiter(60.0, clock=lambda: now[0])
    assert [limiter.admit("a", 3) for _ in range(3)] == [None, None, None]
    wait = limiter.admit("a", 3)
    assert wait is not None
    assert 59.9 < wait <= 60.0
    assert limiter.admit("b", 3) is None  # another client has its own minute
    now[0] += 30
    assert limiter.admit("a", 3) is not None  # refusals are not counted, but the minute is not over
    now[0] += 30.5
    assert limiter.admit("a", 3) is None
    assert limiter.admit("a", 10) is None  # a higher limit admits at once


def test_the_limiter_forgets_idle_clients_and_bounds_how_many_it_tracks() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(60.0, max_clients=10, clock=lambda: now[0])
    for client in range(50):
        limiter.admit(f"c{client}", 5)
    assert len(limiter._hits) <= 11
    now[0] += 61
    limiter.admit("late", 5)
    assert list(limiter._hits) == ["late"]


def test_clients_are_limited_by_address_and_ipv6_hosts_by_their_64() -> None:
    def key(host: str) -> str:
        return client_key(Request({"type": "http", "client": (host, 50000), "headers": []}))

    assert key("192.0.2.7") == "192.0.2.7"
    assert key("2001:db8:1:2:aaaa::1") == key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert key("2001:db8:1:3::1") != key("2001:db8:1:2::1")
    assert key("::ffff:192.0.2.7") == "192.0.2.7"
    assert key("testclient") == "testclient"


# -- the adapter -------------------------------------------------------------------------------


def _accepted(result: Accepted | Rejection) -> Accepted:
    assert isinstance(result, Accepted), result
    assert isinstance(result.record, NoticeRequest)
    return result


def test_a_red_notice_document_is_read_into_a_notice_request() -> None:
    (result,) = read_interpol_notices(json.dumps(RED_DETAIL).encode())
    accepted = _accepted(result)
    request = accepted.record
    assert isinstance(request, NoticeRequest)
    assert accepted.location == "notice 2023/54608"
    assert request.notice_type == "red"
    assert request.channel is Channel.NOTICE
    assert request.public_extract is False  # the importer cannot consent for the source
    assert request.legal_basis == []
    subject = request.subject
    assert subject is not None
    assert subject.primary_name.given == "JOSÉ ANTONIO"
    assert subject.primary_name.family == "MARTÍNEZ LÓPEZ"
    assert subject.primary_name.full == "JOSÉ ANTONIO MARTÍNEZ LÓPEZ"
    assert subject.sex is Sex.MALE
    assert subject.birth_dates == ["1988-03-14"]
    assert subject.nationalities == ["SLV", "GTM"]
    assert subject.birth_place == Place(place="San Salvador", country="SLV")
    assert subject.languages == ["es", "en"]
    assert subject.identifiers[0].kind is IdentifierKind.INTERPOL_REFERENCE
    assert subject.identifiers[0].value == "2023/54608"
    assert subject.physical == PhysicalDescription(
        height_cm=172,
        weight_kg=72,
        eye_colour=EyeColour.BROWN,
        hair_colour=HairColour.BLACK,
        marks=[DistinguishingMark(kind=MarkKind.OTHER, description="Tattoo on the left forearm")],
    )
    homicide, extortion = request.offences
    assert homicide.description == LocalText(
        language=Language.SPANISH,
        text="Homicidio agravado y asociación ilícita",
        translations={Language.ENGLISH: "Aggravated homicide and unlawful association"},
    )
    assert extortion.description == LocalText(language=Language.ENGLISH, text="Extortion")
    assert accepted.provenance is not None
    assert accepted.provenance.source_format == FORMAT_NAME
    assert accepted.provenance.source_id == "2023/54608"
    # Where the warrants were issued has no place in an offence: kept as received.
    assert accepted.provenance.original_values == {
        "arrest_warrants/0/issuing_country_id": "SV",
        "arrest_warrants/1/issuing_country_id": "SV",
    }
    assert json.loads(accepted.raw) == RED_DETAIL


@pytest.mark.parametrize("detail", [RED_DETAIL, YELLOW_DETAIL], ids=["red", "yellow"])
def test_round_trip_interpol_to_polex_to_interpol(detail: dict[str, Any]) -> None:
    (result,) = read_interpol_notices(json.dumps(detail), public_extract=True)
    request = _accepted(result).record
    assert isinstance(request, NoticeRequest)
    country = country_alpha3(detail.get("arrest_warrants", [{}])[0].get("issuing_country_id") or "FR")
    assert country is not None
    entry = _entry(_published(request, detail["entity_id"]), owner=country)
    shown = detail_document(entry, INTERPOL.removesuffix("/notices/v1"))
    for key, value in detail.items():
        if key != "_links":
            assert shown[key] == value, key
    assert set(shown) == set(detail)
    assert shown["_links"]["self"]["href"].endswith(detail["_links"]["self"]["href"].split("/notices/v1")[1])


def test_a_yellow_notice_document_is_read_with_its_disappearance() -> None:
    (result,) = read_interpol_notices(json.dumps(YELLOW_DETAIL).encode())
    request = _accepted(result).record
    assert isinstance(request, NoticeRequest)
    assert request.notice_type == "yellow"
    assert request.offences == []
    assert request.missing == MissingEvent(
        date_of_event="2024-02-11",
        place=Place(place="Marseille", country="FRA"),
        mother_name="MOREAU, Claire",
        father_name="DURAND",
        countries_likely_to_be_visited=["ESP", "ITA"],
    )
    assert request.subject is not None
    assert request.subject.birth_dates == ["2014-09"]
    assert request.subject.languages == ["fr"]


def test_a_list_document_and_an_array_are_read_item_by_item() -> None:
    results = read_interpol_notices(json.dumps(RED_LIST).encode())
    assert [result.location for result in results] == ["notices[0] 2023/54608", "notices[1] 2019/7741"]
    second = _accepted(results[1]).record
    assert isinstance(second, NoticeRequest)
    assert second.notice_type == "red"
    assert second.subject is not None
    assert second.subject.birth_dates == ["1979"]
    array = read_interpol_notices(json.dumps([RED_DETAIL, YELLOW_DETAIL]).encode())
    assert [result.location for result in array] == ["[0] 2023/54608", "[1] 2024/11873"]
    assert [_accepted(result).record.notice_type for result in array] == ["red", "yellow"]  # type: ignore[attr-defined]


def test_the_type_comes_from_the_option_the_link_or_the_fields() -> None:
    bare = {key: value for key, value in RED_DETAIL.items() if key != "_links"}
    assert _accepted(read_interpol_notices(json.dumps(bare))[0]).record.notice_type == "red"  # type: ignore[attr-defined]
    (forced,) = read_interpol_notices(json.dumps(RED_DETAIL), notice_type="green")
    assert _accepted(forced).record.notice_type == "green"  # type: ignore[attr-defined]
    nameless = {"forename": "ANA", "name": "SILVA", "entity_id": "2020/1"}
    (unknown,) = read_interpol_notices(json.dumps(nameless))
    assert isinstance(unknown, Rejection)
    assert unknown.field == "_links/self/href"


def test_rejections_name_interpol_fields() -> None:
    broken = copy.deepcopy(RED_DETAIL)
    broken.update({"date_of_birth": "14/03/1988", "sex_id": "X", "nationalities": "SV"})
    broken["arrest_warrants"][1]["charge"] = None
    (result,) = read_interpol_notices(json.dumps(broken))
    assert isinstance(result, Rejection)
    assert result.location == "notice 2023/54608"
    assert {error.field for error in result.errors} == {"date_of_birth", "sex_id", "arrest_warrants/1/charge"}
    assert result.field == result.errors[0].field
    assert json.loads(result.raw) == broken

    for change, field in (
        ({"forename": None, "name": "-"}, "name"),
        ({"date_of_birth": "2999/01/01"}, "date_of_birth"),
        ({"entity_id": "A-12"}, "entity_id"),
        ({"arrest_warrants": "murder"}, "arrest_warrants"),
        ({"height": "tall"}, "height"),
        ({"eyes_colors_id": 3}, "eyes_colors_id"),
        ({"forename": "x" * 400}, "forename"),
    ):
        (result,) = read_interpol_notices(json.dumps({**RED_DETAIL, **change}))
        assert isinstance(result, Rejection), change
        assert field in {error.field for error in result.errors}, (change, result.errors)

    yellow = {**YELLOW_DETAIL, "date_of_event": None}
    (result,) = read_interpol_notices(json.dumps(yellow))
    assert isinstance(result, Rejection)
    assert result.field == "date_of_event"


def test_values_polex_cannot_hold_are_kept_in_the_provenance() -> None:
    odd = {
        **RED_DETAIL,
        "nationalities": ["SV", "XK"],
        "eyes_colors_id": ["BRO", "GRE"],
        "hairs_id": ["ZZZ"],
        "languages_spoken_ids": ["SPA", "QQQ"],
        "height": 17.2,
        "weight": 0,
        "arrest_warrants": [{"charge": "Мошенничество", "issuing_country_id": "RU", "charge_translation": "Fraud"}],
    }
    (result,) = read_interpol_notices(json.dumps(odd))
    accepted = _accepted(result)
    request = accepted.record
    assert isinstance(request, NoticeRequest)
    assert request.subject is not None
    assert request.subject.nationalities == ["SLV"]
    assert request.subject.languages == ["es"]
    assert request.subject.physical is not None
    assert request.subject.physical.height_cm is None
    assert request.subject.physical.weight_kg is None
    assert request.subject.physical.eye_colour is EyeColour.BROWN
    assert request.subject.physical.hair_colour is None
    # A Russian original cannot be held with its language: kept in English, the translation kept aside.
    assert request.offences[0].description == LocalText(language=Language.ENGLISH, text="Мошенничество")
    assert accepted.provenance is not None
    assert accepted.provenance.original_values == {
        "nationalities/1": "XK",
        "eyes_colors_id/1": "GRE",
        "hairs_id/0": "ZZZ",
        "languages_spoken_ids/1": "QQQ",
        "height": "17.2",
        "arrest_warrants/0/issuing_country_id": "RU",
        "arrest_warrants/0/charge_translation": "Fraud",
    }


def test_the_language_of_a_translated_charge_is_guessed() -> None:
    assert guess_language("القتل العمد") is Language.ARABIC
    assert guess_language("Escroquerie en bande organisée") is Language.FRENCH
    assert guess_language("Blanchiment de capitaux") is Language.FRENCH
    assert guess_language("Tráfico ilícito de drogas") is Language.SPANISH
    assert guess_language("Robo con violencia") is Language.SPANISH
    assert guess_language("Narcotrafico", "MEX") is Language.SPANISH
    assert guess_language("Narcotrafic", "SEN") is Language.FRENCH
    assert guess_language("Narcotrafico") is None
    assert guess_language("Fraude", "BRA") is None


def test_input_that_is_not_a_notice_is_one_rejection() -> None:
    for data, reason in (
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"42", "expected a notice"),
    ):
        (result,) = read_interpol_notices(data)
        assert isinstance(result, Rejection)
        assert result.field == "$"
        assert reason in result.reason
    (result,) = read_interpol_notices(json.dumps({"_embedded": {"notices": {}}}))
    assert isinstance(result, Rejection)
    assert result.field == "_embedded/notices"
    results = read_interpol_notices(json.dumps([RED_DETAIL, "nonsense"]))
    assert isinstance(results[0], Accepted)
    assert isinstance(results[1], Rejection)
    assert results[1].location == "[1]"


def test_the_adapter_reads_a_stream_with_its_options() -> None:
    adapter = InterpolNoticesAdapter(public_extract="true", notice_type="Red")
    (result,) = adapter.read(io.BytesIO(json.dumps(YELLOW_DETAIL).encode()))
    request = _accepted(result).record
    assert isinstance(request, NoticeRequest)
    assert request.notice_type == "red"
    assert request.public_extract is True
    with pytest.raises(TypeError):
        InterpolNoticesAdapter(public_extract="perhaps")
    with pytest.raises(TypeError):
        InterpolNoticesAdapter(notice_type="no such type!")


def test_the_adapter_is_registered_through_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert FORMAT_NAME in declared
    point = EntryPoint(name=FORMAT_NAME, value=declared[FORMAT_NAME], group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry_module, "entry_points", lambda *, group: [point])
    registry = FormatRegistry()
    (info,) = [info for info in registry.formats() if info.name == FORMAT_NAME]
    assert info.source.startswith("entry point interpol-notices = polex.formats.interpol_notices:")
    assert "application/json" in info.media_types
    assert not info.writable
    assert registry.failures == []
    adapter = registry.get(FORMAT_NAME, notice_type="yellow")
    assert isinstance(adapter, InterpolNoticesAdapter)
    assert adapter.notice_type == "yellow"
