"""The service's settings: every environment variable it reads, named and parsed here once.

``python -m serving`` (and so ``winback serve``) turns its options into these variables for
the server process; a packaged Bento gets them from its deployment. The service reads them
once per process at start-up (:func:`service_settings`) and passes the values down; nothing
else in :mod:`serving` looks at the environment.

API keys (``WINBACK_API_KEYS``, comma-separated, each at least :data:`MIN_KEY_LENGTH`
characters) are kept out of the settings' ``repr`` and never written to a log or an error.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.errors import ConfigError
from pipelines.paths import DEFAULT_SCORES

#: The scored snapshot for lookups and ``/rank`` (default: ``out/scores.parquet`` if it exists).
SCORES_ENV = "WINBACK_SCORES"
#: The registered version to serve (default: the ``champion`` alias, resolved at start-up).
MODEL_VERSION_ENV = "WINBACK_MODEL_VERSION"
#: Set by the server itself: where the start-up check left the model it loaded, for the
#: workers to read without MLflow (:mod:`serving.served_model`).
SERVED_MODEL_ENV = "WINBACK_SERVED_MODEL_DIR"
#: Server worker processes (default 1).
WORKERS_ENV = "WINBACK_WORKERS"
#: Channels config for ``/rank`` (default: ``configs/channels.yaml``).
CHANNELS_ENV = "WINBACK_CHANNELS"
#: Campaign measurements for ``/rank`` (default: ``out/campaign_results.json`` if it exists).
CAMPAIGN_RESULTS_ENV = "WINBACK_CAMPAIGN_RESULTS"
#: Uplift model for ``/rank`` (default: ``out/uplift_model.json`` if it exists); used only
#: when its guard promoted it, as ``winback rank`` does.
UPLIFT_MODEL_ENV = "WINBACK_UPLIFT_MODEL"
#: ``1`` serves a snapshot scored by another model version than the one served (flagged in
#: ``/metadata``); by default the service refuses to start.
ALLOW_VERSION_MISMATCH_ENV = "WINBACK_ALLOW_VERSION_MISMATCH"
#: Seconds a new connection has to complete its first request's headers (default 10).
HEADER_TIMEOUT_ENV = "WINBACK_HEADER_TIMEOUT"
#: Open connections per worker beyond which new ones get 503 and are closed (default 1000).
MAX_CONNECTIONS_ENV = "WINBACK_MAX_CONNECTIONS"
#: API requests served at once per worker beyond which requests get 503 (default 64).
MAX_IN_FLIGHT_ENV = "WINBACK_MAX_IN_FLIGHT"
#: ``1`` turns BentoML's access log on (off by default: it costs the lookups' p99).
ACCESS_LOG_ENV = "WINBACK_ACCESS_LOG"
#: Comma-separated API keys.
KEYS_ENV = "WINBACK_API_KEYS"
#: ``1`` serves without API keys (``--insecure``), on a trusted network only.
INSECURE_ENV = "WINBACK_INSECURE"

MIN_KEY_LENGTH = 16


def parse_api_keys(text: str | None) -> tuple[str, ...]:
    """Keys from a comma-separated string; blanks are ignored, short keys refused."""
    keys = tuple(part.strip() for part in (text or "").split(",") if part.strip())
    short = [k for k, key in enumerate(keys, start=1) if len(key) < MIN_KEY_LENGTH]
    if short:
        raise ConfigError(
            f"{KEYS_ENV}: key number {short[0]} is shorter than {MIN_KEY_LENGTH} characters; "
            'use long random keys, e.g. `python -c "import secrets; '
            'print(secrets.token_urlsafe(32))"`'
        )
    return keys


def is_set(value: str | None) -> bool:
    """A yes/no variable is on when it reads ``1``, ``true`` or ``yes``."""
    return (value or "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class ServiceSettings:
    """What the service was told to serve, as read from the environment."""

    scores_path: Path
    #: Whether ``scores_path`` was asked for (then it must exist) or is the default.
    scores_explicit: bool
    model_version: str | None
    workers: int
    channels_path: str | None
    campaign_results_path: str | None
    access_log: bool
    insecure: bool
    api_keys_text: str = field(default="", repr=False)
    uplift_model_path: str | None = None
    allow_version_mismatch: bool = False
    header_timeout: float = 10.0
    max_connections: int = 1000
    max_in_flight: int = 64

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        """Parse the variables; nothing is checked against files or the registry here."""
        env = os.environ if environ is None else environ
        scores = env.get(SCORES_ENV, "").strip()
        workers = (env.get(WORKERS_ENV, "") or "1").strip()
        if not workers.isdigit() or int(workers) < 1:
            raise ConfigError(f"{WORKERS_ENV}={workers!r} must be a whole number of workers >= 1")
        return cls(
            scores_path=Path(scores) if scores else DEFAULT_SCORES,
            scores_explicit=bool(scores),
            model_version=env.get(MODEL_VERSION_ENV, "").strip() or None,
            workers=int(workers),
            channels_path=env.get(CHANNELS_ENV) or None,
            campaign_results_path=env.get(CAMPAIGN_RESULTS_ENV) or None,
            access_log=is_set(env.get(ACCESS_LOG_ENV)),
            insecure=is_set(env.get(INSECURE_ENV)),
            api_keys_text=env.get(KEYS_ENV, ""),
            uplift_model_path=env.get(UPLIFT_MODEL_ENV) or None,
            allow_version_mismatch=is_set(env.get(ALLOW_VERSION_MISMATCH_ENV)),
            header_timeout=_positive(env, HEADER_TIMEOUT_ENV, 10.0, float),
            max_connections=_positive(env, MAX_CONNECTIONS_ENV, 1000, int),
            max_in_flight=_positive(env, MAX_IN_FLIGHT_ENV, 64, int),
        )

    def authentication(self) -> tuple[tuple[str, ...], bool]:
        """(keys, insecure); raises :class:`ConfigError` if the service must not start: no
        key and no explicit ``--insecure``."""
        keys = parse_api_keys(self.api_keys_text)
        if not keys and not self.insecure:
            raise ConfigError(
                f"no API key configured: set {KEYS_ENV} (comma-separated keys of at least "
                f"{MIN_KEY_LENGTH} characters), or start with --insecure ({INSECURE_ENV}=1) to "
                "serve without authentication on a trusted network"
            )
        return keys, self.insecure


def _positive(env: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    """A positive number from the environment (``default`` when unset), else one line."""
    text = (env.get(name) or "").strip()
    if not text:
        return kind(default)
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise ConfigError(f"{name}={text!r} must be a positive {kind.__name__}")
    return value


@functools.cache
def service_settings() -> ServiceSettings:
    """This process's settings, read from the environment on first use (at start-up)."""
    return ServiceSettings.from_environment()
