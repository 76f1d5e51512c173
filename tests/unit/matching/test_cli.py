from __future__ import annotations

import csv
from pathlib import Path

import typer
from typer.testing import CliRunner

from polex.matching.cli import match_command

app = typer.Typer()
app.command("match")(match_command)
app.command("other")(lambda: None)  # two commands, so that "match" is a subcommand as in polex's app
runner = CliRunner()


def test_pairs(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("name1,name2\nBill Clinton,William Clinton\nBill Clinton,\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["match", "--pairs", str(pairs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pairs.csv:3: name2: is empty" in result.output
    assert "2 rows read, 1 written, 1 errors" in result.output
    with out.open(encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["match"] == "true"


def test_watchlist(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text("id,name\nw1,Mohammed Ali\n", encoding="utf-8")
    (tmp_path / "q.csv").write_text("id,name\nq1,Muhammad Ali\n", encoding="utf-8")
    out = tmp_path / "r.csv"
    args = ["match", "--watchlist", str(tmp_path / "w.csv"), "--queries", str(tmp_path / "q.csv")]
    result = runner.invoke(app, [*args, "--out", str(out), "--top", "5"])
    assert result.exit_code == 0, result.output
    assert "1 watch-list entries, 1 rows read, 1 written, 0 errors" in result.output
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("q1,w1,1,")


def test_bad_files_and_options_exit_2(tmp_path: Path) -> None:
    out = str(tmp_path / "out.csv")
    missing = runner.invoke(app, ["match", "--pairs", str(tmp_path / "nope.csv"), "--out", out])
    assert missing.exit_code == 2
    assert "cannot be read" in missing.output
    (tmp_path / "bad.csv").write_text("first,second\nA,B\n", encoding="utf-8")
    columns = runner.invoke(app, ["match", "--pairs", str(tmp_path / "bad.csv"), "--out", out])
    assert columns.exit_code == 2
    assert "required column(s) missing: name1, name2" in columns.output
    neither = runner.invoke(app, ["match", "--out", out])
    assert neither.exit_code == 2
    assert "give --pairs, or --watchlist with --queries" in neither.output
