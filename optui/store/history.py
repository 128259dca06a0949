"""What the option chain needs from past days: yesterday's closing OI and the daily ATM IV.

Change in OI compares today's OI with the previous trading day's close, and IV percentile and
rank compare today's ATM IV with a year of daily closing ATM IVs. Kite's ticks carry neither;
the archive (`optui.store.archive`) has both, since it keeps every tick and each day's
instruments list. `optui.analytics.chain.build_chain` takes the results as plain inputs.

A day of a 9,000-instrument archive is about 200 million rows, so neither function scans a
day: both pick part files by name. A part's name holds the receive-time range of the frames
in it (`part-<firstkey>-<lastkey>.parquet`, each key the big-endian receive time in ns and a
sequence number), so the files of any stretch of the day are known without opening one. On
a 9,000-instrument archive rolled in one-minute files, one day's closing ATM IV takes about
0.25 s and the previous close OI of 3,600 tokens about 0.06 s.

- `previous_close_oi` reads the previous trading day's afternoon files newest first, only the
  wanted tokens' full-mode packets (the only kind that carries OI), and stops as soon as no
  older file can hold a later tick of any of them. The previous day is the calendar's: when
  it was not collected the answer is empty (change in OI then shows as unknown) rather than a
  change against an older day passed off as yesterday's.
- `closing_atm_iv` takes the last tick before 15:25 IST (`CLOSING_TIME`: the day's level of
  volatility, read a few minutes before the last-minute rush into the 15:30 close) of the
  index, the future and every option of the day's nearest expiry after that day, within the
  preceding `CLOSING_WINDOW_S` seconds (five minutes), and builds that chain with
  `build_chain` at 15:25, so a past day's ATM IV is computed exactly as the live chain's is
  (same forward, same ATM strike, same model). An expiry on the day itself is skipped: five
  minutes before settlement its IV says nothing about the level of volatility.
- `atm_iv_history` does that for each archived trading day among the `days` before a date
  and caches each day's result in `<cache_dir>/atm_iv/<UNDERLYING>-<key>.json` (the key
  hashes the archive location and the pricing settings). An entry is reused while the day's
  files are unchanged (their names and sizes, hashed), so a day collected further, or merged
  in from another collector, is computed again; a day with no value is cached too.

A file that cannot be read is skipped, moved into the archive's `quarantine/` and reported to
`on_event` (`optui.store.quarantine`); the answer comes from the remaining files.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from pyarrow import fs as pafs

from optui.analytics.chain import build_chain
from optui.feed.calendar import TradingCalendar, epoch_at
from optui.feed.codec import MODE_FULL, empty_ticks
from optui.feed.state import MarketSnapshot
from optui.feed.universe import Kind, Universe
from optui.kite.instruments import InstrumentsError, universe_from_instruments
from optui.paths import write_private
from optui.settings import PricingModel
from optui.store.archive import ArchiveError, archive_filesystem
from optui.store.archive_schema import TICK_SCHEMA
from optui.store.instruments import INSTRUMENTS_DIR, read_instruments
from optui.store.quarantine import READ_FORMAT, EventSink, scan_files

__all__ = [
    "CACHE_FOLDER",
    "CLOSE_OI_FROM",
    "CLOSING_TIME",
    "CLOSING_WINDOW_S",
    "DailyAtmIv",
    "archived_days",
    "atm_iv_history",
    "closing_atm_iv",
    "previous_close_oi",
]

log = logging.getLogger(__name__)

#: The previous day's closing OI comes from ticks received from this time (IST) on: a
#: streamed option ticks many times an hour, and an older last tick most likely belongs to a
#: contract no longer streamed (subscriptions re-centre as the index moves), whose OI may have
#: changed since.
CLOSE_OI_FROM: Final = time(14, 30)
#: A day's ATM IV is taken from the last ticks before this time (IST).
CLOSING_TIME: Final = time(15, 25)
#: ... received at most this many seconds before it: the index, the future and the nearest
#: expiry's ATM options tick many times a minute, so a day with nothing in these five minutes
#: has no close worth the name (and the files read stay few).
CLOSING_WINDOW_S: Final = 5 * 60
#: Folder of the ATM IV cache under the cache dir.
CACHE_FOLDER: Final = "atm_iv"
# Bump when the way a day's value is computed changes: old cache files are then ignored.
_CACHE_VERSION: Final = 1

_TICKS_DIR: Final = "ticks"
_PART: Final = re.compile(r"part-([0-9a-f]{32})-([0-9a-f]{32})\.parquet")
_DATE_DIR: Final = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_NS: Final = 1_000_000_000
_RECEIVED: Final = pa.timestamp("ns", tz="UTC")
_NO_OI_SEGMENTS: Final = (1, 4, 9)


class DailyAtmIv(msgspec.Struct, frozen=True):
    """One day's closing ATM IV, with the expiry, strike and forward it was read at."""

    day: date
    expiry: date
    strike: float
    forward: float
    atm_iv: float


