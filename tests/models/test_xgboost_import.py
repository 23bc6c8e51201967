"""XGBoost is imported without scikit-learn on the scoring path (issue 18), and
scikit-learn stays importable after it."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import models.scorer
print('sklearn' in sys.modules, 'scipy.stats' in sys.modules)
import xgboost, sklearn.isotonic
print(xgboost.Booster is not None, sklearn.isotonic.IsotonicRegression is not None)
"""


def test_scoring_imports_neither_sklearn_nor_scipy_stats_and_sklearn_still_imports():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "True", "True"], done.stdout + done.stderr
