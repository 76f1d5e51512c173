"""Batch screening: a passenger manifest against a large watch list, polex beside Splink.

Run: .venv/bin/python benchmarks/batch_manifest.py [--watchlist 1000000] [--manifest 100000]
         [--match-rate 0.02] [--seed 5] [--sides polex,splink] [--data DIR] [--score-only]

``--data DIR`` keeps the files (data, pairs, times, Splink's models) and reuses the data
found there; ``--score-only`` scores the results already in it. The Splink side needs the
``bench`` extra (``pip install -e '.[bench]'``) and is skipped, saying so, without it.

Data (seeded; written once to a folder, then read by both sides from the same files):

- the watch list (``--watchlist`` persons): the generator of ``person_match_speed.py``:
  given, middle and family names from yente's screening fixtures in their script mix (Latin,
  Han, Arabic, Devanagari, Hangul, Cyrillic, Thai, Hebrew), one Latin person in ten with an
  alias in another script from rigour's (Wikidata) name groups, 70 % full birth dates, 20 %
  years, 10 % none, a nationality for 80 % and a sex for 70 %;
- the manifest (``--manifest`` rows, CSV with the columns polex manifests take: ``id``,
  ``name``, ``birth_date``, ``nationality``, ``sex``): ``--match-rate`` of the rows are
  watch-list members as a passenger list would carry them (a full birth date from the
  passport, completing the watch list's year or month, and a nationality), each with one
  change of the name: none, a typo, family name first, the middle name dropped, written in
  another script (a non-Latin name in Latin, as a passport prints it: rigour's Latin forms of
  the part, else its ASCII transliteration; a Latin name in Cyrillic, Arabic, Greek ... from
  rigour's groups), an English nickname for the given name, or a typo and the order; and,
  independently, of the birth date: a year off, a digit wrong, day and month swapped, or
  only the year or year and month given. The other rows are new persons from the same
  generator (full birth dates, a nationality), not on the list, shuffled among them;
- the ground truth (``truth.csv``: each row's watch-list entry or none, and its changes)
  is kept apart: read to score, and its tuning slice to train Splink's second model.

Each side runs in its own process (``--side``), reads the same two files, and writes the
pairs it found (manifest row, watch-list entry, score) and its times; this process scores
them. A row is a true positive when its true entry is among the entries it matched at the
threshold; an alerted row whose true entry is not among them counts once as a false alert.
Precision = true positives / alerted rows, recall = true positives / member rows. The
manifest is split into a tuning slice (rows whose number is a multiple of 5) and an
evaluation slice (the rest): the thresholds marked "best F1" are the best on the tuning
slice, and every figure is on the evaluation slice.

polex (one process, one core: the manifest worker is one thread): a hub node built as
``polex init`` does, on SQLite in a temporary folder. The watch list is stored as person
records of a second agency of the hub's country through ``RecordService.create_many``
(batches of 10,000, each one transaction with its lookup keys and import audit event):
"prepare", reported apart (a node's records are already there). "build" is the node loading
its person watch list from the store (``ScreeningService.load_watchlist``: every record read
and indexed, the matcher's name data built, as at start-up). "screening" is the manifest
job as ``polex screen`` runs it: the file spooled, ``ScreeningJobs.submit`` and ``run``
(CSV read row by row, chunks of 500 through ``ScreeningService.match_many``: watch-list
search, the policy decision per candidate for a border officer of the hub's agency, hits
raised on the other agency's records, one audit event per chunk, one result line per row,
progress recorded), then the results read back (``ScreeningJobs.results``, audited).
Threshold 0.80 (the default) and 5 candidates a row.

Splink 4 on DuckDB (in memory, both cores): the same files read with pandas; every name
form (a watch-list entry's name and alias are two rows of one entry) is folded to ASCII with
rigour's ``ascii_text`` (Splink compares Latin strings; without it a non-Latin name would
only ever meet itself) and cut into parts: the first and the last part, the name as written
and with its parts sorted (a manifest's name comes in one column, in any order), the parts
as a list, Soundex codes of the first and last; the birth year is taken from the date.
Comparisons: the name (exact, with term-frequency adjustment; the same parts in another
order; Jaro-Winkler 0.92 on the first and the last part; 0.92 on the sorted name; two parts
in common; Jaro-Winkler 0.88 on first and last; 0.85 on the sorted name; one part in
common), the birth date (exact, compatible partial dates, one edit, a year apart),
nationality and sex (exact). Blocking for prediction (any of): the birth year and a part in
common; the birth year and the surname's first two letters; the Soundex codes of the first
and last parts; the sorted name. Two models, each in its own linker: the prior from exact
name and date rules (recall 0.7) and u by random sampling (10 million pairs), as Splink's
tutorials do, then m either by expectation maximisation in two sessions (blocked on the
birth date, then on the sorted name) or from the labelled pairs of the tuning slice (its
members and their entries, each paired with the entry's name or alias, whichever shares more
name parts with the row; a level none of them fell in gets half a pair's share). "prepare"
is reading and folding; "build" the linker and its training; "screening" the prediction
(pairs of match weight -15 or more) and reading them out. Reported at the best-F1 threshold
of the tuning slice and at 0.9.

Figures: time of each step, manifest rows per second of screening, CPU seconds and peak
resident memory (VmHWM) of each side's process, precision, recall and F1, recall by kind of
change, and the ratio of the wall times. Because the generator's name pools are small for
some scripts (Hangul, Han), a large list holds many namesakes of any row: the report says
how many of the other rows have one (the same name as written), how many false alerts fall
on a namesake that agrees on every field both give (which no matcher can tell apart, and
which a screening officer would want to see), the precision counting those as right, and
recall and false alerts per 1,000 other rows by the script of the row's name.
"""

