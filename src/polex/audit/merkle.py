"""RFC 9162 (Certificate Transparency v2, same tree as RFC 6962) Merkle tree algorithms.

Pure functions over leaf ranges and *perfect subtrees*, for a store that keeps the hashes
of perfect subtrees and loads what a proof needs in one batch:

* a perfect subtree is named by its ``Coordinate`` ``(level, index)``: the ``2**level``
  leaves ``[index << level, (index + 1) << level)``; ``(0, i)`` is the hash of leaf ``i``;
* every proof is a list of leaf ranges ``[a, b)`` whose Merkle Tree Hashes (MTH) form the
  proof (``*_proof_ranges``); ``needed_coordinates`` names the perfect subtrees those
  hashes are computed from, and ``range_hash`` computes an MTH from a ``lookup`` of them.

Hashes: SHA-256, leaf hash ``H(0x00 || data)``, node hash ``H(0x01 || left || right)``,
the empty tree ``H("")``. The MTH of ``n > 1`` leaves splits them at ``k``, the largest
power of two smaller than ``n``.

Every ``verify_*`` follows the RFC 9162 algorithm (2.1.3.2 for inclusion, 2.1.4.2 for
consistency; the subtree variants are the C2SP / Merkle Tree Certificates generalisation
that transparency-dev/merkle implements) and raises ``ProofError`` - a ``ValueError`` -
saying what failed, also for impossible sizes or indices: a verifier answers every bad
claim the same way. The ``leaf`` a verifier takes is a leaf *hash* (``leaf_hash(data)``).
Proof *generation* raises ``ValueError`` for impossible arguments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Final, TypeAlias

Coordinate: TypeAlias = tuple[int, int]
"""``(level, index)``: the perfect subtree over leaves ``[index << level, (index + 1) << level)``."""

Lookup: TypeAlias = Callable[[Coordinate], bytes]
"""Returns the hash of the perfect subtree at a coordinate."""

HASH_SIZE: Final = 32
_sha256 = hashlib.sha256
EMPTY_ROOT: Final[bytes] = _sha256(b"").digest()


class ProofError(ValueError):
    """A proof did not verify; the message says which check failed."""


def leaf_hash(data: bytes) -> bytes:
    """``H(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``H(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


# -- ranges and perfect subtrees ----------------------------------------------------------


def _check_range(start: int, end: int) -> None:
    if start < 0 or end < start:
        raise ValueError(f"[{start}, {end}) is not a range of leaves: need 0 <= start <= end")


def _trailing_zeros(value: int) -> int:
    """Number of trailing zero bits of ``value > 0``."""
    return (value & -value).bit_length() - 1


def _split(length: int) -> int:
    """The largest power of two smaller than ``length >= 2``: where RFC 9162 splits a tree."""
    return 1 << ((length - 1).bit_length() - 1)


def is_subtree(start: int, end: int) -> bool:
    """Whether ``[start, end)`` is a non-empty subtree in the RFC 9162 / C2SP sense: ``start``
    is a multiple of the smallest power of two ``>= end - start``. Such a range is a node of
    every tree that contains it, and its MTH is made of the perfect subtrees
    ``perfect_subtrees(start, end)``."""
    if start < 0 or end <= start:
        return False
    length = end - start
    ceiling = 1 << (length - 1).bit_length()
    return start % ceiling == 0


def perfect_subtrees(start: int, end: int) -> list[Coordinate]:
    """The maximal perfect subtrees covering ``[start, end)``, left to right (the compact range).

    For a subtree range (``is_subtree``) their sizes strictly decrease and the MTH of the
    range is their right fold, e.g. ``[0, 6) -> [(2, 0), (1, 2)]`` and
    ``MTH = node_hash(h(2, 0), h(1, 2))``.
    """
    _check_range(start, end)
    coordinates: list[Coordinate] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, _trailing_zeros(start))
        coordinates.append((level, start >> level))
        start += 1 << level
    return coordinates


def _segments(start: int, end: int) -> list[tuple[int, int, int]]:
    """How the MTH of ``[start, end)`` is built from perfect subtrees.

    The MTH of ``n`` leaves is the right fold of perfect-shaped segments of ``2**j`` leaves,
    one for each bit ``j`` of ``n``, largest first. A segment at offset ``a`` is one
    perfect subtree when ``a`` is a multiple of ``2**j``; otherwise (only for ranges that
    are not subtrees) it is the balanced tree over the ``2**(j - t)`` perfect subtrees of
    level ``t = trailing_zeros(a)`` it covers. Returns ``(j, t, first index at level t)``.
    """
    segments: list[tuple[int, int, int]] = []
    offset, remaining = start, end - start
    while remaining:
        level = remaining.bit_length() - 1
        base = level if offset == 0 else min(level, _trailing_zeros(offset))
        segments.append((level, base, offset >> base))
        offset += 1 << level
        remaining -= 1 << level
    return segments


def range_coordinates(start: int, end: int) -> list[Coordinate]:
    """The perfect subtrees ``range_hash(start, end, ...)`` looks up.

    For a subtree range (every range a proof uses) these are ``perfect_subtrees(start, end)``:
    at most one per bit of the length. Other ranges are valid too (the MTH of any list of
    leaves) but may need many more, up to one per leaf.
    """
    _check_range(start, end)
    coordinates: list[Coordinate] = []
    for level, base, first in _segments(start, end):
        coordinates.extend((base, first + i) for i in range(1 << (level - base)))
    return coordinates


def needed_coordinates(ranges: Iterable[tuple[int, int]]) -> set[Coordinate]:
    """Every perfect subtree a batch fetch must load to compute the MTHs of ``ranges``."""
    needed: set[Coordinate] = set()
    for start, end in ranges:
        needed.update(range_coordinates(start, end))
    return needed


def range_hash(start: int, end: int, lookup: Lookup) -> bytes:
    """The MTH of leaves ``[start, end)`` (RFC 9162 section 2.1.1), computed from the hashes
    of the perfect subtrees ``range_coordinates(start, end)`` that ``lookup`` returns.
    An empty range hashes to ``EMPTY_ROOT``."""
    _check_range(start, end)
    result: bytes | None = None
    for level, base, first in reversed(_segments(start, end)):
        if level == base:
            segment = lookup((level, first))
        else:
            layer = [lookup((base, first + i)) for i in range(1 << (level - base))]
            while len(layer) > 1:
                layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
            segment = layer[0]
        result = segment if result is None else node_hash(segment, result)
    return EMPTY_ROOT if result is None else result


def root_hash(size: int, lookup: Lookup) -> bytes:
    """The root hash of the tree of the first ``size`` leaves."""
    if size < 0:
        raise ValueError(f"a tree size cannot be negative, got {size}")
    return range_hash(0, size, lookup)


# -- proof generation ---------------------------------------------------------------------


def inclusion_proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form the RFC 9162 inclusion proof (PATH, section 2.1.3.1)
    of leaf ``index`` in the tree of ``size`` leaves, from the leaf's sibling up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}: need 0 <= index < size")
    ranges: list[tuple[int, int]] = []
    low, high = 0, size
    while high - low > 1:
        middle = low + _split(high - low)
        if index < middle:
            ranges.append((middle, high))
            high = middle
        else:
            ranges.append((low, middle))
            low = middle
    ranges.reverse()
    return ranges


def consistency_proof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form the RFC 9162 consistency proof (PROOF / SUBPROOF,
    section 2.1.4.1) between the trees of ``old_size`` and ``new_size`` leaves; empty when
    the sizes are equal. The old tree must not be empty (RFC 9162 defines no proof from it,
    and ``verify_consistency`` rejects one)."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}: need 0 < old_size <= new_size")
    return _subproof_ranges(0, old_size, new_size)


