"""The errors screen: what went wrong, what optui did, what to do, and the system's health.

On the left, every event of the session (`ViewContext.events`, `optui.events.Event`: the feed's
connects, drops and silences, a refused token, Kite's messages, rate limits, data quality,
storage, and, attached to a collector, the collector's own), newest first, filtered with `f`;
under it the event under the cursor in full, with its details, what optui did about it and what
the user should do. On the right, how many events of each kind and when the last was, and the
health of the system: this process's CPU and memory, the data dir's free disk, ticks/s and the
data's age, and, when a collector journals into the same data dir, its backlog and roll lag.

The process is sampled on each refresh through `process_health` (cheap); the journal is read in
a worker at most every `STORE_INTERVAL_S` (it counts every frame). Both are attributes a test
replaces with fixed readings, so snapshots stay the same run after run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Final

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import DataTable, Static

from optui.events import Event
from optui.feed.calendar import IST
from optui.settings import Settings
from optui.tui.context import ViewContext
from optui.tui.screens.base import OptuiScreen, Row
from optui.tui.system_health import ProcessHealth, ProcessMeter, StoreHealth, read_store_health
from optui.tui.widgets.event_advice import EVENT_KINDS, is_problem
from optui.tui.widgets.event_counts import EventCounts, KindCount
from optui.tui.widgets.event_detail import EventDetail, describe_event
from optui.tui.widgets.event_table import ALL, PROBLEMS, EventTable, Numbered, matches
from optui.tui.widgets.health_panel import HealthPanel, health_rows

__all__ = ["STORE_INTERVAL_S", "ErrorsScreen", "no_events_text"]

#: The journal is read at most this often (seconds of wall time).
STORE_INTERVAL_S: Final = 5.0


def no_events_text(source: str) -> Text:
    """The details panel before anything has been reported."""
    if source == "DEMO":
        why = (
            "The demo market is simulated, so it has no connection to lose. On live Kite "
            "(`optui --source kite`), drops, silences, a refused token and Kite's own errors "
            "appear here, with data-quality and storage problems, each with what optui did "
            "and what you should do."
        )
    else:
        why = (
            "Nothing has been reported yet. Drops, silences, a refused token, Kite's own "
            "errors, data-quality and storage problems appear here, each with what optui did "
            "and what you should do."
        )
    return Text.assemble(("No problems so far. ", "bold green"), why)


class ErrorsScreen(OptuiScreen):
    """Feed events with advice, beside the system's health."""

    NAME = "errors"
    CSS_PATH = "errors.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "cycle_filter", "Filter kind"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.process_health: Callable[[Path], ProcessHealth] = ProcessMeter().sample
        """Reads this process's CPU, memory and free disk (tests put fixed numbers here)."""
        self.read_store: Callable[[Settings], StoreHealth] = read_store_health
        """Reads the journal (in a worker)."""
        self.store_health: StoreHealth | None = None
        self.store_interval = STORE_INTERVAL_S
        self.kind_filter = ALL
        self.counts: dict[str, KindCount] = {}
        self._log: list[Numbered] = []
        self._numbered = 0
        self._newest: Event | None = None
        self._problems = 0
        self._open = 0
        self._ctx: ViewContext | None = None
        self._store_due = 0.0
        self._store_busy = False
        self._filter_text = ""

    def body(self) -> Iterable[Widget]:
        with Horizontal(id="errors-body"):
            with Vertical(id="events-pane"):
                yield Static("", id="filter-bar")
                yield EventTable(id="events")
                yield EventDetail(id="event-detail")
            with Vertical(id="health-pane"):
                yield Static("[b]Events by kind[/b]", classes="pane-title")
                yield EventCounts(id="kinds")
                yield Static("[b]System health[/b]", classes="pane-title")
                yield HealthPanel(id="health")

    # -- refresh ---------------------------------------------------------------------------
    def show(self, ctx: ViewContext) -> None:
        # A mode switch may refresh before the body is composed, and a refresh may still come
        # while the app is closing and taking the widgets down.
        if not self.is_mounted or not self.app.is_running:
            return
        super().show(ctx)
        self._ctx = ctx
        self._open = len(ctx.feed.problems)
        self._take(ctx.events)
        table = self.query_one(EventTable)
        table.show(self._log, self.kind_filter)
        self.query_one(EventCounts).show(self.counts)
        self._show_filter_bar()
        self._show_detail()
        self._maybe_read_store(ctx.settings)
        self.query_one(HealthPanel).show(
            health_rows(
                self.process_health(ctx.settings.data_dir),
                self.store_health,
                ctx.feed,
                ctx.now,
                ctx.settings.store.roll_interval,
            )
        )

    def _take(self, events: Iterable[Event]) -> None:
        """Number and count the events not seen before (the app's list only grows, dropping
        its oldest beyond a bound)."""
        events = tuple(events)
        if not events or events[-1] is self._newest:
            return
        start = 0
        for i in range(len(events) - 1, -1, -1):
            if events[i] is self._newest:
                start = i + 1
                break
        for event in events[start:]:
            self._numbered += 1
            self._log.append((self._numbered, event))
            n, _ = self.counts.get(event.kind, (0, 0.0))
            self.counts[event.kind] = (n + event.count, event.time)
            if is_problem(event):
                self._problems += event.count
        self._newest = events[-1]
        del self._log[: -len(events)]  # keep what the app keeps

    def _show_filter_bar(self) -> None:
        total = self._numbered
        problems = self._problems
        shown = self.query_one(EventTable).row_count
        # Problems are the warnings and errors so far, most of them dealt with by optui; the
        # ones only the user can fix (log in again, free disk) are said apart, in red.
        waiting = f"[b red]{self._open} still to fix by you[/b red]" if self._open else "none open"
        text = (
            f"Filter: [b]{self.kind_filter}[/b] (f) · {shown:,} of {total:,} events · "
            f"{problems:,} problem{'s' if problems != 1 else ''} ({waiting})"
        )
        if text != self._filter_text:
            self._filter_text = text
            self.query_one("#filter-bar", Static).update(text)

    def _show_detail(self) -> None:
        detail = self.query_one(EventDetail)
        number = self.query_one(EventTable).selected
        event = self._event(number)
        if event is not None and number is not None:
            detail.show(describe_event(number, event))
        elif not self._log:
            source = self._ctx.feed.source if self._ctx is not None else ""
            detail.show(no_events_text(source))
        else:
            detail.show(
                Text(f"No {self.kind_filter} events. Press f for the next filter.", style="dim")
            )

    def _event(self, number: int | None) -> Event | None:
        if number is None or not self._log:
            return None
        at = number - self._log[0][0]
        return self._log[at][1] if 0 <= at < len(self._log) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The cursor on an event shows its details."""
        if event.data_table.id == "events":
            self._show_detail()

    # -- filter ----------------------------------------------------------------------------
    def filters(self) -> list[str]:
        """What `f` cycles through: all, problems, then each kind that occurred."""
        return [ALL, PROBLEMS, *(kind for kind in EVENT_KINDS if kind in self.counts)]

    def action_cycle_filter(self) -> None:
        """Show only the next kind of event (after the last kind, all again)."""
        options = self.filters()
        at = options.index(self.kind_filter) if self.kind_filter in options else -1
        self.kind_filter = options[(at + 1) % len(options)]
        self.query_one(EventTable).show(self._log, self.kind_filter)
        self._show_filter_bar()
        self._show_detail()

    # -- the journal -----------------------------------------------------------------------
    def _maybe_read_store(self, settings: Settings) -> None:
        now = time.monotonic()
        if self._store_busy or now < self._store_due:
            return
        self._store_busy = True
        self._store_due = now + self.store_interval
        read = self.read_store

        def work() -> None:
            try:
                # A plain assignment hands the reading to the UI thread's next refresh.
                self.store_health = read(settings)
            except Exception as exc:  # shown in the panel: a health reading never stops the app
                self.store_health = StoreHealth(journal=True, error=f"{type(exc).__name__}: {exc}")
            finally:
                self._store_busy = False

        self.run_worker(work, thread=True, group="store-health")

    # -- export ----------------------------------------------------------------------------
    def export_rows(self) -> list[Row]:
        """The events on view (newest first) with their advice, then the health lines."""
        rows: list[Row] = []
        for number, event in reversed(self._log):
            if not matches(self.kind_filter, event):
                continue
            rows.append(
                {
                    "table": "event",
                    "number": number,
                    "time": datetime.fromtimestamp(event.time, IST).isoformat(),
                    "kind": event.kind,
                    "code": event.code,
                    "severity": event.severity,
                    "count": event.count,
                    "message": event.message,
                    "details": json.dumps(event.details, default=str),
                    "what_optui_did": event.did,
                    "what_to_do": event.do,
                    "source": event.source,
                }
            )
        rows += [
            {"table": "health", "metric": row.label, "value": row.value, "level": row.level}
            for row in self.query_one(HealthPanel).rows
        ]
        return rows
