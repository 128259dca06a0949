"""Benchmark: key press to the next screen on a real terminal, as a user sees it.

`optui` (the installed command, on the demo market at `--instruments`, default 9,000: Kite's
3 connections x 3,000, each ticking once a second at 1x) runs in a pseudo-terminal
(`TERM=xterm-256color`, `--cols` x `--rows`, default 120x40, set with TIOCSWINSZ) exactly as
it runs in a terminal window. This process plays the terminal: it writes a key's byte ('1'
to '5') to the terminal's master side and reads what the app writes back. The time of one
switch is from the write of the key to the moment the screen's own text has arrived on the
terminal, with every escape sequence stripped (what would be painted):

- `key_to_screen_ms`: to the first byte stream containing the new screen's marker text (the
  title line or column header no other screen shows);
- `key_to_frame_end_ms`: on to the end of that burst of output (no byte for 3 ms), i.e. the
  whole frame written, which is when the last row would be painted;
- `key_to_fresh_data_ms`: on until the header's IST clock shows a second at or after the key
  press, i.e. the screen redrawn from the market as it is now, not as it was when the screen
  was last left (every press comes 1.2 s or more after the screen was left, so its old
  header shows an earlier second).

The keys go round 1-2-3-4-5 so that each press leaves another screen; a press comes a random
0.3-0.7 s after the previous screen arrived (seeded), so presses fall anywhere in the app's
refresh timer (four times a second) as a user's would. Each screen's first visit, which builds
it, is reported apart; `--presses` (default 50) is the count per screen after that.

Reference, in the same run and the same terminal: a bare Textual app with five modes of one
line of text each, switched by the same keys. Its figure is what Textual itself costs for a
mode switch on this machine; the ratio says what optui's screens add.

The app only reads the demo market, in a fresh temporary data, cache and log folder with an
empty config file (the user's config and data are not read); nothing listens on any socket
and nothing reaches the network. The child process is always killed at the end.

    python tests/benchmarks/bench_tui_pty.py [--instruments 9000] [--presses 50]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import random
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCREEN_KEYS = ("1", "2", "3", "4", "5")

#: Text only that screen shows, after escape sequences are stripped and runs of blanks made
#: one space (checked against every screen's output: none of these is on another screen or in
#: the key bar).
OPTUI_MARKERS = {
    "1": "max pain",  # chain: the header's second line
    "2": "FII index futures long ratio",  # participants: the chart's caption
    "3": "ATM straddle, last vs average",  # price toggle: the status line
    "4": "Adv/Unch/Dec",  # breadth: the board's column header
    "5": "System health",  # errors: the health pane's title
}
SCREEN_NAMES = {"1": "chain", "2": "participants", "3": "premium", "4": "breadth", "5": "errors"}

REFERENCE_MARKERS = {key: f"reference screen {key} shown" for key in SCREEN_KEYS}

_ESCAPES = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: cursor moves, colours, modes
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, clipboard
    rb"|\x1bP[^\x1b]*\x1b\\"  # DCS
    rb"|\x1b[()][0-9A-Za-z]"  # character sets
    rb"|\x1b[=>78]"  # keypad modes, cursor save and restore
)
_BLANKS = re.compile(r"\s+")
_CLOCK = re.compile(r"(\d\d):(\d\d):(\d\d) IST")
"""The header's IST clock (hours, minutes and seconds: other times on screen have none)."""

IST_OFFSET_S = 19800
QUIET_S = 0.003
"""No output for this long ends a frame's burst."""
START_TIMEOUT_S = 120.0
SWITCH_TIMEOUT_S = 10.0
MARGIN_BYTES = 1024


def painted(raw: bytes) -> str:
    """What the bytes would paint: escape sequences removed, blanks collapsed."""
    return _BLANKS.sub(" ", _ESCAPES.sub(b" ", raw).decode("utf-8", errors="replace"))


def _latest_clock(raw: bytes) -> int:
    """The latest header clock in `raw`, as IST seconds of the day (-1: none)."""
    return max(
        (int(h) * 3600 + int(m) * 60 + int(sec) for h, m, sec in _CLOCK.findall(painted(raw))),
        default=-1,
    )


def _ist_second(wall: float) -> int:
    return (int(wall) + IST_OFFSET_S) % 86400


