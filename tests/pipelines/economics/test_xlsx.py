"""The list as a workbook: ids stay text (``00042`` is not 42), numbers stay numbers.

Read back with the standard library only: the parts must be well-formed XML, the package
must name every part, and each cell must carry the type a spreadsheet needs.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.economics.xlsx import column_letter, write_xlsx

NS = {"s": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
runner = CliRunner()


def read_back(path: Path) -> list[list[tuple[str, str | None, str]]]:
    """Rows of (reference, type, value) from the workbook's one sheet."""
    with zipfile.ZipFile(path) as book:
        names = set(book.namelist())
        for part in names:
            ET.fromstring(book.read(part))  # every part is well-formed XML
        types = ET.fromstring(book.read("[Content_Types].xml"))
        overridden = {o.get("PartName").lstrip("/") for o in types if o.get("PartName")}
        assert overridden <= names
        sheet = ET.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.find("s:sheetData", NS):
        cells = []
        for cell in row:
            kind = cell.get("t")
            if kind == "inlineStr":
                value = cell.find("s:is/s:t", NS).text
            else:
                value = cell.find("s:v", NS).text
            cells.append((cell.get("r"), kind, value))
        rows.append(cells)
    return rows


@pytest.mark.parametrize(("index", "letter"), [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ")])
def test_column_letters(index, letter) -> None:
    assert column_letter(index) == letter


def test_ids_are_text_cells_and_numbers_are_numbers(tmp_path) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["00042", "17850", "a&b <c>"],
            "value": [1.25, float("nan"), -3.0],
            "reason": ["usually buys every 58 days", "", "x"],
        }
    )
    rows = read_back(write_xlsx(frame, tmp_path / "list.xlsx"))
    assert [c[2] for c in rows[0]] == ["customer_id", "value", "reason"]
    ids = [row[0] for row in rows[1:]]
    assert ids == [
        ("A2", "inlineStr", "00042"),
        ("A3", "inlineStr", "17850"),
        ("A4", "inlineStr", "a&b <c>"),
    ]
    assert rows[1][1] == ("B2", None, "1.25")
    # A missing number is an empty cell, not "nan".
    assert [c[0] for c in rows[2]] == ["A3", "C3"]


def test_rank_writes_the_list_as_a_workbook_beside_the_csv(cdnow_scores_path, tmp_path) -> None:
    out = tmp_path / "list.csv"
    args = ["rank", "--scores", str(cdnow_scores_path), "--budget", "200", "--out", str(out)]
    result = runner.invoke(app, [*args, "--xlsx"])
    assert result.exit_code == 0, result.output
    listed = pd.read_csv(out, dtype={"customer_id": str})
    rows = read_back(tmp_path / "list.xlsx")
    assert len(rows) == len(listed) + 1
    assert [c[2] for c in rows[0]] == list(listed.columns)
    # CDNOW ids are zero-padded text ("00042"): the workbook keeps them so.
    column = list(listed.columns).index("customer_id")
    ids = [row[column] for row in rows[1:]]
    assert all(kind == "inlineStr" for _, kind, _ in ids)
    assert [value for _, _, value in ids] == list(listed["customer_id"])
    assert any(value.startswith("0") for _, _, value in ids)
