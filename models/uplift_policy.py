"""What a contact is worth in money, and which contacts to make from those values.

One formula serves the learners' decisions, the simulator's oracle and the evaluation of
randomised logs, so that "value" means the same thing everywhere (DESIGN.md, section 2b).
For customer ``i``, channel ``c`` and offer ``o``, over one horizon:

* ``expected_value = (p_if_contacted - p_anyway) x margin x E[spend | return]
  - channel_cost[c] - p_if_contacted x offer_cost_if_returned[o]``;
* ``offer_cost_if_returned = offer_fixed_cost[o] + offer_discount[o] x order_value``: a
  discount is costed on the one order it applies to (``order_value``, the customer's usual
  order), not on the whole horizon's spend, and it is paid by everyone who comes back with
  it, including those who would have come back anyway (hence ``p_if_contacted``).
* ``realised_value`` of a logged row: ``margin x spend`` for every row, minus the channel
  cost for treated rows, minus the offer's cost when a treated customer came back. Its
  mean under a policy, estimated by inverse-propensity weighting, is the policy's value
  (:mod:`models.uplift_metrics`).

Selection (:func:`select_contacts`) takes at most one option per customer. Without a budget
it is "every worthwhile contact": each customer's best option whose value clears the floor.
With a budget it maximises the Lagrangian ``value - lambda x cost`` per customer and
bisects ``lambda`` until the list fits: the exact optimum of the LP relaxation of this
multiple-choice knapsack at the cost it spends, at most one contact's value short of the
integer optimum; the budget is a budget of contact (channel) costs, known before the send.

The decision rule (:func:`choose_contacts`) ranks on the point expected value and sends
only options whose value at the learner's lower bound (``lower_quantile``, default 30%) is
positive: DESIGN.md's "decide on a lower bound". Chosen on simulator seeds 101-103 and
measured on 201-205 (X-learner, pilot of 6,000; value as a share of the oracle's, then the
share of contacts with negative true value): point value 40% / 31% at every worthwhile
contact and 56% / 26% at a tight budget (10% of the oracle's contact cost); 30% bound
37% / 26% and 55% / 25%; 10% bound 26% / 22% and 40% / 22%. Floors of 0.10 or 0.25 per
contact changed little. The prior rule loses money at every worthwhile contact (-32%, 62%
negative) and reaches 53% / 31% at the tight budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.errors import WinbackError

#: Channel costs per contact, in currency: the shipped defaults of ``configs/channels.yaml``.
DEFAULT_CHANNEL_COSTS: dict[str, float] = {"email": 0.05, "sms": 0.20, "phone": 2.50}
#: Share of the order an offer takes off; offers not listed take nothing.
DEFAULT_OFFER_DISCOUNTS: dict[str, float] = {"none": 0.0, "discount": 0.10}
#: Bisection steps on the budget multiplier: 2^-60 of its range, far below a cent.
_BISECTION_STEPS = 60


class UpliftPolicyError(WinbackError):
    """Economics or a selection request that cannot be used (unknown channel, bad budget)."""


def _lookup(table: Mapping[str, float], keys: Any, what: str, default: float | None) -> np.ndarray:
    """Vectorised ``table[key]``; an unknown key raises unless a ``default`` is given."""
    codes, uniques = pd.factorize(np.asarray(keys, dtype=object).reshape(-1), use_na_sentinel=False)
    values = np.empty(len(uniques))
    for k, key in enumerate(uniques):
        if key in table:
            values[k] = float(table[key])
        elif default is not None:
            values[k] = default
        else:
            raise UpliftPolicyError(
                f"{what} {key!r} has no cost; known {what}s: {', '.join(sorted(table))}"
            )
    return values[codes]


@dataclass(frozen=True)
class ContactEconomics:
    """Margin, channel costs and offer costs: everything that turns uplift into money."""

    margin: float = 0.30
    channel_costs: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CHANNEL_COSTS))
    offer_discounts: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_OFFER_DISCOUNTS)
    )
    offer_fixed_costs: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.margin <= 1.0:
            raise UpliftPolicyError(f"margin must be in (0, 1], got {self.margin!r}")
        negative = [k for k, v in self.channel_costs.items() if not v >= 0]
        if negative:
            raise UpliftPolicyError(f"channel cost of {negative[0]!r} must be >= 0")

    def contact_cost(self, channel: Any) -> np.ndarray:
        """Cost of one contact per row; unknown channels raise (they cannot be costed)."""
        return _lookup(self.channel_costs, channel, "channel", None)

    def offer_cost_if_returned(self, offer: Any, order_value: Any) -> np.ndarray:
        """What the offer costs when the customer comes back with it (per row)."""
        order_value = np.asarray(order_value, float).reshape(-1)
        discount = _lookup(self.offer_discounts, offer, "offer", 0.0)
        fixed = _lookup(self.offer_fixed_costs, offer, "offer", 0.0)
        return fixed + discount * order_value

    def expected_value(
        self,
        p_anyway: Any,
        p_if_contacted: Any,
        spend_if_returned: Any,
        order_value: Any,
        channel: Any,
        offer: Any,
    ) -> np.ndarray:
        """Expected incremental value of each contact (module docstring), per row."""
        p0 = np.asarray(p_anyway, float).reshape(-1)
        p1 = np.asarray(p_if_contacted, float).reshape(-1)
        spend = np.asarray(spend_if_returned, float).reshape(-1)
        gain = (p1 - p0) * self.margin * spend
        return (
            gain - self.contact_cost(channel) - p1 * self.offer_cost_if_returned(offer, order_value)
        )

    def realised_value(
        self,
        treated: Any,
        returned: Any,
        spend: Any,
        order_value: Any,
        channel: Any,
        offer: Any,
    ) -> np.ndarray:
        """Money each logged row made: the reward whose policy mean IPW estimates."""
        treated = np.asarray(treated, bool).reshape(-1)
        returned = np.asarray(returned, float).reshape(-1)
        value = self.margin * np.asarray(spend, float).reshape(-1)
        if treated.any():
            rows = np.flatnonzero(treated)
            channel = np.asarray(channel, dtype=object).reshape(-1)[rows]
            offer = np.asarray(offer, dtype=object).reshape(-1)[rows]
            order_value = np.asarray(order_value, float).reshape(-1)[rows]
            value[rows] -= self.contact_cost(channel)
            value[rows] -= returned[rows] * self.offer_cost_if_returned(offer, order_value)
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain state (JSON-ready) for MLflow."""
        return {
            "margin": float(self.margin),
            "channel_costs": {k: float(v) for k, v in self.channel_costs.items()},
            "offer_discounts": {k: float(v) for k, v in self.offer_discounts.items()},
            "offer_fixed_costs": {k: float(v) for k, v in self.offer_fixed_costs.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContactEconomics:
        """Inverse of :meth:`to_dict`."""
        return cls(
            margin=float(data["margin"]),
            channel_costs=dict(data["channel_costs"]),
            offer_discounts=dict(data.get("offer_discounts", {})),
            offer_fixed_costs=dict(data.get("offer_fixed_costs", {})),
        )


def _best_option(
    value: np.ndarray, cost: np.ndarray, eligible: np.ndarray, multiplier: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's best option at a budget multiplier: (index or -1, its cost)."""
    score = np.where(eligible, value - multiplier * cost, -np.inf)
    best = np.argmax(score, axis=1)
    rows = np.arange(len(best))
    chosen = np.where(score[rows, best] > 0, best, -1)
    spent = np.where(chosen >= 0, cost[rows, best], 0.0)
    return chosen, spent


def select_contacts(
    value: Any,
    cost: Any,
    *,
    budget: float | None = None,
    eligible: Any = None,
    floor: float = 0.0,
) -> np.ndarray:
    """Chosen option per customer (column index into ``value``), -1 for no contact.

    ``value`` and ``cost`` are ``(n_customers, n_options)``. Options are eligible when
    ``value > floor`` and ``eligible`` (when given) is true: for example value is the
    point expected value and ``eligible`` says its lower bound is positive, so the list
    ranks on what is expected but sends only what is likely to pay. ``budget`` caps the sum
    of ``cost`` over the list (module docstring for the method); ``None`` means every
    worthwhile contact.
    """
    if budget is not None and not budget >= 0:
        raise UpliftPolicyError(f"budget must be a non-negative amount, got {budget!r}")
    value = np.atleast_2d(np.asarray(value, float))
    cost = np.broadcast_to(np.asarray(cost, float), value.shape)
    mask = np.isfinite(value) & (value > floor)
    if eligible is not None:
        mask &= np.broadcast_to(np.asarray(eligible, bool), value.shape)
    chosen, spent = _best_option(value, cost, mask, 0.0)
    if budget is None or spent.sum() <= budget:
        return chosen
    positive_cost = cost > 0
    if not (mask & positive_cost).any():
        return chosen
    ratio = np.where(mask & positive_cost, value / np.where(positive_cost, cost, 1.0), 0.0)
    low, high = 0.0, float(ratio.max()) + 1.0
    for _ in range(_BISECTION_STEPS):
        middle = 0.5 * (low + high)
        if _best_option(value, cost, mask, middle)[1].sum() <= budget:
            high = middle
        else:
            low = middle
    return _best_option(value, cost, mask, high)[0]


def add_expected_values(
    predictions: pd.DataFrame,
    economics: ContactEconomics,
    *,
    spend_column: str = "spend_if_returned",
    order_value_column: str = "order_value",
) -> pd.DataFrame:
    """``expected_value`` (from ``uplift``) and ``expected_value_lower`` (``uplift_lower``).

    ``predictions`` has one row per customer and option with ``channel, offer, p_anyway,
    uplift, uplift_lower`` (a learner's output, e.g. ``models.uplift.predict_options``)
    plus ``E[spend | return]`` and the order value an offer's discount applies to.
    """
    absent = [
        c
        for c in (
            "channel",
            "offer",
            "p_anyway",
            "uplift",
            "uplift_lower",
            spend_column,
            order_value_column,
        )
        if c not in predictions.columns
    ]
    if absent:
        raise UpliftPolicyError(f"predictions: missing column(s) {', '.join(absent)}")
    out = predictions.copy()
    p0 = out["p_anyway"].to_numpy(float)
    args = (
        out[spend_column].to_numpy(float),
        out[order_value_column].to_numpy(float),
        out["channel"].to_numpy(object),
        out["offer"].to_numpy(object),
    )
    for column, source in (("expected_value", "uplift"), ("expected_value_lower", "uplift_lower")):
        p1 = np.clip(p0 + out[source].to_numpy(float), 0.0, 1.0)
        out[column] = economics.expected_value(p0, p1, *args)
    out["contact_cost"] = economics.contact_cost(args[2])
    return out


def choose_contacts(
    predictions: pd.DataFrame,
    economics: ContactEconomics,
    *,
    rank_on: str = "expected_value",
    require_positive: str | None = "expected_value_lower",
    floor: float = 0.0,
    budget: float | None = None,
    id_column: str = "customer_id",
    spend_column: str = "spend_if_returned",
    order_value_column: str = "order_value",
) -> pd.DataFrame:
    """The list: at most one option per customer, as rows of ``predictions``.

    Options are ranked on ``rank_on`` (``expected_value`` or ``expected_value_lower``),
    must exceed ``floor`` on it and, when ``require_positive`` names a column, be positive
    on that too (default: the lower bound, so what is sent is likely to pay). ``budget``
    caps the channel costs of the list (:func:`select_contacts`).
    """
    valued = add_expected_values(
        predictions, economics, spend_column=spend_column, order_value_column=order_value_column
    )
    codes, customers = pd.factorize(valued[id_column])
    counts = np.bincount(codes)
    if (counts != counts[0]).any() or (
        codes.reshape(len(customers), -1) != np.arange(len(customers))[:, None]
    ).any():
        raise UpliftPolicyError(
            "predictions: need the same options for every customer, customer after customer "
            "(as models.uplift.predict_options gives them)"
        )
    shape = (len(customers), int(counts[0]))
    value = valued[rank_on].to_numpy(float).reshape(shape)
    eligible = None
    if require_positive is not None:
        eligible = valued[require_positive].to_numpy(float).reshape(shape) > 0
    cost = valued["contact_cost"].to_numpy(float).reshape(shape)
    chosen = select_contacts(value, cost, budget=budget, eligible=eligible, floor=floor)
    rows = np.flatnonzero(chosen >= 0)
    return valued.iloc[rows * shape[1] + chosen[rows]].reset_index(drop=True)