def _subproof_ranges(start: int, end: int, size: int) -> list[tuple[int, int]]:
    """SUBTREE_PROOF(start, end, D[size]): SUBPROOF generalised to a subtree ``[start, end)``
    (C2SP / Merkle Tree Certificates); with ``start == 0`` it is RFC 9162's PROOF(end, D[size])."""
    ranges: list[tuple[int, int]] = []
    low, high, known = 0, size, True
    while not (start == low and end == high):
        middle = low + _split(high - low)
        if end <= middle:
            ranges.append((middle, high))
            high = middle
        else:
            # Either the subtree lies right of the split, or it starts at ``low`` and
            # crosses it; then, as in SUBPROOF's m > k branch, only its right part
            # [middle, end) is followed, and its hash is no longer known to the verifier.
            if start < middle:
                start, known = middle, False
            ranges.append((low, middle))
            low = middle
    if not known:
        ranges.append((low, high))
    ranges.reverse()
    return ranges


def subtree_inclusion_proof_ranges(index: int, start: int, end: int) -> list[tuple[int, int]]:
    """The ranges of the inclusion proof of leaf ``index`` in the subtree ``[start, end)``
    (``verify_subtree_inclusion``): the inclusion proof of ``index - start`` in a tree of
    ``end - start`` leaves, shifted by ``start``."""
    if not is_subtree(start, end):
        raise ValueError(f"[{start}, {end}) is not a subtree: start must be a multiple of bit_ceil(end - start)")
    if not start <= index < end:
        raise ValueError(f"leaf {index} is not in the subtree [{start}, {end})")
    return [(start + a, start + b) for a, b in inclusion_proof_ranges(index - start, end - start)]


