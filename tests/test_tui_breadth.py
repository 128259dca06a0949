"""The breadth screen on the seeded demo market with a frozen clock: the board shows exactly
what `optui.analytics.breadth` computes, the A/D bars are proportional, the heat strip is in
the analytics' order, the cursor picks the movers, and prices follow the basis."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dt_time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pilot_wait import until
from rich.console import Console
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.pilot import Pilot
from textual.renderables.styled import Styled

from optui.analytics.breadth import IndexBreadth, breadth, heat_strip
from optui.feed import reference
from optui.feed.calendar import IST
from optui.feed.simulator import DemoMarket
from optui.feed.universe import Kind
from optui.settings import load_settings
from optui.store.archive import Roller
from optui.store.day_series import daily_volumes
from optui.store.journal import Journal
from optui.tui.app import OptuiApp, create_app
from optui.tui.screens.breadth import BreadthScreen, load_volumes
from optui.tui.widgets.ad_bar import AD_STYLES, ad_bar, bar_widths
from optui.tui.widgets.breadth_movers import MoverTable
from optui.tui.widgets.breadth_table import AD_BAR_WIDTH, BreadthTable
from optui.tui.widgets.heat_strip import HeatStrip, sector_label, strip_lines
from optui.tui.widgets.line_table import LineTable, cell_runs, cell_segments

# Friday 20 Nov 2026, 11:00 IST: inside market hours of a trading day.
FROZEN = datetime(2026, 11, 20, 11, 0, tzinfo=IST).timestamp()
PREVIOUS_DAY = date(2026, 11, 19)
NIFTY = "256265"
BANK = "260105"


def frozen_app(**overrides: Any) -> OptuiApp:
    return create_app(load_settings(overrides=overrides), clock=lambda: FROZEN)


async def on_breadth(pilot: Pilot[Any]) -> BreadthScreen:
    """Open the breadth screen once the feed has ticked and the volume history is read."""
    app = pilot.app
    assert isinstance(app, OptuiApp)
    await until(pilot, lambda: app.state.snapshot().packets > 0, "the first ticks")
    await pilot.press("4")
    await until(pilot, lambda: isinstance(app.screen, BreadthScreen), "the breadth screen")
    screen = app.screen
    assert isinstance(screen, BreadthScreen)
    await until(pilot, lambda: screen.volumes is not None, "the volume history")
    return screen


def analytics(app: OptuiApp, average_volume: dict[int, float] | None = None) -> dict[str, Any]:
    """The analytics on the app's current snapshot, by index name."""
    return {
        b.index: b
        for b in breadth(app.feed.universe, app.state.snapshot(), average_volume=average_volume)
    }


def cell(table: LineTable, row: str, column: str) -> str:
    return str(table.get_cell(row, column))


def fmt_signed(value: float | None, suffix: str = "") -> str:
    return "—" if value is None else f"{value:+,.2f}{suffix}"


