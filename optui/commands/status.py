"""`optui status [--json]`: what is stored, and whether a collector is writing it.

Reads only: the journal is opened read-only (safe beside a running collector) and the archive
is summarised from Parquet footers (row counts) and file sizes, never by reading the data.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from optui.settings import Settings

__all__ = ["ArchiveDay", "Status", "add_arguments", "gather", "render", "run"]

_PARTITION = re.compile(r"date=(\d{4}-\d{2}-\d{2})/collector=([^/]+)/[^/]+\.parquet$")


@dataclass(frozen=True)
class ArchiveDay:
    date: str
    collector: str
    files: int
    rows: int
    bytes: int


@dataclass(frozen=True)
class Status:
    data_dir: str
    archive: str
    journal_frames: int
    journal_bytes: int
    journal_first_frame: str | None
    journal_last_frame: str | None
    collector_running: bool
    collector: str | None
    days: list[ArchiveDay]
    unreadable: list[str]

    @property
    def archived_rows(self) -> int:
        return sum(day.rows for day in self.days)

    @property
    def archived_bytes(self) -> int:
        return sum(day.bytes for day in self.days)


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def _archive_days(root: str) -> tuple[list[ArchiveDay], list[str]]:
    import pyarrow.parquet as pq  # noqa: PLC0415
    from pyarrow import fs  # noqa: PLC0415

    filesystem, base = (
        fs.FileSystem.from_uri(root) if "://" in root else (fs.LocalFileSystem(), root)
    )
    info = filesystem.get_file_info(base)
    if info.type == fs.FileType.NotFound:
        return [], []
    found: dict[tuple[str, str], list[int]] = {}
    unreadable: list[str] = []
    for item in filesystem.get_file_info(fs.FileSelector(base, recursive=True)):
        match = _PARTITION.search(item.path)
        if item.type != fs.FileType.File or match is None or "/ticks/" not in "/" + item.path:
            continue
        if item.path[len(base) :].lstrip("/").startswith("quarantine/"):
            continue  # unreadable files moved aside by a reader (`optui doctor` lists them)
        try:
            with filesystem.open_input_file(item.path) as handle:
                rows = pq.read_metadata(handle).num_rows
        except Exception:  # a corrupt file is reported, not fatal to the summary
            unreadable.append(item.path)
            continue
        tally = found.setdefault((match[1], match[2]), [0, 0, 0])
        tally[0] += 1
        tally[1] += rows
        tally[2] += item.size or 0
    days = [
        ArchiveDay(day, collector, files, rows, size)
        for (day, collector), (files, rows, size) in sorted(found.items())
    ]
    return days, unreadable


def gather(settings: Settings) -> Status:
    """Everything `optui status` reports."""
    from optui.store.journal import Journal, split_key, writer_info  # noqa: PLC0415
    from optui.store.locations import archive_root, journal_dir  # noqa: PLC0415

    path = journal_dir(settings)
    frames = used = 0
    first = last = None
    if (path / "data.mdb").exists():
        with Journal(path, readonly=True) as journal:
            stats = journal.stats()
        frames, used = stats.frames, stats.used_bytes
        first = _iso(split_key(stats.first_key)[0]) if stats.first_key else None
        last = _iso(split_key(stats.last_key)[0]) if stats.last_key else None
    holder = writer_info(path)
    root = archive_root(settings)
    days, unreadable = _archive_days(root)
    return Status(
        data_dir=str(settings.data_dir),
        archive=root,
        journal_frames=frames,
        journal_bytes=used,
        journal_first_frame=first,
        journal_last_frame=last,
        collector_running=holder is not None,
        collector=holder,
        days=days,
        unreadable=unreadable,
    )


def render(status: Status) -> str:
    """The human form."""
    lines = [
        f"data dir     {status.data_dir}",
        f"archive      {status.archive}",
        "collector    "
        + (f"running ({status.collector})" if status.collector_running else "not running"),
        f"journal      {status.journal_frames:,} frames not yet archived "
        f"(file uses {status.journal_bytes / 2**20:,.1f} MiB)",
    ]
    if status.journal_last_frame:
        lines.append(f"last frame   {status.journal_last_frame}")
    if status.days:
        days = len({d.date for d in status.days})
        lines.append(
            f"archived     {days} day{'s' if days != 1 else ''}, "
            f"{status.archived_rows:,} ticks, {status.archived_bytes / 2**20:,.1f} MiB"
        )
        lines += [
            f"  {d.date}  {d.collector:<20} {d.rows:>12,} ticks {d.bytes / 2**20:>9,.1f} MiB"
            f"  {d.files} files"
            for d in status.days
        ]
    else:
        lines.append("archived     nothing yet (run `optui collect`)")
    for path in status.unreadable:
        lines.append(f"UNREADABLE   {path} (run `optui doctor`)")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """`optui status`."""
    from optui.cli import settings_from_args  # noqa: PLC0415

    status = gather(settings_from_args(args))
    if args.json:
        record: dict[str, Any] = asdict(status)
        record["archived_rows"] = status.archived_rows
        record["archived_bytes"] = status.archived_bytes
        print(json.dumps(record, indent=2))
    else:
        print(render(status))
    return 1 if status.unreadable else 0
