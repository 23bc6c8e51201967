"""Run every benchmark, ours and the reference in the same run, and write RESULTS.md.

    python -m benchmarks.run                 # full: 1M customers, ~10M transactions
    python -m benchmarks.run --size small    # CI smoke size: 20k customers, ~0.2M rows

What is measured (each step in its own subprocess, see :mod:`benchmarks.worker`):

a. the feature table: winback's ``build_features`` (DuckDB, all 18 columns) and its drop-in
   ``features.summary.summary_data_from_transaction_data`` (the four lifetimes columns,
   same arguments), against ``lifetimes.utils.summary_data_from_transaction_data`` on the
   same DataFrame; the four columns must be identical (checked here, the run fails
   otherwise). A third step times DuckDB's bare GROUP BY (customer, day), the pass any
   exact summary needs: lifetimes' time over it bounds the speed-up on this machine;
b. BG/NBD and Gamma-Gamma fitting: ``BetaGeoModel(fitter="fast")`` and
   ``GammaGammaModel`` against lifetimes' ``BetaGeoFitter`` and ``GammaGammaFitter``;
   parameters must agree within 1e-4 relative;
c. batch scoring: ``BTYDModel.predict`` (closed forms) against lifetimes' methods, values
   compared; XGBoost ``inplace_predict`` against ``predict(DMatrix)``;
d. the feature table on Spark (local mode) against DuckDB, tables compared;
e. start-up and loading (:mod:`benchmarks.startup`): ``winback --help`` against a bare
   ``python -c "import typer, rich"``, ``load_transactions`` against ``pd.read_parquet``;
f. whole processes (:mod:`benchmarks.whole_process`): ``winback features`` and ``winback
   score`` from the shell against the lifetimes scripts doing the same
   (:mod:`benchmarks.reference_pipelines`), on 3M transactions at full size.

Timings are the best of ``repeat`` runs for ours (the reference runs once at full size:
it is the slow side, and a single run can only flatter it). Equality failures and failed
steps make the exit code 1; a missed speed or memory target is reported, not fatal.

This module is the entry point and the order of the stages; the stages themselves are in
:mod:`benchmarks.stages`, the equality checks in :mod:`benchmarks.checks`, the targets in
:mod:`benchmarks.targets`, the subprocess runner in :mod:`benchmarks.steps` and the report
in :mod:`benchmarks.report`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.data import DATA_DIR, SIZES, Dataset, ensure_dataset
from benchmarks.machine import machine_info
from benchmarks.report import render_markdown
from benchmarks.stages import (
    Plan,
    Workspace,
    run_feature_stage,
    run_fitting_stage,
    run_scoring_stage,
    run_spark_stage,
    run_startup_stage,
    run_whole_process_stage,
)
from benchmarks.steps import StepRunner
from benchmarks.targets import evaluate_targets

RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"


def run_benchmarks(
    size: str = "full",
    data_dir: str | Path = DATA_DIR,
    results_path: str | Path | None = None,
    repeat: int | None = None,
    master: str = "local[2]",
    spark: bool = True,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Run all benchmarks at ``size``; write the Markdown report and a JSON twin next to it.

    Returns the results dict (what the JSON holds), with ``ok`` False if an equality check
    failed or a step did not run.
    """
    started = time.perf_counter()
    data_dir = Path(data_dir)
    if results_path is None:
        results_path = RESULTS_PATH if size == "full" else data_dir / f"RESULTS-{size}.md"
    results_path = Path(results_path)
    plan = Plan.for_size(size, repeat)
    results = _new_results(size, plan)

    log(f"[bench] data set '{size}' ({SIZES[size]:,} customers)")
    dataset, generated_seconds = ensure_dataset(size, data_dir)
    results["data"] = {
        **dataset.to_dict(),
        "generated_seconds": generated_seconds,
        "file_mb": dataset.path.stat().st_size / 1024**2,
    }
    space = Workspace.create(dataset, data_dir, size)
    step = StepRunner(results, log=log)
    run_feature_stage(step, plan, space)
    run_fitting_stage(step, plan, space)
    run_scoring_stage(step, plan, space)
    run_startup_stage(step, plan, space)
    whole_space = _whole_process_space(size, space, data_dir, log)
    run_whole_process_stage(step, plan, whole_space, _identity(whole_space.dataset))
    if spark:
        run_spark_stage(step, plan, space, master)

    results["load_average_end"] = os.getloadavg()
    results["wall_seconds"] = time.perf_counter() - started
    results["targets"] = evaluate_targets(results)
    results["ok"] = not results["errors"] and all(c["ok"] for c in results["checks"].values())
    _write_results(results, results_path)
    log(f"[bench] wrote {results_path} ({results['wall_seconds'] / 60:.1f} min)")
    return results


def _whole_process_space(
    size: str, space: Workspace, data_dir: Path, log: Callable[[str], Any]
) -> Workspace:
    """Issue 18 times whole processes on 3M transactions: the medium data set when the run's
    own is the full one (10M), else the run's own."""
    if size != "full":
        return space
    log("[bench] whole processes on the 'medium' data set (issue 18's 3M transactions)")
    dataset, _ = ensure_dataset("medium", data_dir)
    return Workspace.create(dataset, data_dir, "medium")


def _identity(dataset: Dataset) -> dict[str, Any]:
    """What names a data set for the champion trained on it (reused while it is the same)."""
    stat = dataset.path.stat()
    return {**dataset.to_dict(), "bytes": stat.st_size, "mtime": stat.st_mtime}


def _new_results(size: str, plan: Plan) -> dict[str, Any]:
    """The results dict before any step ran (its keys come first in the JSON)."""
    return {
        "size": size,
        "started_at": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_average_start": os.getloadavg(),
        "repeat": plan.repeat,
        "reference_repeat": plan.reference_repeat,
        "errors": {},
        "checks": {},
    }


def _write_results(results: dict[str, Any], results_path: Path) -> None:
    """RESULTS.md and its JSON twin (same name, ``.json``)."""
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(render_markdown(results))
    results_path.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="winback vs lifetimes benchmarks; writes benchmarks/RESULTS.md (full size).",
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="where data is cached")
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="Markdown report path (default: benchmarks/RESULTS.md for full, "
        "<data-dir>/RESULTS-<size>.md otherwise)",
    )
    parser.add_argument("--repeat", type=int, default=None, help="runs per timing (default 3)")
    parser.add_argument("--master", default="local[2]", help="Spark master for (d)")
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark benchmark")
    args = parser.parse_args(argv)
    results = run_benchmarks(
        size=args.size,
        data_dir=args.data_dir,
        results_path=args.results,
        repeat=args.repeat,
        master=args.master,
        spark=not args.no_spark,
    )
    for row in results["targets"]:
        status = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        if row.get("replaced"):
            status = "replaced (" + row["replaced"] + ")"
        print(f"[bench] {row['target']}: {_fmt(row['measured'])} {row['unit']} -> {status}")
    for name, check in results["checks"].items():
        print(f"[bench] check {name}: {'ok' if check['ok'] else 'FAILED'}")
    for name in results["errors"]:
        print(f"[bench] step {name}: FAILED to run")
    return 0 if results["ok"] else 1


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
