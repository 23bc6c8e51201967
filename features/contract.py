"""The data contract: read raw transactions, validate every row, quarantine the bad ones.

Why DuckDB: validation is a handful of ``TRY_CAST`` expressions over every row, which DuckDB
runs vectorised and in parallel straight off CSV or Parquet, so the same code serves the
70k-row CDNOW file and a 10M-row export. Every column is first read as text, so a bad
value never aborts the read: it becomes a quarantined row with a reason.

Counts always reconcile: ``rows_read == rows_accepted + rows_quarantined``.
"""

from __future__ import annotations

import codecs
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from features.datasets import BUNDLED_DATASETS, load_cdnow_raw
from features.duckdb_engine import connect
from features.errors import TransactionsError

REQUIRED_COLUMNS = ("customer_id", "timestamp", "amount")
OPTIONAL_COLUMNS = ("order_id", "product", "quantity", "channel")
CONTRACT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: Quarantine reasons, in the order they are checked (a row gets the first that applies).
QUARANTINE_REASONS = (
    "missing_customer_id",
    "unparseable_timestamp",
    "non_numeric_amount",
    "future_timestamp",
)

TransactionsSource = str | Path | pd.DataFrame


@dataclass
class LoadReport:
    """What happened to every row read. ``rows_read == rows_accepted + rows_quarantined``."""

    source: str
    rows_read: int
    rows_accepted: int
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    duplicate_rows: int = 0
    return_rows: int = 0
    quarantine_path: str | None = None

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_accepted + self.rows_quarantined

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "quarantined_by_reason": dict(self.quarantined_by_reason),
            "duplicate_rows": self.duplicate_rows,
            "return_rows": self.return_rows,
            "quarantine_path": self.quarantine_path,
        }


@dataclass
class LoadedTransactions:
    """Clean transactions in contract columns and types, plus what was rejected and why."""

    transactions: pd.DataFrame
    quarantine: pd.DataFrame
    report: LoadReport


def parse_column_map(text: str | None) -> dict[str, str]:
    """Parse ``customer_id=cust,timestamp=date`` into ``{"customer_id": "cust", ...}``."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        ours, sep, theirs = part.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or not ours or not theirs:
            raise TransactionsError(
                f"--map entry {part.strip()!r} is not of the form contract_name=your_column"
            )
        if ours not in CONTRACT_COLUMNS:
            raise TransactionsError(
                f"--map names unknown column {ours!r}; contract columns are "
                + ", ".join(CONTRACT_COLUMNS)
            )
        mapping[ours] = theirs
    return mapping


def describe_source(source: TransactionsSource) -> str:
    if isinstance(source, pd.DataFrame):
        return "<DataFrame>"
    return str(source)


def _read_raw(con: duckdb.DuckDBPyConnection, source: TransactionsSource) -> None:
    """Create table ``raw_input``: ``source_row`` (1-based) then every column as read.

    CSV columns are read as text so that no bad value aborts the read; typed Parquet and
    DataFrame columns keep their types and are cast row by row later.
    """
    numbered = "CREATE TEMP TABLE raw_input AS SELECT ROW_NUMBER() OVER () AS source_row, * FROM "
    if isinstance(source, pd.DataFrame) or str(source) in BUNDLED_DATASETS:
        frame = source if isinstance(source, pd.DataFrame) else load_cdnow_raw()
        con.register("raw_input_frame", frame)
        con.execute(numbered + "raw_input_frame")
        return
    path = Path(source)
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
    literal = str(path).replace("'", "''")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            con.execute(numbered + f"read_parquet('{literal}')")
        else:
            _check_utf8(path)
            con.execute(numbered + f"read_csv('{literal}', all_varchar=true, header=true)")
    except duckdb.Error as error:
        first_line = str(error).strip().splitlines()[0]
        raise TransactionsError(f"{path}: cannot be read ({first_line})") from error


def _check_utf8(path: Path) -> None:
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
                    "re-save the file as UTF-8"
                ) from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise TransactionsError(f"{path}: not valid UTF-8 text (truncated at end)") from None


def _resolve_columns(
    con: duckdb.DuckDBPyConnection, source_name: str, column_map: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Map contract names to the source's column names; fail on missing required ones."""
    described = con.execute("DESCRIBE raw_input").fetchall()
    types = {row[0]: str(row[1]) for row in described if row[0] != "source_row"}
    if not types:
        raise TransactionsError(f"{source_name}: has no columns")
    resolved: dict[str, str] = {}
    for name in CONTRACT_COLUMNS:
        theirs = column_map.get(name, name)
        if theirs in types:
            resolved[name] = theirs
        elif name in column_map:
            raise TransactionsError(
                f"{source_name}: mapped column {theirs!r} (for {name}) not found; "
                f"columns are: {', '.join(types)}"
            )
    missing = [name for name in REQUIRED_COLUMNS if name not in resolved]
    if missing:
        raise TransactionsError(
            f"{source_name}: missing required column(s) {', '.join(missing)}; columns are: "
            f"{', '.join(types)} (use --map {missing[0]}=<your column>)"
        )
    return resolved, types


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _timestamp_expression(column: str, column_type: str) -> str:
    """SQL that turns the source's timestamp column into a naive TIMESTAMP, NULL if unparseable.

    Accepts typed dates/datetimes (timezone-aware ones are converted to UTC), ISO strings and
    YYYYMMDD integers or strings.
    """
    col = _quote(column)
    upper = column_type.upper()
    if upper == "DATE" or (upper.startswith("TIMESTAMP") and "TIME ZONE" not in upper):
        return f"CAST({col} AS TIMESTAMP)"
    if "TIME ZONE" in upper:
        return f"CAST(timezone('UTC', {col}) AS TIMESTAMP)"
    text = f"TRIM(CAST({col} AS VARCHAR))"
    return (
        f"CASE WHEN regexp_full_match({text}, '[0-9]{{8}}') "
        f"THEN try_strptime({text}, '%Y%m%d') "
        f"ELSE TRY_CAST({text} AS TIMESTAMP) END"
    )


