"""Notes the data calls for: a figure that would puzzle a marketer gets its explanation.

Each function returns the HTML of one note, or ``""`` when the data shows nothing to explain,
so the page says "CRR can exceed 100%" only in a month where it does, and "almost everyone is
Z" only when one XYZ class holds most customers. Thresholds in the words come from the
configs (:class:`features.config.XyzRules`, :class:`features.config.AbcRules`), never
written twice.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from features.config import AbcRules, XyzRules
from pipelines.report.html import esc

#: An XYZ class holding more than this share of the customers gets a note saying why.
DOMINANT_XYZ_SHARE = 0.5

_XYZ_WORDS = {"X": "stable", "Y": "variable", "Z": "erratic"}


def crr_note(crr: pd.DataFrame, active_window_days: int) -> str:
    """Why CRR is above 100% in the months where it is (``""`` when it never is)."""
    if crr.empty:
        return ""
    above = crr[crr["crr"] > 100]
    if above.empty:
        return ""
    months = ", ".join(
        f"{row.month} ({row.crr:.1f}%: {int(row.returned):,} customers came back after more "
        f"than {active_window_days} days away, while "
        f"{int(row.S) - (int(row.E) - int(row.N) - int(row.returned)):,} of the "
        f"{int(row.S):,} at the start lapsed)"
        for row in above.itertuples(index=False)
    )
    return (
        f'<p class="note data-note" id="crr-above-100">CRR above 100% in {esc(months)}. '
        f"CRR = (E - N) / S counts who is on the books at the end of the month and was not "
        f"new; a lapsed customer (no purchase in the {active_window_days} days before the "
        "month) who buys again during it counts in E but was not in S. When more such "
        "customers come back than active customers lapse, E - N exceeds S: the base grew "
        "from returning customers, not an error. The <i>returned</i> column counts them.</p>"
    )


def _months_of_history(scores: pd.DataFrame, as_of: dt.date) -> np.ndarray:
    """Calendar months from the first purchase month to the as-of month, both counted."""
    first = pd.to_datetime(scores["first_purchase"])
    return ((as_of.year - first.dt.year) * 12 + (as_of.month - first.dt.month) + 1).to_numpy(float)


def xyz_note(scores: pd.DataFrame, rules: XyzRules, as_of: dt.date) -> str:
    """Why one XYZ class holds most customers, when one does (``""`` otherwise)."""
    counts = scores["xyz"].astype(str).value_counts()
    if counts.empty:
        return ""
    top, top_count = str(counts.index[0]), int(counts.iloc[0])
    share = top_count / len(scores)
    if share <= DOMINANT_XYZ_SHARE:
        return ""
    group = scores[scores["xyz"].astype(str) == top]
    months = _months_of_history(group, as_of)
    purchase_days = group["frequency"].to_numpy(float) + 1
    per_month = purchase_days / np.maximum(months, 1)
    short = int((months < rules.min_months).sum())
    needed_y = 1 / (1 + rules.y_max_cv**2)
    needed_x = 1 / (1 + rules.x_max_cv**2)
    words = (
        f"<b>{top}</b> ({_XYZ_WORDS.get(top, top)}) holds {share:.0%} of the customers "
        f"({top_count:,} of {len(scores):,}). Its median customer bought on "
        f"{np.median(purchase_days):.0f} day(s) over {np.median(months):.0f} months of "
        f"history ({np.median(per_month):.2f} purchase days a month). "
    )
    if top == "Z":
        words += (
            "With so few orders a month, most months have no spend at all, so monthly spend "
            "varies a lot: even with the same spend in every month bought, the coefficient "
            f"of variation stays within Y's {rules.y_max_cv:g} only for customers who buy in "
            f"at least {needed_y:.0%} of their months (X's {rules.x_max_cv:g}: "
            f"{needed_x:.0%}). "
        )
        if short:
            words += (
                f"{short:,} of them have under {rules.min_months} months of history and are "
                "Z by rule (regularity not yet shown). "
            )
        words += (
            "For an occasional-purchase shop this is expected: XYZ tells regular buyers "
            "apart, and here there are few; rely on ABC and the status instead."
        )
    return f'<p class="note data-note" id="xyz-dominant">{words}</p>'


def abc_xyz_rules_text(abc: AbcRules, xyz: XyzRules) -> str:
    """The ABC and XYZ rules in words, from the thresholds of ``configs/features.yaml``."""
    return (
        f"A: customers making the top {abc.a_share:.0%} of revenue, B the next "
        f"{abc.b_share - abc.a_share:.0%}, C the last {1 - abc.b_share:.0%}. X/Y/Z: "
        f"coefficient of variation of monthly spend since the first purchase: X up to "
        f"{xyz.x_max_cv:g} (stable), Y up to {xyz.y_max_cv:g} (variable), Z above (erratic), "
        f"or under {xyz.min_months} months of history (rules in configs/features.yaml)."
    )
