"""The uplift stage: learn a model from a campaign log, judge it out of sample, save it, predict.

Why one stage for ``winback campaign learn`` and ``winback campaign predict``: the model
file is their contract. It holds the learner's plain state (``to_dict``, no pickles) and
what the prediction needs to be trusted: learner, features, the options (channel x offer)
it was randomised on, row counts, the held-out evaluation, when it was made and from
which file (path and SHA-256).

Learners (``--learner``): ``auto`` (the default, below), the pooled learners of
:mod:`models.uplift_learners` (``xlearner``; ``offset_t``; ``tlearner``;
``class_transformation``; ``logistic``, :mod:`models.uplift_logistic`) on every feature
column, or ``shrinkage``
(:class:`models.uplift.ShrinkageUplift`, per channel x offer x segment cell). Its prior
is ``configs/channels.yaml``'s rule, ``p_anyway + (1 - p_anyway) x response_rate[channel]
x response_factor_by_status[segment]``, with ``p_anyway`` the log's own control return
rate: a CRM export carries no scorer output to take a baseline from.

Evaluation: before the final fit, the chosen learner and the two standard baselines
(T-learner, class transformation) are fitted on a random 70% of the customers (stratified
by group) and judged on the other 30% by the normalised Qini coefficient and uplift@30%
(:mod:`models.uplift_metrics`), beside a random score; then the chosen learner is refitted
on every row for the saved model. Each held-out row is scored with the uplift of the
option it was randomised to (a control row without a channel: the mean over options).
A Qini on observed outcomes is noisy (on the simulator, 1,800 held-out rows put random
scores anywhere between about -0.035 and +0.035, while the learners' true Qini is 0.3-0.6),
so the report also gives the 95th percentile of the Qini of random scores on the same rows
(``random_qini_95``): a learner below it is not distinguishable from guessing there.

``auto`` chooses between :data:`AUTO_CANDIDATES` inside the 70% alone: each is fitted on
70% of it and judged by Qini on the other 30% of it (about 21% of the log), and the better
one is the learner. The outer 30% then judges only that learner, so the guard's verdict
and the reported held-out numbers are not the best of two tries on the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.atomic import atomic_output, write_text_atomic
from models.uplift import classify_uplift_groups, predict_options, uplift_model_from_dict
from models.uplift_data import UpliftDataError, check_feature_columns, option_key
from models.uplift_metrics import qini_auc_score, uplift_at_k
from models.uplift_prior import prior_table
from pipelines.economics.campaign_results import json_ready
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.uplift_guard import judge_against_prior, not_judged
from pipelines.economics.uplift_log import (
    OUTCOME,
    LearningLog,
    apply_log_map,
    option_counts,
    read_table,
)

#: ``--learner`` name -> the ``kind`` of the model it fits.
LEARNERS = {
    "xlearner": "x_learner",
    "offset_t": "offset_t_learner",
    "tlearner": "t_learner",
    "class_transformation": "class_transformation",
    "logistic": "logistic",
    "shrinkage": "shrinkage",
}
#: ``auto`` compares these on part of the training customers and keeps the better Qini
#: (:func:`choose_candidate`); the first is used when there is no evaluation
#: (``--no-evaluate``, or too few rows).
AUTO = "auto"
AUTO_CANDIDATES = ("xlearner", "logistic")
DEFAULT_LEARNER = AUTO
#: The standard learners every evaluation reports beside the chosen one.
BASELINE_LEARNERS = ("tlearner", "class_transformation")
DEFAULT_SEGMENT = "status"
EVALUATION_SHARE = 0.30
TOP_SHARE = 0.30
#: Random scores drawn to tell a held-out Qini from noise (``random_qini_95``).
RANDOM_DRAWS = 100
#: A held-out part with fewer treated or control rows than this is not evaluated.
MIN_EVALUATION_GROUP = 20
MODEL_FORMAT = "winback.uplift_model"
MODEL_FORMAT_VERSION = 1
PREDICTION_COLUMNS = (
    "customer_id",
    "channel",
    "offer",
    "uplift",
    "uplift_lower",
    "p_if_contacted",
    "p_anyway",
    "incremental_spend",
    "uplift_group",
)


def check_learner(learner: str, segment: str | None, log: LearningLog) -> str | None:
    """The learner's name checked, and the segment column shrinkage will use (else None)."""
    if learner not in LEARNERS and learner != AUTO:
        known = ", ".join([AUTO, *LEARNERS])
        raise UpliftDataError(f"unknown learner {learner!r}; choose one of: {known}")
    if learner != "shrinkage":
        return None
    column = segment or DEFAULT_SEGMENT
    if column not in log.data.columns:
        raise UpliftDataError(
            f"{log.source['log']}: the shrinkage learner needs a segment column; there is no "
            f"{column!r} (name one with --segment)"
        )
    empty = log.data[column].isna().to_numpy()
    if empty.any():
        raise UpliftDataError(
            f"{log.source['log']}: row {int(np.flatnonzero(empty)[0]) + 1}: {column} is empty; "
            "the shrinkage learner needs every row's segment"
        )
    return column


