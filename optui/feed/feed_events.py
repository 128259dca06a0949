"""The feed's events as `optui.events.Event`s: what happened, what optui did, what to do.

The stream reports what happens to a connection as a `StreamEvent` (a kind and a line, see
`optui.feed.kite_events`); this module turns each into the typed event every consumer (the
collector, the TUI's errors screen, the log files) shares, adding the two things a user wants
next. Most of what goes wrong with a websocket optui repairs by itself (it reconnects with
backoff and resubscribes), and saying so spares the user a restart; a refused token is the one
thing no retry fixes, so that event needs the user and names the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from optui.events import Event, EventKind, Severity
from optui.feed.kite_events import StreamEvent

__all__ = ["as_event", "bad_frame_event", "feed_event", "rest_event"]


@dataclass(frozen=True, slots=True)
class _Meaning:
    kind: EventKind
    severity: Severity
    did: str
    do: str


_NOTHING: Final = ""

_MEANINGS: Final[dict[str, _Meaning]] = {
    "connected": _Meaning(
        "feed",
        "info",
        "Opened the websocket and subscribed its share of the instruments again.",
        _NOTHING,
    ),
    "subscribed": _Meaning(
        "feed",
        "info",
        "Changed the subscriptions (at start, or re-centred strikes as the index moved).",
        _NOTHING,
    ),
    "disconnected": _Meaning(
        "feed",
        "warning",
        "Kept every frame that had arrived, and reconnects by itself after a short, growing wait.",
        "Nothing if it reconnects. If it keeps happening, check the network, and that no other "
        "program uses this API key's websockets (Kite allows 3).",
    ),
    "reconnecting": _Meaning(
        "feed",
        "info",
        "Waiting before the next attempt; the wait grows with each failure, up to a limit.",
        "Nothing. If it never connects, check the network and Kite's status page.",
    ),
    "silent": _Meaning(
        "feed",
        "warning",
        "Nothing arrived for too long, not even Kite's heartbeat: it dropped the connection "
        "and reconnects.",
        "Nothing if it recovers. If it repeats, the network is dropping packets: check it "
        "(a VPN or a sleeping laptop do this).",
    ),
    "auth": _Meaning(
        "auth",
        "critical",
        "Stopped streaming: no retry can fix a refused token. Every frame received is kept.",
        "Run `optui login`, then start optui again (tokens expire at 06:00 IST each day).",
    ),
    "error": _Meaning(
        "feed",
        "error",
        "Logged Kite's message; the stream goes on where it can.",
        "Read Kite's message above: it says what it refused (often an instrument or a limit). "
        "If it names a limit, lower [kite] strikes or expiries.",
    ),
    "message": _Meaning("feed", "info", "Logged it; nothing else.", _NOTHING),
    "order": _Meaning("feed", "info", "Logged the order update (optui does not trade).", _NOTHING),
    "stopped": _Meaning(
        "feed",
        "error",
        "The stream has stopped and will not reconnect by itself.",
        "Start optui again (after `optui login` if the token was refused).",
    ),
}

_INTERNAL: Final = _Meaning(
    "feed",
    "error",
    "The stream stopped on an error inside optui; the log has the details.",
    "Start optui again. If it happens again, report it with the log (`optui config` says "
    "where the log is).",
)
_LEFT_OUT: Final = _Meaning(
    "config",
    "warning",
    "Subscribed what fits Kite's limit of 3 websockets × 3,000 instruments; these were left out.",
    "Stream fewer: lower [kite] strikes or expiries (or underlyings), or raise [kite] "
    "connections up to 3.",
)


def feed_event(event: StreamEvent) -> Event:
    """`event` as a typed `Event` (code ``feed.<kind>``, ``auth.refused`` for a refused
    token, ``config.left_out`` for instruments that did not fit)."""
    code = f"feed.{event.kind}"
    meaning = _MEANINGS.get(event.kind, _Meaning("feed", "info", "Logged it.", _NOTHING))
    if event.kind == "message" and event.message.startswith("left out:"):
        meaning, code = _LEFT_OUT, "config.left_out"
    elif event.kind == "error" and "internal error" in event.message:
        meaning, code = _INTERNAL, "feed.internal_error"
    elif event.kind == "auth":
        code = "auth.refused"
    return Event(
        time=event.time,
        kind=meaning.kind,
        severity=meaning.severity,
        code=code,
        message=event.message,
        details={"connection": event.connection, "stream_kind": event.kind},
        did=meaning.did,
        do=meaning.do,
        needs_user=event.kind == "auth",
        # Connected again: whatever stopped the feed before is over (a refused token is not:
        # a new token means a restart, and a restart starts with no open problems).
        clears="feed.stopped" if event.kind == "connected" else "",
    )


def as_event(event: StreamEvent | Event) -> Event:
    """Whatever a source's `events()` returned, as an `Event`."""
    return event if isinstance(event, Event) else feed_event(event)


def rest_event(time: float, kind: str, message: str) -> Event:
    """An event of Kite's REST client (`optui.kite.rest.KiteRest`'s ``on_event``): a 429
    backed off (``ratelimit``), a transient error retried (``retry``), a refused token."""
    if kind == "auth":
        return Event(
            time=time,
            kind="auth",
            severity="critical",
            code="auth.refused",
            message=message,
            did="Stopped asking Kite: no retry can fix a refused token.",
            do=_MEANINGS["auth"].do,
            needs_user=True,
        )
    if kind == "ratelimit":
        return Event(
            time=time,
            kind="rate_limit",
            severity="warning",
            code="rate_limit.rest",
            message=message,
            did="Waited (exponential backoff with jitter) and asked again.",
            do="Nothing if it passes. If it repeats, another program may be using this API "
            "key's request allowance.",
        )
    return Event(
        time=time,
        kind="feed",
        severity="warning",
        code="feed.rest_retry",
        message=message,
        did="Retried the request after a short wait.",
        do="Nothing if it passes; if it repeats, check the network.",
    )


def bad_frame_event(time: float, key: bytes | None, frame: bytes, error: str) -> Event:
    """A binary frame that did not decode. It stays in the journal as it arrived (and rolls
    into the archive's rejects), so it can be examined; its first bytes ride along here."""
    where = f"journal key {key.hex()}" if key is not None else "memory (no journal)"
    return Event(
        time=time,
        kind="feed",
        severity="warning",
        code="feed.bad_frame",
        message=f"a {len(frame):,}-byte frame did not decode: {error}",
        details={"subject": where, "bytes": len(frame), "head": frame[:64].hex()},
        did=f"Kept it unchanged in {where} (rolled into <archive>/rejects/, byte for byte, "
        "with the error) and went on with the next frame.",
        do="Nothing if it is rare. If it repeats, report it with the rejects file of the "
        "day (<archive>/rejects/date=…/).",
    )
