"""`make bento`: the Bento pins the model version it serves, and builds without uv on PATH."""

from __future__ import annotations

import os

import pytest
import yaml

from features.errors import WinbackError
from serving import bento_build


def test_the_pinned_bentofile_names_the_version_and_keeps_the_rest():
    shipped = yaml.safe_load(bento_build.BENTOFILE.read_text())
    earlier = {**shipped, "envs": [{"name": "WINBACK_MODEL_VERSION", "value": "1"},
                                   {"name": "OTHER", "value": "x"}]}  # fmt: skip
    pinned = bento_build.pinned_bentofile(earlier, "7")
    assert pinned["envs"] == [
        {"name": "OTHER", "value": "x"},
        {"name": "WINBACK_MODEL_VERSION", "value": "7"},
    ]
    assert pinned["labels"]["model_version"] == "7"
    assert pinned["service"] == shipped["service"] and pinned["include"] == shipped["include"]
    assert earlier["envs"][0] == {"name": "WINBACK_MODEL_VERSION", "value": "1"}  # unchanged


def test_the_bootstrapped_uv_goes_first_on_the_path_when_none_is_on_it(tmp_path, monkeypatch):
    fake_uv = tmp_path / ".tools" / "bin" / "uv"
    fake_uv.parent.mkdir(parents=True)
    fake_uv.write_text("#!/bin/sh\n")
    fake_uv.chmod(0o755)
    monkeypatch.setattr(bento_build, "BOOTSTRAPPED_UV", fake_uv)
    env = bento_build.build_environment({"PATH": str(tmp_path / "empty")})
    assert env["PATH"].split(os.pathsep)[0] == str(fake_uv.parent)

    fake_uv.unlink()
    with pytest.raises(WinbackError, match="bentoml build needs uv"):
        bento_build.build_environment({"PATH": str(tmp_path / "empty")})


def test_no_champion_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert bento_build.main(["--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no 'champion' model") and "\n" not in err