@dataclass(frozen=True, slots=True)
class _Part:
    path: str
    size: int
    first_ns: int  # receive time of the first and last frame in the file
    last_ns: int
    last_key: bytes


# -- listing -------------------------------------------------------------------------------------
def _list(fs: pafs.FileSystem, folder: str, *, recursive: bool) -> list[pafs.FileInfo]:
    try:
        infos: list[pafs.FileInfo] = fs.get_file_info(
            pafs.FileSelector(folder, recursive=recursive, allow_not_found=True)
        )
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveError(f"the archive folder {folder} cannot be listed: {exc}", folder) from exc
    return infos


def archived_days(root: str | Path) -> list[date]:
    """The days that have ticks in the archive, oldest first."""
    fs, base = archive_filesystem(root)
    days = []
    for info in _list(fs, f"{base}/{_TICKS_DIR}", recursive=False):
        match = _DATE_DIR.fullmatch(info.base_name)
        if info.type == pafs.FileType.Directory and match:
            days.append(date.fromisoformat(match.group(1)))
    return sorted(days)


def _day_parts(fs: pafs.FileSystem, base: str, day: date) -> list[_Part]:
    """The tick files of `day`, of every collector."""
    parts = []
    for info in _list(fs, f"{base}/{_TICKS_DIR}/date={day.isoformat()}", recursive=True):
        match = _PART.fullmatch(info.base_name)
        if info.type != pafs.FileType.File or not match:
            continue  # temporary files of a roll in progress, anything foreign
        first, last = bytes.fromhex(match.group(1)), bytes.fromhex(match.group(2))
        parts.append(
            _Part(
                path=info.path,
                size=int(info.size or 0),
                first_ns=int.from_bytes(first[:8], "big"),
                last_ns=int.from_bytes(last[:8], "big"),
                last_key=last,
            )
        )
    return parts


def _read(
    fs: pafs.FileSystem,
    base: str,
    parts: Sequence[_Part],
    tokens: npt.NDArray[np.int64],
    columns: Sequence[str],
    condition: ds.Expression | None = None,
    on_event: EventSink | None = None,
) -> pa.Table:
    """The given columns of `tokens`' rows in `parts` that meet `condition`; a file that
    cannot be read is skipped and quarantined (`optui.store.quarantine`)."""
    expression = pc.field("instrument_token").isin(pa.array(tokens, pa.uint32()))
    if condition is not None:
        expression = expression & condition

    def dataset(paths: list[str]) -> ds.Dataset:
        return ds.dataset(paths, schema=TICK_SCHEMA, format=READ_FORMAT, filesystem=fs)

    tables = [
        scan_files(
            fs,
            base,
            [part.path],
            dataset,
            schema=TICK_SCHEMA,
            columns=columns,
            filter=expression,
            on_event=on_event,
        )
        for part in parts  # one at a time: previous_close_oi stops early
    ]
    if not tables:
        return TICK_SCHEMA.empty_table().select(list(columns))
    return pa.concat_tables(tables)


def _latest(table: pa.Table) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """(row of each token's latest tick in arrival order, the tokens), tokens ascending."""
    token = table.column("instrument_token").to_numpy().astype(np.int64)
    received = table.column("received").cast(pa.int64()).to_numpy()
    seq = table.column("frame_seq").to_numpy()
    packet = table.column("packet").to_numpy()
    order = np.lexsort((packet, seq, received, token))
    last = np.flatnonzero(np.append(np.diff(token[order]) != 0, True))
    return order[last], token[order[last]]


