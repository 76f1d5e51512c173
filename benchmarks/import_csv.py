"""Import of a national CSV export through a mapping, beside a plain bulk insert of the same
rows: rows per second and peak memory, on SQLite and PostgreSQL.

Run: .venv/bin/python benchmarks/import_csv.py [--rows 1000000] [--backends sqlite,postgresql]
         [--batch 1000] [--no-quarter] [--plain bulk|core] [--seed 7] [--workers 0,2]

A French-style export of stolen and lost travel documents is generated into a temporary
folder (semicolons, local codes mapped through value maps, dd.mm.yyyy dates, names joined
and split, numbers as typed: some in lower case with a space), with its YAML mapping. About
0.1 % of the rows are made invalid on purpose (an impossible date, a code the value map
does not know, an empty required number): they must land in quarantine, not be dropped.

Every measurement runs in a fresh subprocess on a fresh database (a SQLite file, or a
PostgreSQL schema dropped afterwards), and reports its peak resident set (VmHWM):

A. the import a user runs (``polex import FILE --format csv-mapping --mapping M.yaml``): the
   same ``ImportService.run`` on a node built by ``initialise_node``, so the record keys,
   the screening index and the audit trail are kept current as in production; timed from
   the first byte read to the import's row marked finished. Checked: records stored equal
   the valid rows, every bad row is quarantined at its line, the screening index holds the
   stored documents' keys. The rows it wrote (``records`` and ``record_keys``) are then
   dumped, untimed, for B.
B. a plain bulk insert of those already-converted rows into a fresh database of the same
   schema, one transaction per ``--batch`` rows (the import's batch), the way the import
   writes (``--plain bulk``, the default: COPY on PostgreSQL, executemany on SQLite, the
   values bound and the JSON serialised beforehand) or with SQLAlchemy core ``insert()``
   executemany (``--plain core``, which binds and serialises inside the timing); only the
   inserts and commits are timed (not reading the dump).

The import's CPU seconds (all its threads and its worker processes; not the PostgreSQL
server's) are printed beside its wall time: on a shared machine they say more than the wall
time about the import's own cost.

The import also runs on the first quarter of the file: a peak that does not grow from N/4
to N shows memory does not grow with the file; "workers" is the largest sum of the
proportional resident sets (PSS: a page shared by N processes counts 1/N in each) of its
worker processes and their fork server, sampled every 0.5 s. Figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import itertools
import json
import os
import pickle
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy import create_engine, func, insert, select, text

# This checkout's src/ is looked in last: a PYTHONPATH naming a copy of src/ (the code to compare
# against) comes first, and the installed package is this checkout's anyway.
sys.path.append(str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import python_seconds, speed_line
from processes import descendants, process_stats

from polex.api.heap import tune_for_batch
from polex.audit.repository import bulk_insert
from polex.auth.principal import Principal, PrincipalKind
from polex.bootstrap import Node
from polex.domain.base import new_id
from polex.domain.roles import Role
from polex.formats.csv_mapping import CsvMappingAdapter
from polex.provision import NodeIdentity, initialise_node, own_agency
from polex.record.repository import NEW_RECORD_COLUMNS
from polex.settings import NodeRole
from polex.storage.tables import QuarantineRow, RecordKeyRow, RecordRow

POSTGRES = os.environ.get("POLEX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

MAPPING = """\
version: 1
record: travel_document
csv: {delimiter: ";", encoding: "utf-8"}
constants: {issuing_country: FRA}
value_maps:
  types: {PASSEPORT: passport, CNI: identity_card, TITRE_SEJOUR: residence_permit}
  statuses: {VOL: stolen, PERTE: lost, VIERGE: stolen_blank}
  sexes: {M: male, F: female, X: unknown}
fields:
  - {target: number, column: NUM_DOC, required: true}
  - {target: document_type, column: TYPE, map: types, required: true}
  - {target: status, column: MOTIF, map: statuses, required: true}
  - {target: issued_on, column: DATE_DELIV, date: dd.mm.yyyy}
  - {target: expires_on, column: DATE_EXP, date: dd.mm.yyyy}
  - {target: holder.names.0.full, columns: [PRENOM, NOM], separator: " ", script: Latn}
  - {target: holder.names.0.given, column: PRENOM}
  - {target: holder.names.0.family, column: NOM}
  - {target: holder.birth_date, column: NAISSANCE, date: dd.mm.yyyy}
  - {target: holder.sex, column: SEXE, map: sexes}
