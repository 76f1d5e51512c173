"""A national agency the hub meets for the first time in two requests at once: both go
through, and the agency is registered once (on PostgreSQL the second insert used to fail
with a unique violation, answered 500; seen when a check online and a report of the same
agency arrived together)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from polex.auth.principal import Principal
from polex.bootstrap import Node
from polex.domain.agency import AgencyKind
from polex.domain.base import new_id
from polex.domain.roles import Role
from polex.errors import Forbidden
from polex.network.relayed import RelayedBy, relayed_principal
from polex.storage.tables import AgencyRow


def _by(agency_id: str) -> RelayedBy:
    return RelayedBy(
        user_id="officer-1",
        user="officer",
        agency_id=agency_id,
        agency_name="Police aux frontières, Roissy",
        agency_kind=AgencyKind.BORDER,
        country="FRA",
        roles=[Role.BORDER_OFFICER],
    )


def _relayed(node: Node, by: RelayedBy) -> Principal:
    with node.uow() as uow:
        principal = relayed_principal(uow.session, sender="fra", country="FRA", by=by, allowed=[Role.BORDER_OFFICER])
        uow.commit()
    return principal


def test_two_requests_meeting_a_new_agency_both_go_through(node: Node) -> None:
    by = _by(new_id())
    with ThreadPoolExecutor(1) as pool:
        with node.uow() as uow:
            first = relayed_principal(uow.session, sender="fra", country="FRA", by=by, allowed=[Role.BORDER_OFFICER])
            second = pool.submit(_relayed, node, by)
            # The second waits: for the first's row on PostgreSQL, for the writer's turn on SQLite.
            time.sleep(0.5)
            assert not second.done(), second.exception()
            uow.commit()
        assert second.result(timeout=60) == first
    with node.uow(read_only=True) as uow:
        stored = uow.session.scalars(select(AgencyRow).where(AgencyRow.id == by.agency_id)).all()
        assert [(row.country, row.kind, row.name) for row in stored] == [("FRA", "border", by.agency_name)]


def test_an_agency_registered_for_one_country_is_refused_to_another(node: Node) -> None:
    by = _by(new_id())
    _relayed(node, by)
    german = by.model_copy(update={"country": "DEU"})
    with node.uow() as uow, pytest.raises(Forbidden, match="is not of DEU"):
        relayed_principal(uow.session, sender="deu", country="DEU", by=german, allowed=[Role.BORDER_OFFICER])
    with node.uow(read_only=True) as uow:
        assert uow.session.scalar(select(func.count()).where(AgencyRow.id == by.agency_id)) == 1
