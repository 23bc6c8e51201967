"""The machinery every pooled uplift learner shares: encoding, bagging, bounds, state.

Why bagging: a boosted model gives one number per customer and no sense of how much of it
is noise, yet the decision (contact or not) should rest on a lower bound. Each learner is
fitted ``n_bags`` times on bootstrap resamples of the log (stratified by group); the
prediction is the bag mean and ``uplift_lower = mean + z_q x sd`` over bags (``z_q`` the
normal quantile ``lower_quantile``, default 30%, chosen in :mod:`models.uplift_policy`).
The learners themselves are in :mod:`models.uplift_learners`.

Inputs: the log's feature columns, encoded by :class:`models.uplift_data.FeatureEncoder`,
plus the option (channel x offer) one-hot. All control rows are controls of every option
(a randomised control group is exchangeable with each treated arm); the propensities are
the log's assignment shares (``propensity_``), so a log randomised with different
treatment shares per segment needs the segment among the features.

With ``spend`` in the log, a spend model fitted on returners (``E[spend | return, x,
option]``) gives ``spend_if_returned`` and ``incremental_spend = p1 s1 - p0 s0``.

Fitted state is plain: boosters as XGBoost JSON text, the encoder's vocabulary, the
options and propensities (``to_dict`` / ``from_dict``), so MLflow stores it without pickles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.stats import norm

from models.uplift_data import (
    NO_OFFER,
    FeatureEncoder,
    UpliftDataError,
    feature_columns,
    option_key,
    validate_uplift_log,
)
from models.xgboost_import import import_xgboost

xgb = import_xgboost()

_PARAM_NAMES = (
    "features",
    "n_estimators",
    "max_depth",
    "learning_rate",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
    "effect_n_estimators",
    "effect_max_depth",
    "n_bags",
    "lower_quantile",
    "random_state",
)


def train_booster(
    X: np.ndarray,
    y: np.ndarray,
    objective: str,
    params: Mapping[str, Any],
    *,
    weight: Any = None,
    base_margin: np.ndarray | None = None,
    effect: bool = False,
) -> xgb.Booster:
    """One booster; ``effect=True`` uses the (smaller) effect-model size.

    One thread: on a shared 2-core machine OpenMP spin-waiting made two threads slower.
    """
    settings = {
        "objective": objective,
        "tree_method": "hist",
        "nthread": 1,
        "max_depth": params["effect_max_depth" if effect else "max_depth"],
        "eta": params["learning_rate"],
        "min_child_weight": params["min_child_weight"],
        "subsample": params["subsample"],
        "colsample_bytree": params["colsample_bytree"],
        "lambda": params["reg_lambda"],
        "seed": params["seed"],
    }
    rounds = params["effect_n_estimators" if effect else "n_estimators"]
    matrix = xgb.DMatrix(X, label=y, weight=weight, base_margin=base_margin)
    return xgb.train(settings, matrix, num_boost_round=rounds)


def predict_booster(
    booster: xgb.Booster, X: np.ndarray, base_margin: np.ndarray | None = None
) -> np.ndarray:
    """Predictions on the objective's scale (probabilities for logistic boosters)."""
    return booster.inplace_predict(X, base_margin=base_margin)


