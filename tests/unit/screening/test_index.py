"""The fingerprint index behaves as a multiset of keys, whatever the order of changes and
merges: checked against a plain Counter under random sequences of operations."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polex.screening import index as index_module
from polex.screening.index import FingerprintIndex

KEYS = [f"doc:FRA:{n:09d}" for n in range(12)]

operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "merge"]), st.lists(st.sampled_from(KEYS), max_size=4)),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(initial=st.lists(st.sampled_from(KEYS), max_size=15), steps=operations)
def test_it_answers_as_a_multiset_would(initial: list[str], steps: list[tuple[str, list[str]]]) -> None:
    index = FingerprintIndex()
    index.load(initial)
    model = Counter(initial)
    for operation, keys in steps:
        if operation == "add":
            index.keys_changed(keys, ())
            model.update(keys)
        elif operation == "remove":
            # The store only removes what it holds: the listener never hears of other keys.
            present = [key for key in keys if model[key] > 0]
            removable = Counter(present)
            present = [key for key in removable for _ in range(min(removable[key], model[key]))]
            index.keys_changed((), present)
            model.subtract(present)
        else:
            with index._lock:
                index._merge()
        found = index.contains_many(KEYS)
        assert found.tolist() == [model[key] > 0 for key in KEYS]
        # A border post's single check takes the one-key path: the same answers.
        assert [bool(index.contains_many([key])[0]) for key in KEYS] == found.tolist()
        assert index.contains_many_nowait(KEYS[:3]).tolist() == found.tolist()[:3]  # type: ignore[union-attr]
        assert len(index) == sum(model.values())
        assert index.counts(KEYS) == [model[key] for key in KEYS]


def test_pending_changes_are_merged_into_the_array_past_a_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "_MERGE_MINIMUM", 10)
    index = FingerprintIndex()
    index.load([f"k{n}" for n in range(100)])
    index.keys_changed([f"new{n}" for n in range(11)], [f"k{n}" for n in range(5)])
    assert not index._added  # merged
    assert not index._removed
    assert len(index._base) == 106
    assert index.contains_many(["new3", "k2", "k50"]).tolist() == [True, False, True]


def test_a_batch_answers_in_the_order_asked_and_an_empty_index_finds_nothing() -> None:
    empty = FingerprintIndex()
    assert empty.contains_many(["a", "b"]).tolist() == [False, False]
    assert empty.contains_many([]).tolist() == []
    index = FingerprintIndex()
    index.load(["b", "d"])
    assert index.contains_many(["d", "a", "b", "c", "d"]).tolist() == [True, False, True, False, True]
    assert "b" in index


def test_memory_is_about_ten_bytes_a_key_once_merged() -> None:
    fingerprints = np.random.default_rng(1).integers(-(2**63), 2**63 - 1, size=1_000_000, dtype=np.int64)
    index = FingerprintIndex()
    index.load_fingerprints(fingerprints)
    assert 8_000_000 < index.memory_bytes() <= 10_000_000  # the array, and a directory of 32-bit offsets
    asked = np.concatenate((fingerprints[:1000], fingerprints[:1000] + 1))
    assert index.contains_fingerprints(asked).tolist() == [True] * 1000 + [False] * 1000


def test_crowded_buckets_are_searched_too() -> None:
    # Not SipHash values: a million neighbours in one bucket, found by the binary-search path.
    index = FingerprintIndex()
    index.load_fingerprints(np.arange(1_000_000, dtype=np.int64) * 3)
    asked = np.array([0, 3, 4, 2_999_997, 3_000_000, -3], dtype=np.int64)
    assert index.contains_fingerprints(asked).tolist() == [True, True, False, True, False, False]


def test_a_few_keys_are_answered_as_a_batch_is() -> None:
    """The one-at-a-time path for small batches against the vectorised one, with changes
    pending on both sides of the array and crowded buckets."""
    rng = np.random.default_rng(7)
    fingerprints = rng.integers(-(2**63), 2**63 - 1, size=50_000, dtype=np.int64)
    index = FingerprintIndex()
    index.load_fingerprints(np.concatenate((fingerprints, fingerprints[:100])))  # 100 filed twice
    index.keys_changed(["added-1", "added-2"], [])
    with index._lock:
        index._removed[int(fingerprints[0])] = 1  # one of two copies withdrawn: still there
        index._removed[int(fingerprints[200])] = 1  # the only copy withdrawn: gone
    asked = [*fingerprints[:3].tolist(), int(fingerprints[200]), int(fingerprints[201]), hash("added-2"), 12345]
    with index._lock:
        few = index._contains_few(asked).tolist()
        batch = index._contains(np.array(asked, dtype=np.int64)).tolist()
    assert few == batch == [True, True, True, False, True, True, False]
    crowded = FingerprintIndex()
    crowded.load_fingerprints(np.arange(1_000_000, dtype=np.int64) * 3)
    with crowded._lock:
        assert crowded._contains_few([0, 3, 4, 2_999_997, 3_000_000, -3]).tolist() == [
            True,
            True,
            False,
            True,
            False,
            False,
        ]


def test_the_event_loop_never_waits_for_a_writer() -> None:
    index = FingerprintIndex()
    index.load(["doc:FRA:1"])
    assert index.contains_many_nowait(["doc:FRA:1", "doc:FRA:2"]).tolist() == [True, False]  # type: ignore[union-attr]
    with index._lock:  # a merge in progress
        assert index.contains_many_nowait(["doc:FRA:1"]) is None
