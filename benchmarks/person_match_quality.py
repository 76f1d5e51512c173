"""Person matching quality: polex against nomenklatura's logic-v2 on the same data, in one run.

Run: .venv/bin/python benchmarks/person_match_quality.py [--peer-negatives 10000] [--no-peer] [--sweep]

Data (yente's candidate-generation benchmark, /work/shared/data/yente-screening-bench, MIT):

- watch list: the 683 clean UN-sanctioned persons (positives_un_untreated.csv) plus 50,000
  synthetic persons in many scripts (negatives_global.csv);
- positive queries: the 683 perturbed UN persons (positives_un_treated.csv: typos, reordered
  names, shifted dates, changed nationalities); row i belongs to watch-list entry un-i;
- negative queries: the 50,000 synthetic persons of negatives_us.csv; every alert on them is
  false (977 of them share their full name with a watch-list entry, with other dates);
- cross-script pairs from rigour's person-name groups (Wikidata, MIT): a Latin two-part name
  against the same name in Cyrillic, Arabic, Greek, Hebrew, Han, Devanagari, Hangul,
  Georgian or Armenian as positives; against a name with one part (hard) or both parts
  (random) from other groups as negatives. Both matchers use rigour's name groups, which
  come from the same Wikidata data: this set checks the plumbing across scripts, it is not
  a held-out test.

Both matchers get the same values: dates that are not valid calendar dates are dropped (as
followthemoney does), country names are turned into codes with followthemoney's cleaner,
gender "other" is left out. An alert is a candidate scoring at or above the threshold:
polex's DEFAULT_THRESHOLD, and 0.70 for logic-v2 (yente's default match threshold); the
best-F1 threshold of each, found on the same data, is printed too.

Candidates: polex scores what its index's blocking returns (at most 150 entries a query).
logic-v2 scores exactly those entries (``PersonIndex.candidate_ids``) plus the true entry of
each positive query, whether polex's blocking found it or not; a query sample of the
negatives (``--peer-negatives``, seeded) keeps its run to minutes on 2 cores, and polex is
reported on the same sample beside its full-set figures.

Figures: precision = true alerts / all alerts (positive and negative queries), recall = found
true entries / 683, F1, and false alerts per 1,000 non-matching queries (negatives_us).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from followthemoney.types import registry

from polex.matching import DEFAULT_THRESHOLD, PersonIndex, PersonMatcher, PersonQuery
from polex.matching.model import normalise_birth_date, normalise_country

FIXTURES = Path("/work/shared/data/yente-screening-bench/contrib/candidate_generation_benchmark/fixtures")
RIGOUR_NAMES = Path("/work/shared/data/rigour-person-names/rigour/data/names/persons.txt")
PEER_THRESHOLD = 0.70
SEARCH_FLOOR = 0.5  # results are kept down to here so that any threshold above can be evaluated
CROSS_SCRIPTS = ("Cyrillic", "Arabic", "Greek", "Hebrew", "Han", "Devanagari", "Hangul", "Georgian", "Armenian")

Record = dict[str, Any]


@dataclass
class QueryOutcome:
    expected: str | None
    scores: dict[str, float] = field(default_factory=dict)  # candidate id -> score


def clean_record(row: dict[str, str], record_id: str) -> Record:
    """The values both matchers receive."""
    try:
        birth_date = normalise_birth_date(row.get("date_of_birth") or None)
    except ValueError:
        birth_date = None  # followthemoney drops an invalid date the same way
    country = registry.country.clean(row.get("nationality") or "") if row.get("nationality") else None
    code = normalise_country(country) if country else None
    gender = (row.get("gender") or "").strip().lower()
    return {
        "id": record_id,
        "name": row["full_name"].strip(),
        "birth_date": birth_date,
        "nationality": code,
        "sex": gender if gender in ("male", "female") else None,
    }


def to_query(record: Record) -> PersonQuery:
    return PersonQuery(
        names=(record["name"],),
        birth_date=record["birth_date"],
        nationalities=(record["nationality"],) if record["nationality"] else (),
        sex=record["sex"],
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# -- logic-v2 ---------------------------------------------------------------------------------

_PEER_RECORDS: dict[str, Record] = {}


def _entity(record: Record) -> Any:
    from followthemoney import model

    entity = model.make_entity("Person")
    entity.id = record["id"]
    entity.add("name", record["name"])
    if record["birth_date"]:
        entity.add("birthDate", record["birth_date"])
    if record["nationality"]:
        entity.add("nationality", _alpha2(record["nationality"]))
    if record["sex"]:
        entity.add("gender", record["sex"])
    return entity


def _alpha2(alpha3: str) -> str:
    import pycountry

    country = pycountry.countries.get(alpha_3=alpha3)
    return country.alpha_2.lower() if country is not None else alpha3.lower()


_ENTITY_CACHE: dict[str, Any] = {}


def _peer_scores(task: tuple[Record, list[str]]) -> tuple[list[float], float]:
    from nomenklatura.matching import LogicV2

    query, candidate_ids = task
    config = LogicV2.default_config()
    query_entity = _entity(query)
    scores: list[float] = []
    started = time.perf_counter()
    for candidate_id in candidate_ids:
        entity = _ENTITY_CACHE.get(candidate_id)
        if entity is None:
            entity = _ENTITY_CACHE[candidate_id] = _entity(_PEER_RECORDS[candidate_id])
        scores.append(LogicV2.compare(query_entity, entity, config).score)
    return scores, time.perf_counter() - started


def peer_available() -> bool:
    try:
        import nomenklatura.matching  # noqa: F401
    except ImportError:
        return False
    return True


def run_peer(tasks: list[tuple[Record, list[str]]], workers: int) -> tuple[list[list[float]], float, int]:
    """logic-v2 scores for each task, the summed scoring time and the pair count."""
    if workers <= 1:
        results = [_peer_scores(task) for task in tasks]
    else:
        # Forked workers inherit _PEER_RECORDS, so only ids travel.
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(_peer_scores, tasks, chunksize=64))
    return [scores for scores, _ in results], sum(seconds for _, seconds in results), sum(len(t[1]) for t in tasks)


# -- metrics ----------------------------------------------------------------------------------


@dataclass
class Figures:
    true_alerts: int
    missed: int
    false_on_positives: int
    false_on_negatives: int
    negative_queries: int

    @property
    def precision(self) -> float:
        alerts = self.true_alerts + self.false_on_positives + self.false_on_negatives
        return self.true_alerts / alerts if alerts else 1.0

    @property
    def recall(self) -> float:
        total = self.true_alerts + self.missed
        return self.true_alerts / total if total else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_per_thousand(self) -> float:
        return 1000 * self.false_on_negatives / self.negative_queries if self.negative_queries else 0.0


def evaluate(positives: Sequence[QueryOutcome], negatives: Sequence[QueryOutcome], threshold: float) -> Figures:
    true_alerts = missed = false_pos = false_neg = 0
    for outcome in positives:
        hit = outcome.scores.get(outcome.expected or "", 0.0) >= threshold
        true_alerts += hit
        missed += not hit
        false_pos += sum(1 for cid, s in outcome.scores.items() if cid != outcome.expected and s >= threshold)
    for outcome in negatives:
        false_neg += sum(1 for s in outcome.scores.values() if s >= threshold)
    return Figures(true_alerts, missed, false_pos, false_neg, len(negatives))


def best_threshold(positives: Sequence[QueryOutcome], negatives: Sequence[QueryOutcome]) -> tuple[float, Figures]:
    best = (0.0, evaluate(positives, negatives, 0.0))
    for step in range(50, 100):
        threshold = step / 100
        figures = evaluate(positives, negatives, threshold)
        if figures.f1 > best[1].f1:
            best = (threshold, figures)
    return best


def row(label: str, threshold: float, figures: Figures) -> str:
    return (
        f"| {label} | {threshold:.2f} | {figures.precision:.4f} | {figures.recall:.4f} | {figures.f1:.4f} | "
        f"{figures.true_alerts} | {figures.missed} | {figures.false_on_positives} | {figures.false_on_negatives} | "
        f"{figures.false_per_thousand:.2f} |"
    )


HEADER = (
    "| matcher | threshold | precision | recall | F1 | true alerts | missed | false alerts (positive queries) "
    "| false alerts (negative queries) | false alerts per 1,000 non-matching queries |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


# -- cross-script pairs -----------------------------------------------------------------------


def cross_script_pairs(path: Path, per_script: int, seed: int) -> list[tuple[str, str, str, bool]]:
    """(script, latin name, other-script name, same person?) from rigour's name groups."""
    from rigour.text.scripts import text_scripts

    groups: dict[str, list[tuple[str, str]]] = {script: [] for script in CROSS_SCRIPTS}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            forms_text, _, _ = line.partition(" => ")
            forms = [form.strip() for form in forms_text.split(",") if form.strip() and " " not in form.strip()]
            latin = next((f for f in forms if f.isascii() and f.isalpha() and len(f) >= 3), None)
            if latin is None:
                continue
            seen: set[str] = set()
            for form in forms:
                scripts = text_scripts(form)
                if len(scripts) == 1:
                    script = next(iter(scripts))
                    if script in groups and script not in seen:
                        seen.add(script)
                        groups[script].append((latin, form))
    rng = random.Random(seed)
    pairs: list[tuple[str, str, str, bool]] = []
    for script, members in groups.items():
        if len(members) < 4:
            continue
        for _ in range(per_script):
            a, b, c, d = rng.sample(members, 4)
            if len({a[0], b[0], c[0], d[0]}) < 4 or len({a[1], b[1], c[1], d[1]}) < 4:
                continue
            latin = f"{a[0].title()} {b[0].title()}"
            pairs.append((script, latin, f"{a[1]} {b[1]}", True))
            pairs.append((script, latin, f"{a[1]} {c[1]}", False))  # one part differs
            pairs.append((script, latin, f"{c[1]} {d[1]}", False))
    return pairs


