"""Judging uplift models and policies on randomised logs: Qini, uplift@k, IPW policy value.

Why these: an uplift model cannot be scored row by row (no customer is both contacted and
not), so it is judged on groups of a randomised log.

* Qini curve, as scikit-uplift defines it (``sklift.metrics.qini_curve``): customers sorted
  by predicted uplift, at each distinct score the treated responders so far minus the
  control responders scaled to the treated count, ``Y_T - Y_C x N_T / N_C``; the normalised
  Qini coefficient (``qini_auc_score``) is the area between that curve and the random line
  (straight to the curve's end), divided by the same area of the perfect curve (treated
  responders first, control responders last).
* :func:`qini_from_true_uplift`: the same coefficient where the truth is known (the
  simulator): cumulative *true* uplift in the model's order against perfect ordering.
* uplift@k (``sklift.metrics.uplift_at_k``, strategy ``overall``): the treated minus
  control response rate among the top ``k`` share, with its binomial standard error.
* Policy value by inverse-propensity weighting: a policy maps each logged customer to an
  action (an option key such as ``"email|none"``, or :data:`NO_CONTACT`); its value per
  customer is ``mean(1[logged action == policy action] x reward / propensity)``, unbiased
  when the propensities are the log's known assignment probabilities. Differences of two
  policies subtract a constant (the mean reward) from the reward first: that leaves the
  estimate unbiased (the indicator-weights of two policies have equal expectations) and
  removes the variance of the common level. Standard errors are the rows' sample standard
  deviation over ``sqrt(n)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

#: Action of a customer who is not contacted (a control row, or a policy's "skip").
NO_CONTACT = "no_contact"


def _arrays(*values: Any) -> list[np.ndarray]:
    arrays = [np.asarray(v).reshape(-1) for v in values]
    if len({len(a) for a in arrays}) > 1:
        raise ValueError(f"inputs differ in length: {[len(a) for a in arrays]}")
    return arrays


def _check_binary(values: np.ndarray, name: str) -> None:
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1")


def qini_curve(y_true: Any, uplift: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(number targeted, incremental responders)`` of the Qini curve, from (0, 0)."""
    y, score, t = _arrays(y_true, uplift, treatment)
    _check_binary(y, "y_true")
    _check_binary(t, "treatment")
    order = np.argsort(score, kind="mergesort")[::-1]
    y, score, t = y[order].astype(float), score[order].astype(float), t[order].astype(float)
    thresholds = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    n_treated = np.cumsum(t)[thresholds]
    y_treated = np.cumsum(y * t)[thresholds]
    n_all = thresholds + 1.0
    n_control = n_all - n_treated
    y_control = np.cumsum(y * (1 - t))[thresholds]
    ratio = np.divide(n_treated, n_control, out=np.zeros_like(n_treated), where=n_control != 0)
    return np.r_[0.0, n_all], np.r_[0.0, y_treated - y_control * ratio]


def perfect_qini_curve(y_true: Any, treatment: Any) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve of the perfect ranking (treated responders first, control ones last)."""
    y, t = _arrays(y_true, treatment)
    return qini_curve(y, y * t - y * (1 - t), t)


def qini_auc_score(y_true: Any, uplift: Any, treatment: Any) -> float:
    """Normalised Qini coefficient: 1 for the perfect ranking, about 0 for a random one."""
    x_model, q_model = qini_curve(y_true, uplift, treatment)
    x_best, q_best = perfect_qini_curve(y_true, treatment)
    baseline = np.trapezoid([0.0, q_best[-1]], [0.0, x_best[-1]])
    perfect = np.trapezoid(q_best, x_best) - baseline
    if perfect == 0:
        return float("nan")
    return float((np.trapezoid(q_model, x_model) - baseline) / perfect)


def qini_from_true_uplift(true_uplift: Any, score: Any) -> float:
    """Normalised Qini where each customer's true uplift is known (a simulator)."""
    tau, score = _arrays(true_uplift, score)
    tau = tau.astype(float)

    def area(order: np.ndarray) -> float:
        return float(np.trapezoid(np.r_[0.0, np.cumsum(tau[order])]))

    n = len(tau)
    random_area = tau.sum() * n / 2.0
    perfect = area(np.argsort(-tau, kind="mergesort")) - random_area
    if perfect == 0:
        return float("nan")
    return (area(np.argsort(-np.asarray(score, float), kind="mergesort")) - random_area) / perfect


