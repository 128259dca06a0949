"""The participants screen: a day's participant-wise figures and change, the FII long-ratio
history, the date picker and the OI / volume switch, on the demo's simulated files and on a
real store; every figure shown must be the analytics' own."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from optui.analytics.participants import (
    GROUPS,
    ROWS,
    Kind,
    ParticipantDay,
    day_change,
    history,
    participant_file_name,
    positions,
    read_participant_text,
)
from optui.feed.calendar import IST
from optui.feed.demo import DemoFeed
from optui.feed.participants import participant_oi_csv
from optui.feed.simulator import DemoMarket
from optui.settings import load_settings
from optui.store.participants import ParticipantStore
from optui.tui.app import OptuiApp, create_app
from optui.tui.screens.participants import ParticipantsScreen, parse_day
from optui.tui.widgets.line_chart import LineChart
from optui.tui.widgets.participants_data import (
    COLUMNS,
    ParticipantData,
    day_cells,
    load_participant_data,
)

# Friday 20 Nov 2026, 11:00 IST: the demo's files run up to Thursday 19 Nov.
FROZEN = datetime(2026, 11, 20, 11, 0, tzinfo=IST).timestamp()
SESSION = date(2026, 11, 20)
SEED = 7


def demo_days(kind: Kind = "oi") -> list[ParticipantDay]:
    """The demo's simulated files of `kind`, read independently of the screen."""
    market = DemoMarket(SEED, SESSION, instruments=300)
    return [
        read_participant_text(text, name=participant_file_name(kind, day))
        for day, text in market.participant_history(kind=kind)
    ]


def frozen_app(**overrides: Any) -> OptuiApp:
    return create_app(load_settings(overrides=overrides), clock=lambda: FROZEN)


async def on_participants(pilot: Pilot[Any]) -> ParticipantsScreen:
    """Open the screen and wait (on the condition) until its files are read."""
    app = pilot.app
    assert isinstance(app, OptuiApp)
    await pilot.press("2")
    for _ in range(500):
        screen = app.screen
        if isinstance(screen, ParticipantsScreen) and screen.data is not None:
            break
        await pilot.pause(0.02)
        app.refresh_view()
    # The files arrive from a worker: draw them once more and let the table lay itself out,
    # so what is checked (and snapshotted) is the loaded day, whatever the timing.
    app.refresh_view()
    await pilot.pause()
    app.refresh_view()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    screen = app.screen
    assert isinstance(screen, ParticipantsScreen) and screen.data is not None
    return screen


def table(screen: ParticipantsScreen) -> DataTable[Any]:
    return screen.query_one("#participants-table", DataTable)


