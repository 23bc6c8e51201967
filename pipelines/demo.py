"""``winback demo``: the whole pipeline on the bundled CDNOW data, end to end.

features -> out-of-time evaluation, training, MLflow registration -> scores with the
champion -> the marketer's win-back list and report. The stage reports progress through
``on_step``; the command line turns that into a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features.build import build_features
from features.config import load_feature_config
from features.contract import load_transactions
from pipelines.economics.rank import channel_mix_lines, group_lines, rank_to_csv
from pipelines.featurize import status_summary
from pipelines.paths import (
    CAMPAIGN_RESULTS_FILE,
    LIST_FILE,
    REPORT_FILE,
    SCORES_FILE,
    UPLIFT_MODEL_FILE,
    quarantine_path_for,
)
from pipelines.registry import store as registry
from pipelines.report.build import write_report
from pipelines.scoring.batch import score_to_parquet
from pipelines.training.fit import TrainingSettings
from pipelines.training.run import run_training

#: CDNOW runs 1997-01-01..1998-06-30; the demo stands on its last day, as a shop would today.
DEMO_AS_OF = "1998-06-30"
#: The demo's budget (expected cost of contacts and offers, in the channels' currency).
DEMO_BUDGET = 1000.0
#: Progress steps of :func:`run_demo` besides the training run's own.
DEMO_STEPS = 10


@dataclass
class DemoSummary:
    status: pd.DataFrame
    lines: list[str] = field(default_factory=list)


def demo_step_count(settings: TrainingSettings | None = None) -> int:
    """How many ``on_step`` calls :func:`run_demo` makes, for a progress bar."""
    return DEMO_STEPS + 2 * (settings or TrainingSettings()).max_snapshots


def run_demo(out_dir: Path, on_step: Callable[[str], None] = lambda _: None) -> DemoSummary:
    """Run every stage on CDNOW at :data:`DEMO_AS_OF`; outputs go to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    features_path = out_dir / "features.parquet"
    scores_path = out_dir / SCORES_FILE
    settings = TrainingSettings()
    on_step("reading and validating CDNOW")
    loaded = load_transactions("cdnow", quarantine_path=quarantine_path_for(features_path))
    on_step(f"building features at {DEMO_AS_OF}")
    rules = load_feature_config()
    table = build_features(loaded.transactions, DEMO_AS_OF, rules)
    table.write_parquet(features_path)
    outcome = run_training(loaded, DEMO_AS_OF, settings, rules, on_step=on_step)
    on_step("scoring every customer with the champion")
    scores, version = score_to_parquet(loaded, DEMO_AS_OF, scores_path)
    on_step("ranking the win-back list and writing the report")
    economics_lines = economics_stage(out_dir, scores_path, transactions="cdnow")

    features = table.features
    sleepers = features[features["status"] == "sleeping"]
    report = loaded.report
    heldout = outcome.evaluation.rows
    lines = [
        f"transactions: {report.rows_read:,} read, {report.rows_accepted:,} accepted, "
        f"{report.rows_quarantined:,} quarantined, {report.duplicate_rows:,} exact duplicates",
        f"customers at {DEMO_AS_OF}: {len(features):,}; sleeping: {len(sleepers):,} "
        f"with ${sleepers['total_spend'].sum():,.0f} past revenue",
        "held-out dormancy AUC on ({}, {}]: xgboost {:.3f}, bgnbd {:.3f}, "
        "days_since_last {:.3f}".format(
            outcome.evaluation.cutoff,
            DEMO_AS_OF,
            heldout["xgboost"]["dormancy"]["auc"],
            heldout["bgnbd"]["dormancy"]["auc"],
            heldout["days_since_last"]["dormancy"]["auc"],
        ),
        f"model: winback v{outcome.version} "
        + ("promoted to champion" if outcome.promoted else "not promoted")
        + f" ({outcome.reason}); scored with v{version}",
        f"tracking store: {registry.tracking_uri()}",
        f"features: {features_path}",
        f"scores: {scores_path} ({len(scores):,} customers)",
        *economics_lines,
    ]
    return DemoSummary(status=status_summary(features), lines=lines)


def economics_stage(
    out_dir: Path, scores_path: Path, transactions: Any = "cdnow", budget: float = DEMO_BUDGET
) -> list[str]:
    """Write the win-back list and the report into ``out_dir``; return summary lines.

    Campaign results in ``out_dir``, if any, replace the prior response rates.
    """
    out_dir = Path(out_dir)
    campaign_results = out_dir / CAMPAIGN_RESULTS_FILE
    campaign = campaign_results if campaign_results.exists() else None
    list_path = out_dir / LIST_FILE
    learned = out_dir / UPLIFT_MODEL_FILE
    uplift = learned if learned.exists() else None
    result = rank_to_csv(
        scores_path,
        budget,
        list_path,
        campaign_results_path=campaign,
        uplift_model_path=uplift,
        xlsx=True,
    )
    report_path = write_report(
        scores_path,
        transactions,
        out_dir / REPORT_FILE,
        list_path=list_path,
        campaign_results_path=campaign,
        plan=result.plan,
        uplift_model_path=uplift,
    )
    summary = result.plan.summary
    cur = result.plan.config.currency
    lines = [
        f"win-back list at a {cur}{budget:,.0f} budget: {summary['contacts']:,} of "
        f"{summary['eligible_customers']:,} sleeping/at-risk/lost customers, expected cost "
        f"{cur}{summary['total_cost']:,.2f}, expected incremental value "
        f"{cur}{summary['total_expected_value']:,.2f} (all worth-while contacts: "
        f"{cur}{summary['saturation_budget']:,.0f} for {cur}{summary['max_expected_value']:,.0f})",
        *[f"  {line}" for line in channel_mix_lines(result.plan.list, cur)],
        *group_lines(result.plan),
        f"win-back list: {list_path} (and as a workbook with text ids: {result.workbook})",
        f"campaign log (contacted and control): {result.campaign_log}",
        f"report: {report_path}",
    ]
    if campaign is not None:
        lines.insert(1, f"  response rates measured by campaign: {campaign}")
    if result.uplift is not None and result.uplift.note:
        lines.insert(1, f"  {result.uplift.note}")
    return lines
