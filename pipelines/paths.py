"""Where things live. Every default path of the pipelines is built here, nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "configs"
DEFAULT_OUT_DIR = Path(os.environ.get("WINBACK_OUT_DIR", "out"))
MLFLOW_DIR = PROJECT_ROOT / "mlflow"


def quarantine_path_for(out_path: Path) -> Path:
    """Rejected rows go next to the output they were rejected from."""
    return out_path.with_name(out_path.stem + ".quarantine.csv")
