"""What keeps the registry consistent when trainings are killed or run at the same time.

* Every training run is tagged with the process and host that own it. A run still marked
  RUNNING whose process is gone (SIGKILL, a lost machine, a closed laptop) is an orphan:
  the next ``winback train`` marks it FAILED, and a version it registered before reaching
  its promotion decision is tagged ``promoted=false`` with the reason, so that no version
  sits in the registry undecided.
* The champion check and the alias move happen under an exclusive file lock next to the
  store, so two concurrent trainings cannot both read "v3 is champion", both beat it and
  both believe they are champion: the second one is compared with the first.

``fcntl.flock`` locks are released by the kernel when their process dies, so a killed
training never leaves the lock held.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from features.errors import RegistryError

PID_TAG = "winback.pid"
HOST_TAG = "winback.host"
#: A RUNNING run without owner tags (logged before they existed) counts as orphaned
#: once it is this old: no training takes that long.
UNOWNED_RUN_MAX_AGE = dt.timedelta(hours=24)
LOCK_TIMEOUT_SECONDS = 600.0
INTERRUPTED = "the training run was interrupted before its promotion decision"


def owner_tags() -> dict[str, str]:
    """Tags naming the process that owns a training run (see :func:`fail_orphaned_runs`)."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _is_orphan(run: Any, now_ms: int) -> bool:
    """Owned by a process of this host that is gone, or unowned and older than a day.
    A run of another host is never judged: its process cannot be seen from here."""
    tags = run.data.tags
    if PID_TAG in tags and HOST_TAG in tags:
        if tags[HOST_TAG] != socket.gethostname():
            return False
        return not _process_alive(int(tags[PID_TAG]))
    age_ms = now_ms - int(run.info.start_time or now_ms)
    return age_ms > UNOWNED_RUN_MAX_AGE.total_seconds() * 1000


def fail_orphaned_runs(mlflow_client: Any, experiment_id: str, model_name: str) -> list[str]:
    """Mark orphaned RUNNING runs FAILED and settle their undecided versions; returns the
    ids of the runs it marked."""
    now_ms = int(time.time() * 1000)
    running = mlflow_client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    )
    failed = []
    for run in running:
        if not _is_orphan(run, now_ms):
            continue
        run_id = run.info.run_id
        mlflow_client.set_tag(run_id, "failure_reason", INTERRUPTED)
        mlflow_client.set_terminated(run_id, status="FAILED")
        for version in mlflow_client.search_model_versions(f"run_id = '{run_id}'"):
            if version.name == model_name and "promoted" not in (version.tags or {}):
                mlflow_client.set_model_version_tag(
                    model_name, version.version, "promoted", "false"
                )
                mlflow_client.set_model_version_tag(
                    model_name, version.version, "promotion_reason", INTERRUPTED
                )
        failed.append(run_id)
    return failed


def lock_path(tracking_uri: str) -> Path:
    """Beside a SQLite store; for a remote store, a per-URI file in the temp folder (which
    serialises the trainings of one machine only: run them from one place)."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///")).parent / ".winback-promotion.lock"
    digest = hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"winback-promotion-{digest}.lock"


@contextlib.contextmanager
def promotion_lock(
    tracking_uri: str, timeout_seconds: float = LOCK_TIMEOUT_SECONDS
) -> Iterator[Path]:
    """Hold the store's promotion lock: check-then-promote is one step for other trainings."""
    path = lock_path(tracking_uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a")
    except OSError as error:
        raise RegistryError(f"{path}: cannot open the promotion lock ({error.strerror})") from None
    with handle:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RegistryError(
                        f"{path}: another training has held the promotion lock for "
                        f"{timeout_seconds:.0f} s; try again when it has finished"
                    ) from None
                time.sleep(0.2)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
