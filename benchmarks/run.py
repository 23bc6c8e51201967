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
d. the feature table on Spark (local mode) against DuckDB, tables compared.

Timings are the best of ``repeat`` runs for ours (the reference runs once at full size:
it is the slow side, and a single run can only flatter it). Equality failures and failed
steps make the exit code 1; a missed speed or memory target is reported, not fatal.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.data import DATA_DIR, SIZES, ensure_dataset
from benchmarks.worker import RESULT_PREFIX

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PATH = Path(__file__).resolve().parent / "RESULTS.md"

#: Targets from the issue (speed-ups are reference time / our time).
TARGETS = {
    "features_speedup": 10.0,
    "features_speedup_aim": 20.0,
    "features_peak_mb": 2048.0,
    "fit_speedup": 10.0,
    "fit_speedup_aim": 30.0,
    "params_rtol": 1e-4,
    "scoring_per_second": 1_000_000.0,
}
#: The DuckDB memory cap (``WINBACK_DUCKDB_MEMORY_LIMIT``) of the memory-limited run.
LIMITED_MEMORY = "1GB"
#: Spark and DuckDB tables: integers, dates and strings exact, floats within this.
FLOAT_ATOL = 1e-9
HORIZON_DAYS = 90
PACKAGES = ("numpy", "pandas", "scipy", "pyarrow", "duckdb", "lifetimes", "xgboost", "pyspark")


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


# --- equality checks -----------------------------------------------------------------


def compare_rfm(ours_path: Path, reference_path: Path) -> dict[str, Any]:
    """frequency, recency, T exactly equal and monetary_value within float noise."""
    ours = pd.read_parquet(ours_path).sort_values("customer_id", ignore_index=True)
    reference = pd.read_parquet(reference_path).sort_values("customer_id", ignore_index=True)
    same_customers = len(ours) == len(reference) and bool(
        (ours["customer_id"].to_numpy() == reference["customer_id"].to_numpy()).all()
    )
    result: dict[str, Any] = {"customers": len(reference), "same_customers": same_customers}
    if not same_customers:
        result["ok"] = False
        return result
    max_abs = {}
    for column in ("frequency", "recency", "T", "monetary_value"):
        a, b = ours[column].to_numpy(np.float64), reference[column].to_numpy(np.float64)
        max_abs[column] = float(np.max(np.abs(a - b))) if len(a) else 0.0
    result["max_abs_difference"] = max_abs
    scale = max(1.0, float(reference["monetary_value"].abs().max()))
    result["ok"] = (
        max_abs["frequency"] == 0
        and max_abs["recency"] == 0
        and max_abs["T"] == 0
        and max_abs["monetary_value"] <= 1e-9 * scale
    )
    return result


def compare_feature_tables(left_path: Path, right_path: Path) -> dict[str, Any]:
    """Integers, dates and strings exactly equal, floats within :data:`FLOAT_ATOL`."""
    left = pd.read_parquet(left_path).sort_values("customer_id", ignore_index=True)
    right = pd.read_parquet(right_path).sort_values("customer_id", ignore_index=True)
    result: dict[str, Any] = {"customers": len(right), "columns": len(right.columns)}
    if list(left.columns) != list(right.columns) or len(left) != len(right):
        return {**result, "ok": False, "problem": "different columns or row counts"}
    mismatched, max_float_diff = [], 0.0
    for column in right.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_float_dtype(b):
            diff = np.abs(a.to_numpy(np.float64) - b.to_numpy(np.float64))
            both_nan = np.isnan(a.to_numpy(np.float64)) & np.isnan(b.to_numpy(np.float64))
            worst = float(np.max(np.where(both_nan, 0.0, diff), initial=0.0))
            max_float_diff = max(max_float_diff, worst)
            if not (worst <= FLOAT_ATOL):  # NaN-safe
                mismatched.append(column)
        elif not a.astype(object).equals(b.astype(object)):
            mismatched.append(column)
    return {
        **result,
        "ok": not mismatched,
        "mismatched_columns": mismatched,
        "max_float_difference": max_float_diff,
    }


def compare_params(ours: dict[str, float], reference: dict[str, float]) -> dict[str, Any]:
    relative = {k: abs(ours[k] - reference[k]) / abs(reference[k]) for k in reference}
    worst = max(relative.values())
    return {"max_relative_difference": worst, "ok": worst <= TARGETS["params_rtol"]}