def load_transactions(
    source: TransactionsSource,
    column_map: Mapping[str, str] | None = None,
    quarantine_path: str | Path | None = None,
    now: dt.datetime | None = None,
) -> LoadedTransactions:
    """Read, validate and type raw transactions.

    Parameters
    ----------
    source:
        A CSV or Parquet path, a DataFrame, or a bundled data set name (``"cdnow"``).
    column_map:
        Contract name -> the source's column name, for sources with their own names.
    quarantine_path:
        Where rejected rows are written (CSV, with ``source_row`` and ``reason``). Written
        only when at least one row is rejected.
    now:
        The run's clock; rows timestamped after it are quarantined as ``future_timestamp``.

    Raises
    ------
    TransactionsError
        When the source cannot be used at all (missing, empty, unreadable, no required column).
    """
    source_name = describe_source(source)
    now = now or dt.datetime.now()
    # Insertion order kept: quarantined rows are reported by their row number in the source.
    con = connect(preserve_insertion_order=True)
    try:
        _read_raw(con, source)
        resolved, types = _resolve_columns(con, source_name, column_map or {})
        rows_read = con.execute("SELECT COUNT(*) FROM raw_input").fetchall()[0][0]
        if rows_read == 0:
            raise TransactionsError(f"{source_name}: has a header but no rows")
        con.execute(_typed_table_sql(resolved, types, now))
        optional_names = [n for n in OPTIONAL_COLUMNS if n in resolved]
        clean, reasons, quarantine = _split_typed_rows(con, optional_names)
    finally:
        con.close()

    clean["customer_id"] = clean["customer_id"].astype(str)
    clean["timestamp"] = pd.to_datetime(clean["timestamp"]).astype("datetime64[us]")
    report = LoadReport(
        source=source_name,
        rows_read=int(rows_read),
        rows_accepted=len(clean),
        quarantined_by_reason={k: int(v) for k, v in reasons.items()},
        duplicate_rows=int(clean.duplicated().sum()),
        return_rows=int((clean["amount"] < 0).sum()),
    )
    if len(quarantine) and quarantine_path is not None:
        quarantine_path = Path(quarantine_path)
        quarantine_path.parent.mkdir(parents=True, exist_ok=True)
        quarantine.to_csv(quarantine_path, index=False)
        report.quarantine_path = str(quarantine_path)
    if not report.reconciles:  # pragma: no cover - a bug, never a data problem
        raise AssertionError(f"row counts do not reconcile: {report.to_dict()}")
    return LoadedTransactions(transactions=clean, quarantine=quarantine, report=report)


def _typed_table_sql(resolved: dict[str, str], types: dict[str, str], now: dt.datetime) -> str:
    """``typed``: every raw row parsed into contract types, with the reason it is rejected
    (NULL for an accepted row)."""
    cid = f"NULLIF(TRIM(CAST({_quote(resolved['customer_id'])} AS VARCHAR)), '')"
    ts = _timestamp_expression(resolved["timestamp"], types[resolved["timestamp"]])
    amount = f"TRY_CAST(TRIM(CAST({_quote(resolved['amount'])} AS VARCHAR)) AS DOUBLE)"
    optional_select = []
    for name in OPTIONAL_COLUMNS:
        if name not in resolved:
            continue
        col = _quote(resolved[name])
        if name == "quantity":
            optional_select.append(f"TRY_CAST(CAST({col} AS VARCHAR) AS DOUBLE) AS quantity")
        else:
            optional_select.append(f"NULLIF(TRIM(CAST({col} AS VARCHAR)), '') AS {name}")
    now_literal = now.strftime("%Y-%m-%d %H:%M:%S")
    return f"""
            CREATE TEMP TABLE typed AS
            WITH parsed AS (
                SELECT source_row, {cid} AS p_customer_id, {ts} AS p_timestamp,
                       {amount} AS p_amount {"".join(", " + s for s in optional_select)}
                FROM raw_input
            )
            SELECT *,
                CASE
                    WHEN p_customer_id IS NULL THEN 'missing_customer_id'
                    WHEN p_timestamp IS NULL THEN 'unparseable_timestamp'
                    WHEN p_amount IS NULL OR NOT isfinite(p_amount) THEN 'non_numeric_amount'
                    WHEN p_timestamp > TIMESTAMP '{now_literal}' THEN 'future_timestamp'
                END AS reason
            FROM parsed
            """


def _split_typed_rows(
    con: duckdb.DuckDBPyConnection, optional_names: list[str]
) -> tuple[pd.DataFrame, dict[str, int], pd.DataFrame]:
    """The accepted rows, the count of rejected rows by reason, and the rejected raw rows."""
    clean = con.execute(
        "SELECT p_customer_id AS customer_id, p_timestamp AS timestamp, p_amount AS amount"
        + "".join(f", {n}" for n in optional_names)
        + " FROM typed WHERE reason IS NULL ORDER BY source_row"
    ).df()
    reasons = dict(
        con.execute(
            "SELECT reason, COUNT(*) FROM typed WHERE reason IS NOT NULL "
            "GROUP BY reason ORDER BY reason"
        ).fetchall()
    )
    quarantine = (
        con.execute(
            "SELECT r.*, t.reason FROM typed t JOIN raw_input r USING (source_row) "
            "WHERE t.reason IS NOT NULL ORDER BY source_row"
        ).df()
        if reasons
        else pd.DataFrame(columns=["source_row", "reason"])
    )
    return clean, reasons, quarantine
