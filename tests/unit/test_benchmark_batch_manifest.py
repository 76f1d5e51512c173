"""The batch manifest benchmark (benchmarks/batch_manifest.py) at a tiny size: its data
generation, the manifest polex reads from it, and its scoring. Splink is not needed."""

from __future__ import annotations

import importlib
import importlib.util
import io
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from polex.screening.manifest import rows

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCHMARKS))  # it imports its sibling person_match_speed
    try:
        yield importlib.import_module("batch_manifest")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture
def pools(bench: ModuleType) -> Any:
    return bench.Pools(
        scripts=["Cyrillic", "Latin"],
        weights=[1, 3],
        given={
            "Latin": [("John", "male", "GBR"), ("Margaret", "female", "IRL"), ("Anna", None, "DEU")],
            "Cyrillic": [("Иван", "male", "RUS"), ("Ольга", "female", None)],
        },
        middle={"Latin": ["Paul", "Maria"]},
        family={"Latin": ["Smith", "Brown", "Kowalski"], "Cyrillic": ["Петров", "Смирнов"]},
        variants={"john": ["Джон"], "smith": ["Смит"], "brown": ["Браун"]},
    )


@pytest.fixture
def forms(bench: ModuleType) -> Any:
    return bench.NameForms(latin={"Иван": ["ivan"], "Петров": ["petrov"]}, nicknames={"margaret": ["peggy"]})


def test_the_manifest_holds_the_members_asked_for_and_polex_reads_every_row(
    bench: ModuleType, pools: Any, forms: Any
) -> None:
    watchlist = bench.make_watchlist(pools, random.Random(1), 300)
    manifest = bench.make_manifest(watchlist, pools, forms, random.Random(2), 200, 0.1)

    members = [row for row in manifest if row.source is not None]
    assert len(manifest) == 200
    assert len(members) == 20
    assert len({row.source for row in members}) == 20
    assert all(row.change for row in members)
    assert all(not row.change for row in manifest if row.source is None)
    kinds = {kind for kind, _ in bench.NAME_CHANGES}
    assert all(row.change.split(";")[0] in kinds for row in members)

    text = io.StringIO()
    bench.write_manifest(text, manifest)
    read = list(rows(io.BytesIO(text.getvalue().encode()), "csv"))
    assert len(read) == 200
    assert all(row.person is not None and not row.errors for row in read)
    assert [row.ref for row in read] == [bench.row_id(number) for number in range(200)]

    truth = io.StringIO()
    bench.write_truth(truth, manifest)
    truth.seek(0)
    entries, changes = bench.read_truth(truth)
    assert entries == [row.source for row in manifest]
    assert changes == [row.change for row in manifest]


def test_the_data_is_the_same_for_the_same_seed(bench: ModuleType, pools: Any, forms: Any) -> None:
    def made(seed: int) -> list[Any]:
        rng = random.Random(seed)
        watchlist = bench.make_watchlist(pools, rng, 50)
        return bench.make_manifest(watchlist, pools, forms, rng, 40, 0.25)

    assert made(3) == made(3)
    assert made(3) != made(4)


