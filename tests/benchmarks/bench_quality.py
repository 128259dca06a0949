"""Benchmark: the data-quality checks (`QualityMonitor.check`) against `codec.decode` of the
same frames, the reference: checking must cost less than decoding.

Frames are the demo market's at 9,000 instruments (every instrument ticks once a simulated
second, 500 packets a frame, index packets then full packets, as a planned Kite subscription
sends them). The monitor first takes in one simulated second untimed (it then knows every
token, as it does a second after the open); each timed round then checks the following
seconds with a fresh copy of that warm monitor, so the timestamps move forwards as they do
live (replaying the same frames to a monitor that has seen them would time its rare path, the
one for timestamps going back). Rounds of decoding and of checking alternate, so both see the
same machine load; the best round of each counts. Two ways: as the engine runs them (each
frame decoded, then its rows checked while they are still in the CPU's cache) and each in a
loop of its own over all the frames (rows decoded beforehand, so no longer cached).

    .venv/bin/python tests/benchmarks/bench_quality.py [--instruments 9000] [--seconds 10]

Prints one JSON object: microseconds per frame for each, packets per second, and
`check_over_decode` (below 1.0 is the goal) both ways. Also the cost of one `check_silent`
over every token, which the engine calls about once a second, and the number of events raised
(0: the demo's stream is clean, so the timed path is the clean one).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from datetime import date

import numpy as np

from optui.feed.codec import decode
from optui.feed.quality import QualityMonitor
from optui.feed.simulator import DemoMarket
from optui.feed.universe import Kind

SESSION = date(2026, 11, 23)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=9000)
    parser.add_argument("--seconds", type=int, default=10, help="simulated seconds timed")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    market = DemoMarket(7, SESSION, instruments=args.instruments)
    universe = market.instruments
    options = universe.instrument_token[universe.kind >= Kind.CALL]
    start = market.open_epoch + 60  # a minute in: every book quoted, every token known
    market.advance_to(start - 1)
    warm_frames = market.advance_to(start)
    seconds = [market.advance_to(start + s) for s in range(1, args.seconds + 1)]
    frames = [frame for second in seconds for frame in second]
    batches = [decode(frame) for frame in frames]
    arrival = [start + s + 0.05 for s, second in enumerate(seconds, 1) for _ in second]
    packets = sum(len(b) for b in batches)

    warm = QualityMonitor(option_tokens=options)
    for frame in warm_frames:
        warm.check(decode(frame), start + 0.05)

    decode_best = check_best = float("inf")
    piped_decode = piped_check = float("inf")
    events = 0
    clock = time.perf_counter
    for _ in range(args.rounds):
        # As the engine runs them: each frame decoded, then its rows checked at once (while
        # they are still in the CPU's cache), each call timed.
        monitor = copy.deepcopy(warm)
        spent_decode = spent_check = 0.0
        for frame, now in zip(frames, arrival, strict=True):
            t0 = clock()
            ticks = decode(frame)
            t1 = clock()
            events += len(monitor.check(ticks, now))
            spent_check += clock() - t1
            spent_decode += t1 - t0
        piped_decode = min(piped_decode, spent_decode)
        piped_check = min(piped_check, spent_check)

        # Each over all the frames in a loop of its own (the rows decoded beforehand).
        t0 = time.perf_counter()
        for frame in frames:
            decode(frame)
        decode_best = min(decode_best, time.perf_counter() - t0)

        monitor = copy.deepcopy(warm)
        t0 = time.perf_counter()
        for ticks, now in zip(batches, arrival, strict=True):
            events += len(monitor.check(ticks, now))
        check_best = min(check_best, time.perf_counter() - t0)

    silent_best = float("inf")
    for k in range(50):
        t0 = time.perf_counter()
        events += len(monitor.check_silent(start + args.seconds + 0.5 + 0.01 * k, True))
        silent_best = min(silent_best, time.perf_counter() - t0)

    n = len(frames)
    result = {
        "benchmark": "quality.QualityMonitor.check vs codec.decode (reference), same frames",
        "instruments": len(universe),
        "simulated_seconds": args.seconds,
        "frames": n,
        "packets_per_frame": round(packets / n),
        "engine_path": {
            "decode_us_per_frame": round(1e6 * piped_decode / n, 1),
            "check_us_per_frame": round(1e6 * piped_check / n, 1),
            "check_over_decode": round(piped_check / piped_decode, 2),
        },
        "separate_loops": {
            "decode_us_per_frame": round(1e6 * decode_best / n, 1),
            "check_us_per_frame": round(1e6 * check_best / n, 1),
            "check_over_decode": round(check_best / decode_best, 2),
        },
        "decode_packets_per_s": round(packets / piped_decode),
        "check_packets_per_s": round(packets / piped_check),
        "check_silent_us": round(1e6 * silent_best, 1),
        "events": events,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
