from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from polex.api.dependencies import NodeDep, PrincipalDep
from polex.domain.base import RecordId, RecordKind, new_id
from polex.domain.records import RECORD_TYPES
from polex.domain.roles import Permission
from polex.errors import FieldError, ValidationFailed
from polex.formats.csv_mapping import MappingError, load_mapping
from polex.formats.registry import available_formats, get_format
from polex.ingest.schemas import (
    FormatList,
    FormatRead,
    ImportRead,
    ImportRunList,
    ImportRunRead,
    QuarantineDiscard,
    QuarantinedRead,
    QuarantineList,
    QuarantineRelease,
    QuarantineReleased,
)
from polex.storage.tables import ImportRow

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])
formats_router = APIRouter(prefix="/api/v1/formats", tags=["imports"])


@formats_router.get("", response_model=FormatList, summary="The formats this node reads and writes")
def formats(principal: PrincipalDep) -> FormatList:
    principal.require(Permission.NODE_READ)
    return FormatList(
        items=[
            FormatRead(
                name=info.name,
                description=info.description,
                media_types=list(info.media_types),
                writable=info.writable,
                reads_into=info.reads_into,
            )
            for info in available_formats()
        ]
    )


@router.post(
    "",
    response_model=ImportRead,
    status_code=status.HTTP_201_CREATED,
    summary="Import a file",
    responses={
        200: {"model": ImportRead, "description": "With ?dry_run=true: what the import would do; nothing written"},
        202: {"model": ImportRunRead, "description": "With Prefer: respond-async: the import runs on"},
    },
)
async def import_file(
    principal: PrincipalDep,
    node: NodeDep,
    file: Annotated[UploadFile, File(description="The file, in the format named")],
    format_name: Annotated[str, Form(alias="format", max_length=64, description="A format from /api/v1/formats")],
    mapping: Annotated[str | None, Form(max_length=200_000, description="YAML mapping (csv-mapping)")] = None,
    option: Annotated[list[str] | None, Query(description="Adapter option KEY=VALUE, e.g. status=lost")] = None,
    prefer: Annotated[
        str | None, Header(max_length=200, description="respond-async (RFC 7240): import in the background")
    ] = None,
    dry_run: Annotated[
        bool, Query(description="Check everything, write nothing: the answer says what the import would do")
    ] = False,
) -> ImportRead | JSONResponse:
    """Records for the caller's agency; what cannot be imported goes to quarantine. Large
    files: send ``Prefer: respond-async`` and follow the import at the Location given.

    A format that reads notice requests (``reads_into: notice_requests``, such as
    ``interpol-notices``) makes each a notice draft of the caller's agency instead, through
    the notice lifecycle: only for an NCB operator (403 before the file is read otherwise),
    and the whole import is refused when the node's notice service takes no requests; a
    notice the agency has drafted already is quarantined as a duplicate.

    ``?dry_run=true`` reads, maps, validates and checks every item (owner, duplicates in the
    store and in the file) and writes nothing, not even the import: it is answered when done,
    whatever ``Prefer`` asks, with what would be imported and the first 1,000 items that
    would be quarantined."""
    principal.require(Permission.RECORD_WRITE)
    options: dict[str, object] = {}
    for item in option or []:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ValidationFailed("bad option", errors=[FieldError("option", f"{item!r} is not KEY=VALUE")])
        options[key] = value
    try:
        if mapping is not None:
            options["mapping"] = load_mapping(mapping)
        adapter = get_format(format_name, **options)
    except MappingError as error:
        raise ValidationFailed("the mapping is not valid", errors=error.errors) from error
    except (TypeError, ValueError) as error:
        raise ValidationFailed(
            "the format does not take those options", errors=[FieldError("option", str(error))]
        ) from error
    node.imports.authorise(adapter, principal, notices=node.notices)
    if not dry_run and prefer is not None and "respond-async" in prefer.lower():
        spooled = await _spool(file, node.settings.data_dir / "imports")
        import_id = await run_in_threadpool(
            node.imports.start,
            adapter,
            spooled,
            source=file.filename or "upload",
            owner=principal,
            notices=node.notices,
        )
        run = node.imports.run_of(import_id, principal)
        headers = {"Location": f"/api/v1/imports/{import_id}", "Preference-Applied": "respond-async"}
        return JSONResponse(_run_read(run).model_dump(mode="json"), status_code=202, headers=headers)
    try:
        summary = await run_in_threadpool(
            node.imports.run,
            adapter,
            file.file,
            source=file.filename or "upload",
            owner=principal,
            notices=node.notices,
            dry_run=dry_run,
        )
    except MappingError as error:
        raise ValidationFailed("the file does not fit the mapping", errors=error.errors) from error
    read = ImportRead(**summary.__dict__)
    if dry_run:  # nothing was created
        return JSONResponse(read.model_dump(mode="json"), status_code=200)
    return read


