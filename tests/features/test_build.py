"""Feature table: lifetimes-exact RFM, personal cadence, status and segments, no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import summary_data_from_transaction_data

from features.build import build_features
from features.config import FeatureConfig, StatusRules, load_feature_config
from features.sql import FEATURE_COLUMNS

#: The shipped rules (configs/features.yaml), loaded once as the CLI does.
RULES = load_feature_config()


def tx(rows: list[tuple]) -> pd.DataFrame:
    """Transactions from (customer_id, date, amount[, product]) tuples."""
    columns = ["customer_id", "timestamp", "amount", "product"][: len(rows[0])]
    frame = pd.DataFrame(rows, columns=columns)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


@pytest.mark.parametrize("as_of", ["1997-03-31", "1997-09-30", "1997-12-31", "1998-06-30"])
def test_rfm_equals_lifetimes_on_cdnow(cdnow_transactions, as_of):
    ours = build_features(cdnow_transactions, as_of, RULES).features.set_index("customer_id")
    reference = summary_data_from_transaction_data(
        cdnow_transactions,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end=as_of,
        freq="D",
    )
    assert len(ours) == len(reference)
    ours = ours.loc[reference.index]
    for column in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(ours[column].to_numpy(), reference[column].to_numpy())
    np.testing.assert_allclose(
        ours["monetary_value"], reference["monetary_value"], rtol=0, atol=1e-9
    )


def test_output_has_exactly_the_contract_columns(cdnow_transactions):
    features = build_features(cdnow_transactions, "1997-09-30", RULES).features
    assert tuple(features.columns) == FEATURE_COLUMNS
    assert features["customer_id"].is_unique


def test_no_feature_looks_past_the_as_of_date(cdnow_transactions):
    as_of = pd.Timestamp("1997-09-30")
    past = cdnow_transactions[cdnow_transactions["timestamp"] <= as_of]
    # The future is rewritten wholesale: other amounts, new customers, more purchases.
    future = cdnow_transactions[cdnow_transactions["timestamp"] > as_of].copy()
    future["amount"] = future["amount"] * 7 + 1
    newcomers = future.assign(customer_id="new-" + future["customer_id"])
    altered = pd.concat([past, future, newcomers, future], ignore_index=True)

    honest = build_features(past, as_of, RULES)
    leaky_input = build_features(altered, as_of, RULES)
    pd.testing.assert_frame_equal(honest.features, leaky_input.features)
    assert leaky_input.rows_after_as_of == 3 * len(future)
    assert honest.rows_after_as_of == 0


def test_cadence_counts_missed_cycles_of_the_customers_own_rhythm():
    rows = [("weekly", f"2024-01-{d:02d}", 10.0) for d in (1, 8, 15, 22)]  # gap 7
    rows += [("monthly", d, 50.0) for d in ("2023-10-01", "2023-11-01", "2023-12-01")]
    rows += [("once", "2023-06-01", 20.0)]
    features = build_features(tx(rows), "2024-02-05", RULES).features.set_index("customer_id")
    assert features.loc["weekly", "typical_gap_days"] == 7
    assert features.loc["weekly", "days_since_last"] == 14
    assert features.loc["weekly", "overdue_cycles"] == pytest.approx(2.0)
    assert features.loc["weekly", "status"] == "sleeping"
    assert features.loc["monthly", "typical_gap_days"] == pytest.approx(30.5)  # 31 and 30
    assert features.loc["monthly", "overdue_cycles"] == pytest.approx(66 / 30.5)
    assert features.loc["monthly", "status"] == "sleeping"
    # One-time buyers get the population median of repeaters' typical gaps.
    assert features.loc["once", "typical_gap_days"] == pytest.approx((7 + 30.5) / 2)


def test_status_thresholds_come_from_config():
    rows = [("c", "2024-01-01", 1.0), ("c", "2024-01-11", 1.0)]  # gap 10
    strict = FeatureConfig(status=StatusRules(at_risk_cycles=0.5, sleeping_cycles=1.0))
    as_of = "2024-01-26"  # 15 days since last = 1.5 cycles
    assert build_features(tx(rows), as_of, RULES).features["status"].item() == "at_risk"
    assert build_features(tx(rows), as_of, strict).features["status"].item() == "sleeping"


def test_new_active_and_lost_statuses():
    rows = [
        ("fresh", "2024-03-25", 5.0),  # first purchase 6 days ago
        ("steady", "2024-02-01", 5.0),
        ("steady", "2024-03-01", 5.0),
        ("steady", "2024-03-28", 5.0),
        ("gone", "2022-01-01", 5.0),
        ("gone", "2022-02-01", 5.0),
    ]
    features = build_features(tx(rows), "2024-03-31", RULES).features.set_index("customer_id")
    assert features["status"].to_dict() == {"fresh": "new", "gone": "lost", "steady": "active"}


def test_returns_net_against_spend_but_are_not_purchase_days():
    rows = [
        ("r", "2024-01-01", 100.0),
        ("r", "2024-01-01", -30.0),  # same-day return nets into the day's value
        ("r", "2024-01-10", 50.0),
        ("r", "2024-01-20", -20.0),  # return-only day: spend, not a purchase
    ]
    features = build_features(tx(rows), "2024-02-01", RULES).features.set_index("customer_id")
    assert features.loc["r", "frequency"] == 1
    assert features.loc["r", "recency"] == 9
    assert features.loc["r", "monetary_value"] == 50.0
    assert features.loc["r", "total_spend"] == 100.0
    assert features.loc["r", "n_orders"] == 2


def test_abc_follows_cumulative_revenue_share():
    spends = {"a1": 500.0, "a2": 300.0, "b1": 150.0, "c1": 30.0, "c2": 20.0}
    rows = [(c, "2024-01-01", s) for c, s in spends.items()]
    features = build_features(tx(rows), "2024-01-31", RULES).features.set_index("customer_id")
    # Shares before each customer: 0, .5, .8, .95, .98 of 1000.
    assert features["abc"].to_dict() == {"a1": "A", "a2": "A", "b1": "B", "c1": "C", "c2": "C"}


def test_abc_breaks_ties_of_equal_spend_by_customer_id():
    """Ten customers with the same spend (one item at a list price) straddle the A/B
    boundary: the ranking takes them in id order (bytes, so "b10" before "b2"), in the
    kernel's NumPy ranking and in the SQL window alike."""
    from features.build import build_features_in_sql

    ids = [f"b{k}" for k in range(1, 11)]
    # A float sum in another order must not move the ranking: 0.1 + 0.2 is not 0.3.
    rows = [(c, "2024-01-01", 0.1) for c in ids] + [(c, "2024-01-02", 0.2) for c in ids]
    rows += [(c, "2024-01-03", 30.0) for c in ids] + [("top", "2024-01-01", 70.0)]
    transactions = tx(rows).sample(frac=1.0, random_state=3, ignore_index=True)
    # 70 of 373 before the first tie, each tie adds 30.3: shares before b1, b10, b2, ...,
    # b7 are 0.188, 0.269, ..., 0.756 (A, under 0.8); b8 0.838 and b9 0.919 (B).
    ranked = sorted(ids)
    assert ranked == ["b1", "b10", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"]
    expected = {c: "A" for c in ["top", *ranked[:8]]} | {"b8": "B", "b9": "B"}
    for build in (build_features, build_features_in_sql):
        features = build(transactions, "2024-01-31", RULES).features.set_index("customer_id")
        assert features["abc"].to_dict() == expected, build.__name__


@pytest.mark.parametrize("ids_in_order", [True, False])
def test_abc_ranking_orders_by_spend_then_id_whatever_the_input_order(ids_in_order):
    """Sorted ids take a stable sort of the spend, others a two-key sort: same ranking."""
    import pyarrow as pa

    from features.rules import abc_ranking

    rng = np.random.default_rng(7)
    ids = np.array([f"c{k:03d}" for k in range(300)], dtype=object)
    spend = rng.choice([0.0, -0.0, -1e-9, 5.0, 9.99, 10.0, 10.0000001, 250.0], len(ids))
    if not ids_in_order:
        shuffle = rng.permutation(len(ids))
        ids, spend = ids[shuffle], spend[shuffle]
    ranked = ids[abc_ranking(spend, pa.array(ids.tolist()))].tolist()
    rounded = np.round(spend, 6) + 0.0  # -0.0 and 0.0 tie, as in SQL
    expected = sorted(ids.tolist(), key=lambda c: (-rounded[ids.tolist().index(c)], c))
    assert ranked == expected


@pytest.mark.parametrize("columns", ["plain", "with order ids and products"])
def test_the_table_comes_in_customer_id_order(columns):
    """Rows in byte order of the id, from the SQL alone and from the kernel: with the
    query's ORDER BY (order ids, products) and without it (a projection of the
    aggregates, which keeps their order)."""
    from feature_tables import order_line_export

    from features.build import build_features_in_sql

    if columns == "plain":
        rng = np.random.default_rng(5)
        ids = rng.choice([f"c{k}" for k in range(400)] + ["B7", "a", "Z", "é"], 3000)
        days = rng.integers(0, 300, len(ids))
        rows = [
            (c, str(pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(d))), 10.0)
            for c, d in zip(ids, days, strict=True)
        ]
        transactions, rules, as_of = tx(rows), RULES, "2023-12-31"
    else:
        (transactions, rules), as_of = order_line_export(300, 4, RULES), "2011-10-01"
    for build in (build_features, build_features_in_sql):
        ids = build(transactions, as_of, rules).features["customer_id"].tolist()
        assert ids == sorted(ids, key=lambda c: c.encode()), build.__name__


