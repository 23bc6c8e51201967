"""A win-back campaign world with known truth: customers, a randomised pilot, an oracle.

Why: uplift cannot be observed for one customer (each is either contacted or not), so a
learner can only be judged where the truth is known. Here every customer has a true
P(return within the horizon) without contact and with each channel x offer, and the
oracle's list (every contact whose *true* expected value is positive) is the yardstick
for any learned list (:meth:`CampaignTruth.value_of`).

Customers (all drawn per customer, vectorised):

* a personal cadence: typical gap ``~ lognormal(log 35 days, 0.75)`` in [7, 365]; tenure
  uniform over 4 months to 4 years; ``n_orders = 1 + Poisson(tenure / gap x activity)``;
* silence: ``overdue_cycles ~ lognormal(0.6, 1.0)`` of their own gaps, hence
  ``days_since_last``; status as ``configs/features.yaml`` defines it: lost at 6 cycles
  or a year of silence, sleeping at 2, at risk at 1, active below;
* spend: ``avg_order_value ~ lognormal(log 45, 0.55)``; ``E[spend | return]`` over the
  horizon is the order value times ``1 + 0.5 x min(horizon / gap, 6)`` (a returner places
  the first order and some of their usual repeat orders); realised spend is Gamma(4) noise
  around it;
* ``email_engagement`` (past open rate), ``acquisition`` (web, store, marketplace),
  ``ladder_stage`` from ``n_orders``; a scorer-like ``p_dormant`` (the truth's log-odds plus
  N(0, 0.35) noise) and ``predicted_spend_if_returned`` (truth x lognormal(0, 0.25)): what
  winback's models would give to both the prior policy and the learners.

Baseline ``p_anyway = 0.02 + 0.9 x alive x (1 - exp(-horizon / gap)) x propensity``, with
``alive = exp(-0.45 x max(overdue - 1, 0) / (1 + 0.08 x (n_orders - 1)))`` (loyal customers
stay alive longer) and an unobserved ``propensity ~ Beta(3, 3)``: about 41% for active,
36% at risk, 23% sleeping and 8% lost customers.

True effect of channel ``c`` (probability points, clipped so ``p_if_contacted`` stays in
(0, 1)), ``wake`` a bump in log overdue cycles that peaks at 2.5 cycles and fades for the
long lost, ``room = 1 - p_anyway``, ``r`` an unobserved lognormal receptiveness:

* e-mail ``0.07 x wake x room x engaged x r`` (engaged: open rate above about 0.2);
* SMS ``0.09 x wake x room x short_cycle x r`` (customers whose gap is under ~2 months);
* phone ``0.16 x wake x room x big_basket x store x r`` (large orders, shop customers);
* minus an annoyance for frequent regulars not yet overdue (``heavy``): 1, 2.5 and 10
  points for e-mail, SMS and phone: the **sleeping dogs**. Marketplace customers answer
  e-mail and SMS at a third of the rate; the long lost answer nothing (**lost causes**);
  active customers with high baselines are **sure things**;
* the ``discount`` offer multiplies a positive effect by ``1 + 1.2 x price_sensitive``
  (small baskets) and costs 10% of one order on every return it comes with.

Mean true uplifts per option are 1.3-3.9 points (median 1.2), 6% of customer x option pairs
exceed 10 points (calls to sleepers), 23% are negative (mostly tiny; 1% below -9 points).
Statuses: 27% active, 27% at risk, 33% sleeping, 13% lost; mean baseline 30%. 50,000
customers take about 0.15 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from models.uplift_policy import ContactEconomics, select_contacts

CHANNELS = ("email", "sms", "phone")
OFFERS = ("none", "discount")
#: The simulator's channel and offer costs, margin 30% (``configs/channels.yaml`` defaults).
DEFAULT_ECONOMICS = ContactEconomics()
#: Columns of every simulated customer (what a feature table would hold).
CUSTOMER_COLUMNS = (
    "customer_id",
    "tenure_days",
    "typical_gap_days",
    "n_orders",
    "days_since_last",
    "overdue_cycles",
    "status",
    "avg_order_value",
    "email_engagement",
    "acquisition",
    "ladder_stage",
    "p_dormant",
    "predicted_spend_if_returned",
)
#: What a learner may see of a simulated customer: every column but the id and the
#: simulator's own spend estimate.
LEARNER_FEATURES = tuple(
    c for c in CUSTOMER_COLUMNS if c not in ("customer_id", "predicted_spend_if_returned")
)
#: Today's prior response rule, the shipped defaults of ``configs/channels.yaml`` for the
#: simulator's channels, fixed here so that an edited config never changes a benchmark.
PRIOR_RESPONSE_RATES = {"email": 0.12, "sms": 0.14, "phone": 0.28}
PRIOR_STATUS_FACTORS = {"lost": 0.3}
#: Columns of a campaign log (``pipelines.campaign`` format) plus its outcomes.
LOG_COLUMNS = ("customer_id", "contacted_at", "channel", "offer", "group", "returned", "spend")
_P_MIN, _P_MAX = 0.001, 0.999


@dataclass(frozen=True)
class ListValue:
    """The true value of a contact list, judged by the simulator's truth."""

    total_value: float
    n_contacts: int
    n_negative: int
    contact_cost: float
    contacts_by_channel: dict[str, int]

    @property
    def negative_share(self) -> float:
        """Share of the list's contacts whose true expected value is below zero."""
        return self.n_negative / self.n_contacts if self.n_contacts else 0.0


