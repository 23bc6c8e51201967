"""``winback demo``: the whole pipeline on the bundled CDNOW data, end to end.

features -> out-of-time evaluation, training, MLflow registration -> scores with the
champion -> the marketer's win-back list and report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.build import build_features
from features.config import load_feature_config
from features.contract import load_transactions
from pipelines.cli.console import advance, stage_progress
from pipelines.demo_economics import run_economics_stage
from pipelines.featurize import status_summary
from pipelines.paths import quarantine_path_for
from pipelines.registry import store as registry
from pipelines.scoring.batch import score_to_parquet
from pipelines.training.fit import TrainingSettings
from pipelines.training.run import run_training

#: CDNOW runs 1997-01-01..1998-06-30; the demo stands on its last day, as a shop would today.
DEMO_AS_OF = "1998-06-30"


@dataclass
class DemoSummary:
    status: pd.DataFrame
    lines: list[str] = field(default_factory=list)


def run_demo(out_dir: Path) -> DemoSummary:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    features_path = out_dir / "features.parquet"
    scores_path = out_dir / "scores.parquet"
    settings = TrainingSettings()
    with stage_progress(8 + 2 * settings.max_snapshots) as progress:

        def step(text: str) -> None:
            advance(progress, text)

        step("reading and validating CDNOW")
        loaded = load_transactions("cdnow", quarantine_path=quarantine_path_for(features_path))
        step(f"building features at {DEMO_AS_OF}")
        rules = load_feature_config()
        table = build_features(loaded.transactions, DEMO_AS_OF, rules)
        table.write_parquet(features_path)
        outcome = run_training(loaded, DEMO_AS_OF, settings, rules, on_step=step)
        step("scoring every customer with the champion")
        scores, version = score_to_parquet(loaded, DEMO_AS_OF, scores_path)
        step("ranking the win-back list and writing the report")
        economics_lines = run_economics_stage(out_dir, scores_path, transactions="cdnow")

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
