"""The premium overlay recorded live: each index's ATM straddle, minute by minute, from the
market snapshots the screens are given.

The archive holds past days (`optui.store.day_series`), but the TUI on the demo or on a fresh
install has none, and even with one, today's minutes are not rolled yet. So the price-toggle
screen records its own series: every sample of a `MarketSnapshot` keeps, for the minute of the
market time it was taken at, the last and average price of the index and of the options at
the `band` strikes each side of the strike nearest the index. A later sample in the same
minute replaces the earlier one, so each minute holds the state at its close, as the
archive's overlay does.

Nothing is computed here that `optui.analytics.price_toggle` computes: the recorded samples
are handed to `straddle_overlay` as ticks (one per instrument and minute) and the summary
comes from `summarize`, so the forward, the ATM strike, the straddles, the spread and the
efficiency score are exactly those of the archive's overlay for the same states. Two rules
keep it that way:

- an option that leaves the band is recorded once as unpriced (price 0, which the overlay
  reads as "no price"), so a stale price from an hour ago can never be picked as ATM;
- a minute that was never sampled (the app was closed, the feed stalled) is a gap, NaN in
  every field, not a copy of the minute before: the overlay would carry the last state
  forward, which would show a straddle nobody observed.

The keys are market minutes (the newest exchange timestamp), not the wall clock, so a replay
at 60x records a minute per second and a test moves the series on by moving the market.
Memory is bounded: at most one day of minutes per index, about 25 prices a minute.

No Textual here (pure, so tests drive it with snapshots of the demo market).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from optui.analytics.price_toggle import (
    ChainLayout,
    ForwardMethod,
    StraddleSeries,
    StraddleSummary,
    straddle_overlay,
    summarize,
)
from optui.feed.calendar import IST, ist_date
from optui.feed.state import MarketSnapshot
from optui.feed.universe import Universe

__all__ = [
    "BAND_STRIKES",
    "MAX_MINUTES",
    "SAMPLE_EVERY_S",
    "StraddleRecorder",
    "index_layout",
    "recorded_rows",
]

BAND_STRIKES: Final = 5
"""Strikes recorded each side of the strike nearest the index: the ATM strike and the three
strikes of the parity forward lie within two; the rest is room for a forward off spot."""
SAMPLE_EVERY_S: Final = 5.0
"""Market seconds between two samples within a minute: the day's overlay is recomputed on
each sample (a few ms for five indices), not on every redraw."""
MAX_MINUTES: Final = 24 * 60
"""Minutes kept per index (one day: a new day starts a new series)."""
_MINUTE: Final = 60

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def index_layout(universe: Universe, underlying: str, day: date) -> ChainLayout | None:
    """The chain of `underlying`'s nearest expiry on or after `day` (as the archive's overlay
    picks it), with instrument tokens; None when the universe lists no such options."""
    expiries = [e for e in universe.expiries(underlying) if e >= day]
    if not expiries:
        return None
    chain = universe.chain(underlying, expiries[0])
    legs = np.concatenate([chain.calls, chain.puts])
    listed = legs[legs >= 0]
    if len(listed) == 0:
        return None
    tokens = universe.instrument_token.astype(np.int64)
    index_row = int(universe.underlying[int(listed[0])])
    return ChainLayout(
        underlying=underlying,
        expiry=expiries[0],
        index_token=int(tokens[index_row]),
        strikes=np.asarray(chain.strikes, dtype=np.float64),
        call_tokens=np.where(chain.calls >= 0, tokens[chain.calls], -1).astype(np.int64),
        put_tokens=np.where(chain.puts >= 0, tokens[chain.puts], -1).astype(np.int64),
    )


@dataclass(frozen=True, eq=False)
class _Sample:
    """One index's prices at one minute's latest sample."""

    time: float
    token: IntArray
    last: FloatArray
    average: FloatArray
    band: frozenset[int]
    """The option tokens that were in the band (recorded with their prices)."""


class _Track:
    """One index's recorded minutes and the overlay computed from them (cached)."""

    def __init__(self, layout: ChainLayout) -> None:
        self.layout = layout
        self.samples: dict[int, _Sample] = {}
        self.strikes: tuple[int, int] | None = None
        """Lowest and highest strike position of the chain ever recorded today."""
        self.series: StraddleSeries | None = None
        self.summary: StraddleSummary | None = None
        self.dirty = False