@dataclass
class CampaignTruth:
    """Hidden truth per customer and option; options are ``channels x offers``, row-major."""

    customer_id: np.ndarray
    channels: tuple[str, ...]
    offers: tuple[str, ...]
    p_anyway: np.ndarray
    p_if_contacted: np.ndarray
    spend_if_returned: np.ndarray
    order_value: np.ndarray
    economics: ContactEconomics
    _value: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def options(self) -> list[tuple[str, str]]:
        """``(channel, offer)`` per column of :attr:`p_if_contacted`."""
        return [(c, o) for c in self.channels for o in self.offers]

    def expected_value(self) -> np.ndarray:
        """True expected incremental value, ``(n_customers, n_options)`` (computed once)."""
        if self._value is None:
            columns = [
                self.economics.expected_value(
                    self.p_anyway,
                    self.p_if_contacted[:, k],
                    self.spend_if_returned,
                    self.order_value,
                    channel,
                    offer,
                )
                for k, (channel, offer) in enumerate(self.options)
            ]
            self._value = np.column_stack(columns)
        return self._value

    def contact_cost(self) -> np.ndarray:
        """Channel cost of every option, ``(1, n_options)``: what budgets count."""
        channels = np.array([c for c, _ in self.options], dtype=object)
        return self.economics.contact_cost(channels)[None, :]

    def table(self) -> pd.DataFrame:
        """Long table: one row per customer and option with the true numbers."""
        n, k = len(self.customer_id), len(self.options)
        channel, offer = zip(*self.options, strict=True)
        return pd.DataFrame(
            {
                "customer_id": np.repeat(self.customer_id, k),
                "channel": np.tile(np.array(channel, dtype=object), n),
                "offer": np.tile(np.array(offer, dtype=object), n),
                "p_anyway_true": np.repeat(self.p_anyway, k),
                "p_if_contacted_true": self.p_if_contacted.reshape(-1),
                "uplift_true": (self.p_if_contacted - self.p_anyway[:, None]).reshape(-1),
                "spend_if_returned_true": np.repeat(self.spend_if_returned, k),
                "value_true": self.expected_value().reshape(-1),
            }
        )

    def option_index(self, contacts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Row and option indices of a list with ``customer_id, channel, offer`` columns."""
        rows = pd.Index(self.customer_id).get_indexer(contacts["customer_id"].astype(str))
        if (rows < 0).any():
            unknown = contacts["customer_id"].iloc[int(np.flatnonzero(rows < 0)[0])]
            raise ValueError(f"customer {unknown!r} is not in the simulated population")
        if pd.Index(rows).duplicated().any():
            raise ValueError("a list contacts each customer at most once")
        keys = pd.Index([f"{c}|{o}" for c, o in self.options])
        offer = contacts["offer"] if "offer" in contacts else pd.Series("none", contacts.index)
        wanted = contacts["channel"].astype(str) + "|" + offer.fillna("none").astype(str)
        options = keys.get_indexer(wanted)
        if (options < 0).any():
            raise ValueError(
                f"option {wanted.iloc[int(np.flatnonzero(options < 0)[0])]!r} is not simulated"
            )
        return rows, options

    def value_of(self, contacts: pd.DataFrame) -> ListValue:
        """True expected incremental value of a list (``customer_id, channel[, offer]``)."""
        rows, options = self.option_index(contacts)
        values = self.expected_value()[rows, options]
        costs = self.contact_cost()[0, options]
        channel_names = np.array([c for c, _ in self.options], dtype=object)
        channels = pd.Series(channel_names[options], dtype=object)
        return ListValue(
            total_value=float(values.sum()),
            n_contacts=len(rows),
            n_negative=int((values < 0).sum()),
            contact_cost=float(costs.sum()),
            contacts_by_channel={str(k): int(v) for k, v in channels.value_counts().items()},
        )

    def subset(self, customer_ids: Sequence[str]) -> CampaignTruth:
        """The truth of some customers only (e.g. those outside the pilot), in that order."""
        rows = pd.Index(self.customer_id).get_indexer(pd.Index(customer_ids).astype(str))
        if (rows < 0).any():
            raise ValueError("customer_ids holds customers that are not in the population")
        return CampaignTruth(
            customer_id=self.customer_id[rows],
            channels=self.channels,
            offers=self.offers,
            p_anyway=self.p_anyway[rows],
            p_if_contacted=self.p_if_contacted[rows],
            spend_if_returned=self.spend_if_returned[rows],
            order_value=self.order_value[rows],
            economics=self.economics,
        )

    def oracle(self, budget: float | None = None) -> pd.DataFrame:
        """The best list the truth allows: every worthwhile contact, or the best in budget."""
        chosen = select_contacts(self.expected_value(), self.contact_cost(), budget=budget)
        return self.list_from_choice(chosen)

    def list_from_choice(self, chosen: np.ndarray) -> pd.DataFrame:
        """``customer_id, channel, offer`` of the customers with a chosen option (>= 0)."""
        rows = np.flatnonzero(chosen >= 0)
        channel = np.array([c for c, _ in self.options], dtype=object)
        offer = np.array([o for _, o in self.options], dtype=object)
        return pd.DataFrame(
            {
                "customer_id": self.customer_id[rows],
                "channel": channel[chosen[rows]],
                "offer": offer[chosen[rows]],
            }
        )


@dataclass
class SimulatedPopulation:
    """Observable customer features and the hidden truth, row-aligned."""

    customers: pd.DataFrame
    truth: CampaignTruth
    as_of: pd.Timestamp
    horizon_days: int


def _cadence(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Tenure, gap, orders, silence and status: the customer's own rhythm."""
    tenure = np.floor(rng.uniform(120, 1460, n))
    gap = np.round(np.clip(np.exp(rng.normal(np.log(35.0), 0.75, n)), 7.0, 365.0), 1)
    activity = rng.beta(2.0, 2.0, n)
    n_orders = 1 + rng.poisson(np.minimum(tenure / gap * activity * 0.6, 60.0))
    silence = np.clip(np.round(np.exp(rng.normal(0.6, 1.0, n)) * gap), 1, tenure)
    overdue = silence / gap
    status = np.select(
        [(overdue >= 6) | (silence >= 365), overdue >= 2, overdue >= 1],
        ["lost", "sleeping", "at_risk"],
        "active",
    )
    ladder = np.select(
        [n_orders >= 6, n_orders >= 4, n_orders >= 2], ["loyal", "regular", "client"], "buyer"
    )
    return {
        "tenure_days": tenure,
        "typical_gap_days": gap,
        "n_orders": n_orders,
        "days_since_last": silence,
        "overdue_cycles": overdue,
        "status": status.astype(object),
        "ladder_stage": ladder.astype(object),
    }


def _baseline(rng: np.random.Generator, c: dict[str, np.ndarray], horizon: int) -> np.ndarray:
    """P(return within the horizon | no contact): alive x due within the horizon."""
    overdue, n_orders = c["overdue_cycles"], c["n_orders"]
    alive = np.exp(-0.45 * np.maximum(overdue - 1.0, 0.0) / (1.0 + 0.08 * (n_orders - 1)))
    propensity = rng.beta(3.0, 3.0, len(overdue))
    return 0.02 + 0.9 * alive * (1.0 - np.exp(-horizon / c["typical_gap_days"])) * propensity


def _effects(rng: np.random.Generator, c: dict[str, np.ndarray], p0: np.ndarray) -> np.ndarray:
    """True uplift per customer x channel x offer, ``(n, len(CHANNELS), len(OFFERS))``."""
    n = len(p0)
    log_overdue = np.log(c["overdue_cycles"])
    wake = np.exp(-((log_overdue - np.log(2.5)) ** 2) / (2 * 0.65**2))
    wake *= np.exp(-np.maximum(c["days_since_last"] - 365.0, 0.0) / 180.0)
    room = 1.0 - p0
    receptive = rng.lognormal(0.0, 0.4, n)
    acquisition = c["acquisition"]
    marketplace = np.where(acquisition == "marketplace", 0.35, 1.0)
    store = np.select([acquisition == "store", acquisition == "marketplace"], [1.6, 0.5], 1.0)
    heavy = expit((c["n_orders"] - 7.0) / 1.5) * expit((1.3 - c["overdue_cycles"]) / 0.2)
    engaged = expit((c["email_engagement"] - 0.2) / 0.05)
    short_cycle = expit((np.log(60.0) - np.log(c["typical_gap_days"])) / 0.5)
    log_aov = np.log(c["avg_order_value"])
    big_basket = 0.35 + 0.65 * expit((log_aov - np.log(60.0)) / 0.35)
    price_sensitive = expit((np.log(35.0) - log_aov) / 0.3)
    common = wake * room * receptive
    positive = np.column_stack(
        [
            0.07 * common * engaged * marketplace,
            0.09 * common * short_cycle * marketplace,
            0.16 * common * big_basket * store,
        ]
    ) * rng.lognormal(0.0, 0.25, (n, len(CHANNELS)))
    annoyance = heavy[:, None] * np.array([0.01, 0.025, 0.10])[None, :]
    offer_boost = np.stack([np.ones(n), 1.0 + 1.2 * price_sensitive], axis=1)
    return positive[:, :, None] * offer_boost[:, None, :] - annoyance[:, :, None]


def simulate_population(
    n_customers: int,
    *,
    seed: int = 0,
    horizon_days: int = 90,
    as_of: str | pd.Timestamp = "2024-01-01",
    economics: ContactEconomics = DEFAULT_ECONOMICS,
) -> SimulatedPopulation:
    """``n_customers`` customers with features and the hidden truth (module docstring)."""
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1, got {n_customers}")
    rng = np.random.default_rng(seed)
    c = _cadence(rng, n_customers)
    c["avg_order_value"] = np.round(np.exp(rng.normal(np.log(45.0), 0.55, n_customers)), 2)
    c["acquisition"] = rng.choice(
        np.array(["web", "store", "marketplace"], dtype=object), n_customers, p=[0.5, 0.3, 0.2]
    )
    fade = 0.4 + 0.6 * np.exp(-c["days_since_last"] / 365.0)
    c["email_engagement"] = np.round(rng.beta(1.3, 3.0, n_customers) * fade, 3)
    p0 = _baseline(rng, c, horizon_days)
    uplift = _effects(rng, c, p0)
    p1 = np.clip(p0[:, None, None] + uplift, _P_MIN, _P_MAX)
    spend = c["avg_order_value"] * (
        1.0 + 0.5 * np.minimum(horizon_days / c["typical_gap_days"], 6.0)
    )
    logit = np.log(p0 / (1 - p0)) + rng.normal(0.0, 0.35, n_customers)
    c["p_dormant"] = 1.0 - expit(logit)
    c["predicted_spend_if_returned"] = spend * rng.lognormal(0.0, 0.25, n_customers)
    ids = np.array([f"C{i:07d}" for i in range(n_customers)], dtype=object)
    customers = pd.DataFrame({"customer_id": ids, **c}).loc[:, list(CUSTOMER_COLUMNS)]
    truth = CampaignTruth(
        customer_id=ids,
        channels=CHANNELS,
        offers=OFFERS,
        p_anyway=p0,
        p_if_contacted=p1.reshape(n_customers, -1),
        spend_if_returned=spend,
        order_value=c["avg_order_value"].astype(float),
        economics=economics,
    )
    return SimulatedPopulation(customers, truth, pd.Timestamp(as_of), horizon_days)


def _shares(names: Sequence[str], shares: dict[str, float] | None, what: str) -> np.ndarray:
    """Assignment probabilities over ``names`` (uniform by default), checked to sum to 1."""
    if shares is None:
        return np.full(len(names), 1.0 / len(names))
    unknown = sorted(set(shares) - set(names))
    if unknown:
        raise ValueError(f"unknown {what} {unknown[0]!r}; simulated: {', '.join(names)}")
    p = np.array([float(shares.get(name, 0.0)) for name in names])
    if (p < 0).any() or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"{what} shares must be >= 0 and sum to 1, got {shares}")
    return p


