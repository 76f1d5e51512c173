"""Bad input over real HTTP never makes a 500 nor a half-written record; every answer has a request id."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polex.domain.roles import Role
from tests.e2e.conftest import PROBLEM_JSON, LiveServer, assert_problem, error_fields
from tests.factories import case_body, document_body, person_body, vehicle_body

KINDS: dict[str, tuple[str, Callable[..., dict[str, Any]]]] = {
    "person": ("/api/v1/persons", person_body),
    "travel_document": ("/api/v1/travel-documents", document_body),
    "vehicle": ("/api/v1/vehicles", vehicle_body),
    "case": ("/api/v1/cases", case_body),
}
ACCEPTABLE = {201, 400, 403, 409, 413, 422}
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def agency_id(live: LiveServer) -> str:
    """An agency of this module's own, so that its lists hold only what this module wrote."""
    return live.make_agency()


@pytest.fixture(scope="module")
def operator(live: LiveServer, agency_id: str) -> httpx.Client:
    return live.new_client([Role.NCB_OPERATOR], agency_id=agency_id)


def _owned(client: httpx.Client, url: str, agency_id: str) -> list[dict[str, Any]]:
    response = client.get(url, params={"owner_agency_id": agency_id, "limit": 500})
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _post_raw(client: httpx.Client, url: str, content: bytes, content_type: str = "application/json") -> httpx.Response:
    return client.post(url, content=content, headers={"Content-Type": content_type})


# -- malformed and invalid bodies ------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_malformed_json_is_400(operator: httpx.Client, kind: str) -> None:
    url, _ = KINDS[kind]
    for content in (b'{"names": [', b"{'single': 'quotes'}", b'{"a": 1,}', b"\xff\xfe{}", b"[1, 2"):
        body = assert_problem(_post_raw(operator, url, content), 400)
        assert error_fields(body) == {"body"}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"null", "application/json"),
        (b"[]", "application/json"),
        (b'"text"', "application/json"),
        (b"42", "application/json"),
        (b"names=x", "application/x-www-form-urlencoded"),
        (b"{}", "text/plain"),
    ],
)
def test_bodies_that_are_not_objects_are_refused(operator: httpx.Client, content: bytes, content_type: str) -> None:
    response = _post_raw(operator, "/api/v1/persons", content, content_type)
    assert response.status_code in (400, 415, 422), response.text
    assert_problem(response, response.status_code)


@pytest.mark.parametrize(
    ("kind", "overrides", "field"),
    [
        ("person", {"nickname": "Sasha"}, "nickname"),
        ("person", {"names": [{"full": "Ivan Petrov", "middle": "Ivanovich"}]}, "names.0.middle"),
        ("travel_document", {"owner_country": "FRA"}, "owner_country"),
        ("vehicle", {"vin_number": "VF1RFB05MA000001"}, "vin_number"),
        ("case", {"id": "0190f1c2-7a3b-7c4d-8e5f-0123456789ab"}, "id"),
    ],
)
def test_unknown_field_is_named(operator: httpx.Client, kind: str, overrides: dict[str, Any], field: str) -> None:
    url, factory = KINDS[kind]
    body = assert_problem(operator.post(url, json=factory(**overrides)), 422)
    assert field in error_fields(body)
    assert field in body["detail"]


@pytest.mark.parametrize(
    ("kind", "overrides", "field"),
    [
        ("person", {"sex": 5}, "sex"),
        ("person", {"names": "Ivan Petrov"}, "names"),
        ("person", {"deceased": "perhaps"}, "deceased"),
        ("travel_document", {"number": 12345678}, "number"),
        ("travel_document", {"holder": ["Camille"]}, "holder"),
        ("vehicle", {"model_year": "new"}, "model_year"),
        ("vehicle", {"model_year": 2019.5}, "model_year"),
        ("case", {"crime_types": "0502"}, "crime_types"),
        ("case", {"opened_on": 20250201}, "opened_on"),
    ],
)
def test_wrong_type_is_named(operator: httpx.Client, kind: str, overrides: dict[str, Any], field: str) -> None:
    url, factory = KINDS[kind]
    assert field in error_fields(assert_problem(operator.post(url, json=factory(**overrides)), 422))


