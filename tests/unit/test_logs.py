import json
import logging

from polex.audit.context import RequestInfo, current_request
from polex.logs import JsonFormatter


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
