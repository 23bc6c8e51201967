"""The data contract: read raw transactions, validate every row, quarantine the bad ones.

Why DuckDB: validation is a handful of ``TRY_CAST`` expressions over every row, which DuckDB
runs vectorised and in parallel straight off CSV or Parquet, so the same code serves the
70k-row CDNOW file and a 10M-row export. Every CSV column is first read as text, so a bad
value never aborts the read: it becomes a quarantined row with a reason; typed Parquet and
DataFrame columns keep their types (:mod:`features.reading`).

Counts always reconcile: ``rows_read == rows_accepted + rows_quarantined``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.atomic import atomic_output
from features.config import LineRules
from features.duckdb_engine import connect
from features.errors import TransactionsError
from features.lines import (
    line_accounting,
    line_reason_branches,
    return_expression,
    signed_amount_expression,
    value_expressions,
)
from features.reading import ReadOptions, read_raw
from features.reading_values import inspect_columns, normalise_ids, note_disguised_integers

#: ``amount`` may instead be computed from ``quantity`` and ``unit_price`` (features.lines).
REQUIRED_COLUMNS = ("customer_id", "timestamp", "amount")
OPTIONAL_COLUMNS = ("order_id", "product", "quantity", "channel", "unit_price")
CONTRACT_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: Quarantine reasons, in the order they are checked (a row gets the first that applies).
QUARANTINE_REASONS = (
    "missing_customer_id",
    "unparseable_timestamp",
    "non_numeric_amount",
    "absurd_amount",
    "future_timestamp",
    "implausible_timestamp",
    "non_product_line",
)
#: Transactions dated before this are a placeholder (``0001-01-01``) or a typo, not a sale:
#: quarantined as ``implausible_timestamp`` (years after the run's clock are future ones).
EARLIEST_TIMESTAMP = "1900-01-01"

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
    #: Accepted lines whose ``amount`` differs from ``quantity x unit_price`` (amount wins).
    amount_mismatch_rows: int = 0
    #: Net value of the accepted lines (returns negative), and of the quarantined ones by
    #: reason where a plausible value was read: money in = accepted + quarantined.
    accepted_amount: float = 0.0
    quarantined_amount_by_reason: dict[str, float] = field(default_factory=dict)
    #: What reading noticed and the user should know (features.reading), one line each.
    notes: list[str] = field(default_factory=list)

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
            "amount_mismatch_rows": self.amount_mismatch_rows,
            "accepted_amount": self.accepted_amount,
            "quarantined_amount_by_reason": dict(self.quarantined_amount_by_reason),
            "notes": list(self.notes),
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
    computable = "quantity" in resolved and "unit_price" in resolved
    missing = [
        name
        for name in REQUIRED_COLUMNS
        if name not in resolved and not (name == "amount" and computable)
    ]
    if missing:
        alternative = " (or quantity and unit_price)" if "amount" in missing else ""
        raise TransactionsError(
            f"{source_name}: missing required column(s) {', '.join(missing)}{alternative}; "
            f"columns are: {', '.join(types)} (use --map {missing[0]}=<your column>)"
        )
    return resolved, types


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _timestamp_expression(column: str, column_type: str, date_format: str | None = None) -> str:
    """SQL that turns the source's timestamp column into a naive TIMESTAMP, NULL if unparseable.

    Accepts typed dates/datetimes (timezone-aware ones are converted to UTC), ISO strings and
    YYYYMMDD integers or strings; with ``date_format`` (``--date-format``), text is read with
    that strptime format only, so a day/month order is never guessed. One rule for time
    zones everywhere (CSV text, Parquet, the API): a time with a UTC offset (``+02:00``,
    ``Z``) is converted to UTC; a time without one is taken as it is.
    """
    col = _quote(column)
    upper = column_type.upper()
    if upper == "DATE" or (upper.startswith("TIMESTAMP") and "TIME ZONE" not in upper):
        return f"CAST({col} AS TIMESTAMP)"
    if "TIME ZONE" in upper:
        return f"CAST(timezone('UTC', {col}) AS TIMESTAMP)"
    text = f"TRIM(CAST({col} AS VARCHAR))"
    if date_format is not None:
        return "try_strptime(" + text + ", '" + date_format.replace("'", "''") + "')"
    offset = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
    return (
        f"CASE WHEN regexp_full_match({text}, '[0-9]{{8}}') "
        f"THEN try_strptime({text}, '%Y%m%d') "
        f"WHEN regexp_matches({text}, '[0-9]:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]+)?)? ?{offset}') "
        f"THEN CAST(timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ)) AS TIMESTAMP) "
        f"ELSE TRY_CAST({text} AS TIMESTAMP) END"
    )


def load_transactions(
    source: TransactionsSource,
    column_map: Mapping[str, str] | None = None,
    quarantine_path: str | Path | None = None,
    now: dt.datetime | None = None,
    lines: LineRules | None = None,
    read_options: ReadOptions | None = None,
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
    lines:
        Returns, non-product lines and absurd amounts (:mod:`features.lines`); default:
        the ``lines`` section of the shipped ``configs/features.yaml``.
    read_options:
        Delimiter, encoding, date format and id format (:class:`features.reading.ReadOptions`).

    Raises
    ------
    TransactionsError
        When the source cannot be used at all (missing, empty, unreadable, no required column).
    """
    options = read_options or ReadOptions()
    # Insertion order kept: quarantined rows are reported by their row number in the source.
    con = connect(preserve_insertion_order=True)
    try:
        validation = _validate(con, source, column_map, now, lines, options)
        clean = _accepted_frame(con, validation.optional_names)
        clean["customer_id"] = normalise_ids(
            clean["customer_id"].astype(str),
            validation.source_name,
            options.id_format,
            validation.notes,
        )
        ids_as_read = options.id_format == "text"
        duplicates = _duplicate_rows(con, clean, validation.optional_names, ids_as_read)
    finally:
        con.close()
    clean["timestamp"] = pd.to_datetime(clean["timestamp"]).astype("datetime64[us]")
    report = validation.report(duplicates, quarantine_path)
    return LoadedTransactions(transactions=clean, quarantine=validation.quarantine, report=report)


