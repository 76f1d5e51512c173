"""INTERPOL's public notices API served by polex, over real HTTP and without credentials.

The notices are taken through the workflow at the hub (drafted with their photos,
submitted, approved, suspended or cancelled), so the extract is tested on what the
workflow really stores."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from polex.auth.principal import Principal, PrincipalKind
from polex.domain.agency import AgencyKind
from polex.domain.base import new_id
from polex.domain.notice import (
    Action,
    AttachmentKind,
    Channel,
    Language,
    LegalBasis,
    LegalBasisKind,
    LocalText,
    MissingEvent,
    NoticeAttachment,
    NoticeRequest,
    NoticeStatus,
    Offence,
)
from polex.domain.person import EyeColour, HairColour, Person, PersonName, PhysicalDescription, Place, Sex
from polex.domain.roles import Role
from polex.notice.public import age_range
from tests.e2e.conftest import LiveServer, assert_problem

PREFIX = "/public/notices/v1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # what the bytes are does not matter: they are served as stored
_numbers = itertools.count(9001)


@dataclass(frozen=True)
class Published:
    id: str
    reference: str
    photo_id: str | None = None
    private_photo_id: str | None = None

    @property
    def path(self) -> str:
        return self.reference.replace("/", "-")


def _person(given: str, family: str, **values: Any) -> Person:
    return Person(names=[PersonName(full=f"{given} {family}", given=given, family=family)], **values)


def _photo(public: bool) -> tuple[bool, bytes]:
    return public, PNG + new_id().encode()


@dataclass(frozen=True)
class Workflow:
    """A French bureau that requests notices at the hub, and the hub's reviewer."""

    source: Principal
    reviewer: Principal


def _workflow(live: LiveServer) -> Workflow:
    ncb = live.make_agency(kind=AgencyKind.NCB, country="FRA")
    roles = frozenset({Role.NCB_OPERATOR})
    source = Principal(PrincipalKind.USER, new_id(), "ncb", ncb, "FRA", roles)
    reviewer = Principal(
        PrincipalKind.USER, new_id(), "reviewer", live.own_agency_id, "XPO", frozenset({Role.REVIEWER})
    )
    return Workflow(source, reviewer)


def publish(
    live: LiveServer,
    request: NoticeRequest,
    *,
    status: NoticeStatus = NoticeStatus.PUBLISHED,
    files: tuple[tuple[bool, bytes], ...] = (),
) -> Published:
    """A notice taken through the workflow at the hub: drafted with its photos, submitted
    and approved (a diffusion issued), then suspended or cancelled when ``status`` says so."""
    notices, people = live.node.notices, _workflow(live)
    draft = notices.create(request.model_copy(update={"attachments": []}), people.source)
    stored = [
        notices.add_file(
            draft.id, data, people.source, media_type="image/png", kind=AttachmentKind.PHOTO, name=None, public=public
        )
        for public, data in files
    ]
    attachments = [NoticeAttachment.model_validate(file.model_dump()) for file in stored]
    if attachments:
        notices.update(draft.id, request.model_copy(update={"attachments": attachments}), people.source, version=1)
    if request.channel is Channel.DIFFUSION:
        read = notices.act(draft.id, Action.ISSUE, people.source)
    else:
        notices.act(draft.id, Action.SUBMIT, people.source)
        read = notices.act(draft.id, Action.APPROVE, people.reviewer)
    if status is not NoticeStatus.PUBLISHED:
        take_out_of_force(live, draft.id, status, people)
    public = [file.id for file in stored if file.public]
    private = [file.id for file in stored if not file.public]
    assert read.reference is not None
    return Published(draft.id, read.reference, public[0] if public else None, private[0] if private else None)


def take_out_of_force(live: LiveServer, notice_id: str, status: NoticeStatus, people: Workflow | None = None) -> None:
    """Suspension (by the hub) or cancellation (by the source), through the workflow."""
    people = people or _workflow(live)
    notices = live.node.notices
    if status is NoticeStatus.SUSPENDED:
        notices.act(notice_id, Action.SUSPEND, people.reviewer, reason="Under review")
    else:
        source = notices.get(notice_id, people.reviewer, purpose=None).owner.agency_id
        owner = Principal(PrincipalKind.USER, new_id(), "ncb", source, "FRA", frozenset({Role.NCB_OPERATOR}))
        notices.act(notice_id, Action.CANCEL, owner, reason="Arrested")


