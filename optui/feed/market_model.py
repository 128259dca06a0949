"""The demo market's price model: daily closes and one session's second-by-second paths.

Every index and stock of the universe is a "series". Two layers move them:

- **Daily closes** are a deterministic function of (seed, date): smooth correlated noise
  around each series' reference level (`assets/indices.csv`, `assets/equities.csv`), so any
  day can be asked for on its own and consecutive days move by realistic daily amounts.
- **A session path** at one-second resolution from 09:15:00 to 15:30:00 IST starts from the
  previous trading day's close plus an opening gap and ends exactly on the session's daily
  close (a variance-weighted bridge), so day after day the demo is one consistent history.
  Indices share one correlation matrix, built from their loadings on a market factor and a
  financials factor; their volatility follows a VIX-like series (INDIA VIX), which moves
  against the market; intraday volatility is U-shaped (busy open, busy close). Stocks follow
  their sector index with a beta plus idiosyncratic noise.

Paths are computed once per session (a few MB of float64), so the price of every underlying
at any second is known without stepping, and the simulator's per-tick work is a row lookup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Final

import numpy as np
import numpy.typing as npt

from optui.feed import reference
from optui.feed.calendar import SESSION_SECONDS, TradingCalendar

__all__ = [
    "SECTOR_PRIORITY",
    "VIX",
    "MarketModel",
    "SessionPaths",
    "daily_closes",
    "series_names",
]

FloatArray = npt.NDArray[np.float64]

VIX: Final = "INDIA VIX"
TRADING_DAYS_PER_YEAR: Final = 252
# The index a stock follows: the first of these that lists it, else NIFTY 50. Narrow sectors
# come before NIFTY FIN SERVICE so that a bank follows NIFTY BANK.
SECTOR_PRIORITY: Final = (
    "NIFTY BANK",
    "NIFTY IT",
    "NIFTY AUTO",
    "NIFTY FMCG",
    "NIFTY PHARMA",
    "NIFTY METAL",
    "NIFTY REALTY",
    "NIFTY ENERGY",
    "NIFTY FIN SERVICE",
)
MARKET_INDEX: Final = "NIFTY 50"

# Independent random streams, so that adding draws to one never shifts another.
_STREAM_DAILY: Final = 1
_STREAM_SESSION: Final = 2
_STREAM_STOCK_PARAMS: Final = 3


@dataclass(frozen=True, slots=True)
class MarketModel:
    """Parameters of the demo market (defaults give a calm, realistic Indian index market)."""

    # Futures trade at spot * exp(carry * t): interest less dividend yield, annualised.
    carry: float = 0.06
    # Opening gap, as a fraction of one day's volatility.
    gap_fraction: float = 0.35
    # Daily-close noise of log levels: slow swings, weekly swings and day-to-day moves,
    # for an index of 14% annual volatility (scaled by each series' own volatility).
    swing_slow: float = 0.06
    swing_fast: float = 0.025
    day_move: float = 0.006
    # Intraday: ln(VIX) volatility per day and its correlation with NIFTY 50 returns.
    vix_day_vol: float = 0.06
    vix_spot_corr: float = -0.7
    # U-shaped intraday activity: extra volatility at the open and towards the close.
    open_boost: float = 1.2
    open_decay_s: float = 900.0
    close_boost: float = 0.5
    close_decay_s: float = 1800.0
    # Stocks: beta to their sector index and idiosyncratic annual volatility, drawn per stock.
    beta_range: tuple[float, float] = (0.75, 1.15)
    idio_vol_range: tuple[float, float] = (0.14, 0.28)
    # Options: ATM implied vol = VIX/100 * multiplier per underlying; the smile is
    # atm + skew * ln(K/F) + curvature * ln(K/F)^2 at one month, steeper for nearer expiries.
    iv_multiplier: dict[str, float] = field(
        default_factory=lambda: {
            "NIFTY": 1.0,
            "BANKNIFTY": 1.12,
            "FINNIFTY": 1.08,
            "MIDCPNIFTY": 1.3,
            "SENSEX": 1.02,
        }
    )
    smile_skew: float = -0.45
    smile_curvature: float = 1.6
    iv_floor: float = 0.04


def series_names() -> tuple[str, ...]:
    """Names of all price series: index tradingsymbols (INDIA VIX included), then stocks."""
    return tuple(ix.tradingsymbol for ix in reference.index_specs()) + tuple(
        eq.symbol for eq in reference.equity_specs()
    )


def _index_correlation_factor() -> FloatArray:
    """Cholesky factor of the correlation of the indices that trade (INDIA VIX excluded).

    corr(i, j) = m_i m_j + f_i f_j for i != j and 1 on the diagonal, from each index's
    loadings on a market factor (m) and a financials factor (f): positive semi-definite by
    construction and easy to read.
    """
    specs = [ix for ix in reference.index_specs() if ix.tradingsymbol != VIX]
    loadings = np.array([[ix.market_loading, ix.financials_loading] for ix in specs])
    corr = loadings @ loadings.T
    np.fill_diagonal(corr, 1.0)
    return np.asarray(np.linalg.cholesky(corr), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Series:
    """Static per-series parameters, aligned with `series_names()`."""

    names: tuple[str, ...]
    ref_log: FloatArray
    annual_vol: FloatArray  # indices: their own; stocks: idiosyncratic
    n_index: int  # series [0, n_index) are indices; VIX among them
    vix: int
    market: int
    sector_of_stock: npt.NDArray[np.intp]  # per stock: series of its sector index
    beta: FloatArray  # per stock
    chol: FloatArray  # indices without VIX
    traded_index: npt.NDArray[np.intp]  # series of the indices in `chol` order


@cache
def _series(
    seed: int, beta_range: tuple[float, float], idio_vol_range: tuple[float, float]
) -> _Series:
    indices = reference.index_specs()
    stocks = reference.equity_specs()
    names = series_names()
    position = {name: i for i, name in enumerate(names)}
    members = reference.index_members()
    sector_of_stock = np.array(
        [
            position[
                next((s for s in SECTOR_PRIORITY if eq.symbol in members.get(s, ())), MARKET_INDEX)
            ]
            for eq in stocks
        ],
        dtype=np.intp,
    )
    params = np.random.default_rng([seed, _STREAM_STOCK_PARAMS])
    beta = params.uniform(*beta_range, size=len(stocks))
    idio = params.uniform(*idio_vol_range, size=len(stocks))
    annual_vol = np.concatenate([[ix.annual_vol for ix in indices], idio])
    return _Series(
        names=names,
        ref_log=np.log([ix.ref_level for ix in indices] + [eq.ref_price for eq in stocks]),
        annual_vol=annual_vol,
        n_index=len(indices),
        vix=position[VIX],
        market=position[MARKET_INDEX],
        sector_of_stock=sector_of_stock,
        beta=beta,
        chol=_index_correlation_factor(),
        traded_index=np.array(
            [i for i, ix in enumerate(indices) if ix.tradingsymbol != VIX], dtype=np.intp
        ),
    )


def _smoothstep(x: float) -> float:
    return x * x * (3.0 - 2.0 * x)


def _knot_normals(seed: int, octave: int, knot: int, size: int) -> FloatArray:
    rng = np.random.default_rng([seed, _STREAM_DAILY, octave, knot])
    return rng.standard_normal(size)


def _value_noise(seed: int, octave: int, period: int, ordinal: int, size: int) -> FloatArray:
    """Smooth random function of the day: normals at every `period`-th day, blended between."""
    knot, offset = divmod(ordinal, period)
    w = _smoothstep(offset / period)
    a = _knot_normals(seed, octave, knot, size)
    if w == 0.0:
        return a
    return (1.0 - w) * a + w * _knot_normals(seed, octave, knot + 1, size)


def daily_closes(seed: int, day: date, model: MarketModel | None = None) -> FloatArray:
    """Closing level of every series (`series_names()` order) on `day`, for seed `seed`.

    Deterministic in (seed, day) and independent of any other day asked for.
    """
    model = model or MarketModel()
    s = _series(seed, model.beta_range, model.idio_vol_range)
    n_traded = len(s.traded_index)
    n_stock = len(s.names) - s.n_index
    ordinal = day.toordinal()
    octaves = ((0, 60, model.swing_slow), (1, 15, model.swing_fast), (2, 1, model.day_move))

    log = s.ref_log.copy()
    # Indices: correlated noise, scaled by each index's volatility relative to a 14% index.
    scale = s.annual_vol[s.traded_index] / 0.14
    market_move = 0.0
    for octave, period, amplitude in octaves:
        z = s.chol @ _value_noise(seed, octave, period, ordinal, n_traded)
        log[s.traded_index] += amplitude * scale * z
        market_move += amplitude * float(z[list(s.traded_index).index(s.market)])
    # VIX: its own swings, rising when the market has fallen.
    vix_noise = sum(
        _value_noise(seed, 10 + octave, period, ordinal, 1)[0] * weight
        for octave, period, weight in ((0, 40, 0.18), (1, 1, 0.035))
    )
    log[s.vix] = s.ref_log[s.vix] + vix_noise - 2.5 * market_move
    # Stocks: beta times their sector's move from its reference, plus their own swings.
    stock = slice(s.n_index, None)
    sector_move = log[s.sector_of_stock] - s.ref_log[s.sector_of_stock]
    own = sum(
        amplitude * _value_noise(seed, 20 + octave, period, ordinal, n_stock)
        for octave, period, amplitude in octaves
    )
    log[stock] += s.beta * sector_move + (s.annual_vol[stock] / 0.14) * own
    return np.asarray(np.exp(log), dtype=np.float64)


@dataclass(frozen=True)
class SessionPaths:
    """Levels of every series at every second of one session.

    `levels[k]` is the level at `open_epoch + k` seconds (k = 0 .. SESSION_SECONDS, 15:30:00
    included); `previous_close` is the previous trading day's close, `close` the level the
    session ends on.
    """

    session: date
    open_epoch: int
    names: tuple[str, ...]
    previous_close: FloatArray
    close: FloatArray
    levels: FloatArray  # shape (SESSION_SECONDS + 1, len(names)), C order: one row per second

    def row(self, epoch: float) -> FloatArray:
        """Levels of all series at `epoch` (the second it falls in, clamped to the session)."""
        k = min(max(math.floor(epoch - self.open_epoch), 0), SESSION_SECONDS)
        row: FloatArray = self.levels[k]
        return row

    def column(self, name: str) -> int:
        """Series number of an index tradingsymbol or stock symbol."""
        return self.names.index(name)

    @classmethod
    def build(
        cls,
        seed: int,
        session: date,
        model: MarketModel | None = None,
        calendar: TradingCalendar | None = None,
    ) -> SessionPaths:
        """Simulate the session's paths; deterministic in (seed, session)."""
        model = model or MarketModel()
        cal = calendar or TradingCalendar.default()
        s = _series(seed, model.beta_range, model.idio_vol_range)
        previous = daily_closes(seed, cal.previous_trading_day(session), model)
        target = daily_closes(seed, session, model)
        rng = np.random.default_rng([seed, _STREAM_SESSION, session.toordinal()])
        n = SESSION_SECONDS
        n_traded = len(s.traded_index)
        n_stock = len(s.names) - s.n_index

        seconds = np.arange(n, dtype=np.float64)
        activity = (
            1.0
            + model.open_boost * np.exp(-seconds / model.open_decay_s)
            + model.close_boost * np.exp(-(n - seconds) / model.close_decay_s)
        )
        activity /= np.sqrt(np.mean(activity**2))  # a day's variance stays sigma^2 / 252

        # Index shocks, correlated across indices: z[k, j] for second k, traded index j.
        shocks = rng.standard_normal((n, n_traded)) @ s.chol.T
        market_col = list(s.traded_index).index(s.market)

        log_prev = np.log(previous)
        log_target = np.log(target)
        levels = np.empty((n + 1, len(s.names)), dtype=np.float64)

        # VIX: a random walk in logs, against the market, bridged to its close.
        vix_shock = model.vix_spot_corr * shocks[:, market_col] + math.sqrt(
            1.0 - model.vix_spot_corr**2
        ) * rng.standard_normal(n)
        vix_inc = model.vix_day_vol / math.sqrt(n) * activity * vix_shock
        vix_open = log_prev[s.vix] + model.vix_day_vol * rng.standard_normal() * 0.5
        vix_log = _bridge(vix_open, vix_inc, np.full(n, 1.0), log_target[s.vix])
        levels[:, s.vix] = np.exp(vix_log)
        vix_ratio = np.exp(vix_log[:-1] - vix_open)  # realised vol moves with VIX

        # Indices: opening gap, then correlated seconds, bridged to the day's close.
        day_vol = s.annual_vol[s.traded_index] / math.sqrt(TRADING_DAYS_PER_YEAR)
        gap = model.gap_fraction * day_vol * (s.chol @ rng.standard_normal(n_traded))
        per_second = (day_vol / math.sqrt(n))[None, :] * (activity * vix_ratio)[:, None]
        inc = per_second * shocks
        for j, col in enumerate(s.traded_index):
            levels[:, col] = np.exp(
                _bridge(log_prev[col] + gap[j], inc[:, j], per_second[:, j] ** 2, log_target[col])
            )

        # Stocks: beta times their sector's path plus an idiosyncratic walk, bridged so the
        # stock ends on its own close.
        stock = slice(s.n_index, None)
        sector_log = np.log(levels[:, s.sector_of_stock])
        sector_move = sector_log - sector_log[0]
        stock_vol = s.annual_vol[stock] / math.sqrt(TRADING_DAYS_PER_YEAR * n)
        idio_var = (stock_vol[None, :] * activity[:, None]) ** 2
        idio_inc = np.sqrt(idio_var) * rng.standard_normal((n, n_stock))
        idio_gap = model.gap_fraction * stock_vol * math.sqrt(n) * rng.standard_normal(n_stock)
        start = log_prev[stock] + s.beta * (sector_log[0] - log_prev[s.sector_of_stock]) + idio_gap
        idio_target = log_target[stock] - s.beta * sector_move[-1]
        idio = np.column_stack(
            [
                _bridge(start[j], idio_inc[:, j], idio_var[:, j], idio_target[j])
                for j in range(n_stock)
            ]
        )
        levels[:, stock] = np.exp(idio + s.beta[None, :] * sector_move)

        open_epoch = cal.session_bounds(session)[0]
        return cls(
            session=session,
            open_epoch=open_epoch,
            names=s.names,
            previous_close=previous,
            close=levels[-1].copy(),
            levels=np.ascontiguousarray(levels),
        )


def _bridge(start: float, inc: FloatArray, var: FloatArray, end: float) -> FloatArray:
    """A walk from `start` by `inc`, pulled to finish at `end`.

    The pull is spread in proportion to each step's variance `var`, so quiet stretches move
    little and the path keeps its shape (a Brownian bridge in variance time).
    """
    path = np.empty(len(inc) + 1, dtype=np.float64)
    path[0] = start
    np.cumsum(inc, out=path[1:])
    path[1:] += start
    clock = np.empty_like(path)
    clock[0] = 0.0
    np.cumsum(var, out=clock[1:])
    path += (clock / clock[-1]) * (end - path[-1])
    return path
