"""The Price toggle screen (being built: see the TUI issue)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from optui.tui.screens.base import OptuiScreen

__all__ = ["PremiumScreen"]


class PremiumScreen(OptuiScreen):
    """Price toggle."""

    NAME = "premium"

    def body(self) -> Iterable[Widget]:
        yield Static("Price toggle", classes="screen-title")
