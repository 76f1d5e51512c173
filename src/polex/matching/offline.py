"""Batch matching of CSV files: score pairs of persons, or screen queries against a watch list.

Both functions stream: the pairs file and the queries file are read one row at a time and
each result row is written as soon as it is known, so files of millions of rows need no more
memory than one row (the watch list, by nature, goes into a ``PersonIndex``). A bad row never
stops a run: it is reported through ``on_error`` (line number, field, reason), written to the
errors file next to the output (``<out>.errors.csv``, columns ``file,line,field,reason``), and
skipped. Only an unreadable file or missing required columns stop a run, with ``InputError``.

Columns (a header row is required; other columns are ignored, except that ``score_pairs``
copies every input column to its output):

- pairs: ``name1,name2`` and optionally ``birth_date1,birth_date2,nationality1,nationality2,
  sex1,sex2``; output: the input columns plus ``score`` and ``match``;
- watch list and queries: ``id,name`` and optionally ``birth_date,nationality,sex``; output:
  ``query_id,candidate_id,rank,score,match`` for the ``top`` best candidates of each query
  scoring at least ``min_score``.

A nationality cell may hold several codes separated by ``;``. Scores are written with four
decimals; ``match`` is ``true`` or ``false`` at the threshold.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from polex.matching.index import PersonIndex
from polex.matching.model import PersonQuery
from polex.matching.scoring import PersonMatcher

PAIR_COLUMNS = ("name1", "name2")
PERSON_COLUMNS = ("id", "name")
RESULT_COLUMNS = ("query_id", "candidate_id", "rank", "score", "match")
ERROR_COLUMNS = ("file", "line", "field", "reason")
# csv's default field limit is 128 KiB; a longer cell is an error of its row, not of the run.
_FIELD_LIMIT = 1 << 20
_FIELD_IN_MESSAGE = re.compile(r"^(names|birth_date|nationalities|sex|identifiers)(\[\d+\])?: ")
_PERSON_FIELDS = {"names": "name", "birth_date": "birth_date", "nationalities": "nationality", "sex": "sex"}

ErrorHandler = Callable[["RowError"], None]
ProgressHandler = Callable[[int], None]


class InputError(Exception):
    """A file cannot be read or lacks required columns: the run cannot start."""


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.reason}"


@dataclass
class Summary:
    rows_read: int = 0
    rows_written: int = 0
    errors: int = 0
    watchlist_entries: int = 0
    error_file: Path | None = None
    error_examples: list[RowError] = field(default_factory=list)


class _ErrorSink:
    """Collects row errors: counts them, hands them to ``on_error``, writes the errors file."""

    def __init__(self, out: Path, summary: Summary, on_error: ErrorHandler | None) -> None:
        self.path = out.with_name(out.name + ".errors.csv")
        self.summary = summary
        self.on_error = on_error
        self._handle: TextIO | None = None
        self._write: Callable[[tuple[object, ...]], object] | None = None
        # A stale errors file from an earlier run would describe rows this run did not reject.
        self.path.unlink(missing_ok=True)

    def add(self, error: RowError) -> None:
        self.summary.errors += 1
        if len(self.summary.error_examples) < 20:
            self.summary.error_examples.append(error)
        if self.on_error is not None:
            self.on_error(error)
        if self._write is None:
            self._handle = self.path.open("w", encoding="utf-8", newline="")
            self._write = csv.writer(self._handle).writerow
            self._write(ERROR_COLUMNS)
            self.summary.error_file = self.path
        self._write((error.file, error.line, error.field, error.reason))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


@contextmanager
def _open_csv(path: Path, required: tuple[str, ...]) -> Iterator[csv.DictReader[str]]:
    try:
        handle: IO[str] = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    with handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames
        except (csv.Error, UnicodeDecodeError) as error:
            raise InputError(f"{path}: cannot be read as CSV ({error})") from None
        missing = [column for column in required if column not in (header or [])]
        if missing:
            raise InputError(f"{path}: required column(s) missing: {', '.join(missing)}")
        yield reader


def _rows(reader: csv.DictReader[str], source: str, errors: _ErrorSink) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows with their line numbers; rows the csv module cannot parse become errors."""
    # Process-wide, and harmless: it only lets a long cell reach the name check that rejects it.
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as error:
            errors.add(RowError(source, reader.line_num, "row", f"not valid CSV: {error}"))
            continue
        yield reader.line_num, row


def _cell(row: dict[str, str], column: str) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    value = value.strip()
    return value or None


