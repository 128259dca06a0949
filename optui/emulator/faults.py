"""Faults on demand: what the emulator can do wrong, and when.

Each fault imitates something a live Kite feed does to a client, so optui's recovery can be
watched and tested:

- ``drop``: every open websocket is cut (transport aborted, no close frame), as when a
  network path dies;
- ``silence``: open websockets stay open but get nothing at all (no ticks, no heartbeats)
  for ``seconds``; ticks of that time are lost, as from a stalled server;
- ``expire``: every access token issued so far dies, as at 06:00 IST: open websockets are
  closed, new handshakes get HTTP 403, REST calls 403 TokenException;
- ``ratelimit``: the next ``count`` REST requests get HTTP 429 NetworkException;
- ``malformed``: the next ``count`` data frames to each open websocket carry a packet length
  that runs past the end of the message;
- ``error``: a text message ``{"type": "error", "data": ...}`` to every open websocket.

`FaultState` holds the ones with a duration or a count; it is shared by the REST threads and
the websocket loop, so it locks. `parse_schedule` reads ``optui emulate --fault NAME@SECONDS``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "FAULTS",
    "FaultState",
    "ScheduledFault",
    "check_fault",
    "malformed",
    "parse_schedule",
]

FAULTS: Final = ("drop", "silence", "expire", "ratelimit", "malformed", "error")


def check_fault(name: str, seconds: float, count: int) -> None:
    """Raise ValueError saying what is wrong with a fault request."""
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; choose one of {', '.join(FAULTS)}")
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"fault seconds must be a finite number >= 0, got {seconds}")
    if count < 1:
        raise ValueError(f"fault count must be a whole number >= 1, got {count}")


class FaultState:
    """The faults that last: a silence deadline and the rate-limit countdown."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._silent_until = 0.0
        self._ratelimited = 0

    def silence(self, seconds: float) -> None:
        with self._lock:
            self._silent_until = max(self._silent_until, self._clock() + seconds)

    def silent(self) -> bool:
        """True while the websockets must send nothing."""
        return self._clock() < self._silent_until

    def silent_for(self) -> float:
        """Seconds of silence left (0 when not silent)."""
        return max(self._silent_until - self._clock(), 0.0)

    def ratelimit(self, count: int) -> None:
        with self._lock:
            self._ratelimited += count

    def take_ratelimit(self) -> bool:
        """True if this request is one of those to refuse with 429 (and counts it)."""
        with self._lock:
            if self._ratelimited <= 0:
                return False
            self._ratelimited -= 1
            return True


def malformed(frame: bytes) -> bytes:
    """`frame` with its first packet's length pointing past the end of the message.

    Same size as the original, so only a decoder that checks lengths notices; `codec.decode`
    raises `FrameError` on it.
    """
    broken = bytearray(frame)
    if len(broken) < 4:  # an empty frame: give it one packet that cannot fit
        broken = bytearray(b"\x00\x01\x00\x00")
    broken[2:4] = min(len(broken) + 100, 0xFFFF).to_bytes(2, "big")
    return bytes(broken)


@dataclass(frozen=True)
class ScheduledFault:
    """A fault to inject `at` seconds after the emulator starts."""

    name: str
    at: float
    seconds: float = 5.0
    count: int = 1


def parse_schedule(text: str, *, seconds: float = 5.0, count: int = 1) -> ScheduledFault:
    """``NAME@SECONDS`` (e.g. ``drop@30``) as a `ScheduledFault`; ValueError says what is wrong.

    An optional ``:ARG`` after the time sets how long a silence lasts or how many requests
    or frames the fault hits: ``silence@60:10`` is ten seconds of silence a minute in.
    """
    name, sep, rest = text.partition("@")
    if not sep:
        raise ValueError(
            f"--fault {text!r}: expected NAME@SECONDS, e.g. drop@30 (faults: {', '.join(FAULTS)})"
        )
    when, colon, arg = rest.partition(":")
    try:
        at = float(when)
    except ValueError:
        raise ValueError(f"--fault {text!r}: {when!r} is not a number of seconds") from None
    if not at >= 0 or at == float("inf"):
        raise ValueError(f"--fault {text!r}: the time must be a finite number of seconds >= 0")
    if colon:
        try:
            value = float(arg)
        except ValueError:
            raise ValueError(f"--fault {text!r}: {arg!r} after ':' is not a number") from None
        if name == "silence":
            seconds = value
        else:
            if value != int(value):
                raise ValueError(f"--fault {text!r}: the count after ':' must be whole")
            count = int(value)
    try:
        check_fault(name, seconds, count)
    except ValueError as exc:
        raise ValueError(f"--fault {text!r}: {exc}") from None
    return ScheduledFault(name, at, seconds, count)
