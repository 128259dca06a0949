"""The archive: the journal's closed frames as Parquet, one folder per trading day, kept forever.

Layout (hive partitions, readable as one dataset by pyarrow, DuckDB, polars and Spark)::

    <root>/ticks/date=YYYY-MM-DD/collector=<id>/part-<firstkey>-<lastkey>.parquet
    <root>/rejects/date=YYYY-MM-DD/collector=<id>/part-<firstkey>-<lastkey>.parquet

`root` is a local folder or any pyarrow filesystem URI (``s3://bucket/prefix``); `date` is the
Asia/Kolkata date of the receive time; `<id>` names the collector (one per Kite API key), so
several collectors fill one archive without ever writing the same file. `<firstkey>` and
`<lastkey>` are the hex journal keys (receive ns + sequence, 16 bytes each) of the first and
last frame the file holds: the name says exactly which frames a file holds, so a rerun after a
crash recognises its own work. Columns and types are in `optui.store.archive_schema`.

Files are zstd-compressed, sorted by (instrument_token, received, frame_seq, packet) — an
instrument's ticks sit together and change slowly, which is what makes a tick ~20 bytes on disk
instead of the ~186 it takes on the wire — in row groups of at most 256 Ki rows with statistics
(all columns but the 30 depth ones, which nobody filters on), so a filter on instrument or time
skips most of a file. Integer columns are dictionary-encoded (tokens, modes, sizes and times
repeat), float columns plain (a dictionary of prices rarely fits, and trying costs time); zstd
level 1 (higher levels cost more time than they save bytes here). See
`tests/benchmarks/bench_archive.py` for the measurements that chose this.

**Rolling** (`Roller.roll`): the journal's frames up to `until_ns` (the engine passes the start
of the current minute; None, on shutdown, rolls everything) are planned into chunks of at most
`max_rows` packets (bounded memory; about equal in size, so that two chunks in flight keep two
cores busy), read, decoded, split at IST midnight into units, and each unit is made durable in
this order:

1. frames that do not decode go to `rejects/…/part-<range>.parquet` (written as below);
2. the ticks go to ``.part-<range>.parquet.tmp``, which is fsynced, renamed to its real name,
   and the folder fsynced (on object stores, where rename is a copy, the temporary object's
   size is checked first; a PUT/copy is atomic there by nature);
3. one journal transaction records the high-water mark (`archive.high_water`) and deletes the
   unit's frames.

A unit of nothing but heartbeats writes no file; its frames are just deleted. The ticks file is
the unit's commit record: it is written even when every frame was rejected (then with no
rows), and always after its rejects file.

**Recovery** (`Roller.recover`, run before the first roll): a ticks file of this collector
whose first key is *still in the journal* was renamed but not committed — its frames are
complete in it (the rename was atomic), so the journal is trimmed through its last key (after
rolling any older frames that precede it). Temporary files and rejects files without their
ticks twin are from units that never committed; they are removed and the unit is rolled again.
So a crash at any step, then a rerun, leaves every tick in the archive exactly once. This rests
on the journal's keys only growing (`Journal.append_many` guarantees it, even when the clock
steps back): a roll always starts at the journal's oldest frame, and nothing can be appended
inside a range already read.

The archive is never pruned; a journal frame is deleted only once a renamed file holds it.

**Reading**: `open_archive` is the whole archive as a `pyarrow.dataset.Dataset` (with `date`
and `collector` partition columns); `read_ticks` reads a date range, optionally one set of
instruments or an underlying's, *plus* the journal's not-yet-rolled frames, so a query is
complete to the last second; `iter_day` gives a day back frame by frame in arrival order, for
`optui replay`. A file that cannot be read (cut short, overwritten, not Parquet, not the
archive's columns) is skipped, moved into `<root>/quarantine/<its relative path>` (never
deleted; on an object store only skipped) and reported as a ``storage.archive_unreadable``
event to the reader's `on_event` (`optui.store.quarantine`): the rest is still read. Pages
carry CRC32 checksums that readers verify, so overwritten bytes are found.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from optui.feed.codec import TICK_DTYPE, Ticks, decode
from optui.store.archive_schema import (
    REJECT_SCHEMA,
    SORT_COLUMNS,
    TICK_SCHEMA,
    pooled_empty,
    table_to_ticks,
    ticks_to_table,
)
from optui.store.journal import KEY_SIZE, make_key, split_key
from optui.store.quarantine import READ_FORMAT, EventSink, scan_files

if TYPE_CHECKING:
    from optui.feed.universe import Universe

__all__ = [
    "HIGH_WATER",
    "ArchiveError",
    "JournalLike",
    "Recovery",
    "RollResult",
    "Roller",
    "archive_filesystem",
    "iter_day",
    "open_archive",
    "read_rejects",
    "read_ticks",
    "tokens_of_underlying",
]

#: Journal meta entry holding the last key rolled into the archive (16 bytes).
HIGH_WATER: Final = "archive.high_water"

TICKS_DIR: Final = "ticks"
REJECTS_DIR: Final = "rejects"
#: Packets per file at most (the unit of memory a roll holds, twice while pipelining).
MAX_ROWS: Final = 1_000_000
ROW_GROUP_ROWS: Final = 256 * 1024
ZSTD_LEVEL: Final = 1
_ROW_WORDS: Final = TICK_DTYPE.itemsize // 8

_IST_OFFSET_S: Final = 19_800  # Asia/Kolkata is UTC+05:30, unchanged since 1945
_NS: Final = 1_000_000_000
_EPOCH: Final = date(1970, 1, 1)
_PART: Final = re.compile(r"part-([0-9a-f]{32})-([0-9a-f]{32})\.parquet")
_DATE_DIR: Final = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_COLLECTOR_ID: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


class ArchiveError(RuntimeError):
    """The archive cannot be read or written as asked; `path` names the file or folder."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class JournalLike(Protocol):
    """What the archive needs of `optui.store.journal.Journal`."""

    def frames(
        self, start: bytes | None = None, stop: bytes | None = None, *, limit: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]: ...

    def get_meta(self, name: str) -> bytes | None: ...

    def set_meta_and_delete_through(self, name: str, value: bytes, key: bytes) -> int: ...


