"""Live Kite end to end, against the emulator on 127.0.0.1: the collector and the TUI.

`optui collect --source kite` goes token -> instruments (REST) -> index levels (LTP) -> plan
-> websockets, exactly as against Kite. These tests check what a user relies on: every frame
Kite sent is in the archive, a dropped connection recovers by itself and says so, and a
refused token stops the collector with "log in again" while keeping every frame received.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_collect import wait_until

from optui.commands.collect import EXIT_AUTH, CollectOptions, collect, source_for
from optui.emulator import DEMO_API_KEY, DEMO_API_SECRET, Emulator
from optui.feed.codec import decode
from optui.feed.live import LiveFeed, open_live_feed
from optui.settings import Settings, load_settings
from optui.stop_flag import StopFlag
from optui.store.archive import read_ticks
from optui.store.locations import archive_root


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(instruments=600, speed=20.0) as emu:
        yield emu


def live_settings(emu: Emulator, tmp_path: Path, **extra: str) -> Settings:
    return load_settings(
        overrides={
            "source": "kite",
            "data_dir": str(tmp_path / "data"),
            "cache_dir": str(tmp_path / "cache"),
            "log_dir": str(tmp_path / "log"),
            "kite.api_key": DEMO_API_KEY,
            "kite.api_secret": DEMO_API_SECRET,
            "kite.api_url": emu.api_url,
            "kite.ws_url": emu.ws_url,
            "kite.strikes": "5",
            **extra,
        }
    )


def run_collector(
    settings: Settings, script: Callable[[StopFlag], None]
) -> tuple[int, io.StringIO, io.StringIO]:
    """Run the collector on this (the main) thread, as `optui collect` does, while `script`
    plays the user and Kite on another; `stop` is set when the script ends or fails."""
    out, err = io.StringIO(), io.StringIO()
    stop = StopFlag()
    failure: list[BaseException] = []

    def driver() -> None:
        try:
            script(stop)
        except BaseException as exc:
            failure.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=driver, daemon=True)
    thread.start()
    code = collect(
        settings, source_for(settings), CollectOptions(status_interval=0.2), out=out, err=err,
        stop=stop,
    )  # fmt: skip
    stop.set()
    thread.join(timeout=60)
    if failure:
        raise failure[0]
    return code, out, err


def archived(settings: Settings) -> np.ndarray:
    table = read_ticks(archive_root(settings), date(2000, 1, 1), date(2100, 1, 1))
    return np.asarray(table.column("instrument_token"))


def feed_events(settings: Settings) -> list[dict[str, Any]]:
    """The collector's events as collect.log has them (grouped repeats as one record with
    its count)."""
    lines = (settings.log_dir / "collect.log").read_text(encoding="utf-8").splitlines()
    return [e for e in map(json.loads, lines) if e.get("event") == "event"]


def stream_kinds(settings: Settings) -> list[str]:
    """The stream's event kinds in collect.log, each repeated as often as it occurred."""
    kinds: list[str] = []
    for record in feed_events(settings):
        kind = record.get("details", {}).get("stream_kind")
        if kind:
            kinds.extend([kind] * int(record.get("count", 1)))
    return kinds


