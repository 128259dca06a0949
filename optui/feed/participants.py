"""Simulated NSE participant-wise open interest files, for the demo's Participants screen.

NSE publishes `fao_participant_oi_DDMMYYYY.csv` after each trading day: open contracts of
Client, DII, FII and Pro, long and short, in index and stock futures and options. The demo
writes files of the same shape (title line, header with NSE's padding, CRLF line endings, rows
Client, DII, FII, Pro, TOTAL) with the title marked SIMULATED.

The numbers are deterministic for (seed, day), smooth from day to day, and consistent the way
NSE's are: per instrument the participants' longs add up to the same total as their shorts
(every contract has two sides), TOTAL is the column sum, and each participant's Total Long and
Total Short are the sums of its long and short columns. Totals follow the expiry cycles (index
options drop after each weekly expiry and build up until the next; futures and stock options
follow the monthly cycle); participant shares swing slowly around levels typical of 2025-2026.
The magnitudes are ours, in the range of NSE's 2025-2026 files; no real day is reproduced.

The day's traded volume (`fao_participant_vol_DDMMYYYY.csv`, "Participant wise Trading
Volume") has the same columns, longs being contracts bought and shorts contracts sold: per
instrument the buys add up to the sells (every trade has a buyer and a seller). Index options
trade most on their weekly expiry day and stock derivatives around the monthly one; the
participants' shares sit around those of NSE's 2025 files (Pro and Client most of the
options, FII a tenth, DII next to none).
"""

from __future__ import annotations

import math
from datetime import date
from typing import Final

import numpy as np
import numpy.typing as npt

from optui.analytics.participants import COLUMNS as NSE_COLUMNS
from optui.feed import reference
from optui.feed.calendar import TradingCalendar

__all__ = [
    "CATEGORIES",
    "COLUMNS",
    "PARTICIPANTS",
    "participant_csv",
    "participant_oi_csv",
    "participant_oi_filename",
    "participant_oi_table",
    "participant_vol_table",
]

PARTICIPANTS: Final = ("Client", "DII", "FII", "Pro")
CATEGORIES: Final = (
    "Future Index",
    "Future Stock",
    "Option Index Call",
    "Option Index Put",
    "Option Stock Call",
    "Option Stock Put",
)
# NSE's columns, as the reader knows them (one list, so the demo's files and the reader
# cannot drift apart).
COLUMNS: Final = ("Client Type", *NSE_COLUMNS)
# NSE's header pads two names with trailing spaces (files from May 2025 on); kept so a parser
# written against the real files reads ours unchanged.
_HEADER_PADDING: Final = {"Future Stock Short": 7, "Total Long Contracts": 6}
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)

# Typical open contracts per category (2025-2026 order of magnitude), and the participants'
# shares of the long and the short side, in PARTICIPANTS order.
_TOTALS: Final = (330_000, 7_800_000, 4_300_000, 4_600_000, 3_600_000, 2_300_000)
_LONG_SHARES: Final = (
    (0.60, 0.13, 0.12, 0.15),
    (0.40, 0.05, 0.44, 0.11),
    (0.65, 0.003, 0.13, 0.22),
    (0.55, 0.008, 0.21, 0.23),
    (0.66, 0.002, 0.05, 0.29),
    (0.40, 0.015, 0.15, 0.44),
)
_SHORT_SHARES: Final = (
    (0.20, 0.06, 0.62, 0.12),
    (0.04, 0.53, 0.37, 0.06),
    # DIIs hardly ever write index options: NSE's files show tens of contracts, or zero.
    (0.63, 0.00002, 0.17, 0.20),
    (0.67, 0.00001, 0.13, 0.20),
    (0.40, 0.09, 0.10, 0.41),
    (0.52, 0.01, 0.08, 0.39),
)
# Expiry cycles, as in NSE's 2025 files: (weekly?, level just after expiry, build-up until
# the next). Index options lose about half their OI every weekly expiry; index futures about a
# quarter and stock options about 60% at the monthly expiry; stock futures, rolled over ahead
# of expiry, a few percent.
_CYCLES: Final = (
    (False, 0.8, 0.35),
    (False, 0.95, 0.08),
    (True, 0.6, 0.8),
    (True, 0.6, 0.8),
    (False, 0.5, 1.0),
    (False, 0.5, 1.0),
)
# Traded contracts a day per category (2025 order of magnitude), the participants' shares of
# the buys and the sells, and how much more trades on an expiry day (weekly for index
# options, the monthly one for the rest).
_VOL_TOTALS: Final = (125_000, 1_300_000, 45_000_000, 45_000_000, 3_500_000, 1_900_000)
_VOL_LONG_SHARES: Final = (
    (0.52, 0.016, 0.105, 0.36),
    (0.32, 0.04, 0.23, 0.41),
    (0.355, 0.00001, 0.081, 0.564),
    (0.40, 0.00001, 0.075, 0.525),
    (0.337, 0.0003, 0.056, 0.607),
    (0.252, 0.0007, 0.069, 0.678),
)
_VOL_SHORT_SHARES: Final = (
    (0.49, 0.005, 0.17, 0.335),
    (0.30, 0.076, 0.24, 0.38),
    (0.355, 0.00001, 0.0805, 0.5645),
    (0.40, 0.00003, 0.075, 0.525),
    (0.318, 0.0034, 0.057, 0.622),
    (0.275, 0.0003, 0.064, 0.661),
)
_VOL_EXPIRY_BOOST: Final = (1.6, 1.5, 1.9, 1.9, 1.7, 1.7)
_STREAM_VOLUME: Final = 22