def shrinkage_prior(data: pd.DataFrame, segment: str, config: ChannelConfig) -> pd.DataFrame:
    """The configured prior per channel x offer x segment of the log (module docstring)."""
    treated = data[data["treated"] == 1]
    control_rate = float(data.loc[data["treated"] == 0, OUTCOME].mean())
    p_anyway = float(np.clip(control_rate, 0.001, 0.999))
    segments = sorted(data[segment].astype(str).unique())
    rates = {
        channel: float(config.channels[channel].response_rate)
        for channel in sorted(treated["channel"].unique())
    }
    return prior_table(
        dict.fromkeys(segments, p_anyway),
        rates,
        dict(config.response_factor_by_status),
        sorted(treated["offer"].unique()),
    )


def fit_learner(
    learner: str,
    log: LearningLog,
    data: pd.DataFrame,
    config: ChannelConfig,
    segment: str | None = None,
    seed: int = 0,
) -> Any:
    """One learner fitted on ``data`` (all of ``log.data`` or a part of it)."""
    from models.uplift import ShrinkageUplift
    from models.uplift_learners import LEARNERS as POOLED

    if learner == "shrinkage":
        prior = shrinkage_prior(log.data, segment or DEFAULT_SEGMENT, config)
        model = ShrinkageUplift(prior, segment_column=segment or DEFAULT_SEGMENT, random_state=seed)
        return model.fit(data, outcome=OUTCOME)
    pooled = POOLED[LEARNERS[learner]](features=log.features, random_state=seed)
    return pooled.fit(data, outcome=OUTCOME, spend=log.spend)


def model_options(data: pd.DataFrame) -> list[tuple[str, str]]:
    """The channel x offer options the log randomised customers to (its treated rows)."""
    treated = data[data["treated"] == 1]
    return sorted(set(zip(treated["channel"], treated["offer"], strict=True)))


def split_by_customer(data: pd.DataFrame, share: float, seed: int = 0) -> np.ndarray:
    """Held-out mask: ``share`` of the customers of each group, all of a customer's rows.

    The group of a customer logged in several campaigns is the group of their first row.
    """
    rng = np.random.default_rng(seed)
    first = data.drop_duplicates("customer_id")
    held_out: list[str] = []
    for _, customers in first.groupby("group")["customer_id"]:
        ids = customers.to_numpy()
        held_out += list(rng.permutation(ids)[: int(round(share * len(ids)))])
    return data["customer_id"].isin(set(held_out)).to_numpy()


def logged_option_uplift(model: Any, data: pd.DataFrame, options: list[tuple[str, str]]) -> Any:
    """Each row's predicted uplift for the option it was randomised to (module docstring)."""
    predictions = predict_options(model, data.reset_index(drop=True), options)
    uplift = predictions["uplift"].to_numpy(float).reshape(len(data), len(options))
    keys = pd.Index(option_key(*zip(*options, strict=True)))
    column = keys.get_indexer(option_key(data["channel"].fillna(""), data["offer"]))
    rows = np.arange(len(data))
    return np.where(column >= 0, uplift[rows, np.maximum(column, 0)], uplift.mean(axis=1))


def _scores(y: np.ndarray, score: np.ndarray, t: np.ndarray) -> dict[str, float]:
    at_k = uplift_at_k(y, score, t, TOP_SHARE)
    return {
        "qini": qini_auc_score(y, score, t),
        "uplift_at_30": at_k.value,
        "uplift_at_30_se": at_k.se,
    }


