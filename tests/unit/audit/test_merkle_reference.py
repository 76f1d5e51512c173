"""A plain, recursive reading of RFC 9162 section 2.1 (and of the C2SP / Merkle Tree
Certificates subtree proofs): the yardstick the tests hold ``polex.audit.merkle`` to.

It shares no code with the module: its own hashing, its own recursion over lists, proofs
as leaf ranges. The tests here pin the yardstick itself to published values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

DATA = Path(__file__).parents[3].parent / "shared" / "data" / "merkle-transparency-dev"
Range = tuple[int, int]


def h_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def h_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes* (RFC 9162 2.1.1)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return h_node(mth(leaves[:k]), mth(leaves[k:]))


def path_ranges(m: int, lo: int, hi: int) -> list[Range]:
    """PATH(m, D[lo:hi]) as absolute leaf ranges (RFC 9162 2.1.3.1)."""
    if hi - lo == 1:
        return []
    k = split(hi - lo)
    if m < k:
        return [*path_ranges(m, lo, lo + k), (lo + k, hi)]
    return [*path_ranges(m - k, lo + k, hi), (lo, lo + k)]


def subproof_ranges(m: int, lo: int, hi: int, b: bool) -> list[Range]:
    """SUBPROOF(m, D[lo:hi], b) as absolute leaf ranges (RFC 9162 2.1.4.1)."""
    if m == hi - lo:
        return [] if b else [(lo, hi)]
    k = split(hi - lo)
    if m <= k:
        return [*subproof_ranges(m, lo, lo + k, b), (lo + k, hi)]
    return [*subproof_ranges(m - k, lo + k, hi, False), (lo, lo + k)]


def consistency_ranges(m: int, n: int) -> list[Range]:
    return subproof_ranges(m, 0, n, True)


def subtree_subproof_ranges(start: int, end: int, lo: int, hi: int, b: bool) -> list[Range]:
    """SUBTREE_SUBPROOF(start, end, D[lo:hi], b), indices relative to lo (Merkle Tree
    Certificates draft, subtree consistency proofs)."""
    n = hi - lo
    if start == 0 and end == n:
        return [] if b else [(lo, hi)]
    k = split(n)
    if end <= k:
        return [*subtree_subproof_ranges(start, end, lo, lo + k, b), (lo + k, hi)]
    if start >= k:
        return [*subtree_subproof_ranges(start - k, end - k, lo + k, hi, b), (lo, lo + k)]
    assert start == 0  # a valid subtree that straddles the split starts the tree
    return [*subproof_ranges(end - k, lo + k, hi, False), (lo, lo + k)]


def subtree_consistency_ranges(start: int, end: int, n: int) -> list[Range]:
    return subtree_subproof_ranges(start, end, 0, n, True)


def valid_subtree(start: int, end: int) -> bool:
    if not 0 <= start < end:
        return False
    ceiling = 1
    while ceiling < end - start:
        ceiling *= 2
    return start % ceiling == 0


def perfect_nodes(leaves: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every perfect subtree of the tree over these leaf hashes, by (level, index)."""
    nodes = {(0, i): leaf for i, leaf in enumerate(leaves)}
    layer = list(leaves)
    level = 0
    while len(layer) > 1:
        layer = [h_node(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
        level += 1
        nodes.update({(level, i): value for i, value in enumerate(layer)})
    return nodes


class RecordingLookup:
    """A lookup over the perfect subtrees of a tree that remembers what it was asked; asking
    for anything that is not a complete perfect subtree of the tree raises KeyError."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.nodes = perfect_nodes(leaves)
        self.asked: set[tuple[int, int]] = set()

    def __call__(self, coordinate: tuple[int, int]) -> bytes:
        self.asked.add(coordinate)
        return self.nodes[coordinate]


def rfc6962_vectors() -> tuple[list[bytes], dict[int, bytes]]:
    document = json.loads((DATA / "rfc6962_root_vectors.json").read_text())
    inputs = [bytes.fromhex(value) for value in document["leaf_inputs_hex"]]
    roots = {int(size): bytes.fromhex(value) for size, value in document["root_hash_by_tree_size_hex"].items()}
    return inputs, roots


needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"the transparency-dev test data is not at {DATA}")


@needs_data
def test_the_reference_mth_gives_the_rfc6962_roots() -> None:
    inputs, roots = rfc6962_vectors()
    assert sorted(roots) == list(range(len(inputs) + 1))
    for size, root in roots.items():
        assert mth([h_leaf(data) for data in inputs[:size]]) == root


def test_the_reference_ranges_are_those_of_the_rfc9162_example() -> None:
    # RFC 9162 section 2.1.5: the 7-leaf tree a..f, d6 / g h i j / k l.
    node = dict(zip("abcdef", ((i, i + 1) for i in range(6)), strict=False))
    node |= {"g": (0, 2), "h": (2, 4), "i": (4, 6), "j": (6, 7), "k": (0, 4), "l": (4, 7)}

    def named(names: str) -> list[Range]:
        return [node[name] for name in names]

    assert path_ranges(0, 0, 7) == named("bhl")
    assert path_ranges(3, 0, 7) == named("cgl")
    assert path_ranges(4, 0, 7) == named("fjk")
    assert path_ranges(6, 0, 7) == named("ik")
    assert consistency_ranges(3, 7) == named("cdgl")
    assert consistency_ranges(4, 7) == named("l")
    assert consistency_ranges(6, 7) == named("ijk")


def test_the_reference_subtree_proofs_are_those_of_the_merkle_tree_certificates_draft() -> None:
    # Figures 7 and 8: subtrees [4, 8) and [8, 13) of a tree of 14 entries.
    assert subtree_consistency_ranges(4, 8, 14) == [(0, 4), (8, 14)]
    assert subtree_consistency_ranges(8, 13, 14) == [(12, 13), (13, 14), (8, 12), (0, 8)]
    for n in range(1, 20):
        for m in range(1, n + 1):
            assert subtree_consistency_ranges(0, m, n) == consistency_ranges(m, n)


def test_the_reference_perfect_nodes_are_the_mths_of_their_ranges() -> None:
    leaves = [h_leaf(bytes([i])) for i in range(11)]
    nodes = perfect_nodes(leaves)
    assert len(nodes) == 11 + 5 + 2 + 1
    for (level, index), value in nodes.items():
        assert value == mth(leaves[index << level : (index + 1) << level])