def test_in_customer_order_sorts_only_rows_out_of_order():
    import pyarrow as pa

    from features.build import in_customer_order

    ordered = pa.table({"customer_id": ["A", "a", "b10", "b2", "é"], "x": [1, 2, 3, 4, 5]})
    assert in_customer_order(ordered) is ordered
    shuffled = ordered.take([3, 0, 4, 2, 1])
    assert in_customer_order(shuffled).equals(ordered)
    assert in_customer_order(ordered.slice(0, 1)).equals(ordered.slice(0, 1))


def test_xyz_by_variation_of_monthly_spend():
    stable = [("x", f"2024-{m:02d}-15", 100.0) for m in range(1, 7)]
    wobbly = [
        ("y", f"2024-{m:02d}-15", a) for m, a in zip(range(1, 7), (50, 150) * 3, strict=False)
    ]
    lumpy = [("z", "2024-01-15", 600.0)]
    rows = stable + wobbly + lumpy + [("z", "2024-06-15", 1.0)]
    features = build_features(tx(rows), "2024-06-30", RULES).features.set_index("customer_id")
    assert features["xyz"].to_dict() == {"x": "X", "y": "X", "z": "Z"}
    rows = stable + [
        ("y", f"2024-{m:02d}-15", a) for m, a in zip(range(1, 7), (0.01, 200) * 3, strict=False)
    ]
    features = build_features(tx(rows), "2024-06-30", RULES).features.set_index("customer_id")
    assert features.loc["y", "xyz"] == "Y"  # cv = 1.0


