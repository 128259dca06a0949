"""The trading calendar: holidays, sessions in IST, and today's expiry rules."""

from __future__ import annotations

import calendar as stdlib_calendar
import csv
import os
import time
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from optui.feed import reference
from optui.feed.calendar import (
    IST,
    SESSION_SECONDS,
    Expiry,
    TradingCalendar,
    demo_session,
    epoch_at,
    ist_date,
)
from optui.feed.reference import DerivativeSpec

CAL = TradingCalendar.default()
SPECS = reference.derivative_specs()
TUE, THU = 1, 3


def utc_epoch(*fields: int) -> int:
    return stdlib_calendar.timegm((*fields, 0, 0, 0))


def expiry_days(spec: DerivativeSpec, on: date, weeklies: int, monthlies: int) -> list[date]:
    return [e.day for e in CAL.option_expiries(spec, on, weeklies, monthlies)]


# -- holidays and sessions -------------------------------------------------------------------
def test_holiday_file_has_an_as_of_date_and_both_exchanges() -> None:
    rows = list(csv.DictReader(reference.read_asset("holidays.csv").splitlines()))
    assert rows and all(date.fromisoformat(row["as_of"]) for row in rows)
    assert {row["exchange"] for row in rows} == {"NSE", "BSE"}
    assert CAL.listed_years("NSE") == {2025, 2026} == CAL.listed_years("BFO")
    for row in rows:
        assert date.fromisoformat(row["date"]).weekday() < 5, row  # weekend "holidays" are noise


def test_guru_nanak_jayanti_2026_is_a_holiday_so_23_nov_2026_is_the_last_day_before_it() -> None:
    assert CAL.is_holiday(date(2026, 11, 24), "NSE")
    assert CAL.is_holiday(date(2026, 11, 24), "BFO")
    assert CAL.is_trading_day(date(2026, 11, 23))
    assert CAL.next_trading_day(date(2026, 11, 23)) == date(2026, 11, 25)
    assert CAL.previous_trading_day(date(2026, 11, 25)) == date(2026, 11, 23)


def test_weekends_and_unlisted_years_use_fixed_date_holidays() -> None:
    assert not CAL.is_trading_day(date(2026, 11, 21))  # Saturday
    assert CAL.is_holiday(date(2027, 1, 26))  # Republic Day, before the 2027 list exists
    assert CAL.is_holiday(date(2029, 12, 25))
    assert not CAL.is_holiday(date(2027, 3, 9))


def test_trading_days_and_last_trading_days_agree() -> None:
    days = CAL.trading_days(date(2026, 11, 2), date(2026, 11, 27))
    assert date(2026, 11, 10) not in days and date(2026, 11, 24) not in days
    assert len(days) == 20 - 2
    assert CAL.last_trading_days(date(2026, 11, 29), len(days)) == days


def test_session_bounds_are_ist_whatever_the_host_zone() -> None:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        open_, close = CAL.session_bounds(date(2026, 11, 23))
        assert open_ == utc_epoch(2026, 11, 23, 3, 45)  # 09:15 IST = 03:45 UTC
        assert close - open_ == SESSION_SECONDS == 22_500
        # 23:00 UTC on the 22nd is already the 23rd in India.
        assert ist_date(utc_epoch(2026, 11, 22, 23, 0)) == date(2026, 11, 23)
        assert epoch_at(date(2026, 11, 23), datetime.min.time()) == utc_epoch(2026, 11, 22, 18, 30)
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


# -- the demo session ----------------------------------------------------------------------------
def test_demo_session_inside_market_hours_starts_now() -> None:
    now = utc_epoch(2026, 11, 23, 6, 0) + 0.25  # 11:30 IST on a trading Monday
    chosen = demo_session(now)
    assert chosen.session == date(2026, 11, 23)
    assert chosen.live and chosen.start == int(now)
    assert chosen.at(now + 10) == pytest.approx(chosen.start + 10)


@pytest.mark.parametrize(
    ("now", "session"),
    [
        (utc_epoch(2026, 11, 23, 12, 0), date(2026, 11, 23)),  # 17:30 IST, after the close
        (utc_epoch(2026, 11, 23, 2, 0), date(2026, 11, 20)),  # 07:30 IST Monday -> Friday
        (utc_epoch(2026, 11, 24, 6, 0), date(2026, 11, 23)),  # a holiday -> the day before
        (utc_epoch(2026, 11, 22, 6, 0), date(2026, 11, 20)),  # Sunday -> Friday
    ],
)
def test_demo_session_outside_market_hours_replays_the_latest_session(
    now: int, session: date
) -> None:
    chosen = demo_session(now, speed=60.0)
    assert chosen.session == session and not chosen.live
    assert chosen.start == CAL.session_bounds(session)[0]
    assert datetime.fromtimestamp(chosen.start, IST).strftime("%H:%M") == "09:15"
    assert chosen.at(now + 1) == chosen.start + 60