async def _spool(upload: UploadFile, folder: Path) -> Path:
    """Copy the upload to the node's data folder in chunks: the request's temporary file goes
    away with the request, the background import needs the file after it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{new_id()}.upload"
    with path.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            out.write(chunk)
    return path


def _run_read(row: ImportRow) -> ImportRunRead:
    return ImportRunRead(
        id=row.id,
        format=row.format,
        source=row.source,
        status=row.status,
        error=row.error,
        started_at=row.started_at,
        finished_at=row.finished_at,
        accepted=row.accepted,
        rejected=row.rejected,
    )


@router.get("/{import_id}", response_model=ImportRunRead, summary="An import: its status and counts so far")
def read_import(import_id: RecordId, principal: PrincipalDep, node: NodeDep) -> ImportRunRead:
    return _run_read(node.imports.run_of(import_id, principal))


@router.get("/{import_id}/quarantine", response_model=QuarantineList, summary="What an import could not take")
def quarantine(import_id: RecordId, principal: PrincipalDep, node: NodeDep) -> QuarantineList:
    principal.require(Permission.RECORD_WRITE)
    rows = node.imports.quarantined_for(import_id, principal)
    return QuarantineList(
        import_id=import_id,
        items=[
            QuarantinedRead(
                id=row.id,
                status=row.status,
                resolution=row.resolution,
                resolved_at=row.resolved_at,
                location=row.location,
                field=row.field,
                reason=row.reason,
                errors=row.errors,
                raw=row.raw,
                at=row.at,
            )
            for row in rows
        ],
    )


@router.get("", response_model=ImportRunList, summary="Your agency's imports, latest first")
def list_imports(
    principal: PrincipalDep, node: NodeDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> ImportRunList:
    return ImportRunList(items=[_run_read(row) for row in node.imports.imports_of(principal, limit=limit)])


@router.post(
    "/{import_id}/quarantine/{item_id}/release",
    response_model=QuarantineReleased,
    status_code=status.HTTP_201_CREATED,
    summary="Store a corrected record for a quarantined item",
)
def release(
    import_id: RecordId, item_id: RecordId, body: QuarantineRelease, principal: PrincipalDep, node: NodeDep
) -> QuarantineReleased:
    principal.require(Permission.RECORD_WRITE)
    content_type = RECORD_TYPES[RecordKind(body.kind)].content
    try:
        record = content_type.model_validate(body.record)
    except ValidationError as error:
        raise RequestValidationError(
            [{**item, "loc": ("body", "record", *item["loc"])} for item in error.errors()]
        ) from None
    record_id = node.imports.release(import_id, item_id, record, body.kind, body.note, principal)
    return QuarantineReleased(item_id=item_id, record_id=record_id, kind=body.kind)


@router.post(
    "/{import_id}/quarantine/{item_id}/discard",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Close a quarantined item without a record, with the reason",
)
def discard(
    import_id: RecordId, item_id: RecordId, body: QuarantineDiscard, principal: PrincipalDep, node: NodeDep
) -> None:
    node.imports.discard(import_id, item_id, body.reason, principal)