def test_collect_from_kite_keeps_every_frame_and_recovers_from_a_drop(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = emulator.issue_access_token()
    monkeypatch.setenv("KITE_ACCESS_TOKEN", token)
    settings = live_settings(emulator, tmp_path)

    def script(stop: StopFlag) -> None:
        wait_until(lambda: emulator.stats().frames_sent >= 5, timeout=60)
        emulator.inject("drop")
        wait_until(lambda: emulator.stats().connections_total >= 2, timeout=30)
        sent_before = emulator.stats().frames_sent
        wait_until(lambda: emulator.stats().frames_sent >= sent_before + 5, timeout=30)

    code, out, err = run_collector(settings, script)
    assert code == 0, err.getvalue()

    stats = emulator.stats()
    assert stats.connections_open == 0  # the collector closed its connections
    stop_record = [
        json.loads(line)
        for line in (settings.log_dir / "collect.log").read_text(encoding="utf-8").splitlines()
        if '"event": "stop"' in line
    ][-1]
    # Every tick that arrived is in the archive, and what arrived is what Kite sent: a frame
    # in flight when the connection was cut may be lost on the wire (as with Kite), no more.
    assert len(archived(settings)) == stop_record["packets"] > 0
    assert stats.frames_sent - 2 <= stop_record["frames"] <= stats.frames_sent + 1
    kinds = stream_kinds(settings)
    assert kinds.count("connected") >= 2 and "disconnected" in kinds and "reconnecting" in kinds
    assert token not in (settings.log_dir / "collect.log").read_text(encoding="utf-8")
    assert token not in out.getvalue() + err.getvalue()


def test_a_refused_token_stops_the_collector_with_log_in_again_and_keeps_the_frames(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITE_ACCESS_TOKEN", emulator.issue_access_token())
    settings = live_settings(emulator, tmp_path)

    def script(stop: StopFlag) -> None:
        wait_until(lambda: emulator.stats().frames_sent >= 3, timeout=60)
        emulator.inject("expire")
        # No stop from here: the collector must stop by itself, since no retry fixes a token.
        stop.wait(60)

    code, _out, err = run_collector(settings, script)
    assert code == EXIT_AUTH
    assert "optui login" in err.getvalue() and "every frame that arrived" in err.getvalue()
    stop_record = [
        json.loads(line)
        for line in (settings.log_dir / "collect.log").read_text(encoding="utf-8").splitlines()
        if '"event": "stop"' in line
    ][-1]
    assert len(archived(settings)) == stop_record["packets"] > 0
    assert emulator.stats().handshakes_rejected >= 1


def test_collect_without_a_token_says_how_to_log_in(emulator: Emulator, tmp_path: Path) -> None:
    settings = live_settings(emulator, tmp_path)
    err = io.StringIO()
    code = collect(settings, source_for(settings), CollectOptions(), out=io.StringIO(), err=err)
    assert code == EXIT_AUTH
    assert "optui login" in err.getvalue()
    assert emulator.stats().connections_total == 0


def test_the_live_feed_recentres_without_reconnecting(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITE_ACCESS_TOKEN", emulator.issue_access_token())
    settings = live_settings(emulator, tmp_path)
    feed = open_live_feed(settings)
    try:
        first = feed.plan
        name = next(iter(first.centres))
        chain_strikes = _strikes_of(feed, name)
        # Pretend the index ran far up: the plan moves to strikes around the new level.
        far = float(chain_strikes[-1])
        assert feed.recentre({name: far})
        assert feed.plan.centres[name] != first.centres[name]
        wanted = feed.plan.tokens()
        wait_until(
            lambda: _drain(feed) and set().union(*emulator.stats().subscriptions) == set(wanted),
            timeout=30,
        )
        assert emulator.stats().connections_total == sum(1 for c in first.connections if c)
        assert any(e.kind == "subscribed" and "re-centred" in e.message for e in feed.events())
    finally:
        feed.close()


def _drain(feed: LiveFeed) -> bool:
    for frame in feed.poll():
        decode(frame)
    return True


def _strikes_of(feed: LiveFeed, name: str) -> np.ndarray:
    universe = feed.universe
    expiry = min(e for n, e in universe.chains if n == name)
    return universe.chain(name, expiry).strikes


async def test_the_tui_on_live_kite_turns_a_refused_token_into_log_in_again(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.pilot import Pilot  # noqa: PLC0415  (Textual only where the UI is tested)

    from optui.tui.app import OptuiApp, create_app  # noqa: PLC0415

    monkeypatch.setenv("KITE_ACCESS_TOKEN", emulator.issue_access_token())
    settings = live_settings(emulator, tmp_path)
    app: OptuiApp = create_app(settings, feed=open_live_feed(settings))

    async def until(pilot: Pilot[int], predicate: Callable[[], bool]) -> None:
        for _ in range(1500):  # a bounded wait on the condition, re-checked every 20 ms
            if predicate():
                return
            await pilot.pause(0.02)
        raise AssertionError("condition not met in time")

    async with app.run_test(size=(120, 24)) as pilot:
        await until(pilot, lambda: app.state.snapshot().packets > 0)
        app.refresh_view()
        assert "LIVE" in str(app.screen.query_one(".app-header").render())
        emulator.inject("expire")
        await until(pilot, lambda: app.login_needed is not None)
        app.refresh_view()
        status = str(app.screen.query_one(".app-header").render())
        assert "LOG IN AGAIN" in status and "optui login" in status
        await pilot.press("q")
    assert app.feed.finished
