"""Background threads yield the CPU to the threads that answer requests.

A node serves requests on its event loop (and worker threads it hands requests to), and runs
periodic work beside them in threads of its own: signing and witnessing the audit log,
relaying and delivering envelopes, checking new audit entries for misuse, checkpointing the
database. They all share one interpreter lock, and on a small machine the same cores. When a
round of background work and a request are both ready to run, the request should run first:
a border post waits for its answer, a checkpoint can wait a few milliseconds.

On Linux each thread has its own nice value (``setpriority`` on a thread id), so background
threads run at :data:`BACKGROUND_NICE`: the scheduler gives them what the serving threads
leave, and all of it when those are idle. Elsewhere this is a no-op: POSIX ``setpriority``
acts on whole processes.

Measured with ``benchmarks/check_http.py --placements own-core`` (the hub on a core of its
own, 500 checks a second, docs/benchmarks.md): answers over 10 ms fell from 232 and 542 to
103 to 342 in 15,000, p99 from 12 and 17 ms to 8 to 16 ms. Where the hub shares its cores
with its clients and the other nodes, the other processes' threads, not its own background,
make the tail. ``SCHED_IDLE`` instead of a nice value (background work preempted the moment a
serving thread wakes, and starved by a busy one) was no better: p99 14 and 15 ms.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

# Linux nice values run from -20 to 19; at 10 a thread gets about a tenth of a core that a
# thread at 0 also wants (the kernel's weights 110 against 1024).
BACKGROUND_NICE = 10


def run_in_background(nice: int = BACKGROUND_NICE) -> None:
    """Lower the calling thread's CPU priority (a background thread calls it first thing).
    Only lowers: raising a priority needs a privilege a node does not have, and a thread that
    is already lower stays so."""
    if not sys.platform.startswith("linux"):
        return
    thread_id = threading.get_native_id()
    with contextlib.suppress(OSError):  # a sandbox may refuse; the thread then runs as before
        if os.getpriority(os.PRIO_PROCESS, thread_id) < nice:
            os.setpriority(os.PRIO_PROCESS, thread_id, nice)