from __future__ import annotations

import argparse
import csv
import gc
import importlib.util
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import IO, Any

from person_match_speed import FIXTURES, RIGOUR_NAMES, Person, Pools, load_pools, make_person, typo
from rigour.text.scripts import text_scripts
from rigour.text.translit import ascii_text

from polex.matching import DEFAULT_THRESHOLD

WATCHLIST_FILE = "watchlist.csv"
MANIFEST_FILE = "manifest.csv"
TRUTH_FILE = "truth.csv"
SIDES = ("polex", "splink")
TUNING_EVERY = 5  # rows whose number is a multiple of this tune the "best F1" thresholds
SPLINK_FLOOR_WEIGHT = -15.0  # Splink's pairs are kept from this match weight up (probability 3e-5)
SPLINK_REPORTED = 0.9
SEED_BATCH = 10_000
TARGET_SCRIPTS = ("Cyrillic", "Arabic", "Greek", "Hebrew", "Georgian", "Armenian", "Devanagari")
NAME_CHANGES = (
    ("none", 10),
    ("typo", 20),
    ("order", 15),
    ("middle", 10),
    ("script", 25),
    ("nickname", 10),
    ("typo+order", 10),
)


# -- data ------------------------------------------------------------------------------------


@dataclass
class NameForms:
    """What the manifest's changes draw on beyond the watch list's pools."""

    latin: dict[str, list[str]]  # a non-Latin name part -> its Latin forms (rigour's groups)
    nicknames: dict[str, list[str]]  # a given name, lower case -> its English nicknames


def load_name_forms(rigour_names: Path) -> NameForms:
    latin: dict[str, list[str]] = defaultdict(list)
    if rigour_names.exists():
        with rigour_names.open(encoding="utf-8") as handle:
            for line in handle:
                forms = [f for f in (f.strip() for f in line.partition(" => ")[0].split(",")) if f and " " not in f]
                latins = [f for f in forms if f.isascii() and f.isalpha()][:3]
                if latins:
                    for form in forms:
                        if not form.isascii() and len(latin[form]) < 6:
                            latin[form].extend(latins)
    nicknames: dict[str, list[str]] = defaultdict(list)
    source = files("polex.matching").joinpath("data", "nicknames-en.csv")
    with source.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["relationship"] == "has_nickname":
                nicknames[row["name1"]].append(row["name2"])
    return NameForms(dict(latin), dict(nicknames))


@dataclass
class ManifestEntry:
    name: str
    birth_date: str | None
    nationality: str | None
    sex: str | None
    source: int | None  # the watch-list entry it is, or None
    change: str  # what was changed ("typo;year"), "" for a non-member


def _script(text: str) -> str:
    scripts = text_scripts(text)
    return next(iter(scripts)) if len(scripts) == 1 else "Latin"


def _full_date(rng: random.Random, year: int | None = None, month: int | None = None) -> str:
    return f"{year or rng.randint(1940, 2005)}-{month or rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def passport_date(recorded: str | None, rng: random.Random) -> str:
    """The full birth date a passport shows for a person the list records to the year, the
    month or the day (or not at all)."""
    if recorded is None:
        return _full_date(rng)
    if len(recorded) == 4:
        return _full_date(rng, int(recorded))
    if len(recorded) == 7:
        return _full_date(rng, int(recorded[:4]), int(recorded[5:7]))
    return recorded


def change_date(date: str, rng: random.Random) -> tuple[str, str]:
    """A full date as the manifest writes it, and what changed ("" for nothing)."""
    roll = rng.random()
    year, month, day = int(date[:4]), int(date[5:7]), int(date[8:10])
    if roll < 0.60:
        return date, ""
    if roll < 0.72:
        return f"{year + rng.choice((-1, 1))}{date[4:]}", "year"
    if roll < 0.80:
        wrong = day % 10 + rng.choice((-1, 1))
        wrong = min(9, max(0, wrong)) if day >= 10 else min(9, max(1, wrong))
        return f"{date[:8]}{day // 10}{wrong}", "digit"
    if roll < 0.85 and day <= 12 and day != month:
        return f"{year}-{day:02d}-{month:02d}", "day/month"
    if roll < 0.95:
        return date[:4], "year only"
    return date[:7], "year-month only"


def _latin_part(part: str, forms: NameForms, rng: random.Random) -> str:
    found = forms.latin.get(part)
    if found:
        return rng.choice(found).capitalize()
    return ascii_text(part).replace(" ", "").replace("-", "").capitalize() or part


def _other_script(parts: list[str], pools: Pools, rng: random.Random) -> list[str] | None:
    """The parts written in one other script, when every part has a form in it."""
    found = [pools.variants.get(part.lower(), []) for part in parts]
    common = set(TARGET_SCRIPTS)
    for forms in found:
        common &= {_script(form) for form in forms}
    if not common:
        return None
    target = rng.choice(sorted(common))
    return [rng.choice([form for form in forms if _script(form) == target]) for forms in found]