def test_ladder_and_favourite_product():
    rows = [("fan", f"2024-{m:02d}-01", 10.0, "tea") for m in range(1, 9)]
    rows += [("fan", "2024-08-02", 99.0, "cup")]
    rows += [("two", "2024-07-01", 5.0, "cup"), ("two", "2024-08-01", 5.0, "cup")]
    rows += [("one", "2024-08-01", 1.0, None)]
    features = build_features(tx(rows), "2024-08-10", RULES).features.set_index("customer_id")
    assert features.loc["fan", "ladder_stage"] == "advocate"  # 9 days, 220 days, class A
    assert features.loc["two", "ladder_stage"] == "client"
    assert features.loc["one", "ladder_stage"] == "buyer"
    assert features.loc["fan", "favorite_product"] == "tea"
    assert features.loc["two", "favorite_product"] == "cup"
    assert features.loc["one", "favorite_product"] is None


def test_favourite_product_is_null_without_a_product_column(cdnow_transactions):
    features = build_features(cdnow_transactions, "1997-03-31", RULES).features
    assert features["favorite_product"].isna().all()


def test_row_and_customer_accounting_of_the_as_of_cut():
    """Rows after the cut are counted; customers with only returns in the window are too."""
    frame = tx(
        [
            ("buyer", "2024-01-02", 10.0),
            ("buyer", "2024-01-02", -4.0),  # a return on a purchase day
            ("refunded", "2024-01-03", -5.0),  # only returns on or before the cut
            ("refunded", "2024-01-20", 8.0),  # after the cut
            ("late", "2024-01-25", -2.0),  # only after the cut
        ]
    )
    table = build_features(frame, "2024-01-10", RULES)
    assert table.features["customer_id"].tolist() == ["buyer"]
    assert (table.rows_used, table.rows_after_as_of) == (3, 2)
    assert table.customers_without_purchase == 1
