"""The simulator follows the BG/NBD + Gamma-Gamma process it claims to."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models import synthetic
from models.synthetic import generate_transactions

BGNBD = {"r": 0.5, "alpha": 300.0, "a": 0.8, "b": 2.5}
GG = {"p": 6.25, "q": 3.74, "v": 15.45}
START, END = pd.Timestamp("2020-01-01"), pd.Timestamp("2022-01-01")


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_transactions(
        40_000,
        BGNBD,
        GG,
        start=START,
        acquisition_days=365,
        observation_end=END,
        seed=7,
        return_truth=True,
    )


def test_columns_and_dtypes(simulated: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    transactions, _ = simulated
    assert list(transactions.columns) == ["customer_id", "timestamp", "amount"]
    assert pd.api.types.is_string_dtype(transactions["customer_id"])
    assert pd.api.types.is_datetime64_dtype(transactions["timestamp"])
    assert transactions["amount"].dtype == np.float64
    assert (transactions["amount"] > 0).all()
    assert (transactions["timestamp"] == transactions["timestamp"].dt.normalize()).all()


def test_sorted_by_customer_and_time_within_the_observation_window(
    simulated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    transactions, truth = simulated
    assert transactions["timestamp"].max() < END
    ordered = transactions.sort_values(["customer_id", "timestamp"], kind="stable")
    pd.testing.assert_frame_equal(transactions, ordered)
    first = transactions.groupby("customer_id")["timestamp"].min()
    pd.testing.assert_series_equal(first, truth["first_purchase"], check_names=False)
    assert first.min() >= START and first.max() < START + pd.Timedelta(days=365)
    np.testing.assert_array_equal(truth["T"], (END - truth["first_purchase"]).dt.days)


def test_latent_values_follow_their_population_distributions(
    simulated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, truth = simulated
    distributions = {
        "lambda": stats.gamma(BGNBD["r"], scale=1 / BGNBD["alpha"]),
        "p": stats.beta(BGNBD["a"], BGNBD["b"]),
        "nu": stats.gamma(GG["q"], scale=1 / GG["v"]),
    }
    for column, distribution in distributions.items():
        assert stats.kstest(truth[column], distribution.cdf).pvalue > 1e-3, column


def test_amounts_are_gamma_given_each_customers_nu(
    simulated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    transactions, truth = simulated
    scaled = transactions["amount"] * truth["nu"].reindex(transactions["customer_id"]).to_numpy()
    assert stats.kstest(scaled, stats.gamma(GG["p"]).cdf).pvalue > 1e-3


def test_repeat_purchases_match_bgnbd_distribution_of_counts(
    simulated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    """Mean count and share without repeat purchase match FHL (2005) eqs. (9) and (8)
    (lifetimes' implementations), averaged over the customers' ages."""
    from lifetimes import BetaGeoFitter

    transactions, truth = simulated
    repeats = transactions.groupby("customer_id").size().reindex(truth.index) - 1
    reference = BetaGeoFitter()
    reference.params_ = pd.Series(BGNBD)
    ages = truth["T"].to_numpy()
    expected_mean = reference.expected_number_of_purchases_up_to_time(ages).mean()
    expected_zero = np.mean(
        [reference.probability_of_n_purchases_up_to_time(age, 0) for age in ages[:2_000]]
    )
    n = len(repeats)
    assert repeats.mean() == pytest.approx(expected_mean, abs=4 * repeats.std() / np.sqrt(n))
    zero_share = (repeats.iloc[:2_000] == 0).mean()
    assert zero_share == pytest.approx(expected_zero, abs=4 * np.sqrt(0.25 / 2_000))


def test_dropouts_happen_at_the_last_purchase(
    simulated: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    transactions, truth = simulated
    np.testing.assert_array_equal(truth["alive_at_end"], truth["death_time"] > truth["T"])
    dead = truth[~truth["alive_at_end"]]
    assert len(dead) > 1_000
    last = transactions.groupby("customer_id")["timestamp"].max().reindex(dead.index)
    death_day = dead["first_purchase"] + pd.to_timedelta(np.floor(dead["death_time"]), unit="D")
    np.testing.assert_array_equal(last.to_numpy(), death_day.to_numpy())


def test_same_seed_same_data_other_seed_other_data() -> None:
    def draw(seed: int) -> pd.DataFrame:
        return generate_transactions(500, BGNBD, GG, seed=seed)

    pd.testing.assert_frame_equal(draw(3), draw(3))
    assert not draw(3).equals(draw(4))


def test_chunks_join_into_one_consistent_population(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "CHUNK_CUSTOMERS", 300)
    transactions, truth = generate_transactions(1_000, BGNBD, GG, return_truth=True, seed=1)
    assert truth.index.is_unique and len(truth) == 1_000
    assert list(truth.index[[0, -1]]) == ["000", "999"]
    assert set(transactions["customer_id"]) == set(truth.index)


def test_observation_end_inside_acquisition_period_is_refused() -> None:
    with pytest.raises(ValueError, match="observation_end"):
        generate_transactions(
            10, BGNBD, GG, start="2020-01-01", acquisition_days=365, observation_end="2020-06-01"
        )
