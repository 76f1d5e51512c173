"""FIND at the hub on the lean path (polex.screening.border.FindCheck) against the FastAPI
routes it stands in front of, over real HTTP: France's node asks the hub to check documents
and vehicles for one of its officers. Every request is sent once with the lean layer
switched off and once with it on; both give the same status, body and audit events (the
hits' ids aside), the refusals included (401, 403 for an agency suspended at the hub, 422)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from polex.api.lean import LeanRoutes
from polex.domain.agency import AgencyKind
from polex.domain.base import Restrictions, Tlp, new_id
from polex.domain.roles import Role
from polex.network.relayed import RelayedBy
from polex.policy.schemas import SubjectKind
from tests.e2e.conftest import LiveServer
from tests.e2e.lean_paths import both_ways, lean_layer
from tests.e2e.test_replica import admin, border_treaty, file_at_hub

DOCUMENTS, VEHICLES = "/api/v1/network/find/documents", "/api/v1/network/find/vehicles"


@pytest.fixture
def lean(network: tuple[LiveServer, LiveServer]) -> Iterator[LeanRoutes]:
    _, hub = network
    hub.client().get("/healthz")  # builds the middleware stack
    layer = lean_layer(hub)
    yield layer
    layer.enabled = True


def _headers(fra: LiveServer, hub: LiveServer) -> dict[str, str]:
    token = fra.node.network_view.token_for(hub.node.settings.node_name)
    return {"Authorization": f"PolexNode {token}", "Content-Type": "application/json"}


def _body(fra: LiveServer, items: list[dict[str, Any]], agency_id: str | None = None) -> dict[str, Any]:
    by = RelayedBy(
        user_id="officer-find",
        user="officer",
        agency_id=agency_id or fra.own_agency_id,
        agency_name="Police aux frontières",
        agency_kind=AgencyKind.BORDER,
        country="FRA",
        roles=[Role.BORDER_OFFICER],
    )
    return {"by": by.model_dump(mode="json"), "purpose": "border_control", "items": items}


def test_find_checks_on_the_lean_path_answer_as_the_routes(
    network: tuple[LiveServer, LiveServer], lean: LeanRoutes
) -> None:
    fra, hub = network
    border_treaty(hub, f"fra-ukr-find-lean-{new_id()[-6:]}", "art. 9")
    owner = hub.make_agency(country="UKR")
    number = f"UA{new_id()[-7:].upper()}"
    file_at_hub(hub, owner, number, Restrictions(handling=Tlp.GREEN))
    headers = _headers(fra, hub)
    # The token verified once, as a node's first request of the minute does.
    first = hub.client(headers).post(DOCUMENTS, content=json.dumps(_body(fra, [{"number": "X", "country": "UKR"}])))
    assert first.status_code == 200, first.text

    on_file = _body(fra, [{"number": number, "country": "UKR"}, {"number": "NOTONFILE1", "country": "UKR"}])
    (status, media, body, events), taken = both_ways(hub, lean, "POST", DOCUMENTS, on_file, headers)
    assert (status, media, taken) == (200, "application/json", True)
    assert [result["hit"] for result in body["results"]] == [True, False]
    assert [event["tag"] for event in events] == ["screening:document:checked"]
    assert events[0]["actor"]["name"] == "officer@fra"

    vehicle = _body(fra, [{"vin": "1M8GDM9AXKP042788"}])
    (status, _, body, events), taken = both_ways(hub, lean, "POST", VEHICLES, vehicle, headers)
    assert (status, taken, body["results"][0]["hit"]) == (200, True, False)
    assert [event["tag"] for event in events] == ["screening:vehicle:checked"]


def test_find_refusals_are_the_routes_own(network: tuple[LiveServer, LiveServer], lean: LeanRoutes) -> None:
    fra, hub = network
    headers = _headers(fra, hub)
    item = [{"number": "X1", "country": "UKR"}]
    hub.client(headers).post(DOCUMENTS, content=json.dumps(_body(fra, item)))  # the token verified once

    # No token, a user's: 401 from the route.
    for sent in (
        {"Content-Type": "application/json"},
        {"Authorization": "Bearer x", "Content-Type": "application/json"},
    ):
        (status, _, _, _), taken = both_ways(hub, lean, "POST", DOCUMENTS, _body(fra, item), sent)
        assert (status, taken) == (401, False)
    # A body the model refuses (no items): 422 naming the field, from the route.
    (status, _, body, _), taken = both_ways(hub, lean, "POST", DOCUMENTS, {**_body(fra, item), "items": []}, headers)
    assert (status, taken) == (422, False)
    # A user of an agency suspended at the hub: 403 with the reason, either way.
    suspended_agency = new_id()
    hub.client(headers).post(DOCUMENTS, content=json.dumps(_body(fra, item, suspended_agency)))  # registered
    sanction = hub.node.policy.suspend(SubjectKind.AGENCY, suspended_agency, "bulk look-ups", admin("XPO"))
    try:
        (status, _, body, _), taken = both_ways(
            hub, lean, "POST", DOCUMENTS, _body(fra, item, suspended_agency), headers
        )
        assert (status, taken) == (403, True)
        assert "suspended at the hub" in body["detail"]
    finally:
        hub.node.policy.lift(sanction.id, "explained", admin("XPO"))
