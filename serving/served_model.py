"""The model a ``bentoml serve`` supervisor resolved, handed to its workers as two files.

Why: the supervisor's start-up check (:mod:`serving.startup`) loads the registered model
so that a bad artifact stops the server with one line. Each worker then loaded the same
version again through MLflow, whose import and SQLAlchemy store cost about 5 s of CPU
before the first request (issue 18: ``winback serve`` ready within 10 s). The check
writes what it loaded -- the scorer's plain state (``WinbackScorer.save``, the same JSON
the registry stores beside the pickle) and the version's metadata for ``/metadata`` --
into a directory named by ``WINBACK_SERVED_MODEL_DIR``; a worker that finds it reads
them without importing MLflow. Without the variable (a service built outside
``bentoml serve``'s hook), workers load from the registry as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCORER_FILE = "scorer.json"
METADATA_FILE = "metadata.json"


def export_served_model(
    scorer: Any, version: str, metadata: dict[str, Any], directory: str | Path
) -> Path:
    """Write ``scorer`` (a ``WinbackScorer``) and its version's metadata to ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    scorer.save(directory / SCORER_FILE)
    (directory / METADATA_FILE).write_text(json.dumps({"version": version, "metadata": metadata}))
    return directory


def load_served_model(directory: str | Path) -> tuple[Any, str, dict[str, Any]] | None:
    """``(scorer, version, metadata)`` as :func:`export_served_model` wrote them, or None
    when ``directory`` holds none (the caller loads from the registry)."""
    directory = Path(directory)
    if not (directory / METADATA_FILE).is_file():
        return None
    from models.scorer import WinbackScorer

    written = json.loads((directory / METADATA_FILE).read_text())
    return WinbackScorer.load(directory / SCORER_FILE), written["version"], written["metadata"]
