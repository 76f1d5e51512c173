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

import numpy as np
import numpy.typing as npt

_CHUNK = 1_000_000  # keys hashed per numpy array while building
_MERGE_FRACTION = 0.02  # merge the pending changes once they reach 2 % of the array
_MERGE_MINIMUM = 50_000


def fingerprint(key: str) -> int:
    return hash(key)


class FingerprintIndex:
    """A multiset of lookup keys, by fingerprint. Thread-safe: readers take a consistent
    view (the array and the counters are swapped together under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
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
            self._base = base
            self._added = Counter()
            self._removed = Counter()
            self.entries = len(base)
        return len(base)

    def load_fingerprints(self, fingerprints: npt.NDArray[np.int64]) -> None:
        """Replace the contents with already computed fingerprints (benchmarks build 100
        million of them without making 100 million strings)."""
        base = np.sort(fingerprints.astype(np.int64, copy=False))
        with self._lock:
            self._base = base
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
        self._base = base
        self._added = Counter()
        self._removed = Counter()

    # -- reading -------------------------------------------------------------------------

    def contains_many(self, keys: Sequence[str]) -> npt.NDArray[np.bool_]:
        """For each key, whether something may be filed under it (True may, rarely, be a
        fingerprint collision, which the store's look-up then rules out)."""
        if not keys:
            return np.zeros(0, dtype=bool)
        queries = np.fromiter((hash(key) for key in keys), dtype=np.int64, count=len(keys))
        return self.contains_fingerprints(queries)

    def contains_fingerprints(self, queries: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        # Sorted queries walk the array in order: several times faster than random probes.
        order = np.argsort(queries)
        ordered = queries[order]
        found = np.zeros(len(queries), dtype=bool)
        # Readers hold the lock too: a batch takes microseconds, writers are rare, and the
        # pending counters are then never copied.
        with self._lock:
            base, added, removed = self._base, self._added, self._removed
            if len(base):
                left = np.searchsorted(base, ordered, side="left")
                inside = left < len(base)
                hit = np.zeros(len(ordered), dtype=bool)
                hit[inside] = base[left[inside]] == ordered[inside]
                if removed:
                    # A removal pending against the array: present only if copies remain.
                    for position in np.flatnonzero(hit).tolist():
                        fp = int(ordered[position])
                        if fp in removed:
                            copies = int(np.searchsorted(base, fp, side="right")) - int(left[position])
                            hit[position] = copies > removed[fp]
                found[order] = hit
            if added:
                for position, fp in enumerate(queries.tolist()):
                    if not found[position] and fp in added:
                        found[position] = True
        return found

    def __contains__(self, key: str) -> bool:
        return bool(self.contains_many([key])[0])

    def memory_bytes(self) -> int:
        """The array's bytes plus an estimate for the pending changes (a dict entry with
        its int keys and values, about 100 bytes)."""
        return int(self._base.nbytes) + 100 * (len(self._added) + len(self._removed))

    def __len__(self) -> int:
        return self.entries
