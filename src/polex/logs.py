"""Structured JSON logs: one object per line, with the request id, and nothing else of the
request. Paths, queries and bodies carry names and numbers, so no logger here writes them;
the access log writes route templates only (see ``polex.api.middleware``)."""

from __future__ import annotations

import datetime as dt
import logging
import sys

import orjson

from polex.audit.context import current_request

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
# uvicorn's color_message repeats the message with terminal escapes.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request.get().request_id
        if request_id:
            document["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode()


def configure_logging(level: str, *, json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn", "uvicorn.error"):
        logging.getLogger(noisy).handlers[:] = []  # let them reach the root handler, in JSON
    # httpx logs every request it makes at INFO, with its full URL: a line per node-to-node
    # call (hundreds a second on a busy node) that the called node's access log already
    # records, by route. Kept for debugging.
    if root.level > logging.DEBUG:
        logging.getLogger("httpx").setLevel(logging.WARNING)
