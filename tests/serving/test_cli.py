"""``python -m serving`` (what ``winback serve`` runs) refuses a configuration that must not
serve, before starting anything, and otherwise runs the server in the foreground."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.paths import PROJECT_ROOT
from serving import launcher
from serving.launcher import server_command, server_environment


def test_serve_without_keys_exits_2_and_says_how_to_fix_it(monkeypatch, capsys):
    monkeypatch.delenv("WINBACK_API_KEYS", raising=False)
    monkeypatch.delenv("WINBACK_INSECURE", raising=False)
    assert launcher.main(["--port", "3999"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: no API key configured")
    assert "WINBACK_API_KEYS" in captured.err and "--insecure" in captured.err


def test_serve_with_a_missing_scores_file_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("WINBACK_API_KEYS", "k-0123456789abcdef")
    assert launcher.main(["--scores", str(tmp_path / "nope.parquet")]) == 2
    assert "scores file not found" in capsys.readouterr().err


def test_python_dash_m_serving_is_the_launcher(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", "3999"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: no API key configured")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_good_configuration_is_announced_and_served_in_the_foreground(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("COLUMNS", "1000")  # Rich wraps at the terminal's width
    scores = tmp_path / "scores.parquet"
    scores.write_bytes(b"")
    calls = []

    def fake_run_server(command, env):
        calls.append((command, env))
        return 3

    monkeypatch.setattr(launcher, "run_server", fake_run_server)
    code = launcher.main(["--port", "3100", "--scores", str(scores), "--insecure"])
    assert code == 3  # the server's exit code is the launcher's
    ((command, env),) = calls
    assert command == server_command("127.0.0.1", 3100)
    assert env["WINBACK_INSECURE"] == "1" and env["WINBACK_SCORES"] == str(scores.resolve())
    assert capsys.readouterr().out == (
        f"serving winback on http://127.0.0.1:3100 (API docs at /; snapshot: "
        f"{scores.resolve()}; Ctrl-C stops it)\n"
    )


def test_winback_serve_hands_its_options_to_the_launcher(monkeypatch, tmp_path):
    handed_over = []

    def fake_execv(path, args):
        handed_over.append((path, args))
        raise SystemExit(0)

    monkeypatch.setattr("os.execv", fake_execv)
    scores = tmp_path / "s.parquet"
    options = ["--port", "3101", "--host", "0.0.0.0", "--scores", str(scores), "--insecure",
               "--model-version", "4", "--workers", "2"]  # fmt: skip
    CliRunner().invoke(app, ["serve", *options])
    ((path, args),) = handed_over
    assert path == sys.executable and args[:3] == [sys.executable, "-m", "serving"]
    assert launcher.argument_parser().parse_args(args[3:]) == launcher.argument_parser().parse_args(
        options
    )


@pytest.mark.parametrize("option", [["--port", "0"], ["--workers", "0"], ["--model-version", "x"]])
def test_bad_options_exit_2(option, capsys):
    with pytest.raises(SystemExit) as stopped:
        launcher.main(option)
    assert stopped.value.code == 2


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


def test_start_up_check_hands_the_loaded_model_to_the_workers(served_model, monkeypatch, tmp_path):
    """What the check exports is what the registry serves: the same scorer state and the
    same /metadata, read back without MLflow (serving/served_model.py)."""
    from pipelines.registry import store as registry
    from serving.served_model import load_served_model
    from serving.service import check_configuration

    monkeypatch.setenv("WINBACK_API_KEYS", "k-0123456789abcdef")
    monkeypatch.setenv("WINBACK_SCORES", str(served_model.scores_path))
    monkeypatch.delenv("WINBACK_MODEL_VERSION", raising=False)
    assert load_served_model(tmp_path / "handed") is None  # nothing written yet
    version = check_configuration(export_to=tmp_path / "handed")

    scorer, served_version, metadata = load_served_model(tmp_path / "handed")
    expected_scorer, expected_version = registry.load_scorer(version)
    assert served_version == version == str(expected_version.version)
    assert scorer.to_dict() == expected_scorer.to_dict()
    assert metadata == registry.version_metadata(expected_version)


def test_start_up_checks_refuse_a_bad_channels_file(served_model, monkeypatch, tmp_path):
    from features.errors import WinbackError
    from serving.service import check_configuration

    monkeypatch.setenv("WINBACK_API_KEYS", "k-0123456789abcdef")
    monkeypatch.setenv("WINBACK_CHANNELS", str(tmp_path / "missing.yaml"))
    with pytest.raises(WinbackError, match="channels config not found"):
        check_configuration()


def test_start_up_checks_refuse_an_unreadable_uplift_model(served_model, monkeypatch, tmp_path):
    """/rank decides with the same uplift model `winback rank` would use; one that cannot be
    read stops the server at start-up with one line, not at the first /rank."""
    from features.errors import WinbackError
    from serving.service import check_configuration

    bad = tmp_path / "uplift_model.json"
    bad.write_text("{not json")
    monkeypatch.setenv("WINBACK_API_KEYS", "k-0123456789abcdef")
    monkeypatch.setenv("WINBACK_SCORES", str(served_model.scores_path))
    monkeypatch.setenv("WINBACK_UPLIFT_MODEL", str(bad))
    with pytest.raises(WinbackError, match="not an uplift model file"):
        check_configuration()


def test_start_up_refuses_a_snapshot_scored_by_another_version(served_model, monkeypatch, tmp_path):
    """A snapshot scored by v1 served as v3 answers v1's scores under v3's name: refused
    with what to do, unless explicitly allowed (then /metadata flags it)."""
    import pyarrow.parquet as pq

    from features.errors import WinbackError
    from pipelines.scoring.table import MODEL_VERSION_METADATA_KEY
    from serving.service import check_configuration

    table = pq.read_table(served_model.scores_path)
    metadata = dict(table.schema.metadata)
    metadata[MODEL_VERSION_METADATA_KEY] = b"999"
    other = tmp_path / "scores.parquet"
    pq.write_table(table.replace_schema_metadata(metadata), other)
    monkeypatch.setenv("WINBACK_API_KEYS", "k-0123456789abcdef")
    monkeypatch.setenv("WINBACK_SCORES", str(other))
    monkeypatch.delenv("WINBACK_MODEL_VERSION", raising=False)
    with pytest.raises(WinbackError, match=r"scored by winback v999, but the service would serve"):
        check_configuration()
    monkeypatch.setenv("WINBACK_ALLOW_VERSION_MISMATCH", "1")
    assert check_configuration() == served_model.version
