"""The price-toggle screen: each index's ATM straddle on last and average price, recorded
minute by minute from the demo market, its chart, score, keys and the archive's past days.

The recording is checked against the overlay analytics run on the whole option chain of
each snapshot: what the screen records must be what `straddle_overlay` says of the market at
each minute's close, nothing re-derived.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pilot_wait import until
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from optui.analytics.price_toggle import (
    ChainLayout,
    StraddleSeries,
    straddle_overlay,
    summarize,
)
from optui.feed.calendar import IST
from optui.feed.simulator import DemoMarket
from optui.feed.state import MarketSnapshot, MarketState
from optui.feed.universe import Kind
from optui.settings import load_settings
from optui.store.archive import Roller
from optui.store.day_series import overlay_history
from optui.store.instruments import write_instruments
from optui.store.journal import Journal
from optui.tui.app import OptuiApp, create_app
from optui.tui.context import FeedInfo, ViewContext
from optui.tui.screens.premium import PremiumScreen
from optui.tui.widgets.line_chart import LineChart
from optui.tui.widgets.premium_history import load_overlay_history
from optui.tui.widgets.premium_recorder import StraddleRecorder, index_layout, recorded_rows

SESSION = date(2026, 11, 20)
BEFORE = date(2026, 11, 19)
FROZEN = datetime(2026, 11, 20, 11, 0, tzinfo=IST).timestamp()
NAMES = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "SENSEX")
MINUTES = 8
NS = 1_000_000_000


@dataclass
class Minutes:
    """Snapshots of a small demo market: `early[k]` 5 s into minute k, `close[k]` at its
    last second (k = 0 is 09:15)."""

    market: DemoMarket
    early: list[tuple[MarketSnapshot, float]]
    close: list[tuple[MarketSnapshot, float]]


@pytest.fixture(scope="module")
def minutes() -> Minutes:
    # The app's demo market (same seed, session and instruments, hence the same tokens), from
    # the open, ticking every 5 s to keep the test fast.
    market = DemoMarket(7, SESSION, tick_interval=5.0)
    state = MarketState(market.instruments.instrument_token)
    early: list[tuple[MarketSnapshot, float]] = []
    close: list[tuple[MarketSnapshot, float]] = []
    for k in range(MINUTES):
        for at, out in (
            (market.open_epoch + 60 * k + 5, early),
            (market.open_epoch + 60 * k + 59, close),
        ):
            for ticks in market.ticks_to(at):
                state.update(ticks, received=at)
            snapshot = state.snapshot()
            out.append((snapshot, float(snapshot.ticks["exchange_timestamp"].max())))
    return Minutes(market, early, close)


def full_chain_overlay(
    layout: ChainLayout, snapshot: MarketSnapshot, market_time: float
) -> StraddleSeries:
    """The overlay analytics on every listed strike of the snapshot, for its one minute."""
    tokens = layout.tokens
    rows = snapshot.rows(tokens)
    ok = rows >= 0
    minute = int(market_time // 60 * 60)
    return straddle_overlay(
        np.full(int(ok.sum()), market_time),
        tokens[ok],
        snapshot.ticks["last_price"][rows[ok]],
        snapshot.ticks["average_traded_price"][rows[ok]],
        layout,
        SESSION,
        start=minute,
        end=minute + 60,
    )


def record(minutes: Minutes, which: list[int]) -> StraddleRecorder:
    recorder = StraddleRecorder(minutes.market.instruments, NAMES)
    for k in which:
        assert recorder.sample(*minutes.close[k])
    return recorder


# -- the recording --------------------------------------------------------------------------


def test_the_layout_is_the_nearest_expiry_s_chain_with_its_tokens(minutes: Minutes) -> None:
    universe = minutes.market.instruments
    for name in NAMES:
        layout = index_layout(universe, name, SESSION)
        assert layout is not None
        assert layout.expiry == min(e for e in universe.expiries(name) if e >= SESSION)
        for strike, call, put in zip(
            layout.strikes, layout.call_tokens, layout.put_tokens, strict=True
        ):
            for token, kind in ((call, Kind.CALL), (put, Kind.PUT)):
                row = universe.row_of(int(token))
                assert universe.strike[row] == strike and universe.kind[row] == kind
                assert universe.name[row] == name
        index_row = universe.row_of(layout.index_token)
        assert universe.kind[index_row] == Kind.INDEX
    assert index_layout(universe, "NIFTY", date(2030, 1, 1)) is None


def test_each_minute_is_the_overlay_of_the_market_at_its_close(minutes: Minutes) -> None:
    recorder = record(minutes, list(range(MINUTES)))
    recentres = 0
    for name in NAMES:
        series = recorder.series(name)
        assert series is not None and len(series) == MINUTES
        layout = recorder.layout(name)
        for k, (snapshot, at) in enumerate(minutes.close):
            expected = full_chain_overlay(layout, snapshot, at)
            assert series.minute[k] == expected.minute[0]
            for field in ("spot", "forward", "atm_strike", "straddle_last", "straddle_average"):
                assert getattr(series, field)[k] == pytest.approx(
                    getattr(expected, field)[0], nan_ok=True
                ), (name, k, field)
        assert np.isfinite(series.straddle_last[2:]).all()
        # The summary is the analytics' own, of this series.
        assert recorder.summary(name) == summarize(series)
        recentres += int(series.recentred.sum())
    # The ATM strike moved in the window, so options left the band and came back unpriced.
    assert recentres > 0


def test_a_later_sample_in_the_minute_replaces_the_earlier(minutes: Minutes) -> None:
    recorder = StraddleRecorder(minutes.market.instruments, NAMES, every=5.0)
    snapshot, at = minutes.early[3]
    assert recorder.sample(snapshot, at)
    assert not recorder.sample(snapshot, at + 1.0)  # within `every`: not sampled again
    assert recorder.sample(*minutes.close[3])
    layout = recorder.layout("NIFTY")
    series = recorder.series("NIFTY")
    assert series is not None and len(series) == 1
    expected = full_chain_overlay(layout, *minutes.close[3])
    assert series.straddle_last[0] == pytest.approx(expected.straddle_last[0])
    assert series.straddle_average[0] == pytest.approx(expected.straddle_average[0])
    early = full_chain_overlay(layout, *minutes.early[3])
    assert early.straddle_average[0] != pytest.approx(expected.straddle_average[0])


def test_a_minute_not_recorded_is_a_gap_not_a_copy(minutes: Minutes) -> None:
    recorder = record(minutes, [2, 3, 5])
    for name in NAMES:
        series = recorder.series(name)
        assert series is not None and len(series) == 4
        assert np.isnan(series.straddle_last[2]) and np.isnan(series.spot[2])
        assert np.isfinite(series.straddle_last[[0, 1, 3]]).all()
        summary = recorder.summary(name)
        assert summary is not None and summary.minutes == 3 and summary.missing == 1
    rows = recorded_rows(recorder, NAMES)
    assert len(rows) == 3 * len(NAMES)
    assert {row["minute"] for row in rows} == {
        datetime.fromtimestamp(minutes.market.open_epoch + 60 * k, IST).isoformat()
        for k in (2, 3, 5)
    }


def test_nothing_is_recorded_without_ticks_and_a_new_day_starts_over(minutes: Minutes) -> None:
    recorder = StraddleRecorder(minutes.market.instruments, NAMES)
    snapshot, at = minutes.close[4]
    assert not recorder.sample(snapshot, None)
    assert not recorder.sample(MarketState().snapshot(), at)
    assert recorder.series("NIFTY") is None and recorder.summary("NIFTY") is None
    assert recorder.sample(snapshot, at)
    assert recorder.sample(snapshot, at + 86400.0)  # the next day, same prices
    assert recorder.minutes("NIFTY") == [int((at + 86400.0) // 60 * 60)]
    assert recorder.recording_day == date(2026, 11, 21)


# -- the screen -----------------------------------------------------------------------------


def frozen_app(**overrides: Any) -> OptuiApp:
    return create_app(load_settings(overrides=overrides), clock=lambda: FROZEN)


async def on_premium(pilot: Pilot[Any]) -> PremiumScreen:
    """Open the price-toggle screen and wait (on the condition) until it recorded a minute
    of every index and read the archive."""
    app = pilot.app
    assert isinstance(app, OptuiApp)
    await pilot.press("3")
    for _ in range(500):
        screen = app.screen
        if (
            isinstance(screen, PremiumScreen)
            and screen.recorder is not None
            and all(screen.recorder.minutes(n) for n in NAMES)
            and screen.history is not None
        ):
            break
        await pilot.pause(0.02)
        app.refresh_view()
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, PremiumScreen)
    return screen


def cell(screen: PremiumScreen, row: str, column: str) -> str:
    table: DataTable[Any] = screen.query_one("#straddles", DataTable)
    return str(table.get_cell(row, column))


async def test_the_table_shows_each_index_s_straddle_and_i_picks_the_one_drawn_large() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_premium(pilot)
        snapshot = app.state.snapshot()
        assert screen.recorder is not None
        market_time = float(snapshot.ticks["exchange_timestamp"].max())
        for name in NAMES:
            expected = full_chain_overlay(screen.recorder.layout(name), snapshot, market_time)
            assert cell(screen, name, "last") == f"{expected.straddle_last[0]:,.2f}"
            assert cell(screen, name, "average") == f"{expected.straddle_average[0]:,.2f}"
            assert cell(screen, name, "spread") == f"{expected.spread[0]:+,.2f}"
            assert cell(screen, name, "spread_pct") == f"{expected.spread_pct[0]:+.2f}%"
            assert cell(screen, name, "atm") == f"{expected.atm_strike[0]:,.0f}"
            assert cell(screen, name, "minutes") == "1"
            # One minute has no minute-to-minute noise yet: no score, said with a dash.
            assert cell(screen, name, "score") == "–"
        status = str(screen.query_one("#premium-status", Static).render())
        assert "1 min recorded since 11:00" in status
        history = str(screen.query_one("#history-caption", Static).render())
        assert "none in the archive" in history and "optui collect" in history

        # `i` / `I` (and the table's cursor) pick the index drawn large.
        def large() -> tuple[str, list[float]]:
            legend = str(screen.query_one("#straddle-legend", Static).render())
            chart = screen.query_one("#straddle-chart", LineChart)
            return legend.split(" ", maxsplit=1)[0], chart.series[0].values.tolist()

        assert large()[0] == "NIFTY"
        await pilot.press("i")
        name, values = large()
        series = screen.recorder.series("BANKNIFTY")
        assert series is not None
        assert name == "BANKNIFTY" and values == series.straddle_last.tolist()
        assert screen.query_one("#straddles", DataTable).cursor_row == 1
        await pilot.press("I", "I")
        assert large()[0] == "SENSEX"  # wraps round
        await pilot.press("up")  # the table's own cursor picks too
        assert large()[0] == "MIDCPNIFTY" == screen.selected_underlying
        await pilot.press("i", "i")
        assert large()[0] == "NIFTY"
        assert isinstance(app.screen, PremiumScreen)


def context(minutes: Minutes, k: int, universe: Any) -> ViewContext:
    snapshot, at = minutes.close[k]
    return ViewContext(
        now=at,
        snapshot=snapshot,
        universe=universe,
        basis="last",
        settings=load_settings(),
        feed=FeedInfo("DEMO", "simulated", 10.0, at, at),
    )


async def test_minutes_follow_the_market_time_and_export_as_rows(minutes: Minutes) -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_premium(pilot)
        # What the screen recorded so far (the frozen demo's 11:00), then 09:15 to 09:22.
        expected = StraddleRecorder(app.feed.universe, NAMES)
        frozen = app.state.snapshot()
        assert expected.sample(frozen, float(frozen.ticks["exchange_timestamp"].max()))
        for k in range(MINUTES):
            screen.show(context(minutes, k, app.feed.universe))
            expected.sample(*minutes.close[k])
        await pilot.pause()
        for name in NAMES:
            summary = expected.summary(name)
            assert summary is not None and summary.efficiency is not None
            assert summary.minutes == MINUTES + 1
            assert cell(screen, name, "minutes") == str(MINUTES + 1)
            assert cell(screen, name, "score") == f"{summary.efficiency:.0f}"
            assert cell(screen, name, "tracking") == f"{summary.tracking_pct:.2f}"
            assert cell(screen, name, "noise") == f"{summary.noise_pct:.2f}"
            assert cell(screen, name, "trend").strip()
        status = str(screen.query_one("#premium-status", Static).render())
        assert f"{MINUTES + 1} min recorded since 09:15" in status
        rows = screen.export_rows()
        assert rows == recorded_rows(expected, NAMES)
        assert len(rows) == (MINUTES + 1) * len(NAMES)
        await pilot.press("x")
        await pilot.pause()
        exported = list((app.settings.data_dir / "exports").glob("premium-*.csv"))
        assert len(exported) == 1
        with exported[0].open(encoding="utf-8") as f:
            written = list(csv.DictReader(f))
        assert len(written) == len(rows)
        assert written[0]["underlying"] == "NIFTY"
        assert written[0]["straddle_last"] == f"{rows[0]['straddle_last']:.12g}"
        assert float(written[0]["straddle_last"]) == pytest.approx(rows[0]["straddle_last"])


def advance_demo(app: OptuiApp, seconds: float) -> None:
    """The frozen demo market `seconds` on: its ticks into the app's state, as the feed
    thread would apply them had the clock moved."""
    market = DemoMarket(7, SESSION, start=FROZEN)
    for ticks in market.ticks_to(FROZEN + seconds):
        app.state.update(ticks, received=FROZEN + seconds)


async def test_recording_goes_on_while_another_screen_is_on_view() -> None:
    app = frozen_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await on_premium(pilot)
        assert screen.recorder is not None
        first = screen.recorder.minutes("NIFTY")
        await pilot.press("1")
        assert app.screen is not screen
        advance_demo(app, 61)
        app.refresh_view()  # the app's timer, with the chain on view
        assert screen.recorder.minutes("NIFTY") == [*first, first[-1] + 60]


async def test_recording_starts_with_the_app_not_with_the_first_visit() -> None:
    app = frozen_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await until(
            pilot, lambda: app.straddles is not None and bool(app.straddles.minutes("NIFTY"))
        )
        assert app.straddles is not None
        first = app.straddles.minutes("NIFTY")
        advance_demo(app, 61)
        app.refresh_view()  # the chain is on view: the price-toggle screen was never opened
        assert app.straddles.minutes("NIFTY") == [*first, first[-1] + 60]
        screen = await on_premium(pilot)
        assert screen.recorder is app.straddles
        status = str(screen.query_one("#premium-status", Static).render())
        assert "2 min recorded since 11:00" in status


# -- past days --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data dir whose archive holds the demo's 19 Nov, every 5 minutes, with its list."""
    data_dir = tmp_path_factory.mktemp("premium_data")
    root = data_dir / "archive"
    market = DemoMarket(7, BEFORE, instruments=700, tick_interval=300.0)
    with Journal(data_dir / "journal", sync=False) as journal:
        t = float(market.open_epoch)
        while t <= market.close_epoch:
            frames = market.advance_to(t)
            stamp = int(t * NS)
            journal.append_many(frames, [stamp + i for i in range(len(frames))])
            t += 300.0
        Roller(journal, str(root), "c1").roll(until_ns=int(market.close_epoch + 60) * NS)
    write_instruments(str(root), BEFORE, "c1", market.instruments_csv())
    yield data_dir


