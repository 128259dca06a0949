"""The in-memory market state: latest tick per token, from real encoded frames."""

from __future__ import annotations

import threading

import numpy as np

from optui.feed.codec import MODE_FULL, MODE_LTP, decode, empty_ticks, encode
from optui.feed.state import MarketState


def _ticks(tokens: list[int], prices: list[float], mode: int = MODE_LTP) -> np.ndarray:
    ticks = empty_ticks(len(tokens))
    ticks["instrument_token"] = tokens
    ticks["last_price"] = prices
    ticks["mode"] = mode
    return decode(encode(ticks))


def test_latest_tick_wins_and_untouched_tokens_stay_unticked() -> None:
    state = MarketState([256265, 260105, 265])
    state.update(_ticks([256265, 260105], [24000.5, 52000.0]), received=10.0)
    state.update(_ticks([256265, 256265], [24001.0, 24002.25]), received=11.0)
    snap = state.snapshot()
    nifty, bank, sensex = snap.row(256265), snap.row(260105), snap.row(265)
    assert nifty is not None and bank is not None
    assert snap.ticks["last_price"][nifty] == 24002.25  # the later packet of the frame
    assert snap.received[nifty] == 11.0 and snap.received[bank] == 10.0
    assert sensex is None
    assert snap.rows([265, 260105, 999]).tolist() == [-1, bank, -1]
    assert (snap.packets, snap.frames, snap.updated) == (4, 2, 11.0)


def test_last_prices_reads_a_few_tokens_nan_where_unticked() -> None:
    state = MarketState([256265, 260105, 265])
    state.update(_ticks([256265, 260105], [24000.5, 52000.0]), received=10.0)
    prices = state.last_prices([260105, 265, 999, 256265])
    assert prices[0] == 52000.0 and prices[3] == 24000.5
    assert np.isnan(prices[1]) and np.isnan(prices[2])


def test_unannounced_tokens_are_added_not_dropped() -> None:
    state = MarketState([256265])
    state.update(_ticks([5, 256265, 1 << 20], [1.0, 2.0, 3.0], MODE_FULL), received=1.0)
    state.update(_ticks([7], [4.0]), received=2.0)
    snap = state.snapshot()
    assert snap.tokens.tolist() == [5, 7, 256265, 1 << 20]
    assert [snap.ticks["last_price"][snap.row(t)] for t in (5, 7, 256265, 1 << 20)] == [
        1.0,
        4.0,
        2.0,
        3.0,
    ]


def test_a_snapshot_is_a_copy() -> None:
    state = MarketState([1])
    state.update(_ticks([1], [1.0]), received=1.0)
    snap = state.snapshot()
    state.update(_ticks([1], [2.0]), received=2.0)
    assert snap.ticks["last_price"][0] == 1.0
    assert state.snapshot().ticks["last_price"][0] == 2.0


def test_heartbeat_counts_a_frame_and_changes_no_tick() -> None:
    state = MarketState([1])
    state.update(decode(b"\x00"), received=5.0)
    snap = state.snapshot()
    assert (snap.frames, snap.packets, snap.updated, snap.row(1)) == (1, 0, 5.0, None)


def test_concurrent_writers_and_readers_see_whole_frames() -> None:
    """Every snapshot holds one frame's prices throughout, never a mix of two."""
    tokens = list(range(1, 301))
    state = MarketState(tokens)
    frames = [_ticks(tokens, [float(k)] * len(tokens)) for k in range(1, 41)]
    mixed: list[set[float]] = []

    def write() -> None:
        for k, frame in enumerate(frames):
            state.update(frame, received=float(k))

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        prices = state.snapshot().ticks["last_price"]
        seen = set(prices.tolist())
        if len(seen) > 1:
            mixed.append(seen)
    writer.join()
    assert not mixed
    assert state.snapshot().packets == 300 * 40
