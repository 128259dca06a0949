"""Benchmark: `optui.feed.codec.decode` against the official kiteconnect parser, same run.

Frames are 500 full-mode packets (Kite's heaviest kind, with depth) holding realistic values:
option prices in paise, quantities, OI, and exchange timestamps of a trading day. Also frames
whose kinds are interleaved at random (the decoder's worst case), the demo market's own frames
at 9,000 instruments (kinds in runs, as a planned subscription sends them), and `encode`.

    python tests/benchmarks/bench_codec.py [--packets 500] [--seconds 2]

Prints one JSON object: packets per second for each parser and their ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
from kiteconnect import KiteTicker

from optui.feed.codec import (
    MODE_FULL,
    MODE_INDEX_FULL,
    MODE_QUOTE,
    decode,
    empty_ticks,
    encode,
)
from optui.feed.simulator import DemoMarket

SESSION_START = 1_763_869_500  # 2025-11-23 09:15 IST, epoch seconds


def realistic_ticks(n: int, rng: np.random.Generator, modes: list[int]) -> np.ndarray:
    ticks = empty_ticks(n)
    ticks["mode"] = rng.choice(modes, n)
    is_index = ticks["mode"] == MODE_INDEX_FULL
    ticks["instrument_token"] = np.where(
        is_index, (rng.integers(1000, 1100, n) << 8) | 9, (rng.integers(10**4, 10**6, n) << 8) | 2
    )
    last = np.round(rng.uniform(0.05, 900.0, n), 2)
    ticks["last_price"] = last
    ticks["close"] = np.round(last * rng.uniform(0.8, 1.2, n), 2)
    ticks["open"] = np.round(last * rng.uniform(0.9, 1.1, n), 2)
    ticks["high"] = np.maximum(last, ticks["open"]) + 1.5
    ticks["low"] = np.maximum(np.minimum(last, ticks["open"]) - 1.5, 0.05)
    ticks["average_traded_price"] = np.round((ticks["high"] + ticks["low"]) / 2, 2)
    ticks["last_traded_quantity"] = rng.integers(1, 40, n) * 65
    ticks["volume_traded"] = rng.integers(0, 5 * 10**7, n)
    ticks["total_buy_quantity"] = rng.integers(0, 10**6, n)
    ticks["total_sell_quantity"] = rng.integers(0, 10**6, n)
    ticks["oi"] = rng.integers(0, 2 * 10**7, n)
    ticks["oi_day_high"] = ticks["oi"] + 1000
    ticks["oi_day_low"] = np.maximum(ticks["oi"] - 1000, 0)
    ticks["exchange_timestamp"] = SESSION_START + rng.integers(0, 22_500, n)
    ticks["last_trade_time"] = ticks["exchange_timestamp"] - rng.integers(0, 5, n)
    steps = np.arange(1, 6) * 0.05
    ticks["depth_buy_price"] = np.maximum(last[:, None] - steps, 0.05)
    ticks["depth_sell_price"] = last[:, None] + steps
    ticks["depth_buy_quantity"] = rng.integers(65, 65 * 200, (n, 5))
    ticks["depth_sell_quantity"] = rng.integers(65, 65 * 200, (n, 5))
    ticks["depth_buy_orders"] = rng.integers(1, 60, (n, 5))
    ticks["depth_sell_orders"] = rng.integers(1, 60, (n, 5))
    return ticks


def packets_per_second(
    parse: Callable[[bytes], Any], frames: list[bytes], packets: int, seconds: float
) -> float:
    """Best of several timed rounds (each at least `seconds` / 5) over all `frames`."""
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        rounds = 0
        while time.perf_counter() - start < seconds / 5:
            for frame in frames:
                parse(frame)
            rounds += 1
        best = min(best, (time.perf_counter() - start) / (rounds * len(frames)))
        if time.perf_counter() > deadline:
            return packets / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    rng = np.random.default_rng(2026)
    official = KiteTicker.__new__(KiteTicker)._parse_binary
    results: dict[str, Any] = {
        "benchmark": "codec.decode vs kiteconnect.KiteTicker._parse_binary",
        "packets_per_frame": args.packets,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for name, modes in (
        ("full", [MODE_FULL]),
        ("mixed", [MODE_FULL, MODE_QUOTE, MODE_INDEX_FULL]),
    ):
        batches = [realistic_ticks(args.packets, rng, modes) for _ in range(8)]
        frames = [encode(batch) for batch in batches]
        theirs = packets_per_second(official, frames, args.packets, args.seconds)
        ours = packets_per_second(decode, frames, args.packets, args.seconds)
        results[name] = {
            "official_packets_per_s": round(theirs),
            "optui_packets_per_s": round(ours),
            "ratio": round(ours / theirs, 1),
        }
    # Frames as the demo market (and Kite, for a planned subscription) sends them: index,
    # stock and option packets in runs of their kind, 500 packets a frame.
    market = DemoMarket(7, date(2026, 11, 23), instruments=9000)
    demo = market.advance_to(market.open_epoch + 3)
    packets = sum(int.from_bytes(frame[:2], "big") for frame in demo) / len(demo)
    theirs = packets_per_second(official, demo, round(packets), args.seconds)
    ours = packets_per_second(decode, demo, round(packets), args.seconds)
    results["demo_9000"] = {
        "official_packets_per_s": round(theirs),
        "optui_packets_per_s": round(ours),
        "ratio": round(ours / theirs, 1),
    }
    batches = [realistic_ticks(args.packets, rng, [MODE_FULL]) for _ in range(8)]
    results["encode_full_packets_per_s"] = round(
        packets_per_second(encode, batches, args.packets, args.seconds)  # type: ignore[arg-type]
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
