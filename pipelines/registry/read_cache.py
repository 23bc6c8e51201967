"""A local copy of what reading a registered version returned, valid while the store is.

Why: ``winback score`` and ``winback serve`` only *read* the registry (which version is
champion, its scorer, its metadata), yet paid MLflow's import, its SQLAlchemy store and a
pyfunc load first: 5-8 s before any work on a 2-core machine (issue 18). For the default
kind of store -- a SQLite file with artifacts on a local disk -- what a read returns can
only change when the database file or the version's artifact files change. So a read
through MLflow leaves its answer here, beside the database (``<store>/read-cache/``), with
a fingerprint of both; the next read whose fingerprint matches uses it without importing
MLflow.

The fingerprint is each file's inode, size and modification time in nanoseconds: the
database (and its ``-wal`` journal when there is one), which every MLflow write changes
(a new run, an alias moved by ``winback promote`` or the MLflow UI, a deleted version),
and the version's model files (``MLmodel``, the pickle, the requirements, the scorer's
JSON), so a deleted or truncated artifact is reported by the MLflow path exactly as
before. Other stores (a tracking server, remote artifacts) are never cached. A cache
that cannot be written (a read-only folder) or read is ignored: it is a shortcut, never
the source of truth.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

CACHE_FOLDER = "read-cache"
#: Set to ``0`` to always read through MLflow (for debugging a store).
CACHE_ENV = "WINBACK_REGISTRY_CACHE"
#: The files of a logged model whose change must invalidate its cached copy.
MODEL_FILES = ("MLmodel", "python_model.pkl", "requirements.txt", "artifacts/scorer.json")
_FORMAT = 1


@dataclass(frozen=True)
class CachedRead:
    """What a read of a registered version returned: the scorer's JSON state, the
    version number, its metadata (``store.version_metadata``) and the requirements file
    it was logged with (checked again on every use)."""

    scorer_state: dict[str, Any]
    version: str
    metadata: dict[str, Any]
    requirements: str


def database_path(tracking_uri: str) -> Path | None:
    """The SQLite file of a ``sqlite:///`` tracking URI, else None (not cached)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///"))


def local_artifacts(download_uri: str) -> Path | None:
    """The folder of a ``file://`` (or plain path) model download URI, else None."""
    parsed = urlparse(download_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and download_uri.startswith("/"):
        return Path(download_uri)
    return None


def _stat(path: Path) -> list[Any] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return [str(path), found.st_ino, found.st_size, found.st_mtime_ns]


def store_fingerprint(database: Path) -> list[Any] | None:
    """The database's (and its journal's) identity, or None when there is no database."""
    main = _stat(database)
    if main is None:
        return None
    journal = _stat(database.with_name(database.name + "-wal"))
    return [main, journal]


def model_fingerprint(artifacts: Path) -> list[Any] | None:
    """The model files' identity, or None when one is missing (not cached)."""
    stats = [_stat(artifacts / name) for name in MODEL_FILES]
    return None if any(found is None for found in stats) else stats


def _entry_path(database: Path, reference: str) -> Path:
    return database.parent / CACHE_FOLDER / f"{reference}.json"


def enabled() -> bool:
    return os.environ.get(CACHE_ENV, "1").strip() != "0"


def lookup(tracking_uri: str, reference: str) -> CachedRead | None:
    """The cached read of ``reference`` (``champion`` or a version number) when the store
    and the model files are still the ones it was read from."""
    database = database_path(tracking_uri)
    if database is None or not enabled():
        return None
    try:
        entry = json.loads(_entry_path(database, reference).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
        return None
    if entry.get("store") != store_fingerprint(database):
        return None
    if entry.get("model") != model_fingerprint(Path(entry.get("artifacts", ""))):
        return None
    try:
        scorer_state = json.loads(Path(entry["artifacts"], "artifacts/scorer.json").read_text())
    except (OSError, ValueError):
        return None
    return CachedRead(scorer_state, entry["version"], entry["metadata"], entry["requirements"])


def remember(
    tracking_uri: str,
    reference: str,
    download_uri: str,
    version: str,
    metadata: dict[str, Any],
    store_before: list[Any] | None,
) -> None:
    """Leave what a read through MLflow returned for the next read of ``reference``.

    ``store_before``: the database's fingerprint taken *before* that read. When the read
    itself changed the database (MLflow creating the experiment, a migration) or another
    process wrote meanwhile, the two differ and nothing is cached: the answer might
    predate the write.
    """
    database = database_path(tracking_uri)
    artifacts = local_artifacts(download_uri)
    if database is None or artifacts is None or not enabled():
        return
    store = store_fingerprint(database)
    model = model_fingerprint(artifacts)
    if store is None or model is None or store != store_before:
        return
    entry = {
        "format": _FORMAT,
        "store": store,
        "model": model,
        "artifacts": str(artifacts),
        "version": version,
        "metadata": metadata,
        "requirements": (artifacts / "requirements.txt").read_text(),
    }
    path = _entry_path(database, reference)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(exist_ok=True)
        temporary.write_text(json.dumps(entry))
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
