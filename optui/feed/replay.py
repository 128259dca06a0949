"""Replay: an archived day fed back as Kite frames, at N times its real pace.

The archive keeps every tick with its receive time, frame sequence and position in the frame,
so a day is re-assembled frame by frame in arrival order and re-encoded with the codec: the
engine (and the TUI) see the bytes they saw live, paced by the original receive times.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from datetime import date

import numpy as np

from optui.events import Event
from optui.feed.codec import encode
from optui.feed.universe import Universe

__all__ = ["NoDataError", "ReplayFeed", "ReplaySource"]


class NoDataError(LookupError):
    """The archive holds nothing for the day asked for."""


class ReplaySource:
    """A source that yields an archived day's frames as the (scaled) clock reaches them."""

    def __init__(
        self,
        root: str,
        day: date,
        *,
        speed: float = 1.0,
        collector: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from optui.store.archive import iter_day  # noqa: PLC0415 (pyarrow only when replaying)

        if not speed > 0:
            raise ValueError(f"replay speed must be more than 0, got {speed}")
        self.day = day
        self.speed = speed
        self.clock = clock
        # A damaged archive file is skipped and quarantined by the reader; its event reaches
        # whoever drains `events()` (the collector's or the TUI's event log).
        self._events: deque[Event] = deque()
        self._frames: Iterator[tuple[int, np.ndarray]] = iter(
            iter_day(root, day, collector, on_event=self._events.append)
        )
        self._next = next(self._frames, None)
        if self._next is None:
            raise NoDataError(
                f"no archived ticks for {day.isoformat()} in {root}; "
                "`optui status` lists the days there are"
            )
        self.first_ns = self._next[0]
        self.position_ns = self.first_ns
        self._wall_start = clock()
        self.frames_sent = 0

    def market_time(self) -> float:
        """The replay's clock: the original receive time (epoch seconds) it has reached."""
        return self.first_ns / 1e9 + (self.clock() - self._wall_start) * self.speed

    def poll(self) -> list[bytes]:
        """Frames whose original receive time the replay clock has reached."""
        due = self.first_ns + (self.clock() - self._wall_start) * self.speed * 1e9
        frames: list[bytes] = []
        while self._next is not None and self._next[0] <= due:
            received, ticks = self._next
            frames.append(encode(ticks))
            self.position_ns = received
            self._next = next(self._frames, None)
        self.frames_sent += len(frames)
        return frames

    @property
    def finished(self) -> bool:
        return self._next is None

    def events(self) -> list[Event]:
        """What the archive reader reported since the last call (a quarantined file)."""
        taken: list[Event] = []
        while self._events:
            taken.append(self._events.popleft())
        return taken

    def instruments(self) -> None:
        """A replay re-reads what is archived: it adds no instruments list."""
        return None


class ReplayFeed:
    """A replay for the TUI: the archived day's frames with that day's instruments, so every
    screen works on a past day as it did live."""

    label = "REPLAY"

    def __init__(
        self,
        root: str,
        day: date,
        underlyings: Sequence[str],
        *,
        speed: float = 1.0,
        collector: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from optui.kite.instruments import conform, universe_from_instruments  # noqa: PLC0415
        from optui.store.instruments import read_instruments  # noqa: PLC0415

        self.source = ReplaySource(root, day, speed=speed, collector=collector, clock=clock)
        table = read_instruments(root, day)
        if table is None:
            raise NoDataError(
                f"the archive in {root} has ticks for {day.isoformat()} but no instruments list "
                "for it, so the screens cannot tell what the tokens are; "
                "`optui replay --headless` still replays the ticks"
            )
        self.session = day
        self.universe: Universe = universe_from_instruments(conform(table), day, underlyings)

    def market_time(self) -> float:
        return self.source.market_time()

    def poll(self) -> list[bytes]:
        return self.source.poll()

    def events(self) -> list[Event]:
        return self.source.events()

    @property
    def finished(self) -> bool:
        return self.source.finished

    def instruments(self) -> None:
        return None
