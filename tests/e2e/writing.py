"""Whether a node does a long piece of work (sealing an envelope, signing a checkpoint)
while it holds a writing transaction: on SQLite that transaction holds the store's writer's
turn from its first statement, and every border check's audit commit waits for it."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from types import FrameType, TracebackType
from typing import Any, TypeVar

from sqlalchemy import Engine, event

from polex.storage.engine import READ_ONLY_OPTION

T = TypeVar("T")


class WorkWhileWriting:
    """Calls of wrapped functions made from polex functions named ``callers``, each noted
    under its caller's name with whether a writing transaction of ``engine`` was open on the
    calling thread (``calls``). Listens to the engine's transactions while entered."""

    def __init__(self, engine: Engine, callers: Iterable[str]) -> None:
        self._engine = engine
        self._writing: dict[int, int] = {}  # thread -> writing transactions open on it
        self.calls: dict[str, list[bool]] = {name: [] for name in callers}

    def wrap(self, work: Callable[..., T]) -> Callable[..., T]:
        def watched(*args: Any, **kwargs: Any) -> T:
            caller: FrameType | None = sys._getframe(1)
            while caller is not None and caller.f_code.co_name not in self.calls:
                caller = caller.f_back
            if caller is not None and caller.f_globals.get("__name__", "").startswith("polex."):
                self.calls[caller.f_code.co_name].append(bool(self._writing.get(threading.get_ident())))
            return work(*args, **kwargs)

        return watched

    def _began(self, connection: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY_OPTION):
            self._writing[threading.get_ident()] = self._writing.get(threading.get_ident(), 0) + 1

    def _ended(self, connection: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY_OPTION):
            self._writing[threading.get_ident()] = max(0, self._writing.get(threading.get_ident(), 0) - 1)

    def _listeners(self) -> tuple[tuple[str, Callable[[Any], None]], ...]:
        return (("begin", self._began), ("commit", self._ended), ("rollback", self._ended))

    def __enter__(self) -> WorkWhileWriting:
        for name, listener in self._listeners():
            event.listen(self._engine, name, listener)
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _error: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        for name, listener in self._listeners():
            event.remove(self._engine, name, listener)
