"""What limits learned decisions: ceilings from partial truth, and the pilot's evidence.

Ceilings are lists decided from *exact* information of one kind, valued and judged the same
way as the learners' lists (:func:`benchmarks.decisions_world.judge_lists`, no lower
bound: the information is exact):

* ``cell_truth``: the true mean uplift and baseline per channel x offer x status cell of
  the listed customers, true ``E[spend | return]``: the best any cell model (shrinkage with
  an infinite pilot) can do, because customers within a cell differ;
* ``expected_uplift``: per customer, the simulator's effect formula with its unobservable
  receptiveness and per-channel noise at their means (both lognormal, independent, so the
  expectation factorises), true baseline and spend: the best a learner that saw the
  features and the baseline exactly could do; what is left is irreducible noise;
* ``exact_uplift``: every customer's exact true uplift and baseline, valued with the
  scorer's spend estimate (what the learners use): a perfect uplift model;
* ``known_formula``: not exact information but the best *learner* one could hope for: it
  knows the simulator's effect formula (the shape of ``expected_uplift`` for every
  customer and option) and the true baseline, and learns only one scale per option from
  the pilot's training part (least squares of ``returned - p_anyway`` on the shape, over
  each option's treated rows; decided on the point value like the other ceilings). What it
  misses is what the pilot's noise alone costs; a learner that must also find the shape
  can only do worse.

Evidence (:func:`pilot_evidence`): per option, the true mean uplift over the listed
customers against the standard error of the treated-minus-control rate in the training
part of the pilot: how many standard errors the effect to be learned is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmarks.decisions_world import World, judge_lists
from models import campaign_simulator

_P_MIN, _P_MAX = 0.001, 0.999  # the simulator's clip of p_if_contacted


class _MeanDraws:
    """Stands in for the simulator's generator: every lognormal draw is its mean."""

    def lognormal(self, mean: float = 0.0, sigma: float = 1.0, size: Any = None) -> np.ndarray:
        return np.full(size, np.exp(mean + sigma**2 / 2.0))


def _frame(world: World, p_anyway: np.ndarray, uplift: np.ndarray, spend: np.ndarray):
    """Predictions (customer-major, every option) from exact numbers: lower = point."""
    truth, k = world.truth, len(world.options)
    channel, offer = zip(*world.options, strict=True)
    return pd.DataFrame(
        {
            "customer_id": np.repeat(truth.customer_id, k),
            "channel": np.tile(np.array(channel, dtype=object), len(truth.customer_id)),
            "offer": np.tile(np.array(offer, dtype=object), len(truth.customer_id)),
            "p_anyway": p_anyway,
            "uplift": uplift,
            "uplift_lower": uplift,
            "spend_if_returned": spend,
            "order_value": np.repeat(truth.order_value, k),
        }
    )


def _expected_uplift(customers: pd.DataFrame, p_anyway: np.ndarray) -> np.ndarray:
    """E[uplift | features, baseline], ``(n_customers, n_options)``."""
    columns = {name: customers[name].to_numpy() for name in campaign_simulator.CUSTOMER_COLUMNS}
    effect = campaign_simulator._effects(_MeanDraws(), columns, p_anyway)
    p1 = np.clip(p_anyway[:, None] + effect.reshape(len(customers), -1), _P_MIN, _P_MAX)
    return p1 - p_anyway[:, None]


def expected_uplift(world: World) -> np.ndarray:
    """E[uplift | features, baseline] per customer and option, customer-major."""
    return _expected_uplift(world.rest, world.truth.p_anyway).reshape(-1)


def formula_scales(world: World) -> np.ndarray:
    """Per option, the least-squares scale of the true effect shape on the pilot's training
    part: ``sum((returned - p_anyway) x shape) / sum(shape^2)`` over its treated rows."""
    population, train = world.population, world.train
    rows = pd.Index(population.truth.customer_id).get_indexer(train["customer_id"])
    p_anyway = population.truth.p_anyway[rows]
    shape = _expected_uplift(population.customers.iloc[rows], p_anyway)
    residual = train["returned"].to_numpy(float) - p_anyway
    treated = (train["group"] == "treatment").to_numpy()
    scales = np.zeros(len(world.options))
    for k, (channel, offer) in enumerate(world.options):
        arm = (
            treated
            & (train["channel"] == channel).to_numpy()
            & (train["offer"] == offer).to_numpy()
        )
        s = shape[arm, k]
        scales[k] = float(np.sum(residual[arm] * s) / np.sum(s * s)) if np.any(s) else 0.0
    return scales


def ceilings(world: World) -> list[dict[str, Any]]:
    """The ceilings' list numbers (module docstring)."""
    truth, k = world.truth, len(world.options)
    p0 = np.repeat(truth.p_anyway, k)
    tau = (truth.p_if_contacted - truth.p_anyway[:, None]).reshape(-1)
    spend_true = np.repeat(truth.spend_if_returned, k)
    spend_scorer = np.repeat(world.rest["predicted_spend_if_returned"].to_numpy(float), k)
    option = np.tile(np.arange(k), len(truth.customer_id))
    status = np.repeat(world.rest["status"].to_numpy(object), k)
    cells = [option, status]
    cell_tau = pd.Series(tau).groupby(cells).transform("mean").to_numpy()
    cell_p0 = pd.Series(p0).groupby(cells).transform("mean").to_numpy()
    shape = _expected_uplift(world.rest, truth.p_anyway)
    frames = {
        "cell_truth": _frame(world, cell_p0, cell_tau, spend_true),
        "expected_uplift": _frame(world, p0, shape.reshape(-1), spend_true),
        "exact_uplift": _frame(world, p0, tau, spend_scorer),
        "known_formula": _frame(
            world, p0, (shape * formula_scales(world)[None, :]).reshape(-1), spend_scorer
        ),
    }
    return [{"policy": name, **judge_lists(world, frame)} for name, frame in frames.items()]


def pilot_evidence(world: World) -> dict[str, float]:
    """Per option: true mean uplift (points) and the training pilot's standard error of it."""
    train = world.train
    treated = train["group"] == "treatment"
    control = train.loc[~treated, "returned"]
    p0, n0 = float(control.mean()), len(control)
    tau = (world.truth.p_if_contacted - world.truth.p_anyway[:, None]).mean(axis=0)
    effects, errors = [], []
    for k, (channel, offer) in enumerate(world.options):
        arm = train.loc[treated & (train["channel"] == channel) & (train["offer"] == offer)]
        n1 = len(arm)
        p1 = float(arm["returned"].mean()) if n1 else float("nan")
        se = np.sqrt(p1 * (1 - p1) / max(n1, 1) + p0 * (1 - p0) / max(n0, 1))
        effects.append(float(tau[k]))
        errors.append(float(se))
    effects_arr, errors_arr = np.array(effects), np.array(errors)
    return {
        "mean_true_uplift": float(np.mean(effects_arr)),
        "median_se": float(np.nanmedian(errors_arr)),
        "median_z": float(np.nanmedian(effects_arr / errors_arr)),
        "treated_per_option": float((treated.sum()) / len(world.options)),
        "n_control": float(n0),
    }
