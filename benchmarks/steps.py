"""Run one measured step in a fresh interpreter and record its result or its failure.

Each step is ``benchmarks.tasks.<task>`` run by :mod:`benchmarks.worker` in a subprocess,
so that its peak memory is its own. A step that fails is recorded under ``errors`` and the
run goes on: the stages that need its output skip their own steps and checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.worker import RESULT_PREFIX

ROOT = Path(__file__).resolve().parent.parent
#: Seconds one step may take before it counts as failed.
STEP_TIMEOUT = 1800.0


class BenchmarkError(RuntimeError):
    """A benchmark step failed to run."""


def run_task(task: str, timeout: float, **args: Any) -> dict[str, Any]:
    """Run ``benchmarks.tasks.<task>(**args)`` in a fresh interpreter; return its result."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", task, json.dumps(args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not lines:
        tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
        raise BenchmarkError(f"{task} failed (exit {completed.returncode}):\n{tail}")
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    result["process_seconds"] = time.perf_counter() - started
    return result


@dataclass
class StepRunner:
    """Runs steps into one results dict: ``results[name]`` on success, ``errors[name]`` not.

    The stages share it, so a later stage finds an earlier step's result with :meth:`get`
    (``None`` when that step failed or did not run).
    """

    results: dict[str, Any]
    log: Callable[[str], Any] = print
    timeout: float = STEP_TIMEOUT

    def __call__(self, name: str, task: str, **args: Any) -> dict[str, Any] | None:
        """Run ``task`` as step ``name``; its result, or ``None`` if it failed."""
        self.log(f"[bench] {name} ...")
        try:
            value = run_task(task, self.timeout, **args)
        except (BenchmarkError, subprocess.TimeoutExpired) as error:
            self.results["errors"][name] = str(error)
            self.log(f"[bench] {name} FAILED: {error}")
            return None
        self.results[name] = value
        self.log(f"[bench] {name}: done in {value['process_seconds']:.1f} s (process)")
        return value

    def get(self, name: str) -> dict[str, Any] | None:
        """The result of step ``name`` if it ran and succeeded."""
        return self.results.get(name)

    def check(self, name: str, outcome: dict[str, Any]) -> None:
        """Record an equality check (a dict with ``ok``)."""
        self.results["checks"][name] = outcome