def test_name_changes(bench: ModuleType, pools: Any, forms: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    latin = bench.Person(["Margaret", "Paul", "Smith"], None, "1970", "GBR", "female")
    cyrillic = bench.Person(["Иван", "Петров"], None, None, "RUS", "male")

    def changed(person: Any, kind: str) -> tuple[list[str], str]:
        monkeypatch.setattr(bench, "NAME_CHANGES", ((kind, 1),))
        parts: list[str]
        parts, done = bench.change_name(person, pools, forms, random.Random(0))
        return parts, done

    assert changed(latin, "none") == (["Margaret", "Paul", "Smith"], "none")
    assert changed(latin, "order") == (["Smith", "Margaret", "Paul"], "order")
    assert changed(latin, "middle") == (["Margaret", "Smith"], "middle")
    assert changed(latin, "nickname") == (["Peggy", "Paul", "Smith"], "nickname")
    assert changed(cyrillic, "script") == (["Ivan", "Petrov"], "script")
    assert changed(bench.Person(["John", "Smith"], None, None, None, None), "script") == (["Джон", "Смит"], "script")
    # A change that does not apply falls back on a typo: one part, one edit.
    parts, done = changed(bench.Person(["Anna", "Kowalski"], None, None, None, None), "nickname")
    assert done == "typo"
    assert sum(a != b for a, b in zip(parts, ["Anna", "Kowalski"], strict=True)) == 1


def test_dates_as_a_passport_and_a_manifest_write_them(bench: ModuleType) -> None:
    rng = random.Random(7)
    assert bench.passport_date("1970-05-06", rng) == "1970-05-06"
    assert bench.passport_date("1970-05", rng).startswith("1970-05-")
    assert bench.passport_date("1970", rng).startswith("1970-")
    assert len(bench.passport_date(None, rng)) == 10
    seen = set()
    for _ in range(500):
        date, change = bench.change_date("1980-03-07", rng)
        seen.add(change)
        assert change or date == "1980-03-07"
        if change == "year":
            assert date in ("1979-03-07", "1981-03-07")
        if change == "day/month":
            assert date == "1980-07-03"
        if change == "year only":
            assert date == "1980"
    assert seen == {"", "year", "digit", "day/month", "year only", "year-month only"}


def test_scores_count_a_row_once_and_only_its_own_entry_as_found(bench: ModuleType) -> None:
    truth = [3, None, 5, None, 7]
    pairs = {0: {3: 0.9}, 1: {2: 0.85}, 2: {1: 0.95, 5: 0.6}, 4: {7: 0.7}}

    scores = bench.evaluate(pairs, truth, range(5), 0.8)
    assert (scores.rows, scores.members, scores.alerted, scores.true_positives) == (5, 3, 3, 1)
    assert scores.missed == [2, 4]
    assert scores.false_alerts == {1: [2], 2: [1]}
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 3)
    assert scores.f1 == pytest.approx(1 / 3)

    lower = bench.evaluate(pairs, truth, range(5), 0.6)
    assert (lower.alerted, lower.true_positives) == (4, 3)  # row 2 matches its own entry and another


def test_the_best_threshold_is_the_best_f1_of_every_threshold(bench: ModuleType) -> None:
    rng = random.Random(11)
    truth = [rng.randrange(100) if rng.random() < 0.3 else None for _ in range(300)]
    pairs: dict[int, dict[int, float]] = {}
    for row, entry in enumerate(truth):
        found = {rng.randrange(100, 200): rng.random() for _ in range(rng.randrange(3))}
        if entry is not None and rng.random() < 0.9:
            found[entry] = rng.uniform(0.3, 1.0)
        pairs[row] = found

    best = bench.best_threshold(pairs, truth, range(300))
    every = sorted({score for found in pairs.values() for score in found.values()})
    top = max(bench.evaluate(pairs, truth, range(300), threshold).f1 for threshold in every)
    assert bench.evaluate(pairs, truth, range(300), best).f1 == pytest.approx(top)
    assert bench.best_threshold({}, [None, 1], range(2)) == 1.0


def test_indistinguishable_namesakes(bench: ModuleType) -> None:
    row = {"name": "Anna  Smith", "birth_date": "1970-05-06", "nationality": "GBR", "sex": ""}
    entry = {"name": "anna smith", "alias": "", "birth_date": "1970", "nationality": "", "sex": "female"}
    assert bench.indistinguishable(row, entry)
    assert bench.indistinguishable(row, {**entry, "name": "Anne Smith", "alias": "Anna Smith"})
    assert not bench.indistinguishable(row, {**entry, "birth_date": "1971"})
    assert not bench.indistinguishable(row, {**entry, "nationality": "IRL"})
    assert not bench.indistinguishable(row, {**entry, "name": "Anna Smyth"})


def test_splink_gets_ascii_names_in_parts(bench: ModuleType) -> None:
    assert bench.splink_columns("Путин Владимир Ильич") == {
        "first_name": "putin",
        "surname": "ilich",
        "name_concat": "putin vladimir ilich",
        "name_sorted": "ilich putin vladimir",
        "name_tokens": ["putin", "vladimir", "ilich"],
    }
    assert bench.splink_columns("习近平")["name_tokens"] == ["xi", "jin", "ping"]
    assert bench.splink_columns("Madonna")["surname"] is None


