"""What the benchmarks ran on: CPU, cores, RAM, OS, Java and library versions.

Recorded with every run because timings mean little without the machine behind them.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("numpy", "pandas", "scipy", "pyarrow", "duckdb", "lifetimes", "xgboost", "pyspark")


def machine_info() -> dict[str, Any]:
    return {
        "cpu": _cpu(),
        "cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "ram_gb": _ram_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java_version(),
        "versions": {name: _version(name) for name in PACKAGES},
    }


def _cpu() -> str:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def _ram_gb() -> float:
    ram_gb = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return ram_gb


def _java_version() -> str:
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        return (java.stderr or java.stdout).splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "not found"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