@pytest.fixture(scope="module")
def live(hub_live: LiveServer) -> LiveServer:
    """The public extract is the hub's: notices are published there."""
    return hub_live


def red_request(**changes: Any) -> NoticeRequest:
    values: dict[str, Any] = {
        "notice_type": "red",
        "subject": _person(
            "José Antonio",
            "MARTÍNEZ LÓPEZ",
            sex=Sex.MALE,
            birth_dates=["1988-03-14"],
            birth_place=Place(place="San Salvador", country="SLV"),
            nationalities=["SLV"],
            physical=PhysicalDescription(
                height_cm=172, weight_kg=72, eye_colour=EyeColour.BROWN, hair_colour=HairColour.BLACK
            ),
            languages=["es"],
            identifiers=[{"kind": "passport", "value": "A12345678", "country": "SLV"}],
        ),
        "offences": [
            Offence(
                description=LocalText(
                    language=Language.SPANISH,
                    text="Homicidio agravado",
                    translations={Language.ENGLISH: "Aggravated homicide"},
                ),
                max_penalty_months=360,
            )
        ],
        "legal_basis": [
            LegalBasis(
                kind=LegalBasisKind.ARREST_WARRANT,
                reference="OJ-2022-118",
                issuing_authority="Juzgado Especializado de Instrucción",
                issued_on=dt.date(2022, 11, 3),
                issuing_country="SLV",
            )
        ],
        "public_extract": True,
    }
    values.update(changes)
    return NoticeRequest(**values)


@dataclass(frozen=True)
class Notices:
    martinez: Published
    dupont: Published
    moreau: Published
    not_consented: Published
    cancelled: Published
    suspended: Published
    blue: Published
    diffusion: Published


@pytest.fixture(scope="module")
def notices(live: LiveServer) -> Iterator[Notices]:
    settings = live.node.settings
    default = settings.public_notices_per_minute
    settings.public_notices_per_minute = 100_000  # the limit has a test of its own
    dupont = red_request(
        subject=_person("Marie", "DUPONT", sex=Sex.FEMALE, birth_dates=["1975"], nationalities=["FRA"]),
        offences=[Offence(description=LocalText(language=Language.FRENCH, text="Escroquerie en bande organisée"))],
        legal_basis=[],
    )
    moreau = NoticeRequest(
        notice_type="yellow",
        subject=_person("Léa", "MOREAU", sex=Sex.FEMALE, birth_dates=["2014-09"], nationalities=["FRA"]),
        missing=MissingEvent(
            date_of_event="2024-02-11",
            place=Place(place="Marseille", country="FRA"),
            mother_name="MOREAU, Claire",
            countries_likely_to_be_visited=["ESP"],
        ),
        public_extract=True,
    )
    hidden = _person("Hidden", "PERSON", birth_dates=["1990"], nationalities=["FRA"])
    yield Notices(
        martinez=publish(live, red_request(), files=(_photo(public=True), _photo(public=False))),
        dupont=publish(live, dupont),
        moreau=publish(live, moreau, files=(_photo(public=True),)),
        not_consented=publish(live, red_request(subject=hidden, public_extract=False)),
        cancelled=publish(live, red_request(subject=hidden), status=NoticeStatus.CANCELLED),
        suspended=publish(live, red_request(subject=hidden), status=NoticeStatus.SUSPENDED),
        blue=publish(live, NoticeRequest(notice_type="blue", subject=hidden)),  # blue has no extract
        diffusion=publish(live, red_request(subject=hidden, channel=Channel.DIFFUSION)),
    )
    settings.public_notices_per_minute = default


def _get(live: LiveServer, path: str, **params: Any) -> dict[str, Any]:
    response = live.client().get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def _references(body: dict[str, Any]) -> list[str]:
    return [item["entity_id"] for item in body["_embedded"]["notices"]]


