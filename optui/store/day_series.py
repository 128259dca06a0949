"""What the premium overlay and the breadth board need from the archive, read sparingly.

The overlay (`optui.analytics.price_toggle.straddle_overlay`) needs one day of an index and of
its nearest expiry's options near the money; breadth needs, per stock, the volume of previous
days. Both are small slices of a day that holds every instrument's every tick, so this module
reads only the tokens and columns needed (`read_ticks(..., tokens=..., columns=...)`): the
index first, to learn the day's range, then only the options within a band of strikes around
that range. Memory is therefore bounded by the band, not by the archive. Each read includes the
journal's not-yet-rolled frames when a journal is given, so today is complete to the second.

Tick times are exchange times (`exchange_timestamp`) where the packet has one, else the
receive time: a replayed or sped-up demo day is then laid out on its own session clock, and
LTP and index-quote packets, which carry no exchange time, still place by arrival.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from datetime import time as dt_time
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from optui.analytics.price_toggle import (
    ChainLayout,
    ForwardMethod,
    StraddleSeries,
    StraddleSummary,
    straddle_overlay,
    summarize,
)
from optui.feed import reference
from optui.feed.calendar import MARKET_CLOSE, MARKET_OPEN, epoch_at
from optui.store.archive import JournalLike, read_ticks
from optui.store.instruments import read_instruments
from optui.store.quarantine import EventSink

__all__ = [
    "DEFAULT_BAND_STRIKES",
    "DailyVolumes",
    "DaySeries",
    "DaySeriesError",
    "chain_layout",
    "daily_volumes",
    "load_day_series",
    "overlay_history",
    "tick_times",
]

#: Strikes kept beyond the index's day low and high on each side (ATM plus the parity
#: forward's neighbours need two; the rest is margin for a forward off spot).
DEFAULT_BAND_STRIKES: Final = 5
_PRICE_COLUMNS: Final = (
    "instrument_token",
    "exchange_timestamp",
    "received",
    "last_price",
    "average_traded_price",
)
_VOLUME_COLUMNS: Final = ("instrument_token", "exchange_timestamp", "received", "volume_traded")
_NS: Final = 1_000_000_000


class DaySeriesError(ValueError):
    """The archive cannot give what was asked; the message says what is missing and why."""


@dataclass(frozen=True, slots=True)
class DaySeries:
    """One day's ticks of an index and its nearest-expiry options near the money.

    `time` (epoch seconds), `token`, `last` and `average` are per tick in arrival order;
    `start` and `end` bound the minutes to show (the session, clipped to the data).
    """

    day: date
    layout: ChainLayout
    time: npt.NDArray[np.float64]
    token: npt.NDArray[np.uint32]
    last: npt.NDArray[np.float64]
    average: npt.NDArray[np.float64]
    start: int
    end: int

    def overlay(self, forward: ForwardMethod = "parity", rate: float = 0.0) -> StraddleSeries:
        """The day's ATM straddle per minute on both prices."""
        return straddle_overlay(
            self.time,
            self.token,
            self.last,
            self.average,
            self.layout,
            self.day,
            forward=forward,
            rate=rate,
            start=self.start,
            end=self.end,
        )


def tick_times(table: pa.Table) -> npt.NDArray[np.float64]:
    """Epoch seconds of each row: its exchange time, or its receive time where it has none."""
    received = table.column("received").cast(pa.int64()).to_numpy(zero_copy_only=False) / _NS
    exchange = table.column("exchange_timestamp").cast(pa.int64())
    has_exchange = pc.is_valid(exchange).to_numpy(zero_copy_only=False)
    seconds = exchange.fill_null(0).to_numpy(zero_copy_only=False).astype(np.float64)
    return np.asarray(np.where(has_exchange, seconds, received), dtype=np.float64)


def _column(table: pa.Table, name: str) -> npt.NDArray[np.generic]:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False))


def _index_token(instruments: pa.Table, index_symbol: str) -> int:
    """The index's token from the day's list; the reference token when the list lacks it."""
    rows = instruments.filter(
        pc.and_(
            pc.equal(instruments["tradingsymbol"], index_symbol),
            pc.equal(instruments["segment"], "INDICES"),
        )
    )
    if rows.num_rows:
        return int(rows["instrument_token"][0].as_py())
    for spec in reference.index_specs():
        if spec.tradingsymbol == index_symbol:
            return spec.instrument_token
    raise DaySeriesError(f"the index {index_symbol!r} is neither in the day's list nor known")


