"""Uplift per cell, shrunk toward a prior: the first learned policy, and the shared helpers.

Why shrinkage: a campaign's cells (channel x offer x segment) are small, and a cell's raw
treatment-minus-control rate is mostly noise until it has hundreds of customers. Each
rate gets a Beta prior centred on the *prior* for its own cell (today's assumption, e.g.
``p_anyway + (1 - p_anyway) x response_rate[channel] x status_factor[status]``); a cell
that was never tried keeps its prior. There is no fallback to a pooled rate: pooling would
forget the segment (lost customers answering like sleeping ones), the bug issue 13 names.

The model (:class:`ShrinkageUplift`):

* control rate per segment (controls are not contacted, so every channel's controls of a
  segment estimate the same rate) and treatment rate per channel x offer x segment, each
  with posterior ``Beta(kappa x prior + successes, kappa x (1 - prior) + failures)``;
* the prior strength ``kappa`` (pseudo-customers) is given, or estimated by empirical Bayes
  with the method of moments across cells (:func:`beta_prior_strength`): if the cells
  scatter around their priors no more than binomial noise explains, the prior is trusted
  (large ``kappa``); if they scatter more, the data are;
* ``uplift`` is the posterior mean of ``p_treatment - p_control``; ``uplift_lower`` its
  ``lower_quantile`` (default 30%, chosen in :mod:`models.uplift_policy`) by Monte Carlo
  from the two posteriors. It can be negative: a cell whose contacts do harm is a cell of
  sleeping dogs.

Also here: :func:`classify_uplift_groups` (sure thing, persuadable, lost
cause, sleeping dog) and :func:`predict_options` (one row per customer and option); the
prior itself (:func:`prior_table`, :class:`PriorUplift`) is in :mod:`models.uplift_prior`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.uplift_data import NO_OFFER, UpliftDataError, validate_uplift_log
from models.uplift_learners import learner_from_dict
from models.uplift_prior import PRIOR_COLUMNS, PriorUplift, prior_table, prior_uplift

__all__ = [
    "UPLIFT_GROUPS",
    "PriorUplift",
    "ShrinkageUplift",
    "beta_prior_strength",
    "classify_uplift_groups",
    "predict_options",
    "uplift_model_from_dict",
    "prior_table",
    "prior_uplift",
]

#: The four groups of uplift modelling, in the order :func:`classify_uplift_groups` checks.
UPLIFT_GROUPS = ("sleeping_dog", "persuadable", "sure_thing", "lost_cause")


def classify_uplift_groups(
    p_anyway: Any, uplift: Any, *, min_effect: float = 0.01, sure_thing_p: float = 0.5
) -> np.ndarray:
    """Sure thing, persuadable, lost cause or sleeping dog, per row.

    Checked in this order: ``uplift <= -min_effect`` is a sleeping dog (the contact makes
    a return less likely: do not contact); ``uplift >= min_effect`` a persuadable; the rest
    (a contact changes less than ``min_effect``, default one point) are sure things when
    ``p_anyway >= sure_thing_p`` (they come back anyway) and lost causes otherwise.
    """
    p = np.asarray(p_anyway, float).reshape(-1)
    u = np.asarray(uplift, float).reshape(-1)
    if min_effect < 0 or not 0 <= sure_thing_p <= 1:
        raise ValueError("min_effect must be >= 0 and sure_thing_p a probability")
    return np.select(
        [u <= -min_effect, u >= min_effect, p >= sure_thing_p],
        list(UPLIFT_GROUPS[:3]),
        UPLIFT_GROUPS[3],
    ).astype(object)


def predict_options(
    model: Any, X: pd.DataFrame, options: Sequence[tuple[str, str]], id_column: str = "customer_id"
) -> pd.DataFrame:
    """One row per customer and option (customer-major), with the model's predictions.

    ``model.predict(X, channel, offer)`` is called once on the stacked rows, so pooled
    learners predict every option in one pass.
    """
    n, k = len(X), len(options)
    stacked = X.iloc[np.repeat(np.arange(n), k)].reset_index(drop=True)
    channel = np.tile(np.array([c for c, _ in options], dtype=object), n)
    offer = np.tile(np.array([o for _, o in options], dtype=object), n)
    predictions = model.predict(stacked, channel, offer).reset_index(drop=True)
    head = pd.DataFrame({"channel": channel, "offer": offer})
    if id_column in X.columns:
        head.insert(0, id_column, stacked[id_column].to_numpy())
    return pd.concat([head, predictions], axis=1)


def beta_prior_strength(
    successes: Any,
    trials: Any,
    prior_mean: Any,
    *,
    min_strength: float = 2.0,
    max_strength: float = 1000.0,
    default: float = 20.0,
    min_cells: int = 3,
) -> float:
    """Empirical-Bayes ``kappa`` of ``Beta(kappa m, kappa (1 - m))`` priors, by moments.

    For a cell with prior mean ``m`` and ``n`` trials, ``z = (rate - m)^2 / (m (1 - m))``
    has expectation ``1/n + rho (1 - 1/n)`` with ``rho = 1 / (kappa + 1)``; ``rho`` is the
    trial-weighted moment estimate over cells with two or more trials. With fewer than
    ``min_cells`` such cells there is nothing to estimate from and ``default`` is returned.
    """
    y = np.asarray(successes, float)
    n = np.asarray(trials, float)
    m = np.clip(np.asarray(prior_mean, float), 1e-6, 1 - 1e-6)
    used = n >= 2
    if used.sum() < min_cells:
        return float(default)
    y, n, m = y[used], n[used], m[used]
    z = (y / n - m) ** 2 / (m * (1 - m))
    rho = float(np.sum(n * (z - 1 / n)) / np.sum(n * (1 - 1 / n)))
    if rho <= 1.0 / (max_strength + 1.0):
        return float(max_strength)
    return float(np.clip(1.0 / rho - 1.0, min_strength, max_strength))


def _strengths(strength: float | Mapping[str, float] | None) -> dict[str, float | None]:
    """``prior_strength`` as ``{"control": ..., "treatment": ...}`` (None: estimate it)."""
    if strength is None or isinstance(strength, int | float):
        return {"control": strength, "treatment": strength}
    return {"control": strength.get("control"), "treatment": strength.get("treatment")}


class ShrinkageUplift:
    """Empirical-Bayes uplift per channel x offer x segment cell (module docstring)."""

    def __init__(
        self,
        prior: pd.DataFrame | Sequence[Mapping[str, Any]],
        segment_column: str = "status",
        prior_strength: float | Mapping[str, float] | None = None,
        min_strength: float = 2.0,
        max_strength: float = 1000.0,
        default_strength: float = 20.0,
        lower_quantile: float = 0.30,
        n_draws: int = 4000,
        random_state: int = 0,
    ) -> None:
        self.prior = prior
        self.segment_column = segment_column
        self.prior_strength = prior_strength
        self.min_strength = min_strength
        self.max_strength = max_strength
        self.default_strength = default_strength
        self.lower_quantile = lower_quantile
        self.n_draws = n_draws
        self.random_state = random_state

    def _prior_cells(self) -> pd.DataFrame:
        """The prior as a checked table: probabilities, no duplicate cells, one p per segment."""
        table = pd.DataFrame(
            list(self.prior) if not isinstance(self.prior, pd.DataFrame) else self.prior
        )
        absent = [c for c in PRIOR_COLUMNS if c not in table.columns]
        if absent:
            raise UpliftDataError(f"prior: missing column(s) {', '.join(absent)}")
        table = table.loc[:, list(PRIOR_COLUMNS)].astype(
            {"channel": str, "offer": str, "segment": str}
        )
        for column in ("p_anyway", "p_if_contacted"):
            bad = ~table[column].between(0.0, 1.0, inclusive="neither")
            if bad.any():
                raise UpliftDataError(
                    f"prior: {column} must be in (0, 1) (cell "
                    f"{tuple(table.loc[bad, ['channel', 'offer', 'segment']].iloc[0])})"
                )
        if table.duplicated(["channel", "offer", "segment"]).any():
            raise UpliftDataError("prior: a channel x offer x segment cell appears twice")
        spread = table.groupby("segment")["p_anyway"].agg(lambda s: s.max() - s.min())
        if (spread > 1e-9).any():
            raise UpliftDataError(
                f"prior: segment {spread.index[spread > 1e-9][0]!r} has "
                "different p_anyway per channel; the control rate is one "
                "per segment"
            )
        return table.reset_index(drop=True)

    def fit(self, log: pd.DataFrame, outcome: str = "returned") -> ShrinkageUplift:
        """Count the log per cell, estimate the prior strengths and the posteriors."""
        cells = self._prior_cells()
        data = validate_uplift_log(log, outcome=outcome, features=[self.segment_column])
        segment = data[self.segment_column].astype(str)
        known = set(cells["segment"])
        unknown = ~segment.isin(known)
        if unknown.any():
            raise UpliftDataError(
                f"campaign log: row {int(np.flatnonzero(unknown)[0]) + 1}: "
                f"{self.segment_column} {segment[unknown].iloc[0]!r} has no prior"
            )
        keys = data["channel"].astype(str) + "|" + data["offer"] + "|" + segment
        cell_keys = cells["channel"] + "|" + cells["offer"] + "|" + cells["segment"]
        treated = data["treated"] == 1
        no_prior = treated & ~keys.isin(set(cell_keys))
        if no_prior.any():
            raise UpliftDataError(
                f"campaign log: row {int(np.flatnonzero(no_prior)[0]) + 1}: cell "
                f"{keys[no_prior].iloc[0]!r} (channel|offer|segment) has no prior"
            )
        y = data[outcome]
        t_counts = y[treated].groupby(keys[treated]).agg(["sum", "count"])
        c_counts = y[~treated].groupby(segment[~treated]).agg(["sum", "count"])
        cells["n_treatment"] = cell_keys.map(t_counts["count"]).fillna(0).astype(int)
        cells["returned_treatment"] = cell_keys.map(t_counts["sum"]).fillna(0).astype(int)
        cells["n_control"] = cells["segment"].map(c_counts["count"]).fillna(0).astype(int)
        cells["returned_control"] = cells["segment"].map(c_counts["sum"]).fillna(0).astype(int)
        self.strength_ = self._estimate_strengths(cells)
        self.cells_ = self._posteriors(cells)
        return self

    def _estimate_strengths(self, cells: pd.DataFrame) -> dict[str, float]:
        """Given strengths, or empirical-Bayes ones for control and treatment rates."""
        given = _strengths(self.prior_strength)
        control = cells.drop_duplicates("segment")
        sources = {
            "control": (control["returned_control"], control["n_control"], control["p_anyway"]),
            "treatment": (
                cells["returned_treatment"],
                cells["n_treatment"],
                cells["p_if_contacted"],
            ),
        }
        out = {}
        for name, (y, n, m) in sources.items():
            value = given[name]
            out[name] = (
                float(value)
                if value is not None
                else beta_prior_strength(
                    y,
                    n,
                    m,
                    min_strength=self.min_strength,
                    max_strength=self.max_strength,
                    default=self.default_strength,
                )
            )
        return out

    def _posteriors(self, cells: pd.DataFrame) -> pd.DataFrame:
        """Beta posteriors per cell, the posterior mean uplift and its lower quantile."""
        kc, kt = self.strength_["control"], self.strength_["treatment"]
        cells["alpha_control"] = kc * cells["p_anyway"] + cells["returned_control"]
        cells["beta_control"] = (
            kc * (1 - cells["p_anyway"]) + cells["n_control"] - cells["returned_control"]
        )
        cells["alpha_treatment"] = kt * cells["p_if_contacted"] + cells["returned_treatment"]
        cells["beta_treatment"] = (
            kt * (1 - cells["p_if_contacted"]) + cells["n_treatment"] - cells["returned_treatment"]
        )
        p0 = cells["alpha_control"] / (cells["alpha_control"] + cells["beta_control"])
        p1 = cells["alpha_treatment"] / (cells["alpha_treatment"] + cells["beta_treatment"])
        rng = np.random.default_rng(self.random_state)
        shape = (len(cells), self.n_draws)
        draws = rng.beta(
            cells["alpha_treatment"].to_numpy()[:, None],
            cells["beta_treatment"].to_numpy()[:, None],
            shape,
        ) - rng.beta(
            cells["alpha_control"].to_numpy()[:, None],
            cells["beta_control"].to_numpy()[:, None],
            shape,
        )
        cells["post_p_anyway"] = p0
        cells["post_p_if_contacted"] = p1
        cells["uplift"] = p1 - p0
        cells["uplift_lower"] = np.quantile(draws, self.lower_quantile, axis=1)
        return cells

    def predict(self, X: pd.DataFrame, channel: Any, offer: Any = NO_OFFER) -> pd.DataFrame:
        """``p_anyway, p_if_contacted, uplift, uplift_lower`` per row of ``X`` (its index).

        ``channel`` and ``offer`` are one value for every row or one per row; the row's
        cell is read from ``X[segment_column]``. A cell without a prior raises.
        """
        if self.segment_column not in X.columns:
            raise UpliftDataError(f"features: missing column {self.segment_column!r}")
        n = len(X)
        channel = np.broadcast_to(np.asarray(channel, dtype=object), (n,))
        offer = np.broadcast_to(np.asarray(offer, dtype=object), (n,))
        keys = (
            pd.Series(channel).astype(str)
            + "|"
            + pd.Series(offer).astype(str)
            + "|"
            + (X[self.segment_column].astype(str).to_numpy())
        )
        cells = self.cells_
        index = pd.Index(cells["channel"] + "|" + cells["offer"] + "|" + cells["segment"])
        position = index.get_indexer(keys)
        if (position < 0).any():
            raise UpliftDataError(
                f"no prior for cell {keys[position < 0].iloc[0]!r} (channel|offer|segment)"
            )
        picked = cells.iloc[position]
        return pd.DataFrame(
            {
                "p_anyway": picked["post_p_anyway"].to_numpy(),
                "p_if_contacted": picked["post_p_if_contacted"].to_numpy(),
                "uplift": picked["uplift"].to_numpy(),
                "uplift_lower": picked["uplift_lower"].to_numpy(),
            },
            index=X.index,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain state (params, prior, fitted cells) that MLflow stores as JSON."""
        params = {
            k: getattr(self, k)
            for k in (
                "segment_column",
                "prior_strength",
                "min_strength",
                "max_strength",
                "default_strength",
                "lower_quantile",
                "n_draws",
                "random_state",
            )
        }
        return {
            "kind": "shrinkage",
            "params": params,
            "prior": self._prior_cells().to_dict(orient="list"),
            "strength": dict(self.strength_),
            "cells": self.cells_.to_dict(orient="list"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShrinkageUplift:
        """Inverse of :meth:`to_dict`."""
        model = cls(pd.DataFrame(data["prior"]), **data["params"])
        model.strength_ = {k: float(v) for k, v in data["strength"].items()}
        model.cells_ = pd.DataFrame(data["cells"])
        return model


def uplift_model_from_dict(data: Mapping[str, Any]) -> Any:
    """Any uplift model (prior, shrinkage or pooled learner) from its ``to_dict`` state."""
    kind = data.get("kind")
    if kind == "prior":
        return PriorUplift.from_dict(data)
    if kind == "shrinkage":
        return ShrinkageUplift.from_dict(data)
    return learner_from_dict(data)
