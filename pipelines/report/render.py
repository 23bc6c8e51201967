"""``winback report``: one self-contained HTML page for the marketer.

Everything is inline (CSS, figures as base64 PNG drawn with matplotlib's Agg backend, no
external URL), so the page opens offline and can be mailed as one file. The measures are
the field's own (see DESIGN.md section 1): status and loyalty ladder, cadence, ABC-XYZ, lost
revenue by the rule of thumb and by the model, CRR by month, LTV by segment, the expected
value of the win-back list against the budget, campaign results, and the top of the list.

The computations are plain functions returning DataFrames (:func:`crr_by_month`,
:func:`ltv_by_segment`, :func:`lost_revenue`, :func:`list_summary`) so that tests and
notebooks can check the numbers the page shows.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from features.sql import LADDER_STAGES, STATUSES
from pipelines.economics.campaign import DAYS_PER_MONTH
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.plan import LIST_COLUMNS, WinbackPlan, contact_options

#: Rows of the list shown at the bottom of the page.
TOP_ROWS = 25
#: CRR counts a customer "on the books" while their last purchase is at most this old.
CRR_ACTIVE_WINDOW_DAYS = 180

_PALETTE = {
    "new": "#8fb3d9",
    "active": "#2e7d32",
    "at_risk": "#f9a825",
    "sleeping": "#ef6c00",
    "lost": "#9e9e9e",
}
_LADDER_COLOURS = ["#cfd8dc", "#90a4ae", "#5c6bc0", "#3949ab", "#1a237e"]
_ACCENT = "#3949ab"


# --------------------------------------------------------------------------- measures
def status_by_ladder(scores: pd.DataFrame) -> pd.DataFrame:
    """Customers by status (rows, life-cycle order) and ladder stage (columns)."""
    table = pd.crosstab(scores["status"], scores["ladder_stage"])
    return table.reindex(index=list(STATUSES), columns=list(LADDER_STAGES), fill_value=0)


def abc_xyz_matrix(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(customers, share of past revenue) per ABC (rows) x XYZ (columns) cell."""
    counts = pd.crosstab(scores["abc"], scores["xyz"]).reindex(
        index=["A", "B", "C"], columns=["X", "Y", "Z"], fill_value=0
    )
    revenue = (
        scores.assign(revenue=scores["total_spend"].clip(lower=0))
        .pivot_table(index="abc", columns="xyz", values="revenue", aggfunc="sum", fill_value=0.0)
        .reindex(index=["A", "B", "C"], columns=["X", "Y", "Z"], fill_value=0.0)
    )
    total = float(revenue.to_numpy().sum()) or 1.0
    return counts, revenue / total


def lost_revenue(scores: pd.DataFrame, config: ChannelConfig) -> pd.DataFrame:
    """Revenue a win-back could recover, per status: rule of thumb next to the model.

    * rule of thumb: customers x ``rule_of_thumb_win_back_rate`` x their average check;
    * model, if all contacted: sum over customers of ``p_return_if_contacted x
      spend_if_returned`` with each customer's best channel (highest expected incremental
      value), i.e. the same quantity the rule of thumb estimates;
    * of which incremental: ``(p_return_if_contacted - p_return_anyway) x
      spend_if_returned``: what the contacts add over the customers' own returns.
    """
    statuses = ("at_risk", "sleeping", "lost")
    options = contact_options(scores, replace(config, eligible_statuses=statuses))
    best = np.argmax(options.expected_incremental_value, axis=1) if len(options.customers) else []
    rows = np.arange(len(options.customers))
    p_best = options.p_return_if_contacted[rows, best] if len(rows) else np.array([])
    frame = pd.DataFrame(
        {
            "status": options.customers["status"].astype(str).to_numpy(),
            "average_check": options.customers["avg_order_value"].to_numpy(float),
            "if_all_contacted": p_best * options.spend_if_returned,
            "incremental": (p_best - options.p_return_anyway) * options.spend_if_returned,
        }
    )
    grouped = frame.groupby("status").agg(
        customers=("status", "size"),
        average_check=("average_check", "mean"),
        model_if_all_contacted=("if_all_contacted", "sum"),
        model_incremental=("incremental", "sum"),
    )
    grouped = grouped.reindex(list(statuses)).fillna(0.0)
    grouped["customers"] = grouped["customers"].astype("int64")
    grouped["rule_of_thumb"] = (
        grouped["customers"] * config.rule_of_thumb_win_back_rate * grouped["average_check"]
    )
    return grouped[
        [
            "customers",
            "average_check",
            "rule_of_thumb",
            "model_if_all_contacted",
            "model_incremental",
        ]
    ]


