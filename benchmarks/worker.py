"""Run one benchmark task in this process and report its time and peak memory as JSON.

``python -m benchmarks.worker TASK '{"arg": ...}'`` prints, as its last stdout line,
``BENCH_RESULT {...}``: what the task returned plus ``rss_before_mb`` (resident memory just
before the measured call, i.e. interpreter, libraries and loaded input), ``peak_rss_mb`` (the
process's peak resident memory during the call) and ``children_peak_rss_mb`` (peak of child
processes still running, e.g. Spark's JVM).

Each task runs in a fresh interpreter so that one library's caches, threads or freed-but-kept
memory never count against another; the peak is read from ``/proc`` (``VmHWM``, reset before
the call through ``/proc/self/clear_refs``), so no psutil is needed.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH_RESULT "


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


def main(argv: list[str]) -> int:
    from benchmarks import tasks

    name, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    warnings.filterwarnings("ignore")  # lifetimes and pyspark warn about pandas 3 on import
    result = getattr(tasks, name)(**args)
    result["children_peak_rss_mb"] = children_peak_rss_mb()
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
