"""Group commit: concurrent requests that each need a small transaction share one.

Each caller hands in what it would have written and waits; whoever holds the writer's turn
writes everything handed in so far in one transaction and commits it, while the next
callers queue up behind. A caller returns only once a commit that holds its writes is
done (or with its own error), so what it answers is as durable as with a transaction of
its own; under load one BEGIN and one COMMIT (SQLite's single writer, PostgreSQL's WAL
flush) serve many requests instead of one each. A lone caller commits at once.

This is ``AuditTrail.record``'s scheme, for writes other than audit events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from polex.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")


@dataclass
class _Waiting(Generic[T]):
    item: T
    error: BaseException | None = None
    done: bool = False


class GroupCommit(Generic[T]):
    """``submit(item)`` returns once ``write(uow, items)`` has committed a group holding ``item``.

    ``write`` adds the group's rows in the open unit of work and must not commit. If a group
    fails, each of its items is written again alone, so that one caller's bad item (a
    conflict, a constraint) fails only that caller.
    """

    def __init__(self, uow: UnitOfWorkFactory, write: Callable[[UnitOfWork, Sequence[T]], None]) -> None:
        self._uow = uow
        self._write = write
        self._waiting: list[_Waiting[T]] = []
        self._waiting_lock = threading.Lock()
        self._committing = threading.Lock()

    def submit(self, item: T) -> None:
        waiting = _Waiting(item)
        with self._waiting_lock:
            self._waiting.append(waiting)
        with self._committing:
            if not waiting.done:
                with self._waiting_lock:
                    group, self._waiting = self._waiting, []
                self._commit(group)
        if waiting.error is not None:
            raise waiting.error

    def _commit(self, group: list[_Waiting[T]]) -> None:
        try:
            with self._uow() as uow:
                self._write(uow, [waiting.item for waiting in group])
                uow.commit()
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
        for waiting in group:
            waiting.done = True
