"""Model choice (issue 16): Pareto/NBD is judged out of time beside BG/NBD and MBG/NBD.

``winback evaluate --models bgnbd,mbgnbd,pareto_nbd`` answers "which model fits my data" on
the data's own next window; on CDNOW all three beat chance, and Pareto/NBD is the one whose
P(alive) of a one-time buyer is below 1.
"""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from features.config import load_feature_config
from pipelines.cli import app
from pipelines.training.candidates import default_candidates
from pipelines.training.evaluation import evaluate

CUTOFF = "1997-09-30"


def test_pareto_nbd_is_a_candidate_judged_out_of_time(cdnow_transactions) -> None:
    history = cdnow_transactions[cdnow_transactions["timestamp"] <= pd.Timestamp("1997-12-29")]
    result = evaluate(
        history,
        CUTOFF,
        90,
        default_candidates(("bgnbd", "pareto_nbd")),
        config=load_feature_config(),
    )
    for name in ("bgnbd", "pareto_nbd"):
        assert 0.6 < result.rows[name]["dormancy"]["auc"] < 1.0
    assert (
        abs(result.rows["pareto_nbd"]["dormancy"]["auc"] - result.rows["bgnbd"]["dormancy"]["auc"])
        < 0.05
    )


def test_evaluate_lists_pareto_nbd_on_the_command_line(tmp_path) -> None:
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "-t",
            "cdnow",
            "--cutoff",
            CUTOFF,
            "--models",
            "pareto_nbd",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "pareto_nbd" in result.output and out.exists()
