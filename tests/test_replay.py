"""Replay: an archived day comes back as the very frames that were collected, in order."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from pathlib import Path

import pytest

from optui.cli import main
from optui.commands.collect import CollectOptions, collect
from optui.feed.calendar import IST
from optui.feed.demo import DemoFeed
from optui.feed.replay import NoDataError, ReplaySource
from optui.settings import load_settings
from optui.store.archive import read_ticks
from optui.store.locations import archive_root


class RecordingSource:
    """The demo feed, keeping a copy of every frame it hands out."""

    def __init__(self, feed: DemoFeed) -> None:
        self.feed = feed
        self.frames: list[bytes] = []

    def poll(self) -> list[bytes]:
        frames = self.feed.poll()
        self.frames += frames
        return frames

    @property
    def finished(self) -> bool:
        return False

    def instruments(self) -> None:
        return None


def test_a_replayed_day_is_the_collected_frames_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(
        overrides={"data_dir": str(tmp_path), "demo.speed": "60", "demo.instruments": "300"}
    )
    recorder = RecordingSource(DemoFeed(settings))
    assert collect(settings, lambda: recorder, CollectOptions(duration=0.6)) == 0
    capsys.readouterr()
    assert len(recorder.frames) > 20
    day = datetime.now(IST).date()  # the archive files ticks by their IST receive date

    # A clock that jumps a minute per call: the replay is as fast as the test can take it.
    ticks = itertools.count()
    replay = ReplaySource(archive_root(settings), day, speed=1.0, clock=lambda: 60.0 * next(ticks))
    replayed: list[bytes] = []
    while not replay.finished:
        replayed += replay.poll()
    assert replayed == recorder.frames

    # The replay's own clock (for "is its market open"): the first frame's receive time,
    # then on at the replay's speed.
    wall = [100.0]
    fast = ReplaySource(archive_root(settings), day, speed=60.0, clock=lambda: wall[0])
    assert fast.market_time() == pytest.approx(fast.first_ns / 1e9, abs=1e-6)
    wall[0] += 2.0
    assert fast.market_time() == pytest.approx(fast.first_ns / 1e9 + 120.0, abs=1e-6)

    assert (
        main(["replay", "--data-dir", str(tmp_path), "--date", day.isoformat(), "--speed", "1000"])
        == 0
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"{len(recorder.frames):,} frames" in last


def test_replay_of_a_day_with_no_data_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(NoDataError, match="no archived ticks for 2026-01-02"):
        ReplaySource(str(tmp_path / "archive"), datetime(2026, 1, 2).date())
    assert main(["replay", "--data-dir", str(tmp_path), "--date", "2026-01-02"]) == 2
    assert "optui status" in capsys.readouterr().err


def test_collect_from_a_replay_copies_the_day_into_another_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first"
    settings = load_settings(
        overrides={"data_dir": str(first), "demo.speed": "60", "demo.instruments": "300"}
    )
    assert collect(settings, lambda: DemoFeed(settings), CollectOptions(duration=0.5)) == 0
    day = datetime.now(IST).date().isoformat()
    source = ["--source", "replay", "--replay-from", str(first / "archive"), "--replay-date", day]
    # Replaying a store into itself would keep every tick twice: refused.
    assert main(["collect", "--data-dir", str(first), *source]) == 2
    assert "store every tick twice" in capsys.readouterr().err

    second = tmp_path / "second"
    assert main(["collect", "--data-dir", str(second), "--speed", "1000", *source]) == 0
    capsys.readouterr()
    original = read_ticks(str(first / "archive"), date(2000, 1, 1), date(2100, 1, 1))
    copied = read_ticks(str(second / "archive"), date(2000, 1, 1), date(2100, 1, 1))
    assert copied.num_rows == original.num_rows > 0
    for name in ("instrument_token", "last_price", "volume_traded", "oi", "packet"):
        assert copied[name].equals(original[name]), name
