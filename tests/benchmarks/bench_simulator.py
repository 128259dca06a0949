"""Benchmark: how fast the demo market produces ticks, with and without Kite encoding.

Builds a 9000-instrument market (the size of three full Kite connections), lets every
instrument tick once a simulated second for a simulated minute, and prints one JSON object:
ticks generated per CPU second, and CPU milliseconds per simulated second (the budget is well
under 10 ms at one tick per instrument per second), split into generating the ticks
(`ticks_to`, which includes copying the round out) and encoding them into Kite frames of 500
packets, plus `advance_to`, which does both the way a feed uses it. The reference is real
time: `times_faster_than_real_time` is simulated seconds per CPU second of `advance_to`.

    .venv/bin/python tests/benchmarks/bench_simulator.py [--instruments 9000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date

from optui.feed.codec import encode
from optui.feed.simulator import KITE_PACKETS_PER_FRAME, DemoMarket

SESSION = date(2026, 11, 23)


def run(instruments: int, seconds: int, seed: int = 7) -> dict[str, object]:
    build_start = time.process_time()
    market = DemoMarket(seed=seed, session=SESSION, instruments=instruments)
    build_cpu = time.process_time() - build_start
    market.ticks_to(market.open_epoch + 4)  # the first rounds quote every book: warm up

    generate: list[float] = []
    encode_cpu: list[float] = []
    frames = packets = 0
    start = market.open_epoch + 5
    for k in range(seconds):
        t0 = time.process_time()
        (ticks,) = market.ticks_to(start + k)
        t1 = time.process_time()
        for i in range(0, len(ticks), KITE_PACKETS_PER_FRAME):
            encode(ticks[i : i + KITE_PACKETS_PER_FRAME])
            frames += 1
        t2 = time.process_time()
        packets += len(ticks)
        generate.append(t1 - t0)
        encode_cpu.append(t2 - t1)

    # The path a feed uses: advance_to generates and encodes in one call.
    advance: list[float] = []
    start += seconds
    for k in range(seconds):
        t0 = time.process_time()
        market.advance_to(start + k)
        advance.append(time.process_time() - t0)

    total = [g + e for g, e in zip(generate, encode_cpu, strict=True)]
    return {
        "benchmark": "demo_market_ticks",
        "instruments": len(market.instruments),
        "simulated_seconds": seconds,
        "ticks": packets,
        "frames": frames,
        "build_cpu_s": round(build_cpu, 3),
        "ticks_per_cpu_second_generate": round(packets / sum(generate)),
        "ticks_per_cpu_second_with_encode": round(packets / sum(total)),
        "cpu_ms_per_simulated_second": {
            "generate_median": round(1e3 * statistics.median(generate), 3),
            "encode_median": round(1e3 * statistics.median(encode_cpu), 3),
            "total_median": round(1e3 * statistics.median(total), 3),
            "total_min": round(1e3 * min(total), 3),
            "total_mean": round(1e3 * statistics.fmean(total), 3),
            "advance_to_median": round(1e3 * statistics.median(advance), 3),
        },
        # The reference is the wall clock: how many times faster than real time one core
        # runs the whole market (advance_to: ticks and frames), at one tick per instrument
        # per second. 1.0 would mean the demo alone takes a full core.
        "times_faster_than_real_time": round(1 / statistics.median(advance), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=9000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    print(json.dumps(run(args.instruments, args.seconds), indent=2))


if __name__ == "__main__":
    main()
