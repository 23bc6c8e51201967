"""The lifetimes API surface of BG/NBD, MBG/NBD and Gamma-Gamma (issue 16), against lifetimes.

Every method is compared with lifetimes' own on CDNOW at the same parameters, so that a
difference is the method's, not the optimiser's; the fits themselves are compared with
lifetimes' where the method depends on them (standard errors, weights, q_constraint).
The tests of lifetimes' own suite (tests/test_estimation.py, 0.11.3) that failed for
missing API are ported at the end, with their published values and tolerances.
"""

from __future__ import annotations

import importlib.resources

import numpy as np
import pandas as pd
import pytest

from features.datasets import load_cdnow_raw
from models import BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel
from models.likelihoods import GammaGammaNegativeLogLikelihood

MODELS = [BetaGeoModel, ModifiedBetaGeoModel]
RFM = ["frequency", "recency", "T"]
#: FHL (2005) on the CDNOW sample (weeks): the parameters R BTYD's examples use.
R_BTYD_PARAMS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
#: lifetimes' test_probability_of_n_purchases_up_to_time_same_as_R_BTYD: P(N(30) = 11..20).
R_BTYD_PMF_30 = [
    0.0019995214,
    0.0015170236,
    0.0011633150,
    0.0009003148,
    0.0007023638,
    0.0005517902,
    0.0004361913,
    0.0003467171,
    0.0002769613,
    0.0002222260,
]


def _lifetimes_csv(name: str) -> str:
    return str(importlib.resources.files("lifetimes") / "datasets" / name)


@pytest.fixture(scope="module")
def cdnow_weekly() -> pd.DataFrame:
    """lifetimes' load_cdnow_summary (2,357 customers, weeks; its loader needs
    pkg_resources, hence the file)."""
    return pd.read_csv(_lifetimes_csv("cdnow_customers_summary.csv"), index_col="ID")


@pytest.fixture(scope="module")
def cdnow_spend() -> pd.DataFrame:
    """lifetimes' load_cdnow_summary_data_with_monetary_value, in its column names."""
    frame = pd.read_csv(_lifetimes_csv("cdnow_customers_summary_with_transactions.csv"))
    return frame.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"})


@pytest.fixture(scope="module")
def cdnow_daily() -> pd.DataFrame:
    """Full CDNOW per customer in days (23,570 customers)."""
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(
        load_cdnow_raw(), "customer_id", "timestamp", monetary_value_col="amount"
    )


@pytest.fixture(scope="module")
def heavy_tailed_spend() -> pd.DataFrame:
    """Gamma-Gamma spend with q = 0.7 < 1 (no finite population mean): the unconstrained
    fit has q < 1, so q_constraint binds."""
    rng = np.random.default_rng(3)
    x = 1 + rng.poisson(2.0, 3_000)
    nu = rng.gamma(0.7, 1 / 10.0, len(x))
    m = np.array([rng.gamma(4.0, 1 / rate, n).mean() for rate, n in zip(nu, x, strict=True)])
    return pd.DataFrame({"frequency": x.astype(float), "monetary_value": m})


def _reference(model: BetaGeoModel | GammaGammaModel, data: pd.DataFrame | None = None):
    """lifetimes' fitter with ``model``'s parameters (and ``data``, as lifetimes keeps it)."""
    import lifetimes

    name = getattr(model, "_lifetimes_fitter", "GammaGammaFitter")
    fitter = getattr(lifetimes, name)()
    fitter.params_ = model.params_.copy()
    if data is not None:
        fitter.data = data.assign(weights=1)
    return fitter


def _fixed(model_class: type, params: dict[str, float]):
    state = {"params": params, "covariance": np.eye(len(params)).tolist(), "n_customers": 1}
    return model_class.from_dict(state)


def _lifetimes_standard_errors(model: BetaGeoModel, features: pd.DataFrame) -> np.ndarray:
    """lifetimes' standard errors (its exact autograd Hessian, its formula) at ``model``'s
    optimum: isolates our Hessian from the two optimisers' stopping points."""
    from autograd import hessian

    fitter = _reference(model)
    x, t_x, T = (features[c].to_numpy(float) for c in RFM)
    scale = 1.0 / T.max()  # lifetimes' _scale_time
    log_params = np.log(model.params_.to_numpy() * np.array([1.0, scale, 1.0, 1.0]))
    args = (x, t_x * scale, T * scale, np.ones_like(x), model.penalizer_coef)
    exact = hessian(fitter._negative_log_likelihood)(log_params, *args)
    variance = model.params_.to_numpy() ** 2 * np.linalg.inv(exact) / len(x)
    return np.sqrt(np.diag(variance))


