"""The BTYD bundle: the scores the pipelines consume, and storage without pickle."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from features.datasets import load_cdnow_raw
from models import BetaGeoModel, BTYDModel, GammaGammaModel, ModifiedBetaGeoModel

AS_OF = pd.Timestamp("1998-06-30")
SCORE_COLUMNS = [
    "p_alive",
    "p_dormant",
    "expected_purchases",
    "expected_next_order_date",
    "predicted_spend",
    "clv",
]


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    """Full CDNOW per customer in days, as of its last day, indexed by customer_id."""
    from lifetimes.utils import summary_data_from_transaction_data

    return summary_data_from_transaction_data(
        load_cdnow_raw(),
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end=AS_OF,
    )


@pytest.fixture(scope="module")
def model(features: pd.DataFrame) -> BTYDModel:
    return BTYDModel(clv_months=6, margin=0.3, monthly_discount_rate=0.02).fit(features)


def test_predict_returns_the_scores_indexed_like_features(
    model: BTYDModel, features: pd.DataFrame
) -> None:
    scores = model.predict(features, AS_OF, horizon_days=60)
    assert list(scores.columns) == SCORE_COLUMNS
    pd.testing.assert_index_equal(scores.index, features.index)
    assert pd.api.types.is_datetime64_any_dtype(scores["expected_next_order_date"])
    probabilities = scores[["p_alive", "p_dormant"]].to_numpy()
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert scores.drop(columns="expected_next_order_date").notna().all().all()


def test_scores_are_the_component_models_closed_forms(
    model: BTYDModel, features: pd.DataFrame
) -> None:
    scores = model.predict(features, AS_OF, horizon_days=60)
    transactions, spend = model.transaction_model_, model.spend_model_
    history = [features[c] for c in ("frequency", "recency", "T")]
    x, m = features["frequency"], features["monetary_value"]
    pd.testing.assert_frame_equal(
        scores[["p_alive", "p_dormant", "expected_purchases"]],
        transactions.predict(features, horizon_days=60)[
            ["p_alive", "p_dormant", "expected_purchases"]
        ],
    )
    np.testing.assert_allclose(
        scores["predicted_spend"],
        scores["expected_purchases"] * spend.conditional_expected_average_profit(x, m),
    )
    np.testing.assert_allclose(
        scores["clv"],
        spend.customer_lifetime_value(
            transactions, *history, m, months=6, margin=0.3, monthly_discount_rate=0.02
        ),
    )


def test_next_order_date_is_the_first_day_the_median_is_reached(
    model: BTYDModel, features: pd.DataFrame
) -> None:
    """The median given a next purchase (models/test_next_order_date.py checks it against
    simulation): defined for every repeat buyer of CDNOW; the 51% one-time buyers have
    BG/NBD medians years away (undefined), where the unconditional median left 75% empty."""
    scores = model.predict(features, AS_OF)
    days = model.transaction_model_.median_days_to_next_purchase(
        *(features[c] for c in ("frequency", "recency", "T"))
    )
    dates = scores["expected_next_order_date"]
    np.testing.assert_array_equal(dates.isna(), np.isnan(days))
    offsets = (dates[~np.isnan(days)] - AS_OF).dt.days.to_numpy()
    np.testing.assert_array_equal(offsets, np.ceil(days[~np.isnan(days)]))
    assert dates[features["frequency"] > 0].notna().all()
    assert dates.notna().mean() > 0.45


@pytest.mark.parametrize(
    ("name", "model_class"), [("bgnbd", BetaGeoModel), ("mbgnbd", ModifiedBetaGeoModel)]
)
def test_fits_the_named_transaction_model_and_gamma_gamma(
    name: str, model_class: type, features: pd.DataFrame
) -> None:
    bundle = BTYDModel(transaction_model=name, penalizer_coef=0.001).fit(features)
    assert type(bundle.transaction_model_) is model_class
    pd.testing.assert_series_equal(
        bundle.transaction_model_.params_,
        model_class(penalizer_coef=0.001).fit(features).params_,
    )
    pd.testing.assert_series_equal(
        bundle.spend_model_.params_, GammaGammaModel(penalizer_coef=0.001).fit(features).params_
    )


def test_dict_round_trip_through_json_predicts_identically(
    model: BTYDModel, features: pd.DataFrame
) -> None:
    restored = BTYDModel.from_dict(json.loads(json.dumps(model.to_dict())))
    pd.testing.assert_frame_equal(restored.predict(features, AS_OF), model.predict(features, AS_OF))
    assert restored.clv_months == 6 and restored.margin == 0.3


def test_pickle_round_trip_predicts_identically(model: BTYDModel, features: pd.DataFrame) -> None:
    restored = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(restored.predict(features, AS_OF), model.predict(features, AS_OF))


def test_unknown_transaction_model_is_refused(features: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="transaction_model must be one of"):
        BTYDModel(transaction_model="pareto").fit(features)


def test_unfitted_bundle_is_refused(features: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="not fitted"):
        BTYDModel().predict(features, AS_OF)
    with pytest.raises(ValueError, match="not fitted"):
        BTYDModel().to_dict()


def test_missing_column_is_named(model: BTYDModel, features: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="'monetary_value'"):
        model.predict(features.drop(columns="monetary_value"), AS_OF)