def pair_figures(scores: Iterable[tuple[float, bool]], threshold: float) -> tuple[float, float, float]:
    tp = fp = fn = 0
    for score, same in scores:
        alert = score >= threshold
        tp += alert and same
        fp += alert and not same
        fn += same and not alert
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def run_cross_script(args: argparse.Namespace, with_peer: bool) -> None:
    if not args.rigour_names.exists():
        print(f"\ncross-script pairs skipped: {args.rigour_names} not found")
        return
    pairs = cross_script_pairs(args.rigour_names, args.cross_per_script, args.seed)
    matcher = PersonMatcher()
    polex_scores: list[tuple[str, float, bool]] = []
    for script, latin, other, same in pairs:
        result = matcher.score(matcher.prepare(PersonQuery((latin,))), matcher.prepare(PersonQuery((other,))))
        polex_scores.append((script, result.score, same))
    peer_scores: list[tuple[str, float, bool]] = []
    if with_peer:
        from nomenklatura.matching import LogicV2

        config = LogicV2.default_config()
        for number, (script, latin, other, same) in enumerate(pairs):
            query = _entity({"id": f"xq{number}", "name": latin, "birth_date": None, "nationality": None, "sex": None})
            cand = _entity({"id": f"xc{number}", "name": other, "birth_date": None, "nationality": None, "sex": None})
            peer_scores.append((script, LogicV2.compare(query, cand, config).score, same))
    positives = sum(1 for p in pairs if p[3])
    print(f"\n### Cross-script pairs ({positives} positive, {len(pairs) - positives} negative, name only)\n")
    print("| script | polex P / R / F1 | logic-v2 P / R / F1 |")
    print("|---|---|---|")
    for script in [*CROSS_SCRIPTS, "all"]:
        mine = [(s, same) for sc, s, same in polex_scores if script in ("all", sc)]
        if not mine:
            continue
        p, r, f = pair_figures(mine, DEFAULT_THRESHOLD)
        cell = "n/a"
        if peer_scores:
            theirs = [(s, same) for sc, s, same in peer_scores if script in ("all", sc)]
            pp, pr, pf = pair_figures(theirs, PEER_THRESHOLD)
            cell = f"{pp:.3f} / {pr:.3f} / {pf:.3f}"
        print(f"| {script} ({len(mine)}) | {p:.3f} / {r:.3f} / {f:.3f} | {cell} |")