source_id: REF
"""
HEADER = "REF;NUM_DOC;TYPE;MOTIF;DATE_DELIV;DATE_EXP;NOM;PRENOM;NAISSANCE;SEXE"
FAMILY = (  # noqa: SIM905 - a list literal of 150 names is longer to read
    "MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL LEFEBVRE LEROY ROUX "
    "DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE ROUSSEAU VINCENT MULLER LEFEVRE FAURE "
    "ANDRE MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER FRANCOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLEMENT "
    "MORIN NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON MARCHAND DUVAL DENIS DUMONT MARIE LEMAIRE NOEL MEYER "
    "DUFOUR MEUNIER BRUN BLANCHARD GIRAUD JOLY RIVIERE LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GERARD "
    "ROCHE RENARD SCHMITT ROY LEROUX COLIN VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX "
    "OLIVIER PHILIPPE BOURGEOIS PIERRE BENOIT REY LECLERC PAYET ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ JEAN "
    "DUPUY GUILLOT HUBERT BERGER CARPENTIER SANCHEZ DUPUIS MOULIN LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER "
    "FLEURY ROYER KLEIN JACQUET ADAM PARIS POIRIER MARTY AUBRY GUYOT CARRE CHARLES RENAULT CHARPENTIER MENARD "
    "MAILLARD BARON BERTIN BAILLY HERVE SCHNEIDER FERNANDEZ LE-GALL COLLET LEGER BOUVIER JULIEN PREVOST MILLET"
).split()
GIVEN = (
    ("Camille", "F"), ("Léa", "F"), ("Manon", "F"), ("Chloé", "F"), ("Inès", "F"), ("Sarah", "F"),
    ("Marie", "F"), ("Julie", "F"), ("Emma", "F"), ("Anaïs", "F"), ("Nathalie", "F"), ("Hélène", "F"),
    ("Luc", "M"), ("Paul", "M"), ("Hugo", "M"), ("Lucas", "M"), ("Thomas", "M"), ("Nicolas", "M"),
    ("Julien", "M"), ("Antoine", "M"), ("Jean-Pierre", "M"), ("François", "M"), ("Mehdi", "M"), ("Karim", "M"),
    ("Dominique", ""), ("Claude", "X"),
)  # fmt: skip
TYPES = ("PASSEPORT", "PASSEPORT", "CNI", "CNI", "CNI", "TITRE_SEJOUR")
MOTIFS = ("VOL", "VOL", "PERTE", "PERTE", "PERTE", "VIERGE")
ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
BAD_EVERY = 1000  # one row in a thousand is invalid on purpose
BAD_AT = 437  # where in each thousand


def number_of(serial: int) -> str:
    """A 9-character document number, a bijection of the serial (no duplicates)."""
    value = (serial * 2_654_435_761 + 12_345) % (len(ALPHABET) ** 9)
    digits = []
    for _ in range(9):
        value, rest = divmod(value, len(ALPHABET))
        digits.append(ALPHABET[rest])
    return "".join(digits)


def is_bad(serial: int) -> bool:
    return serial % BAD_EVERY == BAD_AT


def date(rng: random.Random, first_year: int, last_year: int) -> str:
    return f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(first_year, last_year)}"


def row_of(serial: int, rng: random.Random) -> str:
    number = number_of(serial)
    if serial % 7 == 3:  # as typed at a counter: lower case, a space; the schema normalises it
        number = f"{number[:4].lower()} {number[4:]}"
    given, sex = GIVEN[rng.randrange(len(GIVEN))]
    family = FAMILY[rng.randrange(len(FAMILY))]
    if serial % 11 == 5:
        family = f"{family} {FAMILY[rng.randrange(len(FAMILY))]}"
    issued_year = rng.randint(2010, 2024)
    issued = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{issued_year}"
    expires = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{issued_year + 10}"
    born = date(rng, 1940, 2010)
    kind, motif = TYPES[serial % len(TYPES)], MOTIFS[serial % len(MOTIFS)]
    if motif == "VIERGE":  # a blank stolen from the printer: no holder, never issued
        family = given = born = sex = issued = expires = ""
    if is_bad(serial):
        flaw = serial // BAD_EVERY % 3
        if flaw == 0:
            born = f"31.02.{rng.randint(1940, 2010)}"  # an impossible date
        elif flaw == 1:
            kind = "PERMIS"  # a code the value map does not know
        else:
            number = ""  # an empty required field
    return f"R{serial:08d};{number};{kind};{motif};{issued};{expires};{family};{given};{born};{sex}\n"


def generate(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER + "\n")
        chunk: list[str] = []
        for serial in range(rows):
            chunk.append(row_of(serial, rng))
            if len(chunk) == 10_000:
                out.write("".join(chunk))
                chunk = []
        out.write("".join(chunk))


def bad_lines(rows: int) -> set[str]:
    """Where the invalid rows are, as the import names them (the header is line 1)."""
    return {f"line {serial + 2}" for serial in range(rows) if is_bad(serial)}


# -- memory -----------------------------------------------------------------------------


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# -- databases --------------------------------------------------------------------------


@contextlib.contextmanager
def database(backend: str) -> Iterator[str | None]:
    """None for a SQLite file in the node's folder, else a PostgreSQL schema's URL, dropped after."""
    if backend == "sqlite":
        yield None
        return
    schema = f"polex_bench_import_{new_id()[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def fresh_node(directory: Path, url: str | None) -> Node:
    identity = NodeIdentity(name="bench", country="FRA", role=NodeRole.NATIONAL, port=8499)
    return initialise_node(directory, identity, database_url=url)


def operator(node: Node) -> Principal:
    """The principal ``polex import`` acts as: a local NCB operator of the node's agency."""
    agency = node.agencies.ensure(own_agency(node.settings))
    roles = frozenset({Role.NCB_OPERATOR})
    return Principal(PrincipalKind.LOCAL, "local-import", getpass.getuser(), agency.id, agency.country, roles)


