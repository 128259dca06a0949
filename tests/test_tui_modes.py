"""Switching screens: at once when the screen exists, and still restyled when it must be."""

from __future__ import annotations

import gc
from datetime import datetime
from typing import Any

import pytest
from pilot_wait import until
from textual.app import App

from optui.feed.calendar import IST
from optui.settings import load_settings
from optui.tui.app import OptuiApp, create_app

FROZEN = datetime(2026, 11, 20, 11, 0, tzinfo=IST).timestamp()


def frozen_app() -> OptuiApp:
    return create_app(load_settings(), clock=lambda: FROZEN)


async def test_only_a_first_visit_waits_for_textual_s_switch_mask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    masked: list[str] = []
    delay_update = App.delay_update

    def record(self: App[Any], delay: float = 0.05) -> None:
        masked.append(self.current_mode)
        delay_update(self, delay)

    monkeypatch.setattr(App, "delay_update", record)
    app = frozen_app()
    async with app.run_test(size=(110, 30)) as pilot:
        for key in "2121":
            await pilot.press(key)
            await pilot.pause()
        assert app.current_mode == "chain"
        # Only the first switch to participants (built then) was masked.
        assert masked == ["chain"]


async def test_a_screen_coming_back_keeps_its_widgets_styles() -> None:
    app = frozen_app()
    async with app.run_test(size=(110, 30)) as pilot:
        # The first visit builds the screen; on the second Textual applies the CSS once more
        # (the screen was not mounted yet when it did so on the first).
        for key in "414":
            await pilot.press(key)
            await pilot.pause()
        note = app.screen.query_one("#breadth-note")
        await pilot.press("1")
        await pilot.pause()
        updates = []
        original = note.notify_style_update

        def count() -> None:
            updates.append(1)
            original()

        note.notify_style_update = count  # type: ignore[method-assign]
        await pilot.press("4")
        await pilot.pause()
        assert app.current_mode == "breadth" and app.screen.query_one("#breadth-note") is note
        # Restyling a DataTable drops every line it rendered: a switch must not restyle the
        # screen (only the focused table, whose cursor colour follows the focus).
        assert updates == []


async def test_a_theme_change_while_a_screen_is_away_still_restyles_it() -> None:
    app = frozen_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("1")
        await pilot.pause()
        header = app.screen.query_one(".app-header")
        dark = header.styles.background
        await pilot.press("2")
        await pilot.pause()
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.press("1")
        await pilot.pause()
        assert app.screen.query_one(".app-header") is header
        assert header.styles.background != dark


async def test_what_the_app_keeps_for_good_is_kept_from_the_cycle_collector() -> None:
    """Once at start and once after each screen's first paint, the app freezes the heap
    (`gc.freeze`): a full collection then walks only what was made since (see
    `OptuiApp.screen_built`); at exit all of it is handed back."""
    gc.unfreeze()
    app = frozen_app()
    async with app.run_test(size=(110, 30)) as pilot:
        await until(pilot, lambda: gc.get_freeze_count() > 0, "the heap frozen at start")
        at_start = gc.get_freeze_count()
        await pilot.press("4")  # breadth: built now
        await until(pilot, lambda: gc.get_freeze_count() > at_start, "the breadth screen frozen")
        after_breadth = gc.get_freeze_count()
        screen = app.screen
        await pilot.press("1")
        await pilot.press("4")  # a second visit builds nothing: nothing more is frozen
        await pilot.pause()
        await pilot.pause()
        assert app.screen is screen
        assert gc.get_freeze_count() <= after_breadth
    assert after_breadth > at_start
    assert gc.get_freeze_count() == 0
