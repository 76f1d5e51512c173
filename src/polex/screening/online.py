"""FIND: a national node's checks asked online at the hub, with the national replica (MIND)
as the fallback when the hub cannot answer in time.

A border officer or investigator checks on their own national node. The node checks its own
records itself and asks the hub for the hub's, on behalf of its user: the request carries who
asks (user, agency, country, roles), the purpose and the case reference, and travels with the
node's token (``Authorization: PolexNode``, signed by the node's key), so the hub knows
which node vouches for the user. The hub decides each of its records for that requester (as
for its own users: full, redacted, hit-only or nothing), audits the check, and raises the
hits for the records' owners; the national node merges the hub's answer with its own and
audits its side. Nothing personal about the query is kept at the hub beyond what its own
checks keep (query terms sealed for auditors).

When the hub does not answer within ``find_timeout_seconds`` (down, unreachable, slow), the
national node answers border-control checks from its replica, which says how current it is,
and says for any other purpose that the hub's records were not checked: never a silent miss.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import httpx
import orjson
from pydantic import Field, StringConstraints

from polex.auth.principal import Principal
from polex.domain.base import SchemaModel
from polex.domain.policy import Purpose
from polex.domain.roles import Role
from polex.network.relayed import RelayedBy, relayed_principal
from polex.network.view import NetworkUnavailable, NetworkView
from polex.storage.tables import AgencyRow
from polex.storage.unit_of_work import UnitOfWorkFactory

log = logging.getLogger("polex.screening.find")

FIND_PATH = "/api/v1/network/find"
MAX_ITEMS = 1000
# Query persons in one batch request (a manifest's chunk travels in several): each request's
# work at the hub stays well inside the batch deadline, and its body (at most about 2 MB of
# names) well inside the hub's limit for node requests.
MAX_QUERIES = 100
# The roles whose checks a national node may relay: reading records for a purpose. No
# administration, no review, no notices: those have their own paths.
FIND_ROLES = frozenset({Role.BORDER_OFFICER, Role.INVESTIGATOR, Role.ANALYST, Role.NCB_OPERATOR})


class FindItems(SchemaModel):
    """A national node's request to check documents or vehicles at the hub."""

    by: RelayedBy
    purpose: Purpose
    case_reference: Annotated[str, StringConstraints(max_length=128)] | None = None
    items: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ITEMS)


class FindPerson(SchemaModel):
    """A national node's request to match a person against the hub's watch list."""

    by: RelayedBy
    purpose: Purpose
    case_reference: Annotated[str, StringConstraints(max_length=128)] | None = None
    query: dict[str, Any]
    limit: int = Field(default=10, ge=1, le=100)
    threshold: float = Field(ge=0, le=1)
    cutoff: float | None = Field(default=None, ge=0, le=1)


class FindPersons(SchemaModel):
    """A national node's request to match many persons at once (a manifest's rows)."""

    by: RelayedBy
    purpose: Purpose
    case_reference: Annotated[str, StringConstraints(max_length=128)] | None = None
    queries: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_QUERIES)
    limit: int = Field(default=10, ge=1, le=100)
    threshold: float = Field(ge=0, le=1)
    cutoff: float | None = Field(default=None, ge=0, le=1)


class HubUnavailable(Exception):
    """The hub did not answer a FIND request in time (or at all); the reason says why."""


