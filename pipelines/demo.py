"""``winback demo``: the whole pipeline on the bundled CDNOW data, end to end.

Each stage that exists is run here in order; later stages (models, training, ranking,
report) add themselves to :func:`run_demo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.console import advance, stage_progress
from pipelines.featurize import load_and_build, status_summary
from pipelines.paths import quarantine_path_for

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
    with stage_progress(2) as progress:
        loaded, table = load_and_build(
            "cdnow",
            DEMO_AS_OF,
            quarantine_path=quarantine_path_for(features_path),
            on_step=lambda step: advance(progress, step),
        )
        table.write_parquet(features_path)
    features = table.features
    status = status_summary(features)
    sleepers = features[features["status"] == "sleeping"]
    report = loaded.report
    lines = [
        f"transactions: {report.rows_read:,} read, {report.rows_accepted:,} accepted, "
        f"{report.rows_quarantined:,} quarantined, {report.duplicate_rows:,} exact duplicates",
        f"customers at {DEMO_AS_OF}: {len(features):,}; sleeping: {len(sleepers):,} "
        f"with ${sleepers['total_spend'].sum():,.0f} past revenue",
        f"features: {features_path}",
    ]
    return DemoSummary(status=status, lines=lines)
