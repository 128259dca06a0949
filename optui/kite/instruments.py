"""Kite's instruments list: fetched once a day, cached as Arrow, turned into a `Universe`.

Ticks carry only instrument tokens; everything else (which underlying, expiry, strike, lot
size, tick size) comes from Kite's instruments list, never from constants. This module

- reads the list in any of its shapes (the rows `KiteConnect.instruments()` returns, Kite's
  CSV text) into one Arrow table with Kite's twelve columns (`table_from_rows`,
  `table_from_csv`);
- picks from it what optui watches (`universe_from_instruments`): the indices of
  `assets/indices.csv`, the breadth stocks of `assets/equities.csv`, and for the configured
  underlyings their futures and options that have not expired, in the very `Universe` the demo
  market builds, so every screen and the planner work the same on both;
- keeps a daily cache (`load_instruments`).

The daily cache
---------------
`<cache_dir>/instruments/<date>.arrow`: Arrow IPC, zstd, the NFO, BFO and NSE lists exactly as
fetched (so changing `underlyings` needs no refetch), written to a temporary name and renamed.

Which list is current: Kite regenerates the dump once a day before the market opens and does
not change it during the day (its docs: "the dump is generated once everyday"; its forum
advises fetching it once a day in the morning). optui takes **08:30 IST** as the moment a new
day's list exists. The *list date* of a moment is its IST date from 08:30 on, and the day
before until then; a cache file is fresh when it is named after the list date of now. So a
list fetched at 07:00 is filed (and reused) as the previous day's, and the first start after
08:30 fetches again. The universe itself is always built for the IST calendar date of now
(`session`), so contracts that expired yesterday are dropped even from yesterday's list.

When the fresh file is missing, the list is fetched; when fetching fails (offline, token
expired, Kite down) the newest older file is used with `stale=True` and a note saying how old
it is and that expiries and strikes listed since are missing; with no usable file at all the
error says what to do. A file that cannot be read is refetched (and the error names it).

Why no BSE list: of the whole BSE segment (tens of thousands of equities, bonds and fund
units) optui needs one row, the SENSEX index, whose Kite token (265: exchange token 1,
segment 9) has not changed since Kite began and is recorded in `assets/indices.csv` with
`token_source = kite`. Fetching megabytes every morning for one constant row would slow every
start, so that row is written from the asset file instead (`asset_index_table`). SENSEX
options and futures do come from the BFO list.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from optui.feed import reference
from optui.feed.calendar import IST
from optui.feed.universe import CSV_COLUMNS, Chain, Kind, Universe, universe_of
from optui.paths import write_private
from optui.settings import Settings

__all__ = [
    "CACHE_FOLDER",
    "FETCHED_EXCHANGES",
    "INSTRUMENTS_SCHEMA",
    "LIST_READY_AT",
    "InstrumentList",
    "InstrumentSource",
    "InstrumentsError",
    "asset_index_table",
    "cache_path",
    "list_date",
    "load_instruments",
    "table_from_csv",
    "table_from_rows",
    "universe_from_instruments",
]

INSTRUMENTS_SCHEMA: Final = pa.schema(
    [
        ("instrument_token", pa.int64()),
        ("exchange_token", pa.int64()),
        ("tradingsymbol", pa.string()),
        ("name", pa.string()),
        ("last_price", pa.float64()),
        ("expiry", pa.date32()),
        ("strike", pa.float64()),
        ("tick_size", pa.float64()),
        ("lot_size", pa.int64()),
        ("instrument_type", pa.string()),
        ("segment", pa.string()),
        ("exchange", pa.string()),
    ]
)
assert tuple(INSTRUMENTS_SCHEMA.names) == CSV_COLUMNS

CACHE_FOLDER: Final = "instruments"
LIST_READY_AT: Final = dtime(8, 30)  # IST; see the module docstring
FETCHED_EXCHANGES: Final = ("NFO", "BFO", "NSE")
CACHE_KEEP: Final = 7  # newest daily files kept; the archive keeps every collected day's list
_FORMAT_VERSION: Final = b"1"
_META_LIST_DATE: Final = b"optui.list_date"
_META_FETCHED_AT: Final = b"optui.fetched_at"
_META_EXCHANGES: Final = b"optui.exchanges"
_META_FORMAT: Final = b"optui.format"
_CACHE_NAME: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})\.arrow$")

_INT_COLUMNS: Final = ("instrument_token", "exchange_token", "lot_size")
_FLOAT_COLUMNS: Final = ("last_price", "strike", "tick_size")
_TEXT_COLUMNS: Final = ("tradingsymbol", "name", "instrument_type", "segment", "exchange")
_DERIVATIVE_TYPES: Final[dict[str, Kind]] = {"FUT": Kind.FUTURE, "CE": Kind.CALL, "PE": Kind.PUT}


class InstrumentsError(Exception):
    """The instruments list cannot be had or does not hold what optui needs. The message
    says what is missing (exchange and underlying) and what to do."""


class InstrumentSource(Protocol):
    """Anything that lists an exchange's instruments as `KiteConnect.instruments()` does
    (`optui.kite.rest.KiteRest`, or `KiteConnect` itself)."""

    def instruments(self, exchange: str) -> Sequence[Mapping[str, Any]]: ...


# -- reading the list into Arrow ---------------------------------------------------------------
def _expiry_of(value: object, row: int) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value[:10])
    raise InstrumentsError(f"instrument row {row}: expiry {value!r} is not a date")


def _number(value: object, cast: Callable[[Any], Any], column: str, row: int) -> Any:
    if value is None or value == "":
        return cast(0)
    try:
        return cast(value)
    except (TypeError, ValueError):
        raise InstrumentsError(
            f"instrument row {row}: {column} {value!r} is not a number"
        ) from None


def table_from_rows(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows as `KiteConnect.instruments()` returns them (exchange_token a string, expiry a
    `date` or "") as a table of `INSTRUMENTS_SCHEMA`."""
    columns: dict[str, list[Any]] = {name: [] for name in CSV_COLUMNS}
    for i, row in enumerate(rows):
        missing = [name for name in CSV_COLUMNS if name not in row]
        if missing:
            raise InstrumentsError(
                f"instrument row {i} lacks {', '.join(missing)}: not Kite's instruments list"
            )
        for name in _INT_COLUMNS:
            columns[name].append(_number(row[name], lambda v: int(float(v)), name, i))
        for name in _FLOAT_COLUMNS:
            columns[name].append(_number(row[name], float, name, i))
        for name in _TEXT_COLUMNS:
            value = row[name]
            columns[name].append("" if value is None else str(value))
        columns["expiry"].append(_expiry_of(row["expiry"], i))
    return pa.table(columns, schema=INSTRUMENTS_SCHEMA)


