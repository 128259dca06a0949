"""The Option chain screen (being built: see the TUI issue)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from optui.tui.screens.base import OptuiScreen

__all__ = ["ChainScreen"]


class ChainScreen(OptuiScreen):
    """Option chain."""

    NAME = "chain"

    def body(self) -> Iterable[Widget]:
        yield Static("Option chain", classes="screen-title")
