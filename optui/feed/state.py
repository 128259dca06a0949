"""The market state: the latest tick of every instrument, in memory.

Every source (demo, live Kite, replay) hands decoded frames to `MarketState.update`; readers
(the screens, `optui status`) take a `snapshot`, a consistent copy they may keep. Updates and
snapshots are vectorised and guarded by one lock, so a feed thread can write while the UI
thread reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from optui.feed.codec import TICK_DTYPE, Ticks

__all__ = ["MarketSnapshot", "MarketState"]


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """A copy of the market state at one moment.

    `ticks[i]` is the latest tick of `tokens[i]` (tokens sorted ascending), `received[i]` the
    wall-clock time it arrived (NaN before the first tick). `packets` and `frames` count what
    was applied since the state was created; `updated` is the time of the latest frame.
    """

    tokens: npt.NDArray[np.uint32]
    ticks: Ticks
    received: npt.NDArray[np.float64]
    packets: int
    frames: int
    updated: float | None

    def row(self, token: int) -> int | None:
        """Index of `token` in this snapshot, or None when it has never ticked."""
        i = int(np.searchsorted(self.tokens, token))
        if i < len(self.tokens) and self.tokens[i] == token and not np.isnan(self.received[i]):
            return i
        return None

    def rows(self, tokens: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """Index of each token, -1 where it is unknown or has not ticked yet."""
        wanted = np.asarray(tokens, dtype=np.uint32)
        at = np.searchsorted(self.tokens, wanted)
        inside = at < len(self.tokens)
        found = np.zeros(wanted.shape, dtype=bool)
        found[inside] = self.tokens[at[inside]] == wanted[inside]
        found[found] = ~np.isnan(self.received[at[found]])
        return np.where(found, at, -1)


class MarketState:
    """Latest tick per instrument token.

    `tokens` pre-sizes the state for a known universe; a token that was not announced (a
    live feed may send one) is added on the fly, so no tick is ever dropped.
    """

    def __init__(self, tokens: npt.ArrayLike = ()) -> None:
        self._lock = threading.Lock()
        self._tokens = np.unique(np.asarray(tokens, dtype=np.uint32))
        self._ticks = np.zeros(len(self._tokens), dtype=TICK_DTYPE)
        self._received = np.full(len(self._tokens), np.nan)
        self._packets = 0
        self._frames = 0
        self._updated: float | None = None

    def update(self, ticks: Ticks, received: float) -> None:
        """Apply one decoded frame; within it, a later packet of a token wins."""
        with self._lock:
            self._frames += 1
            self._updated = received
            if len(ticks) == 0:
                return
            tokens = ticks["instrument_token"]
            at = np.searchsorted(self._tokens, tokens)
            known = at < len(self._tokens)
            known[known] = self._tokens[at[known]] == tokens[known]
            if not known.all():
                self._grow(tokens[~known])
                at = np.searchsorted(self._tokens, tokens)
            # Keep only the last packet of each token, so the result does not depend on
            # how numpy orders duplicate writes.
            reversed_at = at[::-1]
            _, last = np.unique(reversed_at, return_index=True)
            keep = len(at) - 1 - last
            self._ticks[at[keep]] = ticks[keep]
            self._received[at[keep]] = received
            self._packets += len(ticks)

    def last_prices(self, tokens: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Latest price of each token, NaN where it has not ticked: a cheap read for callers
        that need a few prices (the live feed re-centring on the indices), not a snapshot."""
        wanted = np.asarray(tokens, dtype=np.uint32)
        with self._lock:
            at = np.searchsorted(self._tokens, wanted)
            inside = at < len(self._tokens)
            found = np.zeros(wanted.shape, dtype=bool)
            found[inside] = self._tokens[at[inside]] == wanted[inside]
            found[found] = ~np.isnan(self._received[at[found]])
            prices = np.full(wanted.shape, np.nan)
            prices[found] = self._ticks["last_price"][at[found]]
        return prices

    def _grow(self, new_tokens: npt.NDArray[np.uint32]) -> None:
        tokens = np.unique(np.concatenate([self._tokens, new_tokens]))
        ticks = np.zeros(len(tokens), dtype=TICK_DTYPE)
        received = np.full(len(tokens), np.nan)
        old = np.searchsorted(tokens, self._tokens)
        ticks[old] = self._ticks
        received[old] = self._received
        self._tokens, self._ticks, self._received = tokens, ticks, received

    def snapshot(self) -> MarketSnapshot:
        """A consistent copy of the whole state."""
        with self._lock:
            return MarketSnapshot(
                tokens=self._tokens.copy(),
                ticks=self._ticks.copy(),
                received=self._received.copy(),
                packets=self._packets,
                frames=self._frames,
                updated=self._updated,
            )
