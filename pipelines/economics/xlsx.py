"""The win-back list as an Excel workbook, for marketers who open lists in a spreadsheet.

Why: a spreadsheet opening the CSV reads ``00042`` as the number 42 and ``17850`` as a
number too, and the CRM then gets ids it does not know. In this workbook the id column (and
every other text column) is written as text cells, so the ids stay as they are, while
probabilities and money stay numbers that sort and sum.

Why no library: a one-sheet workbook of text and number cells is six small XML files in a
zip (ECMA-376, the SpreadsheetML subset every spreadsheet reads). openpyxl would add a
dependency to every install for a file this simple; the writer below is the whole of it.
The header row is frozen and filterable.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd

from features.atomic import atomic_output

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>
</Types>"""  # noqa: E501
_ROOT_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""  # noqa: E501
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets>
</workbook>"""  # noqa: E501
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>
</Relationships>"""  # noqa: E501
# One font, no fill, no border, and two cell formats: general (0) and bold for the header (1).
_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""  # noqa: E501


def column_letter(index: int) -> str:
    """Spreadsheet column name of the 0-based ``index``: 0 -> A, 25 -> Z, 26 -> AA."""
    name = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        name = chr(ord("A") + remainder) + name
    return name


def _cell(reference: str, value: object, text: bool, style: int = 0) -> str:
    """One ``<c>`` element: text as an inline string, numbers as numbers, blanks omitted."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    styled = f' s="{style}"' if style else ""
    if text or isinstance(value, str):
        content = escape(str(value))
        inline = f'<is><t xml:space="preserve">{content}</t></is>'
        return f'<c r="{reference}" t="inlineStr"{styled}>{inline}</c>'
    number = str(int(value)) if isinstance(value, int | np.integer) else repr(float(value))
    return f'<c r="{reference}"{styled}><v>{number}</v></c>'


def _sheet(frame: pd.DataFrame) -> str:
    """The worksheet XML: a bold, frozen, filterable header and one row per list row."""
    letters = [column_letter(j) for j in range(len(frame.columns))]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    header = zip(letters, frame.columns, strict=True)
    rows = ['<row r="1">' + "".join(_cell(f"{x}1", str(c), True, 1) for x, c in header) + "</row>"]
    for i, record in enumerate(frame.itertuples(index=False, name=None), start=2):
        cells = "".join(
            _cell(f"{x}{i}", v, not is_number)
            for x, v, is_number in zip(letters, record, numeric, strict=True)
        )
        rows.append(f'<row r="{i}">{cells}</row>')
    last = f"{letters[-1]}{len(frame) + 1}" if letters else "A1"
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
        'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
        f"<sheetData>{''.join(rows)}</sheetData>"
        f'<autoFilter ref="A1:{last}"/></worksheet>'
    )


def write_xlsx(frame: pd.DataFrame, path: str | Path, sheet: str = "win-back list") -> Path:
    """Write ``frame`` as a one-sheet workbook; non-numeric columns (the ids) as text cells."""
    path = Path(path)
    with atomic_output(path) as temporary:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as book:
            book.writestr("[Content_Types].xml", _CONTENT_TYPES)
            book.writestr("_rels/.rels", _ROOT_RELS)
            book.writestr("xl/workbook.xml", _WORKBOOK.format(name=escape(sheet[:31])))
            book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
            book.writestr("xl/styles.xml", _STYLES)
            book.writestr("xl/worksheets/sheet1.xml", _sheet(frame))
    return path
