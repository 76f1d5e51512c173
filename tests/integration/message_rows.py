"""A sender's rows of its messages' recipients, written straight into a node's store, for
the tests of what moves them (delivery reports, the hub's answers)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from polex.bootstrap import Node
from polex.storage.tables import MessageRecipientRow


def insert_recipients(node: Node, rows: list[tuple[str, str, str]], updated_at: dt.datetime) -> None:
    """``(message id, recipient, status)`` rows, none with a reason or a receipt yet."""
    with node.uow() as uow:
        uow.session.execute(
            insert(MessageRecipientRow),
            [
                {
                    "message_id": message_id,
                    "recipient": recipient,
                    "status": status,
                    "reason": None,
                    "receipt": None,
                    "updated_at": updated_at,
                    "read_at": None,
                    "read_receipt": None,
                }
                for message_id, recipient, status in rows
            ],
        )
        uow.commit()