# -- keys and days -------------------------------------------------------------------------------
def _successor(key: bytes) -> bytes:
    """The smallest key after `key` (for an inclusive start after it)."""
    received, seq = split_key(key)
    return make_key(received, seq + 1) if seq < 2**64 - 1 else make_key(received + 1, 0)


def _ist_day(received_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """IST calendar day (days since 1970-01-01) of receive times in ns."""
    return (received_ns // _NS + _IST_OFFSET_S) // 86_400


def _day_date(day: int) -> date:
    return _EPOCH + timedelta(days=int(day))


def _day_start_ns(day: date) -> int:
    """Epoch ns of 00:00 IST on `day`."""
    return ((day - _EPOCH).days * 86_400 - _IST_OFFSET_S) * _NS


# -- filesystems ---------------------------------------------------------------------------------
def archive_filesystem(
    root: str | Path, filesystem: pafs.FileSystem | None = None
) -> tuple[pafs.FileSystem, str]:
    """(filesystem, base path) for an archive root: a local path or a URI like s3://b/prefix.

    An explicit `filesystem` takes `root` as a path inside it (how tests and callers with
    custom credentials or endpoints pass an `S3FileSystem`).
    """
    if filesystem is not None:
        return filesystem, str(root).rstrip("/")
    text = str(root)
    if isinstance(root, Path) or "://" not in text:
        return pafs.LocalFileSystem(), str(Path(text).expanduser().absolute())
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise ArchiveError(f"cannot open archive root {text}: {exc}", text) from exc
    return fs, path.rstrip("/")


def _is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


def _list(fs: pafs.FileSystem, path: str, *, recursive: bool = False) -> list[pafs.FileInfo]:
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=recursive))
    except (OSError, pa.ArrowException) as exc:
        raise ArchiveError(f"cannot list {path}: {exc}", path) from exc
    return list(infos)


def _date_dirs(fs: pafs.FileSystem, base: str, kind: str) -> dict[date, str]:
    """{day: folder} of the `date=` partitions under base/kind."""
    found: dict[date, str] = {}
    for info in _list(fs, f"{base}/{kind}"):
        match = _DATE_DIR.fullmatch(info.base_name)
        if info.type == pafs.FileType.Directory and match:
            with contextlib.suppress(ValueError):
                found[date.fromisoformat(match.group(1))] = info.path
    return found


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(fs: pafs.FileSystem, path: str) -> None:
    """Create `path`; on a local disk fsync every parent that gained an entry, so the new
    folder survives a power cut as surely as the file renamed into it."""
    if not _is_local(fs):
        if fs.type_name not in ("s3", "gcs"):  # object stores have no folders to create
            fs.create_dir(path, recursive=True)
        return
    folder = Path(path)
    if folder.is_dir():
        return
    missing = [folder, *(p for p in folder.parents if not p.exists())]
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        _fsync_dir(str(created.parent))


@dataclass(frozen=True)
class _Written:
    path: str
    size: int


