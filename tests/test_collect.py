"""The headless collector end to end: demo source → journal → archive, status, backup, kill -9.

Real LMDB, real Parquet, real processes. Waits are on conditions (a bounded poll of the
journal or the lock), never a sleep standing in for one.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from optui.cli import main
from optui.commands.backup import backup
from optui.commands.collect import EXIT_LOCKED, CollectOptions, collect
from optui.commands.status import gather
from optui.feed.demo import DemoFeed
from optui.settings import Settings, load_settings
from optui.store.archive import read_ticks
from optui.store.journal import Journal, split_key, writer_info
from optui.store.locations import archive_root, journal_dir

# Fast enough to make a lot of ticks in little wall time: 120 simulated seconds per second.
FAST = {"demo.speed": "120", "demo.instruments": "600"}


def settings_for(data_dir: Path, **extra: str) -> Settings:
    return load_settings(overrides={"data_dir": str(data_dir), **FAST, **extra})


class CountingSource:
    """The real demo feed, with a tally of every packet it handed out (the reference count)."""

    def __init__(self, settings: Settings) -> None:
        self.feed = DemoFeed(settings)
        self.packets = 0
        self.frames = 0

    def poll(self) -> list[bytes]:
        frames = self.feed.poll()
        self.frames += len(frames)
        self.packets += sum(int.from_bytes(frame[:2], "big") for frame in frames)
        return frames

    @property
    def finished(self) -> bool:
        return False

    def instruments(self) -> tuple[date, str]:
        return self.feed.instruments()


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)  # poll interval of a bounded wait


def archived_rows(settings: Settings) -> int:
    table = read_ticks(archive_root(settings), date(2000, 1, 1), date(2100, 1, 1))
    return table.num_rows


def test_collect_keeps_every_tick_and_rolls_it_all_on_stop(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    sources: list[CountingSource] = []

    def factory() -> CountingSource:
        sources.append(CountingSource(settings))
        return sources[0]

    out = io.StringIO()
    code = collect(settings, factory, CollectOptions(duration=1.5, status_interval=0.2), out=out)
    assert code == 0
    produced = sources[0].packets
    assert produced > 10_000
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert records[0]["event"] == "start" and records[-1]["event"] == "stop"
    assert records[-1]["packets"] == produced and records[-1]["bad_frames"] == 0
    # Everything was rolled on stop: the journal is empty and the archive has every tick once.
    with Journal(journal_dir(settings), readonly=True) as journal:
        assert journal.stats().frames == 0
    table = read_ticks(archive_root(settings), date(2000, 1, 1), date(2100, 1, 1))
    assert table.num_rows == produced
    ids = pc.binary_join_element_wise(
        pc.cast(table["frame_seq"], "string"), pc.cast(table["packet"], "string"), "/"
    )
    assert pc.count_distinct(ids).as_py() == produced
    log = (settings.log_dir / "collect.log").read_text().splitlines()
    assert json.loads(log[-1])["event"] == "stop"


def test_status_and_backup_after_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(tmp_path / "data")
    assert collect(settings, lambda: DemoFeed(settings), CollectOptions(duration=0.5)) == 0
    capsys.readouterr()
    status = gather(settings)
    assert not status.collector_running
    assert status.journal_frames == 0
    assert status.archived_rows == archived_rows(settings) > 0
    assert len(status.days) == 1 and not status.unreadable

    dest = tmp_path / "backup"
    first = backup(settings, dest)
    assert first.files_copied >= 1 and first.files_skipped == 0
    again = backup(settings, dest)
    assert again.files_copied == 0 and again.files_skipped == first.files_copied
    copied = sorted(p.relative_to(dest / "archive") for p in (dest / "archive").rglob("*.parquet"))
    original = sorted(
        p.relative_to(Path(archive_root(settings)))
        for p in Path(archive_root(settings)).rglob("*.parquet")
    )
    assert copied == original

    assert main(["status", "--json", "--data-dir", str(tmp_path / "data")]) == 0
    assert json.loads(capsys.readouterr().out)["archived_rows"] == status.archived_rows


def _collector(data_dir: Path, *extra: str, roll_interval: str = "60") -> subprocess.Popen[str]:
    env = {**os.environ, "OPTUI_DEMO__SPEED": FAST["demo.speed"]}
    env["OPTUI_DEMO__INSTRUMENTS"] = FAST["demo.instruments"]
    env["OPTUI_STORE__ROLL_INTERVAL"] = roll_interval
    return subprocess.Popen(
        [sys.executable, "-m", "optui", "collect", "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    data_dir = tmp_path / "data"
    process = _collector(data_dir)
    try:
        yield process, data_dir
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_a_second_collector_is_refused_and_sigterm_stops_cleanly(
    running: tuple[subprocess.Popen[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    process, data_dir = running
    journal = data_dir / "journal"
    wait_until(lambda: writer_info(journal) is not None)
    assert main(["collect", "--data-dir", str(data_dir), "--duration", "1"]) == EXIT_LOCKED
    err = capsys.readouterr().err
    assert "optui: error:" in err and str(os.getpid()) not in err.split("pid")[0]
    # Status from another process while the collector writes.
    settings = load_settings(overrides={"data_dir": str(data_dir)})
    wait_until(lambda: gather(settings).journal_frames > 0)
    assert gather(settings).collector_running

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    with Journal(journal, readonly=True) as reader:
        assert reader.stats().frames == 0  # the final roll took everything
    assert archived_rows(settings) > 0
    assert writer_info(journal) is None


def _committed(data_dir: Path) -> set[tuple[int, int]]:
    """(frame seq, packets) of every frame in the journal or the archive right now."""
    found: set[tuple[int, int]] = set()
    path = data_dir / "journal"
    if (path / "data.mdb").exists():
        with Journal(path, readonly=True) as journal:
            for key, frame in journal.frames():
                found.add((split_key(key)[1], int.from_bytes(frame[:2], "big")))
    root = str(data_dir / "archive")
    if Path(root).exists():
        table = read_ticks(root, date(2000, 1, 1), date(2100, 1, 1))
        counts = pc.value_counts(table["frame_seq"])
        for item in counts.to_pylist():
            found.add((item["values"], item["counts"]))
    return found


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(20261123)
    committed: set[tuple[int, int]] = set()
    for _ in range(5):
        # Rolling every second, so the kills land while writing and while rolling.
        process = _collector(data_dir, "--duration", "30", roll_interval="1")
        try:
            wait_until(lambda: writer_info(data_dir / "journal") is not None)
            before = len(_committed(data_dir))
            wait_until(lambda before=before: len(_committed(data_dir)) > before)
            time.sleep(rng.uniform(0.0, 2.5))  # a random moment to kill at, not a wait
            process.kill()
            process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        now = _committed(data_dir)
        assert committed <= now, "a frame committed before an earlier kill disappeared"
        committed = now
    # A clean run after the kills recovers and rolls everything.
    process = _collector(data_dir, "--duration", "1")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    final = _committed(data_dir)
    assert committed <= final
    table = read_ticks(str(data_dir / "archive"), date(2000, 1, 1), date(2100, 1, 1))
    ids = pc.binary_join_element_wise(
        pc.cast(table["frame_seq"], "string"), pc.cast(table["packet"], "string"), "/"
    )
    assert pc.count_distinct(ids).as_py() == table.num_rows, "a tick is in the archive twice"
    assert table.num_rows == sum(packets for _, packets in final)


def test_roll_on_demand_with_and_without_a_collector(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    settings = load_settings(overrides={"data_dir": str(data_dir)})
    # No collector: `optui roll` takes the journal itself.
    feed = DemoFeed(settings_for(data_dir))
    frames = feed.market.advance_to(feed.market.open_epoch + 2)
    with Journal(journal_dir(settings)) as journal:
        journal.append_many(frames)
    assert main(["roll", "--data-dir", str(data_dir)]) == 0
    assert f"rolled {len(frames):,} frames" in capsys.readouterr().out
    assert archived_rows(settings) == sum(int.from_bytes(f[:2], "big") for f in frames)

    # A collector that would not roll for an hour rolls when asked.
    before = archived_rows(settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "optui", "collect", "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OPTUI_STORE__ROLL_INTERVAL": "3600", "OPTUI_DEMO__INSTRUMENTS": "300"},
    )
    try:
        wait_until(lambda: gather(settings).journal_frames > 0)
        assert main(["roll", "--data-dir", str(data_dir)]) == 0
        assert "asked the collector" in capsys.readouterr().out
        wait_until(lambda: archived_rows(settings) > before)
        assert process.poll() is None  # still collecting
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0


def test_a_full_disk_stops_the_collector_with_a_clear_error_and_keeps_what_was_committed(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    # `ulimit -f` makes every file of the collector a small disk that fills up at once.
    command = (
        f"ulimit -f 8192; exec {sys.executable} -m optui collect --data-dir {data_dir} "
        "--duration 60"
    )
    # 20x: about 2 MB of frames a second, so the first commits fit under the 8 MiB limit even
    # when a loaded machine delays the first poll by a second or two (at 120x one late poll
    # alone overflowed it and nothing was committed at all).
    env = {**os.environ, "OPTUI_DEMO__SPEED": "20", "OPTUI_DEMO__INSTRUMENTS": "600"}
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 4, result.stderr
    # The limit is hit by whichever journal write comes first: the frames or the snapshot of
    # the latest ticks; both say which journal, that what was committed is safe, and what to do.
    assert re.search(
        r"cannot (append frames to|store the latest ticks in) the journal", result.stderr
    )
    assert "what was committed before is safe" in result.stderr
    assert "ulimit -f" in result.stderr and "Traceback" not in result.stderr
    settings = load_settings(overrides={"data_dir": str(data_dir)})
    status = gather(settings)
    committed = status.journal_frames + len(status.days)
    assert committed > 0  # what was committed before the disk filled is still there
    with Journal(journal_dir(settings), readonly=True) as journal:
        assert all(len(frame) > 2 for _, frame in journal.frames())
