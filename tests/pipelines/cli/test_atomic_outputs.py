"""Outputs are written atomically; a failed write is one line and exit code 1.

Issue 15, defect 3: on a full disk every command printed a traceback and left a truncated
file (``rank`` a 64 KiB CSV), and writing to ``/dev/full`` ``rank``, ``score`` and
``evaluate`` exited 0 saying "wrote". A full disk is simulated by a writer that writes part
of the file and then fails with ENOSPC, and by ``/dev/full`` where the system has one.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.atomic import atomic_output, write_text_atomic
from features.errors import OutputError
from pipelines.cli import app

runner = CliRunner()
FULL = "No space left on device"
needs_dev_full = pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")


def _disk_full_after_some_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``DataFrame.to_csv`` writes 100 bytes of the file, then the disk is full."""

    def to_csv(self: pd.DataFrame, path: str | Path, *args: object, **kwargs: object) -> None:
        Path(path).write_text("customer_id,rank\n" + "x" * 83)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)


def _one_line_exit_1(result, path: str | Path) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    assert "Traceback" not in result.output
    assert f"{path}: cannot write ({FULL})" in result.output
    assert "wrote" not in result.output
    errors = [line for line in result.output.splitlines() if "error:" in line]
    assert len(errors) == 1, result.output


def test_a_failed_write_keeps_the_old_file_and_leaves_no_debris(tmp_path):
    target = tmp_path / "list.csv"
    target.write_text("the complete previous list\n")
    with pytest.raises(OutputError, match=rf"list.csv: cannot write \({FULL}\)$"):
        with atomic_output(target) as temporary:
            temporary.write_text("half a li")
            raise OSError(errno.ENOSPC, "disk full")
    assert target.read_text() == "the complete previous list\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]


def test_a_successful_write_replaces_the_file_and_keeps_its_mode(tmp_path):
    target = tmp_path / "sub" / "report.html"
    write_text_atomic(target, "first")
    target.chmod(0o640)
    write_text_atomic(target, "second")
    assert target.read_text() == "second"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_a_folder_that_cannot_be_created_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    not_a_folder = r"file/out.json: cannot write \(.*/file is not a folder\)"
    with pytest.raises(OutputError, match=not_a_folder):
        write_text_atomic(blocker / "out.json", "{}")


@needs_dev_full
def test_a_device_is_written_in_place_and_its_failure_reported():
    with pytest.raises(OutputError, match=rf"^/dev/full: cannot write \({FULL}\)$"):
        write_text_atomic("/dev/full", "x" * 10_000)


def test_rank_on_a_full_disk_leaves_no_truncated_list(small_scores_path, tmp_path, monkeypatch):
    out = tmp_path / "list.csv"
    _disk_full_after_some_bytes(monkeypatch)
    result = runner.invoke(
        app, ["rank", "--scores", str(small_scores_path), "--budget", "400", "--out", str(out)]
    )
    _one_line_exit_1(result, out)
    assert list(tmp_path.iterdir()) == []  # neither a truncated list nor a temporary file


@needs_dev_full
def test_rank_to_dev_full_fails(small_scores_path):
    result = runner.invoke(
        app, ["rank", "--scores", str(small_scores_path), "--budget", "400", "--out", "/dev/full"]
    )
    _one_line_exit_1(result, "/dev/full")


@needs_dev_full
def test_evaluate_to_dev_full_fails():
    result = runner.invoke(
        app,
        ["evaluate", "-t", "cdnow", "--cutoff", "1997-09-30", "--models", "bgnbd"]
        + ["--out", "/dev/full"],
    )
    _one_line_exit_1(result, "/dev/full")


@needs_dev_full
def test_features_to_dev_full_fails():
    result = runner.invoke(
        app, ["features", "-t", "cdnow", "--as-of", "1997-09-30", "--out", "/dev/full"]
    )
    _one_line_exit_1(result, "/dev/full")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # pyarrow was not let delete it


def test_a_quarantine_file_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    source = tmp_path / "tx.csv"
    source.write_text("customer_id,timestamp,amount\na,2024-01-01,5\na,2024-02-01,oops\n")
    out = tmp_path / "out" / "f.parquet"
    _disk_full_after_some_bytes(monkeypatch)
    result = runner.invoke(
        app, ["features", "-t", str(source), "--as-of", "2024-03-01", "--out", str(out)]
    )
    _one_line_exit_1(result, tmp_path / "out" / "f.quarantine.csv")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
