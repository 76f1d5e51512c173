"""polex.audit.merkle against the published vectors of transparency-dev/merkle: every
inclusion, consistency, subtree inclusion and subtree consistency probe (one test each),
and the RFC 6962 roots of its test tree."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from polex.audit import merkle
from tests.unit.audit.test_merkle_reference import DATA, h_leaf, needs_data, perfect_nodes, rfc6962_vectors

TESTDATA = DATA / "testdata"
KINDS = ("inclusion", "consistency", "subtreeinclusion", "subtreeconsistency")
FILES = sorted(TESTDATA.rglob("*.json")) if TESTDATA.is_dir() else []
VECTORS = [pytest.param(path, id=path.relative_to(TESTDATA).as_posix()) for path in FILES] or [
    pytest.param(None, id="absent", marks=pytest.mark.skip(reason=f"the transparency-dev test data is not at {DATA}"))
]


def _hash(value: str | None) -> bytes:
    return b"" if value is None else base64.b64decode(value)


def _proof(values: list[str | None] | None) -> list[bytes]:
    return [_hash(value) for value in values or []]


def _verify(kind: str, vector: dict[str, Any]) -> None:
    proof = _proof(vector["proof"])
    if kind == "inclusion":
        merkle.verify_inclusion(
            _hash(vector["leafHash"]), vector["leafIdx"], vector["treeSize"], proof, _hash(vector["root"])
        )
    elif kind == "consistency":
        merkle.verify_consistency(
            vector["size1"], vector["size2"], _hash(vector["root1"]), _hash(vector["root2"]), proof
        )
    elif kind == "subtreeinclusion":
        merkle.verify_subtree_inclusion(
            _hash(vector["leafHash"]), vector["leafIdx"], vector["start"], vector["end"], proof, _hash(vector["root"])
        )
    else:
        merkle.verify_subtree_consistency(
            vector["start"], vector["end"], vector["size"], _hash(vector["root1"]), _hash(vector["root2"]), proof
        )


@pytest.mark.parametrize("path", VECTORS)
def test_vector(path: Path) -> None:
    kind = path.relative_to(TESTDATA).parts[0]
    vector = json.loads(path.read_text())
    if vector["wantErr"]:
        with pytest.raises(merkle.ProofError):
            _verify(kind, vector)
    else:
        _verify(kind, vector)


@needs_data
def test_all_the_vectors_are_there() -> None:
    counts = {kind: sum(1 for path in FILES if path.relative_to(TESTDATA).parts[0] == kind) for kind in KINDS}
    assert counts == {"inclusion": 98, "consistency": 98, "subtreeinclusion": 204, "subtreeconsistency": 118}
    passing = [path for path in FILES if not json.loads(path.read_text())["wantErr"]]
    assert len(passing) == 36


@needs_data
def test_the_rfc6962_roots() -> None:
    inputs, roots = rfc6962_vectors()
    lookup = perfect_nodes([merkle.leaf_hash(data) for data in inputs]).__getitem__
    accumulator = merkle.MerkleAccumulator()
    assert accumulator.root() == roots[0] == merkle.EMPTY_ROOT
    for size, data in enumerate(inputs, start=1):
        accumulator.append(merkle.leaf_hash(data))
        assert accumulator.root() == roots[size]
        assert merkle.root_hash(size, lookup) == roots[size]
    assert merkle.root_hash(0, lookup) == roots[0]


@needs_data
def test_the_happy_path_proofs_are_the_ones_we_generate() -> None:
    """The vectors' proofs are over the RFC 6962 test leaves: generating them from those
    leaves must give them byte for byte (subtree ones shifted to start at their start)."""
    inputs, _ = rfc6962_vectors()
    test_leaves = [h_leaf(data) for data in inputs]
    checked = 0
    for path in FILES:
        kind = path.relative_to(TESTDATA).parts[0]
        vector = json.loads(path.read_text())
        if vector["wantErr"] or not vector["proof"]:
            continue
        proof = _proof(vector["proof"])
        if kind == "inclusion":
            lookup = perfect_nodes(test_leaves[: vector["treeSize"]]).__getitem__
            assert merkle.inclusion_proof(vector["leafIdx"], vector["treeSize"], lookup) == proof
        elif kind == "consistency":
            lookup = perfect_nodes(test_leaves[: vector["size2"]]).__getitem__
            assert merkle.consistency_proof(vector["size1"], vector["size2"], lookup) == proof
        elif kind == "subtreeinclusion":
            start, end = vector["start"], vector["end"]
            filler = [h_leaf(b"filler %d" % i) for i in range(start)]
            lookup = perfect_nodes(filler + test_leaves[: end - start]).__getitem__
            assert merkle.subtree_inclusion_proof(vector["leafIdx"], start, end, lookup) == proof
        else:
            lookup = perfect_nodes(test_leaves[: vector["size"]]).__getitem__
            assert merkle.subtree_consistency_proof(vector["start"], vector["end"], vector["size"], lookup) == proof
        checked += 1
    assert checked == 4 + 4 + 8 + 4