# -- expiry rules ---------------------------------------------------------------------------------
def test_nifty_weeklies_are_tuesdays_and_monthlies_the_last_tuesday() -> None:
    expiries = CAL.option_expiries(SPECS["NIFTY"], date(2026, 8, 18), weeklies=4, monthlies=3)
    assert [e.day for e in expiries] == [
        date(2026, 8, 18),
        date(2026, 8, 25),
        date(2026, 9, 1),
        date(2026, 9, 8),
        date(2026, 9, 15),
        date(2026, 9, 29),
        date(2026, 10, 27),
    ]
    assert all(e.day.weekday() == TUE for e in expiries)
    for e in expiries:
        last_tuesday = (e.day + timedelta(days=7)).month != e.day.month
        assert e.monthly == last_tuesday


def test_a_tuesday_holiday_moves_weekly_and_monthly_expiries_to_monday() -> None:
    # 24 Nov 2026 (Guru Nanak Jayanti) is the last Tuesday of November.
    nifty = CAL.option_expiries(SPECS["NIFTY"], date(2026, 11, 23), weeklies=4, monthlies=3)
    assert nifty[0] == Expiry(date(2026, 11, 23), monthly=True)
    assert [e.day for e in nifty[1:]] == [
        date(2026, 12, 1),
        date(2026, 12, 8),
        date(2026, 12, 15),
        date(2026, 12, 22),
        date(2026, 12, 29),
        date(2027, 1, 25),  # 26 Jan 2027 is Republic Day
    ]
    for name in ("BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"):
        assert expiry_days(SPECS[name], date(2026, 11, 23), 4, 3) == [
            date(2026, 11, 23),
            date(2026, 12, 29),
            date(2027, 1, 25),
        ]
    # Diwali 2025 (21 Oct) and Mahavir Jayanti 2026 (31 Mar, a monthly expiry).
    assert date(2025, 10, 20) in expiry_days(SPECS["NIFTY"], date(2025, 10, 15), 2, 1)
    assert CAL.monthly_expiry(2026, 3, TUE, "NFO") == date(2026, 3, 30)
    assert CAL.monthly_expiry(2026, 4, TUE, "NFO") == date(2026, 4, 28)
    # Weekly of the week of Ambedkar Jayanti (Tue 14 Apr 2026).
    assert date(2026, 4, 13) in expiry_days(SPECS["NIFTY"], date(2026, 4, 8), 2, 1)


def test_an_expiry_day_is_listed_until_it_is_over_and_never_after() -> None:
    assert expiry_days(SPECS["NIFTY"], date(2026, 12, 1), 1, 1)[0] == date(2026, 12, 1)
    assert expiry_days(SPECS["NIFTY"], date(2026, 12, 2), 1, 1)[0] == date(2026, 12, 8)


def test_sensex_expires_on_thursday_on_bse() -> None:
    days = expiry_days(SPECS["SENSEX"], date(2026, 11, 23), 3, 1)
    assert days == [date(2026, 11, 26), date(2026, 12, 3), date(2026, 12, 10), date(2026, 12, 17)]
    assert all(d.weekday() == THU for d in days)
    assert CAL.future_expiries(SPECS["SENSEX"], date(2026, 11, 23)) == [
        date(2026, 11, 26),
        date(2026, 12, 31),
        date(2027, 1, 28),
    ]
    # Thursday holidays: Gandhi Jayanti 2025, Ram Navami and Bakri Id 2026.
    assert date(2025, 10, 1) in expiry_days(SPECS["SENSEX"], date(2025, 9, 29), 2, 1)
    assert date(2026, 3, 25) in expiry_days(SPECS["SENSEX"], date(2026, 3, 23), 1, 1)
    assert CAL.monthly_expiry(2026, 5, THU, "BFO") == date(2026, 5, 27)


def test_banknifty_finnifty_midcpnifty_have_no_weeklies() -> None:
    for name in ("BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"):
        expiries = CAL.option_expiries(SPECS[name], date(2026, 9, 2), weeklies=4, monthlies=3)
        assert all(e.monthly for e in expiries) and len(expiries) == 3


