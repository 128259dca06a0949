"""Events as a table, newest first, filtered by kind.

Events arrive rarely (a reconnect, a refused token; repeats come grouped), so the table only
changes when one does or when the filter changes: new events are added as rows and the rows re-
sorted by number, the cursor staying on the event the user was reading. Rows are keyed by the
event's number (its place in the session's events, from 1), which the details panel and the
export use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from optui.events import Event
from optui.feed.calendar import IST
from optui.tui.widgets.event_advice import is_problem, severity_style

__all__ = ["ALL", "EVENT_COLUMNS", "PROBLEMS", "EventTable", "Numbered", "event_time", "matches"]

Numbered = tuple[int, Event]
"""An event and its number in the session (from 1)."""

ALL: Final = "all"
PROBLEMS: Final = "problems"
#: (key, label, width)
EVENT_COLUMNS: Final = (
    ("#", "#", 4),
    ("Time", "Time", 8),
    ("Event", "Event", 20),
    ("×", "×", 4),
    ("Message", "Message", 40),  # in full in the details panel
)


def matches(kind_filter: str, event: Event) -> bool:
    """Whether `event` passes the filter ("all", "problems" or one kind)."""
    if kind_filter == ALL:
        return True
    if kind_filter == PROBLEMS:
        return is_problem(event)
    return event.kind == kind_filter


def event_time(epoch: float, *, with_date: bool = False) -> str:
    """An event's time in IST."""
    at = datetime.fromtimestamp(epoch, IST)
    return at.strftime("%a %d %b %Y %H:%M:%S IST") if with_date else at.strftime("%H:%M:%S")


def _seq(cell: object) -> int:
    return int(str(cell))


class EventTable(DataTable[Text]):
    """The events that pass the filter, newest first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.kind_filter = ALL
        self._newest = 0  # number of the newest event looked at
        self._oldest = 0  # number of the oldest event still in the session's list

    def on_mount(self) -> None:
        for key, label, width in EVENT_COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def selected(self) -> int | None:
        """The number of the event under the cursor (None when the table is empty)."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return int(key.value) if key.value is not None else None

    def show(self, events: Sequence[Numbered], kind_filter: str) -> bool:
        """Bring the rows up to date with `events` (oldest first) under `kind_filter`;
        True when the rows changed."""
        keep = self.selected
        if kind_filter != self.kind_filter:
            self.kind_filter = kind_filter
            self.clear()
            self._newest = 0
        oldest = events[0][0] if events else self._newest + 1
        fresh = [(n, e) for n, e in events if n > self._newest and matches(kind_filter, e)]
        stale = [n for n in range(self._oldest, oldest) if str(n) in self.rows]
        if events:
            self._newest = max(self._newest, events[-1][0])
        self._oldest = oldest
        if not fresh and not stale:
            return False
        for n in stale:
            self.remove_row(str(n))
        for n, event in fresh:
            self.add_row(
                Text(str(n), justify="right"),
                Text(event_time(event.time)),
                Text(event.code, style=severity_style(event), no_wrap=True, overflow="ellipsis"),
                Text(f"{event.count:,}" if event.count > 1 else "", justify="right"),
                Text(event.message.replace("\n", " "), no_wrap=True, overflow="ellipsis"),
                key=str(n),
            )
        self.sort("#", key=_seq, reverse=True)
        if keep is not None:
            try:
                self.move_cursor(row=self.get_row_index(str(keep)), animate=False)
            except RowDoesNotExist:
                self.move_cursor(row=0)
        return True
