"""The per-customer log-likelihood in days equals lifetimes' for each transaction model, and
ranks a better fit higher."""

from __future__ import annotations

import numpy as np
import pytest
from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter

from models.bgnbd import BetaGeoModel, ModifiedBetaGeoModel
from models.pareto_nbd import ParetoNBDModel
from models.training_likelihood import log_likelihood_per_customer, mean_log_likelihood


@pytest.fixture(scope="module")
def rfm(cdnow_transactions):
    """CDNOW at 1998-06-30 in days, as the training choice sees it."""
    from features.build import build_features
    from features.config import FeatureConfig

    features = build_features(cdnow_transactions, "1998-06-30", FeatureConfig()).features
    return features[["frequency", "recency", "T", "monetary_value"]].astype(float)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(BetaGeoModel, BetaGeoFitter), (ModifiedBetaGeoModel, ModifiedBetaGeoFitter)],
)
def test_beta_geo_family_equals_lifetimes(rfm, ours, theirs):
    model = ours().fit(rfm)
    params = model.params_.to_numpy(dtype=float)
    weights = np.ones(len(rfm))
    expected = -theirs._negative_log_likelihood(
        np.log(params), rfm["frequency"], rfm["recency"], rfm["T"], weights, 0.0
    )
    assert mean_log_likelihood(model, rfm) == pytest.approx(expected, rel=1e-12)


def test_pareto_nbd_equals_lifetimes(rfm):
    model = ParetoNBDModel().fit(rfm)
    params = model.params_.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        theirs = ParetoNBDFitter._conditional_log_likelihood(
            params, rfm["frequency"], rfm["recency"], rfm["T"]
        )
    ours = log_likelihood_per_customer(model, rfm)
    theirs = np.asarray(theirs, dtype=float)
    finite = np.isfinite(theirs)  # lifetimes' form is NaN for a few long histories
    assert np.isfinite(ours).all() and finite.mean() > 0.9
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-9)


def test_the_fitted_parameters_beat_perturbed_ones(rfm):
    """The maximum-likelihood fit has the highest likelihood: a test that the units and
    the formula match the fitter's objective (a wrong term would move the optimum)."""
    for cls in (BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel):
        model = cls().fit(rfm)
        best = mean_log_likelihood(model, rfm)
        for factor in (0.9, 1.1):
            for i in range(4):
                moved = cls().fit(rfm)
                moved.params_.iloc[i] *= factor
                assert mean_log_likelihood(moved, rfm) < best, (cls.__name__, i, factor)
