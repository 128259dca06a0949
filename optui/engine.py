"""The engine: one loop from a source into the journal, the market state and the archive.

    source.poll() ──frames──► journal.append_many (one durable txn per poll)
                                   │
                                   ├─► decode ─► MarketState (latest tick per token)
                                   │               └─ every second: journal.write_latest
                                   └─ every roll interval: roller.roll (closed minutes → Parquet)

The same engine runs headless (`optui collect`) and, later, inside the TUI. It never sleeps
on its own clock: `run` waits on a `StopFlag` between polls, so SIGINT/SIGTERM (which set it)
end the loop within 50 ms; `finish` then commits what is left and rolls everything. A frame is
written to the journal *before* it is decoded, so a frame that fails to decode is kept (and
counted) rather than lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol

import numpy as np

from optui.events import Event
from optui.feed.codec import FrameError, decode
from optui.feed.feed_events import bad_frame_event
from optui.feed.quality import QualityMonitor, market_open_at
from optui.feed.state import MarketState
from optui.stop_flag import StopFlag
from optui.store.journal import Journal, split_key

if TYPE_CHECKING:
    # Only for annotations: the TUI runs the engine without an archive and need not load
    # pyarrow to do so.
    from optui.store.archive import Roller, RollResult
    from optui.store.disk_watch import StorageWatch

__all__ = ["Engine", "EngineStatus", "Source", "StopFlag", "quality_monitor_for"]


class Source(Protocol):
    """Anything that yields Kite binary frames when asked."""

    def poll(self) -> list[bytes]:
        """Frames that arrived (or fell due) since the previous call."""
        ...

    @property
    def finished(self) -> bool:
        """True when the source will never yield another frame (a replay that ended)."""
        ...

    def instruments(self) -> tuple[date, str] | None:
        """The trading day and its instruments (Kite's instruments.csv), if the source knows
        them; the collector keeps them in the archive beside the ticks."""
        ...

    # Optional: `attach(state)` is called with the engine's MarketState when present;
    # `events()` returns what happened to the feed (reconnects, auth), drained by the caller;
    # `close()` releases connections when the engine's owner is done.


@dataclass
class EngineStatus:
    """What the engine has done so far; `optui collect` prints it."""

    started: float
    frames: int = 0
    packets: int = 0
    bad_frames: int = 0
    last_frame_ns: int | None = None
    rolls: int = 0
    rolled_rows: int = 0
    last_roll: float | None = None
    last_roll_error: str | None = None
    failed_rolls: int = 0
    """Rolls that failed since the last one that succeeded."""
    rates: list[tuple[float, int]] = field(default_factory=list)

    def ticks_per_s(self, now: float | None = None) -> float:
        """Packets per second over the last few polls; with `now`, up to `now`, so the rate
        falls away once polling stops (a stream stopped for good, a finished replay)
        instead of showing the last rate for ever."""
        if len(self.rates) < 2:
            return 0.0
        (t0, p0), (t1, p1) = self.rates[0], self.rates[-1]
        end = t1 if now is None else max(t1, now)
        return (p1 - p0) / (end - t0) if end > t0 else 0.0


class Engine:
    """Runs `source` into `journal` (when given: a replay may run on the state alone),
    `state` and (when given) `roller`."""

    def __init__(
        self,
        source: Source,
        journal: Journal | None,
        *,
        roller: Roller | None = None,
        state: MarketState | None = None,
        poll_interval: float = 0.25,
        roll_interval: float = 60.0,
        latest_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[Event], object] | None = None,
        watch: StorageWatch | None = None,
        watch_interval: float = 10.0,
        quality: QualityMonitor | None = None,
        silence_interval: float = 5.0,
    ) -> None:
        self.source = source
        self.journal = journal
        self.roller = roller
        self.state = state or MarketState()
        # A live source re-centres its subscriptions on the index levels the engine keeps.
        attach = getattr(source, "attach", None)
        if callable(attach):
            attach(self.state)
        self.poll_interval = poll_interval
        self.roll_interval = roll_interval
        self.latest_interval = latest_interval
        self.clock = clock
        now = clock()
        self.status = EngineStatus(started=now)
        self._last_key: bytes | None = None
        self._latest_written = now
        self._rolled_at = now
        self._roll_requested = StopFlag()  # set from a signal handler: no locks
        self.on_event = on_event
        """Hears what goes wrong (a frame that does not decode, a failed roll, a filling
        disk) and what recovered, as `optui.events.Event`s."""
        self.watch = watch
        self.watch_interval = watch_interval
        self._watched_at = -float("inf")
        self.quality = quality
        """Checks every decoded batch (`optui.feed.quality`); its events go to `on_event`."""
        self.silence_interval = silence_interval
        self._silence_checked = now

    def request_roll(self) -> None:
        """Roll everything journalled at the next step (safe from a signal handler or thread)."""
        self._roll_requested.set()

    def step(self) -> int:
        """Poll once: journal, decode and apply every frame due; roll when it is time.

        Returns the number of frames taken in.
        """
        frames = self.source.poll()
        now = self.clock()
        if frames:
            received = round(now * 1e9)
            self.status.last_frame_ns = received
            if self.journal is not None:
                keys = self.journal.append_many(frames, [received] * len(frames))
                self._last_key = keys[-1]
                self.status.last_frame_ns = split_key(keys[-1])[0]
            for index, frame in enumerate(frames):
                self.status.frames += 1
                try:
                    ticks = decode(frame)
                except FrameError as exc:
                    self.status.bad_frames += 1  # kept in the journal for diagnosis
                    key = keys[index] if self.journal is not None else None
                    self._event(bad_frame_event(now, key, frame, str(exc)))
                    continue
                self.status.packets += len(ticks)
                if self.quality is not None:
                    for event in self.quality.check(ticks, now):
                        self._event(event)
                self.state.update(ticks, received=now)
        self.status.rates = [*self.status.rates[-19:], (now, self.status.packets)]
        if self._last_key is not None and now - self._latest_written >= self.latest_interval:
            self._write_latest()
        if self._roll_requested.is_set():
            self._roll_requested = StopFlag()
            self.roll(everything=True)
        elif self.roller is not None and now - self._rolled_at >= self.roll_interval:
            self.roll()
        if self.quality is not None:
            self._check_quality(now)
        if self.watch is not None and now - self._watched_at >= self.watch_interval:
            self._watched_at = now
            for event in self.watch.check(now):
                self._event(event)
        return len(frames)

    def _check_quality(self, now: float) -> None:
        # A live feed that re-centred stopped streaming some strikes: not a silence.
        quality = self.quality
        assert quality is not None
        take = getattr(self.source, "take_unsubscribed", None)
        if callable(take):
            dropped = take()
            if dropped:
                quality.forget(dropped)
        if now - self._silence_checked >= self.silence_interval:
            self._silence_checked = now
            for event in quality.check_silent(now, self._market_open(now)):
                self._event(event)

    def _market_open(self, now: float) -> bool:
        """Whether the source's market is open: by the source's own market clock where it
        keeps one (the demo replaying a session at night, a replay of an archived day), else
        by the wall clock (a live feed)."""
        market_time = getattr(self.source, "market_time", None)
        return market_open_at(market_time() if callable(market_time) else now)

    def _event(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _write_latest(self) -> None:
        snapshot = self.state.snapshot()
        ticked = ~np.isnan(snapshot.received)
        assert self._last_key is not None and self.journal is not None
        self.journal.write_latest(snapshot.ticks[ticked], self._last_key)
        self._latest_written = self.clock()

    def roll(self, *, everything: bool = False) -> RollResult | None:
        """Roll closed minutes (or `everything`) of the journal into the archive.

        A failed roll is recorded and retried at the next interval; the frames stay in the
        journal, so nothing is lost.
        """
        if self.roller is None:
            return None
        self._rolled_at = self.clock()
        try:
            until = None if everything else _minute_start_ns(self._rolled_at)
            result = self.roller.roll(until_ns=until)
        except Exception as exc:  # a roll must never take the collector down
            self.status.last_roll_error = f"{type(exc).__name__}: {exc}"
            self.status.failed_rolls += 1
            self._event(
                Event(
                    time=self._rolled_at,
                    kind="storage",
                    severity="error",
                    code="storage.roll_failed",
                    message=f"rolling the journal into the archive failed: "
                    f"{self.status.last_roll_error}",
                    details={"failures_in_a_row": self.status.failed_rolls},
                    did="Kept every frame in the journal (nothing is deleted before it is "
                    f"archived) and retries in {self.roll_interval:g} s.",
                    do="Nothing if the next roll works. If it keeps failing, read the error: "
                    "a full disk or an archive you cannot write to need you.",
                )
            )
            return None
        if self.status.failed_rolls:
            self._event(
                Event(
                    time=self._rolled_at,
                    kind="storage",
                    severity="info",
                    code="storage.roll_recovered",
                    message=f"the archive roll works again after {self.status.failed_rolls} "
                    "failed attempt(s)",
                    did=f"Rolled everything that had waited ({result.rows:,} rows).",
                    clears="storage.roll_failed",
                )
            )
            self.status.failed_rolls = 0
        self.status.rolls += 1
        self.status.rolled_rows += result.rows
        self.status.last_roll = self._rolled_at
        self.status.last_roll_error = None
        return result

    def run(
        self,
        stop: StopFlag,
        *,
        duration: float | None = None,
        on_status: Callable[[EngineStatus], None] | None = None,
        status_interval: float = 1.0,
    ) -> None:
        """Step until `stop` is set, the source has finished, or `duration` has passed."""
        deadline = None if duration is None else self.clock() + duration
        reported = 0.0
        while not stop.is_set():
            self.step()
            now = self.clock()
            if on_status is not None and now - reported >= status_interval:
                on_status(self.status)
                reported = now
            if self.source.finished or (deadline is not None and now >= deadline):
                break
            stop.wait(self.poll_interval)

    def finish(self) -> None:
        """Take in what is due, write the latest state and roll everything (on shutdown).

        The journal stays open: whoever opened it closes it.
        """
        self.step()
        if self._last_key is not None:
            self._write_latest()
        self.roll(everything=True)


def quality_monitor_for(source: object) -> QualityMonitor:
    """Data-quality checks for `source`'s instruments (options get their own price band)."""
    from optui.feed.universe import Kind  # noqa: PLC0415

    universe = getattr(source, "universe", None)
    options = None
    if universe is not None:
        options = universe.instrument_token[universe.kind >= Kind.CALL]
    return QualityMonitor(option_tokens=options)


def _minute_start_ns(now: float) -> int:
    """Start of the minute `now` falls in: frames received before it form closed minutes."""
    ns = round(now * 1e9)
    return ns - ns % 60_000_000_000
