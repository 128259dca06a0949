"""Events: everything that goes wrong (or right again), as one typed record.

A trader needs to know the moment their data stops being right, and what optui did about it.
Every part of optui that notices a problem (the stream, the data-quality checks, the
journal and archive, the settings) describes it as an `Event`: when, what kind, how bad, a
short message, the details, what optui did, and what the user should do. An `EventLog` takes
them in and

- counts them, per kind and per code, with the last occurrence of each;
- groups repeats: the first `burst` events of a code in `group_window` seconds are passed on
  at once (a reconnect after a drop is news, not noise); further ones in the same window are
  only counted, and one summary ("… 37 more times since 10:42:05") is passed on when the
  window closes, so a flood never drowns the rest;
- keeps the problems a person must fix (`needs_user`: log in again, free disk) open until an
  event that `clears` their code arrives, so every screen can say so until it is fixed;
- passes each record to its sinks: the journal's ``events`` database (so a TUI attached to a
  collector sees them, `optui.store.journal.Journal.append_events`) and the ``optui.events``
  logger, which `optui.logs.log_to_file` writes as JSON lines to the rotating application,
  errors and auth logs.

No Textual, no clock reads of its own (time is passed in or comes from the `clock` given).
Events never hold a secret: messages are built from what optui knows, and the log files
scrub anything token-shaped on the way out (`optui.logs`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

import msgspec

__all__ = [
    "KINDS",
    "CodeCount",
    "Event",
    "EventKind",
    "EventLog",
    "Severity",
    "decode_event",
    "encode_event",
]

EventKind = Literal["feed", "auth", "rate_limit", "data_quality", "storage", "config"]
Severity = Literal["info", "warning", "error", "critical"]
KINDS: Final[tuple[EventKind, ...]] = get_args(EventKind)

_LEVELS: Final[dict[str, int]] = {
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

Detail = str | int | float | bool | None


class Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One thing that happened, in words a user can act on."""

    time: float
    """Unix seconds."""
    kind: EventKind
    severity: Severity
    code: str
    """Stable and dotted, e.g. ``feed.disconnected``, ``quality.crossed_book``: what events
    are counted and grouped by, and what `clears` names."""
    message: str
    details: dict[str, Detail] = {}
    did: str = ""
    """What optui did about it."""
    do: str = ""
    """What the user should do ("" when nothing)."""
    needs_user: bool = False
    """Only a person can fix it (log in again, free disk): shown on every screen until an
    event that `clears` this code arrives."""
    clears: str = ""
    """The code of an open problem this event ends (``storage.disk_low`` by
    ``storage.disk_ok``)."""
    count: int = 1
    """How many occurrences this record stands for (a group summary has more than one)."""
    first_time: float | None = None
    """For a group summary: when the first occurrence it counts happened."""
    source: str = ""
    """Which process recorded it (``collect``, ``tui``), for a TUI showing a collector's."""


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    """The JSON form of `event` (what the journal stores and the logs write)."""
    return _ENCODER.encode(event)


def decode_event(data: bytes | memoryview) -> Event:
    """`encode_event`'s inverse; raises `msgspec.DecodeError` for anything else."""
    return _DECODER.decode(data)


@dataclass
class CodeCount:
    """How often a code occurred, and its latest occurrence."""

    code: str
    kind: EventKind
    count: int
    last: Event


@dataclass
class _Group:
    """Occurrences of one code since its last record was passed on."""

    passed_at: float
    passed: int = 1
    """Records of this code passed on in the window (up to the burst)."""
    pending: int = 0
    first_pending: float = 0.0
    last_pending: Event | None = None
    subjects: set[str] | None = None


Sink = Callable[[Sequence[Event]], object]

#: Subjects (instruments, files) a group summary names; the rest are counted.
_MAX_SUBJECTS: Final = 20
#: Events the log keeps in memory for the errors screen (oldest dropped first).
RECENT: Final = 2000