def change_name(person: Person, pools: Pools, forms: NameForms, rng: random.Random) -> tuple[list[str], str]:
    """The member's name parts as the manifest writes them, and what was changed. A change
    that does not apply to the name (no middle name, no nickname) falls back on a typo."""
    parts = list(person.parts)
    kind = rng.choices([kind for kind, _ in NAME_CHANGES], [weight for _, weight in NAME_CHANGES])[0]
    if kind == "middle" and len(parts) > 2:
        return [parts[0], parts[-1]], kind
    if kind == "script":
        if _script(person.name) != "Latin":
            return [_latin_part(part, forms, rng) for part in parts], kind
        written = _other_script(parts, pools, rng)
        if written is not None:
            return written, kind
    if kind == "nickname" and forms.nicknames.get(parts[0].lower()):
        return [rng.choice(forms.nicknames[parts[0].lower()]).capitalize(), *parts[1:]], kind
    if kind == "none":
        return parts, kind
    if kind in ("order", "typo+order"):
        parts = [parts[-1], *parts[:-1]]
        if kind == "order":
            return parts, kind
    at = rng.randrange(len(parts))
    changed = typo(parts[at], rng)
    if changed == parts[at]:  # too short to change: another part, or unchanged
        at = max(range(len(parts)), key=lambda index: len(parts[index]))
        changed = typo(parts[at], rng)
    parts[at] = changed
    return parts, "typo+order" if kind == "typo+order" else "typo"


def make_watchlist(pools: Pools, rng: random.Random, size: int) -> list[Person]:
    return [make_person(pools, rng) for _ in range(size)]


def make_manifest(
    watchlist: Sequence[Person],
    pools: Pools,
    forms: NameForms,
    rng: random.Random,
    size: int,
    match_rate: float,
) -> list[ManifestEntry]:
    """``size`` rows, ``round(size * match_rate)`` of them changed members, shuffled."""
    members = min(round(size * match_rate), len(watchlist))
    nationalities = [nat for script in pools.scripts for _, _, nat in pools.given[script][:200] if nat]
    rows: list[ManifestEntry] = []
    for source in rng.sample(range(len(watchlist)), members):
        person = watchlist[source]
        parts, name_change = change_name(person, pools, forms, rng)
        birth_date, date_change = change_date(passport_date(person.birth_date, rng), rng)
        nationality = person.nationality or rng.choice(nationalities)
        nationality_change = ""
        if rng.random() < 0.05:
            nationality, nationality_change = rng.choice(nationalities), "nationality"
        change = ";".join(item for item in (name_change, date_change, nationality_change) if item)
        rows.append(ManifestEntry(" ".join(parts), birth_date, nationality, person.sex, source, change))
    for _ in range(size - members):
        person = make_person(pools, rng)
        rows.append(
            ManifestEntry(
                person.name, _full_date(rng), person.nationality or rng.choice(nationalities), person.sex, None, ""
            )
        )
    rng.shuffle(rows)
    return rows


def entry_id(number: int) -> str:
    return f"w{number}"


def row_id(number: int) -> str:
    return f"m{number}"


def write_watchlist(stream: IO[str], watchlist: Iterable[Person]) -> None:
    writer = csv.writer(stream)
    writer.writerow(["id", "name", "alias", "birth_date", "nationality", "sex"])
    for number, person in enumerate(watchlist):
        writer.writerow(
            [
                entry_id(number),
                person.name,
                person.alias or "",
                person.birth_date or "",
                person.nationality or "",
                person.sex or "",
            ]
        )


def write_manifest(stream: IO[str], manifest: Iterable[ManifestEntry]) -> None:
    writer = csv.writer(stream)
    writer.writerow(["id", "name", "birth_date", "nationality", "sex"])
    for number, row in enumerate(manifest):
        writer.writerow([row_id(number), row.name, row.birth_date or "", row.nationality or "", row.sex or ""])


def write_truth(stream: IO[str], manifest: Iterable[ManifestEntry]) -> None:
    writer = csv.writer(stream)
    writer.writerow(["id", "entry", "change"])
    for number, row in enumerate(manifest):
        writer.writerow([row_id(number), "" if row.source is None else entry_id(row.source), row.change])


def read_truth(stream: IO[str]) -> tuple[list[int | None], list[str]]:
    """Each manifest row's true entry (by number) or None, and its changes."""
    entries: list[int | None] = []
    changes: list[str] = []
    for row in csv.DictReader(stream):
        entries.append(int(row["entry"][1:]) if row["entry"] else None)
        changes.append(row["change"])
    return entries, changes


def generate(folder: Path, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    began = time.perf_counter()
    pools = load_pools(args.fixtures, args.rigour_names)
    forms = load_name_forms(args.rigour_names)
    watchlist = make_watchlist(pools, rng, args.watchlist)
    manifest = make_manifest(watchlist, pools, forms, rng, args.manifest, args.match_rate)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / WATCHLIST_FILE).open("w", encoding="utf-8", newline="") as stream:
        write_watchlist(stream, watchlist)
    with (folder / MANIFEST_FILE).open("w", encoding="utf-8", newline="") as stream:
        write_manifest(stream, manifest)
    with (folder / TRUTH_FILE).open("w", encoding="utf-8", newline="") as stream:
        write_truth(stream, manifest)
    members = sum(row.source is not None for row in manifest)
    aliases = sum(person.alias is not None for person in watchlist)
    print(
        f"generated {len(watchlist):,} watch-list persons ({aliases:,} with an alias in another script) and "
        f"{len(manifest):,} manifest rows ({members:,} members) in {time.perf_counter() - began:.0f} s, in {folder}"
    )


# -- scoring ---------------------------------------------------------------------------------

Pairs = dict[int, dict[int, float]]  # manifest row -> watch-list entry -> score


@dataclass
class Scores:
    threshold: float
    rows: int
    members: int
    alerted: int
    true_positives: int
    missed: list[int] = field(default_factory=list)  # member rows whose entry was not matched
    false_alerts: dict[int, list[int]] = field(default_factory=dict)  # alerted row -> entries, when false

    @property
    def precision(self) -> float:
        return self.true_positives / self.alerted if self.alerted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.members if self.members else 1.0

    @property
    def f1(self) -> float:
        total = self.alerted + self.members
        return 2 * self.true_positives / total if total else 1.0


