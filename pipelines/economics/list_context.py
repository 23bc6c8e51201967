"""What a list row says beyond the decision: when and by what the list was made, who the
customer is, and which uplift group the decision put them in.

Why: a CRM imports the list as it is and a marketer filters it in a spreadsheet; both ask
"which list is this", "who is this customer" and "how risky" without joining the scores
file. The values are the scores' own (``abc``, ``ladder_stage``, ``last_purchase``,
``days_since_last``, ``clv``, ``favorite_product``), the churn-risk band of the channels
file (:meth:`pipelines.economics.channels.ChannelConfig.churn_risk`), and the uplift group
of :func:`models.uplift.classify_uplift_groups` on the decision's own numbers.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from pipelines.economics.channels import ChannelConfig


def list_id_for(seed: str) -> str:
    """The list's id, written in the list and in its campaign log: ``wb-`` and 12 hex digits."""
    return "wb-" + hashlib.blake2b(seed.encode(), digest_size=6).hexdigest()


def context_columns(
    customers: pd.DataFrame, p_anyway: np.ndarray, p_contacted: np.ndarray, config: ChannelConfig
) -> dict[str, Any]:
    """Who each listed customer is, and the uplift group the decision put them in."""
    from models.uplift import classify_uplift_groups

    def column(name: str) -> np.ndarray:
        if name not in customers:
            return np.full(len(customers), None, dtype=object)
        return customers[name].to_numpy()

    last = pd.to_datetime(pd.Series(column("last_purchase")), errors="coerce")
    return {
        "abc": column("abc"),
        "ladder_stage": column("ladder_stage"),
        "last_order_date": last.dt.strftime("%Y-%m-%d").to_numpy(dtype=object),
        "days_since_last_order": column("days_since_last"),
        "clv": pd.to_numeric(pd.Series(column("clv")), errors="coerce").round(2).to_numpy(),
        "favorite_product": column("favorite_product"),
        "churn_risk": config.churn_risk(customers["p_dormant"].to_numpy(float)),
        "uplift_group": classify_uplift_groups(p_anyway, p_contacted - p_anyway),
    }
