"""XGBoost imported without its scikit-learn integration, which winback never uses.

Why: ``import xgboost`` imports scikit-learn when it is installed (``xgboost.compat``,
for the ``XGBClassifier`` family's base classes), and scikit-learn imports SciPy's
statistics: 1.7-2 s of every process that scores -- ``winback score``, the service's
supervisor and each worker (issue 18: ``winback serve`` ready within 10 s). winback uses
only the native interface (``xgb.train``, ``Booster``, ``DMatrix``), which needs neither.

So the first import of XGBoost in a process hides ``sklearn`` for its duration (a
``None`` entry in ``sys.modules`` makes ``import sklearn`` fail, and ``xgboost.compat``
falls back to its stand-in base classes); scikit-learn itself stays importable afterwards
(isotonic calibration, the uplift references). In such a process ``xgboost.XGBClassifier``
and friends are not scikit-learn estimators: use them with scikit-learn's tools only in a
process that imported scikit-learn first, where XGBoost is imported normally.
"""

from __future__ import annotations

import sys
from types import ModuleType


def import_xgboost() -> ModuleType:
    """The ``xgboost`` module; on its first import, without pulling in scikit-learn."""
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        import xgboost

        return xgboost
    sys.modules["sklearn"] = None  # type: ignore[assignment]
    try:
        import xgboost
    finally:
        if sys.modules.get("sklearn", False) is None:
            del sys.modules["sklearn"]
    return xgboost
