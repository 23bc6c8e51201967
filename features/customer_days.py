"""Per-customer aggregates of the purchase days in one ordered pass (DuckDB's kernel).

The SQL of :func:`features.sql.feature_sql` computes the aggregates in three passes over
the rows: the day aggregate, a window over the purchase days for the gaps, and a month
aggregate over the lines. Here DuckDB sorts the lines once (:func:`features.sql.
day_lines_sql`, ordered by customer and day) and NumPy reads them once: each customer is a
run of rows, each of its days a run inside it (summed into the day's value and net), each
calendar month a run of days, each gap the difference of two neighbouring purchase days.
The result is the table :data:`features.sql.AGGREGATE_COLUMNS` describes, which the rest
of the same feature SQL reads (``aggregates_table``); so status, ABC, XYZ, the ladder and
the population rules keep one definition.

The columns are defined in the SQL that Spark still runs; ``tests/features/
test_customer_days.py`` checks that both give the same feature table (DuckDB with and
without this kernel, on CDNOW, order-line exports with cancellations and random data),
and the Spark tests check Spark against this path.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.rules import ids_in_order
from features.sql import AGGREGATE_COLUMNS

AGGREGATE_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("first_day", pa.date32()),
        ("last_day", pa.date32()),
        ("purchase_days", pa.int64()),
        ("repeat_amount", pa.float64()),
        ("median_gap", pa.float64()),
        ("total_spend", pa.float64()),
        ("spend_sum_squares", pa.float64()),
        ("n_orders", pa.int64()),
    ]
)
assert tuple(AGGREGATE_SCHEMA.names) == AGGREGATE_COLUMNS


@dataclass(frozen=True)
class CustomerDays:
    """The aggregates of the customers with a purchase day, and those left out."""

    aggregates: pa.Table
    #: Customers whose days in the window hold no purchase (only returns), and their net.
    customers_without_purchase: int
    excluded_spend: float


#: Rows per block of the pass: NumPy's temporaries of a block stay in the CPU's caches and
#: the pass's memory stays a few megabytes above its input, whatever the table's size.
BLOCK_ROWS = 1 << 18
#: Threads for the blocks (each holds one block's temporaries, a few megabytes).
_THREADS = max(1, min(4, os.cpu_count() or 1))
#: The line rows' columns a block reads, in :func:`_days_of_lines`'s argument order.
_BLOCK_COLUMNS = ("day", "value_part", "net_part", "purchase_line")


def aggregate_customer_days(lines: pa.Table | Iterable[pa.RecordBatch]) -> CustomerDays:
    """Aggregate :func:`features.sql.day_lines_sql`'s rows (ordered by customer, then day).

    ``lines`` is a table or a stream of record batches (DuckDB's Arrow reader): the rows
    are read in blocks of whole customers as they come, so the rows are never all in
    memory at once (at 9.7M rows a table of them is over 300 MB, and the build's peak
    went over 2 GB with one; issue 18). A customer whose rows go on in the next batch
    waits for it.

    Runs of equal ``customer_id`` are customers; that the rows are ordered is the caller's
    contract (the SQL's ORDER BY), which :func:`_check_ordered` verifies.
    """
    batches = lines.to_batches() if isinstance(lines, pa.Table) else lines
    # Blocks are independent and NumPy releases the GIL inside its array operations, so
    # threads use the other cores (the pass 0.24 s -> 0.17 s on 3M rows, 0.7-1.2 s -> 0.5 s
    # on 9.7M, two cores; issue 18). Results are collected in order; at most a few blocks
    # wait in the pool, so memory stays a few blocks above the stream's.
    pending = _blocks_of_whole_customers(batches)
    first_two = list(itertools.islice(pending, 2))
    if len(first_two) < 2 or _THREADS == 1:  # the service's few customers: no pool
        blocks = [_aggregate_rows(rows, starts) for rows, starts in (*first_two, *pending)]
    else:
        blocks = []
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            waiting: deque[Future[_Block]] = deque()
            for rows, starts in itertools.chain(first_two, pending):
                waiting.append(pool.submit(_aggregate_rows, rows, starts))
                if len(waiting) > 2 * _THREADS:
                    blocks.append(waiting.popleft().result())
            blocks.extend(future.result() for future in waiting)
    if not blocks:
        return CustomerDays(AGGREGATE_SCHEMA.empty_table(), 0, 0.0)
    aggregates = pa.table(
        [pa.concat_arrays([block.customer_ids for block in blocks])]
        + [
            pa.concat_arrays([block.columns[index] for block in blocks])
            for index in range(len(AGGREGATE_COLUMNS) - 1)
        ],
        schema=AGGREGATE_SCHEMA,
    )
    _check_ordered(aggregates)
    return CustomerDays(
        aggregates=aggregates,
        customers_without_purchase=sum(block.without_purchase for block in blocks),
        excluded_spend=float(sum(block.excluded_spend for block in blocks)),
    )


def concatenate(parts: Sequence[CustomerDays]) -> CustomerDays:
    """The aggregates of disjoint sets of customers (the build's partitions) as one."""
    if len(parts) == 1:
        return parts[0]
    return CustomerDays(
        aggregates=pa.concat_tables([part.aggregates for part in parts]),
        customers_without_purchase=sum(part.customers_without_purchase for part in parts),
        excluded_spend=float(sum(part.excluded_spend for part in parts)),
    )


def _blocks_of_whole_customers(
    batches: Iterable[pa.RecordBatch],
) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Tables of about :data:`BLOCK_ROWS` rows each, every customer whole in one of them,
    with the rows that start a customer."""
    pending: pa.Table | None = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        table = pa.Table.from_batches([batch])
        if pending is not None:
            table = pa.concat_tables([pending, table])
        starts = _starts_of_runs(table.column("customer_id"))
        last = int(np.flatnonzero(starts)[-1])  # the last customer may go on in the next batch
        yield from _split_at_customers(table, starts, last)
        pending = table.slice(last)
    if pending is not None:
        yield from _split_at_customers(
            pending, _starts_of_runs(pending.column("customer_id")), pending.num_rows
        )


def _split_at_customers(
    table: pa.Table, starts: np.ndarray, end: int
) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """``table``'s rows before ``end`` (a customer's first row) in blocks of whole customers."""
    if end == 0:
        return
    customer_starts = np.flatnonzero(starts[:end])
    block_starts = np.unique(
        # The start of the customer holding every BLOCK_ROWS-th row.
        customer_starts[
            np.searchsorted(customer_starts, np.arange(0, end, BLOCK_ROWS), "right") - 1
        ]
    )
    block_ends = np.append(block_starts[1:], end)
    for start, stop in zip(block_starts, block_ends, strict=True):
        yield table.slice(int(start), int(stop - start)), starts[start:stop]


def _aggregate_rows(rows: pa.Table, starts: np.ndarray) -> _Block:
    """:func:`_aggregate_block` on a table of whole customers' lines, their ids attached."""
    columns = {name: _single_chunk(rows.column(name)) for name in _BLOCK_COLUMNS}
    columns["day"] = columns["day"].cast(pa.int32())
    first_lines, *days = _days_of_lines(
        starts, *(columns[name].to_numpy() for name in _BLOCK_COLUMNS)
    )
    block = _aggregate_block(*days)
    ids = rows.column("customer_id").take(pa.array(first_lines[block.first_rows]))
    return dataclasses.replace(block, customer_ids=_single_chunk(ids))


def _days_of_lines(
    starts_customer: np.ndarray,
    day: np.ndarray,
    value_part: np.ndarray,
    net_part: np.ndarray,
    purchase_line: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each customer's days from its lines (ordered by customer and day): the first line
    of each day, which days start a customer, the day, its value (floored at zero, as
    ``days`` in the feature SQL), its net and its purchase lines."""
    starts_day = starts_customer.copy()
    starts_day[1:] |= day[1:] != day[:-1]
    day_starts = np.flatnonzero(starts_day)
    if len(day_starts) == len(day):  # one line a day: the lines are the days
        day_amount, day_net, purchase_lines = np.maximum(value_part, 0.0), net_part, purchase_line
    else:
        day_amount = np.maximum(_sum_runs(value_part, day_starts), 0.0)
        day_net = _sum_runs(net_part, day_starts)
        purchase_lines = _sum_runs(purchase_line.astype(np.int64), day_starts)
    return (
        day_starts,
        starts_customer[day_starts],
        day[day_starts],
        day_amount,
        day_net,
        purchase_lines,
    )


@dataclass(frozen=True)
class _Block:
    first_rows: np.ndarray  # block-relative row of each buyer's first row
    columns: list[pa.Array]  # AGGREGATE_COLUMNS after customer_id
    without_purchase: int
    excluded_spend: float
    customer_ids: pa.Array | None = None  # each buyer's id (set by _aggregate_rows)


def _aggregate_block(
    starts_customer: np.ndarray,
    day: np.ndarray,
    day_amount: np.ndarray,
    day_net: np.ndarray,
    purchase_lines: np.ndarray,
) -> _Block:
    """The aggregates of a block of whole customers (its first row starts a customer)."""
    customer_starts = np.flatnonzero(starts_customer)
    n_customers = len(customer_starts)
    total_spend, spend_sum_squares = _monthly_spend(day, day_net, starts_customer)
    n_orders = np.add.reduceat(purchase_lines.astype(np.int64), customer_starts)

    is_purchase = purchase_lines > 0
    if is_purchase.all():  # no return-only days: every customer buys, on every row
        buyers = np.arange(n_customers)
        p_day, p_amount, starts_buyer = day, day_amount, starts_customer
    else:
        customer = np.cumsum(starts_customer, dtype=np.int64) - 1
        purchase_rows = np.flatnonzero(is_purchase)
        buyer_of_row = customer[purchase_rows]
        p_day, p_amount = day[purchase_rows], day_amount[purchase_rows]
        starts_buyer = np.zeros(len(purchase_rows), dtype=bool)
        if len(purchase_rows):
            starts_buyer[0] = True
            np.not_equal(buyer_of_row[1:], buyer_of_row[:-1], out=starts_buyer[1:])
        buyers = buyer_of_row[starts_buyer]
    buyer_starts = np.flatnonzero(starts_buyer)
    buyer_ends = np.append(buyer_starts[1:], len(p_day))[: len(buyer_starts)] - 1
    counts = buyer_ends - buyer_starts + 1

    repeat_value = p_amount.copy()
    repeat_value[buyer_starts] = 0.0  # the first purchase day is not a repeat purchase
    repeat_amount = _sum_runs(repeat_value, buyer_starts)
    median_gap = _median_gaps(p_day, starts_buyer, counts)
    is_buyer = np.zeros(n_customers, dtype=bool)
    is_buyer[buyers] = True
    return _Block(
        first_rows=customer_starts[buyers],
        columns=[
            pa.array(p_day[buyer_starts], type=pa.int32()).cast(pa.date32()),
            pa.array(p_day[buyer_ends], type=pa.int32()).cast(pa.date32()),
            pa.array(counts.astype(np.int64)),
            pa.array(repeat_amount),
            pa.array(median_gap, mask=counts < 2),
            pa.array(total_spend[buyers]),
            pa.array(spend_sum_squares[buyers]),
            pa.array(n_orders[buyers]),
        ],
        without_purchase=int(n_customers - len(buyers)),
        excluded_spend=float(total_spend[~is_buyer].sum()),
    )


def _starts_of_runs(values: pa.ChunkedArray) -> np.ndarray:
    """True on each row whose string differs from the row before (and on the first)."""
    starts = np.empty(len(values), dtype=bool)
    position = 0
    previous: str | None = None
    for chunk in values.chunks:
        size = len(chunk)
        if size == 0:
            continue
        here = starts[position : position + size]
        here[1:] = _differs_from_previous(chunk)
        first = chunk[0].as_py()
        here[0] = position == 0 or first != previous
        previous = chunk[size - 1].as_py()
        position += size
    return starts


def _differs_from_previous(chunk: pa.Array) -> np.ndarray:
    """Row i + 1 differs from row i, for each i; ids of one length compare as byte rows.

    Exports mostly give customer ids of one length (zero-padded numbers, UUIDs); their
    bytes are then an array of fixed-size byte strings whose neighbours NumPy compares
    much faster than Arrow's string kernel (and 3x faster than as rows of a byte matrix).
    Other ids, or nulls, take the string kernel.
    """
    if chunk.type in (pa.string(), pa.binary()) and chunk.null_count == 0:
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
        offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
        width = int(offsets[1] - offsets[0])
        if width > 0 and np.all(np.diff(offsets) == width):
            data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)
            ids = data[offsets[0] : offsets[-1]].view(np.dtype((np.void, width)))
            return ids[1:] != ids[:-1]
    return pc.not_equal(chunk.slice(1), chunk.slice(0, len(chunk) - 1)).to_numpy(
        zero_copy_only=False
    )


def _single_chunk(column: pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def _sum_runs(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum of each run of ``values`` beginning at ``starts`` (non-empty, increasing)."""
    if len(starts) == 0:
        return np.zeros(0, dtype=values.dtype)
    return np.add.reduceat(values, starts)


def _monthly_spend(
    day: np.ndarray, day_net: np.ndarray, starts_customer: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's net spend and the sum of its calendar months' net spend squared.

    A month is a run of a customer's days in the same calendar month, because the days are
    ordered; months without lines add nothing to either sum (as in the SQL).
    """
    first = int(day.min())
    calendar = np.arange(first, int(day.max()) + 1).astype("datetime64[D]")
    month_of_day = calendar.astype("datetime64[M]").astype(np.int32)[day - first]
    starts_month = starts_customer.copy()
    starts_month[1:] |= month_of_day[1:] != month_of_day[:-1]
    month_starts = np.flatnonzero(starts_month)
    month_spend = np.add.reduceat(day_net, month_starts)
    customer_month_starts = np.flatnonzero(starts_customer[month_starts])
    total = np.add.reduceat(month_spend, customer_month_starts)
    squares = np.add.reduceat(month_spend * month_spend, customer_month_starts)
    return total, squares


def _median_gaps(p_day: np.ndarray, starts_buyer: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of the gaps between each buyer's consecutive purchase days (NaN with one day).

    The gaps are sorted within each buyer by one sort of ``buyer << bits | gap``: buyers
    stay in order, and the middle one or two gaps of each are found by position. The
    even-count median is the mean of the two middle gaps, as ``PERCENTILE_CONT(0.5)``.
    """
    n_buyers = len(counts)
    median = np.full(n_buyers, np.nan)
    is_gap = ~starts_buyer
    gaps = np.diff(p_day.astype(np.int64), prepend=0)[is_gap]
    if len(gaps) == 0:
        return median
    bits = max(int(gaps.max()).bit_length(), 1)
    buyer_of_gap = (np.cumsum(starts_buyer, dtype=np.int64) - 1)[is_gap]
    if n_buyers >= 1 << (62 - bits):
        raise OverflowError("too many buyers for one sort key")  # pragma: no cover
    keys = (buyer_of_gap << bits) | gaps
    if n_buyers << bits < 1 << 32:  # a block's keys mostly fit 32 bits: a faster sort
        keys = keys.astype(np.uint32)
    keys.sort()
    sorted_gaps = keys & ((1 << bits) - 1)
    n_gaps = counts - 1
    with_gaps = n_gaps > 0
    offsets = np.concatenate(([0], np.cumsum(n_gaps)[:-1]))[with_gaps]
    k = n_gaps[with_gaps]
    low = sorted_gaps[offsets + (k - 1) // 2]
    high = sorted_gaps[offsets + k // 2]
    median[with_gaps] = low + (high - low) * 0.5
    return median


def _check_ordered(aggregates: pa.Table) -> None:
    """A customer must be one run of rows: rows not ordered by customer would split one.

    The customers' ids, one per run, must then be strictly increasing (DuckDB orders text
    by its bytes, as Arrow compares it).
    """
    if not ids_in_order(aggregates.column("customer_id")):
        raise ValueError("lines are not ordered by customer: a customer is split")
