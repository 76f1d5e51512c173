"""How fast this machine runs Python, printed beside a benchmark's figures.

The machines these benchmarks run on have differed threefold in speed from one day to the
next (10 million additions in a Python loop took 0.50 s on the fastest seen, 1.49 s on the
slowest), so an absolute figure says little without the machine's own: each benchmark
measures it before it starts anything and prints it with its results.
"""

from __future__ import annotations

import time

ADDITIONS = 10_000_000
REPEATS = 3


def python_seconds(additions: int = ADDITIONS, repeats: int = REPEATS) -> float:
    """The best of ``repeats`` timings of ``additions`` additions in a Python loop run as a
    module's top-level code, its variables globals: the form the figures in
    docs/benchmarks.md were taken in (``python3 -c`` with the loop at the top level), about
    three times slower than the same loop in a function, whose variables are locals."""
    loop = compile(f"total = 0\nfor number in range({additions}):\n    total += number\n", "<machine>", "exec")
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        exec(loop, {})  # noqa: S102 - our own constant code, as a module's top level
        best = min(best, time.perf_counter() - started)
    return best


def speed_line(seconds: float) -> str:
    """The figure of ``python_seconds()`` as the benchmarks print it."""
    return f"this machine: {ADDITIONS:,} Python additions in {seconds:.2f} s (best of {REPEATS}; lower is faster)"