#: The view :func:`validate_in_place` leaves on its connection: the accepted rows.
ACCEPTED_ROWS = "accepted_rows"


def validate_in_place(
    con: duckdb.DuckDBPyConnection,
    source: TransactionsSource,
    column_map: Mapping[str, str] | None = None,
    quarantine_path: str | Path | None = None,
    now: dt.datetime | None = None,
    lines: LineRules | None = None,
    read_options: ReadOptions | None = None,
) -> LoadReport:
    """:func:`load_transactions` without its frame: the accepted rows stay in DuckDB, as
    view :data:`ACCEPTED_ROWS` on ``con`` (contract columns and types, in the source's
    order), for :func:`features.build.build_features_in_duckdb` on the same connection.

    Fetching the rows into pandas and copying them back into the build's connection
    cost 0.25-0.4 s of a 1.3 s load-and-build on 3M rows, and 1.1-1.5 s of 4.3-4.7 s on
    9.7M (issue 18). ``con`` must keep insertion order (``connect(preserve_insertion_order=
    True)``), as the rows' numbers in the quarantine need. Ids are kept as read: ``--id-
    format integer`` rewrites them in the frame, so :func:`load_transactions` serves it.
    """
    options = read_options or ReadOptions()
    if options.id_format != "text":
        raise ValueError("validate_in_place keeps ids as read; use load_transactions")
    validation = _validate(con, source, column_map, now, lines, options)
    names = validation.optional_names
    con.execute(f"CREATE TEMP VIEW {ACCEPTED_ROWS} AS {_accepted_rows_sql(names)}")
    first_ids = con.sql(f"SELECT customer_id FROM {ACCEPTED_ROWS} LIMIT 1000").df()
    note_disguised_integers(
        first_ids["customer_id"],
        lambda: con.sql(f"SELECT customer_id FROM {ACCEPTED_ROWS}").df()["customer_id"],
        validation.notes,
    )
    duplicates = _duplicate_rows(con, None, names, True)
    return validation.report(duplicates, quarantine_path)


@dataclass
class _Validation:
    """What validating every row into table ``typed`` found, before the rows are fetched."""

    source_name: str
    optional_names: list[str]
    rows_read: int
    rows_accepted: int
    return_rows: int
    reasons: dict[str, int]
    quarantine: pd.DataFrame
    accepted_amount: float
    quarantined_amounts: dict[str, float]
    mismatches: int
    notes: list[str]

    def report(self, duplicates: int, quarantine_path: str | Path | None) -> LoadReport:
        """The load report; the quarantined rows written to ``quarantine_path`` (if any)."""
        report = LoadReport(
            source=self.source_name,
            rows_read=int(self.rows_read),
            rows_accepted=int(self.rows_accepted),
            quarantined_by_reason={k: int(v) for k, v in self.reasons.items()},
            duplicate_rows=duplicates,
            return_rows=int(self.return_rows),
            amount_mismatch_rows=self.mismatches,
            accepted_amount=self.accepted_amount,
            quarantined_amount_by_reason=self.quarantined_amounts,
            notes=self.notes,
        )
        if len(self.quarantine) and quarantine_path is not None:
            quarantine_path = Path(quarantine_path)
            with atomic_output(quarantine_path) as temporary:
                self.quarantine.to_csv(temporary, index=False)
            report.quarantine_path = str(quarantine_path)
        if not report.reconciles:  # pragma: no cover - a bug, never a data problem
            raise AssertionError(f"row counts do not reconcile: {report.to_dict()}")
        return report


