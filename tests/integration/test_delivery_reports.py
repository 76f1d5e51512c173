"""A sender applies the hub's delivery reports (``MessageService.apply_reports``): a batch
moves each recipient's status forward only, keeps every receipt, and several reports of
one recipient in a batch apply in order."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from polex.bootstrap import Node
from polex.domain.base import new_id
from polex.message.schemas import DeliveryReport
from polex.storage.tables import MessageRecipientRow
from tests.integration.message_rows import insert_recipients

EARLIER = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _recipients(node: Node, recipient: str, statuses: dict[str, str]) -> None:
    insert_recipients(node, [(message_id, recipient, status) for message_id, status in statuses.items()], EARLIER)


def _rows(node: Node, ids: list[str]) -> dict[str, tuple[str, str | None, str | None, dt.datetime]]:
    with node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(MessageRecipientRow).where(MessageRecipientRow.message_id.in_(ids)))
        return {row.message_id: (row.status, row.reason, row.receipt, row.updated_at) for row in rows}


def test_a_batch_moves_statuses_forward_keeps_receipts_and_applies_in_order(hub_node: Node) -> None:
    # At the hub the hub is a recipient too, whose receipts it signs itself: a sender's
    # side of the reports needs nothing else.
    messages = hub_node.messages
    hub = hub_node.network_view.hub().name
    delivered, already_read, twice, untouched = (new_id() for _ in range(4))
    _recipients(hub_node, hub, {delivered: "at_hub", already_read: "read", twice: "at_hub", untouched: "at_hub"})
    now = dt.datetime.now(dt.UTC)
    receipts = {message_id: messages._receipt(message_id, now) for message_id in (delivered, already_read, twice)}

    messages.apply_reports(
        [
            DeliveryReport(message_id=delivered, recipient=hub, status="delivered", receipt=receipts[delivered]),
            # Late, after the read receipt: the status stays, the receipt is kept.
            DeliveryReport(message_id=already_read, recipient=hub, status="delivered", receipt=receipts[already_read]),
            DeliveryReport(message_id=twice, recipient=hub, status="expired", reason="not taken in time"),
            DeliveryReport(message_id=twice, recipient=hub, status="delivered", receipt=receipts[twice]),
            DeliveryReport(message_id=new_id(), recipient=hub, status="refused", reason="not ours"),  # unknown: ignored
        ],
        caller=hub,
    )

    rows = _rows(hub_node, [delivered, already_read, twice, untouched])
    assert rows[delivered][:3] == ("delivered", None, receipts[delivered])
    assert rows[delivered][3] > EARLIER
    assert rows[already_read] == ("read", None, receipts[already_read], EARLIER)
    assert rows[twice][:3] == ("delivered", None, receipts[twice])
    assert rows[untouched] == ("at_hub", None, None, EARLIER)

    # The same batch again changes nothing.
    before = _rows(hub_node, [delivered, twice])
    messages.apply_reports(
        [DeliveryReport(message_id=twice, recipient=hub, status="delivered", receipt=receipts[twice])], caller=hub
    )
    assert _rows(hub_node, [delivered, twice]) == before