async def test_past_days_come_from_the_archive(archive: Path) -> None:
    settings = load_settings(overrides={"data_dir": str(archive)})
    loaded = load_overlay_history(settings, NAMES, SESSION)
    assert loaded.error is None and loaded.days == (BEFORE,)
    expected = [
        row for name in NAMES for row in overlay_history(archive / "archive", [BEFORE], name)
    ]
    assert sorted(loaded.rows, key=lambda r: r.underlying) == sorted(
        expected, key=lambda r: r.underlying
    )
    assert len(expected) == len(NAMES)
    app = create_app(settings, clock=lambda: FROZEN)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_premium(pilot)
        table: DataTable[Any] = screen.query_one("#straddle-history", DataTable)
        assert table.display and table.row_count == len(NAMES)
        shown = {
            str(table.get_row_at(i)[1]): [str(c) for c in table.get_row_at(i)]
            for i in range(table.row_count)
        }
        for row in expected:
            assert row.efficiency is not None
            cells = shown[row.underlying]
            assert cells[0] == f"{BEFORE:%a %d %b}"
            assert cells[2] == f"{row.efficiency:.0f}"
            assert cells[6] == f"{row.minutes:,}"
        caption = str(screen.query_one("#history-caption", Static).render())
        assert "1 days" in caption or "1 day" in caption


def test_an_unreadable_archive_is_a_message() -> None:
    settings = load_settings(overrides={"store.archive": "nosuchscheme://bucket/optui"})
    loaded = load_overlay_history(settings, NAMES, SESSION)
    assert loaded.rows == () and loaded.error is not None
    assert "nosuchscheme://bucket/optui" in loaded.error and "could not be read" in loaded.error


# -- snapshots ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_of_the_price_toggle_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await on_premium(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)


def test_snapshot_of_the_price_toggle_screen_on_the_light_theme(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await on_premium(pilot)

    assert snap_compare(frozen_app(theme="light"), terminal_size=(120, 40), run_before=run_before)
