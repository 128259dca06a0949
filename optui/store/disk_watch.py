"""Watch the store's health: free disk before it is full, and the journal's map growing.

A full disk is the one storage problem only a person can fix, and the time to say so is
before writes fail. `StorageWatch.check(now)` looks at the free space of the data dir's disk
and the journal's map size, and returns events:

- ``storage.disk_low`` (warning, needs the user) when free space falls below the warning
  level, ``storage.disk_full`` (critical) below the critical level, each once per crossing;
- ``storage.disk_ok`` (clears both) when free space is back above the warning level plus a
  margin (hysteresis, so a disk hovering at the line does not flap);
- ``storage.map_grown`` (info) when the journal's map has grown (it doubles by itself when
  full; the event says so, it needs nothing from anyone).

No clock reads of its own; `disk_free` is injectable so tests can play a filling disk.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Final

from optui.events import Event

__all__ = ["StorageWatch"]

_MIB: Final = 2**20
#: Free space must climb this far above the warning level before "ok" is said.
_MARGIN: Final = 0.10


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


class StorageWatch:
    """Free-space and map-growth checks of one data dir (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        warn_bytes: int,
        critical_bytes: int,
        map_size: Callable[[], int] | None = None,
        disk_free: Callable[[Path], int] = _free_bytes,
    ) -> None:
        self.path = path
        self.warn_bytes = warn_bytes
        self.critical_bytes = min(critical_bytes, warn_bytes)
        self._map_size = map_size
        self._disk_free = disk_free
        self._level = "ok"  # ok | low | full
        self._known_map = map_size() if map_size is not None else 0
        self.free: int | None = None
        """Free bytes at the last check (None before it, or when unreadable)."""

    def check(self, now: float) -> list[Event]:
        events: list[Event] = []
        try:
            free = self._disk_free(self.path)
        except OSError as exc:
            self.free = None
            events.append(
                Event(
                    time=now,
                    kind="storage",
                    severity="warning",
                    code="storage.disk_unknown",
                    message=f"cannot read the free space of {self.path}: {exc}",
                    details={"subject": str(self.path)},
                    did="Carried on; it checks again shortly.",
                    do="Check that the data folder's disk is still mounted.",
                )
            )
        else:
            self.free = free
            events.extend(self._disk_events(now, free))
        if self._map_size is not None:
            size = self._map_size()
            if size > self._known_map:
                events.append(
                    Event(
                        time=now,
                        kind="storage",
                        severity="info",
                        code="storage.map_grown",
                        message=f"the journal's map grew from {self._known_map / _MIB:,.0f} "
                        f"to {size / _MIB:,.0f} MiB",
                        details={"before": self._known_map, "after": size},
                        did="Doubled the map and carried on; no frame was lost.",
                        do="",
                    )
                )
            self._known_map = max(size, self._known_map)
        return events

    def _disk_events(self, now: float, free: int) -> list[Event]:
        shown = f"{free / _MIB:,.0f} MiB"
        if free < self.critical_bytes and self._level != "full":
            self._level = "full"
            return [
                Event(
                    time=now,
                    kind="storage",
                    severity="critical",
                    code="storage.disk_full",
                    message=f"the data folder's disk is nearly full: {shown} free",
                    details={"subject": str(self.path), "free": free},
                    did="Still writing; when the disk is full the collector stops with exit "
                    "code 4 and keeps everything already committed.",
                    do=f"Free space on the disk of {self.path} now (or move the data folder, "
                    "--data-dir).",
                    needs_user=True,
                    clears="storage.disk_low",
                )
            ]
        if self.critical_bytes <= free < self.warn_bytes and self._level == "ok":
            self._level = "low"
            return [
                Event(
                    time=now,
                    kind="storage",
                    severity="warning",
                    code="storage.disk_low",
                    message=f"the data folder's disk is getting full: {shown} free",
                    details={"subject": str(self.path), "free": free},
                    did="Still writing; it warns again when space is critical.",
                    do=f"Free space on the disk of {self.path} (or move the data folder, "
                    "--data-dir) before it fills.",
                    needs_user=True,
                )
            ]
        if free >= self.warn_bytes * (1 + _MARGIN) and self._level != "ok":
            before = self._level
            self._level = "ok"
            return [
                Event(
                    time=now,
                    kind="storage",
                    severity="info",
                    code="storage.disk_ok",
                    message=f"the data folder's disk has room again: {shown} free",
                    details={"subject": str(self.path), "free": free},
                    did="Nothing more to do.",
                    do="",
                    clears=f"storage.disk_{before}",
                )
            ]
        return []
