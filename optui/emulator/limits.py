"""Kite's REST rate limits, enforced when asked (`Emulator(rate_limits=True)`,
`optui emulate --rate-limits`), so a client's own throttling can be tried against them.

Kite allows, per API key: quotes (``/quote``, ``/quote/ltp``, ``/quote/ohlc``) 1 request a
second, historical candles 3 a second, everything else 10 a second, and answers more with
HTTP 429. Off by default: tests that call routes back to back should not depend on timing.
The window is a sliding second; refused requests do not count against it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final

__all__ = ["KITE_RATE_LIMITS", "RateLimits", "rate_class"]

KITE_RATE_LIMITS: Final[Mapping[str, int]] = {"quote": 1, "historical": 3, "other": 10}


def rate_class(path: str) -> str:
    """Which of Kite's limits a route falls under."""
    if path == "/quote" or path.startswith("/quote/"):
        return "quote"
    if path.startswith("/instruments/historical/"):
        return "historical"
    return "other"


class RateLimits:
    """Requests per sliding second, per class of route."""

    def __init__(
        self,
        per_second: Mapping[str, int] = KITE_RATE_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = dict(per_second)
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {name: deque() for name in self._limits}

    def admit(self, path: str) -> bool:
        """True if a request to `path` is within its limit now (and counts it)."""
        name = rate_class(path)
        now = self._clock()
        with self._lock:
            seen = self._seen[name]
            while seen and now - seen[0] >= 1.0:
                seen.popleft()
            if len(seen) >= self._limits[name]:
                return False
            seen.append(now)
            return True
