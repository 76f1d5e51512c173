"""Fixtures shared by every test folder.

Strategy: unit tests use no I/O. Integration and e2e tests run once per storage backend:
``backend`` is parametrised with SQLite (a file in the test's tmp dir) and PostgreSQL (a
fresh schema per test, or per module for the live servers, in the ``test`` database at
POLEX_TEST_POSTGRES_URL, dropped afterwards). PostgreSQL is required: if it is down the
tests fail rather than skip, so a green run always means both backends passed.
POLEX_TEST_BACKENDS=sqlite narrows a local run to one backend.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from polex.bootstrap import Node
from polex.provision import NodeIdentity, initialise_node
from polex.settings import NodeRole

POSTGRES_URL = os.environ.get("POLEX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = [name for name in os.environ.get("POLEX_TEST_BACKENDS", "sqlite,postgresql").split(",") if name]


@pytest.fixture(autouse=True)
def _no_polex_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests set their own settings; a developer's POLEX_* variables must not leak in.
    for key in list(os.environ):
        if key.startswith("POLEX_") and not key.startswith("POLEX_TEST_"):
            monkeypatch.delenv(key)


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


class PostgresSchema:
    """A throw-away schema in the test database, so concurrent runs never collide."""

    def __init__(self) -> None:
        self.name = f"polex_test_{secrets.token_hex(6)}"
        self._admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{self.name}"'))
        self.url = _with_search_path(POSTGRES_URL, self.name)

    def drop(self) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        self._admin.dispose()


def database_url_for(backend: str, directory: Path) -> tuple[str, PostgresSchema | None]:
    if backend == "sqlite":
        return f"sqlite:///{directory / 'polex.db'}", None
    schema = PostgresSchema()
    return schema.url, schema


def backend_params() -> list[object]:
    return [pytest.param(name, id=name) for name in BACKENDS]


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    url, schema = database_url_for(backend, tmp_path)
    yield url
    if schema is not None:
        schema.drop()


def make_node(
    data_dir: Path,
    database_url: str,
    *,
    name: str = "fra",
    country: str = "FRA",
    hub: bool = False,
    port: int = 8400,
    tls: bool = False,
    bus_url: str | None = None,
) -> Node:
    identity = NodeIdentity(name=name, country=country, role=NodeRole.HUB if hub else NodeRole.NATIONAL, port=port)
    node = initialise_node(data_dir, identity, database_url=database_url, tls=tls, bus_url=bus_url)
    # Tests match persons right away: the watch list is loaded before the node is handed out.
    assert node.screening.watchlist.wait_ready(timeout=120), node.screening.watchlist.failure
    return node


@pytest.fixture
def node(tmp_path: Path, database_url: str) -> Iterator[Node]:
    """A national node (France) on the backend under test."""
    built = make_node(tmp_path / "node", database_url)
    yield built
    built.close()


@pytest.fixture
def hub_node(tmp_path: Path, backend: str) -> Iterator[Node]:
    """The hub, with a database of its own (never the national node's)."""
    (tmp_path / "hub").mkdir()
    url, schema = database_url_for(backend, tmp_path / "hub")
    built = make_node(tmp_path / "hub", url, name="hub", country="XPO", hub=True)
    yield built
    built.close()
    if schema is not None:
        schema.drop()
