"""The win-back list as a file: the CSV a CRM imports, and reading it back for the report.

The file is the hand-over to the people who make the contacts, so it is written in the
order of :data:`pipelines.economics.plan.LIST_COLUMNS`, probabilities to 6 decimals and money
to cents; :func:`read_list` accepts exactly what :func:`write_list` writes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.atomic import atomic_output
from pipelines.economics.options import ScoresError
from pipelines.economics.plan import CAMPAIGN_LOG_COLUMNS, LIST_COLUMNS


def list_for_export(winback_list: pd.DataFrame) -> pd.DataFrame:
    """The list's columns in order, probabilities to 6 decimals, money to cents, dates as
    ``YYYY-MM-DD``, ids as text: what the CSV and the workbook hold."""
    out = winback_list.loc[:, list(LIST_COLUMNS)].copy()
    for column in ("p_return_if_contacted", "p_return_anyway"):
        out[column] = out[column].round(6)
    for column in ("value_if_returned", "cost", "expected_incremental_value"):
        out[column] = out[column].round(2)
    out["contact_by"] = pd.to_datetime(out["contact_by"]).dt.strftime("%Y-%m-%d")
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def write_list(winback_list: pd.DataFrame, path: str | Path) -> Path:
    """Write the list as CSV for a CRM: probabilities to 6 decimals, money to cents."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = list_for_export(winback_list)
    with atomic_output(path) as temporary:  # a CRM never imports a truncated list
        out.to_csv(temporary, index=False)
    return path


def xlsx_path_for(list_path: str | Path) -> Path:
    """The list's workbook lives beside it: ``<list>.xlsx``."""
    return Path(list_path).with_suffix(".xlsx")


def write_list_xlsx(winback_list: pd.DataFrame, path: str | Path) -> Path:
    """The same list as a workbook whose ids are text cells (:mod:`pipelines.economics.xlsx`)."""
    from pipelines.economics.xlsx import write_xlsx

    return write_xlsx(list_for_export(winback_list), path)


def campaign_log_path_for(list_path: str | Path) -> Path:
    """The list's campaign log lives beside it: ``<list>.campaign.csv``."""
    path = Path(list_path)
    return path.with_name(path.stem + ".campaign.csv")


def write_campaign_log(campaign: pd.DataFrame, path: str | Path) -> Path:
    """Write the list's treatment and control rows in the campaign-log format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = campaign.loc[:, list(CAMPAIGN_LOG_COLUMNS)].copy()
    for column in ("p_anyway", "predicted_uplift"):
        out[column] = out[column].round(6)
    out["expected_incremental_value"] = out["expected_incremental_value"].round(2)
    with atomic_output(path) as temporary:
        out.to_csv(temporary, index=False)
    return path


def read_list(path: str | Path) -> pd.DataFrame:
    """Read a win-back list CSV written by :func:`write_list` (for the report)."""
    path = Path(path)
    if not path.exists():
        raise ScoresError(f"{path}: win-back list not found (run `winback rank` first)")
    frame = pd.read_csv(path, dtype={"customer_id": str})
    missing = [c for c in LIST_COLUMNS if c not in frame.columns]
    if missing:
        raise ScoresError(f"{path}: not a win-back list, missing column(s) {', '.join(missing)}")
    return frame
