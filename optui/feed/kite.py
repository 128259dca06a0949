"""Live Kite as the engine's source: Kite's websocket frames, untouched, with a feed that never
dies silently.

`KiteSource` runs one `KiteStream` (see `optui.feed.kite_stream`) per connection of a
subscription plan (Kite allows 3 per API key, 3000 instruments each) on an asyncio loop in a
daemon thread. The engine calls `poll()` from its own thread a few times a second and gets
every binary frame received since, in arrival order; none is ever dropped (the queue is
unbounded: the journal, not this queue, decides what is kept). What happened to the
connections comes out of `events()` and `health()`.

The source is `finished` once the streams are stopped for good: after `close()`, or when Kite
refuses the access token (it expires daily at 06:00 IST), at which point retrying cannot help
and the user must log in again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from optui.feed.kite_events import (
    ConnectionHealth,
    StreamEvent,
    StreamHealth,
)
from optui.feed.kite_stream import AUTH_MESSAGE, KiteStream, check_tokens

if TYPE_CHECKING:
    from optui.settings import Settings

__all__ = [
    "AUTH_MESSAGE",
    "MAX_CONNECTIONS",
    "ConnectionHealth",
    "KiteSource",
    "KiteStream",
    "StreamEvent",
    "StreamHealth",
    "kite_source",
]

MAX_CONNECTIONS = 3
"""Kite's limit of websocket connections per API key."""

_log = logging.getLogger(__name__)


class _HasConnections(Protocol):
    """A subscription plan (`optui.kite.planner.Plan`): one token -> mode map per connection."""

    @property
    def connections(self) -> Sequence[Mapping[int, str]]: ...


def check_plan(plan: Sequence[Mapping[int, str]]) -> list[dict[int, str]]:
    """A validated copy of `plan`, or ValueError saying what is wrong with it."""
    if len(plan) > MAX_CONNECTIONS:
        raise ValueError(
            f"the plan uses {len(plan)} connections; Kite allows {MAX_CONNECTIONS} per API key"
        )
    checked = [check_tokens(tokens, index) for index, tokens in enumerate(plan)]
    seen: dict[int, int] = {}
    for index, tokens in enumerate(checked):
        for token in tokens:
            if token in seen:
                raise ValueError(
                    f"token {token} is on connections {seen[token]} and {index}; "
                    "subscribe each instrument on one connection only"
                )
            seen[token] = index
    return checked