def test_the_red_list_needs_no_credentials_and_has_interpols_shape(live: LiveServer, notices: Notices) -> None:
    response = live.client().get(f"{PREFIX}/red")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert body["total"] == 2
    assert body["query"] == {"page": 1, "resultPerPage": 20}
    assert sorted(_references(body)) == sorted([notices.martinez.reference, notices.dupont.reference])
    (martinez,) = [item for item in body["_embedded"]["notices"] if item["name"] == "MARTÍNEZ LÓPEZ"]
    url = f"{live.base_url}{PREFIX}/red/{notices.martinez.path}"
    assert martinez == {
        "forename": "José Antonio",
        "date_of_birth": "1988/03/14",
        "entity_id": notices.martinez.reference,
        "nationalities": ["SV"],
        "name": "MARTÍNEZ LÓPEZ",
        "_links": {
            "self": {"href": url},
            "images": {"href": f"{url}/images"},
            "thumbnail": {"href": f"{url}/images/{notices.martinez.photo_id}"},
        },
    }
    assert set(body["_links"]) == {"self", "first", "last"}  # one page: no next, no previous
    assert body["_links"]["self"]["href"] == f"{live.base_url}{PREFIX}/red?page=1&resultPerPage=20"
    yellow = _get(live, f"{PREFIX}/yellow")
    assert _references(yellow) == [notices.moreau.reference]


def test_the_list_filters_like_interpols(live: LiveServer, notices: Notices) -> None:
    martinez, dupont = notices.martinez.reference, notices.dupont.reference
    youngest, _ = age_range("1988-03-14", dt.datetime.now(dt.UTC).date())
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"forename": "jose"}, [martinez]),
        ({"forename": "JOSÉ ANT"}, [martinez]),
        ({"name": "lopez"}, [martinez]),
        ({"name": "dup"}, [dupont]),
        ({"name": "upont"}, []),
        ({"nationality": "SV"}, [martinez]),
        ({"nationality": "fr"}, [dupont]),
        ({"sexId": "F"}, [dupont]),
        ({"sexId": "M", "nationality": "FR"}, []),
        ({"ageMin": youngest - 1, "ageMax": youngest + 1}, [martinez]),
        ({"ageMin": youngest + 5}, [dupont]),
        ({"arrestWarrantCountryId": "SV"}, [martinez]),
        ({"arrestWarrantCountryId": "FR"}, [dupont]),  # no legal basis given: the requesting country
        ({"freeText": "homicide"}, [martinez]),
        ({"freeText": "escroquerie organisee"}, [dupont]),
        ({"freeText": "salvador"}, [martinez]),
    ]
    for params, expected in cases:
        body = _get(live, f"{PREFIX}/red", **params)
        assert _references(body) == expected, params
        assert body["total"] == len(expected)
        codes = {key: str(value).upper() for key, value in params.items() if key in ("nationality", "sexId")}
        assert body["query"] == {"page": 1, "resultPerPage": 20, **params, **codes}, params


def test_bad_filters_are_problems_naming_the_parameter(live: LiveServer, notices: Notices) -> None:
    client = live.client()
    for path, params, field in (
        ("red", {"nationality": "QQ"}, "nationality"),
        ("red", {"nationality": "FRA"}, "nationality"),
        ("red", {"sexId": "X"}, "sexId"),
        ("red", {"ageMin": -1}, "ageMin"),
        ("red", {"resultPerPage": 161}, "resultPerPage"),
        ("red", {"page": 0}, "page"),
        ("yellow", {"arrestWarrantCountryId": "SV"}, "arrestWarrantCountryId"),
    ):
        body = assert_problem(client.get(f"{PREFIX}/{path}", params=params), 422)
        assert field in {item["field"] for item in body["errors"]}, (params, body)


