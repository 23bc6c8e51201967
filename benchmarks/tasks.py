"""The measured steps. Each runs in its own subprocess (:mod:`benchmarks.worker`).

Every task reads its input from a file (outside the measured call), measures only the call
under test, writes what the run needs for its equality checks to Parquet, and returns a
JSON-able dict: ``seconds`` (best of ``repeat``), ``all_seconds``, ``rss_before_mb``,
``peak_rss_mb`` and task-specific figures.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.measure import best_of, measured

# (e) lives in its own module; the worker finds every task here, by name.
from benchmarks.startup import cli_startup, load_ours  # noqa: F401
from benchmarks.whole_process import whole_features, whole_score  # noqa: F401

RFM_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value"]


def _load_transactions(path: str) -> tuple[pd.DataFrame, float]:
    started = time.perf_counter()
    transactions = pd.read_parquet(path)
    return transactions, time.perf_counter() - started


def _write(frame: pd.DataFrame, path: str) -> None:
    frame.to_parquet(path, index=False)


# --- (a) feature table ---------------------------------------------------------------


def features_duckdb(
    data: str,
    as_of: str,
    out_rfm: str,
    out_full: str,
    repeat: int,
    memory_limit: str | None = None,
) -> dict:
    """winback's feature table (all 18 columns) with DuckDB on the in-memory DataFrame.

    ``memory_limit`` is the product's DuckDB memory cap (``WINBACK_DUCKDB_MEMORY_LIMIT``).
    """
    from features.build import build_features
    from features.config import load_feature_config

    transactions, load_seconds = _load_transactions(data)
    rules = load_feature_config()
    table, stats = best_of(
        repeat, lambda: build_features(transactions, as_of, rules, memory_limit=memory_limit)
    )
    _write(table.features.loc[:, RFM_COLUMNS], out_rfm)
    _write(table.features, out_full)
    return {
        **stats,
        "load_seconds": load_seconds,
        "customers": len(table.features),
        "memory_limit": memory_limit,
    }


def summary_ours(data: str, as_of: str, out_rfm: str, repeat: int) -> dict:
    """winback's drop-in for lifetimes' summary (:mod:`features.summary`), same arguments."""
    from features.summary import summary_data_from_transaction_data

    return _time_summary(summary_data_from_transaction_data, data, as_of, out_rfm, repeat)


def rfm_lifetimes(data: str, as_of: str, out_rfm: str, repeat: int) -> dict:
    """The reference: ``lifetimes.utils.summary_data_from_transaction_data`` (daily)."""
    from lifetimes.utils import summary_data_from_transaction_data

    return _time_summary(summary_data_from_transaction_data, data, as_of, out_rfm, repeat)


def _time_summary(summary_function: Any, data: str, as_of: str, out_rfm: str, repeat: int) -> dict:
    """Time a ``summary_data_from_transaction_data`` (ours or lifetimes', same signature)."""
    transactions, load_seconds = _load_transactions(data)

    def run() -> pd.DataFrame:
        return summary_function(
            transactions,
            "customer_id",
            "timestamp",
            monetary_value_col="amount",
            observation_period_end=as_of,
            freq="D",
        )

    summary, stats = best_of(repeat, run)
    _write(summary.reset_index().loc[:, RFM_COLUMNS], out_rfm)
    return {**stats, "load_seconds": load_seconds, "customers": len(summary)}


def day_groupby_floor(data: str, as_of: str, repeat: int) -> dict:
    """The one pass every exact summary needs: DuckDB's GROUP BY (customer, day), alone.

    Counting purchase days exactly needs the distinct (customer, day) pairs of all rows;
    this times only that aggregate (result fetched, so nothing is optimised away). lifetimes'
    time divided by it bounds the speed-up any exact DuckDB summary reaches on this machine.
    """
    from features.duckdb_engine import connect

    transactions, load_seconds = _load_transactions(data)
    sql = f"""SELECT customer_id, CAST(timestamp AS DATE) AS day, SUM(amount) AS day_amount
              FROM tx WHERE CAST(timestamp AS DATE) <= DATE '{as_of}' GROUP BY ALL"""

    def run() -> int:
        con = connect()
        try:
            con.register("tx", transactions)
            return con.sql(sql).to_arrow_table().num_rows
        finally:
            con.close()

    pairs, stats = best_of(repeat, run)
    return {**stats, "load_seconds": load_seconds, "customer_days": pairs}


# --- (b) fitting -----------------------------------------------------------------------


def _rfm_frame(rfm: str) -> pd.DataFrame:
    return pd.read_parquet(rfm, columns=["frequency", "recency", "T", "monetary_value"])


def _repeat_buyers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[(frame["frequency"] > 0) & (frame["monetary_value"] > 0)]


def fit_ours(rfm: str, repeat: int) -> dict:
    """winback's estimators with the fast fitter (unique patterns, analytic gradients)."""
    from models.bgnbd import BetaGeoModel
    from models.gamma_gamma import GammaGammaModel

    frame = _rfm_frame(rfm)
    bg, bg_stats = best_of(repeat, lambda: BetaGeoModel(fitter="fast").fit(frame))
    gg, gg_stats = best_of(repeat, lambda: GammaGammaModel(fitter="fast").fit(frame))
    patterns = frame[["frequency", "recency", "T"]].drop_duplicates()
    return {
        "bgnbd": {**bg_stats, "params": bg.params_.to_dict()},
        "gamma_gamma": {**gg_stats, "params": gg.params_.to_dict()},
        "customers": len(frame),
        "repeat_customers": len(_repeat_buyers(frame)),
        "unique_patterns": len(patterns),
    }


def fit_lifetimes(rfm: str, repeat: int) -> dict:
    """The reference: lifetimes' ``BetaGeoFitter`` and ``GammaGammaFitter``, called directly."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    frame = _rfm_frame(rfm)
    repeaters = _repeat_buyers(frame)

    def fit_bg() -> dict[str, float]:
        fitter = BetaGeoFitter(penalizer_coef=0.0)
        fitter.fit(frame["frequency"], frame["recency"], frame["T"])
        return {k: float(v) for k, v in fitter.params_.items()}

    def fit_gg() -> dict[str, float]:
        fitter = GammaGammaFitter(penalizer_coef=0.0)
        fitter.fit(repeaters["frequency"], repeaters["monetary_value"])
        return {k: float(v) for k, v in fitter.params_.items()}

    bg, bg_stats = best_of(repeat, fit_bg)
    gg, gg_stats = best_of(repeat, fit_gg)
    return {
        "bgnbd": {**bg_stats, "params": bg},
        "gamma_gamma": {**gg_stats, "params": gg},
        "customers": len(frame),
    }


# --- (c) scoring -----------------------------------------------------------------------

#: The quantities both implementations compute, compared customer by customer.
COMPARED_SCORES = ("p_alive", "expected_purchases", "predicted_spend", "clv")


def _btyd_model(bgnbd_params: dict, gg_params: dict, n_customers: int):
    """A fitted ``BTYDModel`` from known parameters (no refit: scoring is measured alone)."""
    from models.btyd import BTYDModel

    def state(params: dict) -> dict:
        return {
            "params": params,
            "covariance": np.zeros((len(params), len(params))).tolist(),
            "n_customers": n_customers,
        }

    return BTYDModel.from_dict(
        {
            "transaction_model": "bgnbd",
            "penalizer_coef": 0.0,
            "clv_months": 12,
            "margin": 1.0,
            "monthly_discount_rate": 0.01,
            "transaction_model_state": state(bgnbd_params),
            "spend_model_state": state(gg_params),
        }
    )


def _lifetimes_scores(
    frame: pd.DataFrame, bgnbd_params: dict, gg_params: dict, horizon_days: int
) -> pd.DataFrame:
    """The same quantities with lifetimes' fitters' methods (the reference)."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    bg, gg = BetaGeoFitter(), GammaGammaFitter()
    bg.params_ = pd.Series(bgnbd_params)[["r", "alpha", "a", "b"]]
    bg.predict = bg.conditional_expected_number_of_purchases_up_to_time  # as fit() sets it
    gg.params_ = pd.Series(gg_params)[["p", "q", "v"]]
    x, t_x, T, m = (frame[c] for c in ("frequency", "recency", "T", "monetary_value"))
    expected = bg.conditional_expected_number_of_purchases_up_to_time(horizon_days, x, t_x, T)
    profit = gg.conditional_expected_average_profit(x, m)
    clv = gg.customer_lifetime_value(bg, x, t_x, T, m, time=12, discount_rate=0.01, freq="D")
    return pd.DataFrame(
        {
            "p_alive": bg.conditional_probability_alive(x, t_x, T),
            "expected_purchases": expected,
            "predicted_spend": expected * profit,
            "clv": clv,
        }
    )


def score_closed_forms(
    rfm: str, as_of: str, bgnbd_params: dict, gg_params: dict, horizon_days: int, repeat: int
) -> dict:
    """Batch scoring with the closed forms: ``BTYDModel.predict`` vs lifetimes' methods.

    Ours computes seven outputs per customer (P(alive), P(no purchase in the horizon),
    expected purchases, next-order date, predicted spend, 12-month CLV); lifetimes is asked
    only for the four it has (P(alive), expected purchases, spend, CLV).
    """
    frame = _rfm_frame(rfm)
    model = _btyd_model(bgnbd_params, gg_params, len(frame))
    as_of_ts = pd.Timestamp(as_of)
    ours, ours_stats = best_of(repeat, lambda: model.predict(frame, as_of_ts, horizon_days))
    reference, ref_stats = best_of(
        repeat, lambda: _lifetimes_scores(frame, bgnbd_params, gg_params, horizon_days)
    )
    differences = {}
    for column in COMPARED_SCORES:
        a, b = ours[column].to_numpy(float), reference[column].to_numpy(float)
        differences[column] = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
    n = len(frame)
    return {
        "customers": n,
        "outputs_ours": [c for c in ours.columns],
        "outputs_lifetimes": list(reference.columns),
        "ours": {**ours_stats, "per_second": n / ours_stats["seconds"]},
        "lifetimes": {**ref_stats, "per_second": n / ref_stats["seconds"]},
        "max_relative_difference": differences,
    }


def score_xgboost(features: str, repeat: int, n_trees: int = 100, train_rows: int = 50_000) -> dict:
    """XGBoost batch scoring: ``inplace_predict`` vs ``predict(DMatrix(...))``."""
    import xgboost as xgb

    from features.table import FLOAT_COLUMNS, INTEGER_COLUMNS

    columns = list(INTEGER_COLUMNS + FLOAT_COLUMNS)  # every numeric feature column
    frame = pd.read_parquet(features, columns=columns + ["status"])
    X = frame[columns].to_numpy(np.float64)
    y = frame["status"].isin(["sleeping", "lost"]).to_numpy(np.float64)
    rng = np.random.default_rng(0)
    train = rng.choice(len(X), size=min(train_rows, len(X)), replace=False)
    with measured() as training:
        booster = xgb.train(
            {"objective": "binary:logistic", "max_depth": 6, "eta": 0.1, "tree_method": "hist"},
            xgb.DMatrix(X[train], label=y[train]),
            num_boost_round=n_trees,
        )
    inplace, inplace_stats = best_of(repeat, lambda: booster.inplace_predict(X))
    dmatrix, dmatrix_stats = best_of(repeat, lambda: booster.predict(xgb.DMatrix(X)))
    n = len(X)
    return {
        "rows": n,
        "features": len(columns),
        "trees": n_trees,
        "max_depth": 6,
        "train_rows": len(train),
        "train_seconds": training.seconds,
        "inplace_predict": {**inplace_stats, "per_second": n / inplace_stats["seconds"]},
        "dmatrix_predict": {**dmatrix_stats, "per_second": n / dmatrix_stats["seconds"]},
        "max_abs_difference": float(np.max(np.abs(inplace - dmatrix))),
    }


# --- (d) Spark -------------------------------------------------------------------------


def features_spark(data: str, as_of: str, out_full: str, master: str, repeat: int) -> dict:
    """The same feature SQL on PySpark (local mode here), reading the Parquet file."""
    from features.config import load_feature_config
    from features.spark import build_features_spark, get_spark

    rules = load_feature_config()
    with measured(include_children=True) as session:
        get_spark(master)
    runs: list[tuple[float, float]] = []
    table: Any = None
    rss_before, peak = None, 0.0
    for _ in range(repeat):
        with measured(include_children=True) as run:
            table = build_features_spark(data, as_of, rules, master=master)
        runs.append((run.seconds, run.cpu_seconds))
        rss_before = rss_before or run.rss_before_mb
        peak = max(peak, run.peak_rss_mb)
    _write(table.features, out_full)
    best = min(runs)
    return {
        "seconds": best[0],
        "cpu_seconds": best[1],
        "all_seconds": [wall for wall, _ in runs],
        "first_run_seconds": runs[0][0],
        "session_start_seconds": session.seconds,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak,
        "master": master,
        "customers": len(table.features),
    }
