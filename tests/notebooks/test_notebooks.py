"""Every notebook runs top to bottom, so the walkthroughs never rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors


def test_the_walkthrough_uses_its_own_store_unless_told(tmp_path, monkeypatch):
    """Run as a user would, without MLFLOW_TRACKING_URI, the notebook must not log or
    promote in the production store (the one `winback serve` reads)."""
    import pipelines.paths
    from pipelines.registry import store

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(pipelines.paths, "PROJECT_ROOT", tmp_path)
    production = store.tracking_uri()
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    setup = next(
        c.source for c in notebook.cells if c.cell_type == "code" and "STORE =" in c.source
    )
    exec(compile(setup, "setup-cell", "exec"), {})  # noqa: S102 - our own notebook's cell
    assert store.tracking_uri() != production
    assert store.tracking_uri() == f"sqlite:///{tmp_path / 'out' / 'notebook_mlflow' / 'mlflow.db'}"
