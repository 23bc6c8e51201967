"""What the service computes, free of HTTP: snapshot lookups and on-the-fly scoring.

On-the-fly scoring runs the same chain as batch scoring (the data contract, the feature SQL
of :mod:`features`, :meth:`models.scorer.WinbackScorer.score_features`). Three feature
values are relative to the *population* scored together, not to the customer alone:

* ``typical_gap_days`` of a one-time buyer is the median cycle of the population's
  repeat buyers;
* ``abc`` ranks the customer's spend against everyone else's;
* ``ladder_stage`` is ``advocate`` only for loyal customers in ABC class A.

A request holds a handful of customers, not the population the model was trained and the
snapshot was scored on, so these three values are taken against the latest snapshot's
population instead, as if the customer were one of its rows. A customer of the snapshot
sent with the same transactions and the snapshot's as-of date therefore gets exactly the
scores of the batch run (tested). Without a snapshot the request itself is the population.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.build import build_features
from features.config import FeatureConfig
from features.contract import load_transactions
from features.errors import WinbackError
from models.scorer import SCORE_COLUMNS
from serving.schemas import (
    MAX_TRANSACTIONS_PER_REQUEST,
    CustomerError,
    CustomerFeatures,
    CustomerRequest,
    CustomerScore,
    ProblemField,
)

FEATURE_FIELDS = tuple(CustomerFeatures.model_fields)
#: The scorer's score columns, without the two the response carries elsewhere.
SCORE_FIELDS = tuple(c for c in SCORE_COLUMNS if c not in ("customer_id", "model_version"))


class RequestProblem(WinbackError):
    """A request the service cannot process as sent: answered with 400 and field paths."""

    def __init__(self, message: str, errors: list[ProblemField]) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


# --------------------------------------------------------------------------- conversions
def plain_value(value: Any) -> Any:
    """NaN/NaT become None, numpy scalars Python ones, timestamps dates."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def score_from_row(row: dict[str, Any], source: str, as_of: dt.date) -> CustomerScore:
    """A :class:`CustomerScore` from one row of the scorer's output (or the snapshot)."""
    plain = {key: plain_value(value) for key, value in row.items()}
    return CustomerScore(
        customer_id=str(plain["customer_id"]),
        source=source,
        as_of=as_of,
        model_version=str(plain.get("model_version") or ""),
        **{name: plain[name] for name in SCORE_FIELDS},
        features=CustomerFeatures(**{name: plain[name] for name in FEATURE_FIELDS}),
    )


# --------------------------------------------------------------------------- population
@dataclass
class PopulationReference:
    """The snapshot's population, for the population-relative features of one customer.

    Spends are sorted as the feature SQL ranks them (``total_spend`` descending, then
    ``customer_id``); ``prefix[k]`` is the positive revenue of the first ``k`` customers.
    """

    one_time_buyer_gap_days: float | None
    negated_spend: np.ndarray
    customer_ids: list[str]
    prefix: np.ndarray
    position: dict[str, int]

    @classmethod
    def from_scores(cls, scores: pd.DataFrame) -> PopulationReference:
        one_time = scores.loc[scores["frequency"] == 0, "typical_gap_days"]
        ranked = scores.loc[:, ["customer_id", "total_spend"]].copy()
        ranked["customer_id"] = ranked["customer_id"].astype(str)
        ranked = ranked.sort_values(
            ["total_spend", "customer_id"], ascending=[False, True], kind="stable"
        )
        spend = ranked["total_spend"].to_numpy(dtype=float)
        ids = ranked["customer_id"].tolist()
        return cls(
            one_time_buyer_gap_days=float(one_time.iloc[0]) if len(one_time) else None,
            negated_spend=-spend,
            customer_ids=ids,
            prefix=np.concatenate([[0.0], np.cumsum(np.maximum(spend, 0.0))]),
            position={customer_id: k for k, customer_id in enumerate(ids)},
        )

    def abc_class(self, customer_id: str, total_spend: float, config: FeatureConfig) -> str:
        """ABC class of a customer with ``total_spend`` placed in the snapshot's population
        (replacing the snapshot's row of the same id), by the rule of ``features/sql.py``."""
        start = int(np.searchsorted(self.negated_spend, -total_spend, side="left"))
        end = int(np.searchsorted(self.negated_spend, -total_spend, side="right"))
        index = bisect.bisect_left(self.customer_ids, customer_id, start, end)
        before = float(self.prefix[index])
        total = float(self.prefix[-1])
        own = self.position.get(customer_id)
        if own is not None:
            own_revenue = float(self.prefix[own + 1] - self.prefix[own])
            total -= own_revenue
            if own < index:
                before -= own_revenue
        total += max(total_spend, 0.0)
        if total_spend <= 0 or total <= 0:
            return "C"
        if before / total < config.abc.a_share:
            return "A"
        if before / total < config.abc.b_share:
            return "B"
        return "C"


