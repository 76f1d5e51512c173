"""The CSV tools on small files in a temporary folder (their whole job is reading and writing files)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from polex.matching.offline import InputError, RowError, score_pairs, search_watchlist


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_pairs_are_scored_and_bad_rows_reported(tmp_path: Path) -> None:
    pairs = write(
        tmp_path / "pairs.csv",
        "case,name1,name2,birth_date1,birth_date2,nationality1,nationality2,sex1,sex2\n"
        "a,Vladimir Putin,Владимир Путин,1952,1952-10-07,RU,RUS,M,male\n"
        "b,John Smith,Maria Garcia,,,,,,\n"
        "c,Jane Doe,Jane Doe,1980-13-01,,,,,\n"  # no 13th month
        "d,,Someone,,,,,,\n"
        "e,Ivan Petrov,Иван Петров,,,XX,,,\n",
    )
    out = tmp_path / "scores.csv"
    errors: list[RowError] = []
    summary = score_pairs(pairs, out, on_error=errors.append)
    written = rows(out)
    assert [row["case"] for row in written] == ["a", "b"]
    assert written[0]["match"] == "true"
    assert float(written[0]["score"]) == 1.0
    assert written[1]["match"] == "false"
    assert (summary.rows_read, summary.rows_written, summary.errors) == (5, 2, 3)
    assert [(e.line, e.field) for e in errors] == [(4, "birth_date1"), (5, "name1"), (6, "nationality1")]
    assert "month 13" in errors[0].reason
    assert summary.error_file == tmp_path / "scores.csv.errors.csv"
    assert [row["line"] for row in rows(summary.error_file)] == ["4", "5", "6"]


def test_a_clean_run_removes_a_stale_errors_file(tmp_path: Path) -> None:
    stale = write(tmp_path / "out.csv.errors.csv", "file,line,field,reason\nx,1,name,old\n")
    summary = score_pairs(write(tmp_path / "p.csv", "name1,name2\nAnna,Anna\n"), tmp_path / "out.csv")
    assert summary.errors == 0
    assert not stale.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [("name1,other\nA,B\n", "required column(s) missing: name2"), ("", "required column(s) missing")],
)
def test_missing_columns_stop_the_run(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        score_pairs(write(tmp_path / "p.csv", content), tmp_path / "out.csv")


def test_an_unreadable_file_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        score_pairs(tmp_path / "missing.csv", tmp_path / "out.csv")


def test_watchlist_screening(tmp_path: Path) -> None:
    watchlist = write(
        tmp_path / "watchlist.csv",
        "id,name,birth_date,nationality,sex,notes\n"
        "w1,Mohammed Ali Hassan,1970-01-02,EGY,M,x\n"
        "w2,Владимир Путин,1952-10-07,RUS,M,\n"
        "w3,John Smith,1980,,,\n"
        ",Nobody,,,,\n"
        "w4,Bad Date,1980-02-30,,,\n",
    )
    queries = write(
        tmp_path / "queries.csv",
        "id,name,birth_date,nationality,sex\n"
        "q1,محمد علي حسن,1970,EG,\nq2,Vladimir Putin,,,\nq3,Angela Merkel,,,\nq4,   ,,,\n",
    )
    out = tmp_path / "results.csv"
    errors: list[RowError] = []
    summary = search_watchlist(watchlist, queries, out, top=3, on_error=errors.append)
    results = rows(out)
    assert [(r["query_id"], r["candidate_id"], r["rank"], r["match"]) for r in results] == [
        ("q1", "w1", "1", "true"),
        ("q2", "w2", "1", "true"),
    ]
    assert summary.watchlist_entries == 3
    assert (summary.rows_read, summary.rows_written, summary.errors) == (4, 2, 3)
    assert [(e.file, e.line, e.field) for e in errors] == [
        ("watchlist.csv", 5, "id"),
        ("watchlist.csv", 6, "birth_date"),
        ("queries.csv", 5, "name"),
    ]


def test_watchlist_rows_below_the_threshold_are_listed_as_no_match(tmp_path: Path) -> None:
    watchlist = write(tmp_path / "w.csv", "id,name\nw1,Ali Hassan Mahmoud\n")
    queries = write(tmp_path / "q.csv", "id,name\nq1,Mohammed Ali Hassan\n")
    search_watchlist(watchlist, queries, tmp_path / "r.csv", min_score=0.5)
    (result,) = rows(tmp_path / "r.csv")
    assert result["match"] == "false"
    assert 0.5 <= float(result["score"]) < 0.8
