"""Training on time-split snapshots, without leakage.

From transactions up to an as-of date ``A`` and a horizon ``h`` we build examples at
snapshot dates ``s = A - h, A - h - step, ...``: features and BTYD outputs from data on or
before ``s`` only, labels (dormant, spend) from ``(s, s + h]``. Every label window ends by
``A``. The newest snapshot is the calibration fold of the dormancy model (time-later than
everything it calibrates); the others train the boosters.

The honest yardstick for a training run is :func:`pipelines.training.evaluation.evaluate` at cutoff
``A - h``: the XGBoost candidate there re-runs this whole procedure on data up to ``A - h``,
so the held-out window ``(A - h, A]`` is used for neither fitting, calibration nor stopping.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd

from features.build import build_features
from features.config import FeatureConfig
from features.errors import WinbackError
from features.table import to_date
from models.boosting import DormancyClassifier, SpendRegressor, design_matrix
from models.btyd import BTYDModel
from models.likelihoods import ConvergenceError
from models.scorer import WinbackScorer
from pipelines.training.evaluation import window_labels
from pipelines.training.model_choice import (
    AUTO,
    ModelChoice,
    choose_transaction_model,
    validate_transaction_model,
)

logger = logging.getLogger(__name__)
#: The penalizer a fit without one is retried with when it does not converge.
RETRY_PENALIZER = 0.001


@dataclass
class TrainingSettings:
    """Everything that shapes a training run; logged as MLflow parameters."""

    horizon_days: int = 90
    snapshot_step_days: int = 14
    max_snapshots: int = 12
    min_history_days: int = 45
    #: BG/NBD, MBG/NBD, Pareto/NBD by name, or "auto": chosen out of time at the newest
    #: snapshot (pipelines.training.model_choice).
    transaction_model: str = AUTO
    #: L2 penalizer of the BTYD fits (lifetimes' ``penalizer_coef``); 0 = maximum likelihood.
    penalizer_coef: float = 0.0
    dormancy_params: dict[str, Any] = field(default_factory=dict)
    spend_params: dict[str, Any] = field(default_factory=dict)

    def flat(self) -> dict[str, Any]:
        flat = {k: v for k, v in asdict(self).items() if not isinstance(v, dict)}
        flat.update(
            {
                f"dormancy.{k}": v
                for k, v in DormancyClassifier(**self.dormancy_params).get_params().items()
            }
        )
        flat.update(
            {f"spend.{k}": v for k, v in SpendRegressor(**self.spend_params).get_params().items()}
        )
        return flat


def snapshot_dates(
    data_start: dt.date, as_of: dt.date, settings: TrainingSettings
) -> list[dt.date]:
    """Snapshot dates, newest first; each label window ends by ``as_of``."""
    newest = as_of - dt.timedelta(days=settings.horizon_days)
    earliest = data_start + dt.timedelta(days=settings.min_history_days)
    dates = []
    for k in range(settings.max_snapshots):
        snapshot = newest - dt.timedelta(days=k * settings.snapshot_step_days)
        if snapshot < earliest:
            break
        dates.append(snapshot)
    return dates


def snapshot_features(
    history: pd.DataFrame, snapshot: dt.date, config: FeatureConfig
) -> pd.DataFrame:
    """Features of every customer known at ``snapshot`` (indexed by customer_id)."""
    past = history[history["timestamp"].dt.normalize() <= pd.Timestamp(snapshot)]
    return build_features(past, snapshot, config).features.set_index("customer_id")


def snapshot_examples(
    history: pd.DataFrame,
    snapshot: dt.date,
    settings: TrainingSettings,
    config: FeatureConfig,
    features: pd.DataFrame | None = None,
    btyd: BTYDModel | None = None,
) -> pd.DataFrame:
    """Design matrix and labels of every customer known at ``snapshot`` (``features`` and
    ``btyd``: that snapshot's features and fitted model, if already at hand).
    ``settings.transaction_model`` is a model name."""
    if features is None:
        features = snapshot_features(history, snapshot, config)
    if btyd is None:
        btyd = fit_btyd(features, settings.transaction_model, settings.penalizer_coef)
    matrix = design_matrix(
        features, btyd.predict(features, pd.Timestamp(snapshot), settings.horizon_days)
    )
    labels = window_labels(history, features.index, snapshot, settings.horizon_days)
    matrix["dormant"] = labels["dormant"]
    matrix["future_spend"] = labels["future_spend"]
    matrix["snapshot"] = pd.Timestamp(snapshot)
    return matrix


def fit_btyd(
    features: pd.DataFrame, transaction_model: str, penalizer_coef: float = 0.0
) -> BTYDModel:
    """Fit BTYD; without a penalizer, a fit that does not converge is retried once with a
    small one, and says so in one line.

    With few repeat buyers (a young or thin customer base, an order-line export full of
    one-time buyers) the BG/NBD likelihood can be flat towards its boundary (a, b ->
    infinity); the penalty keeps the parameters finite without changing well-identified
    fits noticeably. A chosen penalizer is never changed silently: if the fit still fails,
    :class:`models.likelihoods.ConvergenceError` names the model and the fix, and the
    command line prints it as one line.
    """
    try:
        return BTYDModel(transaction_model=transaction_model, penalizer_coef=penalizer_coef).fit(
            features
        )
    except ConvergenceError as error:
        if penalizer_coef > 0:
            raise
        logger.warning(
            "%s; refitted with penalizer_coef=%g (choose one with --penalizer)",
            error.summary,
            RETRY_PENALIZER,
        )
    return BTYDModel(transaction_model=transaction_model, penalizer_coef=RETRY_PENALIZER).fit(
        features
    )


@dataclass
class TrainingReport:
    as_of: dt.date
    snapshots: list[dt.date]
    calibration_snapshot: dt.date
    n_training_examples: int
    n_calibration_examples: int
    #: The as-of feature table the BTYD models were fitted on (indexed by customer_id),
    #: kept so that the MLflow run's SHAP plot does not rebuild it.
    as_of_features: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)
    #: The out-of-time comparison of transaction models, when the settings asked for it.
    model_choice: ModelChoice | None = None


def train_scorer(
    transactions: pd.DataFrame,
    as_of: str | dt.date,
    settings: TrainingSettings,
    config: FeatureConfig,
    on_step: Callable[[str], None] = lambda _: None,
) -> tuple[WinbackScorer, TrainingReport]:
    """Fit the full scorer on data up to ``as_of`` (later rows are ignored), with the
    feature rules ``config`` (the scorer keeps them, so scoring builds the same features)."""
    as_of = to_date(as_of)
    history = transactions[transactions["timestamp"].dt.normalize() <= pd.Timestamp(as_of)]
    if history.empty:
        raise WinbackError(f"no transaction on or before as-of {as_of}")
    dates = snapshot_dates(history["timestamp"].min().date(), as_of, settings)
    if len(dates) < 2:
        raise WinbackError(
            f"as-of {as_of} leaves {len(dates)} complete {settings.horizon_days}-day label "
            "window(s); training needs 2 (one to fit, one to calibrate): use a later as-of "
            "date or a shorter --horizon-days"
        )
    newest = snapshot_features(history, dates[0], config)
    choice = None
    if validate_transaction_model(settings.transaction_model) == AUTO:
        on_step(f"choosing the transaction model on the window after {dates[0]}")
        labels = window_labels(history, newest.index, dates[0], settings.horizon_days)
        choice = choose_transaction_model(
            newest,
            labels["dormant"],
            dates[0],
            settings.horizon_days,
            lambda features, name: fit_btyd(features, name, settings.penalizer_coef),
        )
        settings = replace(settings, transaction_model=choice.winner)
    examples = []
    for snapshot in dates:
        on_step(f"snapshot {snapshot}: features, BTYD, labels")
        if snapshot == dates[0]:  # the choice built these features and fitted the winner
            fitted = None if choice is None else choice.fitted[choice.winner]
            examples.append(snapshot_examples(history, snapshot, settings, config, newest, fitted))
        else:
            examples.append(snapshot_examples(history, snapshot, settings, config))
    calibration, training = examples[0], pd.concat(examples[1:])
    matrix_columns = [
        c for c in training.columns if c not in ("dormant", "future_spend", "snapshot")
    ]
    on_step("fitting XGBoost dormancy and spend models")
    dormancy = DormancyClassifier(**settings.dormancy_params).fit(
        training[matrix_columns],
        training["dormant"],
        calibration[matrix_columns],
        calibration["dormant"],
    )
    everything = pd.concat(examples)
    spend = SpendRegressor(**settings.spend_params).fit(
        everything[matrix_columns], everything["future_spend"]
    )
    on_step(f"fitting BTYD at {as_of}")
    features = build_features(history, as_of, config).features.set_index("customer_id")
    btyd = fit_btyd(features, settings.transaction_model, settings.penalizer_coef)
    scorer = WinbackScorer(
        feature_config=config,
        btyd=btyd,
        dormancy=dormancy,
        spend=spend,
        horizon_days=settings.horizon_days,
        trained_as_of=as_of,
        metadata={} if choice is None else {"transaction_model_choice": choice.to_dict()},
    )
    report = TrainingReport(
        as_of=as_of,
        snapshots=dates,
        calibration_snapshot=dates[0],
        n_training_examples=len(training),
        n_calibration_examples=len(calibration),
        as_of_features=features,
        model_choice=choice,
    )
    return scorer, report
