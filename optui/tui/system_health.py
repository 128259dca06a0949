"""How the machine under optui is doing: this process's CPU and memory, the data dir's free
disk, and a collector's journal backlog and roll lag.

The errors screen shows these beside the feed's events, because a feed that "drops" is as
often a starved process or a full disk as a bad network. Everything here is read, never
changed: the journal is opened read-only (safe beside a running collector, as
`optui status` does), and nothing is written to the data dir.

Two kinds of reading, two costs:

- `ProcessMeter.sample` is cheap (a clock read, one small /proc file, a `statvfs`) and runs on
  the UI thread at every refresh. CPU is a share of one core over at least `min_window`
  seconds of wall time (a 0.25 s window would flicker between 0 and 100 %), so the first
  readings have none. The clocks and readers are parameters, so tests give fixed numbers.
- `read_store_health` opens the journal, which counts every frame's length (about 0.3 µs a
  frame): run it in a worker, every few seconds at most. It reads only the journal, not the
  archive, whose Parquet footers `optui status` opens one by one (far too slow to repeat).

No Textual here: the sampling is plain Python, so it is tested without a terminal.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from optui.settings import Settings

__all__ = [
    "DiskSpace",
    "ProcessHealth",
    "ProcessMeter",
    "StoreHealth",
    "free_disk",
    "read_store_health",
    "rss_bytes",
]

#: CPU is measured over at least this much wall time.
CPU_WINDOW_S: Final = 1.0
#: The free disk is read again after this long (it changes slowly; statvfs is not free).
DISK_INTERVAL_S: Final = 5.0
_NS: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class DiskSpace:
    """Free and total bytes of the file system that holds (or will hold) a folder."""

    path: Path
    """The folder measured: the one asked for, or its nearest existing parent."""
    free: int
    total: int


@dataclass(frozen=True, slots=True)
class ProcessHealth:
    """One reading of this process and its disk."""

    cpu_percent: float | None
    """Share of one core (100 = one core busy) over the last window; None before one."""
    rss_bytes: int | None
    """Resident memory; None where the system does not say."""
    disk: DiskSpace | None
    """Free disk of the data dir; None when it cannot be read."""


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """A collector's journal in the data dir, as read at one moment."""

    journal: bool
    """Whether the data dir holds a journal at all."""
    frames: int = 0
    """Frames journalled and not yet rolled into the archive (the backlog)."""
    used_bytes: int = 0
    oldest_frame: float | None = None
    """Receive time (epoch seconds) of the oldest frame not yet rolled."""
    newest_frame: float | None = None
    collector: str | None = None
    """Who is writing the journal (pid, id, host, since), or None when no collector runs."""
    error: str | None = None
    """Why the journal could not be read (the rest is then unknown)."""

    def roll_lag(self, now: float) -> float | None:
        """Seconds the oldest unrolled frame has waited for the archive (0 with no backlog,
        None when unknown)."""
        if not self.journal or self.error is not None:
            return None
        if self.oldest_frame is None:
            return 0.0
        return max(now - self.oldest_frame, 0.0)


def rss_bytes() -> int | None:
    """This process's resident memory now: /proc/self/statm on Linux; elsewhere the peak
    (`ru_maxrss`), the nearest the system offers; None when neither is there."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident_pages = int(statm.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource  # noqa: PLC0415  (absent on Windows)
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Bytes on macOS, KiB on Linux and the BSDs.
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _existing(path: Path) -> Path:
    """`path` or its nearest parent that exists (a data dir is created on first write)."""
    path = path.expanduser().absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def free_disk(path: Path) -> DiskSpace:
    """Free and total space of the file system `path` is (or would be) on."""
    where = _existing(Path(path))
    usage = shutil.disk_usage(where)
    return DiskSpace(path=where, free=usage.free, total=usage.total)


class ProcessMeter:
    """Samples this process: CPU over a window of wall time, memory, free disk.

    Not thread-safe: one meter per reader (the errors screen has its own).
    """

    def __init__(
        self,
        *,
        cpu_time: Callable[[], float] = time.process_time,
        wall_time: Callable[[], float] = time.monotonic,
        memory: Callable[[], int | None] = rss_bytes,
        disk: Callable[[Path], DiskSpace] = free_disk,
        min_window: float = CPU_WINDOW_S,
        disk_interval: float = DISK_INTERVAL_S,
    ) -> None:
        self._cpu_time = cpu_time
        self._wall_time = wall_time
        self._memory = memory
        self._disk = disk
        self._min_window = min_window
        self._disk_interval = disk_interval
        self._mark: tuple[float, float] | None = None  # (wall, cpu) at the window's start
        self._cpu: float | None = None
        self._disk_at: tuple[float, Path, DiskSpace | None] | None = None

    def sample(self, data_dir: Path) -> ProcessHealth:
        """The latest CPU share, memory and the free disk of `data_dir`."""
        wall, cpu = self._wall_time(), self._cpu_time()
        if self._mark is None:
            self._mark = (wall, cpu)
        elif wall - self._mark[0] >= self._min_window:
            elapsed = wall - self._mark[0]
            self._cpu = max(cpu - self._mark[1], 0.0) / elapsed * 100.0
            self._mark = (wall, cpu)
        return ProcessHealth(
            cpu_percent=self._cpu, rss_bytes=self._memory(), disk=self._disk_of(data_dir, wall)
        )

    def _disk_of(self, data_dir: Path, wall: float) -> DiskSpace | None:
        cached = self._disk_at
        if cached is not None and cached[1] == data_dir and wall - cached[0] < self._disk_interval:
            return cached[2]
        try:
            disk: DiskSpace | None = self._disk(data_dir)
        except OSError:
            disk = None
        self._disk_at = (wall, data_dir, disk)
        return disk


def read_store_health(settings: Settings) -> StoreHealth:
    """The journal in `settings.data_dir`, read-only (slow-ish: call it from a worker)."""
    import lmdb  # noqa: PLC0415

    from optui.store.journal import Journal, JournalError, split_key, writer_info  # noqa: PLC0415
    from optui.store.locations import journal_dir  # noqa: PLC0415

    path = journal_dir(settings)
    if not (path / "data.mdb").exists():
        return StoreHealth(journal=False)
    try:
        with Journal(path, readonly=True) as journal:
            stats = journal.stats()
        collector = writer_info(path)
    except (JournalError, OSError, lmdb.Error) as exc:
        return StoreHealth(journal=True, error=str(exc))
    return StoreHealth(
        journal=True,
        frames=stats.frames,
        used_bytes=stats.used_bytes,
        oldest_frame=split_key(stats.first_key)[0] / _NS if stats.first_key else None,
        newest_frame=split_key(stats.last_key)[0] / _NS if stats.last_key else None,
        collector=collector,
    )
