"""The errors screen: events newest first, filtered by kind, each with what optui did and what
to do, beside the system's health. Driven on the real app: the demo feed with events recorded
in `app.event_log` (as the app does for a live feed's events), and end to end on live Kite
against the emulator with a dropped connection, and attached to a collector whose events are
in its journal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from pilot_wait import until
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable

from optui.emulator import DEMO_API_KEY, DEMO_API_SECRET, Emulator
from optui.events import Event
from optui.feed.calendar import IST
from optui.feed.feed_events import feed_event
from optui.feed.kite_events import EventKind as StreamKind
from optui.feed.kite_events import StreamEvent
from optui.feed.kite_stream import AUTH_MESSAGE
from optui.feed.live import open_live_feed
from optui.settings import Settings, load_settings
from optui.store.journal import Journal
from optui.tui.app import OptuiApp, create_app
from optui.tui.context import FeedInfo
from optui.tui.screens.errors import ErrorsScreen
from optui.tui.system_health import DiskSpace, ProcessHealth, StoreHealth
from optui.tui.widgets.event_detail import EventDetail
from optui.tui.widgets.health_panel import HealthPanel, HealthRow, health_rows

# Friday 20 Nov 2026, 11:00 IST: inside market hours of a trading day.
FROZEN = datetime(2026, 11, 20, 11, 0, tzinfo=IST).timestamp()
FIXED = ProcessHealth(
    cpu_percent=12.0,
    rss_bytes=150 * 2**20,
    disk=DiskSpace(Path("/data"), free=40 * 2**30, total=100 * 2**30),
)

CROSSED = Event(
    time=FROZEN - 200,
    kind="data_quality",
    severity="warning",
    code="quality.crossed_book",
    message="2 instruments had a crossed book (best bid above best ask)",
    details={"subjects": "NIFTY26NOV24000CE, NIFTY26NOV24100CE"},
    did="Kept the ticks as received and flagged them.",
    do="Nothing unless it persists.",
    count=3,
    first_time=FROZEN - 260,
)
EVENTS = (
    feed_event(StreamEvent(FROZEN - 600, "connected", "connected to connection 1", 1)),
    feed_event(StreamEvent(FROZEN - 599, "subscribed", "subscribed 2,950 instruments (full)", 1)),
    feed_event(
        StreamEvent(FROZEN - 480, "disconnected", "connection lost without a close frame (1006)", 2)
    ),
    feed_event(StreamEvent(FROZEN - 479, "reconnecting", "reconnecting in 1.20 s (attempt 1)", 2)),
    feed_event(StreamEvent(FROZEN - 477, "connected", "connected to connection 2 again", 2)),
    CROSSED,
    feed_event(
        StreamEvent(FROZEN - 120, "error", "Kite says: [bold]Invalid[/bold] instrument 123", 1)
    ),
    feed_event(StreamEvent(FROZEN - 60, "auth", AUTH_MESSAGE, 1)),
)


def frozen_app(**overrides: Any) -> OptuiApp:
    return create_app(load_settings(overrides=overrides), clock=lambda: FROZEN)


async def on_errors(pilot: Pilot[Any], events: tuple[Event, ...] = ()) -> ErrorsScreen:
    """Open the errors screen with fixed process readings, once the journal has been read."""
    app = pilot.app
    assert isinstance(app, OptuiApp)
    await until(pilot, lambda: app.state.snapshot().packets > 0, "the first ticks")
    app.event_log.record_many(events)
    app.refresh_view()
    await pilot.pause()
    app.clear_notifications()  # the toasts the events raised: not what these tests look at
    await pilot.press("5")
    await until(pilot, lambda: isinstance(app.screen, ErrorsScreen), "the errors screen")
    screen = app.screen
    assert isinstance(screen, ErrorsScreen)
    screen.process_health = lambda data_dir: FIXED
    await until(pilot, lambda: screen.store_health is not None, "the journal reading")
    return screen


def row_keys(table: DataTable[Any]) -> list[str]:
    return [
        str(table.coordinate_to_cell_key(Coordinate(r, 0)).row_key.value)
        for r in range(table.row_count)
    ]


def detail_text(screen: ErrorsScreen) -> str:
    shown = screen.query_one(EventDetail).shown
    assert shown is not None
    return shown.plain


def health(screen: ErrorsScreen) -> dict[str, str]:
    return {row.label: row.value for row in screen.query_one(HealthPanel).rows}


async def test_the_demo_has_no_problems_so_far_and_shows_the_health() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_errors(pilot)
        assert screen.query_one("#events", DataTable).row_count == 0
        text = detail_text(screen)
        assert text.startswith("No problems so far.") and "demo market is simulated" in text
        assert screen.query_one("#kinds", DataTable).row_count == 0
        shown = health(screen)
        assert shown["CPU"] == "12% of a core"
        assert shown["Memory"] == "150.0 MiB"
        assert shown["Free disk"] == "40.0 GiB of 100.0 GiB"
        assert shown["Data age"] == "0.0 s"
        assert shown["Journal"] == "none in this data dir"
        rows = screen.export_rows()
        assert {r["table"] for r in rows} == {"health"}
        assert {"metric": "CPU", "value": "12% of a core"}.items() <= rows[0].items()

        # A reading that fails is shown in the panel; the app goes on.
        def failing(settings: Settings) -> StoreHealth:
            raise RuntimeError("disk on fire")

        screen.read_store = failing
        screen.store_interval = 0.0
        await until(
            pilot,
            lambda: health(screen).get("Journal") == "unreadable: RuntimeError: disk on fire",
            "the failed reading in the panel",
        )
        assert app.is_running


async def test_events_newest_first_with_counts_details_and_advice() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_errors(pilot, EVENTS)
        table: DataTable[Any] = screen.query_one("#events", DataTable)
        assert row_keys(table) == [str(n) for n in range(len(EVENTS), 0, -1)]
        assert str(table.get_cell("3", "Event")) == "feed.disconnected"
        assert str(table.get_cell("3", "Time")) == "10:52:00"
        assert str(table.get_cell("6", "×")) == "3"  # a group of repeats, counted
        assert str(table.get_cell("3", "×")) == ""

        # The cursor starts on the newest: the refused token, and how to fix it.
        text = detail_text(screen)
        assert text.startswith("#8 auth.refused · critical · Fri 20 Nov 2026 10:59:00 IST")
        assert AUTH_MESSAGE in text
        assert "What you should do: Run `optui login`" in text
        # ... and the header says so on every screen until it is fixed.
        assert "LOG IN AGAIN" in str(app.screen.query_one("AppHeader").render())

        # Counts per kind (repeats included) with the last occurrence.
        kinds: DataTable[Any] = screen.query_one("#kinds", DataTable)
        assert str(kinds.get_cell("feed", "Count")) == "6"
        assert str(kinds.get_cell("feed", "Last")) == "10:58:00"
        assert str(kinds.get_cell("data_quality", "Count")) == "3"
        assert str(kinds.get_cell("auth", "Count")) == "1"
        assert row_keys(kinds) == ["feed", "auth", "data_quality"]

        # Down to the drop: optui reconnects by itself; check the network if it repeats.
        table.focus()
        while table.cursor_row < table.get_row_index("3"):
            await pilot.press("down")
        await pilot.pause()
        text = detail_text(screen)
        assert text.startswith("#3 feed.disconnected · warning")
        assert "reconnects by itself" in text and "check the network" in text

        # A group of repeats says how many, since when, and what they were about.
        table.move_cursor(row=table.get_row_index("6"))
        await pilot.pause()
        text = detail_text(screen)
        assert "3 times, 10:55:40 to Fri 20 Nov 2026 10:56:40 IST" in text
        assert "subjects NIFTY26NOV24000CE, NIFTY26NOV24100CE" in text

        # Kite's own message is shown as it came, brackets and all (never read as markup).
        table.move_cursor(row=table.get_row_index("7"))
        await pilot.pause()
        text = detail_text(screen)
        assert "Kite says: [bold]Invalid[/bold] instrument 123" in text
        assert "Read Kite's message" in text

        filter_bar = str(screen.query_one("#filter-bar").render())
        assert "8 of 8 events" in filter_bar
        # Six went wrong; one of them (the refused token) only the user can fix.
        assert "6 problems (1 still to fix by you)" in filter_bar

        # A new event goes on top; the cursor stays on the event being read.
        app.event_log.record(
            feed_event(StreamEvent(FROZEN - 5, "disconnected", "connection reset", 3))
        )
        app.refresh_view()
        await pilot.pause()
        assert row_keys(table)[:2] == ["9", "8"]
        assert detail_text(screen).startswith("#7 feed.error")
        assert str(kinds.get_cell("feed", "Count")) == "7"
        assert str(kinds.get_cell("feed", "Last")) == "10:59:55"


async def test_f_cycles_the_filter_through_problems_and_each_kind() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_errors(pilot, EVENTS)
        table: DataTable[Any] = screen.query_one("#events", DataTable)
        assert screen.filters() == ["all", "problems", "feed", "auth", "data_quality"]
        await pilot.press("f")
        assert screen.kind_filter == "problems"
        assert row_keys(table) == ["8", "7", "6", "3"]
        assert "Filter: problems" in str(screen.query_one("#filter-bar").render())
        exported = [r for r in screen.export_rows() if r["table"] == "event"]
        assert [r["number"] for r in exported] == [8, 7, 6, 3]
        assert exported[2]["code"] == "quality.crossed_book" and exported[2]["count"] == 3
        await pilot.press("f")
        assert screen.kind_filter == "feed"
        assert row_keys(table) == ["7", "5", "4", "3", "2", "1"]
        assert detail_text(screen).startswith("#7 feed.error")
        for _ in range(len(screen.filters()) - 2):
            await pilot.press("f")
        assert screen.kind_filter == "all" and table.row_count == len(EVENTS)


async def test_a_collector_s_backlog_and_roll_lag(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Journal(data_dir / "journal", sync=False) as journal:
        received = int((FROZEN - 150) * 1e9)
        journal.append_many(
            [b"\x00\x00", b"\x00\x00", b"\x00\x00"], [received + i for i in range(3)]
        )
    app = frozen_app(data_dir=str(data_dir))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_errors(pilot)
        assert screen.store_health is not None and screen.store_health.frames == 3
        shown = health(screen)
        assert shown["Backlog"].startswith("3 frames")
        # No collector runs, so nothing will roll the backlog: say how.
        assert shown["Roll lag"] == "2 min: run `optui roll`"
        assert shown["Collector"] == "not running"


def test_health_rows_judge_against_the_goals() -> None:
    feed = FeedInfo("LIVE", "connected", 1234.0, newest_tick=FROZEN - 9, market_time=None)
    heavy = ProcessHealth(
        cpu_percent=75.0,
        rss_bytes=2 * 2**30,
        disk=DiskSpace(Path("/"), free=512 * 2**20, total=100 * 2**30),
    )
    lagging = StoreHealth(
        journal=True,
        frames=5000,
        used_bytes=3 * 2**20,
        oldest_frame=FROZEN - 400,
        newest_frame=FROZEN - 1,
        collector="pid 1 desk-1",
    )
    rows = {r.label: r for r in health_rows(heavy, lagging, feed, FROZEN, roll_interval=60.0)}
    assert rows["CPU"] == HealthRow("CPU", "75% of a core", "warn")
    assert rows["Memory"] == HealthRow("Memory", "2.0 GiB", "bad")
    assert rows["Free disk"].level == "bad"
    assert rows["Ticks/s"] == HealthRow("Ticks/s", "1,234", "info")
    assert rows["Data age"] == HealthRow("Data age", "9.0 s STALE", "warn")
    assert rows["Backlog"].value == "5,000 frames (3.0 MiB)"
    assert rows["Roll lag"] == HealthRow("Roll lag", "7 min", "warn")  # over 3 roll intervals
    assert rows["Collector"] == HealthRow("Collector", "running", "ok")

    calm = ProcessHealth(None, None, None)
    rows = {r.label: r for r in health_rows(calm, StoreHealth(journal=True), feed, FROZEN, 60.0)}
    assert rows["CPU"].value == "measuring…" and rows["Memory"].value == "unknown"
    assert rows["Free disk"] == HealthRow("Free disk", "unreadable", "warn")
    assert rows["Roll lag"] == HealthRow("Roll lag", "none: all archived", "ok")
    broken = StoreHealth(journal=True, error="the journal is damaged")
    rows = {r.label: r for r in health_rows(calm, broken, feed, FROZEN, 60.0)}
    assert rows["Journal"] == HealthRow("Journal", "unreadable: the journal is damaged", "bad")


def test_every_stream_kind_says_what_optui_did_and_problems_say_what_to_do() -> None:
    for kind in get_args(StreamKind):
        event = feed_event(StreamEvent(0.0, kind, "x"))
        assert event.did
        if event.severity != "info":
            assert event.do
    assert "optui login" in feed_event(StreamEvent(0.0, "auth", AUTH_MESSAGE)).do
    for kind in ("disconnected", "silent"):
        event = feed_event(StreamEvent(0.0, kind, "x"))  # type: ignore[arg-type]
        assert "reconnects" in event.did and "network" in event.do
    assert "Kite's message" in feed_event(StreamEvent(0.0, "error", "Kite says: no")).do
    left_out = feed_event(StreamEvent(0.0, "message", "left out: NIFTY 2 expiries"))
    assert "[kite] strikes" in left_out.do


# -- live Kite, end to end -------------------------------------------------------------------


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(instruments=600, speed=20.0) as emu:
        yield emu


async def test_a_dropped_kite_connection_shows_up_with_its_fix(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = emulator.issue_access_token()
    monkeypatch.setenv("KITE_ACCESS_TOKEN", token)
    settings = load_settings(
        overrides={
            "source": "kite",
            "data_dir": str(tmp_path / "data"),
            "cache_dir": str(tmp_path / "cache"),
            "log_dir": str(tmp_path / "log"),
            "kite.api_key": DEMO_API_KEY,
            "kite.api_secret": DEMO_API_SECRET,
            "kite.api_url": emulator.api_url,
            "kite.ws_url": emulator.ws_url,
            "kite.strikes": "5",
        }
    )
    app = create_app(settings, feed=open_live_feed(settings))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state.snapshot().packets > 0, "live ticks")
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, ErrorsScreen), "the errors screen")
        screen = app.screen
        assert isinstance(screen, ErrorsScreen)
        table: DataTable[Any] = screen.query_one("#events", DataTable)
        emulator.inject("drop")

        def dropped() -> bool:
            app.refresh_view()
            codes = [str(table.get_cell(key, "Event")) for key in row_keys(table)]
            return "feed.disconnected" in codes

        await until(pilot, dropped, "the drop on the errors screen")
        drop = next(
            k for k in row_keys(table) if str(table.get_cell(k, "Event")) == "feed.disconnected"
        )
        table.move_cursor(row=table.get_row_index(drop))
        await pilot.pause()
        text = detail_text(screen)
        assert text.startswith(f"#{drop} feed.disconnected")
        assert "reconnects by itself" in text
        # It did: a second "connected" follows, by itself.
        await until(
            pilot,
            lambda: sum(e.code == "feed.connected" for e in app.events) >= 2,
            "a reconnect",
        )
        exported = " ".join(str(r) for r in screen.export_rows())
        assert "disconnected" in exported and token not in exported
        # A problem optui dealt with by itself: nothing is left for the user.
        app.refresh_view()
        await pilot.pause()
        assert "(none open)" in str(screen.query_one("#filter-bar").render())
        await pilot.press("q")


# -- snapshots -------------------------------------------------------------------------------


async def _errors_without_events(pilot: Pilot[Any]) -> None:
    await on_errors(pilot)


async def _errors_with_events(pilot: Pilot[Any]) -> None:
    screen = await on_errors(pilot, EVENTS)
    table: DataTable[Any] = screen.query_one("#events", DataTable)
    table.move_cursor(row=table.get_row_index("3"))
    await pilot.pause()


def test_snapshot_at_80x24_without_events(snap_compare: Any) -> None:
    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=_errors_without_events)


def test_snapshot_at_120x40_with_events(snap_compare: Any) -> None:
    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=_errors_with_events)


def test_snapshot_at_120x40_with_events_on_the_light_theme(snap_compare: Any) -> None:
    app = frozen_app(theme="light")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_errors_with_events)
