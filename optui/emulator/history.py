"""Candles for `/instruments/historical`: what the emulator itself has streamed, per minute.

Kite serves candles from its own store; the emulator has no past beyond its market, so it
answers with what it knows:

- intraday intervals (``minute`` ... ``60minute``) of the simulated session: candles it
  aggregated from the tick rounds it generated *since it started* (earlier minutes of the
  session, which the market fast-forwarded through, have none). The first candle's volume
  counts from the first round seen. Candles start at 09:15 IST as Kite's do, the one still
  forming included;
- ``day``: the simulated session (from the latest tick: the day's open, high, low, last,
  volume and OI) and the previous session, whose candle carries only what the market keeps
  of it: its close as open, high, low and close, no volume, and the closing OI.

Prices are kept in paise (int32) and volumes/OI as int64, 32 bytes per instrument-minute.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from optui.feed.calendar import IST

__all__ = ["INTERVALS", "Candle", "MinuteCandles", "candle_time"]

# Kite's interval names and their length in minutes (day: handled apart).
INTERVALS: Final[dict[str, int]] = {
    "minute": 1,
    "3minute": 3,
    "5minute": 5,
    "10minute": 10,
    "15minute": 15,
    "30minute": 30,
    "60minute": 60,
    "day": 0,
}

_BAR: Final = np.dtype(
    [
        ("open", np.int32),
        ("high", np.int32),
        ("low", np.int32),
        ("close", np.int32),
        ("volume", np.int64),
        ("oi", np.int64),
    ]
)


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle: start (epoch seconds), prices in rupees, volume, OI."""

    start: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: int

    def row(self, with_oi: bool) -> list[object]:
        """Kite's candle array: [time, open, high, low, close, volume(, oi)]."""
        out: list[object] = [
            candle_time(self.start),
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
        ]
        if with_oi:
            out.append(self.oi)
        return out


def candle_time(epoch: int) -> str:
    """Kite's candle timestamp: ``2024-01-05T09:15:00+0530``."""
    return datetime.fromtimestamp(epoch, IST).strftime("%Y-%m-%dT%H:%M:%S%z")


def day_start(day: date) -> int:
    """Epoch of 00:00 IST on `day` (where Kite stamps day candles)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=IST).timestamp())


def _paise(prices: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    return np.rint(prices * 100.0).astype(np.int32)


class MinuteCandles:
    """Per-minute OHLC, volume and OI of every instrument, from full tick rounds.

    `add` is called by the websocket loop with each round (every instrument, in universe
    order); `candles` by REST threads. A lock keeps them apart.
    """

    def __init__(self, size: int, open_epoch: int) -> None:
        self._size = size
        self._open = int(open_epoch)
        self._lock = threading.Lock()
        self._starts: list[int] = []
        self._bars: list[npt.NDArray[np.void]] = []  # closed minutes
        self._current: npt.NDArray[np.void] | None = None
        self._current_start = -1
        self._volume_base: npt.NDArray[np.int64] | None = None
        self._last_volume: npt.NDArray[np.int64] | None = None

    def add(self, ticks: npt.NDArray[np.void]) -> None:
        """Fold one tick round (all rows, one exchange timestamp) into its minute."""
        if len(ticks) != self._size:
            raise ValueError(f"a round holds {self._size} rows, got {len(ticks)}")
        stamp = int(ticks["exchange_timestamp"].max())
        minute = stamp - stamp % 60
        price = _paise(ticks["last_price"])
        volume = ticks["volume_traded"].astype(np.int64)
        with self._lock:
            if minute != self._current_start or self._current is None:
                if self._current is not None:
                    self._starts.append(self._current_start)
                    self._bars.append(self._current)
                bar = np.zeros(self._size, dtype=_BAR)
                bar["open"] = bar["high"] = bar["low"] = price
                self._current = bar
                self._current_start = minute
                self._volume_base = volume if self._last_volume is None else self._last_volume
            else:
                bar = self._current
                np.maximum(bar["high"], price, out=bar["high"])
                np.minimum(bar["low"], price, out=bar["low"])
            bar["close"] = price
            assert self._volume_base is not None
            bar["volume"] = np.maximum(volume - self._volume_base, 0)
            bar["oi"] = ticks["oi"]
            self._last_volume = volume

    def candles(self, row: int, minutes: int, start: int, end: int) -> list[Candle]:
        """Candles of `minutes` (1, 3, ... 60) for one instrument whose start lies in
        [start, end], aligned to the session's 09:15 open."""
        with self._lock:
            starts = list(self._starts)
            bars = [b[row] for b in self._bars]
            if self._current is not None:
                starts.append(self._current_start)
                bars.append(self._current[row].copy())
        out: list[Candle] = []
        span = 60 * minutes
        for t, bar in zip(starts, bars, strict=True):
            bucket = self._open + (t - self._open) // span * span
            o, h, lo, c = (int(bar[k]) for k in ("open", "high", "low", "close"))
            v, oi = int(bar["volume"]), int(bar["oi"])
            if out and out[-1].start == bucket:
                last = out[-1]
                out[-1] = Candle(
                    bucket,
                    last.open,
                    max(last.high, h / 100),
                    min(last.low, lo / 100),
                    c / 100,
                    last.volume + v,
                    oi,
                )
            else:
                out.append(Candle(bucket, o / 100, h / 100, lo / 100, c / 100, v, oi))
        return [c for c in out if start <= c.start <= end]


def day_range(first: date, last: date) -> list[date]:
    """Every calendar day from `first` to `last`, inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
