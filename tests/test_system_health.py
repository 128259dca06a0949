"""Sampling the system for the errors screen: CPU share over a window of wall time, resident
memory, the data dir's free disk (from its nearest existing parent), and a collector's
journal backlog and roll lag, read-only."""

from __future__ import annotations

import mmap
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from optui.settings import load_settings
from optui.store.journal import Journal
from optui.tui.system_health import (
    DiskSpace,
    ProcessMeter,
    free_disk,
    read_store_health,
    rss_bytes,
)

MIB = 2**20


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_cpu_is_the_share_of_a_core_over_at_least_the_window(tmp_path: Path) -> None:
    wall, cpu = Clock(), Clock()
    meter = ProcessMeter(
        cpu_time=cpu,
        wall_time=wall,
        memory=lambda: 42 * MIB,
        disk=lambda path: DiskSpace(path, free=7, total=9),
        min_window=1.0,
    )
    first = meter.sample(tmp_path)
    assert first.cpu_percent is None  # no window yet
    assert first.rss_bytes == 42 * MIB and first.disk == DiskSpace(tmp_path, 7, 9)
    wall.now, cpu.now = 0.5, 0.4
    assert meter.sample(tmp_path).cpu_percent is None  # half a window is not enough
    wall.now, cpu.now = 2.0, 1.0
    assert meter.sample(tmp_path).cpu_percent == pytest.approx(50.0)
    wall.now, cpu.now = 3.0, 2.5  # two threads busy: more than one core
    assert meter.sample(tmp_path).cpu_percent == pytest.approx(150.0)
    wall.now = 3.5  # within the next window, the last reading stands
    assert meter.sample(tmp_path).cpu_percent == pytest.approx(150.0)


def test_the_disk_is_read_again_only_after_its_interval(tmp_path: Path) -> None:
    wall = Clock()
    reads: list[Path] = []

    def disk(path: Path) -> DiskSpace:
        reads.append(path)
        return DiskSpace(path, free=len(reads), total=100)

    meter = ProcessMeter(wall_time=wall, disk=disk, disk_interval=5.0)
    assert meter.sample(tmp_path).disk == DiskSpace(tmp_path, 1, 100)
    wall.now = 4.0
    assert meter.sample(tmp_path).disk == DiskSpace(tmp_path, 1, 100)
    wall.now = 5.0
    assert meter.sample(tmp_path).disk == DiskSpace(tmp_path, 2, 100)
    other = tmp_path / "other"
    assert meter.sample(other).disk == DiskSpace(other, 3, 100)  # another dir: read now

    def broken(path: Path) -> DiskSpace:
        raise PermissionError(f"{path}: permission denied")

    assert ProcessMeter(disk=broken).sample(tmp_path).disk is None


def test_the_real_readers_give_sane_values(tmp_path: Path) -> None:
    meter = ProcessMeter(min_window=0.0)
    meter.sample(tmp_path)
    # Some real work between two samples (not a sleep: CPU is what is measured).
    deadline = time.monotonic() + 0.05
    spins = 0
    while time.monotonic() < deadline:
        spins += sum(range(1000))
    reading = meter.sample(tmp_path)
    assert reading.cpu_percent is not None
    assert 0.0 <= reading.cpu_percent <= 100.0 * (os.cpu_count() or 1) + 5.0
    assert reading.rss_bytes is not None and 10 * MIB < reading.rss_bytes < 64 * 2**30
    assert reading.disk is not None
    usage = shutil.disk_usage(tmp_path)
    assert reading.disk.total == usage.total and 0 < reading.disk.free <= usage.total


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="current RSS is Linux's statm")
def test_resident_memory_follows_what_the_process_holds() -> None:
    before = rss_bytes()
    assert before is not None
    # A fresh anonymous mapping, not the allocator's: memory Python freed earlier stays
    # resident in its arenas, and a new object there would not raise the RSS at all.
    held = mmap.mmap(-1, 64 * MIB)
    for offset in range(0, 64 * MIB, mmap.PAGESIZE):
        held[offset] = 1  # touched, so every page is resident
    after = rss_bytes()
    held.close()
    assert after is not None and after >= before + 32 * MIB


def test_the_free_disk_of_a_missing_dir_is_that_of_its_nearest_parent(tmp_path: Path) -> None:
    missing = tmp_path / "not" / "yet" / "created"
    space = free_disk(missing)
    assert space.path == tmp_path
    assert not missing.exists()  # measuring creates nothing
    usage = shutil.disk_usage(tmp_path)
    assert space.total == usage.total and 0 < space.free <= usage.total
    assert free_disk(tmp_path).path == tmp_path


def test_no_journal_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(overrides={"data_dir": str(tmp_path / "data")})
    health = read_store_health(settings)
    assert not health.journal and health.roll_lag(100.0) is None
    assert not (tmp_path / "data").exists()  # reading created nothing


def test_a_collector_s_journal_backlog_and_roll_lag(tmp_path: Path) -> None:
    settings = load_settings(overrides={"data_dir": str(tmp_path / "data")})
    first, last = 1_700_000_000.0, 1_700_000_030.0
    with Journal(tmp_path / "data" / "journal", sync=False, writer_id="desk-1") as journal:
        journal.append(b"\x00\x00", received_ns=int(first * 1e9))
        journal.append(b"\x00\x00", received_ns=int(last * 1e9))
        running = read_store_health(settings)
        assert running.collector is not None and "desk-1" in running.collector
    health = read_store_health(settings)
    assert health.journal and health.error is None
    assert health.frames == 2 and health.used_bytes > 0
    assert health.oldest_frame == pytest.approx(first)
    assert health.newest_frame == pytest.approx(last)
    assert health.collector is None  # the writer closed
    assert health.roll_lag(first + 90.0) == pytest.approx(90.0)
    # Once everything is rolled, there is no lag.
    with Journal(tmp_path / "data" / "journal", sync=False) as journal:
        key = journal.stats().last_key
        assert key is not None
        journal.delete_through(key)
    drained = read_store_health(settings)
    assert drained.frames == 0 and drained.roll_lag(first + 90.0) == 0.0


def test_an_unreadable_journal_is_reported_not_raised(tmp_path: Path) -> None:
    settings = load_settings(overrides={"data_dir": str(tmp_path / "data")})
    folder = tmp_path / "data" / "journal"
    folder.mkdir(parents=True)
    (folder / "data.mdb").write_bytes(b"this is not an LMDB file" * 100)
    health = read_store_health(settings)
    assert health.journal and health.error
    assert health.roll_lag(0.0) is None
