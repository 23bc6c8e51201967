"""The benchmark stages, (a) to (e), each its steps and the equality checks on them.

Every stage takes the shared :class:`~benchmarks.steps.StepRunner` (results, errors,
checks), the run's :class:`Plan` and its :class:`Workspace`. A stage reads what an earlier
one produced through the runner, and skips the steps and checks whose input failed: one
failed step costs its dependants, never the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.checks import (
    check_closed_form_scores,
    check_xgboost_paths,
    compare_customers,
    compare_feature_tables,
    compare_params,
    compare_rfm,
)
from benchmarks.data import Dataset
from benchmarks.steps import StepRunner
from benchmarks.targets import LIMITED_MEMORY, MODELS

HORIZON_DAYS = 90


@dataclass(frozen=True)
class Plan:
    """How many runs each timing takes, and the size of the XGBoost booster."""

    repeat: int
    reference_repeat: int
    spark_repeat: int
    xgb_trees: int

    @classmethod
    def for_size(cls, size: str, repeat: int | None = None) -> Plan:
        """Full size: best of 3 for ours, one run of the slow reference (a single run can
        only flatter it). Small size (CI smoke): one run of everything, a smaller booster,
        Spark cold only."""
        full = size == "full"
        repeat = repeat or (3 if full else 1)
        return cls(
            repeat=repeat,
            reference_repeat=1 if full else repeat,
            spark_repeat=2 if full else 1,
            xgb_trees=100 if full else 20,
        )


@dataclass(frozen=True)
class Workspace:
    """The run's data set and the directory its steps write their tables to."""

    dataset: Dataset
    work: Path

    @classmethod
    def create(cls, dataset: Dataset, data_dir: Path, size: str) -> Workspace:
        work = data_dir / f"work-{size}"
        work.mkdir(parents=True, exist_ok=True)
        return cls(dataset, work)

    def path(self, name: str) -> Path:
        """Where the table ``name`` (``rfm_ours``, ``features_spark``, ...) is written."""
        return self.work / f"{name}.parquet"

    def out(self, name: str) -> str:
        return str(self.path(name))

    @property
    def common(self) -> dict[str, Any]:
        """The arguments every step that reads the transactions takes."""
        return {"data": str(self.dataset.path), "as_of": self.dataset.as_of.isoformat()}


def run_feature_stage(step: StepRunner, plan: Plan, space: Workspace) -> None:
    """(a) The feature table: ours (default and memory-capped), our drop-in summary, the
    GROUP BY bound and lifetimes' summary; the four lifetimes columns must be identical."""
    ours = step(
        "features_duckdb",
        "features_duckdb",
        **space.common,
        out_rfm=space.out("rfm_ours"),
        out_full=space.out("features_duckdb"),
        repeat=plan.repeat,
    )
    limited = step(
        "features_duckdb_limited",
        "features_duckdb",
        **space.common,
        out_rfm=space.out("rfm_ours_limited"),
        out_full=space.out("features_duckdb_limited"),
        repeat=plan.repeat,
        memory_limit=LIMITED_MEMORY,
    )
    if ours and limited:
        step.check(
            "memory_limited_vs_default",
            compare_feature_tables(
                space.path("features_duckdb_limited"), space.path("features_duckdb")
            ),
        )
    summary = step(
        "summary_ours",
        "summary_ours",
        **space.common,
        out_rfm=space.out("rfm_summary"),
        repeat=plan.repeat,
    )
    step("day_groupby_floor", "day_groupby_floor", **space.common, repeat=plan.repeat)
    reference = step(
        "rfm_lifetimes",
        "rfm_lifetimes",
        **space.common,
        out_rfm=space.out("rfm_lifetimes"),
        repeat=plan.reference_repeat,
    )
    if reference:
        lifetimes_rfm = space.path("rfm_lifetimes")
        if ours:
            step.check("features_vs_lifetimes", compare_rfm(space.path("rfm_ours"), lifetimes_rfm))
        if summary:
            step.check(
                "summary_vs_lifetimes", compare_rfm(space.path("rfm_summary"), lifetimes_rfm)
            )


