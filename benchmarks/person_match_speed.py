"""Person search speed on a large synthetic watch list: polex's index, and logic-v2 beside it.

Run: .venv/bin/python benchmarks/person_match_speed.py [--size 1000000] [--queries 2000] [--peer-queries 200]

The watch list (``--size`` persons, seeded) is generated from real name parts in several
scripts: given, middle and family names taken from yente's screening fixtures (Latin, Han,
Arabic, Devanagari, Hangul, Cyrillic, Thai, Japanese kana, Hebrew; the script mix of the
fixtures), combined at random within a script; one person in ten also gets an alias in
another script, each part replaced by a form from the same rigour (Wikidata) name group
(Cyrillic, Arabic, Greek, Hebrew ...) where one exists. 70 % have a full birth date, 20 % a
year, 10 % none; 80 % a nationality and 70 % a sex taken from the fixture row the given name
came from.

Queries (``--queries``): half are watch-list members, perturbed (a typo in one part,
reordered parts, a dropped middle name, the alias instead of the name, a birth date one year
off or cut to the year), half are newly generated persons who are not in the list.

Figures: index build time (``add`` for every person, then ``compact``), memory (the
index's own estimate, ``PersonIndex.memory_bytes``, and the growth of the process's resident
memory during the build, both per person; the name data rigour and ICU load once is shown
apart), searches per second (``PersonIndex.search`` with the default threshold and
``limit=10``; every search is a full screening: blocking, scoring, explanations of the
matches) by wall clock and by CPU time of the one process (the machine's two cores may be
shared with other work; the load average is printed), p50 and p99 latency, and the share of
member queries whose source entry came back as a match. The first 100 searches warm the
caches and are not counted. logic-v2 then scores a
sample of the same queries (``--peer-queries``) against exactly the candidates polex's
blocking chose for them (``PersonIndex.candidate_ids``): its pairs per second on one core,
and the matches per second that implies at that many candidates a query.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from followthemoney.types import registry
from rigour.text.scripts import text_scripts

from polex.matching import PersonIndex, PersonQuery
from polex.matching.model import normalise_country

FIXTURES = Path("/work/shared/data/yente-screening-bench/contrib/candidate_generation_benchmark/fixtures")
RIGOUR_NAMES = Path("/work/shared/data/rigour-person-names/rigour/data/names/persons.txt")
ALIAS_SCRIPTS = ("Cyrillic", "Arabic", "Greek", "Hebrew", "Georgian", "Armenian", "Devanagari")


@dataclass
class Person:
    parts: list[str]  # given, [middle], family
    alias: str | None
    birth_date: str | None
    nationality: str | None
    sex: str | None

    @property
    def name(self) -> str:
        return " ".join(self.parts)

    def query(self) -> PersonQuery:
        return PersonQuery(
            names=(self.name, self.alias) if self.alias else (self.name,),
            birth_date=self.birth_date,
            nationalities=(self.nationality,) if self.nationality else (),
            sex=self.sex,
        )


@dataclass
class Pools:
    scripts: list[str]
    weights: list[int]
    given: dict[str, list[tuple[str, str | None, str | None]]]  # (name, sex, nationality)
    middle: dict[str, list[str]]
    family: dict[str, list[str]]
    variants: dict[str, list[str]]  # latin part -> forms in other scripts


def _script(text: str) -> str:
    scripts = text_scripts(text)
    return next(iter(scripts)) if len(scripts) == 1 else "Latin"


def load_pools(fixtures: Path, rigour_names: Path) -> Pools:
    given: dict[str, list[tuple[str, str | None, str | None]]] = defaultdict(list)
    middle: dict[str, list[str]] = defaultdict(list)
    family: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    countries: dict[str, str | None] = {}
    for file in ("negatives_global.csv", "negatives_us.csv"):
        with (fixtures / file).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                first, last = row["first_name"].strip(), row["last_name"].strip()
                if not first or not last:
                    continue
                script = _script(row["full_name"])
                counts[script] += 1
                nationality = row["nationality"]
                if nationality not in countries:
                    code = registry.country.clean(nationality)
                    countries[nationality] = normalise_country(code) if code else None
                sex = row["gender"] if row["gender"] in ("male", "female") else None
                given[script].append((first, sex, countries[nationality]))
                family[script].append(last)
                if row["middle_name"].strip():
                    middle[script].append(row["middle_name"].strip())
    variants: dict[str, list[str]] = defaultdict(list)
    if rigour_names.exists():
        with rigour_names.open(encoding="utf-8") as handle:
            for line in handle:
                forms = [f for f in (f.strip() for f in line.partition(" => ")[0].split(",")) if f and " " not in f]
                latin = [f for f in forms if f.isascii() and f.isalpha()]
                others = [f for f in forms if not f.isascii() and _script(f) in ALIAS_SCRIPTS]
                if latin and others:
                    for form in latin[:3]:
                        variants[form].extend(others[:4])
    scripts = sorted(counts)
    return Pools(scripts, [counts[s] for s in scripts], given, middle, family, dict(variants))


def random_date(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.1:
        return None
    year = rng.randint(1940, 2005)
    if roll < 0.3:
        return str(year)
    return f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def make_person(pools: Pools, rng: random.Random) -> Person:
    script = rng.choices(pools.scripts, pools.weights)[0]
    first, sex, nationality = rng.choice(pools.given[script])
    parts = [first]
    if pools.middle.get(script) and rng.random() < 0.3:
        parts.append(rng.choice(pools.middle[script]))
    parts.append(rng.choice(pools.family[script]))
    alias = None
    if script == "Latin" and rng.random() < 0.1:
        forms = [pools.variants.get(part.lower()) for part in parts]
        if any(forms):
            alias = " ".join(rng.choice(found) if found else part for part, found in zip(parts, forms, strict=True))
    return Person(
        parts=parts,
        alias=alias,
        birth_date=random_date(rng),
        nationality=nationality if rng.random() < 0.8 else None,
        sex=sex if rng.random() < 0.7 else None,
    )


def typo(text: str, rng: random.Random) -> str:
    if len(text) < 4:
        return text
    at = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:at] + text[at + 1 :]
    if kind == 1:
        return text[:at] + text[at] + text[at:]
    if kind == 2:
        return text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    return text[:at] + rng.choice("aeiou") + text[at + 1 :]


def perturb(person: Person, rng: random.Random) -> Person:
    parts = list(person.parts)
    change = rng.randrange(5)
    alias = None
    if change == 0:
        index = rng.randrange(len(parts))
        parts[index] = typo(parts[index], rng)
    elif change == 1:
        parts = [*parts[1:], parts[0]]
    elif change == 2 and len(parts) > 2:
        parts = [parts[0], parts[-1]]
    elif change == 3 and person.alias:
        parts = person.alias.split()
    birth_date = person.birth_date
    if birth_date and rng.random() < 0.2:
        birth_date = str(int(birth_date[:4]) + rng.choice((-1, 1))) + birth_date[4:]
    elif birth_date and rng.random() < 0.2:
        birth_date = birth_date[:4]
    return Person(parts, alias, birth_date, person.nationality, person.sex)


def rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--peer-queries", type=int, default=200, help="0 skips logic-v2")
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--rigour-names", type=Path, default=RIGOUR_NAMES)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    began = time.perf_counter()
    pools = load_pools(args.fixtures, args.rigour_names)
    people = [make_person(pools, rng) for _ in range(args.size)]
    queries: list[tuple[Person, int | None]] = []
    for number in range(args.queries):
        if number % 2 == 0:
            source = rng.randrange(args.size)
            queries.append((perturb(people[source], rng), source))
        else:
            queries.append((make_person(pools, rng), None))
    aliases = sum(1 for p in people if p.alias)
    print(f"generated {args.size:,} persons ({aliases:,} with an alias in another script) "
          f"and {len(queries):,} queries in {time.perf_counter() - began:.0f} s")  # fmt: skip

    # rigour loads its name tagger (Wikidata name groups) and ICU its transliterators on first
    # use: a fixed cost, measured apart from the per-person growth.
    gc.collect()
    rss_start = rss_bytes()
    warm = PersonIndex()
    for person in people[:200]:
        warm.search(person.query())
    del warm
    gc.collect()
    rss_before = rss_bytes()
    index = PersonIndex()
    began = time.perf_counter()
    for number, person in enumerate(people):
        index.add(f"p{number}", person.query())
    index.compact()
    build_seconds = time.perf_counter() - began
    gc.collect()
    rss_growth = rss_bytes() - rss_before
    estimate = index.memory_bytes()

    for person, _ in queries[:100]:
        index.search(person.query())  # warm the token cache, as a running service has
    latencies: list[float] = []
    found = members = alerts = 0
    began, cpu_began = time.perf_counter(), time.process_time()
    for person, source in queries:
        started = time.perf_counter()
        results = index.search(person.query(), limit=10)
        latencies.append(time.perf_counter() - started)
        alerts += len(results)
        if source is not None:
            members += 1
            found += any(result.entry_id == f"p{source}" for result in results)
    search_seconds = time.perf_counter() - began
    cpu_seconds = time.process_time() - cpu_began
    rate, cpu_rate = len(queries) / search_seconds, len(queries) / cpu_seconds
    p50, p99 = 1000 * percentile(latencies, 0.5), 1000 * percentile(latencies, 0.99)

    print(f"\n### polex, {args.size:,} persons, {len(queries):,} searches (one process, one core)\n")
    print("| figure | value |\n|---|---:|")
    print(f"| build time (add + compact) | {build_seconds:.1f} s ({args.size / build_seconds:,.0f} persons/s) |")
    print(f"| memory, index estimate | {estimate / 2**20:,.0f} MiB ({estimate / args.size:,.0f} bytes/person) |")
    print(f"| memory, resident growth | {rss_growth / 2**20:,.0f} MiB ({rss_growth / args.size:,.0f} bytes/person) |")
    print(f"| memory, name data loaded once (rigour, ICU) | {(rss_before - rss_start) / 2**20:,.0f} MiB |")
    print(f"| searches per second, wall clock | {rate:,.0f} |")
    print(f"| searches per second of CPU time (one core) | {cpu_rate:,.0f} |")
    print(f"| latency p50 / p99 | {p50:.2f} ms / {p99:.2f} ms |")
    print(f"| latency mean / max | {1000 * statistics.fmean(latencies):.2f} ms / {1000 * max(latencies):.2f} ms |")
    print(f"| member queries found as a match | {found} / {members} ({found / max(members, 1):.1%}) |")
    print(f"| results (matches) returned | {alerts:,} |")
    print(f"| load average during the run (2 cores) | {os.getloadavg()[0]:.2f} |")

    if args.peer_queries:
        run_peer(index, queries[: args.peer_queries], people, cpu_rate)
    return 0


def run_peer(index: PersonIndex, queries: list[tuple[Person, int | None]], people: list[Person], rate: float) -> None:
    try:
        from followthemoney import model
        from nomenklatura.matching import LogicV2
    except ImportError:
        print("\nnomenklatura is not installed: logic-v2 skipped (pip install -e '.[bench]')")
        return

    def entity(entity_id: str, person: Person) -> object:
        proxy = model.make_entity("Person")
        proxy.id = entity_id
        proxy.add("name", person.name)
        if person.alias:
            proxy.add("alias", person.alias)
        if person.birth_date:
            proxy.add("birthDate", person.birth_date)
        if person.nationality:
            proxy.add("nationality", person.nationality)
        if person.sex:
            proxy.add("gender", person.sex)
        return proxy

    config = LogicV2.default_config()
    tasks = []
    for number, (person, _) in enumerate(queries):
        ids = index.candidate_ids(person.query())
        candidates = [entity(entry_id, people[int(entry_id[1:])]) for entry_id in ids]
        tasks.append((entity(f"q{number}", person), candidates))
    pairs = sum(len(candidates) for _, candidates in tasks)
    began = time.process_time()
    for query, candidates in tasks:
        for candidate in candidates:
            LogicV2.compare(query, candidate, config)  # type: ignore[arg-type]
    seconds = time.process_time() - began
    per_query = pairs / len(tasks)
    pair_rate = pairs / seconds
    print(f"\n### logic-v2 on the same {len(tasks):,} queries and the same candidates (one core, CPU time)\n")
    print("| figure | value |\n|---|---:|")
    print(f"| candidates per query (polex's blocking) | {per_query:.1f} |")
    print(f"| pairs scored per second | {pair_rate:,.0f} |")
    print(f"| implied searches per second (pairs/s / candidates per query) | {pair_rate / per_query:,.0f} |")
    print(f"| polex searches per second / logic-v2 implied | {rate / (pair_rate / per_query):.1f} x |")


if __name__ == "__main__":
    sys.exit(main())
