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
import sys
import warnings

from benchmarks.measure import children_peak_rss_mb

RESULT_PREFIX = "BENCH_RESULT "


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
