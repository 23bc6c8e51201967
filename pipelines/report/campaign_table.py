"""The campaign results table: one row for all channels, then one per channel, in words.

A cell whose treatment or control group is smaller than ``min_campaign_group_size``
(``configs/channels.yaml``) does not replace the prior in new rankings
(:meth:`pipelines.economics.channels.ChannelConfig.with_measured_response_rates`), and its
numbers are noise (one treated customer gives "-15% response rate"): the table shows its
group sizes and says it is ignored instead of printing those numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipelines.economics.money import money
from pipelines.report.html import esc

#: Columns whose numbers a too-small cell does not show.
_MEASURED_COLUMNS = (
    "response (treated)",
    "response (control)",
    "uplift",
    "95% CI (Newcombe)",
    "spend uplift per contact",
    "spend 95% CI",
    "measured response rate",
)


def is_too_small(record: Mapping[str, Any], min_group_size: int) -> bool:
    """Whether a campaign cell's smaller group is under the configured minimum."""
    smaller = min(int(record.get("n_treatment") or 0), int(record.get("n_control") or 0))
    return smaller < int(min_group_size)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{v:.1%}"


def _ci(v: Any, scale: float = 100.0, unit: str = " pp") -> str:
    if not v:
        return "-"
    return f"[{v[0] * scale:+.1f}, {v[1] * scale:+.1f}]{unit}"


def campaign_table(
    results: Mapping[str, Any], currency: str, min_group_size: int = 0
) -> pd.DataFrame:
    """One row for all channels, then one per channel, every number already in words; a
    row below ``min_group_size`` says ``ignored (n < ...)`` in place of its numbers."""
    rows = []
    for record in [
        dict(results.get("overall", {}), channel="all channels"),
        *results.get("by_channel", []),
    ]:
        row = {
            "channel": record.get("channel"),
            "treated": f"{record.get('n_treatment') or 0:,}",
            "control": f"{record.get('n_control') or 0:,}",
            "response (treated)": _pct(record.get("response_treatment")),
            "response (control)": _pct(record.get("response_control")),
            "uplift": "-" if record.get("uplift") is None else f"{record['uplift'] * 100:+.1f} pp",
            "95% CI (Newcombe)": _ci(record.get("uplift_ci")),
            "spend uplift per contact": money(record.get("spend_uplift"), currency),
            "spend 95% CI": _ci(record.get("spend_uplift_ci"), 1.0, "").replace("+", ""),
            "measured response rate": _pct(record.get("response_rate")),
        }
        if is_too_small(record, min_group_size):
            row.update(dict.fromkeys(_MEASURED_COLUMNS, f"ignored (n < {int(min_group_size)})"))
        rows.append(row)
    return pd.DataFrame(rows).set_index("channel")


def small_cells_note(results: Mapping[str, Any], min_group_size: int) -> str:
    """The note under the table: which cells are ignored and why (``""`` when none are)."""
    small = [
        str(record.get("channel"))
        for record in results.get("by_channel", [])
        if is_too_small(record, min_group_size)
    ]
    if not small:
        return ""
    names = ", ".join(small)
    return (
        f'<p class="note data-note" id="campaign-small-cells">Ignored: {esc(names)}. A cell '
        f"counts only when its treated and its control group both have at least "
        f"{int(min_group_size)} contacts (min_campaign_group_size in configs/channels.yaml); "
        "below that one or two customers decide its numbers, so they are not shown, are left "
        "out of the figure and do not replace the prior response rates.</p>"
    )
