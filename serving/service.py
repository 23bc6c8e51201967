"""The winback scoring service for CRM systems (BentoML 1.4).

Start it with ``winback serve`` or ``python -m serving`` (:mod:`serving.launcher`), or
``bentoml serve serving.service:WinbackService``. Its settings (:mod:`serving.settings`)
are read once per process at start-up. It resolves the MLflow ``champion`` alias once
(``MLFLOW_TRACKING_URI``; pin a version with ``WINBACK_MODEL_VERSION``), loads that scorer
and the latest scored snapshot (``WINBACK_SCORES``, default ``out/scores.parquet`` when it
exists) into memory, indexed by customer id. ``GET /metadata`` reports the exact version.

Endpoints: ``POST /score``, ``POST /rank``, ``GET /metadata``; BentoML adds ``/healthz`` and
``/livez`` (alive), ``/readyz`` (ready: the model is loaded -- the server accepts no
connection before start-up has loaded it, and ``__is_ready__`` says so afterwards),
``/metrics`` (Prometheus) and the OpenAPI schema at ``/docs.json``, which
:mod:`serving.openapi` rewrites and documents at ``/``. Every path but the three health
probes and the documentation needs an API key (:mod:`serving.auth`). ``POST /rank``'s
paging, suppressions and cache are in :mod:`serving.ranking`. ``POST /score`` lookups by id
only are answered in front of BentoML's request stack, from JSON serialised at start-up
(:mod:`serving.fast_lookup`); every other ``/score`` request reaches :meth:`score`. The
start-up check of the main process is :mod:`serving.startup`.
"""

from __future__ import annotations

import atexit
import datetime as dt
import gc
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import bentoml  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402

from features.errors import WinbackError  # noqa: E402
from serving.auth import APIKeyMiddleware  # noqa: E402
from serving.connections import LoadSheddingMiddleware, install_connection_guards  # noqa: E402
from serving.fast_lookup import LookupTable, install, lookup_metrics, serve_lookups_first  # noqa: E402
from serving.http import RequestGuardMiddleware, ValidationLogFilter  # noqa: E402
from serving.openapi import DocsMiddleware, operation_models  # noqa: E402
from serving.rank_schemas import (  # noqa: E402
    Budget,
    ChannelCosts,
    DailyCapacity,
    Exclude,
    FrequencyCap,
    Limit,
    NoConsent,
    Offset,
    RankResponse,
)
from serving.schemas import (  # noqa: E402
    EARLIEST_DATE,
    AsOf,
    CustomerError,
    CustomerRequest,
    Customers,
    CustomerScore,
    MetadataResponse,
    ProblemField,
    ScoreResponse,
    SnapshotInfo,
)
from serving.served_model import load_served_model  # noqa: E402
from serving.settings import (  # noqa: E402
    MODEL_VERSION_ENV,
    SERVED_MODEL_ENV,
    ServiceSettings,
    service_settings,
)
from serving.startup import check_configuration  # noqa: E402

if TYPE_CHECKING:
    from pipelines.economics.channels import ChannelConfig

logger = logging.getLogger("winback.serving")

#: Threads for on-the-fly scoring and ranking (CPU-bound; lookups never wait for them).
COMPUTE_THREADS = 2

# Its own docs pages stay off: the service's documentation is / and /docs.json
# (serving.openapi), which include /metadata.
metadata_app = FastAPI(title="winback metadata", docs_url=None, redoc_url=None, openapi_url=None)


def _problem(status: int, error: str, message: str, errors: list[ProblemField]) -> JSONResponse:
    """A 4xx answer in the :class:`serving.schemas.Problem` shape."""
    return JSONResponse(
        {"error": error, "message": message, "errors": [e.model_dump() for e in errors]},
        status_code=status,
    )


