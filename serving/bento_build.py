"""``make bento``: package the service as a Bento that serves one pinned model version.

Two things stood between ``bentoml build`` and a user who followed the README:

* BentoML needs ``uv`` to lock the Bento's packages and looks for it on ``PATH`` only;
  failing that it runs ``python -m pip install uv`` in the project's virtual environment,
  which ``uv sync`` creates without pip ("Failed to install uv: No module named pip").
  The uv that ``make`` bootstrapped (on ``PATH``, or ``.tools/bin/uv``) is put first on
  the build's ``PATH``.
* The Bento held code, not a model: it served whatever the registry's ``champion`` alias
  pointed at when a container started, so two containers of one Bento could serve
  different models. The build resolves the champion (or ``--model-version``) now and
  writes ``WINBACK_MODEL_VERSION`` into the Bento's environment (``envs`` of a copy of
  ``bentofile.yaml``), and labels the Bento with it.

    python -m serving.bento_build [--model-version N] [--dry-run]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from features.errors import WinbackError

ROOT = Path(__file__).resolve().parent.parent
BENTOFILE = ROOT / "bentofile.yaml"
#: Where ``make`` installs uv when the machine has none.
BOOTSTRAPPED_UV = ROOT / ".tools" / "bin" / "uv"
PINNED_VARIABLE = "WINBACK_MODEL_VERSION"


def pinned_bentofile(bentofile: dict[str, Any], version: str) -> dict[str, Any]:
    """``bentofile`` (as read from YAML) with ``version`` pinned in its environment and
    labels; any earlier pin is replaced, other variables are kept."""
    pinned = dict(bentofile)
    envs = [e for e in pinned.get("envs") or [] if e.get("name") != PINNED_VARIABLE]
    pinned["envs"] = [*envs, {"name": PINNED_VARIABLE, "value": str(version)}]
    pinned["labels"] = {**(pinned.get("labels") or {}), "model_version": str(version)}
    return pinned


def build_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The build's environment: the bootstrapped uv's folder first on ``PATH`` when no
    ``uv`` is on it (BentoML would otherwise try pip, which the venv does not have)."""
    env = dict(os.environ if environ is None else environ)
    if shutil.which("uv", path=env.get("PATH")) is None:
        if not BOOTSTRAPPED_UV.exists():
            raise WinbackError(
                "bentoml build needs uv: run `make test` or `make demo` once (they install "
                f"it into {BOOTSTRAPPED_UV.parent}), or install uv on PATH"
            )
        env["PATH"] = os.pathsep.join([str(BOOTSTRAPPED_UV.parent), env.get("PATH", "")])
    return env


def champion_number(model_version: int | None) -> str:
    """The registered version to pin: ``model_version``, or the champion's."""
    from pipelines.registry import store

    return str(store.resolve_version(model_version).version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-version", type=int, help="Version to pin (default: champion).")
    parser.add_argument(
        "--dry-run", action="store_true", help="Print the pinned bentofile; do not build."
    )
    args = parser.parse_args(argv)
    try:
        version = champion_number(args.model_version)
        bentofile = pinned_bentofile(yaml.safe_load(BENTOFILE.read_text()), version)
        if args.dry_run:
            print(yaml.safe_dump(bentofile, sort_keys=False), end="")
            return 0
        env = build_environment()
    except WinbackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=ROOT, delete=False) as handle:
        yaml.safe_dump(bentofile, handle, sort_keys=False)
    try:
        print(f"building the Bento with model version {version} pinned", flush=True)
        bentoml = Path(sys.executable).with_name("bentoml")
        command = [str(bentoml), "build", "-f", handle.name, str(ROOT)]
        return subprocess.run(command, env=env, cwd=ROOT, check=False).returncode
    finally:
        Path(handle.name).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
