"""The demo's last stage: the marketer's win-back list and report from the demo's scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines.economics.rank import channel_mix_lines, rank_to_csv
from pipelines.report.build import write_report

#: The demo's budget (expected cost of contacts and offers, in the channels' currency).
DEMO_BUDGET = 1000.0


def run_economics_stage(
    out_dir: Path, scores_path: Path, transactions: Any = "cdnow", budget: float = DEMO_BUDGET
) -> list[str]:
    """Write ``out_dir/winback_list.csv`` and ``out_dir/report.html``; return summary lines.

    Campaign results in ``out_dir/campaign_results.json``, if any, replace the prior
    response rates.
    """
    out_dir = Path(out_dir)
    campaign_results = out_dir / "campaign_results.json"
    campaign = campaign_results if campaign_results.exists() else None
    list_path = out_dir / "winback_list.csv"
    result = rank_to_csv(scores_path, budget, list_path, campaign_results_path=campaign)
    report_path = write_report(
        scores_path,
        transactions,
        out_dir / "report.html",
        list_path=list_path,
        campaign_results_path=campaign,
        plan=result.plan,
    )
    summary = result.plan.summary
    cur = result.plan.config.currency
    lines = [
        f"win-back list at a {cur}{budget:,.0f} budget: {summary['contacts']:,} of "
        f"{summary['eligible_customers']:,} sleeping/at-risk/lost customers, expected cost "
        f"{cur}{summary['total_cost']:,.2f}, expected incremental value "
        f"{cur}{summary['total_expected_value']:,.2f} (all worth-while contacts: "
        f"{cur}{summary['saturation_budget']:,.0f} for {cur}{summary['max_expected_value']:,.0f})",
        *[f"  {line}" for line in channel_mix_lines(result.plan.list, cur)],
        f"win-back list: {list_path}",
        f"report: {report_path}",
    ]
    if campaign is not None:
        lines.insert(1, f"  response rates measured by campaign: {campaign}")
    return lines