class KiteSource:
    """The engine's source for live Kite (see the module docstring).

    Thread-safe: `poll`, `events`, `health`, `resubscribe` and `close` may be called from any
    thread. Also a context manager (closes on exit).
    """

    def __init__(
        self,
        *,
        api_key: str,
        access_token: str,
        ws_url: str,
        plan: Sequence[Mapping[int, str]],
        instruments: tuple[date, str] | None = None,
        watchdog: float = 5.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        clock: Callable[[], float] = time.time,
        history: int = 500,
        close_timeout: float = 2.0,
        open_timeout: float = 10.0,
    ) -> None:
        self._plan = check_plan(plan)
        if not api_key:
            raise ValueError("no Kite API key: set kite.api_key (or KITE_API_KEY)")
        if not access_token:
            raise ValueError("no Kite access token: run `optui login`")
        self._api_key = api_key
        self._access_token = access_token
        self._ws_url = ws_url
        self._instruments = instruments
        self.watchdog = watchdog
        self.backoff = backoff
        self.clock = clock
        self.close_timeout = close_timeout
        self.open_timeout = open_timeout
        # deque.append and popleft are atomic: the loop thread appends, poll() pops.
        self._frames: deque[bytes] = deque()
        # Bounded only against a caller that never drains them; frames are never bounded.
        self._events: deque[StreamEvent] = deque(maxlen=10_000)
        self._history: deque[StreamEvent] = deque(maxlen=history)
        self._streams: dict[int, KiteStream] = {}
        self._retired: list[ConnectionHealth] = []
        self._auth_failed = False
        self._finished = False
        self._closed = False
        self._close_lock = threading.Lock()
        self._lock = threading.Lock()  # guards _streams, _retired and _history for health()
        self._stopping: set[asyncio.Task[None]] = set()  # streams retired by a new plan
        for index, tokens in enumerate(self._plan):
            if tokens:
                self._stream(index, tokens)  # listed now, so health() shows them at once
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run_loop, name="kite-source", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        tokens = sum(len(tokens) for tokens in self._plan)
        return (
            f"KiteSource(connections={sum(1 for t in self._plan if t)}, tokens={tokens}, "
            f"finished={self._finished})"
        )

    # -- the Source protocol ----------------------------------------------------------------

    def poll(self) -> list[bytes]:
        """Every binary frame received since the previous call, untouched, in arrival order
        (heartbeats excluded)."""
        frames = self._frames
        return [frames.popleft() for _ in range(len(frames))]

    @property
    def finished(self) -> bool:
        """True once stopped for good: after `close()` or a refused access token."""
        return self._finished

    def instruments(self) -> tuple[date, str] | None:
        return self._instruments

    # -- feed health ------------------------------------------------------------------------

    def events(self) -> list[StreamEvent]:
        """Events since the previous call, oldest first."""
        events = self._events
        return [events.popleft() for _ in range(len(events))]

    def health(self) -> StreamHealth:
        """A snapshot of every connection's counters and the recent events."""
        with self._lock:
            connections = [dataclasses.replace(stream.health) for stream in self._streams.values()]
            connections += [dataclasses.replace(health) for health in self._retired]
            recent = tuple(self._history)
        connections.sort(key=lambda health: health.connection)
        return StreamHealth(
            connections=tuple(connections),
            finished=self._finished,
            auth_failed=self._auth_failed,
            queued_frames=len(self._frames),
            recent_events=recent,
        )

    @property
    def running(self) -> bool:
        """True while the loop's thread runs (it ends after `close()` or a refused token)."""
        return self._thread.is_alive()

    @property
    def auth_failed(self) -> bool:
        """True once Kite refused the access token (the user must log in again)."""
        return self._auth_failed

    # -- control ----------------------------------------------------------------------------

    def resubscribe(self, plan: Sequence[Mapping[int, str]] | _HasConnections) -> None:
        """Subscribe `plan` instead: each open connection gets only the difference
        (unsubscribe, subscribe, mode), without reconnecting. ValueError for a bad plan."""
        checked = check_plan(_connections(plan))
        if self._finished:
            return
        with contextlib.suppress(RuntimeError):  # the loop has just closed: nothing to do
            self._loop.call_soon_threadsafe(self._apply, checked)

    def close(self) -> None:
        """Stop every connection (cleanly when it can, within a bounded time) and the loop's
        thread. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        with contextlib.suppress(RuntimeError):  # the loop already ended (token refused)
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self.close_timeout * 2 + 1.0)
        if self._thread.is_alive():
            _log.warning("the Kite stream's thread did not stop in time; leaving it (daemon)")
        self._finished = True

    def __enter__(self) -> KiteSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the loop's thread ------------------------------------------------------------------

    def _run_loop(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except Exception:
            _log.exception("the Kite stream's loop failed")
            self._event(
                StreamEvent(self.clock(), "error", "the Kite stream stopped on an internal error")
            )
        finally:
            try:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self._finished = True

    async def _main(self) -> None:
        for stream in list(self._streams.values()):
            self._start(stream)
        await self._stop.wait()
        streams = list(self._streams.values())
        if streams:
            await asyncio.gather(*(stream.stop() for stream in streams), return_exceptions=True)

    def _stream(self, index: int, tokens: Mapping[int, str]) -> KiteStream:
        """A stream for connection `index`, listed in `_streams` (started by `_start`)."""
        stream = KiteStream(
            api_key=self._api_key,
            access_token=self._access_token,
            ws_url=self._ws_url,
            tokens=tokens,
            on_frame=self._frame,
            on_event=self._event,
            connection=index,
            watchdog=self.watchdog,
            backoff=self.backoff,
            open_timeout=self.open_timeout,
            close_timeout=self.close_timeout,
            clock=self.clock,
        )
        with self._lock:
            self._retired = [h for h in self._retired if h.connection != index]
            self._streams[index] = stream
        return stream

    def _start(self, stream: KiteStream) -> None:
        stream.start().add_done_callback(lambda _task: self._ended(stream))

    def _apply(self, plan: list[dict[int, str]]) -> None:
        """On the loop: hand each stream its new tokens; start and stop streams as
        connections gain or lose all their tokens."""
        if self._stop.is_set():
            return
        self._plan = plan
        for index in sorted(set(range(len(plan))) | set(self._streams)):
            tokens = plan[index] if index < len(plan) else {}
            stream = self._streams.get(index)
            if stream is not None and not tokens:
                with self._lock:
                    del self._streams[index]
                    self._retired.append(stream.health)
                task = asyncio.get_running_loop().create_task(stream.stop())
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
            elif stream is not None:
                stream.update(tokens)
            elif tokens:
                self._start(self._stream(index, tokens))

    def _ended(self, stream: KiteStream) -> None:
        """A stream's task ended. When it ended by itself (token refused, unusable URL) and
        no stream is left running, the source has finished."""
        if self._streams.get(stream.connection) is not stream:
            return  # retired by a new plan, or stopped by close()
        if all(s.stopped for s in self._streams.values()):
            self._stop.set()

    def _frame(self, data: bytes, received: float) -> None:
        self._frames.append(data)

    def _event(self, event: StreamEvent) -> None:
        self._events.append(event)
        with self._lock:
            self._history.append(event)
        if event.kind == "auth" and not self._auth_failed:
            # One token serves every connection: when Kite refuses it, all of them stop.
            self._auth_failed = True
            self._stop.set()


def _connections(
    plan: Sequence[Mapping[int, str]] | _HasConnections,
) -> Sequence[Mapping[int, str]]:
    if isinstance(plan, Sequence):
        return plan
    return tuple(plan.connections)


def kite_source(
    settings: Settings,
    access_token: str,
    plan: Sequence[Mapping[int, str]] | _HasConnections,
    instruments: tuple[date, str] | None = None,
    *,
    watchdog: float = 5.0,
    backoff: tuple[float, float] = (0.5, 30.0),
) -> KiteSource:
    """A `KiteSource` on the settings' websocket URL and API key for `plan` (a planner's
    `Plan`, or one token -> mode map per connection), within `kite.connections`."""
    api_key = settings.kite.api_key
    if not api_key:
        raise ValueError(
            "kite.api_key is not set: put it in config.toml ([kite] api_key = ...) "
            "or the KITE_API_KEY environment variable"
        )
    connections = _connections(plan)
    used = sum(1 for tokens in connections if tokens)
    if used > settings.kite.connections:
        raise ValueError(
            f"the subscription plan needs {used} websocket connections but kite.connections "
            f"is {settings.kite.connections}: raise it (Kite allows up to {MAX_CONNECTIONS}) "
            "or subscribe fewer strikes or expiries"
        )
    return KiteSource(
        api_key=api_key,
        access_token=access_token,
        ws_url=settings.kite.ws_url,
        plan=list(connections),
        instruments=instruments,
        watchdog=watchdog,
        backoff=backoff,
    )