@bentoml.service(
    name="winback",
    workers=service_settings().workers,
    traffic={"timeout": 120},
    # Access logs are written synchronously on the event loop: off by default, they cost
    # the p99 of lookups under load (benchmarks/SERVING.md). WINBACK_ACCESS_LOG=1 turns
    # them on; errors and warnings are logged either way, request counts are in /metrics.
    logging={"access": {"enabled": service_settings().access_log}},
)
@bentoml.asgi_app(metadata_app, path="/")
class WinbackService:
    """Scores customers for CRM systems: who is going to sleep, what they are worth, and
    whom to wake within a budget. Authenticate with `Authorization: Bearer <key>` or
    `X-API-Key: <key>`."""

    @bentoml.on_deployment
    def refuse_bad_configuration() -> None:
        """Runs once in the main process of ``bentoml serve``, before any worker starts:
        a misconfigured service stops here with one line instead of respawning workers."""
        # The loaded model goes to the workers as files (serving/served_model.py), removed
        # when the server stops.
        served = Path(tempfile.mkdtemp(prefix="winback-served-model-"))
        atexit.register(shutil.rmtree, served, True)
        try:
            version = check_configuration(service_settings(), export_to=served)
        except WinbackError as error:
            logger.error("winback service not started: %s", error)
            raise SystemExit(f"error: {error}") from None
        # Resolve the champion alias once: every worker (started after this hook, with a
        # copy of this environment) loads this exact version, even if the alias moves.
        os.environ[MODEL_VERSION_ENV] = version
        os.environ[SERVED_MODEL_ENV] = str(served)
        service_settings.cache_clear()
        logger.info("serving winback v%s", version)

    def __init__(self) -> None:
        import anyio

        from pipelines.economics.rank import economics_config
        from serving.ranking import RankingCache
        from serving.scoring import Snapshot

        logging.getLogger("bentoml._internal.server.http_app").addFilter(ValidationLogFilter())
        settings = service_settings()
        _, self.insecure = settings.authentication()
        self.scorer, self.model_version, self.version_metadata = _load_model(settings)
        self.channel_config, _ = economics_config(
            settings.channels_path, settings.campaign_results_path
        )
        path = settings.scores_path
        self.snapshot = Snapshot.load(path) if path.is_file() else None
        self.uplift_response = None
        if settings.uplift_model_path and self.snapshot is not None:
            from pipelines.economics.uplift_choice import choose_uplift

            choice = choose_uplift(
                settings.uplift_model_path, self.snapshot.scores, self.channel_config
            )
            self.uplift_response = choice.response
            logger.info("/rank uplift: %s", choice.note)
        if self.snapshot is None:
            logger.warning("no scored snapshot at %s: /score by id and /rank are unavailable", path)
        elif self.snapshot.model_version not in (None, self.model_version):
            logger.warning(
                "snapshot %s was scored by model v%s, the service runs v%s: lookups by id "
                "report v%s, on-the-fly scores v%s",
                path,
                self.snapshot.model_version,
                self.model_version,
                self.snapshot.model_version,
                self.model_version,
            )
        self.compute = anyio.CapacityLimiter(COMPUTE_THREADS)
        self.rankings = RankingCache.warm(self.snapshot, self.channel_config, self.uplift_response)
        # Lookups by id are answered from JSON serialised here once (serving.fast_lookup).
        install(
            LookupTable.build(
                self.model_version,
                self.snapshot.by_id.items() if self.snapshot else (),
                self._lookup,
            )
        )
        # The model and the snapshot index (a few hundred thousand objects) live as long
        # as the worker: move them out of the garbage collector's sight, so that full
        # collections do not walk them and stall requests.
        gc.collect()
        gc.freeze()
        logger.info(
            "winback v%s loaded; snapshot %s",
            self.model_version,
            f"{len(self.snapshot.by_id):,} customers at {self.snapshot.as_of}"
            if self.snapshot
            else "none",
        )

    def __is_ready__(self) -> bool:
        return getattr(self, "scorer", None) is not None

    async def __metrics__(self, content: str) -> str:
        """``/metrics`` (BentoML's hook): add the lookups answered on the lean path, which
        BentoML's request metrics do not see."""
        return content + lookup_metrics()

    # ------------------------------------------------------------------ POST /score
    @bentoml.api
    async def score(self, customers: Customers, as_of: AsOf = None) -> ScoreResponse:
        """Scores per customer: by id from the latest snapshot, or on the fly from the
        transactions sent (at `as_of`, default today). Unknown ids get a per-item error."""
        import anyio

        from serving.scoring import RequestProblem, score_transactions

        today = dt.datetime.now(dt.UTC).date()
        if as_of is not None and not EARLIEST_DATE <= as_of <= today + dt.timedelta(days=1):
            return _problem(
                400,
                "invalid_request",
                "as_of is out of range",
                [
                    ProblemField(
                        field="as_of",
                        reason=f"must be between {EARLIEST_DATE.isoformat()} and tomorrow "
                        f"({(today + dt.timedelta(days=1)).isoformat()})",
                    )
                ],
            )
        results: list[CustomerScore | CustomerError | None] = [None] * len(customers)
        on_the_fly: list[tuple[int, CustomerRequest]] = []
        for i, customer in enumerate(customers):
            if customer.transactions is not None:
                on_the_fly.append((i, customer))
            else:
                results[i] = self._lookup(customer.customer_id)
        if on_the_fly:
            try:
                scored = await anyio.to_thread.run_sync(
                    score_transactions,
                    self.scorer,
                    self.model_version,
                    on_the_fly,
                    as_of or today,
                    self.snapshot.population if self.snapshot else None,
                    limiter=self.compute,
                )
            except RequestProblem as problem:
                return _problem(400, "invalid_request", problem.message, problem.errors)
            except WinbackError as error:
                return _problem(400, "invalid_request", str(error), [])
            for i, result in scored.items():
                results[i] = result
        return ScoreResponse(model_version=self.model_version, results=results)

    def _lookup(self, customer_id: str) -> CustomerScore | CustomerError:
        if self.snapshot is None:
            return CustomerError(
                customer_id=customer_id,
                error="no_snapshot",
                message="the service runs without a scored snapshot; send the customer's "
                "transactions to score on the fly",
            )
        found = self.snapshot.by_id.get(customer_id)
        if found is None:
            return CustomerError(
                customer_id=customer_id,
                error="unknown_customer",
                message=f"not in the snapshot of {self.snapshot.as_of.isoformat()}; "
                f"{self.snapshot.id_format.unknown_hint(customer_id, self.snapshot.by_id)}; "
                "or send the customer's transactions to score on the fly",
            )
        return found

    # ------------------------------------------------------------------ POST /rank
    @bentoml.api
    async def rank(
        self,
        budget: Budget,
        limit: Limit = None,
        offset: Offset = 0,
        channels: ChannelCosts = None,
        daily_capacity: DailyCapacity = None,
        exclude: Exclude = None,
        no_consent: NoConsent = None,
        frequency_cap: FrequencyCap = None,
    ) -> RankResponse:
        """The prioritised win-back list for a budget, from the latest snapshot: whom to
        contact, by which channel, with which offer, by when, and why. Page through it with
        `limit` and `offset` (the selection is prepared once per channel settings and
        suppressions, each budget's list cut from it once, then kept; a page writes only
        its own rows); `exclude`, `no_consent` and `frequency_cap` remove
        customers before the selection, and `suppressed` says how many each rule removed."""
        import anyio

        from serving.ranking import channel_problems, request_config

        if self.snapshot is None:
            return _problem(
                404,
                "no_snapshot",
                "the service runs without a scored snapshot; start it with --scores",
                [],
            )
        problems = channel_problems(
            self.channel_config,
            channels=channels,
            daily_capacity=daily_capacity,
            no_consent=no_consent,
        )
        if problems:
            return _problem(400, "invalid_request", "unknown channel", problems)
        try:
            config = request_config(self.channel_config, channels, daily_capacity)
            return await anyio.to_thread.run_sync(
                self._rank_page,
                budget,
                config,
                (channels, daily_capacity),
                (exclude, no_consent, frequency_cap),
                (offset, limit),
                limiter=self.compute,
            )
        except WinbackError as error:
            return _problem(400, "invalid_request", str(error), [])

    def _rank_page(
        self,
        budget: float,
        config: ChannelConfig,
        overrides: tuple[ChannelCosts, DailyCapacity],
        suppressions: tuple[Exclude, NoConsent, FrequencyCap],
        window: tuple[int, int | None],
    ) -> RankResponse:
        """One page of the list, from the cache or computed (:func:`serving.ranking.answer_page`).
        Runs in a worker thread: resolving long suppression lists and planning take CPU
        seconds that must not hold up the event loop's lookups."""
        from serving.ranking import answer_page

        assert self.snapshot is not None
        return answer_page(
            self.rankings,
            self.snapshot,
            (self.model_version, self.uplift_response),
            (budget, config, overrides),
            suppressions,
            window,
        )

    # ------------------------------------------------------------------ GET /metadata
    @metadata_app.get("/metadata", response_model=MetadataResponse)
    def metadata(self) -> MetadataResponse:
        """The model version loaded at start-up, its training, held-out metrics and
        feature schema, and the scored snapshot in memory."""
        meta = self.version_metadata
        snapshot = self.snapshot
        return MetadataResponse(
            model_name=meta["model_name"],
            model_version=meta["model_version"],
            aliases=meta["aliases"],
            run_id=meta["run_id"],
            trained_at=meta["trained_at"],
            trained_as_of=meta["trained_as_of"],
            validation_cutoff=meta["validation_cutoff"],
            horizon_days=int(meta["horizon_days"]) if meta["horizon_days"] else None,
            heldout_metrics=meta["heldout_metrics"],
            feature_schema=meta["feature_schema"],
            snapshot=SnapshotInfo(
                file=Path(snapshot.path).name,
                as_of=snapshot.as_of,
                model_version=snapshot.model_version,
                horizon_days=snapshot.horizon_days,
                customers=len(snapshot.by_id),
                matches_served_model=snapshot.model_version in (None, self.model_version),
            )
            if snapshot
            else None,
            authentication="none" if self.insecure else "api_key",
        )