def chain_layout(
    instruments: pa.Table, underlying: str, day: date, expiry: date | None = None
) -> ChainLayout:
    """The option chain of `underlying` for `expiry` (default: the nearest on or after `day`)
    from a day's instruments table (Kite's instruments.csv columns)."""
    specs = reference.derivative_specs()
    if underlying not in specs:
        raise DaySeriesError(
            f"unknown underlying {underlying!r}: use one of {', '.join(sorted(specs))}"
        )
    options = instruments.filter(
        pc.and_(
            pc.equal(instruments["name"], underlying),
            pc.is_in(instruments["instrument_type"], pa.array(["CE", "PE"])),
        )
    )
    expiries = sorted({date.fromisoformat(str(e)) for e in options["expiry"].to_pylist() if e})
    upcoming = [e for e in expiries if e >= day]
    if expiry is None:
        if not upcoming:
            raise DaySeriesError(
                f"the instruments list of {day} has no {underlying} option expiring on or "
                "after that day"
            )
        expiry = upcoming[0]
    elif expiry not in expiries:
        listed = ", ".join(str(e) for e in upcoming[:6]) or "none"
        raise DaySeriesError(
            f"{underlying} has no options expiring {expiry} in the list of {day} (listed: {listed})"
        )
    legs = options.filter(pc.equal(options["expiry"].cast(pa.string()), expiry.isoformat()))
    strike = np.asarray(legs["strike"].to_numpy(zero_copy_only=False), dtype=np.float64)
    token = np.asarray(legs["instrument_token"].to_numpy(zero_copy_only=False), dtype=np.int64)
    is_call = np.array([t == "CE" for t in legs["instrument_type"].to_pylist()], dtype=bool)
    strikes = np.unique(strike)
    calls = np.full(len(strikes), -1, dtype=np.int64)
    puts = np.full(len(strikes), -1, dtype=np.int64)
    at = np.searchsorted(strikes, strike)
    calls[at[is_call]] = token[is_call]
    puts[at[~is_call]] = token[~is_call]
    return ChainLayout(
        underlying=underlying,
        expiry=expiry,
        index_token=_index_token(instruments, specs[underlying].underlying_index),
        strikes=strikes,
        call_tokens=calls,
        put_tokens=puts,
    )


def _band(layout: ChainLayout, low: float, high: float, band_strikes: int) -> ChainLayout:
    """The layout's strikes from `band_strikes` below the day's low to as many above its high."""
    strikes = layout.strikes
    lo = max(int(np.searchsorted(strikes, low, side="right")) - 1 - band_strikes, 0)
    hi = min(int(np.searchsorted(strikes, high, side="left")) + 1 + band_strikes, len(strikes))
    return ChainLayout(
        underlying=layout.underlying,
        expiry=layout.expiry,
        index_token=layout.index_token,
        strikes=strikes[lo:hi],
        call_tokens=layout.call_tokens[lo:hi],
        put_tokens=layout.put_tokens[lo:hi],
    )


