"""Reading the overlay's and breadth's inputs from a real archive and journal.

Two demo sessions go through a real LMDB journal and the real roller into Parquet (the second
day only partly rolled, the rest still in the journal), with each day's instruments list
beside them; what `optui.store.day_series` reads back must equal what the frames held.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path

import numpy as np
import pytest

from optui.analytics.price_toggle import straddle_overlay, summarize_days
from optui.feed.calendar import IST, epoch_at
from optui.feed.codec import decode
from optui.feed.simulator import DemoMarket
from optui.feed.universe import Kind
from optui.store.archive import Roller
from optui.store.day_series import (
    DaySeriesError,
    chain_layout,
    daily_volumes,
    load_day_series,
    overlay_history,
)
from optui.store.instruments import read_instruments, write_instruments
from optui.store.journal import Journal

BEFORE = date(2026, 11, 19)  # collected late and replayed fast: receive times are compressed
SESSION = date(2026, 11, 20)  # collected live; its last 40 minutes are still in the journal
NS = 1_000_000_000
SESSION_MINUTES = 120
ROLLED_MINUTES = 80


@dataclass
class Collected:
    root: Path
    journal: Journal
    rows: dict[date, np.ndarray]  # every decoded tick of the day
    markets: dict[date, DemoMarket]


def _frames_with_times(
    market: DemoMarket, until: float, step: float
) -> Iterator[tuple[float, list[bytes]]]:
    t = float(market.open_epoch)
    while t <= until:
        yield t, market.advance_to(t)
        t += step


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    base = tmp_path_factory.mktemp("day_series")
    root = base / "archive"
    rows: dict[date, list[np.ndarray]] = {BEFORE: [], SESSION: []}
    markets: dict[date, DemoMarket] = {}
    with Journal(base / "journal", sync=False) as journal:
        # The day before: the whole session every two minutes, received at 30x after 17:00.
        before = DemoMarket(7, BEFORE, instruments=700, tick_interval=120.0)
        markets[BEFORE] = before
        evening = int(datetime(2026, 11, 19, 17, 0, tzinfo=IST).timestamp())
        for t, frames in _frames_with_times(before, before.close_epoch, 120.0):
            received = int((evening + (t - before.open_epoch) / 30) * NS)
            journal.append_many(frames, [received + i for i in range(len(frames))])
            rows[BEFORE].extend(decode(f) for f in frames)
        # The session: two hours every 30 s, received half a second after the exchange time.
        market = DemoMarket(7, SESSION, instruments=700, tick_interval=30.0)
        markets[SESSION] = market
        end = market.open_epoch + SESSION_MINUTES * 60 - 1
        for t, frames in _frames_with_times(market, end, 30.0):
            received = int((t + 0.5) * NS)
            journal.append_many(frames, [received + i for i in range(len(frames))])
            rows[SESSION].extend(decode(f) for f in frames)
        Roller(journal, root, "c1").roll(until_ns=(market.open_epoch + ROLLED_MINUTES * 60) * NS)
        assert journal.stats().frames > 0  # the session's tail is only in the journal
        for day, demo in markets.items():
            write_instruments(root, day, "c1", demo.instruments_csv())
        yield Collected(root, journal, {d: np.concatenate(r) for d, r in rows.items()}, markets)


def test_layout_from_the_stored_instruments_list(collected: Collected) -> None:
    instruments = read_instruments(collected.root, SESSION)
    assert instruments is not None
    universe = collected.markets[SESSION].instruments
    for name in ("NIFTY", "BANKNIFTY", "SENSEX"):
        layout = chain_layout(instruments, name, SESSION)
        expiry = universe.expiries(name)[0]
        chain = universe.chain(name, expiry)
        assert layout.expiry == expiry
        assert layout.strikes.tolist() == chain.strikes.tolist()
        tokens = universe.instrument_token.astype(np.int64)
        assert (
            layout.call_tokens.tolist()
            == np.where(chain.calls >= 0, tokens[chain.calls], -1).tolist()
        )
        assert (
            layout.put_tokens.tolist() == np.where(chain.puts >= 0, tokens[chain.puts], -1).tolist()
        )
        index_row = universe.underlying[chain.calls[chain.calls >= 0][0]]
        assert layout.index_token == int(universe.instrument_token[index_row])
    later = universe.expiries("NIFTY")[1]
    assert chain_layout(instruments, "NIFTY", SESSION, later).expiry == later
    with pytest.raises(DaySeriesError, match="no options expiring 2026-11-21"):
        chain_layout(instruments, "NIFTY", SESSION, date(2026, 11, 21))
    with pytest.raises(DaySeriesError, match=r"unknown underlying 'NIFTI'.*NIFTY"):
        chain_layout(instruments, "NIFTI", SESSION)


def test_loads_only_the_band_of_strikes_around_the_day_s_range(collected: Collected) -> None:
    series = load_day_series(
        collected.root, SESSION, "NIFTY", band_strikes=2, journal=collected.journal
    )
    assert series is not None
    instruments = read_instruments(collected.root, SESSION)
    assert instruments is not None
    full = chain_layout(instruments, "NIFTY", SESSION)
    layout = series.layout
    assert 0 < len(layout.strikes) < len(full.strikes)
    index = collected.rows[SESSION]
    level = index["last_price"][index["instrument_token"] == layout.index_token]
    step = float(np.diff(full.strikes).min())
    # Two strikes beyond the day's low and high (the chain's edge permitting), no more.
    assert layout.strikes[0] <= max(level.min() - 2 * step, full.strikes[0])
    assert layout.strikes[-1] >= min(level.max() + 2 * step, full.strikes[-1])
    assert layout.strikes[0] > level.min() - 4 * step
    assert layout.strikes[-1] < level.max() + 4 * step
    assert set(np.unique(series.token).tolist()) <= set(layout.tokens.tolist())
    wanted = np.isin(collected.rows[SESSION]["instrument_token"], layout.tokens)
    assert len(series.token) == int(wanted.sum())  # every tick of those tokens, once


def test_the_overlay_from_the_archive_equals_the_one_from_the_frames(
    collected: Collected,
) -> None:
    for name in ("NIFTY", "BANKNIFTY"):
        series = load_day_series(collected.root, SESSION, name, journal=collected.journal)
        assert series is not None
        open_epoch = epoch_at(SESSION, dt_time(9, 15))
        assert series.start == open_epoch
        assert series.end == open_epoch + SESSION_MINUTES * 60 - 30 + 1  # the last round + 1 s
        got = series.overlay()
        rows = collected.rows[SESSION]
        want = straddle_overlay(
            rows["exchange_timestamp"],
            rows["instrument_token"],
            rows["last_price"],
            rows["average_traded_price"],
            series.layout,
            SESSION,
            start=series.start,
            end=series.end,
        )
        assert len(got) == SESSION_MINUTES
        assert np.isfinite(got.straddle_last).all()
        for field in ("forward", "atm_strike", "straddle_last", "straddle_average"):
            assert np.array_equal(getattr(got, field), getattr(want, field), equal_nan=True), field


def test_without_the_journal_the_day_ends_at_the_last_roll(collected: Collected) -> None:
    series = load_day_series(collected.root, SESSION, "NIFTY")
    assert series is not None
    assert series.end <= series.start + ROLLED_MINUTES * 60
    assert len(series.overlay()) == ROLLED_MINUTES


def test_exchange_times_place_a_day_received_later(collected: Collected) -> None:
    series = load_day_series(collected.root, BEFORE, "NIFTY")
    assert series is not None
    # Received over 12.5 minutes in the evening, laid out over the session it came from.
    assert series.start == epoch_at(BEFORE, dt_time(9, 15))
    assert series.end == epoch_at(BEFORE, dt_time(15, 29)) + 1  # the last round, + 1 s
    overlay = series.overlay(forward="spot")
    assert len(overlay) == 375  # 09:15 .. 15:29
    assert np.isfinite(overlay.straddle_last).all()
    today = load_day_series(collected.root, SESSION, "NIFTY", journal=collected.journal)
    assert today is not None
    table = summarize_days([today.overlay(), overlay])
    assert [row.day for row in table] == [BEFORE, SESSION]
    assert all(row.efficiency is not None and 0 < row.efficiency < 100 for row in table)
    # The same rows straight from the archive, one day at a time; a day never collected
    # (no instruments list, no ticks) is skipped.
    days = [date(2026, 11, 18), SESSION, BEFORE]
    history = overlay_history(collected.root, days, "NIFTY", journal=collected.journal)
    assert [row.day for row in history] == [BEFORE, SESSION]
    assert history == summarize_days([today.overlay(), series.overlay()])


def test_a_day_without_ticks_or_without_instruments(collected: Collected, tmp_path: Path) -> None:
    write_instruments(tmp_path, SESSION, "c1", collected.markets[SESSION].instruments_csv())
    assert load_day_series(tmp_path, SESSION, "NIFTY") is None
    with pytest.raises(DaySeriesError, match="no instruments list for 2026-11-18"):
        load_day_series(collected.root, date(2026, 11, 18), "NIFTY")
    with pytest.raises(DaySeriesError, match="band_strikes=-1"):
        load_day_series(collected.root, SESSION, "NIFTY", band_strikes=-1)


def _stock_tokens(collected: Collected) -> np.ndarray:
    universe = collected.markets[SESSION].instruments
    return np.asarray(universe.instrument_token[universe.kind == Kind.EQUITY][:12])


def _max_volume(rows: np.ndarray, token: int, until: float | None = None) -> float:
    mine = rows[rows["instrument_token"] == token]
    if until is not None:
        mine = mine[mine["exchange_timestamp"] <= until]
    return float(mine["volume_traded"].max())


def test_daily_volumes_final_and_as_of_a_time(collected: Collected) -> None:
    tokens = _stock_tokens(collected)
    index_token = int(collected.markets[SESSION].instruments.instrument_token[0])
    days = [date(2026, 11, 18), BEFORE, SESSION]
    volumes = daily_volumes(
        collected.root, days, [*tokens.tolist(), index_token], journal=collected.journal
    )
    assert volumes.days == tuple(days)
    col = {int(t): i for i, t in enumerate(volumes.tokens.tolist())}
    assert np.isnan(volumes.volume[0]).all()  # nothing collected that day
    assert np.isnan(volumes.volume[:, col[index_token]]).all()  # an index has no volume
    for token in tokens.tolist():
        for d, day in ((1, BEFORE), (2, SESSION)):
            assert volumes.volume[d, col[token]] == _max_volume(collected.rows[day], token)
    average = volumes.average()
    assert index_token not in average
    first = int(tokens[0])
    assert average[first] == pytest.approx(np.nanmean(volumes.volume[:, col[first]]))

    noon = dt_time(12, 0)
    at_noon = daily_volumes(collected.root, [BEFORE], tokens.tolist(), until=noon)
    cutoff = epoch_at(BEFORE, noon)
    for i, token in enumerate(at_noon.tokens.tolist()):
        expected = _max_volume(collected.rows[BEFORE], token, cutoff)
        assert at_noon.volume[0, i] == expected
        assert expected < volumes.volume[1, col[token]]

    # Without the journal, the session's volume stops at the last roll.
    rolled = daily_volumes(collected.root, [SESSION], tokens.tolist())
    assert (rolled.volume[0] < volumes.volume[2, [col[t] for t in rolled.tokens.tolist()]]).all()
