"""A campaign's stored measurement (``campaign_results.json``) and what later rankings take from it.

``winback campaign import`` measures once and writes the results; ``winback rank``, the
report and the service only read them back and turn them into measured response rates.
Those readers live here, apart from the measurement in :mod:`pipelines.economics.campaign`,
so ranking a list does not load what measuring a campaign needs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from features.atomic import write_text_atomic
from pipelines.economics.campaign_log import CampaignLogError

#: Segment of a customer with no purchase before the contact.
NO_HISTORY = "no_history"


def measured_response_rates(results: Mapping[str, Any]) -> dict[str, dict[str, dict]]:
    """channel -> segment (status, or ``"all"``) -> response rate and group sizes.

    What :meth:`pipelines.economics.channels.ChannelConfig.with_measured_response_rates` takes.
    """
    rates: dict[str, dict[str, dict]] = {}
    for record in results.get("by_channel", []):
        if record.get("response_rate") is not None:
            rates.setdefault(record["channel"], {})["all"] = _rate_entry(record)
    for record in results.get("by_channel_segment", []):
        if record.get("response_rate") is not None and record["segment"] != NO_HISTORY:
            rates.setdefault(record["channel"], {})[record["segment"]] = _rate_entry(record)
    return rates


def _rate_entry(record: Mapping[str, Any]) -> dict:
    return {
        "response_rate": record["response_rate"],
        "n_treatment": record["n_treatment"],
        "n_control": record["n_control"],
    }


def json_ready(value: Any) -> Any:
    """Plain JSON types; NaN and infinities become null."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_campaign_results(results: Mapping[str, Any], path: str | Path) -> Path:
    path = Path(path)
    write_text_atomic(path, json.dumps(json_ready(results), indent=2) + "\n")
    return path


def load_campaign_results(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise CampaignLogError(
            f"{path}: campaign results not found (run `winback campaign import` first)"
        )
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CampaignLogError(f"{path}: not a campaign results file ({error})") from None
    if not isinstance(results, dict) or "by_channel" not in results:
        raise CampaignLogError(f"{path}: not a campaign results file (no by_channel)")
    return results
