"""The issue's speed and memory targets, and how a run's results measure up to them.

A missed target is reported (RESULTS.md, the exit summary), never fatal: speed depends on
the machine. Only the equality checks (:mod:`benchmarks.checks`) fail a run.
"""

from __future__ import annotations

from typing import Any

#: Targets from the issue (speed-ups are reference time / our time).
TARGETS = {
    # issue 8's; issue 18 replaced it (:data:`REPLACED`): still measured, no longer judged.
    "features_speedup": 10.0,
    "features_speedup_aim": 20.0,
    "features_peak_mb": 2048.0,
    "fit_speedup": 10.0,
    "fit_speedup_aim": 30.0,
    "params_rtol": 1e-4,
    "scoring_per_second": 1_000_000.0,
    # issue 18: time ratios ours / reference measured in the same run.
    "features_vs_groupby_ratio": 2.0,
    "help_vs_typer_ratio": 2.0,
    "whole_features_speedup": 3.0,
    "whole_score_speedup": 5.0,
}
#: Targets a later issue replaced, and by what: the row is reported, met or not is not.
REPLACED = {
    "features_speedup": "issue 18 put the GROUP BY ratio below in place of issue 8's 10x",
}
#: The DuckDB memory cap (``WINBACK_DUCKDB_MEMORY_LIMIT``) of the memory-limited run.
LIMITED_MEMORY = "1GB"
#: The fitted models, by results key, with their names in the report.
MODELS = (("bgnbd", "BG/NBD"), ("gamma_gamma", "Gamma-Gamma"))


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target of the issue: the measured value and whether it is met."""
    return [
        *_feature_rows(results),
        *_fitting_rows(results),
        *_scoring_rows(results),
        *_startup_rows(results),
        *_whole_process_rows(results),
    ]


def _row(
    name: str,
    measured: float | None,
    target: float,
    higher_is_better: bool,
    unit: str,
    replaced: str | None = None,
) -> dict[str, Any]:
    """``met`` is None when the value was not measured (its step failed) or the target
    was replaced (``replaced`` says by what)."""
    if measured is None or replaced is not None:
        met = None
    else:
        met = measured >= target if higher_is_better else measured <= target
    row = {"target": name, "measured": measured, "goal": target, "unit": unit, "met": met}
    return row | ({"replaced": replaced} if replaced is not None else {})


def _feature_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    ours, ref = results.get("features_duckdb"), results.get("rfm_lifetimes")
    summary = results.get("summary_ours")
    limited = results.get("features_duckdb_limited")
    speedup, peak_mb = TARGETS["features_speedup"], TARGETS["features_peak_mb"]
    floor = results.get("day_groupby_floor")
    return [
        _row(
            "feature table speed-up vs lifetimes (build_features, all 18 columns)",
            ref["seconds"] / ours["seconds"] if ours and ref else None,
            speedup,
            True,
            "x",
            REPLACED["features_speedup"],
        ),
        _row(
            "lifetimes-compatible summary speed-up (features.summary, same 4 columns)",
            ref["seconds"] / summary["seconds"] if summary and ref else None,
            speedup,
            True,
            "x",
            REPLACED["features_speedup"],
        ),
        _row(
            "feature table time / DuckDB's bare GROUP BY (customer, day), same data and run",
            ours["seconds"] / floor["seconds"] if ours and floor else None,
            TARGETS["features_vs_groupby_ratio"],
            False,
            "ratio",
        ),
        _row(
            "feature table peak memory (build_features process, data included)",
            ours["peak_rss_mb"] if ours else None,
            peak_mb,
            False,
            "MB",
        ),
        _row(
            f"same, with WINBACK_DUCKDB_MEMORY_LIMIT={LIMITED_MEMORY}",
            limited["peak_rss_mb"] if limited else None,
            peak_mb,
            False,
            "MB",
        ),
        _row(
            "summary peak memory (features.summary process, data included)",
            summary["peak_rss_mb"] if summary else None,
            peak_mb,
            False,
            "MB",
        ),
    ]


def _fitting_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    fit_ours, fit_ref = results.get("fit_ours"), results.get("fit_lifetimes")
    rows = []
    for model, label in MODELS:
        speedup = (
            fit_ref[model]["seconds"] / fit_ours[model]["seconds"] if fit_ours and fit_ref else None
        )
        rows.append(
            _row(f"{label} fit speed-up vs lifetimes", speedup, TARGETS["fit_speedup"], True, "x")
        )
        check = results["checks"].get(f"{model}_params")
        rows.append(
            _row(
                f"{label} parameters, max relative difference",
                check["max_relative_difference"] if check else None,
                TARGETS["params_rtol"],
                False,
                "",
            )
        )
    return rows


def _scoring_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    scoring = results.get("score_closed_forms")
    return [
        _row(
            "closed-form batch scoring throughput (BTYDModel.predict)",
            scoring["ours"]["per_second"] if scoring else None,
            TARGETS["scoring_per_second"],
            True,
            "customers/s",
        )
    ]


def _startup_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """``winback --help`` against a bare ``python -c "import typer, rich"`` (issue 18)."""
    startup = results.get("cli_startup")
    return [
        _row(
            '`winback --help` time / `python -c "import typer, rich"`, same venv and run',
            startup["ratio"] if startup else None,
            TARGETS["help_vs_typer_ratio"],
            False,
            "ratio",
        )
    ]


def _whole_process_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Whole processes against the lifetimes scripts (issue 18)."""
    rows = []
    for key, label in (
        ("whole_features", "`winback features` speed-up vs a lifetimes script, whole process"),
        ("whole_score", "`winback score` speed-up vs a lifetimes pipeline, whole process"),
    ):
        measured = results.get(key)
        rows.append(
            _row(
                label,
                measured["speedup"] if measured else None,
                TARGETS[f"{key}_speedup"],
                True,
                "x",
            )
        )
    return rows
