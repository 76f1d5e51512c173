"""The process tree, read from /proc: which processes a benchmark started, through whom."""

from __future__ import annotations

import contextlib
from pathlib import Path


def process_stats() -> dict[str, list[str]]:
    """Every process's /proc/PID/stat fields after its command name (state, ppid, ...)."""
    stats: dict[str, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):  # exited meanwhile
                stats[entry.name] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
    return stats


def descendants(pid: int) -> list[int]:
    """The pids of ``pid``'s children, theirs, and so on."""
    parent_of = {child: fields[1] for child, fields in process_stats().items()}
    found = {str(pid)}
    grown = True
    while grown:
        more = {child for child, parent in parent_of.items() if parent in found} - found
        found |= more
        grown = bool(more)
    found.discard(str(pid))
    return sorted(int(child) for child in found)
