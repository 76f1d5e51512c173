"""Authentication over real HTTP: tokens, lockout, TOTP, API keys, public and metrics endpoints."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pyotp
import pytest

from polex.auth.keys import load_or_create_signing_key
from polex.auth.tokens import TokenIssuer
from polex.domain.roles import Role
from tests.e2e.conftest import PASSWORD, LiveServer, assert_problem
from tests.factories import unique

SOME_ID = "0190f1c2-7a3b-7c4d-8e5f-0123456789ab"
PUBLIC = {
    ("/healthz", "get"),
    ("/readyz", "get"),  # probes cannot log in either
    ("/api/v1/auth/token", "post"),
    # INTERPOL's public notices API: open by design, rate-limited (tests/e2e/test_public_notices.py).
    ("/public/notices/v1/{notice_type}", "get"),
    ("/public/notices/v1/{notice_type}/{notice_id}", "get"),
    ("/public/notices/v1/{notice_type}/{notice_id}/images", "get"),
    ("/public/notices/v1/{notice_type}/{notice_id}/images/{picture_id}", "get"),
}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _assert_unauthenticated(response: httpx.Response) -> dict[str, object]:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    return body


def _operations(live: LiveServer) -> list[tuple[str, str]]:
    document = live.client().get("/openapi.json").json()
    operations = []
    for path, item in document["paths"].items():
        for method in item:
            if method in HTTP_METHODS and (path, method) not in PUBLIC:
                operations.append((path, method))
    return operations


def test_every_endpoint_but_healthz_and_login_needs_credentials(live: LiveServer) -> None:
    operations = _operations(live)
    paths = {path for path, _ in operations}
    # The iteration really covers the API: every record kind and the administrative endpoints.
    for expected in (
        "/api/v1/persons",
        "/api/v1/travel-documents/{record_id}",
        "/api/v1/vehicles",
        "/api/v1/cases",
        "/api/v1/users",
        "/api/v1/api-keys",
        "/api/v1/agencies",
        "/metrics",
    ):
        assert expected in paths
    assert len(operations) >= 25
    anonymous = live.client()
    for path, method in operations:
        url = re.sub(r"\{[^}]+\}", SOME_ID, path)
        _assert_unauthenticated(anonymous.request(method.upper(), url))
        # A credential that is no credential at all is refused the same way.
        garbage = anonymous.request(method.upper(), url, headers={"Authorization": "Bearer not-a-token"})
        _assert_unauthenticated(garbage)


def test_token_endpoint_wants_the_credentials_in_its_form(live: LiveServer) -> None:
    response = live.client().post("/api/v1/auth/token")
    body = assert_problem(response, 422)
    assert {"username", "password"} <= {item["field"] for item in body["errors"]}


def test_login_issues_a_bearer_token_that_works(live: LiveServer) -> None:
    username, _ = live.make_user([Role.ANALYST])
    response = live.login(username)
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == live.node.settings.access_token_minutes * 60
    me = live.bearer(token["access_token"]).get("/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json()["name"] == username
    assert me.json()["roles"] == ["analyst"]
    assert me.json()["country"] == "FRA"


def test_wrong_password_and_unknown_user_are_refused_alike(live: LiveServer) -> None:
    username, _ = live.make_user([Role.ANALYST])
    wrong = _assert_unauthenticated(live.login(username, "not the password at all"))
    unknown = _assert_unauthenticated(live.login("nobody.by.this.name", "not the password at all"))
    assert wrong["detail"] == unknown["detail"]
    assert wrong["title"] == unknown["title"]
    assert username not in str(wrong["detail"])


def test_account_locks_after_too_many_failed_logins(live: LiveServer) -> None:
    attempts = live.node.settings.login_attempts_before_lockout
    assert attempts == 10
    username, _ = live.make_user([Role.ANALYST])
    # One failure short of the limit, the right password still works and resets the count.
    for _ in range(attempts - 1):
        _assert_unauthenticated(live.login(username, "wrong password here"))
    assert live.login(username).status_code == 200
    for _ in range(attempts):
        _assert_unauthenticated(live.login(username, "wrong password here"))
    locked = _assert_unauthenticated(live.login(username))
    assert "locked" in str(locked["detail"])


def test_disabled_user_token_is_refused_at_once(live: LiveServer) -> None:
    username, user_id = live.make_user([Role.INVESTIGATOR])
    client = live.bearer(live.token_for(username))
    assert client.get("/api/v1/persons").status_code == 200
    admin = live.as_roles(Role.ADMIN)
    disabled = admin.patch(f"/api/v1/users/{user_id}", json={"active": False})
    assert disabled.status_code == 200
    assert disabled.json()["active"] is False
    _assert_unauthenticated(client.get("/api/v1/persons"))
    _assert_unauthenticated(client.get("/api/v1/auth/me"))
    _assert_unauthenticated(live.login(username))


def _issuer(live: LiveServer) -> TokenIssuer:
    settings = live.node.settings
    return TokenIssuer(
        load_or_create_signing_key(settings.keys_dir),
        issuer=f"polex:{settings.node_name}",
        lifetime=dt.timedelta(minutes=settings.access_token_minutes),
    )


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_expired_and_tampered_tokens_are_refused(live: LiveServer) -> None:
    username, user_id = live.make_user([Role.ANALYST])
    issuer = _issuer(live)
    # The node's own key signs these: only the claims make them unacceptable.
    fresh = issuer.issue(user_id).token
    assert live.bearer(fresh).get("/api/v1/auth/me").status_code == 200
    expired = issuer.issue(user_id, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).token
    _assert_unauthenticated(live.bearer(expired).get("/api/v1/auth/me"))

    token = live.token_for(username)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    _, admin_id = live.make_user([Role.ADMIN])
    claims["sub"] = admin_id  # climbing to an administrator's identity
    forged = f"{header}.{_b64(claims)}.{signature}"
    _assert_unauthenticated(live.bearer(forged).get("/api/v1/auth/me"))
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    _assert_unauthenticated(live.bearer(f"{header}.{payload}.{flipped}").get("/api/v1/auth/me"))
    unsigned = f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(claims)}."
    _assert_unauthenticated(live.bearer(unsigned).get("/api/v1/auth/me"))


def test_totp_enrolment_then_login_needs_the_code(live: LiveServer) -> None:
    username, _ = live.make_user([Role.INVESTIGATOR])
    client = live.bearer(live.token_for(username))
    enrolment = client.post("/api/v1/auth/totp")
    assert enrolment.status_code == 200
    secret = enrolment.json()["secret"]
    assert enrolment.json()["provisioning_uri"].startswith("otpauth://totp/")
    # Until confirmed, nothing changes.
    assert live.login(username).status_code == 200
    current = pyotp.TOTP(secret).now()
    wrong_code = f"{(int(current) + 500_000) % 1_000_000:06d}"
    wrong = client.put("/api/v1/auth/totp", json={"secret": secret, "code": wrong_code})
    assert_problem(wrong, 422)
    assert live.login(username).status_code == 200
    confirmed = client.put("/api/v1/auth/totp", json={"secret": secret, "code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 204
    refused = _assert_unauthenticated(live.login(username))
    assert "totp" in str(refused["detail"])
    _assert_unauthenticated(live.login(username, totp="12345x"))
    accepted = live.login(username, totp=pyotp.TOTP(secret).now())
    assert accepted.status_code == 200, accepted.text
    assert live.bearer(accepted.json()["access_token"]).get("/api/v1/auth/me").status_code == 200


def test_api_keys_authenticate_until_revoked(live: LiveServer) -> None:
    admin = live.as_roles(Role.ADMIN)
    created = admin.post("/api/v1/api-keys", json={"name": "border gate 7", "roles": ["border_officer"]})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    key_id = created.json()["id"]
    assert key.startswith("plx_")
    assert created.json()["agency_id"] == live.own_agency_id

    purpose = {"X-Polex-Purpose": "border_control"}
    by_header = live.client({"X-API-Key": key, **purpose})
    by_bearer = live.client({"Authorization": f"Bearer {key}", **purpose})
    for client in (by_header, by_bearer):
        me = client.get("/api/v1/auth/me")
        assert me.status_code == 200
        assert me.json()["kind"] == "api_key"
        assert me.json()["roles"] == ["border_officer"]
        assert client.get("/api/v1/vehicles").status_code == 200
        assert_problem(client.post("/api/v1/cases", json={}), 422)  # validated before authorised
    # The listing never shows the secret.
    listed = admin.get("/api/v1/api-keys")
    assert listed.status_code == 200
    assert key_id in {item["id"] for item in listed.json()["items"]}
    assert key not in listed.text
    # A key's secret is checked, not just its prefix.
    _assert_unauthenticated(live.client({"X-API-Key": key[:-4] + "AAAA"}).get("/api/v1/auth/me"))

    revoked = admin.delete(f"/api/v1/api-keys/{key_id}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    for client in (by_header, by_bearer):
        _assert_unauthenticated(client.get("/api/v1/auth/me"))


def test_openapi_declares_both_security_schemes(live: LiveServer) -> None:
    document = live.client().get("/openapi.json")
    assert document.status_code == 200
    schemes = document.json()["components"]["securitySchemes"].values()
    oauth = [scheme for scheme in schemes if scheme["type"] == "oauth2"]
    assert len(oauth) == 1
    assert oauth[0]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    api_key = [scheme for scheme in schemes if scheme["type"] == "apiKey"]
    assert len(api_key) == 1
    assert (api_key[0]["in"], api_key[0]["name"]) == ("header", "X-API-Key")


def test_healthz_answers_without_credentials(live: LiveServer) -> None:
    response = live.client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "node": "fra",
        "role": "national",
        "database": "ok",
        "checks": {"database": True, "schema": True, "audit_checkpoints": True},
    }


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MONITOR])
def test_metrics_for_principals_with_metrics_read(live: LiveServer, role: Role) -> None:
    response = live.as_roles(role).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "polex_http_requests_total" in response.text
    assert 'route="/api/v1/auth/token"' in response.text


def test_metrics_refused_without_the_permission(live: LiveServer) -> None:
    _assert_unauthenticated(live.client().get("/metrics"))
    body = assert_problem(live.as_roles(Role.NCB_OPERATOR).get("/metrics"), 403)
    assert body["permission"] == "metrics:read"


def test_monitor_sees_nothing_but_metrics(live: LiveServer) -> None:
    monitor = live.as_roles(Role.MONITOR)
    assert_problem(monitor.get("/api/v1/persons"), 403)
    assert_problem(monitor.get("/api/v1/node"), 403)
    assert monitor.get("/api/v1/auth/me").json()["permissions"] == ["metrics:read"]


def test_password_is_not_echoed(live: LiveServer) -> None:
    admin = live.as_roles(Role.ADMIN)
    response = admin.post(
        "/api/v1/users",
        json={
            "username": unique("echo."),
            "password": PASSWORD,
            "agency_id": live.own_agency_id,
            "roles": ["analyst"],
        },
    )
    assert response.status_code == 201, response.text
    assert PASSWORD not in response.text
    assert "password" not in response.json()


def test_concurrent_failed_logins_all_count_towards_lockout(live: LiveServer) -> None:
    # A password-guessing client does not wait for one answer before sending the next guess.
    attempts = live.node.settings.login_attempts_before_lockout
    username, _ = live.make_user([Role.ANALYST])
    with ThreadPoolExecutor(max_workers=attempts) as pool:
        statuses = list(pool.map(lambda _: live.login(username, "wrong password here").status_code, range(attempts)))
    assert statuses == [401] * attempts
    locked = _assert_unauthenticated(live.login(username))
    assert "locked" in str(locked["detail"])