_FUTURE_INDEX: Final = 0
_FII: Final = PARTICIPANTS.index("FII")

_STREAM_PARTICIPANTS: Final = 21


def participant_vol_table(
    seed: int, day: date, calendar: TradingCalendar | None = None
) -> npt.NDArray[np.int64]:
    """Traded contracts on `day`: shape (5, 14) as `participant_oi_table`, longs bought and
    shorts sold. Deterministic for (seed, day)."""
    cal = calendar or TradingCalendar.default()
    ordinal = day.toordinal()
    noise = 0.15 * _smooth(seed, 0, 10, ordinal, _STREAM_VOLUME) + 0.12 * _smooth(
        seed, 1, 1, ordinal, _STREAM_VOLUME
    )
    weekday = reference.derivative_specs()["NIFTY"].expiry_weekday
    weekly_expiry = _cycle_position(day, weekday, False, cal) == 0.0
    monthly_expiry = _cycle_position(day, weekday, True, cal) == 0.0
    longs = np.zeros((len(PARTICIPANTS), len(CATEGORIES)), dtype=np.int64)
    shorts = np.zeros_like(longs)
    for c, base in enumerate(_VOL_TOTALS):
        expiring = weekly_expiry if _CYCLES[c][0] else monthly_expiry
        boost = _VOL_EXPIRY_BOOST[c] if expiring else 1.0
        total = round(float(base * boost * math.exp(noise[c, 0, -1])))
        for side, (shares, out) in enumerate(
            ((_VOL_LONG_SHARES[c], longs), (_VOL_SHORT_SHARES[c], shorts))
        ):
            weights = np.asarray(shares) * np.exp(noise[c, side, :-1])
            out[:, c] = _allocate(total, weights / weights.sum())
    return _table(longs, shorts)


def participant_oi_filename(day: date) -> str:
    """NSE's file name for a day: `fao_participant_oi_DDMMYYYY.csv`."""
    return f"fao_participant_oi_{day:%d%m%Y}.csv"


def _knots(seed: int, octave: int, knot: int, stream: int) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng([seed, stream, octave, knot])
    return rng.standard_normal((len(CATEGORIES), 2, len(PARTICIPANTS) + 1))


def _smooth(
    seed: int, octave: int, period: int, ordinal: int, stream: int = _STREAM_PARTICIPANTS
) -> npt.NDArray[np.float64]:
    """Smooth noise per (category, side, participant / total) as a function of the day."""
    knot, offset = divmod(ordinal, period)
    x = offset / period
    w = x * x * (3.0 - 2.0 * x)
    return (1.0 - w) * _knots(seed, octave, knot, stream) + w * _knots(
        seed, octave, knot + 1, stream
    )


def _cycle_position(day: date, weekday: int, monthly: bool, cal: TradingCalendar) -> float:
    """Where `day` sits in its expiry cycle: 0 on an expiry day (expired OI is gone) up to
    nearly 1 the day before the next expiry, counted in trading days."""
    last = day
    while True:
        if monthly:
            is_expiry = last == cal.monthly_expiry(last.year, last.month, weekday, "NFO")
        else:
            is_expiry = next(iter(cal.expiries(weekday, "NFO", last))).day == last
        if is_expiry and cal.is_trading_day(last):
            break
        last = cal.previous_trading_day(last)
    if monthly:
        following = cal.monthly_expiry(
            last.year + last.month // 12, last.month % 12 + 1, weekday, "NFO"
        )
    else:
        following = next(e.day for e in cal.expiries(weekday, "NFO", last) if e.day > last)
    done = len(cal.trading_days(last, day)) - 1
    total = max(len(cal.trading_days(last, following)) - 1, 1)
    return done / total


