"""Data quality: each check fires on a crafted batch, and stays quiet on clean data (the demo
market's stream and real Kite/NSE data): a false alarm is as bad as a miss."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optui.events import Event, EventLog, decode_event, encode_event
from optui.feed.calendar import IST, epoch_at
from optui.feed.codec import (
    MODE_FULL,
    MODE_INDEX_FULL,
    MODE_LTP,
    MODE_QUOTE,
    Ticks,
    decode,
    empty_ticks,
    encode,
)
from optui.feed.quality import (
    CODES,
    QualityLimits,
    QualityMonitor,
    market_open_at,
)
from optui.feed.simulator import DemoMarket
from optui.feed.universe import Kind

DAY = date(2026, 11, 23)  # a Monday, an NSE trading day
T0 = epoch_at(DAY, datetime.strptime("10:00", "%H:%M").time())  # 10:00 IST
NFO = 2  # segment of NSE derivatives
NSE = 1  # segment of NSE stocks
INDICES = 9


def token(n: int, segment: int = NSE) -> int:
    return (n << 8) | segment


def full(tok: int, last: float, at: int = T0, **fields: Any) -> dict[str, Any]:
    """A clean full packet: last inside the day range, a book straddling it, volume, OI."""
    row: dict[str, Any] = {
        "instrument_token": tok,
        "mode": MODE_FULL,
        "tradable": True,
        "last_price": last,
        "open": last,
        "high": last * 1.01,
        "low": last * 0.99,
        "close": last,
        "average_traded_price": last,
        "volume_traded": 1000,
        "last_traded_quantity": 75,
        "last_trade_time": at,
        "exchange_timestamp": at,
        "oi": 5000,
        "oi_day_high": 6000,
        "oi_day_low": 4000,
        "depth_buy_price": [last - 0.05 * (i + 1) for i in range(5)],
        "depth_sell_price": [last + 0.05 * (i + 1) for i in range(5)],
        "depth_buy_quantity": [75] * 5,
        "depth_sell_quantity": [75] * 5,
    }
    row.update(fields)
    return row


def batch(*rows: dict[str, Any]) -> Ticks:
    ticks = empty_ticks(len(rows))
    for i, row in enumerate(rows):
        for key, value in row.items():
            ticks[key][i] = value
    return ticks


def codes(events: list[Event]) -> list[str]:
    return [e.code for e in events]


def only(events: list[Event], code: str) -> Event:
    assert codes(events) == [code], [e.message for e in events]
    return events[0]


# -- clean data ------------------------------------------------------------------------------
def test_clean_ticks_raise_nothing() -> None:
    monitor = QualityMonitor()
    toks = [token(i) for i in range(1, 6)]
    for k in range(30):
        rows = [
            full(t, 100.0 + 0.05 * ((k * 7 + j) % 11), at=T0 + k, volume_traded=1000 + 10 * k)
            for j, t in enumerate(toks)
        ]
        assert monitor.check(batch(*rows), now=T0 + k + 0.2) == []
    assert monitor.batches == 30 and monitor.rows == 150


def test_every_code_is_a_quality_code() -> None:
    assert all(code.startswith("quality.") for code in CODES)
    assert len(set(CODES)) == len(CODES)


# -- timestamps ------------------------------------------------------------------------------
def test_exchange_time_going_back_is_reported_with_both_times() -> None:
    monitor = QualityMonitor()
    tok = token(1)
    assert monitor.check(batch(full(tok, 100, at=T0 + 10)), now=T0 + 10) == []
    event = only(
        monitor.check(batch(full(tok, 100, at=T0 + 4)), now=T0 + 11), "quality.timestamp_backwards"
    )
    assert event.kind == "data_quality" and event.severity == "warning"
    assert event.details["subject"] == str(tok)
    assert event.details["field"] == "exchange_timestamp"
    assert event.details["previous"] == T0 + 10 and event.details["received"] == T0 + 4
    assert event.details["back_s"] == 6
    assert "10:00:10 → 10:00:04 IST" in event.message
    assert "never edits" in event.did and event.do
    # The baseline is what was received: the next tick, on time again, is fine.
    assert monitor.check(batch(full(tok, 100, at=T0 + 12)), now=T0 + 12) == []


def test_last_trade_time_going_back_is_reported() -> None:
    monitor = QualityMonitor()
    tok = token(1)
    monitor.check(batch(full(tok, 100, at=T0 + 10)), now=T0 + 10)
    late = full(tok, 100, at=T0 + 11, last_trade_time=T0 + 2)
    event = only(monitor.check(batch(late), now=T0 + 11), "quality.timestamp_backwards")
    assert event.details["field"] == "last_trade_time"


def test_absent_timestamps_are_not_backwards() -> None:
    monitor = QualityMonitor()
    tok = token(1)
    monitor.check(batch(full(tok, 100, at=T0 + 10)), now=T0 + 10)
    # An ltp packet has no timestamps, a quote packet neither; a full packet may lack one.
    ltp = {"instrument_token": tok, "mode": MODE_LTP, "last_price": 100.05}
    quote = full(tok, 100, mode=MODE_QUOTE, last_trade_time=0, exchange_timestamp=0)
    quote.update(depth_buy_price=[0] * 5, depth_sell_price=[0] * 5)
    no_trade_time = full(tok, 100, at=T0 + 11, last_trade_time=0)
    for row in (ltp, quote, no_trade_time):
        assert monitor.check(batch(row), now=T0 + 11) == [], row["mode"]
    # ... and the baseline survived them: going back from 10:00:11 is still seen.
    assert codes(monitor.check(batch(full(tok, 100, at=T0 + 5)), now=T0 + 12)) == [
        "quality.timestamp_backwards"
    ]


def test_timestamp_slack_tolerates_small_steps_back() -> None:
    monitor = QualityMonitor(QualityLimits(timestamp_slack=2))
    tok = token(1)
    monitor.check(batch(full(tok, 100, at=T0 + 10)), now=T0 + 10)
    assert monitor.check(batch(full(tok, 100, at=T0 + 8)), now=T0 + 11) == []
    assert codes(monitor.check(batch(full(tok, 100, at=T0 + 4)), now=T0 + 12)) == [
        "quality.timestamp_backwards"
    ]


# -- prices ----------------------------------------------------------------------------------
def test_last_price_outside_the_packets_own_range() -> None:
    monitor = QualityMonitor()
    above = full(token(1), 106.0, high=105.0, low=100.0)
    event = only(monitor.check(batch(above), now=T0), "quality.price_outside_range")
    assert event.details == {
        "subject": str(token(1)),
        "instruments": 1,
        "tokens": str(token(1)),
        "last_price": 106.0,
        "high": 105.0,
        "low": 100.0,
    }
    below = full(token(2), 99.95, high=105.0, low=100.0)
    assert codes(monitor.check(batch(below), now=T0)) == ["quality.price_outside_range"]
    # At the very edges is inside; no range (ltp packets, no trade yet) is never outside.
    edges = [full(token(3), 105.0, high=105.0, low=100.0), full(token(4), 100, high=105, low=100)]
    no_range = [
        {"instrument_token": token(5), "mode": MODE_LTP, "last_price": 50.0},
        full(token(6), 80.0, high=0.0, low=0.0),
    ]
    assert monitor.check(batch(*edges, *no_range), now=T0) == []


def test_index_level_outside_its_range_is_reported_too() -> None:
    index = {
        "instrument_token": token(256, INDICES),
        "mode": MODE_INDEX_FULL,
        "last_price": 24_000.0,
        "high": 23_900.0,
        "low": 23_700.0,
        "exchange_timestamp": T0,
    }
    assert codes(QualityMonitor().check(batch(index), now=T0)) == ["quality.price_outside_range"]


def ltp(tok: int, last: float) -> dict[str, Any]:
    """An ltp packet: the last price alone (no book to agree or disagree with it)."""
    return {"instrument_token": tok, "mode": MODE_LTP, "last_price": last}


def test_a_jump_beyond_the_band_is_reported_and_a_normal_move_is_not() -> None:
    monitor = QualityMonitor()
    stock = token(1)
    monitor.check(batch(ltp(stock, 100.0)), now=T0)
    # +15% and then -15% of the smaller price: within the 20% band.
    assert monitor.check(batch(ltp(stock, 115.0)), now=T0 + 1) == []
    assert monitor.check(batch(ltp(stock, 100.0)), now=T0 + 2) == []
    event = only(monitor.check(batch(ltp(stock, 125.0)), now=T0 + 3), "quality.price_jump")
    assert event.details["previous"] == 100.0 and event.details["last_price"] == 125.0
    assert event.details["change_pct"] == 25.0
    # A fall is judged the same way: 125 -> 100 is 25% of the smaller price.
    assert codes(monitor.check(batch(ltp(stock, 100.0)), now=T0 + 4)) == ["quality.price_jump"]


def test_a_bad_print_stands_apart_from_its_own_book_and_a_real_move_does_not() -> None:
    monitor = QualityMonitor()
    put = token(7, NFO)
    monitor.check(batch(full(put, 7.40)), now=T0)
    # Expiry afternoon: an illiquid at-the-money put last traded at 7.40, trades at 82.55
    # next; the same packet's book (82.50 / 82.55) agrees with it.
    assert monitor.check(batch(full(put, 82.55, at=T0 + 131)), now=T0 + 131) == []
    # A print at ten times the book is not the market moving.
    stale_book = full(put, 825.5, at=T0 + 132, high=900.0)
    stale_book.update(
        depth_buy_price=[82.5, 82.45, 82.4, 82.35, 82.3],
        depth_sell_price=[82.55, 82.6, 82.65, 82.7, 82.75],
    )
    event = only(monitor.check(batch(stale_book), now=T0 + 132), "quality.price_jump")
    assert event.details["previous"] == 82.55 and event.details["last_price"] == 825.5


def test_options_get_a_band_that_fits_how_options_move() -> None:
    calls = [token(i, NFO) for i in range(1, 5)]
    future = token(9, NFO)
    monitor = QualityMonitor(option_tokens=calls)
    before = [ltp(calls[0], 2.0), ltp(calls[1], 60.0), ltp(calls[2], 100.0)]
    monitor.check(batch(*before, ltp(calls[3], 0.05), ltp(future, 24_000.0)), now=T0)
    after = [
        ltp(calls[0], 10.0),  # five-fold, but only 8 rupees: a cheap option's swing
        ltp(calls[1], 180.0),  # three-fold on a fast index move
        ltp(calls[2], 100.0),
        ltp(calls[3], 0.30),  # six-fold from the minimum tick
    ]
    assert monitor.check(batch(*after), now=T0 + 1) == []
    # A price off by a power of ten is a bad print; so is a future moving 25%.
    bad = [ltp(calls[2], 1000.0), ltp(future, 30_000.0)]
    event = only(monitor.check(batch(*bad), now=T0 + 2), "quality.price_jump")
    assert event.details["instruments"] == 2
    assert event.details["tokens"] == f"{calls[2]}, {future}"


def test_without_option_tokens_derivatives_get_the_option_band() -> None:
    monitor = QualityMonitor()
    derivative, stock = token(1, NFO), token(2, NSE)
    monitor.check(batch(ltp(derivative, 60.0), ltp(stock, 60.0)), now=T0)
    event = only(
        monitor.check(batch(ltp(derivative, 180.0), ltp(stock, 180.0)), now=T0 + 1),
        "quality.price_jump",
    )
    assert event.details["tokens"] == str(stock)


def test_a_new_ist_day_may_open_anywhere() -> None:
    monitor = QualityMonitor()
    stock = token(1)
    monitor.check(batch(full(stock, 100.0, at=T0, volume_traded=5_000_000)), now=T0)
    next_day = T0 + 86_400
    gap_up = full(stock, 140.0, at=next_day, volume_traded=1200)
    gap_up.update(depth_buy_price=[0.0] * 5, depth_sell_price=[0.0] * 5)  # no book to agree
    assert monitor.check(batch(gap_up), now=next_day) == []
    # Within the new day the checks are on again.
    lower = full(stock, 140.0, at=next_day + 1, volume_traded=1100)
    assert codes(monitor.check(batch(lower), now=next_day + 1)) == ["quality.volume_down"]


def test_day_rollover_by_arrival_time_for_packets_without_timestamps() -> None:
    monitor = QualityMonitor()
    stock = token(1)
    quote = full(stock, 100.0, mode=MODE_QUOTE, exchange_timestamp=0, last_trade_time=0)
    monitor.check(batch({**quote, "volume_traded": 9_000_000}), now=T0)
    assert monitor.check(batch({**quote, "volume_traded": 500}), now=T0 + 86_400) == []
    assert codes(monitor.check(batch({**quote, "volume_traded": 400}), now=T0 + 86_401)) == [
        "quality.volume_down"
    ]


# -- book, volume, OI ------------------------------------------------------------------------
def test_a_crossed_book_is_reported_in_the_session_only() -> None:
    monitor = QualityMonitor()
    crossed = full(token(1), 100.0, depth_buy_price=[100.5, 100, 99.95, 99.9, 99.85])
    event = only(monitor.check(batch(crossed), now=T0), "quality.crossed_book")
    assert event.details["best_bid"] == 100.5 and event.details["best_ask"] == 100.05
    assert "best bid 100.5 above best ask 100.05" in event.message
    # Locked (bid == ask) is not crossed; a one-sided book (no offers) neither.
    locked = full(token(2), 100.0, depth_buy_price=[100.05, 100, 99.95, 99.9, 99.85])
    one_sided = full(token(3), 100.0, depth_sell_price=[0.0] * 5)
    assert monitor.check(batch(locked, one_sided), now=T0) == []
    # In the pre-open call auction (09:00-09:08 IST) the book is crossed by design.
    pre_open = epoch_at(DAY, datetime.strptime("09:05", "%H:%M").time())
    auction = full(token(4), 100.0, at=pre_open, depth_buy_price=[101, 100, 99, 98, 97])
    assert monitor.check(batch(auction), now=pre_open) == []


def test_negative_oi_or_volume_is_an_error() -> None:
    monitor = QualityMonitor()
    event = only(
        monitor.check(batch(full(token(1), 100.0, oi=-75)), now=T0), "quality.negative_value"
    )
    assert event.severity == "error"
    assert event.details["field"] == "oi" and event.details["value"] == -75
    event = only(
        monitor.check(batch(full(token(2), 100.0, volume_traded=-1)), now=T0),
        "quality.negative_value",
    )
    assert event.details["field"] == "volume_traded"


def test_volume_going_down_within_a_day() -> None:
    monitor = QualityMonitor()
    tok = token(1)
    monitor.check(batch(full(tok, 100.0, volume_traded=10_000)), now=T0)
    assert monitor.check(batch(full(tok, 100.0, at=T0 + 1, volume_traded=10_000)), now=T0 + 1) == []
    event = only(
        monitor.check(batch(full(tok, 100.0, at=T0 + 2, volume_traded=9_925)), now=T0 + 2),
        "quality.volume_down",
    )
    assert event.details["previous"] == 10_000 and event.details["volume"] == 9_925
    # An ltp packet carries no volume (0): not a drop.
    ltp = {"instrument_token": tok, "mode": MODE_LTP, "last_price": 100.0}
    assert monitor.check(batch(ltp), now=T0 + 3) == []


# -- batches ---------------------------------------------------------------------------------
def test_a_bad_batch_gives_one_event_per_check_naming_the_instruments() -> None:
    monitor = QualityMonitor(QualityLimits(max_listed=3))
    rows = [
        full(token(i), 100.0, depth_buy_price=[100.5, 100, 99.95, 99.9, 99.85]) for i in range(1, 6)
    ]
    rows.append(full(token(9), 100.0))
    rows.append(full(token(10), 100.0, high=99.0))
    events = monitor.check(batch(*rows), now=T0)
    assert sorted(codes(events)) == ["quality.crossed_book", "quality.price_outside_range"]
    crossed = next(e for e in events if e.code == "quality.crossed_book")
    assert crossed.message.startswith("5 instruments had a crossed book")
    assert crossed.details["instruments"] == 5
    assert crossed.details["subject"] == str(token(1))
    assert crossed.details["tokens"] == f"{token(1)}, {token(2)}, {token(3)} and 2 more"
    # Every event survives its JSON form (the journal and the log files store it).
    for event in events:
        assert decode_event(encode_event(event)) == event


def test_a_token_twice_in_one_batch_is_taken_in_order() -> None:
    monitor = QualityMonitor()
    a, b = token(1), token(2)
    rows = [
        full(a, 100.0, at=T0 + 5, volume_traded=2000),
        full(b, 50.0, at=T0 + 5),
        full(a, 100.0, at=T0 + 3, volume_traded=1500),  # after a's first row: back and down
        full(a, 100.0, at=T0 + 6, volume_traded=2500),  # fine after the one before
    ]
    events = monitor.check(batch(*rows), now=T0 + 6)
    assert sorted(codes(events)) == ["quality.timestamp_backwards", "quality.volume_down"]
    assert all(e.details["instruments"] == 1 and e.details["subject"] == str(a) for e in events)
    # The state ends at a's last row.
    assert monitor.check(batch(full(a, 100.0, at=T0 + 6, volume_traded=2500)), now=T0 + 7) == []


def test_new_tokens_keep_arriving_and_the_state_follows() -> None:
    monitor = QualityMonitor()
    rng = np.random.default_rng(3)
    seen: set[int] = set()
    for k in range(12):
        toks = rng.choice(4000, size=300, replace=False) + 1
        seen.update(toks.tolist())
        rows = [full(token(int(t)), 100.0, at=T0 + k, volume_traded=1000 + k) for t in toks]
        assert monitor.check(batch(*rows), now=T0 + k) == []
    # A token seen in an early batch still has its baseline: its volume cannot drop unseen.
    first = token(int(sorted(seen)[0]))
    drop = full(first, 100.0, at=T0 + 20, volume_traded=10)
    assert codes(monitor.check(batch(drop), now=T0 + 20)) == ["quality.volume_down"]


def test_events_group_in_the_event_log() -> None:
    records: list[Event] = []
    log = EventLog(sinks=[records.extend], group_window=60.0)
    monitor = QualityMonitor()
    for k in range(10):
        crossed = full(token(1 + k % 3), 100.0, at=T0 + k, depth_buy_price=[101, 100, 99, 98, 97])
        log.record_many(monitor.check(batch(crossed), now=T0 + k))
    # The log lets the first few through, then counts: no flood from a batch a second.
    passed = len(records)
    assert 1 <= passed < 10 and {r.code for r in records} == {"quality.crossed_book"}
    (summary,) = log.flush(T0 + 61)
    assert summary.count == 10 - passed and log.counts()["data_quality"] == 10


# -- silence ---------------------------------------------------------------------------------
def tick_all(monitor: QualityMonitor, toks: list[int], at: float) -> list[Event]:
    return monitor.check(batch(*(full(t, 100.0, at=int(at)) for t in toks)), now=at)


def test_silence_is_reported_once_and_cleared_once() -> None:
    monitor = QualityMonitor()
    toks = [token(i) for i in range(1, 11)]
    quiet = toks[:3]
    events: list[Event] = []
    for s in range(0, 200):
        now = T0 + s
        live = toks if s < 100 or s >= 180 else toks[3:]
        events += tick_all(monitor, live, now)
        events += monitor.check_silent(now + 0.5, market_open=True)
    assert codes(events) == ["quality.silent", "quality.ticking"]
    silent, ticking = events
    # Quiet from 10:01:40; reported once 60 s later, not again on every call after.
    assert silent.time == T0 + 99 + 60 + 0.5
    assert silent.details["instruments"] == 3
    assert silent.details["tokens"] == ", ".join(str(t) for t in quiet)
    assert silent.details["subject"] == str(quiet[0])
    assert silent.severity == "warning" and silent.kind == "data_quality"
    assert ticking.clears == "quality.silent" and ticking.severity == "info"
    assert ticking.time == T0 + 180.5 and ticking.details["instruments"] == 3


def test_silent_tokens_joining_an_open_stall_are_reported_without_flooding() -> None:
    monitor = QualityMonitor()
    toks = [token(i) for i in range(1, 11)]
    events: list[Event] = []
    for s in range(0, 400):
        now = T0 + s
        # Token 1 stops at 100 s, token 2 at 130 s, token 3 at 300 s.
        live = [
            t
            for t in toks
            if not (
                (t == toks[0] and s >= 100)
                or (t == toks[1] and s >= 130)
                or (t == toks[2] and s >= 300)
            )
        ]
        events += tick_all(monitor, live, now)
        events += monitor.check_silent(now + 0.5, market_open=True)
    assert codes(events) == ["quality.silent", "quality.silent", "quality.silent"]
    named = [e.details["tokens"] for e in events]
    # Token 2 went quiet within a minute of the first report: it waits for the next one.
    assert named == [str(toks[0]), str(toks[1]), str(toks[2])]
    assert events[1].time - events[0].time >= 60
    assert set(monitor.silent_tokens().tolist()) == set(toks[:3])


def test_a_quiet_feed_is_the_feeds_problem_not_the_instruments() -> None:
    monitor = QualityMonitor()
    toks = [token(i) for i in range(1, 6)]
    for s in range(60):
        tick_all(monitor, toks, T0 + s)
        assert monitor.check_silent(T0 + s + 0.5, market_open=True) == []
    # Nothing at all ticks any more (a disconnect): feed.silent says so, not 5 quality events.
    for s in range(60, 400):
        assert monitor.check_silent(T0 + s, market_open=True) == []


def test_an_illiquid_instrument_is_judged_by_its_own_cadence() -> None:
    monitor = QualityMonitor()
    busy = [token(i) for i in range(1, 5)]
    illiquid = token(99)
    events: list[Event] = []
    for s in range(0, 1800):
        now = T0 + s
        toks = busy + ([illiquid] if s % 120 == 0 else [])  # ticks every 2 minutes
        events += tick_all(monitor, toks, now)
        events += monitor.check_silent(now + 0.5, market_open=True)
    assert events == []


def test_one_tick_says_nothing_about_cadence_and_unsubscribed_tokens_are_forgotten() -> None:
    monitor = QualityMonitor()
    busy = [token(i) for i in range(1, 5)]
    once, dropped = token(50), token(51)
    events: list[Event] = []
    for s in range(0, 300):
        now = T0 + s
        toks = busy + ([once] if s == 0 else []) + ([dropped] if s < 100 else [])
        if s == 100:
            monitor.forget([dropped, token(12345)])  # re-centred away (and one never seen)
        events += tick_all(monitor, toks, now)
        events += monitor.check_silent(now + 0.5, market_open=True)
    assert events == []


def test_the_market_closing_ends_a_stall_and_a_new_session_starts_afresh() -> None:
    monitor = QualityMonitor()
    toks = [token(i) for i in range(1, 6)]
    events: list[Event] = []
    for s in range(0, 200):
        events += tick_all(monitor, toks if s < 100 else toks[1:], T0 + s)
        events += monitor.check_silent(T0 + s + 0.5, market_open=True)
    assert codes(events) == ["quality.silent"]
    closed = monitor.check_silent(T0 + 300, market_open=False)
    assert codes(closed) == ["quality.ticking"] and closed[0].clears == "quality.silent"
    assert "market closed" in closed[0].message
    assert monitor.check_silent(T0 + 400, market_open=False) == []
    # The next morning nobody is silent just because it has not ticked since yesterday.
    morning = T0 + 86_400
    assert monitor.check_silent(morning, market_open=True) == []
    for s in range(0, 120):
        tick_all(monitor, toks[1:], morning + s)
        assert monitor.check_silent(morning + s + 0.5, market_open=True) == []


def test_market_open_at_follows_the_nse_session() -> None:
    assert market_open_at(T0)
    assert not market_open_at(epoch_at(DAY, datetime.strptime("09:14", "%H:%M").time()))
    assert not market_open_at(epoch_at(DAY, datetime.strptime("15:30", "%H:%M").time()))
    assert not market_open_at(
        epoch_at(date(2026, 11, 22), datetime.strptime("10:00", "%H:%M").time())
    )


# -- the demo market: clean by construction, so no alarm ---------------------------------------
def run_demo(
    market: DemoMarket, seconds: int, option_tokens: Any = None
) -> tuple[list[Event], QualityMonitor]:
    monitor = QualityMonitor(option_tokens=option_tokens)
    events: list[Event] = []
    start = market.clock
    for s in range(1, seconds + 1):
        now = start + s
        for frame in market.advance_to(now):
            events += monitor.check(decode(frame), now + 0.05)
        events += monitor.check_silent(now + 0.1, market_open=market_open_at(now))
    return events, monitor


def test_a_clean_simulated_stream_raises_no_quality_event() -> None:
    market = DemoMarket(11, DAY, instruments=3000)
    universe = market.instruments
    options = universe.instrument_token[universe.kind >= Kind.CALL]
    events, monitor = run_demo(market, 300, options)
    assert monitor.rows == 301 * 3000  # every instrument, every second: 903,000 ticks
    assert events == [], [e.message for e in events[:5]]


def test_the_expiry_afternoon_and_the_close_raise_no_quality_event() -> None:
    # Monday 23 Nov 2026: the November contracts expire (Tuesday the 24th is a holiday), so
    # their options' prices collapse towards the tick as the close nears.
    start = epoch_at(DAY, datetime.strptime("15:24", "%H:%M").time())
    market = DemoMarket(5, DAY, start=start, instruments=3000)
    # Without option tokens: derivatives get the option band.
    events, monitor = run_demo(market, 420)  # through 15:30, a minute past, then silence
    assert monitor.rows == 361 * 3000  # 15:24:00 to 15:30:00, then the demo falls silent
    # ... and no instrument is "silent" after the close.
    assert events == [], [e.message for e in events[:5]]


def test_faults_injected_into_the_simulated_stream_are_found() -> None:
    market = DemoMarket(11, DAY, instruments=1000)
    monitor = QualityMonitor()
    start = market.clock
    found: set[str] = set()
    for s in range(1, 11):
        for frame in market.advance_to(start + s):
            ticks = decode(frame)
            if s == 8:
                ticks = ticks.copy()
                full_rows = np.flatnonzero(ticks["mode"] == MODE_FULL)
                i, j = int(full_rows[3]), int(full_rows[7])
                ticks["depth_buy_price"][i, 0] = ticks["depth_sell_price"][i, 0] + 1.0
                ticks["exchange_timestamp"][j] -= 30
            found.update(codes(monitor.check(ticks, start + s)))
    assert found == {"quality.crossed_book", "quality.timestamp_backwards"}


# -- real data -------------------------------------------------------------------------------
def frame_of(bodies: list[bytes]) -> bytes:
    out = len(bodies).to_bytes(2, "big")
    for body in bodies:
        out += len(body).to_bytes(2, "big") + body
    return out


def test_real_kite_packets_raise_nothing(shared_data: Path) -> None:
    """Zerodha's own sample packets of INFY: a quote, then (more volume) a full one."""
    folder = shared_data / "kite_mocks"
    quote = base64.b64decode((folder / "ticker_quote.packet").read_text())
    whole = base64.b64decode((folder / "ticker_full.packet").read_text())
    monitor = QualityMonitor()
    first = decode(frame_of([quote]))
    second = decode(frame_of([whole]))
    at = float(second["exchange_timestamp"][0])
    assert monitor.check(first, at - 5) == []
    assert monitor.check(second, at) == []
    # The same packets out of order are told apart: the volume went down.
    assert codes(QualityMonitor().check(decode(frame_of([whole, quote])), at)) == [
        "quality.volume_down"
    ]


