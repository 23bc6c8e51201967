"""Features of a few customers as if they were rows of a reference population.

The service scores a handful of customers sent with their transactions, not the population
the model was trained and the snapshot was scored on. Three feature values are relative to
the population (see :mod:`features.rules`): the one-time buyers' gap, the ABC class, and
through it the advocate stage. :func:`features_against_population` takes them against the
snapshot's population instead, as if each customer were one of its rows (replacing the
row of the same id): the gap by handing the snapshot's value to the feature SQL, ABC and
the ladder by evaluating the rules of :mod:`features.rules` on the snapshot's revenue
ranking. A customer of the snapshot sent with the same transactions at the snapshot's
as-of date therefore gets exactly the snapshot's features (tested on CDNOW).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from features.build import build_features
from features.config import AbcRules, FeatureConfig
from features.rules import abc_class, abc_rank_spend, ladder_stage, ranked_revenue


@dataclass(frozen=True)
class PopulationReference:
    """A population's revenue ranking and one-time buyers' gap.

    Spends are sorted as the feature SQL ranks them (:func:`features.rules.abc_rank_spend`
    descending, then ``customer_id``; ``negated_spend`` holds the ranked values);
    ``prefix[k]`` is the positive revenue of the first ``k`` customers.
    """

    one_time_buyer_gap_days: float | None
    negated_spend: np.ndarray
    customer_ids: list[str]
    prefix: np.ndarray
    position: dict[str, int]

    @classmethod
    def from_features(cls, table: pd.DataFrame) -> PopulationReference:
        """From a feature table, or a scores table (which holds the feature columns)."""
        one_time = table.loc[table["frequency"] == 0, "typical_gap_days"]
        all_ids = pa.array(table["customer_id"].astype(str), pa.string())
        all_spend = table["total_spend"].to_numpy(dtype=float)
        order, prefix = ranked_revenue(all_spend, all_ids)
        ids = all_ids.take(pa.array(order)).to_pylist()
        return cls(
            one_time_buyer_gap_days=float(one_time.iloc[0]) if len(one_time) else None,
            negated_spend=-abc_rank_spend(all_spend[order]),
            customer_ids=ids,
            prefix=prefix,
            position={customer_id: k for k, customer_id in enumerate(ids)},
        )

    def revenue_ranking(
        self, customer_ids: Iterable[str], total_spend: Iterable[float]
    ) -> dict[str, np.ndarray]:
        """The inputs of :func:`features.rules.abc_class` for each customer placed in this
        population with its ``total_spend`` (replacing its own row, if it has one)."""
        spends = np.asarray(list(total_spend), dtype=float)
        before, total = np.empty(len(spends)), np.empty(len(spends))
        for k, (customer_id, spend) in enumerate(zip(customer_ids, spends, strict=True)):
            before[k], total[k] = self._revenue_before_and_total(str(customer_id), float(spend))
        return {"total_spend": spends, "revenue_before": before, "revenue_total": total}

    def abc_classes(
        self, customer_ids: Iterable[str], total_spend: Iterable[float], rules: AbcRules
    ) -> np.ndarray:
        """ABC class of each customer placed in this population."""
        return abc_class(rules).evaluate(self.revenue_ranking(customer_ids, total_spend))

    def _revenue_before_and_total(self, customer_id: str, spend: float) -> tuple[float, float]:
        rank_spend = -float(abc_rank_spend(spend))
        start = int(np.searchsorted(self.negated_spend, rank_spend, side="left"))
        end = int(np.searchsorted(self.negated_spend, rank_spend, side="right"))
        index = bisect.bisect_left(self.customer_ids, customer_id, start, end)
        before = float(self.prefix[index])
        total = float(self.prefix[-1])
        own = self.position.get(customer_id)
        if own is not None:
            own_revenue = float(self.prefix[own + 1] - self.prefix[own])
            total -= own_revenue
            if own < index:
                before -= own_revenue
        return before, total + max(spend, 0.0)


def features_against_population(
    transactions: pd.DataFrame,
    as_of: dt.date,
    config: FeatureConfig,
    population: PopulationReference | None,
) -> pd.DataFrame:
    """The feature table of the customers in ``transactions``, population-relative values
    taken against ``population`` (see the module docstring); without one, the customers
    themselves are the population, as in batch."""
    gap = population.one_time_buyer_gap_days if population is not None else None
    features = build_features(transactions, as_of, config, population_gap_days=gap).features
    if population is None or features.empty:
        return features
    abc = population.abc_classes(features["customer_id"], features["total_spend"], config.abc)
    ladder = ladder_stage(config.ladder).evaluate(
        {
            "purchase_days": features["frequency"].to_numpy() + 1,
            "T": features["T"].to_numpy(),
            "abc": abc,
            "status": features["status"].to_numpy(),
        }
    )
    # Object columns, as the feature table's text columns are (not pandas' string dtype).
    return features.assign(
        abc=pd.Series(abc, index=features.index, dtype=object),
        ladder_stage=pd.Series(ladder, index=features.index, dtype=object),
    )
