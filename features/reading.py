"""Reading raw transactions: bytes on disk -> table ``raw_input`` of text columns.

Why a reader of our own around DuckDB's CSV scanner: its sniffer guesses the dialect and the
types from a sample (20,480 rows), so a valid file whose first quoted field comes later, or
one ragged line, used to sink the whole file. Here the header line is read by us, the
delimiter is given or detected from it, the quote and escape are fixed to ``"`` and every
column is declared text: nothing is guessed from a sample, the contract types the values
row by row afterwards. A line that does not fit (too many or too few fields, an unterminated
quote) is kept aside by DuckDB's rejects table and quarantined as ``malformed_line`` with its
row number (``source_row``: the header is not a row), its text and the error, instead of
failing the file; it still counts as a row read.

The checks that need to know which column is which (ambiguous day/month dates, amounts with
decimal commas, ids in disguise) are in :mod:`features.reading_values`.
"""

from __future__ import annotations

import codecs
import csv
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd

from features.datasets import BUNDLED_DATASETS, load_cdnow_raw
from features.errors import TransactionsError

#: Delimiters recognised in a header line, in order of preference on a tie.
DELIMITERS = (",", ";", "\t", "|")
MALFORMED_LINE = "malformed_line"
#: Re-reads after unterminated quotes before a file is refused as hopelessly quoted.
MAX_RUNAWAY_QUOTES = 100
#: A part's own row number while it is read (a name no export uses).
_ROW = "_winback_part_row"


@dataclass(frozen=True)
class ReadOptions:
    """How to read a transactions file when its shape cannot or should not be guessed.

    ``delimiter``: one character (default: detected from the header among , ; tab |).
    ``encoding``: any Python codec name, e.g. ``latin-1``, ``cp1252``, ``utf-16`` (default
    UTF-8, a BOM tolerated). ``date_format``: a strptime format for text timestamps, e.g.
    ``%d/%m/%Y %H:%M``; required when dates could be day- or month-first. ``id_format``:
    ``text`` keeps ids as read (trimmed); ``integer`` turns ``17850.0`` into ``17850``.
    """

    delimiter: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    id_format: Literal["text", "integer"] = "text"

    def __post_init__(self) -> None:
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in '"\n\r'):
            raise TransactionsError(
                f"--delimiter {self.delimiter!r}: give one character such as , ; | or tab"
            )
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise TransactionsError(
                    f"--encoding {self.encoding!r}: unknown encoding (e.g. utf-8, latin-1, "
                    "cp1252, utf-16)"
                ) from None
        if self.date_format is not None and "%" not in self.date_format:
            raise TransactionsError(
                f"--date-format {self.date_format!r}: not a strptime format (e.g. %d/%m/%Y)"
            )
        if self.id_format not in ("text", "integer"):
            raise TransactionsError(f"--id-format {self.id_format!r}: use text or integer")

    @property
    def is_csv_specific(self) -> bool:
        return self.delimiter is not None or self.encoding is not None


@dataclass
class RawRead:
    """What reading found beside the rows of ``raw_input``: malformed lines and notes."""

    malformed: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["source_row", "raw_line", "error"])
    )
    notes: list[str] = field(default_factory=list)

    def add_malformed(
        self, rows_read: int, reasons: Mapping[str, int], quarantine: pd.DataFrame
    ) -> tuple[int, dict[str, int], pd.DataFrame]:
        """Counts and quarantine with the malformed lines added: they were read, too."""
        reasons = dict(reasons)
        if self.malformed.empty:
            return rows_read, reasons, quarantine
        reasons[MALFORMED_LINE] = len(self.malformed)
        rows = self.malformed.assign(reason=MALFORMED_LINE)
        parts = [part for part in (quarantine, rows) if len(part)]
        merged = pd.concat(parts, ignore_index=True).sort_values("source_row", kind="stable")
        front = [c for c in merged.columns if c not in ("reason", "raw_line", "error")]
        merged = merged[[*front, "reason", "raw_line", "error"]].reset_index(drop=True)
        merged["source_row"] = merged["source_row"].astype("int64")
        return rows_read + len(self.malformed), dict(sorted(reasons.items())), merged


