"""Opaque keyset-pagination cursors: the last id seen, bound to the record kind."""

from __future__ import annotations

import base64
import binascii
import json
import re

from polex.errors import FieldError, InvalidCursor

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def encode_cursor(kind: str, last_id: str) -> str:
    payload = json.dumps({"v": 1, "k": kind, "after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def decode_cursor(kind: str, cursor: str) -> str:
    """The id to continue after; InvalidCursor naming the ``cursor`` parameter otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as error:
        raise _invalid("is not a cursor this API returned") from error
    if not isinstance(payload, dict) or payload.get("v") != 1:
        raise _invalid("is not a cursor this API returned")
    if payload.get("k") != kind:
        raise _invalid(f"belongs to another list ({payload.get('k')!r}), not {kind!r}")
    after = payload.get("after")
    if not isinstance(after, str) or not _ID.match(after):
        raise _invalid("is damaged")
    return after


def _invalid(reason: str) -> InvalidCursor:
    return InvalidCursor(f"the pagination cursor {reason}", errors=[FieldError("cursor", reason)])
