"""The trading calendar: sessions in Asia/Kolkata, exchange holidays and expiry rules.

All instants are epoch seconds; days are converted with `IST` explicitly, never with the
host's local zone.

Expiry rules in force since 1 September 2025 (`EXPIRY_RULES_FROM`):

- NSE index options and futures expire on Tuesday: NIFTY weekly, the monthly contract of every
  underlying on the last Tuesday of the month (BANKNIFTY, FINNIFTY and MIDCPNIFTY are
  monthly only);
- BSE SENSEX options expire weekly on Thursday, the monthly on the last Thursday;
- an expiry that falls on a holiday moves to the previous trading day (Tuesday 21 Oct 2025,
  Diwali, made the NIFTY weekly expire on Monday 20 Oct in the Sep-2025 Kite dump).

The weekday per underlying is data (`assets/derivatives.csv`), the rules are code. The same
rules are applied to earlier dates when asked (the demo's participant history uses them to
shape its expiry cycles); they are not a record of the old Thursday expiries.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo

from optui.feed import reference
from optui.feed.reference import DerivativeSpec, Holiday

__all__ = [
    "EXPIRY_RULES_FROM",
    "FIXED_DATE_HOLIDAYS",
    "IST",
    "MARKET_CLOSE",
    "MARKET_OPEN",
    "SESSION_SECONDS",
    "DemoSession",
    "Expiry",
    "TradingCalendar",
    "demo_session",
    "epoch_at",
    "holiday_exchange",
    "ist_date",
]

IST: Final = ZoneInfo("Asia/Kolkata")
MARKET_OPEN: Final = time(9, 15)
MARKET_CLOSE: Final = time(15, 30)
SESSION_SECONDS: Final = 6 * 3600 + 15 * 60  # 09:15 to 15:30
EXPIRY_RULES_FROM: Final = date(2025, 9, 1)

# Holidays the exchanges observe every year on a fixed date. They stand in for the official
# list in years `holidays.csv` does not cover, which is what the exchanges do themselves when
# they list far expiries: the Dec-2029 NIFTY option in the Aug-2026 Kite dump expires on
# Monday 24 Dec 2029 because 25 Dec is a Tuesday. Movable festivals cannot be known ahead.
FIXED_DATE_HOLIDAYS: Final[tuple[tuple[int, int, str], ...]] = (
    (1, 26, "Republic Day"),
    (5, 1, "Maharashtra Day"),
    (8, 15, "Independence Day"),
    (10, 2, "Mahatma Gandhi Jayanti"),
    (12, 25, "Christmas"),
)

# Derivative and cash segments trade on their parent exchange's calendar.
_HOLIDAY_EXCHANGE: Final[dict[str, str]] = {
    "NSE": "NSE",
    "NFO": "NSE",
    "BSE": "BSE",
    "BFO": "BSE",
}


def holiday_exchange(exchange: str) -> str:
    """The exchange whose holiday list applies to `exchange` (NFO -> NSE, BFO -> BSE)."""
    try:
        return _HOLIDAY_EXCHANGE[exchange]
    except KeyError:
        raise ValueError(f"unknown exchange {exchange!r}") from None


def epoch_at(day: date, at: time) -> int:
    """Epoch seconds of wall-clock time `at` in Asia/Kolkata on `day`."""
    return int(datetime.combine(day, at, tzinfo=IST).timestamp())


def ist_date(epoch: float) -> date:
    """The Asia/Kolkata calendar date of an epoch instant."""
    return datetime.fromtimestamp(epoch, tz=IST).date()


@dataclass(frozen=True, slots=True, order=True)
class Expiry:
    """An expiry date and whether it is the month's (last-weekday) contract."""

    day: date
    monthly: bool


