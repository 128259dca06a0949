"""The command palette (Ctrl+P): every screen and every app action by name."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from optui.tui.app import OptuiApp

__all__ = ["ScreenCommands"]


class ScreenCommands(Provider):
    """Open a screen, toggle the price basis, export the view."""

    def _commands(self) -> list[tuple[str, str, str]]:
        from optui.tui.app import SCREENS_BY_KEY  # noqa: PLC0415  (the app imports this module)

        commands = [
            (f"Open {label.lower()} ({key})", f"switch_mode('{mode}')", f"screen {key}")
            for key, mode, label in SCREENS_BY_KEY
        ]
        commands += [
            ("Toggle last / average price (p)", "toggle_price", "every screen's prices"),
            ("Export this view (x)", "export", "CSV in <data_dir>/exports"),
        ]
        return commands

    async def discover(self) -> Hits:
        for name, action, help_text in self._commands():
            yield DiscoveryHit(name, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(name), partial(self._run, action), help=help_text
                )

    async def _run(self, action: str) -> None:
        app: OptuiApp = self.app  # type: ignore[assignment]
        await app.run_action(action)
