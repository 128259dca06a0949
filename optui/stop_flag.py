"""A stop request that is safe to set from a signal handler, and the handlers that set it."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["StopFlag", "stop_on_signals"]


class StopFlag:
    """A stop request that a signal handler may set.

    Setting it takes no lock: a `threading.Event` set from a signal handler deadlocks when
    the handler interrupts the main thread inside that Event's own `wait` (the handler runs
    on the main thread, which already holds the Event's lock). Plain attribute writes are
    atomic, so other threads may set it too.
    """

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Sleep until set or `timeout` seconds pass (checking every 50 ms); True if set."""
        deadline = time.monotonic() + timeout
        while not self._set:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.05))
        return self._set


@contextmanager
def stop_on_signals(stop: StopFlag, on_roll: Callable[[], None] | None = None) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (the loop ends cleanly, exit 0) instead of killing the
    process; SIGUSR1 (sent by `optui roll`) calls `on_roll` when given."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGUSR1 and on_roll is not None:
            on_roll()
        else:
            stop.set()

    signals = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGUSR1] if on_roll else [])
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