def subtree_consistency_proof_ranges(start: int, end: int, size: int) -> list[tuple[int, int]]:
    """The ranges of the proof that the subtree ``[start, end)`` is part of the tree of
    ``size`` leaves (``verify_subtree_consistency``); empty for an empty subtree or for
    ``[0, size)`` itself."""
    if not 0 <= start <= end <= size:
        raise ValueError(f"[{start}, {end}) is not within a tree of size {size}: need 0 <= start <= end <= size")
    if start == end:
        return []
    if not is_subtree(start, end):
        raise ValueError(f"[{start}, {end}) is not a subtree: start must be a multiple of bit_ceil(end - start)")
    return _subproof_ranges(start, end, size)


def _hashes(ranges: Iterable[tuple[int, int]], lookup: Lookup) -> list[bytes]:
    return [range_hash(start, end, lookup) for start, end in ranges]


def inclusion_proof(index: int, size: int, lookup: Lookup) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    return _hashes(inclusion_proof_ranges(index, size), lookup)


def consistency_proof(old_size: int, new_size: int, lookup: Lookup) -> list[bytes]:
    """The RFC 9162 consistency proof from the tree of ``old_size`` to that of ``new_size``."""
    return _hashes(consistency_proof_ranges(old_size, new_size), lookup)


def subtree_inclusion_proof(index: int, start: int, end: int, lookup: Lookup) -> list[bytes]:
    return _hashes(subtree_inclusion_proof_ranges(index, start, end), lookup)


def subtree_consistency_proof(start: int, end: int, size: int, lookup: Lookup) -> list[bytes]:
    return _hashes(subtree_consistency_proof_ranges(start, end, size), lookup)


# -- verification -------------------------------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not a {HASH_SIZE}-byte hash")


