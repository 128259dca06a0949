"""The system's health beside the feed's events: CPU, memory, free disk, ticks/s, data age,
and a collector's journal backlog and roll lag.

`health_rows` turns the readings into (label, value, level) lines, pure, so tests check the
words and the thresholds without a terminal; `HealthPanel` draws them. Levels: "ok", "warn"
(worth a look), "bad" (act now), "info" (no judgement, e.g. ticks/s, which is 0 when the
market is closed). The thresholds are the goals of the TUI's benchmark (under half a core,
under 300 MB) and what a collector needs to keep going (a few GB of disk).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from optui.tui.context import FeedInfo
from optui.tui.header import STALE_AFTER_S
from optui.tui.system_health import ProcessHealth, StoreHealth

__all__ = ["HealthPanel", "HealthRow", "Level", "health_rows"]

Level = Literal["ok", "warn", "bad", "info"]
_STYLES: Final[dict[str, str]] = {"ok": "green", "warn": "yellow", "bad": "bold red", "info": ""}

CPU_WARN: Final = 50.0  # % of one core
CPU_BAD: Final = 90.0
MEMORY_WARN: Final = 300 * 2**20
MEMORY_BAD: Final = 1024 * 2**20
DISK_WARN: Final = 5 * 2**30
DISK_BAD: Final = 1 * 2**30
#: A roll lag beyond this many roll intervals means the collector is not keeping up.
ROLL_LAG_INTERVALS: Final = 3


@dataclass(frozen=True, slots=True)
class HealthRow:
    label: str
    value: str
    level: Level


def _size(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,.0f} B"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds / 3600:,.1f} h"


def _above(value: float, warn: float, bad: float) -> Level:
    return "bad" if value >= bad else "warn" if value >= warn else "ok"


def _process_rows(process: ProcessHealth) -> list[HealthRow]:
    rows: list[HealthRow] = []
    cpu = process.cpu_percent
    rows.append(
        HealthRow("CPU", "measuring…", "info")
        if cpu is None
        else HealthRow("CPU", f"{cpu:,.0f}% of a core", _above(cpu, CPU_WARN, CPU_BAD))
    )
    rss = process.rss_bytes
    rows.append(
        HealthRow("Memory", "unknown", "info")
        if rss is None
        else HealthRow("Memory", _size(rss), _above(rss, MEMORY_WARN, MEMORY_BAD))
    )
    disk = process.disk
    if disk is None:
        rows.append(HealthRow("Free disk", "unreadable", "warn"))
    else:
        level: Level = "bad" if disk.free < DISK_BAD else "warn" if disk.free < DISK_WARN else "ok"
        rows.append(HealthRow("Free disk", f"{_size(disk.free)} of {_size(disk.total)}", level))
    return rows


def _feed_rows(feed: FeedInfo, now: float) -> list[HealthRow]:
    if feed.newest_tick is None:
        age = HealthRow("Data age", "no tick yet", "warn")
    else:
        seconds = max(now - feed.newest_tick, 0.0)
        stale = seconds > STALE_AFTER_S
        age = HealthRow(
            "Data age", _duration(seconds) + (" STALE" if stale else ""), "warn" if stale else "ok"
        )
    return [HealthRow("Ticks/s", f"{feed.ticks_per_s:,.0f}", "info"), age]


def _store_rows(store: StoreHealth | None, now: float, roll_interval: float) -> list[HealthRow]:
    if store is None:
        return [HealthRow("Journal", "reading…", "info")]
    if not store.journal:
        return [HealthRow("Journal", "none in this data dir", "info")]
    if store.error is not None:
        return [HealthRow("Journal", f"unreadable: {store.error}", "bad")]
    running = store.collector is not None
    rows = [
        HealthRow(
            "Backlog",
            f"{store.frames:,} frames ({_size(store.used_bytes)})",
            "info",
        )
    ]
    lag = store.roll_lag(now) or 0.0
    if not store.frames:
        rows.append(HealthRow("Roll lag", "none: all archived", "ok"))
    elif running:
        late = lag > ROLL_LAG_INTERVALS * roll_interval
        rows.append(HealthRow("Roll lag", _duration(lag), "warn" if late else "ok"))
    else:
        rows.append(HealthRow("Roll lag", f"{_duration(lag)}: run `optui roll`", "warn"))
    rows.append(
        HealthRow("Collector", "running" if running else "not running", "ok" if running else "info")
    )
    return rows


def health_rows(
    process: ProcessHealth,
    store: StoreHealth | None,
    feed: FeedInfo,
    now: float,
    roll_interval: float,
) -> list[HealthRow]:
    """Every line of the panel, in order (`store` None: not read yet)."""
    return [
        *_process_rows(process),
        *_feed_rows(feed, now),
        *_store_rows(store, now, roll_interval),
    ]


class HealthPanel(Static):
    """The health lines as a two-column grid."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.rows: tuple[HealthRow, ...] = ()

    def show(self, rows: Sequence[HealthRow]) -> None:
        """Draw `rows` (redrawn only when they changed)."""
        rows = tuple(rows)
        if rows == self.rows:
            return
        self.rows = rows
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for row in rows:
            grid.add_row(row.label, Text(row.value, style=_STYLES[row.level]))
        self.update(grid)
