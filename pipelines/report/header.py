"""The page's header in words (whose data, as of when, which model, generated when) and the
small "sources" footer that keeps the file paths out of the marketer's way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import PurePath

from pipelines.report.html import esc


def data_name(source: str | None) -> str:
    """A data source as a person names it: ``cdnow`` -> CDNOW, a path -> its file name."""
    if not source or source == "-":
        return "transactions"
    if source.lower() == "cdnow":
        return "CDNOW (bundled sample)"
    return PurePath(source).name


def header_line(
    source: str | None,
    as_of: dt.date,
    model_version: str,
    horizon_words: str,
    generated_at: dt.datetime,
) -> str:
    """One line under the title: data, as-of date, model version, when the page was made."""
    return (
        f'<p class="subtitle" id="report-header">Data: <b>{esc(data_name(source))}</b>, '
        f"as of <b>{as_of.isoformat()}</b> &middot; model version <b>{esc(model_version)}</b> "
        f"({esc(horizon_words)}) &middot; generated "
        f"{generated_at.strftime('%Y-%m-%d %H:%M')} UTC</p>"
    )


def sources_footer(sources: Mapping[str, str]) -> str:
    """The inputs the page was built from, file paths included, in small print."""
    items = "".join(
        f"<li>{esc(name)}: <code>{esc(value)}</code></li>"
        for name, value in sources.items()
        if name != "list"  # the list's words, shown in the list section
    )
    return f'<footer id="sources"><h3>Sources</h3><ul>{items}</ul></footer>'
