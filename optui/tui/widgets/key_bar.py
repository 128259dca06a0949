"""The key bar at the bottom of every screen: the keys that screen and the app answer to.

Textual's `Footer` recomposes a widget per key every time a screen comes back into view;
measured here, that was most of the cost of switching screens (about 350 ms a switch with it,
120 ms without, of which ~70 ms is the test driver). The keys of a screen do not change while
it is shown, so one line of text, written when the screen is mounted, says the same for
next to nothing.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

__all__ = ["KeyBar"]


class KeyBar(Static):
    """One line: each shown binding of the screen and the app, as `key description`."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        padding: 0 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def on_mount(self) -> None:
        self.update(self.describe())

    def describe(self) -> Text:
        """The keys, screen's first then the app's, each once, in binding order."""
        text = Text(no_wrap=True, overflow="ellipsis")
        seen: set[str] = set()
        for node in (self.screen, self.app):
            for binding in getattr(node, "BINDINGS", ()):
                if isinstance(binding, tuple) or not binding.show:
                    continue
                key = self.app.get_key_display(binding)
                if binding.description in seen:
                    continue
                seen.add(binding.description)
                if text:
                    text.append("  ")
                text.append(key, style="bold")
                text.append(f" {binding.description}")
        text.append("  ")
        text.append("^p", style="bold")
        text.append(" palette")
        return text
