"""Decision monitoring: did the contacts do what the list predicted?

A list's own campaign log (``<list>.campaign.csv``) carries each chosen customer's
predicted uplift and expected incremental value, for the contacted and the control alike.
Because the control group was drawn at random *within* the chosen customers, the two
groups of any slice by predicted uplift are comparable, so after the campaign the realised
uplift of each decile of predicted uplift is treatment response minus control response, and
the list's realised value is its incremental spend times the margin less what the contacts
cost. A model whose deciles do not line up is not deciding right, whatever its AUC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipelines.economics.channels import ChannelConfig

#: Slices of predicted uplift (fewer when the log is small).
DECILES = 10
#: A slice needs this many customers in each group to show a realised uplift.
MIN_GROUP = 5


def uplift_by_decile(measured: pd.DataFrame) -> list[dict[str, Any]]:
    """Predicted vs realised uplift by decile of predicted uplift (1 = highest)."""
    if "predicted_uplift" not in measured or measured["predicted_uplift"].isna().all():
        return []
    frame = measured.dropna(subset=["predicted_uplift"])
    n_slices = int(min(DECILES, max(1, len(frame) // (4 * MIN_GROUP))))
    ranks = frame["predicted_uplift"].rank(method="first", ascending=False)
    frame = frame.assign(decile=np.ceil(ranks * n_slices / len(frame)).astype(int))
    rows = []
    for decile, part in frame.groupby("decile", sort=True):
        treated = part[part["group"] == "treatment"]
        control = part[part["group"] == "control"]
        measurable = len(treated) >= MIN_GROUP and len(control) >= MIN_GROUP
        rows.append(
            {
                "decile": int(decile),
                "n_treatment": len(treated),
                "n_control": len(control),
                "predicted_uplift": float(part["predicted_uplift"].mean()),
                "realised_uplift": (
                    float(treated["responded"].mean() - control["responded"].mean())
                    if measurable
                    else None
                ),
            }
        )
    return rows


def realised_value(measured: pd.DataFrame, config: ChannelConfig) -> dict[str, Any] | None:
    """The contacted customers' predicted incremental value against the realised one:
    (mean spend treated - mean spend control) x margin x contacts - contact costs."""
    treated = measured[measured["group"] == "treatment"]
    control = measured[measured["group"] == "control"]
    if "expected_incremental_value" not in measured or treated.empty or control.empty:
        return None
    costs = treated["channel"].map(
        {name: channel.cost for name, channel in config.channels.items()}
    )
    cost = float(costs.fillna(0.0).sum())
    incremental_spend = float(treated["spend"].mean() - control["spend"].mean()) * len(treated)
    realised = incremental_spend * float(config.margin) - cost
    predicted = float(treated["expected_incremental_value"].sum())
    return {
        "contacts": len(treated),
        "contact_cost": cost,
        "predicted_value": predicted,
        "realised_value": realised,
        "predicted_roi": predicted / cost if cost > 0 else None,
        "realised_roi": realised / cost if cost > 0 else None,
    }


def monitor_decisions(measured: pd.DataFrame, config: ChannelConfig) -> dict[str, Any]:
    """Both checks, JSON-ready; empty when the log carries no decision-time numbers."""
    return {
        "uplift_by_decile": uplift_by_decile(measured),
        "value": realised_value(measured, config),
    }


def monitoring_lines(monitoring: Mapping[str, Any], currency: str) -> list[str]:
    """The monitoring in words, for the console."""
    lines = []
    value = monitoring.get("value")
    if value:
        lines.append(
            f"predicted incremental value {currency}{value['predicted_value']:,.2f}, realised "
            f"{currency}{value['realised_value']:,.2f} on {value['contacts']:,} contacts "
            f"costing {currency}{value['contact_cost']:,.2f}"
        )
    for row in monitoring.get("uplift_by_decile", []):
        realised = row["realised_uplift"]
        lines.append(
            f"  decile {row['decile']}: predicted {row['predicted_uplift'] * 100:+.1f} pp, "
            + (
                f"realised {realised * 100:+.1f} pp"
                if realised is not None
                else "too few customers to measure"
            )
            + f" ({row['n_treatment']:,} treated, {row['n_control']:,} control)"
        )
    return lines
