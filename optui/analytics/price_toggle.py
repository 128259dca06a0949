"""Which price a view shows, last traded or the day's average, and how far apart the two run.

**The toggle.** One switch, :data:`PriceBasis`, decides for every view; `shown_price` is the
only place the choice is applied, so the chain, the boards and the overlay cannot disagree.
Kite's ``average_traded_price`` is the exchange's volume-weighted average of the day's trades
(the day VWAP). Index packets carry none, and LTP-mode packets carry none either; there, and
wherever the average is still 0 (nothing traded yet), the last price is shown, because a 0
would read as a crash.

**The premium overlay** (`straddle_overlay`) answers "how much does the choice matter today?"
for an index: its ATM straddle (call + put at the strike nearest the forward) minute by
minute on both prices. Each minute uses the state at the minute's close (the latest tick of
each instrument at or before it), that minute's forward (the index level, or the put-call
parity forward of the strikes nearest it) and that minute's ATM strike, so the straddle
re-centres as the index moves. The last-price straddle is `C_last + P_last`, the
average-price straddle `C_avg + P_avg` of the same strike; their spread is
``last - average`` in rupees and in % of the average.

**The efficiency score** summarises a day's overlay in one number, computed identically for
every index (the inputs are dimensionless ratios) so indices and days compare::

    s_t      = (straddle_last_t - straddle_avg_t) / straddle_avg_t      (each minute t)
    tracking = median_t |s_t|                                          (in %)
    noise    = std_t (s_t - s_{t-1}), over consecutive minutes whose
               ATM strike is the same                                  (in %)
    score    = 100 / (1 + tracking / 2% + noise / 0.5%)

Higher is better: 100 when the last price sits on the VWAP all day; 50 when the last-price
straddle runs a typical 2% off its VWAP without jitter, or jitters 0.5% a minute around it;
towards 0 as either grows. `tracking` is a median so that a few minutes (the open, a spike)
do not dominate it. `noise` skips the minutes where the ATM strike changed, because there
both prices switch to another strike's contracts: that jump measures how fast the index
moved and how wide its strikes are, not how noisy its last prices are, and counting it would
mark an index with finer strikes as noisier. The two scales are fixed constants
(`TRACKING_SCALE_PCT`, `NOISE_SCALE_PCT`), the same for every index and day, so scores
compare; they were chosen so that an ordinary session of the demo market (an ATM straddle
that decays a few percent while its VWAP lags: tracking 1.3-4%, noise 0.3-0.6%) scores
25-45, the day before expiry about 15 and an expiry day (the straddle decays to nothing under
a lagging VWAP: tracking 35-50%) under 5, leaving room above and below for real days.

`summarize_days` gives the same summary per past day, one row each, so a day can be set
against the ones before it. Minutes where either straddle cannot be priced (no tick yet, an
average of 0) are left out of every statistic and reported as missing.

This module must not import Textual or anything from `optui.tui`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from optui.feed.calendar import MARKET_CLOSE, epoch_at
from optui.feed.codec import Ticks
from optui.settings import PRICE_BASES, PriceBasis

__all__ = [
    "NOISE_SCALE_PCT",
    "PRICE_BASES",
    "TRACKING_SCALE_PCT",
    "ChainLayout",
    "FloatArray",
    "ForwardMethod",
    "PriceBasis",
    "StraddleSeries",
    "StraddleSummary",
    "efficiency_score",
    "minute_closes",
    "pick_price",
    "shown_price",
    "straddle_overlay",
    "summarize",
    "summarize_days",
    "toggle",
]

FloatArray = npt.NDArray[np.float64]
ForwardMethod = Literal["spot", "parity"]

#: A tracking error of this much (median |last - avg| / avg, in %) alone halves the score.
TRACKING_SCALE_PCT: Final = 2.0
#: A minute-to-minute jitter of this much (std of the change of the relative spread, in %)
#: alone halves the score.
NOISE_SCALE_PCT: Final = 0.5
#: Strikes whose parity forwards are combined (a median) each minute.
PARITY_STRIKES: Final = 3
_MINUTE: Final = 60


# -- the toggle ----------------------------------------------------------------------------------
def pick_price(last: npt.ArrayLike, average: npt.ArrayLike, basis: PriceBasis) -> FloatArray:
    """`shown_price` on bare arrays: the average where it is a positive number, else last."""
    last_arr = np.asarray(last, dtype=np.float64)
    if basis == "last":
        return last_arr.copy()
    if basis != "average":
        raise ValueError(f"price basis {basis!r}: must be one of {', '.join(PRICE_BASES)}")
    avg = np.asarray(average, dtype=np.float64)
    # NaN > 0 is False, so a missing average falls back too.
    return np.where(avg > 0.0, avg, last_arr).astype(np.float64, copy=False)


def shown_price(ticks: Ticks, basis: PriceBasis) -> FloatArray:
    """The price to show for each tick row (any array with `last_price` and
    `average_traded_price` fields, e.g. `MarketSnapshot.ticks`): last price, or the day's
    average falling back to the last price where the average is 0 or absent."""
    names = ticks.dtype.names or ()
    if "last_price" not in names:
        raise ValueError("shown_price needs tick rows with a 'last_price' field")
    if basis == "average" and "average_traded_price" in names:
        return pick_price(ticks["last_price"], ticks["average_traded_price"], basis)
    return pick_price(ticks["last_price"], ticks["last_price"], basis)


def toggle(basis: PriceBasis) -> PriceBasis:
    """The other basis: what the price-toggle key switches to."""
    if basis == "last":
        return "average"
    if basis == "average":
        return "last"
    raise ValueError(f"price basis {basis!r}: must be one of {', '.join(PRICE_BASES)}")


# -- minute closes -------------------------------------------------------------------------------
def minute_closes(
    time: npt.ArrayLike,
    token: npt.ArrayLike,
    values: Iterable[npt.ArrayLike],
    tokens: npt.ArrayLike,
    start: int,
    minutes: int,
) -> list[FloatArray]:
    """Each value's state at the close of each minute, per wanted token.

    `time` (epoch seconds), `token` and every array of `values` are per tick, in arrival
    order. The result has one (minutes, len(tokens)) array per value: row m is the latest
    tick of each token received before `start + 60 * (m + 1)`, NaN before its first tick.
    Ticks before `start` count as the state at the first minute; ticks from the end on and
    tokens not wanted are ignored.
    """
    t = np.asarray(time, dtype=np.float64)
    tok = np.asarray(token, dtype=np.int64)
    wanted = np.asarray(tokens, dtype=np.int64)
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    for v in arrays:
        if v.shape != t.shape:
            raise ValueError("time, token and every value array need one entry per tick")
    if tok.shape != t.shape:
        raise ValueError("time, token and every value array need one entry per tick")
    n_tok = len(wanted)
    out = [np.full((max(minutes, 0), n_tok), np.nan) for _ in arrays]
    if minutes <= 0 or n_tok == 0 or len(t) == 0:
        return out

    order = np.argsort(wanted, kind="stable")
    sorted_wanted = wanted[order]
    at = np.searchsorted(sorted_wanted, tok)
    at_clipped = np.minimum(at, n_tok - 1)
    known = (at < n_tok) & (sorted_wanted[at_clipped] == tok)
    minute = np.floor((t - start) / _MINUTE)
    keep = known & (minute < minutes) & np.isfinite(t)
    col = order[at_clipped[keep]]
    row = np.maximum(minute[keep], 0).astype(np.int64)
    key = row * n_tok + col
    # The last tick of each (minute, token) in arrival order: first occurrence when reversed.
    reversed_key = key[::-1]
    cells, first = np.unique(reversed_key, return_index=True)
    last_tick = np.flatnonzero(keep)[len(key) - 1 - first]

    flat_filled = np.zeros(minutes * n_tok, dtype=bool)
    flat_filled[cells] = True
    filled = flat_filled.reshape(minutes, n_tok)
    # Forward fill: each cell takes the row of the latest filled cell at or above it.
    source_row = np.where(filled, np.arange(minutes)[:, None], 0)
    np.maximum.accumulate(source_row, axis=0, out=source_row)
    columns = np.arange(n_tok)[None, :]
    for v, dest in zip(arrays, out, strict=True):
        flat = np.full(minutes * n_tok, np.nan)
        flat[cells] = v[last_tick]
        # A column never filled reads its row 0, which is NaN: no tick yet.
        dest[:] = flat.reshape(minutes, n_tok)[source_row, columns]
    return out


# -- the overlay ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChainLayout:
    """Which tokens make an index's chain: strikes ascending, -1 where a leg is not listed."""

    underlying: str  # NIFTY, BANKNIFTY, ...
    expiry: date
    index_token: int
    strikes: FloatArray
    call_tokens: npt.NDArray[np.int64]
    put_tokens: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        n = len(self.strikes)
        if len(self.call_tokens) != n or len(self.put_tokens) != n:
            raise ValueError("strikes, call_tokens and put_tokens must have the same length")
        if n > 1 and not bool(np.all(np.diff(self.strikes) > 0)):
            raise ValueError("strikes must be strictly ascending")

    @property
    def tokens(self) -> npt.NDArray[np.int64]:
        """Every listed token of the layout: the index, then the options."""
        legs = np.concatenate([self.call_tokens, self.put_tokens])
        return np.concatenate([[self.index_token], np.unique(legs[legs >= 0])]).astype(np.int64)