@pytest.mark.parametrize(
    ("kind", "overrides", "field"),
    [
        ("person", {"nationalities": ["ZZZ"]}, "nationalities.0"),
        ("person", {"nationalities": ["UKR", "FR"]}, "nationalities.1"),
        ("person", {"birth_place": {"place": "Kyiv", "country": "UK"}}, "birth_place.country"),
        ("travel_document", {"issuing_country": "EUR"}, "issuing_country"),
        ("vehicle", {"plate_country": "123"}, "plate_country"),
    ],
)
def test_invalid_country_code_names_the_path(
    operator: httpx.Client, kind: str, overrides: dict[str, Any], field: str
) -> None:
    url, factory = KINDS[kind]
    assert field in error_fields(assert_problem(operator.post(url, json=factory(**overrides)), 422))


def test_impossible_and_future_dates_are_422(operator: httpx.Client) -> None:
    next_year = dt.date.today().year + 1
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    for dates in (["1980-02-30"], ["1981-02-29"], ["1980-13"], ["80-01-01"], [f"{next_year}"], [tomorrow]):
        body = assert_problem(operator.post("/api/v1/persons", json=person_body(birth_dates=dates)), 422)
        assert error_fields(body) == {"birth_dates.0"}, dates
    # A leap day that existed is fine.
    assert operator.post("/api/v1/persons", json=person_body(birth_dates=["1980-02-29"])).status_code == 201
    stolen = assert_problem(operator.post("/api/v1/vehicles", json=vehicle_body(stolen_on=tomorrow)), 422)
    assert error_fields(stolen) == {"stolen_on"}
    opened = assert_problem(operator.post("/api/v1/cases", json=case_body(opened_on="2025-02-30")), 422)
    assert error_fields(opened) == {"opened_on"}


def test_empty_or_blank_names_are_422(operator: httpx.Client) -> None:
    assert "names" in error_fields(assert_problem(operator.post("/api/v1/persons", json=person_body(names=[])), 422))
    blank = assert_problem(operator.post("/api/v1/persons", json=person_body(names=[{"full": "   "}])), 422)
    assert "names.0.full" in error_fields(blank)
    missing = person_body()
    del missing["names"]
    assert "names" in error_fields(assert_problem(operator.post("/api/v1/persons", json=missing), 422))


def test_text_with_a_nul_character_is_not_a_server_error(live: LiveServer, operator: httpx.Client) -> None:
    # JSON allows "\u0000" in strings; a database may not. Either way the client hears why.
    # A connection of its own: a server that fails drops the connection, and later tests need theirs.
    with httpx.Client(base_url=live.base_url, headers=operator.headers, timeout=30) as own:
        response = own.post("/api/v1/cases", json=case_body(title="Vols\u0000 de véhicules"))
    assert response.status_code in (201, 422), response.text


# -- sizes and headers -----------------------------------------------------------------


def _declare(
    live: LiveServer, client: httpx.Client, length: str, path: str = "/api/v1/persons"
) -> tuple[http.client.HTTPResponse, bytes]:
    """POST announcing a body of ``length`` bytes, without sending it.

    httpx always sends the body it declares; a server that answers before reading a big body
    and then closes may reset the connection under the client (and the answer with it), so
    the declared-length check is exercised with headers alone.
    """
    connection = http.client.HTTPConnection(live.base_url.removeprefix("http://"), timeout=10)
    connection.putrequest("POST", path)
    for name, value in (
        ("Authorization", client.headers["authorization"]),
        ("Content-Type", "application/json"),
        ("Content-Length", length),
    ):
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def test_body_declared_over_the_limit_is_413(live: LiveServer, operator: httpx.Client, agency_id: str) -> None:
    limit = live.node.settings.max_body_bytes
    assert limit == 1_048_576
    before = _owned(operator, "/api/v1/persons", agency_id)
    response, content = _declare(live, operator, str(limit + 1))
    body = json.loads(content)
    assert response.status == 413
    assert response.getheader("content-type", "").startswith(PROBLEM_JSON)
    assert body["status"] == 413
    assert body["title"]
    assert body["type"].endswith("payload-too-large")
    assert str(limit) in body["detail"]
    assert GENERATED_ID.match(response.getheader("x-request-id", ""))
    assert _owned(operator, "/api/v1/persons", agency_id) == before