async def test_the_board_bars_heat_strip_and_export_are_the_analytics() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_breadth(pilot)
        table = screen.query_one("#indices", BreadthTable)
        expected = analytics(app)
        assert set(expected) == set(reference.index_members())
        for name, b in expected.items():
            key = str(b.token)
            assert cell(table, key, "Index") == name
            assert cell(table, key, "Last") == f"{b.level:,.2f}"
            assert cell(table, key, "Change") == fmt_signed(b.change)
            assert cell(table, key, "Chg %") == fmt_signed(b.change_pct, "%")
            assert cell(table, key, "Adv") == str(b.advances)
            assert cell(table, key, "Dec") == str(b.declines)
            assert cell(table, key, "Unch") == str(b.unchanged)
            assert cell(table, key, "No data") == str(b.no_data)
            ratio = "all ↑" if b.ad_ratio is None and b.advances else f"{b.ad_ratio:.2f}"
            assert cell(table, key, "A/D") == ratio
            assert cell(table, key, "Above VWAP") == f"{100 * b.above_vwap_share:.0f}%"
            assert cell(table, key, "Vol ratio") == "—"  # no archived days in this data dir
        # Every index of the feed is on the board; those without members show level and move.
        universe = app.feed.universe
        indices = np.flatnonzero(universe.kind == int(Kind.INDEX))
        assert table.row_count == len(indices)
        vix = next(i for i in indices.tolist() if universe.tradingsymbol[i] == "INDIA VIX")
        vix_key = str(int(universe.instrument_token[vix]))
        snapshot = app.state.snapshot()
        at = snapshot.row(int(universe.instrument_token[vix]))
        assert at is not None
        assert cell(table, vix_key, "Last") == f"{float(snapshot.ticks['last_price'][at]):,.2f}"
        assert cell(table, vix_key, "Adv") == "—" and cell(table, vix_key, "A/D bar") == ""
        # Broad index first, then the sectors, then the indices without members.
        assert table.keys[0] == NIFTY
        note = str(screen.query_one("#breadth-note").render())
        assert note.startswith("Vol×: no previous days archived yet")

        # The A/D bars: each part as wide as its share of the members.
        seen_mixed = False
        for b in expected.values():
            bar = table.get_cell(str(b.token), "A/D bar")
            assert isinstance(bar, Text) and bar.cell_len == AD_BAR_WIDTH
            up, flat, down = green_red(bar)
            assert up + flat + down == AD_BAR_WIDTH  # every member has data in the demo
            for part, n in ((up, b.advances), (flat, b.unchanged), (down, b.declines)):
                assert abs(part - AD_BAR_WIDTH * n / b.members) < 1
            seen_mixed |= bool(b.advances and b.declines)
        assert seen_mixed  # the demo has an index with both, so the split is really tested

        # The heat strip: sectors in the analytics' order, strongest first.
        strip = screen.query_one(HeatStrip)
        order = heat_strip(expected.values())
        assert [c.index for c in strip.cells] == [c.index for c in order]
        assert "NIFTY 50" not in [c.index for c in strip.cells]
        changes = [c.change_pct for c in strip.cells]
        assert all(c is not None for c in changes)
        assert changes == sorted(changes, reverse=True)  # type: ignore[type-var]
        # What is drawn is in that order too.
        drawn = strip.render()
        assert isinstance(drawn, Text)
        positions = [drawn.plain.index(f" {sector_label(c.index)} ") for c in strip.cells]
        assert positions == sorted(positions)

        # Export: the board, then the selected index's movers.
        rows = screen.export_rows()
        board = [r for r in rows if r["table"] == "index"]
        assert len(board) == table.row_count
        for row in board:
            b = expected.get(str(row["index"]))
            if b is None:
                assert row["members"] == 0
                continue
            assert row["level"] == b.level and row["advances"] == b.advances
            assert row["declines"] == b.declines and row["ad_ratio"] == b.ad_ratio
            assert row["above_vwap_share"] == b.above_vwap_share
        movers = [r for r in rows if r["table"] != "index"]
        nifty = expected["NIFTY 50"]
        assert [r["symbol"] for r in movers] == [m.symbol for m in (*nifty.gainers, *nifty.losers)]
        assert all(r["price_basis"] == "last" for r in movers)

        await pilot.press("x")
        await pilot.pause()
        exports = list((app.settings.data_dir / "exports").glob("breadth-*.csv"))
        assert len(exports) == 1
        with exports[0].open(encoding="utf-8") as handle:
            written = list(csv.DictReader(handle))
        assert len(written) == len(rows)
        assert written[0]["index"] == "NIFTY 50"


def green_red(bar: Text) -> tuple[int, int, int]:
    """Cells of the advance, unchanged and decline parts of a drawn bar."""
    widths = dict.fromkeys(("green", "bright_black", "red"), 0)
    for span in bar.spans:
        if str(span.style) in widths:
            widths[str(span.style)] += span.end - span.start
    return widths["green"], widths["bright_black"], widths["red"]


def test_a_bar_draws_each_part_in_its_colour() -> None:
    bar = ad_bar(advances=6, unchanged=2, declines=3, no_data=1, width=12)
    assert bar.plain == "█" * 11 + "·"
    styles = [str(span.style) for span in bar.spans]
    assert styles == [style for _, style in AD_STYLES]
    assert [span.end - span.start for span in bar.spans] == [6, 2, 3, 1]
    assert ad_bar(0, 0, 0, 0, 5).plain == " " * 5


@given(
    st.lists(st.integers(min_value=0, max_value=200), min_size=1, max_size=4),
    st.integers(min_value=0, max_value=40),
)
def test_bar_widths_add_up_and_follow_the_counts(counts: list[int], width: int) -> None:
    widths = bar_widths(counts, width)
    total = sum(counts)
    if total == 0 or width == 0:
        assert widths == tuple(0 for _ in counts)
        return
    assert sum(widths) == width
    nonzero = sum(1 for c in counts if c)
    for n, w in zip(counts, widths, strict=True):
        # Within a cell of the exact share, give or take the cells lent to small parts.
        assert abs(w - width * n / total) < max(nonzero, 1)
        if n == 0:
            assert w == 0
        elif width >= len(counts):
            assert w >= 1  # a lone decliner is never invisible


