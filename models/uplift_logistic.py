"""A penalised logistic uplift model with contact x feature interactions (Lo 2002).

Why a linear learner beside the boosted ones (:mod:`models.uplift_learners`): a contact's
effect is a few points on a noisy outcome, and a randomised log of a few thousand rows per
option holds little more than "which customers answer which option a bit more". A
logistic model with the contact's interactions states exactly that, with a few dozen
coefficients, and the penalty on them is chosen from the log by cross-validation. On a
Hillstrom-shaped e-mail campaign (:mod:`benchmarks.email_campaign`) it matches the
logistic T-learner and class transformation that the boosted learners trail; on the
six-option campaign simulator a shallow boosted effect model rarely splits on the option
at all (in one trial run with a 60,000-customer pilot, 40,000 training rows, seed 101, the
X-learner's list was still e-mails only).

Model, for customer features ``z`` (encoded, see below), contact ``t`` (0/1) and option
``a`` (channel x offer) with parts ``q(a)`` (its channel and its offer)::

    logit P(return) = b0 + b.z + t x (c + c_q(a) + c_a + g.z + sum_q(a) g_q.z)

``b`` is the baseline and ``c`` the contact's mean effect (penalty ``base_penalty``);
``c_q`` and ``c_a`` how a channel, an offer and the option shift it (penalty
``effect_penalty / 10``, so arms with little evidence borrow the others' mean), ``g`` the
effect's heterogeneity shared by every contact and ``g_q`` how a channel or an
offer changes it (penalty ``effect_penalty``, chosen among ``penalties`` by ``cv_folds``-
fold cross-validated deviance). ``uplift = P(return | contact a) - P(return | none)``;
its standard error comes from the penalised fit's curvature (Laplace: ``cov = H^-1``,
delta method), so the lower bound needs one fit, not bagging.

Encoding: the log's numeric columns (``models.uplift_data.FeatureEncoder``; categoricals
arrive one-hot) are put on comparable scales: shares in [0, 1] as log-odds, skewed
non-negative amounts as ``log(1 + x)``, then standardised and clipped at 4 standard
deviations; a missing value is the column's mean (0 after standardising). State is plain
numbers (coefficients, covariance, scaling), so MLflow stores it without pickles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from models.uplift_pooled import PooledUpliftLearner

#: Effect penalties tried by cross-validation (the baseline's penalty is fixed).
DEFAULT_PENALTIES = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)
#: How much lighter the penalty on the channel, offer and option shifts of the contact's
#: mean effect is than on its slopes.
INTERCEPT_DISCOUNT = 10.0
_CLIP = 4.0
#: Rows predicted at a time.
PREDICT_CHUNK = 20_000
_PARAMS = ("features", "penalties", "base_penalty", "cv_folds", "lower_quantile", "random_state")


def _transform(kind: str, values: np.ndarray) -> np.ndarray:
    if kind == "logit":
        v = np.clip(values, 0.01, 0.99)
        return np.log(v / (1 - v))
    if kind == "log":
        return np.log1p(values)
    return values


def fit_scaling(X: np.ndarray) -> list[tuple[str, float, float]]:
    """Per column: ``(kind, mean, sd)`` of its transformed values (module docstring)."""
    scaling = []
    for column in X.T:
        v = column[~np.isnan(column)]
        kind = "raw"
        if len(np.unique(v)) > 2 and v.min() >= 0:
            if v.max() <= 1:
                kind = "logit"
            elif np.quantile(v, 0.99) > 5 * max(float(np.median(v)), 1e-9):
                kind = "log"
        tv = _transform(kind, v) if len(v) else np.zeros(1)
        sd = float(tv.std())
        scaling.append((kind, float(tv.mean()), sd if sd > 0 else 1.0))
    return scaling


def scaled(X: np.ndarray, scaling: Sequence[tuple[str, float, float]]) -> np.ndarray:
    """The encoded matrix on the model's scale; missing values at the mean (0)."""
    out = np.zeros((len(X), len(scaling)))
    for j, (kind, mean, sd) in enumerate(scaling):
        z = (_transform(kind, X[:, j]) - mean) / sd
        out[:, j] = np.clip(np.nan_to_num(z, nan=0.0), -_CLIP, _CLIP)
    return out


