"""Stage ``winback rank``: read the scores, choose the list under the budget, write the CSV.

I/O lives here, the logic in :mod:`pipelines.economics.plan`. :func:`economics_config` is
the one place where the channels file and the measured campaign results are combined, so
the CLI, the report (:mod:`pipelines.report.build`) and the service rank with the same
response rates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import WinbackError
from pipelines.economics.campaign_results import load_campaign_results, measured_response_rates
from pipelines.economics.channels import ChannelConfig, load_channel_config
from pipelines.economics.lists import (
    campaign_log_path_for,
    write_campaign_log,
    write_list,
    write_list_xlsx,
    xlsx_path_for,
)
from pipelines.economics.money import money
from pipelines.economics.plan import WinbackPlan, channel_totals, plan_winback
from pipelines.economics.uplift_choice import UpliftChoice, choose_uplift
from pipelines.paths import DEFAULT_CAMPAIGN_RESULTS
from pipelines.scoring.table import ScoresTable, read_scores


def economics_config(
    channels_path: str | Path | None = None,
    campaign_results_path: str | Path | None = None,
    horizon_days: int | None = None,
) -> tuple[ChannelConfig, dict[str, Any] | None]:
    """The channels config with campaign-measured response rates applied, and the results.

    ``campaign_results_path=None`` uses ``out/campaign_results.json`` when it exists; an
    explicit path must exist. ``horizon_days``: the scores' horizon; results measured over
    another horizon are refused (a 30-day response rate is not a 90-day one).
    """
    config = load_channel_config(channels_path)
    path = Path(campaign_results_path) if campaign_results_path else DEFAULT_CAMPAIGN_RESULTS
    if campaign_results_path is None and not path.exists():
        return config, None
    results = load_campaign_results(path)
    measured = results.get("horizon_days")
    if horizon_days is not None and measured is not None and int(measured) != int(horizon_days):
        raise WinbackError(
            f"{path}: the campaign was measured over {int(measured)} days after the contact, "
            f"but the scores speak of {int(horizon_days)} days; re-run `winback campaign "
            f"import --horizon-days {int(horizon_days)}` (or score with that horizon)"
        )
    return config.with_measured_response_rates(measured_response_rates(results), str(path)), results


@dataclass
class RankResult:
    plan: WinbackPlan
    scores: ScoresTable
    out: Path
    campaign_results: dict[str, Any] | None
    #: The list's campaign log (treatment and control rows), beside the list.
    campaign_log: Path | None = None
    #: Which uplift decided (a promoted learned model, or the prior) and why.
    uplift: UpliftChoice | None = None
    #: The list as a workbook with text ids (``xlsx=True``), beside the CSV.
    workbook: Path | None = None


def rank_to_csv(
    scores_path: str | Path,
    budget: float,
    out: str | Path,
    channels_path: str | Path | None = None,
    limit: int | None = None,
    campaign_results_path: str | Path | None = None,
    holdout_share: float | None = None,
    uplift_model_path: str | Path | None = None,
    force_uplift: bool = False,
    xlsx: bool = False,
) -> RankResult:
    """Read scores, choose the list under ``budget``, write it as CSV, and write its
    campaign log (contacted and control customers) beside it as ``<out>.campaign.csv``.

    ``holdout_share`` overrides the config's control-group share. ``uplift_model_path``:
    a model from ``winback campaign learn`` / ``import`` (default ``out/uplift_model.json``
    when it exists), used only when its guard promoted it (or ``force_uplift``). ``xlsx``
    also writes the list as ``<out>.xlsx`` with the ids as text."""
    table = read_scores(scores_path)
    config, results = economics_config(channels_path, campaign_results_path, table.horizon_days)
    if holdout_share is not None:
        config = replace(config, holdout_share=float(holdout_share))
    uplift = choose_uplift(uplift_model_path, table.scores, config, force_uplift)
    plan = plan_winback(
        table.scores, budget, config, limit=limit, as_of=table.as_of, response=uplift.response
    )
    path = write_list(plan.list, out)
    log = write_campaign_log(plan.campaign, campaign_log_path_for(path))
    workbook = write_list_xlsx(plan.list, xlsx_path_for(path)) if xlsx else None
    return RankResult(
        plan=plan,
        scores=table,
        out=path,
        campaign_results=results,
        campaign_log=log,
        uplift=uplift,
        workbook=workbook,
    )


def group_lines(plan: WinbackPlan) -> list[str]:
    """The control group and the exploration, in words (for the console and the demo)."""
    summary = plan.summary
    lines = [
        f"control group: {summary['control']:,} of {summary['chosen']:,} chosen customers "
        f"held out at random ({summary['holdout_share']:.0%} per channel and status), not "
        "contacted, so the campaign can be measured"
    ]
    if summary["deferred"]:
        lines.append(
            f"exploration: {summary['deferred']:,} chosen customers deferred: no campaign has "
            f"measured their channel and status yet, so {summary['exploration_share']:.0%} "
            "of each such cell is contacted first"
        )
    if summary["full_channels"]:
        lines.append(
            f"full channel(s) {', '.join(summary['full_channels'])}: the list is within "
            f"{money(summary['gap_to_optimum_at_most'], plan.config.currency)} of the best "
            "list possible under these capacities (LP bound)"
        )
    if summary["cells_too_small_to_measure"]:
        lines.append(
            "too small to show their predicted effect: "
            + ", ".join(summary["cells_too_small_to_measure"])
        )
    return lines


def channel_mix_lines(winback_list: pd.DataFrame, currency: str) -> list[str]:
    """One line per channel: contacts, cost, expected value (for the console)."""
    return [
        f"{channel}: {int(row['contacts']):,} contacts, cost {money(row['cost'], currency)}, "
        f"expected value {money(row['expected_value'], currency)}"
        for channel, row in channel_totals(winback_list).iterrows()
    ]