# -- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=FIXTURES)
    parser.add_argument("--rigour-names", type=Path, default=RIGOUR_NAMES)
    parser.add_argument("--negatives", type=int, default=50_000, help="negative queries for polex (all: 50000)")
    parser.add_argument("--peer-negatives", type=int, default=10_000, help="negative queries also scored by logic-v2")
    parser.add_argument("--no-peer", action="store_true", help="polex only")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes for logic-v2")
    parser.add_argument("--cross-per-script", type=int, default=150)
    parser.add_argument("--sweep", action="store_true", help="print polex's figures at every threshold")
    parser.add_argument("--misses", action="store_true", help="list polex's misses and false alerts")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with_peer = not args.no_peer and peer_available()
    if not args.no_peer and not with_peer:
        print("nomenklatura is not installed: polex only (pip install -e '.[bench]')")

    untreated = read_csv(args.fixtures / "positives_un_untreated.csv")
    treated = read_csv(args.fixtures / "positives_un_treated.csv")
    global_negatives = read_csv(args.fixtures / "negatives_global.csv")
    us_negatives = read_csv(args.fixtures / "negatives_us.csv")[: args.negatives]

    watchlist = [clean_record(r, f"un-{i}") for i, r in enumerate(untreated)]
    watchlist += [clean_record(r, f"ng-{i}") for i, r in enumerate(global_negatives)]
    _PEER_RECORDS.update({record["id"]: record for record in watchlist})

    index = PersonIndex()
    started = time.perf_counter()
    skipped = 0
    for record in watchlist:
        try:
            index.add(record["id"], to_query(record))
        except ValueError:
            skipped += 1
    index.compact()
    build_seconds = time.perf_counter() - started
    print(f"watch list: {len(index):,} entries ({skipped} rejected), built in {build_seconds:.1f} s")

    def search_all(records: list[Record], expected: list[str | None]) -> tuple[list[QueryOutcome], float]:
        outcomes: list[QueryOutcome] = []
        began = time.perf_counter()
        for record, expect in zip(records, expected, strict=True):
            outcome = QueryOutcome(expect)
            for candidate in index.search(to_query(record), limit=20, threshold=SEARCH_FLOOR):
                outcome.scores[candidate.entry_id] = candidate.score
            outcomes.append(outcome)
        return outcomes, time.perf_counter() - began

    positive_records = [clean_record(r, f"q-un-{i}") for i, r in enumerate(treated)]
    negative_records = [clean_record(r, f"q-us-{i}") for i, r in enumerate(us_negatives)]
    positives, positive_seconds = search_all(positive_records, [f"un-{i}" for i in range(len(treated))])
    negatives, negative_seconds = search_all(negative_records, [None] * len(negative_records))
    queries = len(positives) + len(negatives)
    print(f"polex: {queries:,} searches in {positive_seconds + negative_seconds:.1f} s")

    polex_default = evaluate(positives, negatives, DEFAULT_THRESHOLD)
    polex_best_t, polex_best = best_threshold(positives, negatives)
    print(f"\n### yente screening fixtures: 683 positive queries, {len(negatives):,} negative queries\n")
    print(HEADER)
    print(row("polex (all negatives)", DEFAULT_THRESHOLD, polex_default))
    print(row("polex, best F1 threshold (all negatives)", polex_best_t, polex_best))

    if with_peer:
        rng = random.Random(args.seed)
        sample = sorted(rng.sample(range(len(negative_records)), min(args.peer_negatives, len(negative_records))))
        tasks: list[tuple[Record, list[str]]] = []
        for number, record in enumerate(positive_records):
            ids = index.candidate_ids(to_query(record))
            expected = f"un-{number}"
            tasks.append((record, ids if expected in ids else [*ids, expected]))
        for number in sample:
            record = negative_records[number]
            tasks.append((record, index.candidate_ids(to_query(record))))
        began = time.perf_counter()
        peer_scores, peer_seconds, pair_count = run_peer(tasks, args.workers)
        wall = time.perf_counter() - began
        peer_outcomes = [
            QueryOutcome(expect, dict(zip(task[1], scores, strict=True)))
            for expect, task, scores in zip(
                [o.expected for o in positives] + [None] * len(sample), tasks, peer_scores, strict=True
            )
        ]
        peer_pos, peer_neg = peer_outcomes[: len(positives)], peer_outcomes[len(positives) :]
        polex_neg_sample = [negatives[number] for number in sample]
        print(row(f"polex (same {len(sample):,} negative sample)", DEFAULT_THRESHOLD,
                  evaluate(positives, polex_neg_sample, DEFAULT_THRESHOLD)))  # fmt: skip
        print(row(f"logic-v2 ({len(sample):,} negative sample)", PEER_THRESHOLD,
                  evaluate(peer_pos, peer_neg, PEER_THRESHOLD)))  # fmt: skip
        peer_best_t, peer_best = best_threshold(peer_pos, peer_neg)
        print(row("logic-v2, best F1 threshold", peer_best_t, peer_best))
        print(
            f"\nlogic-v2 scored {pair_count:,} pairs in {peer_seconds:.0f} s of worker time "
            f"({pair_count / peer_seconds:,.0f} pairs/s per core; {wall:.0f} s wall on {args.workers} workers)"
        )
        mean = sum(len(t[1]) for t in tasks) / len(tasks)
        print(f"candidates per query (polex's blocking): {mean:.1f} on average")

    if args.sweep:
        print("\n| threshold | precision | recall | F1 | false alerts per 1,000 |\n|---:|---:|---:|---:|---:|")
        for step in range(60, 100):
            figures = evaluate(positives, negatives, step / 100)
            print(f"| {step / 100:.2f} | {figures.precision:.4f} | {figures.recall:.4f} | {figures.f1:.4f} | "
                  f"{figures.false_per_thousand:.2f} |")  # fmt: skip
    if args.misses:
        print_misses(positives, negatives, positive_records, negative_records, index)
    run_cross_script(args, with_peer)
    return 0


