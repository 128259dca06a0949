"""What each feed event means for the user: what optui did about it, and what to do.

A feed event (`optui.feed.kite_events.StreamEvent`) says what happened in a line; the errors
screen adds the two things a user wants next. Most of what goes wrong with a websocket
optui repairs by itself (it reconnects with backoff and resubscribes), and saying so spares
the user a restart; a refused token is the one thing no retry fixes, so that advice names
the command. Plain strings, no Textual: tests read them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, get_args

from optui.feed.kite_events import EventKind, StreamEvent

__all__ = ["EVENT_KINDS", "PROBLEM_KINDS", "Advice", "advise", "kind_style"]

#: Every kind, in the order the kind counts list them.
EVENT_KINDS: Final[tuple[EventKind, ...]] = get_args(EventKind)
#: Kinds that are something going wrong (the "problems" filter).
PROBLEM_KINDS: Final[frozenset[str]] = frozenset(
    {"disconnected", "reconnecting", "silent", "auth", "error", "stopped"}
)


@dataclass(frozen=True, slots=True)
class Advice:
    """The two lines of the details panel."""

    did: str
    """What optui did about it."""
    do: str
    """What the user should do."""


_ADVICE: Final[dict[str, Advice]] = {
    "connected": Advice(
        "Opened the websocket and subscribed its share of the instruments again.",
        "Nothing.",
    ),
    "subscribed": Advice(
        "Changed the subscriptions (at start, or re-centred strikes as the index moved).",
        "Nothing.",
    ),
    "disconnected": Advice(
        "Kept every frame that had arrived, and reconnects by itself after a short, growing wait.",
        "Nothing if it reconnects. If it keeps happening, check the network, and that no other "
        "program uses this API key's websockets (Kite allows 3).",
    ),
    "reconnecting": Advice(
        "Waiting before the next attempt; the wait grows with each failure, up to a limit.",
        "Nothing. If it never connects, check the network and Kite's status page.",
    ),
    "silent": Advice(
        "Nothing arrived for too long, not even Kite's heartbeat: it dropped the connection "
        "and reconnects.",
        "Nothing if it recovers. If it repeats, the network is dropping packets: check it "
        "(a VPN or a sleeping laptop do this).",
    ),
    "auth": Advice(
        "Stopped streaming: no retry can fix a refused token. Every frame received is kept.",
        "Run `optui login`, then start optui again (tokens expire at 06:00 IST each day).",
    ),
    "error": Advice(
        "Logged Kite's message; the stream goes on where it can.",
        "Read Kite's message above: it says what it refused (often an instrument or a limit). "
        "If it names a limit, lower [kite] strikes or expiries.",
    ),
    "message": Advice(
        "Logged it; nothing else.",
        "Read it: Kite's messages are usually notices.",
    ),
    "order": Advice(
        "Logged the order update (optui does not trade).",
        "Nothing here; see the order in Kite.",
    ),
    "stopped": Advice(
        "The stream has stopped and will not reconnect by itself.",
        "Start optui again (after `optui login` if the token was refused).",
    ),
}

_INTERNAL: Final = Advice(
    "The stream stopped on an error inside optui; the log has the details.",
    "Start optui again. If it happens again, report it with the log (`optui config` says "
    "where the log is).",
)
_LEFT_OUT: Final = Advice(
    "Subscribed what fits Kite's limit of 3 websockets × 3,000 instruments; these were left out.",
    "Stream fewer: lower [kite] strikes or expiries (or underlyings), or raise [kite] "
    "connections up to 3.",
)


def advise(event: StreamEvent) -> Advice:
    """What optui did about `event` and what the user should do."""
    if event.kind == "message" and event.message.startswith("left out:"):
        return _LEFT_OUT
    if event.kind == "error" and "internal error" in event.message:
        return _INTERNAL
    return _ADVICE.get(event.kind, Advice("Logged it.", "Nothing."))


def kind_style(kind: str) -> str:
    """The colour of a kind in the list: red for what needs the user, yellow for what optui
    is repairing, green for recovery."""
    if kind in ("auth", "error", "stopped"):
        return "bold red"
    if kind in ("disconnected", "silent", "reconnecting"):
        return "yellow"
    if kind in ("connected", "subscribed"):
        return "green"
    return ""