def _validate(
    con: duckdb.DuckDBPyConnection,
    source: TransactionsSource,
    column_map: Mapping[str, str] | None,
    now: dt.datetime | None,
    lines: LineRules | None,
    options: ReadOptions,
) -> _Validation:
    """Read ``source`` into ``raw_input``, type and judge every row into ``typed``, and
    count what was accepted, rejected (the quarantine, malformed lines included) and why."""
    source_name = describe_source(source)
    now = now or dt.datetime.now()
    raw = read_raw(con, source, options)
    resolved, types = _resolve_columns(con, source_name, column_map or {})
    inspect_columns(con, source_name, resolved, types, options, raw.notes)
    rows_read = con.execute("SELECT COUNT(*) FROM raw_input").fetchall()[0][0]
    if rows_read == 0:
        raise TransactionsError(f"{source_name}: has a header but no rows")
    con.execute(_typed_table_sql(resolved, types, now, lines or LineRules(), options.date_format))
    reasons, quarantine = _rejected_rows(con)
    rows_read, reasons, quarantine = raw.add_malformed(rows_read, reasons, quarantine)
    accepted_amount, quarantined_amounts, mismatches = line_accounting(con)
    rows_accepted, return_rows = con.execute(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE p_amount < 0) FROM typed WHERE reason IS NULL"
    ).fetchall()[0]
    return _Validation(
        source_name=source_name,
        optional_names=[n for n in OPTIONAL_COLUMNS if n in resolved],
        rows_read=rows_read,
        rows_accepted=rows_accepted,
        return_rows=return_rows,
        reasons=reasons,
        quarantine=quarantine,
        accepted_amount=accepted_amount,
        quarantined_amounts=quarantined_amounts,
        mismatches=mismatches,
        notes=raw.notes,
    )


def _typed_table_sql(
    resolved: dict[str, str],
    types: dict[str, str],
    now: dt.datetime,
    rules: LineRules,
    date_format: str | None = None,
) -> str:
    """``typed``: every raw row parsed into contract types, with the reason it is rejected
    (NULL for an accepted row). ``p_amount`` is the line's signed value: returns negative
    (see :mod:`features.lines` for the value, return and non-product rules)."""
    cid = f"NULLIF(TRIM(CAST({_quote(resolved['customer_id'])} AS VARCHAR)), '')"
    ts = _timestamp_expression(resolved["timestamp"], types[resolved["timestamp"]], date_format)
    selected = [f"{cid} AS p_customer_id", f"{ts} AS p_timestamp"]
    if "amount" in resolved:
        amount = resolved["amount"]
        selected.append(f"{_number_expression(amount, types[amount])} AS p_given_amount")
    for name in OPTIONAL_COLUMNS:
        if name not in resolved:
            continue
        if name in ("quantity", "unit_price"):
            selected.append(
                f"{_number_expression(resolved[name], types[resolved[name]])} AS {name}"
            )
        else:
            selected.append(
                f"NULLIF(TRIM(CAST({_quote(resolved[name])} AS VARCHAR)), '') AS {name}"
            )
    has = {name: name in resolved for name in ("amount", "quantity", "unit_price")}
    is_return = return_expression(rules, has["quantity"], "order_id" in resolved)
    absurd, non_product = line_reason_branches(rules, "product" in resolved, has["unit_price"])
    now_literal = now.strftime("%Y-%m-%d %H:%M:%S")
    # Kept for as long as the rows are (validate_in_place builds on them): not the steps'
    # columns that nothing reads later (the given amount is p_value when there is one).
    dropped = ["p_is_return"] + (["p_given_amount"] if has["amount"] else [])
    return f"""
            CREATE TEMP TABLE typed AS
            WITH parsed AS (
                SELECT source_row, {", ".join(selected)}
                FROM raw_input
            ),
            valued AS (
                SELECT *, {value_expressions(has["amount"], has["quantity"], has["unit_price"])}
                FROM parsed
            ),
            classified AS (
                SELECT *, {is_return} AS p_is_return FROM valued
            )
            SELECT * EXCLUDE ({", ".join(dropped)}), {signed_amount_expression()} AS p_amount,
                CASE
                    WHEN p_customer_id IS NULL THEN 'missing_customer_id'
                    WHEN p_timestamp IS NULL THEN 'unparseable_timestamp'
                    WHEN p_value IS NULL OR isnan(p_value) THEN 'non_numeric_amount'
                    {absurd}
                    WHEN p_timestamp > TIMESTAMP '{now_literal}' THEN 'future_timestamp'
                    WHEN p_timestamp < TIMESTAMP '{EARLIEST_TIMESTAMP}' THEN 'implausible_timestamp'
                    {non_product}
                END AS reason
            FROM classified
            """


