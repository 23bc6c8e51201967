"""The rows of a list: numbers from the contact options, words only for the rows read.

Why: writing each row's offer and reason is most of the cost of a list of thousands of
rows (CDNOW, 19,000 chosen customers: about two seconds), while a CRM reads ``POST /rank``
fifty rows a page. Every row's words depend on that row alone, so :func:`row_words`
writes them for any subset of rows; ``winback rank`` asks for all of them
(:func:`ranked_rows`), a page of ``POST /rank`` for its own (:mod:`serving.ranking`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.economics.list_context import context_columns
from pipelines.economics.options import order_value_of
from pipelines.economics.prepared import BudgetCut, PreparedPlan
from pipelines.economics.reasons import contact_by_dates, offer_text, reason_text

#: What :func:`reason_text` reads of a customer.
_REASON_COLUMNS = [
    "frequency",
    "typical_gap_days",
    "days_since_last",
    "overdue_cycles",
    "favorite_product",
]
#: What a row's words read of a customer (the contact-by date reads the first three).
_WORD_COLUMNS = [*_REASON_COLUMNS, "avg_order_value"]


def customer_columns(customers: pd.DataFrame, rows: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Some columns of some customers, numbered from 0: a page takes a few cells of a wide
    table rather than copying whole rows."""
    positions = [customers.columns.get_loc(name) for name in names]
    return customers.iloc[rows, positions].reset_index(drop=True)


def row_words(
    prepared: PreparedPlan, rows: np.ndarray, cols: np.ndarray
) -> tuple[pd.Series, list[str], list[str]]:
    """Contact-by date, offer text and reason of the chosen (customer row, channel) pairs."""
    options, config = prepared.options, prepared.config
    customers = customer_columns(options.customers, rows, _WORD_COLUMNS)
    contact_by = contact_by_dates(customers, prepared.as_of, config)
    offers = options.offer[rows, cols]
    channel_names = [options.channels[j] for j in cols]
    p_anyway = options.p_return_anyway[rows]
    p_contacted = options.p_return_if_contacted[rows, cols]
    value = options.value_if_returned[rows]
    order_value = order_value_of(customers)
    records = customers.loc[:, _REASON_COLUMNS].to_dict("records")
    dates = contact_by.to_numpy()
    offer_words = [
        offer_text(offers[k], records[k]["favorite_product"], dates[k], config)
        for k in range(len(rows))
    ]
    reasons = [
        reason_text(
            records[k],
            channel_names[k],
            offers[k],
            p_anyway[k],
            p_contacted[k],
            value[k],
            order_value[k],
            config,
        )
        for k in range(len(rows))
    ]
    return contact_by, offer_words, reasons


def ranked_rows(prepared: PreparedPlan, chosen: BudgetCut) -> pd.DataFrame:
    """One row per chosen customer with its group, best expected incremental value first."""
    options, config = prepared.options, prepared.config
    rows, cols = chosen.rows, chosen.cols
    customers = options.customers.iloc[rows].reset_index(drop=True)
    contact_by, offer_words, reasons = row_words(prepared, rows, cols)
    p_anyway = options.p_return_anyway[rows]
    p_contacted = options.p_return_if_contacted[rows, cols]
    result = pd.DataFrame(
        {
            "customer_id": customers["customer_id"].astype(str).to_numpy(),
            "status": customers["status"].astype(str).to_numpy(),
            "channel": [options.channels[j] for j in cols],
            "offer_name": options.offer[rows, cols],
            "offer": offer_words,
            "p_return_if_contacted": p_contacted,
            "p_return_anyway": p_anyway,
            "value_if_returned": options.value_if_returned[rows],
            "cost": options.cost[rows, cols],
            "expected_incremental_value": options.expected_incremental_value[rows, cols],
            "contact_by": contact_by.to_numpy(),
            "reason": reasons,
            "group": chosen.groups,
            **context_columns(customers, p_anyway, p_contacted, config),
        }
    )
    result.insert(0, "rank", np.arange(1, len(result) + 1, dtype="int64"))
    return result