def _with_population(
    transactions: pd.DataFrame,
    as_of: dt.date,
    config: FeatureConfig,
    population: PopulationReference | None,
) -> pd.DataFrame:
    """The feature table of the request's customers, population-relative values taken
    against ``population`` (see the module docstring)."""
    if population is None:
        return build_features(transactions, as_of, config).features
    if population.one_time_buyer_gap_days is not None:
        # The SQL gives a one-time buyer the population's gap, falling back to this default
        # when the table has no repeat buyer: so one-time buyers are built on their own.
        config = replace(
            config,
            cadence=replace(
                config.cadence, default_typical_gap_days=population.one_time_buyer_gap_days
            ),
        )
    features = build_features(transactions, as_of, config).features
    one_time = features["frequency"] == 0
    if population.one_time_buyer_gap_days is not None and one_time.any() and not one_time.all():
        ids = set(features.loc[one_time, "customer_id"])
        alone = build_features(
            transactions[transactions["customer_id"].isin(ids)], as_of, config
        ).features
        features = pd.concat([features[~one_time], alone], ignore_index=True)
    features = features.copy()
    features["abc"] = [
        population.abc_class(customer_id, float(spend), config)
        for customer_id, spend in zip(features["customer_id"], features["total_spend"], strict=True)
    ]
    loyal = features["ladder_stage"].isin(["loyal", "advocate"])
    advocate = (
        loyal
        & (features["abc"] == config.ladder.advocate_abc)
        & features["status"].isin(["new", "active"])
    )
    features.loc[loyal, "ladder_stage"] = np.where(advocate[loyal], "advocate", "loyal")
    return features


# --------------------------------------------------------------------------- on the fly
def _check_request(
    customers: list[tuple[int, CustomerRequest]], as_of: dt.date
) -> list[ProblemField]:
    problems: list[ProblemField] = []
    total = sum(len(customer.transactions or ()) for _, customer in customers)
    if total > MAX_TRANSACTIONS_PER_REQUEST:
        problems.append(
            ProblemField(
                field="customers",
                reason=f"{total:,} transactions in one request; at most "
                f"{MAX_TRANSACTIONS_PER_REQUEST:,} (split the request)",
            )
        )
        return problems
    seen: dict[str, int] = {}
    for i, customer in customers:
        if customer.customer_id in seen:
            problems.append(
                ProblemField(
                    field=f"customers[{i}].customer_id",
                    reason=f"{customer.customer_id!r} is sent with transactions twice (also "
                    f"customers[{seen[customer.customer_id]}]); send each customer once",
                )
            )
        seen.setdefault(customer.customer_id, i)
        transactions = customer.transactions or []
        with_order = [t.order_id is not None for t in transactions]
        if any(with_order) and not all(with_order):
            j = with_order.index(False)
            problems.append(
                ProblemField(
                    field=f"customers[{i}].transactions[{j}].order_id",
                    reason="missing while other lines of this customer have one; give "
                    "order_id on every line of a customer or on none",
                )
            )
        for j, transaction in enumerate(transactions):
            if transaction.timestamp.date() > as_of:
                problems.append(
                    ProblemField(
                        field=f"customers[{i}].transactions[{j}].timestamp",
                        reason=f"{transaction.timestamp.isoformat()} is after as_of "
                        f"{as_of.isoformat()}; send only transactions up to as_of",
                    )
                )
    return problems


