"""`winback campaign learn` and `predict` as a user finds them: listed, and quick to start."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def test_campaign_lists_learn_and_predict() -> None:
    result = runner.invoke(app, ["campaign", "--help"])
    assert result.exit_code == 0
    for command in ("import", "learn", "predict"):
        assert command in result.output


def test_the_command_line_starts_without_pandas_or_xgboost() -> None:
    """The uplift commands import their libraries inside, so `--help` stays fast."""
    started = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pipelines.cli"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in started.stderr.splitlines()}
    heavy = {name for name in imported if name.split(".")[0] in ("pandas", "xgboost")}
    assert not heavy