def run_pilot(
    population: SimulatedPopulation,
    *,
    pilot_size: int | None = None,
    treatment_share: float = 0.5,
    channel_shares: dict[str, float] | None = None,
    offer_shares: dict[str, float] | None = None,
    customer_ids: Sequence[str] | None = None,
    seed: int = 0,
    with_features: bool = True,
) -> pd.DataFrame:
    """A randomised campaign log with outcomes drawn from the truth.

    ``pilot_size`` customers (all of ``customer_ids``, or of the population, when None) are
    drawn at random. Each gets a channel and an offer at random, then the group: treatment
    with probability ``treatment_share``, else control (not contacted; the row keeps the
    channel and offer it *would* have had, so every channel x offer cell has its own
    controls). Propensities are therefore known: ``treatment_share x channel share x offer
    share`` for a contact, ``1 - treatment_share`` for no contact. ``returned`` is drawn
    from the truth, ``spend`` (0 when not returned) around ``E[spend | return]``.
    """
    if not 0.0 < treatment_share < 1.0:
        raise ValueError(f"treatment_share must be in (0, 1), got {treatment_share}")
    rng = np.random.default_rng(seed)
    truth = population.truth
    pool = np.arange(len(truth.customer_id))
    if customer_ids is not None:
        pool = pd.Index(truth.customer_id).get_indexer(pd.Index(customer_ids).astype(str))
        if (pool < 0).any():
            raise ValueError("customer_ids holds customers that are not in the population")
    size = len(pool) if pilot_size is None else int(pilot_size)
    if not 1 <= size <= len(pool):
        raise ValueError(f"pilot_size must be between 1 and {len(pool)}, got {pilot_size}")
    rows = np.sort(rng.choice(pool, size, replace=False))
    channel = rng.choice(
        len(truth.channels), size, p=_shares(truth.channels, channel_shares, "channel")
    )
    offer = rng.choice(len(truth.offers), size, p=_shares(truth.offers, offer_shares, "offer"))
    treated = rng.random(size) < treatment_share
    option = channel * len(truth.offers) + offer
    p = np.where(treated, truth.p_if_contacted[rows, option], truth.p_anyway[rows])
    returned = (rng.random(size) < p).astype(int)
    noise = rng.gamma(4.0, 0.25, size)
    spend = np.round(np.where(returned == 1, truth.spend_if_returned[rows] * noise, 0.0), 2)
    offset = pd.to_timedelta(rng.integers(0, 3, size), unit="D")
    log = pd.DataFrame(
        {
            "customer_id": truth.customer_id[rows],
            "contacted_at": population.as_of + offset,
            "channel": np.array(truth.channels, dtype=object)[channel],
            "offer": np.array(truth.offers, dtype=object)[offer],
            "group": np.where(treated, "treatment", "control").astype(object),
            "returned": returned,
            "spend": spend,
        }
    )
    if with_features:
        features = population.customers.iloc[rows].drop(columns="customer_id")
        log = pd.concat([log, features.reset_index(drop=True)], axis=1)
    return log


def split_log(log: pd.DataFrame, holdout_share: float, seed: int = 0) -> tuple[Any, Any]:
    """Random (train, holdout) split of a log: the holdout judges policies, unseen by fits."""
    if not 0.0 < holdout_share < 1.0:
        raise ValueError(f"holdout_share must be in (0, 1), got {holdout_share}")
    rng = np.random.default_rng(seed)
    holdout = rng.random(len(log)) < holdout_share
    return log.loc[~holdout].reset_index(drop=True), log.loc[holdout].reset_index(drop=True)