def test_bar_widths_refuse_negative_counts() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        bar_widths([1, -1], 10)


def test_a_narrow_strip_wraps_between_cells_never_inside_one() -> None:
    from optui.analytics.breadth import SectorHeat  # noqa: PLC0415

    cells = [SectorHeat(f"NIFTY S{i}", 1.5 - i, 1, 0) for i in range(9)]
    lines = strip_lines(cells, 30)
    assert len(lines) > 1 and all(line.cell_len <= 30 for line in lines)
    joined = " ".join(line.plain for line in lines)
    for c in cells:
        assert f" {sector_label(c.index)} {c.change_pct:+.2f}% " in joined


async def test_the_cursor_picks_the_movers_and_their_prices_follow_the_basis() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_breadth(pilot)
        gainers = screen.query_one("#gainers", MoverTable)
        losers = screen.query_one("#losers", MoverTable)
        expected = analytics(app)
        nifty = expected["NIFTY 50"]
        assert [cell(gainers, str(i), "Symbol") for i in range(5)] == [
            m.symbol for m in nifty.gainers
        ]
        assert [cell(losers, str(i), "Symbol") for i in range(5)] == [
            m.symbol for m in nifty.losers
        ]
        top = nifty.gainers[0]
        assert cell(gainers, "0", "Price") == f"{top.last:,.2f}"
        assert cell(gainers, "0", "Chg %") == f"{top.change_pct:+,.2f}%"

        # Down the board to NIFTY BANK: its movers replace NIFTY 50's.
        table = screen.query_one("#indices", BreadthTable)
        table.focus()
        while table.cursor_key != BANK:
            await pilot.press("down")
        await pilot.pause()
        bank = expected["NIFTY BANK"]
        assert screen.selected == BANK
        shown = [cell(gainers, str(i), "Symbol") for i in range(5)]
        assert shown == [m.symbol for m in bank.gainers] + [""] * (5 - len(bank.gainers))
        assert [cell(losers, str(i), "Symbol") for i in range(5)] == [""] * 5  # all advanced
        title = screen.query_one("#movers .movers-title").render()
        assert "NIFTY BANK" in str(title)

        # The price toggle: movers' prices follow it, index levels stay levels.
        level = cell(table, NIFTY, "Last")
        table.move_cursor(row=0)  # back to NIFTY 50
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()
        assert app.basis == "average"
        snapshot = app.state.snapshot()
        differ = 0
        for slot, mover in enumerate(analytics(app)["NIFTY 50"].gainers):
            at = snapshot.row(mover.token)
            assert at is not None
            average = float(snapshot.ticks["average_traded_price"][at])
            assert average > 0
            assert cell(gainers, str(slot), "Price") == f"{average:,.2f}"
            differ += f"{average:,.2f}" != f"{mover.last:,.2f}"
        assert differ  # the toggle really changed what is shown
        assert cell(table, NIFTY, "Last") == level  # an index has no average: its level stays
        assert "average price" in str(screen.query_one("#movers .movers-title").render())


async def test_the_board_is_computed_again_with_new_ticks_at_most_once_a_second() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_breadth(pilot)
        table = screen.query_one("#indices", BreadthTable)
        wall = [1e9]
        screen.wall_clock = lambda: wall[0]

        async def nifty_moves_to(level: float) -> None:
            snapshot = app.state.snapshot()
            at = snapshot.row(int(NIFTY))
            assert at is not None
            tick = snapshot.ticks[at : at + 1].copy()
            tick["last_price"] = level
            app.state.update(tick, received=FROZEN)
            app.refresh_view()
            await pilot.pause()

        await nifty_moves_to(25_000.0)
        assert cell(table, NIFTY, "Last") == "25,000.00"
        wall[0] += 0.5
        await nifty_moves_to(25_100.0)
        assert cell(table, NIFTY, "Last") == "25,000.00"  # too soon: the board waits
        wall[0] += 0.5
        app.refresh_view()
        await pilot.pause()
        assert cell(table, NIFTY, "Last") == "25,100.00"  # a second on: the latest ticks
        computed = screen.breadths
        wall[0] += 10.0
        app.refresh_view()
        await pilot.pause()
        assert screen.breadths is computed  # no new ticks: nothing computed again


