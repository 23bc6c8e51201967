"""How accurate the model was out of time: one sentence and one plot for the marketer.

``winback train`` tests every candidate on a window it never saw: trained on data up to a
validation cutoff, scored on who bought in the following horizon (see
:mod:`pipelines.training.evaluation`), and logs the results as ``heldout.<candidate>.
<task>.<metric>`` metrics of its MLflow run. :mod:`pipelines.report.build` reads them for the
model version that scored the snapshot and hands them here as a :class:`HeldOut`; without
them (a scores file from no registered version, or no registry) the section says so plainly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pipelines.report.charts import _figure, _img, _png
from pipelines.report.html import esc

#: Candidates of the held-out evaluation, in the order and the words the plot shows them.
_CANDIDATE_WORDS = {
    "xgboost": "the model (XGBoost)",
    "mbgnbd": "MBG/NBD",
    "bgnbd": "BG/NBD",
    "days_since_last": "rule of thumb: days since last order",
}


@dataclass(frozen=True)
class HeldOut:
    """The held-out evaluation of one registered version, as its training run logged it."""

    model_version: str
    #: The candidate that was registered (``xgboost`` for ``winback train``).
    served: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    validation_cutoff: str | None = None
    horizon_days: int | None = None
    trained_as_of: str | None = None


def _metric(held: HeldOut, candidate: str, name: str) -> float | None:
    value = held.metrics.get(f"heldout.{candidate}.{name}")
    return None if value is None or not np.isfinite(value) else float(value)


def accuracy_sentence(held: HeldOut) -> str:
    """The one sentence: how often the model ranked right, next to the rule of thumb."""
    auc = _metric(held, held.served, "dormancy.auc")
    if auc is None:
        return (
            f"Model version {held.model_version} has no held-out dormancy AUC in its "
            "training run, so how accurate it was out of time cannot be shown."
        )
    window = ""
    if held.validation_cutoff and held.horizon_days:
        start = dt.date.fromisoformat(held.validation_cutoff)
        end = start + dt.timedelta(days=int(held.horizon_days))
        window = (
            f" Trained on data up to {start.isoformat()}, it was tested on who bought in the "
            f"{int(held.horizon_days)} days after ({start.isoformat()} to {end.isoformat()}), "
            "which it had not seen:"
        )
    baseline = _metric(held, "days_since_last", "dormancy.auc")
    versus = f"; the days-since-last-order rule of thumb: {baseline:.2f}" if baseline else ""
    captured = _metric(held, held.served, "spend.revenue_captured_top10")
    spend = (
        f", and the 10% of customers it expected to spend most made {captured:.0%} of the "
        "window's revenue"
        if captured is not None
        else ""
    )
    return (
        f"Model version {esc(held.model_version)}.{window} it put a customer who stayed away "
        f"ahead of one who came back {auc:.0%} of the time (AUC {auc:.2f}, where 0.50 is a "
        f"coin toss{versus}){spend}."
    )


def figure_accuracy(held: HeldOut) -> str:
    """Held-out dormancy AUC per candidate, the served model highlighted."""
    names = [held.served, *[c for c in _CANDIDATE_WORDS if c != held.served]]
    rows = [(c, _metric(held, c, "dormancy.auc")) for c in names]
    rows = [(c, v) for c, v in rows if v is not None]
    fig, ax = _figure(6.4, 0.8 + 0.5 * len(rows))
    y = np.arange(len(rows))
    colours = ["#3949ab" if c == held.served else "#b0bec5" for c, _ in rows]
    values = [v for _, v in rows]
    ax.barh(y, values, color=colours)
    for k, value in enumerate(values):
        ax.text(value + 0.005, k, f"{value:.3f}", va="center", fontsize=8)
    ax.axvline(0.5, color="#9e9e9e", linestyle="--")
    ax.text(0.5, -0.55, " coin toss", color="#757575", fontsize=8)
    ax.set_yticks(y, [_CANDIDATE_WORDS.get(c, c) for c, _ in rows])
    ax.invert_yaxis()
    ax.set_xlim(0.4, 1.0)
    ax.set_xlabel("held-out dormancy AUC (higher is better)")
    ax.set_title("Out-of-time accuracy against baselines")
    return _img(_png(fig), "held-out accuracy")


def accuracy_section(held: HeldOut | None, why_missing: str = "") -> str:
    """The section: the sentence and the plot, or a plain "not available" and why."""
    if held is None or _metric(held, held.served, "dormancy.auc") is None:
        reason = why_missing or "the scores carry no registered model version"
        text = (
            accuracy_sentence(held)
            if held is not None
            else (
                f"No held-out metrics are available for this report: {esc(reason)}. How accurate "
                "the model was out of time is therefore not shown; <code>winback models show "
                "N</code> prints it for a registered version."
            )
        )
        return (
            '<section id="accuracy" data-heldout="no"><h2>How accurate was the model?</h2>'
            f"<p>{text}</p></section>"
        )
    return f"""
<section id="accuracy" data-heldout="yes"><h2>How accurate was the model?</h2>
<div class="grid"><div><p>{accuracy_sentence(held)}</p>
<p class="note">AUC: the chance that, of two customers, the model ranks the one who did not
come back as the likelier to stay away. The baselines need no model: a model that does not
beat them is not promoted. From the training run of version {esc(held.model_version)}
(trained as of {esc(held.trained_as_of or "?")}).</p></div>
<div>{figure_accuracy(held)}</div></div></section>"""
