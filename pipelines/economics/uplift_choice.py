"""Which uplift a ranking decides on: a promoted learned model, or the configured prior.

Why one place: ``winback rank``, the report and the service must decide with the same
response, and the rule "a learned policy replaces the prior only after it won on held-out
randomised data" (issue 13, point 3) must be applied once. The verdict is the one
``winback campaign learn`` (or ``campaign import``) stored in the model file
(:mod:`pipelines.economics.uplift_guard`); this module only reads it:

* no model file: the prior (the default file ``out/uplift_model.json`` is optional);
* a model the guard did not promote: the prior, and the list says why in words;
* a promoted model: :class:`pipelines.economics.response.LearnedResponse` on the scores'
  own feature columns (a model learned from other columns than the scores carry is
  refused in one line), with the prior kept for the channel x offer options the model
  never saw. ``force=True`` uses a model the guard did not promote, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import WinbackError
from pipelines.economics.channels import ChannelConfig
from pipelines.economics.response import LearnedResponse, PriorResponse, ResponseModel
from pipelines.paths import DEFAULT_UPLIFT_MODEL


@dataclass(frozen=True)
class UpliftChoice:
    """The response a ranking uses, and the sentence that explains it (empty: prior, no model)."""

    response: ResponseModel | None
    note: str = ""
    model_path: str | None = None
    promotion: dict[str, Any] | None = None

    @property
    def learned(self) -> bool:
        return self.response is not None


def choose_uplift(
    path: str | Path | None,
    scores: pd.DataFrame,
    config: ChannelConfig,
    force: bool = False,
) -> UpliftChoice:
    """The response for ranking ``scores`` (module docstring)."""
    from pipelines.economics.uplift_stage import load_uplift_model

    model_path = Path(path) if path else DEFAULT_UPLIFT_MODEL
    if path is None and not model_path.exists():
        return UpliftChoice(None)
    document, model = load_uplift_model(model_path)
    promotion = document.get("promotion") or {
        "promote": False,
        "reason": "keep prior: the model file has no promotion verdict (learn it again)",
    }
    learner = document.get("learner", "?")
    if not promotion.get("promote") and not force:
        return UpliftChoice(
            None,
            f"uplift model {model_path} ({learner}) not used, the prior decides: "
            f"{promotion.get('reason', '')}",
            str(model_path),
            promotion,
        )
    missing = [c for c in document.get("features", []) if c not in scores.columns]
    if missing:
        raise WinbackError(
            f"{model_path}: the uplift model learned from column(s) the scores do not have "
            f"({', '.join(missing[:5])}); learn it with `winback campaign learn --transactions` "
            "so it uses winback's own features"
        )
    options = frozenset((o["channel"], o["offer"]) for o in document.get("options", []))
    unknown = sorted({c for c, _ in options} - set(config.channels))
    if unknown:
        raise WinbackError(
            f"{model_path}: the uplift model learned channel(s) {', '.join(unknown)} that the "
            "channels file does not define"
        )
    how = "promoted" if promotion.get("promote") else "NOT promoted, used because of --force-uplift"
    note = (
        f"uplift from {model_path} ({learner}, {how}; learned on contacts "
        f"{document.get('first_contact')} to {document.get('last_contact')}); the prior "
        "decides the channel x offer options it never saw"
    )
    response = LearnedResponse(
        model, name=f"learned:{learner}", options=options, prior=PriorResponse(config)
    )
    return UpliftChoice(response, note, str(model_path), promotion)
