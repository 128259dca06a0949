"""The Errors screen (being built: see the TUI issue)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from optui.tui.screens.base import OptuiScreen

__all__ = ["ErrorsScreen"]


class ErrorsScreen(OptuiScreen):
    """Errors."""

    NAME = "errors"

    def body(self) -> Iterable[Widget]:
        yield Static("Errors", classes="screen-title")