def text_of(screen: ParticipantsScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def expected_cell(value: int, signed: bool) -> str:
    if not signed:
        return f"{value:,}"
    return f"{value:+,}" if value else "0"


def assert_table_is(
    screen: ParticipantsScreen, today: ParticipantDay, before: ParticipantDay
) -> None:
    """Every cell against `positions` and `day_change` computed here."""
    held = positions(today)
    change = day_change(today, before)
    shown = table(screen)
    for r, row in enumerate(ROWS):
        for g, group in enumerate(GROUPS):
            long, short = int(held.long[r, g]), int(held.short[r, g])
            assert str(shown.get_cell(row, f"{group}_long")) == f"{long:,}"
            assert str(shown.get_cell(row, f"{group}_short")) == f"{short:,}"
            assert str(shown.get_cell(row, f"{group}_net")) == expected_cell(long - short, True)
            net_change = int(change.net[r, g])
            assert str(shown.get_cell(f"Δ {row}", f"{group}_net")) == expected_cell(
                net_change, True
            )
        for k, which in enumerate(("index", "stock")):
            assert str(shown.get_cell(row, f"{which}_options_net")) == expected_cell(
                int(held.options_net[r, k]), True
            )
            assert str(shown.get_cell(f"Δ {row}", f"{which}_options_net")) == expected_cell(
                int(change.options_net[r, k]), True
            )


async def test_the_demo_shows_its_simulated_files_as_the_analytics_read_them() -> None:
    days = demo_days()
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_participants(pilot)
        assert screen.data is not None and screen.data.simulated
        assert screen.selected == days[-1].day == date(2026, 11, 19)
        assert app.focused is table(screen)  # the arrow keys scroll it at once
        assert_table_is(screen, days[-1], days[-2])
        status = text_of(screen, "#participants-status")
        assert "SIMULATED" in status
        assert "Thu 19 Nov 2026 (30/30)" in status and "Δ vs Wed 18 Nov" in status
        # The FII long ratio history: the analytics' series, the day shown marked.
        chart = screen.query_one("#ratio-chart", LineChart)
        ratio = history(days).fii_index_futures_long_ratio
        assert np.allclose(chart.series[0].values, ratio)
        assert np.isfinite(chart.series[1].values).sum() == 1
        assert chart.series[1].values[-1] == ratio[-1]
        caption = text_of(screen, "#ratio-caption")
        assert f"{ratio[-1]:.1%}" in caption
        assert f"{(ratio[-1] - ratio[-2]) * 100:+.1f} pts" in caption
        # The export is the table on view.
        rows = screen.export_rows()
        assert [row["participant"] for row in rows] == list(ROWS)
        assert rows[2]["index_futures_net"] == int(positions(days[-1]).net[2, 0])
        assert rows[2]["previous_day"] == "2026-11-18"
        await pilot.press("x")
        await pilot.pause()
        exported = list((app.settings.data_dir / "exports").glob("participants-*.csv"))
        assert len(exported) == 1
        with exported[0].open(encoding="utf-8") as f:
            written = list(csv.DictReader(f))
        assert [row["participant"] for row in written] == list(ROWS)
        assert int(written[0]["index_calls_long"]) == int(positions(days[-1]).long[0, 2])
        # `v`: the day's trading volume, simulated too.
        await pilot.press("v")
        assert screen.kind == "vol" and table(screen).display
        volumes = demo_days("vol")
        assert screen.selected == volumes[-1].day
        assert_table_is(screen, volumes[-1], volumes[-2])
        status = text_of(screen, "#participants-status")
        assert "SIMULATED" in status and "Volume Thu 19 Nov 2026 (30/30)" in status
        await pilot.press("v")
        assert str(screen.kind) == "oi" and table(screen).display
        assert screen.selected == date(2026, 11, 19)


async def test_brackets_and_a_typed_date_move_between_days() -> None:
    days = demo_days()
    app = frozen_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await on_participants(pilot)
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert screen.selected == days[-3].day
        assert_table_is(screen, days[-3], days[-4])
        assert f"{days[-3].day:%a %d %b %Y} (28/30)" in text_of(screen, "#participants-status")
        await pilot.press("right_square_bracket")
        assert screen.selected == days[-2].day
        await pilot.press("right_square_bracket", "right_square_bracket")  # past the latest
        assert screen.selected == days[-1].day
        # `d` opens the date field; digits typed there never switch screens.
        await pilot.press("d")
        field = screen.query_one("#participants-date", Input)
        assert field.display and app.focused is field
        await pilot.press(*"2026-11-02", "enter")
        assert isinstance(app.screen, ParticipantsScreen)
        assert not field.display
        assert screen.selected == date(2026, 11, 2)
        at = [d.day for d in days].index(date(2026, 11, 2))
        assert_table_is(screen, days[at], days[at - 1])
        # What Enter does with other dates (typed above key by key; called directly here):
        # a Sunday shows the latest stored day before it.
        screen.go_to("15-11-2026")
        assert screen.selected == date(2026, 11, 13)
        # Before the first stored day, and not a date: nothing moves.
        screen.go_to("2020-01-01")
        screen.go_to("tomorrow")
        assert screen.selected == date(2026, 11, 13)
        # The first day has no earlier file: no change shown, said so.
        screen.go_to("07-10-2026")
        await pilot.pause()
        assert screen.selected == days[0].day == date(2026, 10, 7)
        assert "no earlier file" in text_of(screen, "#participants-status")
        assert str(table(screen).get_cell("Δ FII", "index_futures_net")) == "–"
        await pilot.press("left_square_bracket")
        assert screen.selected == days[0].day
        # Esc leaves the date field without moving.
        await pilot.press("d", "1", "escape")
        assert not field.display and screen.selected == days[0].day


def _store_with(data_dir: Path, days: list[date]) -> ParticipantStore:
    """NSE-shaped files in the store: the simulator's OI, and a volume file of the same
    figures under a volume title for each day (the reader goes by title and name)."""
    store = ParticipantStore(data_dir / "participants")
    for day in days:
        text = participant_oi_csv(11, day)
        assert store.add(text.encode(), name=participant_file_name("oi", day)).status == "imported"
        volume = text.replace("Open Interest (no. of contracts)", "Trading Volume (contracts)")
        result = store.add(volume.encode(), name=participant_file_name("vol", day))
        assert result.status == "imported", result.reason
    return store


async def test_a_real_store_wins_over_the_simulation_and_both_kinds_show(tmp_path: Path) -> None:
    stored = [date(2026, 11, 16), date(2026, 11, 18), date(2026, 11, 19)]  # 17 Nov missing
    store = _store_with(tmp_path, stored)
    (store.root / participant_file_name("oi", date(2026, 11, 13))).write_text("garbage")
    settings = load_settings(overrides={"data_dir": str(tmp_path)})
    # The market stays frozen; the app's clock moves to the next day at the end.
    wall = [FROZEN]
    app = create_app(settings, clock=lambda: wall[0], feed=DemoFeed(settings, lambda: FROZEN))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_participants(pilot)
        assert screen.data is not None and not screen.data.simulated
        status = text_of(screen, "#participants-status")
        assert "SIMULATED" not in status
        assert "Thu 19 Nov 2026 (3/3)" in status
        oi = [store.load("oi", d) for d in stored]
        assert_table_is(screen, oi[2], oi[1])
        await pilot.press("left_square_bracket")
        # Against the 16th, with the 17th (a trading day) said to be missing.
        assert "Δ vs Mon 16 Nov, 1 trading day without a file" in text_of(
            screen, "#participants-status"
        )
        assert_table_is(screen, oi[1], oi[0])
        # The file that cannot be read is named, the others shown all the same.
        notes = text_of(screen, "#participants-notes")
        assert "1 stored file(s) could not be read" in notes
        assert participant_file_name("oi", date(2026, 11, 13)) in notes
        await pilot.press("v")
        assert screen.kind == "vol" and screen.selected == date(2026, 11, 18)
        vol = [store.load("vol", d) for d in stored]
        assert_table_is(screen, vol[1], vol[0])
        assert "Volume Wed 18 Nov 2026 (2/3)" in text_of(screen, "#participants-status")
        # The next day, with that day's files fetched meanwhile: read again, on the same day.
        _store_with(tmp_path, [date(2026, 11, 20)])
        wall[0] = FROZEN + 86400
        for _ in range(500):
            if screen.data.dates("vol")[-1] == date(2026, 11, 20):
                break
            await pilot.pause(0.02)
        assert screen.data.dates("vol")[-1] == date(2026, 11, 20)
        assert screen.kind == "vol" and screen.selected == date(2026, 11, 18)
        assert "Volume Wed 18 Nov 2026 (2/4)" in text_of(screen, "#participants-status")


async def test_with_no_files_at_all_it_says_how_to_get_them(tmp_path: Path) -> None:
    empty = load_participant_data(tmp_path / "participants")  # no demo to fall back on
    assert empty.empty and not empty.simulated
    app = frozen_app(data_dir=str(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await on_participants(pilot)
        screen.loaded(empty)
        await pilot.pause()
        message = text_of(screen, "#participants-message")
        assert "No participant files stored" in message
        assert "optui participants fetch" in message and "optui participants import" in message
        assert str(tmp_path / "participants") in message
        assert not table(screen).display
        await pilot.press("left_square_bracket", "right_square_bracket", "v")  # nothing breaks
        assert screen.export_rows() == []


def test_the_data_layer_reads_the_same_figures_as_the_analytics(tmp_path: Path) -> None:
    market = DemoMarket(SEED, SESSION, instruments=300)
    loaded = load_participant_data(tmp_path, market, demo_days=5)
    days = demo_days()[-5:]
    assert loaded.simulated
    assert loaded.dates("oi") == loaded.dates("vol") == [d.day for d in days]
    assert loaded.days["vol"][-1].rows == demo_days("vol")[-1].rows
    cells = day_cells(loaded.days["oi"][-1])
    held = positions(days[-1])
    assert cells["FII"]["index_puts_short"] == int(held.short[2, GROUPS.index("index_puts")])
    assert cells["TOTAL"]["stock_options_net"] == int(held.options_net[4, 1])
    assert {c.key for c in COLUMNS} == set(cells["Client"])
    change = loaded.change(loaded.days["oi"][-1])
    assert change is not None and change.previous_day == days[-2].day
    assert isinstance(loaded, ParticipantData)


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("2026-11-19", date(2026, 11, 19)),
        ("19-11-2026", date(2026, 11, 19)),
        ("19/11/2026", date(2026, 11, 19)),
        ("19112026", date(2026, 11, 19)),
        (" 19 Nov 2026 ", date(2026, 11, 19)),
    ],
)
def test_dates_are_read_as_traders_type_them(typed: str, day: date) -> None:
    assert parse_day(typed) == day


def test_a_wrong_date_says_how_to_type_one() -> None:
    with pytest.raises(ValueError, match=r"'31-02-2026' is not a date: type it as 2026-11-19"):
        parse_day("31-02-2026")


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_of_the_participants_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await on_participants(pilot)

    assert snap_compare(frozen_app(), terminal_size=size, run_before=run_before)


def test_snapshot_of_the_participants_screen_on_the_light_theme(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await on_participants(pilot)

    assert snap_compare(frozen_app(theme="light"), terminal_size=(120, 40), run_before=run_before)
