"""The registered versions in words: what each was trained on, how it did, and its fate.

Why: a data scientist who retrains needs to see, without opening MLflow, which version is
champion, what data and as-of date each version learned from, its held-out AUC, and why it
was or was not promoted (``winback models list`` / ``winback models show N``). The same
summary is written into each version's MLflow description at registration
(:func:`describe_version`), so the registry's page says it too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from pipelines.registry.store import (
    CHAMPION,
    MODEL_NAME,
    PROMOTION_METRIC,
    client,
    resolve_version,
    store_faults,
    version_metadata,
)


@dataclass(frozen=True)
class VersionSummary:
    """One line of ``winback models list``."""

    version: str
    aliases: tuple[str, ...]
    trained_as_of: str | None
    data: str
    heldout_auc: float | None
    promoted: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _data(params: dict[str, str]) -> str:
    """What a run learned from, in words: source, rows and customers."""
    source = params.get("data.source", "?")
    rows = params.get("data.rows")
    customers = params.get("data.customers")
    counted = f"{int(rows):,} rows, {int(customers):,} customers" if rows and customers else ""
    return f"{source} ({counted})" if counted else source


def _summary(model_version: Any, run: Any | None) -> VersionSummary:
    tags = dict(model_version.tags or {})
    params = dict(run.data.params) if run is not None else {}
    metrics = dict(run.data.metrics) if run is not None else {}
    return VersionSummary(
        version=str(model_version.version),
        aliases=tuple(getattr(model_version, "aliases", []) or ()),
        trained_as_of=params.get("as_of"),
        data=_data(params),
        heldout_auc=metrics.get(PROMOTION_METRIC),
        promoted=tags.get("promoted", "undecided"),
        reason=tags.get("promotion_reason", ""),
    )


def list_versions() -> list[VersionSummary]:
    """Every registered version of the scorer, newest first."""
    mlflow_client = client()
    with store_faults():
        found = mlflow_client.search_model_versions(f"name = '{MODEL_NAME}'")
        runs = {}
        for model_version in found:
            try:
                runs[model_version.run_id] = mlflow_client.get_run(model_version.run_id)
            except Exception:  # noqa: BLE001 - a run deleted by hand: show the version anyway
                runs[model_version.run_id] = None
    # search_model_versions does not fill aliases on every store: read them from the model.
    with store_faults():
        registered = mlflow_client.get_registered_model(MODEL_NAME) if found else None
    aliases: dict[str, list[str]] = {}
    for alias, version in (getattr(registered, "aliases", None) or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    summaries = []
    for model_version in found:
        summary = _summary(model_version, runs[model_version.run_id])
        own = aliases.get(summary.version, list(summary.aliases))
        summaries.append(_with_aliases(summary, own))
    return sorted(summaries, key=lambda s: int(s.version), reverse=True)


def _with_aliases(summary: VersionSummary, aliases: list[str]) -> VersionSummary:
    data = summary.to_dict()
    data["aliases"] = tuple(sorted(aliases))
    return VersionSummary(**data)


def show_version(version: str | int | None) -> dict[str, Any]:
    """Everything ``winback models show`` prints: metadata, decision and its history."""
    model_version = resolve_version(version)
    metadata = version_metadata(model_version)
    tags = dict(model_version.tags or {})
    try:
        history = json.loads(tags.get("promotion_history", "[]"))
    except ValueError:
        history = []
    with store_faults():
        run = client().get_run(model_version.run_id)
    return {
        **metadata,
        "champion": CHAMPION in metadata["aliases"],
        "data": _data(dict(run.data.params)),
        "promoted": tags.get("promoted", "undecided"),
        "promotion_reason": tags.get("promotion_reason", ""),
        "promotion": tags.get("promotion", ""),
        "promotion_history": history,
        "description": getattr(model_version, "description", "") or "",
    }


def describe_version(
    version: str, as_of: str, data: str, metrics: dict[str, float], promoted: bool, reason: str
) -> str:
    """The version's MLflow description: trained on what, how it did, promoted or why not."""
    auc = metrics.get(PROMOTION_METRIC)
    gini = metrics.get("heldout.xgboost.spend.normalized_gini")
    lines = [
        f"winback scorer trained on {data}, as of {as_of}.",
        "Held-out (out of time): dormancy AUC "
        + (f"{auc:.4f}" if auc is not None else "n/a")
        + (f", spend Gini {gini:.4f}." if gini is not None else "."),
        ("Promoted to champion: " if promoted else "Not promoted: ") + reason,
    ]
    with store_faults():
        client().update_model_version(MODEL_NAME, version, description="\n\n".join(lines))
    return "\n\n".join(lines)