class EventLog:
    """Takes events in, counts and groups them, and passes the records on to its sinks.

    Thread-safe: the stream's thread, the engine and the TUI may record at once. A sink that
    fails is logged and skipped (events must never take optui down); a sink is called outside
    the lock, in the order records were made.
    """

    def __init__(
        self,
        *,
        sinks: Iterable[Sink] = (),
        clock: Callable[[], float] = time.time,
        group_window: float = 60.0,
        burst: int = 3,
        source: str = "",
        logger: logging.Logger | None = None,
        log: bool = True,
    ) -> None:
        self._sinks: list[Sink] = list(sinks)
        self._clock = clock
        self.group_window = group_window
        self.burst = max(burst, 1)
        self.source = source
        self._logger = logger if logger is not None else logging.getLogger("optui.events")
        self._log = log
        """False for events another process has logged already (a collector's, read back
        from its journal): they are counted and kept, not written again."""
        self._lock = threading.Lock()
        self._sink_lock = threading.Lock()
        self._groups: dict[str, _Group] = {}
        self._codes: dict[str, CodeCount] = {}
        self._open: dict[str, Event] = {}
        self.recent: deque[Event] = deque(maxlen=RECENT)
        """The records passed on, oldest first (grouped repeats as their summary)."""
        self.sink_errors = 0

    # -- taking events in ------------------------------------------------------------------
    def add_sink(self, sink: Sink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def record(self, event: Event) -> Event | None:
        """Take `event` in; returns the record passed on, or None when it was grouped."""
        if self.source and not event.source:
            event = msgspec.structs.replace(event, source=self.source)
        with self._lock:
            out = self._take(event)
            out.extend(self._due(event.time))
        self._emit(out)
        return event if any(record is event for record in out) else None

    def record_many(self, events: Iterable[Event]) -> None:
        for event in events:
            self.record(event)

    def flush(self, now: float | None = None, *, everything: bool = False) -> list[Event]:
        """Pass on the summaries of groups whose window has closed (all, with `everything`:
        at exit, so no count is lost). Returns the summaries."""
        now = self._clock() if now is None else now
        with self._lock:
            out = self._due(now, everything=everything)
        self._emit(out)
        return out

    # -- reading -----------------------------------------------------------------------------
    def counts(self) -> dict[EventKind, int]:
        """Occurrences per kind (grouped repeats included), every kind listed."""
        with self._lock:
            totals = dict.fromkeys(KINDS, 0)
            for code in self._codes.values():
                totals[code.kind] += code.count
            return totals

    def codes(self) -> list[CodeCount]:
        """Each code's count and latest occurrence, the most recent first."""
        with self._lock:
            rows = [CodeCount(c.code, c.kind, c.count, c.last) for c in self._codes.values()]
        return sorted(rows, key=lambda c: c.last.time, reverse=True)

    def open_problems(self) -> list[Event]:
        """What a person must fix and has not yet, oldest first."""
        with self._lock:
            return sorted(self._open.values(), key=lambda e: e.time)

    # -- inside the lock ---------------------------------------------------------------------
    def _take(self, event: Event) -> list[Event]:
        counted = self._codes.get(event.code)
        if counted is None:
            self._codes[event.code] = CodeCount(event.code, event.kind, event.count, event)
        else:
            counted.count += event.count
            counted.last = event
        if event.clears:
            self._open.pop(event.clears, None)
        if event.needs_user:
            self._open[event.code] = event
        group = self._groups.get(event.code)
        if group is None or event.time - group.passed_at >= self.group_window:
            # The first of its code in a window is passed on at once.
            out = self._close(event.code, group) if group is not None else []
            self._groups[event.code] = _Group(passed_at=event.time)
            self.recent.append(event)
            return [*out, event]
        if (group.passed < self.burst and not group.pending) or event.clears:
            # So are the next few (a drop, then the reconnect), and anything that ends a
            # problem (the user waits for that news).
            group.passed += 1
            self.recent.append(event)
            return [event]
        if group.pending == 0:
            group.first_pending = event.time
            group.subjects = set()
        group.pending += event.count
        group.last_pending = event
        subject = event.details.get("subject")
        if subject is not None and group.subjects is not None:
            group.subjects.add(str(subject))
        return []

    def _due(self, now: float, *, everything: bool = False) -> list[Event]:
        out: list[Event] = []
        for code, group in list(self._groups.items()):
            if group.pending and (everything or now - group.passed_at >= self.group_window):
                out.extend(self._close(code, group))
                self._groups[code] = _Group(passed_at=now)
        return out

    def _close(self, code: str, group: _Group) -> list[Event]:
        """The summary of `group`'s pending occurrences (none when there are none)."""
        last = group.last_pending
        if not group.pending or last is None:
            return []
        details = dict(last.details)
        subjects = sorted(group.subjects or ())
        if subjects:
            more = len(subjects) - _MAX_SUBJECTS
            details["subjects"] = ", ".join(subjects[:_MAX_SUBJECTS]) + (
                f" and {more} more" if more > 0 else ""
            )
            details.pop("subject", None)
        times = "once more" if group.pending == 1 else f"{group.pending:,} more times"
        since = time.strftime("%H:%M:%S", time.gmtime(group.first_pending))
        summary = msgspec.structs.replace(
            last,
            message=f"{last.message} ({times} since {since} UTC)",
            details=details,
            count=group.pending,
            first_time=group.first_pending,
        )
        self.recent.append(summary)
        return [summary]

    # -- outside the lock --------------------------------------------------------------------
    def _emit(self, records: list[Event]) -> None:
        if not records:
            return
        with self._sink_lock:  # records reach every sink in the order they were made
            for event in records if self._log else ():
                self._logger.log(
                    _LEVELS[event.severity], "%s", event.message, extra={"optui_event": event}
                )
            for sink in list(self._sinks):
                try:
                    sink(records)
                except Exception as exc:  # an event sink must never take optui down
                    self.sink_errors += 1
                    self._logger.warning(
                        "could not store %d event(s): %s: %s",
                        len(records),
                        type(exc).__name__,
                        exc,
                    )
