"""The equality checks of the benchmark run: ours and the reference must compute the same.

Each check returns a JSON-able dict with ``ok`` and what it measured; a failed check makes
the run's exit code 1 (a missed speed target does not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.targets import TARGETS

#: Spark and DuckDB tables: integers, dates and strings exact, floats within this.
FLOAT_ATOL = 1e-9
#: Closed-form scores (ours vs lifetimes), relative; XGBoost's two predict paths, absolute.
SCORES_RTOL = 1e-6
XGBOOST_ATOL = 1e-6


def compare_rfm(ours_path: Path, reference_path: Path) -> dict[str, Any]:
    """frequency, recency, T exactly equal and monetary_value within float noise."""
    ours = pd.read_parquet(ours_path).sort_values("customer_id", ignore_index=True)
    reference = pd.read_parquet(reference_path).sort_values("customer_id", ignore_index=True)
    same_customers = len(ours) == len(reference) and bool(
        (ours["customer_id"].to_numpy() == reference["customer_id"].to_numpy()).all()
    )
    result: dict[str, Any] = {"customers": len(reference), "same_customers": same_customers}
    if not same_customers:
        result["ok"] = False
        return result
    max_abs = {}
    for column in ("frequency", "recency", "T", "monetary_value"):
        a, b = ours[column].to_numpy(np.float64), reference[column].to_numpy(np.float64)
        max_abs[column] = float(np.max(np.abs(a - b))) if len(a) else 0.0
    result["max_abs_difference"] = max_abs
    scale = max(1.0, float(reference["monetary_value"].abs().max()))
    result["ok"] = (
        max_abs["frequency"] == 0
        and max_abs["recency"] == 0
        and max_abs["T"] == 0
        and max_abs["monetary_value"] <= 1e-9 * scale
    )
    return result


def compare_customers(ours_path: Path, reference_path: Path) -> dict[str, Any]:
    """The same customers in both files: both pipelines scored everyone."""
    ours = set(pd.read_parquet(ours_path, columns=["customer_id"])["customer_id"])
    reference = set(pd.read_parquet(reference_path, columns=["customer_id"])["customer_id"])
    return {
        "customers": len(reference),
        "only_ours": len(ours - reference),
        "only_reference": len(reference - ours),
        "ok": ours == reference,
    }


def compare_feature_tables(left_path: Path, right_path: Path) -> dict[str, Any]:
    """Integers, dates and strings exactly equal, floats within :data:`FLOAT_ATOL`."""
    left = pd.read_parquet(left_path).sort_values("customer_id", ignore_index=True)
    right = pd.read_parquet(right_path).sort_values("customer_id", ignore_index=True)
    result: dict[str, Any] = {"customers": len(right), "columns": len(right.columns)}
    if list(left.columns) != list(right.columns) or len(left) != len(right):
        return {**result, "ok": False, "problem": "different columns or row counts"}
    mismatched, max_float_diff = [], 0.0
    for column in right.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_float_dtype(b):
            diff = np.abs(a.to_numpy(np.float64) - b.to_numpy(np.float64))
            both_nan = np.isnan(a.to_numpy(np.float64)) & np.isnan(b.to_numpy(np.float64))
            worst = float(np.max(np.where(both_nan, 0.0, diff), initial=0.0))
            max_float_diff = max(max_float_diff, worst)
            if not (worst <= FLOAT_ATOL):  # NaN-safe
                mismatched.append(column)
        elif not a.astype(object).equals(b.astype(object)):
            mismatched.append(column)
    return {
        **result,
        "ok": not mismatched,
        "mismatched_columns": mismatched,
        "max_float_difference": max_float_diff,
    }


def compare_params(ours: dict[str, float], reference: dict[str, float]) -> dict[str, Any]:
    """Fitted parameters within the issue's relative tolerance (``params_rtol``)."""
    relative = {k: abs(ours[k] - reference[k]) / abs(reference[k]) for k in reference}
    worst = max(relative.values())
    return {"max_relative_difference": worst, "ok": worst <= TARGETS["params_rtol"]}


def check_closed_form_scores(scoring: dict[str, Any]) -> dict[str, Any]:
    """The worst relative difference of the scores the task compared, customer by customer."""
    worst = max(scoring["max_relative_difference"].values())
    return {"max_relative_difference": worst, "ok": worst <= SCORES_RTOL}


def check_xgboost_paths(xgb_result: dict[str, Any]) -> dict[str, Any]:
    """``inplace_predict`` must give what ``predict(DMatrix)`` gives."""
    worst = xgb_result["max_abs_difference"]
    return {"max_abs_difference": worst, "ok": worst <= XGBOOST_ATOL}
