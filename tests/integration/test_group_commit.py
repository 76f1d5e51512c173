"""Group commit (polex.storage.group_commit) on a real database: concurrent callers share
transactions, each returns only once its rows are committed, and one caller's bad rows fail
that caller alone."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Connection, insert, select

from polex.bootstrap import Node
from polex.domain.base import new_id
from polex.storage.group_commit import GroupCommit
from polex.storage.tables import OutboxRow
from polex.storage.unit_of_work import UnitOfWork


def outbox_row(message_id: str) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC)
    return {"message_id": message_id, "envelope": "{}", "attempts": 0, "next_attempt_at": now}


def stored(node: Node, ids: Sequence[str]) -> set[str]:
    with node.uow(read_only=True) as uow:
        return set(uow.session.scalars(select(OutboxRow.message_id).where(OutboxRow.message_id.in_(list(ids)))))


def test_concurrent_callers_share_transactions_and_return_once_committed(node: Node) -> None:
    groups: list[int] = []
    gate = threading.Event()

    def write(uow: UnitOfWork, items: Sequence[str]) -> list[str]:
        gate.wait(5)  # the first group holds the writer's turn while the others queue up
        groups.append(len(items))
        uow.session.execute(insert(OutboxRow), [outbox_row(item) for item in items])
        return [f"stored {item}" for item in items]

    committer: GroupCommit[str, str, UnitOfWork] = GroupCommit(node.uow.committing, write)
    ids = [new_id() for _ in range(24)]

    def submit(message_id: str) -> bool:
        assert committer.submit(message_id) == f"stored {message_id}"  # its own result
        return message_id in stored(node, [message_id])  # committed when submit returns

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(submit, message_id) for message_id in ids]
        threading.Timer(0.5, gate.set).start()
        assert all(future.result(timeout=30) for future in futures)
    assert stored(node, ids) == set(ids)
    assert sum(groups) == len(ids)
    assert len(groups) < len(ids)  # some transactions carried several callers' rows


def test_a_bad_item_fails_its_own_caller_only(node: Node) -> None:
    taken = new_id()
    with node.uow() as uow:
        uow.session.execute(insert(OutboxRow), [outbox_row(taken)])
        uow.commit()
    gate = threading.Event()

    def write(uow: UnitOfWork, items: Sequence[str]) -> list[None]:
        gate.wait(5)
        uow.session.execute(insert(OutboxRow), [outbox_row(item) for item in items])
        return [None] * len(items)

    committer: GroupCommit[str, None, UnitOfWork] = GroupCommit(node.uow.committing, write)
    good = [new_id() for _ in range(6)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {
            message_id: pool.submit(committer.submit, message_id) for message_id in [*good[:3], taken, *good[3:]]
        }
        threading.Timer(0.5, gate.set).start()
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            futures[taken].result(timeout=30)
        for message_id in good:
            futures[message_id].result(timeout=30)
    assert stored(node, good) == set(good)


def test_a_gathered_group_commits_together_with_each_items_outcome(node: Node) -> None:
    taken = new_id()
    with node.uow() as uow:
        uow.session.execute(insert(OutboxRow), [outbox_row(taken)])
        uow.commit()
    transactions: list[list[str]] = []

    def write(connection: Connection, items: Sequence[str]) -> list[int]:
        transactions.append(list(items))
        connection.execute(insert(OutboxRow), [outbox_row(item) for item in items])
        return [len(item) for item in items]

    # On a bare connection, as the audit trail's appends are written.
    committer: GroupCommit[str, int, Connection] = GroupCommit(node.uow.connection, write)
    good = [new_id() for _ in range(3)]
    outcomes = committer.submit_group([good[0], taken, good[1], good[2]])
    assert [outcomes[0], outcomes[2], outcomes[3]] == [36, 36, 36]
    assert isinstance(outcomes[1], Exception)
    assert stored(node, good) == set(good)
    assert transactions[0] == [good[0], taken, good[1], good[2]]  # tried together first, then one by one
    assert committer.submit_group([]) == []
