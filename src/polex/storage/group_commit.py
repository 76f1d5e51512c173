"""Group commit: concurrent callers that each need a small transaction share one.

Each caller hands in what it would have written and waits; whoever holds the writer's turn
writes everything handed in so far in one transaction and commits it, while the next
callers queue up behind. A caller returns only once a commit that holds its writes is done
(or with its own error), so what it answers is as durable as with a transaction of its own;
under load one BEGIN and one COMMIT (SQLite's single writer, PostgreSQL's WAL flush) serve
many requests instead of one each. A lone caller commits at once.

The audit trail (``AuditTrail.record``) and the message sends (``MessageService``) use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
W = TypeVar("W")  # what a transaction writes through: a unit of work, or a bare connection


@dataclass
class _Waiting(Generic[T, R]):
    item: T
    result: R | None = None
    error: BaseException | None = None
    done: bool = False


class GroupCommit(Generic[T, R, W]):
    """``submit(item)`` returns ``item``'s result once ``write(writer, items)`` has committed a
    group holding it; ``transaction()`` opens what ``write`` writes through (a unit of work,
    ``UnitOfWorkFactory.committing``, or a bare connection, ``UnitOfWorkFactory.connection``)
    and commits it when its block ends without an exception.

    ``write`` adds the group's rows in the open transaction, must not commit, and returns
    one result per item, in order. If a group fails, each of its items is written again
    alone, so that one caller's bad item (a conflict, a constraint, a value that does not
    serialise) fails only that caller.
    """

    def __init__(
        self, transaction: Callable[[], AbstractContextManager[W]], write: Callable[[W, Sequence[T]], Sequence[R]]
    ) -> None:
        self._transaction = transaction
        self._write = write
        self._waiting: list[_Waiting[T, R]] = []
        self._waiting_lock = threading.Lock()
        self._committing = threading.Lock()

    def submit(self, item: T) -> R:
        waiting: _Waiting[T, R] = _Waiting(item)
        with self._waiting_lock:
            self._waiting.append(waiting)
        with self._committing:
            if not waiting.done:
                with self._waiting_lock:
                    group, self._waiting = self._waiting, []
                self._commit(group)
        if waiting.error is not None:
            raise waiting.error
        return waiting.result  # type: ignore[return-value]  # set with done, unless error

    def submit_group(self, items: Sequence[T]) -> list[R | BaseException]:
        """Items a caller gathered itself, committed as one group (after the group before it);
        each item's result, or the error that kept it out."""
        group: list[_Waiting[T, R]] = [_Waiting(item) for item in items]
        if group:
            with self._committing:
                self._commit(group)
        return [waiting.error if waiting.error is not None else waiting.result for waiting in group]  # type: ignore[misc]

    def _commit(self, group: list[_Waiting[T, R]]) -> None:
        try:
            with self._transaction() as writer:  # commits when the block ends without an exception
                results = self._write(writer, [waiting.item for waiting in group])
        except Exception as error:
            if len(group) == 1:
                group[0].error, group[0].done = error, True
                return
            for waiting in group:
                self._commit([waiting])
            return
        except BaseException as error:  # the process is stopping: nobody's writes are known committed
            for waiting in group:
                waiting.error, waiting.done = error, True
            raise
        for waiting, result in zip(group, results, strict=True):
            waiting.result, waiting.done = result, True
