"""``polex import`` shows its counts on a terminal as it goes, and always its final ones."""

from __future__ import annotations

import io

import pytest

from polex.cli import _ImportProgress
from polex.ingest.service import ImportSummary


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_counts_are_rewritten_in_place_and_the_last_ones_always_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    progress = _ImportProgress(dry_run=True)
    summary = ImportSummary(id="x", format="csv-mapping", dry_run=True)
    for accepted in range(1, 6):  # faster than ten a second: only the first is drawn at once
        summary.accepted = accepted * 1000
        progress(summary)
    summary.rejected = 7
    progress(summary)
    progress.done()
    lines = terminal.getvalue().split("\r")
    assert lines[1] == "1,000 would be imported, 0 would be quarantined"
    assert lines[-1] == "5,000 would be imported, 7 would be quarantined\n"


def test_nothing_is_written_where_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    progress = _ImportProgress(dry_run=False)
    progress(ImportSummary(id="x", format="csv-mapping", accepted=3))
    progress.done()
    assert pipe.getvalue() == ""