def _load_model(settings: ServiceSettings) -> tuple[Any, str, dict[str, Any]]:
    """``(scorer, version, metadata)``: from the files the start-up check left
    (:mod:`serving.served_model`, no MLflow import), else from the registry."""
    directory = os.environ.get(SERVED_MODEL_ENV, "").strip()
    served = load_served_model(directory) if directory else None
    if served is not None:
        return served
    from pipelines.registry import store as registry

    registered = registry.load_registered(settings.model_version)
    return registered.scorer, registered.version, registered.metadata


def _forbid_unknown_fields() -> None:
    """Refuse request fields the APIs do not take, as the nested models do: BentoML's
    generated input models ignore them, so a typo such as ``exlude`` would silently send
    a list without its suppressions."""
    for api in WinbackService.apis.values():
        model = api.input_spec
        model.model_config["extra"] = "forbid"
        model.model_rebuild(force=True)


_forbid_unknown_fields()
# Lookups by id are answered in front of BentoML's request stack (serving/fast_lookup.py).
serve_lookups_first(WinbackService)
# Slow and excess connections are shed before a request exists (serving/connections.py).
install_connection_guards(service_settings().header_timeout, service_settings().max_connections)
# Outermost first: refuse unauthenticated requests before anything reads their body. The
# documentation (/, /docs.json) is public: serving.auth lets it through. Innermost, the
# in-flight limit answers 503 rather than queueing an authenticated, valid request.
WinbackService.add_asgi_middleware(APIKeyMiddleware)
WinbackService.add_asgi_middleware(RequestGuardMiddleware)
WinbackService.add_asgi_middleware(DocsMiddleware, models=operation_models(WinbackService))
WinbackService.add_asgi_middleware(
    LoadSheddingMiddleware, max_in_flight=service_settings().max_in_flight
)