def test_pages_link_to_each_other(live: LiveServer, notices: Notices) -> None:
    first = _get(live, f"{PREFIX}/red", resultPerPage=1, sexId="U")
    assert first["total"] == 0
    first = _get(live, f"{PREFIX}/red", resultPerPage=1)
    assert first["total"] == 2
    assert len(first["_embedded"]["notices"]) == 1
    assert set(first["_links"]) == {"self", "first", "next", "last"}
    assert first["_links"]["last"]["href"] == f"{live.base_url}{PREFIX}/red?page=2&resultPerPage=1"
    second = live.client().get(first["_links"]["next"]["href"]).json()  # absolute links work as they are
    assert second["query"] == {"page": 2, "resultPerPage": 1}
    assert set(second["_links"]) == {"self", "first", "previous", "last"}
    assert {*_references(first), *_references(second)} == {notices.martinez.reference, notices.dupont.reference}
    filtered = _get(live, f"{PREFIX}/red", nationality="SV", resultPerPage=1)
    assert filtered["_links"]["self"]["href"].endswith("/red?nationality=SV&page=1&resultPerPage=1")
    beyond = _get(live, f"{PREFIX}/red", page=7)
    assert beyond["_embedded"]["notices"] == []
    assert beyond["total"] == 2


def test_a_red_notice_in_detail(live: LiveServer, notices: Notices) -> None:
    url = f"{live.base_url}{PREFIX}/red/{notices.martinez.path}"
    body = _get(live, f"{PREFIX}/red/{notices.martinez.path}")
    assert body == {
        "arrest_warrants": [
            {"charge": "Homicidio agravado", "issuing_country_id": "SV", "charge_translation": "Aggravated homicide"}
        ],
        "weight": 72,
        "forename": "José Antonio",
        "date_of_birth": "1988/03/14",
        "entity_id": notices.martinez.reference,
        "languages_spoken_ids": ["SPA"],
        "nationalities": ["SV"],
        "height": 1.72,
        "sex_id": "M",
        "country_of_birth_id": "SV",
        "name": "MARTÍNEZ LÓPEZ",
        "distinguishing_marks": None,
        "eyes_colors_id": ["BRO"],
        "hairs_id": ["BLA"],
        "place_of_birth": "San Salvador",
        "_embedded": {"links": []},
        "_links": {
            "self": {"href": url},
            "images": {"href": f"{url}/images"},
            "thumbnail": {"href": f"{url}/images/{notices.martinez.photo_id}"},
        },
    }


def test_a_yellow_notice_in_detail(live: LiveServer, notices: Notices) -> None:
    body = _get(live, f"{PREFIX}/yellow/{notices.moreau.path}")
    assert "arrest_warrants" not in body
    assert body["entity_id"] == notices.moreau.reference
    assert (body["forename"], body["name"], body["date_of_birth"], body["sex_id"]) == ("Léa", "MOREAU", "2014/09", "F")
    assert (body["date_of_event"], body["place"], body["country"]) == ("2024/02/11", "Marseille", "FR")
    assert (body["mother_forename"], body["mother_name"]) == ("Claire", "MOREAU")
    assert (body["father_forename"], body["father_name"]) == (None, None)
    assert body["countries_likely_to_be_visited"] == ["ES"]


