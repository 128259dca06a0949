"""Reliability: one collector on live Kite (the emulator on 127.0.0.1) through every fault in
turn, as events say it: a rate-limited start, a dropped connection, a silent one, malformed
frames and Kite's error message, each recovered by itself; then an expired token, which no
retry fixes, stops it with exit 5. Every frame that arrived is archived; the whole run is
bounded in time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from test_collect import wait_until
from test_live_kite import archived, live_settings, run_collector

from optui.commands.collect import EXIT_AUTH
from optui.emulator import Emulator
from optui.events import Event
from optui.stop_flag import StopFlag
from optui.store.journal import Journal
from optui.store.locations import journal_dir

pytestmark = pytest.mark.reliability


def stored(data_journal: Path) -> list[Event]:
    with Journal(data_journal, readonly=True) as journal:
        return [s.event for s in journal.events()]


def occurrences(events: list[Event], code: str) -> int:
    return sum(e.count for e in events if e.code == code)


def test_the_collector_rides_out_every_fault_and_stops_cleanly_on_an_expired_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    with Emulator(instruments=600, speed=20.0) as emulator:
        monkeypatch.setenv("KITE_ACCESS_TOKEN", emulator.issue_access_token())
        settings = live_settings(emulator, tmp_path)
        emulator.inject("ratelimit", count=2)  # the start-up REST calls are refused twice
        path = journal_dir(settings)

        def seen(code: str, at_least: int = 1) -> bool:
            return path.exists() and occurrences(stored(path), code) >= at_least

        def script(stop: StopFlag) -> None:
            wait_until(lambda: emulator.stats().frames_sent >= 5, timeout=60)
            emulator.inject("drop")
            wait_until(lambda: seen("feed.connected", 2), timeout=30)
            emulator.inject("silence", seconds=7.0)  # longer than the 5 s watchdog
            wait_until(lambda: seen("feed.silent"), timeout=30)
            wait_until(lambda: seen("feed.connected", 3), timeout=30)
            emulator.inject("malformed", count=2)
            wait_until(lambda: seen("feed.bad_frame", 2), timeout=30)
            emulator.inject("error")
            wait_until(lambda: seen("feed.error"), timeout=30)
            emulator.inject("expire")
            stop.wait(60)  # no stop from here: the collector must stop by itself

        code, _out, err = run_collector(settings, script)

    assert code == EXIT_AUTH, err.getvalue()
    assert time.monotonic() - started < 240
    events = stored(path)
    for name in (
        "rate_limit.rest",
        "feed.disconnected",
        "feed.reconnecting",
        "feed.silent",
        "feed.bad_frame",
        "feed.error",
        "auth.refused",
    ):
        assert occurrences(events, name) >= 1, name
    assert all(e.source == "collect" for e in events)
    refused = [e for e in events if e.code == "auth.refused"]
    assert refused[-1].needs_user and "optui login" in refused[-1].do
    assert "optui login" in err.getvalue()
    # Nothing that arrived is lost: every tick journalled is in the archive, once.
    log = (settings.log_dir / "collect.log").read_text(encoding="utf-8").splitlines()
    stop_record = [json.loads(line) for line in log if '"event": "stop"' in line][-1]
    assert stop_record["bad_frames"] == occurrences(events, "feed.bad_frame") >= 2
    assert len(archived(settings)) == stop_record["packets"] > 0
