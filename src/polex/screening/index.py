"""The in-memory index that answers "is anything filed under this identifier?" for
document and vehicle checks, at border scale.

It keeps a 64-bit fingerprint of each lookup key (``doc:FRA:12AB34567``), not the key:
8 bytes a record in one sorted numpy array, so 100 million documents take 800 MB. A
check hashes its keys, sorts them, and binary-searches the array in one vectorised call;
the rare fingerprint hit (about 0.01 % at a border) is confirmed against the store, which
also names the records, so a collision costs one indexed look-up and never a false hit.

Changes go to two small counters beside the array (keys added, keys removed) and are
merged into a new array once they grow past a fraction of it, so an update costs a
dictionary write and the merge is paid rarely, in bulk. Counts, not a set: the same key
may be filed under two records (one number reported as two document types), and
withdrawing one must leave the other findable.

The fingerprint is Python's own string hash (SipHash): fast, and randomised per process,
which is harmless since the index is built from the store in the process that uses it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

_CHUNK = 1_000_000  # keys hashed per numpy array while building
_PER_BUCKET = 4  # fingerprints a directory bucket holds on average (4 to 8)
_MIN_BITS, _MAX_BITS = 8, 28
_WALK_LIMIT = 64
_MERGE_FRACTION = 0.02  # merge the pending changes once they reach 2 % of the array
_MERGE_MINIMUM = 50_000
_FEW = 8  # batches up to this size are looked up one key at a time, without numpy's vector set-up


def fingerprint(key: str) -> int:
    return hash(key)


class FingerprintIndex:
    """A multiset of lookup keys, by fingerprint. Thread-safe: readers take a consistent
    view (the array and the counters are swapped together under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._bits = _MIN_BITS
        self._directory: npt.NDArray[np.integer[Any]] = np.zeros((1 << _MIN_BITS) + 1, dtype=np.uint32)
        self._added: Counter[int] = Counter()
        self._removed: Counter[int] = Counter()
        self.entries = 0

    # -- building and changing ---------------------------------------------------------

    def load(self, keys: Iterable[str]) -> int:
        """Replace the contents with ``keys`` (read from the store at start-up)."""
        chunks: list[npt.NDArray[np.int64]] = []
        buffer: list[int] = []
        for key in keys:
            buffer.append(hash(key))
            if len(buffer) == _CHUNK:
                chunks.append(np.array(buffer, dtype=np.int64))
                buffer = []
        if buffer:
            chunks.append(np.array(buffer, dtype=np.int64))
        base = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
        base.sort()
        with self._lock:
            self._set_base(base)
            self._added = Counter()
            self._removed = Counter()
            self.entries = len(base)
        return len(base)

    def load_fingerprints(self, fingerprints: npt.NDArray[np.int64]) -> None:
        """Replace the contents with already computed fingerprints (benchmarks build 100
        million of them without making 100 million strings)."""
        base = np.sort(fingerprints.astype(np.int64, copy=False))
        with self._lock:
            self._set_base(base)
            self._added = Counter()
            self._removed = Counter()
            self.entries = len(base)

    def keys_changed(self, added: Iterable[str], removed: Iterable[str]) -> None:
        with self._lock:
            for key in added:
                fp = hash(key)
                if self._removed[fp]:  # re-filed after a removal still pending: they cancel
                    self._removed[fp] -= 1
                    if not self._removed[fp]:
                        del self._removed[fp]
                else:
                    self._added[fp] += 1
                self.entries += 1
            for key in removed:
                fp = hash(key)
                if self._added[fp]:
                    self._added[fp] -= 1
                    if not self._added[fp]:
                        del self._added[fp]
                else:
                    self._removed[fp] += 1
                self.entries -= 1
            if len(self._added) + len(self._removed) > max(_MERGE_MINIMUM, _MERGE_FRACTION * len(self._base)):
                self._merge()

    def _merge(self) -> None:
        """Fold the pending changes into a new sorted array (called with the lock held)."""
        base = self._base
        if self._removed:
            fps = np.fromiter(self._removed.keys(), dtype=np.int64, count=len(self._removed))
            counts = np.fromiter(self._removed.values(), dtype=np.int64, count=len(self._removed))
            lefts = np.searchsorted(base, fps, side="left")
            present = np.searchsorted(base, fps, side="right") - lefts
            take = np.minimum(counts, present)
            # The positions of the first ``take`` copies of each removed fingerprint.
            runs = np.repeat(lefts, take)
            within = np.arange(int(take.sum())) - np.repeat(np.cumsum(take) - take, take)
            keep = np.ones(len(base), dtype=bool)
            keep[runs + within] = False
            base = base[keep]
        if self._added:
            extra = np.repeat(
                np.fromiter(self._added.keys(), dtype=np.int64, count=len(self._added)),
                np.fromiter(self._added.values(), dtype=np.int64, count=len(self._added)),
            )
            base = np.concatenate((base, extra))
            base.sort()
        self._set_base(base)
        self._added = Counter()
        self._removed = Counter()

    def _set_base(self, base: npt.NDArray[np.int64]) -> None:
        """Install a new sorted array with its directory: for each value of the top ``bits``
        bits, where its fingerprints start (about four to eight fingerprints a bucket, so a
        look-up reads one directory entry and a cache line or two of the array instead of
        binary-searching the whole of it)."""
        bits = max(_MIN_BITS, min(_MAX_BITS, int(len(base) / _PER_BUCKET).bit_length()))
        buckets = (base >> (64 - bits)) + (1 << (bits - 1))  # signed order to 0 .. 2**bits - 1
        # 32-bit offsets (up to 4 billion fingerprints): half a byte to a byte a record.
        offsets: type[np.integer[Any]] = np.uint32 if len(base) < 2**32 else np.int64
        directory: npt.NDArray[np.integer[Any]] = np.zeros((1 << bits) + 1, dtype=offsets)
        np.cumsum(np.bincount(buckets, minlength=1 << bits), out=directory[1:])
        self._base, self._bits, self._directory = base, bits, directory

    # -- reading -------------------------------------------------------------------------

    def contains_many(self, keys: Sequence[str]) -> npt.NDArray[np.bool_]:
        """For each key, whether something may be filed under it (True may, rarely, be a
        fingerprint collision, which the store's look-up then rules out)."""
        if len(keys) <= _FEW:
            with self._lock:
                return self._contains_few([hash(key) for key in keys])
        queries = np.fromiter((hash(key) for key in keys), dtype=np.int64, count=len(keys))
        return self.contains_fingerprints(queries)

    def contains_many_nowait(self, keys: Sequence[str]) -> npt.NDArray[np.bool_] | None:
        """``contains_many``, or None at once if a writer holds the index (a merge of the
        pending changes into a large array takes a while): for callers on an event loop,
        which must not wait for it."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if len(keys) <= _FEW:
                return self._contains_few([hash(key) for key in keys])
            return self._contains(np.fromiter((hash(key) for key in keys), dtype=np.int64, count=len(keys)))
        finally:
            self._lock.release()

    def contains_fingerprints(self, queries: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        # Readers hold the lock too: a batch takes microseconds, writers are rare, and the
        # pending counters are then never copied.
        with self._lock:
            return self._contains(queries)

    def _contains_few(self, queries: list[int]) -> npt.NDArray[np.bool_]:
        """``_contains`` for a handful of fingerprints, one at a time in plain Python: a
        border post's single check would otherwise pay a dozen numpy calls' set-up for one
        look-up. The same directory, walk and pending changes (called with the lock held)."""
        base, directory, added, removed, bits = self._base, self._directory, self._added, self._removed, self._bits
        found = np.zeros(len(queries), dtype=bool)
        for index, fp in enumerate(queries):
            first = -1
            if len(base):
                bucket = (fp >> (64 - bits)) + (1 << (bits - 1))
                start, end = int(directory[bucket]), int(directory[bucket + 1])
                if end - start > _WALK_LIMIT:
                    left = int(np.searchsorted(base, fp, side="left"))
                    if left < len(base) and int(base[left]) == fp:
                        first = left
                else:
                    run = base[start:end].tolist()
                    if fp in run:
                        first = start + run.index(fp)
            present = first >= 0
            if present and fp in removed:
                present = int(np.searchsorted(base, fp, side="right")) - first > removed[fp]
            found[index] = present or fp in added
        return found

    def _contains(self, queries: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """For each fingerprint, whether it is in the multiset (called with the lock held)."""
        found = np.zeros(len(queries), dtype=bool)
        base, added, removed, bits = self._base, self._added, self._removed, self._bits
        if len(base):
            buckets = (queries >> (64 - bits)) + (1 << (bits - 1))
            position = self._directory[buckets].astype(np.int64)
            end = self._directory[buckets + 1].astype(np.int64)
            first = np.full(len(queries), -1, dtype=np.int64)  # where each query was found
            # A crowded bucket (fingerprints are SipHash values, so only by chance) is
            # binary-searched rather than walked.
            crowded = np.flatnonzero(end - position > _WALK_LIMIT)
            if len(crowded):
                left = np.searchsorted(base, queries[crowded], side="left")
                hit = (left < len(base)) & (base[np.minimum(left, len(base) - 1)] == queries[crowded])
                first[crowded[hit]] = left[hit]
                end[crowded] = position[crowded]  # nothing left to walk
            # Walk each query's bucket (sorted, a few entries) in lock step: a pass reads
            # one entry of every query still walking.
            walking = np.flatnonzero(position < end)
            while len(walking):
                values = base[position[walking]]
                wanted = queries[walking]
                equal = values == wanted
                first[walking[equal]] = position[walking[equal]]
                position[walking] += 1
                walking = walking[(values < wanted) & (position[walking] < end[walking])]
            found = first >= 0
            if removed:
                # A removal pending against the array: present only if copies remain.
                for index in np.flatnonzero(found).tolist():
                    fp = int(queries[index])
                    if fp in removed:
                        copies = int(np.searchsorted(base, fp, side="right")) - int(first[index])
                        found[index] = copies > removed[fp]
        if added:
            for index, fp in enumerate(queries.tolist()):
                if not found[index] and fp in added:
                    found[index] = True
        return found

    def counts(self, keys: Sequence[str]) -> list[int]:
        """How many copies of each key the index holds, by fingerprint (a collision counts
        too). Below zero when it was told of more removals than it held copies, until the
        next merge drops the excess (polex.screening.follower brings such keys back)."""
        queries = np.fromiter((hash(key) for key in keys), dtype=np.int64, count=len(keys))
        with self._lock:
            base, added, removed = self._base, self._added, self._removed
            on_base = np.searchsorted(base, queries, side="right") - np.searchsorted(base, queries, side="left")
            return [
                int(copies) + added.get(fp, 0) - removed.get(fp, 0)
                for fp, copies in zip(queries.tolist(), on_base.tolist(), strict=True)
            ]

    def __contains__(self, key: str) -> bool:
        return bool(self.contains_many([key])[0])

    def memory_bytes(self) -> int:
        """The array's and the directory's bytes plus an estimate for the pending changes
        (a dict entry with its int key and value, about 100 bytes)."""
        pending = 100 * (len(self._added) + len(self._removed))
        return int(self._base.nbytes) + int(self._directory.nbytes) + pending

    def __len__(self) -> int:
        return self.entries
