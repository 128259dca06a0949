"""A stop request that is safe to set from a signal handler."""

from __future__ import annotations

import time

__all__ = ["StopFlag"]


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
