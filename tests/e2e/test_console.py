"""The web console over real HTTP, parsed as HTML: the session cookie, CSRF, security
headers, and pages that show each user what the API would show them, audited alike.

The policy scenario is built on the hub as in test_policy_enforcement: France and Ukraine
share persons in full for criminal investigations; Ukraine's law never sends biometrics
abroad; France and Ukraine share travel documents for border control.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup

from polex.audit.repository import AuditRepository
from polex.domain.audit import AuditEvent, AuditTag
from polex.domain.roles import Role
from tests.e2e.conftest import PASSWORD, LiveServer
from tests.factories import document_body, person_body, unique

PERSONS = "/api/v1/persons"


def page(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def csrf_of(response: httpx.Response) -> str:
    field = page(response).find("input", attrs={"name": "csrf"})
    assert field is not None, response.text
    return str(field["value"])


@dataclass
class Console:
    """A browser on the console: a cookie jar, no redirects followed unless asked."""

    client: httpx.Client
    user_id: str = ""

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params or None)

    def post(self, path: str, form: dict[str, str], *, csrf: bool = True) -> httpx.Response:
        if csrf:
            form = {"csrf": csrf_of(self.get("/console")), **form}
        return self.client.post(path, data=form)

    def declare(self, purpose: str, case: str = "") -> None:
        declared = self.post("/console/purpose", {"purpose": purpose, "case_reference": case})
        assert declared.status_code == 303, declared.text


def browser(server: LiveServer) -> httpx.Client:
    client = server.client()
    client.follow_redirects = False
    return client


def log_in(
    server: LiveServer, username: str, password: str = PASSWORD, client: httpx.Client | None = None
) -> httpx.Response:
    client = client or browser(server)
    form = client.get("/console/login")
    return client.post(
        "/console/login", data={"csrf": csrf_of(form), "username": username, "password": password, "next": "/console"}
    )


def console_for(server: LiveServer, roles: list[Role], *, agency_id: str | None = None) -> Console:
    username, user_id = server.make_user(roles, agency_id=agency_id)
    client = browser(server)
    form = client.get("/console/login")
    logged = client.post("/console/login", data={"csrf": csrf_of(form), "username": username, "password": PASSWORD})
    assert logged.status_code == 303, logged.text
    return Console(client, user_id)


def log_size(server: LiveServer) -> int:
    with server.node.uow(read_only=True) as uow:
        return AuditRepository(uow.session).size()


def events_of(server: LiveServer, call: Callable[[], httpx.Response]) -> tuple[httpx.Response, list[AuditEvent]]:
    before = log_size(server)
    response = call()
    return response, [server.node.audit.leaf(seq)[0] for seq in range(before, log_size(server))]


def wait_for(condition: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


@dataclass
class Scenario:
    hub: LiveServer
    agencies: dict[str, str]
    api: dict[str, httpx.Client]  # country to an NCB operator's API client
    consoles: dict[str, Console]  # country to the same kind of user in the console
    legal_reference: str
    redacted: dict[str, Any]  # UKR's, with biometrics: FRA gets it redacted
    hit_only: dict[str, Any]  # UKR's, hit-only for FRA


@pytest.fixture(scope="module")
def scenario(hub_live: LiveServer) -> Scenario:
    agencies = {country: hub_live.make_agency(country=country) for country in ("FRA", "UKR")}
    api = {c: hub_live.new_client([Role.NCB_OPERATOR], agency_id=a) for c, a in agencies.items()}
    admins = {c: hub_live.new_client([Role.ADMIN], agency_id=a) for c, a in agencies.items()}
    legal_reference = "Franco-Ukrainian treaty on mutual legal assistance, art. 7"
    agreements = [
        {
            "id": unique("fra-ukr-persons-"),
            "title": "Franco-Ukrainian exchange of criminal records",
            "kind": "bilateral_treaty",
            "parties": ["FRA", "UKR"],
            "categories": ["persons"],
            "purposes": ["criminal_investigation"],
            "level": "full",
            "valid_from": "2024-01-01",
            "legal_reference": legal_reference,
        },
        {
            "id": unique("fra-ukr-border-"),
            "title": "Franco-Ukrainian border checks",
            "kind": "bilateral_treaty",
            "parties": ["FRA", "UKR"],
            "categories": ["travel_documents"],
            "purposes": ["border_control"],
            "level": "full",
            "valid_from": "2024-01-01",
            "legal_reference": "FRA-UKR border treaty, art. 4",
        },
    ]
    for agreement in agreements:
        assert admins["FRA"].post("/api/v1/agreements", json=agreement).status_code == 201
        for admin in admins.values():
            approved = admin.post(f"/api/v1/agreements/{agreement['id']}/approve", json={"version": 1})
            assert approved.status_code == 200, approved.text
    rules = {"country": "UKR", "never_shared": ["biometrics"], "legal_reference": "Law of Ukraine on personal data"}
    assert admins["UKR"].put("/api/v1/national-rules/UKR", json=rules).status_code == 200

    def created(country: str, body: dict[str, Any]) -> dict[str, Any]:
        response = api[country].post(PERSONS, json=body)
        assert response.status_code == 201, response.text
        made: dict[str, Any] = response.json()
        return made

    consoles = {c: console_for(hub_live, [Role.NCB_OPERATOR], agency_id=a) for c, a in agencies.items()}
    for console in consoles.values():
        console.declare("criminal_investigation", "CASE-7")
    return Scenario(
        hub=hub_live,
        agencies=agencies,
        api=api,
        consoles=consoles,
        legal_reference=legal_reference,
        redacted=created("UKR", person_body(biometrics=[{"modality": "fingerprints", "reference": "UKR-TCN-1"}])),
        hit_only=created("UKR", person_body(restrictions={"hit_only_countries": ["FRA"]})),
    )


# -- the session --------------------------------------------------------------------------


def test_a_wrong_password_is_refused_and_a_right_one_opens_a_session(live: LiveServer) -> None:
    username, _ = live.make_user([Role.INVESTIGATOR])
    refused = log_in(live, username, "not the password")
    assert refused.status_code == 401
    assert page(refused).find(attrs={"role": "alert"}).get_text(strip=True) == "invalid username or password"
    assert "polex_session" not in refused.cookies

    client = browser(live)
    accepted = log_in(live, username, client=client)
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/console"
    cookie = next(h for h in accepted.headers.get_list("set-cookie") if h.startswith("polex_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags  # this node serves plain HTTP; over TLS the cookie is Secure

    home = page(client.get("/console"))
    who = {row.th.get_text(): row.td.get_text() for row in home.select("table.who-am-i tr")}
    assert who["User"] == username
    assert who["Country"] == "FRA"
    assert who["Roles"] == "investigator"
    assert who["Node"] == "fra (FRA)"
    links = {a["href"] for a in home.select("ul.links a")}
    assert "/console/records/persons" in links
    assert "/console/messages/new" in links
    assert "/console/audit" not in links  # not an auditor

    logged_out = client.post("/console/logout", data={"csrf": csrf_of(client.get("/console"))})
    assert logged_out.status_code == 303
    cleared = next(h for h in logged_out.headers.get_list("set-cookie") if h.startswith("polex_session="))
    assert "Max-Age=0" in cleared
    assert client.get("/console").status_code == 303  # the browser dropped the cookie: logged out


def test_without_a_valid_session_every_page_is_the_login_page(live: LiveServer) -> None:
    anonymous = browser(live)
    for path in ("/console", "/console/records/persons", "/console/messages", "/console/audit", "/console/nowhere"):
        answer = anonymous.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/console/login")
    anonymous.cookies.set("polex_session", "forged.token.value", path="/console")
    assert anonymous.get("/console").status_code == 303
    assert anonymous.post("/console/messages", data={"to": "XPO"}).status_code == 303


def test_forms_without_their_csrf_token_are_refused(live: LiveServer) -> None:
    console = console_for(live, [Role.INVESTIGATOR])
    for form in ({}, {"csrf": "0" * 64}):
        refused = console.client.post("/console/purpose", data={"purpose": "border_control", **form})
        assert refused.status_code == 403
        assert "CSRF" in page(refused).select_one("p.detail").get_text()
    assert console.post("/console/purpose", {"purpose": "border_control"}).status_code == 303
    # The login form too, before any session, by its double-submit token.
    username, _ = live.make_user([Role.INVESTIGATOR])
    stranger = browser(live)
    assert stranger.post("/console/login", data={"username": username, "password": PASSWORD}).status_code == 403


def test_every_answer_carries_the_security_headers(live: LiveServer) -> None:
    console = console_for(live, [Role.INVESTIGATOR])
    answers = [
        browser(live).get("/console/login"),
        console.get("/console"),
        console.get("/console/records/nothing"),
        console.get("/console/static/console.css"),
        browser(live).get("/console/records/persons"),
    ]
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'none'" in csp
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert answers[2].status_code == 404
    assert answers[3].headers["content-type"].startswith("text/css")


def test_a_read_needs_a_declared_purpose(live: LiveServer) -> None:
    console = console_for(live, [Role.INVESTIGATOR])
    undeclared = console.get("/console/records/persons")
    assert undeclared.status_code == 400
    assert [li.strong.get_text() for li in page(undeclared).select("ul.field-errors li")] == ["purpose"]
    invalid = console.post("/console/purpose", {"purpose": "curiosity"})
    assert invalid.status_code == 422
    assert [li.strong.get_text() for li in page(invalid).select("ul.field-errors li")] == ["purpose"]
    console.declare("criminal_investigation")
    assert console.get("/console/records/persons").status_code == 200


def test_a_role_without_the_permission_gets_a_403_page_and_the_trail_keeps_it(live: LiveServer) -> None:
    border = console_for(live, [Role.BORDER_OFFICER])
    answer, events = events_of(live, lambda: border.get("/console/messages"))
    assert answer.status_code == 403
    assert "message:read" in page(answer).select_one("p.detail").get_text()
    assert [(event.tag.value, event.decision.value, event.actor.id) for event in events] == [
        (AuditTag.ACCESS_DENIED.value, "denied", border.user_id)
    ]
    admin = console_for(live, [Role.ADMIN])
    admin.declare("criminal_investigation")
    assert admin.get("/console/records/persons").status_code == 403
    assert admin.get("/console/audit").status_code == 403
    assert admin.get("/console/admin/suspensions").status_code == 200


# -- records as each user gets them ------------------------------------------------------------


def _decision(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    html = page(response)
    section = html.select_one("section.decision")
    return {
        "outcome": section.select_one(".level")["data-outcome"],
        "removed": [code.get_text() for code in section.select("ul.removed code")],
        "rules": [[cell.get_text() for cell in row.find_all("td")] for row in section.select("table.rules tbody tr")],
        "accesses_link": html.find("a", string="Who accessed this record") is not None,
        "text": html.select_one("section.record").get_text() if html.select_one("section.record") else "",
    }


def test_the_record_page_shows_each_user_what_they_get_and_why(scenario: Scenario) -> None:
    record_id = scenario.redacted["id"]
    path = f"/console/records/persons/{record_id}"
    home = page(scenario.consoles["FRA"].get("/console"))
    who = {row.th.get_text(): row.td.get_text() for row in home.select("table.who-am-i tr")}
    assert who["Agency"].startswith("Agency ")  # its name, read through the agency service
    assert who["Declared purpose"] == "criminal_investigation, case CASE-7"

    french = _decision(scenario.consoles["FRA"].get(path))
    api = scenario.api["FRA"].get(f"{PERSONS}/{record_id}").json()["access"]
    assert french["outcome"] == api["outcome"] == "redacted"
    assert french["removed"] == api["removed_fields"]
    assert "biometrics" in french["removed"]
    assert "UKR-TCN-1" not in french["text"]
    references = {rule[2] for rule in french["rules"]}
    assert any(reference.startswith(scenario.legal_reference) for reference in references)
    assert "Law of Ukraine on personal data" in references
    assert not french["accesses_link"]  # not the owner

    ukrainian = _decision(scenario.consoles["UKR"].get(path))
    assert ukrainian["outcome"] == "full"
    assert ukrainian["removed"] == []
    assert "UKR-TCN-1" in ukrainian["text"]
    assert ukrainian["accesses_link"]
    accesses = scenario.consoles["UKR"].get(f"{path}/accesses")
    assert accesses.status_code == 200
    assert "FRA" in {row.find_all("td")[5].get_text() for row in page(accesses).select("table.accesses tbody tr")}

    hit = _decision(scenario.consoles["FRA"].get(f"/console/records/persons/{scenario.hit_only['id']}"))
    assert hit["outcome"] == "hit_only"
    assert "Shevchenko" not in hit["text"]

    listed = page(scenario.consoles["FRA"].get("/console/records/persons", owner_country="UKR"))
    outcomes = {
        row.a["href"].rsplit("/", 1)[1]: row.select_one(".level")["data-outcome"]
        for row in listed.select("table.records tbody tr")
    }
    assert outcomes[record_id] == "redacted"
    assert outcomes[scenario.hit_only["id"]] == "hit_only"


def test_a_console_read_leaves_the_same_audit_event_as_an_api_read(scenario: Scenario) -> None:
    hub, record_id = scenario.hub, scenario.redacted["id"]
    # The same user reads once through each: the console's session is an API token.
    username, user_id = hub.make_user([Role.NCB_OPERATOR], agency_id=scenario.agencies["FRA"])
    token = hub.token_for(username)
    api = hub.bearer(token)
    api.headers["X-Polex-Case"] = "CASE-7"
    console = Console(browser(hub), user_id)
    console.client.cookies.set("polex_session", token, path="/console")
    console.declare("criminal_investigation", "CASE-7")

    _, by_api = events_of(hub, lambda: api.get(f"{PERSONS}/{record_id}"))
    _, by_console = events_of(hub, lambda: console.get(f"/console/records/persons/{record_id}"))

    def essence(event: AuditEvent) -> dict[str, Any]:
        return event.model_dump(mode="json", exclude={"seq", "id", "at", "request_id"})

    assert len(by_api) == len(by_console) == 1
    assert essence(by_console[0]) == essence(by_api[0])
    assert by_console[0].tag.value == "record:person:read"
    assert (by_console[0].purpose, by_console[0].case_reference) == ("criminal_investigation", "CASE-7")
    assert by_console[0].details == {"outcome": "redacted"}


def test_record_fields_are_escaped(scenario: Scenario) -> None:
    hostile = "<script>alert('x')</script>"
    made = scenario.api["FRA"].post(PERSONS, json=person_body(names=[{"full": hostile}], remarks=hostile))
    assert made.status_code == 201, made.text
    answer = scenario.consoles["FRA"].get(f"/console/records/persons/{made.json()['id']}")
    assert answer.status_code == 200
    assert "<script>" not in answer.text
    assert "&lt;script&gt;" in answer.text
    html = page(answer)
    assert html.find("script") is None
    assert html.h1.get_text() == hostile  # shown as text, exactly


# -- checks and matching --------------------------------------------------------------------------


def test_a_border_check_shows_the_hit_as_the_policy_allows(scenario: Scenario) -> None:
    hub = scenario.hub
    french_owner = hub.new_client([Role.NCB_OPERATOR], agency_id=scenario.agencies["FRA"])
    filed = french_owner.post("/api/v1/travel-documents", json=document_body(number="55CN12345"))
    assert filed.status_code == 201, filed.text
    border = console_for(hub, [Role.BORDER_OFFICER], agency_id=scenario.agencies["UKR"])
    border.declare("border_control")

    hit = page(border.post("/console/check", {"kind": "document", "number": "55cn 12345", "country": "FRA"}))
    result = hit.select_one("div.result")
    assert "hit" in result["class"]
    assert result.select_one(".verdict").get_text() == "HIT"
    assert result.select_one(".level")["data-outcome"] == "full"
    assert filed.json()["id"] in result.get_text()
    assert "55CN12345" in result.get_text()

    miss = page(border.post("/console/check", {"kind": "document", "number": "00NO00000", "country": "FRA"}))
    assert miss.select_one("div.result .verdict").get_text() == "NO HIT"
    bad = page(border.post("/console/check", {"kind": "vehicle", "vin": "SHORT"}))
    assert bad.select_one("div.result.invalid") is not None


def test_a_person_match_ranks_candidates_with_their_explanation(scenario: Scenario) -> None:
    console = scenario.consoles["FRA"]
    answer = console.post(
        "/console/match", {"names": "Oleksandr Shevchenko", "birth_date": "1984-07-12", "nationalities": "UKR"}
    )
    assert answer.status_code == 200, answer.text
    candidates = page(answer).select("article.candidate")
    assert candidates
    scores = [float(c.select_one(".score").get_text()) for c in candidates]
    assert scores == sorted(scores, reverse=True)
    assert candidates[0].select("table.explanation tbody tr")
    hidden = {c.select_one(".level").get_text() for c in candidates}
    assert hidden <= {"full", "redacted", "hit-only"}


# -- messages and administration ---------------------------------------------------------------


def test_a_message_sent_through_the_console_arrives(network: tuple[LiveServer, LiveServer]) -> None:
    fra, hub = network
    console = console_for(fra, [Role.INVESTIGATOR])
    invalid = console.post("/console/messages", {"to": "", "subject": "x", "body": "y"})
    assert invalid.status_code == 422
    assert "to" in {li.strong.get_text() for li in page(invalid).select("ul.field-errors li")}

    subject = unique("Console request ")
    sent = console.post(
        "/console/messages",
        {"to": "XPO", "subject": subject, "body": "Please <b>check</b>.", "handling": "TLP:AMBER", "case_ref": "C-9"},
    )
    assert sent.status_code == 303, sent.text
    message_id = sent.headers["location"].rsplit("/", 1)[1]

    reviewer = hub.as_roles(Role.NCB_OPERATOR)
    received = wait_for(
        lambda: [m for m in reviewer.get("/api/v1/messages?box=inbox").json()["items"] if m["id"] == message_id]
    )
    assert (received[0]["subject"], received[0]["body"], received[0]["case_ref"]) == (
        subject,
        "Please <b>check</b>.",
        "C-9",
    )

    def delivered() -> bool:
        shown = page(console.get(f"/console/messages/{message_id}"))
        return [td.get_text() for td in shown.select("table.delivery td.status")] == ["delivered"]

    wait_for(delivered)
    shown = page(console.get(f"/console/messages/{message_id}"))
    assert shown.select_one("pre.body").get_text() == "Please <b>check</b>."
    outbox = page(console.get("/console/messages", box="outbox"))
    assert subject in {a.get_text() for a in outbox.select("table.messages a")}


def test_administrators_and_auditors_pages(scenario: Scenario) -> None:
    hub = scenario.hub
    admin = console_for(hub, [Role.ADMIN], agency_id=scenario.agencies["FRA"])
    listed = page(admin.get("/console/admin/agreements"))
    titles = {a.get_text(): a["href"] for a in listed.select("table.agreements a")}
    text = page(admin.get(titles["Franco-Ukrainian exchange of criminal records"])).select_one("pre.yaml").get_text()
    assert f"legal_reference: {scenario.legal_reference}" in text
    assert admin.get("/console/admin/agreements/NOT_A_SLUG").status_code == 422

    auditor = console_for(hub, [Role.AUDITOR])
    reader = scenario.consoles["FRA"]
    found = page(auditor.get("/console/audit", actor_id=reader.user_id, tag="record:person:"))
    tags = {row.find_all("td")[2].get_text() for row in found.select("table.events tbody tr")}
    assert tags
    assert tags <= {"record:person:read", "record:person:listed"}
    assert auditor.get("/console/audit", since="yesterday").status_code == 422
