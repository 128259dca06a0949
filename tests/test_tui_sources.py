"""The TUI on the other sources: a collector's store (`optui --attach`) and a past day
(`optui replay`). Real collectors, real LMDB and Parquet; waits are on conditions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pilot_wait import until
from test_collect import wait_until

from optui.commands.collect import CollectOptions, collect
from optui.feed.attach import AttachedFeed
from optui.feed.demo import DemoFeed
from optui.feed.replay import ReplayFeed
from optui.settings import Settings, SettingsError, load_settings
from optui.store.archive import read_ticks
from optui.store.journal import writer_info
from optui.store.locations import archive_root, journal_dir
from optui.tui.app import OptuiApp, create_app

FAST = {"demo.speed": "120", "demo.instruments": "600"}


def settings_for(home: Path) -> Settings:
    return load_settings(
        overrides={
            "data_dir": str(home / "data"),
            "log_dir": str(home / "log"),
            "cache_dir": str(home / "cache"),
            **FAST,
        }
    )


def header(app: OptuiApp) -> str:
    app.refresh_view()
    return str(app.screen.query_one(".app-header").render())


@pytest.fixture
def running_collector(tmp_path: Path) -> Iterator[Settings]:
    """`optui collect` on the demo market in another process, as a user would run it."""
    yield from _collector(tmp_path, {})


@pytest.fixture
def collector_on_a_full_disk(tmp_path: Path) -> Iterator[Settings]:
    """A collector told that any disk is nearly full (its thresholds far above any disk)."""
    huge = str(2**40)  # MiB
    env = {"OPTUI_STORE__DISK_WARN_MB": huge, "OPTUI_STORE__DISK_CRITICAL_MB": huge}
    yield from _collector(tmp_path, env)


def _collector(
    tmp_path: Path, extra_env: dict[str, str], started: list[subprocess.Popen[bytes]] | None = None
) -> Iterator[Settings]:
    settings = settings_for(tmp_path)
    env = {
        **os.environ,
        "OPTUI_DEMO__SPEED": "120",
        "OPTUI_DEMO__INSTRUMENTS": "600",
        **extra_env,
    }
    command = [sys.executable, "-m", "optui", "collect", "--data-dir", str(settings.data_dir)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if started is not None:
        started.append(process)
    try:
        wait_until(lambda: writer_info(journal_dir(settings)) is not None)
        # The instruments list itself, not just its folder (made before the file is renamed
        # into it): the viewer refuses to open without one.
        wait_until(lambda: any((archive_root_path(settings) / "instruments").rglob("*.parquet")))
        yield settings
    finally:
        process.terminate()
        process.wait(timeout=60)


def archive_root_path(settings: Settings) -> Path:
    return Path(archive_root(settings))


async def test_attach_follows_a_running_collector_read_only(running_collector: Settings) -> None:
    settings = running_collector
    feed = AttachedFeed(settings)
    app = create_app(settings, feed=feed)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.state.snapshot().packets > 0)
        first = app.state.snapshot().packets
        # The collector keeps committing; the viewer keeps up with it.
        await until(pilot, lambda: app.state.snapshot().packets > first)
        assert "ATTACHED" in header(app)
        assert "Attached to" in app.title_text()
        assert feed.journal.readonly
        await pilot.press("q")
    feed.close()


async def test_attached_the_collector_s_problems_show_on_every_screen(
    collector_on_a_full_disk: Settings,
) -> None:
    settings = collector_on_a_full_disk
    feed = AttachedFeed(settings)
    app = create_app(settings, feed=feed)
    async with app.run_test(size=(120, 30)) as pilot:
        # The collector stored its event in its journal; the viewer reads it from there.
        await until(pilot, lambda: "DISK FULL" in header(app))
        full = [e for e in app.events if e.code == "storage.disk_full"]
        assert len(full) == 1 and full[0].source == "collect" and full[0].needs_user
        for key in "2345":
            await pilot.press(key)
            await until(pilot, lambda: "DISK FULL: free space now" in header(app))
        # Read back, not recorded again: the viewer's own log has none of the collector's.
        assert app.event_log.codes() == []
        await pilot.press("q")
    feed.close()


async def test_attached_the_header_says_when_the_collector_stops(tmp_path: Path) -> None:
    """A viewer of a collector that died must not go on saying what its last events said."""
    started: list[subprocess.Popen[bytes]] = []
    collector = _collector(tmp_path, {}, started)
    settings = next(collector)
    try:
        feed = AttachedFeed(settings)
        app = create_app(settings, feed=feed)
        async with app.run_test(size=(120, 30)) as pilot:
            await until(pilot, lambda: "collector running" in header(app))
            started[0].terminate()
            started[0].wait(timeout=60)
            await until(pilot, lambda: "collector stopped" in header(app))
            await pilot.press("q")
        feed.close()
    finally:
        collector.close()


def test_attach_without_a_store_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="optui collect"):
        AttachedFeed(settings_for(tmp_path))


async def test_replay_opens_a_past_day_in_the_tui(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    feeds: list[DemoFeed] = []

    def source() -> DemoFeed:
        feeds.append(DemoFeed(settings))
        return feeds[0]

    assert collect(settings, source, CollectOptions(duration=0.6)) == 0
    table = read_ticks(archive_root(settings), date(2000, 1, 1), date(2100, 1, 1))
    day = sorted(set(read_days(table)))[0]
    feed = ReplayFeed(archive_root(settings), day, settings.underlyings, speed=1000.0)
    app = create_app(settings, feed=feed)
    assert app.context().feed.connection == "replaying at 1000×"
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: feed.finished and app.state.snapshot().packets == len(table))
        assert "REPLAY" in header(app) and "replay finished" in header(app)
        await pilot.press("q")


async def test_a_damaged_archive_file_in_a_replay_is_an_event_on_the_errors_screen(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    for _ in range(2):  # two runs: two files for the day
        assert collect(settings, lambda: DemoFeed(settings), CollectOptions(duration=0.4)) == 0
    root = archive_root_path(settings)
    files = sorted((root / "ticks").rglob("*.parquet"))
    assert len(files) == 2
    kept = read_ticks(str(root), date(2000, 1, 1), date(2100, 1, 1))
    damaged = files[0].read_bytes()
    files[0].write_bytes(damaged[: len(damaged) // 2])  # a copy cut short
    day = sorted(set(read_days(kept)))[0]
    feed = ReplayFeed(str(root), day, settings.underlyings, speed=1000.0)
    app = create_app(settings, feed=feed)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: feed.finished and app.state.snapshot().packets > 0)
        await until(pilot, lambda: any(e.code == "storage.archive_unreadable" for e in app.events))
        [event] = [e for e in app.events if e.code == "storage.archive_unreadable"]
        assert event.details["subject"] == str(files[0])
        assert "quarantine" in event.did
        await pilot.press("q")
    # Moved aside byte for byte, never deleted.
    quarantined = root / "quarantine" / files[0].relative_to(root)
    assert quarantined.read_bytes() == damaged[: len(damaged) // 2]


def read_days(table: Any) -> list[date]:
    from datetime import datetime  # noqa: PLC0415

    from optui.feed.calendar import IST  # noqa: PLC0415

    stamps = table.column("received").cast("int64").to_pylist()
    return [datetime.fromtimestamp(ns / 1e9, IST).date() for ns in stamps[:1]]


async def test_a_replayed_day_knows_the_previous_day_s_closing_oi(tmp_path: Path) -> None:
    from test_history import DAYS, FIRST, LAST, ROUND_S, SMALL, Day, last_oi  # noqa: PLC0415

    from optui.feed.calendar import epoch_at  # noqa: PLC0415
    from optui.feed.simulator import DemoMarket  # noqa: PLC0415
    from optui.store.archive import Roller  # noqa: PLC0415
    from optui.store.history import atm_iv_history  # noqa: PLC0415
    from optui.store.instruments import write_instruments  # noqa: PLC0415
    from optui.store.journal import Journal  # noqa: PLC0415

    settings = settings_for(tmp_path)
    root = archive_root_path(settings)
    collected: dict[date, Day] = {}
    with Journal(tmp_path / "scratch", sync=False) as journal:
        for day in DAYS[:2]:  # two consecutive trading days, each to its close
            start = epoch_at(day, FIRST)
            market = DemoMarket(7, day, start=start, tick_interval=ROUND_S, universe=SMALL)
            rounds = []
            for t in range(start, epoch_at(day, LAST) + 1, ROUND_S):
                frames = market.advance_to(t)
                journal.append_many(frames, [t * 1_000_000_000 + i for i in range(len(frames))])
                rounds.append((float(t), frames))
            write_instruments(root, day, "c1", market.instruments_csv())
            collected[day] = Day(market, rounds)
        Roller(journal, root, "c1").roll()
    feed = ReplayFeed(str(root), DAYS[1], settings.underlyings, speed=1000.0)
    app = create_app(settings, feed=feed)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.previous_oi is not None)
        expected = last_oi(collected[DAYS[0]])
        assert app.previous_oi is not None and len(app.previous_oi) > 100
        assert all(app.previous_oi[t] == expected[t] for t in app.previous_oi)
        # The IV percentile's past is the days before the replayed one, not before today
        # (which would count the replayed day itself among its own past).
        await until(pilot, lambda: app.atm_iv_history is not None)
        assert app.atm_iv_history is not None
        past = app.atm_iv_history["NIFTY"]
        closing = atm_iv_history(str(root), "NIFTY", DAYS[1])
        assert [d.day for d in closing] == [DAYS[0]]
        assert past == [closing[0].atm_iv]
        await pilot.press("q")
