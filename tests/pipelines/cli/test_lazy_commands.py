"""The root help is printed from a table (issue 18: ``winback --help`` at most 2x a bare
``import typer, rich``): the table must say what the command modules define, every command
must be in it, and printing it must import none of them."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import typer
from typer.testing import CliRunner

import pipelines.cli
from pipelines.cli import app
from pipelines.cli.lazy import COMMANDS, module_commands


def _first_paragraph(text: str) -> str:
    return " ".join(text.split("\n\n")[0].split())


def test_the_table_says_what_each_module_defines():
    for entry in COMMANDS:
        command = module_commands(entry.module)[entry.name]
        assert command.rich_help_panel == entry.panel, entry.name
        assert _first_paragraph(command.short_help or command.help) == entry.summary, entry.name


def test_every_command_of_every_module_is_in_the_table():
    defined = set()
    for module in pkgutil.iter_modules(pipelines.cli.__path__):
        imported = importlib.import_module(f"pipelines.cli.{module.name}")
        if module.name != "lazy" and isinstance(getattr(imported, "app", None), typer.Typer):
            defined |= set(module_commands(imported.__name__))
    assert defined == {entry.name for entry in COMMANDS}


def test_root_help_lists_every_command_in_its_panel_and_exits_0():
    result = CliRunner().invoke(app, ["--help"], env={"TERMINAL_WIDTH": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage: winback [OPTIONS] COMMAND [ARGS]..." in result.output
    for entry in COMMANDS:
        assert f"{entry.name}  " in result.output
    for panel in {entry.panel for entry in COMMANDS}:
        assert f"─ {panel} ─" in result.output
    # The app's Markdown bold is rendered, not printed with its asterisks.
    assert "**" not in result.output and "winback demo" in result.output


def test_root_help_imports_no_command_module_and_no_heavy_library():
    probe = (
        "import sys\n"
        "from pipelines.cli import app\n"
        "sys.argv = ['winback', '--help']\n"
        "try:\n"
        "    app()\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in sys.modules if m.startswith('pipelines.cli.') and m != "
        "'pipelines.cli.lazy'] + [m for m in ('pandas', 'duckdb', 'typer.rich_utils') "
        "if m in sys.modules]\n"
        "print('LOADED', ','.join(loaded))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip().splitlines()[-1] == "LOADED"


def test_a_subcommand_still_gets_typer_help_and_unknown_commands_exit_2():
    runner = CliRunner()
    result = runner.invoke(app, ["campaign", "--help"])
    assert result.exit_code == 0 and "learn" in result.output
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2
