"""How many events of each kind, and when the last one was: a glance tells whether the
feed dropped once this morning or keeps dropping."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.widgets import DataTable

from optui.tui.widgets.event_advice import EVENT_KINDS, kind_style
from optui.tui.widgets.event_table import event_time

__all__ = ["EventCounts", "KindCount"]

KindCount = tuple[int, float]
"""(how many, time of the last one)."""


class EventCounts(DataTable[Text]):
    """One row per kind that occurred, in `EVENT_KINDS` order, keyed by the kind."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, show_cursor=False)
        self.can_focus = False  # read-only: the events table has the cursor
        self.counts: dict[str, KindCount] = {}

    def on_mount(self) -> None:
        self.add_column("Kind", key="Kind", width=12)
        self.add_column("Count", key="Count", width=5)
        self.add_column("Last", key="Last", width=8)

    def show(self, counts: Mapping[str, KindCount]) -> None:
        """Write `counts` (kind -> (count, last time)); rows appear as kinds first occur."""
        if counts == self.counts:
            return
        added = False
        for kind, (n, last) in counts.items():
            cells = (Text(str(n), justify="right"), Text(event_time(last)))
            if kind not in self.counts:
                self.add_row(Text(kind, style=kind_style(kind)), *cells, key=kind)
                added = True
            elif self.counts[kind] != (n, last):
                self.update_cell(kind, "Count", cells[0])
                self.update_cell(kind, "Last", cells[1])
        self.counts = dict(counts)
        if added:
            order: dict[str, int] = {kind: i for i, kind in enumerate(EVENT_KINDS)}
            self.sort("Kind", key=lambda cell: order.get(str(cell), len(order)))