def option_parts(options: Sequence[str]) -> np.ndarray:
    """``(n_options, n_parts)`` indicators of each option's channel and offer."""
    channels = sorted({key.split("|")[0] for key in options})
    offers = sorted({key.split("|")[-1] for key in options})
    parts = np.zeros((len(options), len(channels) + len(offers)))
    for i, key in enumerate(options):
        parts[i, channels.index(key.split("|")[0])] = 1.0
        parts[i, len(channels) + offers.index(key.split("|")[-1])] = 1.0
    return parts


def design(Z: np.ndarray, A: np.ndarray, t: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """``[1, z, t, t q, t a, t z, t q_1 z, ..., t q_m z]`` (module docstring)."""
    tt = np.asarray(t, float)[:, None]
    P = A @ parts
    blocks = [np.ones((len(Z), 1)), Z, tt, tt * P, tt * A, tt * Z]
    blocks += [(tt[:, 0] * P[:, q])[:, None] * Z for q in range(parts.shape[1])]
    return np.hstack(blocks)


def penalty_vector(p: int, k: int, m: int, base: float, effect: float) -> np.ndarray:
    """Ridge weights: none on the intercept, ``base`` on the baseline and the shared
    contact effect, ``effect / 10`` on how a channel, offer or option shifts that effect
    (one number per arm is cheaper to learn than a slope), ``effect`` on the slopes."""
    return np.concatenate(
        [
            [0.0],
            np.full(p + 1, base),
            np.full(m + k, effect / INTERCEPT_DISCOUNT),
            np.full(p * (1 + m), effect),
        ]
    )


def fit_penalised_logistic(
    D: np.ndarray, y: np.ndarray, penalty: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray:
    """Coefficients minimising ``deviance / 2 + sum(penalty w^2) / 2`` (L-BFGS)."""

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        eta = D @ w
        loss = np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(penalty * w * w)
        return float(loss), D.T @ (expit(eta) - y) + penalty * w

    if start is None:
        start = np.zeros(D.shape[1])
        mean = float(np.clip(y.mean(), 1e-4, 1 - 1e-4))
        start[0] = np.log(mean / (1 - mean))
    result = minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 1000})
    return result.x


def cv_folds(t: np.ndarray, customers: Any, n_folds: int, seed: int) -> np.ndarray:
    """Fold of each row: customers shuffled into ``n_folds`` within each group (a customer
    in both groups follows the group of their first row)."""
    rng = np.random.default_rng(seed)
    keys = pd.Series(np.arange(len(t)) if customers is None else np.asarray(customers))
    codes, _ = pd.factorize(keys)
    first = pd.Series(t).groupby(codes).first().to_numpy()
    fold_of = np.empty(len(first), int)
    for g in (0, 1):
        members = np.flatnonzero(first == g)
        fold_of[members] = rng.permutation(len(members)) % n_folds
    return fold_of[codes]