def log_odds(p: np.ndarray) -> np.ndarray:
    """Logit, clipped away from 0 and 1 so an offset is always finite."""
    p = np.clip(np.asarray(p, float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _booster_json(booster: xgb.Booster) -> str:
    return bytes(booster.save_raw(raw_format="json")).decode()


def _booster_from_json(text: str) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(text.encode()))
    return booster


class PooledUpliftLearner:
    """Shared fit/predict/serialise machinery; subclasses fit and predict one bag.

    ``n_estimators``, ``max_depth`` size the outcome models; ``effect_n_estimators``,
    ``effect_max_depth`` the models of the contact's effect (smaller: the effect is a few
    points, and trees sized for the baseline fit its noise).
    """

    kind: ClassVar[str]

    def __init__(
        self,
        features: Sequence[str] | None = None,
        n_estimators: int = 150,
        max_depth: int = 3,
        learning_rate: float = 0.05,
        min_child_weight: float = 20.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 5.0,
        effect_n_estimators: int = 30,
        effect_max_depth: int = 2,
        n_bags: int = 5,
        lower_quantile: float = 0.30,
        random_state: int = 0,
    ) -> None:
        self.features = features
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.effect_n_estimators = effect_n_estimators
        self.effect_max_depth = effect_max_depth
        self.n_bags = n_bags
        self.lower_quantile = lower_quantile
        self.random_state = random_state

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters, as scikit-learn names them."""
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    # ------------------------------------------------------------------ subclass hooks
    def _fit_bag(
        self, X: np.ndarray, A: np.ndarray, y: np.ndarray, t: np.ndarray, seed: int
    ) -> dict[str, xgb.Booster]:
        raise NotImplementedError

    def _predict_bag(
        self, bag: Mapping[str, xgb.Booster], X: np.ndarray, A: np.ndarray, option: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(p_anyway, uplift)`` of one bag for rows ``X`` under options ``A``."""
        raise NotImplementedError

    def _params(self, seed: int, **overrides: Any) -> dict[str, Any]:
        return {**self.get_params(), "seed": seed, **overrides}

    # ------------------------------------------------------------------ fit
    def _option_matrix(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One-hot of option keys, and their index into ``options_`` (-1 for none)."""
        index = pd.Index(self.options_).get_indexer(keys)
        matrix = np.zeros((len(keys), len(self.options_)))
        rows = np.flatnonzero(index >= 0)
        matrix[rows, index[rows]] = 1.0
        return matrix, index

    def _prepare(
        self, log: pd.DataFrame, outcome: str, spend: str | None
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Validate the log, fit the encoder, options and propensities: ``(data, X, A, y, t)``."""
        exclude = [outcome] + ([spend] if spend else [])
        features = (
            list(self.features) if self.features is not None else feature_columns(log, exclude)
        )
        data = validate_uplift_log(log, outcome=outcome, spend=spend, features=features)
        self.features_ = features
        self.encoder_ = FeatureEncoder().fit(data, features)
        X = self.encoder_.transform(data)
        t = data["treated"].to_numpy(int)
        keys = option_key(data["channel"].fillna(""), data["offer"])
        self.options_ = sorted(set(keys[t == 1]))
        A, _ = self._option_matrix(np.where(t == 1, keys, ""))
        counts = pd.Series(keys[t == 1]).value_counts()
        n = len(t)
        self.propensity_ = {"control": float((t == 0).sum() / n)}
        self.propensity_.update({k: float(counts[k] / n) for k in self.options_})
        return data, X, A, data[outcome].to_numpy(float), t

    def fit(
        self, log: pd.DataFrame, outcome: str = "returned", spend: str | None = None
    ) -> PooledUpliftLearner:
        """Fit on a campaign log carrying outcomes and features (``models.uplift_data``)."""
        if self.n_bags < 2:
            raise ValueError(f"n_bags must be at least 2 for a lower bound, got {self.n_bags}")
        data, X, A, y, t = self._prepare(log, outcome, spend)
        rng = np.random.default_rng(self.random_state)
        self.bags_ = []
        for b in range(self.n_bags):
            rows = np.concatenate(
                [rng.choice(np.flatnonzero(t == g), (t == g).sum()) for g in (0, 1)]
            )
            self.bags_.append(
                self._fit_bag(X[rows], A[rows], y[rows], t[rows], self.random_state + b)
            )
        self.spend_ = None
        if spend:
            self.spend_ = self._fit_spend(X, A, t, data[spend].to_numpy(float), y)
        return self

    def _fit_spend(
        self, X: np.ndarray, A: np.ndarray, t: np.ndarray, spend: np.ndarray, y: np.ndarray
    ) -> xgb.Booster | None:
        """E[spend | return, x, option] on the returners (None when too few returned)."""
        returned = y == 1
        if returned.sum() < 20:
            return None
        inputs = np.column_stack([X, t, A])[returned]
        return train_booster(
            inputs, spend[returned], "reg:squarederror", self._params(self.random_state)
        )

    # ------------------------------------------------------------------ predict
    def predict(self, X: pd.DataFrame, channel: Any, offer: Any = NO_OFFER) -> pd.DataFrame:
        """Per row of ``X`` for the given channel and offer (one value or one per row).

        Columns ``p_anyway, p_if_contacted, uplift, uplift_lower, uplift_sd``, and with a
        spend model ``spend_if_returned`` (contacted) and ``incremental_spend``.
        """
        n = len(X)
        channel = np.broadcast_to(np.asarray(channel, dtype=object), (n,))
        offer = np.broadcast_to(np.asarray(offer, dtype=object), (n,))
        keys = option_key(channel, offer)
        A, option = self._option_matrix(keys)
        if (option < 0).any():
            raise UpliftDataError(
                f"option {keys[option < 0][0]!r} (channel|offer) was never tried in the log "
                f"this model learned from; known: {', '.join(self.options_)}"
            )
        matrix = self.encoder_.transform(X)
        p_anyway, uplift, sd = self._point_and_sd(matrix, A, option)
        p_anyway = np.clip(p_anyway, 0.0, 1.0)
        out = pd.DataFrame(
            {
                "p_anyway": p_anyway,
                "p_if_contacted": np.clip(p_anyway + uplift, 0.0, 1.0),
                "uplift": uplift,
                "uplift_lower": uplift + norm.ppf(self.lower_quantile) * sd,
                "uplift_sd": sd,
            },
            index=X.index,
        )
        if self.spend_ is not None:
            s1 = predict_booster(self.spend_, np.column_stack([matrix, np.ones(n), A]))
            s0 = predict_booster(self.spend_, np.column_stack([matrix, np.zeros(n), 0 * A]))
            out["spend_if_returned"] = s1
            out["incremental_spend"] = out["p_if_contacted"] * s1 - out["p_anyway"] * s0
        return out

    def _point_and_sd(
        self, matrix: np.ndarray, A: np.ndarray, option: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(p_anyway, uplift, uplift_sd)``: the bags' mean and their spread."""
        p0, tau = zip(
            *(self._predict_bag(bag, matrix, A, option) for bag in self.bags_), strict=True
        )
        return np.mean(p0, axis=0), np.mean(tau, axis=0), np.std(tau, axis=0, ddof=1)

    # ------------------------------------------------------------------ state
    def _state(self) -> Any:
        """The fitted effect model's plain state (the bags' boosters as JSON text)."""
        return [{k: _booster_json(v) for k, v in bag.items()} for bag in self.bags_]

    def _load_state(self, state: Any) -> None:
        self.bags_ = [{k: _booster_from_json(v) for k, v in bag.items()} for bag in state]

    def to_dict(self) -> dict[str, Any]:
        """Plain state (boosters as JSON text) that MLflow stores without pickles."""
        params = self.get_params()
        params["features"] = None if self.features is None else list(self.features)
        return {
            "kind": self.kind,
            "params": params,
            "features": list(self.features_),
            "encoder": self.encoder_.to_dict(),
            "options": list(self.options_),
            "propensity": dict(self.propensity_),
            "bags": self._state(),
            "spend": None if self.spend_ is None else _booster_json(self.spend_),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Inverse of :meth:`to_dict` (for the class named by ``data['kind']``)."""
        if data.get("kind") != cls.kind:
            raise ValueError(f"state of a {data.get('kind')!r} model, not {cls.kind!r}")
        model = cls(**data["params"])
        model.features_ = list(data["features"])
        model.encoder_ = FeatureEncoder.from_dict(data["encoder"])
        model.options_ = list(data["options"])
        model.propensity_ = {k: float(v) for k, v in data["propensity"].items()}
        model._load_state(data["bags"])
        model.spend_ = None if data["spend"] is None else _booster_from_json(data["spend"])
        return model
