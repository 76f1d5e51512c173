"""A sender applies the hub's answers to envelopes it put in the hub's JetStream stream
(``MessageService.apply_answers``): a stored envelope's recipients move from "queued" to
"at_hub", and no further; a refusal of the try still current makes the envelope due again
(with back-off and its reason), a refusal of an earlier try changes nothing, and an answer
about a message this node never sent is ignored."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from polex.bootstrap import Node
from polex.domain.base import new_id
from polex.message.service import backoff
from polex.storage.tables import MessageRecipientRow, OutboxRow
from tests.integration.message_rows import insert_recipients

EARLIER = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
RELAYED = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
NEVER = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def _sent(node: Node, outbox: dict[str, int], statuses: dict[str, list[str]]) -> None:
    """Outbox rows (relayed, with their tries so far) and each message's recipients' statuses."""
    with node.uow() as uow:
        uow.session.execute(
            insert(OutboxRow),
            [
                {
                    "message_id": message_id,
                    "envelope": "sealed",
                    "attempts": attempts,
                    "next_attempt_at": NEVER,
                    "relayed_at": RELAYED,
                    "last_error": None,
                }
                for message_id, attempts in outbox.items()
            ],
        )
        uow.commit()
    recipients = [
        (message_id, recipient, status)
        for message_id, in_order in statuses.items()
        for recipient, status in zip(("FRA", "KEN"), in_order, strict=False)
    ]
    insert_recipients(node, recipients, EARLIER)


def _statuses(node: Node, ids: list[str]) -> dict[str, list[tuple[str, str, str | None, bool]]]:
    """Per message, its recipients' (recipient, status, reason, changed since EARLIER)."""
    found: dict[str, list[tuple[str, str, str | None, bool]]] = {message_id: [] for message_id in ids}
    with node.uow(read_only=True) as uow:
        rows = uow.session.scalars(
            select(MessageRecipientRow)
            .where(MessageRecipientRow.message_id.in_(ids))
            .order_by(MessageRecipientRow.recipient)
        )
        for row in rows:
            found[row.message_id].append((row.recipient, row.status, row.reason, row.updated_at > EARLIER))
    return found


def _outbox(node: Node, ids: list[str]) -> dict[str, tuple[int, bool, dt.datetime, str | None]]:
    """Per message: (tries, relayed, next attempt, last error)."""
    with node.uow(read_only=True) as uow:
        rows = uow.session.scalars(select(OutboxRow).where(OutboxRow.message_id.in_(ids)))
        return {
            row.message_id: (row.attempts, row.relayed_at is not None, row.next_attempt_at, row.last_error)
            for row in rows
        }


def test_answers_move_stored_envelopes_to_the_hub_and_refused_tries_back_to_the_outbox(hub_node: Node) -> None:
    messages = hub_node.messages
    stored, delivered, refused, refused_earlier, not_in_outbox = (new_id() for _ in range(5))
    _sent(
        hub_node,
        {stored: 0, delivered: 0, refused: 2, refused_earlier: 3},
        {
            stored: ["queued", "queued"],
            delivered: ["delivered", "queued"],  # the delivery report came before the hub's answer
            refused: ["queued"],
            refused_earlier: ["queued"],
            not_in_outbox: ["queued"],
        },
    )
    before = dt.datetime.now(dt.UTC)

    messages.apply_answers(
        [
            {"message_id": stored, "try": f"{stored}-0"},
            {"message_id": delivered, "try": f"{delivered}-0"},
            {"message_id": refused, "try": f"{refused}-2", "error": "the signature does not verify"},
            {"message_id": refused_earlier, "try": f"{refused_earlier}-1", "error": "an answer to an older try"},
            {"message_id": not_in_outbox, "try": f"{not_in_outbox}-0"},
            {"message_id": new_id(), "try": "x-0", "error": "not ours"},
        ]
    )

    ids = [stored, delivered, refused, refused_earlier, not_in_outbox]
    statuses = _statuses(hub_node, ids)
    assert statuses[stored] == [("FRA", "at_hub", None, True), ("KEN", "at_hub", None, True)]
    assert statuses[delivered] == [("FRA", "delivered", None, False), ("KEN", "at_hub", None, True)]
    assert statuses[refused] == [("FRA", "queued", None, False)]  # due again: still queued
    assert statuses[refused_earlier] == [("FRA", "queued", None, False)]
    assert statuses[not_in_outbox] == [("FRA", "queued", None, False)]

    outbox = _outbox(hub_node, ids)
    assert outbox[stored] == (0, True, NEVER, None)
    tries, relayed, next_attempt, error = outbox[refused]
    assert (tries, relayed, error) == (3, False, "the signature does not verify")
    assert before + backoff(2) <= next_attempt <= dt.datetime.now(dt.UTC) + backoff(2)
    assert outbox[refused_earlier] == (3, True, NEVER, None)

    # The same answers again: the stored ones change nothing; the refusal named try 2, and
    # the envelope is on its third now.
    again = _outbox(hub_node, ids), _statuses(hub_node, ids)
    messages.apply_answers(
        [
            {"message_id": stored, "try": f"{stored}-0"},
            {"message_id": refused, "try": f"{refused}-2", "error": "the signature does not verify"},
        ]
    )
    assert (_outbox(hub_node, ids), _statuses(hub_node, ids)) == again
