"""The policy set a node decides with, as another process of the same node changes it.

Two ``PolicyService`` objects over one store stand for two processes (two hub processes
share one PostgreSQL): a change made through one is seen by the other within its cache age,
and a caller past that age is answered from the copy in hand while one thread loads the next,
so no request (the border checks' lean path runs on the event loop) waits for the store.
"""

from __future__ import annotations

import threading
import time

from polex.agency.schemas import AgencyCreate
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import new_id
from polex.domain.roles import Role
from polex.policy.schemas import SubjectKind
from polex.policy.service import STALE_LIMIT, PolicyService

CACHE_SECONDS = 0.3


def admin(country: str) -> Principal:
    return Principal(PrincipalKind.LOCAL, new_id(), "admin", new_id(), country, frozenset({Role.ADMIN}))


def an_agency(node: Node) -> str:
    return node.agencies.ensure(AgencyCreate(name=f"Agency {new_id()}", country="FRA", kind=AgencyKind.POLICE)).id


def other_process(node: Node) -> PolicyService:
    return PolicyService(
        node.uow, node.audit, node_country=node.settings.node_country, is_hub=False, cache_seconds=CACHE_SECONDS
    )


def wait_for(condition: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_a_change_through_one_process_reaches_the_other_within_its_cache_age(node: Node) -> None:
    other = other_process(node)
    agency = an_agency(node)
    assert other.suspension_for("someone", agency) is None  # loaded now, kept for CACHE_SECONDS
    node.policy.suspend(SubjectKind.AGENCY, agency, "bulk look-ups", admin(node.settings.node_country))
    assert node.policy.suspension_for("someone", agency) is not None  # its own process: at once
    assert other.suspension_for("someone", agency) is None  # the other's copy is still young
    started = time.monotonic()
    assert wait_for(lambda: other.suspension_for("someone", agency) is not None)
    assert time.monotonic() - started < CACHE_SECONDS * STALE_LIMIT


def test_a_caller_past_the_cache_age_is_answered_from_the_copy_in_hand(node: Node) -> None:
    other = other_process(node)
    agency = an_agency(node)
    other.current()
    loads = threading.Event()
    release = threading.Event()
    real_load = other._load

    def slow_load() -> object:
        loads.set()
        release.wait(10)  # the store is slow: the background load takes its time
        return real_load()

    other._load = slow_load  # type: ignore[method-assign]
    node.policy.suspend(SubjectKind.AGENCY, agency, "bulk look-ups", admin(node.settings.node_country))
    time.sleep(CACHE_SECONDS * 1.2)
    started = time.monotonic()
    assert other.suspension_for("someone", agency) is None  # the old copy, at once
    assert time.monotonic() - started < 0.5
    assert loads.wait(5)  # while one thread loads the next
    assert other.suspension_for("someone", agency) is None  # no second load, no waiting
    release.set()
    assert wait_for(lambda: other.suspension_for("someone", agency) is not None)


def test_a_load_begun_before_an_invalidation_is_not_kept(node: Node) -> None:
    """A background load that read the store before a change made through this process
    would bring back the state before it; the change's invalidation wins."""
    service = node.policy
    agency = an_agency(node)
    service.current()
    read = threading.Event()
    release = threading.Event()
    real_load = service._load

    def load_then_wait() -> object:
        loaded = real_load()  # the state before the suspension
        read.set()
        release.wait(10)
        return loaded

    service._load = load_then_wait  # type: ignore[method-assign]
    service._cached = (time.monotonic() - service._cache_seconds * 1.5, *service._current())  # past its age
    service.current()  # starts the background load
    assert read.wait(5)
    service._load = real_load  # type: ignore[method-assign]
    service.suspend(SubjectKind.AGENCY, agency, "bulk look-ups", admin(node.settings.node_country))
    assert service.suspension_for("someone", agency) is not None
    release.set()  # the stale load finishes after the change
    time.sleep(0.2)
    assert service.suspension_for("someone", agency) is not None


def test_a_copy_far_past_its_age_is_loaded_by_the_caller(node: Node) -> None:
    other = other_process(node)
    agency = an_agency(node)
    other.current()
    node.policy.suspend(SubjectKind.AGENCY, agency, "bulk look-ups", admin(node.settings.node_country))
    cached = other._cached
    assert cached is not None
    other._cached = (time.monotonic() - CACHE_SECONDS * (STALE_LIMIT + 1), cached[1], cached[2])
    assert other.suspension_for("someone", agency) is not None  # no stale answer: loaded now
