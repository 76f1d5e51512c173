"""The small parts of attachments: chunk files, Content-Digest headers, byte ranges, the
manifests a message body carries."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from polex.crypto.attachment import encode_key
from polex.message.attachments import Download, RangeNotSatisfiable, parse_range, parse_sealed
from polex.message.chunks import ChunkTooLarge, ChunkWriter, chunk_path, content_digest, parse_content_digest
from polex.message.schemas import AttachmentCreate
from polex.message.uploads import _missing

SHA = hashlib.sha256(b"chunk").hexdigest()


def test_a_chunk_file_is_absent_or_whole(tmp_path: Path) -> None:
    target = chunk_path(tmp_path, 3)
    with ChunkWriter(tmp_path, limit=10) as writer:
        writer.write(b"01234")
        writer.write(b"56789")
        with pytest.raises(ChunkTooLarge):
            writer.write(b"!")
        assert not target.exists()
        writer.commit(target)
    assert target.read_bytes() == b"0123456789"
    assert writer.sha256 == hashlib.sha256(b"0123456789").hexdigest()
    with ChunkWriter(tmp_path, limit=10) as abandoned:
        abandoned.write(b"half")
    assert sorted(path.name for path in tmp_path.iterdir()) == [target.name]  # no temporary file left


def test_content_digest_headers_round_trip_and_bad_ones_are_refused() -> None:
    header = content_digest(SHA)
    assert header == f"sha-256=:{base64.b64encode(bytes.fromhex(SHA)).decode()}:"
    assert parse_content_digest(header) == SHA
    assert parse_content_digest(f"sha-512=:{'A' * 86}==:, {header}") == SHA  # other algorithms beside it
    for bad in (None, "", "sha-256=abc", "md5=:AAAA:", header.replace("sha-256", "sha-2566"), header[:-2] + ":"):
        with pytest.raises(ValueError, match=r"sha-256|missing"):
            parse_content_digest(bad)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, None),
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=50-5000", 100, (50, 99)),
        ("items=0-1", 100, None),  # a unit this node does not serve: the whole file
        ("bytes=0-1,5-6", 100, None),  # several ranges: the whole file
    ],
)
def test_byte_ranges(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"), [("bytes=100-", 100), ("bytes=5-2", 100), ("bytes=-0", 100), ("bytes=0-", 0)]
)
def test_ranges_outside_the_file_are_416(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


@given(present=st.sets(st.integers(min_value=0, max_value=40)), count=st.integers(min_value=41, max_value=60))
def test_missing_chunks_are_the_complement_as_ranges(present: set[int], count: int) -> None:
    ranges = _missing(count, sorted(present))
    listed = {index for first, last in ranges for index in range(first, last + 1)}
    assert listed == set(range(count)) - present
    assert all(first <= last for first, last in ranges)


def test_downloads_are_offered_as_attachments_whatever_the_name() -> None:
    download = Download("rapport d'enquête/2024.pdf", "application/pdf", 10, SHA, 2, 5, True, iter(()))
    headers = download.headers()
    assert headers["Content-Length"] == "4"
    assert headers["Content-Range"] == "bytes 2-5/10"
    assert headers["Content-Disposition"].startswith('attachment; filename="rapport d_enqu_te_2024.pdf"; ')
    assert "filename*=UTF-8''rapport%20d%27enqu%C3%AAte%2F2024.pdf" in headers["Content-Disposition"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert parse_content_digest(headers["Repr-Digest"]) == SHA


def manifest(**overrides: Any) -> dict[str, Any]:
    item = {
        "id": "0193a1b2-0000-7000-8000-000000000002",
        "name": "photo.jpg",
        "media_type": "image/jpeg",
        "size": 150,
        "sha256": SHA,
        "chunk_size": 64,
        "chunk_count": 3,
        "key": encode_key(bytes(32)),
        "chunks": [SHA, SHA, SHA],
    }
    item.update(overrides)
    return item


def test_manifests_must_be_consistent() -> None:
    assert parse_sealed([manifest()])[0].chunk_count == 3
    assert parse_sealed([]) == []
    for bad in (
        manifest(chunk_count=2, chunks=[SHA, SHA]),
        manifest(chunks=[SHA, SHA]),
        manifest(key="short"),
        manifest(sha256="ABC"),
        manifest(name="../etc/passwd"),
        manifest(extra="no"),
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - pydantic's and ours
            parse_sealed([bad])
    with pytest.raises(ValueError, match="repeated"):
        parse_sealed([manifest(), manifest()])
    with pytest.raises(ValueError, match="at most"):
        parse_sealed([manifest()] * 21)


def test_an_upload_names_a_file_not_a_path() -> None:
    good = AttachmentCreate(name="  scan 1.tiff ", media_type="image/tiff", size=1, sha256=SHA)
    assert good.name == "scan 1.tiff"
    for name in ("a/b", "a\\b", "", "x" * 256, "bell\x07"):
        with pytest.raises(ValidationError):
            AttachmentCreate(name=name, size=1, sha256=SHA)
    with pytest.raises(ValidationError):
        AttachmentCreate(name="a", media_type="text", size=1, sha256=SHA)
    with pytest.raises(ValidationError):
        AttachmentCreate(name="a", size=-1, sha256=SHA)