def read_raw(
    con: duckdb.DuckDBPyConnection, source: object, options: ReadOptions | None = None
) -> RawRead:
    """Create table ``raw_input``: ``source_row`` (1-based) then every column as read.

    CSV columns are read as text so that no bad value aborts the read; typed Parquet and
    DataFrame columns keep their types and are cast row by row later.
    """
    options = options or ReadOptions()
    numbered = "CREATE TEMP TABLE raw_input AS SELECT ROW_NUMBER() OVER () AS source_row, * FROM "
    if isinstance(source, pd.DataFrame) or str(source) in BUNDLED_DATASETS:
        _refuse_csv_options(
            str("<DataFrame>" if isinstance(source, pd.DataFrame) else source), options
        )
        frame = source if isinstance(source, pd.DataFrame) else load_cdnow_raw()
        con.register("raw_input_frame", frame)
        con.execute(numbered + "raw_input_frame")
        return RawRead()
    path = _existing_file(Path(str(source)))
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            _refuse_csv_options(str(path), options)
            _parquet_view(con, path, numbered)
            return RawRead()
        with utf8_text(path, options.encoding) as text_path:
            return _read_csv(con, path, text_path, options)
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0]
        raise TransactionsError(f"{path}: cannot be read ({first_line})") from error


def _existing_file(path: Path) -> Path:
    if not path.exists():
        raise TransactionsError(
            f"{path}: file not found (give a CSV or Parquet path, or one of: "
            + ", ".join(BUNDLED_DATASETS)
            + ")"
        )
    if path.is_dir():
        raise TransactionsError(f"{path}: is a folder, expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise TransactionsError(f"{path}: file is empty")
    return path


def _refuse_csv_options(name: str, options: ReadOptions) -> None:
    if options.is_csv_specific:
        raise TransactionsError(f"{name}: --delimiter and --encoding apply to CSV text files only")


def _literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, text_path: Path, options: ReadOptions
) -> RawRead:
    """Read every line with a fixed dialect; lines that do not fit go to the rejects table."""
    header_line = _first_line(text_path)
    delimiter = options.delimiter or detect_delimiter(header_line)
    names = _header_names(path, header_line, delimiter)
    raw = RawRead(malformed=_read_parts(con, path, text_path, names, delimiter))
    if not raw.malformed.empty:
        if con.execute("SELECT COUNT(*) FROM raw_input").fetchall()[0][0] == 0:
            first = raw.malformed.iloc[0]
            raise TransactionsError(
                f"{path}: no line has the header's {len(names)} fields separated by "
                f"{_shown(delimiter)} (line {int(first['source_row']) + 1}: "
                f"{_clip(str(first['raw_line']))}); give --delimiter"
            )
    return raw


def detect_delimiter(header_line: str) -> str:
    """The candidate that splits the header into the most fields (``,`` on a tie)."""
    counts = {d: _field_count(header_line, d) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))


def _field_count(header_line: str, delimiter: str) -> int:
    try:
        return len(next(csv.reader([header_line], delimiter=delimiter), []))
    except csv.Error:  # e.g. a quote the line never closes: not this delimiter's header
        return 0


#: A header longer than this is not a header (a JSON document, a one-line export).
MAX_HEADER_CHARACTERS = 65_536


def _first_line(path: Path) -> str:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        line = handle.readline(MAX_HEADER_CHARACTERS + 1)
    if len(line) > MAX_HEADER_CHARACTERS:
        raise TransactionsError(
            f"{path}: the first line is over {MAX_HEADER_CHARACTERS:,} characters long, not a "
            f"CSV header (starts {_clip(line[:60])}); give a CSV or Parquet file"
        )
    return line.rstrip("\r\n")


def _header_names(path: Path, header_line: str, delimiter: str) -> list[str]:
    try:
        names = [n.strip() for n in next(csv.reader([header_line], delimiter=delimiter), [])]
    except csv.Error as error:
        raise TransactionsError(f"{path}: the first line is not a CSV header ({error})") from None
    if not any(names):
        raise TransactionsError(f"{path}: the first line is empty; expected a header")
    names = [name or f"column{i}" for i, name in enumerate(names)]
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise TransactionsError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name.lower())
    return names


