"""The control group of every list, and exploration of cells no campaign has measured.

A list that holds nobody out can never be measured: every list therefore splits its chosen
customers, within each channel x status cell, into

* ``control``: held out at random (``holdout_share``), not contacted, so that ``winback
  campaign import`` can compare the treated with them;
* ``treatment``: contacted. In a cell whose effect no campaign has measured (before the
  first campaign, every cell) only ``exploration_share`` of the chosen customers is
  contacted; the rest are ``deferred`` until the evidence is in.

The draw is one uniform number per customer, from a hash of the list's seed and the
customer id: re-running a list on the same scores gives the same groups, and a larger
budget keeps every smaller budget's groups (a customer's draw does not depend on who else
is chosen). :func:`cell_power` says, per cell, how large an effect its groups can show.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

GROUPS = ("treatment", "control", "deferred")
#: z for a two-sided 5% test plus z for 80% power: the usual minimal-detectable-effect rule.
_Z_ALPHA_POWER = 1.959964 + 0.841621


def list_seed(as_of: str, model_version: str | None, salt: str = "") -> str:
    """The seed of a list's draw: its as-of date, the scoring model version and a salt."""
    return f"{as_of}|{model_version or ''}|{salt}"


def uniform_draws(customer_ids: pd.Series, seed: str) -> np.ndarray:
    """One number in [0, 1) per customer, fixed by ``seed`` and the id."""
    values = []
    for customer_id in customer_ids.astype(str):
        digest = hashlib.blake2b(f"{seed}|{customer_id}".encode(), digest_size=8).digest()
        values.append(int.from_bytes(digest, "big") / 2.0**64)
    return np.array(values, dtype=float)


def assign_groups(
    draws: np.ndarray, measured: np.ndarray, holdout_share: float, exploration_share: float
) -> np.ndarray:
    """``control`` below ``holdout_share``; above it ``treatment`` in measured cells, and in
    unmeasured cells only the next ``exploration_share`` of the range (the rest
    ``deferred``)."""
    groups = np.full(len(draws), "treatment", dtype=object)
    groups[draws < holdout_share] = "control"
    explored = draws < holdout_share + exploration_share * (1.0 - holdout_share)
    groups[~measured & (draws >= holdout_share) & ~explored] = "deferred"
    return groups


def treatment_probability(
    measured: np.ndarray, holdout_share: float, exploration_share: float
) -> np.ndarray:
    """The chance that a chosen customer is contacted, by :func:`assign_groups`' rule."""
    contacted = 1.0 - holdout_share
    return np.where(measured, contacted, exploration_share * contacted)


def minimal_detectable_uplift(n_treatment: int, n_control: int, p: float) -> float:
    """The smallest difference in return rates the two groups can show (5% test, 80%
    power); infinite when a group is empty."""
    if n_treatment == 0 or n_control == 0:
        return math.inf
    p = min(max(p, 1e-6), 1 - 1e-6)
    return _Z_ALPHA_POWER * math.sqrt(p * (1 - p) * (1 / n_treatment + 1 / n_control))


def cell_power(chosen: pd.DataFrame) -> pd.DataFrame:
    """Per channel x status cell of the chosen customers: group sizes, the predicted uplift,
    the minimal detectable uplift and whether the cell can show its predicted effect.

    ``chosen`` has ``channel``, ``status``, ``group``, ``p_return_anyway`` and
    ``p_return_if_contacted``.
    """
    rows = []
    for (channel, status), cell in chosen.groupby(["channel", "status"], sort=True):
        n_t = int((cell["group"] == "treatment").sum())
        n_c = int((cell["group"] == "control").sum())
        uplift = float((cell["p_return_if_contacted"] - cell["p_return_anyway"]).mean())
        mde = minimal_detectable_uplift(n_t, n_c, float(cell["p_return_anyway"].mean()))
        rows.append(
            {
                "channel": channel,
                "status": status,
                "treatment": n_t,
                "control": n_c,
                "deferred": int((cell["group"] == "deferred").sum()),
                "predicted_uplift": uplift,
                "minimal_detectable_uplift": mde,
                "measurable": bool(mde <= abs(uplift)),
            }
        )
    columns = [
        "channel",
        "status",
        "treatment",
        "control",
        "deferred",
        "predicted_uplift",
        "minimal_detectable_uplift",
        "measurable",
    ]
    return pd.DataFrame(rows, columns=columns)
