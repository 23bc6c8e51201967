"""Per-customer log-likelihood of a fitted transaction model, in days, for model choice.

The fitters maximise their likelihood on rescaled time (``models.likelihoods`` divides
recency and T by a data-dependent scale for numerical range), so the objective they
report is not comparable across models or data sets. Model choice on the training data
needs one unit for all: these are the published closed forms, evaluated on the features'
own days, with no penalty term (so a penalised fit is judged on its data fit alone).

* BG/NBD: Fader, Hardie and Lee (2005), "Counting your customers the easy way", eq. (6);
* MBG/NBD: Batislam, Denizel and Filiztekin (2007), as lifetimes implements it;
* Pareto/NBD: Fader and Hardie's note 009, eq. (18)
  (:func:`models.pareto_nbd_likelihood.log_likelihood`).

The three models have four parameters each, so their mean log-likelihoods compare
directly (AIC and BIC order them the same way).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import gammaln

from models.bgnbd import BetaGeoModel, ModifiedBetaGeoModel, rfm_arrays
from models.pareto_nbd import ParetoNBDModel
from models.pareto_nbd_likelihood import log_likelihood as pareto_nbd_log_likelihood


def log_likelihood_per_customer(
    model: BetaGeoModel | ModifiedBetaGeoModel | ParetoNBDModel, features: pd.DataFrame
) -> np.ndarray:
    """``ln L`` of each customer's ``frequency, recency, T`` (days) under ``model``."""
    frequency, recency, T = rfm_arrays(features)
    params = np.array([float(v) for v in model.params_.to_numpy()])
    if isinstance(model, ParetoNBDModel):
        return pareto_nbd_log_likelihood(params, frequency, recency, T)
    r, alpha, a, b = params
    common = gammaln(r + frequency) - gammaln(r) + r * np.log(alpha)
    after_last = -(r + frequency) * np.log(alpha + T)
    if isinstance(model, ModifiedBetaGeoModel):  # may drop out at time 0 too
        beta_part = (
            gammaln(a + b)
            + gammaln(b + frequency + 1)
            - gammaln(b)
            - gammaln(a + b + frequency + 1)
        )
        dropped = np.log(a) - np.log(b + frequency) - (r + frequency) * np.log(alpha + recency)
        return common + beta_part + np.logaddexp(after_last, dropped)
    if isinstance(model, BetaGeoModel):  # drops out only right after a repeat purchase
        beta_part = (
            gammaln(a + b) + gammaln(b + frequency) - gammaln(b) - gammaln(a + b + frequency)
        )
        with np.errstate(divide="ignore"):
            dropped = np.where(
                frequency > 0,
                np.log(a)
                - np.log(b + np.maximum(frequency, 1) - 1)
                - (r + frequency) * np.log(alpha + recency),
                -np.inf,
            )
        return common + beta_part + np.logaddexp(after_last, dropped)
    raise TypeError(f"no log-likelihood for {type(model).__name__}")


def mean_log_likelihood(
    model: BetaGeoModel | ModifiedBetaGeoModel | ParetoNBDModel, features: pd.DataFrame
) -> float:
    """Mean per-customer ``ln L`` (higher fits the training data better)."""
    return float(np.mean(log_likelihood_per_customer(model, features)))