def test_images_and_their_bytes(live: LiveServer, notices: Notices) -> None:
    client = live.client()
    url = f"{live.base_url}{PREFIX}/red/{notices.martinez.path}"
    images = _get(live, f"{PREFIX}/red/{notices.martinez.path}/images")
    photo = notices.martinez.photo_id
    assert images == {
        "_embedded": {"images": [{"picture_id": photo, "_links": {"self": {"href": f"{url}/images/{photo}"}}}]},
        "_links": {
            "self": {"href": f"{url}/images"},
            "notice": {"href": url},
            "thumbnail": {"href": f"{url}/images/{photo}"},
        },
    }
    response = client.get(images["_embedded"]["images"][0]["_links"]["self"]["href"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG)
    assert response.headers["x-content-type-options"] == "nosniff"
    etag = response.headers["etag"]
    again = client.get(f"{url}/images/{photo}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    # A photo the source did not make public, and photos asked for under another notice.
    for path in (
        f"red/{notices.martinez.path}/images/{notices.martinez.private_photo_id}",
        f"red/{notices.dupont.path}/images/{photo}",
        f"yellow/{notices.martinez.path}/images/{photo}",
        f"red/{notices.martinez.path}/images/not-an-id",
    ):
        assert_problem(client.get(f"{PREFIX}/{path}"), 404)
    bare = _get(live, f"{PREFIX}/red/{notices.dupont.path}/images")
    assert bare["_embedded"]["images"] == []
    assert "thumbnail" not in bare["_links"]


def test_documents_carry_an_etag(live: LiveServer, notices: Notices) -> None:
    client = live.client()
    path = f"{PREFIX}/red/{notices.martinez.path}"
    first = client.get(path)
    etag = first.headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_what_is_not_public_is_not_found_alike(live: LiveServer, notices: Notices) -> None:
    client = live.client()
    paths = [
        f"red/{notices.not_consented.path}",
        f"red/{notices.cancelled.path}",
        f"red/{notices.suspended.path}",
        f"red/{notices.diffusion.path}",
        f"blue/{notices.blue.path}",
        f"red/{notices.blue.path}",
        f"yellow/{notices.martinez.path}",  # the wrong colour
        "red/2026-999999",
        "red/2026-abc",
        "red/D-2026-1",
    ]
    details = set()
    for path in paths:
        for suffix in ("", "/images"):
            body = assert_problem(client.get(f"{PREFIX}/{path}{suffix}"), 404)
            details.add(body["detail"])
    assert details == {"no such public notice"}
    assert_problem(client.get(f"{PREFIX}/blue"), 404)
    assert_problem(client.get(f"{PREFIX}/nonsense"), 404)
    listed = {
        reference
        for kind in ("red", "yellow")
        for reference in _references(_get(live, f"{PREFIX}/{kind}", resultPerPage=160))
    }
    for hidden in (notices.not_consented, notices.cancelled, notices.suspended, notices.diffusion, notices.blue):
        assert hidden.reference not in listed
    assert _get(live, f"{PREFIX}/red", name="person")["total"] == 0


def test_a_notice_taken_out_of_force_disappears_at_once(live: LiveServer, notices: Notices) -> None:
    client = live.client()
    fresh = publish(
        live, red_request(subject=_person("Ivan", "PETROV", nationalities=["RUS"])), files=(_photo(public=True),)
    )
    path = f"{PREFIX}/red/{fresh.path}"
    assert client.get(path).status_code == 200
    assert client.get(f"{path}/images/{fresh.photo_id}").status_code == 200
    assert _references(_get(live, f"{PREFIX}/red", name="petrov")) == [fresh.reference]
    take_out_of_force(live, fresh.id, NoticeStatus.CANCELLED)
    assert_problem(client.get(path), 404)
    assert_problem(client.get(f"{path}/images/{fresh.photo_id}"), 404)
    assert _get(live, f"{PREFIX}/red", name="petrov")["total"] == 0


def test_public_requests_are_counted_not_audited(live: LiveServer, notices: Notices) -> None:
    registry = live.node.metrics
    labels = {"endpoint": "detail", "status": "200"}
    before = registry.get_sample_value("polex_public_notice_requests_total", labels) or 0
    _get(live, f"{PREFIX}/red/{notices.martinez.path}")
    assert registry.get_sample_value("polex_public_notice_requests_total", labels) == before + 1


def test_too_many_requests_from_one_address_are_refused_for_a_while(live: LiveServer, notices: Notices) -> None:
    settings = live.node.settings
    default = settings.public_notices_per_minute
    client = live.client()
    settings.public_notices_per_minute = 3
    try:
        statuses = []
        refused: httpx.Response | None = None
        for _ in range(5):
            response = client.get(f"{PREFIX}/red")
            statuses.append(response.status_code)
            if response.status_code == 429:
                refused = response
                break
        assert refused is not None, statuses
        assert set(statuses[:-1]) <= {200}
        assert len(statuses) <= 4
        body = assert_problem(refused, 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert body["retry_after"] == int(refused.headers["retry-after"])
        assert_problem(client.get(f"{PREFIX}/red/{notices.martinez.path}"), 429)  # every public endpoint
        # The limit is the public API's only: the rest of the API answers as before.
        assert live.client().get("/healthz").status_code == 200
    finally:
        settings.public_notices_per_minute = default
    assert client.get(f"{PREFIX}/red").status_code == 200
