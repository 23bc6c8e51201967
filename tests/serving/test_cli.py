"""``winback serve`` refuses a configuration that must not serve, before starting anything."""

from __future__ import annotations

from typer.testing import CliRunner

from pipelines.cli import app
from serving.cli import server_command, server_environment


def test_serve_without_keys_exits_2_and_says_how_to_fix_it(monkeypatch):
    monkeypatch.delenv("WINBACK_API_KEYS", raising=False)
    monkeypatch.delenv("WINBACK_INSECURE", raising=False)
    result = CliRunner().invoke(app, ["serve", "--port", "3999"])
    assert result.exit_code == 2
    assert "WINBACK_API_KEYS" in result.output and "--insecure" in result.output


def test_serve_with_a_missing_scores_file_exits_2(monkeypatch, tmp_path):
    monkeypatch.setenv("WINBACK_API_KEYS", "k-0123456789abcdef")
    result = CliRunner().invoke(app, ["serve", "--scores", str(tmp_path / "nope.parquet")])
    assert result.exit_code == 2
    assert "scores file not found" in result.output


def test_insecure_and_options_reach_the_server_environment(tmp_path):
    scores = tmp_path / "scores.parquet"
    scores.write_bytes(b"")
    env = server_environment(scores, insecure=True, model_version=3, workers=2, environ={})
    assert env["WINBACK_INSECURE"] == "1"
    assert env["WINBACK_SCORES"] == str(scores.resolve())
    assert env["WINBACK_MODEL_VERSION"] == "3" and env["WINBACK_WORKERS"] == "2"
    assert env["BENTOML_DO_NOT_TRACK"] == "true"
    command = server_command("127.0.0.1", 3100)
    assert command[3:5] == ["serve", "serving.service:WinbackService"]
    assert command[command.index("--port") + 1] == "3100"


def test_start_up_checks_resolve_the_version_once(served_model, monkeypatch):
    from serving.service import check_configuration

    monkeypatch.setenv("WINBACK_API_KEYS", "k-0123456789abcdef")
    monkeypatch.setenv("WINBACK_SCORES", str(served_model.scores_path))
    monkeypatch.delenv("WINBACK_MODEL_VERSION", raising=False)
    assert check_configuration() == served_model.version


def test_start_up_checks_refuse_a_bad_channels_file(served_model, monkeypatch, tmp_path):
    import pytest

    from features.errors import WinbackError
    from serving.service import check_configuration

    monkeypatch.setenv("WINBACK_API_KEYS", "k-0123456789abcdef")
    monkeypatch.setenv("WINBACK_CHANNELS", str(tmp_path / "missing.yaml"))
    with pytest.raises(WinbackError, match="channels config not found"):
        check_configuration()