class LogisticUplift(PooledUpliftLearner):
    """Penalised logistic model of the outcome with contact interactions (module docstring)."""

    kind = "logistic"

    def __init__(
        self,
        features: Sequence[str] | None = None,
        penalties: Sequence[float] = DEFAULT_PENALTIES,
        base_penalty: float = 1.0,
        cv_folds: int = 3,
        lower_quantile: float = 0.30,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            features=features, lower_quantile=lower_quantile, random_state=random_state
        )
        self.penalties = tuple(dict.fromkeys(float(p) for p in penalties))
        self.base_penalty = float(base_penalty)
        self.cv_folds = int(cv_folds)

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _PARAMS}

    def _params(self, seed: int, **overrides: Any) -> dict[str, Any]:
        """The spend model's booster settings: the pooled learners' defaults."""
        return {**PooledUpliftLearner.get_params(self), "seed": seed, **overrides}

    def fit(
        self, log: pd.DataFrame, outcome: str = "returned", spend: str | None = None
    ) -> LogisticUplift:
        """Fit on a campaign log carrying outcomes and features (``models.uplift_data``)."""
        if not self.penalties or min(self.penalties) <= 0:
            raise ValueError(f"penalties must be positive numbers, got {self.penalties}")
        data, X, A, y, t = self._prepare(log, outcome, spend)
        self.parts_ = option_parts(self.options_)
        customers = data["customer_id"] if "customer_id" in data.columns else None
        self.effect_penalty_, self.cv_deviance_ = self._choose_penalty(X, A, y, t, customers)
        self.scaling_ = fit_scaling(X)
        D = design(scaled(X, self.scaling_), A, t, self.parts_)
        penalty = self._penalty(X.shape[1], self.effect_penalty_)
        self.coef_ = fit_penalised_logistic(D, y, penalty)
        p = expit(D @ self.coef_)
        hessian = (D * (p * (1 - p))[:, None]).T @ D + np.diag(penalty)
        self.cov_ = np.linalg.pinv(hessian)
        self.spend_ = None
        if spend:
            self.spend_ = self._fit_spend(X, A, t, data[spend].to_numpy(float), y)
        return self

    def _penalty(self, n_columns: int, effect: float) -> np.ndarray:
        return penalty_vector(
            n_columns, len(self.options_), self.parts_.shape[1], self.base_penalty, effect
        )

    def _choose_penalty(
        self,
        X: np.ndarray,
        A: np.ndarray,
        y: np.ndarray,
        t: np.ndarray,
        customers: pd.Series | None = None,
    ) -> tuple[float, dict[str, float]]:
        """The effect penalty with the lowest cross-validated deviance. Folds are drawn
        per customer (all of a customer's rows in one fold: a log may contact a customer
        more than once), within treatment and control."""
        if len(self.penalties) == 1 or self.cv_folds < 2:
            return self.penalties[0], {}
        fold = cv_folds(t, customers, self.cv_folds, self.random_state)
        deviance = dict.fromkeys(self.penalties, 0.0)
        for k in range(self.cv_folds):
            train, test = fold != k, fold == k
            scaling = fit_scaling(X[train])
            D_train = design(scaled(X[train], scaling), A[train], t[train], self.parts_)
            D_test = design(scaled(X[test], scaling), A[test], t[test], self.parts_)
            start = None
            for penalty in sorted(self.penalties, reverse=True):  # warm start: smooth first
                start = fit_penalised_logistic(
                    D_train, y[train], self._penalty(X.shape[1], penalty), start
                )
                eta = D_test @ start
                deviance[penalty] += float(np.sum(np.logaddexp(0.0, eta) - y[test] * eta))
        best = min(deviance, key=lambda p: (deviance[p], -p))
        return best, {f"{p:g}": 2.0 * (d - deviance[best]) for p, d in deviance.items()}

    def _point_and_sd(
        self, matrix: np.ndarray, A: np.ndarray, option: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point uplift and its delta-method standard error, :data:`PREDICT_CHUNK` rows at
        a time (the design matrices are rows x coefficients: bounded memory at any size)."""
        n = len(matrix)
        p0, uplift, sd = np.empty(n), np.empty(n), np.empty(n)
        for start in range(0, n, PREDICT_CHUNK):
            rows = slice(start, start + PREDICT_CHUNK)
            Z, A_rows = scaled(matrix[rows], self.scaling_), A[rows]
            D0 = design(Z, np.zeros_like(A_rows), np.zeros(len(Z)), self.parts_)
            D1 = design(Z, A_rows, np.ones(len(Z)), self.parts_)
            q0, q1 = expit(D0 @ self.coef_), expit(D1 @ self.coef_)
            gradient = D1 * (q1 * (1 - q1))[:, None] - D0 * (q0 * (1 - q0))[:, None]
            variance = ((gradient @ self.cov_) * gradient).sum(axis=1)
            p0[rows], uplift[rows] = q0, q1 - q0
            sd[rows] = np.sqrt(np.maximum(variance, 0.0))
        return p0, uplift, sd

    def _state(self) -> dict[str, Any]:
        return {
            "coef": self.coef_.tolist(),
            "cov": self.cov_.tolist(),
            "scaling": [list(s) for s in self.scaling_],
            "parts": self.parts_.tolist(),
            "effect_penalty": self.effect_penalty_,
            "cv_deviance": dict(self.cv_deviance_),
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.coef_ = np.asarray(state["coef"], float)
        self.cov_ = np.asarray(state["cov"], float)
        self.scaling_ = [(str(k), float(m), float(s)) for k, m, s in state["scaling"]]
        self.parts_ = np.asarray(state["parts"], float)
        self.effect_penalty_ = float(state["effect_penalty"])
        self.cv_deviance_ = {str(k): float(v) for k, v in state["cv_deviance"].items()}
