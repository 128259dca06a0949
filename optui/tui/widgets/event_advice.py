"""How the errors screen colours and filters events.

Every event (`optui.events.Event`) already says what optui did about it and what the user
should do; this module only decides how it looks: red for what needs the user, yellow for
what optui is repairing or warns of, green for recovery, plain for notes. Plain strings, no
Textual: tests read them directly.
"""

from __future__ import annotations

from typing import Final

from optui.events import KINDS, Event, EventKind

__all__ = ["EVENT_KINDS", "is_problem", "kind_style", "severity_style"]

#: Every kind, in the order the kind counts list them.
EVENT_KINDS: Final[tuple[EventKind, ...]] = KINDS


def is_problem(event: Event) -> bool:
    """Something going wrong (the "problems" filter): a warning or worse."""
    return event.severity != "info"


def severity_style(event: Event) -> str:
    """The colour of an event in the list."""
    if event.needs_user or event.severity in ("error", "critical"):
        return "bold red"
    if event.severity == "warning":
        return "yellow"
    if event.clears or event.code in ("feed.connected", "storage.roll_recovered"):
        return "green"
    return ""


def kind_style(kind: str) -> str:
    """The colour of a kind in the counts: auth and storage are the user's to fix."""
    if kind in ("auth", "storage"):
        return "bold red"
    if kind in ("feed", "rate_limit", "data_quality"):
        return "yellow"
    return ""