def test_streamed_body_over_the_limit_is_413(live: LiveServer, operator: httpx.Client, agency_id: str) -> None:
    limit = live.node.settings.max_body_bytes
    before = _owned(operator, "/api/v1/persons", agency_id)
    filler = json.dumps(person_body(remarks=""))
    content = filler.replace('"remarks": ""', '"remarks": "' + "x" * (limit + 1 - len(filler)) + '"').encode()
    assert len(content) == limit + 1  # the server reads it all before it knows: no reset

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    response = operator.post("/api/v1/persons", content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem(response, 413)
    assert _owned(operator, "/api/v1/persons", agency_id) == before


def test_body_at_the_limit_is_read(live: LiveServer, operator: httpx.Client) -> None:
    limit = live.node.settings.max_body_bytes
    filler = json.dumps(person_body(remarks=""))
    body = filler.replace('"remarks": ""', '"remarks": "' + "x" * (limit - len(filler)) + '"').encode()
    assert len(body) == limit
    response = _post_raw(operator, "/api/v1/persons", body)
    assert "remarks" in error_fields(assert_problem(response, 422))  # too long a remark, not too big a body


def test_declared_length_that_is_not_a_number_is_refused(live: LiveServer, operator: httpx.Client) -> None:
    for length in ("1e9", "-5", "0x10", "twelve"):
        response, _ = _declare(live, operator, length)
        assert 400 <= response.status < 500, length


@pytest.mark.parametrize("if_match", ["abc", "*", '"1", "2"', '"-1"', '"1234567890"', ""])
def test_bad_if_match_is_400(operator: httpx.Client, if_match: str) -> None:
    body = case_body()
    created = operator.post("/api/v1/cases", json=body).json()
    location = f"/api/v1/cases/{created['id']}"
    put = assert_problem(operator.put(location, json=body, headers={"If-Match": if_match}), 400)
    assert error_fields(put) == {"If-Match"}
    delete = assert_problem(operator.delete(location, headers={"If-Match": if_match}), 400)
    assert error_fields(delete) == {"If-Match"}
    assert operator.get(location).json()["version"] == 1


# -- nothing half-written --------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_rejected_creates_leave_the_list_unchanged(
    live: LiveServer, operator: httpx.Client, agency_id: str, kind: str
) -> None:
    url, factory = KINDS[kind]
    kept = operator.post(url, json=factory())
    assert kept.status_code == 201
    before = _owned(operator, url, agency_id)
    assert kept.json()["id"] in {item["id"] for item in before}
    rejected = [
        _post_raw(operator, url, b'{"broken": '),
        operator.post(url, json=factory(unknown_field=1)),
        operator.post(url, json={**factory(), "restrictions": {"handling": "TLP:PURPLE"}}),
        live.as_roles(Role.ANALYST).post(url, json=factory()),
    ]
    if kind == "travel_document":
        rejected.append(operator.post(url, json=factory(issuing_country="ITA")))
        rejected.append(operator.post(url, json=factory(number=kept.json()["number"])))
    assert [response.status_code for response in rejected] == (
        [400, 422, 422, 403] + ([403, 409] if kind == "travel_document" else [])
    )
    too_large, _ = _declare(live, operator, str(live.node.settings.max_body_bytes + 1), url)
    assert too_large.status == 413
    assert _owned(operator, url, agency_id) == before


