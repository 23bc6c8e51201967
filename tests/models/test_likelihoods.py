"""The fast likelihoods are lifetimes' objectives, with exact gradients, on collapsed data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import check_grad

from features.datasets import load_cdnow_raw
from models import likelihoods
from models import patterns as patterns_module
from models.likelihoods import (
    BetaGeoNegativeLogLikelihood,
    GammaGammaNegativeLogLikelihood,
    fit_beta_geo,
    numerical_hessian,
)
from models.patterns import integer_codes, unique_patterns

#: Log-parameter points the objectives are compared at: near and far from the optimum.
BETA_GEO_POINTS = np.log([[0.25, 0.1, 0.8, 2.4], [1.5, 0.02, 3.0, 0.7], [0.05, 2.0, 0.3, 9.0]])
GAMMA_GAMMA_POINTS = np.log([[6.0, 3.7, 15.0], [1.0, 1.5, 3.0], [20.0, 8.0, 60.0]])


@pytest.fixture(scope="module")
def cdnow_daily() -> pd.DataFrame:
    """Full CDNOW, summarised per customer in days (23,570 customers)."""
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(
        load_cdnow_raw(), "customer_id", "timestamp", monetary_value_col="amount"
    )


@pytest.fixture(scope="module")
def rfm(cdnow_daily: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) with time scaled to max(T) == 1, as the fitters see it."""
    T = cdnow_daily["T"].to_numpy(float)
    return (
        cdnow_daily["frequency"].to_numpy(float),
        cdnow_daily["recency"].to_numpy(float) / T.max(),
        T / T.max(),
    )


@pytest.fixture(scope="module")
def spend(cdnow_daily: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    repeat = cdnow_daily[(cdnow_daily["frequency"] > 0) & (cdnow_daily["monetary_value"] > 0)]
    return repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float)


def test_unique_patterns_count_every_customer_once(cdnow_daily: pd.DataFrame) -> None:
    columns = [cdnow_daily[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    patterns = unique_patterns(*columns)
    expected = cdnow_daily.value_counts(["frequency", "recency", "T"])
    found = pd.Series(
        patterns.weights,
        index=pd.MultiIndex.from_arrays([patterns.column(j) for j in range(3)]),
    )
    assert patterns.weights.sum() == len(cdnow_daily)
    assert len(found) == len(expected)
    pd.testing.assert_series_equal(
        found.sort_index(), expected.astype(float).sort_index(), check_names=False
    )


def test_unique_patterns_without_a_combined_key_agree(
    cdnow_daily: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    columns = [cdnow_daily[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    keyed = unique_patterns(*columns)
    monkeypatch.setattr(patterns_module, "_MAX_ROW_KEYS", 1)  # as if codes overflowed int64
    stacked = unique_patterns(*columns)
    for j in range(3):
        np.testing.assert_array_equal(stacked.column(j), keyed.column(j))
    np.testing.assert_array_equal(stacked.weights, keyed.weights)


@pytest.mark.parametrize("column", [np.array([3.0, 7.0, 3.0, 5.0]), np.array([0.5, 2.25, 0.5])])
def test_integer_codes_index_the_values(column: np.ndarray) -> None:
    codes, values = integer_codes(column)
    np.testing.assert_array_equal(values[codes], column)


@pytest.mark.parametrize("modified", [False, True], ids=["bgnbd", "mbgnbd"])
@pytest.mark.parametrize("penalizer_coef", [0.0, 0.1])
def test_beta_geo_objective_is_lifetimes_objective(
    rfm: tuple[np.ndarray, ...], modified: bool, penalizer_coef: float
) -> None:
    from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter

    reference = (ModifiedBetaGeoFitter if modified else BetaGeoFitter)._negative_log_likelihood
    ours = BetaGeoNegativeLogLikelihood(*rfm, modified=modified, penalizer_coef=penalizer_coef)
    weights = np.ones_like(rfm[0])
    for point in BETA_GEO_POINTS:
        expected = reference(point, *rfm, weights, penalizer_coef)
        assert ours(point)[0] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("penalizer_coef", [0.0, 0.1])
def test_gamma_gamma_objective_is_lifetimes_objective(
    spend: tuple[np.ndarray, np.ndarray], penalizer_coef: float
) -> None:
    from lifetimes import GammaGammaFitter

    ours = GammaGammaNegativeLogLikelihood(*spend, penalizer_coef=penalizer_coef)
    weights = np.ones_like(spend[0])
    for point in GAMMA_GAMMA_POINTS:
        expected = GammaGammaFitter._negative_log_likelihood(point, *spend, weights, penalizer_coef)
        assert ours(point)[0] == pytest.approx(expected, rel=1e-10)


def _gradient_error(objective, point: np.ndarray) -> float:
    """check_grad's distance to a forward-difference gradient, relative to max(1, |gradient|).

    Forward differences are off by about step x curvature (~1e-5 where Gamma-Gamma is most
    curved), so 1e-4 is the bar; a wrong term would be off by order 1.
    """
    error = check_grad(lambda p: objective(p)[0], lambda p: objective(p)[1], point)
    return error / max(1.0, np.linalg.norm(objective(point)[1]))


@pytest.mark.parametrize("modified", [False, True], ids=["bgnbd", "mbgnbd"])
@pytest.mark.parametrize("penalizer_coef", [0.0, 0.1])
def test_beta_geo_gradient_is_exact(
    rfm: tuple[np.ndarray, ...], modified: bool, penalizer_coef: float
) -> None:
    objective = BetaGeoNegativeLogLikelihood(*rfm, modified=modified, penalizer_coef=penalizer_coef)
    for point in BETA_GEO_POINTS:
        assert _gradient_error(objective, point) < 1e-4


@pytest.mark.parametrize("penalizer_coef", [0.0, 0.1])
def test_gamma_gamma_gradient_is_exact(
    spend: tuple[np.ndarray, np.ndarray], penalizer_coef: float
) -> None:
    objective = GammaGammaNegativeLogLikelihood(*spend, penalizer_coef=penalizer_coef)
    for point in GAMMA_GAMMA_POINTS:
        assert _gradient_error(objective, point) < 1e-4


def test_numerical_hessian_matches_autograd_hessian_of_lifetimes_objective(
    rfm: tuple[np.ndarray, ...],
) -> None:
    from autograd import hessian
    from lifetimes import BetaGeoFitter

    point = BETA_GEO_POINTS[0]
    weights = np.ones_like(rfm[0])
    expected = hessian(BetaGeoFitter._negative_log_likelihood)(point, *rfm, weights, 0.0)
    ours = numerical_hessian(BetaGeoNegativeLogLikelihood(*rfm, modified=False), point)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)


def test_warm_start_from_a_sample_reaches_the_same_optimum(
    cdnow_daily: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    columns = [cdnow_daily[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    cold = fit_beta_geo(*columns)  # 23,570 rows: below the warm-start threshold
    monkeypatch.setattr(likelihoods, "_WARM_START_ROWS", 2_000)
    warm = fit_beta_geo(*columns)
    np.testing.assert_allclose(warm.params, cold.params, rtol=1e-7)
