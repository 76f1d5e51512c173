"""polex.audit.merkle: its ranges and hashes against the recursive RFC 9162 reference,
exhaustively on small trees and by property on random ones; the accumulator; and that
verification fails on every single-bit change it can detect."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from polex.audit import merkle
from tests.unit.audit.test_merkle_reference import (
    RecordingLookup,
    consistency_ranges,
    h_leaf,
    mth,
    path_ranges,
    perfect_nodes,
    subtree_consistency_ranges,
    valid_subtree,
)

EXHAUSTIVE = 40
LEAVES = [h_leaf(b"entry %d" % i) for i in range(EXHAUSTIVE)]
NODES = perfect_nodes(LEAVES)
ROOTS = [mth(LEAVES[:size]) for size in range(EXHAUSTIVE + 1)]
SLOW = settings(deadline=None, max_examples=150)

leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=300)
unique_leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=120, unique=True)
big = st.integers(min_value=1, max_value=2**64)


def flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def fails(check: Callable[..., None], *args: Any, **kwargs: Any) -> bool:
    try:
        check(*args, **kwargs)
    except merkle.ProofError:
        return True
    return False


def subtrees(limit: int) -> list[tuple[int, int, int]]:
    """Every (start, end, size) with [start, end) a valid subtree and end <= size <= limit."""
    return [
        (start, end, size)
        for size in range(1, limit + 1)
        for end in range(1, size + 1)
        for start in range(end)
        if valid_subtree(start, end)
    ]


# -- examples and arguments ---------------------------------------------------------------


def test_hashes() -> None:
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"") == h_leaf(b"")
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == mth([b"a" * 32, b"b" * 32])


def test_perfect_subtrees() -> None:
    assert merkle.perfect_subtrees(0, 6) == [(2, 0), (1, 2)]
    assert merkle.perfect_subtrees(0, 8) == [(3, 0)]
    assert merkle.perfect_subtrees(8, 13) == [(2, 2), (0, 12)]
    assert merkle.perfect_subtrees(1, 6) == [(0, 1), (1, 1), (1, 2)]
    assert merkle.perfect_subtrees(3, 3) == []
    for start in range(EXHAUSTIVE):
        for end in range(start, EXHAUSTIVE + 1):
            coordinates = merkle.perfect_subtrees(start, end)
            covered = [leaf for level, index in coordinates for leaf in range(index << level, (index + 1) << level)]
            assert covered == list(range(start, end))
            # maximal: no two neighbours make a perfect subtree together
            for (level, index), (next_level, next_index) in itertools.pairwise(coordinates):
                assert not (level == next_level and index % 2 == 0 and next_index == index + 1)
            if valid_subtree(start, end):
                assert merkle.range_coordinates(start, end) == coordinates


def test_is_subtree() -> None:
    assert merkle.is_subtree(0, 13)
    assert merkle.is_subtree(8, 13)
    assert merkle.is_subtree(4, 8)
    assert not merkle.is_subtree(4, 9)  # 5 leaves need a start that is a multiple of 8
    assert not merkle.is_subtree(3, 3)
    assert not merkle.is_subtree(-2, 0)
    for start in range(EXHAUSTIVE):
        for end in range(EXHAUSTIVE + 1):
            assert merkle.is_subtree(start, end) == valid_subtree(start, end)


def test_the_rfc9162_example() -> None:
    """RFC 9162 section 2.1.5, the tree of seven leaves."""
    node = dict(zip("abcdef", ((i, i + 1) for i in range(6)), strict=False))
    node |= {"g": (0, 2), "h": (2, 4), "i": (4, 6), "j": (6, 7), "k": (0, 4), "l": (4, 7)}

    def named(names: str) -> list[tuple[int, int]]:
        return [node[name] for name in names]

    assert merkle.inclusion_proof_ranges(0, 7) == named("bhl")
    assert merkle.inclusion_proof_ranges(3, 7) == named("cgl")
    assert merkle.inclusion_proof_ranges(4, 7) == named("fjk")
    assert merkle.inclusion_proof_ranges(6, 7) == named("ik")
    assert merkle.consistency_proof_ranges(3, 7) == named("cdgl")
    assert merkle.consistency_proof_ranges(4, 7) == named("l")
    assert merkle.consistency_proof_ranges(6, 7) == named("ijk")
    assert merkle.consistency_proof_ranges(7, 7) == []


def test_the_subtree_examples_of_the_merkle_tree_certificates_draft() -> None:
    assert merkle.subtree_consistency_proof_ranges(4, 8, 14) == [(0, 4), (8, 14)]
    assert merkle.subtree_consistency_proof_ranges(8, 13, 14) == [(12, 13), (13, 14), (8, 12), (0, 8)]
    assert merkle.subtree_consistency_proof_ranges(8, 13, 13) == [(0, 8)]
    assert merkle.subtree_consistency_proof_ranges(5, 5, 9) == []
    assert merkle.subtree_inclusion_proof_ranges(10, 8, 13) == [(11, 12), (8, 10), (12, 13)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: merkle.inclusion_proof_ranges(5, 5), "leaf 5 is not in a tree of size 5"),
        (lambda: merkle.inclusion_proof_ranges(-1, 5), "need 0 <= index < size"),
        (lambda: merkle.consistency_proof_ranges(6, 5), "need 0 < old_size <= new_size"),
        (lambda: merkle.consistency_proof_ranges(0, 5), "need 0 < old_size <= new_size"),
        (lambda: merkle.consistency_proof_ranges(-1, 5), "need 0 < old_size <= new_size"),
        (lambda: merkle.subtree_consistency_proof_ranges(2, 5, 8), "is not a subtree"),
        (lambda: merkle.subtree_consistency_proof_ranges(0, 9, 8), "not within a tree of size 8"),
        (lambda: merkle.subtree_inclusion_proof_ranges(1, 2, 4), "leaf 1 is not in the subtree"),
        (lambda: merkle.subtree_inclusion_proof_ranges(3, 3, 5), "is not a subtree"),
        (lambda: merkle.perfect_subtrees(3, 2), "not a range of leaves"),
        (lambda: merkle.perfect_subtrees(-1, 2), "not a range of leaves"),
        (lambda: merkle.range_hash(3, 2, NODES.__getitem__), "not a range of leaves"),
        (lambda: merkle.root_hash(-1, NODES.__getitem__), "cannot be negative"),
        (lambda: merkle.needed_coordinates([(0, 4), (5, 4)]), "not a range of leaves"),
        (lambda: merkle.MerkleAccumulator().append(b"data"), "a leaf hash is 32 bytes"),
        (lambda: merkle.MerkleAccumulator.from_peaks(6, [LEAVES[0]]), "has 2 peaks, got 1"),
        (lambda: merkle.MerkleAccumulator.from_peaks(1, [b"short"]), "not a 32-byte hash"),
        (lambda: merkle.MerkleAccumulator.from_peaks(-1, []), "cannot be negative"),
    ],
)
def test_impossible_arguments_are_value_errors(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: merkle.verify_inclusion(LEAVES[0], 3, 3, [], ROOTS[3]), "leaf 3 is not in a tree of size 3"),
        (lambda: merkle.verify_inclusion(LEAVES[0], -1, 3, [], ROOTS[3]), "cannot be negative"),
        (lambda: merkle.verify_inclusion(b"x", 0, 1, [], b"x"), "the leaf hash is 1 bytes"),
        (lambda: merkle.verify_inclusion(LEAVES[0], 0, 2, [b""], ROOTS[2]), "proof element 0 is 0 bytes"),
        (lambda: merkle.verify_inclusion(LEAVES[0], 0, 2, [], ROOTS[2]), "too short"),
        (lambda: merkle.verify_inclusion(LEAVES[0], 0, 1, [LEAVES[1]], ROOTS[1]), "too long"),
        (lambda: merkle.verify_inclusion(LEAVES[1], 0, 2, [LEAVES[0]], ROOTS[2]), "does not lead to the root"),
        (lambda: merkle.verify_consistency(5, 4, ROOTS[5], ROOTS[4], []), "old size 5 is larger"),
        (lambda: merkle.verify_consistency(0, 4, merkle.EMPTY_ROOT, ROOTS[4], []), "from the empty tree"),
        (lambda: merkle.verify_consistency(4, 4, ROOTS[4], ROOTS[4], [ROOTS[4]]), "proof is not empty"),
        (lambda: merkle.verify_consistency(4, 4, ROOTS[4], ROOTS[3], []), "roots differ"),
        (lambda: merkle.verify_consistency(3, 4, ROOTS[3], ROOTS[4], []), "is empty"),
        (lambda: merkle.verify_consistency(3, 4, b"short", ROOTS[4], [ROOTS[3]]), "the old root is 5 bytes"),
        (lambda: merkle.verify_consistency(2, 4, ROOTS[2], ROOTS[4], [ROOTS[3]]), "does not lead to the new root"),
        (lambda: merkle.verify_subtree_inclusion(LEAVES[0], 0, 3, 5, [], ROOTS[1]), "is not a subtree"),
        (lambda: merkle.verify_subtree_inclusion(LEAVES[0], 0, 4, 4, [], ROOTS[1]), "is not a subtree"),
        (lambda: merkle.verify_subtree_inclusion(LEAVES[0], 9, 4, 8, [], ROOTS[1]), "not in the subtree"),
        (lambda: merkle.verify_subtree_consistency(2, 1, 4, ROOTS[1], ROOTS[4], []), "start is after end"),
        (lambda: merkle.verify_subtree_consistency(0, 5, 4, ROOTS[5], ROOTS[4], []), "ends beyond the tree size"),
        (lambda: merkle.verify_subtree_consistency(2, 2, 4, ROOTS[0], ROOTS[4], [ROOTS[0]]), "empty but the proof"),
        (lambda: merkle.verify_subtree_consistency(2, 2, 4, ROOTS[1], ROOTS[4], []), "not the empty hash"),
        (lambda: merkle.verify_subtree_consistency(2, 5, 8, ROOTS[3], ROOTS[8], []), "is not a subtree"),
        (lambda: merkle.verify_subtree_consistency(0, 4, 4, ROOTS[4], ROOTS[3], []), "hashes differ"),
    ],
)
def test_verification_failures_are_proof_errors_saying_what_failed(call: Callable[[], None], message: str) -> None:
    with pytest.raises(merkle.ProofError, match=message):
        call()


def test_an_empty_subtree_is_part_of_every_tree() -> None:
    merkle.verify_subtree_consistency(3, 3, 9, merkle.EMPTY_ROOT, b"whatever", [])


# -- exhaustively on small trees ----------------------------------------------------------


def test_inclusion_proofs_of_every_leaf_of_every_small_tree() -> None:
    for size in range(1, EXHAUSTIVE + 1):
        for index in range(size):
            ranges = merkle.inclusion_proof_ranges(index, size)
            assert ranges == path_ranges(index, 0, size)
            lookup = RecordingLookup(LEAVES[:size])
            proof = merkle.inclusion_proof(index, size, lookup)
            assert proof == [mth(LEAVES[a:b]) for a, b in ranges]
            assert lookup.asked == merkle.needed_coordinates(ranges)
            merkle.verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


def test_consistency_proofs_between_every_pair_of_small_trees() -> None:
    for new_size in range(1, EXHAUSTIVE + 1):
        for old_size in range(1, new_size + 1):
            ranges = merkle.consistency_proof_ranges(old_size, new_size)
            assert ranges == consistency_ranges(old_size, new_size)
            lookup = RecordingLookup(LEAVES[:new_size])
            proof = merkle.consistency_proof(old_size, new_size, lookup)
            assert proof == [mth(LEAVES[a:b]) for a, b in ranges]
            assert lookup.asked == merkle.needed_coordinates(ranges)
            merkle.verify_consistency(old_size, new_size, ROOTS[old_size], ROOTS[new_size], proof)


def test_subtree_proofs_of_every_subtree_of_every_small_tree() -> None:
    for start, end, size in subtrees(EXHAUSTIVE):
        ranges = merkle.subtree_consistency_proof_ranges(start, end, size)
        assert ranges == subtree_consistency_ranges(start, end, size)
        lookup = RecordingLookup(LEAVES[:size])
        proof = merkle.subtree_consistency_proof(start, end, size, lookup)
        assert lookup.asked == merkle.needed_coordinates(ranges)
        subtree_root = mth(LEAVES[start:end])
        merkle.verify_subtree_consistency(start, end, size, subtree_root, ROOTS[size], proof)
        if size == end:
            for index in range(start, end):
                inclusion = merkle.subtree_inclusion_proof(index, start, end, lookup)
                merkle.verify_subtree_inclusion(LEAVES[index], index, start, end, inclusion, subtree_root)
    for start in range(EXHAUSTIVE + 1):
        merkle.verify_subtree_consistency(start, start, EXHAUSTIVE, merkle.EMPTY_ROOT, ROOTS[EXHAUSTIVE], [])


def test_range_hash_of_every_small_range() -> None:
    for start in range(EXHAUSTIVE + 1):
        for end in range(start, EXHAUSTIVE + 1):
            lookup = RecordingLookup(LEAVES)
            assert merkle.range_hash(start, end, lookup) == mth(LEAVES[start:end])
            assert lookup.asked == merkle.needed_coordinates([(start, end)])


def test_every_proof_element_matters_on_small_trees() -> None:
    """Each element of each small proof, changed by one bit, breaks it."""
    for size in range(1, 17):
        for index in range(size):
            proof = merkle.inclusion_proof(index, size, NODES.__getitem__)
            for position in range(len(proof)):
                broken = [*proof]
                broken[position] = flip(proof[position], position * 37 + index)
                assert fails(merkle.verify_inclusion, LEAVES[index], index, size, broken, ROOTS[size])
        for old_size in range(1, size):
            proof = merkle.consistency_proof(old_size, size, NODES.__getitem__)
            for position in range(len(proof)):
                broken = [*proof]
                broken[position] = flip(proof[position], position * 41 + old_size)
                assert fails(merkle.verify_consistency, old_size, size, ROOTS[old_size], ROOTS[size], broken)
    for start, end, size in subtrees(16):
        proof = merkle.subtree_consistency_proof(start, end, size, NODES.__getitem__)
        for position in range(len(proof)):
            broken = [*proof]
            broken[position] = flip(proof[position], position * 43 + start)
            subtree_root = mth(LEAVES[start:end])
            assert fails(merkle.verify_subtree_consistency, start, end, size, subtree_root, ROOTS[size], broken)


# -- properties ---------------------------------------------------------------------------


@SLOW
@given(leaf_lists, st.data())
def test_range_hash_is_the_recursive_mth_of_any_range(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [h_leaf(item) for item in data]
    start = draw.draw(st.integers(0, len(leaves)))
    end = draw.draw(st.integers(start, len(leaves)))
    lookup = RecordingLookup(leaves)
    assert merkle.range_hash(start, end, lookup) == mth(leaves[start:end])
    assert lookup.asked == merkle.needed_coordinates([(start, end)])
    assert merkle.root_hash(len(leaves), lookup) == mth(leaves)


@settings(deadline=None, max_examples=500)
@given(big, st.data())
def test_proof_ranges_are_the_rfc_ones_for_any_size(size: int, draw: st.DataObject) -> None:
    index = draw.draw(st.integers(0, size - 1))
    assert merkle.inclusion_proof_ranges(index, size) == path_ranges(index, 0, size)
    old_size = draw.draw(st.integers(1, size))
    assert merkle.consistency_proof_ranges(old_size, size) == consistency_ranges(old_size, size)
    level = draw.draw(st.integers(0, size.bit_length() - 1))
    start = draw.draw(st.integers(0, (size - 1) >> level)) << level
    end = draw.draw(st.integers(start + 1, min(size, start + (1 << level))))
    assume(valid_subtree(start, end))
    assert merkle.subtree_consistency_proof_ranges(start, end, size) == subtree_consistency_ranges(start, end, size)
    for ranges in (
        merkle.inclusion_proof_ranges(index, size),
        merkle.consistency_proof_ranges(old_size, size),
        merkle.subtree_consistency_proof_ranges(start, end, size),
    ):
        # Every range a proof uses is a subtree: its hash needs one lookup per bit of its length.
        assert all(merkle.is_subtree(a, b) and b <= size for a, b in ranges)
        assert len(merkle.needed_coordinates(ranges)) <= sum((b - a).bit_count() for a, b in ranges)


@SLOW
@given(st.lists(st.binary(max_size=12), max_size=300))
def test_the_accumulator_follows_the_tree(data: list[bytes]) -> None:
    leaves = [h_leaf(item) for item in data]
    nodes = perfect_nodes(leaves)
    accumulator = merkle.MerkleAccumulator()
    assert accumulator.root() == merkle.EMPTY_ROOT
    reported: dict[tuple[int, int], bytes] = {}
    for size, leaf in enumerate(leaves, start=1):
        completed = accumulator.append(leaf)
        assert accumulator.size == size
        # exactly the perfect subtrees that end with this leaf, bottom-up
        assert [coordinate for coordinate, _ in completed] == [
            (level, (size >> level) - 1) for level in range(size.bit_length()) if size % (1 << level) == 0
        ]
        for coordinate, value in completed:
            assert value == nodes[coordinate]
        reported.update(completed)
        assert accumulator.root() == mth(leaves[:size]) == merkle.root_hash(size, nodes.__getitem__)
        assert accumulator.peaks() == [nodes[c] for c in merkle.perfect_subtrees(0, size)]
        assert accumulator.peak_coordinates() == merkle.perfect_subtrees(0, size)
    assert reported == nodes


@SLOW
@given(st.lists(st.binary(max_size=12), max_size=200), st.data())
def test_the_accumulator_resumes_from_its_peaks(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [h_leaf(item) for item in data]
    cut = draw.draw(st.integers(0, len(leaves)))
    whole = merkle.MerkleAccumulator()
    first = [whole.append(leaf) for leaf in leaves[:cut]]
    resumed = merkle.MerkleAccumulator.from_peaks(whole.size, whole.peaks())
    assert (resumed.size, resumed.root(), resumed.peaks()) == (whole.size, whole.root(), whole.peaks())
    for leaf in leaves[cut:]:
        assert resumed.append(leaf) == whole.append(leaf)
        assert resumed.root() == whole.root()
    assert len(first) == cut


@SLOW
@given(st.lists(st.binary(max_size=12), max_size=300), st.integers(1, 5), st.data())
def test_extending_keeps_the_strata_that_appending_completes(
    data: list[bytes], stride: int, draw: st.DataObject
) -> None:
    leaves = [h_leaf(item) for item in data]
    cut = draw.draw(st.integers(0, len(leaves)))
    one_by_one = merkle.MerkleAccumulator()
    expected = [
        (level, index, value)
        for leaf in leaves
        for (level, index), value in one_by_one.append(leaf)
        if level > 0 and level % stride == 0
    ]
    # In two calls, the second resumed from the peaks, as the integrator does round after round.
    first = merkle.MerkleAccumulator()
    kept = first.extend(leaves[:cut], stride=stride)
    resumed = merkle.MerkleAccumulator.from_peaks(first.size, first.peaks())
    kept += resumed.extend(leaves[cut:], stride=stride)
    assert kept == expected
    assert (resumed.size, resumed.peaks(), resumed.root()) == (one_by_one.size, one_by_one.peaks(), one_by_one.root())


def test_extending_stops_at_a_leaf_that_is_not_a_hash() -> None:
    accumulator = merkle.MerkleAccumulator()
    with pytest.raises(ValueError, match="a leaf hash is 32 bytes, got 4"):
        accumulator.extend([LEAVES[0], LEAVES[1], b"data"], stride=1)
    assert accumulator.size == 2
    assert accumulator.root() == merkle.node_hash(LEAVES[0], LEAVES[1])
    with pytest.raises(ValueError, match="stride must be at least 1"):
        accumulator.extend([], stride=0)


@SLOW
@given(leaf_lists, st.data())
def test_proofs_on_random_trees_verify(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [h_leaf(item) for item in data]
    lookup = RecordingLookup(leaves)
    size = draw.draw(st.integers(1, len(leaves)))
    root = mth(leaves[:size])
    index = draw.draw(st.integers(0, size - 1))
    merkle.verify_inclusion(leaves[index], index, size, merkle.inclusion_proof(index, size, lookup), root)
    old_size = draw.draw(st.integers(1, size))
    proof = merkle.consistency_proof(old_size, size, lookup)
    merkle.verify_consistency(old_size, size, mth(leaves[:old_size]), root, proof)
    level = draw.draw(st.integers(0, size.bit_length() - 1))
    start = draw.draw(st.integers(0, (size - 1) >> level)) << level
    end = draw.draw(st.integers(start + 1, min(size, start + (1 << level))))
    assume(valid_subtree(start, end))
    subtree_root = mth(leaves[start:end])
    proof = merkle.subtree_consistency_proof(start, end, size, lookup)
    merkle.verify_subtree_consistency(start, end, size, subtree_root, root, proof)
    index = draw.draw(st.integers(start, end - 1))
    proof = merkle.subtree_inclusion_proof(index, start, end, lookup)
    merkle.verify_subtree_inclusion(leaves[index], index, start, end, proof, subtree_root)


def inclusion_shape(index: int, size: int) -> list[bool] | None:
    """What the RFC 9162 verifier computes: for each proof element, whether it goes left."""
    if not 0 <= index < size:
        return None
    return [b <= index for _, b in merkle.inclusion_proof_ranges(index, size)]


def consistency_shape(old_size: int, new_size: int) -> list[bool] | None:
    if not 0 < old_size <= new_size:
        return None
    return [b <= old_size for _, b in merkle.consistency_proof_ranges(old_size, new_size)]


@settings(deadline=None, max_examples=400)
@given(unique_leaf_lists, st.data())
def test_a_single_bit_change_breaks_an_inclusion_proof(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [h_leaf(item) for item in data]
    nodes = perfect_nodes(leaves)
    size = draw.draw(st.integers(1, len(leaves)))
    index = draw.draw(st.integers(0, size - 1))
    root = mth(leaves[:size])
    proof = merkle.inclusion_proof(index, size, nodes.__getitem__)
    leaf = leaves[index]
    bit = draw.draw(st.integers(0, 255))

    def verify(leaf: bytes = leaf, index: int = index, size: int = size, proof: Sequence[bytes] = proof) -> None:
        merkle.verify_inclusion(leaf, index, size, proof, root)

    verify()
    assert fails(verify, leaf=flip(leaf, bit))
    assert fails(merkle.verify_inclusion, leaf, index, size, proof, flip(root, bit))
    if proof:
        position = draw.draw(st.integers(0, len(proof) - 1))
        assert fails(verify, proof=[*proof[:position], flip(proof[position], bit), *proof[position + 1 :]])
    small_bit = bit % 10
    assert fails(verify, index=index ^ (1 << small_bit))
    # The proof does not pin the tree size (RFC 9162: the checkpoint does): another size
    # verifies exactly when the verifier computes the same thing, i.e. the path has the
    # same shape. Any size that changes the shape fails.
    other = size ^ (1 << small_bit)
    assert fails(verify, size=other) == (inclusion_shape(index, other) != inclusion_shape(index, size))


@settings(deadline=None, max_examples=400)
@given(unique_leaf_lists, st.data())
def test_a_single_bit_change_breaks_a_consistency_proof(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [h_leaf(item) for item in data]
    nodes = perfect_nodes(leaves)
    new_size = draw.draw(st.integers(1, len(leaves)))
    old_size = draw.draw(st.integers(1, new_size))
    old_root, new_root = mth(leaves[:old_size]), mth(leaves[:new_size])
    proof = merkle.consistency_proof(old_size, new_size, nodes.__getitem__)
    bit = draw.draw(st.integers(0, 255))

    def verify(
        old: int = old_size, new: int = new_size, a: bytes = old_root, b: bytes = new_root, p: Sequence[bytes] = proof
    ) -> None:
        merkle.verify_consistency(old, new, a, b, p)

    verify()
    assert fails(verify, a=flip(old_root, bit))
    assert fails(verify, b=flip(new_root, bit))
    if proof:
        position = draw.draw(st.integers(0, len(proof) - 1))
        assert fails(verify, p=[*proof[:position], flip(proof[position], bit), *proof[position + 1 :]])
    small_bit = bit % 10
    assert fails(verify, old=old_size ^ (1 << small_bit))
    # As for inclusion, the new size is pinned by the checkpoint, not by the proof.
    other = new_size ^ (1 << small_bit)
    changed_shape = consistency_shape(old_size, other) != consistency_shape(old_size, new_size)
    assert fails(verify, new=other) == changed_shape


@settings(deadline=None, max_examples=300)
@given(unique_leaf_lists, st.data())
def test_a_single_bit_change_breaks_a_subtree_proof(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [h_leaf(item) for item in data]
    nodes = perfect_nodes(leaves)
    size = draw.draw(st.integers(1, len(leaves)))
    level = draw.draw(st.integers(0, size.bit_length() - 1))
    start = draw.draw(st.integers(0, (size - 1) >> level)) << level
    end = draw.draw(st.integers(start + 1, min(size, start + (1 << level))))
    assume(valid_subtree(start, end))
    subtree_root, root = mth(leaves[start:end]), mth(leaves[:size])
    proof = merkle.subtree_consistency_proof(start, end, size, nodes.__getitem__)
    bit = draw.draw(st.integers(0, 255))
    merkle.verify_subtree_consistency(start, end, size, subtree_root, root, proof)
    assert fails(merkle.verify_subtree_consistency, start, end, size, flip(subtree_root, bit), root, proof)
    assert fails(merkle.verify_subtree_consistency, start, end, size, subtree_root, flip(root, bit), proof)
    if proof:
        position = draw.draw(st.integers(0, len(proof) - 1))
        broken = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
        assert fails(merkle.verify_subtree_consistency, start, end, size, subtree_root, root, broken)
    index = draw.draw(st.integers(start, end - 1))
    inclusion = merkle.subtree_inclusion_proof(index, start, end, nodes.__getitem__)
    merkle.verify_subtree_inclusion(leaves[index], index, start, end, inclusion, subtree_root)
    leaf = leaves[index]
    assert fails(merkle.verify_subtree_inclusion, flip(leaf, bit), index, start, end, inclusion, subtree_root)
    assert fails(merkle.verify_subtree_inclusion, leaf, index, start, end, inclusion, flip(subtree_root, bit))


def mangled(proof: list[bytes], other: list[bytes], how: int, where: int) -> list[bytes]:
    """The proof with an element dropped, doubled, swapped or replaced, or another proof."""
    if not proof:
        return other
    where %= len(proof)
    match how % 5:
        case 0:
            return [*proof[:where], *proof[where + 1 :]]
        case 1:
            return [*proof[: where + 1], *proof[where:]]
        case 2:
            return (
                [*proof[:where], proof[-1], *proof[where + 1 : -1], proof[where]] if where < len(proof) - 1 else proof
            )
        case 3:
            return [*proof[:where], *(other[:1] or [proof[where]]), *proof[where + 1 :]]
        case _:
            return other


@settings(deadline=None, max_examples=400)
@given(unique_leaf_lists, st.data())
def test_from_the_start_the_subtree_verifiers_are_the_plain_ones(data: list[bytes], draw: st.DataObject) -> None:
    """With start == 0, the C2SP subtree verifiers accept and refuse exactly what the RFC 9162
    ones do, on proofs that are right and on proofs that are mangled."""
    leaves = [h_leaf(item) for item in data]
    nodes = perfect_nodes(leaves)
    size = draw.draw(st.integers(1, len(leaves)))
    end = draw.draw(st.integers(1, size))
    claimed_size = draw.draw(st.sampled_from([size, size + 1, max(1, size - 1), end]))
    claimed_end = draw.draw(st.sampled_from([end, end + 1, max(1, end - 1)]))
    how, where = draw.draw(st.integers(0, 5)), draw.draw(st.integers(0, 64))
    proof = merkle.consistency_proof(end, size, nodes.__getitem__)
    other = merkle.consistency_proof(max(1, end - 1), size, nodes.__getitem__)
    candidate = proof if how == 5 else mangled(proof, other, how, where)
    old_root, root = mth(leaves[:end]), mth(leaves[:size])
    assert fails(merkle.verify_subtree_consistency, 0, claimed_end, claimed_size, old_root, root, candidate) == fails(
        merkle.verify_consistency, claimed_end, claimed_size, old_root, root, candidate
    )
    index = draw.draw(st.integers(0, size - 1))
    proof = merkle.inclusion_proof(index, size, nodes.__getitem__)
    other = merkle.inclusion_proof(index, claimed_size, nodes.__getitem__) if index < claimed_size <= size else []
    candidate = proof if how == 5 else mangled(proof, other, how, where)
    assert fails(merkle.verify_subtree_inclusion, leaves[index], index, 0, claimed_size, candidate, root) == fails(
        merkle.verify_inclusion, leaves[index], index, claimed_size, candidate, root
    )
