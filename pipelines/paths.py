"""Where things live. Every default path and output file name of the pipelines is built here.

The CLI, the demo, the service launcher and the report all take their defaults from these
names, so a file is spelled once: change ``SCORES_FILE`` here and every reader follows.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "configs"
#: ``WINBACK_OUT_DIR`` moves every default output (default ``out`` in the working folder).
OUT_DIR_ENV = "WINBACK_OUT_DIR"
DEFAULT_OUT_DIR = Path(os.environ.get(OUT_DIR_ENV, "out"))
MLFLOW_DIR = PROJECT_ROOT / "mlflow"

#: The scored snapshot written by ``winback score`` / ``winback demo``; read by ``rank``,
#: ``report`` and the service.
SCORES_FILE = "scores.parquet"
#: The marketer's list written by ``winback rank``.
LIST_FILE = "winback_list.csv"
#: The HTML report written by ``winback report``.
REPORT_FILE = "report.html"
#: Campaign measurements written by ``winback campaign import``; read by later rankings.
CAMPAIGN_RESULTS_FILE = "campaign_results.json"
#: The uplift model written by ``winback campaign import`` (and ``campaign learn`` when told
#: so), with its promotion verdict; later rankings use it only when it was promoted.
UPLIFT_MODEL_FILE = "uplift_model.json"

DEFAULT_SCORES = DEFAULT_OUT_DIR / SCORES_FILE
DEFAULT_LIST = DEFAULT_OUT_DIR / LIST_FILE
DEFAULT_REPORT = DEFAULT_OUT_DIR / REPORT_FILE
DEFAULT_CAMPAIGN_RESULTS = DEFAULT_OUT_DIR / CAMPAIGN_RESULTS_FILE
DEFAULT_UPLIFT_MODEL = DEFAULT_OUT_DIR / UPLIFT_MODEL_FILE


QUARANTINE_SUFFIX = ".quarantine.csv"


def quarantine_path_for(out_path: Path) -> Path:
    """Rejected rows go next to the output they were rejected from."""
    return out_path.with_name(out_path.stem + QUARANTINE_SUFFIX)


def quarantine_path_for_command(command: str, out_path: Path | None = None) -> Path:
    """Next to ``out_path``; a command without an output file (``train``, ``evaluate``
    without ``--out``) writes ``<out dir>/<command>.quarantine.csv``."""
    if out_path is not None:
        return quarantine_path_for(Path(out_path))
    return DEFAULT_OUT_DIR / (command.replace(" ", "_") + QUARANTINE_SUFFIX)