def evaluate(pairs: Pairs, truth: Sequence[int | None], rows: Iterable[int], threshold: float) -> Scores:
    """Precision and recall of the rows at ``threshold`` (a score at or above it is a match)."""
    scores = Scores(threshold, 0, 0, 0, 0)
    for row in rows:
        found = pairs.get(row, {})
        expected = truth[row]
        scores.rows += 1
        scores.members += expected is not None
        matched = [entry for entry, score in found.items() if score >= threshold]
        scores.alerted += bool(matched)
        if expected is not None and expected in matched:
            scores.true_positives += 1
            continue
        if expected is not None:
            scores.missed.append(row)
        if matched:
            scores.false_alerts[row] = matched
    return scores


def _name_key(name: str) -> str:
    return " ".join(name.casefold().split())


def _same_name(left: str, right: str) -> bool:
    return _name_key(left) == _name_key(right)


def indistinguishable(row: dict[str, str], entry: dict[str, str]) -> bool:
    """Whether a manifest row and a watch-list entry agree on every field both give: the
    same name (or alias), compatible birth dates, the same nationality and sex. No matcher
    can tell such a namesake from the person."""
    if not (_same_name(row["name"], entry["name"]) or (entry["alias"] and _same_name(row["name"], entry["alias"]))):
        return False
    left, right = row["birth_date"], entry["birth_date"]
    if left and right and not (left.startswith(right) or right.startswith(left)):
        return False
    return all(not row[key] or not entry[key] or row[key] == entry[key] for key in ("nationality", "sex"))


def best_threshold(pairs: Pairs, truth: Sequence[int | None], rows: Iterable[int]) -> float:
    """The threshold with the best F1 on ``rows`` (the lowest of equals)."""
    tops: list[float] = []
    owns: list[float] = []
    members = 0
    for row in rows:
        found = pairs.get(row, {})
        if found:
            tops.append(max(found.values()))
        expected = truth[row]
        if expected is not None:
            members += 1
            if expected in found:
                owns.append(found[expected])
    candidates = sorted(set(tops) | set(owns))
    if not candidates:
        return 1.0
    tops.sort()
    owns.sort()
    best, best_f1 = candidates[0], -1.0
    alerted_index = owned_index = 0
    for threshold in candidates:  # ascending: count the values below each threshold as we go
        while alerted_index < len(tops) and tops[alerted_index] < threshold:
            alerted_index += 1
        while owned_index < len(owns) and owns[owned_index] < threshold:
            owned_index += 1
        alerted = len(tops) - alerted_index
        true_positives = len(owns) - owned_index
        f1 = 2 * true_positives / (alerted + members) if alerted + members else 0.0
        if f1 > best_f1:
            best, best_f1 = threshold, f1
    return best


def read_pairs(path: Path) -> Pairs:
    pairs: Pairs = defaultdict(dict)
    with path.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            found = pairs[int(row["row"])]
            entry, score = int(row["entry"]), float(row["score"])
            if score > found.get(entry, -1.0):
                found[entry] = score
    return dict(pairs)


