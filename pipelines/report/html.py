"""The page's HTML building blocks: the inline CSS, escaping, tables and number cards.

The report is one self-contained file (no external URL), so its style sheet and the small
script a headless browser test reads are inline text here. Every value that reaches the
page goes through :func:`esc`; tables are built from DataFrames with per-column formats so
the numbers on the page are the numbers the measures in :mod:`pipelines.report.tables`
return.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping
from typing import Any

import pandas as pd

from pipelines.economics.plan import LIST_COLUMNS

#: Columns of the list the page's top rows show (the reason goes in a row below); the rest
#: of the CSV's context columns (as-of date, model version, list id...) are in the header.
_NOT_IN_TOP_ROWS = {"reason", "as_of", "model_version", "list_id", "clv", "abc"}
REPORT_LIST_COLUMNS = tuple(
    c for c in LIST_COLUMNS if c not in _NOT_IN_TOP_ROWS | {"favorite_product", "last_order_date"}
)

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
 background:#f5f6fa;color:#1f2330;line-height:1.45}
main{max-width:1280px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:0 0 10px;color:#1a237e}
.subtitle{color:#5f6475;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;
 margin:0 0 18px}
.card{background:#fff;border-radius:10px;padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card .label{font-size:12px;color:#5f6475;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:22px;font-weight:600}
section{background:#fff;border-radius:10px;padding:18px 22px;margin:0 0 18px;
 box-shadow:0 1px 3px rgba(0,0,0,.08)}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:18px;align-items:start}
@media (max-width:900px){.grid{grid-template-columns:1fr}}
img.figure{max-width:100%;height:auto;display:block}
table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #e4e6ee;text-align:right;vertical-align:top}
th{background:#eef0f7;font-weight:600}
td.text,th.text{text-align:left}
tr:nth-child(even) td{background:#fafbfd}
td.reason{font-size:12px;color:#414657;text-align:left;padding-top:0}
#top-of-list tr.entry td{border-bottom:none;padding-bottom:2px}
#top-of-list tr:nth-child(4n+1) td,#top-of-list tr:nth-child(4n+2) td{background:#fafbfd}
#top-of-list tr:nth-child(even) td{background:inherit}
#top-of-list tr:nth-child(4n+2) td{background:#fafbfd}
.note{font-size:12.5px;color:#5f6475;margin:8px 0 0}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff}
.data-note{background:#fff8e1;border-left:3px solid #ffb300;padding:6px 10px;color:#4e4a3a}
ol.note{padding-left:20px}
footer#sources{font-size:11.5px;color:#5f6475;margin:8px 0 0}
footer#sources h3{font-size:12px;margin:0 0 4px}footer#sources ul{margin:0;padding-left:18px}
@media print{
 @page{size:A4;margin:12mm}
 body{background:#fff;font-size:11px}
 main{max-width:none;padding:0}
 section,.card{box-shadow:none;border:1px solid #d5d8e3}
 .card,.grid>div,img.figure{break-inside:avoid;page-break-inside:avoid}
 section{padding:10px 12px;margin:0 0 10px}
 h2{break-after:avoid}
 .grid{grid-template-columns:1fr 1fr}
 img.figure{max-height:75mm;width:auto}
 table{font-size:10px}
 tr{break-inside:avoid}
 a{color:inherit;text-decoration:none}
 a[href]:after{content:" (" attr(href) ")";font-size:9px}
 .data-note{background:none}
 .note{font-size:9.5px}.card .value{font-size:16px}h1{font-size:20px}h2{font-size:15px}
 footer#sources{font-size:9px}
}
"""

# Reports rendering problems into the DOM, where a headless browser test can read them.
CHECK_SCRIPT = """
<script>
window.addEventListener("error", function (e) {
  document.body.dataset.jsErrors = (+(document.body.dataset.jsErrors || 0) + 1).toString();
});
window.addEventListener("load", function () {
  var images = Array.from(document.images);
  document.body.dataset.images = images.length.toString();
  document.body.dataset.brokenImages =
    images.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length.toString();
  document.body.dataset.rendered = "true";
});
</script>
"""


def esc(value: Any) -> str:
    """Any value as HTML-safe text."""
    return html.escape(str(value))


def frame_table(
    frame: pd.DataFrame,
    formats: Mapping[str, Any] | None = None,
    text_columns: tuple[str, ...] = (),
    index_label: str | None = None,
    attrs: str = "",
) -> str:
    """A DataFrame as a table; ``formats`` maps a column to the function that writes its cells,
    ``index_label`` (when given) shows the index as the first column under that header."""
    formats = formats or {}
    columns = list(frame.columns)
    head = _head_cells(columns, text_columns)
    if index_label is not None:
        head = f'<th class="text">{esc(index_label)}</th>' + head
    body = []
    for index, row in frame.iterrows():
        cells = []
        if index_label is not None:
            cells.append(f'<td class="text">{esc(index)}</td>')
        for c in columns:
            value = row[c]
            shown = formats[c](value) if c in formats else value
            css = "reason" if c == "reason" else ("text" if c in text_columns else "")
            cells.append(f'<td class="{css}">{esc(shown)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


#: Column headers that read better spelled out.
_HEADERS = {
    "crr": "CRR",
    "roi": "ROI",
    "ltv": "LTV (field formula)",
    "model_clv": "model CLV",
    "rule_of_thumb": "rule of thumb",
    "model_if_all_contacted": "model: all contacted",
    "model_incremental": "model: incremental",
    "S": "S (start)",
    "E": "E (end)",
    "N": "N (new)",
}


def header(column: Any) -> str:
    return _HEADERS.get(str(column), str(column).replace("_", " "))


def _head_cells(columns: list, text_columns: Collection[str]) -> str:
    """Header cells; text columns are left-aligned, numbers right-aligned."""
    return "".join(
        f'<th class="{"text" if c in text_columns else ""}">{esc(header(c))}</th>' for c in columns
    )


def list_table(rows: pd.DataFrame, formats: Mapping[str, Any]) -> str:
    """The top of the list: one row of numbers per customer, their reason in a row below."""
    columns = [c for c in REPORT_LIST_COLUMNS if c in rows.columns]
    text_columns = {"customer_id", "status", "channel", "offer", "contact_by"}
    head = _head_cells(columns, text_columns)
    body = []
    for _, row in rows.iterrows():
        cells = "".join(
            f'<td class="{"text" if c in text_columns else ""}">'
            f"{esc(formats[c](row[c]) if c in formats else row[c])}</td>"
            for c in columns
        )
        body.append(f'<tr class="entry" data-customer-id="{esc(row["customer_id"])}">{cells}</tr>')
        body.append(
            f'<tr class="why"><td></td><td class="reason" colspan="{len(columns) - 1}">'
            f"{esc(row['reason'])}</td></tr>"
        )
    return (
        f'<table id="top-of-list"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def card(label: str, value: str) -> str:
    """One headline number with its label, for the row of cards at the top."""
    return (
        f'<div class="card"><div class="label">{esc(label)}</div>'
        f'<div class="value">{esc(value)}</div></div>'
    )
