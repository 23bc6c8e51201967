"""The win-back list as a file: the CSV a CRM imports, and reading it back for the report.

The file is the hand-over to the people who make the contacts, so it is written in the
order of :data:`pipelines.economics.plan.LIST_COLUMNS`, probabilities to 6 decimals and money
to cents; :func:`read_list` accepts exactly what :func:`write_list` writes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipelines.economics.options import ScoresError
from pipelines.economics.plan import CAMPAIGN_LOG_COLUMNS, LIST_COLUMNS


def write_list(winback_list: pd.DataFrame, path: str | Path) -> Path:
    """Write the list as CSV for a CRM: probabilities to 6 decimals, money to cents."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = winback_list.loc[:, list(LIST_COLUMNS)].copy()
    for column in ("p_return_if_contacted", "p_return_anyway"):
        out[column] = out[column].round(6)
    for column in ("value_if_returned", "cost", "expected_incremental_value"):
        out[column] = out[column].round(2)
    out["contact_by"] = pd.to_datetime(out["contact_by"]).dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False)
    return path


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
    out.to_csv(path, index=False)
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