def _parquet_view(con: duckdb.DuckDBPyConnection, path: Path, numbered: str) -> None:
    """``raw_input`` as a view of the Parquet file, numbered by the file's own row numbers.

    A typed file needs no copy as read: the contract reads it once into its typed table
    (and again only for the raw values of rejected rows). Copying 3M rows into a numbered
    table first cost 0.2 s of a 1 s load (issue 18). A file with a column of its own named
    ``file_row_number`` or ``source_row`` keeps the numbered copy, as before.
    """
    literal = _literal(path)
    names = {
        row[0] for row in con.execute(f"DESCRIBE SELECT * FROM read_parquet({literal})").fetchall()
    }
    if "file_row_number" in names or "source_row" in names:
        con.execute(numbered + f"read_parquet({literal})")
        return
    con.execute(
        "CREATE TEMP VIEW raw_input AS SELECT file_row_number + 1 AS source_row, "
        f"* EXCLUDE (file_row_number) FROM read_parquet({literal}, file_row_number = true)"
    )


def _read_parts(
    con: duckdb.DuckDBPyConnection, path: Path, text_path: Path, names: list[str], delimiter: str
) -> pd.DataFrame:
    """Create ``raw_input`` from the file; return its malformed lines (``source_row``,
    ``raw_line``, ``error``).

    A quote that is never closed makes the scanner read on to the next quote in the file,
    possibly its end, as one field. So a rejected record that spans lines is cut after its
    first line, which is quarantined, and the rest of the file is read again (a "part"):
    one broken line costs one line, not the rest of the file.
    """
    selects, malformed, offset = [], [], 0
    with tempfile.TemporaryDirectory(prefix="winback-rest-") as folder:
        part: Path | None = text_path
        for index in range(MAX_RUNAWAY_QUOTES + 1):
            if part is None:
                break
            rejects = _scan_part(con, part, names, delimiter, header=index == 0, index=index)
            runaway = rejects[rejects["runaway"]].head(1)
            if runaway.empty:
                kept, limit = rejects, None
            else:
                cut = int(runaway["record"].iloc[0])
                kept = rejects[rejects["record"] < cut]
                limit = cut - 1 - len(kept)
            selects.append(_numbered_part_sql(con, index, kept, offset, limit))
            malformed.append(kept.assign(source_row=kept["record"] + offset))
            if runaway.empty:
                break
            first_chars = str(runaway["raw_line"].iloc[0])[:16]
            byte = int(runaway["byte"].iloc[0])
            line, part = _split_after_line(part, byte, first_chars, Path(folder), index)
            malformed.append(
                pd.DataFrame(
                    {
                        "source_row": [cut + offset],
                        "raw_line": [line],
                        "error": [
                            "unterminated quote: a quote opened on this line is never closed"
                        ],
                    }
                )  # fmt: skip
            )
            offset += cut
        else:
            raise TransactionsError(
                f"{path}: more than {MAX_RUNAWAY_QUOTES} lines open a quote that they never "
                "close; fix the quoting (or check --delimiter)"
            )
        if len(selects) == 1 and not len(malformed[0]):  # the usual case: nothing to renumber
            con.execute(f"ALTER TABLE raw_part_0 RENAME COLUMN {_ROW} TO source_row")
            con.execute("ALTER TABLE raw_part_0 RENAME TO raw_input")
        else:
            con.execute(
                "CREATE TEMP TABLE raw_input AS "
                + " UNION ALL ".join(f"({sql})" for sql in selects)
                + " ORDER BY source_row"
            )
    frame = pd.concat(malformed, ignore_index=True).sort_values("source_row")
    return frame[["source_row", "raw_line", "error"]].reset_index(drop=True)


def _scan_part(
    con: duckdb.DuckDBPyConnection,
    part: Path,
    names: list[str],
    delimiter: str,
    header: bool,
    index: int,
) -> pd.DataFrame:
    """Read one part into ``raw_part_<index>`` (numbered among the part's good rows);
    return its rejected records: number in the part, text, error, byte offset, runaway."""
    columns = "{" + ", ".join(f"{_literal(n)}: 'VARCHAR'" for n in names) + "}"
    rejects = f"raw_rejects_{index}"
    con.execute(
        f"CREATE TEMP TABLE raw_part_{index} AS SELECT ROW_NUMBER() OVER () AS {_ROW}, * FROM "
        f"read_csv({_literal(part)}, auto_detect=false, header={str(header).lower()}, "
        f"columns={columns}, delim={_literal(delimiter)}, quote='\"', escape='\"', "
        f"store_rejects=true, rejects_table='{rejects}', rejects_scan='{rejects}_scan')"
    )
    frame = con.execute(
        f"""
        SELECT line - {int(header)} AS record, first(csv_line) AS raw_line,
               string_agg(DISTINCT lower(error_type) || ': ' || error_message, '; ') AS error,
               min(line_byte_position) AS byte,
               bool_or(error_type = 'UNQUOTED VALUE') AS unquoted
        FROM {rejects} GROUP BY line ORDER BY line
        """
    ).df()
    spans_lines = frame["raw_line"].astype(str).str.rstrip("\r\n").str.contains("\n")
    frame["runaway"] = frame["unquoted"].astype(bool) & spans_lines
    return frame


