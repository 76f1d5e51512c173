"""Document checks per second: polex's in-memory fingerprint index against indexed look-ups
of the same batch in SQLite and PostgreSQL, on millions of stolen documents.

Run: python benchmarks/document_checks.py [--size 10000000] [--db-size 10000000] [--queries 1000000]
                                           [--batch 1000] [--no-postgres] [--seed 7]

What is measured, in one run on the same generated data:

- the index's memory: bytes per record (the array) and the process's resident-set growth
  while it was built, and how long building took (hashing N keys and sorting);
- polex index, keys: ``FingerprintIndex.contains_many`` on lookup keys already built
  (``doc:FRA:12AB34567``), in batches of ``--batch`` and as one batch of all queries;
- polex index, raw items: the API's whole in-process path per item: reading
  ``{"number", "country"}`` (normalising the number, checking the country code) into
  its key, then the index; this is what one border request costs before the store;
- SQLite and PostgreSQL: a table with the same keys as its primary key, the same queries
  asked ``WHERE key IN (...)`` (SQLite, 500 a statement) and ``= ANY(array)`` (PostgreSQL,
  ``--batch`` a statement); answers are checked identical to the index's.

The query batch is ``--queries`` keys of which 0.01 % are on file (the hit rate of
INTERPOL's SLTD at borders), the rest random numbers of the same shape. ``--db-size``
caps the rows loaded into the databases (loading 100 million rows takes most of an
hour); the index runs at ``--size``. Figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# This checkout's src/ is looked in last: a PYTHONPATH naming a copy of src/ (the code to compare
# against) comes first, and the installed package is this checkout's anyway.
sys.path.append(str(Path(__file__).resolve().parent.parent / "src"))

from polex.screening.index import FingerprintIndex
from polex.screening.queries import CheckItem, read_document

COUNTRIES = ("FRA", "DEU", "ITA", "ESP", "POL", "UKR", "TUR", "GBR", "USA", "BRA", "NGA", "IND", "CHN", "RUS", "EGY")
ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
CHUNK = 1_000_000


def number_of(serial: int) -> str:
    """A 9-character document number, a bijection of the serial (so the set has no duplicates)."""
    value = (serial * 2_654_435_761 + 12_345) % (len(ALPHABET) ** 9)
    digits = []
    for _ in range(9):
        value, rest = divmod(value, len(ALPHABET))
        digits.append(ALPHABET[rest])
    return "".join(digits)


def key_of(serial: int) -> str:
    return f"doc:{COUNTRIES[serial % len(COUNTRIES)]}:{number_of(serial)}"


def keys(size: int) -> Iterator[str]:
    for serial in range(size):
        yield key_of(serial)


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def build_index(size: int) -> tuple[FingerprintIndex, float, int]:
    before = rss_bytes()
    started = time.perf_counter()
    chunks = []
    for start in range(0, size, CHUNK):
        stop = min(size, start + CHUNK)
        chunks.append(np.fromiter((hash(key_of(s)) for s in range(start, stop)), dtype=np.int64, count=stop - start))
    fingerprints = np.concatenate(chunks)
    del chunks
    index = FingerprintIndex()
    index.load_fingerprints(fingerprints)
    del fingerprints
    return index, time.perf_counter() - started, rss_bytes() - before


def queries(size: int, count: int, rng: random.Random) -> list[str]:
    """``count`` keys, 0.01 % of them on file (at least one), the rest of the same shape."""
    hits = max(1, count // 10_000)
    asked = [key_of(rng.randrange(size)) for _ in range(hits)]
    # Serials beyond the filed range give numbers of the same shape that are not on file.
    asked += [key_of(size + rng.randrange(10**12)) for _ in range(count - hits)]
    rng.shuffle(asked)
    return asked


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>14,.0f}/s"


def time_index(index: FingerprintIndex, asked: list[str], batch: int) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    answers = [index.contains_many(asked[start : start + batch]) for start in range(0, len(asked), batch)]
    return time.perf_counter() - started, np.concatenate(answers)


def time_raw_items(index: FingerprintIndex, asked: list[str], batch: int) -> tuple[float, int]:
    items = []
    for key in asked:
        _, country, number = key.split(":")
        # As a border system types it: lower case with a space, which the reader normalises.
        items.append({"number": f"{number[:4].lower()} {number[4:]}", "country": country})
    started = time.perf_counter()
    found = 0
    for start in range(0, len(items), batch):
        read = [read_document(position, item) for position, item in enumerate(items[start : start + batch])]
        wanted = [key for entry in read if isinstance(entry, CheckItem) for key in entry.keys]
        found += int(index.contains_many(wanted).sum())
    return time.perf_counter() - started, found


def sqlite_peer(db_size: int, asked: list[str], directory: Path) -> tuple[float, float, set[str]]:
    path = directory / "documents.sqlite"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("CREATE TABLE record_keys (key TEXT PRIMARY KEY) WITHOUT ROWID")
    started = time.perf_counter()
    for start in range(0, db_size, CHUNK):
        stop = min(db_size, start + CHUNK)
        connection.executemany(
            "INSERT INTO record_keys VALUES (?)", ((key_of(serial),) for serial in range(start, stop))
        )
        connection.commit()
    loaded = time.perf_counter() - started
    found: set[str] = set()
    step = 500
    # Only "?" placeholders are formatted in; the keys are bound parameters.
    statement = f"SELECT key FROM record_keys WHERE key IN ({','.join('?' * step)})"  # noqa: S608
    started = time.perf_counter()
    for start in range(0, len(asked), step):
        chunk = asked[start : start + step]
        if len(chunk) < step:
            sql = f"SELECT key FROM record_keys WHERE key IN ({','.join('?' * len(chunk))})"  # noqa: S608
            found.update(row[0] for row in connection.execute(sql, chunk))
        else:
            found.update(row[0] for row in connection.execute(statement, chunk))
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed, loaded, found


def postgres_peer(db_size: int, asked: list[str], batch: int) -> tuple[float, float, set[str]] | None:
    try:
        import psycopg
    except ImportError:
        return None
    url = os.environ.get("POLEX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    url = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        connection = psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as error:
        print(f"PostgreSQL: not reachable ({error}); skipped")
        return None
    with connection:
        connection.execute("DROP TABLE IF EXISTS bench_record_keys")
        connection.execute("CREATE UNLOGGED TABLE bench_record_keys (key text)")
        started = time.perf_counter()
        with connection.cursor() as cursor, cursor.copy("COPY bench_record_keys (key) FROM STDIN") as copy:
            for serial in range(db_size):
                copy.write_row((key_of(serial),))
        connection.execute("ALTER TABLE bench_record_keys ADD PRIMARY KEY (key)")
        connection.execute("ANALYZE bench_record_keys")
        loaded = time.perf_counter() - started
        found: set[str] = set()
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for start in range(0, len(asked), batch):
                cursor.execute("SELECT key FROM bench_record_keys WHERE key = ANY(%s)", (asked[start : start + batch],))
                found.update(row[0] for row in cursor.fetchall())
        elapsed = time.perf_counter() - started
        connection.execute("DROP TABLE bench_record_keys")
    return elapsed, loaded, found


def measure_index(size: int, asked: list[str], batch: int) -> tuple[list[tuple[str, float, int]], set[str]]:
    index, built, grown = build_index(size)
    print(
        f"index of {size:,}: built in {built:.1f} s; {index.memory_bytes() / size:.1f} bytes a record in the "
        f"array; resident set grew {grown / size:.1f} bytes a record ({grown / 2**20:,.0f} MiB)"
    )
    rows: list[tuple[str, float, int]] = []
    elapsed, answers = time_index(index, asked, batch)
    rows.append((f"polex index of {size:,}, keys, batches of {batch}", elapsed, len(asked)))
    found = {key for key, hit in zip(asked, answers.tolist(), strict=True) if hit}
    whole, _ = time_index(index, asked, len(asked))
    rows.append((f"polex index of {size:,}, keys, one batch of {len(asked):,}", whole, len(asked)))
    raw, raw_found = time_raw_items(index, asked, batch)
    rows.append((f"polex index of {size:,}, raw items read and checked, batches of {batch}", raw, len(asked)))
    assert raw_found == len(found), (raw_found, len(found))
    return rows, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument(
        "--db-size", type=int, default=None, help="rows in the databases (default: --size, at most 10M)"
    )
    parser.add_argument("--queries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    db_size = args.db_size if args.db_size is not None else min(args.size, 10_000_000)
    print(f"queries: {args.queries:,} a run, 0.01 % of them on file; batches of {args.batch}")

    # Side by side at the databases' size: the same records, the same queries, the same answers.
    rows: list[tuple[str, float, int]] = []
    found: set[str] = set()
    if db_size:
        asked = queries(db_size, args.queries, random.Random(args.seed))
        rows, found = measure_index(db_size, asked, args.batch)
    if db_size and not args.no_sqlite:
        with tempfile.TemporaryDirectory() as directory:
            elapsed, loaded, by_sqlite = sqlite_peer(db_size, asked, Path(directory))
        assert by_sqlite == found, "SQLite and the index disagree"
        rows.append(
            (f"SQLite, primary key, IN (500 keys), {db_size:,} rows (loaded in {loaded:.0f} s)", elapsed, len(asked))
        )
    if db_size and not args.no_postgres:
        result = postgres_peer(db_size, asked, args.batch)
        if result is not None:
            elapsed, loaded, by_postgres = result
            assert by_postgres == found, "PostgreSQL and the index disagree"
            rows.append(
                (
                    f"PostgreSQL, primary key, = ANY({args.batch} keys), {db_size:,} rows (loaded in {loaded:.0f} s)",
                    elapsed,
                    len(asked),
                )
            )
    if db_size:
        print(f"hits in the batch: {len(found)} of {len(asked):,}; every row found the same")
    # The index alone at the full size, when it is beyond what the databases were given.
    if args.size > db_size:
        asked = queries(args.size, args.queries, random.Random(args.seed))
        more, found = measure_index(args.size, asked, args.batch)
        rows += more
        print(f"hits at {args.size:,}: {len(found)} of {len(asked):,}")

    reference = rows[0][1] / rows[0][2]
    print(f"\n{'':<96}{'checks/s':>16}{'time x':>9}")
    for name, seconds, count in rows:
        print(f"{name:<96}{rate(count, seconds)}{seconds / count / reference:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
