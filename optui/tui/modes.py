"""Switching between the five screens (Textual modes) without waiting.

Measured on a real terminal (`tests/benchmarks/bench_tui_pty.py`), most of a switch between
screens was not optui's work but two things Textual does on every `switch_mode`:

- it masks the switch with `delay_update()`: nothing is painted for 50 ms, so that a screen
  composed for the first time does not flash half-built. optui's screens are built once and
  kept, so from the second visit on there is nothing to mask and the 50 ms are pure waiting;
- it recomputes the styles of every widget of the screen that comes back (see
  `OptuiScreen.on_screen_resume`, which keeps them when nothing they depend on changed).

`InstantModesApp` skips the first for a mode whose screen exists, and brings the screen up to
date right after its first paint instead of before it: the screen comes back at once as it
was left (header, tables, charts as drawn), and its figures follow a frame later, as on every
refresh. On a busy feed the refresh (new figures in many cells) costs more than the switch
itself, so doing it first would make the key wait for it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from textual.app import App
from textual.widget import AwaitMount

__all__ = ["InstantModesApp"]

ReturnType = TypeVar("ReturnType")


class InstantModesApp(App[ReturnType]):
    """An app whose mode switches paint at once once the mode's screen exists."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._modes_built: set[str] = {self.DEFAULT_MODE}
        self._instant_switch = False

    def switch_mode(self, mode: str) -> AwaitMount:
        first_visit = mode not in self._modes_built
        self._instant_switch = not first_visit
        try:
            await_mount = super().switch_mode(mode)
        finally:
            self._instant_switch = False
        self._modes_built.add(mode)
        self.call_after_refresh(self.refresh_view)
        if first_visit:
            self.call_after_refresh(self.screen_built)
        return await_mount

    def screen_built(self) -> None:
        """Called once per mode, after its screen's first paint (and the app's first
        screen's): what the screen keeps for its lifetime exists now."""

    def delay_update(self, delay: float = 0.05) -> None:
        """As Textual's, except inside the switch to a mode whose screen exists."""
        if self._instant_switch:
            return
        super().delay_update(delay)

    def refresh_view(self) -> None:
        """Bring the screen on view up to date (the app's own redraw); called right after
        the first paint of the screen switched to."""
