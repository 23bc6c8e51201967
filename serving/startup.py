"""The service's start-up check: what must hold before ``bentoml serve`` starts a worker.

It runs once in the main process of ``bentoml serve`` (``WinbackService``'s
``on_deployment`` hook) and in the tests; kept out of :mod:`serving.service` so that
module holds the HTTP service only.
"""

from __future__ import annotations

from pathlib import Path

from features.errors import WinbackError
from serving.settings import (
    ALLOW_VERSION_MISMATCH_ENV,
    MODEL_VERSION_ENV,
    SCORES_ENV,
    ServiceSettings,
)


def check_configuration(
    settings: ServiceSettings | None = None, export_to: Path | None = None
) -> str:
    """The model version to serve; raises :class:`WinbackError` with one line if the
    service must not start (no key, no champion, an unreadable model, snapshot or
    channels file). ``settings`` default: read from the environment now. ``export_to``:
    write the loaded model there for the workers (:mod:`serving.served_model`)."""
    from pipelines.economics.rank import economics_config
    from pipelines.registry import store as registry
    from pipelines.scoring.table import read_scores

    settings = settings or ServiceSettings.from_environment()
    settings.authentication()
    path = settings.scores_path
    if settings.scores_explicit and not path.is_file():
        raise WinbackError(f"{SCORES_ENV}={path}: scores file not found")
    snapshot = read_scores(path) if path.is_file() else None
    config, _ = economics_config(
        settings.channels_path,
        settings.campaign_results_path,
        snapshot.horizon_days if snapshot else None,
    )
    if settings.uplift_model_path and snapshot is not None:
        from pipelines.economics.uplift_choice import choose_uplift

        choose_uplift(settings.uplift_model_path, snapshot.scores, config)
    # Load the model once here too: a missing champion or an artifact this code cannot
    # read must stop the server with one line, not make BentoML respawn failing workers.
    try:
        registered = registry.load_registered(settings.model_version)
    except WinbackError:
        raise
    except Exception as error:
        raise WinbackError(
            f"the registered model cannot be loaded by this code ({type(error).__name__}: "
            f"{error}); retrain with `winback train` or pin a version with {MODEL_VERSION_ENV}"
        ) from error
    served = registered.version
    if export_to is not None:
        from serving.served_model import export_served_model

        export_served_model(registered.scorer, served, registered.metadata, export_to)
    scored_by = snapshot.model_version if snapshot is not None else None
    if scored_by not in (None, served) and not settings.allow_version_mismatch:
        raise WinbackError(
            f"{path}: the snapshot was scored by winback v{scored_by}, but the service would "
            f"serve v{served}: lookups would answer v{scored_by}'s scores as v{served}'s. "
            f"Score again with `winback score` (champion v{served}), serve v{scored_by} with "
            f"--model-version {scored_by}, or set {ALLOW_VERSION_MISMATCH_ENV}=1 to serve "
            "both (flagged in /metadata)"
        )
    return served
