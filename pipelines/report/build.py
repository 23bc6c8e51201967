"""Stage ``winback report``: read the scores, the transactions and the list, write the page.

I/O lives here and only here: :func:`pipelines.report.page.render_report` turns data into
HTML, this module finds the data (the scores file, the transactions, the list written by
``winback rank`` or a plan computed for a budget) and writes ``report.html``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from features.atomic import write_text_atomic
from pipelines.economics.channels import DEFAULT_CHANNELS_PATH
from pipelines.economics.lists import read_list
from pipelines.economics.money import money
from pipelines.economics.plan import WinbackPlan, plan_winback
from pipelines.economics.rank import economics_config
from pipelines.economics.uplift_choice import choose_uplift
from pipelines.featurize import ensure_loaded
from pipelines.report.page import render_report
from pipelines.scoring.table import read_scores


def write_report(
    scores_path: str | Path,
    transactions: Any,
    out: str | Path,
    list_path: str | Path | None = None,
    channels_path: str | Path | None = None,
    campaign_results_path: str | Path | None = None,
    budget: float | None = None,
    plan: WinbackPlan | None = None,
    column_map: Mapping[str, str] | None = None,
    uplift_model_path: str | Path | None = None,
) -> Path:
    """Write the self-contained HTML report.

    The list shown is ``list_path`` when given (as written by ``winback rank``); otherwise it
    is computed for ``budget`` (default: every contact worth making). ``plan``: the plan the
    list came from, when the caller has it (saves computing the budget curve again).
    ``column_map`` maps the transactions' own column names, as ``--map`` does.
    ``uplift_model_path``: as ``winback rank`` (default ``out/uplift_model.json`` when it
    exists, used only when promoted), so the report's plan decides as the list did.
    """
    table = read_scores(scores_path)
    config, results = economics_config(
        channels_path, campaign_results_path, table.horizon_days
    )
    response = choose_uplift(uplift_model_path, table.scores, config).response
    loaded = ensure_loaded(transactions, column_map)
    if list_path is not None:
        winback_list = read_list(list_path)
        spent = float(winback_list["cost"].sum())
        if plan is None:
            plan = plan_winback(
                table.scores,
                budget if budget is not None else spent,
                config,
                as_of=table.as_of,
                response=response,
            )
        list_source = f"(from {list_path})"
    else:
        plan = plan_winback(
            table.scores,
            budget if budget is not None else float("1e18"),
            config,
            as_of=table.as_of,
            response=response,
        )
        winback_list = plan.list
        list_source = (
            f"(budget {money(budget, config.currency, 0)})"
            if budget is not None
            else "(every contact worth making)"
        )
    page = render_report(
        table.scores,
        loaded.transactions,
        winback_list,
        plan,
        config,
        campaign_results=results,
        as_of=table.as_of,
        horizon_days=table.horizon_days,
        sources={
            "scores": str(scores_path),
            "transactions": loaded.report.source,
            "channels": str(channels_path or DEFAULT_CHANNELS_PATH.name),
            "list": list_source,
        },
    )
    out = Path(out)
    write_text_atomic(out, page)
    return out
