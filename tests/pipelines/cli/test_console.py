"""Long reads show a spinner, and never clash with a command's progress bar."""

from __future__ import annotations

import io
import time

from rich.console import Console

from pipelines.cli import console as cli_console


def _terminal(monkeypatch) -> io.StringIO:
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=100)
    monkeypatch.setattr(cli_console, "console", terminal)
    return out


def test_a_long_read_shows_what_it_is_doing(monkeypatch):
    out = _terminal(monkeypatch)
    with cli_console.working("reading and validating big.csv"):
        time.sleep(0.3)  # the spinner refreshes
    assert "reading and validating big.csv" in out.getvalue()


def test_inside_a_progress_bar_the_bar_names_the_step(monkeypatch):
    out = _terminal(monkeypatch)
    with cli_console.stage_progress(2) as progress:
        cli_console.advance(progress, "reading and validating transactions")
        with cli_console.working("reading and validating big.csv"):  # no LiveError
            pass
        cli_console.advance(progress, "done")
    assert "reading and validating big.csv" not in out.getvalue()
