"""The MLflow pyfunc wrapper around :class:`models.scorer.WinbackScorer`.

Kept at module level (not defined inside a function) so MLflow pickles it by reference:
the artifact holds only the scorer's JSON, never a copy of our code or of customer data.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import pandas as pd

from models.scorer import WinbackScorer


class WinbackPythonModel(mlflow.pyfunc.PythonModel):
    """Transactions in, per-customer scores out, at the ``as_of`` parameter.

    Input: a DataFrame of transactions in the data contract (``customer_id``, ``timestamp``,
    ``amount``, optional columns). Params: ``as_of`` (YYYY-MM-DD; default the training
    as-of date).
    """

    def load_context(self, context: Any) -> None:
        self.scorer = WinbackScorer.load(context.artifacts["scorer"])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        as_of = (params or {}).get("as_of") or self.scorer.trained_as_of.isoformat()
        return self.scorer.score(model_input, as_of)