def write_pairs(path: Path, pairs: Iterable[tuple[int, int, float]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["row", "entry", "score"])
        for row, entry, score in pairs:
            writer.writerow([row, entry, f"{score:.6g}"])
            count += 1
    return count


# -- measuring -------------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of the process (DuckDB's too)
    return usage.ru_utime + usage.ru_stime


def _read_csv(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        yield from csv.DictReader(stream)


# -- polex -----------------------------------------------------------------------------------


def record_id(number: int) -> str:
    """A record id shaped like polex's (UUIDv7) that carries the watch-list number."""
    return f"00000000-0000-7000-8000-{number:012x}"


def number_of(record: str) -> int:
    return int(record[-12:], 16)


def run_polex(folder: Path) -> list[dict[str, Any]]:
    from polex.agency.schemas import AgencyCreate
    from polex.auth.principal import Principal, PrincipalKind
    from polex.domain.agency import AgencyKind
    from polex.domain.base import Provenance, Restrictions, Tlp
    from polex.domain.person import NameKind, Person, PersonName, Sex
    from polex.domain.policy import Purpose
    from polex.domain.roles import Role
    from polex.provision import NodeIdentity, initialise_node, own_agency
    from polex.record.service import NewRecord
    from polex.screening.service import DEFAULT_MATCH_THRESHOLD
    from polex.settings import NodeRole

    os.environ["POLEX_LOG_LEVEL"] = "warning"
    work = Path(tempfile.mkdtemp(prefix="polex-batch-", dir=folder))
    began = time.perf_counter()
    node = initialise_node(work / "hub", NodeIdentity(name="hub", country="XPO", role=NodeRole.HUB, port=8499))
    try:
        own = node.agencies.ensure(own_agency(node.settings))
        unit = node.agencies.ensure(AgencyCreate(name="Watch list unit", country="XPO", kind=AgencyKind.POLICE))
        provenance = Provenance(source_format="synthetic", source_id="batch-manifest-benchmark")
        restrictions = Restrictions(handling=Tlp.AMBER)

        def record(number: int, row: dict[str, str]) -> NewRecord:
            names = [PersonName(full=row["name"], kind=NameKind.PRIMARY)]
            if row["alias"]:
                names.append(PersonName(full=row["alias"], kind=NameKind.ALIAS))
            person = Person(
                names=names,
                birth_dates=[row["birth_date"]] if row["birth_date"] else [],
                nationalities=[row["nationality"]] if row["nationality"] else [],
                sex=Sex(row["sex"]) if row["sex"] else Sex.UNKNOWN,
            )
            return NewRecord(
                content=person,
                owner_agency_id=unit.id,
                owner_country="XPO",
                restrictions=restrictions,
                provenance=provenance,
                id=record_id(number),
            )

        batch: list[NewRecord] = []
        stored = 0
        for number, row in enumerate(_read_csv(folder / WATCHLIST_FILE)):
            batch.append(record(number, row))
            if len(batch) == SEED_BATCH:
                stored += node.records["person"].create_many(batch)
                batch = []
        if batch:
            stored += node.records["person"].create_many(batch)
        del batch
        gc.collect()
        prepare_seconds = time.perf_counter() - began
        print(f"polex: {stored:,} person records stored in {prepare_seconds:.0f} s", flush=True)

        began, cpu_began = time.perf_counter(), cpu_seconds()
        stats = node.screening.load_watchlist()
        build_seconds, build_cpu = time.perf_counter() - began, cpu_seconds() - cpu_began
        rss_built = peak_rss_bytes()
        print(f"polex: watch list of {stats.entries:,} entries loaded in {build_seconds:.0f} s", flush=True)

        officer = Principal(PrincipalKind.LOCAL, "bench", "bench", own.id, "XPO", frozenset({Role.BORDER_OFFICER}))
        jobs = node.screenings
        began, cpu_began = time.perf_counter(), cpu_seconds()
        jobs.folder.mkdir(parents=True, exist_ok=True)
        spooled = jobs.folder / "manifest.upload"
        shutil.copyfile(folder / MANIFEST_FILE, spooled)
        job = jobs.submit(
            spooled,
            officer,
            purpose=Purpose.BORDER_CONTROL,
            format_name="csv",
            source=MANIFEST_FILE,
            threshold=DEFAULT_MATCH_THRESHOLD,
        )
        jobs.run(job.id, principal=officer)
        done = jobs.job(job.id, officer)
        results = list(jobs.results(job.id, officer))
        screen_seconds, screen_cpu = time.perf_counter() - began, cpu_seconds() - cpu_began
        peak = peak_rss_bytes()

        pairs: list[tuple[int, int, float]] = []
        access: Counter[str] = Counter()
        for line in results:
            result = json.loads(line)
            for candidate in result["candidates"]:
                pairs.append((int(result["ref"][1:]), number_of(candidate["id"]), float(candidate["score"])))
                access[candidate["access"]] += 1
        write_pairs(folder / "polex-pairs.csv", pairs)
        run = {
            "side": "polex",
            "name": "polex",
            "label": "polex",
            "fixed_threshold": DEFAULT_THRESHOLD,
            "prepare_seconds": prepare_seconds,
            "build_seconds": build_seconds,
            "build_cpu_seconds": build_cpu,
            "screen_seconds": screen_seconds,
            "screen_cpu_seconds": screen_cpu,
            "rss_after_build": rss_built,
            "peak_rss": peak,
            "rows": done.rows_done,
            "rows_with_errors": done.rows_with_errors,
            "status": done.status,
            "person_matches": done.person_matches,
            "watchlist_entries": stats.entries,
            "index_bytes": stats.memory_bytes,
            "pairs": len(pairs),
            "access": dict(access),
        }
        return [run]
    finally:
        node.close()
        shutil.rmtree(work, ignore_errors=True)


# -- Splink ----------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1_000_000)
def _folded(part: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(ascii_text(part).lower()))


def splink_columns(name: str) -> dict[str, Any]:
    """The name columns Splink compares: ASCII-folded, lower case; the parts, the first and
    last part, the name as written and with its parts in alphabetical order."""
    tokens = [token for part in name.split() for token in _folded(part)]
    return {
        "first_name": tokens[0] if tokens else None,
        "surname": tokens[-1] if len(tokens) > 1 else None,
        "name_concat": " ".join(tokens) or None,
        "name_sorted": " ".join(sorted(tokens)) or None,
        "name_tokens": tokens or None,
    }


def _splink_frame(rows: Iterable[dict[str, str]], names: Sequence[str]) -> Any:
    import pandas as pd  # type: ignore[import-untyped,unused-ignore]
    from rigour.text.phonetics import soundex

    records: list[dict[str, Any]] = []
    for row in rows:
        date = row["birth_date"] or None
        for position, column in enumerate(names):
            if not row[column]:
                continue
            values = splink_columns(row[column])
            records.append(
                {
                    "unique_id": row["id"] if position == 0 else f"{row['id']}#{position}",
                    **values,
                    "first_sx": soundex(values["first_name"]) if values["first_name"] else None,
                    "surname_sx": soundex(values["surname"]) if values["surname"] else None,
                    "dob": date,
                    "birth_year": int(date[:4]) if date else None,
                    "nationality": row["nationality"] or None,
                    "sex": row["sex"] or None,
                }
            )
    frame = pd.DataFrame.from_records(records)
    frame["birth_year"] = frame["birth_year"].astype("Int64")
    return frame


def labelled_form(entry: int, row: int, tokens: dict[str, set[str]]) -> str:
    """The Splink id of the entry's name form (its name, or its alias) that a labeller would
    pair with the row: the one sharing the most name parts with it, the name on a tie."""
    forms = [entry_id(entry), f"{entry_id(entry)}#1"]
    written = tokens.get(row_id(row), set())
    return max(
        (form for form in forms if form in tokens), key=lambda form: len(tokens[form] & written), default=forms[0]
    )


def splink_settings() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    # Full names in one column, in any order: levels on the whole name and on its parts.
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_concat"),
            cll.ExactMatchLevel("name_concat", term_frequency_adjustments=True),
            # Random sampling never meets this level (the same parts in another order), so it
            # would keep Splink's default u; it is as rare as the exact name.
            cll.ExactMatchLevel("name_sorted").configure(
                label_for_charts="Same parts, another order", u_probability=2e-6, fix_u_probability=True
            ),
            cll.And(cll.JaroWinklerLevel("first_name", 0.92), cll.JaroWinklerLevel("surname", 0.92)),
            cll.JaroWinklerLevel("name_sorted", 0.92),
            cll.ArrayIntersectLevel("name_tokens", 2),
            cll.And(cll.JaroWinklerLevel("first_name", 0.88), cll.JaroWinklerLevel("surname", 0.88)),
            cll.JaroWinklerLevel("name_sorted", 0.85),
            cll.ArrayIntersectLevel("name_tokens", 1),
            cll.ElseLevel(),
        ],
    )
    birth_date = cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel(
                "(starts_with(dob_l, dob_r) OR starts_with(dob_r, dob_l))", label_for_charts="Compatible partial dates"
            ),
            cll.DamerauLevenshteinLevel("dob", 1),
            cll.CustomLevel("abs(birth_year_l - birth_year_r) <= 1", label_for_charts="Within a year"),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="link_only",
        blocking_rules_to_generate_predictions=[
            block_on("birth_year", "name_tokens", arrays_to_explode=["name_tokens"]),
            block_on("birth_year", "substr(surname, 1, 2)"),
            block_on("first_sx", "surname_sx"),
            block_on("name_sorted"),
        ],
        comparisons=[name, birth_date, cl.ExactMatch("nationality"), cl.ExactMatch("sex")],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _splink_linker(watch: Any, manifest: Any, seed: int) -> Any:
    """A linker with the prior and the u probabilities estimated as Splink's tutorials do."""
    from splink import DuckDBAPI, Linker, block_on

    linker = Linker([watch, manifest], splink_settings(), DuckDBAPI(), input_table_aliases=["watchlist", "manifest"])
    linker.training.estimate_probability_two_random_records_match(
        [block_on("name_concat", "dob"), block_on("name_sorted", "dob")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=seed)
    return linker


def _splink_predict(linker: Any, folder: Path, name: str) -> tuple[float, float, int]:
    """Every pair above the floor, written out: (seconds, CPU seconds, pairs)."""
    began, cpu_began = time.perf_counter(), cpu_seconds()
    predictions = linker.inference.predict(threshold_match_weight=SPLINK_FLOOR_WEIGHT)
    found = predictions.as_pandas_dataframe()[["unique_id_l", "unique_id_r", "match_probability"]]
    pairs: list[tuple[int, int, float]] = []
    for left, right, probability in found.itertuples(index=False):
        row, entry = (left, right) if left.startswith("m") else (right, left)
        pairs.append((int(row[1:]), int(entry[1:].partition("#")[0]), float(probability)))
    seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu_began
    write_pairs(folder / f"{name}-pairs.csv", pairs)
    return seconds, cpu, len(pairs)


def run_splink(folder: Path, seed: int) -> list[dict[str, Any]]:
    import logging

    import pandas as pd  # type: ignore[import-untyped,unused-ignore]
    from splink import DuckDBAPI, Linker, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    began = time.perf_counter()
    watch = _splink_frame(_read_csv(folder / WATCHLIST_FILE), ("name", "alias"))
    manifest = _splink_frame(_read_csv(folder / MANIFEST_FILE), ("name",))
    prepare_seconds = time.perf_counter() - began
    print(f"splink: {len(watch):,} watch-list name rows and {len(manifest):,} manifest rows prepared", flush=True)
    runs: list[dict[str, Any]] = []

    # 1. m by expectation maximisation, unsupervised, as Splink's tutorials train.
    began, cpu_began = time.perf_counter(), cpu_seconds()
    linker = _splink_linker(watch, manifest, seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name_sorted"))
    build_seconds, build_cpu = time.perf_counter() - began, cpu_seconds() - cpu_began
    linker.misc.save_model_to_json(str(folder / "splink-em-model.json"), overwrite=True)
    print(f"splink: trained by EM in {build_seconds:.0f} s ({folder / 'splink-em-model.json'})", flush=True)
    screen_seconds, screen_cpu, pairs = _splink_predict(linker, folder, "splink-em")
    runs.append(
        {
            "name": "splink-em",
            "label": "Splink 4 (DuckDB), m by EM",
            "fixed_threshold": SPLINK_REPORTED,
            "build_seconds": build_seconds,
            "build_cpu_seconds": build_cpu,
            "screen_seconds": screen_seconds,
            "screen_cpu_seconds": screen_cpu,
            "pairs": pairs,
        }
    )
    del linker
    gc.collect()

    # 2. m from the labelled pairs of the tuning slice (its members and their entries).
    with (folder / TRUTH_FILE).open(encoding="utf-8", newline="") as stream:
        truth, _ = read_truth(stream)
    labelled = [(row, entry) for row, entry in enumerate(truth) if entry is not None and row % TUNING_EVERY == 0]
    wanted = {row_id(row) for row, _ in labelled} | {
        form for _, entry in labelled for form in (entry_id(entry), f"{entry_id(entry)}#1")
    }
    tokens = {
        unique_id: set(found)
        for frame in (watch, manifest)
        for unique_id, found in zip(frame["unique_id"], frame["name_tokens"], strict=True)
        if unique_id in wanted and found is not None
    }
    labels = pd.DataFrame(
        [
            {
                "source_dataset_l": "watchlist",
                "unique_id_l": labelled_form(entry, row, tokens),
                "source_dataset_r": "manifest",
                "unique_id_r": row_id(row),
            }
            for row, entry in labelled
        ]
    )
    began, cpu_began = time.perf_counter(), cpu_seconds()
    linker = _splink_linker(watch, manifest, seed)
    linker.table_management.register_table(labels, "labels", overwrite=True)
    linker.training.estimate_m_from_pairwise_labels("labels")
    # A level no labelled pair fell in is left untrained, and Splink would use a default m
    # for it (for "dates disagree", a large one): half a pair's share instead.
    model = linker.misc.save_model_to_json()
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level") and level.get("m_probability") is None:
                level["m_probability"] = 0.5 / len(labels)
    linker = Linker([watch, manifest], model, DuckDBAPI(), input_table_aliases=["watchlist", "manifest"])
    build_seconds, build_cpu = time.perf_counter() - began, cpu_seconds() - cpu_began
    linker.misc.save_model_to_json(str(folder / "splink-labels-model.json"), overwrite=True)
    aliases = int(labels["unique_id_l"].str.contains("#").sum())
    print(
        f"splink: m from {len(labels):,} labelled pairs ({aliases:,} on an alias), trained in {build_seconds:.0f} s",
        flush=True,
    )
    screen_seconds, screen_cpu, pairs = _splink_predict(linker, folder, "splink-labels")
    runs.append(
        {
            "name": "splink-labels",
            "label": "Splink 4 (DuckDB), m from labels",
            "fixed_threshold": SPLINK_REPORTED,
            "build_seconds": build_seconds,
            "build_cpu_seconds": build_cpu,
            "screen_seconds": screen_seconds,
            "screen_cpu_seconds": screen_cpu,
            "pairs": pairs,
            "labels": len(labels),
        }
    )
    peak = peak_rss_bytes()
    for run in runs:
        run.update(side="splink", prepare_seconds=prepare_seconds, peak_rss=peak, rows=len(manifest))
    return runs


# -- the run ---------------------------------------------------------------------------------


def splink_missing() -> str | None:
    missing = [name for name in ("splink", "duckdb", "pandas") if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"{', '.join(missing)} not installed: the Splink side is skipped (.venv/bin/pip install -e '.[bench]')"


def run_side(side: str, folder: Path, seed: int) -> list[dict[str, Any]]:
    """One side in its own process, so that its time, CPU and peak memory are its own; its
    runs (Splink has two: m by EM, m from labels)."""
    out = folder / f"{side}.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--side", side, "--data", str(folder), "--seed", str(seed)]
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0 or not out.exists():
        print(f"{side}: the run failed (exit status {completed.returncode})")
        return []
    runs: list[dict[str, Any]] = json.loads(out.read_text())
    return runs


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def report(folder: Path, runs: Sequence[dict[str, Any]]) -> None:
    """Score every run's pairs against the truth and print the tables."""
    with (folder / TRUTH_FILE).open(encoding="utf-8", newline="") as stream:
        truth, changes = read_truth(stream)
    tuning = [row for row in range(len(truth)) if row % TUNING_EVERY == 0]
    held_out = [row for row in range(len(truth)) if row % TUNING_EVERY != 0]
    lines: list[tuple[str, dict[str, Any], Scores]] = []
    for run in runs:
        pairs = read_pairs(folder / f"{run['name']}-pairs.csv")
        fixed = float(run["fixed_threshold"])
        tuned = best_threshold(pairs, truth, tuning)
        default = "default" if run["side"] == "polex" else "at"
        lines.append((f"{run['label']}, {default} {fixed:.2f}", run, evaluate(pairs, truth, held_out, fixed)))
        lines.append((f"{run['label']}, best F1 {tuned:.3g}", run, evaluate(pairs, truth, held_out, tuned)))

    members = sum(truth[row] is not None for row in held_out)
    print(f"\n### {len(truth):,} manifest rows against the watch list; scored on the {len(held_out):,} rows of the")
    print(f"evaluation slice ({members:,} members); best-F1 thresholds chosen on the other {len(tuning):,}\n")
    print(
        "| side, threshold | prepare (store / fold) | build / train | screening | rows/s | build + screening | "
        "CPU s | peak RSS | precision | recall | F1 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, run, scores in lines:
        total = run["build_seconds"] + run["screen_seconds"]
        cpu = run["build_cpu_seconds"] + run["screen_cpu_seconds"]
        print(
            f"| {label} | {run['prepare_seconds']:.1f} s | {run['build_seconds']:.1f} s | "
            f"{run['screen_seconds']:.1f} s | {run['rows'] / run['screen_seconds']:,.0f} | {total:.1f} s | "
            f"{cpu:.0f} | {_mib(run['peak_rss'])} | {scores.precision:.4f} | {scores.recall:.4f} | "
            f"{scores.f1:.4f} |"
        )
    polex = next((run for run in runs if run["side"] == "polex"), None)
    for run in runs:
        if polex is None or run is polex:
            continue
        screening = run["screen_seconds"] / polex["screen_seconds"]
        whole = (run["build_seconds"] + run["screen_seconds"]) / (polex["build_seconds"] + polex["screen_seconds"])
        cpu = (run["build_cpu_seconds"] + run["screen_cpu_seconds"]) / (
            polex["build_cpu_seconds"] + polex["screen_cpu_seconds"]
        )
        print(
            f"\n{run['label']} / polex: wall time of the screening {screening:.2f}, of build and screening "
            f"{whole:.2f}; CPU time of the screening {run['screen_cpu_seconds'] / polex['screen_cpu_seconds']:.2f}, "
            f"of build and screening {cpu:.2f}"
        )

    manifest = list(_read_csv(folder / MANIFEST_FILE))
    others = [row for row in held_out if truth[row] is None]
    written = {_name_key(manifest[row]["name"]) for row in others}
    wanted = {entry for _, _, scores in lines for entries in scores.false_alerts.values() for entry in entries}
    entries: dict[int, dict[str, str]] = {}
    listed: set[str] = set()
    for number, entry in enumerate(_read_csv(folder / WATCHLIST_FILE)):
        if number in wanted:
            entries[number] = entry
        listed.update(key for key in (_name_key(entry["name"]), _name_key(entry["alias"])) if key in written)
    with_namesake = sum(_name_key(manifest[row]["name"]) in listed for row in others)
    print(
        f"\n{with_namesake:,} of the {len(others):,} other rows of the evaluation slice "
        f"({with_namesake / max(1, len(others)):.1%}) have a namesake on the list (the same name as written, or alias)"
    )
    for label, run, scores in lines:
        namesakes = sum(
            any(indistinguishable(manifest[row], entries[entry]) for entry in matched)
            for row, matched in scores.false_alerts.items()
        )
        excused = (scores.true_positives + namesakes) / scores.alerted if scores.alerted else 1.0
        print(
            f"{label}: {scores.alerted:,} alerted rows, {scores.true_positives:,} true, "
            f"{len(scores.false_alerts):,} false ({1000 * len(scores.false_alerts) / max(1, len(others)):.1f} per "
            f"1,000 other rows; {namesakes:,} on a namesake agreeing on every field both give: precision "
            f"{excused:.4f} counting those as right); {len(scores.missed):,} members missed; "
            f"{run['pairs']:,} pairs written"
        )

    kinds = sorted({kind for row in held_out if truth[row] is not None for kind in changes[row].split(";")})
    print("\n| change (members, evaluation slice) | rows | " + " | ".join(label for label, _, _ in lines) + " |")
    print("|---|---:|" + "---:|" * len(lines))
    for kind in kinds:
        rows = [row for row in held_out if truth[row] is not None and kind in changes[row].split(";")]
        recalls = []
        for _, _, scores in lines:
            missed = set(scores.missed)
            recalls.append(f"{sum(row not in missed for row in rows) / len(rows):.3f}")
        print(f"| {kind} | {len(rows):,} | " + " | ".join(recalls) + " |")

    scripts: dict[str, list[int]] = defaultdict(list)
    for row in held_out:
        scripts[_script(manifest[row]["name"])].append(row)
    print(
        "\n| script of the row's name | members | other rows | "
        + " | ".join(f"{label}: recall / false alerts per 1,000" for label, _, _ in lines)
        + " |"
    )
    print("|---|---:|---:|" + "---:|" * len(lines))
    for script, rows in sorted(scripts.items(), key=lambda item: -len(item[1])):
        listed_rows = [row for row in rows if truth[row] is not None]
        other = len(rows) - len(listed_rows)
        cells = []
        for _, _, scores in lines:
            missed = set(scores.missed)
            recall = f"{sum(row not in missed for row in listed_rows) / len(listed_rows):.3f}" if listed_rows else "-"
            false = sum(truth[row] is None and row in scores.false_alerts for row in rows)
            cells.append(f"{recall} / {1000 * false / other:.1f}" if other else f"{recall} / -")
        print(f"| {script} | {len(listed_rows):,} | {other:,} | " + " | ".join(cells) + " |")
    print(f"\nload average (2 cores): {os.getloadavg()[0]:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchlist", type=int, default=1_000_000, help="persons on the watch list")
    parser.add_argument("--manifest", type=int, default=100_000, help="rows of the manifest")
    parser.add_argument("--match-rate", type=float, default=0.02, help="share of manifest rows on the list")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--sides", default=",".join(SIDES), help="polex, splink or both (comma-separated)")
    parser.add_argument("--data", type=Path, help="the data folder: kept, and reused when it holds the files")
    parser.add_argument("--score-only", action="store_true", help="score the results already in --data")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # one side, in the child process
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--rigour-names", type=Path, default=RIGOUR_NAMES)
    args = parser.parse_args()

    if args.side:
        result = run_polex(args.data) if args.side == "polex" else run_splink(args.data, args.seed)
        (args.data / f"{args.side}.json").write_text(json.dumps(result))
        return 0

    sides = [side.strip() for side in args.sides.split(",") if side.strip()]
    if unknown := set(sides) - set(SIDES):
        parser.error(f"--sides: unknown {', '.join(sorted(unknown))}")
    if args.score_only:
        if args.data is None:
            parser.error("--score-only needs --data")
        found = [side for side in sides if (args.data / f"{side}.json").exists()]
        report(args.data, [run for side in found for run in json.loads((args.data / f"{side}.json").read_text())])
        return 0
    if "splink" in sides and (reason := splink_missing()):
        print(reason)
        sides.remove("splink")
    folder = args.data or Path(tempfile.mkdtemp(prefix="polex-batch-manifest-"))
    try:
        if all((folder / name).exists() for name in (WATCHLIST_FILE, MANIFEST_FILE, TRUTH_FILE)):
            print(f"reusing the data in {folder}")
        else:
            generate(folder, args)
        runs = [run for side in sides for run in run_side(side, folder, args.seed)]
        if runs:
            report(folder, runs)
    finally:
        if args.data is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
