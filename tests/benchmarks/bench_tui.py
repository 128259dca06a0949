"""Benchmark: the TUI under full Kite load.

The app runs headless (Textual's test driver, the real app and screens) on the demo market at
`--instruments` (default 9,000: Kite's 3 connections × 3,000) instruments, each ticking once a
simulated second, for `--seconds` (default 60) of wall time at 1×. Measured in this process:

- CPU share of the app process (CPU seconds / wall seconds: 1.0 = one core);
- peak memory (max RSS);
- key press to next screen: for each of the five screen keys in turn, the time from the key
  press until that screen has been shown with fresh data (`pilot.press` + the refresh it
  triggers), median and worst; a screen's first visit (which builds it) is reported apart.
  Its reference is the test driver itself: the same steps for a key bound to nothing
  (`NOOP_KEY`, pressed a second before each switch), which is what Textual's Pilot costs to
  deliver a key and settle; `key_ratio_to_noop_key` says how far a switch is above it. What
  a user sees in a real terminal is measured by `bench_tui_pty.py`.

Reference, in the same run: the same engine on the same feed with no UI at all (what `optui
collect` does minus the journal) — the ratio says what the screens cost on top. Goals (issue):
under half a core, under 300 MB, under 100 ms.

    python tests/benchmarks/bench_tui.py [--instruments 9000] [--seconds 60]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from optui.settings import load_settings

SCREEN_KEYS = ("1", "2", "3", "4", "5")
NOOP_KEY = "f9"
"""A key no screen binds: its time is the harness's own."""


def _settings(instruments: int) -> Any:
    return load_settings(overrides={"demo.instruments": str(instruments), "demo.speed": "1"})


async def _run_app(instruments: int, seconds: float) -> dict[str, Any]:
    from optui.tui.app import OptuiApp, create_app  # noqa: PLC0415

    app: OptuiApp = create_app(_settings(instruments))
    latencies: list[float] = []
    first_visits: list[float] = []
    per_screen: dict[str, list[float]] = {key: [] for key in SCREEN_KEYS}
    noop: list[float] = []

    async def timed(key: str) -> float:
        pressed = time.perf_counter()
        await pilot.press(key)
        app.refresh_view()  # what the next timer tick does: the screen shown with data
        await pilot.pause()
        return time.perf_counter() - pressed

    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(3000):  # wait for the first ticks (bounded)
            if app.state.snapshot().packets:
                break
            await pilot.pause(0.02)
        wall0, cpu0 = time.perf_counter(), time.process_time()
        deadline = wall0 + seconds
        i = 0
        while time.perf_counter() < deadline:
            key = SCREEN_KEYS[i % len(SCREEN_KEYS)]
            i += 1
            if i > len(SCREEN_KEYS):
                noop.append(await timed(NOOP_KEY))
            await pilot.pause(1.0)
            # A screen's first visit composes and mounts it; later visits only switch to it.
            took = await timed(key)
            (first_visits if i <= len(SCREEN_KEYS) else latencies).append(took)
            if i > len(SCREEN_KEYS):
                per_screen[key].append(took)
            await pilot.pause(1.0)  # a user reading the screen; the feed keeps running
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        packets = app.engine.status.packets
        await pilot.press("q")
    return {
        "cpu_cores": round(cpu / wall, 3),
        "ticks": packets,
        "key_to_screen_ms_median": round(1000 * statistics.median(latencies), 1),
        "key_to_screen_ms_worst": round(1000 * max(latencies), 1),
        "first_visit_ms_worst": round(1000 * max(first_visits), 1),
        "noop_key_ms_median": round(1000 * statistics.median(noop), 1),
        "noop_key_ms_worst": round(1000 * max(noop), 1),
        "key_ratio_to_noop_key": round(statistics.median(latencies) / statistics.median(noop), 2),
        "key_to_screen_ms_median_by_key": {
            key: round(1000 * statistics.median(v), 1) for key, v in per_screen.items() if v
        },
        "screens_shown": len(latencies) + len(first_visits),
    }


def _run_engine_only(instruments: int, seconds: float) -> dict[str, Any]:
    from optui.engine import Engine  # noqa: PLC0415
    from optui.feed.demo import DemoFeed  # noqa: PLC0415
    from optui.stop_flag import StopFlag  # noqa: PLC0415

    engine = Engine(DemoFeed(_settings(instruments)), None)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    engine.run(StopFlag(), duration=seconds)
    wall = time.perf_counter() - wall0
    return {
        "cpu_cores": round((time.process_time() - cpu0) / wall, 3),
        "ticks": engine.status.packets,
    }


def _child(kind: str, instruments: int, seconds: float) -> dict[str, Any]:
    """Each side in its own process, so peak memory and CPU are its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--instruments", str(instruments),
         "--seconds", str(seconds)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=9000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--child", choices=("app", "engine"))
    args = parser.parse_args()
    if args.child:
        if args.child == "app":
            result = asyncio.run(_run_app(args.instruments, args.seconds))
        else:
            result = _run_engine_only(args.instruments, args.seconds)
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(result))
        return
    app = _child("app", args.instruments, args.seconds)
    engine = _child("engine", args.instruments, args.seconds)
    print(
        json.dumps(
            {
                "benchmark": "TUI on the demo market at full Kite load, vs the engine alone",
                "instruments": args.instruments,
                "seconds": args.seconds,
                "python": platform.python_version(),
                "app": app,
                "engine_only": engine,
                "cpu_ratio_app_to_engine": round(app["cpu_cores"] / engine["cpu_cores"], 2)
                if engine["cpu_cores"]
                else None,
                "goals": {"cpu_cores": 0.5, "peak_rss_mb": 300, "key_to_screen_ms": 100},
                "within_goals": app["cpu_cores"] < 0.5
                and app["peak_rss_mb"] < 300
                and app["key_to_screen_ms_worst"] < 100,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