# --- the run -------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = int(line.split()[1]) / 1024**2
    except OSError:
        pass
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        java_version = (java.stderr or java.stdout).splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        java_version = "not found"
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "ram_gb": ram_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": java_version,
        "versions": {name: _version(name) for name in PACKAGES},
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def run_benchmarks(
    size: str = "full",
    data_dir: str | Path = DATA_DIR,
    results_path: str | Path | None = None,
    repeat: int | None = None,
    master: str = "local[2]",
    spark: bool = True,
    log=print,
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
    # Full size: best of 3 for ours, one run of the slow reference. Small size (CI smoke):
    # one run of everything, a smaller booster, Spark cold only.
    repeat = repeat or (3 if size == "full" else 1)
    reference_repeat = 1 if size == "full" else repeat
    spark_repeat = 2 if size == "full" else 1
    xgb_trees = 100 if size == "full" else 20
    timeout = 1800.0
    results: dict[str, Any] = {
        "size": size,
        "started_at": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_average_start": os.getloadavg(),
        "repeat": repeat,
        "reference_repeat": reference_repeat,
        "errors": {},
        "checks": {},
    }

    log(f"[bench] data set '{size}' ({SIZES[size]:,} customers)")
    dataset, generated_seconds = ensure_dataset(size, data_dir)
    results["data"] = {
        **dataset.to_dict(),
        "generated_seconds": generated_seconds,
        "file_mb": dataset.path.stat().st_size / 1024**2,
    }
    work = data_dir / f"work-{size}"
    work.mkdir(parents=True, exist_ok=True)
    paths = {
        name: work / f"{name}.parquet"
        for name in (
            "rfm_ours",
            "rfm_summary",
            "rfm_lifetimes",
            "features_duckdb",
            "features_duckdb_limited",
            "features_spark",
        )
    }
    common = {"data": str(dataset.path), "as_of": dataset.as_of.isoformat()}

    def step(name: str, task: str, **args: Any) -> dict[str, Any] | None:
        log(f"[bench] {name} ...")
        try:
            value = run_task(task, timeout, **args)
        except (BenchmarkError, subprocess.TimeoutExpired) as error:
            results["errors"][name] = str(error)
            log(f"[bench] {name} FAILED: {error}")
            return None
        results[name] = value
        log(f"[bench] {name}: done in {value['process_seconds']:.1f} s (process)")
        return value

    # (a) feature table
    ours = step(
        "features_duckdb",
        "features_duckdb",
        **common,
        out_rfm=str(paths["rfm_ours"]),
        out_full=str(paths["features_duckdb"]),
        repeat=repeat,
    )
    limited = step(
        "features_duckdb_limited",
        "features_duckdb",
        **common,
        out_rfm=str(work / "rfm_ours_limited.parquet"),
        out_full=str(paths["features_duckdb_limited"]),
        repeat=repeat,
        memory_limit=LIMITED_MEMORY,
    )
    if ours and limited:
        results["checks"]["memory_limited_vs_default"] = compare_feature_tables(
            paths["features_duckdb_limited"], paths["features_duckdb"]
        )
    summary = step(
        "summary_ours", "summary_ours", **common, out_rfm=str(paths["rfm_summary"]), repeat=repeat
    )
    step("day_groupby_floor", "day_groupby_floor", **common, repeat=repeat)
    reference = step(
        "rfm_lifetimes",
        "rfm_lifetimes",
        **common,
        out_rfm=str(paths["rfm_lifetimes"]),
        repeat=reference_repeat,
    )
    if reference:
        if ours:
            results["checks"]["features_vs_lifetimes"] = compare_rfm(
                paths["rfm_ours"], paths["rfm_lifetimes"]
            )
        if summary:
            results["checks"]["summary_vs_lifetimes"] = compare_rfm(
                paths["rfm_summary"], paths["rfm_lifetimes"]
            )

    # (b) fitting, on the reference's own feature table
    rfm_input = paths["rfm_lifetimes"] if reference else paths["rfm_ours"]
    fit_ours = step("fit_ours", "fit_ours", rfm=str(rfm_input), repeat=repeat)
    fit_reference = step(
        "fit_lifetimes", "fit_lifetimes", rfm=str(rfm_input), repeat=reference_repeat
    )
    if fit_ours and fit_reference:
        for model in ("bgnbd", "gamma_gamma"):
            results["checks"][f"{model}_params"] = compare_params(
                fit_ours[model]["params"], fit_reference[model]["params"]
            )

    # (c) scoring
    if fit_ours:
        scoring = step(
            "score_closed_forms",
            "score_closed_forms",
            rfm=str(rfm_input),
            as_of=dataset.as_of.isoformat(),
            bgnbd_params=fit_ours["bgnbd"]["params"],
            gg_params=fit_ours["gamma_gamma"]["params"],
            horizon_days=HORIZON_DAYS,
            repeat=repeat,
        )
        if scoring:
            worst = max(scoring["max_relative_difference"].values())
            results["checks"]["scores_vs_lifetimes"] = {
                "max_relative_difference": worst,
                "ok": worst <= 1e-6,
            }
    if ours:
        xgb_result = step(
            "score_xgboost",
            "score_xgboost",
            features=str(paths["features_duckdb"]),
            repeat=repeat,
            n_trees=xgb_trees,
        )
        if xgb_result:
            results["checks"]["xgboost_inplace_vs_dmatrix"] = {
                "max_abs_difference": xgb_result["max_abs_difference"],
                "ok": xgb_result["max_abs_difference"] <= 1e-6,
            }

    # (d) Spark
    if spark:
        on_spark = step(
            "features_spark",
            "features_spark",
            **common,
            out_full=str(paths["features_spark"]),
            master=master,
            repeat=spark_repeat,
        )
        if on_spark and ours:
            results["checks"]["spark_vs_duckdb"] = compare_feature_tables(
                paths["features_spark"], paths["features_duckdb"]
            )

    results["load_average_end"] = os.getloadavg()
    results["wall_seconds"] = time.perf_counter() - started
    results["targets"] = evaluate_targets(results)
    results["ok"] = not results["errors"] and all(c["ok"] for c in results["checks"].values())
    from benchmarks.report import render_markdown

    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(render_markdown(results))
    results_path.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
    log(f"[bench] wrote {results_path} ({results['wall_seconds'] / 60:.1f} min)")
    return results


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target of the issue: the measured value and whether it is met."""
    rows: list[dict[str, Any]] = []

    def add(name: str, measured: float | None, target: float, higher_is_better: bool, unit: str):
        if measured is None:
            rows.append(
                {"target": name, "measured": None, "goal": target, "unit": unit, "met": None}
            )
            return
        met = measured >= target if higher_is_better else measured <= target
        rows.append(
            {"target": name, "measured": measured, "goal": target, "unit": unit, "met": met}
        )

    ours, ref = results.get("features_duckdb"), results.get("rfm_lifetimes")
    summary = results.get("summary_ours")
    add(
        "feature table speed-up vs lifetimes (build_features, all 18 columns)",
        ref["seconds"] / ours["seconds"] if ours and ref else None,
        TARGETS["features_speedup"],
        True,
        "x",
    )
    add(
        "lifetimes-compatible summary speed-up (features.summary, same 4 columns)",
        ref["seconds"] / summary["seconds"] if summary and ref else None,
        TARGETS["features_speedup"],
        True,
        "x",
    )
    add(
        "feature table peak memory (build_features process, data included)",
        ours["peak_rss_mb"] if ours else None,
        TARGETS["features_peak_mb"],
        False,
        "MB",
    )
    limited = results.get("features_duckdb_limited")
    add(
        f"same, with WINBACK_DUCKDB_MEMORY_LIMIT={LIMITED_MEMORY}",
        limited["peak_rss_mb"] if limited else None,
        TARGETS["features_peak_mb"],
        False,
        "MB",
    )
    add(
        "summary peak memory (features.summary process, data included)",
        summary["peak_rss_mb"] if summary else None,
        TARGETS["features_peak_mb"],
        False,
        "MB",
    )
    fit_ours, fit_ref = results.get("fit_ours"), results.get("fit_lifetimes")
    for model, label in (("bgnbd", "BG/NBD"), ("gamma_gamma", "Gamma-Gamma")):
        add(
            f"{label} fit speed-up vs lifetimes",
            fit_ref[model]["seconds"] / fit_ours[model]["seconds"]
            if fit_ours and fit_ref
            else None,
            TARGETS["fit_speedup"],
            True,
            "x",
        )
        check = results["checks"].get(f"{model}_params")
        add(
            f"{label} parameters, max relative difference",
            check["max_relative_difference"] if check else None,
            TARGETS["params_rtol"],
            False,
            "",
        )
    scoring = results.get("score_closed_forms")
    add(
        "closed-form batch scoring throughput (BTYDModel.predict)",
        scoring["ours"]["per_second"] if scoring else None,
        TARGETS["scoring_per_second"],
        True,
        "customers/s",
    )
    return rows


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