# -- the measurements, each in its own process --------------------------------------------


def child_import(csv_path: Path, mapping_path: Path, rows: int, url: str | None, dump: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        node = fresh_node(Path(directory), url)
        try:
            owner = operator(node)
            adapter = CsvMappingAdapter(mapping=mapping_path)
            tune_for_batch()  # as polex import does
            before_kib = status_kib("VmRSS")
            peak_before_kib = status_kib("VmHWM")
            started, cpu_started = time.perf_counter(), time.process_time()
            children_started = children_cpu_seconds()
            with csv_path.open("rb") as stream, DescendantsPeak() as workers_peak:
                summary = node.imports.run(adapter, stream, source=str(csv_path), owner=owner, notices=node.notices)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            cpu += children_cpu_seconds() - children_started
            peak_kib = status_kib("VmHWM")
            # Correctness: every valid row stored, every bad row quarantined at its line.
            expected_bad = bad_lines(rows)
            with node.engine.connect() as connection:
                stored = connection.scalar(
                    select(func.count()).select_from(RecordRow).where(RecordRow.kind == "travel_document")
                )
                keys = connection.scalar(select(func.count()).select_from(RecordKeyRow))
                quarantined = {
                    location
                    for (location,) in connection.execute(
                        select(QuarantineRow.location).where(QuarantineRow.import_id == summary.id)
                    )
                }
            assert summary.accepted == stored == keys == rows - len(expected_bad), (summary, stored, keys)
            assert summary.rejected == len(expected_bad), summary.reasons
            assert quarantined == expected_bad, sorted(quarantined ^ expected_bad)[:5]
            sample = [f"doc:FRA:{number_of(serial)}" for serial in range(0, rows, 97) if not is_bad(serial)]
            assert bool(node.screening.index.contains_many(sample).all()), "the screening index missed keys"
            assert len(node.screening.index) >= stored
            if dump is not None:
                dump_rows(node, dump)
        finally:
            node.close()
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "stored": stored,
        "quarantined": len(quarantined),
        "reasons": summary.reasons,
        "rss_before_mib": before_kib / 1024,
        "peak_before_mib": peak_before_kib / 1024,
        "peak_mib": peak_kib / 1024,
        "workers_peak_mib": workers_peak.peak_kib / 1024,
    }


class DescendantsPeak:
    """The largest sum of the descendants' proportional resident sets, sampled every 0.5 s.

    The sampler runs in the measured process, so it is kept light: finding the descendants
    reads every process's /proc/PID/stat (about 4 ms of Python, holding the interpreter the
    import's threads need), done every 2 s; reading a process's smaps_rollup makes the
    kernel walk its page tables (about 1 ms each)."""

    SAMPLE_SECONDS = 0.5
    FIND_EVERY = 4  # samples

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DescendantsPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        pids: list[int] = []
        for sample in itertools.count():
            if self._stop.wait(self.SAMPLE_SECONDS):
                return
            if sample % self.FIND_EVERY == 0:
                pids = descendants(os.getpid())
            total = 0
            for pid in pids:
                with contextlib.suppress(OSError, StopIteration):
                    # Proportional: pages the workers share with their fork server count once.
                    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                    total += int(next(line for line in rollup if line.startswith("Pss:")).split()[1])
            self.peak_kib = max(self.peak_kib, total)


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children and of the processes they waited for: the
    import's fork server and, once they have exited, its workers."""
    me = str(os.getpid())
    ticks = sum(
        sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        for fields in process_stats().values()
        if fields[1] == me
    )
    return ticks / os.sysconf("SC_CLK_TCK")


