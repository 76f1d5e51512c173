"""Background threads run below the serving threads' CPU priority (Linux: per thread)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from polex.audit.background import PeriodicTask
from polex.threads import BACKGROUND_NICE, run_in_background

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="nice values are per thread on Linux only")


def nice_of_thread(start_at: int | None = None) -> tuple[int, int]:
    """The nice value a new thread has (``start_at`` if given) before and after
    ``run_in_background``."""
    seen: list[int] = []

    def work() -> None:
        thread_id = threading.get_native_id()
        if start_at is not None:
            os.setpriority(os.PRIO_PROCESS, thread_id, start_at)
        seen.append(os.getpriority(os.PRIO_PROCESS, thread_id))
        run_in_background()
        seen.append(os.getpriority(os.PRIO_PROCESS, thread_id))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return seen[0], seen[1]


def test_a_background_thread_runs_below_the_others_and_leaves_them_be() -> None:
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before, after = nice_of_thread()
    assert before == own
    assert after == max(own, BACKGROUND_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the caller's thread is untouched


def test_a_thread_already_lower_stays_lower() -> None:
    before, after = nice_of_thread(BACKGROUND_NICE + 5)
    assert before == after == BACKGROUND_NICE + 5


def test_a_periodic_task_runs_its_rounds_in_the_background() -> None:
    seen: list[int] = []
    ran = threading.Event()

    def work() -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        ran.set()

    task = PeriodicTask("test-priority", work, interval_seconds=0.01)
    task.start()
    try:
        assert ran.wait(5)
    finally:
        task.stop()
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen[0] == max(own, BACKGROUND_NICE)
    assert seen[-1] == own  # the last round, on stop, runs in the stopping thread
