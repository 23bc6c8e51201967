"""The lifetimes scripts a user would otherwise run: issue 18's whole-process references.

    python -m benchmarks.reference_pipelines features DATA AS_OF OUT
    python -m benchmarks.reference_pipelines score DATA AS_OF OUT

``features`` reads the Parquet file, runs ``summary_data_from_transaction_data`` and writes
the table: what ``winback features`` replaces. ``score`` also fits ``BetaGeoFitter`` and
``GammaGammaFitter`` and writes expected purchases over the horizon, P(alive) and CLV: what
``winback score`` replaces (ours scores with a trained champion and XGBoost on top, so it
does more per customer, but fits nothing). Both are timed as whole processes, start-up and
imports included, by :mod:`benchmarks.whole_process`; nothing here is winback code.
"""

from __future__ import annotations

import sys
import warnings

#: Days ahead for expected purchases, as ``winback score``'s default horizon.
HORIZON_DAYS = 90


def _summary(data: str, as_of: str):
    import pandas as pd
    from lifetimes.utils import summary_data_from_transaction_data

    transactions = pd.read_parquet(data)
    summary = summary_data_from_transaction_data(
        transactions,
        "customer_id",
        "timestamp",
        monetary_value_col="amount",
        observation_period_end=as_of,
        freq="D",
    )
    return summary.reset_index()


def features(data: str, as_of: str, out: str) -> None:
    """Read, summarise, write."""
    _summary(data, as_of).to_parquet(out)


def score(data: str, as_of: str, out: str) -> None:
    """Read, summarise, fit BG/NBD and Gamma-Gamma, score, write."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    table = _summary(data, as_of)
    bgnbd = BetaGeoFitter(penalizer_coef=0.0).fit(table["frequency"], table["recency"], table["T"])
    repeat = table[table["frequency"] > 0]
    gamma_gamma = GammaGammaFitter(penalizer_coef=0.0).fit(
        repeat["frequency"], repeat["monetary_value"]
    )
    args = (table["frequency"], table["recency"], table["T"])
    table["expected_purchases"] = bgnbd.conditional_expected_number_of_purchases_up_to_time(
        HORIZON_DAYS, *args
    )
    table["p_alive"] = bgnbd.conditional_probability_alive(*args)
    table["clv"] = gamma_gamma.customer_lifetime_value(
        bgnbd, *args, table["monetary_value"], time=HORIZON_DAYS / 30.0, freq="D"
    )
    table.to_parquet(out)


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")  # lifetimes warns about pandas 3 on import
    command, data, as_of, out = argv
    {"features": features, "score": score}[command](data, as_of, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
