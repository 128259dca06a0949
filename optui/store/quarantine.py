"""Unreadable archive files: skipped, moved aside (never deleted), and reported.

A Parquet file in the archive can become unreadable: a copy cut short, a disk that filled up
under another tool, bytes overwritten, a foreign file dropped into a `date=` folder. One bad
file must not make a whole day (or every day, for a dataset scan) unreadable, and it must
never be deleted: it may be all that is left of those ticks, and it is the evidence of what
went wrong. So every reader of the archive goes through `scan_files`, which

1. scans the files as one dataset (the fast path: nothing is read twice when all is well);
2. when that fails, or returns rows whose key columns are null (a file lacking the archive's
   columns: a dataset fills missing columns with nulls instead of failing), checks each file
   on its own (`file_problem`: footer, columns, every page with its checksum);
3. moves each file that is at fault to ``<archive root>/quarantine/<same relative path>``
   (`quarantine`; a unique name, never over another file; on an object store nothing is
   moved, the file is only skipped), reports a ``storage.archive_unreadable`` event, and
4. reads the remaining files, so the rest of the day is still returned.

A failure that is *not* a file's (every file reads on its own) is raised as before, as
`ArchiveError`: quarantining files for a fault of the reader's would empty the archive.

Pages carry CRC32 checksums (`optui.store.archive` writes them) and `READ_FORMAT` verifies
them, so bytes overwritten inside a page are found instead of read as wrong prices.

Events go to the `on_event` callable of the reader (the collector's and the TUI's `EventLog`,
or a command printing to stderr); without one they are logged as warnings here.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from optui.events import Event

__all__ = [
    "CODE",
    "QUARANTINE_DIR",
    "READ_FORMAT",
    "EventSink",
    "file_problem",
    "quarantine",
    "quarantined_files",
    "scan_files",
]

log = logging.getLogger(__name__)

#: Folder under the archive root that unreadable files are moved into.
QUARANTINE_DIR: Final = "quarantine"
#: The event code of an unreadable archive file.
CODE: Final = "storage.archive_unreadable"
#: Parquet as the archive is read: page checksums verified where the writer stored them.
READ_FORMAT: Final = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
)
#: Columns every archive row has (never null): a null one means a file lacks the column.
KEY_COLUMNS: Final = ("instrument_token", "received", "frame_seq", "packet", "key")
_BATCH: Final = 64 * 1024
_MAX_PROBLEM: Final = 300

EventSink = Callable[[Event], object]


def _first_line(exc: BaseException, path: str | None = None) -> str:
    message = str(exc)
    if path is not None:  # the event names the file already; pyarrow repeats the whole path
        message = message.replace(f" '{path}'", "").replace(path, path.rsplit("/", 1)[-1])
    text = message.strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= _MAX_PROBLEM else line[: _MAX_PROBLEM - 1] + "…"


def _is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


# -- telling a bad file from a good one -----------------------------------------------------------
def file_problem(fs: pafs.FileSystem, path: str, schema: pa.Schema) -> str | None:
    """Why the file at `path` cannot be read as `schema` (None when it reads whole).

    Reads the footer, checks that every column of `schema` is there, then reads every page
    (in batches, so memory stays bounded; page checksums verified) cast to `schema`. A file
    that is not there (moved by another reader meanwhile) raises FileNotFoundError.
    """
    try:
        dataset = ds.dataset(path, schema=schema, format=READ_FORMAT, filesystem=fs)
        fragment = next(iter(dataset.get_fragments()))
        physical = fragment.physical_schema
        missing = [name for name in schema.names if physical.get_field_index(name) < 0]
        if missing:
            listed = ", ".join(missing[:3]) + (
                f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            )
            return f"not an archive file: it lacks {len(missing)} of its columns ({listed})"
        for _ in dataset.to_batches(batch_size=_BATCH):
            pass
    except FileNotFoundError:
        raise
    except (pa.ArrowException, OSError) as exc:
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            raise FileNotFoundError(path) from exc
        return _first_line(exc, path)
    return None


# -- moving it aside -----------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _candidates(target: Path) -> list[Path]:
    """`target`, then `name.2.parquet`, `name.3.parquet` …: where a file may go."""
    stem, suffix = target.stem, target.suffix
    return [target, *(target.with_name(f"{stem}.{n}{suffix}") for n in range(2, 10_000))]


def _move_aside(source: Path, target: Path) -> Path:
    """Move `source` to `target` (or the first free variant of its name); never replaces a
    file and never deletes one. A hard link then an unlink: `link` fails on an existing
    name, which a check-then-rename could not guarantee."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for candidate in _candidates(target):
        try:
            os.link(source, candidate)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            # No hard links on this filesystem: rename into a name that is free right now.
            if candidate.exists():
                continue
            os.rename(source, candidate)
            break
        try:
            os.unlink(source)
        except FileNotFoundError:
            # Another reader moved it first (it linked, then unlinked `source`): its name
            # holds the file, so this second name of the same file can go.
            if os.stat(candidate).st_nlink > 1:
                os.unlink(candidate)
            raise
        break
    else:  # pragma: no cover - ten thousand copies of one name
        raise FileExistsError(errno.EEXIST, "no free name in quarantine", str(target))
    _fsync_dir(candidate.parent)
    _fsync_dir(source.parent)
    return candidate


