"""The demo market: a simulated Kite feed for one session, deterministic for a seed.

`DemoMarket` builds the session's universe (`optui.feed.universe`) and price paths
(`optui.feed.market_model`), then, each time the caller moves its clock on with
`advance_to(epoch)`, returns the Kite binary frames (`optui.feed.codec.encode`) of every tick
due up to then. The caller owns the clock: pass wall-clock time to follow the market live, or
move faster for replays and tests. Nothing here reads the host clock or touches the network.

What a tick carries, and why it looks like a market:

- Indices: level off the session path (rounded to 0.05), day open/high/low, previous close and
  the net change (index full packets).
- Stocks follow their path; futures are spot * exp(carry * t); options are Black-76 on that
  same forward with a smile whose ATM level follows INDIA VIX, so futures and options agree
  and put-call parity holds at the forward to within the tick rounding.
- Tradable instruments trade at random, more often near the money and near expiry. A trade
  prints the fair price rounded to the tick (options at least one tick), adds whole lots to
  the volume and to a running turnover, so `average_traded_price` is a true day VWAP and lies
  within the day's low and high. Open interest moves by part of each trade: it builds through
  the day (unwinds on an expiring contract's last afternoon) and never goes below zero.
- Five-level depth straddles the last price on the tick grid (best bid <= last <= best ask,
  bids strictly below asks); total buy/sell quantities are a multiple of the visible depth.

Every instrument ticks once per `tick_interval` (1 s by default, about what Kite sends for a
liquid instrument). The work per tick round is vectorised over the universe: one Black-76
call for all options, a handful of random draws taken as raw bits, one encode per frame of at
most `max_packets_per_frame` packets.

Starting mid-session (`start` after 09:15) first fast-forwards the day from the open in
one-minute steps without emitting anything, so volumes, VWAPs, OI and day ranges are already
built up when the first frame appears. Determinism is per (seed, session, start, settings):
the same arguments and the same sequence of clock targets give the same bytes, however the
clock targets are split into calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from optui.analytics.greeks import black76_price
from optui.feed import participants
from optui.feed.calendar import (
    IST,
    MARKET_CLOSE,
    DemoSession,
    TradingCalendar,
    demo_session,
    epoch_at,
)
from optui.feed.codec import MODE_FULL, MODE_INDEX_FULL, TICK_DTYPE, empty_ticks, encode
from optui.feed.market_model import VIX, MarketModel, SessionPaths
from optui.feed.universe import Kind, Universe, UniverseConfig, build_universe

__all__ = ["KITE_PACKETS_PER_FRAME", "DemoMarket"]

Ticks = npt.NDArray[np.void]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

SECONDS_PER_YEAR: Final = 365.0 * 86400.0
KITE_PACKETS_PER_FRAME: Final = 500
WARMUP_STEP_S: Final = 60.0
INDEX_TICK: Final = 0.05
VIX_TICK: Final = 0.01

# Liquidity of each underlying's derivatives relative to NIFTY's.
_UNDERLYING_ACTIVITY: Final[dict[str, float]] = {
    "NIFTY": 1.0,
    "SENSEX": 0.8,
    "BANKNIFTY": 0.5,
    "FINNIFTY": 0.12,
    "MIDCPNIFTY": 0.12,
}
# Mean lots traded per second by the busiest contract of each kind.
_OPTION_LOTS_PER_S: Final = 150.0
_FUTURE_LOTS_PER_S: Final = 12.0
# A stock trades about this much (rupees) per day, whatever its price.
_STOCK_TURNOVER_PER_DAY: Final = 1.0e10
# Previous-day OI of the busiest strike of the nearest expiry and of the near future, in lots.
_OPTION_PEAK_OI_LOTS: Final = 120_000.0
_FUTURE_OI_LOTS: Final = 180_000.0
# Book shapes: 64 five-level shapes per side drawn once; a tick picks a (bid, ask) pair of
# them with 12 random bits.
_BOOK_SHAPES: Final = 64
_PAIR_MASK: Final = np.uint64(_BOOK_SHAPES * _BOOK_SHAPES - 1)
# Share of the instruments that did not trade whose quotes still change in a round.
_QUOTE_CHANGE_SHARE: Final = 0.15

# Random streams (independent of market_model's and participants').
_STREAM_TICKS: Final = 11
_STREAM_STATIC: Final = 12

_U16: Final = np.uint64(0xFFFF)
_U32: Final = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class _Static:
    """Per-instrument constants of the tradable rows: stocks, then futures, then options.

    `deriv` and `opt` are slices of those rows (futures+options, options only), so the tick
    path works on contiguous blocks instead of masks.
    """

    deriv: slice
    opt: slice
    tick: FloatArray
    lot: IntArray
    series: npt.NDArray[np.intp]  # path column of the price that drives the row
    expiry_epoch: FloatArray  # derivatives only: 15:30 IST on expiry day
    strike: FloatArray  # options only
    is_call: npt.NDArray[np.bool_]  # options only
    iv_multiplier: FloatArray  # options only
    expiring_today: npt.NDArray[np.bool_]  # derivatives only
    trade_rate: FloatArray  # Poisson intensity (per second) of a round with a trade
    lots_per_s: FloatArray  # mean lots (shares for stocks) traded per second
    spread_extra: FloatArray  # illiquid books are wider: extra ticks of spread, at most
    depth_unit: IntArray  # quantity of one template lot: lot size times a liquidity multiple


@dataclass(frozen=True, slots=True)
class _DepthTemplates:
    """(bid, ask) book shapes; columns 0-4 are the bid levels, 5-9 the ask levels."""

    offsets: FloatArray  # ticks from the best bid (<= 0) or best ask (>= 0)
    lots: IntArray  # quantity per level in depth units
    orders: IntArray  # orders per level
    book: IntArray  # (bid, ask) whole-book quantity in depth units: depth times a multiple


def _smile(
    vix: float,
    iv_multiplier: FloatArray,
    strike: FloatArray,
    forward: FloatArray,
    years: FloatArray,
    model: MarketModel,
) -> FloatArray:
    """Implied vol on the demo's smile: atm + skew * ln(K/F) + curvature * ln(K/F)^2.

    The skew and curvature are per one month; nearer expiries get a steeper smile (in
    ln(K/F) terms), capped at one day, as real weekly smiles are.
    """
    x = np.log(strike / forward)
    steep = np.sqrt((30.0 / 365.0) / np.maximum(years, 1.0 / 365.0))
    vol = (
        vix / 100.0 * iv_multiplier
        + model.smile_skew * steep * x
        + model.smile_curvature * (steep * x) ** 2
    )
    return np.maximum(vol, model.iv_floor)


class DemoMarket:
    """A simulated market for one trading session that speaks Kite's binary protocol.

    Parameters
    ----------
    seed:
        Everything random derives from it: same seed, session, start and settings, same bytes.
    session:
        The trading day (an NSE trading day; see `optui.feed.calendar.demo_session`).
    start:
        Epoch seconds where emission starts (default 09:15 IST of `session`); the part of the
        day before it is fast-forwarded silently.
    rate:
        Risk-free rate that discounts option prices in Black-76 (default 0, as optui's
        analytics assume unless configured). The forward's carry is `model.carry`.
    tick_interval:
        Seconds between two ticks of the same instrument (default 1.0, as Kite).
    universe:
        Expiries and strikes to list. `instruments` is a shortcut for an exact instrument
        count (e.g. 9000 for the benchmark) and overrides `universe.size`.
    max_packets_per_frame:
        Packets per binary message, at most (Kite sends a few hundred per message).
    """

    def __init__(
        self,
        seed: int,
        session: date,
        *,
        start: float | None = None,
        rate: float = 0.0,
        tick_interval: float = 1.0,
        universe: UniverseConfig | None = None,
        instruments: int | None = None,
        max_packets_per_frame: int = KITE_PACKETS_PER_FRAME,
        model: MarketModel | None = None,
        calendar: TradingCalendar | None = None,
    ) -> None:
        if tick_interval <= 0:
            raise ValueError("tick_interval must be positive")
        if not 1 <= max_packets_per_frame <= 0xFFFF:
            raise ValueError("max_packets_per_frame must be in 1..65535")
        self.seed = int(seed)
        self.calendar = calendar or TradingCalendar.default()
        if not self.calendar.is_trading_day(session):
            raise ValueError(f"{session} is not an NSE trading day")
        self.session = session
        self.model = model or MarketModel()
        self.rate = float(rate)
        self.tick_interval = float(tick_interval)
        self.max_packets_per_frame = int(max_packets_per_frame)
        self.open_epoch, self.close_epoch = self.calendar.session_bounds(session)

        self.paths = SessionPaths.build(self.seed, session, self.model, self.calendar)
        config = universe or UniverseConfig()
        if instruments is not None:
            config = replace(config, size=int(instruments))
        previous = dict(zip(self.paths.names, self.paths.previous_close.tolist(), strict=True))
        self.instruments: Universe = build_universe(session, previous, config, self.calendar)

        u = self.instruments
        self._n = len(u)
        self._index_rows = u.slice_of(Kind.INDEX)
        self._trade_rows = slice(self._index_rows.stop, self._n)
        index_symbols = u.tradingsymbol[self._index_rows]
        self._index_series = np.array([self.paths.column(s) for s in index_symbols], dtype=np.intp)
        self._index_tick = np.array([VIX_TICK if s == VIX else INDEX_TICK for s in index_symbols])
        self._vix = self.paths.column(VIX)
        self._static = self._build_static()
        self._templates = self._build_depth_templates()
        self._trade_probability: dict[float, FloatArray] = {}
        self._rng = np.random.default_rng([self.seed, _STREAM_TICKS, session.toordinal()])
        self._bits = self._rng.bit_generator

        self._prev_close_oi = self._build_previous_oi()
        self._close = self._build_previous_close()
        self._init_state()

        begin = self.open_epoch if start is None else float(start)
        if not self.open_epoch <= begin <= self.close_epoch:
            raise ValueError("start must lie within the session (09:15-15:30 IST)")
        self._tick_no = math.ceil((begin - self.open_epoch) / self.tick_interval - 1e-9)
        self._last_time: float | None = None
        self._warm_up()
        self.clock = begin

    @classmethod
    def for_wall_clock(
        cls, now: float, seed: int = 0, *, speed: float = 1.0, **options: Any
    ) -> tuple[DemoMarket, DemoSession]:
        """The demo to show at wall-clock `now`, and the session choice that maps the wall
        clock to simulated time (`session.at(wall)`; pass that to `advance_to`).

        Inside market hours the demo follows the wall clock from now; otherwise it replays
        the latest session from 09:15 IST at `speed` (see `demo_session`). `options` go to
        the constructor.
        """
        calendar: TradingCalendar | None = options.get("calendar")
        chosen = demo_session(now, calendar, speed)
        return cls(seed, chosen.session, start=chosen.start, **options), chosen

    # -- public API --------------------------------------------------------------------------
    def instruments_csv(self) -> str:
        """The universe as Kite `instruments.csv` text, with last_price = previous close."""
        return self.instruments.to_csv(self._close)

    def advance_to(self, epoch: float) -> list[bytes]:
        """Kite binary frames of every tick due after the previous call, up to `epoch`.

        Tick rounds fall at 09:15:00 + k * tick_interval and stop at 15:30:00; a round holds
        every instrument once, split into frames of at most `max_packets_per_frame` packets.
        Everything due is returned at once, so move the clock in small steps (a replay at 60x
        asks for a minute of market per wall second, about 100 MB of frames at 9000
        instruments; a whole day at once would not fit in memory).
        """
        size = self.max_packets_per_frame
        frames: list[bytes] = []
        for t in self._due(epoch):
            ticks = self._step(t, emit=True)
            frames.extend(encode(ticks[i : i + size]) for i in range(0, len(ticks), size))
        return frames

    def ticks_to(self, epoch: float) -> list[Ticks]:
        """Like `advance_to`, without encoding: one TICK_DTYPE array per tick round."""
        return [_copy_ticks(self._step(t, emit=True)) for t in self._due(epoch)]

    def previous_close_oi(self) -> tuple[npt.NDArray[np.uint32], IntArray]:
        """(instrument tokens, previous day's closing OI), for change in OI; 0 for spot rows."""
        return self.instruments.instrument_token.copy(), self._prev_close_oi.copy()

    def previous_close(self) -> tuple[npt.NDArray[np.uint32], FloatArray]:
        """(instrument tokens, previous day's close), as the packets' `close` carries it."""
        return self.instruments.instrument_token.copy(), self._close.copy()

    @property
    def state_time(self) -> float | None:
        """Time of the last tick round computed (emitted or fast-forwarded), if any."""
        return self._last_time

    def spot(self, tradingsymbol: str, at: float | None = None) -> float:
        """Unrounded level of an index or stock at `at` (default: the last tick round)."""
        return float(self.paths.row(self._time(at))[self.paths.column(tradingsymbol)])

    def forward(self, name: str, expiry: date, at: float | None = None) -> float:
        """The forward the options of `name` (NIFTY, ...) for `expiry` are priced on."""
        when = self._time(at)
        u = self.instruments
        chain = u.chain(name, expiry)
        row = int(np.concatenate([chain.calls, chain.puts]).max())
        spot = self.paths.row(when)[self.paths.column(u.tradingsymbol[u.underlying[row]])]
        return float(spot * math.exp(self.model.carry * self.time_to_expiry(expiry, when)))

    def time_to_expiry(self, expiry: date, at: float | None = None) -> float:
        """Years (of 365 days) from `at` to 15:30 IST on `expiry`: the options' pricing time."""
        return max(epoch_at(expiry, MARKET_CLOSE) - self._time(at), 0.0) / SECONDS_PER_YEAR

    def participant_csv(self, day: date, kind: str = "oi") -> str:
        """NSE `fao_participant_{oi,vol}_DDMMYYYY.csv` text for trading day `day` (open
        interest or the day's traded volume), marked SIMULATED."""
        return participants.participant_csv(kind, self.seed, day, self.calendar)

    def participant_history(
        self, end_day: date | None = None, days: int = 30, kind: str = "oi"
    ) -> list[tuple[date, str]]:
        """(day, csv text) of `kind` for the `days` trading days up to `end_day`, oldest
        first.

        `end_day` defaults to the trading day before the session (NSE publishes a day's file
        after its close).
        """
        end = end_day or self.calendar.previous_trading_day(self.session)
        return [
            (day, self.participant_csv(day, kind))
            for day in self.calendar.last_trading_days(end, days)
        ]

    def __repr__(self) -> str:
        when = datetime.fromtimestamp(self.clock, tz=IST).strftime("%Y-%m-%d %H:%M:%S")
        return (
            f"DemoMarket(seed={self.seed}, session={self.session}, "
            f"instruments={self._n}, clock={when} IST)"
        )

    # -- clock -----------------------------------------------------------------------------------
    def _due(self, epoch: float) -> list[float]:
        """Times of the tick rounds due up to `epoch`, consumed (the clock moves to `epoch`)."""
        due: list[float] = []
        while True:
            t = self.open_epoch + self._tick_no * self.tick_interval
            if t > epoch or t > self.close_epoch:
                break
            due.append(t)
            self._tick_no += 1
        self.clock = max(self.clock, float(epoch))
        return due

    def _time(self, at: float | None) -> float:
        if at is not None:
            return float(at)
        return float(self.open_epoch) if self._last_time is None else self._last_time

    # -- construction --------------------------------------------------------------------------
    def _build_static(self) -> _Static:
        u = self.instruments
        rows = self._trade_rows
        kind = u.kind[rows]
        n = len(kind)
        deriv = slice(int(np.argmax(kind >= Kind.FUTURE)), n)
        opt = slice(int(np.argmax(kind >= Kind.CALL)), n)
        if not ((kind[deriv] >= Kind.FUTURE).all() and (kind[opt] >= Kind.CALL).all()):
            raise AssertionError("universe rows are not ordered stocks, futures, options")
        names = u.name[rows]
        series = np.array(
            [self.paths.column(u.tradingsymbol[j]) for j in u.underlying[rows].tolist()],
            dtype=np.intp,
        )
        expiries = u.expiry[rows][deriv]
        expiry_epoch = np.empty(len(expiries))
        for day in np.unique(expiries).tolist():
            expiry_epoch[expiries == np.datetime64(day, "D")] = epoch_at(day, MARKET_CLOSE)

        activity = np.array([_UNDERLYING_ACTIVITY.get(nm, 0.0) for nm in names])
        iv_mult = np.array([self.model.iv_multiplier.get(nm, 1.0) for nm in names])
        # Where each contract sits in its underlying's list of expiries (0 = nearest).
        expiry_rank = np.zeros(n)
        name_arr = np.array(names)
        for nm in np.unique(name_arr[deriv]).tolist():
            for sub in (Kind.FUTURE, Kind.CALL):
                mask = (name_arr == nm) & ((kind >= Kind.CALL) == (sub == Kind.CALL))
                mask[: deriv.start] = False
                if mask.any():
                    _, rank = np.unique(u.expiry[rows][mask], return_inverse=True)
                    expiry_rank[mask] = rank

        # Liquidity: options by moneyness at the previous close, in standard deviations to
        # expiry, and by how near their expiry is; futures by expiry; stocks all alike.
        prev_spot = self.paths.previous_close[series]
        years = np.maximum(expiry_epoch - self.open_epoch, 3600.0) / SECONDS_PER_YEAR
        forward = prev_spot[deriv] * np.exp(self.model.carry * years)
        o = slice(opt.start - deriv.start, None)  # options within the derivative block
        strike = u.strike[rows][opt]
        atm_vol = self.paths.previous_close[self._vix] / 100.0 * iv_mult[opt]
        sd = np.abs(np.log(strike / forward[o])) / (atm_vol * np.sqrt(years[o]))
        liquidity = np.ones(n)
        liquidity[deriv] = activity[deriv] * 0.2 ** expiry_rank[deriv]
        liquidity[opt] = activity[opt] * np.exp(-0.25 * sd**2) * 0.5 ** expiry_rank[opt]

        lots_per_s = np.empty(n)
        lots_per_s[: deriv.start] = (
            _STOCK_TURNOVER_PER_DAY
            / prev_spot[: deriv.start]
            / (self.close_epoch - self.open_epoch)
        )
        lots_per_s[deriv] = _FUTURE_LOTS_PER_S * liquidity[deriv]
        lots_per_s[opt] = _OPTION_LOTS_PER_S * liquidity[opt]
        depth_lots = np.where(
            np.arange(n) < deriv.start, 1.0 + 2.0 * lots_per_s, 1.0 + 40.0 * liquidity
        )
        lot = u.lot_size[rows].copy()
        return _Static(
            deriv=deriv,
            opt=opt,
            tick=u.tick_size[rows].copy(),
            lot=lot,
            series=series,
            expiry_epoch=expiry_epoch,
            strike=strike,
            is_call=kind[opt] == Kind.CALL,
            iv_multiplier=iv_mult[opt],
            expiring_today=expiry_epoch <= self.close_epoch,
            trade_rate=0.02 + 3.0 * liquidity,
            lots_per_s=lots_per_s,
            spread_extra=np.clip(4.0 * (1.0 - liquidity), 0.0, 4.0),
            # Templates average about 3 lots a level; scale them to the instrument.
            depth_unit=lot * np.maximum(np.rint(depth_lots / 3.0), 1).astype(np.int64),
        )

    def _build_depth_templates(self) -> _DepthTemplates:
        """Book shapes, drawn once: (bid, ask) pairs of five-level shapes."""
        rng = np.random.default_rng([self.seed, _STREAM_STATIC, 1])
        k = _BOOK_SHAPES
        offsets = np.zeros((k, 5))
        offsets[:, 1:] = np.cumsum(rng.choice([1, 1, 1, 2, 3], size=(k, 4)), axis=1)
        orders = 1 + rng.poisson(1.5, size=(k, 5))
        lots = orders + rng.poisson(1.5, size=(k, 5))  # at least a lot per order
        book = np.rint(lots.sum(axis=1) * rng.uniform(3.0, 25.0, size=k)).astype(np.int64)
        bid, ask = np.divmod(np.arange(k * k), k)
        return _DepthTemplates(
            offsets=np.concatenate([-offsets[bid], offsets[ask]], axis=1),
            lots=np.concatenate([lots[bid], lots[ask]], axis=1),
            orders=np.concatenate([orders[bid], orders[ask]], axis=1),
            book=np.stack([book[bid], book[ask]], axis=1),
        )

    def _build_previous_close(self) -> FloatArray:
        """Previous day's close per row: path closes for spot rows, model prices otherwise."""
        close = np.zeros(self._n)
        prev = self.paths.previous_close
        close[self._index_rows] = _round_to(prev[self._index_series], self._index_tick)
        prev_close_time = epoch_at(self.calendar.previous_trading_day(self.session), MARKET_CLOSE)
        fair = self._fair(prev_close_time, prev, prev[self._vix])
        close[self._trade_rows] = self._on_grid(fair)
        return close

    def _build_previous_oi(self) -> IntArray:
        """Previous day's closing OI per row (in units: a whole number of lots)."""
        st = self._static
        rng = np.random.default_rng([self.seed, _STREAM_STATIC, 2, self.session.toordinal()])
        u = self.instruments
        rows = self._trade_rows
        names = np.array(u.name[rows])
        activity = np.array([_UNDERLYING_ACTIVITY.get(nm, 0.0) for nm in names.tolist()])
        liquidity = st.trade_rate - 0.02
        noise = rng.lognormal(0.0, 0.35, size=len(names))
        lots = np.zeros(len(names))
        lots[st.deriv] = _FUTURE_OI_LOTS * liquidity[st.deriv] / 3.0 * noise[st.deriv]

        # Options: OI peaks a little out of the money (writers sell OTM), at round strikes,
        # and on the nearer expiries.
        spot = self.paths.previous_close[st.series[st.opt]]
        strike = st.strike
        step = np.ones(len(strike))
        for nm in np.unique(names[st.opt]).tolist():
            mask = names[st.opt] == nm
            strikes = np.unique(strike[mask])
            if len(strikes) > 1:
                step[mask] = np.min(np.diff(strikes))
        otm = np.where(st.is_call, strike > spot, strike < spot)
        shape = np.exp(-0.5 * ((strike / spot - 1.0) / 0.035) ** 2) * np.where(otm, 1.0, 0.35)
        tens = (strike / (10 * step)) % 1.0 == 0.0
        twos = (strike / (2 * step)) % 1.0 == 0.0
        round_bonus = np.where(tens, 2.0, np.where(twos, 1.3, 1.0))
        act = activity[st.opt]
        nearness = np.clip(liquidity[st.opt] / np.maximum(act, 1e-9), 0.0, 1.0)
        lots[st.opt] = (
            _OPTION_PEAK_OI_LOTS
            * act
            * shape
            * round_bonus
            * noise[st.opt]
            * (0.3 + 0.7 * nearness)
        )
        oi = np.zeros(self._n, dtype=np.int64)
        oi[rows] = np.rint(lots).astype(np.int64) * st.lot
        return oi

    def _init_state(self) -> None:
        n_trade = self._n - self._index_rows.stop
        self._last = np.zeros(n_trade)
        self._open = np.zeros(n_trade)
        self._high = np.full(n_trade, -np.inf)
        self._low = np.full(n_trade, np.inf)
        self._volume = np.zeros(n_trade, dtype=np.int64)
        self._turnover = np.zeros(n_trade)
        self._ltq = np.zeros(n_trade, dtype=np.int64)
        self._ltt = np.zeros(n_trade, dtype=np.int64)
        prev_oi = self._prev_close_oi[self._trade_rows][self._static.deriv]
        self._oi = prev_oi.copy()
        self._oi_high = prev_oi.copy()
        self._oi_low = prev_oi.copy()
        n_index = self._index_rows.stop
        self._index_open = np.zeros(n_index)
        self._index_high = np.full(n_index, -np.inf)
        self._index_low = np.full(n_index, np.inf)

        ticks = empty_ticks(self._n)
        ticks["instrument_token"] = self.instruments.instrument_token
        ticks["mode"][self._index_rows] = MODE_INDEX_FULL
        ticks["mode"][self._trade_rows] = MODE_FULL
        ticks["tradable"][self._trade_rows] = True
        ticks["close"] = self._close
        self._ticks = ticks
        self._depth_ready = False  # the first emitted round quotes every book
        # Field views of the tradable and index rows, made once: the tick path only assigns.
        trade = self._trade_rows
        self._tv = {name: ticks[name][trade] for name in TICK_DTYPE.names or ()}
        self._iv = {name: ticks[name][self._index_rows] for name in TICK_DTYPE.names or ()}

    def _warm_up(self) -> None:
        """Fast-forward from the open to before the first tick, in one-minute steps, silently."""
        first_tick = self.open_epoch + self._tick_no * self.tick_interval
        if first_tick <= self.open_epoch:
            return
        t = float(self.open_epoch)
        while t < first_tick:
            self._step(t, emit=False)
            t += WARMUP_STEP_S
        # Index day ranges: exact, from the whole path up to the first tick.
        k = int(first_tick - self.open_epoch)
        ticked = _round_to(self.paths.levels[: k + 1, self._index_series], self._index_tick)
        np.maximum(self._index_high, ticked.max(axis=0), out=self._index_high)
        np.minimum(self._index_low, ticked.min(axis=0), out=self._index_low)

    # -- the tick --------------------------------------------------------------------------------
    def _fair(self, t: float, levels: FloatArray, vix: float) -> FloatArray:
        """Fair value of every tradable row at `t` given the series `levels` then."""
        st = self._static
        fair = levels[st.series]
        years = np.maximum(st.expiry_epoch - t, 0.0) / SECONDS_PER_YEAR
        forward = fair[st.deriv] * np.exp(self.model.carry * years)
        fair[st.deriv] = forward
        o = slice(st.opt.start - st.deriv.start, None)
        vol = _smile(vix, st.iv_multiplier, st.strike, forward[o], years[o], self.model)
        fair[st.opt] = black76_price(forward[o], st.strike, years[o], vol, self.rate, st.is_call)
        return fair

    def _on_grid(self, fair: FloatArray) -> FloatArray:
        """Fair values rounded to each row's tick; options never below one tick."""
        st = self._static
        ticks = np.rint(fair / st.tick)
        np.maximum(ticks[st.opt], 1.0, out=ticks[st.opt])
        return np.asarray(ticks * st.tick)

    def _probability(self, dt: float) -> FloatArray:
        """Chance that a row trades within `dt` seconds (cached per dt)."""
        p = self._trade_probability.get(dt)
        if p is None:
            p = -np.expm1(-self._static.trade_rate * dt)
            self._trade_probability[dt] = p
        return p

    def _step(self, t: float, *, emit: bool) -> Ticks:
        """Move every instrument to time `t`; the live tick buffer if `emit` (reused!)."""
        first_round = self._last_time is None
        dt = self.tick_interval if self._last_time is None else t - self._last_time
        self._last_time = t
        levels = self.paths.row(t)
        st = self._static
        stamp = int(t)

        level = _round_to(levels[self._index_series], self._index_tick)
        if first_round:
            self._index_open[:] = level
        np.maximum(self._index_high, level, out=self._index_high)
        np.minimum(self._index_low, level, out=self._index_low)

        price = self._on_grid(self._fair(t, levels, float(levels[self._vix])))

        # Random bits, 64 per row per draw: cheaper than separate uniform/integer draws.
        n = len(price)
        a = self._bits.random_raw(n)
        b = self._bits.random_raw(n)
        # Trades: everything trades in the first round (the day's open), then at random.
        traded = (a >> np.uint64(11)) * (1.0 / 2**53) < self._probability(dt)
        if first_round:
            traded[:] = True
        # Lots: 1 + an exponential share of the mean, so big prints happen.
        u = ((b & _U32).astype(np.float64) + 0.5) * (1.0 / 2**32)
        lots = 1 + (np.maximum(st.lots_per_s * dt - 1.0, 0.0) * -np.log(u)).astype(np.int64)
        lots *= traded
        qty = lots * st.lot

        if first_round:
            self._open[:] = price
        self._last = np.where(traded, price, self._last)
        np.maximum(self._high, np.where(traded, price, -np.inf), out=self._high)
        np.minimum(self._low, np.where(traded, price, np.inf), out=self._low)
        self._volume += qty
        self._turnover += price * qty
        one_trade = np.minimum(lots, 1 + ((b >> np.uint64(32)) & np.uint64(7)).astype(np.int64))
        self._ltq = np.where(traded, one_trade * st.lot, self._ltq)
        self._ltt = np.where(traded, stamp, self._ltt)

        # Open interest: a share of each trade opens positions (on an expiring contract's
        # last afternoon, more close them); it never goes below zero.
        d = st.deriv
        elapsed = (t - self.open_epoch) / (self.close_epoch - self.open_epoch)
        drift = np.where(st.expiring_today, 0.02 - 0.12 * elapsed, 0.02)
        jitter = ((b[d] >> np.uint64(35)) & _U16).astype(np.float64) * (1.0 / 65536) - 0.5
        change = np.rint(lots[d] * (drift + 0.3 * jitter)).astype(np.int64) * st.lot[d]
        np.maximum(self._oi + change, 0, out=self._oi)
        np.maximum(self._oi_high, self._oi, out=self._oi_high)
        np.minimum(self._oi_low, self._oi, out=self._oi_low)

        if not emit:
            return self._ticks[:0]
        self._fill(stamp, level, traded)
        return self._ticks

    def _fill(self, stamp: int, level: FloatArray, traded: npt.NDArray[np.bool_]) -> None:
        """Write the current state into the tick buffer."""
        st = self._static
        iv, tv = self._iv, self._tv
        iv["last_price"][:] = level
        iv["open"][:] = self._index_open
        iv["high"][:] = self._index_high
        iv["low"][:] = self._index_low
        iv["net_change"][:] = level - self._close[self._index_rows]
        self._ticks["exchange_timestamp"] = stamp

        last, volume = self._last, self._volume
        tv["last_price"][:] = last
        tv["last_traded_quantity"][:] = self._ltq
        tv["volume_traded"][:] = volume
        # Everything has traded since the open, so volume > 0. The clip keeps the VWAP inside
        # the day's range where float error would put it a hair outside.
        tv["average_traded_price"][:] = np.clip(self._turnover / volume, self._low, self._high)
        tv["open"][:] = self._open
        tv["high"][:] = self._high
        tv["low"][:] = self._low
        tv["last_trade_time"][:] = self._ltt
        d = st.deriv
        tv["oi"][d] = self._oi
        tv["oi_day_high"][d] = self._oi_high
        tv["oi_day_low"][d] = self._oi_low

        self._fill_depth(traded)

    def _fill_depth(self, traded: npt.NDArray[np.bool_]) -> None:
        """Requote the rows that traded and a random share of the others; the rest keep the
        book they have in the (reused) tick buffer, which still straddles their last price.

        The spread (1 + up to `spread_extra` ticks) straddles the last price; the book is a
        random (bid, ask) template pair. Bits of one draw per row: 0-15 the spread, 16-31
        where the last price sits in it, 32-43 the template pair, 44-63 the requote chance.
        """
        st = self._static
        if self._depth_ready:
            bits = self._bits.random_raw(len(traded))
            requote = (bits >> np.uint64(44)) * (1.0 / 2**20) < _QUOTE_CHANGE_SHARE
            rows = np.flatnonzero(traded | requote)
            bits = bits[rows]
        else:
            rows = np.arange(len(traded))
            bits = self._bits.random_raw(len(traded))
            self._depth_ready = True
        extra = st.spread_extra[rows]
        tick = st.tick[rows]
        spread = 1 + ((bits & _U16).astype(np.float64) * (extra + 1.0) / 65536).astype(np.int64)
        below = (((bits >> np.uint64(16)) & _U16).astype(np.float64) * (spread + 1) / 65536).astype(
            np.int64
        )
        best_bid = np.rint(self._last[rows] / tick).astype(np.int64) - below
        pair = ((bits >> np.uint64(32)) & _PAIR_MASK).astype(np.intp)
        tpl = self._templates
        best = np.empty((len(rows), 10))
        best[:, :5] = best_bid[:, None]
        best[:, 5:] = (best_bid + spread)[:, None]
        price_ticks = best + np.take(tpl.offsets, pair, axis=0)
        unit = st.depth_unit[rows]
        quantity = np.take(tpl.lots, pair, axis=0) * unit[:, None]
        orders = np.take(tpl.orders, pair, axis=0)
        book = np.take(tpl.book, pair, axis=0) * unit[:, None]
        # A level at or below zero price does not exist: Kite sends it as zeros. Only options
        # quoted within a few ticks of zero have such levels.
        dead = price_ticks <= 0
        if dead.any():
            price_ticks[dead] = 0
            quantity[dead] = 0
            orders[dead] = 0
            book[dead[:, 0], 0] = 0
        price = price_ticks * tick[:, None]

        at = rows + self._trade_rows.start
        ticks = self._ticks
        ticks["depth_buy_price"][at] = price[:, :5]
        ticks["depth_sell_price"][at] = price[:, 5:]
        ticks["depth_buy_quantity"][at] = quantity[:, :5]
        ticks["depth_sell_quantity"][at] = quantity[:, 5:]
        ticks["depth_buy_orders"][at] = orders[:, :5]
        ticks["depth_sell_orders"][at] = orders[:, 5:]
        ticks["total_buy_quantity"][at] = book[:, 0]
        ticks["total_sell_quantity"][at] = book[:, 1]


def _round_to(values: npt.ArrayLike, tick: npt.ArrayLike) -> FloatArray:
    """Round to the nearest multiple of `tick` (broadcasting)."""
    step = np.asarray(tick, dtype=np.float64)
    return np.asarray(np.rint(np.asarray(values, dtype=np.float64) / step) * step)


def _copy_ticks(ticks: Ticks) -> Ticks:
    """A copy of a tick array; copying the bytes is ~15x faster than a structured copy."""
    return np.ascontiguousarray(ticks).view(np.uint8).copy().view(TICK_DTYPE)