class PtyApp:
    """A command on a pseudo-terminal of a fixed size; this object is its terminal."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], cols: int, rows: int) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

        def controlling_terminal() -> None:  # in the child: its own session, this tty
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                preexec_fn=controlling_terminal,  # noqa: PLW1509 - no threads started yet
                close_fds=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self.master = master
        self.transcript = bytearray()  # everything since the last `mark()`

    def read(self, timeout: float) -> tuple[bytes, float]:
        """What arrives within `timeout` seconds (b"" if nothing), and when it arrived."""
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0.0))
        if not ready:
            return b"", time.perf_counter()
        try:
            chunk = os.read(self.master, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            chunk = b""
        at = time.perf_counter()
        if not chunk and self.proc.poll() is not None:
            said = painted(bytes(self.transcript[-4000:]))[-1500:]
            raise RuntimeError(f"the app exited with code {self.proc.returncode}: {said}")
        self.transcript += chunk
        return chunk, at

    def drain(self, seconds: float) -> None:
        """Read (and drop) what the app writes for `seconds`, as a terminal would."""
        end = time.perf_counter() + seconds
        while (left := end - time.perf_counter()) > 0:
            self.read(left)
        self.transcript.clear()

    def wait_for(self, marker: str, timeout: float) -> tuple[float, float]:
        """Read until the painted output since the last drain contains `marker`; then on to
        the end of that burst. Returns (marker seen, burst ended) as perf_counter times."""
        deadline = time.perf_counter() + timeout
        seen: float | None = None
        while seen is None:
            left = deadline - time.perf_counter()
            if left <= 0:
                tail = painted(bytes(self.transcript[-3000:]))[-400:]
                raise TimeoutError(f"{marker!r} not shown within {timeout} s; last: {tail!r}")
            chunk, at = self.read(left)
            # Only the new bytes and a margin before them (a marker may straddle two reads).
            window = bytes(self.transcript[-(len(chunk) + MARGIN_BYTES) :])
            if chunk and marker in painted(window):
                seen = at
        last = seen
        while True:
            chunk, at = self.read(QUIET_S)
            if not chunk:
                return seen, last
            last = at

    def wait_for_clock(self, at_least: int, timeout: float) -> float:
        """Read until the output since the last drain shows the header's clock at or after
        `at_least` (IST seconds of the day); returns when, as a perf_counter time."""
        deadline = time.perf_counter() + timeout
        if _latest_clock(bytes(self.transcript)) >= at_least:
            return time.perf_counter()
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no header clock at or after {at_least} s within {timeout} s")
            chunk, at = self.read(left)
            if chunk and _latest_clock(bytes(self.transcript)) >= at_least:
                return at

    def press(self, key: str) -> float:
        """Type `key`; returns when it was written."""
        os.write(self.master, key.encode())
        return time.perf_counter()

    def close(self) -> None:
        """Ask the app to quit ('q'), then kill it if it has not; always reaps it."""
        try:
            if self.proc.poll() is None:
                try:
                    os.write(self.master, b"q")
                    end = time.perf_counter() + 5
                    while self.proc.poll() is None and time.perf_counter() < end:
                        self.read(0.05)
                except (OSError, RuntimeError):
                    pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            os.close(self.master)


def _summary(values: Sequence[float]) -> dict[str, float | int]:
    ms = sorted(1000 * v for v in values)
    return {
        "median": round(statistics.median(ms), 1),
        "p90": round(ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))], 1),
        "worst": round(ms[-1], 1),
        "over_100": sum(v >= 100 for v in ms),  # presses that missed the goal
        "n": len(ms),
    }


def measure(
    argv: Sequence[str],
    env: dict[str, str],
    markers: dict[str, str],
    presses: int,
    cols: int,
    rows: int,
    seed: int,
    *,
    fresh: bool,
) -> dict[str, Any]:
    """Start `argv` on a terminal, wait for its first screen ('1'), visit each screen once,
    then `presses` rounds of 1-2-3-4-5; times per screen. With `fresh`, also the time until
    the header's clock says the screen was redrawn after the key (its data brought up to
    date): a screen left 1.2 s or more before shows an older second until then."""
    rng = random.Random(seed)
    first: dict[str, float] = {}
    times: dict[str, dict[str, list[float]]] = {
        what: {key: [] for key in SCREEN_KEYS}
        for what in ("key_to_screen_ms", "key_to_frame_end_ms", "key_to_fresh_data_ms")
    }
    started = time.perf_counter()
    app = PtyApp(argv, env, cols, rows)
    try:
        app.wait_for(markers["1"], START_TIMEOUT_S)
        startup = time.perf_counter() - started
        app.drain(2.0)  # the feed's first ticks on screen
        for round_ in range(presses + 1):
            for key in (*SCREEN_KEYS[1:], SCREEN_KEYS[0]):  # from chain: 2 3 4 5 1 2 ...
                app.drain(rng.uniform(0.3, 0.7))
                wall = time.time()
                pressed = app.press(key)
                seen, ended = app.wait_for(markers[key], SWITCH_TIMEOUT_S)
                updated = app.wait_for_clock(_ist_second(wall), SWITCH_TIMEOUT_S) if fresh else 0
                if round_ == 0:
                    first[key] = seen - pressed
                    if key == SCREEN_KEYS[-1]:
                        app.drain(1.0)  # let first-visit loads (participant files) finish
                    continue
                times["key_to_screen_ms"][key].append(seen - pressed)
                times["key_to_frame_end_ms"][key].append(ended - pressed)
                if fresh:
                    times["key_to_fresh_data_ms"][key].append(updated - pressed)
    finally:
        app.close()
    if not fresh:
        del times["key_to_fresh_data_ms"]
    result: dict[str, Any] = {"startup_s": round(startup, 2)}
    for what, by_key in times.items():
        result[what] = _summary([v for key in SCREEN_KEYS for v in by_key[key]])
    result["by_screen"] = {
        SCREEN_NAMES[key]: {
            "key": key,
            **{what: _summary(by_key[key]) for what, by_key in times.items()},
            "first_visit_ms": round(1000 * first[key], 1),
        }
        for key in SCREEN_KEYS
    }
    return result


def _optui_env(tmp: Path, instruments: int, cols: int, rows: int) -> dict[str, str]:
    config = tmp / "config.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTUI_", "KITE_"))}
    env.update(
        TERM="xterm-256color",
        COLUMNS=str(cols),
        LINES=str(rows),
        OPTUI_CONFIG=str(config),
        OPTUI_DATA_DIR=str(tmp / "data"),
        OPTUI_CACHE_DIR=str(tmp / "cache"),
        OPTUI_LOG_DIR=str(tmp / "log"),
        OPTUI_SOURCE="demo",
        OPTUI_DEMO__INSTRUMENTS=str(instruments),
        OPTUI_DEMO__SPEED="1",
    )
    for noise in ("TEXTUAL", "TEXTUAL_DEBUG", "TEXTUAL_DEVTOOLS_PORT"):
        env.pop(noise, None)
    return env


def _reference_app() -> None:
    """The reference: five Textual modes of one line each, keys 1-5 (run in the child)."""
    from textual.app import App, ComposeResult  # noqa: PLC0415
    from textual.binding import Binding  # noqa: PLC0415
    from textual.screen import Screen  # noqa: PLC0415
    from textual.widgets import Static  # noqa: PLC0415

    def screen(key: str) -> type[Screen[None]]:
        class One(Screen[None]):
            def compose(self) -> ComposeResult:
                yield Static(REFERENCE_MARKERS[key])

        return One

    class Reference(App[None]):
        MODES = {key: screen(key) for key in SCREEN_KEYS}
        DEFAULT_MODE = "1"
        BINDINGS = [
            *(Binding(key, f"switch_mode('{key}')", key) for key in SCREEN_KEYS),
            Binding("q", "quit", "Quit"),
        ]

    Reference().run()


def _optui_command() -> list[str]:
    exe = Path(sys.executable).with_name("optui")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "optui"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=9000)
    parser.add_argument("--presses", type=int, default=50, help="switches per screen")
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--reference-app", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_app:
        _reference_app()
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_tui_pty-"))
    try:
        env = _optui_env(tmp, args.instruments, args.cols, args.rows)
        optui = measure(
            _optui_command(),
            env,
            OPTUI_MARKERS,
            args.presses,
            args.cols,
            args.rows,
            args.seed,
            fresh=True,
        )
        reference = None
        if not args.no_reference:
            reference = measure(
                [sys.executable, __file__, "--reference-app"],
                env,
                REFERENCE_MARKERS,
                args.presses,
                args.cols,
                args.rows,
                args.seed,
                fresh=False,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    median = optui["key_to_screen_ms"]["median"]
    result: dict[str, Any] = {
        "benchmark": "key press to the next screen in a real pseudo-terminal (key to pixels)",
        "instruments": args.instruments,
        "terminal": f"{args.cols}x{args.rows} xterm-256color",
        "presses_per_screen": args.presses,
        "python": platform.python_version(),
        "optui": optui,
        "reference_bare_textual_modes": reference,
        "ratio_median_to_reference": round(median / reference["key_to_screen_ms"]["median"], 2)
        if reference
        else None,
        "goal_ms": 100,
        "median_within_goal": median < 100,
        "worst_within_goal": optui["key_to_screen_ms"]["worst"] < 100,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
