"""Waiting in Pilot tests: a bounded re-check of a condition, then a redraw, shared by the TUI
test files (no sleeping for timing: the condition is what is waited for)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from optui.tui.app import OptuiApp


async def until(
    pilot: Pilot[Any], predicate: Callable[[], object], what: str = "the condition"
) -> None:
    """Wait until `predicate()` holds (re-checked every 20 ms, at most 30 s), then redraw the
    screen on view from a fresh snapshot so what is checked next is current."""
    for _ in range(1500):
        if predicate():
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError(f"timed out waiting for {what}")
    app = pilot.app
    assert isinstance(app, OptuiApp)
    app.refresh_view()
    await pilot.pause()