def _check_proof(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        _check_hash(element, f"proof element {position}")


def _root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2, steps 2 to 5 (without the root comparison)."""
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError(f"the inclusion proof is too long for leaf {index} in a tree of size {size}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1 and fn:
                # right-shift fn and sn equally until LSB(fn) is set (fn != 0 here)
                shift = _trailing_zeros(fn)
                fn >>= shift
                sn >>= shift
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"the inclusion proof is too short for leaf {index} in a tree of size {size}")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Verify that the leaf hash ``leaf`` is leaf ``index`` of the tree of ``size`` leaves with
    root hash ``root`` (RFC 9162 section 2.1.3.2). Raises ``ProofError`` if not.

    As in RFC 9162, the proof ties the leaf to ``root``; it does not by itself pin ``size``
    (other sizes can give the same path shape): take the size from the signed checkpoint
    that carries the root.
    """
    if index < 0 or size < 0:
        raise ProofError(f"leaf index {index} and tree size {size} cannot be negative")
    if index >= size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    _check_proof(proof)
    if _root_from_inclusion(leaf, index, size, proof) != root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the root of the tree of size {size}")


def verify_subtree_inclusion(
    leaf: bytes, index: int, start: int, end: int, proof: Sequence[bytes], subtree_root: bytes
) -> None:
    """Verify that the leaf hash ``leaf`` is leaf ``index`` of the subtree ``[start, end)``
    whose hash is ``subtree_root`` (C2SP; transparency-dev ``VerifySubtreeInclusion``): the
    RFC 9162 inclusion check of ``index - start`` in a tree of ``end - start`` leaves."""
    if min(index, start, end) < 0:
        raise ProofError(f"leaf {index} and subtree [{start}, {end}) cannot be negative")
    if not is_subtree(start, end):
        raise ProofError(
            f"[{start}, {end}) is not a subtree: it must be non-empty and start at a multiple of bit_ceil(end - start)"
        )
    if not start <= index < end:
        raise ProofError(f"leaf {index} is not in the subtree [{start}, {end})")
    _check_hash(leaf, "the leaf hash")
    _check_proof(proof)
    if _root_from_inclusion(leaf, index - start, end - start, proof) != subtree_root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the hash of subtree [{start}, {end})")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Verify that the tree of ``old_size`` leaves with root ``old_root`` is a prefix of the
    tree of ``new_size`` leaves with root ``new_root`` (RFC 9162 section 2.1.4.2). Raises
    ``ProofError`` if not.

    Equal sizes need an empty proof and equal roots. A proof from the empty tree is
    rejected (it would prove nothing; RFC 9162 defines none).
    """
    if old_size < 0 or new_size < 0:
        raise ProofError(f"tree sizes cannot be negative, got {old_size} and {new_size}")
    if old_size > new_size:
        raise ProofError(f"the old size {old_size} is larger than the new size {new_size}")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old_size == new_size:
        if proof:
            raise ProofError(f"the sizes are equal ({old_size}) but the proof is not empty")
        if old_root != new_root:
            raise ProofError(f"the sizes are equal ({old_size}) but the roots differ")
        return
    # RFC 9162 section 2.1.4.2
    if not proof:
        raise ProofError("the consistency proof is empty")  # step 1
    _check_hash(old_root, "the old root")
    _check_proof(proof)
    path: Sequence[bytes] = proof
    if old_size & (old_size - 1) == 0:
        path = [old_root, *proof]  # step 2
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise ProofError(f"the consistency proof from size {old_size} to {new_size} is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1 and fn:
                shift = _trailing_zeros(fn)
                fn >>= shift
                sn >>= shift
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # step 7
    if sn != 0:
        raise ProofError(f"the consistency proof from size {old_size} to {new_size} is too short")
    if fr != old_root:
        raise ProofError(f"the consistency proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise ProofError(f"the consistency proof does not lead to the new root (size {new_size})")


def verify_subtree_consistency(
    start: int, end: int, size: int, subtree_root: bytes, root: bytes, proof: Sequence[bytes]
) -> None:
    """Verify that the subtree ``[start, end)`` with hash ``subtree_root`` is part of the tree
    of ``size`` leaves with root hash ``root`` (C2SP / Merkle Tree Certificates subtree
    consistency; transparency-dev ``VerifySubtreeConsistency``). With ``start == 0`` this is
    ``verify_consistency(end, size, ...)``. Raises ``ProofError`` if not.

    An empty subtree (``start == end``) is part of every tree: it needs an empty proof and
    ``subtree_root == EMPTY_ROOT``, and ``root`` is not consulted.
    """
    if min(start, end, size) < 0:
        raise ProofError(f"subtree [{start}, {end}) and tree size {size} cannot be negative")
    if start > end:
        raise ProofError(f"[{start}, {end}) is not a range: start is after end")
    if end > size:
        raise ProofError(f"the subtree [{start}, {end}) ends beyond the tree size {size}")
    if start == end:
        if proof:
            raise ProofError(f"the subtree [{start}, {end}) is empty but the proof is not")
        if subtree_root != EMPTY_ROOT:
            raise ProofError(f"the subtree [{start}, {end}) is empty but its hash is not the empty hash")
        return
    if not is_subtree(start, end):
        raise ProofError(f"[{start}, {end}) is not a subtree: start must be a multiple of bit_ceil(end - start)")
    if start == 0 and end == size:
        if proof:
            raise ProofError(f"the subtree [0, {end}) is the whole tree but the proof is not empty")
        if subtree_root != root:
            raise ProofError(f"the subtree [0, {end}) is the whole tree but the hashes differ")
        return
    _check_hash(subtree_root, "the subtree hash")
    _check_proof(proof)
    # RFC 9162 section 2.1.4.2 with fn/sn tracking the subtree's first and last leaf, tn the tree's.
    fn, sn, tn = start, end - 1, size - 1
    if sn == tn:
        # the subtree ends the tree: climb to the node that is the subtree's root
        shift = (fn ^ sn).bit_length()
        fn, sn, tn = fn >> shift, sn >> shift, tn >> shift
    else:
        # climb while the path to the subtree's last leaf is a right child within it
        while fn != sn and sn & 1:
            fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if fn == sn:
        fr = sr = subtree_root  # the node reached is the subtree itself
        rest: Sequence[bytes] = proof
    else:
        if not proof:
            raise ProofError(f"the consistency proof for subtree [{start}, {end}) is empty")
        fr = sr = proof[0]
        rest = proof[1:]
    for c in rest:
        if tn == 0:
            raise ProofError(f"the consistency proof for subtree [{start}, {end}) in size {size} is too long")
        if sn & 1 or sn == tn:
            if fn < sn:
                fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not sn & 1 and sn:
                shift = _trailing_zeros(sn)
                fn, sn, tn = fn >> shift, sn >> shift, tn >> shift
        else:
            sr = node_hash(sr, c)
        fn, sn, tn = fn >> 1, sn >> 1, tn >> 1
    if tn != 0:
        raise ProofError(f"the consistency proof for subtree [{start}, {end}) in size {size} is too short")
    if fr != subtree_root:
        raise ProofError(f"the consistency proof does not lead to the hash of subtree [{start}, {end})")
    if sr != root:
        raise ProofError(f"the consistency proof does not lead to the root of the tree of size {size}")


# -- the append-only accumulator ----------------------------------------------------------


class MerkleAccumulator:
    """An append-only Merkle tree kept as its peaks: the hashes of the maximal perfect
    subtrees ``perfect_subtrees(0, size)``, left to right (one per set bit of ``size``).

    ``append`` takes a leaf *hash* and returns every perfect subtree it completes, so a
    store can persist them; ``peaks``/``from_peaks`` save and resume the state.
    """

    __slots__ = ("_peaks", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._peaks: list[bytes] = []

    @property
    def size(self) -> int:
        """The number of leaves appended."""
        return self._size

    def append(self, leaf: bytes) -> list[tuple[Coordinate, bytes]]:
        """Append the leaf hash ``leaf`` (``leaf_hash(data)``). Returns the perfect subtrees this
        completes with their hashes, bottom-up: ``(0, index)`` for the leaf itself, then one
        per level at which it closes a subtree."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf)} (hash the data with leaf_hash)")
        index = self._size
        peaks = self._peaks
        value = bytes(leaf)
        completed: list[tuple[Coordinate, bytes]] = [((0, index), value)]
        level = 0
        while (index >> level) & 1:
            value = node_hash(peaks.pop(), value)
            level += 1
            completed.append(((level, index >> level), value))
        peaks.append(value)
        self._size = index + 1
        return completed

    def extend(self, leaves: Iterable[bytes], *, stride: int) -> list[tuple[int, int, bytes]]:
        """Append many leaf hashes, as ``append`` one by one would, and return only the
        perfect subtrees they complete at the levels a store keeps: the positive multiples of
        ``stride``, as ``(level, index, hash)``, bottom-up and left to right.

        The integrator's loop: it hashes thousands of entries a round, and ``append``'s list
        of every completed subtree (most of them thrown away) cost as much as the hashing.
        A leaf of the wrong length raises ``ValueError`` with the leaves before it appended.
        """
        if stride < 1:
            raise ValueError(f"the stride must be at least 1, got {stride}")
        peaks = self._peaks
        index = self._size
        kept: list[tuple[int, int, bytes]] = []
        for leaf in leaves:
            if len(leaf) != HASH_SIZE:
                raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf)} (hash the data with leaf_hash)")
            value = bytes(leaf)
            level = 0
            while (index >> level) & 1:
                value = _sha256(b"\x01" + peaks.pop() + value).digest()  # node_hash, inlined
                level += 1
                if level % stride == 0:
                    kept.append((level, index >> level, value))
            peaks.append(value)
            index += 1
            self._size = index
        return kept

    def root(self) -> bytes:
        """The root hash of the tree of the leaves appended so far."""
        peaks = self._peaks
        if not peaks:
            return EMPTY_ROOT
        result = peaks[-1]
        for peak in reversed(peaks[:-1]):
            result = node_hash(peak, result)
        return result

    def peaks(self) -> list[bytes]:
        """The peak hashes, left to right; with ``size`` the whole state."""
        return list(self._peaks)

    def peak_coordinates(self) -> list[Coordinate]:
        """Where the peaks sit in the tree: ``perfect_subtrees(0, size)``."""
        return perfect_subtrees(0, self._size)

    @classmethod
    def from_peaks(cls, size: int, peaks: Sequence[bytes]) -> MerkleAccumulator:
        """Resume from a stored ``size`` and ``peaks()``."""
        if size < 0:
            raise ValueError(f"a tree size cannot be negative, got {size}")
        if len(peaks) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} peaks, got {len(peaks)}")
        for position, peak in enumerate(peaks):
            if len(peak) != HASH_SIZE:
                raise ValueError(f"peak {position} is {len(peak)} bytes, not a {HASH_SIZE}-byte hash")
        accumulator = cls()
        accumulator._size = size
        accumulator._peaks = [bytes(peak) for peak in peaks]
        return accumulator