def _numbered_part_sql(
    con: duckdb.DuckDBPyConnection,
    index: int,
    rejects: pd.DataFrame,
    offset: int,
    limit: int | None,
) -> str:
    """The part's good rows numbered as in the file, counting the rejected records between.

    The i-th rejected record m_i has m_i - i good rows before it; the n-th good row is
    preceded by every rejected record with m_i - i < n (an as-of join on that).
    """
    records = rejects["record"].astype("int64").sort_values().reset_index(drop=True)
    steps = pd.DataFrame({"good_before": records - records.index - 1, "i": records.index + 1})
    steps = steps.groupby("good_before", as_index=False)["i"].max()
    con.register(f"raw_steps_{index}", steps)
    where = "" if limit is None else f" WHERE p.{_ROW} <= {int(limit)}"
    return (
        f"SELECT p.{_ROW} + COALESCE(s.i, 0) + {int(offset)} AS source_row, "
        f"p.* EXCLUDE ({_ROW}) "
        f"FROM raw_part_{index} p ASOF LEFT JOIN raw_steps_{index} s "
        f"ON p.{_ROW} > s.good_before{where}"
    )


def _split_after_line(
    part: Path, byte: int, start: str, folder: Path, index: int
) -> tuple[str, Path | None]:
    """The physical line at ``byte`` (DuckDB counts from 1; checked against the line's
    ``start``), and a file of everything after it (None when nothing follows)."""
    with part.open("rb") as handle:
        handle.seek(max(byte - 1, 0))
        line = handle.readline()
        if start and not line.startswith(start.encode("utf-8")):  # counted from 0 after all
            handle.seek(byte)
            line = handle.readline()
        rest = folder / f"rest_{index}.csv"
        with rest.open("wb") as out:
            shutil.copyfileobj(handle, out)
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    return text, rest if rest.stat().st_size else None


@contextmanager
def utf8_text(path: Path, encoding: str | None) -> Iterator[Path]:
    """The file as UTF-8 text: itself when it is UTF-8 (a BOM is fine), else a transcoded
    temporary copy that lives as long as the ``with`` block."""
    codec = codecs.lookup(encoding).name if encoding else "utf-8"
    if codec in ("utf-8", "utf-8-sig"):
        check_utf8(path)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="winback-read-") as folder:
        target = Path(folder) / (path.stem + ".utf8.csv")
        _transcode(path, codec, target)
        yield target


def _transcode(path: Path, codec: str, target: Path) -> None:
    """Stream ``path`` from ``codec`` into UTF-8; a wrong codec is named with the byte offset."""
    decoder = codecs.getincrementaldecoder(codec)()
    offset = 0
    with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as out:
        try:
            while chunk := source.read(1 << 20):
                text = decoder.decode(chunk)
                out.write(text.lstrip("\ufeff") if offset == 0 else text)
                offset += len(chunk)
            out.write(decoder.decode(b"", final=True))
        except UnicodeError as error:  # a decode error, or e.g. a UTF-16 file without a BOM
            at = offset + getattr(error, "start", 0)
            raise TransactionsError(
                f"{path}: not valid {codec} text (byte {at}); check --encoding"
            ) from None


def check_utf8(path: Path) -> None:
    """Fail early, with the byte offset, on text that is not UTF-8 (e.g. a Latin-1 export)."""
    with path.open("rb") as handle:
        offset = 0
        decoder = codecs.getincrementaldecoder("utf-8")()
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                raise TransactionsError(
                    f"{path}: not valid UTF-8 text (byte {offset + error.start}); "
                    "re-save the file as UTF-8 or give its encoding, e.g. --encoding latin-1"
                ) from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise TransactionsError(
                f"{path}: not valid UTF-8 text (truncated at end); give --encoding"
            ) from None


def _shown(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def _clip(text: str, limit: int = 80) -> str:
    text = text.replace("\n", "\\n").replace("\r", "")
    return text if len(text) <= limit else text[: limit - 3] + "..."