def _relative(base: str, path: str) -> str:
    prefix = base.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else path.rsplit("/", 1)[-1]


def quarantine(
    fs: pafs.FileSystem,
    base: str,
    path: str,
    problem: str,
    *,
    on_event: EventSink | None = None,
) -> Event:
    """Move the unreadable archive file `path` to `<base>/quarantine/<its relative path>`
    (local archives only; on an object store it stays where it is) and report it.

    Returns the event (also given to `on_event`, or logged as a warning without one).
    """
    relative = _relative(base, path)
    moved: str | None = None
    if not _is_local(fs):
        did = (
            "skipped it and left it where it is (optui moves nothing in an object store); "
            "the rest of the data was read"
        )
        do = (
            f"Move {path} out of the archive with your storage's tools, and restore it from a "
            "backup or a versioned copy if you have one: its ticks are missing until then."
        )
    else:
        folder = Path(base) / QUARANTINE_DIR
        try:
            moved = str(_move_aside(Path(path), folder / relative))
        except FileNotFoundError:
            did = f"skipped it (another reader had just moved it into {folder})"
        except OSError as exc:
            did = f"skipped it, but could not move it into {folder}: {exc.strerror or exc}"
        else:
            did = f"skipped it and moved it to {moved}; the rest of the data was read"
        do = (
            "Restore the file from a backup if you have one (put it back under its old name): "
            "its ticks are missing from every read until then. The damaged copy stays in "
            f"{folder} for diagnosis; delete it yourself once you no longer need it. A file "
            "is usually damaged by a copy cut short or a disk that filled up."
        )
    event = Event(
        time=time.time(),
        kind="storage",
        severity="error",
        code=CODE,
        message=f"archive file {relative} cannot be read: {problem}",
        details={"subject": path, "problem": problem, "moved_to": moved},
        did=did,
        do=do,
    )
    _report(event, on_event)
    return event


def _report(event: Event, on_event: EventSink | None) -> None:
    if on_event is None:
        log.warning("%s; optui %s. %s", event.message, event.did, event.do)
        return
    try:
        on_event(event)
    except Exception as exc:  # reporting must never stop a read
        log.warning("%s (and reporting it failed: %s: %s)", event.message, type(exc).__name__, exc)


# -- the readers' one entry point ----------------------------------------------------------------
def scan_files(
    fs: pafs.FileSystem,
    base: str,
    files: Sequence[str],
    make_dataset: Callable[[list[str]], ds.Dataset],
    *,
    schema: pa.Schema,
    columns: Sequence[str] | None = None,
    filter: ds.Expression | None = None,
    on_event: EventSink | None = None,
) -> pa.Table:
    """`make_dataset(files).to_table(columns, filter)`, skipping and quarantining the files
    that cannot be read as `schema` (their physical schema: the partition columns excluded).

    Raises `ArchiveError` (naming the file when one is to blame but could not be told apart)
    when the read fails for another reason than a file.
    """
    from optui.store.archive import ArchiveError  # noqa: PLC0415 (archive imports this module)

    wanted = list(columns) if columns is not None else None
    keys = [k for k in KEY_COLUMNS if k in schema.names and (wanted is None or k in wanted)]
    guarded = filter
    if filter is not None and keys:
        # Let rows of a file that lacks the key columns through the filter, so it shows.
        missing_key = pc.field(keys[0]).is_null()
        for key in keys[1:]:
            missing_key = missing_key | pc.field(key).is_null()
        guarded = filter | missing_key
    paths = list(files)
    try:
        table = make_dataset(paths).to_table(columns=wanted, filter=guarded)
    except (pa.ArrowException, OSError) as exc:
        failure: BaseException = exc
    else:
        if not any(table.column(k).null_count for k in keys):
            return table
        failure = ValueError("rows without their key columns")

    good: list[str] = []
    for path in paths:
        try:
            problem = file_problem(fs, path, schema)
        except FileNotFoundError:
            continue  # moved away meanwhile (by another reader's quarantine)
        if problem is None:
            good.append(path)
        else:
            quarantine(fs, base, path, problem, on_event=on_event)
    try:
        return make_dataset(good).to_table(columns=wanted, filter=filter)
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveError(f"the archive cannot be read: {_first_line(exc)}") from failure


def quarantined_files(root: str | Path) -> list[Path]:
    """The files in a local archive's quarantine folder, oldest first."""
    folder = Path(str(root).removeprefix("file://")) / QUARANTINE_DIR
    if not folder.is_dir():
        return []
    found = [p for p in folder.rglob("*") if p.is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, str(p)))
