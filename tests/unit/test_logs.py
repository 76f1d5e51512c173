import json
import logging
from collections.abc import Iterator

import pytest

from polex.audit.context import RequestInfo, current_request
from polex.logs import JsonFormatter, configure_logging


def test_log_lines_are_json_with_the_request_id_and_extras() -> None:
    token = current_request.set(RequestInfo(request_id="req-42"))
    try:
        record = logging.LogRecord(
            "polex.access", logging.INFO, __file__, 1, "GET %s 200", ("/api/v1/persons/{record_id}",), None
        )
        record.duration_ms = 1.5
        line = JsonFormatter().format(record)
    finally:
        current_request.reset(token)
    document = json.loads(line)
    assert document["message"] == "GET /api/v1/persons/{record_id} 200"
    assert document["request_id"] == "req-42"
    assert document["duration_ms"] == 1.5
    assert document["level"] == "info"


def test_uvicorn_colour_codes_are_not_logged() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started server process [%d]", (42,), None)
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    assert "color_message" not in json.loads(JsonFormatter().format(record))


def test_the_access_log_names_the_route_template_and_request_but_never_the_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    import httpx
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    from polex.api.middleware import RequestContext

    app = FastAPI()

    @app.get("/api/v1/persons/{record_id}")
    def read(record_id: str) -> dict[str, str]:
        return {"id": record_id}

    app.add_middleware(RequestContext, registry=CollectorRegistry())

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            return await client.get("/api/v1/persons/abc?name=petrov", headers={"X-Request-ID": "req-7"})

    with caplog.at_level(logging.INFO, logger="polex.access"):
        response = asyncio.run(call())
    assert response.headers["x-request-id"] == "req-7"
    (record,) = [record for record in caplog.records if record.name == "polex.access"]
    line = json.loads(JsonFormatter().format(record))
    assert (line["request_id"], line["route"], line["status"]) == ("req-7", "/api/v1/persons/{record_id}", 200)
    assert "petrov" not in JsonFormatter().format(record)
    assert "abc" not in JsonFormatter().format(record)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, httpx_level = root.handlers[:], root.level, httpx_logger.level
    yield
    root.handlers[:], root.level = handlers, level
    httpx_logger.setLevel(httpx_level)


@pytest.mark.usefixtures("restored_logging")
def test_node_to_node_requests_are_not_logged_one_by_one() -> None:
    configure_logging("info", json_lines=True)
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
    assert logging.getLogger("polex.access").isEnabledFor(logging.INFO)


@pytest.mark.usefixtures("restored_logging")
def test_at_debug_level_they_are() -> None:
    logging.getLogger("httpx").setLevel(logging.NOTSET)
    configure_logging("debug", json_lines=False)
    assert logging.getLogger("httpx").isEnabledFor(logging.INFO)