def _write_atomic(
    table: pa.Table,
    fs: pafs.FileSystem,
    folder: str,
    name: str,
    hook: Callable[[str, str], None],
    step: str,
) -> _Written:
    """Write `table` to folder/name so that the name only ever holds a complete file."""
    _make_dirs(fs, folder)
    final = f"{folder}/{name}"
    temporary = f"{folder}/.{name}.tmp"
    options: dict[str, Any] = {
        "compression": "zstd",
        "compression_level": ZSTD_LEVEL,
        "row_group_size": ROW_GROUP_ROWS,
        "use_dictionary": [f.name for f in table.schema if not pa.types.is_floating(f.type)],
        # Statistics let readers skip row groups and files; the 30 depth columns are never
        # what a query filters on, and leaving them out saves a few percent of the write.
        "write_statistics": [f.name for f in table.schema if not f.name.startswith("depth_")],
        # CRC32 per page: readers verify it, so overwritten bytes are found, not read as ticks.
        "write_page_checksum": True,
    }
    if table.schema.equals(TICK_SCHEMA, check_metadata=False):
        options["sorting_columns"] = [
            pq.SortingColumn(table.schema.get_field_index(c)) for c in SORT_COLUMNS
        ]
    if _is_local(fs):
        pq.write_table(table, temporary, **options)
        fd = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        hook(f"{step}.tmp", temporary)
        os.replace(temporary, final)
        _fsync_dir(folder)
    else:
        # Serialise first, upload the bytes to a hidden name, check the stored size, then
        # copy into place: an interrupted upload can never appear under the real name.
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, **options)
        data = sink.getvalue()
        size = data.size
        with fs.open_output_stream(temporary) as out:
            out.write(data)
        stored = fs.get_file_info(temporary).size
        if stored != size:
            raise ArchiveError(f"upload of {temporary} stored {stored} of {size} bytes", final)
        hook(f"{step}.tmp", temporary)
        fs.move(temporary, final)
    hook(f"{step}.renamed", final)
    return _Written(final, int(size))


# -- decoding frames -----------------------------------------------------------------------------
@dataclass
class _Decoded:
    """A run of journal frames decoded into columns, in key order."""

    keys: list[bytes]
    received: npt.NDArray[np.int64]  # per frame
    seq: npt.NDArray[np.uint64]  # per frame
    rows: npt.NDArray[np.int64]  # decoded packets per frame (0 for a reject or heartbeat)
    ticks: Ticks  # every decoded row, in key order
    rejects: dict[int, tuple[bytes, str]]  # frame index -> (frame, error)

    @property
    def row_offsets(self) -> npt.NDArray[np.int64]:
        return np.concatenate(([0], np.cumsum(self.rows)))

    def row_provenance(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.uint16]]:
        """(received, frame_seq, packet) of every decoded row."""
        received = np.repeat(self.received, self.rows)
        seq = np.repeat(self.seq, self.rows)
        starts = np.repeat(self.row_offsets[:-1], self.rows)
        packet = (np.arange(len(received), dtype=np.int64) - starts).astype(np.uint16)
        return received, seq, packet


def _header_count(frame: bytes) -> int:
    """Packets a frame claims (0 for a heartbeat or anything too short to say)."""
    return (frame[0] << 8) | frame[1] if len(frame) >= 2 else 0


def _decode_frames(frames: Sequence[tuple[bytes, bytes]]) -> _Decoded:
    """Decode frames (key order) into one array of rows; frames that fail are kept as rejects.

    Each frame's rows are copied into the result as 8-byte words (a plain memory copy; a
    structured assignment would go field by field).
    """
    n = len(frames)
    keys = [key for key, _ in frames]
    split = [split_key(key) for key in keys]
    received = np.fromiter((r for r, _ in split), dtype=np.int64, count=n)
    seq = np.fromiter((s for _, s in split), dtype=np.uint64, count=n)
    capacity = sum(_header_count(frame) for _, frame in frames)
    out: Ticks = pooled_empty(capacity, TICK_DTYPE)
    words = out.view(np.uint64).reshape(capacity, _ROW_WORDS)
    filled = 0
    rows = np.zeros(n, dtype=np.int64)
    rejects: dict[int, tuple[bytes, str]] = {}
    for i, (_, frame) in enumerate(frames):
        try:
            ticks = decode(frame)
        except ValueError as exc:  # FrameError, or anything else decode refuses
            rejects[i] = (frame, str(exc))
            continue
        count = len(ticks)
        words[filled : filled + count] = ticks.view(np.uint64).reshape(count, _ROW_WORDS)
        filled += count
        rows[i] = count
    return _Decoded(keys, received, seq, rows, out[:filled], rejects)


def _sorted_table(
    ticks: Ticks,
    received: npt.NDArray[np.int64],
    seq: npt.NDArray[np.uint64],
    packet: npt.NDArray[np.uint16],
) -> pa.Table:
    """Rows in arrival order as a table sorted by (token, received, frame_seq, packet).

    Rows arrive in (received, frame_seq, packet) order, so a stable sort by token alone gives
    the file's order.
    """
    tokens = ticks["instrument_token"]
    # A stable sort by a 32-bit key as two 16-bit passes: numpy sorts 16-bit keys by radix,
    # several times faster than its general stable sort of 32-bit ones.
    low = np.argsort((tokens & 0xFFFF).astype(np.uint16), kind="stable")
    high = np.argsort((tokens[low] >> 16).astype(np.uint16), kind="stable")
    return ticks_to_table(ticks, received, seq, packet, order=low[high])


# -- rolling -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RollResult:
    """What a roll did: files written (ticks and rejects), rows (ticks) and frames archived,
    bytes written, frames rejected (kept in `rejects/`)."""

    files: tuple[str, ...] = ()
    rows: int = 0
    frames: int = 0
    bytes: int = 0
    rejects: int = 0

    def __add__(self, other: RollResult) -> RollResult:
        return RollResult(
            self.files + other.files,
            self.rows + other.rows,
            self.frames + other.frames,
            self.bytes + other.bytes,
            self.rejects + other.rejects,
        )