class OnlineFind:
    """The national side of FIND: one pooled HTTP client to the hub, a short deadline, and
    a memory of the last failure so that a hub that is down costs each check at most one
    short probe every ``retry_seconds`` rather than a full timeout each."""

    def __init__(
        self, network: NetworkView, *, timeout: float, batch_timeout: float = 30.0, retry_seconds: float = 5.0
    ) -> None:
        self._network = network
        self._timeout = timeout
        # A manifest's chunk is hundreds of checks in one request: the hub may take longer
        # than a single check's deadline, and no officer waits at a desk for it.
        self._batch_timeout = batch_timeout
        self._retry_seconds = retry_seconds
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self.last_error: str | None = None

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
                self._client = self._network.clients.client(timeout=self._timeout, limits=limits)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    @property
    def hub_reachable(self) -> bool:
        return time.monotonic() >= self._down_until

    def documents(
        self, items: Sequence[Mapping[str, Any]], by: RelayedBy, *, batch: bool = False, **context: Any
    ) -> list[dict[str, Any]]:
        return self._items("documents", items, by, batch=batch, **context)

    def vehicles(
        self, items: Sequence[Mapping[str, Any]], by: RelayedBy, *, batch: bool = False, **context: Any
    ) -> list[dict[str, Any]]:
        return self._items("vehicles", items, by, batch=batch, **context)

    def persons(self, request: FindPerson) -> list[dict[str, Any]]:
        answer = self._post("persons", request.model_dump(mode="json"))
        candidates = answer.get("candidates")
        if not isinstance(candidates, list):
            raise HubUnavailable("the hub's answer has no candidates")
        return candidates

    def persons_many(
        self, queries: Sequence[Mapping[str, Any]], by: RelayedBy, **context: Any
    ) -> list[list[dict[str, Any]]]:
        """The hub's candidates for each query, in order, asked ``MAX_QUERIES`` at a time with
        the batch deadline; ``context``: ``FindPersons``'s purpose, case reference, limit,
        threshold and cutoff. Any group the hub cannot answer fails the whole call: no
        manifest row is left half checked at the hub."""
        answers: list[list[dict[str, Any]]] = []
        for start in range(0, len(queries), MAX_QUERIES):
            group = [dict(query) for query in queries[start : start + MAX_QUERIES]]
            body = FindPersons(by=by, queries=group, **context).model_dump(mode="json")
            results = self._post("persons/batch", body, timeout=self._batch_timeout).get("results")
            if not isinstance(results, list) or len(results) != len(group):
                raise HubUnavailable("the hub's answer does not have one result per query")
            if not all(isinstance(candidates, list) for candidates in results):
                raise HubUnavailable("the hub's answer has a result that is not a list of candidates")
            answers.extend(results)
        return answers

    def _items(
        self,
        kind: str,
        items: Sequence[Mapping[str, Any]],
        by: RelayedBy,
        *,
        purpose: Purpose,
        case_reference: str | None,
        batch: bool,
    ) -> list[dict[str, Any]]:
        body = FindItems(by=by, purpose=purpose, case_reference=case_reference, items=[dict(i) for i in items])
        answer = self._post(kind, body.model_dump(mode="json"), timeout=self._batch_timeout if batch else None)
        results = answer.get("results")
        if not isinstance(results, list) or len(results) != len(items):
            raise HubUnavailable("the hub's answer does not have one result per item")
        return results

    def _post(self, kind: str, body: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        if not self.hub_reachable:
            raise HubUnavailable(self.last_error or "the hub did not answer a moment ago")
        try:
            hub = self._network.hub()
            client, content = self._http(), orjson.dumps(body)
            headers = {
                "Authorization": f"PolexNode {self._network.token_for(hub.name)}",
                "Content-Type": "application/json",
            }
            response = self._network.call_hub(
                lambda base: client.post(
                    f"{base}{FIND_PATH}/{kind}", content=content, headers=headers, timeout=timeout or self._timeout
                )
            )
        except (httpx.HTTPError, NetworkUnavailable) as error:
            self._failed(f"{type(error).__name__}: {error}")
            raise HubUnavailable(self.last_error or "unreachable") from error
        if response.status_code >= 500:
            self._failed(f"the hub answered {response.status_code}")
            raise HubUnavailable(self.last_error or "hub error")
        if response.status_code != 200:
            # The hub refused this node or this request (403: the node is suspended, 422: a
            # malformed item): not an outage; no fallback would be honest either.
            raise HubUnavailable(f"the hub refused the check ({response.status_code}): {response.text[:300]}")
        self.last_error = None
        answer: dict[str, Any] = response.json()
        return answer

    def _failed(self, reason: str) -> None:
        self.last_error = reason
        self._down_until = time.monotonic() + self._retry_seconds
        log.warning("FIND at the hub failed: %s", reason)


def relayed_by(principal: Principal, agency: Any) -> RelayedBy:
    """Who asks, as the hub will know them (only the roles FIND relays)."""
    by = RelayedBy.of(principal, agency)
    return by.model_copy(update={"roles": sorted(set(by.roles) & FIND_ROLES)})


def hub_principal(uow: UnitOfWorkFactory, network: NetworkView, caller: str, by: RelayedBy) -> Principal:
    """At the hub: the principal a FIND request from node ``caller`` acts as (its user's
    agency registered under its national id on first sight; only the roles FIND relays)."""
    member = network.usable_members().get(caller)
    country = member.country if member is not None else None
    # Read-only while the agency is known (every request but its first): a writing unit
    # takes SQLite's writer's turn at BEGIN, which every border check through FIND would
    # then wait for beside the audit trail's commits.
    with uow(read_only=True) as unit:
        if unit.session.get(AgencyRow, by.agency_id) is not None:
            return relayed_principal(unit.session, sender=caller, country=country, by=by, allowed=FIND_ROLES)
    with uow() as unit:
        principal = relayed_principal(unit.session, sender=caller, country=country, by=by, allowed=FIND_ROLES)
        unit.commit()
    return principal


def hub_matches(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The records the hub found for one item (first and ``more``), each marked as the hub's."""
    if not result.get("hit"):
        return []
    first = {name: value for name, value in result.items() if name not in ("hit", "query", "more")}
    found = [first, *[dict(item) for item in result.get("more") or []]]
    for item in found:
        item["source"] = "hub"
    return found
