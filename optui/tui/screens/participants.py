"""The Participants screen (being built: see the TUI issue)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Static

from optui.tui.screens.base import OptuiScreen

__all__ = ["ParticipantsScreen"]


class ParticipantsScreen(OptuiScreen):
    """Participants."""

    NAME = "participants"

    def body(self) -> Iterable[Widget]:
        yield Static("Participants", classes="screen-title")
