"""The BTYD diagnostic plots show what they say: every plotted number is recomputed here by
an independent route (scalar model calls, raw-transaction counts, numerical quadrature),
and a training run logs the four PNGs."""

from __future__ import annotations

import dataclasses
import datetime as dt

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.stats import nbinom

from features.build import build_features
from features.config import load_feature_config
from pipelines.training import diagnostics as d
from pipelines.training.fit import TrainingSettings, fit_btyd

RULES = load_feature_config()
AS_OF = dt.date(1997, 12, 31)
HORIZON = 90
CUTOFF = AS_OF - dt.timedelta(days=HORIZON)


def _features(transactions: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    past = transactions[transactions["timestamp"].dt.normalize() <= pd.Timestamp(day)]
    return build_features(past, day, RULES).features.set_index("customer_id")


@pytest.fixture(scope="module")
def data(cdnow_transactions):
    """CDNOW features at the as-of date and at the cutoff, and BG/NBD fitted at the as-of."""
    features = _features(cdnow_transactions, AS_OF)
    calibration = _features(cdnow_transactions, CUTOFF)
    return features, calibration, fit_btyd(features, "bgnbd").transaction_model_


def test_frequency_recency_matrix_plots_the_models_expectation_cell_by_cell(data):
    features, _, model = data
    fig = d.plot_frequency_recency_matrix(model, features, HORIZON)
    plotted = fig.axes[0].images[0].get_array()
    frequencies, recencies, T = d.matrix_grid(features)
    assert T == features["T"].max()
    assert np.mean(features["frequency"] <= frequencies[-1]) >= 0.99
    assert plotted.shape == (len(recencies), len(frequencies))
    for i, recency in enumerate(recencies):
        for j, frequency in enumerate(frequencies):
            possible = (frequency == 0 and recency == 0) or (1 <= frequency <= recency)
            assert bool(plotted.mask[i, j]) is not possible
            if possible:
                expected = model.conditional_expected_number_of_purchases_up_to_time(
                    HORIZON, frequency, recency, T
                )
                assert plotted[i, j] == pytest.approx(float(expected), rel=1e-12)


def test_probability_alive_matrix_is_the_models_own_matrix(data):
    features, _, model = data
    fig = d.plot_probability_alive_matrix(model, features)
    plotted = fig.axes[0].images[0].get_array()
    frequencies, recencies, T = d.matrix_grid(features)
    # lifetimes' layout Z[t_x][x] for customers of age T, on every recency row plotted.
    reference = model.conditional_probability_alive_matrix(int(frequencies[-1]), int(T))
    reference = reference[recencies.astype(int)]
    shown = ~plotted.mask
    np.testing.assert_allclose(plotted.data[shown], reference[shown], rtol=1e-12)
    assert plotted.min() >= 0 and plotted.max() <= 1


def test_calibration_holdout_actuals_equal_a_count_of_purchase_days(data, cdnow_transactions):
    features, calibration, _ = data
    split = d.calibration_split(calibration, features, "bgnbd", 0.0, HORIZON)
    # Independent count: calendar days in (cutoff, as-of] with a non-negative line.
    days = cdnow_transactions["timestamp"].dt.normalize()
    window = cdnow_transactions[
        (days > pd.Timestamp(CUTOFF))
        & (days <= pd.Timestamp(AS_OF))
        & (cdnow_transactions["amount"] >= 0)
    ]
    counted = window.assign(day=days).groupby("customer_id")["day"].nunique()
    counted = counted.reindex(calibration.index, fill_value=0)
    np.testing.assert_array_equal(split.holdout_purchases.to_numpy(), counted.to_numpy())
    assert split.holdout_purchases.sum() > 1000  # the check is not vacuous

    table = d.calibration_holdout_table(split)
    bucket = calibration["frequency"].clip(upper=d.MAX_FREQUENCY)
    np.testing.assert_allclose(table["actual"], counted.groupby(bucket).mean(), rtol=1e-12)
    assert table["customers"].sum() == len(calibration)
    # The model is fitted on the calibration period only, and predicts the window.
    refit = fit_btyd(calibration, "bgnbd").transaction_model_
    pd.testing.assert_series_equal(split.model.params_, refit.params_)
    subset = dataclasses.replace(split, features=calibration.iloc[:1500])
    by_scalar_calls = (
        pd.Series(
            [
                float(refit.conditional_expected_number_of_purchases_up_to_time(HORIZON, x, t_x, T))
                for x, t_x, T in subset.features[["frequency", "recency", "T"]].to_numpy()
            ]
        )
        .groupby(bucket.to_numpy()[:1500])
        .mean()
    )
    np.testing.assert_allclose(
        d.calibration_holdout_table(subset)["predicted"], by_scalar_calls, rtol=1e-10
    )
    lines = d.plot_calibration_vs_holdout(split).axes[0].lines
    np.testing.assert_allclose(lines[0].get_ydata(), table["actual"])
    np.testing.assert_allclose(lines[1].get_ydata(), table["predicted"])


def test_holdout_counts_refuse_features_of_other_customers(data):
    features, calibration, _ = data
    with pytest.raises(ValueError, match="missing from the features"):
        d.holdout_purchases(calibration, features.iloc[100:])


def test_period_transactions_bars_are_the_counts_and_the_models_expectation(data):
    features, _, model = data
    table = d.period_transactions_table(model, features)
    actual = features["frequency"].clip(upper=d.MAX_FREQUENCY).value_counts().sort_index()
    np.testing.assert_array_equal(table["actual"], actual.to_numpy())
    T = features["T"].to_numpy(float)
    for n in range(d.MAX_FREQUENCY):  # per customer, not per distinct age
        expected = model.probability_of_n_purchases_up_to_time(T, np.full_like(T, n)).sum()
        assert table.loc[n, "model"] == pytest.approx(expected, rel=1e-10)
    assert table["model"].sum() == pytest.approx(len(features), rel=1e-12)
    assert table["model"].iloc[-1] > 0  # the "7+" bar: everyone else
    bars = d.plot_period_transactions(model, features).axes[0].patches
    heights = np.array([bar.get_height() for bar in bars])
    np.testing.assert_allclose(heights, np.r_[table["actual"], table["model"]])


@pytest.mark.parametrize("t, n", [(30.0, 0), (90.0, 1), (272.0, 3), (545.0, 6)])
def test_pareto_nbd_period_probabilities_match_adaptive_quadrature(t, n):
    params = pd.Series({"r": 0.61, "alpha": 95.3, "s": 0.31, "beta": 43.0})
    model = type("Fitted", (), {"params_": params})()
    r, alpha, s, beta = params

    def dying_at(tau: float) -> float:  # Lomax lifetime density x Gamma-Poisson count
        return s * beta**s / (beta + tau) ** (s + 1) * nbinom.pmf(n, r, alpha / (alpha + tau))

    alive = (beta / (beta + t)) ** s * nbinom.pmf(n, r, alpha / (alpha + t))
    reference = alive + quad(dying_at, 0.0, t, epsabs=1e-13, epsrel=1e-12)[0]
    assert d.probability_of_n_purchases(model, t, n) == pytest.approx(reference, rel=1e-9)


def test_pareto_nbd_diagnostics_draw(data):
    features, calibration, _ = data
    btyd = fit_btyd(features, "pareto_nbd")
    split = d.calibration_split(calibration, features, "pareto_nbd", 0.0, HORIZON)
    figures = d.diagnostic_figures(btyd, features, HORIZON, split)
    assert set(figures) == {
        "frequency_recency_matrix",
        "probability_alive_matrix",
        "period_transactions",
        "calibration_vs_holdout",
    }
    table = d.period_transactions_table(btyd.transaction_model_, features)
    assert table["model"].sum() == pytest.approx(len(features), rel=1e-9)
    assert (table["model"] > 0).all()


def test_a_training_run_logs_the_four_diagnostics(cdnow_transactions, tmp_path, monkeypatch):
    from features.contract import load_transactions
    from pipelines.training.run import run_training

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    loaded = load_transactions("cdnow")
    customers = sorted(loaded.transactions["customer_id"].unique())[:2000]
    rows = loaded.transactions[loaded.transactions["customer_id"].isin(customers)]
    small = dataclasses.replace(loaded, transactions=rows)
    tiny = TrainingSettings(
        max_snapshots=2, dormancy_params={"n_estimators": 10}, spend_params={"n_estimators": 10}
    )
    outcome = run_training(small, "1997-09-30", tiny, RULES)
    client = mlflow.MlflowClient()
    logged = {a.path for a in client.list_artifacts(outcome.run_id, "evaluation/diagnostics")}
    assert logged == {
        f"evaluation/diagnostics/{name}.png"
        for name in (
            "frequency_recency_matrix",
            "probability_alive_matrix",
            "period_transactions",
            "calibration_vs_holdout",
        )
    }
    png = client.download_artifacts(
        outcome.run_id, "evaluation/diagnostics/period_transactions.png", str(tmp_path)
    )
    with open(png, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