class TradingCalendar:
    """Trading days of NSE and BSE, and the expiry dates they imply.

    `holidays` lists full-day closures per exchange; for a year with no entry at all for an
    exchange, `FIXED_DATE_HOLIDAYS` is used instead. Weekends are never trading days (special
    weekend sessions such as Muhurat trading are not modelled).
    """

    def __init__(self, holidays: Iterable[Holiday]) -> None:
        days: dict[str, set[date]] = {}
        for holiday in holidays:
            days.setdefault(holiday_exchange(holiday.exchange), set()).add(holiday.day)
        self._days = {exchange: frozenset(found) for exchange, found in days.items()}
        self._listed_years = {
            exchange: frozenset(day.year for day in found) for exchange, found in days.items()
        }

    @classmethod
    def default(cls) -> TradingCalendar:
        """The calendar of `assets/holidays.csv` (shared, built once)."""
        return _default_calendar()

    # -- days ----------------------------------------------------------------------------------
    def listed_years(self, exchange: str = "NSE") -> frozenset[int]:
        """Years for which the holiday file has an official list for `exchange`."""
        return self._listed_years.get(holiday_exchange(exchange), frozenset())

    def is_holiday(self, day: date, exchange: str = "NSE") -> bool:
        """True if `day` is a listed (or, beyond the list, fixed-date) holiday of `exchange`."""
        home = holiday_exchange(exchange)
        if day.year in self._listed_years.get(home, frozenset()):
            return day in self._days[home]
        return any(day.month == m and day.day == d for m, d, _ in FIXED_DATE_HOLIDAYS)

    def is_trading_day(self, day: date, exchange: str = "NSE") -> bool:
        """True if the exchange holds a regular session on `day`."""
        return day.weekday() < 5 and not self.is_holiday(day, exchange)

    def on_or_before(self, day: date, exchange: str = "NSE") -> date:
        """`day` if it is a trading day, else the trading day before it."""
        while not self.is_trading_day(day, exchange):
            day -= timedelta(days=1)
        return day

    def previous_trading_day(self, day: date, exchange: str = "NSE") -> date:
        """The last trading day strictly before `day`."""
        return self.on_or_before(day - timedelta(days=1), exchange)

    def next_trading_day(self, day: date, exchange: str = "NSE") -> date:
        """The first trading day strictly after `day`."""
        day += timedelta(days=1)
        while not self.is_trading_day(day, exchange):
            day += timedelta(days=1)
        return day

    def trading_days(self, first: date, last: date, exchange: str = "NSE") -> list[date]:
        """Trading days from `first` to `last`, both included."""
        out: list[date] = []
        day = first
        while day <= last:
            if self.is_trading_day(day, exchange):
                out.append(day)
            day += timedelta(days=1)
        return out

    def last_trading_days(self, end: date, count: int, exchange: str = "NSE") -> list[date]:
        """The `count` trading days ending at `end` (included if it trades), oldest first."""
        out: list[date] = []
        day = self.on_or_before(end, exchange)
        while len(out) < count:
            out.append(day)
            day = self.previous_trading_day(day, exchange)
        out.reverse()
        return out

    def session_bounds(self, day: date) -> tuple[int, int]:
        """Epoch seconds of 09:15 and 15:30 IST on `day`."""
        return epoch_at(day, MARKET_OPEN), epoch_at(day, MARKET_CLOSE)

    # -- expiries ------------------------------------------------------------------------------
    def monthly_expiry(self, year: int, month: int, weekday: int, exchange: str) -> date:
        """The month's contract expiry: its last `weekday`, moved back over holidays."""
        last_day = _stdlib_calendar.monthrange(year, month)[1]
        nominal = date(year, month, last_day)
        nominal -= timedelta(days=(nominal.weekday() - weekday) % 7)
        return self.on_or_before(nominal, exchange)

    def expiries(self, weekday: int, exchange: str, on: date) -> Iterable[Expiry]:
        """Every weekly expiry on or after `on`, in date order, monthly ones marked.

        Each week's nominal day is its `weekday`; a holiday moves the expiry to the previous
        trading day. Endless: take what you need.
        """
        # Start a week early: a holiday can pull next week's nominal day back past `on`.
        nominal = on - timedelta(days=7 + (on.weekday() - weekday) % 7)
        while True:
            actual = self.on_or_before(nominal, exchange)
            if actual >= on:
                last_day = _stdlib_calendar.monthrange(nominal.year, nominal.month)[1]
                yield Expiry(actual, monthly=nominal.day + 7 > last_day)
            nominal += timedelta(days=7)

    def option_expiries(
        self, spec: DerivativeSpec, on: date, weeklies: int, monthlies: int
    ) -> list[Expiry]:
        """The listed option expiries of an underlying on `on`, in date order.

        The next `monthlies` monthly expiries and, if the underlying has weekly options, the
        next `weeklies` weekly expiries that are not monthly (how the exchanges list them: the
        Aug-2026 dump has NIFTY's 4 weeklies besides its 3 monthlies). An expiry on `on`
        itself is included: it trades until 15:30.
        """
        want_weekly = weeklies if spec.weekly_options else 0
        found: list[Expiry] = []
        n_weekly = n_monthly = 0
        for expiry in self.expiries(spec.expiry_weekday, spec.exchange, on):
            if expiry.monthly and n_monthly < monthlies:
                found.append(expiry)
                n_monthly += 1
            elif not expiry.monthly and n_weekly < want_weekly:
                found.append(expiry)
                n_weekly += 1
            if n_monthly >= monthlies and n_weekly >= want_weekly:
                return found
        raise AssertionError("unreachable: expiries() is endless")  # pragma: no cover

    def future_expiries(self, spec: DerivativeSpec, on: date, count: int = 3) -> list[date]:
        """The `count` nearest monthly futures expiries on or after `on`."""
        return [e.day for e in self.option_expiries(spec, on, weeklies=0, monthlies=count)]


@cache
def _default_calendar() -> TradingCalendar:
    return TradingCalendar(reference.holidays())


@dataclass(frozen=True, slots=True)
class DemoSession:
    """Which trading day the demo shows and where in it it starts.

    `live` is True when the wall clock is inside that day's market hours, so the demo can
    follow the wall clock one to one; otherwise the demo replays the most recent session from
    its open. `at(wall)` maps a later wall-clock instant to simulated time at `speed`.
    """

    session: date
    start: int
    wall_start: float
    live: bool
    speed: float = 1.0

    def at(self, wall: float) -> float:
        """Simulated epoch seconds at wall-clock `wall`."""
        return self.start + (wall - self.wall_start) * self.speed


def demo_session(
    now: float, calendar: TradingCalendar | None = None, speed: float = 1.0
) -> DemoSession:
    """Choose the demo session for wall-clock `now` (epoch seconds).

    Inside market hours of an NSE trading day: that day, starting now. Otherwise the most
    recent trading day whose session has begun, starting at 09:15 IST, so the demo always
    shows a moving market.
    """
    cal = calendar or TradingCalendar.default()
    today = ist_date(now)
    if cal.is_trading_day(today):
        open_, close = cal.session_bounds(today)
        if open_ <= now < close:
            return DemoSession(today, int(now), now, live=True, speed=speed)
        if now >= close:
            return DemoSession(today, open_, now, live=False, speed=speed)
    day = cal.previous_trading_day(today)
    return DemoSession(day, cal.session_bounds(day)[0], now, live=False, speed=speed)
