"""Stage ``winback report``: read the scores, the transactions and the list, write the page.

I/O lives here and only here: :func:`pipelines.report.page.render_report` turns data into
HTML, this module finds the data (the scores file, the transactions, the list written by
``winback rank`` or a plan computed for a budget) and writes ``report.html``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from features.atomic import write_text_atomic
from features.errors import WinbackError
from pipelines.economics.channels import DEFAULT_CHANNELS_PATH
from pipelines.economics.lists import read_list
from pipelines.economics.money import money
from pipelines.economics.plan import WinbackPlan, plan_winback
from pipelines.economics.rank import economics_config
from pipelines.economics.uplift_choice import choose_uplift
from pipelines.featurize import ensure_loaded
from pipelines.report.accuracy_section import HeldOut
from pipelines.report.diagnostics_section import diagnostics_section, load_scoring_model
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
    config, results = economics_config(channels_path, campaign_results_path, table.horizon_days)
    response = choose_uplift(uplift_model_path, table.scores, config).response
    out = Path(out)
    version = table.model_version or _column_version(table.scores)
    heldout, heldout_missing = heldout_metrics(version)
    loaded = ensure_loaded(transactions, column_map)
    winback_list, plan, list_source = _list_and_plan(
        table, list_path, budget, plan, config, response
    )
    list_href = relative_href(list_path, out) if list_path is not None else None
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
            **({"list file": str(list_path)} if list_path is not None else {}),
        },
        list_href=list_href,
        heldout=heldout,
        heldout_missing=heldout_missing,
        data_scientists=diagnostics_section(
            *load_scoring_model(version),
            table.scores,
            loaded.transactions,
            table.as_of,
            table.horizon_days,
        ),
    )
    write_text_atomic(out, page)
    return out


def _list_and_plan(
    table: Any,
    list_path: str | Path | None,
    budget: float | None,
    plan: WinbackPlan | None,
    config: Any,
    response: Any,
) -> tuple[Any, WinbackPlan, str]:
    """The list the page reports on, the plan it came from, and the words for its source."""
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
        return winback_list, plan, f"(from the list file {Path(list_path).name})"
    plan = plan_winback(
        table.scores,
        budget if budget is not None else float("1e18"),
        config,
        as_of=table.as_of,
        response=response,
    )
    source = (
        f"(budget {money(budget, config.currency, 0)})"
        if budget is not None
        else "(every contact worth making)"
    )
    return plan.list, plan, source


def relative_href(target: str | Path, page: str | Path) -> str:
    """A link from the page to ``target`` that survives moving both together."""
    target, folder = Path(target).resolve(), Path(page).resolve().parent
    try:
        relative = Path(os.path.relpath(target, folder)).as_posix()
    except ValueError:  # another drive on Windows
        return target.as_uri()
    return quote(relative)


def _column_version(scores: Any) -> str | None:
    if "model_version" not in scores or scores["model_version"].isna().all():
        return None
    return str(scores["model_version"].dropna().iloc[0])


def heldout_metrics(model_version: str | None) -> tuple[HeldOut | None, str]:
    """The held-out evaluation the training run of ``model_version`` logged, or None and
    why not. Only a registered version (a whole number) has one; the registry is read,
    never created (a missing SQLite store is reported, not made)."""
    if not model_version:
        return None, "the scores file names no model version"
    if not str(model_version).isdigit():
        return None, (
            f"the scores were made by {model_version!r}, not by a registered model version"
        )
    from pipelines.registry.store import (
        PROMOTION_METRIC,
        resolve_version,
        tracking_uri,
        version_metadata,
    )

    uri = tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None, f"there is no model registry at {uri}"
    try:
        metadata = version_metadata(resolve_version(str(model_version)))
    except WinbackError as error:
        return None, str(error)
    horizon = metadata.get("horizon_days")
    return (
        HeldOut(
            model_version=str(model_version),
            served=PROMOTION_METRIC.split(".")[1],
            metrics=dict(metadata.get("heldout_metrics") or {}),
            validation_cutoff=metadata.get("validation_cutoff"),
            horizon_days=int(float(horizon)) if horizon else None,
            trained_as_of=metadata.get("trained_as_of"),
        ),
        "",
    )
