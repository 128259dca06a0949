"""The participants screen: NSE's participant-wise open interest (or volume) of a day, its
change since the previous file, and the FII index-futures long ratio over the days stored.

The files change once a day, so they are read in a worker thread the first time the screen is
shown, and again only when the IST date changes (`participants_data.load_participant_data`);
every other refresh only redraws the header. Moving between days (`[` `]`, or `d` and a
date) and between open interest and volume (`v`) updates the table's cells in place from what
was read.

The table has one row per participant (Client, DII, FII, Pro, TOTAL) and, below, the same
rows as the change since the previous file stored (the status line names that day and the
trading days in between without a file). Columns: long, short and net of index futures,
index calls, index puts, stock futures, stock calls and stock puts, and the options net
(call long + put short - put long - call short: positive is bullish). It is wider than 80
columns: the first column stays while the rest scrolls (arrow keys on the table).

On the demo with nothing stored, the simulated files of the demo market are shown, marked
SIMULATED on the status line; with nothing at all, the screen says how to get NSE's files.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import ClassVar, Final

import numpy as np
from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.markup import escape
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker, WorkerState

from optui.analytics.participants import KIND_NAMES, ROWS, DayChange, Kind, ParticipantDay
from optui.feed.calendar import ist_date
from optui.feed.demo import DemoFeed
from optui.store.participants import FOLDER
from optui.tui.context import ViewContext
from optui.tui.screens.base import OptuiScreen, Row
from optui.tui.widgets.line_chart import ChartSeries, LineChart
from optui.tui.widgets.participants_data import (
    COLUMNS,
    ParticipantData,
    change_cells,
    day_cells,
    export_rows,
    load_participant_data,
)

__all__ = ["ParticipantsScreen", "parse_day"]

CHANGE_PREFIX: Final = "Δ "
KIND_LABELS: Final[dict[Kind, str]] = {"oi": "OI", "vol": "Volume"}
RATIO_STYLE: Final = "#2e86de"
SELECTED_STYLE: Final = "bold #e67e22"
_DATE_FORMATS: Final = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d%m%Y", "%Y%m%d", "%d %b %Y")


def parse_day(text: str) -> date:
    """A date as typed: 2026-11-19, 19-11-2026, 19/11/2026, 19112026, 20261119 or 19 Nov 2026;
    `ValueError` naming the accepted forms otherwise."""
    cleaned = " ".join(text.split())
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date: type it as 2026-11-19 or 19-11-2026")


class ParticipantsScreen(OptuiScreen):
    """Participant-wise OI and volume: one day, its change, the FII long-ratio history."""

    NAME = "participants"
    CSS_PATH = "participants.tcss"
    AUTO_FOCUS = "#participants-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left_square_bracket", "previous_day", "Prev day"),
        Binding("right_square_bracket", "next_day", "Next day"),
        Binding("d", "pick_date", "Date"),
        Binding("v", "switch_kind", "OI/Vol"),
        Binding("escape", "cancel_date", "Cancel", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data: ParticipantData | None = None
        self.load_error: str | None = None
        self.kind: Kind = "oi"
        self.selected: date | None = None
        self._loading = False
        self._read_on: date | None = None
        self._table_ready = False
        self._composed = False

    # -- layout ---------------------------------------------------------------------------
    def body(self) -> Iterable[Widget]:
        yield Static("Reading participant files…", id="participants-status")
        yield Input(
            placeholder="Day to show (2026-11-19 or 19-11-2026), Enter to go, Esc to cancel",
            id="participants-date",
            disabled=True,
        )
        yield Static("", id="participants-message")
        yield DataTable(
            id="participants-table", cursor_type="row", zebra_stripes=True, fixed_columns=1
        )
        yield Static("", id="ratio-caption")
        yield LineChart(id="ratio-chart", y_format="{:.0%}")
        yield Static("", id="participants-notes")

    def on_mount(self) -> None:
        self._composed = True
        self.query_one("#participants-date", Input).display = False
        for part in ("#participants-table", "#ratio-caption", "#ratio-chart"):
            self.query_one(part).display = False

    # -- refresh --------------------------------------------------------------------------
    def show(self, ctx: ViewContext) -> None:
        if not self._composed or not self.is_running:
            # The app's timer can reach a screen it has just switched to before its widgets
            # are composed (the next refresh shows it), or one being torn down at exit.
            return
        super().show(ctx)
        today = ist_date(ctx.now)
        if self._loading or (self.load_error is not None and self._read_on == today):
            return
        if self.data is None or self._read_on != today:
            # Once, and again on a new day: NSE publishes a file each evening, and a
            # `optui participants fetch` run meanwhile should show without a restart.
            self._read_on = today
            self._start_loading(ctx)

    def _start_loading(self, ctx: ViewContext) -> None:
        """Read the files in a worker thread (they change daily, not per tick)."""
        self._loading = True
        root = ctx.settings.data_dir / FOLDER
        feed = getattr(self.app, "feed", None)
        demo = feed.market if isinstance(feed, DemoFeed) else None
        self.run_worker(
            lambda: load_participant_data(root, demo),
            thread=True,
            name="participants-load",
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "participants-load" or not self.is_running:
            return
        if event.state == WorkerState.SUCCESS:
            self._loading = False
            result = event.worker.result
            if isinstance(result, ParticipantData):
                self.loaded(result)
        elif event.state == WorkerState.ERROR:
            self._loading = False
            self.load_error = (
                f"Could not read the participant files: {escape(str(event.worker.error))}"
            )
            self._message(self.load_error)
            self.query_one("#participants-status", Static).update("")

    def loaded(self, data: ParticipantData) -> None:
        """Show `data` (what the worker read): the day on view if it is still there, else
        the latest day of open interest (or of volume when there is no open interest)."""
        self.data = data
        if not data.days.get(self.kind):
            self.kind = "oi" if data.days.get("oi") or not data.days.get("vol") else "vol"
        dates = data.dates(self.kind)
        if self.selected not in dates:
            self.selected = dates[-1] if dates else None
        self.load_error = None
        self._draw()
        table = self.query_one("#participants-table", DataTable)
        if table.display and self.focused is None:
            table.focus()  # hidden until now, so the screen could not focus it on opening

    # -- drawing --------------------------------------------------------------------------
    def _message(self, text: str) -> None:
        message = self.query_one("#participants-message", Static)
        message.update(text)
        message.display = bool(text)

    def _draw(self) -> None:
        data = self.data
        if data is None:
            return
        status = self.query_one("#participants-status", Static)
        today = data.day(self.kind, self.selected) if self.selected else None
        shown = today is not None
        for part in ("#participants-table", "#ratio-caption", "#ratio-chart"):
            self.query_one(part).display = shown
        problems = (
            f"[b yellow]{len(data.problems)} stored file(s) could not be read:[/] "
            + escape("; ".join(data.problems))
            if data.problems
            else ""
        )
        if today is None:
            status.update(f"Participant-wise {KIND_NAMES[self.kind]}")
            self._message(self._nothing_text(data))
            self.query_one("#participants-notes", Static).update(problems)
            return
        self._message("")
        change = data.change(today)
        status.update(self._status_text(data, today, change))
        self._fill_table(today, change)
        self._draw_history(data, today, change)
        notes = [str(d) for d in today.discrepancies] + list(today.notes)
        text = ""
        if notes:
            text = "[yellow]" + escape("; ".join(notes)) + "[/]"
        if problems:
            text = f"{text}\n{problems}" if text else problems
        self.query_one("#participants-notes", Static).update(text)

    def _nothing_text(self, data: ParticipantData) -> str:
        other: Kind = "vol" if self.kind == "oi" else "oi"
        if data.empty:
            return (
                f"[b]No participant files stored[/b] in {escape(data.origin)}.\n"
                "Get NSE's participant-wise open interest and volume with "
                "[b]optui participants fetch[/b] (the last 20 trading days; `--from` for "
                "more), or store files you have with [b]optui participants import DIR[/b]."
            )
        return (
            f"No participant {KIND_NAMES[self.kind]} files stored in {escape(data.origin)} "
            f"(there are {KIND_NAMES[other]} files: press [b]v[/b]). Get them with "
            "[b]optui participants fetch[/b] or [b]optui participants import DIR[/b]."
        )

    def _status_text(
        self, data: ParticipantData, today: ParticipantDay, change: DayChange | None
    ) -> str:
        dates = data.dates(self.kind)
        where = dates.index(today.day) + 1
        parts = ["[b reverse] SIMULATED [/] demo"] if data.simulated else []
        parts.append(
            f"[b]{KIND_LABELS[self.kind]}[/b] {today.day:%a %d %b %Y} ({where}/{len(dates)})"
        )
        if change is None:
            parts.append("no earlier file: no change")
        else:
            gap = len(change.missing_days)
            missing = f", {gap} trading day{'s' if gap != 1 else ''} without a file" if gap else ""
            parts.append(f"Δ vs {change.previous_day:%a %d %b}{missing}")
        return " · ".join(parts)

    def _fill_table(self, today: ParticipantDay, change: DayChange | None) -> None:
        table: DataTable[Text] = self.query_one("#participants-table", DataTable)
        if not self._table_ready:
            table.add_column(Text("Contracts"), key="participant")
            for column in COLUMNS:
                table.add_column(Text(column.label, justify="right"), key=column.key)
            for name in ROWS:
                table.add_row(*self._blank_row(name), key=name)
            for name in ROWS:
                label = CHANGE_PREFIX + name
                table.add_row(*self._blank_row(label), key=label)
            self._table_ready = True
        figures = day_cells(today)
        changes = change_cells(change) if change is not None else None
        for name in ROWS:
            for column in COLUMNS:
                value = figures[name][column.key]
                # Widths follow the values (rows are added blank, then filled).
                table.update_cell(name, column.key, _number(value, column.net), update_width=True)
                delta = None if changes is None else changes[name][column.key]
                table.update_cell(
                    CHANGE_PREFIX + name, column.key, _number(delta, True), update_width=True
                )

    @staticmethod
    def _blank_row(label: str) -> list[Text]:
        style = "dim" if label.startswith(CHANGE_PREFIX) else "bold"
        return [Text(label, style=style), *(Text("") for _ in COLUMNS)]

    def _draw_history(
        self, data: ParticipantData, today: ParticipantDay, change: DayChange | None
    ) -> None:
        hist = data.history(self.kind)
        ratio = hist.fii_index_futures_long_ratio
        marker = np.full(len(ratio), np.nan)
        at = hist.days.index(today.day)
        marker[at] = ratio[at]
        chart = self.query_one("#ratio-chart", LineChart)
        chart.set_data(
            [
                ChartSeries.of(ratio, RATIO_STYLE, "FII long ratio"),
                ChartSeries.of(marker, SELECTED_STYLE, "shown day"),
            ],
            x_labels=(f"{hist.days[0]:%d %b %Y}", f"{hist.days[-1]:%d %b %Y}"),
        )
        value = ratio[at]
        shown = "none held" if not np.isfinite(value) else f"{value:.1%}"
        if change is not None and change.fii_index_futures_long_ratio is not None:
            shown += f" ({change.fii_index_futures_long_ratio * 100:+.1f} pts)"
        finite = ratio[np.isfinite(ratio)]
        span = f", {finite.min():.0%}-{finite.max():.0%}" if len(finite) else ""
        self.query_one("#ratio-caption", Static).update(
            f"[b]FII index futures long ratio[/b] [{RATIO_STYLE}]{shown}[/] on "
            f"{today.day:%d %b} · {len(hist.days)} days{span} · long / (long + short)"
        )

    # -- keys -----------------------------------------------------------------------------
    def _move(self, step: int) -> None:
        if self.data is None or self.selected is None:
            return
        dates = self.data.dates(self.kind)
        at = dates.index(self.selected) + step
        if not 0 <= at < len(dates):
            edge = "earliest" if step < 0 else "latest"
            self.notify(f"{self.selected:%d %b %Y} is the {edge} day stored", timeout=3)
            return
        self.selected = dates[at]
        self._draw()

    def action_previous_day(self) -> None:
        """Show the previous day stored."""
        self._move(-1)

    def action_next_day(self) -> None:
        """Show the next day stored."""
        self._move(+1)

    def action_switch_kind(self) -> None:
        """Switch between open interest and trading volume, staying on the day if it has
        both (else the latest day of the other)."""
        if self.data is None:
            return
        self.kind = "vol" if self.kind == "oi" else "oi"
        dates = self.data.dates(self.kind)
        if self.selected not in dates:
            self.selected = dates[-1] if dates else self.selected
        self._draw()

    def action_pick_date(self) -> None:
        """Type a date to show."""
        if self.data is None:
            return
        field = self.query_one("#participants-date", Input)
        field.disabled = False
        field.display = True
        field.value = ""
        field.focus()

    def action_cancel_date(self) -> None:
        self._close_date()

    def _close_date(self) -> None:
        field = self.query_one("#participants-date", Input)
        field.display = False
        field.disabled = True
        self.query_one("#participants-table", DataTable).focus()

    @on(Input.Submitted, "#participants-date")
    def _date_typed(self, event: Input.Submitted) -> None:
        self._close_date()
        self.go_to(event.value)

    def go_to(self, typed: str) -> None:
        """Show the stored day `typed` names, or the latest stored before it (saying so)."""
        if self.data is None:
            return
        try:
            wanted = parse_day(typed)
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        dates = self.data.dates(self.kind)
        earlier = [d for d in dates if d <= wanted]
        if not earlier:
            first = f"the first is {dates[0]:%d %b %Y}" if dates else "none is stored"
            self.notify(
                f"No {KIND_NAMES[self.kind]} file on or before {wanted:%d %b %Y}: {first}",
                severity="warning",
            )
            return
        if earlier[-1] != wanted:
            self.notify(
                f"No file for {wanted:%a %d %b %Y}; showing {earlier[-1]:%a %d %b %Y}, "
                "the latest before it",
                timeout=5,
            )
        self.selected = earlier[-1]
        self._draw()

    # -- export ---------------------------------------------------------------------------
    def export_rows(self) -> list[Row]:
        if self.data is None or self.selected is None:
            return []
        today = self.data.day(self.kind, self.selected)
        if today is None:
            return []
        return export_rows(today, self.data.change(today))


def _number(value: int | None, signed: bool) -> Text:
    if value is None:
        return Text("–", style="dim", justify="right")
    if not signed:
        return Text(f"{value:,}", justify="right")
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(f"{value:+,}" if value else "0", style=style, justify="right")