@dataclass(frozen=True)
class Estimate:
    """A number with its standard error and sample size."""

    value: float
    se: float
    n: int

    def interval(self, confidence: float = 0.90) -> tuple[float, float]:
        """Two-sided normal interval at ``confidence``."""
        half = norm.ppf(0.5 + confidence / 2.0) * self.se
        return self.value - half, self.value + half


def uplift_at_k(y_true: Any, uplift: Any, treatment: Any, k: float = 0.3) -> Estimate:
    """Treated minus control response rate in the top ``k`` share by predicted uplift."""
    y, score, t = _arrays(y_true, uplift, treatment)
    _check_binary(y, "y_true")
    _check_binary(t, "treatment")
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k must be a share in (0, 1], got {k}")
    top = np.argsort(score, kind="mergesort")[::-1][: max(int(len(y) * k), 1)]
    treated, control = y[top][t[top] == 1], y[top][t[top] == 0]
    if len(treated) == 0 or len(control) == 0:
        return Estimate(float("nan"), float("nan"), len(top))
    p1, p0 = treated.mean(), control.mean()
    se = math.sqrt(p1 * (1 - p1) / len(treated) + p0 * (1 - p0) / len(control))
    return Estimate(float(p1 - p0), se, len(top))


def action_propensity(logged_action: Any, strata: Any = None) -> np.ndarray:
    """P(logged action) per row, as the action's share of the log (within ``strata``).

    Right for a log randomised with fixed shares (overall, or per stratum such as a
    channel x segment cell); pass the design's own probabilities when they are known.
    """
    action = pd.Series(np.asarray(logged_action, dtype=object).reshape(-1))
    groups = (
        pd.Series(np.zeros(len(action)))
        if strata is None
        else pd.Series(np.asarray(strata, dtype=object).reshape(-1))
    )
    frame = pd.DataFrame({"action": action, "stratum": groups})
    cell = frame.groupby(["stratum", "action"], dropna=False)["action"].transform("size")
    total = frame.groupby("stratum", dropna=False)["action"].transform("size")
    return (cell / total).to_numpy(float)


def _ipw_terms(
    reward: Any, logged_action: Any, policy_action: Any, propensity: Any
) -> tuple[np.ndarray, np.ndarray]:
    r, logged, chosen, e = _arrays(reward, logged_action, policy_action, propensity)
    e = e.astype(float)
    if not ((e > 0) & (e <= 1)).all():
        raise ValueError("propensities must be in (0, 1]")
    match = logged.astype(str) == chosen.astype(str)
    return match / e, r.astype(float)


def ipw_policy_value(
    reward: Any, logged_action: Any, policy_action: Any, propensity: Any
) -> Estimate:
    """Value per customer of a policy on a randomised log (module docstring)."""
    weight, r = _ipw_terms(reward, logged_action, policy_action, propensity)
    terms = weight * r
    se = float(terms.std(ddof=1) / math.sqrt(len(terms))) if len(terms) > 1 else float("inf")
    return Estimate(float(terms.mean()), se, len(terms))


def ipw_policy_difference(
    reward: Any, logged_action: Any, policy_a: Any, policy_b: Any, propensity: Any
) -> Estimate:
    """Value of ``policy_a`` minus ``policy_b`` per customer, paired on the same rows."""
    weight_a, r = _ipw_terms(reward, logged_action, policy_a, propensity)
    weight_b, _ = _ipw_terms(reward, logged_action, policy_b, propensity)
    terms = (weight_a - weight_b) * (r - r.mean())
    se = float(terms.std(ddof=1) / math.sqrt(len(terms))) if len(terms) > 1 else float("inf")
    return Estimate(float(terms.mean()), se, len(terms))