class StraddleRecorder:
    """Each index's ATM straddle on last and average prices, per market minute."""

    def __init__(
        self,
        universe: Universe,
        underlyings: Iterable[str],
        *,
        rate: float = 0.0,
        forward: ForwardMethod = "parity",
        band: int = BAND_STRIKES,
        every: float = SAMPLE_EVERY_S,
        day: date | None = None,
    ) -> None:
        if band < 2:
            raise ValueError(f"band={band}: the ATM strike and the parity forward need 2 or more")
        self.universe = universe
        self.rate = rate
        self.forward: ForwardMethod = forward
        self.band = band
        self.every = every
        self._sampled_at: float | None = None
        self._sampled_packets = -1
        self.day = day or universe.session
        self._tracks: dict[str, _Track] = {}
        self.unlisted: list[str] = []
        """Underlyings asked for that have no options in the universe (said on screen)."""
        for name in underlyings:
            layout = index_layout(universe, name, self.day)
            if layout is None:
                self.unlisted.append(name)
            else:
                self._tracks[name] = _Track(layout)
        self.recording_day: date | None = None
        self.revision = 0
        """Counts the samples that changed the recording (a screen redraws when it moves)."""

    @property
    def underlyings(self) -> list[str]:
        return list(self._tracks)

    def layout(self, underlying: str) -> ChainLayout:
        return self._tracks[underlying].layout

    def minutes(self, underlying: str) -> list[int]:
        """The minutes recorded (epoch seconds of each minute's start), oldest first."""
        return sorted(self._tracks[underlying].samples)

    # -- recording ------------------------------------------------------------------------
    def sample(self, snapshot: MarketSnapshot, market_time: float | None) -> bool:
        """Record the state of `snapshot` for the minute of `market_time`; True when
        anything recorded changed. A sample from another IST day starts over."""
        if market_time is None or not np.isfinite(market_time) or not len(snapshot.ticks):
            return False
        minute = int(market_time // _MINUTE) * _MINUTE
        last = self._sampled_at
        # Throttled to one sample per `every` market seconds; but more ticks stamped with the
        # very same market time (a second's frames split over several polls) are sampled
        # again, so a minute never keeps a half-applied second.
        if (
            last is not None
            and int(last // _MINUTE) * _MINUTE == minute
            and 0 <= market_time - last < self.every
            and not (market_time == last and snapshot.packets != self._sampled_packets)
        ):
            return False
        self._sampled_at = market_time
        self._sampled_packets = snapshot.packets
        today = ist_date(minute)
        if self.recording_day != today:
            for track in self._tracks.values():
                track.samples.clear()
                track.strikes = None
                track.series = track.summary = None
                track.dirty = False
            self.recording_day = today
        changed = False
        for track in self._tracks.values():
            taken = self._take(track, snapshot, minute, market_time)
            if taken is None:
                continue
            old = track.samples.get(minute)
            if old is not None and _same(old, taken):
                continue
            track.samples[minute] = taken
            while len(track.samples) > MAX_MINUTES:
                del track.samples[min(track.samples)]
            track.dirty = changed = True
        if changed:
            self.revision += 1
        return changed

    def _take(
        self, track: _Track, snapshot: MarketSnapshot, minute: int, at: float
    ) -> _Sample | None:
        layout = track.layout
        index_row = int(snapshot.rows([layout.index_token])[0])
        if index_row < 0:
            return None
        ticks = snapshot.ticks
        spot = float(ticks["last_price"][index_row])
        if not spot > 0 or len(layout.strikes) == 0:
            return None
        near = int(np.argmin(np.abs(layout.strikes - spot)))
        lo, hi = max(near - self.band, 0), min(near + self.band + 1, len(layout.strikes))
        seen = track.strikes
        track.strikes = (lo, hi) if seen is None else (min(seen[0], lo), max(seen[1], hi))
        legs = np.concatenate([layout.call_tokens[lo:hi], layout.put_tokens[lo:hi]])
        legs = legs[legs >= 0]
        rows = snapshot.rows(legs)
        ticked = rows >= 0
        band = frozenset(int(t) for t in legs.tolist())
        # Options of the previous minute's band that left it: recorded unpriced (0).
        before = [m for m in track.samples if m < minute]
        left = sorted(track.samples[max(before)].band - band) if before else []
        token = np.concatenate([[layout.index_token], legs[ticked], left]).astype(np.int64)
        picked = rows[ticked]
        zeros = np.zeros(len(left))
        last = np.concatenate([[spot], ticks["last_price"][picked].astype(np.float64), zeros])
        average = np.concatenate(
            [[np.nan], ticks["average_traded_price"][picked].astype(np.float64), zeros]
        )
        return _Sample(float(at), token, last, average, band)

    # -- results --------------------------------------------------------------------------
    def series(self, underlying: str) -> StraddleSeries | None:
        """The recorded minutes as the overlay: one row per minute from the first recorded
        to the last, NaN in the minutes not recorded; None before the first sample."""
        track = self._tracks[underlying]
        if track.dirty or (track.series is None and track.samples):
            track.series = self._overlay(track)
            track.summary = summarize(track.series) if track.series is not None else None
            track.dirty = False
        return track.series

    def summary(self, underlying: str) -> StraddleSummary | None:
        """`summarize` of the recorded series: tracking, noise, efficiency score."""
        self.series(underlying)
        return self._tracks[underlying].summary

    def _overlay(self, track: _Track) -> StraddleSeries | None:
        if not track.samples:
            return None
        minutes = sorted(track.samples)
        samples = [track.samples[m] for m in minutes]
        token = np.concatenate([s.token for s in samples])
        time = np.concatenate([np.full(len(s.token), s.time) for s in samples])
        last = np.concatenate([s.last for s in samples])
        average = np.concatenate([s.average for s in samples])
        layout = _narrowed(track.layout, track.strikes)
        start, end = minutes[0], minutes[-1] + _MINUTE
        series = straddle_overlay(
            time,
            token,
            last,
            average,
            layout,
            ist_date(start),
            forward=self.forward,
            rate=self.rate,
            start=start,
            end=end,
        )
        return _mask_unrecorded(series, np.isin(series.minute, minutes))


def _same(a: _Sample, b: _Sample) -> bool:
    """Same prices (the time within the minute does not matter)."""
    return (
        np.array_equal(a.token, b.token)
        and np.array_equal(a.last, b.last, equal_nan=True)
        and np.array_equal(a.average, b.average, equal_nan=True)
    )


def _narrowed(layout: ChainLayout, strikes: tuple[int, int] | None) -> ChainLayout:
    """`layout` cut to the strikes from the lowest to the highest one recorded: the overlay's
    grid then spans the strikes the index visited, not the whole chain."""
    if strikes is None:
        return layout
    cut = slice(*strikes)
    return replace(
        layout,
        strikes=layout.strikes[cut],
        call_tokens=layout.call_tokens[cut],
        put_tokens=layout.put_tokens[cut],
    )


def _mask_unrecorded(series: StraddleSeries, recorded: npt.NDArray[np.bool_]) -> StraddleSeries:
    """NaN in the minutes nothing was recorded in (the overlay would carry the minute before
    forward), and no re-centre counted next to one."""
    if bool(recorded.all()):
        return series

    def gap(values: FloatArray) -> FloatArray:
        return np.where(recorded, values, np.nan)

    both = recorded.copy()
    both[1:] &= recorded[:-1]
    return replace(
        series,
        spot=gap(series.spot),
        forward=gap(series.forward),
        atm_strike=gap(series.atm_strike),
        straddle_last=gap(series.straddle_last),
        straddle_average=gap(series.straddle_average),
        spread=gap(series.spread),
        spread_pct=gap(series.spread_pct),
        recentred=series.recentred & both,
    )


def recorded_rows(
    recorder: StraddleRecorder, underlyings: Sequence[str]
) -> list[dict[str, object]]:
    """Every recorded minute of `underlyings`, one row each, for export."""
    rows: list[dict[str, object]] = []
    for name in underlyings:
        series = recorder.series(name)
        if series is None:
            continue
        for i in range(len(series)):
            if not np.isfinite(series.spot[i]):
                continue
            rows.append(
                {
                    "underlying": name,
                    "expiry": series.expiry.isoformat(),
                    "minute": datetime.fromtimestamp(int(series.minute[i]), IST).isoformat(),
                    "spot": _num(series.spot[i]),
                    "forward": _num(series.forward[i]),
                    "atm_strike": _num(series.atm_strike[i]),
                    "straddle_last": _num(series.straddle_last[i]),
                    "straddle_average": _num(series.straddle_average[i]),
                    "spread": _num(series.spread[i]),
                    "spread_pct": _num(series.spread_pct[i]),
                }
            )
    return rows


def _num(value: float) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None