def evaluate_learners(
    log: LearningLog,
    learner: str,
    config: ChannelConfig,
    segment: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Qini and uplift@30% of the chosen learner, the baselines and a random score on a
    held-out 30% of the customers (``results`` empty, with a ``reason``, when too small)."""
    held_out = split_by_customer(log.data, EVALUATION_SHARE, seed)
    train, test = log.data[~held_out], log.data[held_out].reset_index(drop=True)
    t, y = test["treated"].to_numpy(int), test[OUTCOME].to_numpy(int)
    report: dict[str, Any] = {
        "share": EVALUATION_SHARE,
        "top_share": TOP_SHARE,
        "seed": seed,
        "rows_train": len(train),
        "rows_test": len(test),
        "results": [],
    }
    treated_train = train["treated"].to_numpy(int)
    group_sizes = [t.sum(), (t == 0).sum(), treated_train.sum(), (treated_train == 0).sum()]
    if min(group_sizes) < MIN_EVALUATION_GROUP:
        report["reason"] = (
            f"not evaluated: the held-out {EVALUATION_SHARE:.0%} needs at least "
            f"{MIN_EVALUATION_GROUP} treated and {MIN_EVALUATION_GROUP} control rows"
        )
        report["promotion"] = not_judged(report["reason"])
        return report
    options = model_options(train)  # a pooled learner predicts only options it saw
    chosen = learner
    if learner == AUTO:
        chosen, report["choice"], report["choice_qini"] = choose_candidate(
            log, train, config, segment, seed
        )
    report["chosen"] = chosen
    for name in dict.fromkeys([chosen, *BASELINE_LEARNERS]):
        model = fit_learner(name, log, train, config, segment, seed)
        score = logged_option_uplift(model, test, options)
        report["results"].append({"learner": name, **_scores(y, score, t)})
        if name == chosen:
            report["promotion"] = judge_against_prior(
                model, train, test, options, config, log.spend
            )
    rng = np.random.default_rng(seed)
    report["results"].append({"learner": "random", **_scores(y, rng.random(len(test)), t)})
    draws = [qini_auc_score(y, rng.random(len(test)), t) for _ in range(RANDOM_DRAWS)]
    report["random_qini_95"] = float(np.quantile(draws, 0.95))
    return report


def choose_candidate(
    log: LearningLog, train: pd.DataFrame, config: ChannelConfig, segment: str | None, seed: int
) -> tuple[str, str, dict[str, float]]:
    """``auto``'s learner, why, and each candidate's Qini on an inner held-out part of
    ``train`` (the first candidate when that part is too small, or both fail)."""
    inner_out = split_by_customer(train, EVALUATION_SHARE, seed + 1)
    inner, probe = train[~inner_out], train[inner_out].reset_index(drop=True)
    t, y = probe["treated"].to_numpy(int), probe[OUTCOME].to_numpy(int)
    sizes = [t.sum(), (t == 0).sum(), inner["treated"].sum(), (inner["treated"] == 0).sum()]
    if min(sizes) < MIN_EVALUATION_GROUP:
        first = AUTO_CANDIDATES[0]
        return first, f"auto: {first} (too few rows to choose between learners)", {}
    options = model_options(inner)
    qini = {}
    for name in AUTO_CANDIDATES:
        model = fit_learner(name, log, inner, config, segment, seed)
        qini[name] = qini_auc_score(y, logged_option_uplift(model, probe, options), t)
    chosen = max(
        AUTO_CANDIDATES,
        key=lambda name: (np.nan_to_num(qini[name], nan=-np.inf), -AUTO_CANDIDATES.index(name)),
    )
    tried = ", ".join(f"{name} {qini[name]:+.3f}" for name in AUTO_CANDIDATES)
    return (
        chosen,
        (
            f"auto: {chosen}, the better Qini on a part of the training customers ({tried}); "
            "the held-out rows above judged only the learner kept"
        ),
        qini,
    )


def row_counts(log: LearningLog) -> dict[str, Any]:
    """Rows read, used and left out (by reason), and treatment/control per option."""
    return {
        "read": log.rows_read,
        "used": log.rows_used,
        "left_out": dict(log.rows_left_out),
        "treatment": int(log.data["treated"].sum()),
        "control": int((log.data["treated"] == 0).sum()),
        "by_option": option_counts(log.data).to_dict(orient="records"),
    }


def chosen_learner(learner: str, evaluation: Mapping[str, Any] | None) -> str:
    """The learner to fit on every row: the one asked for, or ``auto``'s choice."""
    if learner != AUTO:
        return learner
    return (evaluation or {}).get("chosen") or AUTO_CANDIDATES[0]


def learn_uplift_model(
    log: LearningLog,
    config: ChannelConfig,
    learner: str = DEFAULT_LEARNER,
    segment: str | None = None,
    seed: int = 0,
    evaluate: bool = True,
) -> dict[str, Any]:
    """Evaluate on a held-out split, refit on every row, return the model document."""
    segment_column = check_learner(learner, segment, log)
    evaluation = evaluate_learners(log, learner, config, segment_column, seed) if evaluate else None
    requested, learner = learner, chosen_learner(learner, evaluation)
    model = fit_learner(learner, log, log.data, config, segment_column, seed)
    contacted = pd.to_datetime(log.data["contacted_at"], format="mixed")
    return json_ready(
        {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "learner": learner,
            "learner_requested": requested,
            "kind": LEARNERS[learner],
            "outcome": OUTCOME,
            # The spend model needs returners; with too few of them there is none.
            "spend": log.spend if getattr(model, "spend_", None) is not None else None,
            "features": [segment_column] if segment_column else list(log.features),
            "segment_column": segment_column,
            "options": [{"channel": c, "offer": o} for c, o in model_options(log.data)],
            "rows": row_counts(log),
            "first_contact": contacted.min().date().isoformat(),
            "last_contact": contacted.max().date().isoformat(),
            "evaluation": evaluation,
            # Whether `winback rank` may use this model instead of the prior, and why.
            "promotion": evaluation["promotion"]
            if evaluation
            else not_judged("not judged (learned with --no-evaluate)"),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "source": dict(log.source),
            "model": model.to_dict(),
        }
    )


def save_uplift_model(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write the model document as JSON (plain state: readable, diffable, no pickles)."""
    path = Path(path)
    write_text_atomic(path, json.dumps(document, indent=1) + "\n")
    return path


def load_uplift_model(path: str | Path) -> tuple[dict[str, Any], Any]:
    """The model document and the fitted model; anything else is refused in one line."""
    path = Path(path)
    if not path.exists():
        raise UpliftDataError(f"{path}: uplift model not found (run `winback campaign learn`)")
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UpliftDataError(f"{path}: not an uplift model file ({error})") from None
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
        raise UpliftDataError(f"{path}: not an uplift model file (written by `campaign learn`)")
    if document.get("format_version") != MODEL_FORMAT_VERSION:
        raise UpliftDataError(
            f"{path}: uplift model format {document.get('format_version')!r}; this winback "
            f"reads format {MODEL_FORMAT_VERSION}: learn the model again"
        )
    return document, uplift_model_from_dict(document["model"])


def _customers_to_predict(frame: pd.DataFrame, document: Mapping[str, Any], source: str) -> Any:
    """The log's ``customer_id`` and feature columns, checked; other columns are ignored."""
    if "customer_id" not in frame.columns:
        raise UpliftDataError(f"{source}: missing column customer_id")
    ids = (
        frame["customer_id"]
        .astype(object)
        .map(lambda v: None if pd.isna(v) or not str(v).strip() else str(v).strip())
    )
    problems = {"is empty": ids.isna().to_numpy(), "appears twice": ids.duplicated().to_numpy()}
    for what, bad in problems.items():
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise UpliftDataError(f"{source}: row {row}: customer_id {what}")
    features = list(document["features"])
    check_feature_columns(frame, features, source)
    customers = frame.loc[:, features].assign(customer_id=ids)
    # Text columns the encoder reads as numbers, converted once per customer rather than
    # once per customer and option.
    for column in document["model"].get("encoder", {}).get("numeric", []):
        customers[column] = pd.to_numeric(customers[column], errors="coerce")
    segment = document.get("segment_column")
    if segment:
        known = {str(v) for v in document["model"]["prior"]["segment"]}
        unknown = ~customers[segment].astype(str).isin(known).to_numpy()
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0]) + 1
            raise UpliftDataError(
                f"{source}: row {row}: {segment} {customers[segment].iloc[row - 1]!r} was not in "
                f"the log the model learned from; known: {', '.join(sorted(known))}"
            )
    return customers


def predict_uplift(
    model_path: str | Path,
    log_path: str | Path,
    out_path: str | Path | None = None,
    log_map: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per customer and option of the model (:data:`PREDICTION_COLUMNS`)."""
    document, model = load_uplift_model(model_path)
    source = str(log_path)
    customers = _customers_to_predict(
        apply_log_map(read_table(log_path), log_map or {}, source), document, source
    )
    options = [(o["channel"], o["offer"]) for o in document["options"]]
    predictions = predict_options(model, customers, options)
    if "incremental_spend" not in predictions:
        predictions["incremental_spend"] = np.nan
    predictions["uplift_group"] = classify_uplift_groups(
        predictions["p_anyway"], predictions["uplift"]
    )
    predictions = predictions.loc[:, list(PREDICTION_COLUMNS)]
    if out_path is not None:
        with atomic_output(out_path) as temporary:
            predictions.to_csv(temporary, index=False)
    return predictions, document