def _wanted(tokens: Iterable[int]) -> npt.NDArray[np.int64]:
    wanted = np.unique(np.fromiter((int(t) for t in tokens), dtype=np.int64))
    return wanted[(wanted > 0) & (wanted < 2**32)]


def _derivatives(tokens: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The tokens of derivative segments: cash stocks and indices (Kite segments 1 NSE,
    4 BSE, 9 indices) never carry OI, and each token without any would cost a whole day's
    read."""
    return tokens[~np.isin(tokens & 0xFF, _NO_OI_SEGMENTS)]


# -- previous day's OI ---------------------------------------------------------------------------
def previous_close_oi(
    root: str | Path,
    day: date,
    tokens: Iterable[int],
    *,
    calendar: TradingCalendar | None = None,
    on_event: EventSink | None = None,
) -> dict[int, int]:
    """The last OI of each of `tokens` on the trading day before `day`, from the archive.

    Read from that day's full-mode ticks received from `CLOSE_OI_FROM` (14:30 IST) on.
    Tokens without one (indices and stocks, which have no OI; contracts listed since or not
    streamed that afternoon; every token when the day was not collected) are absent from the
    result, so the chain shows their change in OI as unknown. Each listed derivative without a
    tick makes this read the whole afternoon, so pass the tokens on screen, not every listed
    one.
    """
    cal = calendar or TradingCalendar.default()
    previous = cal.previous_trading_day(day)
    wanted = _derivatives(_wanted(tokens))
    listed = read_instruments(root, previous, on_event=on_event)
    if listed is not None:  # a contract not listed that day cannot have ticked
        known = listed.column("instrument_token").to_numpy().astype(np.int64)
        wanted = wanted[np.isin(wanted, known)]
    fs, base = archive_filesystem(root)
    since_ns = epoch_at(previous, CLOSE_OI_FROM) * _NS
    parts = [p for p in _day_parts(fs, base, previous) if p.last_ns >= since_ns]
    parts.sort(key=lambda p: p.last_key, reverse=True)
    condition = (pc.field("mode") == MODE_FULL) & (
        pc.field("received") >= pa.scalar(since_ns, _RECEIVED)
    )
    n = len(wanted)
    found_oi = np.zeros(n, dtype=np.int64)
    # Arrival key of each token's latest tick so far: (received ns, frame seq, packet).
    key_received = np.full(n, -1, dtype=np.int64)
    key_seq = np.zeros(n, dtype=np.uint64)
    key_packet = np.zeros(n, dtype=np.int64)
    columns = ("instrument_token", "oi", "received", "frame_seq", "packet")
    for part in parts:
        # A token is settled once its latest tick is newer than anything this file (and, files
        # going newest first by their last frame, every file after it) can hold.
        open_ = key_received <= part.last_ns
        if not open_.any():
            break
        table = _read(fs, base, [part], wanted[open_], columns, condition, on_event)
        if table.num_rows == 0:
            continue
        rows, got = _latest(table)
        at = np.searchsorted(wanted, got)
        received = table.column("received").cast(pa.int64()).to_numpy()[rows]
        seq = table.column("frame_seq").to_numpy()[rows]
        packet = table.column("packet").to_numpy()[rows].astype(np.int64)
        newer = (received > key_received[at]) | (
            (received == key_received[at])
            & ((seq > key_seq[at]) | ((seq == key_seq[at]) & (packet > key_packet[at])))
        )
        at, rows = at[newer], rows[newer]
        key_received[at], key_seq[at], key_packet[at] = received[newer], seq[newer], packet[newer]
        found_oi[at] = table.column("oi").to_numpy()[rows]
    found = key_received >= 0
    return dict(zip(wanted[found].tolist(), found_oi[found].tolist(), strict=True))


# -- closing ATM IV ------------------------------------------------------------------------------
def _future_token(universe: Universe, underlying: str, expiry: date) -> int | None:
    day = np.datetime64(expiry, "D")
    for row in np.flatnonzero((universe.kind == Kind.FUTURE) & (universe.expiry == day)).tolist():
        if universe.name[row] == underlying:
            return int(universe.instrument_token[row])
    return None


def _snapshot(table: pa.Table) -> MarketSnapshot:
    """A market snapshot holding each token's latest row of `table`."""
    rows, tokens = _latest(table)
    picked = table.take(pa.array(rows))
    ticks = empty_ticks(len(rows))
    ticks["instrument_token"] = tokens
    for name in ("mode", "last_price", "average_traded_price", "close", "oi", "volume_traded"):
        ticks[name] = picked.column(name).to_numpy()
    stamps = pc.fill_null(picked.column("exchange_timestamp").cast(pa.int64()), 0)
    ticks["exchange_timestamp"] = stamps.to_numpy()
    received = picked.column("received").cast(pa.int64()).to_numpy() / _NS
    return MarketSnapshot(
        tokens=tokens.astype(np.uint32),
        ticks=ticks,
        received=received.astype(np.float64),
        packets=table.num_rows,
        frames=0,
        updated=float(received.max()) if len(received) else None,
    )


def _closing_atm_iv(
    root: str | Path,
    fs: pafs.FileSystem,
    base: str,
    parts: Sequence[_Part],
    underlying: str,
    day: date,
    *,
    rate: float,
    model: PricingModel,
    expiry_time: str,
    on_event: EventSink | None = None,
) -> DailyAtmIv | None:
    listed = read_instruments(root, day, on_event=on_event)
    if listed is None:
        return None
    try:
        universe = universe_from_instruments(listed, day, [underlying])
    except InstrumentsError:
        return None  # the underlying was not collected that day
    expiry = next((e for e in universe.expiries(underlying) if e > day), None)
    if expiry is None:
        return None
    chain = universe.chain(underlying, expiry)
    legs = np.concatenate((chain.calls, chain.puts))
    legs = legs[legs >= 0]
    tokens = [*universe.instrument_token[legs].tolist()]
    tokens.append(int(universe.instrument_token[universe.underlying[legs[0]]]))
    future = _future_token(universe, underlying, expiry)
    if future is not None:
        tokens.append(future)

    cutoff = epoch_at(day, CLOSING_TIME)
    start_ns, stop_ns = (cutoff - CLOSING_WINDOW_S) * _NS, cutoff * _NS
    window = [p for p in parts if p.first_ns < stop_ns and p.last_ns >= start_ns]
    received = pc.field("received")
    condition = (received >= pa.scalar(start_ns, _RECEIVED)) & (
        received < pa.scalar(stop_ns, _RECEIVED)
    )
    columns = (
        "instrument_token",
        "mode",
        "last_price",
        "average_traded_price",
        "close",
        "oi",
        "volume_traded",
        "exchange_timestamp",
        "received",
        "frame_seq",
        "packet",
    )
    table = _read(fs, base, window, _wanted(tokens), columns, condition, on_event)
    if table.num_rows == 0:
        return None
    built = build_chain(
        universe,
        _snapshot(table),
        underlying,
        expiry,
        now=float(cutoff),
        rate=rate,
        model=model,
        expiry_time=expiry_time,
    )
    if built.atm_iv is None or built.atm_strike is None or built.forward is None:
        return None
    return DailyAtmIv(
        day=day,
        expiry=expiry,
        strike=built.atm_strike,
        forward=built.forward,
        atm_iv=built.atm_iv,
    )


def closing_atm_iv(
    root: str | Path,
    underlying: str,
    day: date,
    *,
    rate: float = 0.0,
    model: PricingModel = "black76",
    expiry_time: str = "15:30",
    on_event: EventSink | None = None,
) -> DailyAtmIv | None:
    """`underlying`'s ATM IV at 15:25 IST on `day` (see the module docstring), or None when
    the archive lacks that day's instruments or ticks, or they give no ATM IV."""
    fs, base = archive_filesystem(root)
    return _closing_atm_iv(
        root,
        fs,
        base,
        _day_parts(fs, base, day),
        underlying,
        day,
        rate=rate,
        model=model,
        expiry_time=expiry_time,
        on_event=on_event,
    )


# -- the cached history --------------------------------------------------------------------------
class _Entry(msgspec.Struct, frozen=True):
    fingerprint: str
    value: DailyAtmIv | None


class _CacheFile(msgspec.Struct):
    version: int
    archive: str
    underlying: str
    model: str
    rate: float
    expiry_time: str
    days: dict[str, _Entry]


def _fingerprint(fs: pafs.FileSystem, base: str, day: date, parts: Sequence[_Part]) -> str:
    """Names and sizes of the day's tick and instruments files, hashed."""
    folder = f"{base}/{INSTRUMENTS_DIR}/date={day.isoformat()}"
    listed = [(info.path, int(info.size or 0)) for info in _list(fs, folder, recursive=True)]
    files = sorted([(p.path, p.size) for p in parts] + listed)
    return hashlib.sha256(repr(files).encode()).hexdigest()[:32]


def _cache_path(
    cache_dir: Path, archive: str, underlying: str, model: str, rate: float, expiry_time: str
) -> Path:
    what = (_CACHE_VERSION, archive, model, rate, expiry_time, str(CLOSING_TIME), CLOSING_WINDOW_S)
    key = hashlib.sha256(repr(what).encode()).hexdigest()[:16]
    return Path(cache_dir) / CACHE_FOLDER / f"{underlying}-{key}.json"


def _load_cache(path: Path, fresh: _CacheFile) -> _CacheFile:
    try:
        cached = msgspec.json.decode(path.read_bytes(), type=_CacheFile)
    except FileNotFoundError:
        return fresh
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("ATM IV cache %s is unreadable (%s); computing it again", path, exc)
        return fresh
    same = (cached.version, cached.archive, cached.underlying, cached.model) == (
        fresh.version,
        fresh.archive,
        fresh.underlying,
        fresh.model,
    ) and (cached.rate, cached.expiry_time) == (fresh.rate, fresh.expiry_time)
    return cached if same else fresh


def atm_iv_history(
    root: str | Path,
    underlying: str,
    before: date,
    days: int = 252,
    *,
    cache_dir: Path | None = None,
    rate: float = 0.0,
    model: PricingModel = "black76",
    expiry_time: str = "15:30",
    calendar: TradingCalendar | None = None,
    on_event: EventSink | None = None,
) -> list[DailyAtmIv]:
    """Closing ATM IVs of `underlying` on the archived days among the `days` trading days
    before `before`, oldest first; days without a value (not collected, no instruments, no
    ticks before 15:25) are left out. With `cache_dir`, each day is computed once (see the
    module docstring). Feed `[d.atm_iv for d in history]` to `build_chain`."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    cal = calendar or TradingCalendar.default()
    window = set(cal.last_trading_days(cal.previous_trading_day(before), days))
    fs, base = archive_filesystem(root)
    wanted = [d for d in archived_days(root) if d in window]

    path: Path | None = None
    cache = _CacheFile(
        version=_CACHE_VERSION,
        archive=f"{fs.type_name}:{base}",
        underlying=underlying,
        model=model,
        rate=float(rate),
        expiry_time=expiry_time,
        days={},
    )
    if cache_dir is not None:
        path = _cache_path(cache_dir, cache.archive, underlying, model, float(rate), expiry_time)
        cache = _load_cache(path, cache)

    history: list[DailyAtmIv] = []
    changed = False
    for day in wanted:
        parts = _day_parts(fs, base, day)
        fingerprint = _fingerprint(fs, base, day, parts)
        entry = cache.days.get(day.isoformat())
        if entry is None or entry.fingerprint != fingerprint:
            value = _closing_atm_iv(
                root,
                fs,
                base,
                parts,
                underlying,
                day,
                rate=rate,
                model=model,
                expiry_time=expiry_time,
                on_event=on_event,
            )
            if _day_parts(fs, base, day) != parts:  # a file was quarantined meanwhile
                fingerprint = _fingerprint(fs, base, day, _day_parts(fs, base, day))
            entry = _Entry(fingerprint=fingerprint, value=value)
            cache.days[day.isoformat()] = entry
            changed = True
        if entry.value is not None and math.isfinite(entry.value.atm_iv):
            history.append(entry.value)

    if path is not None and changed:
        try:
            write_private(path, msgspec.json.encode(cache))
        except OSError as exc:
            # Only a cache: the history is still right, the next call computes it again.
            log.warning("cannot write the ATM IV cache %s: %s", path, exc)
    return history