def _frame(customers: list[tuple[int, CustomerRequest]]) -> tuple[pd.DataFrame, list[str]]:
    """Contract rows for the request's transactions, and the field path of every row."""
    columns: dict[str, list[Any]] = {
        "customer_id": [],
        "timestamp": [],
        "amount": [],
        "order_id": [],
        "product": [],
        "quantity": [],
        "channel": [],
    }
    paths: list[str] = []
    for i, customer in customers:
        for j, transaction in enumerate(customer.transactions or []):
            columns["customer_id"].append(customer.customer_id)
            columns["timestamp"].append(transaction.timestamp)
            columns["amount"].append(transaction.amount)
            # Without order ids every line is an order. A per-line key keeps that count
            # when other customers of the request do send order ids.
            columns["order_id"].append(
                transaction.order_id if transaction.order_id is not None else f"line-{j}"
            )
            columns["product"].append(transaction.product)
            columns["quantity"].append(transaction.quantity)
            columns["channel"].append(transaction.channel)
            paths.append(f"customers[{i}].transactions[{j}]")
    frame = pd.DataFrame(columns)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[us]")
    frame["amount"] = frame["amount"].astype(float)
    frame["quantity"] = frame["quantity"].astype(float)
    sent_order_ids = any(
        t.order_id is not None for _, c in customers for t in (c.transactions or [])
    )
    optional = [name for name in ("product", "quantity", "channel") if frame[name].notna().any()]
    keep = ["customer_id", "timestamp", "amount"] + (["order_id"] if sent_order_ids else [])
    return frame.loc[:, keep + optional], paths


def score_transactions(
    scorer: Any,
    model_version: str,
    customers: list[tuple[int, CustomerRequest]],
    as_of: dt.date,
    population: PopulationReference | None,
) -> dict[int, CustomerScore | CustomerError]:
    """Score customers sent with their transactions; keys are positions in the request.

    Raises :class:`RequestProblem` (naming every offending field) when the transactions
    cannot be used as sent.
    """
    problems = _check_request(customers, as_of)
    if problems:
        raise RequestProblem("the transactions cannot be scored as sent", problems)
    frame, paths = _frame(customers)
    end_of_as_of = dt.datetime.combine(as_of, dt.time.max)
    loaded = load_transactions(frame, now=end_of_as_of)
    if len(loaded.quarantine):
        raise RequestProblem(
            "some transactions break the data contract",
            [
                ProblemField(field=paths[int(row.source_row) - 1], reason=str(row.reason))
                for row in loaded.quarantine.itertuples()
            ],
        )
    features = _with_population(loaded.transactions, as_of, scorer.feature_config, population)
    by_id: dict[str, dict[str, Any]] = {}
    if len(features):  # the models refuse an empty table (e.g. only returns were sent)
        scored = scorer.score_features(features, as_of, model_version=model_version)
        by_id = {str(row["customer_id"]): row for row in scored.to_dict("records")}
    results: dict[int, CustomerScore | CustomerError] = {}
    for i, customer in customers:
        row = by_id.get(customer.customer_id)
        if row is None:
            results[i] = CustomerError(
                customer_id=customer.customer_id,
                error="no_purchase",
                message=f"no purchase on or before as_of {as_of.isoformat()} (only returns, "
                "or nothing with a non-negative amount)",
            )
        else:
            results[i] = score_from_row(row, "transactions", as_of)
    return results


# --------------------------------------------------------------------------- snapshot
@dataclass
class Snapshot:
    """The latest scored snapshot, indexed by customer id for O(1) lookups."""

    path: str
    as_of: dt.date
    horizon_days: int | None
    model_version: str | None
    scores: pd.DataFrame
    by_id: dict[str, CustomerScore]
    population: PopulationReference

    @classmethod
    def load(cls, path: str | Path) -> Snapshot:
        """Read ``scores.parquet`` as written by ``winback score`` / ``winback demo``."""
        import pyarrow.parquet as pq

        from pipelines.scoring.table import read_scores

        table = read_scores(path)
        metadata = pq.read_schema(path).metadata or {}
        version = metadata.get(b"winback.model_version")
        scores = table.scores
        scores["customer_id"] = scores["customer_id"].astype(str)
        by_id = {
            str(row["customer_id"]): score_from_row(row, "snapshot", table.as_of)
            for row in scores.to_dict("records")
        }
        return cls(
            path=str(path),
            as_of=table.as_of,
            horizon_days=table.horizon_days,
            model_version=version.decode() if version else None,
            scores=scores,
            by_id=by_id,
            population=PopulationReference.from_scores(scores),
        )
