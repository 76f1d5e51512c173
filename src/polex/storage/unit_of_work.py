"""The unit of work: one transaction per use case. Repositories never commit; this does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from polex.storage.engine import READ_ONLY_OPTION


class UnitOfWork:
    """``with uow: ...; uow.commit()``. Leaving the block without commit rolls back."""

    def __init__(self, session_factory: Callable[[], Session]) -> None:
        self._session_factory = session_factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work is used outside its 'with' block")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._session = self._session_factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            # Detach what was loaded before rolling back, so rows a use case returns keep
            # their values instead of being expired by the rollback.
            self.session.expunge_all()
            self.session.rollback()
        finally:
            self.session.close()
            self._session = None

    def commit(self) -> None:
        self.session.commit()

    def flush(self) -> None:
        self.session.flush()


class UnitOfWorkFactory:
    """``uow()`` for a use case that writes, ``uow(read_only=True)`` for one that only reads.

    Read-only units take no write lock on SQLite and run as READ ONLY transactions on
    PostgreSQL, so a bug that writes in a read path fails instead of writing.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writing = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
        options = {READ_ONLY_OPTION: True}
        if engine.dialect.name == "postgresql":
            options["postgresql_readonly"] = True
        self._reading = sessionmaker(bind=engine.execution_options(**options), expire_on_commit=False, autoflush=False)

    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self._reading if read_only else self._writing)

    @contextmanager
    def committing(self) -> Iterator[UnitOfWork]:
        """A writing unit of work committed when the block ends without an exception."""
        with self() as uow:
            yield uow
            uow.commit()

    def connection(self) -> AbstractContextManager[Connection]:
        """A writing transaction on a bare connection, committed when the block ends without
        an exception: for writers of Core statements alone (the audit trail's appends), which
        then skip the ORM session's own work, a third of a small transaction's cost."""
        return self._engine.begin()


def unit_of_work_factory(engine: Engine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(engine)
