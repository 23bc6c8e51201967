"""The report's "For data scientists" section: the BTYD diagnostics of the scoring model.

A marketer reads the sections above; whoever answers for the model wants lifetimes' four
pictures (:mod:`pipelines.training.diagnostics`) for the very model that scored the page,
on the page's customers. The scores file holds no fitted parameters, only the registered
model version that made it, so the model comes from the registry
(:func:`load_scoring_model`, called by :mod:`pipelines.report.build`, which does the I/O);
when it cannot be found the section says so instead of drawing another model's plots.
Figures are inline base64 PNG, like :mod:`pipelines.report.charts`.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from features.build import build_features
from features.errors import WinbackError
from pipelines.report.html import esc
from pipelines.training.diagnostics import (
    CalibrationSplit,
    diagnostic_figures,
    holdout_purchases,
)
from pipelines.training.evaluation import check_window_is_complete
from pipelines.training.fit import fit_btyd

#: How to read each plot, in one line, in the order they are shown.
CAPTIONS = {
    "calibration_vs_holdout": (
        "Out-of-time check: the model, fitted on the data up to the window's start, against "
        "what customers then did; the closer the two lines, the better the forecasts."
    ),
    "period_transactions": (
        "In-sample fit: how many customers made 0, 1, 2 ... repeat purchase days, actual "
        "against the model's expectation at each customer's age; bars should pair up."
    ),
    "frequency_recency_matrix": (
        "Expected purchases in the horizon: bright at the top right (frequent buyers who "
        "bought lately), dark below (frequent buyers silent for long are likely gone)."
    ),
    "probability_alive_matrix": (
        "P(alive) on the same grid: green still active, red gone; grey cells are histories "
        "no customer can have (recency below frequency)."
    ),
}


def load_scoring_model(model_version: str | None) -> tuple[Any | None, str]:
    """The registered scorer that made the scores, or None and why not (the registry is
    read, never created: a missing SQLite store is reported, not made)."""
    if not model_version:
        return None, "the scores file names no model version"
    if not str(model_version).isdigit():
        return None, f"the scores were made by {model_version!r}, not a registered model version"
    from pipelines.registry.store import load_scorer, tracking_uri

    uri = tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None, f"there is no model registry at {uri}"
    try:
        scorer, _ = load_scorer(str(model_version))
    except WinbackError as error:
        return None, str(error)
    return scorer, ""


def report_calibration(
    scorer: Any,
    features: pd.DataFrame,
    transactions: pd.DataFrame,
    as_of: dt.date,
    horizon_days: int,
) -> CalibrationSplit:
    """The window ``(as_of - horizon, as_of]`` as holdout: the scorer's kind of model fitted
    on every customer's features at the window's start (as training fits it), compared on
    the page's customers (``features``, by customer_id)."""
    cutoff = as_of - dt.timedelta(days=horizon_days)
    check_window_is_complete(transactions, cutoff, horizon_days)
    past = transactions[transactions["timestamp"].dt.normalize() <= pd.Timestamp(cutoff)]
    calibration = build_features(past, cutoff, scorer.feature_config).features
    calibration = calibration.set_index("customer_id")
    if calibration.empty:
        raise WinbackError(f"no transaction on or before {cutoff}")
    btyd = scorer.btyd
    model = fit_btyd(calibration, btyd.transaction_model, btyd.penalizer_coef)
    shown = calibration[calibration.index.isin(features.index)]
    return CalibrationSplit(
        model.transaction_model_, shown, holdout_purchases(shown, features), horizon_days
    )


def diagnostics_section(
    scorer: Any | None,
    missing: str,
    scores: pd.DataFrame,
    transactions: pd.DataFrame,
    as_of: dt.date,
    horizon_days: int | None,
) -> str:
    """The section's HTML: the four plots of ``scorer``'s BTYD model on ``scores``' customers,
    or a note saying why there are none (``missing``)."""
    if scorer is None:
        return _section(f"<p>No diagnostics: {esc(missing)}.</p>")
    horizon = int(horizon_days or scorer.horizon_days)
    features = scores.set_index("customer_id")[["frequency", "recency", "T"]]
    notes = []
    try:
        split = report_calibration(scorer, features, transactions, as_of, horizon)
    except (WinbackError, ValueError) as error:
        split = None
        notes.append(f"No calibration vs holdout plot: {esc(str(error))}.")
    figures = diagnostic_figures(scorer.btyd, features, horizon, split)
    params = ", ".join(f"{k} {v:.4g}" for k, v in scorer.btyd.transaction_model_.params_.items())
    intro = (
        f"<p>The transaction model that scored this page, {esc(_model_name(scorer))} "
        f"({esc(params)}; trained as of {scorer.trained_as_of}), drawn on the page's "
        f"{len(features):,} customers as lifetimes draws its diagnostics.</p>"
    )
    return _section(intro + _grid(figures) + "".join(f'<p class="note">{n}</p>' for n in notes))


def _model_name(scorer: Any) -> str:
    names = {"bgnbd": "BG/NBD", "mbgnbd": "MBG/NBD", "pareto_nbd": "Pareto/NBD"}
    return names.get(scorer.btyd.transaction_model, scorer.btyd.transaction_model)


def _grid(figures: Mapping[str, Any]) -> str:
    cells = [
        f'<div><img class="figure" alt="{esc(name.replace("_", " "))}" '
        f'src="data:image/png;base64,{_png(figures[name])}">'
        f'<p class="note">{esc(caption)}</p></div>'
        for name, caption in CAPTIONS.items()
        if name in figures
    ]
    return f'<div class="grid">{"".join(cells)}</div>'


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _section(body: str) -> str:
    return (
        '\n<section id="data-scientists"><h2>For data scientists: BTYD diagnostics</h2>'
        f"{body}</section>"
    )
