"""The service's settings are read from the environment in one place, with their defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.errors import ConfigError
from pipelines.paths import DEFAULT_SCORES
from serving.settings import ServiceSettings


def test_defaults_without_any_variable():
    settings = ServiceSettings.from_environment({})
    assert (settings.scores_path, settings.scores_explicit) == (DEFAULT_SCORES, False)
    assert settings.model_version is None and settings.workers == 1
    assert settings.channels_path is None and settings.campaign_results_path is None
    assert not settings.access_log and not settings.insecure


def test_every_variable_is_read():
    settings = ServiceSettings.from_environment(
        {
            "WINBACK_SCORES": "/data/s.parquet",
            "WINBACK_MODEL_VERSION": " 7 ",
            "WINBACK_WORKERS": "3",
            "WINBACK_CHANNELS": "/c.yaml",
            "WINBACK_CAMPAIGN_RESULTS": "/r.json",
            "WINBACK_ACCESS_LOG": "1",
            "WINBACK_INSECURE": "true",
            "WINBACK_API_KEYS": "k-0123456789abcdef",
        }
    )
    assert (settings.scores_path, settings.scores_explicit) == (Path("/data/s.parquet"), True)
    assert (settings.model_version, settings.workers) == ("7", 3)
    assert (settings.channels_path, settings.campaign_results_path) == ("/c.yaml", "/r.json")
    assert settings.access_log and settings.insecure
    assert settings.authentication() == (("k-0123456789abcdef",), True)


def test_keys_stay_out_of_the_settings_repr():
    settings = ServiceSettings.from_environment({"WINBACK_API_KEYS": "k-0123456789abcdef"})
    assert "0123456789abcdef" not in repr(settings)


@pytest.mark.parametrize("workers", ["0", "two"])
def test_a_bad_worker_count_is_one_line(workers):
    with pytest.raises(ConfigError, match="WINBACK_WORKERS"):
        ServiceSettings.from_environment({"WINBACK_WORKERS": workers})
