"""The models the out-of-time harness can judge, by name: BG/NBD, MBG/NBD and XGBoost.

Each entry is a factory of a :class:`pipelines.training.evaluation.Candidate`. The table is
written out here rather than filled by imports elsewhere, so ``winback evaluate --models``
knows every model without importing a module for its side effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import pandas as pd

from pipelines.training.evaluation import BASELINES, Candidate, EvaluationContext
from pipelines.training.fit import TrainingSettings, train_scorer


def btyd_candidate(transaction_model: str) -> Candidate:
    """BG/NBD or MBG/NBD with Gamma-Gamma, fitted on the features at the cutoff."""

    def predict(context: EvaluationContext) -> pd.DataFrame:
        from models.btyd import BTYDModel

        features = context.features.set_index("customer_id")
        model = BTYDModel(transaction_model=transaction_model).fit(features)
        return model.predict(features, pd.Timestamp(context.cutoff), context.horizon_days)

    return Candidate(name=transaction_model, kind="model", predict=predict)


def xgboost_candidate(settings: TrainingSettings | None = None) -> Candidate:
    """The full training procedure as an evaluation candidate: it trains on the context's
    history (which ends at the cutoff), with the context's feature rules, and scores the
    customers at the cutoff."""
    settings = settings or TrainingSettings()

    def predict(context: EvaluationContext) -> pd.DataFrame:
        local = TrainingSettings(**{**asdict(settings), "horizon_days": context.horizon_days})
        scorer, _ = train_scorer(context.history, context.cutoff, local, context.config)
        scores = scorer.score_features(context.features, context.cutoff)
        return scores.set_index("customer_id")[["p_dormant", "predicted_spend"]]

    return Candidate(name="xgboost", kind="model", predict=predict)


#: Model name -> factory of its candidate.
MODEL_CANDIDATES: dict[str, Callable[[], Candidate]] = {
    "bgnbd": lambda: btyd_candidate("bgnbd"),
    "mbgnbd": lambda: btyd_candidate("mbgnbd"),
    "xgboost": xgboost_candidate,
}
DEFAULT_MODELS = ("bgnbd", "mbgnbd")


def default_candidates(models: tuple[str, ...] = DEFAULT_MODELS) -> list[Candidate]:
    """The named models followed by the baselines."""
    return [MODEL_CANDIDATES[name]() for name in models] + list(BASELINES)
