"""Benchmark: optui's Kite stream against the official KiteTicker, on the same emulator feed.

The Kite emulator runs in a subprocess (so neither client shares its interpreter) and streams
the demo market, sped up, to one connection subscribed to `--tokens` instruments in full mode
(Kite's heaviest packets). Each client in turn connects for `--seconds`:

- optui: `KiteSource` in this process, polled every 50 ms as the engine polls it, every frame
  decoded with `optui.feed.codec.decode` (so both clients do the same work: receive and parse);
- official: `kiteconnect.KiteTicker` (Twisted/Autobahn) in its own subprocess, counting the
  ticks its parser hands to `on_ticks`.

The emulator's own count of frames sent over the same window says whether a client kept up
(a client that keeps up receives what was sent, and the ratio then only says both kept up;
raise `--speed` until one falls behind). The emulator cuts off a reader more than 32 MiB
behind, so `disconnects` shows a client that fell too far behind.

    python tests/benchmarks/bench_stream.py [--tokens 3000] [--speed 10] [--seconds 8]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import sys
import textwrap
import time
import urllib.request
from typing import Any

from websockets.version import version as websockets_version

from optui.feed.codec import decode
from optui.feed.kite import KiteSource

EMULATOR = textwrap.dedent(
    """
    import json, sys
    from optui.emulator import Emulator
    emulator = Emulator(instruments={instruments}, speed={speed}).start()
    universe = emulator.market.instruments
    print(json.dumps({{
        "ws_url": emulator.ws_url,
        "api_url": emulator.api_url,
        "api_key": emulator.api_key,
        "tokens": [int(t) for t in universe.instrument_token[:{tokens}]],
        "access_tokens": [emulator.issue_access_token() for _ in range(2)],
    }}), flush=True)
    sys.stdin.read()
    emulator.stop()
    """
)

OFFICIAL = textwrap.dedent(
    """
    import json, os, sys, threading, time, urllib.request
    from kiteconnect import KiteTicker
    api_key, access_token, ws_url, api_url, tokens, warmup, seconds = json.loads(sys.argv[1])
    def sent():
        with urllib.request.urlopen(api_url + "/_emulator/stats", timeout=10) as response:
            body = json.load(response)
        return int(body.get("data", body)["frames_sent"])
    counts = {"frames": 0, "packets": 0, "disconnects": 0}
    first = threading.Event()
    def on_ticks(ws, ticks):
        counts["frames"] += 1
        counts["packets"] += len(ticks)
        first.set()
    def on_connect(ws, response):
        ws.subscribe(tokens)
        ws.set_mode(ws.MODE_FULL, tokens)
    def on_close(ws, code, reason):
        counts["disconnects"] += 1
    kws = KiteTicker(api_key, access_token, root=ws_url)
    kws.on_ticks, kws.on_connect, kws.on_close = on_ticks, on_connect, on_close
    kws.connect(threaded=True)
    first.wait(30)
    time.sleep(warmup)
    start = (time.monotonic(), time.process_time(), dict(counts), sent())
    time.sleep(seconds)
    end = (time.monotonic(), time.process_time(), dict(counts), sent())
    print(json.dumps({
        "elapsed": end[0] - start[0], "cpu": end[1] - start[1], "start": start[2],
        "end": end[2], "sent": end[3] - start[3],
    }), flush=True)
    os._exit(0)  # the Twisted reactor cannot be stopped cleanly from here
    """
)


def emulator_frames(api_url: str) -> int:
    with urllib.request.urlopen(f"{api_url}/_emulator/stats", timeout=10) as response:
        body = json.load(response)
    stats = body.get("data", body)
    return int(stats["frames_sent"])


def run_optui(feed: dict[str, Any], warmup: float, seconds: float) -> dict[str, Any]:
    plan = [dict.fromkeys(feed["tokens"], "full")]
    frames = packets = 0
    with KiteSource(
        api_key=feed["api_key"],
        access_token=feed["access_tokens"][0],
        ws_url=feed["ws_url"],
        plan=plan,
    ) as source:
        deadline = time.monotonic() + 30
        while not source.poll():
            if time.monotonic() > deadline:
                raise SystemExit("optui: no frame from the emulator in 30 s")
            time.sleep(0.05)
        time.sleep(warmup)
        source.poll()
        sent = emulator_frames(feed["api_url"])
        reconnects = source.health().reconnects
        start, cpu = time.monotonic(), time.process_time()  # every thread of this process
        while time.monotonic() - start < seconds:
            for frame in source.poll():
                frames += 1
                packets += len(decode(frame))
            time.sleep(0.05)  # the engine's poll interval is 0.25 s; poll more often here
        elapsed, cpu = time.monotonic() - start, time.process_time() - cpu
        sent = emulator_frames(feed["api_url"]) - sent
        reconnects = source.health().reconnects - reconnects
    return _rates(frames, packets, elapsed, cpu, sent, reconnects)


def run_official(feed: dict[str, Any], warmup: float, seconds: float) -> dict[str, Any]:
    args = [feed["api_key"], feed["access_tokens"][1], feed["ws_url"], feed["api_url"]]
    result = subprocess.run(
        [sys.executable, "-c", OFFICIAL, json.dumps([*args, feed["tokens"], warmup, seconds])],
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 60,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    start, end = report["start"], report["end"]
    return _rates(
        end["frames"] - start["frames"],
        end["packets"] - start["packets"],
        report["elapsed"],
        report["cpu"],
        report["sent"],
        end["disconnects"],
    )


def _rates(
    frames: int, packets: int, elapsed: float, cpu: float, sent: int, disconnects: int
) -> dict[str, Any]:
    return {
        "frames_per_s": round(frames / elapsed, 1),
        "packets_per_s": round(packets / elapsed),
        "emulator_frames_per_s": round(sent / elapsed, 1),
        "received_of_sent": round(frames / sent, 3) if sent else None,
        "cpu_cores": round(cpu / elapsed, 2),
        "packets_per_cpu_s": round(packets / cpu) if cpu else None,
        "disconnects": disconnects,
    }


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 1) if ours and theirs else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=9000)
    parser.add_argument("--tokens", type=int, default=3000)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    args = parser.parse_args()
    logging.getLogger("optui").setLevel(logging.ERROR)  # the JSON counts the disconnects

    code = EMULATOR.format(instruments=args.instruments, speed=args.speed, tokens=args.tokens)
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # it says so each time it cuts off a reader that lags
        text=True,
    ) as emulator:
        try:
            assert emulator.stdout is not None and emulator.stdin is not None
            feed = json.loads(emulator.stdout.readline())
            ours = run_optui(feed, args.warmup, args.seconds)
            theirs = run_official(feed, args.warmup, args.seconds)
        finally:
            if emulator.stdin is not None:
                emulator.stdin.close()
            try:
                emulator.wait(30)
            except subprocess.TimeoutExpired:
                emulator.kill()
    print(
        json.dumps(
            {
                "benchmark": "optui KiteSource + codec.decode vs kiteconnect.KiteTicker, "
                "one connection, full mode, same emulator feed",
                "tokens": args.tokens,
                "speed": args.speed,
                "seconds": args.seconds,
                "python": platform.python_version(),
                "websockets": websockets_version,
                "optui": ours,
                "official": theirs,
                "packets_per_s_ratio": _ratio(ours["packets_per_s"], theirs["packets_per_s"]),
                "packets_per_cpu_s_ratio": _ratio(
                    ours["packets_per_cpu_s"], theirs["packets_per_cpu_s"]
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
