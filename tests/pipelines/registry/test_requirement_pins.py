"""The scorer's logged library pins are checked against the running environment.

mlflow's own check scans every installed distribution on each load (issue 18), so winback
compares the model's ``requirements.txt`` pins itself: these tests make sure a mismatch
is still reported, and an environment that matches stays quiet.
"""

from __future__ import annotations

import importlib.metadata
import logging

from pipelines.registry.store import requirement_mismatches, warn_requirement_mismatches


def test_matching_pins_are_quiet_and_mismatches_are_named(tmp_path):
    numpy_version = importlib.metadata.version("numpy")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        f"# logged by winback\nnumpy=={numpy_version}\nxgboost==0.0.1\n"
        "no-such-package-winback==1.0\nunpinned-line\n"
    )

    assert requirement_mismatches(requirements) == [
        f"xgboost==0.0.1 (installed here: {importlib.metadata.version('xgboost')})",
        "no-such-package-winback==1.0 (installed here: not installed)",
    ]
    assert requirement_mismatches(tmp_path / "missing.txt") == []


def test_a_mismatch_is_one_warning_line(tmp_path, caplog):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("xgboost==0.0.1\n")
    with caplog.at_level(logging.WARNING, logger="pipelines.registry.store"):
        warn_requirement_mismatches(requirements, 7)
    (record,) = caplog.records
    assert record.getMessage().startswith("winback v7 was logged with xgboost==0.0.1")

    caplog.clear()
    requirements.write_text(f"numpy=={importlib.metadata.version('numpy')}\n")
    with caplog.at_level(logging.WARNING, logger="pipelines.registry.store"):
        warn_requirement_mismatches(requirements, 7)
    assert caplog.records == []
