"""Imported only by the import workers' fork server (polex.ingest.parallel), never by a node.

It imports what a worker converts with, then freezes the fork server's heap: every worker
forked from it shares those pages, and a frozen object is never walked by a worker's
collector, which would otherwise write to its header and so copy its page into each worker
(the workers' proportional memory: 237 rather than 301 MB in benchmarks/import_csv.py)."""

from __future__ import annotations

import gc

import polex.formats.csv_mapping  # what workers convert with
import polex.ingest.parallel  # noqa: F401

gc.collect()
gc.freeze()