def print_misses(
    positives: list[QueryOutcome],
    negatives: list[QueryOutcome],
    positive_records: list[Record],
    negative_records: list[Record],
    index: PersonIndex,
) -> None:
    print("\nmissed positives:")
    for outcome, record in zip(positives, positive_records, strict=True):
        if outcome.scores.get(outcome.expected or "", 0.0) < DEFAULT_THRESHOLD:
            score = outcome.scores.get(outcome.expected or "")
            print(f"  {record['name']!r} {record['birth_date']} {record['nationality']} -> {outcome.expected} {score}")
            _explain(index, record, outcome.expected)
    print("\nfalse alerts on negative queries:")
    for outcome, record in zip(negatives, negative_records, strict=True):
        for candidate_id, score in outcome.scores.items():
            if score >= DEFAULT_THRESHOLD:
                print(f"  {record['name']!r} {record['birth_date']} {record['nationality']} {record['sex']} "
                      f"-> {candidate_id} {score:.3f}")  # fmt: skip
                _explain(index, record, candidate_id)


def _explain(index: PersonIndex, record: Record, candidate_id: str | None) -> None:
    for candidate in index.search(to_query(record), limit=50, threshold=0.0):
        if candidate.entry_id == candidate_id:
            for feature in candidate.explanation:
                if feature.weight:
                    print(f"      {feature.feature} {feature.weight:+.2f} {feature.detail}")


if __name__ == "__main__":
    sys.exit(main())