def person_from_row(row: dict[str, str], suffix: str = "") -> PersonQuery:
    """A person from CSV cells ``name``, ``birth_date``, ``nationality``, ``sex`` (+ suffix)."""
    name = _cell(row, "name" + suffix)
    if name is None:
        raise ValueError("names[0]: is empty")
    nationality = _cell(row, "nationality" + suffix)
    return PersonQuery(
        names=(name,),
        birth_date=_cell(row, "birth_date" + suffix),
        nationalities=tuple(code.strip() for code in nationality.split(";") if code.strip()) if nationality else (),
        sex=_cell(row, "sex" + suffix),
    )


def _column_of(message: str, suffix: str) -> tuple[str, str]:
    """The CSV column a PersonQuery error is about, and the reason without the field prefix."""
    found = _FIELD_IN_MESSAGE.match(message)
    if found is None:
        return "row", message
    return _PERSON_FIELDS.get(found.group(1), found.group(1)) + suffix, message[found.end() :]


def _format(score: float) -> str:
    return f"{score:.4f}"


def score_pairs(
    pairs: Path,
    out: Path,
    *,
    matcher: PersonMatcher | None = None,
    threshold: float | None = None,
    on_error: ErrorHandler | None = None,
    on_progress: ProgressHandler | None = None,
) -> Summary:
    """Score each row's two persons; write the row with ``score`` and ``match``."""
    matcher = matcher or PersonMatcher()
    summary = Summary()
    with _open_csv(pairs, PAIR_COLUMNS) as reader:
        columns = [*(reader.fieldnames or []), "score", "match"]
        errors = _ErrorSink(out, summary, on_error)
        try:
            with out.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
                for line, row in _rows(reader, pairs.name, errors):
                    summary.rows_read += 1
                    if on_progress is not None:
                        on_progress(summary.rows_read)
                    prepared = []
                    for suffix in ("1", "2"):
                        try:
                            prepared.append(matcher.prepare(person_from_row(row, suffix)))
                        except ValueError as error:
                            column, reason = _column_of(str(error), suffix)
                            errors.add(RowError(pairs.name, line, column, reason))
                            break
                    if len(prepared) < 2:
                        continue
                    result = matcher.score(prepared[0], prepared[1], threshold)
                    writer.writerow({**row, "score": _format(result.score), "match": str(result.match).lower()})
                    summary.rows_written += 1
        except OSError as error:
            raise InputError(f"{out}: cannot be written ({error.strerror or error})") from None
        finally:
            errors.close()
    return summary


def search_watchlist(
    watchlist: Path,
    queries: Path,
    out: Path,
    *,
    top: int = 10,
    min_score: float = 0.5,
    matcher: PersonMatcher | None = None,
    threshold: float | None = None,
    on_error: ErrorHandler | None = None,
    on_progress: ProgressHandler | None = None,
) -> Summary:
    """Index the watch list, then write each query's ``top`` best candidates (score at least
    ``min_score``), with ``match`` at ``threshold`` (the matcher's own when not given)."""
    if top < 1:
        raise InputError("--top must be at least 1")
    if threshold is not None:
        matcher = PersonMatcher(threshold)
    matcher = matcher or PersonMatcher()
    summary = Summary()
    index = PersonIndex(matcher)
    errors = _ErrorSink(out, summary, on_error)
    try:
        with _open_csv(watchlist, PERSON_COLUMNS) as reader:
            for line, row in _rows(reader, watchlist.name, errors):
                entry_id = _cell(row, "id")
                if entry_id is None:
                    errors.add(RowError(watchlist.name, line, "id", "is empty"))
                    continue
                try:
                    index.add(entry_id, person_from_row(row))
                except ValueError as error:
                    errors.add(RowError(watchlist.name, line, *_column_of(str(error), "")))
        index.compact()
        summary.watchlist_entries = len(index)
        with _open_csv(queries, PERSON_COLUMNS) as reader:
            try:
                handle = out.open("w", encoding="utf-8", newline="")
            except OSError as error:
                raise InputError(f"{out}: cannot be written ({error.strerror or error})") from None
            with handle:
                writer = csv.writer(handle)
                writer.writerow(RESULT_COLUMNS)
                for line, row in _rows(reader, queries.name, errors):
                    summary.rows_read += 1
                    if on_progress is not None:
                        on_progress(summary.rows_read)
                    query_id = _cell(row, "id")
                    if query_id is None:
                        errors.add(RowError(queries.name, line, "id", "is empty"))
                        continue
                    try:
                        query = person_from_row(row)
                    except ValueError as error:
                        errors.add(RowError(queries.name, line, *_column_of(str(error), "")))
                        continue
                    found = index.search(query, limit=top, threshold=min_score, explain=False)
                    for rank, candidate in enumerate(found, start=1):
                        match = str(candidate.match).lower()
                        writer.writerow((query_id, candidate.entry_id, rank, _format(candidate.score), match))
                        summary.rows_written += 1
    finally:
        errors.close()
    return summary
