"""The details of one event: when, how often, the full message, its details, what optui did
and what the user should do.

Messages come from Kite and the network, so they are put in as plain text, never parsed as
markup: a bracket in Kite's message cannot restyle the panel.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from optui.events import Event
from optui.tui.widgets.event_advice import severity_style
from optui.tui.widgets.event_table import event_time

__all__ = ["EventDetail", "describe_event"]

#: Details the panel leaves out (shown elsewhere, or noise to a user).
_HIDDEN = frozenset({"stream_kind", "head"})


def describe_event(number: int, event: Event) -> Text:
    """The panel's text for event `number`."""
    when = event_time(event.time, with_date=True)
    if event.count > 1 and event.first_time is not None:
        when = f"{event.count:,} times, {event_time(event.first_time)} to {when}"
    parts: list[str | tuple[str, str]] = [
        (f"#{number} ", "bold"),
        (event.code, f"bold {severity_style(event)}".strip()),
        f" · {event.severity} · {when}",
    ]
    if event.source and event.source != "tui":  # another process's (an attached collector)
        parts.append(f" · from {event.source}")
    parts += ["\n", (event.message, "italic")]
    shown = {k: v for k, v in event.details.items() if k not in _HIDDEN}
    if shown:
        parts += ["\n", ("Details: ", "bold"), "; ".join(f"{k} {v}" for k, v in shown.items())]
    parts += ["\n", ("What optui did: ", "bold"), event.did or "Logged it."]
    parts += ["\n", ("What you should do: ", "bold"), event.do or "Nothing."]
    return Text.assemble(*parts)


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
