"""Model fitting on real-looking data: fit on the customers a model is valid for, fill the
others from the population, and say in one line how to fix a fit that does not converge."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.config import load_feature_config
from features.errors import WinbackError
from models.bgnbd import BetaGeoModel, ModifiedBetaGeoModel
from models.btyd import BTYDModel
from models.estimator import ModelFitError
from models.gamma_gamma import GammaGammaModel
from models.likelihoods import ConvergenceError
from models.synthetic import generate_transactions
from pipelines.training import fit as training_fit

RULES = load_feature_config()


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    transactions = generate_transactions(
        3000,
        {"r": 0.5, "alpha": 60.0, "a": 0.8, "b": 2.5},
        {"p": 6.0, "q": 4.0, "v": 15.0},
        seed=7,
    )
    table = build_features(transactions, "2021-12-31", RULES)
    return table.features.set_index("customer_id")


def never_leaving_customers(n: int = 300) -> pd.DataFrame:
    """Everyone buys every 30 days up to the end: nobody seems to drop out, so the BG/NBD
    likelihood is flat towards a, b -> 0 and maximum likelihood does not converge."""
    T = np.random.default_rng(0).integers(100, 365, n).astype(float)
    frequency = np.floor(T / 30)
    return pd.DataFrame({"frequency": frequency, "recency": frequency * 30, "T": T})


def test_gamma_gamma_leaves_out_customers_it_is_not_valid_for(features):
    spoiled = features.copy()
    repeaters = spoiled.index[spoiled["frequency"] > 0][:50]
    spoiled.loc[repeaters, "monetary_value"] = -np.abs(spoiled.loc[repeaters, "monetary_value"])
    on_spoiled = GammaGammaModel().fit(spoiled)
    on_valid = GammaGammaModel().fit(spoiled.drop(index=repeaters))
    pd.testing.assert_series_equal(on_spoiled.params_, on_valid.params_)
    p, q, v = on_spoiled.params_
    predicted = on_spoiled.conditional_expected_average_profit(
        spoiled.loc[repeaters, "frequency"], spoiled.loc[repeaters, "monetary_value"]
    )
    np.testing.assert_allclose(predicted, p * v / (q - 1))  # the population's mean


def test_btyd_scores_a_negative_monetary_value_instead_of_crashing(features):
    model = BTYDModel().fit(features)
    odd = features.head(5).copy()
    odd["monetary_value"] = [-40.0, 0.0, 10.0, -1e-9, 25.0]
    odd["frequency"] = odd["frequency"].clip(lower=1)
    odd["recency"] = np.maximum(odd["recency"], 1)
    scores = model.predict(odd, pd.Timestamp("2021-12-31"))
    assert np.isfinite(scores[["predicted_spend", "clv"]].to_numpy()).all()
    assert (scores["predicted_spend"] >= 0).all()


def test_gamma_gamma_without_any_valid_customer_is_one_clear_error(features):
    one_timers = features.assign(frequency=0, recency=0, monetary_value=0.0)
    with pytest.raises(ModelFitError, match="none of 3,00") as raised:
        GammaGammaModel().fit(one_timers)
    assert isinstance(raised.value, WinbackError)


@pytest.mark.parametrize(
    ("model_class", "name"), [(BetaGeoModel, "BG/NBD"), (ModifiedBetaGeoModel, "MBG/NBD")]
)
def test_non_convergence_names_the_model_and_the_fix(model_class, name):
    with pytest.raises(ConvergenceError) as raised:
        model_class().fit(never_leaving_customers())
    message = str(raised.value)
    assert message.startswith(f"{name} fit on 300 customers did not converge with penalizer 0")
    assert "--penalizer 0.001" in message and "\n" not in message
    assert isinstance(raised.value, WinbackError)  # the command line prints it in one line
    penalized = model_class(penalizer_coef=0.001).fit(never_leaving_customers())
    assert np.isfinite(penalized.params_).all()


def test_training_retries_once_with_a_penalizer_and_says_so(features, caplog):
    rfm = never_leaving_customers().assign(monetary_value=20.0)
    rfm.index = [f"c{i}" for i in range(len(rfm))]
    with caplog.at_level(logging.WARNING, logger=training_fit.__name__):
        fitted = training_fit.fit_btyd(rfm, "bgnbd")
    assert fitted.penalizer_coef == training_fit.RETRY_PENALIZER
    assert "refitted with penalizer_coef=0.001 (choose one with --penalizer)" in caplog.text
    assert "BG/NBD fit on 300 customers did not converge" in caplog.text


def test_a_chosen_penalizer_is_never_changed_silently(monkeypatch):
    def never_converges(*args, **kwargs):
        raise ConvergenceError("did not converge", detail="flat likelihood")

    monkeypatch.setattr("models.bgnbd.fit_beta_geo", never_converges)
    rfm = never_leaving_customers().assign(monetary_value=20.0)
    with pytest.raises(
        ConvergenceError, match=r"penalizer 0.01 \(flat likelihood\).*--penalizer 0.1"
    ):
        training_fit.fit_btyd(rfm, "bgnbd", penalizer_coef=0.01)
