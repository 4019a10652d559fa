"""How long this process waited for a CPU while a check ran: the one fact that tells a busy machine from a mistake.

Every check is built so that load cannot bend its verdict (gates instead of races, deadlines with
wide margins), but a margin is still a number: a process that waits a quarter of a second for a
CPU at the wrong moment can miss it. Linux counts, per thread, the nanoseconds it spent runnable
but not running (the second field of /proc/PID/task/TID/schedstat). A check that failed while that
count grew is run again; one that failed on a quiet CPU is not, so a mistake is never given a
second chance just because a check is strict.
"""

from __future__ import annotations

import os
from pathlib import Path

_TASKS = Path("/proc/self/task")


def waits(process: int | str = "self") -> dict[str, int] | None:
    """Nanoseconds each live thread of `process` (this one by default) has spent waiting for a CPU, or None
    where unknown."""
    tasks = Path("/proc", str(process), "task") if process != "self" else _TASKS
    if not tasks.is_dir():
        return None
    counts = {}
    try:
        for task in os.listdir(tasks):
            try:
                counts[task] = int((tasks / task / "schedstat").read_text().split()[1])
            except OSError:
                continue  # the thread ended between the listing and the read
    except (OSError, ValueError, IndexError):
        return None
    return counts


def waited(*processes: int | str, main_thread_of: int | None = None) -> float | None:
    """Seconds the threads of these processes, and the main thread of `main_thread_of`, have waited for a CPU in
    all (a count that only grows), or None where none can be read. A process that has ended counts nothing more.

    Of official grading's worker only the main thread counts, where the graded code's event loop runs: a thread
    the graded code starts could wait for a CPU on purpose, to have a pause of its own excused.
    """
    found = [waits(p) for p in processes]
    if main_thread_of is not None:
        worker = waits(main_thread_of)
        found.append({k: v for k, v in worker.items() if k == str(main_thread_of)} if worker is not None else None)
    if all(f is None for f in found):
        return None
    return sum(sum(f.values()) for f in found if f is not None) / 1e9


class Meter:
    """The CPU wait of this process's threads since `start()`; None throughout where it is not counted.

    A thread that ended before `seconds()` took its count with it, which can only make the wait look
    shorter, never make a quiet machine look busy.
    """

    def __init__(self) -> None:
        self._start: dict[str, int] | None = None

    def start(self) -> None:
        self._start = waits()

    def seconds(self) -> float | None:
        now = waits()
        if self._start is None or now is None:
            return None
        return sum(max(0, count - self._start.get(task, 0)) for task, count in now.items()) / 1e9
