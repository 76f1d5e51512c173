"""Authorisation over real HTTP: every role against every kind of operation, deny by default."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from polex.domain.roles import Permission, Role, permissions_of
from tests.e2e.conftest import PASSWORD, LiveServer, assert_problem, error_fields
from tests.factories import person_body, unique

NATIONAL_ROLES = [role for role in Role if role is not Role.REVIEWER]

# What each operation needs, and the expected answer per role, written out by hand from the
# separation of duties (admins administer, operators and investigators handle records, ...).
OPERATIONS: dict[str, Permission] = {
    "list_records": Permission.RECORD_READ,
    "read_record": Permission.RECORD_READ,
    "create_record": Permission.RECORD_WRITE,
    "update_record": Permission.RECORD_WRITE,
    "delete_record": Permission.RECORD_WRITE,
    "list_agencies": Permission.AGENCY_READ,
    "create_agency": Permission.AGENCY_ADMIN,
    "create_user": Permission.USER_ADMIN,
    "list_users": Permission.USER_ADMIN,
    "list_api_keys": Permission.API_KEY_ADMIN,
    "metrics": Permission.METRICS_READ,
    "node_info": Permission.NODE_READ,
}
ALLOWED: dict[Role, set[str]] = {
    Role.ADMIN: {
        "list_agencies",
        "create_agency",
        "create_user",
        "list_users",
        "list_api_keys",
        "metrics",
        "node_info",
    },
    Role.NCB_OPERATOR: {
        "list_records",
        "read_record",
        "create_record",
        "update_record",
        "delete_record",
        "list_agencies",
        "node_info",
    },
    Role.INVESTIGATOR: {"list_records", "read_record", "create_record", "update_record", "delete_record", "node_info"},
    Role.BORDER_OFFICER: {"list_records", "read_record", "node_info"},
    Role.ANALYST: {"list_records", "read_record", "node_info"},
    Role.AUDITOR: {"list_agencies", "node_info"},
    Role.MONITOR: {"metrics"},
    Role.REVIEWER: {"list_records", "read_record", "list_agencies", "node_info"},
}
SUCCESS = {"create_record": 201, "create_agency": 201, "create_user": 201, "delete_record": 204}


def test_the_expected_table_is_the_matrix_of_domain_roles() -> None:
    for role, allowed in ALLOWED.items():
        granted = permissions_of({role})
        assert allowed == {name for name, permission in OPERATIONS.items() if permission in granted}, role


def _person(live: LiveServer) -> str:
    created = live.as_roles(Role.NCB_OPERATOR).post("/api/v1/persons", json=person_body())
    assert created.status_code == 201, created.text
    record_id: str = created.json()["id"]
    return record_id


def _perform(live: LiveServer, client: httpx.Client, operation: str) -> httpx.Response:
    actions: dict[str, Callable[[], httpx.Response]] = {
        "list_records": lambda: client.get("/api/v1/persons"),
        "read_record": lambda: client.get(f"/api/v1/persons/{_person(live)}"),
        "create_record": lambda: client.post("/api/v1/persons", json=person_body()),
        "update_record": lambda: client.put(
            f"/api/v1/persons/{_person(live)}", json=person_body(remarks="seen in Lyon"), headers={"If-Match": '"1"'}
        ),
        "delete_record": lambda: client.delete(f"/api/v1/persons/{_person(live)}", headers={"If-Match": '"1"'}),
        "list_agencies": lambda: client.get("/api/v1/agencies"),
        "create_agency": lambda: client.post(
            "/api/v1/agencies", json={"name": unique("Brigade "), "country": "FRA", "kind": "police"}
        ),
        "create_user": lambda: client.post(
            "/api/v1/users",
            json={
                "username": unique("new."),
                "password": PASSWORD,
                "agency_id": live.own_agency_id,
                "roles": ["analyst"],
            },
        ),
        "list_users": lambda: client.get("/api/v1/users"),
        "list_api_keys": lambda: client.get("/api/v1/api-keys"),
        "metrics": lambda: client.get("/metrics"),
        "node_info": lambda: client.get("/api/v1/node"),
    }
    return actions[operation]()


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("role", NATIONAL_ROLES, ids=[role.value for role in NATIONAL_ROLES])
def test_role_may_do_exactly_what_the_matrix_grants(live: LiveServer, role: Role, operation: str) -> None:
    response = _perform(live, live.as_roles(role), operation)
    if operation in ALLOWED[role]:
        assert response.status_code == SUCCESS.get(operation, 200), response.text
    else:
        body = assert_problem(response, 403)
        assert body["permission"] == OPERATIONS[operation].value


def test_several_roles_add_up(live: LiveServer) -> None:
    client = live.as_roles(Role.BORDER_OFFICER, Role.AUDITOR)
    assert client.get("/api/v1/persons").status_code == 200
    assert client.get("/api/v1/agencies").status_code == 200
    assert_problem(client.post("/api/v1/persons", json=person_body()), 403)


def test_reviewer_does_not_exist_on_a_national_node(live: LiveServer) -> None:
    admin = live.as_roles(Role.ADMIN)
    user = admin.post(
        "/api/v1/users",
        json={"username": unique("rev."), "password": PASSWORD, "agency_id": live.own_agency_id, "roles": ["reviewer"]},
    )
    assert "roles" in error_fields(assert_problem(user, 422))
    key = admin.post("/api/v1/api-keys", json={"name": "review", "roles": ["reviewer"]})
    assert "roles" in error_fields(assert_problem(key, 422))
    unknown = admin.post(
        "/api/v1/users",
        json={
            "username": unique("rev."),
            "password": PASSWORD,
            "agency_id": live.own_agency_id,
            "roles": ["superuser"],
        },
    )
    assert "roles.0" in error_fields(assert_problem(unknown, 422))


def test_reviewer_exists_on_the_hub_and_only_reads(hub_live: LiveServer) -> None:
    admin = hub_live.as_roles(Role.ADMIN)
    username = unique("reviewer.")
    created = admin.post(
        "/api/v1/users",
        json={"username": username, "password": PASSWORD, "agency_id": hub_live.own_agency_id, "roles": ["reviewer"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["reviewer"]
    reviewer = hub_live.bearer(hub_live.token_for(username))
    assert reviewer.get("/api/v1/auth/me").json()["country"] == "XPO"
    for operation in OPERATIONS:
        response = _perform(hub_live, reviewer, operation)
        if operation in ALLOWED[Role.REVIEWER]:
            assert response.status_code == SUCCESS.get(operation, 200), (operation, response.text)
        else:
            assert_problem(response, 403)
