"""The benchmark suite at its small size: every step runs and every equality check passes.

No timing is asserted: speed depends on the machine; RESULTS.md reports it.
"""

from __future__ import annotations

import json

import pytest

from benchmarks.run import run_benchmarks


@pytest.mark.spark
def test_small_benchmark_runs_end_to_end_with_equal_results(tmp_path):
    results_path = tmp_path / "RESULTS.md"

    results = run_benchmarks(
        size="small", data_dir=tmp_path, results_path=results_path, log=lambda _: None
    )

    assert results["errors"] == {}
    assert {name: check["ok"] for name, check in results["checks"].items()} == {
        "features_vs_lifetimes": True,
        "summary_vs_lifetimes": True,
        "memory_limited_vs_default": True,
        "bgnbd_params": True,
        "gamma_gamma_params": True,
        "scores_vs_lifetimes": True,
        "xgboost_inplace_vs_dmatrix": True,
        "spark_vs_duckdb": True,
        "whole_features_vs_lifetimes": True,
        "whole_score_customers": True,
    }
    assert results["data"]["n_customers"] == 20_000
    report = results_path.read_text()
    assert results["cli_startup"]["heavy_modules"] == []
    assert results["load_transactions"]["reconciles"] is True
    # Whole processes: both sides ran, and the champion was trained for the run's data set.
    for step in ("whole_features", "whole_score"):
        assert results[step]["seconds"] > 0 and results[step]["reference_seconds"] > 0
    assert results["whole_score"]["train_seconds"] > 0
    for section in (
        "## Targets",
        "## (a)",
        "## (b)",
        "## (c)",
        "## (d)",
        "## (e)",
        "## (f)",
        "## Checks",
    ):
        assert section in report
    assert json.loads(results_path.with_suffix(".json").read_text())["ok"] is True
