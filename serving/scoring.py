"""What the service computes, free of HTTP: snapshot lookups and on-the-fly scoring.

On-the-fly scoring runs the same chain as batch scoring: the data contract
(:func:`features.contract.load_transactions`), the feature SQL
(:func:`features.population.features_against_population`) and
:meth:`models.scorer.WinbackScorer.score_features`. A request holds a handful of customers,
not the population the snapshot was scored on, so the population-relative values (the
one-time buyers' gap, ABC, the advocate stage) are taken against the latest snapshot's
population, by the rules of :mod:`features.rules` that the feature SQL also applies. A
customer of the snapshot sent with the same transactions and the snapshot's as-of date
therefore gets exactly the scores of the batch run (tested). Without a snapshot the request
itself is the population.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract import load_transactions
from features.errors import WinbackError
from features.population import PopulationReference, features_against_population
from models.scorer import SCORE_COLUMNS, WinbackScorer
from pipelines.scoring.table import read_scores
from serving.ids import IdFormat
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
        # .get: snapshots scored before the interval columns existed lack them (None).
        **{name: plain.get(name) for name in SCORE_FIELDS},
        features=CustomerFeatures(**{name: plain[name] for name in FEATURE_FIELDS}),
    )


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
    scorer: WinbackScorer,
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
    loaded = load_transactions(frame, now=end_of_as_of, lines=scorer.feature_config.lines)
    # Postage and fee lines are not errors of the request: left out, as in batch scoring.
    broken = loaded.quarantine[loaded.quarantine["reason"] != "non_product_line"]
    if len(broken):
        raise RequestProblem(
            "some transactions break the data contract",
            [
                ProblemField(field=paths[int(row.source_row) - 1], reason=str(row.reason))
                for row in broken.itertuples()
            ],
        )
    features = features_against_population(
        loaded.transactions, as_of, scorer.feature_config, population
    )
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
    #: What the ids look like, for the hint to an unknown id (:mod:`serving.ids`).
    id_format: IdFormat

    @classmethod
    def load(cls, path: str | Path) -> Snapshot:
        """Read ``scores.parquet`` as written by ``winback score`` / ``winback demo``."""
        # Imported here: the column-by-column builder uses this module's field lists.
        from serving.snapshot_load import snapshot_scores

        table = read_scores(path)
        scores = table.scores
        scores["customer_id"] = scores["customer_id"].astype(str)
        by_id = snapshot_scores(scores, table.as_of)
        return cls(
            path=str(path),
            as_of=table.as_of,
            horizon_days=table.horizon_days,
            model_version=table.model_version,
            scores=scores,
            by_id=by_id,
            population=PopulationReference.from_features(scores),
            id_format=IdFormat.of(by_id),
        )