@dataclass(frozen=True, slots=True)
class StraddleSeries:
    """An index's ATM straddle minute by minute, on last and average prices.

    `minute` is each minute's start (epoch seconds, IST minutes 09:15, 09:16, ...); every
    value is the state at that minute's close. NaN where the straddle cannot be priced.
    """

    underlying: str
    day: date
    expiry: date
    forward_method: ForwardMethod
    minute: npt.NDArray[np.int64]
    spot: FloatArray
    forward: FloatArray
    atm_strike: FloatArray
    straddle_last: FloatArray
    straddle_average: FloatArray
    spread: FloatArray  # last - average, rupees
    spread_pct: FloatArray  # 100 * (last - average) / average
    recentred: npt.NDArray[np.bool_]  # the ATM strike differs from the previous minute's

    def __len__(self) -> int:
        return len(self.minute)


@dataclass(frozen=True, slots=True)
class StraddleSummary:
    """One day of an index's overlay in a row; percentages are of the average straddle."""

    underlying: str
    day: date
    expiry: date
    minutes: int  # minutes with both straddles priced
    missing: int  # minutes of the grid without them
    open_last: float | None
    open_average: float | None
    close_last: float | None
    close_average: float | None
    mean_spread_pct: float | None  # signed: > 0 when last ran above the VWAP on average
    tracking_pct: float | None
    noise_pct: float | None
    efficiency: float | None  # 0-100, see the module docstring
    recentres: int


