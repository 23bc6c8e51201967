"""Bundled real data: the CDNOW transactions that ship inside the ``lifetimes`` package.

``lifetimes.datasets`` imports ``pkg_resources`` (gone in setuptools>=81), so we read the
file straight from the installed package, located through the import system. Nothing is
downloaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

#: Names accepted wherever a transactions path is accepted.
BUNDLED_DATASETS = ("cdnow",)


def cdnow_path() -> Path:
    """Path of ``CDNOW_master.txt`` inside the installed ``lifetimes`` package.

    Located through the import system without importing ``lifetimes`` itself: its import
    pulls in matplotlib and takes about two seconds.
    """
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the lifetimes package (which ships CDNOW) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "CDNOW_master.txt"


def load_cdnow_raw() -> pd.DataFrame:
    """CDNOW master file in the data contract's column names.

    69,659 transactions of 23,570 customers, 1997-01-01..1998-06-30. ``quantity`` is the
    number of CDs; ``amount`` the dollar value of the order line.
    """
    frame = pd.read_csv(
        cdnow_path(),
        sep=r"\s+",
        header=None,
        skiprows=1,
        names=["customer_id", "date", "quantity", "amount"],
        dtype={"customer_id": str, "date": str, "quantity": "int64", "amount": "float64"},
    )
    frame["timestamp"] = pd.to_datetime(frame.pop("date"), format="%Y%m%d")
    return frame[["customer_id", "timestamp", "amount", "quantity"]]
