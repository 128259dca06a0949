"""`optui backup DEST`: a consistent copy of the journal and the archive, safe while collecting.

The journal is copied with LMDB's live copy (a consistent snapshot even while a collector
writes). Archive files never change once renamed into place, so only files DEST does not have
yet (same relative path and size) are copied — a daily backup copies one day. Each file is
copied to a temporary name and renamed, so an interrupted backup never leaves a half file
under a real name.
"""

from __future__ import annotations

import argparse
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from optui.settings import Settings, SettingsError

__all__ = ["BackupResult", "add_arguments", "backup", "run"]


@dataclass(frozen=True)
class BackupResult:
    journal_frames: int
    files_copied: int
    files_skipped: int
    bytes_copied: int


def _copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with source.open("rb") as src, partial.open("wb") as dst:
        shutil.copyfileobj(src, dst, length=4 * 2**20)
        dst.flush()
        os.fsync(dst.fileno())
    partial.replace(target)


def backup(settings: Settings, dest: Path) -> BackupResult:
    """Copy the journal (live) and the archive files DEST lacks into DEST."""
    from optui.store.journal import Journal  # noqa: PLC0415
    from optui.store.locations import archive_root, journal_dir  # noqa: PLC0415

    root = archive_root(settings)
    if "://" in root:
        raise SettingsError(
            f"store.archive = {root!r} is not a local folder: back an object store up with "
            "its own tools (versioning, replication); `optui backup` copies local archives"
        )
    dest = dest.expanduser().resolve()
    if dest == settings.data_dir.resolve() or settings.data_dir.resolve() in dest.parents:
        raise SettingsError(f"backup destination {dest} must be outside the data dir")
    frames = 0
    source_journal = journal_dir(settings)
    if (source_journal / "data.mdb").exists():
        with Journal(source_journal, readonly=True) as journal:
            journal_copy = dest / "journal"
            if journal_copy.exists():
                shutil.rmtree(journal_copy)
            journal.copy_to(journal_copy)
        with Journal(journal_copy, readonly=True) as copied:
            frames = copied.stats().frames
    copied_files = skipped = size = 0
    archive = Path(root)
    if archive.exists():
        for path in sorted(archive.rglob("*.parquet")):
            if path.name.startswith("."):
                continue  # a roll in progress: its temporary file
            target = dest / "archive" / path.relative_to(archive)
            length = path.stat().st_size
            if target.exists() and target.stat().st_size == length:
                skipped += 1
                continue
            _copy_file(path, target)
            copied_files += 1
            size += length
    return BackupResult(frames, copied_files, skipped, size)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dest", metavar="DEST", type=Path, help="folder to back up into")


def run(args: argparse.Namespace) -> int:
    """`optui backup DEST`."""
    from optui.cli import settings_from_args  # noqa: PLC0415

    result = backup(settings_from_args(args), args.dest)
    print(
        f"journal: {result.journal_frames:,} frames copied live · archive: "
        f"{result.files_copied} files copied ({result.bytes_copied / 2**20:,.1f} MiB), "
        f"{result.files_skipped} already there"
    )
    return 0
