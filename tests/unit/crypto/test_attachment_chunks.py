"""Attachment chunks (STREAM over AES-256-GCM): round trips, and refusal of every alteration:
a changed byte of ciphertext or tag, a chunk moved, reordered, dropped, added, or taken from
another attachment, message or key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polex.crypto.attachment import (
    KEY_BYTES,
    TAG_BYTES,
    AttachmentCipher,
    ChunkRefused,
    chunk_count,
    chunk_length,
    decode_key,
    encode_key,
    new_content_key,
)

MESSAGE = "0193a1b2-0000-7000-8000-000000000001"
ATTACHMENT = "0193a1b2-0000-7000-8000-000000000002"
KEY = bytes(range(KEY_BYTES))


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)] or [b""]


def sealed_chunks(data: bytes, size: int, cipher: AttachmentCipher | None = None) -> list[bytes]:
    pieces = chunks_of(data, size)
    cipher = cipher or AttachmentCipher(KEY, MESSAGE, ATTACHMENT, len(pieces))
    return [cipher.seal(index, piece) for index, piece in enumerate(pieces)]


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=2000), size=st.integers(min_value=1, max_value=300))
def test_chunks_open_to_what_was_sealed(data: bytes, size: int) -> None:
    count = chunk_count(len(data), size)
    cipher = AttachmentCipher(KEY, MESSAGE, ATTACHMENT, count)
    sealed = sealed_chunks(data, size, cipher)
    assert len(sealed) == count
    for index, piece in enumerate(sealed):
        assert len(piece) == chunk_length(len(data), size, index) + TAG_BYTES
    assert b"".join(cipher.open(index, piece) for index, piece in enumerate(sealed)) == data


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=600),
    size=st.integers(min_value=1, max_value=200),
    choice=st.data(),
)
def test_any_changed_bit_of_ciphertext_or_tag_is_refused(data: bytes, size: int, choice: st.DataObject) -> None:
    sealed = sealed_chunks(data, size)
    cipher = AttachmentCipher(KEY, MESSAGE, ATTACHMENT, len(sealed))
    index = choice.draw(st.integers(min_value=0, max_value=len(sealed) - 1), label="chunk")
    # Positions before len - TAG_BYTES are ciphertext, the last TAG_BYTES the tag: both are drawn.
    position = choice.draw(st.integers(min_value=0, max_value=len(sealed[index]) - 1), label="byte")
    bit = choice.draw(st.integers(min_value=0, max_value=7), label="bit")
    altered = bytearray(sealed[index])
    altered[position] ^= 1 << bit
    with pytest.raises(ChunkRefused) as refused:
        cipher.open(index, bytes(altered))
    assert refused.value.index == index


def test_a_chunk_moved_or_reordered_is_refused() -> None:
    data = bytes(range(256)) * 4
    sealed = sealed_chunks(data, 100)
    cipher = AttachmentCipher(KEY, MESSAGE, ATTACHMENT, len(sealed))
    for index in range(len(sealed)):
        for other in range(len(sealed)):
            if other != index:
                with pytest.raises(ChunkRefused):
                    cipher.open(other, sealed[index])  # chunk `index` presented at position `other`
    swapped = [sealed[1], sealed[0], *sealed[2:]]
    with pytest.raises(ChunkRefused):
        cipher.open(0, swapped[0])


def test_an_attachment_cut_short_or_extended_is_refused() -> None:
    data = b"x" * 250
    sealed = sealed_chunks(data, 100)  # three chunks, the last sealed as final
    assert len(sealed) == 3
    # Told there are two chunks, a reader opens the second as the final one: refused.
    shorter = AttachmentCipher(KEY, MESSAGE, ATTACHMENT, 2)
    with pytest.raises(ChunkRefused):
        shorter.open(0, sealed[0])  # the count is in every chunk's AAD
    with pytest.raises(ChunkRefused):
        shorter.open(1, sealed[1])
    # Told there are four, the real last chunk (final flag) does not open as a middle one.
    longer = AttachmentCipher(KEY, MESSAGE, ATTACHMENT, 4)
    with pytest.raises(ChunkRefused):
        longer.open(2, sealed[2])


@pytest.mark.parametrize(
    "other",
    [
        {"key": bytes(KEY_BYTES)},
        {"message_id": "0193a1b2-0000-7000-8000-000000000009"},
        {"attachment_id": "0193a1b2-0000-7000-8000-000000000009"},
    ],
    ids=["key", "message", "attachment"],
)
def test_a_chunk_of_another_key_message_or_attachment_is_refused(other: dict[str, object]) -> None:
    sealed = sealed_chunks(b"evidence" * 40, 64)
    fields: dict[str, object] = {
        "key": KEY,
        "message_id": MESSAGE,
        "attachment_id": ATTACHMENT,
        "chunk_count": len(sealed),
        **other,
    }
    cipher = AttachmentCipher(**fields)  # type: ignore[arg-type]
    for index, piece in enumerate(sealed):
        with pytest.raises(ChunkRefused):
            cipher.open(index, piece)


def test_an_empty_attachment_is_one_empty_chunk_and_short_input_is_refused() -> None:
    assert chunk_count(0, 64) == 1
    assert chunk_length(0, 64, 0) == 0
    cipher = AttachmentCipher(KEY, MESSAGE, ATTACHMENT, 1)
    sealed = cipher.seal(0, b"")
    assert len(sealed) == TAG_BYTES
    assert cipher.open(0, sealed) == b""
    for short in (b"", sealed[:-1]):
        with pytest.raises(ChunkRefused):
            cipher.open(0, short)


def test_positions_outside_the_attachment_are_a_callers_error() -> None:
    cipher = AttachmentCipher(KEY, MESSAGE, ATTACHMENT, 2)
    for index in (-1, 2):
        with pytest.raises(ValueError, match="outside"):
            cipher.seal(index, b"x")
    with pytest.raises(ValueError, match="outside"):
        chunk_length(10, 5, 2)
    with pytest.raises(ValueError, match="32 bytes"):
        AttachmentCipher(b"short", MESSAGE, ATTACHMENT, 1)
    with pytest.raises(ValueError, match="chunks"):
        AttachmentCipher(KEY, MESSAGE, ATTACHMENT, 0)


@given(size=st.integers(min_value=0, max_value=10**12), chunk=st.integers(min_value=1, max_value=10**9))
def test_chunk_lengths_add_up_to_the_size(size: int, chunk: int) -> None:
    count = chunk_count(size, chunk)
    assert count >= 1
    assert chunk_length(size, chunk, count - 1) + (count - 1) * chunk == size
    assert 0 <= chunk_length(size, chunk, count - 1) <= chunk
    assert size == 0 or chunk_length(size, chunk, count - 1) > 0


def test_content_keys_are_fresh_and_travel_as_canonical_base64url() -> None:
    keys = {new_content_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert len(key) == KEY_BYTES
        assert decode_key(encode_key(key)) == key
    text = encode_key(bytes([0xFB]) * KEY_BYTES)  # "-" in base64url, "+" in base64
    assert "-" in text
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 256 bits in 43 characters: the last one's two low bits must be zero in the canonical form.
    non_canonical = text[:-1] + alphabet[alphabet.index(text[-1]) | 1]
    for bad in (text[:-1], text + "A", text.replace("-", "+"), "=" + text[1:], non_canonical, text + "="):
        with pytest.raises(ValueError, match=r"base64url|32 bytes"):
            decode_key(bad)
