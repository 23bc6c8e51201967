"""``winback campaign import``'s second half: learn the uplift model later rankings may use.

Why in ``import``: the loop a marketer runs is list with holdout -> campaign -> import ->
next list (README). ``import`` measures the campaign per cell (its first half); with the
same log and transactions it also fits the default learner on winback's own features at
each contact day (:func:`pipelines.economics.uplift_log.learning_log_from_transactions`)
and stores the model with its promotion verdict (:mod:`pipelines.economics.uplift_guard`).
``winback rank`` then decides on it only if the verdict promoted it
(:mod:`pipelines.economics.uplift_choice`).

A campaign too small to learn from is not an error of ``import``: its measurement stands,
and the outcome says in words why no model was stored (an older model file is left as it
was, so a small campaign never replaces a model learned from a larger one). Likewise a
new model its guard did not promote never replaces a promoted one: it is stored beside it
as ``<name>.challenger.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.config import FeatureConfig
from models.uplift_data import UpliftDataError
from pipelines.economics.channels import ChannelConfig


@dataclass(frozen=True)
class ImportedUplift:
    """What ``import`` did about the uplift model: stored (and promoted or not), or why not."""

    path: Path | None
    promote: bool
    reason: str
    learner: str | None = None
    #: The stored model document (for MLflow), None when nothing was stored.
    document: dict[str, Any] | None = None


def learn_from_import(
    log_path: str | Path,
    transactions: Any,
    feature_config: FeatureConfig,
    channels: ChannelConfig,
    horizon_days: int,
    out_path: str | Path,
    column_map: Mapping[str, str] | None = None,
) -> ImportedUplift:
    """Fit, judge and store the default learner on a campaign log and its transactions."""
    from pipelines.economics.uplift_log import learning_log_from_transactions
    from pipelines.economics.uplift_stage import (
        DEFAULT_LEARNER,
        learn_uplift_model,
        save_uplift_model,
    )

    try:
        log = learning_log_from_transactions(
            log_path, transactions, feature_config, channels.channels, horizon_days, column_map
        )
        document = learn_uplift_model(log, channels, DEFAULT_LEARNER)
    except UpliftDataError as error:
        return ImportedUplift(None, False, f"no uplift model learned: {error}")
    promotion = document["promotion"]
    if not (document.get("evaluation") or {}).get("results"):
        reason = (document.get("evaluation") or {}).get("reason", promotion["reason"])
        return ImportedUplift(None, False, f"no uplift model stored: {reason}")
    promote = bool(promotion["promote"])
    out_path = Path(out_path)
    if not promote and _holds_promoted_model(out_path):
        challenger = out_path.with_name(out_path.stem + ".challenger.json")
        save_uplift_model(document, challenger)
        return ImportedUplift(
            challenger,
            False,
            f"{promotion['reason']}; the promoted model in {out_path} keeps its place",
            document["learner"],
            document,
        )
    path = save_uplift_model(document, out_path)
    return ImportedUplift(path, promote, promotion["reason"], document["learner"], document)


def _holds_promoted_model(path: Path) -> bool:
    """True when ``path`` is a readable uplift model whose guard promoted it."""
    from pipelines.economics.uplift_stage import load_uplift_model

    if not path.exists():
        return False
    try:
        document, _ = load_uplift_model(path)
    except UpliftDataError:
        return False
    return bool((document.get("promotion") or {}).get("promote"))


def imported_uplift_lines(outcome: ImportedUplift) -> list[str]:
    """The outcome in words, for the console."""
    if outcome.path is None:
        return [outcome.reason]
    verdict = "later rankings use it" if outcome.promote else "later rankings keep the prior"
    return [
        f"wrote the uplift model ({outcome.learner}) to {outcome.path}: {verdict}",
        outcome.reason,
    ]