# -- fuzzing ---------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _bodies(factory: Callable[..., dict[str, Any]]) -> st.SearchStrategy[Any]:
    """Any JSON at all, objects with the schema's field names, and valid bodies with one field spoiled."""
    fields = sorted(factory())
    named = st.dictionaries(st.sampled_from(fields), JSON_VALUES, max_size=len(fields))

    @st.composite
    def spoiled(draw: st.DrawFn) -> dict[str, Any]:
        body = factory()
        body[draw(st.sampled_from(fields))] = draw(JSON_VALUES)
        return body

    return JSON_VALUES | named | spoiled()


@pytest.mark.parametrize("kind", list(KINDS))
def test_fuzzed_bodies_never_cause_a_server_error(operator: httpx.Client, agency_id: str, kind: str) -> None:
    url, factory = KINDS[kind]
    before = {item["id"] for item in _owned(operator, url, agency_id)}
    created: set[str] = set()

    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(body=_bodies(factory))
    def post(body: Any) -> None:
        response = _post_raw(operator, url, json.dumps(body).encode())
        assert response.status_code in ACCEPTABLE, (body, response.text)
        if response.status_code == 201:
            created.add(response.json()["id"])
            return
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        problem = response.json()
        assert problem["status"] == response.status_code
        for member in ("type", "title", "detail"):
            assert isinstance(problem[member], str)
            assert problem[member]

    post()
    assert {item["id"] for item in _owned(operator, url, agency_id)} == before | created


# -- request ids -----------------------------------------------------------------------


def test_every_response_carries_a_request_id(live: LiveServer, operator: httpx.Client) -> None:
    anonymous = live.client()
    responses = [
        anonymous.get("/healthz"),
        anonymous.get("/openapi.json"),
        anonymous.get("/api/v1/persons"),  # 401
        anonymous.get("/no/such/path"),  # 404
        operator.patch("/api/v1/persons"),  # 405
        operator.get("/api/v1/persons"),
        operator.post("/api/v1/cases", json=case_body()),  # 201
        operator.get("/api/v1/users"),  # 403
        operator.post("/api/v1/cases", json={}),  # 422
        _post_raw(operator, "/api/v1/cases", b"{"),  # 400
        live.login("nobody.at.all", "whatever password"),  # 401 from the token endpoint
    ]
    assert [response.status_code for response in responses] == [200, 200, 401, 404, 405, 200, 201, 403, 422, 400, 401]
    too_large, _ = _declare(live, operator, str(live.node.settings.max_body_bytes + 1))
    assert too_large.status == 413
    ids = [response.headers["x-request-id"] for response in responses] + [too_large.getheader("x-request-id", "")]
    assert all(GENERATED_ID.match(request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)
    for response in responses:
        if response.headers["content-type"].startswith(PROBLEM_JSON) and "request_id" in response.json():
            assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "request_id" in responses[2].json()


@pytest.mark.parametrize("given_id", ["abc-123", "trace.0001_A", "x" * 128, "0190f1c27a3b7c4d8e5f0123456789ab"])
def test_a_sane_request_id_is_echoed(operator: httpx.Client, given_id: str) -> None:
    for response in (
        operator.get("/api/v1/cases", headers={"X-Request-ID": given_id}),
        operator.post("/api/v1/cases", json={}, headers={"X-Request-ID": given_id}),
    ):
        assert response.headers["x-request-id"] == given_id
    assert response.json()["request_id"] == given_id


@pytest.mark.parametrize("given_id", ["has space", "x" * 129, "new\\nline", "<script>", "a;b", "ü".encode()])
def test_an_insane_request_id_is_replaced(operator: httpx.Client, given_id: str | bytes) -> None:
    response = operator.get("/api/v1/cases", headers={"X-Request-ID": given_id})
    assert response.status_code == 200
    assert GENERATED_ID.match(response.headers["x-request-id"])
