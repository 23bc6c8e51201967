"""(f) Whole process: from the shell prompt to the file on disk, as a user waits for it.

Issue 18: a user never runs a fitter alone, they run a command. ``winback features`` is
timed against a lifetimes script doing the same (read the Parquet file, summarise, write),
and ``winback score`` (features, BTYD, XGBoost, write) against a lifetimes pipeline
(summary, BG/NBD and Gamma-Gamma fits, expected purchases, P(alive), CLV, write); both
references are :mod:`benchmarks.reference_pipelines`. Every run is a fresh process, start-up
and imports included; ours and the reference alternate, best of ``repeat`` each. Peak memory
is the process's own (``wait4``'s ``ru_maxrss``), so a child never counts another's.

``winback score`` needs a champion: it is trained once, untimed, into a tracking store of
the benchmark's work directory (reused while the data set is the same), on the same file,
with the transaction model fixed to BG/NBD so that set-up time stays predictable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.startup import winback_command

ROOT = Path(__file__).resolve().parent.parent


def run_process(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """``(seconds, peak_rss_mb)`` of one process; raises with its last lines if it fails."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=errors, env=env, cwd=ROOT
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-10:]
            raise RuntimeError(
                f"{' '.join(command)} failed (exit {process.returncode}):\n" + "\n".join(tail)
            )
    return seconds, usage.ru_maxrss / 1024


def _compare(
    ours: list[str], reference: list[str], repeat: int, env: dict[str, str]
) -> dict[str, Any]:
    """Alternating runs, best of ``repeat`` each; the peak is the largest seen."""
    timings: dict[str, list[tuple[float, float]]] = {"ours": [], "reference": []}
    for _ in range(max(repeat, 1)):
        timings["reference"].append(run_process(reference, env))
        timings["ours"].append(run_process(ours, env))
    result: dict[str, Any] = {}
    for side, runs in timings.items():
        prefix = "" if side == "ours" else "reference_"
        result[prefix + "seconds"] = min(s for s, _ in runs)
        result[prefix + "all_seconds"] = [s for s, _ in runs]
        result[prefix + "peak_rss_mb"] = max(m for _, m in runs)
    result["speedup"] = result["reference_seconds"] / result["seconds"]
    return result


def _reference(command: str, data: str, as_of: str, out: str) -> list[str]:
    return [sys.executable, "-m", "benchmarks.reference_pipelines", command, data, as_of, out]


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PYTHONWARNINGS": "ignore",
        "BENTOML_DO_NOT_TRACK": "true",
        **extra,
    }


def whole_features(data: str, as_of: str, work: str, repeat: int) -> dict[str, Any]:
    """``winback features`` against the lifetimes summary script, whole processes."""
    work_dir = Path(work)
    ours = [*winback_command(), "features", "-t", data, "--as-of", as_of]
    ours += ["--out", str(work_dir / "whole_features_ours.parquet")]
    reference = _reference("features", data, as_of, str(work_dir / "whole_features_ref.parquet"))
    return _compare(ours, reference, repeat, _env())


def ensure_champion(data: str, as_of: str, store: Path, recipe: dict[str, Any]) -> float | None:
    """Train a champion into ``store`` unless one trained on this exact data set is there.

    Returns the training's seconds, or None when the stored champion was reused.
    """
    marker = store / "champion.json"
    wanted = {"data": data, "as_of": as_of, "recipe": recipe}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return None
    shutil.rmtree(store, ignore_errors=True)  # another data set's champion, or a failed run's
    store.mkdir(parents=True, exist_ok=True)
    command = [*winback_command(), "train", "-t", data, "--as-of", as_of]
    command += ["--transaction-model", "bgnbd"]
    seconds, _ = run_process(command, _env(MLFLOW_TRACKING_URI=_tracking_uri(store)))
    marker.write_text(json.dumps(wanted))
    return seconds


def _tracking_uri(store: Path) -> str:
    return f"sqlite:///{store.resolve() / 'mlflow.db'}"


def whole_score(
    data: str, as_of: str, work: str, repeat: int, recipe: dict[str, Any]
) -> dict[str, Any]:
    """``winback score`` with a trained champion against the lifetimes scoring pipeline."""
    work_dir = Path(work)
    store = work_dir / "whole_process_mlflow"
    train_seconds = ensure_champion(data, as_of, store, recipe)
    ours = [*winback_command(), "score", "-t", data, "--as-of", as_of]
    ours += ["--out", str(work_dir / "whole_score_ours.parquet")]
    reference = _reference("score", data, as_of, str(work_dir / "whole_score_ref.parquet"))
    env = _env(MLFLOW_TRACKING_URI=_tracking_uri(store))
    return {**_compare(ours, reference, repeat, env), "train_seconds": train_seconds}
