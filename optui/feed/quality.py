"""Data quality: does each instrument's stream still make sense?

`QualityMonitor.check(ticks, now)` looks at every decoded batch (rows of
`optui.feed.codec.TICK_DTYPE`, one Kite frame or several) against what it has seen of each
instrument token before, and returns `optui.events.Event` records of kind ``data_quality``:

======================================  =====================================================
code                                    when
======================================  =====================================================
``quality.timestamp_backwards``         an instrument's ``exchange_timestamp`` or
                                        ``last_trade_time`` is earlier than the one it sent
                                        before (0 means the packet kind has none: never
                                        compared)
``quality.price_outside_range``         the last price lies outside the day's high/low the
                                        same packet reports (only where both are > 0)
``quality.price_jump``                  the last price moved beyond a sane band from the
                                        instrument's previous last price, the same IST day
``quality.crossed_book``                best bid above best ask, both > 0 (full packets), in
                                        the continuous session (09:15-15:30 IST)
``quality.negative_value``              OI or volume below zero (severity ``error``)
``quality.volume_down``                 the day's volume of an instrument went down within
                                        one IST day (a new day starts it afresh)
``quality.silent``                      `check_silent`: instruments that ticked earlier stopped
                                        while their market is open
``quality.ticking``                     `check_silent`: clears ``quality.silent`` when they
                                        tick again (or the market closed)
======================================  =====================================================

A batch gives at most one event per code, whatever the number of rows at fault ("3
instruments had a crossed book"): the first instrument's token is the event's ``subject``, the
values involved are its details, and ``instruments`` / ``tokens`` say how many and which. The
`optui.events.EventLog` groups repeats across batches. optui never edits market data: the
tick stays as received (the journal keeps every frame unchanged) and is flagged.

The price band. Index, stock and futures prices rarely move 20% between two ticks; a move is a
jump when ``|new - old| > jump * min(new, old)`` (default 20%: above 1.2x or below 1/1.2x, the
same size either way). Options move far more in relative terms (a 2-rupee option may be 10
rupees a minute later on a fast index move, and one expiring today falls to 0.05), so for them
both must hold: the price moved more than ``option_jump`` times the smaller price (default 4:
more than five-fold either way) *and* by more than ``option_jump_floor`` rupees (default 20).
That still catches what a bad print looks like (a price off by a power of ten, garbage) and
never flags a cheap option's normal swings. And a move the packet's own book agrees with (full
packets: the new price within a factor of two of the best bid and offer) is the market moving,
not a bad print: on an expiry afternoon an illiquid at-the-money option whose last trade was
7.40 two minutes ago trades at 82.55 next, with the book at 82.50/82.55. Without a book (ltp
and quote packets, indices) the band alone decides.

Which tokens are options: `option_tokens` (from the universe:
``universe.instrument_token[universe.kind >= Kind.CALL]``); without it, every token on a
derivatives segment (NFO, BFO, CDS, BCD, MCX) gets the option band (futures are then checked
loosely rather than flagged falsely).

Silence. A token is silent when it has not ticked for ``silent_after`` seconds (default 60) and
for more than ``silent_factor`` (default 10) times its own mean gap between ticks since the
market opened: an illiquid far strike that ticks every few minutes is not reported after one
quiet minute. A token needs two ticks in the current session before it is watched (one tick
says nothing about its cadence). When no token at all ticked for ``silent_after`` seconds,
the whole feed is quiet: that is the feed's problem (``feed.silent``), and no new instrument
stall is reported on top. One ``quality.silent`` event opens a stall (how many, which); tokens
that go quiet while it is open are reported at most once per ``silent_after`` seconds; one
``quality.ticking`` event clears it when none is silent any more.

Pure: no Textual, no clock reads (time is passed in), no I/O. The hot path (`check`) is a few
dozen numpy operations per batch, whatever its size; no Python loop per row.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from optui.events import Detail, Event, Severity
from optui.feed.calendar import MARKET_CLOSE, MARKET_OPEN, TradingCalendar, ist_date
from optui.feed.codec import MODE_QUOTE, Ticks

__all__ = [
    "CODES",
    "QualityLimits",
    "QualityMonitor",
    "market_open_at",
]

IST_OFFSET: Final = 19_800  # Asia/Kolkata is UTC+05:30 all year (no daylight saving)
DAY: Final = 86_400
# Segments (token & 0xff) whose instruments are derivatives: NFO, CDS, BFO, BCD, MCX.
_DERIVATIVE_SEGMENTS: Final = (2, 3, 5, 6, 7)

TIMESTAMP_BACKWARDS: Final = "quality.timestamp_backwards"
PRICE_OUTSIDE_RANGE: Final = "quality.price_outside_range"
PRICE_JUMP: Final = "quality.price_jump"
CROSSED_BOOK: Final = "quality.crossed_book"
NEGATIVE_VALUE: Final = "quality.negative_value"
VOLUME_DOWN: Final = "quality.volume_down"
SILENT: Final = "quality.silent"
TICKING: Final = "quality.ticking"
CODES: Final = (
    TIMESTAMP_BACKWARDS,
    PRICE_OUTSIDE_RANGE,
    PRICE_JUMP,
    CROSSED_BOOK,
    NEGATIVE_VALUE,
    VOLUME_DOWN,
    SILENT,
    TICKING,
)

_KEPT: Final = (
    "Kept the ticks as received (the journal holds every frame unchanged; optui never edits "
    "market data) and flagged them."
)
_DO: Final[dict[str, str]] = {
    TIMESTAMP_BACKWARDS: (
        "Once is harmless (a late packet). If it repeats, treat these instruments' prices as "
        "possibly stale and restart the feed."
    ),
    PRICE_OUTSIDE_RANGE: (
        "Treat these instruments' last price with caution; compare it with Kite's own "
        "terminal before acting on it."
    ),
    PRICE_JUMP: (
        "Check the price against Kite's own terminal before acting on it; a bad print is "
        "corrected by the next tick."
    ),
    CROSSED_BOOK: (
        "Do not trade off this book; it normally uncrosses within seconds. If it persists, "
        "compare with Kite's own terminal."
    ),
    NEGATIVE_VALUE: (
        "Figures built on OI or volume (change in OI, PCR, volume) are wrong for these "
        "instruments until the feed corrects them; report it if it repeats."
    ),
    VOLUME_DOWN: (
        "Volume-based figures for these instruments may be off; if it repeats, restart the feed."
    ),
    SILENT: (
        "Check whether these instruments are halted or simply not trading; if they should be "
        "ticking, restart the feed or check the subscription."
    ),
}


@dataclass(frozen=True, slots=True)
class QualityLimits:
    """The thresholds of the checks (see the module's docstring for the reasoning)."""

    jump: float = 0.20
    """Index, stock, future: a jump is a move of more than this share of the smaller price."""
    option_jump: float = 4.0
    """Options: ... more than this multiple of the smaller price (4: beyond five-fold) ..."""
    option_jump_floor: float = 20.0
    """... and by more than this many rupees."""
    book_agrees: float = 2.0
    """A jump is not reported when the same packet's best bid and offer agree with the new
    price: it lies within this factor of them (bid / 2 <= last <= 2 * ask)."""
    timestamp_slack: int = 0
    """Seconds a timestamp may step back without a report (Kite's are whole seconds)."""
    silent_after: float = 60.0
    """Seconds without a tick before a token (that ticked before) counts as silent."""
    silent_factor: float = 10.0
    """... and it must also be quiet for this many of its own mean gaps between ticks."""
    max_listed: int = 10
    """Tokens named in an event's ``tokens`` detail (the rest are counted)."""
    session: tuple[int, int] = (
        MARKET_OPEN.hour * 3600 + MARKET_OPEN.minute * 60,
        MARKET_CLOSE.hour * 3600 + MARKET_CLOSE.minute * 60,
    )
    """IST seconds of the day bounding the continuous session, where a crossed book is wrong
    (in the pre-open call auction the book is crossed by design)."""


def market_open_at(now: float, calendar: TradingCalendar | None = None) -> bool:
    """True when `now` (epoch seconds) is within 09:15-15:30 IST of an NSE trading day."""
    cal = calendar or TradingCalendar.default()
    day = ist_date(now)
    if not cal.is_trading_day(day):
        return False
    open_, close = cal.session_bounds(day)
    return open_ <= now < close


# -- per-token state -------------------------------------------------------------------------
_STATE: Final = np.dtype(
    [
        # Latest day volume, last trade time and exchange time, each as received where the
        # packet had one (0: none yet).
        ("volume", np.int64),
        ("trade_time", np.int64),
        ("exchange", np.int64),
        # Latest last price (0: none yet) and the token's jump band.
        ("last", np.float64),
        ("grow", np.float64),  # 1 + the relative band
        ("floor", np.float64),
        # When it last ticked (NaN: never) and how often since the market opened.
        ("seen", np.float64),
        ("count", np.int64),
    ]
)


class _TokenIndex:
    """Token -> row (its position in the sorted tokens), as a hash table looked up for a
    whole batch at once.

    A batch's lookup is a multiply, a shift and two gathers (faster than a binary search of
    500 tokens among 9,000). A slot holds the first token that hashes to it; the few tokens
    that collided with another (the table is at most a quarter full) are found by a binary
    search of the sorted tokens instead.
    """

    _MULTIPLIER: Final = np.uint32(0x9E3779B1)  # Knuth's multiplicative hash

    def __init__(self, tokens: npt.NDArray[np.uint32]) -> None:
        bits = max(8, int(len(tokens) * 4).bit_length())  # at most a quarter full
        self._shift = np.uint32(32 - bits)
        self._keys = np.zeros(1 << bits, dtype=np.uint32)
        self._rows = np.full(1 << bits, -1, dtype=np.intp)
        self._sorted = tokens
        # Each slot holds the first token that hashes to it; the others are searched for.
        slot = self._slot(tokens)
        _, first = np.unique(slot, return_index=True)
        self._keys[slot[first]] = tokens[first]
        self._rows[slot[first]] = first
        # An empty slot's key must never match: 0 is where token 0 would hash to (slot 0),
        # so an empty slot 0 holds 1 instead, which hashes elsewhere.
        if self._rows[0] < 0:
            self._keys[0] = 1

    def _slot(self, tokens: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
        return (tokens * self._MULTIPLIER) >> self._shift  # wraps modulo 2**32, as meant

    def find(self, tokens: npt.NDArray[np.uint32]) -> npt.NDArray[np.intp]:
        """Row of each token; -1 for a token not in the table."""
        slot = self._slot(tokens)
        found = self._keys[slot] == tokens
        rows = self._rows[slot]
        if np.count_nonzero(found) == len(found):
            return rows
        # The few that collided (or are unknown): a binary search of the sorted tokens.
        missed = np.flatnonzero(~found)
        wanted = tokens[missed]
        at = np.minimum(np.searchsorted(self._sorted, wanted), max(len(self._sorted) - 1, 0))
        known = self._sorted[at] == wanted if len(self._sorted) else np.zeros(len(at), bool)
        rows[missed] = np.where(known, at, -1)
        return rows


def _ist_day(epoch: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return (epoch + IST_OFFSET) // DAY


def _stamp(ticks: Ticks, rows: npt.NDArray[np.intp], now: float) -> npt.NDArray[np.int64]:
    """When `rows` happened: their exchange time, or `now` (when they arrived) without one."""
    exchange = ticks["exchange_timestamp"][rows]
    return np.where(exchange > 0, exchange, int(now))


def _same_day(
    ticks: Ticks, prev: Ticks, rows: npt.NDArray[np.intp], now: float
) -> npt.NDArray[np.bool_]:
    """Whether each of `rows` falls on the IST day of its token's previous tick (by the
    exchange time where there is one, else by when it arrived)."""
    exchange = prev["exchange"][rows]
    before = np.where(exchange > 0, exchange, np.nan_to_num(prev["seen"][rows]).astype(np.int64))
    same: npt.NDArray[np.bool_] = (before > 0) & (
        _ist_day(before) == _ist_day(_stamp(ticks, rows, now))
    )
    return same


def _hhmmss(epoch: int) -> str:
    return _time.strftime("%H:%M:%S", _time.gmtime(epoch + IST_OFFSET))


# -- findings of one batch --------------------------------------------------------------------
@dataclass
class _Finding:
    """Rows of a batch that failed one check: their tokens, and details of the first."""

    tokens: list[npt.NDArray[np.uint32]]
    plural: str
    first: dict[str, Detail]
    message: str


class QualityMonitor:
    """Per-instrument checks on a stream of decoded ticks (see the module's docstring).

    Not thread-safe: call it from the thread that decodes (the engine's).
    """

    def __init__(
        self,
        limits: QualityLimits | None = None,
        *,
        option_tokens: npt.ArrayLike | None = None,
    ) -> None:
        self.limits = limits or QualityLimits()
        self._options: npt.NDArray[np.uint32] | None = None
        self._tokens = np.zeros(0, dtype=np.uint32)  # sorted; row i of the state is token i
        self._state = np.zeros(0, dtype=_STATE)
        self._index = _TokenIndex(self._tokens)
        self._records = self._state.view(np.dtype((np.void, _STATE.itemsize)))
        self._reported = np.zeros(0, dtype=bool)  # named by the open stall's events
        self._mark = np.zeros(0, dtype=np.intp)  # scratch: finds repeated tokens
        self._rows = np.arange(512, dtype=np.intp)
        self._opened: float | None = None  # when check_silent first saw the market open
        self._stall = False
        self._stall_size = 0  # tokens the open stall's events named
        self._stall_reported_at = -np.inf
        self.batches = 0
        self.rows = 0
        if option_tokens is not None:
            self.set_option_tokens(option_tokens)

    # -- configuration ---------------------------------------------------------------------
    def set_option_tokens(self, tokens: npt.ArrayLike) -> None:
        """Say which tokens are options (the rest get the index/stock/futures band)."""
        self._options = np.unique(np.asarray(tokens, dtype=np.uint32))
        band = self._band(self._tokens)
        self._state["grow"] = 1.0 + band[:, 0]
        self._state["floor"] = band[:, 1]

    def forget(self, tokens: npt.ArrayLike) -> None:
        """Stop watching `tokens` for silence (unsubscribed: the live feed re-centred)."""
        wanted = np.unique(np.asarray(tokens, dtype=np.uint32).ravel())
        at = np.searchsorted(self._tokens, wanted)
        inside = at < len(self._tokens)
        at = at[inside]
        at = at[self._tokens[at] == wanted[inside]]
        self._state["seen"][at] = np.nan
        self._state["count"][at] = 0
        self._reported[at] = False

    # -- the hot path ------------------------------------------------------------------------
    def check(self, ticks: Ticks, now: float) -> list[Event]:
        """Check one batch of decoded ticks, received at `now` (epoch seconds); remember it.

        Returns at most one event per code. Rows of a token are taken in order, also when a
        batch holds several of the same token.
        """
        n = len(ticks)
        if n == 0:
            return []
        self.batches += 1
        self.rows += n
        at = self._locate(ticks["instrument_token"])
        if len(self._rows) < n:
            self._rows = np.arange(max(n, 2 * len(self._rows)), dtype=np.intp)
        rows = self._rows[:n]
        mark = self._mark
        mark[at] = rows
        findings: dict[str, _Finding] = {}
        if not np.count_nonzero(mark[at] != rows):  # one row per token: the usual Kite frame
            self._scan(ticks, at, now, findings)
        else:
            for layer in _layers(at):
                self._scan(ticks[layer], at[layer], now, findings)
        if not findings:
            return []
        return [self._event(code, found, now) for code, found in findings.items()]

    def _scan(
        self, ticks: Ticks, at: npt.NDArray[np.intp], now: float, out: dict[str, _Finding]
    ) -> None:
        """Check rows of distinct tokens (`at`: their state rows) and take them in.

        Each line here is one or two numpy calls over the batch, kept to the fewest that find
        the *candidates* of each check; the exact test (absent values, the IST day, the
        session) and the details run only on those rows, which are rare.
        """
        slack = self.limits.timestamp_slack
        # The tokens' state as one contiguous copy of whole records (one gather, one scatter).
        prev = self._records.take(at).view(_STATE)
        exchange = ticks["exchange_timestamp"]
        trade_time = ticks["last_trade_time"]
        volume = ticks["volume_traded"]
        last = ticks["last_price"]
        high = ticks["high"]

        # Timestamps that go back. A zero (a packet kind without one) is below any baseline:
        # such rows are candidates only, and dropped by `_timestamps_back`.
        if slack:
            back = (exchange < prev["exchange"] - slack) | (trade_time < prev["trade_time"] - slack)
        else:
            back = (exchange < prev["exchange"]) | (trade_time < prev["trade_time"])
        if np.count_nonzero(back):
            self._timestamps_back(ticks, back, prev, now, out)

        # Volume and OI below zero (the wire's words are unsigned: only another source can).
        if (volume | ticks["oi"]).min() < 0:
            self._negative(ticks, out)

        # Volume down (an absent volume, 0, is a candidate, dropped with other days' rows).
        down = volume < prev["volume"]
        if np.count_nonzero(down):
            self._volume_down(ticks, down, prev, now, out)

        # The last price outside the packet's own day range (prices are never negative, so an
        # absent low, 0, is never above it), or a jump from the previous last price: here the
        # relative band only (a move beyond it either way, a first price against 0), the
        # absolute floor and the rest in `_jump`.
        outside = ((last > high) & (high > 0)) | (last < ticks["low"])
        if np.count_nonzero(outside):
            self._outside(ticks, outside, out)
        before = prev["last"]
        grow = prev["grow"]
        jump = (last > before * grow) | (last * grow < before)
        if np.count_nonzero(jump):
            self._jump(ticks, jump, prev, now, out)

        # A crossed book (full packets carry depth; other kinds have zeros there).
        ask = ticks["depth_sell_price"][:, 0]
        crossed = (ticks["depth_buy_price"][:, 0] > ask) & (ask > 0)
        if np.count_nonzero(crossed):
            self._crossed(ticks, crossed, now, out)

        # Take the batch in: the new baselines are the values as received, where present.
        np.copyto(prev["volume"], volume, where=volume > 0)
        np.copyto(prev["trade_time"], trade_time, where=trade_time > 0)
        np.copyto(prev["exchange"], exchange, where=exchange > 0)
        prev["last"] = last
        prev["seen"] = now
        prev["count"] += 1
        self._records[at] = prev.view(self._records.dtype)

    # -- the checks' details (only on rows that failed) ---------------------------------------
    def _timestamps_back(
        self,
        ticks: Ticks,
        back: npt.NDArray[np.bool_],
        prev: Ticks,
        now: float,
        out: dict[str, _Finding],
    ) -> None:
        slack = self.limits.timestamp_slack
        rows = np.flatnonzero(back)
        exchange = ticks["exchange_timestamp"][rows]
        trade_time = ticks["last_trade_time"][rows]
        back_exchange = (exchange > 0) & (exchange < prev["exchange"][rows] - slack)
        back_trade = (trade_time > 0) & (trade_time < prev["trade_time"][rows] - slack)
        kept = np.flatnonzero(back_exchange | back_trade)
        if len(kept) == 0:
            return
        rows = rows[kept]
        i = int(rows[0])
        if back_exchange[kept[0]]:
            field, was = "exchange_timestamp", int(prev["exchange"][i])
        else:
            field, was = "last_trade_time", int(prev["trade_time"][i])
        now_at = int(ticks[field][i])
        token = int(ticks["instrument_token"][i])
        _add(
            out,
            TIMESTAMP_BACKWARDS,
            "sent a timestamp earlier than before",
            ticks["instrument_token"][rows],
            {"field": field, "previous": was, "received": now_at, "back_s": was - now_at},
            f"Instrument {token}'s {field.replace('_', ' ')} went back {was - now_at} s "
            f"({_hhmmss(was)} → {_hhmmss(now_at)} IST)",
        )

    def _negative(self, ticks: Ticks, out: dict[str, _Finding]) -> None:
        negative_volume = ticks["volume_traded"] < 0
        rows = np.flatnonzero(negative_volume | (ticks["oi"] < 0))
        i = int(rows[0])
        field = "volume_traded" if negative_volume[i] else "oi"
        what = "volume" if negative_volume[i] else "OI"
        value = int(ticks[field][i])
        token = int(ticks["instrument_token"][i])
        _add(
            out,
            NEGATIVE_VALUE,
            "report a negative OI or volume",
            ticks["instrument_token"][rows],
            {"field": field, "value": value},
            f"Instrument {token} reports a negative {what} ({value:,})",
        )

    def _volume_down(
        self,
        ticks: Ticks,
        down: npt.NDArray[np.bool_],
        prev: Ticks,
        now: float,
        out: dict[str, _Finding],
    ) -> None:
        rows = np.flatnonzero(down)
        # Only quote and full packets carry the volume; and a new IST day starts it afresh.
        rows = rows[ticks["mode"][rows] >= MODE_QUOTE]
        rows = rows[_same_day(ticks, prev, rows, now)]
        if len(rows) == 0:
            return
        i = int(rows[0])
        was, now_vol = int(prev["volume"][i]), int(ticks["volume_traded"][i])
        token = int(ticks["instrument_token"][i])
        _add(
            out,
            VOLUME_DOWN,
            "reported a lower day volume than before",
            ticks["instrument_token"][rows],
            {"previous": was, "volume": now_vol},
            f"Instrument {token}'s day volume went down from {was:,} to {now_vol:,}",
        )

    def _outside(
        self, ticks: Ticks, outside: npt.NDArray[np.bool_], out: dict[str, _Finding]
    ) -> None:
        rows = np.flatnonzero(outside)
        i = int(rows[0])
        last, high, low = (float(ticks[f][i]) for f in ("last_price", "high", "low"))
        token = int(ticks["instrument_token"][i])
        _add(
            out,
            PRICE_OUTSIDE_RANGE,
            "had a last price outside the day's high/low",
            ticks["instrument_token"][rows],
            {"last_price": last, "high": high, "low": low},
            f"Instrument {token}'s last price {last:g} is outside the day's range "
            f"{low:g}–{high:g} its own packet reports",
        )

    def _jump(
        self,
        ticks: Ticks,
        jump: npt.NDArray[np.bool_],
        prev: Ticks,
        now: float,
        out: dict[str, _Finding],
    ) -> None:
        rows = np.flatnonzero(jump)
        # Both prices present, beyond the absolute floor too (options), the same IST day (a
        # new day may open anywhere).
        now_at, then = ticks["last_price"][rows], prev["last"][rows]
        rows = rows[(now_at > 0) & (then > 0) & (np.abs(now_at - then) > prev["floor"][rows])]
        rows = rows[_same_day(ticks, prev, rows, now)]
        # A move the packet's own book agrees with is the market moving (the previous price
        # may be a stale trade): a bad print stands apart from the bids and offers.
        bid = ticks["depth_buy_price"][rows, 0]
        ask = ticks["depth_sell_price"][rows, 0]
        price = ticks["last_price"][rows]
        factor = self.limits.book_agrees
        agrees = (bid > 0) & (ask > 0) & (price * factor >= bid) & (price <= ask * factor)
        rows = rows[~agrees]
        if len(rows) == 0:
            return
        i = int(rows[0])
        was, last = float(prev["last"][i]), float(ticks["last_price"][i])
        token = int(ticks["instrument_token"][i])
        pct = 100.0 * (last - was) / was
        _add(
            out,
            PRICE_JUMP,
            "had a last price jump beyond the sane band",
            ticks["instrument_token"][rows],
            {"previous": was, "last_price": last, "change_pct": round(pct, 2)},
            f"Instrument {token}'s last price jumped from {was:g} to {last:g} ({pct:+.1f}%) "
            "between two ticks",
        )

    def _crossed(
        self,
        ticks: Ticks,
        crossed: npt.NDArray[np.bool_],
        now: float,
        out: dict[str, _Finding],
    ) -> None:
        rows = np.flatnonzero(crossed)
        second = (_stamp(ticks, rows, now) + IST_OFFSET) % DAY
        start, end = self.limits.session
        rows = rows[(second >= start) & (second < end)]
        if len(rows) == 0:
            return
        i = int(rows[0])
        bid = float(ticks["depth_buy_price"][i, 0])
        ask = float(ticks["depth_sell_price"][i, 0])
        token = int(ticks["instrument_token"][i])
        _add(
            out,
            CROSSED_BOOK,
            "had a crossed book (best bid above best ask)",
            ticks["instrument_token"][rows],
            {"best_bid": bid, "best_ask": ask},
            f"Instrument {token} has a crossed book: best bid {bid:g} above best ask {ask:g}",
        )

    # -- silence ---------------------------------------------------------------------------
    def check_silent(self, now: float, market_open: bool) -> list[Event]:
        """Tokens that ticked before but stopped, while the market is open (see the module's
        docstring); call it every second or so. `market_open_at(now)` gives `market_open` for
        NSE's session.
        """
        limits = self.limits
        if not market_open:
            self._opened = None
            if not self._stall:
                return []
            count = self._stall_size
            self._end_stall()
            return [
                self._silence_event(
                    TICKING,
                    now,
                    "info",
                    f"The market closed: no longer watching the {count} silent instrument(s)",
                    {"instruments": count},
                    clears=SILENT,
                )
            ]
        if self._opened is None:
            self._opened = now
            self._state["count"] = 0
        seen = self._state["seen"]
        ticks = self._state["count"]
        quiet = now - seen
        ticked = ticks >= 2
        with np.errstate(invalid="ignore"):
            gap = (seen - self._opened) / np.maximum(ticks, 1)
            silent = ticked & (quiet >= np.maximum(limits.silent_after, limits.silent_factor * gap))
        events: list[Event] = []
        if self._stall:
            self._reported &= silent  # those that ticked again leave the stall
            if not self._reported.any():
                count = self._stall_size
                self._end_stall()
                events.append(
                    self._silence_event(
                        TICKING,
                        now,
                        "info",
                        f"The {count} instrument(s) that had stopped ticking are ticking again",
                        {"instruments": count},
                        clears=SILENT,
                    )
                )
        new = silent & ~self._reported
        if not new.any() or now - self._stall_reported_at < limits.silent_after:
            return events
        # No instrument ticked lately at all: the whole feed is quiet, which the feed reports.
        with np.errstate(invalid="ignore"):
            if not np.nanmax(seen) > now - limits.silent_after:
                return events
        rows = np.flatnonzero(new)
        self._reported[rows] = True
        self._stall = True
        self._stall_size += len(rows)
        self._stall_reported_at = now
        tokens = self._tokens[rows]
        longest = float(np.max(quiet[rows]))
        what = (
            f"Instrument {int(tokens[0])} stopped ticking"
            if len(rows) == 1
            else f"{len(rows)} instruments stopped ticking"
        )
        events.append(
            self._silence_event(
                SILENT,
                now,
                "warning",
                f"{what} while the market is open (quiet for up to {longest:.0f} s)",
                {
                    "subject": str(int(tokens[0])),
                    "instruments": len(rows),
                    "tokens": _listed(tokens, limits.max_listed),
                    "silent_now": int(silent.sum()),
                    "longest_quiet_s": round(longest, 1),
                },
            )
        )
        return events

    def silent_tokens(self) -> npt.NDArray[np.uint32]:
        """Tokens of the open stall (empty when none)."""
        return self._tokens[self._reported]

    def _end_stall(self) -> None:
        self._stall = False
        self._stall_size = 0
        self._reported[:] = False
        self._stall_reported_at = -np.inf

    def _silence_event(
        self,
        code: str,
        now: float,
        severity: Severity,
        message: str,
        details: dict[str, Detail],
        *,
        clears: str = "",
    ) -> Event:
        return Event(
            time=now,
            kind="data_quality",
            severity=severity,
            code=code,
            message=message,
            details=details,
            did=(
                "Kept watching them; the other instruments and the feed go on as before."
                if code == SILENT
                else "Closed the silent-instruments report."
            ),
            do=_DO.get(code, ""),
            clears=clears,
        )

    # -- state ------------------------------------------------------------------------------
    def _locate(self, tokens: npt.NDArray[np.uint32]) -> npt.NDArray[np.intp]:
        """State row of each token, adding the tokens never seen before."""
        at = self._index.find(tokens)
        if not np.count_nonzero(at < 0):
            return at
        self._grow(np.unique(tokens[at < 0]))
        return self._index.find(tokens)

    def _grow(self, tokens: npt.NDArray[np.uint32]) -> None:
        merged = np.union1d(self._tokens, tokens)
        old = np.searchsorted(merged, self._tokens)
        state = np.zeros(len(merged), dtype=_STATE)
        state["seen"] = np.nan
        state[old] = self._state
        band = self._band(merged)
        state["grow"] = 1.0 + band[:, 0]
        state["floor"] = band[:, 1]
        reported = np.zeros(len(merged), dtype=bool)
        reported[old] = self._reported
        self._tokens, self._state, self._reported = merged, state, reported
        self._records = state.view(np.dtype((np.void, _STATE.itemsize)))
        self._mark = np.zeros(len(merged), dtype=np.intp)
        self._index = _TokenIndex(merged)

    def _band(self, tokens: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]:
        """(relative, absolute floor) of each token's jump band."""
        if self._options is None:
            is_option = np.isin(tokens & 0xFF, _DERIVATIVE_SEGMENTS)
        else:
            is_option = np.isin(tokens, self._options, assume_unique=False)
        limits = self.limits
        band = np.empty((len(tokens), 2))
        band[:, 0] = np.where(is_option, limits.option_jump, limits.jump)
        band[:, 1] = np.where(is_option, limits.option_jump_floor, 0.0)
        return band

    # -- events -----------------------------------------------------------------------------
    def _event(self, code: str, found: _Finding, now: float) -> Event:
        tokens = found.tokens[0] if len(found.tokens) == 1 else np.concatenate(found.tokens)
        # A token may fail in several layers of a batch: name it once, in order of arrival.
        _, first = np.unique(tokens, return_index=True)
        tokens = tokens[np.sort(first)]
        count = len(tokens)
        details: dict[str, Detail] = {
            "subject": str(int(tokens[0])),
            "instruments": count,
            "tokens": _listed(tokens, self.limits.max_listed),
            **found.first,
        }
        message = (
            found.message
            if count == 1
            else f"{count} instruments {found.plural} (the first: {found.message})"
        )
        severity: Severity = "error" if code == NEGATIVE_VALUE else "warning"
        return Event(
            time=now,
            kind="data_quality",
            severity=severity,
            code=code,
            message=message,
            details=details,
            did=_KEPT,
            do=_DO[code],
        )


def _add(
    out: dict[str, _Finding],
    code: str,
    plural: str,
    tokens: npt.NDArray[np.uint32],
    first: dict[str, Detail],
    message: str,
) -> None:
    found = out.get(code)
    if found is None:
        out[code] = _Finding([tokens], plural, first, message)
    else:
        found.tokens.append(tokens)


def _listed(tokens: npt.NDArray[np.uint32], limit: int) -> str:
    shown = ", ".join(str(t) for t in tokens[:limit].tolist())
    more = len(tokens) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def _layers(at: npt.NDArray[np.intp]) -> list[npt.NDArray[np.intp]]:
    """Rows of a batch split so that no layer holds a token twice: layer k holds each token's
    (k+1)-th row, so taking the layers in order takes every token's rows in order."""
    order = np.argsort(at, kind="stable")
    ordered = at[order]
    starts = np.ones(len(at), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    positions = np.arange(len(at))
    rank_ordered = positions - np.maximum.accumulate(np.where(starts, positions, 0))
    rank = np.empty(len(at), dtype=np.intp)
    rank[order] = rank_ordered
    return [np.flatnonzero(rank == k) for k in range(int(rank.max()) + 1)]
