"""Time, CPU and peak memory of one measured call, read from ``/proc`` (no psutil needed).

The peak is ``VmHWM``, reset before the call through ``/proc/self/clear_refs``; child
processes (Spark's JVM) are measured separately. Used by :mod:`benchmarks.tasks` inside the
worker process that :mod:`benchmarks.worker` starts for each task.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _status_kb(field: str, pid: int | str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb() -> float:
    return (_status_kb("VmRSS") or 0) / 1024


def peak_rss_mb() -> float:
    """Peak resident memory since the last :func:`reset_peak_rss` (or process start)."""
    peak = _status_kb("VmHWM")
    if peak is None:  # not Linux: ru_maxrss is the lifetime peak, in KiB on Linux/BSD
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024


def reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover - not Linux or not permitted: lifetime peak then
        pass


def _descendants() -> list[int]:
    found, stack = [], [os.getpid()]
    while stack:
        pid = stack.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            if child not in found:
                found.append(child)
                stack.append(child)
    return found


def children_peak_rss_mb() -> float:
    """Summed lifetime peak of this process's live descendants (Spark's JVM)."""
    return sum(_status_kb("VmHWM", pid) or 0 for pid in _descendants()) / 1024


def cpu_seconds() -> float:
    """CPU time of this process, all threads, user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    """CPU time used so far by this process's live descendants (Spark's JVM)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in _descendants():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


class Measurement:
    """Filled by :func:`measured`: the call's wall time, CPU time and memory."""

    seconds: float = float("nan")
    cpu_seconds: float = float("nan")
    rss_before_mb: float = float("nan")
    peak_rss_mb: float = float("nan")


@contextmanager
def measured(include_children: bool = False):
    """Time a block and record its peak resident memory (the process's, input included).

    CPU time beside wall time: on a machine shared with other work, wall time grows with
    the competition for cores, CPU time much less. ``include_children`` adds the CPU time
    of child processes (Spark's JVM).
    """
    result = Measurement()
    result.rss_before_mb = rss_mb()
    reset_peak_rss()
    cpu_started = cpu_seconds() + (children_cpu_seconds() if include_children else 0.0)
    started = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - started
        cpu_now = cpu_seconds() + (children_cpu_seconds() if include_children else 0.0)
        result.cpu_seconds = cpu_now - cpu_started
        result.peak_rss_mb = peak_rss_mb()


def best_of(repeat: int, call: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run ``call`` ``repeat`` times; the fastest run (wall time) is the benchmark's figure."""
    runs, rss_before, peak, value = [], rss_mb(), 0.0, None
    for _ in range(repeat):
        value = None  # free the previous result before the next run
        with measured() as m:
            value = call()
        runs.append((m.seconds, m.cpu_seconds))
        peak = max(peak, m.peak_rss_mb)
    best = min(runs)
    stats = {
        "seconds": best[0],
        "cpu_seconds": best[1],
        "all_seconds": [wall for wall, _ in runs],
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
    }
    return value, stats