def test_lot_sizes_and_strike_steps() -> None:
    expected = {
        "NIFTY": (65, 50, "NFO", TUE, True),
        "BANKNIFTY": (30, 100, "NFO", TUE, False),
        "FINNIFTY": (60, 50, "NFO", TUE, False),
        "MIDCPNIFTY": (120, 25, "NFO", TUE, False),
        "SENSEX": (20, 100, "BFO", THU, True),
    }
    got = {
        name: (s.lot_size, s.strike_step, s.exchange, s.expiry_weekday, s.weekly_options)
        for name, s in SPECS.items()
    }
    assert got == expected
    assert all(s.as_of == date(2026, 8, 18) for s in SPECS.values())


# -- against real data -----------------------------------------------------------------------------
def _dump_expiries(path: Path) -> dict[str, dict[str, set[date]]]:
    out: dict[str, dict[str, set[date]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            kind = "FUT" if row["instrument_type"] == "FUT" else "OPT"
            out.setdefault(row["name"], {}).setdefault(kind, set()).add(
                date.fromisoformat(row["expiry"])
            )
    return out


@pytest.mark.shared_data
def test_expiries_match_the_aug_2026_kite_dump(shared_data: Path) -> None:
    dump = _dump_expiries(shared_data / "kite_instruments" / "nfo_instruments.csv")
    listed_on = date(2026, 8, 18)  # the dump's commit date and earliest expiry
    for name in ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"):
        spec = SPECS[name]
        weeklies = 4 if spec.weekly_options else 0
        near = set(expiry_days(spec, listed_on, weeklies, 3))
        horizon = max(near)
        assert {d for d in dump[name]["OPT"] if d <= horizon} == near, name
        assert dump[name]["FUT"] == set(CAL.future_expiries(spec, listed_on)), name
        # Long-dated contracts (to 2031) are last-Tuesday monthlies, holidays included
        # (Mon 24 Dec 2029: Christmas falls on the Tuesday).
        for day in dump[name]["OPT"] - near:
            assert CAL.monthly_expiry(day.year, day.month, TUE, "NFO") == day, (name, day)


@pytest.mark.shared_data
def test_expiries_match_the_sep_2025_kite_dump_with_its_diwali_monday(shared_data: Path) -> None:
    dump = _dump_expiries(shared_data / "kite_instruments" / "instruments_nfo.csv")
    near = set(expiry_days(SPECS["NIFTY"], date(2025, 9, 24), 4, 3))
    assert date(2025, 10, 20) in near
    assert {d for d in dump["NIFTY"]["OPT"] if d <= max(near)} == near


@pytest.mark.shared_data
def test_lot_sizes_and_strike_steps_match_the_aug_2026_kite_dump(shared_data: Path) -> None:
    lots: dict[str, set[int]] = {}
    strikes: dict[tuple[str, str], set[float]] = {}
    with (shared_data / "kite_instruments" / "nfo_instruments.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            lots.setdefault(row["name"], set()).add(int(row["lot_size"]))
            if row["instrument_type"] != "FUT":
                strikes.setdefault((row["name"], row["expiry"]), set()).add(float(row["strike"]))
    for name, spec in SPECS.items():
        if spec.exchange != "NFO":
            continue
        assert lots[name] == {spec.lot_size}
        nearest = min(e for n, e in strikes if n == name)
        ladder = sorted(strikes[(name, nearest)])
        steps = [b - a for a, b in pairwise(ladder)]
        assert min(steps) == spec.strike_step, name


@pytest.mark.shared_data
def test_holidays_are_exactly_the_weekdays_without_participant_data(shared_data: Path) -> None:
    """NSE publishes a participant OI file every trading day: the weekdays it skipped in
    2025 to July 2026 are our holidays, except Diwali 2025, whose Muhurat session had one."""
    path = shared_data / "participant_oi_vol" / "derived" / "participant_oi.csv"
    with path.open(newline="") as f:
        published = {date.fromisoformat(row["date"]) for row in csv.DictReader(f)}
    first, last = date(2025, 1, 1), date(2026, 7, 31)
    weekdays = [
        first + timedelta(days=i)
        for i in range((last - first).days + 1)
        if (first + timedelta(days=i)).weekday() < 5
    ]
    skipped = {d for d in weekdays if d not in published}
    holidays = {d for d in weekdays if CAL.is_holiday(d)}
    assert skipped == holidays - {date(2025, 10, 21)}
