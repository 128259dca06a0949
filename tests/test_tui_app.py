"""The app on the demo market, driven by Textual's Pilot, on a frozen clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from textual.pilot import Pilot

from optui.feed.calendar import IST
from optui.feed.codec import decode
from optui.feed.state import MarketSnapshot, MarketState
from optui.settings import load_settings
from optui.tui.app import OptuiApp, create_app, run_app
from optui.tui.context import FeedInfo, ViewContext
from optui.tui.header import describe_header
from optui.tui.widgets.breadth_table import BreadthTable

# Friday 20 Nov 2026, 11:00 IST: inside market hours of a trading day.
FROZEN = datetime(2026, 11, 20, 11, 0, tzinfo=IST).timestamp()


def frozen_app(**overrides: Any) -> OptuiApp:
    return create_app(load_settings(overrides=overrides), clock=lambda: FROZEN)


async def until_ticked(pilot: Pilot[Any]) -> None:
    """Wait (on the condition, not on a timer) until the feed thread has applied frames."""
    app = pilot.app
    assert isinstance(app, OptuiApp)
    for _ in range(400):
        if app.state.snapshot().packets:
            break
        await pilot.pause(0.02)
    app.refresh_view()
    await pilot.pause()


async def test_opens_on_the_demo_market_with_live_index_levels() -> None:
    app = frozen_app()
    async with app.run_test(size=(110, 24)) as pilot:
        await until_ticked(pilot)
        await pilot.press("4")  # breadth: the index board
        await pilot.pause()
        app.refresh_view()
        await pilot.pause()
        snapshot = app.state.snapshot()
        nifty = snapshot.row(256265)
        assert nifty is not None
        level = float(snapshot.ticks["last_price"][nifty])
        table = app.screen.query_one("#indices", BreadthTable)
        assert str(table.get_cell("256265", "Last")) == f"{level:,.2f}"
        assert table.row_count >= 5
        assert app.feed.session.live and app.feed.session.session.isoformat() == "2026-11-20"
        # The market time shown is the simulated exchange time, in IST.
        status = str(app.screen.query_one(".app-header").render())
        assert "DEMO" in status and "11:00:00 IST" in status
        await pilot.press("q")
    assert app.return_code == 0


async def test_the_same_seed_and_clock_show_the_same_market() -> None:
    levels = []
    for _ in range(2):
        app = frozen_app()
        async with app.run_test(size=(110, 24)) as pilot:
            await until_ticked(pilot)
            levels.append(app.state.snapshot().ticks["last_price"].tolist())
    assert levels[0] == levels[1]
    other = frozen_app(**{"demo.seed": 8})
    async with other.run_test(size=(110, 24)) as pilot:
        await until_ticked(pilot)
        assert other.state.snapshot().ticks["last_price"].tolist() != levels[0]


def _context(snapshot: MarketSnapshot, now: float) -> ViewContext:
    return ViewContext(
        now=now,
        snapshot=snapshot,
        universe=frozen_app().feed.universe,
        basis="last",
        settings=load_settings(),
        feed=FeedInfo("DEMO", "simulated", 10.0, snapshot.updated, None),
    )


def test_a_stale_feed_is_never_shown_as_live() -> None:
    state = MarketState([1])
    frame = bytes.fromhex("0001 0008 00000001 00002710".replace(" ", ""))
    state.update(decode(frame), received=100.0)
    fresh = describe_header(_context(state.snapshot(), 101.0))
    stale = describe_header(_context(state.snapshot(), 130.0))
    assert "live" in fresh and "STALE" not in fresh
    assert "STALE" in stale and "age 30.0 s" in stale
    waiting = describe_header(_context(MarketState().snapshot(), 1.0))
    assert "waiting for the first tick" in waiting


def test_replay_is_refused_with_where_to_go_instead(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_app(load_settings(overrides={"source": "replay"})) == 2
    err = capsys.readouterr().err
    assert "optui replay" in err and "collect --source replay" in err


def test_kite_without_a_login_says_how_to_log_in(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(
        overrides={"source": "kite", "kite.api_key": "optuidemo", "kite.api_secret": "s"}
    )
    assert run_app(settings) == 5
    assert "optui login" in capsys.readouterr().err


async def test_the_command_palette_reaches_every_screen_by_name() -> None:
    app = frozen_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await until_ticked(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"open breadth")
        await pilot.pause(0.3)
        await pilot.press("enter")
        for _ in range(200):  # bounded wait for the mode switch
            if app.current_mode == "breadth":
                break
            await pilot.pause(0.02)
        assert app.current_mode == "breadth"
        await pilot.press("ctrl+p")
        await pilot.press(*"toggle last")
        await pilot.pause(0.3)
        await pilot.press("enter")
        for _ in range(200):
            if app.basis == "average":
                break
            await pilot.pause(0.02)
        assert app.basis == "average"


async def test_a_feed_that_stops_is_shown_stale_on_every_screen() -> None:
    clock = [FROZEN]
    app = create_app(load_settings(), clock=lambda: clock[0])
    async with app.run_test(size=(110, 30)) as pilot:
        await until_ticked(pilot)
        app._stop.set()  # the feed dies: no frame arrives from now on
        for _ in range(200):
            if not any(w.name == "feed" and w.is_running for w in app.workers):
                break
            await pilot.pause(0.02)
        clock[0] += 30.0
        for key in ("1", "2", "3", "4", "5"):
            await pilot.press(key)
            await pilot.pause()
            app.refresh_view()
            await pilot.pause()
            text = str(app.screen.query_one(".app-header").render())
            assert "STALE" in text and "age 30.0 s" in text, (key, text)
