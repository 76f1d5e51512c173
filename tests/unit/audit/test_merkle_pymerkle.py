"""polex.audit.merkle against an independent implementation, pymerkle 7 (its default
security mode uses the RFC 6962 0x00/0x01 prefixes; indices count from one).

pymerkle's inclusion path is the leaf hash followed by the RFC 9162 audit path, so the
paths are compared element by element. Its consistency path has a format of its own (with
a parenthesisation rule), so our consistency proofs are checked against its roots instead.
"""

from __future__ import annotations

from typing import Any

import pymerkle  # a development dependency: the check must run, never skip
from hypothesis import given, settings
from hypothesis import strategies as st

from polex.audit import merkle
from tests.unit.audit.test_merkle_reference import perfect_nodes


def build(data: list[bytes]) -> tuple[Any, list[bytes], dict[tuple[int, int], bytes]]:
    tree = pymerkle.InmemoryTree.init_from_entries(data, algorithm="sha256")
    assert tree.security
    leaves = [merkle.leaf_hash(item) for item in data]
    return tree, leaves, perfect_nodes(leaves)


def check_inclusion(tree: Any, leaves: list[bytes], nodes: dict[tuple[int, int], bytes], index: int, size: int) -> None:
    path = tree.prove_inclusion(index + 1, size).path
    proof = merkle.inclusion_proof(index, size, nodes.__getitem__)
    assert path == [leaves[index], *proof]
    merkle.verify_inclusion(leaves[index], index, size, proof, tree.get_root(size))


def check_consistency(tree: Any, nodes: dict[tuple[int, int], bytes], old_size: int, new_size: int) -> None:
    proof = merkle.consistency_proof(old_size, new_size, nodes.__getitem__)
    merkle.verify_consistency(old_size, new_size, tree.get_root(old_size), tree.get_root(new_size), proof)
    tree.prove_consistency(old_size, new_size).verify(tree.get_root(old_size), tree.get_root(new_size))


@settings(deadline=None, max_examples=100)
@given(st.lists(st.binary(max_size=16), min_size=1, max_size=300), st.data())
def test_roots_and_proofs_agree_with_pymerkle_on_random_trees(data: list[bytes], draw: st.DataObject) -> None:
    tree, leaves, nodes = build(data)
    accumulator = merkle.MerkleAccumulator()
    for size, leaf in enumerate(leaves, start=1):
        accumulator.append(leaf)
        expected = tree.get_root(size)
        assert accumulator.root() == expected
        assert merkle.root_hash(size, nodes.__getitem__) == expected
    for _ in range(5):
        size = draw.draw(st.integers(1, len(leaves)))
        check_inclusion(tree, leaves, nodes, draw.draw(st.integers(0, size - 1)), size)
        check_consistency(tree, nodes, draw.draw(st.integers(1, size)), size)


def test_every_proof_of_small_trees_agrees_with_pymerkle() -> None:
    tree, leaves, nodes = build([b"pymerkle %d" % i for i in range(40)])
    assert tree.get_root(0) == merkle.EMPTY_ROOT == merkle.root_hash(0, nodes.__getitem__)
    for size in range(1, 41):
        assert merkle.root_hash(size, nodes.__getitem__) == tree.get_root(size)
        for index in range(size):
            check_inclusion(tree, leaves, nodes, index, size)
        for old_size in range(1, size + 1):
            check_consistency(tree, nodes, old_size, size)