@dataclass(frozen=True)
class Recovery:
    """What `Roller.recover` found: files adopted (renamed, now committed), leftovers
    removed, frames trimmed from the journal, and what rolling older frames first wrote."""

    adopted: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    trimmed: int = 0
    rolled: RollResult = field(default_factory=RollResult)


@dataclass
class _Unit:
    """The frames of one chunk that fall on one IST day: one ticks file (+ rejects file)."""

    day: date
    first_key: bytes
    last_key: bytes
    frames: int
    # The unit's rows in arrival order and their provenance; None: no frame decoded nor
    # rejected (heartbeats only), so no file.
    rows: tuple[Ticks, npt.NDArray[np.int64], npt.NDArray[np.uint64], npt.NDArray[np.uint16]] | None
    rejects: pa.Table | None

    @property
    def name(self) -> str:
        return f"part-{self.first_key.hex()}-{self.last_key.hex()}.parquet"


def _no_hook(step: str, path: str) -> None:
    """Default step hook: nothing (tests pass one that raises to simulate a crash)."""


class Roller:
    """Moves closed frames of a journal into the archive, exactly once, crash-safe.

    One roller per journal (the collector's). `filesystem` overrides the filesystem that
    `archive_root` would resolve to (then `archive_root` is a path inside it). `hook(step,
    where)` is called after each step — "chunk.read", "rejects.tmp", "rejects.renamed",
    "ticks.tmp", "ticks.renamed" (with the file's path) and "committed" (with the last key
    committed, in hex) — so a test can stop the roll between any two steps by raising from it.

    The calling thread reads and decodes chunk after chunk; `workers` threads sort and write
    them (the sort and the Parquet writer run mostly without the GIL), so the cores of a small
    machine all work. Journal transactions stay on the calling thread, in key order. Memory:
    about 1 KB per packet for each chunk in flight (the calling thread's plus one per worker),
    so with the defaults up to ~3 GB during a long catch-up, ~0.6 GB for a minute of 9,000
    instruments.
    """

    def __init__(
        self,
        journal: JournalLike,
        archive_root: str | Path,
        collector_id: str,
        *,
        filesystem: pafs.FileSystem | None = None,
        max_rows: int = MAX_ROWS,
        workers: int = 2,
        hook: Callable[[str, str], None] | None = None,
    ) -> None:
        if not _COLLECTOR_ID.fullmatch(collector_id):
            raise ValueError(
                f"collector id {collector_id!r} must be 1-64 letters, digits, '_', '.' or '-' "
                "(not starting with '.' or '-'): it names a folder of a shared archive"
            )
        if max_rows < 1 or workers < 1:
            raise ValueError("max_rows and workers must be at least 1")
        self.journal = journal
        self.collector_id = collector_id
        self.filesystem, self.base = archive_filesystem(archive_root, filesystem)
        self.max_rows = max_rows
        self.workers = workers
        self._hook = hook or _no_hook
        self._recovered = False
        self._lock = threading.Lock()

    # -- public --------------------------------------------------------------------------------
    @property
    def high_water(self) -> bytes | None:
        """The last journal key rolled (None before the first roll)."""
        return self.journal.get_meta(HIGH_WATER)

    def roll(self, until_ns: int | None = None) -> RollResult:
        """Archive every frame received before `until_ns` (all frames when None).

        Runs `recover` first if this roller has not yet. Frames are deleted from the journal
        only after the file holding them is in place.
        """
        with self._lock:
            if not self._recovered:
                self._recover()
            stop = None if until_ns is None else make_key(max(int(until_ns), 0), 0)
            return self._roll(stop)

    def recover(self) -> Recovery:
        """Finish what a crashed roll left: adopt renamed files, remove partial ones."""
        with self._lock:
            return self._recover()

    # -- recovery ------------------------------------------------------------------------------
    def _folders(self, kind: str, since: date) -> list[str]:
        dirs = _date_dirs(self.filesystem, self.base, kind)
        return [
            f"{d}/collector={self.collector_id}" for day, d in sorted(dirs.items()) if day >= since
        ]

    def _head(self) -> bytes | None:
        return next((key for key, _ in self.journal.frames(None, None, limit=1)), None)

    def _holds(self, key: bytes) -> bool:
        return any(True for _ in self.journal.frames(key, _successor(key), limit=1))

    def _recover(self) -> Recovery:
        oldest = self._head()
        self._recovered = True
        if oldest is None:
            return Recovery()
        since = _day_date(int(_ist_day(np.array([split_key(oldest)[0]]))[0]))
        fs = self.filesystem
        removed: list[str] = []
        ticks: dict[str, tuple[bytes, bytes, str]] = {}  # name -> (first, last, path)
        rejects: list[tuple[str, bytes, str]] = []
        for kind in (TICKS_DIR, REJECTS_DIR):
            for folder in self._folders(kind, since):
                for info in _list(fs, folder):
                    if info.type != pafs.FileType.File:
                        continue
                    name = info.base_name
                    if name.startswith(".") and name.endswith(".tmp"):
                        fs.delete_file(info.path)
                        removed.append(info.path)
                        continue
                    match = _PART.fullmatch(name)
                    if not match:
                        continue
                    first, last = bytes.fromhex(match.group(1)), bytes.fromhex(match.group(2))
                    if kind == TICKS_DIR:
                        ticks[name] = (first, last, info.path)
                    else:
                        rejects.append((name, first, info.path))
        for name, first, path in rejects:
            # Rejects are written before their ticks file: alone, their unit never committed.
            if name not in ticks and self._holds(first):
                fs.delete_file(path)
                removed.append(path)
        adopted: list[str] = []
        trimmed = 0
        rolled = RollResult()
        for first, last, path in sorted(ticks.values()):
            if last < oldest or not self._holds(first):
                continue  # committed long ago
            head = self._head()
            if head is not None and head < first:
                # Older frames that no file holds (with several writers, a later chunk can be
                # renamed before an earlier one): archive them first, so that trimming through
                # this file's last key deletes nothing unarchived.
                rolled += self._roll(first)
            trimmed += self._commit(last)
            adopted.append(path)
            self._hook("committed", last.hex())
        return Recovery(tuple(adopted), tuple(removed), trimmed, rolled)

    # -- rolling -------------------------------------------------------------------------------
    def _commit(self, last_key: bytes) -> int:
        mark = self.journal.get_meta(HIGH_WATER)
        value = last_key if mark is None or mark < last_key else mark
        return self.journal.set_meta_and_delete_through(HIGH_WATER, value, last_key)

    def _plan(self, stop: bytes | None) -> list[bytes]:
        """The last key of each chunk to roll, up to `stop`: as few chunks as `max_rows`
        allows, of about equal size (a frame is never split).

        Equal chunks keep both cores busy to the end: one chunk of a million packets and
        one of a few thousand would leave one core idle while the big one is written. The
        pass reads the frames once more than the roll itself, which costs a few percent.
        """
        keys: list[bytes] = []
        counts: list[int] = []
        for key, frame in self.journal.frames(None, stop):
            keys.append(key)
            counts.append(_header_count(frame))
        if not keys:
            return []
        ends = np.cumsum(counts)
        total = int(ends[-1])
        parts = max(1, -(-total // self.max_rows))
        while True:
            # Cut after the last frame whose packets end at or before each k/parts of the total.
            targets = np.arange(1, parts) * (total / parts)
            cuts = np.unique(np.append(np.searchsorted(ends, targets, side="right"), len(keys)))
            cuts = cuts[cuts > 0]
            sizes = np.diff(ends[cuts - 1], prepend=0)
            lone = np.diff(cuts, prepend=0) == 1  # a frame bigger than max_rows stays whole
            if ((sizes <= self.max_rows) | lone).all():
                return [keys[cut - 1] for cut in cuts.tolist()]
            parts += max(1, parts // 8)

    def _read_chunk(self, start: bytes | None, last: bytes) -> list[tuple[bytes, bytes]]:
        return [(key, bytes(frame)) for key, frame in self.journal.frames(start, _successor(last))]

    def _units(self, frames: list[tuple[bytes, bytes]]) -> list[_Unit]:
        """Decode a chunk and cut it at IST midnights."""
        decoded = _decode_frames(frames)
        received, seq, packet = decoded.row_provenance()
        offsets = decoded.row_offsets
        days = _ist_day(decoded.received)
        cuts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(frames)]
        units: list[_Unit] = []
        for a, b in itertools.pairwise(cuts):
            lo, hi = int(offsets[a]), int(offsets[b])
            bad = [i for i in range(a, b) if i in decoded.rejects]
            rejects = None
            if bad:
                rejects = pa.Table.from_arrays(
                    [
                        pa.array(decoded.received[bad].view("M8[ns]"), REJECT_SCHEMA[0].type),
                        pa.array(decoded.seq[bad], pa.uint64()),
                        pa.array([decoded.keys[i] for i in bad], pa.binary(KEY_SIZE)),
                        pa.array([decoded.rejects[i][0] for i in bad], pa.binary()),
                        pa.array([decoded.rejects[i][1] for i in bad], pa.string()),
                    ],
                    schema=REJECT_SCHEMA,
                )
            has_content = hi > lo or bool(bad)
            units.append(
                _Unit(
                    day=_day_date(int(days[a])),
                    first_key=decoded.keys[a],
                    last_key=decoded.keys[b - 1],
                    frames=b - a,
                    rows=(
                        (decoded.ticks[lo:hi], received[lo:hi], seq[lo:hi], packet[lo:hi])
                        if has_content
                        else None
                    ),
                    rejects=rejects,
                )
            )
        return units

    def _write(self, units: list[_Unit]) -> list[RollResult]:
        """Sort and write each unit's files (worker thread); committing is the caller's job."""
        results: list[RollResult] = []
        for unit in units:
            ticks = None if unit.rows is None else _sorted_table(*unit.rows)
            files: list[str] = []
            size = 0
            meta = {
                "collector": self.collector_id,
                "first_key": unit.first_key.hex(),
                "last_key": unit.last_key.hex(),
                "frames": unit.frames,
            }
            for kind, table in ((REJECTS_DIR, unit.rejects), (TICKS_DIR, ticks)):
                if table is None:
                    continue
                folder = (
                    f"{self.base}/{kind}/date={unit.day.isoformat()}/collector={self.collector_id}"
                )
                tagged = table.replace_schema_metadata(
                    {**(table.schema.metadata or {}), b"optui.archive": json.dumps(meta).encode()}
                )
                written = _write_atomic(
                    tagged, self.filesystem, folder, unit.name, self._hook, kind
                )
                files.append(written.path)
                size += written.size
            rows = 0 if ticks is None else ticks.num_rows
            rejected = 0 if unit.rejects is None else unit.rejects.num_rows
            results.append(RollResult(tuple(files), rows, unit.frames, size, rejected))
        return results

    def _roll(self, stop: bytes | None) -> RollResult:
        """Roll frames from the journal's head up to `stop` (exclusive; None: all).

        The calling thread reads and decodes chunk after chunk; `workers` threads sort and
        write them, so several files may be in flight, and even be renamed out of order. The
        calling thread commits each chunk only after its files are in place and every older
        chunk is committed, so the journal is always trimmed in key order. If anything fails,
        files already renamed are adopted by the `recover` that the next roll runs first.
        """
        total = RollResult()
        start: bytes | None = None
        pending: deque[tuple[Future[list[RollResult]], list[_Unit]]] = deque()
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="optui-archive") as pool:
                for last in self._plan(stop):
                    chunk = self._read_chunk(start, last)
                    start = _successor(last)
                    units = self._units(chunk)
                    del chunk
                    self._hook("chunk.read", last.hex())
                    while len(pending) >= self.workers:
                        total += self._finish(*pending.popleft())
                    pending.append((pool.submit(self._write, units), units))
                while pending:
                    total += self._finish(*pending.popleft())
        except BaseException:
            self._recovered = False
            raise
        return total

    def _finish(self, future: Future[list[RollResult]], units: list[_Unit]) -> RollResult:
        """Wait for a chunk's files, then commit each unit in key order."""
        total = RollResult()
        for unit, result in zip(units, future.result(), strict=True):
            self._commit(unit.last_key)
            self._hook("committed", unit.last_key.hex())
            total += result
        return total


# -- reading -------------------------------------------------------------------------------------
_PARTITIONING: Final = ds.partitioning(
    pa.schema([("date", pa.date32()), ("collector", pa.string())]), flavor="hive"
)
DATASET_SCHEMA: Final = pa.schema(
    [*TICK_SCHEMA, pa.field("date", pa.date32()), pa.field("collector", pa.string())],
    metadata=TICK_SCHEMA.metadata,
)


def open_archive(root: str | Path, *, filesystem: pafs.FileSystem | None = None) -> ds.Dataset:
    """The whole archive's ticks as one dataset (hive partitions `date` and `collector`).

    Lazy: nothing is read until it is scanned; filters on `date`, `collector` and any column
    prune folders, files and row groups. An empty or missing archive is an empty dataset.
    """
    fs, base = archive_filesystem(root, filesystem)
    return _dataset(fs, f"{base}/{TICKS_DIR}", None)


def _dataset(fs: pafs.FileSystem, folder: str, files: list[str] | None) -> ds.Dataset:
    source: str | list[str] = folder if files is None else files
    if files is None and fs.get_file_info(folder).type != pafs.FileType.Directory:
        source = []
    return ds.dataset(
        source,
        schema=DATASET_SCHEMA,
        format=READ_FORMAT,
        filesystem=fs,
        partitioning=_PARTITIONING,
        partition_base_dir=folder,
        exclude_invalid_files=False,
    )


def _files_between(
    fs: pafs.FileSystem, base: str, kind: str, start: date, end: date, collector: str | None
) -> list[str]:
    """Part files of the `date=` folders from `start` to `end` (listing only those folders,
    so reading a day stays cheap in an archive of many years)."""
    files: list[str] = []
    for day, folder in sorted(_date_dirs(fs, base, kind).items()):
        if not start <= day <= end:
            continue
        for info in _list(fs, folder, recursive=True):
            parent = info.path.rsplit("/", 2)
            if (
                info.type == pafs.FileType.File
                and _PART.fullmatch(info.base_name)
                and (collector is None or parent[-2] == f"collector={collector}")
            ):
                files.append(info.path)
    return files


def tokens_of_underlying(
    instruments: Universe | pa.Table, underlying: str | Collection[str]
) -> npt.NDArray[np.uint32]:
    """Instrument tokens of an underlying's derivatives (Kite's `name`, e.g. "NIFTY").

    With a `Universe` the underlying's spot index or stock is included too (the row its
    derivatives are priced from); a table of instruments (`instrument_token`, `name`, as in
    Kite's instruments.csv) gives the rows whose `name` matches. An unknown name is an error,
    so a typo cannot pass as "no ticks".
    """
    wanted = {underlying} if isinstance(underlying, str) else set(underlying)
    if isinstance(instruments, pa.Table):
        names = instruments.column("name").to_pylist()
        tokens = instruments.column("instrument_token").to_numpy()
        rows = np.array([n in wanted for n in names], dtype=bool)
        found = np.asarray(tokens[rows], dtype=np.uint32)
        known = set(names)
    else:
        rows = np.array([n in wanted for n in instruments.name], dtype=bool)
        spot = instruments.underlying[rows]
        found = np.union1d(instruments.instrument_token[rows], instruments.instrument_token[spot])
        known = set(instruments.name)
    missing = wanted - known
    if missing:
        sample = ", ".join(sorted(n for n in known if n.isupper() and " " not in n)[:12])
        raise ValueError(f"no instrument has the underlying {sorted(missing)}; known: {sample} …")
    return np.unique(found).astype(np.uint32)


def read_ticks(
    root: str | Path,
    start: date,
    end: date,
    *,
    tokens: Iterable[int] | None = None,
    underlying: str | Collection[str] | None = None,
    universe: Universe | pa.Table | None = None,
    journal: JournalLike | None = None,
    journal_collector: str | None = None,
    collector: str | None = None,
    columns: Sequence[str] | None = None,
    filesystem: pafs.FileSystem | None = None,
    sort: bool = True,
    on_event: EventSink | None = None,
) -> pa.Table:
    """Ticks received from `start` to `end` (IST dates, both included), as one table.

    Filters: `tokens`, and/or `underlying` (needs `universe`: a Universe or an instruments
    table), and `collector` (one collector's files). With `journal`, its not-yet-rolled frames
    in the range are decoded and appended (their `collector` column is `journal_collector`),
    so the result is complete to the last frame journalled; the journal is read *before* the
    archive and frames found in both (a roll ran in between) are kept once. Rows are in
    arrival order (received, frame_seq, packet) unless `sort` is False. `columns` selects
    columns (the sort and de-duplication keys are read regardless and dropped after).

    A file that cannot be read is skipped, moved into `<root>/quarantine/` (a local archive)
    and reported to `on_event` (`optui.store.quarantine`); the rest is returned.
    """
    wanted: npt.NDArray[np.uint32] | None = None
    if tokens is not None:
        wanted = np.unique(np.fromiter((int(t) for t in tokens), dtype=np.uint32))
    if underlying is not None:
        if universe is None:
            raise ValueError("filtering by underlying needs `universe` (instruments)")
        of_underlying = tokens_of_underlying(universe, underlying)
        wanted = of_underlying if wanted is None else np.intersect1d(wanted, of_underlying)

    # The journal first: a roll between the two reads then shows frames twice (dropped
    # below), never zero times.
    live = None
    if journal is not None:
        live = _journal_table(journal, start, end, wanted, journal_collector)

    fs, base = archive_filesystem(root, filesystem)
    files = _files_between(fs, base, TICKS_DIR, start, end, collector)
    expression = None
    if wanted is not None:
        expression = pc.field("instrument_token").isin(pa.array(wanted, pa.uint32()))
    table = scan_files(
        fs,
        base,
        files,
        lambda paths: _dataset(fs, f"{base}/{TICKS_DIR}", paths),
        schema=TICK_SCHEMA,
        filter=expression,
        on_event=on_event,
    )
    if live is not None and live.num_rows:
        live = _not_archived(live, table)
        table = pa.concat_tables([table, live])
    if sort:
        table = table.sort_by(
            [
                ("received", "ascending"),
                ("frame_seq", "ascending"),
                ("collector", "ascending"),
                ("packet", "ascending"),
            ]
        )
    if columns is not None:
        table = table.select(list(columns))
    return table


def _journal_table(
    journal: JournalLike,
    start: date,
    end: date,
    wanted: npt.NDArray[np.uint32] | None,
    collector: str | None,
) -> pa.Table:
    first = make_key(_day_start_ns(start), 0)
    stop = make_key(_day_start_ns(end + timedelta(days=1)), 0)
    frames = [(key, bytes(frame)) for key, frame in journal.frames(first, stop)]
    decoded = _decode_frames(frames)
    received, seq, packet = decoded.row_provenance()
    table = ticks_to_table(decoded.ticks, received, seq, packet)
    if wanted is not None:
        table = table.filter(pc.is_in(table["instrument_token"], pa.array(wanted, pa.uint32())))
    days = _ist_day(table["received"].cast(pa.int64()).to_numpy())
    day = pa.array((days.astype(np.int32)), pa.int32()).cast(pa.date32())
    who = pa.array([collector] * table.num_rows, pa.string())
    return table.append_column(DATASET_SCHEMA.field("date"), day).append_column(
        DATASET_SCHEMA.field("collector"), who
    )


def _not_archived(live: pa.Table, archived: pa.Table) -> pa.Table:
    """The journal's rows whose frame (received, frame_seq, collector) the archive lacks."""
    if archived.num_rows == 0:
        return live
    lowest = pc.min(live["received"])
    overlap = archived.filter(pc.greater_equal(archived["received"], lowest))
    if overlap.num_rows == 0:
        return live
    collector = live["collector"][0].as_py()
    if collector is not None:
        overlap = overlap.filter(pc.equal(overlap["collector"], collector))

    def frame_ids(table: pa.Table) -> npt.NDArray[np.void]:
        ids = np.empty(table.num_rows, dtype=[("r", np.int64), ("s", np.uint64)])
        ids["r"] = table["received"].cast(pa.int64()).to_numpy()
        ids["s"] = table["frame_seq"].to_numpy()
        return ids

    seen = np.unique(frame_ids(overlap))
    keep = ~np.isin(frame_ids(live), seen)
    return live.filter(pa.array(keep))


def read_rejects(
    root: str | Path,
    start: date,
    end: date,
    *,
    collector: str | None = None,
    filesystem: pafs.FileSystem | None = None,
    on_event: EventSink | None = None,
) -> pa.Table:
    """Frames that failed to decode, received from `start` to `end` (IST, inclusive); an
    unreadable file is skipped and quarantined as by `read_ticks`."""
    fs, base = archive_filesystem(root, filesystem)
    files = _files_between(fs, base, REJECTS_DIR, start, end, collector)
    schema = pa.schema(
        [*REJECT_SCHEMA, pa.field("date", pa.date32()), pa.field("collector", pa.string())]
    )

    def dataset(paths: list[str]) -> ds.Dataset:
        return ds.dataset(
            paths,
            schema=schema,
            format=READ_FORMAT,
            filesystem=fs,
            partitioning=_PARTITIONING,
            partition_base_dir=f"{base}/{REJECTS_DIR}",
        )

    table = scan_files(fs, base, files, dataset, schema=REJECT_SCHEMA, on_event=on_event)
    return table.sort_by([("received", "ascending"), ("frame_seq", "ascending")])


def iter_day(
    root: str | Path,
    day: date,
    collector: str | None = None,
    *,
    filesystem: pafs.FileSystem | None = None,
    on_event: EventSink | None = None,
) -> Iterator[tuple[int, Ticks]]:
    """A day's frames in arrival order: (received_ns, that frame's rows of TICK_DTYPE).

    The rows are exactly what `decode` gave for the frame, in packet order, so
    `codec.encode(rows)` rebuilds the frame Kite sent. One file is held in memory at a time
    (per collector); with several collectors their frames are merged by receive time. An
    unreadable file is skipped and quarantined as by `read_ticks` (its frames are missing).
    """
    fs, base = archive_filesystem(root, filesystem)
    by_collector: dict[str, list[tuple[bytes, bytes, str]]] = {}
    for path in _files_between(fs, base, TICKS_DIR, day, day, collector):
        folder, name = path.rsplit("/", 2)[-2:]
        match = _PART.fullmatch(name)
        assert match is not None  # _files_between only lists part files
        first, last = bytes.fromhex(match.group(1)), bytes.fromhex(match.group(2))
        by_collector.setdefault(folder.removeprefix("collector="), []).append((first, last, path))
    streams = [
        _frames_of(fs, base, sorted(files), on_event) for _, files in sorted(by_collector.items())
    ]
    for received, _, ticks in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield received, ticks


def _frames_of(
    fs: pafs.FileSystem,
    base: str,
    files: list[tuple[bytes, bytes, str]],
    on_event: EventSink | None,
) -> Iterator[tuple[int, int, Ticks]]:
    """(received_ns, frame_seq, rows) of one collector's files, in key order.

    Files whose key ranges overlap (late frames archived on their own) are read together.
    """
    group: list[str] = []
    group_last = b""
    for first, last, path in files:
        if group and first > group_last:
            yield from _frames_of_files(fs, base, group, on_event)
            group = []
        group.append(path)
        group_last = max(group_last, last)
    if group:
        yield from _frames_of_files(fs, base, group, on_event)


def _frames_of_files(
    fs: pafs.FileSystem, base: str, paths: list[str], on_event: EventSink | None
) -> Iterator[tuple[int, int, Ticks]]:
    def dataset(files: list[str]) -> ds.Dataset:
        return ds.dataset(files, schema=TICK_SCHEMA, format=READ_FORMAT, filesystem=fs)

    table = scan_files(fs, base, paths, dataset, schema=TICK_SCHEMA, on_event=on_event)
    table = table.sort_by(
        [("received", "ascending"), ("frame_seq", "ascending"), ("packet", "ascending")]
    )
    ticks, received, seq, _ = table_to_ticks(table)
    if not len(ticks):
        return
    bounds = np.flatnonzero((np.diff(received) != 0) | (np.diff(seq) != 0)) + 1
    starts = [0, *bounds.tolist()]
    stops = [*bounds.tolist(), len(ticks)]
    for a, b in zip(starts, stops, strict=True):
        yield int(received[a]), int(seq[a]), ticks[a:b]