def dump_rows(node: Node, dump: Path) -> None:
    """The rows the import wrote, as Python values, in batches (pickled one after the other)."""
    with node.engine.connect() as connection, dump.open("wb") as out:
        records = connection.execution_options(yield_per=5000).execute(
            select(RecordRow.__table__).where(RecordRow.kind == "travel_document").order_by(RecordRow.id)
        )
        for batch in records.partitions():
            ids = [row.id for row in batch]
            pairs = connection.execute(
                select(RecordKeyRow.key, RecordKeyRow.record_id).where(RecordKeyRow.record_id.in_(ids))
            ).all()
            record_rows = [dict(row._mapping) for row in batch]
            key_rows = [{"key": key, "record_id": record_id} for key, record_id in pairs]
            pickle.dump((record_rows, key_rows), out, protocol=pickle.HIGHEST_PROTOCOL)


def read_dump(stream: IO[bytes]) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    while True:
        try:
            yield pickle.load(stream)  # noqa: S301 - our own file, written just before
        except EOFError:
            return


def child_plain(dump: Path, url: str | None, batch: int, how: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        node = fresh_node(Path(directory), url)
        try:
            agency_id = operator(node).agency_id  # the fresh node's agency owns the copies
            before_kib = status_kib("VmRSS")
            peak_before_kib = status_kib("VmHWM")
            timed = 0.0
            count = 0
            started = time.perf_counter()
            with dump.open("rb") as stream:
                records: list[dict[str, Any]] = []
                keys: list[dict[str, Any]] = []
                for more_records, more_keys in read_dump(stream):
                    for row in more_records:
                        row["owner_agency_id"] = agency_id
                    records += more_records
                    keys += more_keys
                    while len(records) >= batch:
                        timed += insert_batch(node, records[:batch], keys, batch, how)
                        count += batch
                        del records[:batch]
                if records:
                    timed += insert_batch(node, records, keys, batch, how)
                    count += len(records)
            wall = time.perf_counter() - started
            peak_kib = status_kib("VmHWM")
            with node.engine.connect() as connection:
                stored = connection.scalar(select(func.count()).select_from(RecordRow))
                stored_keys = connection.scalar(select(func.count()).select_from(RecordKeyRow))
            assert stored == stored_keys == count, (stored, stored_keys, count)
        finally:
            node.close()
    return {
        "seconds": timed,
        "wall_seconds": wall,
        "stored": count,
        "rss_before_mib": before_kib / 1024,
        "peak_before_mib": peak_before_kib / 1024,
        "peak_mib": peak_kib / 1024,
    }


def insert_batch(node: Node, records: list[dict[str, Any]], keys: list[dict[str, Any]], batch: int, how: str) -> float:
    """Insert one batch of records with their keys in one transaction; the seconds it took.
    ``keys`` loses the rows inserted (the dump writes a record's keys with the record).

    ``bulk``: as the driver inserts fastest, the way the import stores (``bulk_insert``:
    COPY on PostgreSQL, executemany on SQLite), the values bound and the JSON serialised
    before the clock starts; ``core``: SQLAlchemy core ``insert()`` executemany, which binds
    and serialises each value itself, inside the timing."""
    ids = {row["id"] for row in records}
    mine = [row for row in keys if row["record_id"] in ids]
    keys[:] = [row for row in keys if row["record_id"] not in ids]
    if how == "core":
        started = time.perf_counter()
        with node.engine.begin() as connection:
            connection.execute(insert(RecordRow.__table__), records)  # type: ignore[arg-type]
            connection.execute(insert(RecordKeyRow.__table__), mine)  # type: ignore[arg-type]
        return time.perf_counter() - started
    table = RecordRow.__table__
    with node.engine.connect() as connection:  # converting, untimed
        processors = [
            table.c[name].type.dialect_impl(connection.dialect).bind_processor(connection.dialect)
            for name in NEW_RECORD_COLUMNS
        ]
        rows = [
            tuple(
                process(row[name]) if process is not None else row[name]
                for name, process in zip(NEW_RECORD_COLUMNS, processors, strict=True)
            )
            for row in records
        ]
        pairs = [(row["key"], row["record_id"]) for row in mine]
        started = time.perf_counter()
        with connection.begin():
            bulk_insert(connection, "records", NEW_RECORD_COLUMNS, rows)
            bulk_insert(connection, "record_keys", ("key", "record_id"), pairs)
        return time.perf_counter() - started


def child(arguments: argparse.Namespace) -> int:
    url = arguments.url or None
    if arguments.child == "import":
        dump = Path(arguments.dump) if arguments.dump else None
        result = child_import(Path(arguments.csv), Path(arguments.mapping), arguments.rows, url, dump)
    else:
        result = child_plain(Path(arguments.dump), url, arguments.batch, arguments.plain)
    print(json.dumps(result))
    return 0


def run_child(*options: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    command = [sys.executable, __file__, *options]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})})
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the measurement {' '.join(options)} failed")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the run -----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--batch", type=int, default=1000, help="rows a transaction in the plain insert")
    parser.add_argument("--no-quarter", action="store_true", help="skip the import of the first quarter")
    parser.add_argument(
        "--plain",
        choices=("bulk", "core"),
        default="bulk",
        help="B inserts as the import does (bulk: COPY / executemany of bound values) or with core insert()",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--workers",
        default=f"0,{os.cpu_count() or 1}",
        help="A once per value: worker processes that convert the rows (0: the importing process alone)",
    )
    parser.add_argument("--child", choices=("import", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--mapping", help=argparse.SUPPRESS)
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        return child(arguments)

    print(speed_line(python_seconds()), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        mapping = directory / "documents.yaml"
        mapping.write_text(MAPPING, encoding="utf-8")
        sizes = [arguments.rows] if arguments.no_quarter else [arguments.rows // 4, arguments.rows]
        files = {}
        for size in sizes:
            files[size] = directory / f"export-{size}.csv"
            started = time.perf_counter()
            generate(files[size], size, arguments.seed)
            megabytes = files[size].stat().st_size / 1e6
            print(f"generated {size:,} rows ({megabytes:,.0f} MB) in {time.perf_counter() - started:.0f} s", flush=True)
        print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")

        print(
            f"\n{'':<44}{'rows':>11}{'rows/s':>10}{'seconds':>9}{'CPU s':>8}{'RSS before':>12}{'peak RSS':>10}"
            f"{'workers':>11}"
        )
        results: dict[str, dict[str, float]] = {}
        worker_counts = [int(value) for value in arguments.workers.split(",")]
        for backend in arguments.backends.split(","):
            for size in sizes:
                dump = directory / "rows.pickle"
                for workers in worker_counts:
                    last = size == arguments.rows and workers == worker_counts[-1]
                    with database(backend) as url:
                        options = ["--child", "import", "--csv", str(files[size]), "--mapping", str(mapping)]
                        options += ["--rows", str(size), "--url", url or ""]
                        if last:
                            options += ["--dump", str(dump)]
                        outcome = run_child(*options, env={"POLEX_IMPORT_WORKERS": str(workers)})
                    label = (
                        f"{backend}: A. import, {workers} workers" if workers else f"{backend}: A. import, 1 process"
                    )
                    show(label, size, outcome)
                    if size != arguments.rows:
                        continue
                    results.setdefault(backend, {})[label.split(": ", 1)[1]] = size / outcome["seconds"]
                    print(
                        f"{'':<44}stored {outcome['stored']:,}, quarantined {outcome['quarantined']:,}:",
                        outcome["reasons"],
                    )
                if size != arguments.rows:
                    continue
                with database(backend) as url:
                    outcome = run_child(
                        "--child", "plain", "--dump", str(dump), "--url", url or "", "--batch", str(arguments.batch),
                        "--plain", arguments.plain,
                    )  # fmt: skip
                dump.unlink()
                show(f"{backend}: B. plain {arguments.plain}, batches of {arguments.batch}", outcome["stored"], outcome)
                plain = outcome["stored"] / outcome["seconds"]
                for label, rate in results[backend].items():
                    results[backend][label] = rate / plain
        print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}\n")
        for backend, ratios in results.items():
            for label, ratio in ratios.items():
                times = f"the plain insert is {1 / ratio:.1f} times as fast"
                print(f"{backend:<11} {label + ' / plain':<34} {ratio:.2f} ({times})")
    return 0


def show(name: str, rows: int, outcome: dict[str, Any]) -> None:
    cpu = f"{outcome['cpu_seconds']:>8.1f}" if "cpu_seconds" in outcome else f"{'':>8}"
    workers = outcome.get("workers_peak_mib", 0.0)
    print(
        f"{name:<44}{rows:>11,}{rows / outcome['seconds']:>10,.0f}{outcome['seconds']:>9.1f}{cpu}"
        f"{outcome['rss_before_mib']:>9,.0f} MB{outcome['peak_mib']:>7,.0f} MB"
        + (f"{workers:>9,.0f} MB" if workers else ""),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
