"""A node away for hours leaves a long queue at the hub (its entries waiting out their
back-off) and delivery reports that cannot reach it: neither may hold up the other nodes'
messages, which the hub keeps delivering and reporting meanwhile."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import delete

from polex.domain.base import new_id
from polex.domain.roles import Role
from polex.storage.tables import HubDeliveryRow, HubEnvelopeRow
from tests.e2e.conftest import LiveServer
from tests.e2e.test_messages import delivery_of, wait_for

BACKLOG = 1200  # more than the hub reads in one round (1,000)


@pytest.fixture
def backlog(network: tuple[LiveServer, LiveServer]) -> Iterator[None]:
    """At the hub: France away for an hour with a long queue backed off for another hour,
    and many reports for a sender that is not reachable (gone from the network)."""
    fra, hub = network
    now = dt.datetime.now(dt.UTC)
    ids: list[str] = []
    with hub.node.uow() as uow:
        for index in range(2 * BACKLOG):
            message_id = new_id()
            ids.append(message_id)
            away = index < BACKLOG
            uow.session.add(
                HubEnvelopeRow(
                    message_id=message_id,
                    sender="hub" if away else "ghost",
                    conversation_id=new_id(),
                    envelope="{}",
                    received_at=now - dt.timedelta(hours=1),
                    expires=now + dt.timedelta(days=1),
                )
            )
            uow.session.add(
                HubDeliveryRow(
                    message_id=message_id,
                    recipient=fra.node.settings.node_name if away else "hub",
                    status="queued" if away else "delivered",
                    attempts=12,
                    next_attempt_at=now + dt.timedelta(hours=1),
                    updated_at=now,
                )
            )
        uow.commit()
    try:
        yield
    finally:
        with hub.node.uow() as uow:
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                uow.session.execute(delete(HubDeliveryRow).where(HubDeliveryRow.message_id.in_(part)))
                uow.session.execute(delete(HubEnvelopeRow).where(HubEnvelopeRow.message_id.in_(part)))
            uow.commit()


@pytest.mark.usefixtures("backlog")
def test_a_node_away_with_a_long_queue_holds_up_nobody_else(network: tuple[LiveServer, LiveServer]) -> None:
    fra, _ = network
    officer = fra.as_roles(Role.INVESTIGATOR)
    sent = officer.post("/api/v1/messages", json={"to": ["XPO"], "subject": "Behind a backlog", "body": "b"})
    assert sent.status_code == 202, sent.text
    # Pushed to the hub's own inbox past the other node's queue, and reported to France past
    # the reports nobody can take.
    wait_for(lambda: delivery_of(officer, sent.json()["id"]) == {"hub": "delivered"}, 20)