def participant_oi_table(
    seed: int, day: date, calendar: TradingCalendar | None = None
) -> npt.NDArray[np.int64]:
    """Open contracts for `day`: shape (5, 14), rows PARTICIPANTS then TOTAL, columns as
    `COLUMNS[1:]`. Deterministic for (seed, day)."""
    cal = calendar or TradingCalendar.default()
    ordinal = day.toordinal()
    noise = (
        0.30 * _smooth(seed, 0, 30, ordinal)
        + 0.10 * _smooth(seed, 1, 6, ordinal)
        + 0.03 * _smooth(seed, 2, 1, ordinal)
    )
    weekday = reference.derivative_specs()["NIFTY"].expiry_weekday
    weekly = _cycle_position(day, weekday, False, cal)
    monthly = _cycle_position(day, weekday, True, cal)

    longs = np.zeros((len(PARTICIPANTS), len(CATEGORIES)), dtype=np.int64)
    shorts = np.zeros_like(longs)
    for c, base in enumerate(_TOTALS):
        is_weekly, floor, build = _CYCLES[c]
        cycle = floor + build * (weekly if is_weekly else monthly)
        total = round(float(base * cycle * math.exp(0.3 * noise[c, 0, -1])))
        for side, (shares, out) in enumerate(
            ((_LONG_SHARES[c], longs), (_SHORT_SHARES[c], shorts))
        ):
            swing = noise[c, side, :-1].copy()
            if c == _FUTURE_INDEX and side == 0:
                swing[_FII] *= 2.5  # the FII index-futures long ratio swings widely
            weights = np.asarray(shares) * np.exp(swing)
            out[:, c] = _allocate(total, weights / weights.sum())

    return _table(longs, shorts)


def _table(longs: npt.NDArray[np.int64], shorts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """NSE's layout of (participant, category) longs and shorts, with the totals."""
    table = np.zeros((len(PARTICIPANTS) + 1, len(COLUMNS) - 1), dtype=np.int64)
    # Column layout: FI L, FI S, FS L, FS S, OIC L, OIP L, OIC S, OIP S, OSC L, OSP L, OSC S,
    # OSP S, Total L, Total S.
    long_cols = (0, 2, 4, 5, 8, 9)
    short_cols = (1, 3, 6, 7, 10, 11)
    for c in range(len(CATEGORIES)):
        table[:-1, long_cols[c]] = longs[:, c]
        table[:-1, short_cols[c]] = shorts[:, c]
    table[:-1, 12] = longs.sum(axis=1)
    table[:-1, 13] = shorts.sum(axis=1)
    table[-1] = table[:-1].sum(axis=0)
    return table


def _allocate(total: int, shares: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Split an integer total by shares, rounding so the parts add up exactly."""
    exact = total * shares
    parts = np.floor(exact).astype(np.int64)
    short_by = total - int(parts.sum())
    if short_by:
        order = np.argsort(-(exact - parts), kind="stable")
        parts[order[:short_by]] += 1
    return parts


def participant_oi_csv(seed: int, day: date, calendar: TradingCalendar | None = None) -> str:
    """The NSE participant-wise OI file for `day`, as text (CRLF), title marked SIMULATED."""
    return participant_csv("oi", seed, day, calendar)


_TITLES: Final = {"oi": "Open Interest", "vol": "Trading Volume"}


def participant_csv(
    kind: str, seed: int, day: date, calendar: TradingCalendar | None = None
) -> str:
    """NSE's participant-wise file of `kind` ("oi": open interest, "vol": the day's trading
    volume) for `day`, as text (CRLF), title marked SIMULATED."""
    if kind not in _TITLES:
        raise ValueError(f"participant file kind {kind!r}: must be 'oi' or 'vol'")
    cal = calendar or TradingCalendar.default()
    if not cal.is_trading_day(day):
        raise ValueError(f"{day} is not an NSE trading day: NSE publishes no file for it")
    make = participant_oi_table if kind == "oi" else participant_vol_table
    table = make(seed, day, cal)
    when = f"{_MONTHS[day.month - 1]} {day.day:02d}, {day.year}"
    title = (
        f'""Participant wise {_TITLES[kind]} (no. of contracts) in Equity Derivatives '
        f'as on {when} (SIMULATED)""' + "," * (len(COLUMNS) - 1)
    )
    header = ",".join(name + " " * _HEADER_PADDING.get(name, 0) for name in COLUMNS)
    lines = [title, header]
    for name, values in zip((*PARTICIPANTS, "TOTAL"), table.tolist(), strict=True):
        lines.append(",".join([name, *map(str, values)]))
    return "\r\n".join(lines) + "\r\n"
