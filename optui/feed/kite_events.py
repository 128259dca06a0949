"""What the Kite stream tells the rest of optui: events and a health snapshot.

The stream never fails silently: whatever happens to a connection (connected, dropped, went
quiet, backing off, token rejected, a text message from Kite) becomes a `StreamEvent`, and
its counters (frames, bytes, heartbeats, reconnects, silent periods) are readable at any time
as a `StreamHealth`, which the TUI's feed-health view and `optui collect`'s status show.
Nothing here may ever hold the access token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ConnectionHealth",
    "ConnectionState",
    "EventKind",
    "StreamEvent",
    "StreamHealth",
    "scrub",
]

EventKind = Literal[
    "connected",
    "disconnected",
    "reconnecting",
    "silent",
    "auth",
    "error",
    "message",
    "order",
    "subscribed",
    "stopped",
]

ConnectionState = Literal["idle", "connecting", "connected", "backoff", "stopped"]


@dataclass(frozen=True)
class StreamEvent:
    """One thing that happened to a connection, in words a user can act on."""

    time: float
    kind: EventKind
    message: str
    connection: int = 0


@dataclass
class ConnectionHealth:
    """Counters of one websocket connection (a live, mutable record inside the stream;
    `StreamHealth` holds copies)."""

    connection: int
    state: ConnectionState = "idle"
    tokens: int = 0
    connects: int = 0
    silent_periods: int = 0
    heartbeats: int = 0
    frames: int = 0
    bytes: int = 0
    text_messages: int = 0
    last_frame_time: float | None = None
    last_message_time: float | None = None
    """Anything at all, heartbeats included: what the watchdog watches."""
    connected_since: float | None = None
    last_error: str | None = None

    @property
    def reconnects(self) -> int:
        """Connections opened after the first."""
        return max(self.connects - 1, 0)


@dataclass(frozen=True)
class StreamHealth:
    """A snapshot of every connection's counters and the recent events."""

    connections: tuple[ConnectionHealth, ...]
    finished: bool
    auth_failed: bool
    queued_frames: int
    """Frames received and not yet taken by `poll()`."""
    recent_events: tuple[StreamEvent, ...] = field(default=())
    """The latest events, oldest first (bounded; `events()` drains its own copy)."""

    @property
    def frames(self) -> int:
        return sum(c.frames for c in self.connections)

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.connections)

    @property
    def heartbeats(self) -> int:
        return sum(c.heartbeats for c in self.connections)

    @property
    def reconnects(self) -> int:
        return sum(c.reconnects for c in self.connections)

    @property
    def silent_periods(self) -> int:
        return sum(c.silent_periods for c in self.connections)

    @property
    def last_frame_time(self) -> float | None:
        times = [c.last_frame_time for c in self.connections if c.last_frame_time is not None]
        return max(times) if times else None


def scrub(text: str, secret: str) -> str:
    """`text` with every occurrence of `secret` masked (exception texts may quote the URL,
    which carries the access token)."""
    if not secret:
        return text
    return text.replace(secret, "***")
