"""``polex match``: score pairs of persons, or screen queries against a watch list, from CSV.

Register it on any Typer app with one line: ``app.command("match")(match_command)``. This is
the only module of ``polex.matching`` that imports typer; the work is in ``offline``.

Exit status: 0 when the run completed (bad rows are reported and skipped, not fatal), 2 when
an input file cannot be read, lacks required columns, or the options do not make sense.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from polex.matching.offline import InputError, RowError, Summary, score_pairs, search_watchlist


class _Progress:
    """Rows done, rewritten in place on stderr at most ten times a second (terminals only)."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self._shown = 0.0

    def __call__(self, rows: int) -> None:
        now = time.monotonic()
        if self.enabled and now - self._shown >= 0.1:
            self._shown = now
            sys.stderr.write(f"\r{rows:,} rows")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\r")


def _report_error(error: RowError) -> None:
    typer.echo(f"error: {error}", err=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def match_command(
    out: Annotated[Path, typer.Option("--out", help="The result CSV to write", dir_okay=False)],
    pairs: Annotated[
        Path | None, typer.Option("--pairs", help="CSV of name1,name2 (and birth_date1/2, nationality1/2, sex1/2)")
    ] = None,
    watchlist: Annotated[
        Path | None, typer.Option("--watchlist", help="CSV of id,name (and birth_date, nationality, sex)")
    ] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help="CSV of persons to screen, same columns")] = None,
    top: Annotated[int, typer.Option("--top", help="Candidates written per query", min=1)] = 10,
    min_score: Annotated[
        float, typer.Option("--min-score", help="Lowest score written per query", min=0.0, max=1.0)
    ] = 0.5,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="The match cut-off (default: DEFAULT_THRESHOLD)", min=0.0, max=1.0),
    ] = None,
) -> None:
    """Score pairs of persons (--pairs), or screen --queries against a --watchlist, from CSV files.

    Bad rows are reported on stderr with their line number and in <out>.errors.csv, then
    skipped; the summary goes to stderr at the end.
    """
    if pairs is not None and (watchlist is not None or queries is not None):
        raise _fail("give either --pairs, or --watchlist with --queries, not both")
    progress = _Progress()
    started = time.monotonic()
    try:
        if pairs is not None:
            summary = score_pairs(pairs, out, threshold=threshold, on_error=_report_error, on_progress=progress)
        elif watchlist is None or queries is None:
            raise _fail("give --pairs, or --watchlist with --queries")
        else:
            summary = search_watchlist(
                watchlist,
                queries,
                out,
                top=top,
                min_score=min_score,
                threshold=threshold,
                on_error=_report_error,
                on_progress=progress,
            )
    except InputError as error:
        progress.done()
        raise _fail(str(error)) from None
    progress.done()
    _print_summary(summary, out, time.monotonic() - started)


def _print_summary(summary: Summary, out: Path, seconds: float) -> None:
    parts = []
    if summary.watchlist_entries:
        parts.append(f"{summary.watchlist_entries:,} watch-list entries")
    parts += [f"{summary.rows_read:,} rows read", f"{summary.rows_written:,} written", f"{summary.errors:,} errors"]
    typer.echo(f"{', '.join(parts)} in {seconds:.1f} s -> {out}", err=True)
    if summary.error_file is not None:
        typer.echo(f"errors listed in {summary.error_file}", err=True)