# --- closed forms, at the same parameters as lifetimes -------------------------------


@pytest.mark.parametrize("model_class", MODELS)
def test_expected_number_of_purchases_up_to_time_equals_lifetimes(
    model_class: type, cdnow_daily: pd.DataFrame
) -> None:
    model = model_class().fit(cdnow_daily)
    times = np.array([0.5, 1.0, 7.0, 30.0, 90.0, 365.0, 1000.0])
    expected = _reference(model).expected_number_of_purchases_up_to_time(times)
    actual = model.expected_number_of_purchases_up_to_time(times)
    np.testing.assert_allclose(actual, expected, rtol=1e-10)
    assert np.all(np.diff(actual) > 0)
    assert model.expected_number_of_purchases_up_to_time(0.0) == 0.0


@pytest.mark.parametrize("model_class", MODELS)
def test_probability_of_n_purchases_equals_lifetimes(
    model_class: type, cdnow_daily: pd.DataFrame
) -> None:
    model = model_class().fit(cdnow_daily)
    reference = _reference(model)
    for t in (0.5, 30.0, 90.0, 365.0, 1000.0):
        for n in range(60):
            expected = reference.probability_of_n_purchases_up_to_time(t, n)
            actual = model.probability_of_n_purchases_up_to_time(t, n)
            assert actual == pytest.approx(expected, rel=1e-9, abs=1e-15), (t, n)


@pytest.mark.parametrize("model_class", MODELS)
def test_purchase_distribution_sums_to_one_with_the_expected_mean(model_class: type) -> None:
    """Independent of lifetimes: P(N(t) = n) is a distribution whose mean is
    expected_number_of_purchases_up_to_time (lifetimes' Γ sums overflow past n = 170)."""
    model = _fixed(model_class, R_BTYD_PARAMS)
    n = np.arange(5_000.0)
    for t in (2.0, 39.0, 78.0):
        pmf = model.probability_of_n_purchases_up_to_time(t, n)
        assert np.all(np.isfinite(pmf)) and np.all(pmf >= 0)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-10)
        mean = model.expected_number_of_purchases_up_to_time(t)
        assert n @ pmf == pytest.approx(mean, rel=1e-8)


def test_probability_of_n_purchases_broadcasts_and_checks_n() -> None:
    model = _fixed(BetaGeoModel, R_BTYD_PARAMS)
    t, n = np.array([[2.0], [30.0]]), np.array([0, 1, 5])
    grid = model.probability_of_n_purchases_up_to_time(t, n)
    assert grid.shape == (2, 3)
    assert grid[1, 2] == model.probability_of_n_purchases_up_to_time(30.0, 5)
    for bad in (-1, 1.5):
        with pytest.raises(ValueError, match="whole numbers"):
            model.probability_of_n_purchases_up_to_time(1.0, bad)


@pytest.mark.parametrize("model_class", MODELS)
def test_alive_matrix_equals_lifetimes(model_class: type, cdnow_weekly: pd.DataFrame) -> None:
    model = model_class().fit(cdnow_weekly)
    max_frequency, max_T = int(cdnow_weekly["frequency"].max()), int(cdnow_weekly["T"].max())
    expected = _reference(model, cdnow_weekly).conditional_probability_alive_matrix()
    actual = model.conditional_probability_alive_matrix(max_frequency, max_T)
    assert actual.shape == expected.shape == (max_T + 1, max_frequency + 1)
    np.testing.assert_allclose(actual, expected, rtol=1e-13)
    smaller = model.conditional_probability_alive_matrix(max_frequency=3, max_recency=10)
    assert smaller.shape == (11, 4)
    assert smaller[7, 2] == model.conditional_probability_alive(2, 7, 10)


def test_alive_matrix_needs_its_range_because_no_training_data_is_kept(
    cdnow_weekly: pd.DataFrame,
) -> None:
    model = BetaGeoModel().fit(cdnow_weekly)
    with pytest.raises(ValueError, match="max_frequency and max_recency"):
        model.conditional_probability_alive_matrix()


# --- parameter uncertainty ------------------------------------------------------------


