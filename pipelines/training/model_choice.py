"""Which transaction model fits *this* shop: BG/NBD, MBG/NBD or Pareto/NBD, chosen out of time.

Which BTYD model suits a customer base is the most asked question of their users
(lifetimes #407, CLVTools #150, PyMC-Marketing #1812), and the answer differs by shop. The
training procedure answers it with data it is allowed to see: at its newest snapshot
``s = A - h`` each model is fitted on the features at ``s`` and judged on the following
``h`` days, which end by the as-of date ``A``. The winner has the lowest Brier score of
P(no purchase in the horizon), a proper score of the probability the scorer reports
(ties, within 1e-6, go to the earlier model of :data:`CHOICE_ORDER`). Each model's mean
log-likelihood on the data it was fitted on (in days, :mod:`models.training_likelihood`)
is reported beside it: the fit to the past, which the choice does not rest on, since a
model can fit the past best and still forecast worse.

Because the choice is part of the procedure, the held-out evaluation of ``winback train``
(which re-runs the procedure on data before its cutoff) judges the choice too, without
seeing the held-out window. The chosen model gives the score table its ``p_alive``,
``expected_purchases``, CLV and next-order date, and the XGBoost models their BTYD inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.errors import WinbackError
from models.btyd import TRANSACTION_MODELS, BTYDModel
from models.training_likelihood import mean_log_likelihood

#: The models compared, in the order ties are broken (the simpler, older model first).
CHOICE_ORDER = ("bgnbd", "mbgnbd", "pareto_nbd")
#: ``TrainingSettings.transaction_model`` value that asks for the choice.
AUTO = "auto"
#: Brier differences below this are ties.
TIE = 1e-6


@dataclass
class ModelChoice:
    """The comparison at one snapshot and its winner."""

    snapshot: dt.date
    horizon_days: int
    winner: str
    #: model -> {"brier": ..., "auc": ...} on the snapshot's window and
    #: "train_log_likelihood" (mean per customer, on the data it was fitted on); a model
    #: that could not be fitted has {"error": "..."} instead.
    table: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The fitted models, so training reuses the winner's fit at this snapshot.
    fitted: dict[str, BTYDModel] = field(default_factory=dict, repr=False)

    @property
    def reason(self) -> str:
        scores = ", ".join(
            f"{name} {row['brier']:.5f}" for name, row in self.table.items() if "brier" in row
        )
        return (
            f"{self.winner}: lowest Brier of P(no purchase in {self.horizon_days} days) on the "
            f"window after {self.snapshot} ({scores})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.isoformat(),
            "horizon_days": self.horizon_days,
            "winner": self.winner,
            "rule": "lowest Brier of P(no purchase in the horizon), out of time; "
            "train_log_likelihood (mean per customer, in days) is reported, not chosen on",
            "models": self.table,
        }


def validate_transaction_model(name: str) -> str:
    """``name`` if it is a known transaction model or :data:`AUTO`; a one-line error if not."""
    if name != AUTO and name not in TRANSACTION_MODELS:
        known = ", ".join([AUTO, *TRANSACTION_MODELS])
        raise WinbackError(f"transaction model must be one of {known}; got {name!r}")
    return name


def choose_transaction_model(
    features: pd.DataFrame,
    dormant: pd.Series,
    snapshot: dt.date,
    horizon_days: int,
    fit: Callable[[pd.DataFrame, str], BTYDModel],
) -> ModelChoice:
    """Fit every model of :data:`CHOICE_ORDER` on ``features`` (at ``snapshot``, indexed by
    customer_id) and judge P(no purchase in ``horizon_days``) against ``dormant`` (1 = no
    purchase day in the window after the snapshot, same index). ``fit(features, name)``
    fits one model (training's :func:`pipelines.training.fit.fit_btyd`)."""
    labels = dormant.reindex(features.index).to_numpy(dtype=float)
    table: dict[str, dict[str, Any]] = {}
    fitted: dict[str, BTYDModel] = {}
    for name in CHOICE_ORDER:
        try:
            model = fit(features, name)
        except WinbackError as error:  # e.g. no repeat buyer: that model cannot compete
            table[name] = {"error": str(error)}
            continue
        fitted[name] = model
        predicted = model.predict(features, pd.Timestamp(snapshot), horizon_days)
        p_dormant = predicted["p_dormant"].to_numpy(dtype=float)
        brier = float(np.mean((np.clip(p_dormant, 0.0, 1.0) - labels) ** 2))
        both_classes = 0 < labels.sum() < len(labels)
        auc = float(roc_auc_score(labels, p_dormant)) if both_classes else float("nan")
        past_fit = mean_log_likelihood(model.transaction_model_, features)
        table[name] = {"brier": brier, "auc": auc, "train_log_likelihood": past_fit}
    scored = [name for name in CHOICE_ORDER if "brier" in table[name]]
    if not scored:
        reasons = "; ".join(f"{name}: {row['error']}" for name, row in table.items())
        raise WinbackError(f"no transaction model could be fitted at {snapshot}: {reasons}")
    best = min(table[name]["brier"] for name in scored)
    winner = next(name for name in scored if table[name]["brier"] <= best + TIE)
    return ModelChoice(snapshot, horizon_days, winner, table, fitted)
