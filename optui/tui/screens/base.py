"""What every screen shares: the header, the footer, and the two hooks the app calls.

`show(ctx)` runs a few times a second on the UI thread with one consistent `ViewContext`; it
must only compute from it (analytics are vectorised and take milliseconds) and update widgets
in place. `export_rows()` returns what is on view as rows (column name -> value), which the
app's export key writes to a file.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget

from optui.tui.context import ViewContext
from optui.tui.header import AppHeader
from optui.tui.widgets.key_bar import KeyBar

__all__ = ["OptuiScreen", "Row"]

Row = dict[str, object]


class OptuiScreen(Screen[None]):
    """A screen of optui: header, body, key bar."""

    NAME = "screen"
    """Short name for the export file and the command palette."""

    def compose(self) -> ComposeResult:
        yield AppHeader(classes="app-header")
        yield from self.body()
        yield KeyBar()

    def body(self) -> Iterable[Widget]:
        """The screen's own widgets."""
        return ()

    def show(self, ctx: ViewContext) -> None:
        """Redraw from `ctx` (called on a timer while the screen is active)."""
        self.query_one(AppHeader).show(ctx)

    def export_rows(self) -> list[Row]:
        """The data on view, as rows; empty when there is nothing to export."""
        return []
