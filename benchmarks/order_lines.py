"""Out-of-time quality on an order-line export: the champion against BG/NBD and the baselines.

    python -m benchmarks.order_lines                       # 5 seeds, 2,000 customers
    python -m benchmarks.order_lines --seeds 0,1 --order-line-features

CDNOW has no returns, products or baskets; real shops' exports do (issue 14). The real
export is held out, so this runs the out-of-time harness on
:mod:`models.synthetic_orders` exports, one per seed: contract with the cancellation
prefix ``C``, features and fits on the lines up to the cutoff, labels from the 90 days
after it. It prints, per seed and on average, dormancy AUC (XGBoost champion, BG/NBD,
MBG/NBD, days since last) and spend Gini (champion, BG/NBD, past spend), and the
champion's margins over max(BG/NBD, days since last) and over past spend.

``--order-line-features`` is an experiment, not a shipped feature: it adds lines per
order, items per order, return rate and the share of distinct products to the XGBoost
inputs by wrapping the feature builder *in this process only*, to measure whether they
would earn their place in the feature table.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from features.config import load_feature_config
from features.contract import load_transactions, parse_column_map
from models.synthetic_orders import EXPORT_COLUMN_MAP, generate_order_lines

ORDER_LINE_FEATURES = ("lines_per_order", "items_per_order", "return_rate", "distinct_share")


def order_line_stats(transactions: pd.DataFrame, as_of: object) -> pd.DataFrame:
    """Per customer, from lines on or before ``as_of``: the experiment's extra inputs."""
    past = transactions[transactions["timestamp"].dt.normalize() <= pd.Timestamp(str(as_of))]
    bought = past[past["amount"] >= 0].groupby("customer_id")
    orders = bought["order_id"].nunique()
    returned = -past[past["amount"] < 0].groupby("customer_id")["amount"].sum()
    gross = bought["amount"].sum()
    return pd.DataFrame(
        {
            "lines_per_order": bought.size() / orders,
            "items_per_order": bought["quantity"].sum() / orders,
            "return_rate": (returned.reindex(gross.index).fillna(0.0) / gross).fillna(0.0),
            "distinct_share": bought["product"].nunique() / bought.size(),
        }
    )


@contextmanager
def with_order_line_features() -> Iterator[None]:
    """Feature tables carry the extra columns and the design matrix passes them on."""
    import features.build
    import models.boosting
    import models.scorer
    import pipelines.training.evaluation as evaluation
    import pipelines.training.fit as fit

    build, design = features.build.build_features, models.boosting.design_matrix

    def build_with_lines(transactions, as_of, config, *args, **kwargs):
        table = build(transactions, as_of, config, *args, **kwargs)
        stats = order_line_stats(transactions, as_of).reindex(table.features["customer_id"])
        for column in ORDER_LINE_FEATURES:
            table.features[column] = stats[column].to_numpy()
        return table

    def design_with_lines(features, btyd):
        matrix = design(features, btyd)
        for column in ORDER_LINE_FEATURES:
            matrix[column] = features[column].astype(float).to_numpy()
        return matrix

    fit.build_features = evaluation.build_features = build_with_lines
    fit.design_matrix = models.scorer.design_matrix = design_with_lines
    try:
        yield
    finally:
        fit.build_features = evaluation.build_features = build
        fit.design_matrix = models.scorer.design_matrix = design


def measure(seed: int, n_customers: int, cutoff: str) -> dict[str, float]:
    """One export, one out-of-time evaluation: the metrics that decide shipping."""
    from pipelines.training.candidates import default_candidates
    from pipelines.training.evaluation import evaluate

    export, _ = generate_order_lines(n_customers, seed=seed)
    rules = load_feature_config()
    rules = dataclasses.replace(
        rules, lines=dataclasses.replace(rules.lines, cancellation_order_prefix="C")
    )
    loaded = load_transactions(
        export, column_map=parse_column_map(EXPORT_COLUMN_MAP), lines=rules.lines
    )
    candidates = default_candidates(("bgnbd", "mbgnbd", "xgboost"))
    rows = evaluate(loaded.transactions, cutoff, 90, candidates, config=rules).rows
    auc = {name: (row["dormancy"] or {}).get("auc") for name, row in rows.items()}
    gini = {name: (row["spend"] or {}).get("normalized_gini") for name, row in rows.items()}
    return {
        "auc_champion": auc["xgboost"],
        "auc_bgnbd": auc["bgnbd"],
        "auc_mbgnbd": auc["mbgnbd"],
        "auc_days_since_last": auc["days_since_last"],
        "gini_champion": gini["xgboost"],
        "gini_bgnbd": gini["bgnbd"],
        "gini_past_spend": gini["past_spend"],
        "auc_margin": auc["xgboost"] - max(auc["bgnbd"], auc["days_since_last"]),
        "gini_margin": gini["xgboost"] - gini["past_spend"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--cutoff", default="2011-09-08")
    parser.add_argument("--order-line-features", action="store_true")
    args = parser.parse_args()
    results = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        if args.order_line_features:
            with with_order_line_features():
                results[seed] = measure(seed, args.customers, args.cutoff)
        else:
            results[seed] = measure(seed, args.customers, args.cutoff)
    table = pd.DataFrame(results).T
    table.loc["mean"] = table.mean()
    table.loc["min"] = table.drop(index="mean").min()
    print(table.round(3).to_markdown() if _has_tabulate() else table.round(3).to_string())
    print(f"champion AUC margin >= 0.02 on every seed: {bool(np.all(table['auc_margin'] >= 0.02))}")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
