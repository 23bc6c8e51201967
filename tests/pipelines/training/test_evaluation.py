"""The out-of-time harness: honest labels, no leakage, baselines at their known values."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.config import load_feature_config
from features.errors import WinbackError
from pipelines.cli import app
from pipelines.training.evaluation import (
    BASELINES,
    Candidate,
    EvaluationContext,
    evaluate,
    window_labels,
)

RULES = load_feature_config()


def test_labels_use_only_the_window_after_the_cutoff():
    transactions = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-31", "2024-01-02", "2024-04-01", "2024-01-03"]
            ),
            "amount": [5.0, 7.0, 1.0, 9.0, 2.0],
        }
    )
    labels = window_labels(transactions, pd.Index(["a", "b", "c"]), dt.date(2024, 1, 30), 30)
    # a bought on the 31st (inside), b on April 1st (outside), c never.
    assert labels["dormant"].to_dict() == {"a": 0, "b": 1, "c": 1}
    assert labels["future_spend"].to_dict() == {"a": 7.0, "b": 0.0, "c": 0.0}


def test_candidates_never_see_the_future(cdnow_transactions):
    cutoff = dt.date(1997, 9, 30)
    seen: dict[str, object] = {}

    def spy(context: EvaluationContext) -> pd.DataFrame:
        seen["last"] = context.history["timestamp"].max()
        features = context.features.set_index("customer_id")
        return pd.DataFrame({"p_dormant": features["days_since_last"] / 1000.0})

    evaluate(cdnow_transactions, cutoff, 90, [Candidate("spy", "model", spy)], config=RULES)
    assert seen["last"] <= pd.Timestamp(cutoff)


def test_rewriting_the_future_changes_labels_but_not_predictions(cdnow_transactions):
    cutoff = pd.Timestamp("1997-09-30")
    future = cdnow_transactions["timestamp"] > cutoff
    rewritten = cdnow_transactions.copy()
    rewritten.loc[future, "amount"] *= 3

    captured = []

    def capture(context: EvaluationContext) -> pd.DataFrame:
        frame = BASELINES[1].predict(context)
        captured.append(frame)
        return frame

    first = evaluate(
        cdnow_transactions, cutoff, 90, [Candidate("c", "model", capture)], config=RULES
    )
    second = evaluate(rewritten, cutoff, 90, [Candidate("c", "model", capture)], config=RULES)
    pd.testing.assert_frame_equal(captured[0], captured[1])
    assert second.actual_spend == pytest.approx(3 * first.actual_spend)


@pytest.mark.parametrize(
    ("cutoff", "dormant_share", "auc"),
    [("1997-09-30", 0.823, 0.763), ("1997-12-31", 0.838, 0.793)],
)
def test_baselines_match_the_independently_measured_values(
    cdnow_transactions, cutoff, dormant_share, auc
):
    result = evaluate(cdnow_transactions, cutoff, 90, list(BASELINES), config=RULES)
    assert result.n_customers == 23_570
    assert result.dormant_share == pytest.approx(dormant_share, abs=0.001)
    assert result.metric("days_since_last", "dormancy", "auc") == pytest.approx(auc, abs=0.001)
    assert result.metric("days_since_last", "dormancy", "brier") is None


def test_incomplete_label_window_is_refused(cdnow_transactions):
    with pytest.raises(WinbackError, match="ends after the last transaction"):
        evaluate(cdnow_transactions, "1998-06-01", 90, list(BASELINES), config=RULES)


def test_evaluate_command_writes_json_with_models_and_baselines(tmp_path):
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(
        app,
        ["evaluate", "-t", "cdnow", "--cutoff", "1997-09-30", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert set(metrics["candidates"]) == {"bgnbd", "mbgnbd", "days_since_last", "past_spend"}
    bgnbd = metrics["candidates"]["bgnbd"]
    # Reference: BG/NBD P(0 purchases in 90 days) AUC 0.764 measured independently.
    assert bgnbd["dormancy"]["auc"] == pytest.approx(0.764, abs=0.01)
    assert len(bgnbd["dormancy"]["calibration"]) == 10
    assert bgnbd["spend"]["normalized_gini"] > 0.5
    assert "days_since_last" in result.output and "baseline" in result.output


def test_unknown_model_is_a_one_line_error():
    result = CliRunner().invoke(
        app, ["evaluate", "-t", "cdnow", "--cutoff", "1997-09-30", "--models", "magic"]
    )
    assert result.exit_code == 2
    assert "unknown model(s) magic" in result.output


def test_the_xgboost_candidate_trains_with_the_rules_the_evaluation_was_given(
    cdnow_transactions, monkeypatch
):
    """The features the candidate scores and the scorer it trains use one set of rules.

    Before the fix the candidate trained with the default rules whatever ``config`` the
    evaluation was given, so the scorer's features and the evaluation's disagreed.
    """
    from dataclasses import replace

    from pipelines.training import candidates

    custom = replace(RULES, cadence=replace(RULES.cadence, min_typical_gap_days=3.0))
    used: list[object] = []

    def spy_train(history, cutoff, settings, config, on_step=lambda _: None):
        used.append(config)
        raise _Stop

    class _Stop(Exception):
        pass

    monkeypatch.setattr(candidates, "train_scorer", spy_train)
    with pytest.raises(_Stop):
        evaluate(
            cdnow_transactions, "1997-09-30", 90, [candidates.xgboost_candidate()], config=custom
        )
    assert used == [custom]
