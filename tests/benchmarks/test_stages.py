"""The stages' wiring, without subprocesses: which steps run, which checks follow, and what
a failed step costs its dependants (only them: the run goes on)."""

from __future__ import annotations

import datetime as dt

import pytest

from benchmarks import stages
from benchmarks.data import Dataset
from benchmarks.stages import Plan, Workspace
from benchmarks.steps import BenchmarkError, StepRunner

PARAMS = {"bgnbd": {"params": {"r": 1.0}}, "gamma_gamma": {"params": {"p": 1.0}}}
FAKE_RESULTS = {
    "fit_ours": PARAMS,
    "fit_lifetimes": PARAMS,
    "score_closed_forms": {"max_relative_difference": {"p_alive": 1e-9}},
    "score_xgboost": {"max_abs_difference": 0.0},
}


def run_all(tmp_path, monkeypatch, failing=()):
    calls = []

    def fake_run_task(task, timeout, **args):
        calls.append((task, args))
        if task in failing or (args.get("memory_limit") and "limited" in failing):
            raise BenchmarkError(f"{task} failed")
        return {**FAKE_RESULTS.get(task, {}), "process_seconds": 0.1}

    monkeypatch.setattr("benchmarks.steps.run_task", fake_run_task)
    for name in ("compare_rfm", "compare_feature_tables"):  # they read the steps' Parquet
        monkeypatch.setattr(stages, name, lambda left, right: {"ok": True, "left": left.name})
    dataset = Dataset(tmp_path / "tx.parquet", "small", 10, 100, dt.date(2021, 6, 30))
    step = StepRunner({"errors": {}, "checks": {}}, log=lambda _: None)
    space, plan = Workspace(dataset, tmp_path), Plan.for_size("small")
    stages.run_feature_stage(step, plan, space)
    stages.run_fitting_stage(step, plan, space)
    stages.run_scoring_stage(step, plan, space)
    stages.run_startup_stage(step, plan, space)
    stages.run_spark_stage(step, plan, space, "local[1]")
    return step.results, calls


def test_every_step_runs_and_every_check_follows(tmp_path, monkeypatch):
    results, calls = run_all(tmp_path, monkeypatch)

    assert [task for task, _ in calls] == [
        "features_duckdb",
        "features_duckdb",
        "summary_ours",
        "day_groupby_floor",
        "rfm_lifetimes",
        "fit_ours",
        "fit_lifetimes",
        "score_closed_forms",
        "score_xgboost",
        "cli_startup",
        "load_ours",
        "features_spark",
    ]
    assert results["errors"] == {}
    assert list(results["checks"]) == [
        "memory_limited_vs_default",
        "features_vs_lifetimes",
        "summary_vs_lifetimes",
        "bgnbd_params",
        "gamma_gamma_params",
        "scores_vs_lifetimes",
        "xgboost_inplace_vs_dmatrix",
        "spark_vs_duckdb",
    ]
    assert all(check["ok"] for check in results["checks"].values())
    fit_args = dict(calls)["fit_ours"]
    assert fit_args["rfm"].endswith("rfm_lifetimes.parquet")  # the reference's own table


def test_a_failed_reference_summary_costs_only_its_checks(tmp_path, monkeypatch):
    results, calls = run_all(tmp_path, monkeypatch, failing=("rfm_lifetimes",))

    assert list(results["errors"]) == ["rfm_lifetimes"]
    assert "features_vs_lifetimes" not in results["checks"]
    assert "summary_vs_lifetimes" not in results["checks"]
    assert dict(calls)["fit_ours"]["rfm"].endswith("rfm_ours.parquet")  # falls back to ours
    assert "scores_vs_lifetimes" in results["checks"]


@pytest.mark.parametrize(
    ("failing", "missing_checks", "skipped_tasks"),
    [
        (
            ("fit_ours",),
            {"bgnbd_params", "gamma_gamma_params", "scores_vs_lifetimes"},
            {"score_closed_forms"},
        ),
        (("limited",), {"memory_limited_vs_default"}, set()),
        (
            ("features_duckdb",),
            {
                "memory_limited_vs_default",
                "features_vs_lifetimes",
                "xgboost_inplace_vs_dmatrix",
                "spark_vs_duckdb",
            },
            {"score_xgboost"},
        ),
    ],
)
def test_a_failed_step_skips_its_dependants(
    tmp_path, monkeypatch, failing, missing_checks, skipped_tasks
):
    results, calls = run_all(tmp_path, monkeypatch, failing=failing)

    assert not missing_checks & set(results["checks"])
    assert not skipped_tasks & {task for task, _ in calls}
    assert results["errors"]