def _parity_forward(
    strikes: FloatArray, call: FloatArray, put: FloatArray, spot: FloatArray, growth: FloatArray
) -> FloatArray:
    """Per minute: median of K + (C - P) * growth over the strikes nearest spot with both
    prices; spot where no strike has both (or spot is unknown)."""
    implied = strikes[None, :] + (call - put) * growth[:, None]
    usable = np.isfinite(implied)
    distance = np.where(usable, np.abs(strikes[None, :] - spot[:, None]), np.inf)
    distance = np.where(np.isfinite(spot)[:, None], distance, np.inf)
    k = min(PARITY_STRIKES, strikes.shape[0])
    if k == 0:
        return spot.copy()
    nearest = np.argsort(distance, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(implied, nearest, axis=1)
    picked_ok = np.isfinite(np.take_along_axis(distance, nearest, axis=1))
    picked = np.where(picked_ok, picked, np.nan)
    has_any = picked_ok.any(axis=1)
    forward = spot.copy()
    if has_any.any():
        forward[has_any] = np.nanmedian(picked[has_any], axis=1)
    return forward


def straddle_overlay(
    time: npt.ArrayLike,
    token: npt.ArrayLike,
    last: npt.ArrayLike,
    average: npt.ArrayLike,
    layout: ChainLayout,
    day: date,
    *,
    forward: ForwardMethod = "parity",
    rate: float = 0.0,
    start: int | None = None,
    end: int | None = None,
) -> StraddleSeries:
    """The ATM straddle of `layout`'s index per minute, on last and on average prices.

    `time` (epoch seconds), `token`, `last` and `average` describe the day's ticks of the
    index and of the layout's options, in arrival order. The minute grid runs from `start`
    to `end` (epoch seconds; default: the minutes of the first and last tick). `forward`:
    ``"spot"`` centres on the index level; ``"parity"`` on the median put-call parity forward
    ``K + (C - P) * exp(r t)`` of the three strikes nearest the index with both last prices
    (t to 15:30 IST on expiry day; the index level where none has both). The ATM strike is the
    listed strike nearest the forward among those whose call and put both have a price at
    that minute, the lower one on a tie. A price of 0 or less (an LTP packet's missing
    average, say) counts as no price, so it can neither fake a zero spread nor a straddle.
    """
    if forward not in ("spot", "parity"):
        raise ValueError(f"forward {forward!r}: must be 'spot' or 'parity'")
    t = np.asarray(time, dtype=np.float64)
    last_arr = np.asarray(last, dtype=np.float64)
    avg_arr = np.asarray(average, dtype=np.float64)
    last_arr = np.where(last_arr > 0, last_arr, np.nan)
    avg_arr = np.where(avg_arr > 0, avg_arr, np.nan)
    finite_t = t[np.isfinite(t)]
    if start is None:
        start = int(finite_t.min() // _MINUTE * _MINUTE) if len(finite_t) else 0
    if end is None:
        end = int(finite_t.max()) + 1 if len(finite_t) else start
    minutes = max(0, math.ceil((end - start) / _MINUTE))

    n_strikes = len(layout.strikes)
    columns = np.concatenate([[layout.index_token], layout.call_tokens, layout.put_tokens])
    price_last, price_avg = minute_closes(
        t, token, (last_arr, avg_arr), columns.astype(np.int64), start, minutes
    )
    spot = price_last[:, 0]
    # A leg that is not listed (-1) never matches a real token, so its column stays NaN.
    call_last = price_last[:, 1 : 1 + n_strikes]
    put_last = price_last[:, 1 + n_strikes :]
    call_avg = price_avg[:, 1 : 1 + n_strikes]
    put_avg = price_avg[:, 1 + n_strikes :]
    strikes = np.asarray(layout.strikes, dtype=np.float64)
    minute = start + _MINUTE * np.arange(minutes, dtype=np.int64)

    if forward == "parity":
        close = minute + _MINUTE
        years = np.maximum(epoch_at(layout.expiry, MARKET_CLOSE) - close, 0) / (365.0 * 86400.0)
        fwd = _parity_forward(strikes, call_last, put_last, spot, np.exp(rate * years))
    else:
        fwd = spot.copy()

    priced = (
        np.isfinite(call_last)
        & np.isfinite(put_last)
        & np.isfinite(call_avg)
        & np.isfinite(put_avg)
    )
    distance = np.where(priced, np.abs(strikes[None, :] - fwd[:, None]), np.inf)
    atm_col = np.argmin(distance, axis=1) if n_strikes else np.zeros(minutes, dtype=np.intp)
    found = (
        np.isfinite(distance[np.arange(minutes), atm_col]) if n_strikes else np.zeros(minutes, bool)
    )
    rows = np.arange(minutes)

    def at_atm(grid: FloatArray) -> FloatArray:
        if not n_strikes:
            return np.full(minutes, np.nan)
        return np.where(found, grid[rows, atm_col], np.nan)

    atm = np.where(found, strikes[atm_col] if n_strikes else np.nan, np.nan)
    straddle_last = at_atm(call_last) + at_atm(put_last)
    straddle_avg = at_atm(call_avg) + at_atm(put_avg)
    spread = straddle_last - straddle_avg
    with np.errstate(invalid="ignore", divide="ignore"):
        spread_pct = 100.0 * spread / straddle_avg
    recentred = np.zeros(minutes, dtype=bool)
    if minutes > 1:
        recentred[1:] = found[1:] & found[:-1] & (atm[1:] != atm[:-1])
    return StraddleSeries(
        underlying=layout.underlying,
        day=day,
        expiry=layout.expiry,
        forward_method=forward,
        minute=minute,
        spot=spot,
        forward=fwd,
        atm_strike=atm,
        straddle_last=straddle_last,
        straddle_average=straddle_avg,
        spread=spread,
        spread_pct=spread_pct,
        recentred=recentred,
    )


# -- the score -----------------------------------------------------------------------------------
def efficiency_score(tracking_pct: float, noise_pct: float) -> float:
    """100 / (1 + tracking / 2% + noise / 0.5%): see the module docstring."""
    if not (tracking_pct >= 0 and noise_pct >= 0):
        raise ValueError("tracking and noise must be numbers >= 0")
    return 100.0 / (1.0 + tracking_pct / TRACKING_SCALE_PCT + noise_pct / NOISE_SCALE_PCT)


def _first(values: FloatArray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite[0]) if len(finite) else None


def summarize(series: StraddleSeries) -> StraddleSummary:
    """The day's overlay in one row: tracking, noise and the efficiency score."""
    relative = (series.straddle_last - series.straddle_average) / series.straddle_average
    ok = np.isfinite(relative)
    n = int(ok.sum())
    tracking = float(np.median(np.abs(relative[ok]))) * 100.0 if n else None
    # Consecutive priced minutes on the same strike (a re-centre is not noise).
    pairs = ok[1:] & ok[:-1] & ~series.recentred[1:] if len(ok) > 1 else np.zeros(0, bool)
    steps = np.diff(relative)[pairs] if len(ok) > 1 else np.zeros(0)
    noise = float(np.std(steps)) * 100.0 if len(steps) >= 2 else None
    score = None
    if tracking is not None and noise is not None:
        score = efficiency_score(tracking, noise)
    mean_spread = float(np.mean(relative[ok])) * 100.0 if n else None
    return StraddleSummary(
        underlying=series.underlying,
        day=series.day,
        expiry=series.expiry,
        minutes=n,
        missing=len(series) - n,
        open_last=_first(np.where(ok, series.straddle_last, np.nan)),
        open_average=_first(np.where(ok, series.straddle_average, np.nan)),
        close_last=_first(np.where(ok, series.straddle_last, np.nan)[::-1]),
        close_average=_first(np.where(ok, series.straddle_average, np.nan)[::-1]),
        mean_spread_pct=mean_spread,
        tracking_pct=tracking,
        noise_pct=noise,
        efficiency=score,
        recentres=int(series.recentred.sum()),
    )


def summarize_days(days: Iterable[StraddleSeries]) -> list[StraddleSummary]:
    """One summary row per series (per index and day), oldest day first, then by index."""
    rows = [summarize(series) for series in days]
    return sorted(rows, key=lambda r: (r.day, r.underlying))
