"""Promote a learned policy only on evidence: a held-out, randomised part of the logs.

Why a guard: a learner fitted on a small pilot looks convincing on its own training data
and can still be worse than today's rule. As a model replaces the champion only when it
wins out of sample, a policy replaces the current one (the prior, or the last promoted
policy) only when, on randomised rows it never saw:

* its value by inverse-propensity weighting (:mod:`models.uplift_metrics`) is higher, and
* the paired difference is distinguishable from zero: the lower end of its two-sided
  ``confidence`` interval (default 90%) is above zero, and
* the interval can be trusted: every action on which the two policies disagree, and "no
  contact", was logged at least ``min_rows_per_action`` times in the held-out part (default
  100, the ``min_campaign_group_size`` of ``configs/channels.yaml``). Below that the IPW
  estimate's normal interval is too optimistic: on pilots of a few hundred customers it
  promoted learners about a quarter of the time (``benchmarks/DECISIONS.md``).

Otherwise the current policy keeps its place and the verdict says why, in words. Qini
and uplift@k of both policies' scores are reported beside the values (they judge the
ranking, not the money, so they inform but do not decide).

A policy on the log is each held-out customer's action (an option key ``"email|none"``
or :data:`models.uplift_metrics.NO_CONTACT`) and, for the Qini, the predicted uplift of
the option the row was randomised to (control rows that name the channel they would have
had); :func:`policy_on_log` builds it from a list and a learner's predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.uplift_data import UpliftDataError, option_key, validate_uplift_log
from models.uplift_metrics import (
    NO_CONTACT,
    action_propensity,
    ipw_policy_difference,
    ipw_policy_value,
    qini_auc_score,
    uplift_at_k,
)
from models.uplift_policy import ContactEconomics


@dataclass(frozen=True)
class PolicyOnLog:
    """A policy's action per held-out row, and optionally its uplift score per row."""

    name: str
    action: np.ndarray
    uplift: np.ndarray | None = None


@dataclass(frozen=True)
class PromotionVerdict:
    """Whether the challenger replaces the current policy, why, and the numbers."""

    promote: bool
    reason: str
    numbers: dict[str, float] = field(default_factory=dict)


def policy_on_log(
    holdout: pd.DataFrame,
    chosen: pd.DataFrame,
    name: str,
    predictions: pd.DataFrame | None = None,
    id_column: str = "customer_id",
) -> PolicyOnLog:
    """Turn a list (``customer_id, channel, offer``) into actions on the holdout's rows.

    ``predictions`` (one row per customer and option, with ``uplift``) give each row the
    uplift of the option it was randomised to; rows without a logged channel get NaN.
    """
    ids = holdout[id_column].astype(str)
    keys = pd.Series(
        option_key(chosen["channel"], chosen["offer"]),
        index=chosen[id_column].astype(str).to_numpy(),
    )
    if keys.index.duplicated().any():
        raise ValueError(f"{name}: the list contacts a customer twice")
    action = ids.map(keys).fillna(NO_CONTACT).to_numpy(object)
    uplift = None
    if predictions is not None:
        lookup = pd.Series(
            predictions["uplift"].to_numpy(float),
            index=predictions[id_column].astype(str)
            + "|"
            + pd.Series(
                option_key(predictions["channel"], predictions["offer"]), index=predictions.index
            ),
        )
        offer = holdout["offer"].fillna("none") if "offer" in holdout else "none"
        logged = ids + "|" + pd.Series(option_key(holdout["channel"], offer), index=holdout.index)
        uplift = np.array(logged.map(lookup), dtype=float)
        uplift[holdout["channel"].isna().to_numpy()] = np.nan
    return PolicyOnLog(name, action, uplift)


def _ranking_numbers(
    policy: PolicyOnLog, y: np.ndarray, t: np.ndarray, k: float
) -> dict[str, float]:
    """Qini and uplift@k of a policy's scores on the rows that have one."""
    if policy.uplift is None:
        return {}
    scored = np.isfinite(policy.uplift)
    if scored.sum() < 2 or len(set(t[scored])) < 2:
        return {}
    at_k = uplift_at_k(y[scored], policy.uplift[scored], t[scored], k)
    return {
        f"qini_{policy.name}": qini_auc_score(y[scored], policy.uplift[scored], t[scored]),
        f"uplift_at_k_{policy.name}": at_k.value,
        f"uplift_at_k_se_{policy.name}": at_k.se,
    }


def _reason(challenger: str, current: str, numbers: dict[str, float], promote: bool) -> str:
    """The verdict in one sentence a marketer can read."""
    d, lo, hi = numbers["difference"], numbers["difference_lower"], numbers["difference_upper"]
    level = f"{numbers['confidence']:.0%}"
    n = int(numbers["n_rows"])
    span = (
        f"{d:+.3f} per customer ({level} interval {lo:+.3f} to {hi:+.3f}) on {n} held-out "
        "randomised customers"
    )
    if promote:
        return f"promote {challenger}: it beats {current} by {span}"
    if d <= 0:
        return f"keep {current}: {challenger} is not better ({span})"
    return (
        f"keep {current}: {challenger} looks better by {span}, but the interval includes "
        "zero; more randomised evidence is needed"
    )


