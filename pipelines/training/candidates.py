"""The models the out-of-time harness can judge, by name: BG/NBD, MBG/NBD, Pareto/NBD, XGBoost.

Each entry is a factory of a :class:`pipelines.training.evaluation.Candidate`. The table is
written out here rather than filled by imports elsewhere, so ``winback evaluate --models``
knows every model without importing a module for its side effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import pandas as pd

from models.scorer import WinbackScorer
from pipelines.training.evaluation import BASELINES, Candidate, EvaluationContext
from pipelines.training.fit import TrainingSettings, fit_btyd, train_scorer


def btyd_candidate(transaction_model: str, penalizer_coef: float = 0.0) -> Candidate:
    """BG/NBD or MBG/NBD with Gamma-Gamma, fitted on the features at the cutoff (as
    training fits them: see :func:`pipelines.training.fit.fit_btyd`)."""

    def predict(context: EvaluationContext) -> pd.DataFrame:
        features = context.features.set_index("customer_id")
        model = fit_btyd(features, transaction_model, penalizer_coef)
        return model.predict(features, pd.Timestamp(context.cutoff), context.horizon_days)

    return Candidate(name=transaction_model, kind="model", predict=predict)


def xgboost_candidate(
    settings: TrainingSettings | None = None,
    on_trained: Callable[[WinbackScorer], None] | None = None,
) -> Candidate:
    """The full training procedure as an evaluation candidate: it trains on the context's
    history (which ends at the cutoff), with the context's feature rules, and scores the
    customers at the cutoff.

    ``on_trained`` receives that held-out scorer: ``winback train`` logs it, so that a later
    run can re-score this champion on *its* customers (the guard compares like with like).
    """
    settings = settings or TrainingSettings()

    def predict(context: EvaluationContext) -> pd.DataFrame:
        local = TrainingSettings(**{**asdict(settings), "horizon_days": context.horizon_days})
        scorer, _ = train_scorer(context.history, context.cutoff, local, context.config)
        if on_trained is not None:
            on_trained(scorer)
        scores = scorer.score_features(context.features, context.cutoff)
        return scores.set_index("customer_id")[["p_dormant", "predicted_spend"]]

    return Candidate(name="xgboost", kind="model", predict=predict)


#: Model name -> factory of its candidate.
#: Each factory takes the BTYD penalizer (``winback evaluate --penalizer``).
MODEL_CANDIDATES: dict[str, Callable[[float], Candidate]] = {
    "bgnbd": lambda penalizer_coef=0.0: btyd_candidate("bgnbd", penalizer_coef),
    "mbgnbd": lambda penalizer_coef=0.0: btyd_candidate("mbgnbd", penalizer_coef),
    "pareto_nbd": lambda penalizer_coef=0.0: btyd_candidate("pareto_nbd", penalizer_coef),
    "xgboost": lambda penalizer_coef=0.0: xgboost_candidate(
        TrainingSettings(penalizer_coef=penalizer_coef)
    ),
}
DEFAULT_MODELS = ("bgnbd", "mbgnbd", "pareto_nbd")


def default_candidates(
    models: tuple[str, ...] = DEFAULT_MODELS, penalizer_coef: float = 0.0
) -> list[Candidate]:
    """The named models followed by the baselines."""
    return [MODEL_CANDIDATES[name](penalizer_coef) for name in models] + list(BASELINES)