def crr_by_month(
    transactions: pd.DataFrame, as_of: dt.date, active_window_days: int = CRR_ACTIVE_WINDOW_DAYS
) -> pd.DataFrame:
    """CRR = (E - N) / S x 100 per calendar month up to ``as_of``.

    S: customers on the books at the start of the month, E: at its end (or at ``as_of`` for
    the last, partial month), N: customers whose first purchase falls in the month. A
    customer is on the books on a day when they bought within the ``active_window_days``
    before it. The first month has no S and is left out.
    """
    end = pd.Timestamp(as_of)
    tx = transactions.loc[
        transactions["timestamp"] < end + pd.Timedelta(days=1),
        ["customer_id", "timestamp", "amount"],
    ]
    tx = tx[tx["amount"] >= 0]
    days = tx.assign(day=tx["timestamp"].dt.normalize()).drop_duplicates(["customer_id", "day"])
    if days.empty:
        return pd.DataFrame(columns=["month", "S", "E", "N", "crr"])
    first = days.groupby("customer_id")["day"].min()
    window = pd.Timedelta(days=int(active_window_days))
    day_values = days["day"].to_numpy()
    customers = days["customer_id"].to_numpy()

    def on_books(day: pd.Timestamp) -> int:
        mask = (day_values > (day - window).to_datetime64()) & (day_values <= day.to_datetime64())
        return int(pd.unique(customers[mask]).size)

    months = pd.period_range(days["day"].min(), end, freq="M")
    rows = []
    for month in months[1:]:
        start = month.start_time.normalize()
        month_end = min(month.end_time.normalize(), end)
        s = on_books(start - pd.Timedelta(days=1))
        e = on_books(month_end)
        n = int(((first >= start) & (first <= month_end)).sum())
        rows.append(
            {"month": str(month), "S": s, "E": e, "N": n, "crr": (e - n) / s * 100 if s else np.nan}
        )
    return pd.DataFrame(rows)


def ltv_by_segment(scores: pd.DataFrame, config: ChannelConfig) -> pd.DataFrame:
    """LTV = average check x purchases per month x margin x lifetime months, per ladder stage.

    Average check: the segment's spend over its orders. Purchases per month: the segment's
    mean of ``n_orders / months since first purchase`` (at least one month). Shown next to
    the model's mean ``clv`` when the scores carry it.
    """
    months = np.maximum(scores["T"].to_numpy(float) / DAYS_PER_MONTH, 1.0)
    frame = scores.assign(per_month=scores["n_orders"].to_numpy(float) / months)
    grouped = frame.groupby("ladder_stage").agg(
        customers=("customer_id", "size"),
        spend=("total_spend", "sum"),
        orders=("n_orders", "sum"),
        purchases_per_month=("per_month", "mean"),
    )
    grouped = grouped.reindex([s for s in LADDER_STAGES if s in grouped.index])
    grouped["average_check"] = grouped["spend"] / grouped["orders"].where(grouped["orders"] > 0)
    grouped["ltv"] = (
        grouped["average_check"]
        * grouped["purchases_per_month"]
        * config.margin
        * config.ltv_lifetime_months
    )
    if "clv" in scores:
        grouped["model_clv"] = frame.groupby("ladder_stage")["clv"].mean()
    return grouped.drop(columns=["spend", "orders"])


def list_summary(winback_list: pd.DataFrame) -> dict[str, Any]:
    """Totals of a win-back list; the report shows exactly these."""
    by_channel = (
        winback_list.groupby("channel")
        .agg(
            contacts=("customer_id", "size"),
            cost=("cost", "sum"),
            expected_value=("expected_incremental_value", "sum"),
        )
        .sort_values("contacts", ascending=False)
    )
    return {
        "contacts": len(winback_list),
        "total_cost": float(winback_list["cost"].sum()),
        "total_expected_value": float(winback_list["expected_incremental_value"].sum()),
        "by_channel": by_channel,
        "by_status": winback_list["status"].value_counts(),
    }