def rfm_input(step: StepRunner, space: Workspace) -> Path:
    """Fitting and scoring read the reference's own feature table (ours if it failed)."""
    return space.path("rfm_lifetimes" if step.get("rfm_lifetimes") else "rfm_ours")


def run_fitting_stage(step: StepRunner, plan: Plan, space: Workspace) -> None:
    """(b) BG/NBD and Gamma-Gamma fitting, ours against lifetimes' fitters; parameters
    must agree within ``params_rtol``."""
    rfm = str(rfm_input(step, space))
    fit_ours = step("fit_ours", "fit_ours", rfm=rfm, repeat=plan.repeat)
    fit_reference = step("fit_lifetimes", "fit_lifetimes", rfm=rfm, repeat=plan.reference_repeat)
    if fit_ours and fit_reference:
        for model, _ in MODELS:
            step.check(
                f"{model}_params",
                compare_params(fit_ours[model]["params"], fit_reference[model]["params"]),
            )


def run_scoring_stage(step: StepRunner, plan: Plan, space: Workspace) -> None:
    """(c) Batch scoring: the closed forms with the parameters of (b) against lifetimes'
    methods, and XGBoost's ``inplace_predict`` against ``predict(DMatrix)`` on the
    features of (a)."""
    fit_ours = step.get("fit_ours")
    if fit_ours:
        scoring = step(
            "score_closed_forms",
            "score_closed_forms",
            rfm=str(rfm_input(step, space)),
            as_of=space.dataset.as_of.isoformat(),
            bgnbd_params=fit_ours["bgnbd"]["params"],
            gg_params=fit_ours["gamma_gamma"]["params"],
            horizon_days=HORIZON_DAYS,
            repeat=plan.repeat,
        )
        if scoring:
            step.check("scores_vs_lifetimes", check_closed_form_scores(scoring))
    if step.get("features_duckdb"):
        xgb_result = step(
            "score_xgboost",
            "score_xgboost",
            features=space.out("features_duckdb"),
            repeat=plan.repeat,
            n_trees=plan.xgb_trees,
        )
        if xgb_result:
            step.check("xgboost_inplace_vs_dmatrix", check_xgboost_paths(xgb_result))


def run_startup_stage(step: StepRunner, plan: Plan, space: Workspace) -> None:
    """(e) Start-up and loading: ``winback --help`` against a bare ``import typer, rich``, and
    ``load_transactions`` against ``pd.read_parquet`` of the same file (issue 18)."""
    step("cli_startup", "cli_startup", repeat=plan.repeat)
    step("load_transactions", "load_ours", data=str(space.dataset.path), repeat=plan.repeat)


def run_whole_process_stage(
    step: StepRunner, plan: Plan, space: Workspace, recipe: dict[str, Any]
) -> None:
    """(f) Whole processes: ``winback features`` and ``winback score`` against the lifetimes
    scripts doing the same (issue 18), on ``space``'s data set (3M transactions at full
    size, the issue's size)."""
    common = {
        **space.common,
        "work": str(space.work),
        "repeat": plan.repeat,
    }
    if step("whole_features", "whole_features", **common):
        step.check(
            "whole_features_vs_lifetimes",
            compare_rfm(space.path("whole_features_ours"), space.path("whole_features_ref")),
        )
    if step("whole_score", "whole_score", **common, recipe=recipe):
        step.check(
            "whole_score_customers",
            compare_customers(space.path("whole_score_ours"), space.path("whole_score_ref")),
        )


def run_spark_stage(step: StepRunner, plan: Plan, space: Workspace, master: str) -> None:
    """(d) The feature table on Spark against DuckDB's of (a): the tables must be equal."""
    on_spark = step(
        "features_spark",
        "features_spark",
        **space.common,
        out_full=space.out("features_spark"),
        master=master,
        repeat=plan.spark_repeat,
    )
    if on_spark and step.get("features_duckdb"):
        step.check(
            "spark_vs_duckdb",
            compare_feature_tables(space.path("features_spark"), space.path("features_duckdb")),
        )