def option_chain_ticks(path: Path, when: str, fmt: str) -> Ticks:
    """Full packets of every option quoted in an NSE option-chain snapshot: last price, best
    bid and ask, volume and OI as NSE published them (no day range: NSE's chain has none)."""
    data = json.loads(path.read_text())
    records = data["records"]["data"] if "records" in data else data["data"]
    stamp = int(datetime.strptime(when, fmt).replace(tzinfo=IST).timestamp())
    rows: list[dict[str, Any]] = []
    for record in records:
        for side in ("CE", "PE"):
            leg = record.get(side)
            if not leg:
                continue
            bid = leg.get("bidprice", leg.get("buyPrice1", 0.0))
            ask = leg.get("askPrice", leg.get("sellPrice1", 0.0))
            rows.append(
                {
                    "instrument_token": token(len(rows) + 1, NFO),
                    "mode": MODE_FULL,
                    "tradable": True,
                    "last_price": leg["lastPrice"],
                    "volume_traded": leg["totalTradedVolume"],
                    "oi": leg["openInterest"],
                    "total_buy_quantity": leg["totalBuyQuantity"],
                    "total_sell_quantity": leg["totalSellQuantity"],
                    "exchange_timestamp": stamp,
                    "depth_buy_price": [bid, 0, 0, 0, 0],
                    "depth_sell_price": [ask, 0, 0, 0, 0],
                }
            )
    ticks = batch(*rows)
    return decode(encode(ticks))  # as the wire carries them (prices in paise)


@pytest.mark.parametrize(
    ("name", "key", "fmt"),
    [
        ("option_chain.json", "records", "%d-%b-%Y %H:%M:%S"),
        ("optionchain.json", "records", "%d-%b-%Y %H:%M:%S"),
        ("nifty_option_chain_new.json", "timestamp", "%d-%b-%Y %H:%M:%S"),
    ],
)
def test_real_nse_option_chains_raise_no_false_alarm(
    shared_data: Path, name: str, key: str, fmt: str
) -> None:
    path = shared_data / "option_chain" / name
    data = json.loads(path.read_text())
    when = data["records"]["timestamp"] if key == "records" else data["timestamp"]
    ticks = option_chain_ticks(path, when, fmt)
    assert len(ticks) > 100
    # Real books: bids below offers, and the snapshot twice (nothing moved) is consistent.
    monitor = QualityMonitor()
    events = monitor.check(ticks, float(ticks["exchange_timestamp"][0]))
    assert events == [], [e.message for e in events]
    assert monitor.check(ticks, float(ticks["exchange_timestamp"][0]) + 1) == []
