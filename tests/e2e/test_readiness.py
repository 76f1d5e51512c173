"""Liveness and readiness over real HTTP: /readyz says 200 once the person watch list is
loaded; while it loads, /readyz and person matching answer 503 with when to retry, and
/healthz and document checks answer as usual."""

from __future__ import annotations

from polex.domain.roles import Role
from polex.screening.persons import PersonWatchlist
from tests.e2e.conftest import LiveServer, assert_problem
from tests.integration.test_watchlist_loading import PausedRead

PURPOSE = "criminal_investigation"  # what the test clients declare in their header
MATCH = {"purpose": PURPOSE, "query": {"names": ["Camille Martin"], "birth_date": "1990-01-02"}}
CHECK = {"purpose": PURPOSE, "documents": [{"number": "12AB34567", "country": "FRA"}]}


def test_readiness_is_200_once_the_watch_lists_are_loaded(live: LiveServer) -> None:
    response = live.client().get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["node"] == live.node.settings.node_name
    assert body["components"] == {"person_watchlist": "ready", "replica_watchlist": "ready"}
    assert body["checks"]["database"] is True


def test_while_the_watch_list_loads_matching_is_refused_and_the_rest_serves(live: LiveServer) -> None:
    node = live.node
    client = live.as_roles(Role.NCB_OPERATOR)
    served = node.screening.watchlist
    read = PausedRead(PersonWatchlist(node.uow)._live_persons)
    loading = PersonWatchlist(node.uow, source=read)
    node.screening.watchlist = loading
    try:
        loading.start()
        assert read.paused.wait(60)
        not_ready = live.client().get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.headers["retry-after"] == "5"
        assert not_ready.json()["status"] == "loading"
        assert not_ready.json()["components"]["person_watchlist"] == "loading"
        assert live.client().get("/healthz").status_code == 200
        answer = client.post("/api/v1/persons/match", json=MATCH)
        refused = assert_problem(answer, 503)
        assert answer.headers["retry-after"] == "5"
        assert refused["detail"].startswith("the person watch list is loading")
        assert refused["type"].endswith("/watchlist-loading")
        assert refused["retry_after"] == 5
        checked = client.post("/api/v1/documents/check", json=CHECK)
        assert checked.status_code == 200, checked.text
        assert checked.json()["results"][0]["hit"] is False

        read.resume.set()
        assert loading.wait_ready(60)
        assert live.client().get("/readyz").status_code == 200
        matched = client.post("/api/v1/persons/match", json=MATCH)
        assert matched.status_code == 200, matched.text
    finally:
        read.resume.set()
        loading.close()
        node.screening.watchlist = served
