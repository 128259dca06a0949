"""The archive's columns: one Parquet/Arrow schema for every decoded tick, built in one place.

Why this shape:

- **Every `TICK_DTYPE` field is its own column**, named as in the codec (and so as in
  kiteconnect's parser). The five-level depth is flattened into 30 scalar columns
  (`depth_buy_price_1` .. `depth_buy_price_5`, `depth_buy_quantity_1` .., `depth_buy_orders_1`
  .., then the same for `depth_sell_*`): list or struct columns are awkward in SQL engines,
  flat columns are what DuckDB, polars and Spark filter and aggregate without unnesting.
- **Types say what a value is.** `instrument_token` uint32 and `mode` uint8 as on the wire;
  prices float64 exactly as `decode` produced them; quantities int64 (differences never wrap);
  `exchange_timestamp` and `last_trade_time` are `timestamp[s, tz=Asia/Kolkata]` so that every
  engine shows exchange time in IST without guessing. A packet kind that lacks them (ltp,
  quote, index quote) carries 0 in `TICK_DTYPE`; here that is **null** rather than a fake
  1970-01-01 05:30 instant. The mapping 0 <-> null is a bijection, so `table_to_ticks` gives
  back exactly the rows `decode` gave.
- **Provenance is exact.** `received` (`timestamp[ns, UTC]`, the journal key's receive time),
  `frame_seq` (uint64, the journal key's sequence number) and `packet` (uint16, position in the
  frame) identify every row, order every row as it arrived, and let a frame be rebuilt and
  re-encoded byte for byte (`optui replay`).
- **Frames that fail to decode** are kept with `REJECT_SCHEMA`: their journal key, receive
  time, sequence, the bytes and the decoder's error, so nothing that arrived is ever lost.

`ticks_to_table` and `table_to_ticks` are the only conversions between `TICK_DTYPE` rows and
this schema; the roller, the reader, export and replay all go through them.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from optui.feed.codec import DEPTH, TICK_DTYPE, Ticks, empty_ticks

__all__ = [
    "DEPTH_COLUMNS",
    "PROVENANCE_COLUMNS",
    "REJECT_SCHEMA",
    "SCHEMA_VERSION",
    "SORT_COLUMNS",
    "TICK_SCHEMA",
    "TIMESTAMP_FIELDS",
    "table_to_ticks",
    "ticks_to_table",
]

SCHEMA_VERSION: Final = 1
IST_ZONE: Final = "Asia/Kolkata"

#: Exchange times: epoch seconds in `TICK_DTYPE`, IST timestamps (null for 0) in the archive.
TIMESTAMP_FIELDS: Final = ("last_trade_time", "exchange_timestamp")
#: Where and when a row arrived; with `instrument_token` first, the order rows are sorted in.
PROVENANCE_COLUMNS: Final = ("received", "frame_seq", "packet")
SORT_COLUMNS: Final = ("instrument_token", *PROVENANCE_COLUMNS)

_DEPTH_FIELDS: Final = (
    "depth_buy_price",
    "depth_buy_quantity",
    "depth_buy_orders",
    "depth_sell_price",
    "depth_sell_quantity",
    "depth_sell_orders",
)
#: field -> its flat columns, level 1 (best) to 5.
DEPTH_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    field: tuple(f"{field}_{level}" for level in range(1, DEPTH + 1)) for field in _DEPTH_FIELDS
}

_TICK_FIELDS: Final[tuple[str, ...]] = tuple(TICK_DTYPE.names or ())
_SCALAR_FIELDS: Final = tuple(
    name for name in _TICK_FIELDS if name != "instrument_token" and name not in DEPTH_COLUMNS
)
if set(_TICK_FIELDS) != {"instrument_token", *_SCALAR_FIELDS, *DEPTH_COLUMNS}:  # pragma: no cover
    raise AssertionError("TICK_DTYPE has a field the archive schema does not place")


def _arrow_type(name: str) -> pa.DataType:
    if name in TIMESTAMP_FIELDS:
        return pa.timestamp("s", tz=IST_ZONE)
    return pa.from_numpy_dtype(TICK_DTYPE[name].base)


TICK_SCHEMA: Final = pa.schema(
    [
        pa.field("instrument_token", pa.uint32(), nullable=False),
        pa.field("received", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("frame_seq", pa.uint64(), nullable=False),
        pa.field("packet", pa.uint16(), nullable=False),
        *(
            pa.field(name, _arrow_type(name), nullable=name in TIMESTAMP_FIELDS)
            for name in _SCALAR_FIELDS
        ),
        *(
            pa.field(column, _arrow_type(field), nullable=False)
            for field, columns in DEPTH_COLUMNS.items()
            for column in columns
        ),
    ],
    metadata={b"optui.schema": f"ticks/{SCHEMA_VERSION}".encode()},
)

REJECT_SCHEMA: Final = pa.schema(
    [
        pa.field("received", pa.timestamp("ns", tz="UTC"), nullable=False),
        pa.field("frame_seq", pa.uint64(), nullable=False),
        pa.field("key", pa.binary(16), nullable=False),
        pa.field("frame", pa.binary(), nullable=False),
        pa.field("error", pa.string(), nullable=False),
    ],
    metadata={b"optui.schema": f"rejects/{SCHEMA_VERSION}".encode()},
)


# -- TICK_DTYPE rows -> columns ---------------------------------------------------------------
# A decoded row is 384 bytes; reading one field of a million rows touches every row's cache
# line, so pulling 60 columns out one field at a time costs far more than the data. Instead
# the rows are seen as a matrix of 8-byte words (every price, quantity and time is one
# aligned 8-byte word; only the token, mode and tradable flag share the first) and
# transposed block by block, small enough to stay in the CPU cache: then every column is one
# contiguous row of the transposed matrix, viewed with its own dtype, no further copy.
_WORD: Final = 8
_ROW_WORDS: Final = TICK_DTYPE.itemsize // _WORD
_TRANSPOSE_ROWS: Final = 16384


def _word_layout() -> tuple[int, dict[str, tuple[int, np.dtype[np.generic]]], tuple[str, ...]]:
    """(first transposed word, {field: (its word - first, dtype)}, fields read directly)."""
    words: dict[str, tuple[int, np.dtype[np.generic]]] = {}
    direct: list[str] = []
    for name in _TICK_FIELDS:
        kind, offset = TICK_DTYPE.fields[name][:2]  # type: ignore[index]
        if kind.base.itemsize == _WORD and offset % _WORD == 0:
            words[name] = (offset // _WORD, kind.base)
        else:
            direct.append(name)
    first = min(word for word, _ in words.values())
    if TICK_DTYPE.itemsize % _WORD or any(
        TICK_DTYPE.fields[name][1] >= first * _WORD  # type: ignore[index]
        for name in direct
    ):  # pragma: no cover - a change to TICK_DTYPE that this layout cannot serve
        raise AssertionError("TICK_DTYPE: 8-byte fields must follow the small ones, aligned")
    return first, {k: (w - first, d) for k, (w, d) in words.items()}, tuple(direct)


_FIRST_WORD, _WORD_OF, _DIRECT_FIELDS = _word_layout()


def pooled_empty(shape: int | tuple[int, ...], dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    """An uninitialised numpy array in Arrow's memory pool.

    The archive's big arrays (hundreds of MB per chunk) come and go every roll. The C
    allocator hands such blocks back to the kernel on free, so the next chunk pays for fresh
    pages all over again (on a virtual machine the first touch of a page is very costly);
    Arrow's pool keeps freed memory for a while and reuses it. The array keeps its buffer
    alive.
    """
    kind = np.dtype(dtype)
    size = int(np.prod(shape)) * kind.itemsize
    array: npt.NDArray[Any] = np.frombuffer(pa.allocate_buffer(max(size, 1)), dtype=np.uint8)
    return array[:size].view(kind).reshape(shape)


def _columns(
    ticks: Ticks, order: npt.NDArray[np.intp] | None
) -> dict[str, npt.NDArray[np.generic]]:
    """Every archive column of contiguous `TICK_DTYPE` rows (taken in `order` if given)."""
    n = len(ticks) if order is None else len(order)
    words = ticks.view(np.uint64).reshape(len(ticks), _ROW_WORDS)
    block = pooled_empty((_ROW_WORDS - _FIRST_WORD, n), np.uint64)
    gathered = pooled_empty((min(n, _TRANSPOSE_ROWS), _ROW_WORDS), np.uint64)
    for start in range(0, n, _TRANSPOSE_ROWS):
        stop = min(start + _TRANSPOSE_ROWS, n)
        # Gathering a block of whole rows, then transposing it while it is in the cache, sorts
        # and transposes in one pass over memory. Blocks are large enough that the loop
        # takes the GIL only a few dozen times per million rows: a thread that takes it back
        # often waits behind a busy Python thread every time.
        rows = words[start:stop]
        if order is not None:
            rows = np.take(words, order[start:stop], axis=0, out=gathered[: stop - start])
        block[:, start:stop] = rows[:, _FIRST_WORD:].T
    columns = {
        name: np.ascontiguousarray(ticks[name] if order is None else ticks[name][order])
        for name in _DIRECT_FIELDS
    }
    for name, (word, dtype) in _WORD_OF.items():
        if name in DEPTH_COLUMNS:
            for level, column in enumerate(DEPTH_COLUMNS[name]):
                columns[column] = block[word + level].view(dtype)
        else:
            columns[name] = block[word].view(dtype)
    return columns


def _timestamp(values: npt.NDArray[np.generic], kind: pa.DataType, zero_is_null: bool) -> pa.Array:
    """int64 epoch values as an Arrow timestamp array, without a copy of the values."""
    data = np.ascontiguousarray(values, dtype=np.int64)
    validity = None
    nulls = 0
    if zero_is_null:
        present = data != 0
        nulls = len(data) - int(np.count_nonzero(present))
        if nulls:
            validity = pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(kind, len(data), [validity, pa.py_buffer(data)], null_count=nulls)


def ticks_to_table(
    ticks: Ticks,
    received_ns: int | npt.ArrayLike,
    frame_seq: int | npt.ArrayLike,
    packet: npt.ArrayLike | None = None,
    *,
    order: npt.NDArray[np.intp] | None = None,
) -> pa.Table:
    """`TICK_DTYPE` rows as a `TICK_SCHEMA` table.

    `received_ns` and `frame_seq` are per row or one value for all rows (one frame);
    `packet` defaults to 0, 1, 2 … (the rows of one frame in order). With `order` (row
    indices, e.g. from an argsort) the table holds those rows in that order, sorted without
    an extra copy of the rows.
    """
    if ticks.dtype != TICK_DTYPE:
        raise TypeError(f"ticks_to_table takes rows of TICK_DTYPE, not {ticks.dtype}")
    count = len(ticks)
    columns = _columns(np.ascontiguousarray(ticks), order)
    received = np.broadcast_to(np.asarray(received_ns, dtype=np.int64), (count,))
    seq = np.broadcast_to(np.asarray(frame_seq, dtype=np.uint64), (count,))
    position = (
        np.arange(count, dtype=np.uint16)
        if packet is None
        else np.broadcast_to(np.asarray(packet, dtype=np.uint16), (count,))
    )
    if order is not None:
        received, seq, position = received[order], seq[order], position[order]
    arrays: list[pa.Array] = []
    for spec in TICK_SCHEMA:
        name = spec.name
        if name == "received":
            arrays.append(_timestamp(received, spec.type, False))
        elif name == "frame_seq":
            arrays.append(pa.array(np.ascontiguousarray(seq), spec.type))
        elif name == "packet":
            arrays.append(pa.array(np.ascontiguousarray(position), spec.type))
        elif name in TIMESTAMP_FIELDS:
            arrays.append(_timestamp(columns[name], spec.type, True))
        else:
            arrays.append(pa.array(columns[name], spec.type))
    return pa.Table.from_arrays(arrays, schema=TICK_SCHEMA)


def table_to_ticks(
    table: pa.Table,
) -> tuple[Ticks, npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.uint16]]:
    """The inverse of `ticks_to_table`: (ticks, received_ns, frame_seq, packet), row for row.

    Columns beyond `TICK_SCHEMA` (such as the `date` and `collector` partition columns) are
    ignored; null exchange times become 0 as `decode` gives them.
    """
    n = table.num_rows
    ticks = empty_ticks(n)

    def column(name: str) -> npt.NDArray[np.generic]:
        values = table.column(name)
        if pa.types.is_timestamp(values.type):
            values = pc.fill_null(values.cast(pa.int64()), 0)
        return np.asarray(values.to_numpy())

    ticks["instrument_token"] = column("instrument_token")
    for name in _SCALAR_FIELDS:
        ticks[name] = column(name)
    for name, columns in DEPTH_COLUMNS.items():
        ticks[name] = np.stack([column(c) for c in columns], axis=1) if n else 0
    received = np.asarray(column("received"), dtype=np.int64)
    seq = np.asarray(column("frame_seq"), dtype=np.uint64)
    packet = np.asarray(column("packet"), dtype=np.uint16)
    return ticks, received, seq, packet
