"""The details of one feed event: when, which connection, the full message, what optui did
and what the user should do (`event_advice`).

Messages come from Kite and the network, so they are put in as plain text, never parsed as
markup: a bracket in Kite's message cannot restyle the panel.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from optui.feed.kite_events import StreamEvent
from optui.tui.widgets.event_advice import advise, kind_style
from optui.tui.widgets.event_table import event_time

__all__ = ["EventDetail", "describe_event"]


def describe_event(number: int, event: StreamEvent) -> Text:
    """The panel's text for event `number`."""
    advice = advise(event)
    where = f"connection {event.connection}" if event.connection else "the feed"
    return Text.assemble(
        (f"#{number} ", "bold"),
        (event.kind, f"bold {kind_style(event.kind)}".strip()),
        f" · {event_time(event.time, with_date=True)} · {where}\n",
        (event.message, "italic"),
        "\n",
        ("What optui did: ", "bold"),
        advice.did,
        "\n",
        ("What you should do: ", "bold"),
        advice.do,
    )


class EventDetail(Static):
    """The selected event, or a line saying why there is none."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.shown: Text | None = None

    def show(self, text: Text) -> None:
        """Show `text` (redrawn only when it changed)."""
        if self.shown is None or text.plain != self.shown.plain or text.spans != self.shown.spans:
            self.shown = text
            self.update(text)
