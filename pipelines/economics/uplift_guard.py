"""The promotion guard of ``winback campaign learn``: the learned policy against today's rule.

Why here: a learned uplift model replaces the configured prior in ``winback rank`` only
after it wins on randomised rows it never saw (issue 13, point 3), the way a scorer
becomes champion only when it wins out of time. ``campaign learn`` already splits the log
by customer for its Qini evaluation; the guard uses the same split and the model fitted
on the training part:

* the *learned policy* on the held-out rows: every worthwhile contact by the model's
  predicted value (:func:`models.uplift_policy.choose_contacts`, deciding on the lower
  bound, with the channels file's floor per contact);
* the *current policy*: today's rule, ``(1 - p_anyway) x response_rate[channel] x
  factor[status]`` (:class:`models.uplift_prior.PriorUplift`), on the same rows with the
  same baseline ``p_anyway`` (the model's own: a CRM log carries no scorer output), so the
  two differ only in the uplift they assume;
* :func:`models.uplift_promotion.compare_policies` values both by inverse-propensity
  weighting on the logged random assignment and promotes only when the difference's 90%
  interval is above zero and every action it rests on was logged at least
  ``min_campaign_group_size`` times.

Money: a return is worth ``margin x`` the logged ``spend`` when the log has it; the value
of an order (what a discount applies to, and the spend expected of a return when the
model has no spend model) is the row's ``avg_order_value`` when the log carries it, else
the mean spend of the training part's returners. A log with neither cannot be valued and
is not judged (the verdict says so): the prior keeps its place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.uplift import predict_options
from models.uplift_policy import ContactEconomics, UpliftPolicyError, choose_contacts
from models.uplift_prior import prior_uplift
from models.uplift_promotion import compare_policies, policy_on_log, verdict_to_dict
from pipelines.economics.channels import ChannelConfig

#: The policy a learned one must beat, as ``rank`` names it.
CURRENT_POLICY = "prior"
ORDER_VALUE = "order_value"


def contact_economics(config: ChannelConfig) -> ContactEconomics:
    """The channels file's margin, channel costs and offer costs, as the learners value them."""
    return ContactEconomics(
        margin=float(config.margin),
        channel_costs={name: float(c.cost) for name, c in config.channels.items()},
        offer_discounts={name: float(o.discount) for name, o in config.offers.items()},
        offer_fixed_costs={name: float(o.cost_if_redeemed) for name, o in config.offers.items()},
    )


def not_judged(reason: str) -> dict[str, Any]:
    """A verdict that keeps the current policy, with the reason in words."""
    return {"promote": False, "reason": f"keep {CURRENT_POLICY}: {reason}", "numbers": {}}


def _order_values(train: pd.DataFrame, test: pd.DataFrame, spend: str | None) -> np.ndarray | None:
    """The value of one order per held-out row (module docstring); None when unknown."""
    fallback = None
    if spend:
        returned = train["returned"].to_numpy(int) == 1
        paid = pd.to_numeric(train.loc[returned, spend], errors="coerce")
        if paid.notna().any() and paid.mean() > 0:
            fallback = float(paid.mean())
    if "avg_order_value" in test.columns:
        values = pd.to_numeric(test["avg_order_value"], errors="coerce")
        if fallback is None and values.notna().any():
            fallback = float(values.mean())
        if fallback is not None:
            return values.fillna(fallback).clip(lower=0.0).to_numpy(float)
    return None if fallback is None else np.full(len(test), fallback)


def _valued(predictions: pd.DataFrame, order_value: np.ndarray, k: int) -> pd.DataFrame:
    """Predictions with the spend of a return and the order value per row and option."""
    out = predictions.copy()
    order = np.repeat(order_value, k)
    own = out["spend_if_returned"].to_numpy(float) if "spend_if_returned" in out else None
    out["spend_if_returned"] = order if own is None else np.where(np.isfinite(own), own, order)
    out[ORDER_VALUE] = order
    return out


def _prior_predictions(
    learned: pd.DataFrame, test: pd.DataFrame, config: ChannelConfig, k: int
) -> pd.DataFrame:
    """Today's rule on the same rows and baseline as the learned predictions."""
    segment = (
        np.repeat(test["status"].astype(str).to_numpy(object), k)
        if "status" in test.columns
        else np.full(len(learned), "", dtype=object)
    )
    rates = {name: float(c.response_rate) for name, c in config.channels.items()}
    p = learned["p_anyway"].to_numpy(float)
    uplift = prior_uplift(
        p, segment, learned["channel"], rates, dict(config.response_factor_by_status)
    )
    out = learned.copy()
    out["uplift"] = out["uplift_lower"] = uplift
    out["p_if_contacted"] = p + uplift
    return out


def judge_against_prior(
    model: Any,
    train: pd.DataFrame,
    test: pd.DataFrame,
    options: list[tuple[str, str]],
    config: ChannelConfig,
    spend: str | None,
) -> dict[str, Any]:
    """The guard's verdict (``promote``, ``reason``, ``numbers``) on the held-out rows."""
    order_value = _order_values(train, test, spend)
    if order_value is None:
        return not_judged(
            "the log has neither spend nor avg_order_value, so a return has no value to "
            "compare the policies on"
        )
    economics = contact_economics(config)
    test = test.reset_index(drop=True)
    k = len(options)
    floor = float(config.min_expected_value_per_contact)
    learned = _valued(predict_options(model, test, options), order_value, k)
    prior = _prior_predictions(learned, test, config, k)
    try:
        verdict = compare_policies(
            test.assign(**{ORDER_VALUE: order_value}),
            policy_on_log(
                test, choose_contacts(learned, economics, floor=floor), "learned", learned
            ),
            policy_on_log(
                test, choose_contacts(prior, economics, floor=floor), CURRENT_POLICY, prior
            ),
            economics,
            spend=spend,
            order_value=ORDER_VALUE,
            min_rows_per_action=int(config.min_campaign_group_size),
        )
    except UpliftPolicyError as error:
        return not_judged(str(error))
    return verdict_to_dict(verdict)
