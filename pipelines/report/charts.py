"""The report's figures: matplotlib drawings embedded in the page as base64 PNG.

matplotlib's Agg backend draws without a display, so ``winback report`` runs on a server
and in CI; the figures are inline ``<img>`` tags, so the page needs no second file. Each
function takes the DataFrame a measure of :mod:`pipelines.report.tables` returns and gives
the ``<img>`` tag.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipelines.economics.money import money
from pipelines.report.html import esc

_LADDER_COLOURS = ["#cfd8dc", "#90a4ae", "#5c6bc0", "#3949ab", "#1a237e"]
_ACCENT = "#3949ab"


def _figure(width: float = 6.4, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 10,
            "axes.titleweight": "bold",
            "axes.grid": True,
            "grid.alpha": 0.25,
        }
    )
    return plt.subplots(figsize=(width, height), dpi=110)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _mpl(text: str) -> str:
    """Text for matplotlib: a dollar sign would otherwise start mathtext."""
    return text.replace("$", r"\$")


def _img(data: str, alt: str) -> str:
    return f'<img class="figure" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def figure_status_ladder(table: pd.DataFrame) -> str:
    fig, ax = _figure()
    bottom = np.zeros(len(table))
    for colour, stage in zip(_LADDER_COLOURS, table.columns, strict=False):
        ax.bar(table.index, table[stage], bottom=bottom, label=stage, color=colour)
        bottom += table[stage].to_numpy()
    for x, total in enumerate(bottom):
        ax.text(x, total, f"{int(total):,}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("customers")
    ax.set_title("Customers by status and loyalty-ladder stage")
    ax.legend(title="ladder", fontsize=8, frameon=False)
    ax.grid(axis="x", visible=False)
    return _img(_png(fig), "customers by status and ladder stage")


def figure_cadence(scores: pd.DataFrame) -> str:
    repeat = scores.loc[scores["frequency"] > 0, "typical_gap_days"].to_numpy(float)
    fig, ax = _figure()
    if len(repeat):
        upper = float(np.quantile(repeat, 0.98))
        ax.hist(np.minimum(repeat, upper), bins=40, color=_ACCENT, alpha=0.85)
        median = float(np.median(repeat))
        ax.axvline(median, color="#ef6c00", linestyle="--")
        ax.text(median, ax.get_ylim()[1] * 0.92, f"  median {median:.0f} days", color="#ef6c00")
    ax.set_xlabel("typical days between purchases (repeat customers; top 2% folded in)")
    ax.set_ylabel("customers")
    ax.set_title("Cadence: each customer's own purchase rhythm")
    return _img(_png(fig), "cadence distribution")


def figure_abc_xyz(counts: pd.DataFrame, shares: pd.DataFrame) -> str:
    fig, ax = _figure(4.6, 3.4)
    ax.imshow(counts.to_numpy(), cmap="Blues")
    ax.grid(False)
    ax.set_xticks(range(3), [f"{c}" for c in counts.columns])
    ax.set_yticks(range(3), [f"{r}" for r in counts.index])
    ax.set_xlabel("XYZ: regularity (X stable, Z erratic)")
    ax.set_ylabel("ABC: revenue class")
    peak = counts.to_numpy().max() or 1
    for i in range(3):
        for j in range(3):
            value = counts.iloc[i, j]
            ax.text(
                j,
                i,
                f"{value:,}\n{shares.iloc[i, j]:.0%} rev.",
                ha="center",
                va="center",
                color="white" if value > peak * 0.55 else "black",
                fontsize=8,
            )
    ax.set_title("ABC-XYZ: customers and share of revenue")
    return _img(_png(fig), "ABC-XYZ matrix")


def figure_crr(crr: pd.DataFrame) -> str:
    fig, ax = _figure()
    ax.plot(crr["month"], crr["crr"], marker="o", color=_ACCENT)
    ax.set_ylim(0, max(105.0, float(np.nanmax(crr["crr"])) + 5 if len(crr) else 105.0))
    ax.set_ylabel("CRR, %")
    ax.set_title("Customer retention rate by month: (E - N) / S x 100")
    ax.tick_params(axis="x", rotation=60)
    return _img(_png(fig), "CRR by month")


def figure_ltv(ltv: pd.DataFrame, currency: str) -> str:
    fig, ax = _figure()
    x = np.arange(len(ltv))
    has_model = "model_clv" in ltv
    width = 0.4 if has_model else 0.6
    ax.bar(
        x - (width / 2 if has_model else 0),
        ltv["ltv"],
        width,
        color=_ACCENT,
        label="field formula (margin)",
    )
    if has_model:
        ax.bar(x + width / 2, ltv["model_clv"], width, color="#ef6c00", label="model CLV")
    ax.set_xticks(x, ltv.index)
    ax.set_ylabel(_mpl(currency))
    ax.set_title("Lifetime value by loyalty-ladder stage")
    ax.legend(frameon=False)
    ax.grid(axis="x", visible=False)
    return _img(_png(fig), "LTV by segment")


def figure_budget_curve(curve: pd.DataFrame, spent: float, value: float, currency: str) -> str:
    fig, ax = _figure(7.2, 3.4)
    step = max(1, len(curve) // 2000)
    sampled = pd.concat([curve.iloc[::step], curve.iloc[[-1]]])
    ax.plot(sampled["budget"], sampled["expected_value"], color=_ACCENT)
    saturation = float(curve["budget"].iloc[-1])
    top = float(curve["expected_value"].iloc[-1])
    if top > 0:
        ninety = curve[curve["expected_value"] >= 0.9 * top].iloc[0]
        ax.axvline(ninety["budget"], color="#2e7d32", linestyle=":")
        ax.text(
            ninety["budget"],
            top * 0.05,
            _mpl(f" 90% of the value\n at {money(ninety['budget'], currency, 0)}"),
            color="#2e7d32",
        )
        ax.axvline(saturation, color="#9e9e9e", linestyle="--")
        ax.text(
            saturation,
            top * 0.45,
            _mpl(f"stops paying\nat {money(saturation, currency, 0)} "),
            ha="right",
            color="#616161",
        )
    ax.scatter([spent], [value], color="#ef6c00", zorder=3)
    ax.annotate(
        _mpl(f"this list: {money(spent, currency, 0)} spent, {money(value, currency, 0)} expected"),
        (spent, value),
        textcoords="offset points",
        xytext=(8, -14),
        color="#ef6c00",
    )
    ax.set_xlabel(_mpl(f"budget (expected cost, {currency})"))
    ax.set_ylabel(_mpl(f"expected incremental value ({currency})"))
    ax.set_title("Expected value of the win-back list against the budget")
    ax.set_xlim(0, max(saturation, spent) * 1.05 or 1)
    return _img(_png(fig), "expected value vs budget")


def figure_campaign(results: Mapping[str, Any], min_group_size: int = 0) -> str | None:
    """Uplift by channel with its interval; cells whose smaller group is under
    ``min_group_size`` are left out (their numbers are noise)."""
    records = [
        r
        for r in results.get("by_channel", [])
        if r.get("uplift") is not None
        and min(int(r.get("n_treatment") or 0), int(r.get("n_control") or 0)) >= min_group_size
    ]
    if not records:
        return None
    fig, ax = _figure()
    y = np.arange(len(records))
    uplift = np.array([r["uplift"] for r in records]) * 100
    lower = np.array([r["uplift_ci"][0] for r in records]) * 100
    upper = np.array([r["uplift_ci"][1] for r in records]) * 100
    ax.errorbar(uplift, y, xerr=[uplift - lower, upper - uplift], fmt="o", color=_ACCENT, capsize=4)
    ax.axvline(0, color="#9e9e9e")
    ax.set_yticks(y, [r["channel"] for r in records])
    ax.set_xlabel("uplift in response rate, percentage points (95% CI, Newcombe)")
    ax.set_title("Campaign: treatment minus control, by channel")
    return _img(_png(fig), "campaign uplift by channel")
