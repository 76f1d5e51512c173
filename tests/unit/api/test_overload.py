"""An overloaded store is a 503 the client may retry, never a 500."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from polex.api.problems import install_problem_handlers


def answer_to(error: Exception) -> httpx.Response:
    """What an app with polex's problem handlers answers when a route raises ``error``."""
    app = FastAPI()
    install_problem_handlers(app, CollectorRegistry())

    @app.get("/boom")
    def boom() -> None:
        raise error

    async def ask() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            return await client.get("/boom")

    return asyncio.run(ask())


@pytest.mark.parametrize(
    "error",
    [
        SQLAlchemyTimeoutError("QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00"),
        OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")),
        OperationalError("UPDATE x", {}, Exception("canceling statement due to lock timeout")),
    ],
    ids=["pool-exhausted", "sqlite-locked", "postgres-lock-timeout"],
)
def test_a_store_that_stays_busy_answers_503_with_retry_after(error: Exception) -> None:
    response = answer_to(error)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    assert "overloaded" in response.json()["detail"]


def test_other_store_errors_stay_internal_errors_that_say_nothing() -> None:
    error = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: secrets"))
    response = answer_to(error)
    assert response.status_code == 500
    assert "secrets" not in response.text
