"""The price-toggle screen: how far the last price runs from the day's average (VWAP), per
index, told by the ATM straddle on both.

For each index (its nearest expiry) the screen records the ATM straddle each market minute on
last and on average prices (`premium_recorder.StraddleRecorder`: the archive's overlay
analytics applied to the snapshots the app hands in), and shows:

- a table: the latest minute's straddle on both prices, their spread (rupees and % of the
  average), the day's efficiency score with its two parts (tracking and noise), the ATM
  strike and a sparkline of the spread % over the day; `i` / `I` (or the arrow keys on the
  table) pick the index drawn large;
- the chart of the picked index: both lines over the minutes recorded;
- when the screen is tall enough, a small chart of both lines for every index;
- the archive's past days (`overlay_history`), one summary row per day and index, read once
  in a worker thread; without an archive, a line saying how one is built.

Recording is keyed by the market time of the feed (the newest exchange timestamp), so a
replay records at its own pace and a stalled feed records nothing. The recorder belongs to
the app (`OptuiApp.straddles_for`), which samples it on every refresh whichever screen is on
view: the day is recorded from the moment the app opens, not from the first visit here, and
switching screens leaves no hole in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Final, cast

import numpy as np
from rich.console import JustifyMethod
from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from optui.analytics.price_toggle import StraddleSeries, StraddleSummary
from optui.feed.calendar import IST, ist_date
from optui.tui.context import ViewContext, event_sink
from optui.tui.screens.base import OptuiScreen, Row
from optui.tui.widgets.line_chart import ChartSeries, LineChart, sparkline
from optui.tui.widgets.premium_history import OverlayHistory, load_overlay_history
from optui.tui.widgets.premium_recorder import StraddleRecorder, recorded_rows

if TYPE_CHECKING:
    from optui.tui.app import OptuiApp

__all__ = ["PremiumScreen"]

LAST_STYLE: Final = "#2e86de"
AVERAGE_STYLE: Final = "#e67e22"
MINIS_MIN_HEIGHT: Final = 34
"""Terminal rows from which the small chart of every index is shown."""
SPARK_WIDTH: Final = 16

# (key, label) of the table's columns, in order.
_COLUMNS: Final = (
    ("index", "Index"),
    ("last", "Last"),
    ("average", "Average"),
    ("spread", "Spread"),
    ("spread_pct", "Spread %"),
    ("score", "Score"),
    ("tracking", "Track %"),
    ("noise", "Noise %"),
    ("atm", "ATM"),
    ("expiry", "Expiry"),
    ("minutes", "Min"),
    ("trend", "Spread % today"),
)
_HISTORY_COLUMNS: Final[tuple[tuple[str, JustifyMethod], ...]] = (
    ("Day", "left"),
    ("Index", "left"),
    ("Score", "right"),
    ("Track %", "right"),
    ("Noise %", "right"),
    ("Mean spread %", "right"),
    ("Minutes", "right"),
)


class PremiumScreen(OptuiScreen):
    """Price toggle: each index's ATM straddle on last and average price."""

    NAME = "premium"
    CSS_PATH = "premium.tcss"
    AUTO_FOCUS = "#straddles"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "next_index", "Next index"),
        Binding("I", "previous_index", "Prev index"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected = 0
        self.history: OverlayHistory | None = None
        self._rows_for: StraddleRecorder | None = None
        self._composed = False
        self._history_loading = False
        self._drawn: tuple[object, ...] | None = None
        self._ctx: ViewContext | None = None

    # -- layout ---------------------------------------------------------------------------
    def body(self) -> Iterable[Widget]:
        yield Static("Waiting for the first ticks…", id="premium-status")
        yield DataTable(id="straddles", cursor_type="row", fixed_columns=1)
        yield Static("", id="straddle-legend")
        yield LineChart(id="straddle-chart")
        with Horizontal(id="straddle-minis"):
            for i in range(5):
                with Vertical(classes="mini"):
                    yield Static("", id=f"mini-title-{i}", classes="mini-title")
                    yield LineChart(id=f"mini-chart-{i}", axes=False, classes="mini-chart")
        yield Static("", id="history-caption")
        yield DataTable(id="straddle-history", cursor_type="row", show_cursor=False)

    def on_mount(self) -> None:
        self._composed = True
        table: DataTable[Text] = self.query_one("#straddles", DataTable)
        for key, label in _COLUMNS:
            justify: JustifyMethod = "left" if key in ("index", "trend") else "right"
            table.add_column(Text(label, justify=justify), key=key)
        history: DataTable[Text] = self.query_one("#straddle-history", DataTable)
        for label, justify in _HISTORY_COLUMNS:
            history.add_column(Text(label, justify=justify))
        history.display = False
        self._fit_to_height()

    def on_resize(self) -> None:
        self._fit_to_height()

    def _fit_to_height(self) -> None:
        self.query_one("#straddle-minis").display = self.size.height >= MINIS_MIN_HEIGHT

    # -- recording ------------------------------------------------------------------------
    @property
    def recorder(self) -> StraddleRecorder | None:
        """The app's recording (None before its first refresh)."""
        return cast("OptuiApp", self.app).straddles

    def _recorder_for(self, ctx: ViewContext) -> StraddleRecorder:
        """The app's recorder for `ctx`'s universe, with the table's rows built for it."""
        recorder = cast("OptuiApp", self.app).straddles_for(ctx)
        if recorder is not self._rows_for:
            self._rows_for = recorder
            self._build_rows(recorder)
        return recorder

    def record(self, ctx: ViewContext) -> bool:
        """Sample `ctx`'s snapshot into the recording; True when it changed."""
        return self._recorder_for(ctx).sample(ctx.snapshot, ctx.feed.market_time)

    # -- refresh --------------------------------------------------------------------------
    def show(self, ctx: ViewContext) -> None:
        if not self._composed or not self.is_running:
            # The app's timer can reach a screen it has just switched to before its widgets
            # are composed (the next refresh shows it), or one being torn down at exit.
            return
        super().show(ctx)
        self.record(ctx)
        self._ctx = ctx
        if self.history is None and not self._history_loading:
            self._load_history(ctx)
        self._redraw(ctx)

    def _redraw(self, ctx: ViewContext) -> None:
        """Draw when the recording, the picked index, the basis or the height changed."""
        recorder = self._recorder_for(ctx)
        state = (id(recorder), recorder.revision, self.selected, ctx.basis, self.size.height)
        if state != self._drawn:
            self._drawn = state
            self._draw(recorder, ctx)

    def _draw(self, recorder: StraddleRecorder, ctx: ViewContext) -> None:
        names = recorder.underlyings
        self._draw_status(recorder, ctx)
        table: DataTable[Text] = self.query_one("#straddles", DataTable)
        for name in names:
            cells = _row_cells(name, recorder.series(name), recorder.summary(name))
            for key, _ in _COLUMNS[1:]:
                # Widths follow the values; rows are added blank, so without this the
                # columns would keep whichever width was measured first.
                table.update_cell(name, key, cells[key], update_width=True)
        if not names:
            return
        self.selected %= len(names)
        if table.cursor_row != self.selected:
            table.move_cursor(row=self.selected)
        name = names[self.selected]
        series = recorder.series(name)
        self._draw_large(name, series, recorder.summary(name), ctx)
        if self.query_one("#straddle-minis").display:
            for i in range(5):
                self._draw_mini(i, names[i] if i < len(names) else None, recorder)

    def _draw_status(self, recorder: StraddleRecorder, ctx: ViewContext) -> None:
        minutes = max((len(recorder.minutes(n)) for n in recorder.underlyings), default=0)
        first = min(
            (recorder.minutes(n)[0] for n in recorder.underlyings if recorder.minutes(n)),
            default=None,
        )
        parts = ["ATM straddle, [b]last[/b] vs [b]average[/b] price"]
        if first is None:
            parts.append("recording starts with the first ticks")
        else:
            since = datetime.fromtimestamp(first, IST)
            parts.append(f"{minutes} min recorded since {since:%H:%M}")
        if recorder.unlisted:
            parts.append(f"no options listed: {', '.join(recorder.unlisted)}")
        self.query_one("#premium-status", Static).update(" · ".join(parts))

    def _draw_large(
        self,
        name: str,
        series: StraddleSeries | None,
        summary: StraddleSummary | None,
        ctx: ViewContext,
    ) -> None:
        chart = self.query_one("#straddle-chart", LineChart)
        legend = self.query_one("#straddle-legend", Static)
        if series is None:
            chart.set_data([])
            legend.update(f"[b]{name}[/b]: no minute recorded yet")
            return
        chart.set_data(_lines(series), x_labels=_time_labels(series))
        at = _latest(series)
        mark = {"last": "", "average": ""}
        mark[ctx.basis] = " (on view)"
        parts = [f"[b]{name}[/b] {series.expiry:%d %b}"]
        if at is not None:
            parts.append(f"[{LAST_STYLE}]━ last {series.straddle_last[at]:,.2f}[/]{mark['last']}")
            parts.append(
                f"[{AVERAGE_STYLE}]━ average {series.straddle_average[at]:,.2f}[/]{mark['average']}"
            )
            parts.append(f"spread {series.spread[at]:+,.2f} ({series.spread_pct[at]:+.2f}%)")
        if summary is not None and summary.efficiency is not None:
            parts.append(f"score {summary.efficiency:.0f}")
        legend.update(" · ".join(parts))

    def _draw_mini(self, i: int, name: str | None, recorder: StraddleRecorder) -> None:
        title = self.query_one(f"#mini-title-{i}", Static)
        chart = self.query_one(f"#mini-chart-{i}", LineChart)
        if name is None:
            title.update("")
            chart.set_data([])
            return
        series = recorder.series(name)
        summary = recorder.summary(name)
        score = (
            f" {summary.efficiency:.0f}"
            if summary is not None and summary.efficiency is not None
            else ""
        )
        title.update(f"[b]{name}[/b]{score}")
        chart.set_data(_lines(series) if series is not None else [])

    def _build_rows(self, recorder: StraddleRecorder) -> None:
        table: DataTable[Text] = self.query_one("#straddles", DataTable)
        table.clear()
        for name in recorder.underlyings:
            blank = [Text("") for _ in _COLUMNS[1:]]
            table.add_row(Text(name, style="bold"), *blank, key=name)
        self.selected = 0

    # -- history --------------------------------------------------------------------------
    def _load_history(self, ctx: ViewContext) -> None:
        self._history_loading = True
        settings = ctx.settings
        names = list(ctx.settings.underlyings)
        today = ist_date(ctx.feed.market_time) if ctx.feed.market_time else ctx.universe.session
        self.query_one("#history-caption", Static).update("Reading archived days…")
        sink = event_sink(self.app)
        self.run_worker(
            lambda: load_overlay_history(settings, names, today, on_event=sink),
            thread=True,
            name="premium-history",
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "premium-history" or not self.is_running:
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, OverlayHistory):
            self._history_loading = False
            self.show_history(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self._history_loading = False
            self.show_history(OverlayHistory((), (), "", f"{event.worker.error}"))

    def show_history(self, history: OverlayHistory) -> None:
        """Fill the past days' table (once: archived days do not change)."""
        self.history = history
        caption = self.query_one("#history-caption", Static)
        table: DataTable[Text] = self.query_one("#straddle-history", DataTable)
        if history.error:
            caption.update(f"[yellow]Past days: {history.error}[/]")
            return
        if not history.rows:
            caption.update("Past days: none in the archive yet (`optui collect` archives each day)")
            return
        caption.update(
            f"[b]Past days[/b] from the archive ({len(history.days)} days, newest first)"
        )
        table.clear()
        for row in sorted(history.rows, key=lambda r: (r.day, r.underlying), reverse=True):
            table.add_row(
                Text(f"{row.day:%a %d %b}"),
                Text(row.underlying),
                _fixed(row.efficiency, "{:.0f}"),
                _fixed(row.tracking_pct, "{:.2f}"),
                _fixed(row.noise_pct, "{:.2f}"),
                _fixed(row.mean_spread_pct, "{:+.2f}"),
                Text(f"{row.minutes:,}", justify="right"),
            )
        table.display = True

    # -- keys -----------------------------------------------------------------------------
    def _step(self, step: int) -> None:
        if self.recorder is None or not self.recorder.underlyings:
            return
        self.selected = (self.selected + step) % len(self.recorder.underlyings)
        self.query_one("#straddles", DataTable).move_cursor(row=self.selected)
        if self._ctx is not None:
            self._redraw(self._ctx)

    def action_next_index(self) -> None:
        """Draw the next index large."""
        self._step(+1)

    def action_previous_index(self) -> None:
        """Draw the previous index large."""
        self._step(-1)

    @on(DataTable.RowHighlighted, "#straddles")
    def _row_picked(self, event: DataTable.RowHighlighted) -> None:
        if self.recorder is None or event.cursor_row == self.selected:
            return
        self.selected = event.cursor_row
        if self._ctx is not None:
            self._redraw(self._ctx)

    @property
    def selected_underlying(self) -> str | None:
        if self.recorder is None or not self.recorder.underlyings:
            return None
        return self.recorder.underlyings[self.selected % len(self.recorder.underlyings)]

    # -- export ---------------------------------------------------------------------------
    def export_rows(self) -> list[Row]:
        if self.recorder is None:
            return []
        return recorded_rows(self.recorder, self.recorder.underlyings)


def _latest(series: StraddleSeries) -> int | None:
    """The latest minute with both straddles priced."""
    ok = np.flatnonzero(np.isfinite(series.spread))
    return int(ok[-1]) if len(ok) else None


def _lines(series: StraddleSeries) -> list[ChartSeries]:
    return [
        ChartSeries.of(series.straddle_last, LAST_STYLE, "last"),
        ChartSeries.of(series.straddle_average, AVERAGE_STYLE, "average"),
    ]


def _time_labels(series: StraddleSeries) -> tuple[str, str]:
    if not len(series):
        return ("", "")
    first = datetime.fromtimestamp(int(series.minute[0]), IST)
    last = datetime.fromtimestamp(int(series.minute[-1]), IST)
    return (f"{first:%H:%M}", f"{last:%H:%M}")


def _fixed(value: float | None, pattern: str) -> Text:
    if value is None or not np.isfinite(value):
        return Text("–", style="dim", justify="right")
    return Text(pattern.format(value), justify="right")


def _signed(value: float, pattern: str) -> Text:
    if not np.isfinite(value):
        return Text("–", style="dim", justify="right")
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(pattern.format(value), style=style, justify="right")


def _row_cells(
    name: str, series: StraddleSeries | None, summary: StraddleSummary | None
) -> dict[str, Text]:
    """One index's table row: the latest minute's straddles and the day's summary."""
    dash = Text("–", style="dim", justify="right")
    cells = {key: dash for key, _ in _COLUMNS}
    cells["trend"] = Text("")
    cells["index"] = Text(name, style="bold")
    if series is None:
        return cells
    cells["expiry"] = Text(f"{series.expiry:%d %b}", justify="right")
    at = _latest(series)
    if at is not None:
        cells["last"] = Text(f"{series.straddle_last[at]:,.2f}", style=LAST_STYLE, justify="right")
        cells["average"] = Text(
            f"{series.straddle_average[at]:,.2f}", style=AVERAGE_STYLE, justify="right"
        )
        cells["spread"] = _signed(float(series.spread[at]), "{:+,.2f}")
        cells["spread_pct"] = _signed(float(series.spread_pct[at]), "{:+.2f}%")
        cells["atm"] = Text(f"{series.atm_strike[at]:,.0f}", justify="right")
    if summary is not None:
        cells["score"] = _fixed(summary.efficiency, "{:.0f}")
        cells["tracking"] = _fixed(summary.tracking_pct, "{:.2f}")
        cells["noise"] = _fixed(summary.noise_pct, "{:.2f}")
        cells["minutes"] = Text(f"{summary.minutes:,}", justify="right")
    cells["trend"] = Text(sparkline(series.spread_pct, SPARK_WIDTH), style=LAST_STYLE)
    return cells