def load_day_series(
    root: str | Path,
    day: date,
    underlying: str,
    *,
    expiry: date | None = None,
    band_strikes: int = DEFAULT_BAND_STRIKES,
    journal: JournalLike | None = None,
    journal_collector: str | None = None,
    instruments: pa.Table | None = None,
    on_event: EventSink | None = None,
) -> DaySeries | None:
    """The overlay's input for `underlying` (NIFTY, ...) on IST date `day`, or None when the
    archive (and journal) hold no tick of its index that day.

    Reads the day's instruments list from the archive (unless given), the index's ticks, then
    the ticks of the `expiry` options (default: the nearest listed) whose strikes lie within
    `band_strikes` strikes of the index's day range. Unreadable archive files are skipped,
    quarantined and reported to `on_event` (`optui.store.quarantine`).
    """
    if band_strikes < 0:
        raise DaySeriesError(f"band_strikes={band_strikes}: must be 0 or more")
    if instruments is None:
        instruments = read_instruments(root, day, on_event=on_event)
    if instruments is None:
        raise DaySeriesError(
            f"the archive has no instruments list for {day}, so its option tokens cannot be "
            "told apart; the collector stores it each day (run `optui collect` on a trading day)"
        )
    full = chain_layout(instruments, underlying, day, expiry)
    index_ticks = read_ticks(
        root,
        day,
        day,
        tokens=[full.index_token],
        columns=_PRICE_COLUMNS,
        journal=journal,
        journal_collector=journal_collector,
        on_event=on_event,
    )
    index_last = index_ticks["last_price"].to_numpy(zero_copy_only=False)
    traded = index_last[index_last > 0]
    if len(traded) == 0:
        return None
    layout = _band(full, float(traded.min()), float(traded.max()), band_strikes)
    option_tokens = layout.tokens[1:]
    option_ticks = read_ticks(
        root,
        day,
        day,
        tokens=option_tokens.tolist(),
        columns=_PRICE_COLUMNS,
        journal=journal,
        journal_collector=journal_collector,
        on_event=on_event,
    )
    # Each read is in arrival order; the overlay needs that per token only, so the index's
    # ticks may simply precede the options'.
    ticks = pa.concat_tables([index_ticks, option_ticks])
    times = tick_times(ticks)
    open_epoch, close_epoch = epoch_at(day, MARKET_OPEN), epoch_at(day, MARKET_CLOSE)
    first, last = float(times.min()), float(times.max())
    start = max(open_epoch, int(first // 60 * 60))
    end = min(close_epoch, int(last) + 1)
    return DaySeries(
        day=day,
        layout=layout,
        time=times,
        token=_column(ticks, "instrument_token").astype(np.uint32),
        last=_column(ticks, "last_price").astype(np.float64),
        average=_column(ticks, "average_traded_price").astype(np.float64),
        start=start,
        end=max(end, start),
    )


def overlay_history(
    root: str | Path,
    days: Iterable[date],
    underlying: str,
    *,
    forward: ForwardMethod = "parity",
    rate: float = 0.0,
    band_strikes: int = DEFAULT_BAND_STRIKES,
    journal: JournalLike | None = None,
    journal_collector: str | None = None,
    on_event: EventSink | None = None,
) -> list[StraddleSummary]:
    """One overlay summary per day that was collected, oldest first (days without an
    instruments list or without ticks of the index are skipped: nothing was collected).

    One day is held in memory at a time; only its summary row is kept.
    """
    rows: list[StraddleSummary] = []
    for day in sorted(set(days)):
        instruments = read_instruments(root, day, on_event=on_event)
        if instruments is None:
            continue
        series = load_day_series(
            root,
            day,
            underlying,
            band_strikes=band_strikes,
            journal=journal,
            journal_collector=journal_collector,
            instruments=instruments,
            on_event=on_event,
        )
        if series is not None:
            rows.append(summarize(series.overlay(forward, rate)))
    return rows


@dataclass(frozen=True, slots=True)
class DailyVolumes:
    """Volume traded per day and token: `volume[d, i]` for `days[d]` and `tokens[i]`, NaN
    where the archive holds no traded volume of that token that day."""

    days: tuple[date, ...]
    tokens: npt.NDArray[np.uint32]
    volume: npt.NDArray[np.float64]

    def average(self) -> dict[int, float]:
        """Token -> mean volume over the days that have one (tokens with none left out)."""
        have = np.isfinite(self.volume)
        counts = have.sum(axis=0)
        sums = np.where(have, self.volume, 0.0).sum(axis=0)
        return {
            int(t): float(s / c)
            for t, s, c in zip(self.tokens.tolist(), sums, counts, strict=True)
            if c
        }


def daily_volumes(
    root: str | Path,
    days: Iterable[date],
    tokens: Iterable[int],
    *,
    until: dt_time | None = None,
    journal: JournalLike | None = None,
    journal_collector: str | None = None,
    on_event: EventSink | None = None,
) -> DailyVolumes:
    """Each day's volume per token: the final `volume_traded`, or with `until` (an IST time of
    day) the volume as of then, so today's volume so far compares like with like.

    Read one day at a time, four columns of the wanted tokens only. A day's volume is the
    largest cumulative `volume_traded` seen (robust to a late packet); 0 counts as none,
    since a packet without volume (an index, an LTP packet) reports 0.
    """
    wanted = np.unique(np.fromiter((int(t) for t in tokens), dtype=np.uint32))
    day_list: Sequence[date] = sorted(set(days))
    volume = np.full((len(day_list), len(wanted)), np.nan)
    for d, day in enumerate(day_list):
        if len(wanted) == 0:
            break
        table = read_ticks(
            root,
            day,
            day,
            tokens=wanted.tolist(),
            columns=_VOLUME_COLUMNS,
            journal=journal,
            journal_collector=journal_collector,
            sort=False,
            on_event=on_event,
        )
        if table.num_rows == 0:
            continue
        token = table["instrument_token"].to_numpy(zero_copy_only=False)
        vol = table["volume_traded"].to_numpy(zero_copy_only=False).astype(np.float64)
        if until is not None:
            cutoff = epoch_at(day, until)
            keep = tick_times(table) <= cutoff
            token, vol = token[keep], vol[keep]
        if len(token) == 0:
            continue
        col = np.searchsorted(wanted, token)
        best = np.zeros(len(wanted))
        np.maximum.at(best, col, vol)
        volume[d] = np.where(best > 0, best, np.nan)
    return DailyVolumes(days=tuple(day_list), tokens=wanted, volume=volume)
