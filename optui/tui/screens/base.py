"""What every screen shares: the header, the footer, and the two hooks the app calls.

`show(ctx)` runs a few times a second on the UI thread with one consistent `ViewContext`; it
must only compute from it (analytics are vectorised and take milliseconds) and update widgets
in place. `export_rows()` returns what is on view as rows (column name -> value), which the
app's export key writes to a file.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events
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

    _left_with_app_focus: bool | None = None
    """Whether the terminal had focus when this screen was last left (None: never left)."""

    def compose(self) -> ComposeResult:
        yield AppHeader(classes="app-header")
        yield from self.body()
        yield KeyBar()

    def on_screen_suspend(self) -> None:
        self._left_with_app_focus = self.app.app_focus

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """Coming back into view: keep the widgets' styles unless something they depend on
        changed while the screen was away.

        A mode switch asks the screen to recompute every widget's styles, and a DataTable
        whose styles are recomputed drops every line it has rendered, so each switch drew
        each table again through Rich (most of a switch: 60-100 ms on the breadth and
        participants screens at full load). What styles depend on cannot change while a
        screen is away, but for the theme, which Textual re-applies on the switch itself
        (`refresh_css` when the CSS changed), and the terminal's focus (`app_focus`, which
        restyles only the screen on view): restyle only when that changed, as Textual does
        itself when a screen is popped back into view. This handler runs before Textual's own
        (subclass handlers first).
        """
        left_with = self._left_with_app_focus
        if left_with is not None and left_with == self.app.app_focus:
            event.refresh_styles = False

    def body(self) -> Iterable[Widget]:
        """The screen's own widgets."""
        return ()

    def show(self, ctx: ViewContext) -> None:
        """Redraw from `ctx` (called on a timer while the screen is active)."""
        self.query_one(AppHeader).show(ctx)

    def export_rows(self) -> list[Row]:
        """The data on view, as rows; empty when there is nothing to export."""
        return []