def test_without_splink_its_side_is_skipped_with_a_reason(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "splink" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    reason = bench.splink_missing()
    assert reason is not None
    assert "splink" in reason
    assert "skipped" in reason
    assert "splink" not in vars(bench)  # the module does not import it at the top


def test_the_report_scores_each_run_on_the_evaluation_slice(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    watchlist = [
        bench.Person(["Anna", "Smith"], None, "1970", "GBR", "female"),  # w0: row 1's namesake
        bench.Person(["John", "Brown"], "Джон Браун", "1980-01-02", "GBR", "male"),  # w1: row 2
        bench.Person(["Иван", "Петров"], None, None, "RUS", "male"),  # w2: row 3, missed
        bench.Person(["Olga", "Kowalski"], None, "1990-05-05", "POL", "female"),  # w3: row 6
    ]
    manifest = [
        bench.ManifestEntry("Eve Adams", "1960-01-01", "USA", None, None, ""),  # 0: tuning slice
        bench.ManifestEntry("Anna Smith", "1970-03-03", "GBR", "female", None, ""),
        bench.ManifestEntry("Джон Браун", "1980-01-02", "GBR", "male", 1, "script"),
        bench.ManifestEntry("Ivan Petrov", "1975-02-02", "RUS", "male", 2, "script;year only"),
        bench.ManifestEntry("Mary Jones", "1985-06-06", "IRL", "female", None, ""),
        bench.ManifestEntry("Olga Kowalsky", "1990-05-05", "POL", "female", 3, "typo"),  # 5: tuning slice
    ]
    for name, write, items in (
        (bench.WATCHLIST_FILE, bench.write_watchlist, watchlist),
        (bench.MANIFEST_FILE, bench.write_manifest, manifest),
        (bench.TRUTH_FILE, bench.write_truth, manifest),
    ):
        with (tmp_path / name).open("w", encoding="utf-8", newline="") as stream:
            write(stream, items)
    # Row 1 alerts on its namesake (a false alert that agrees on every field), row 2 finds its
    # entry, row 3 does not, row 4 alerts on an entry it is not; row 5 tunes the threshold.
    bench.write_pairs(tmp_path / "a-pairs.csv", [(1, 0, 0.9), (2, 1, 0.95), (3, 3, 0.5), (4, 3, 0.85), (5, 3, 0.88)])
    run = {
        "side": "polex",
        "name": "a",
        "label": "A",
        "fixed_threshold": 0.8,
        "prepare_seconds": 1.0,
        "build_seconds": 2.0,
        "build_cpu_seconds": 2.0,
        "screen_seconds": 4.0,
        "screen_cpu_seconds": 3.0,
        "peak_rss": 2**30,
        "rows": 6,
        "pairs": 5,
    }

    bench.report(tmp_path, [run])
    out = capsys.readouterr().out

    assert "scored on the 4 rows of the" in out
    assert "| A, default 0.80 | 1.0 s | 2.0 s | 4.0 s | 2 | 6.0 s | 5 | 1,024 MiB | 0.3333 | 0.5000 | 0.4000 |" in out
    # The best F1 on the tuning slice (row 5 alone) is at its own entry's score.
    assert "| A, best F1 0.88 |" in out
    assert "1 of the 2 other rows of the evaluation slice (50.0%) have a namesake on the list" in out
    assert "A, default 0.80: 3 alerted rows, 1 true, 2 false (1000.0 per 1,000 other rows; 1 on a namesake" in out
    assert "precision 0.6667 counting those as right); 1 members missed" in out
    assert "| script | 2 | 0.500 | 0.500 |" in out
    assert "| year only | 1 | 0.000 | 0.000 |" in out
    assert "| Latin | 1 | 2 | 0.000 / 1000.0 | 0.000 / 500.0 |" in out
    assert "| Cyrillic | 1 | 0 | 1.000 / - | 1.000 / - |" in out


def test_a_label_pairs_the_row_with_the_entry_form_it_shares_most_with(bench: ModuleType) -> None:
    tokens = {"w4": {"john", "brown"}, "w4#1": {"dzhon", "braun"}, "m7": {"dzhon", "braun"}, "m8": {"john", "braun"}}
    assert bench.labelled_form(4, 7, tokens) == "w4#1"
    assert bench.labelled_form(4, 8, tokens) == "w4"  # a tie: the name
    assert bench.labelled_form(5, 7, tokens) == "w5"  # nothing known of the entry: its name