def table_from_csv(text: str | bytes) -> pa.Table:
    """Kite's instruments CSV text (the API's dump, `Universe.to_csv`) as a table of
    `INSTRUMENTS_SCHEMA`."""
    data = text.encode() if isinstance(text, str) else text
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in CSV_COLUMNS}
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InstrumentsError(f"not Kite's instruments CSV: {exc}") from None
    return conform(table)


def conform(table: pa.Table) -> pa.Table:
    """`table` with exactly Kite's columns, in order, typed as `INSTRUMENTS_SCHEMA`.

    Accepts text or typed columns (a CSV read as strings, a cached table, a Parquet file of
    the archive with `expiry` as text).
    """
    missing = [name for name in CSV_COLUMNS if name not in table.column_names]
    if missing:
        raise InstrumentsError(
            f"the instruments table lacks the column(s) {', '.join(missing)}; "
            f"Kite's list has {', '.join(CSV_COLUMNS)}"
        )
    arrays = []
    for field in INSTRUMENTS_SCHEMA:
        column = table.column(field.name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            empty = pc.equal(column, "")
            if field.name in _TEXT_COLUMNS:
                column = pc.fill_null(column, "")
            else:
                column = pc.if_else(empty, pa.scalar(None, column.type), column)
        try:
            if pa.types.is_timestamp(column.type) and field.name == "expiry":
                column = pc.cast(column, pa.date32())
            elif field.name in _INT_COLUMNS and pa.types.is_string(column.type):
                column = pc.cast(pc.cast(column, pa.float64()), pa.int64())
            else:
                column = pc.cast(column, field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InstrumentsError(
                f"the instruments column {field.name} is not {field.type}: {exc}"
            ) from None
        if field.name in _INT_COLUMNS or field.name in _FLOAT_COLUMNS:
            column = pc.fill_null(column, 0)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=INSTRUMENTS_SCHEMA)


def asset_index_table(exchanges: Collection[str] = ("BSE",)) -> pa.Table:
    """Index rows in Kite's schema for the indices of `assets/indices.csv` on `exchanges`
    whose token is Kite's own (`token_source = kite`), as Kite lists them (segment INDICES,
    instrument type EQ, tick and lot 0). Used for SENSEX instead of fetching the BSE list."""
    specs = [
        ix
        for ix in reference.index_specs()
        if ix.exchange in exchanges and ix.token_source == "kite"
    ]
    return pa.table(
        {
            "instrument_token": [ix.instrument_token for ix in specs],
            "exchange_token": [ix.exchange_token for ix in specs],
            "tradingsymbol": [ix.tradingsymbol for ix in specs],
            "name": [ix.tradingsymbol for ix in specs],
            "last_price": [0.0] * len(specs),
            "expiry": [None] * len(specs),
            "strike": [0.0] * len(specs),
            "tick_size": [0.0] * len(specs),
            "lot_size": [0] * len(specs),
            "instrument_type": ["EQ"] * len(specs),
            "segment": ["INDICES"] * len(specs),
            "exchange": [ix.exchange for ix in specs],
        },
        schema=INSTRUMENTS_SCHEMA,
    )


# -- picking the universe ----------------------------------------------------------------------
@dataclass(slots=True)
class _Columns:
    instrument_token: list[int]
    exchange_token: list[int]
    tradingsymbol: list[str]
    name: list[str]
    last_price: list[float]
    expiry: list[date | None]
    strike: list[float]
    tick_size: list[float]
    lot_size: list[int]
    kind: list[int]
    segment: list[str]
    exchange: list[str]
    underlying: list[int]

    @classmethod
    def empty(cls) -> _Columns:
        return cls([], [], [], [], [], [], [], [], [], [], [], [], [])

    def add(self, row: Mapping[str, Any], kind: Kind, name: str, underlying: int | None) -> int:
        i = len(self.instrument_token)
        self.instrument_token.append(int(row["instrument_token"]))
        self.exchange_token.append(int(row["exchange_token"]))
        self.tradingsymbol.append(str(row["tradingsymbol"]))
        self.name.append(name)
        self.last_price.append(float(row["last_price"]))
        self.expiry.append(row["expiry"])
        self.strike.append(float(row["strike"]))
        self.tick_size.append(float(row["tick_size"]))
        self.lot_size.append(int(row["lot_size"]))
        self.kind.append(int(kind))
        self.segment.append(str(row["segment"]))
        self.exchange.append(str(row["exchange"]))
        self.underlying.append(i if underlying is None else underlying)
        return i


def _rows(table: pa.Table, mask: pa.ChunkedArray | pa.Array) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.filter(mask).to_pylist()
    return rows


def _derivative_name(row: Mapping[str, Any], underlyings: Collection[str]) -> str | None:
    """The underlying of a derivative row; from the tradingsymbol when `name` is empty (old
    dumps and Kite's own sample list leave it empty for options)."""
    name = str(row["name"])
    if name:
        return name if name in underlyings else None
    symbol = str(row["tradingsymbol"])
    # Longest first, so BANKNIFTY is never read as a NIFTY contract.
    for candidate in sorted(underlyings, key=len, reverse=True):
        rest = symbol[len(candidate) :]
        if symbol.startswith(candidate) and rest[:1].isdigit():
            return candidate
    return None


def universe_from_instruments(
    rows: pa.Table, session: date, underlyings: Sequence[str]
) -> Universe:
    """What optui watches, picked from Kite's instruments list, as a `Universe`.

    Kept: the indices of `assets/indices.csv` (matched by exchange and tradingsymbol, with
    Kite's token), the stocks of `assets/equities.csv` (NSE EQ rows by tradingsymbol), and for
    each of `underlyings` its futures and options on its exchange (NFO or BFO) expiring on
    or after `session`. Row order, `kind`, `underlying` and `chains` are as in the demo's
    universe. Lot sizes, tick sizes, strikes and expiries are the list's.

    Raises `InstrumentsError` naming the exchange and what is missing when an underlying's
    index or options are absent, and when a contract is listed twice. Futures, and indices
    and stocks that are not underlyings, are optional: a renamed stock only drops out of
    breadth, and a chain is still a chain without its future (Kite's own sample list has
    options but no futures).
    """
    universe, _ = _pick(conform(rows), session, underlyings)
    return universe


def _pick(
    table: pa.Table, session: date, underlyings: Sequence[str]
) -> tuple[Universe, npt.NDArray[np.float64]]:
    specs = reference.derivative_specs()
    unknown = [u for u in underlyings if u not in specs]
    if unknown:
        raise InstrumentsError(
            f"unknown underlying(s) {', '.join(unknown)}: optui knows {', '.join(specs)}"
        )
    if len(set(underlyings)) != len(underlyings):
        raise InstrumentsError(f"underlyings listed twice: {', '.join(underlyings)}")

    index_specs = reference.index_specs()
    index_rows = _rows(
        table,
        pc.and_(
            pc.equal(table["segment"], "INDICES"),
            pc.is_in(table["tradingsymbol"], pa.array([ix.tradingsymbol for ix in index_specs])),
        ),
    )
    equity_symbols = [eq.symbol for eq in reference.equity_specs()]
    equity_rows = _rows(
        table,
        pc.and_(
            pc.and_(pc.equal(table["exchange"], "NSE"), pc.equal(table["segment"], "NSE")),
            pc.and_(
                pc.equal(table["instrument_type"], "EQ"),
                pc.is_in(table["tradingsymbol"], pa.array(equity_symbols)),
            ),
        ),
    )
    wanted_exchanges = sorted({specs[u].exchange for u in underlyings})
    derivative_rows = _rows(
        table,
        pc.and_(
            pc.and_(
                pc.is_in(table["exchange"], pa.array(wanted_exchanges, pa.string())),
                pc.is_in(table["instrument_type"], pa.array(list(_DERIVATIVE_TYPES))),
            ),
            pc.and_(
                pc.greater_equal(table["expiry"], pa.scalar(session, pa.date32())),
                pc.or_(
                    pc.is_in(table["name"], pa.array(list(underlyings), pa.string())),
                    pc.equal(table["name"], ""),
                ),
            ),
        ),
    )

    cols = _Columns.empty()
    index_row: dict[str, int] = {}
    for ix in index_specs:
        found = next(
            (
                r
                for r in index_rows
                if r["tradingsymbol"] == ix.tradingsymbol and r["exchange"] == ix.exchange
            ),
            None,
        )
        if found is not None:
            index_row[ix.tradingsymbol] = cols.add(found, Kind.INDEX, str(found["name"]), None)
    by_symbol = {str(r["tradingsymbol"]): r for r in equity_rows}
    for symbol in equity_symbols:
        if symbol in by_symbol:
            cols.add(by_symbol[symbol], Kind.EQUITY, str(by_symbol[symbol]["name"]), None)

    # underlying -> kind -> rows
    grouped: dict[str, dict[Kind, list[dict[str, Any]]]] = {
        u: {Kind.FUTURE: [], Kind.CALL: [], Kind.PUT: []} for u in underlyings
    }
    for r in derivative_rows:
        name = _derivative_name(r, underlyings)
        if name is None or r["exchange"] != specs[name].exchange:
            continue
        grouped[name][_DERIVATIVE_TYPES[str(r["instrument_type"])]].append(r)

    for u in underlyings:
        spec = specs[u]
        if spec.underlying_index not in index_row:
            exchange = next(
                ix.exchange for ix in index_specs if ix.tradingsymbol == spec.underlying_index
            )
            raise InstrumentsError(
                f"{u}: its index {spec.underlying_index!r} ({exchange}, segment INDICES) is "
                f"not in the instruments list (is the {exchange} index list missing?); fetch "
                f"the list again or remove {u} from `underlyings`"
            )
        options = grouped[u][Kind.CALL] + grouped[u][Kind.PUT]
        if not options:
            raise InstrumentsError(
                f"{u}: no options on {spec.exchange} expiring on or after {session} in the "
                f"instruments list (is the {spec.exchange} list missing or out of date?); "
                f"fetch it again or remove {u} from `underlyings`"
            )
        for r in grouped[u][Kind.FUTURE] + options:
            if not (float(r["tick_size"]) > 0 and int(r["lot_size"]) > 0):
                raise InstrumentsError(
                    f"{spec.exchange}:{r['tradingsymbol']}: tick size {r['tick_size']} and "
                    f"lot size {r['lot_size']} must be above 0; the list is damaged, fetch it "
                    "again"
                )
        for r in options:
            if not (math.isfinite(float(r["strike"])) and float(r["strike"]) > 0):
                raise InstrumentsError(
                    f"{spec.exchange}:{r['tradingsymbol']}: strike {r['strike']} is not a "
                    "price; the list is damaged, fetch it again"
                )

    for u in underlyings:
        driver = index_row[specs[u].underlying_index]
        for r in sorted(grouped[u][Kind.FUTURE], key=lambda r: r["expiry"]):
            cols.add(r, Kind.FUTURE, u, driver)

    chains: dict[tuple[str, date], Chain] = {}
    for u in underlyings:
        spec = specs[u]
        driver = index_row[spec.underlying_index]
        legs: dict[tuple[date, float], dict[Kind, dict[str, Any]]] = {}
        for kind in (Kind.CALL, Kind.PUT):
            for r in grouped[u][kind]:
                key = (r["expiry"], float(r["strike"]))
                slot = legs.setdefault(key, {})
                if kind in slot:
                    raise InstrumentsError(
                        f"{spec.exchange}: {u} {key[0]} {key[1]:g} {kind.name} is listed twice "
                        f"({slot[kind]['tradingsymbol']}, {r['tradingsymbol']}); the list is "
                        "damaged, fetch it again"
                    )
                slot[kind] = r
        by_expiry: dict[date, list[float]] = {}
        for expiry, strike in sorted(legs):
            by_expiry.setdefault(expiry, []).append(strike)
        for expiry, strikes in by_expiry.items():
            calls: list[int] = []
            puts: list[int] = []
            for strike in strikes:
                slot = legs[(expiry, strike)]
                calls.append(
                    cols.add(slot[Kind.CALL], Kind.CALL, u, driver) if Kind.CALL in slot else -1
                )
                puts.append(
                    cols.add(slot[Kind.PUT], Kind.PUT, u, driver) if Kind.PUT in slot else -1
                )
            chains[(u, expiry)] = Chain(
                name=u,
                expiry=expiry,
                strikes=np.array(strikes, dtype=np.float64),
                calls=np.array(calls, dtype=np.intp),
                puts=np.array(puts, dtype=np.intp),
            )

    tokens = cols.instrument_token
    if len(set(tokens)) != len(tokens):
        twice = sorted(t for t, n in Counter(tokens).items() if n > 1)
        raise InstrumentsError(
            f"instrument token(s) {', '.join(map(str, twice[:5]))} are listed for more than "
            "one instrument; the list is damaged, fetch it again"
        )
    if any(not 0 < t < 2**32 for t in tokens):
        raise InstrumentsError("an instrument token is outside 1..2**32-1; the list is damaged")

    universe = universe_of(session, cols, tokens, chains)
    return universe, np.array(cols.last_price, dtype=np.float64)


# -- the daily cache ---------------------------------------------------------------------------
@dataclass(frozen=True)
class InstrumentList:
    """The instruments optui works with today.

    `session` is the IST date the universe was picked for; `fetched_at` when Kite served the
    list; `csv_text` the universe in Kite's CSV columns (what the collector archives);
    `stale` is True when the list is an older day's (then `note` says how old and why).
    """

    session: date
    fetched_at: datetime
    universe: Universe
    csv_text: str
    stale: bool = False
    note: str = ""
    path: Path | None = None


def list_date(moment: datetime) -> date:
    """The date of the newest list Kite can have served at `moment` (see the module
    docstring): the IST date from 08:30 IST on, the day before until then."""
    local = _ist(moment)
    day = local.date()
    return day if local.time() >= LIST_READY_AT else day - timedelta(days=1)


def cache_path(cache_dir: Path, day: date) -> Path:
    """Where the list of `day` is cached."""
    return Path(cache_dir) / CACHE_FOLDER / f"{day.isoformat()}.arrow"


def _ist(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("`now` must be timezone-aware (e.g. datetime.now(IST))")
    return moment.astimezone(IST)


class _UnreadableError(Exception):
    """A cache file that is not a complete list of ours."""


def _write_cache(path: Path, table: pa.Table, day: date, fetched_at: datetime) -> None:
    metadata = {
        _META_FORMAT: _FORMAT_VERSION,
        _META_LIST_DATE: day.isoformat().encode(),
        _META_FETCHED_AT: fetched_at.isoformat().encode(),
        _META_EXCHANGES: ",".join(FETCHED_EXCHANGES).encode(),
    }
    table = table.replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(
        sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")
    ) as writer:
        writer.write_table(table)
    # Temporary file, fsync, rename: a reader sees the old file or the whole new one.
    write_private(path, sink.getvalue().to_pybytes())


def _read_cache(path: Path) -> tuple[pa.Table, datetime]:
    try:
        with pa.OSFile(str(path), "rb") as source:
            table = pa.ipc.open_file(source).read_all()
    except (OSError, pa.ArrowException) as exc:
        raise _UnreadableError(f"not an Arrow file ({exc})") from None
    metadata = table.schema.metadata or {}
    if metadata.get(_META_FORMAT) != _FORMAT_VERSION:
        raise _UnreadableError("not an instruments cache of this optui version")
    try:
        fetched_at = datetime.fromisoformat(metadata[_META_FETCHED_AT].decode())
        listed = date.fromisoformat(metadata[_META_LIST_DATE].decode())
    except (KeyError, ValueError) as exc:
        raise _UnreadableError(f"its metadata is damaged ({exc})") from None
    if path.name != f"{listed.isoformat()}.arrow":
        raise _UnreadableError(f"it holds the list of {listed}, not of its name")
    try:
        return conform(table.replace_schema_metadata(None)), fetched_at
    except InstrumentsError as exc:
        raise _UnreadableError(str(exc)) from None


def _cached_days(folder: Path) -> list[date]:
    days: list[date] = []
    if folder.is_dir():
        for entry in folder.iterdir():
            match = _CACHE_NAME.match(entry.name)
            if match:
                with contextlib.suppress(ValueError):
                    days.append(date.fromisoformat(match.group(1)))
    return sorted(days, reverse=True)


def _prune(folder: Path, keep: int) -> None:
    for day in _cached_days(folder)[keep:]:
        with contextlib.suppress(OSError):
            (folder / f"{day.isoformat()}.arrow").unlink()


def _fetch(source: InstrumentSource, progress: Callable[[str], None]) -> pa.Table:
    tables = []
    for exchange in FETCHED_EXCHANGES:
        progress(f"fetching the {exchange} instruments list from Kite…")
        started = time.monotonic()
        rows = source.instruments(exchange)
        if not rows:
            raise InstrumentsError(f"Kite returned an empty {exchange} instruments list")
        table = table_from_rows(rows)
        progress(
            f"{exchange}: {table.num_rows:,} instruments in {time.monotonic() - started:.1f} s"
        )
        tables.append(table)
    tables.append(asset_index_table(("BSE",)))
    return pa.concat_tables(tables)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_instruments(
    settings: Settings,
    rest: InstrumentSource | None,
    *,
    now: datetime | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> InstrumentList:
    """Today's instruments: from the cache when fresh, else fetched through `rest` (NFO, BFO,
    NSE) and cached, else an older cached list marked stale. See the module docstring.

    `rest` None means offline: only the cache is used. Raises `InstrumentsError` when there
    is no usable list at all, or when the list lacks what `settings.underlyings` need.
    """
    moment = _ist(now) if now is not None else datetime.now(IST)
    session = moment.date()
    wanted = list_date(moment)
    folder = Path(settings.cache_dir) / CACHE_FOLDER
    path = cache_path(settings.cache_dir, wanted)
    progress = on_progress or (lambda _message: None)
    underlyings = tuple(settings.underlyings)

    def result(
        table: pa.Table, fetched_at: datetime, where: Path, note: str = "", stale: bool = False
    ) -> InstrumentList:
        universe, last_price = _pick(table, session, underlyings)
        return InstrumentList(
            session=session,
            fetched_at=fetched_at,
            universe=universe,
            csv_text=universe.to_csv(last_price),
            stale=stale,
            note=note,
            path=where,
        )

    damaged = ""
    if path.exists():
        try:
            table, fetched_at = _read_cache(path)
        except _UnreadableError as exc:
            damaged = f"the cached list {path} is unreadable: {exc}"
            progress(f"{damaged}; fetching it again")
        else:
            return result(table, fetched_at, path)

    if rest is None:
        failure = "offline: no Kite connection to fetch it with"
    else:
        try:
            fetched_at = datetime.now(IST) if now is None else moment
            table = _fetch(rest, progress)
        except Exception as exc:  # any failure of the fetch (network, auth, Kite) falls back
            failure = f"fetching it failed ({_describe(exc)})"
        else:
            # A list that lacks what the underlyings need raises here and is not cached.
            fresh = result(table, fetched_at, path)
            _write_cache(path, table, wanted, fetched_at)
            _prune(folder, CACHE_KEEP)
            progress(f"cached {table.num_rows:,} instruments in {path}")
            return fresh

    if damaged:
        raise InstrumentsError(
            f"{damaged}, and {failure}. Delete that file and run optui again while "
            "connected to Kite (after `optui login`)"
        )
    for day in _cached_days(folder):
        if day >= wanted:
            continue
        older = cache_path(settings.cache_dir, day)
        try:
            table, fetched_at = _read_cache(older)
        except _UnreadableError as exc:
            progress(f"skipping the unreadable cached list {older}: {exc}")
            continue
        age = (wanted - day).days
        note = (
            f"instruments list of {day} ({age} day{'s' if age != 1 else ''} old), because "
            f"{failure}: expiries and strikes listed since then are missing"
        )
        progress(note)
        return result(table, fetched_at, older, note=note, stale=True)
    raise InstrumentsError(
        f"no instruments list for {wanted} in {folder} and {failure}. Run optui while "
        "connected to Kite (after `optui login`) to fetch it, or use `--source demo`"
    )