@pytest.mark.parametrize("model_class", MODELS)
@pytest.mark.parametrize("penalizer_coef", [0.0, 0.05])
def test_standard_errors_are_lifetimes_formula_at_the_optimum(
    model_class: type, penalizer_coef: float, cdnow_weekly: pd.DataFrame
) -> None:
    model = model_class(penalizer_coef=penalizer_coef).fit(cdnow_weekly)
    expected = _lifetimes_standard_errors(model, cdnow_weekly)
    np.testing.assert_allclose(model.standard_errors_.to_numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("model_class", MODELS)
def test_summary_and_intervals_equal_lifetimes_fit(
    model_class: type, cdnow_weekly: pd.DataFrame
) -> None:
    """Against lifetimes' own fit: equal up to where its optimiser stops (tol 1e-7)."""
    import lifetimes

    model = model_class().fit(cdnow_weekly)
    fitter = getattr(lifetimes, model._lifetimes_fitter)()
    fitter.fit(*(cdnow_weekly[c] for c in RFM))
    pd.testing.assert_frame_equal(model.summary, fitter.summary, rtol=1e-5)
    pd.testing.assert_series_equal(model.standard_errors_, fitter.standard_errors_, rtol=1e-5)
    pd.testing.assert_frame_equal(
        model.confidence_intervals_, fitter.confidence_intervals_, rtol=1e-5
    )
    # Same variances; lifetimes' off-diagonal is params_j**2 inv(H)_ij, not symmetric.
    np.testing.assert_allclose(
        np.diag(model.variance_matrix_), np.diag(fitter.variance_matrix_), rtol=1e-5
    )
    np.testing.assert_allclose(model.variance_matrix_, model.variance_matrix_.T, rtol=1e-12)
    assert not np.allclose(fitter.variance_matrix_, fitter.variance_matrix_.T, rtol=1e-3)
    bounds = model.confidence_intervals_
    np.testing.assert_allclose(
        bounds["upper 95% bound"] - bounds["lower 95% bound"], 2 * 1.96 * model.standard_errors_
    )


def test_uncertainty_attributes_are_derived_not_stored(cdnow_weekly: pd.DataFrame) -> None:
    model = BetaGeoModel()
    assert not hasattr(model, "standard_errors_")  # AttributeError before fit, as lifetimes
    model.fit(cdnow_weekly)
    assert {"standard_errors_", "confidence_intervals_", "variance_matrix_"}.isdisjoint(vars(model))
    restored = BetaGeoModel.from_dict(model.to_dict())
    pd.testing.assert_series_equal(restored.standard_errors_, model.standard_errors_)


def test_gamma_gamma_summary_equals_lifetimes(cdnow_spend: pd.DataFrame) -> None:
    from lifetimes import GammaGammaFitter

    repeat = cdnow_spend[cdnow_spend["frequency"] > 0]
    model = GammaGammaModel().fit(cdnow_spend)
    fitter = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    pd.testing.assert_frame_equal(model.summary, fitter.summary, rtol=1e-6)
    pd.testing.assert_series_equal(model.standard_errors_, fitter.standard_errors_, rtol=1e-6)
    pd.testing.assert_frame_equal(
        model.confidence_intervals_, fitter.confidence_intervals_, rtol=1e-6
    )


# --- weights --------------------------------------------------------------------------


def _duplicated(features: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Each row repeated 1-4 times, and those counts (the weights that stand for it)."""
    counts = np.random.default_rng(seed).integers(1, 5, len(features))
    return features.loc[features.index.repeat(counts)], counts


@pytest.mark.parametrize("model_class", MODELS)
def test_weights_equal_duplicated_rows(model_class: type, cdnow_weekly: pd.DataFrame) -> None:
    repeated, counts = _duplicated(cdnow_weekly)
    weighted = model_class().fit(cdnow_weekly, weights=counts)
    plain = model_class().fit(repeated)
    pd.testing.assert_series_equal(weighted.params_, plain.params_, rtol=1e-9)
    pd.testing.assert_frame_equal(weighted.summary, plain.summary, rtol=1e-6)
    assert weighted.n_customers_ == plain.n_customers_ == counts.sum()
    by_column = model_class().fit(cdnow_weekly.assign(w=counts), weights="w")
    pd.testing.assert_series_equal(by_column.params_, weighted.params_)
    unweighted = model_class().fit(cdnow_weekly)
    assert not np.allclose(weighted.params_, unweighted.params_, rtol=1e-3)


@pytest.mark.parametrize("model_class", MODELS)
def test_weights_equal_lifetimes_weights(model_class: type, cdnow_weekly: pd.DataFrame) -> None:
    """lifetimes' test_using_weights_col_gives_correct_results, to lifetimes' own weighted
    fit, through both fitters."""
    import lifetimes

    condensed = cdnow_weekly.assign(weights=1.0).groupby(RFM, as_index=False)["weights"].sum()
    assert (condensed["weights"] > 1).any()
    fitter = getattr(lifetimes, model_class._lifetimes_fitter)()
    fitter.fit(*(condensed[c] for c in RFM), weights=condensed["weights"])
    for fitter_name in ("fast", "lifetimes"):
        model = model_class(fitter=fitter_name).fit(condensed, weights="weights")
        pd.testing.assert_series_equal(model.params_, fitter.params_, rtol=1e-5)
        pd.testing.assert_series_equal(model.standard_errors_, fitter.standard_errors_, rtol=1e-5)
    unweighted = model_class().fit(cdnow_weekly)
    pd.testing.assert_series_equal(model.params_, unweighted.params_, rtol=1e-5)


def test_gamma_gamma_weights_equal_duplicated_rows_and_lifetimes(
    cdnow_spend: pd.DataFrame,
) -> None:
    from lifetimes import GammaGammaFitter

    repeated, counts = _duplicated(cdnow_spend, seed=1)
    weighted = GammaGammaModel().fit(cdnow_spend, weights=counts)
    plain = GammaGammaModel().fit(repeated)
    pd.testing.assert_series_equal(weighted.params_, plain.params_, rtol=1e-9)
    pd.testing.assert_frame_equal(weighted.summary, plain.summary, rtol=1e-6)
    assert weighted.n_customers_ == plain.n_customers_  # repeat buyers only, weighted
    repeat = cdnow_spend["frequency"] > 0
    fitter = GammaGammaFitter().fit(
        cdnow_spend["frequency"][repeat],
        cdnow_spend["monetary_value"][repeat],
        weights=counts[repeat],
    )
    pd.testing.assert_frame_equal(weighted.summary, fitter.summary, rtol=1e-6)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("missing", "weights column 'missing'"),
        (np.ones(3), "one number per row"),
        (-1.0, "non-negative"),
        (np.nan, "finite"),
        (0.0, "sum to zero"),
    ],
)
def test_bad_weights_are_named(weights: object, message: str, cdnow_weekly: pd.DataFrame) -> None:
    if isinstance(weights, float):
        weights = np.full(len(cdnow_weekly), weights)
    for model in (BetaGeoModel(), GammaGammaModel()):
        features = cdnow_weekly.assign(monetary_value=10.0)
        with pytest.raises(ValueError, match=message):
            model.fit(features, weights=weights)


# --- Gamma-Gamma's q_constraint -------------------------------------------------------


def test_q_constraint_binds_at_lifetimes_optimum(heavy_tailed_spend: pd.DataFrame) -> None:
    from lifetimes import GammaGammaFitter

    free = GammaGammaModel().fit(heavy_tailed_spend)
    assert free.params_["q"] < 1.0
    constrained = GammaGammaModel().fit(heavy_tailed_spend, q_constraint=True)
    assert constrained.params_["q"] == 1.0
    x, m = heavy_tailed_spend["frequency"], heavy_tailed_spend["monetary_value"]
    fitter = GammaGammaFitter().fit(x, m, q_constraint=True, tol=1e-12)
    pd.testing.assert_frame_equal(constrained.summary, fitter.summary, rtol=1e-6)
    # No better point on the boundary: lifetimes' default-tolerance fit is not below ours.
    objective = GammaGammaNegativeLogLikelihood(x.to_numpy(), m.to_numpy())
    default = GammaGammaFitter().fit(x, m, q_constraint=True)
    ours, theirs = (objective(np.log(f.params_.to_numpy()))[0] for f in (constrained, default))
    assert ours <= theirs
    reference = GammaGammaModel(fitter="lifetimes").fit(heavy_tailed_spend, q_constraint=True)
    pd.testing.assert_series_equal(reference.params_, constrained.params_, rtol=1e-3)


def test_q_constraint_keeps_repeat_buyers_finite_at_q_equal_one(
    heavy_tailed_spend: pd.DataFrame,
) -> None:
    """At q = 1 lifetimes' weighted form is 0 * inf = NaN for repeat buyers; theirs is the
    posterior mean p (v + x m) / (p x), and one-time buyers' expected spend is unbounded."""
    model = GammaGammaModel().fit(heavy_tailed_spend, q_constraint=True)
    p, _, v = model.params_
    x, m = np.array([1.0, 3.0, 0.0]), np.array([20.0, 50.0, 0.0])
    profit = model.conditional_expected_average_profit(x, m)
    np.testing.assert_allclose(profit[:2], (v + x[:2] * m[:2]) / x[:2], rtol=1e-12)
    assert profit[2] == np.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        lifetimes_profit = _reference(model).conditional_expected_average_profit(x, m)
    assert np.isnan(lifetimes_profit[:2]).all()


def test_q_constraint_changes_nothing_when_q_exceeds_one(cdnow_spend: pd.DataFrame) -> None:
    """lifetimes' test_params_out_is_close_to_Hardie_paper_with_q_constraint."""
    constrained = GammaGammaModel().fit(cdnow_spend, q_constraint=True)
    pd.testing.assert_series_equal(constrained.params_, GammaGammaModel().fit(cdnow_spend).params_)
    np.testing.assert_array_almost_equal(constrained.params_, [6.25, 3.74, 15.44], decimal=2)


# --- lifetimes' own tests that failed for missing API (tests/test_estimation.py) ------


@pytest.mark.parametrize(
    ("model_class", "rtol", "atol"), [(BetaGeoModel, 0, 1.5e-3), (ModifiedBetaGeoModel, 0.05, 0)]
)
def test_expectation_returns_same_value_Hardie_excel_sheet(
    model_class: type, rtol: float, atol: float, cdnow_weekly: pd.DataFrame
) -> None:
    """lifetimes' tolerances: 3 decimals for BG/NBD, 5% for MBG/NBD (Hardie's sheet is BG/NBD)."""
    model = model_class().fit(cdnow_weekly)
    times = np.array([0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00])
    expected = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    actual = model.expected_number_of_purchases_up_to_time(times)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("model_class", MODELS)
def test_conditional_probability_alive_matrix(
    model_class: type, cdnow_weekly: pd.DataFrame
) -> None:
    model = model_class().fit(cdnow_weekly)
    max_t = int(cdnow_weekly["T"].max())
    Z = model.conditional_probability_alive_matrix(int(cdnow_weekly["frequency"].max()), max_t)
    if model_class is BetaGeoModel:
        assert Z[0][0] == 1
    for t_x in range(Z.shape[0]):
        for x in range(Z.shape[1]):
            assert Z[t_x][x] == model.conditional_probability_alive(x, t_x, max_t)


@pytest.mark.parametrize(
    ("model_class", "rtol", "atol"), [(BetaGeoModel, 0, 1.5e-5), (ModifiedBetaGeoModel, 0.5, 0)]
)
def test_probability_of_n_purchases_up_to_time_same_as_R_BTYD(
    model_class: type, rtol: float, atol: float
) -> None:
    """lifetimes' tolerances; R BTYD's values are BG/NBD's (hence MBG/NBD's 50%)."""
    probability = _fixed(model_class, R_BTYD_PARAMS).probability_of_n_purchases_up_to_time
    assert probability(2, 10) == pytest.approx(1.07869e-07, abs=1e-4)
    if model_class is BetaGeoModel:
        assert probability(39, 0) == pytest.approx(0.5737864, abs=1e-4)
    actual = [probability(30, n) for n in range(11, 21)]
    np.testing.assert_allclose(actual, R_BTYD_PMF_30, rtol=rtol, atol=atol)


def test_mbgnbd_predictions_do_not_differ_much_between_hourly_and_daily_data() -> None:
    from lifetimes.utils import summary_data_from_transaction_data

    transactions = pd.read_csv(_lifetimes_csv("example_transactions.csv"), parse_dates=["date"])
    end = transactions["date"].max()
    daily, hourly = (
        summary_data_from_transaction_data(
            transactions, "id", "date", observation_period_end=end, freq=freq
        )
        for freq in ("D", "h")
    )
    from_daily = ModifiedBetaGeoModel().fit(daily).expected_number_of_purchases_up_to_time(30)
    from_hourly = ModifiedBetaGeoModel().fit(hourly).expected_number_of_purchases_up_to_time(720)
    np.testing.assert_almost_equal(from_daily, from_hourly)


@pytest.mark.parametrize("model_class", [*MODELS, GammaGammaModel])
def test_model_has_standard_error_variance_matrix_and_confidence_intervals(
    model_class: type, cdnow_spend: pd.DataFrame
) -> None:
    """lifetimes' BG/BB test of the same name, for these models."""
    model = model_class().fit(cdnow_spend)
    for name in ("standard_errors_", "variance_matrix_", "confidence_intervals_", "summary"):
        assert hasattr(model, name)
    assert list(model.summary.columns) == [
        "coef",
        "se(coef)",
        "lower 95% bound",
        "upper 95% bound",
    ]