#: Source types whose values are DOUBLEs already, or integers a DOUBLE holds exactly. FLOAT
#: and DECIMAL are not among them: through text ``0.1`` stays 0.1, a direct cast would not.
EXACT_NUMBER_TYPES = frozenset(
    ("DOUBLE", "TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER")
)


def _number_expression(column: str, column_type: str = "VARCHAR") -> str:
    """A source column as DOUBLE, NULL when it is not a number.

    Text (every CSV column) goes through ``TRY_CAST``, so a bad value is quarantined, never
    fatal. A typed Parquet or DataFrame column that is already DOUBLE (or a small integer)
    keeps its values as they are: the round trip through text gave the same number and cost
    1.3-2.0 s on 3M rows (issue 18).
    """
    if column_type.upper() in EXACT_NUMBER_TYPES:
        return f"CAST({_quote(column)} AS DOUBLE)"
    return f"TRY_CAST(TRIM(CAST({_quote(column)} AS VARCHAR)) AS DOUBLE)"


def _accepted_rows_sql(optional_names: list[str], with_source_row: bool = False) -> str:
    """The accepted rows of ``typed`` in contract columns (``customer_id``, ``timestamp``,
    ``amount``, then the optional columns the source has), after their ``source_row``
    when asked."""
    return (
        "SELECT "
        + ("source_row, " if with_source_row else "")
        + "p_customer_id AS customer_id, p_timestamp AS timestamp, p_amount AS amount"
        + "".join(f", {n}" for n in optional_names)
        + " FROM typed WHERE reason IS NULL"
    )


def _accepted_frame(con: duckdb.DuckDBPyConnection, optional_names: list[str]) -> pd.DataFrame:
    """The accepted rows as a frame, in the source's order.

    They come through Arrow: DuckDB's own pandas conversion of millions of strings cost
    1.0-1.5 s on 3M rows, Arrow 0.4-0.8 s (issue 18), same frame. They keep the source's
    order: ``typed`` was written in it and the connection preserves insertion order, so no
    sort is asked for (``ORDER BY source_row`` cost 0.06 s of 0.11 s on 3M rows); the row
    numbers are checked, and sorted by only if they are out of order.
    """
    clean_rows = con.sql(_accepted_rows_sql(optional_names, with_source_row=True)).to_arrow_table()
    source_rows = clean_rows.column("source_row").to_numpy()
    if len(source_rows) > 1 and not (source_rows[1:] > source_rows[:-1]).all():
        clean_rows = clean_rows.take(pc.sort_indices(clean_rows.column("source_row")))
    return clean_rows.drop_columns(["source_row"]).to_pandas(date_as_object=False)


def _rejected_rows(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, int], pd.DataFrame]:
    """The count of rejected rows by reason, and the rejected raw rows with their reason."""
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
    return reasons, quarantine


def _duplicate_rows(
    con: duckdb.DuckDBPyConnection,
    clean: pd.DataFrame | None,
    optional_names: list[str],
    ids_as_read: bool,
) -> int:
    """Exact duplicate accepted rows (each copy after the first), as ``DataFrame.duplicated``
    counts them, from a DuckDB GROUP BY (pandas' ``duplicated`` cost 1.3-2.0 s on 3M rows).

    With ids as read (``--id-format text``) the ``typed`` table holds the accepted values
    already; with ``integer`` ids the normalised frame is grouped, since ``17850.0`` and
    ``17850`` become one customer. NULLs group together, as pandas' NaNs do.
    """
    names = ["customer_id", "timestamp", "amount", *optional_names]
    if ids_as_read:
        source = f"({_accepted_rows_sql(optional_names)})"
    else:
        con.register("clean_rows", clean)
        source = "clean_rows"
    columns = ", ".join(_quote(n) for n in names)
    # Equal rows have equal hashes (DuckDB's hash agrees with its equality: NULLs, NaNs and
    # signed zeros included), so only rows whose hash repeats can be duplicates. One NumPy
    # sort of the hashes finds those; the exact GROUP BY then runs on them alone. Grouping
    # every row cost 1.7 s of a 3.0 s load at 9.7M rows (issue 18).
    hashes = con.sql(f"SELECT hash({columns}) FROM {source}").to_arrow_table().column(0)
    ordered = np.sort(hashes.to_numpy())
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    if len(repeated) == 0:
        return 0
    con.register("repeated_hashes", pa.table({"h": repeated}))
    (count,) = con.execute(
        f"SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM {source} "
        f"WHERE hash({columns}) IN (SELECT h FROM repeated_hashes) "
        f"GROUP BY {columns} HAVING COUNT(*) > 1)"
    ).fetchall()[0]
    return int(count)