async def test_the_board_keys_move_the_cursor_and_scroll_as_a_data_table_did() -> None:
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await on_breadth(pilot)
        table = screen.query_one("#indices", BreadthTable)
        assert app.focused is table and table.cursor_row == 0
        assert table.page_rows < table.row_count  # half the screen: the board scrolls
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.cursor_row == table.row_count - 1
        assert table.scroll_y == table.row_count - table.page_rows  # the cursor in view
        assert screen.selected == table.keys[-1]
        await pilot.press("ctrl+home")
        await pilot.pause()
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_row == table.page_rows
        await pilot.press("up")
        await pilot.pause()
        assert table.cursor_row == table.page_rows - 1
        # Left and right scroll the columns (the board is wider than 80 columns).
        await pilot.press("right", "right")
        await pilot.pause()
        assert table.scroll_x > 0
        await pilot.press("home")
        await pilot.pause()
        assert table.scroll_x == 0
        await pilot.press("end")
        await pilot.pause()
        assert table.scroll_x == table.max_scroll_x > 0


async def test_a_changed_cell_redraws_its_row_only() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_breadth(pilot)
        table = screen.query_one("#indices", BreadthTable)
        table.move_cursor(row=5)
        await pilot.pause()
        drawn = [table._row_strip(i) for i in range(table.row_count)]
        level = table.get_cell(NIFTY, "Last")
        assert not table.update_row(NIFTY, {"Last": Text(level.plain, justify="right")})
        assert table.update_row(NIFTY, {"Last": Text("1.00", justify="right")})
        again = [table._row_strip(i) for i in range(table.row_count)]
        row = table.keys.index(NIFTY)
        assert again[row] is not drawn[row] and "1.00" in again[row].text
        assert all(
            again[i] is drawn[i] for i in range(table.row_count) if i not in (row, 5)
        )  # every other row (but the cursor's, drawn fresh each time) kept as it was


async def test_the_bar_under_the_cursor_keeps_its_colours() -> None:
    """The cursor paints its colours over a row's cells, as a DataTable's does, but for the
    A/D bar, whose colours are what it says."""
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_breadth(pilot)
        table = screen.query_one("#indices", BreadthTable)
        assert table.cursor_row == 0 and table.keys[0] == NIFTY
        bar = table.get_cell(NIFTY, "A/D bar")
        parts = {str(span.style) for span in bar.spans}
        assert {"green", "red"} <= parts  # the demo's NIFTY 50 has both at 11:00

        def colours(row: int) -> set[str]:
            strip = table._row_strip(row)
            return {
                seg.style.color.name
                for seg in strip
                if seg.text.strip("█") == "" and "█" in seg.text and seg.style and seg.style.color
            }

        assert {"green", "red"} <= colours(0)  # under the cursor
        cursor = table.get_component_rich_style("linetable--cursor")
        price = [seg for seg in table._row_strip(0) if "24," in seg.text]
        assert price and price[0].style is not None
        assert price[0].style.color == cursor.color  # other cells: the cursor's colours


async def test_the_row_under_the_mouse_is_highlighted_as_a_data_table_s() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_breadth(pilot)
        table = screen.query_one("#indices", BreadthTable)
        assert table.cursor_row == 0
        hover = table.get_component_rich_style("linetable--hover")
        assert hover.bgcolor is not None

        def backgrounds(row: int) -> set[object]:
            return {seg.style.bgcolor for seg in table._row_strip(row) if seg.style}

        plain = backgrounds(3)
        assert hover.bgcolor not in plain
        await pilot.hover("#indices", offset=(2, 1 + 3))  # the header, then rows 0, 1, 2, 3
        assert backgrounds(3) == {hover.bgcolor}
        # The cells keep their own colours (a change in green or red), unlike the cursor's.
        colours = {seg.style.color for seg in table._row_strip(3) if seg.style and seg.text}
        assert len(colours) > 1
        await pilot.hover("#indices", offset=(2, 1 + 5))
        assert backgrounds(3) == plain and backgrounds(5) == {hover.bgcolor}
        await pilot.hover("#breadth-note")  # off the board: nothing under the pointer
        assert backgrounds(5) != {hover.bgcolor}