# --------------------------------------------------------------------------- figures
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
    return f'<img class="figure" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


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
            _mpl(f" 90% of the value\n at {currency}{ninety['budget']:,.0f}"),
            color="#2e7d32",
        )
        ax.axvline(saturation, color="#9e9e9e", linestyle="--")
        ax.text(
            saturation,
            top * 0.45,
            _mpl(f"stops paying\nat {currency}{saturation:,.0f} "),
            ha="right",
            color="#616161",
        )
    ax.scatter([spent], [value], color="#ef6c00", zorder=3)
    ax.annotate(
        _mpl(f"this list: {currency}{spent:,.0f} spent, {currency}{value:,.0f} expected"),
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


def figure_campaign(results: Mapping[str, Any]) -> str | None:
    records = [r for r in results.get("by_channel", []) if r.get("uplift") is not None]
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


# --------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
 background:#f5f6fa;color:#1f2330;line-height:1.45}
main{max-width:1280px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:0 0 10px;color:#1a237e}
.subtitle{color:#5f6475;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;
 margin:0 0 18px}
.card{background:#fff;border-radius:10px;padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card .label{font-size:12px;color:#5f6475;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:22px;font-weight:600}
section{background:#fff;border-radius:10px;padding:18px 22px;margin:0 0 18px;
 box-shadow:0 1px 3px rgba(0,0,0,.08)}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:18px;align-items:start}
@media (max-width:900px){.grid{grid-template-columns:1fr}}
img.figure{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #e4e6ee;text-align:right;vertical-align:top}
th{background:#eef0f7;font-weight:600}
td.text,th.text{text-align:left}
tr:nth-child(even) td{background:#fafbfd}
td.reason{font-size:12px;color:#414657;text-align:left;padding-top:0}
#top-of-list tr.entry td{border-bottom:none;padding-bottom:2px}
#top-of-list tr:nth-child(4n+1) td,#top-of-list tr:nth-child(4n+2) td{background:#fafbfd}
#top-of-list tr:nth-child(even) td{background:inherit}
#top-of-list tr:nth-child(4n+2) td{background:#fafbfd}
.note{font-size:12.5px;color:#5f6475;margin:8px 0 0}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff}
"""

# Reports rendering problems into the DOM, where a headless browser test can read them.
_CHECK_SCRIPT = """
<script>
window.addEventListener("error", function (e) {
  document.body.dataset.jsErrors = (+(document.body.dataset.jsErrors || 0) + 1).toString();
});
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  document.body.dataset.images = images.length.toString();
  document.body.dataset.brokenImages =
    images.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length.toString();
  document.body.dataset.rendered = "true";
});
</script>
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _money(value: float, currency: str, decimals: int = 0) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{currency}{value:,.{decimals}f}"


def _table(
    frame: pd.DataFrame,
    formats: Mapping[str, Any] | None = None,
    text_columns: tuple[str, ...] = (),
    index_label: str | None = None,
    attrs: str = "",
) -> str:
    formats = formats or {}
    columns = list(frame.columns)
    head = "".join(
        f'<th class="{"text" if c in text_columns else ""}">{_esc(_header(c))}</th>'
        for c in columns
    )
    if index_label is not None:
        head = f'<th class="text">{_esc(index_label)}</th>' + head
    body = []
    for index, row in frame.iterrows():
        cells = []
        if index_label is not None:
            cells.append(f'<td class="text">{_esc(index)}</td>')
        for c in columns:
            value = row[c]
            shown = formats[c](value) if c in formats else value
            css = "reason" if c == "reason" else ("text" if c in text_columns else "")
            cells.append(f'<td class="{css}">{_esc(shown)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


#: Column headers that read better spelled out.
_HEADERS = {
    "crr": "CRR",
    "ltv": "LTV (field formula)",
    "model_clv": "model CLV",
    "rule_of_thumb": "rule of thumb",
    "model_if_all_contacted": "model: all contacted",
    "model_incremental": "model: incremental",
    "S": "S (start)",
    "E": "E (end)",
    "N": "N (new)",
}


def _header(column: Any) -> str:
    return _HEADERS.get(str(column), str(column).replace("_", " "))


def _list_table(rows: pd.DataFrame, formats: Mapping[str, Any]) -> str:
    """The top of the list: one row of numbers per customer, their reason in a row below."""
    columns = [c for c in LIST_COLUMNS if c != "reason"]
    text_columns = {"customer_id", "status", "channel", "offer", "contact_by"}
    head = "".join(
        f'<th class="{"text" if c in text_columns else ""}">{_esc(_header(c))}</th>'
        for c in columns
    )
    body = []
    for _, row in rows.iterrows():
        cells = "".join(
            f'<td class="{"text" if c in text_columns else ""}">'
            f"{_esc(formats[c](row[c]) if c in formats else row[c])}</td>"
            for c in columns
        )
        body.append(f'<tr class="entry" data-customer-id="{_esc(row["customer_id"])}">{cells}</tr>')
        body.append(
            f'<tr class="why"><td></td><td class="reason" colspan="{len(columns) - 1}">'
            f"{_esc(row['reason'])}</td></tr>"
        )
    return (
        f'<table id="top-of-list"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _card(label: str, value: str) -> str:
    return (
        f'<div class="card"><div class="label">{_esc(label)}</div>'
        f'<div class="value">{_esc(value)}</div></div>'
    )


def render_report(
    scores: pd.DataFrame,
    transactions: pd.DataFrame,
    winback_list: pd.DataFrame,
    plan: WinbackPlan,
    config: ChannelConfig,
    campaign_results: Mapping[str, Any] | None = None,
    as_of: dt.date | None = None,
    horizon_days: int | None = None,
    sources: Mapping[str, str] | None = None,
) -> str:
    """The whole page as one HTML string. ``winback_list`` is the list the page reports on;
    ``plan`` (for the same scores and config) gives the expected value vs budget curve."""
    cur = config.currency
    as_of = as_of or plan.as_of
    sources = dict(sources or {})
    summary = list_summary(winback_list)
    status_counts = scores["status"].value_counts()
    ladder = status_by_ladder(scores)
    counts, shares = abc_xyz_matrix(scores)
    lost = lost_revenue(scores, config)
    crr = crr_by_month(transactions, as_of)
    ltv = ltv_by_segment(scores, config)
    curve = plan.curve()
    model_version = (
        ", ".join(sorted(scores["model_version"].dropna().astype(str).unique()))
        if "model_version" in scores
        else "unknown"
    )
    horizon_words = f"{horizon_days}-day horizon" if horizon_days else "the scorer's horizon"

    sleepers = lost.loc["sleeping"]
    cards = "".join(
        [
            _card("customers", f"{len(scores):,}"),
            _card("sleeping", f"{int(status_counts.get('sleeping', 0)):,}"),
            _card("at risk", f"{int(status_counts.get('at_risk', 0)):,}"),
            _card("lost", f"{int(status_counts.get('lost', 0)):,}"),
            _card("contacts on the list", f"{summary['contacts']:,}"),
            _card("list cost (expected)", _money(summary["total_cost"], cur)),
            _card("expected incremental value", _money(summary["total_expected_value"], cur)),
        ]
    )

    # -- sections
    status_section = f"""
<section id="status"><h2>Customers by status and loyalty-ladder stage</h2>
<div class="grid"><div>{figure_status_ladder(ladder)}</div>
<div>{
        _table(
            ladder.assign(total=ladder.sum(axis=1)),
            index_label="status",
            formats={c: lambda v: f"{int(v):,}" for c in [*ladder.columns, "total"]},
        )
    }
<p class="note">A customer is <b>sleeping</b> after missing two to three of <i>their own</i>
purchase cycles, <b>lost</b> after six or a year of silence (rules in
configs/features.yaml).</p></div></div></section>"""

    cadence_section = f"""
<section id="cadence"><h2>Cadence and ABC-XYZ</h2>
<div class="grid"><div>{figure_cadence(scores)}
<p class="note">One-time buyers get the median cycle of repeat customers and are not in this
histogram.</p></div>
<div>{figure_abc_xyz(counts, shares)}
<p class="note">A: customers making the top 80% of revenue, B the next 15%, C the last 5%.
X/Y/Z: coefficient of variation of monthly spend (stable, variable, erratic).</p></div>
</div></section>"""

    lost_table = lost.copy()
    lost_section = f"""
<section id="lost-revenue"><h2>Sleepers and lost revenue</h2>
<p><b>{int(sleepers["customers"]):,}</b> sleeping customers. Rule of thumb: sleepers x
{config.rule_of_thumb_win_back_rate:.0%} win-back rate x average check
({_money(sleepers["average_check"], cur, 2)}) =
<b>{_money(sleepers["rule_of_thumb"], cur)}</b>. The model, contacting every sleeper by their
best channel: <b>{_money(sleepers["model_if_all_contacted"], cur)}</b> of revenue over the
{horizon_words}, of which <b>{_money(sleepers["model_incremental"], cur)}</b> would not come
back without the contact.</p>
{
        _table(
            lost_table,
            index_label="status",
            formats={
                "customers": lambda v: f"{int(v):,}",
                "average_check": lambda v: _money(v, cur, 2),
                "rule_of_thumb": lambda v: _money(v, cur),
                "model_if_all_contacted": lambda v: _money(v, cur),
                "model_incremental": lambda v: _money(v, cur),
            },
            attrs='id="lost-revenue-table"',
        )
    }
<p class="note">Revenue, not margin. The model's figure uses each customer's own chance of
returning (1 - p_dormant), the channel response rates of configs/channels.yaml and
max(predicted spend, average order) as the spend of a return.</p></section>"""

    crr_table = crr.tail(12).set_index("month") if len(crr) else crr
    crr_section = f"""
<section id="crr"><h2>Customer retention rate by month</h2>
<div class="grid"><div>{figure_crr(crr) if len(crr) else "<p>Not enough months.</p>"}</div>
<div>{
        _table(
            crr_table,
            index_label="month",
            formats={
                "S": lambda v: f"{int(v):,}",
                "E": lambda v: f"{int(v):,}",
                "N": lambda v: f"{int(v):,}",
                "crr": lambda v: "-" if pd.isna(v) else f"{v:.1f}%",
            },
        )
        if len(crr)
        else ""
    }
<p class="note">S: customers on the books at the start of the month, E: at its end, N: new
customers in the month. On the books = bought in the last {CRR_ACTIVE_WINDOW_DAYS} days.
Last 12 months shown.</p></div></div></section>"""

    ltv_formats = {
        "customers": lambda v: f"{int(v):,}",
        "purchases_per_month": lambda v: f"{v:.2f}",
        "average_check": lambda v: _money(v, cur, 2),
        "ltv": lambda v: _money(v, cur, 2),
        "model_clv": lambda v: _money(v, cur, 2),
    }
    ltv_section = f"""
<section id="ltv"><h2>Lifetime value by segment</h2>
<div class="grid"><div>{figure_ltv(ltv, cur)}</div>
<div>{_table(ltv, index_label="ladder stage", formats=ltv_formats)}
<p class="note">Field formula: LTV = average check x purchases per month x margin
({config.margin:.0%}) x lifetime ({config.ltv_lifetime_months:g} months). Model CLV: the
scorer's mean per customer (revenue over its configured lifetime).</p></div></div></section>"""

    top = float(curve["expected_value"].iloc[-1])
    saturation = float(curve["budget"].iloc[-1])
    budget_section = f"""
<section id="budget"><h2>Expected value against budget</h2>
{figure_budget_curve(curve, summary["total_cost"], summary["total_expected_value"], cur)}
<p>Every contact worth making costs <b>{_money(saturation, cur)}</b> in all and is expected to
bring <b>{_money(top, cur)}</b> of margin above its cost; beyond that, spending more stops
paying. The list below spends <b>{_money(summary["total_cost"], cur)}</b> for
<b>{_money(summary["total_expected_value"], cur)}</b>. Each budget's list is a prefix of one
ordering, so a larger budget never yields less.</p></section>"""

    campaign_section = ""
    if campaign_results:
        campaign_section = _campaign_section(campaign_results, cur)

    by_channel = summary["by_channel"].copy()
    by_channel.insert(
        0,
        "label",
        [config.channels[c].label if c in config.channels else c for c in by_channel.index],
    )
    top_rows = winback_list.sort_values("rank").head(TOP_ROWS)
    list_formats = {
        "p_return_if_contacted": lambda v: f"{v:.0%}",
        "p_return_anyway": lambda v: f"{v:.0%}",
        "value_if_returned": lambda v: _money(v, cur, 2),
        "cost": lambda v: _money(v, cur, 2),
        "expected_incremental_value": lambda v: _money(v, cur, 2),
    }
    list_section = f"""
<section id="list" data-contacts="{summary["contacts"]}"
 data-total-cost="{summary["total_cost"]:.2f}"
 data-total-expected-value="{summary["total_expected_value"]:.2f}">
<h2>The win-back list</h2>
<p><b>{summary["contacts"]:,}</b> contacts, expected cost <b>{_money(summary["total_cost"], cur)}
</b>, expected incremental value <b>{_money(summary["total_expected_value"], cur)}</b>
{_esc(sources.get("list", ""))}.</p>
{
        _table(
            by_channel,
            index_label="channel",
            text_columns=("label",),
            formats={
                "contacts": lambda v: f"{int(v):,}",
                "cost": lambda v: _money(v, cur, 2),
                "expected_value": lambda v: _money(v, cur, 2),
            },
            attrs='id="channel-mix"',
        )
    }
<h2 style="margin-top:18px">Top {len(top_rows)}</h2>
{_list_table(top_rows, list_formats)}
</section>"""

    title = f"Win-back report, {as_of.isoformat()}"
    subtitle = (
        f"Scores: {_esc(sources.get('scores', 'in memory'))} (model {_esc(model_version)}, "
        f"{horizon_words}) &middot; transactions: {_esc(sources.get('transactions', '-'))} "
        f"&middot; channels: {_esc(sources.get('channels', 'built-in defaults'))}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(title)}</title><style>{_CSS}</style></head>
<body><main>
<h1>{_esc(title)}</h1><p class="subtitle">{subtitle}</p>
<div class="cards">{cards}</div>
{status_section}{cadence_section}{lost_section}{crr_section}{ltv_section}{budget_section}
{campaign_section}{list_section}
</main>{_CHECK_SCRIPT}</body></html>
"""


def _campaign_section(results: Mapping[str, Any], currency: str) -> str:
    def pct(v: Any) -> str:
        return "-" if v is None else f"{v:.1%}"

    def ci(v: Any, scale: float = 100.0, unit: str = " pp") -> str:
        if not v:
            return "-"
        return f"[{v[0] * scale:+.1f}, {v[1] * scale:+.1f}]{unit}"

    rows = []
    for record in [
        dict(results.get("overall", {}), channel="all channels"),
        *results.get("by_channel", []),
    ]:
        rows.append(
            {
                "channel": record.get("channel"),
                "treated": f"{record.get('n_treatment') or 0:,}",
                "control": f"{record.get('n_control') or 0:,}",
                "response (treated)": pct(record.get("response_treatment")),
                "response (control)": pct(record.get("response_control")),
                "uplift": "-"
                if record.get("uplift") is None
                else f"{record['uplift'] * 100:+.1f} pp",
                "95% CI (Newcombe)": ci(record.get("uplift_ci")),
                "spend uplift per contact": "-"
                if record.get("spend_uplift") is None
                else f"{currency}{record['spend_uplift']:,.2f}",
                "spend 95% CI": ci(record.get("spend_uplift_ci"), 1.0, "").replace("+", ""),
                "measured response rate": pct(record.get("response_rate")),
            }
        )
    frame = pd.DataFrame(rows).set_index("channel")
    frequency = pd.DataFrame(results.get("frequency", [])).set_index("group")
    figure = figure_campaign(results) or ""
    return f"""
<section id="campaign"><h2>Campaign results</h2>
<p>Contacts {results.get("first_contact")} to {results.get("last_contact")}:
{results.get("contacts_measured", 0):,} measured over {results.get("horizon_days")} days
({results.get("contacts_window_not_over", 0):,} not yet over). Measured response rates
replace the prior in new rankings.</p>
<div class="grid"><div>{figure}</div><div>
{
        _table(
            frequency,
            index_label="group",
            formats={
                "customers": lambda v: f"{int(v):,}",
                "orders_per_month_before": lambda v: f"{v:.2f}",
                "orders_per_month_after": lambda v: f"{v:.2f}",
            },
            attrs='id="campaign-frequency"',
        )
    }
<p class="note">Orders a month in the {results.get("horizon_days")} days before the contact
and after it: the campaign's effect is the treated group's change minus the control
group's.</p></div></div>
{_table(frame, index_label="channel", attrs='id="campaign-table"')}
</section>"""
