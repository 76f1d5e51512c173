"""``GET /api/v1/exports``: records in an outside format, policy-checked for the requester and
streamed.

The records are read, decided by the policy and audited a batch at a time
(``RecordService.export_stream``); the format's writer runs in a thread of its own and the
response takes what it writes as the client reads (``polex.api.piped``), so an export of
millions of records holds one batch and about a megabyte of output in memory. Everything
that can be refused is refused before the response starts: the permission, the record
kind, the format (unknown, or one that only reads), the purpose.
"""

from __future__ import annotations

import io
import itertools
from typing import IO, Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from polex.api.dependencies import NodeDep, PrincipalDep, PurposeDep
from polex.api.piped import piped
from polex.domain.base import RecordId, RecordKind
from polex.domain.roles import Permission
from polex.errors import FieldError, ValidationFailed
from polex.formats.registry import WritableFormatAdapter, available_formats, get_format

router = APIRouter(prefix="/api/v1/exports", tags=["imports"])


@router.get(
    "",
    summary="Export records in an outside format, streamed (declare your purpose in X-Polex-Purpose)",
    response_class=StreamingResponse,
    responses={200: {"description": "The records in the format asked for, streamed as they are written"}},
)
def export_records(
    principal: PrincipalDep,
    node: NodeDep,
    purpose: PurposeDep,
    kind: Annotated[RecordKind, Query(description="The kind of records to export")],
    format_name: Annotated[str, Query(alias="format", max_length=64, description="A writable format")],
    agency_id: Annotated[RecordId | None, Query(description="Only this agency's records")] = None,
) -> StreamingResponse:
    """The records of ``kind`` the policy lets the caller have in full or redacted; hit-only
    ones are withheld. Each batch is audited, naming its records, before it leaves. A writer
    that fails part-way cuts the connection: the body is then visibly incomplete."""
    principal.require(Permission.RECORD_READ)
    records = node.records.get(kind.value)
    if records is None:
        raise ValidationFailed("this node keeps no such records", errors=[FieldError("kind", "not kept here")])
    adapter = get_format(format_name)  # an unknown one is a 404, as for imports
    if not isinstance(adapter, WritableFormatAdapter):
        raise ValidationFailed(
            "the format cannot be written", errors=[FieldError("format", f"{format_name} is read, not written")]
        )
    stream = records.export_stream(principal, purpose=purpose, owner_agency_id=agency_id, format_name=format_name)
    exported = iter(stream)
    first = next(exported, None)
    if first is not None:
        # A writer refuses what it cannot write (NIEM writes persons and vehicles) at its first
        # record: tried here, that is a 422 before the response starts, not a cut connection.
        try:
            adapter.write([first], io.BytesIO())
        except (TypeError, ValueError) as error:
            raise ValidationFailed(
                f"the {format_name} format cannot write these records", errors=[FieldError("format", str(error))]
            ) from None

    def write(out: IO[bytes]) -> None:
        adapter.write(itertools.chain([first] if first is not None else [], exported), out)

    [info] = [info for info in available_formats() if info.name == format_name]
    media_type = info.media_types[0] if info.media_types else "application/octet-stream"
    return StreamingResponse(
        piped(write, name=f"export:{format_name}"),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{kind.value}-{format_name}-export"'},
    )