@pytest.mark.parametrize(
    ("cell", "width"),
    [
        (Text("NIFTY 50"), 17),
        (Text("NIFTY FIN SERVICE AND MORE"), 17),
        (Text(""), 5),
        (Text("24,529.65", justify="right"), 10),
        (Text("-0.41", style="red", justify="right"), 8),
        (Text("all ↑", style="green", justify="right"), 5),
        (Text("toolong", style="red", justify="right"), 4),
        (Text("ab", style="green"), 5),
        (Text.assemble(("ab", "bold"), "cd", ("e", "red")), 7),
        (ad_bar(6, 2, 3, 1, 12), 12),
        (ad_bar(0, 0, 0, 0, 12), 12),
        (Text("Vol×"), 5),
    ],
)
def test_a_cell_is_drawn_as_a_data_table_draws_it(cell: Text, width: int) -> None:
    """Segment for segment what a DataTable's Rich render gives (padding 1 each side, the
    row's style before the cell's and the cursor's colours after, a cell's line simplified),
    so the screens look as they did."""
    console = Console(width=80)
    options = console.options.update_dimensions(width + 2, 1).update(no_wrap=True)
    for pre, post in (
        (Style(color="#e0e0e0", bgcolor="#1e1e1e"), Style()),
        (Style(color="#e0e0e0", bgcolor="#0178d4", bold=True), Style(color="#000000")),
    ):
        lines = console.render_lines(
            Styled(Padding(cell, (0, 1)), pre_style=pre, post_style=post), options
        )
        want = list(Segment.simplify(lines[0]))
        assert cell_segments(cell_runs(cell, width), pre, post) == want


# -- volume against previous days ------------------------------------------------------------


@dataclass(frozen=True)
class Archived:
    data_dir: Path
    stock_tokens: list[int]


@pytest.fixture(scope="module")
def archived_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archived]:
    """A data dir whose archive holds the demo's previous session up to 11:05 IST."""
    data_dir = tmp_path_factory.mktemp("breadth_data")
    market = DemoMarket(7, PREVIOUS_DAY, tick_interval=120.0)
    end = datetime(2026, 11, 19, 11, 5, tzinfo=IST).timestamp()
    with Journal(tmp_path_factory.mktemp("journal"), sync=False) as journal:
        t = float(market.open_epoch)
        while t <= end:
            frames = market.advance_to(t)
            if frames:
                received = int(t * 1e9)
                journal.append_many(frames, [received + i for i in range(len(frames))])
            t += 60.0
        Roller(journal, data_dir / "archive", "c1").roll()
    universe = market.instruments
    members = {s for symbols in reference.index_members().values() for s in symbols}
    tokens = [
        int(universe.instrument_token[i])
        for i in np.flatnonzero(universe.kind == int(Kind.EQUITY)).tolist()
        if universe.tradingsymbol[i] in members
    ]
    yield Archived(data_dir, tokens)


def test_load_volumes_reads_the_days_before_today_as_of_the_time(archived_day: Archived) -> None:
    settings = load_settings(overrides={"data_dir": str(archived_day.data_dir)})
    history = load_volumes(settings, date(2026, 11, 20), dt_time(11, 0), archived_day.stock_tokens)
    assert history.days == 1 and history.error is None
    root = str(archived_day.data_dir / "archive")
    direct = daily_volumes(root, [PREVIOUS_DAY], archived_day.stock_tokens, until=dt_time(11, 0))
    assert history.average == direct.average() and history.average
    # Today itself is never its own history.
    assert load_volumes(settings, PREVIOUS_DAY, None, archived_day.stock_tokens).days == 0


async def test_volume_against_previous_days_from_the_archive(archived_day: Archived) -> None:
    app = frozen_app(data_dir=str(archived_day.data_dir))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await on_breadth(pilot)
        assert screen.volumes is not None and screen.volumes.days == 1
        average = daily_volumes(
            str(archived_day.data_dir / "archive"),
            [PREVIOUS_DAY],
            archived_day.stock_tokens,
            until=dt_time(11, 0),
        ).average()
        expected: dict[str, IndexBreadth] = analytics(app, average)
        table = screen.query_one("#indices", BreadthTable)
        for b in expected.values():
            assert b.volume_ratio is not None
            assert cell(table, str(b.token), "Vol ratio") == f"{b.volume_ratio:.2f}"
        gainers = screen.query_one("#gainers", MoverTable)
        top = expected["NIFTY 50"].gainers[0]
        assert top.volume_ratio is not None
        assert cell(gainers, "0", "Vol ratio") == f"{top.volume_ratio:.2f}"
        note = str(screen.query_one("#breadth-note").render())
        assert "mean of 1 previous day up to 11:00" in note


# -- snapshots -------------------------------------------------------------------------------


async def _show_breadth(pilot: Pilot[Any]) -> None:
    await on_breadth(pilot)


def test_snapshot_at_80x24(snap_compare: Any) -> None:
    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=_show_breadth)


def test_snapshot_at_120x40(snap_compare: Any) -> None:
    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=_show_breadth)


def test_snapshot_at_120x40_on_the_light_theme(snap_compare: Any) -> None:
    app = frozen_app(theme="light")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_show_breadth)
