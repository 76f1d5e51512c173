"""The demo hub's notices: every type in every state of the lifecycle, requested by the
members' bureaus and reviewed by the hub, so the console and the API show each of them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from polex.agency.schemas import AgencyCreate
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import new_id
from polex.domain.countries import country_name
from polex.domain.notice import Action, NoticeRequest
from polex.domain.roles import Role
from polex.provision import own_agency

STATES = ("draft", "submitted", "returned", "refused", "published", "suspended", "cancelled", "expired")

_WARRANT = {
    "kind": "arrest_warrant",
    "reference": "DEMO-W-2025-118",
    "issuing_authority": "Investigating judge, court of first instance",
    "issued_on": "2025-02-14",
}


def _subject(given: str, family: str, born: str, nationality: str, sex: str = "male") -> dict[str, Any]:
    return {
        "names": [{"full": f"{given} {family.upper()}", "given": given, "family": family.upper()}],
        "sex": sex,
        "birth_dates": [born],
        "nationalities": [nationality],
        "physical": {"height_cm": 176, "eye_colour": "brown", "hair_colour": "black"},
    }


def _text(text: str, language: str = "en") -> dict[str, str]:
    return {"language": language, "text": text}


def _request(notice_type: str, country: str, position: int) -> dict[str, Any]:
    """A realistic request of ``notice_type`` from ``country``'s bureau."""
    born = f"{1960 + position % 40}-0{1 + position % 9}-1{position % 10}"
    if notice_type in ("red", "green", "un_special"):
        body: dict[str, Any] = {
            "subject": _subject(
                ["Andriy", "Nikos", "Kenji", "Julien"][position % 4], f"Demo{notice_type}{position}", born, country
            ),
            "offences": [
                {
                    "description": _text("Armed robbery of a jewellery shop"),
                    "iccs": "0401",
                    "committed_on": "2024-11-02",
                    "max_penalty_months": 180,
                }
            ],
            "summary": _text("Wanted for prosecution; considered dangerous."),
        }
        if notice_type == "red":
            body["legal_basis"] = [{**_WARRANT, "issuing_country": country}]
        if notice_type == "un_special":
            body["sanctions_reference"] = f"QDi.{400 + position}"
        return body
    if notice_type == "yellow":
        return {
            "subject": _subject("Sofia", f"Demoyellow{position}", "2010-05-17", country, "female"),
            "missing": {"date_of_event": "2025-08-30", "place": {"place": "Central station", "country": country}},
        }
    if notice_type == "blue":
        return {
            "subject": _subject("Marek", f"Demoblue{position}", born, country),
            "summary": _text("Location sought: witness to a homicide"),
        }
    if notice_type == "black":
        return {"body": {"found_on": "2025-10-01", "place": {"place": "Riverbank", "country": country}, "sex": "male"}}
    if notice_type == "orange":
        return {"threat": _text("Parcel bombs disguised as courier packages; do not open, evacuate and call EOD")}
    return {"modus_operandi": _text("Counterfeit banknotes hidden in the lining of tourist luggage")}


def national_request(country: str, position: int) -> dict[str, Any]:
    """A red notice request as a national bureau drafts it on its own node (the demo
    submits it there; it reaches the hub's review queue in an envelope)."""
    return {"notice_type": "red", **_request("red", country, position)}


def seed_notices(node: Node) -> int:
    """At the hub: one notice of each type in each state (and a diffusion in force);
    returns how many. The expired ones are published first and aged by the clock."""
    types = [spec.code for spec in node.notices.types]
    members = ("FRA", "UKR", "GRC", "JPN")
    reviewer = Principal(
        PrincipalKind.LOCAL,
        new_id(),
        "demo reviewer",
        node.agencies.ensure(own_agency(node.settings)).id,
        node.settings.node_country,
        frozenset({Role.REVIEWER}),
    )
    sources = {}
    for country in members:
        agency = node.agencies.ensure(
            AgencyCreate(name=f"NCB {country_name(country)}", country=country, kind=AgencyKind.NCB)
        )
        sources[country] = Principal(
            PrincipalKind.LOCAL, new_id(), f"demo NCB {country}", agency.id, country, frozenset({Role.NCB_OPERATOR})
        )
    made = 0
    order = ["expired", *[state for state in STATES if state != "expired"]]
    for state in order:
        for position, notice_type in enumerate(types):
            country = members[(position + len(state)) % len(members)]
            source = sources[country]
            body = {"notice_type": notice_type, **_request(notice_type, country, position)}
            notice_id = node.notices.create(NoticeRequest.model_validate(body), source).id
            made += 1
            _take_to(node, notice_id, state, source, reviewer)
        if state == "expired":
            # Six years on, the clock has expired what was just published.
            node.notices.sweep(dt.datetime.now(dt.UTC) + dt.timedelta(days=6 * 366))
    diffusion = {
        "notice_type": "blue",
        "channel": "diffusion",
        "recipients": ["FRA", "GRC"],
        **_request("blue", "UKR", 99),
    }
    issued = node.notices.create(NoticeRequest.model_validate(diffusion), sources["UKR"])
    node.notices.act(issued.id, Action.ISSUE, sources["UKR"])
    return made + 1


def _take_to(node: Node, notice_id: str, state: str, source: Principal, reviewer: Principal) -> None:
    act = node.notices.act
    if state == "draft":
        return
    if state == "cancelled":
        act(notice_id, Action.SUBMIT, source)
        act(notice_id, Action.APPROVE, reviewer)
        act(notice_id, Action.CANCEL, source, reason="Located and arrested")
        return
    act(notice_id, Action.SUBMIT, source)
    if state == "submitted":
        return
    if state == "returned":
        act(notice_id, Action.RETURN, reviewer, reason="Send a copy of the arrest warrant and the penalty provision")
        return
    if state == "refused":
        act(
            notice_id,
            Action.REFUSE,
            reviewer,
            reason="Article 3: the offences are of a predominantly political character",
        )
        return
    act(notice_id, Action.APPROVE, reviewer)
    if state == "suspended":
        act(notice_id, Action.SUSPEND, reviewer, reason="A complaint is under examination by the CCF")
