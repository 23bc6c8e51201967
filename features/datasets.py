"""Bundled real data: the CDNOW transactions that ship inside the ``lifetimes`` package.

``lifetimes.datasets`` imports ``pkg_resources`` (gone in setuptools>=81), so we read the
file straight from the installed package with :mod:`importlib.resources`. Nothing is
downloaded.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pandas as pd

#: Names accepted wherever a transactions path is accepted.
BUNDLED_DATASETS = ("cdnow",)


def cdnow_path() -> Path:
    """Path of ``CDNOW_master.txt`` inside the installed ``lifetimes`` package."""
    resource = importlib.resources.files("lifetimes") / "datasets" / "CDNOW_master.txt"
    return Path(str(resource))


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