def _order_values(log: pd.DataFrame, column: str | None, economics: ContactEconomics) -> np.ndarray:
    """The order value a discount applies to, per row; refuse to cost discounts at zero."""
    if column:
        return pd.to_numeric(log[column], errors="coerce").fillna(0.0).to_numpy(float)
    treated_offers = set(log.loc[log["treated"] == 1, "offer"])
    discounted = sorted(o for o in treated_offers if economics.offer_discounts.get(o, 0) > 0)
    if discounted:
        raise UpliftDataError(
            f"offer {discounted[0]!r} is a discount: the log needs an order value column to cost it"
        )
    return np.zeros(len(log))


def compare_policies(
    holdout: pd.DataFrame,
    challenger: PolicyOnLog,
    current: PolicyOnLog,
    economics: ContactEconomics,
    *,
    outcome: str = "returned",
    spend: str | None = "spend",
    order_value: str | None = "avg_order_value",
    confidence: float = 0.90,
    k: float = 0.3,
    strata: str | None = None,
    min_rows_per_action: int = 100,
) -> PromotionVerdict:
    """Verdict of challenger vs current policy on a held-out randomised log.

    The reward of a row is :meth:`ContactEconomics.realised_value` (``spend`` absent: a
    return is worth one order of ``order_value``; ``order_value`` absent: only allowed when
    no logged offer carries a discount). Propensities are the logged actions' shares,
    within ``strata`` (a column) when the log was randomised per cell.
    """
    features = [order_value] if order_value else []
    log = validate_uplift_log(holdout, outcome=outcome, spend=spend, features=features)
    for policy in (challenger, current):
        if len(policy.action) != len(log):
            raise ValueError(f"{policy.name}: {len(policy.action)} actions for {len(log)} rows")
    t = log["treated"].to_numpy(int)
    y = log[outcome].to_numpy(int)
    order = _order_values(log, order_value, economics)
    paid = log[spend].to_numpy(float) if spend else y * order
    reward = economics.realised_value(
        t, y, paid, order, log["channel"].to_numpy(object), log["offer"].to_numpy(object)
    )
    logged = np.where(t == 1, option_key(log["channel"].fillna(""), log["offer"]), NO_CONTACT)
    propensity = action_propensity(logged, None if strata is None else log[strata])
    value_new = ipw_policy_value(reward, logged, challenger.action, propensity)
    value_old = ipw_policy_value(reward, logged, current.action, propensity)
    difference = ipw_policy_difference(
        reward, logged, challenger.action, current.action, propensity
    )
    lower, upper = difference.interval(confidence)
    numbers = {
        "n_rows": float(len(log)),
        "n_treatment": float(t.sum()),
        "n_control": float((t == 0).sum()),
        f"value_{challenger.name}": value_new.value,
        f"value_se_{challenger.name}": value_new.se,
        f"value_{current.name}": value_old.value,
        f"value_se_{current.name}": value_old.se,
        "difference": difference.value,
        "difference_se": difference.se,
        "difference_lower": lower,
        "difference_upper": upper,
        "confidence": confidence,
        f"contact_share_{challenger.name}": float(np.mean(challenger.action != NO_CONTACT)),
        f"contact_share_{current.name}": float(np.mean(current.action != NO_CONTACT)),
        "agreement": float(np.mean(challenger.action.astype(str) == current.action.astype(str))),
    }
    for policy in (challenger, current):
        numbers.update(_ranking_numbers(policy, y, t, k))
    thin = _thin_actions(logged, challenger.action, current.action, min_rows_per_action)
    numbers["min_rows_per_action"] = float(min_rows_per_action)
    promote = bool(difference.value > 0 and lower > 0 and not thin)
    reason = _reason(challenger.name, current.name, numbers, promote)
    if thin:
        reason = (
            f"keep {current.name}: too few held-out rows to trust the comparison ({thin}; "
            f"at least {min_rows_per_action} per action are needed)"
        )
    return PromotionVerdict(promote, reason, numbers)


def _thin_actions(
    logged: np.ndarray, challenger: np.ndarray, current: np.ndarray, minimum: int
) -> str:
    """The actions the comparison rests on (where the policies disagree, and no contact)
    that were logged fewer than ``minimum`` times, in words; empty when none."""
    differ = challenger.astype(str) != current.astype(str)
    needed = set(challenger[differ].astype(str)) | set(current[differ].astype(str))
    needed.add(NO_CONTACT)
    counts = pd.Series(logged.astype(str)).value_counts()
    thin = sorted(a for a in needed if int(counts.get(a, 0)) < minimum)
    return ", ".join(f"{a} logged {int(counts.get(a, 0))} times" for a in thin)


def verdict_to_dict(verdict: PromotionVerdict) -> dict[str, Any]:
    """Plain form for MLflow (``log_dict``) and the report."""
    return {"promote": verdict.promote, "reason": verdict.reason, "numbers": verdict.numbers}
