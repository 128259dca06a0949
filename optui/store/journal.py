"""The journal: every Kite frame as it arrived, durable in LMDB, plus the current market.

The journal is optui's write-ahead log (see DESIGN.md, "One direction of flow"). A collector
appends each binary frame the moment it arrives, byte for byte, in its own write transaction
(or a few frames per transaction under load); a frame is durable once that transaction
commits, because the environment runs with ``sync`` and ``metasync`` on. Nothing is decoded
on the write path: decoding happens in the engine's market state and, for readers, in
`Journal.latest`.

Layout: one LMDB environment per journal folder, with four named databases:

``frames``
    key = big-endian (received ns, sequence number), 16 bytes, so byte order is time order
    and LMDB can append at the end of the tree; value = the frame, untouched.
``meta``
    small named values. The archive keeps its high-water mark here; names starting with
    ``journal.`` are the journal's own (format version, last key ever deleted).
``latest``
    one value: the latest tick per instrument as of some frame, written by the engine about
    once a second. `latest` adds the few frames after it, so one read gives the exact
    current market.
``events``
    what went wrong and what optui did (`optui.events.Event` as JSON), keyed like frames
    by (event time ns, sequence number), so a TUI attached to a collector sees its events.
    Journals made before events existed get it when a writer next opens them.

Concurrency: one writer (an flock, `optui.store.lock`) and any number of readers, in this
or other processes. Readers open a fresh read transaction per call, so they see every commit
made before the call. LMDB forbids opening one environment twice in a process, so every
`Journal` on the same folder in one process shares one environment (`_SharedEnv`).

The map grows by itself: a transaction that hits ``MDB_MAP_FULL`` is aborted, the map
doubled and the transaction run again; a reader whose map is smaller than what another
process wrote adopts the new size (``MDB_MAP_RESIZED``) and retries. Neither reaches the user.

Heartbeats: Kite sends a 1-byte binary message every second when nothing else is due. It
carries no data, so the journal does not store it; `append` counts it
(`JournalStats.heartbeats`) and returns the journal's position, the key of the last frame
stored. Every other message, including ones that do not decode, is stored as it arrived.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import resource
import shutil
import struct
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple, TypeAlias, TypeVar

import lmdb
import msgspec
import numpy as np

from optui.events import Event, decode_event, encode_event
from optui.feed.codec import TICK_DTYPE, Ticks, decode, empty_ticks
from optui.feed.state import MarketState
from optui.store.lock import JournalError, JournalLockedError, WriterLock, describe_writer

__all__ = [
    "KEY_SIZE",
    "START_KEY",
    "FrameKey",
    "Journal",
    "JournalError",
    "JournalLockedError",
    "JournalStats",
    "Latest",
    "StoredEvent",
    "make_key",
    "split_key",
    "writer_info",
]

FrameKey: TypeAlias = bytes
"""A frame's key: `make_key(received_ns, seq)`, 16 bytes."""

KEY_SIZE: Final = 16
_KEY: Final = struct.Struct(">QQ")
START_KEY: Final[FrameKey] = bytes(KEY_SIZE)
"""Below every real key (sequence numbers start at 1): the position of an empty journal."""

_FRAMES: Final = b"frames"
_META: Final = b"meta"
_LATEST: Final = b"latest"
_LATEST_VALUE: Final = b"ticks"
_EVENTS: Final = b"events"
# The journal's own meta values; `set_meta` refuses names in this namespace.
_RESERVED: Final = "journal."
_FORMAT_NAME: Final = b"journal.format"
_FORMAT: Final = b"1"
# The largest key ever deleted. Without it, a journal whose frames were all rolled into the
# archive would restart its keys at sequence 1, below the archive's high-water mark.
_DELETED_THROUGH: Final = b"journal.deleted_through"

HEARTBEAT_SIZE: Final = 1
# Readers stream frames in read transactions of at most this much, so a long export never
# pins old pages (a read transaction stops the writer from reusing pages freed after it).
_CHUNK_FRAMES: Final = 256
_CHUNK_BYTES: Final = 32 * 2**20
# Doubling stops here (1 TiB of address space): a journal this big has a problem no larger
# map will solve, and the error says so.
_MAX_MAP_SIZE: Final = 2**40

# The stored latest ticks: magic, TICK_DTYPE fingerprint, through key, then the rows in
# native order. A snapshot written by a build with another TICK_DTYPE is ignored (and the
# frames replayed instead), never misread.
_LATEST_MAGIC: Final = b"OPTUILT1"
_DTYPE_PRINT: Final = hashlib.blake2b(
    f"{TICK_DTYPE.descr!r} {TICK_DTYPE.itemsize} {sys.byteorder}".encode(), digest_size=8
).digest()
_LATEST_HEADER: Final = len(_LATEST_MAGIC) + len(_DTYPE_PRINT) + KEY_SIZE

# errno values that mean "no room on the disk" (EFBIG: a file size limit, e.g. ulimit -f).
_NO_ROOM: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# Below this much free space, a failed write is put down to a full disk.
_LOW_SPACE: Final = 256 * 2**20

_T = TypeVar("_T")
# Strings: py-lmdb's classes are generic in its stubs only.
_Txn = TypeVar("_Txn", "lmdb.Transaction[bytes]", "lmdb.Transaction[memoryview]")


def make_key(received_ns: int, seq: int) -> FrameKey:
    """The 16-byte key of a frame: big-endian receive time in ns, then sequence number."""
    if not (0 <= received_ns < 2**64 and 0 <= seq < 2**64):
        raise ValueError(f"received_ns and seq must fit in 64 unsigned bits: {received_ns}, {seq}")
    return _KEY.pack(received_ns, seq)


def split_key(key: bytes) -> tuple[int, int]:
    """(received_ns, seq) of a key made by `make_key`."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"a journal key is {KEY_SIZE} bytes, got {len(key)}")
    received_ns, seq = _KEY.unpack(key)
    return int(received_ns), int(seq)


def writer_info(path: Path) -> str | None:
    """Who is writing the journal at `path` (pid, writer id, host, since when), or None
    when no writer is running. Takes no lock a writer would notice."""
    return describe_writer(Path(path))


class StoredEvent(NamedTuple):
    """An event as the journal holds it, with its key (pass it as `after` to read on):
    big-endian (sequence number, event time ns), so keys are in the order stored."""

    key: FrameKey
    event: Event


@dataclass(frozen=True, slots=True)
class JournalStats:
    """What a journal holds, at one moment (one read transaction).

    `frames` and `frame_bytes` count stored frames (heartbeats are not stored);
    `heartbeats` counts the 1-byte heartbeats this `Journal` object was handed since it was
    opened (they are not persisted, so a reader sees 0). `used_bytes` is the part of the map
    in use (LMDB pages up to the last one written, free pages included); `map_size` is this
    process's current map, which grows on demand.
    """

    frames: int
    frame_bytes: int
    first_key: FrameKey | None
    last_key: FrameKey | None
    map_size: int
    used_bytes: int
    path: Path
    heartbeats: int = 0
    readers: int = 0


@dataclass(frozen=True, slots=True)
class Latest:
    """The result of `Journal.latest_detail`.

    `ticks`: the latest tick per instrument, sorted by token; `last_key`: the last frame
    they account for (None for an empty journal); `replayed`: frames decoded after the
    stored snapshot; `undecodable`: frames among those that did not decode and were skipped
    (they stay in the journal); `snapshot_key`: the frame the stored snapshot was written
    at (None when there was none, or it was from an incompatible build).
    """

    ticks: Ticks
    last_key: FrameKey | None
    replayed: int
    undecodable: int
    snapshot_key: FrameKey | None


class Journal:
    """An LMDB journal of raw Kite frames (see the module docstring).

    `path` is a folder, created for a writer. A writer takes the single-writer lock (a
    second writer gets `JournalLockedError` saying who holds it); ``readonly=True`` takes no
    lock and works while a writer runs, in this or another process. With ``sync=False``
    commits are not flushed to disk (faster, for tests and replays; a power cut may lose the
    last frames, never corrupt the journal). `map_size` is the initial map; it doubles
    whenever it fills. `writer_id` is shown to a second writer that is refused.

    A `Journal` may be used from several threads; close it from one thread when the others
    are done with it.
    """

    def __init__(
        self,
        path: Path,
        *,
        readonly: bool = False,
        sync: bool = True,
        map_size: int = 64 * 2**20,
        writer_id: str | None = None,
    ) -> None:
        self._path = Path(path)
        self._readonly = readonly
        self._write_mutex = threading.Lock()
        self._last_ns = 0
        self._last_seq = 0
        self._heartbeats = 0
        if map_size <= 0:
            raise ValueError(f"map_size must be positive, got {map_size}")
        lock: WriterLock | None = None
        if readonly:
            if not (self._path / "data.mdb").is_file():
                raise JournalError(
                    f"there is no journal at {self._path}: nothing has been collected "
                    "there yet. Start a collector (`optui collect`) or check --data-dir."
                )
        else:
            _make_folder(self._path)
            lock = WriterLock(self._path, writer_id or _default_writer_id())
            lock.acquire()
        try:
            if not readonly:
                _create_if_new(self._path, map_size)
            self._shared = _attach(self._path, writable=not readonly, sync=sync, map_size=map_size)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        self._lock = lock
        self._finalizer = weakref.finalize(self, _release, self._shared, lock)
        if not readonly:
            try:
                self._prepare_writer()
            except BaseException:
                self.close()
                raise

    # -- properties --------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    # -- writing -----------------------------------------------------------------------------
    def append(self, frame: bytes, received_ns: int | None = None) -> FrameKey:
        """Store one frame in its own transaction; durable when this returns (sync on).

        `received_ns` defaults to the wall clock. Returns the frame's key; for a heartbeat
        (not stored) the key of the last frame stored before it (`START_KEY` if none).
        """
        stamps = None if received_ns is None else (received_ns,)
        return self.append_many((frame,), stamps)[0]

    def append_many(
        self, frames: Sequence[bytes], received_ns: Sequence[int] | None = None
    ) -> list[FrameKey]:
        """Store `frames` in one transaction (one disk sync for all): the way to keep up
        under load. Returns one key per frame, as `append` does.

        Keys strictly increase even when the wall clock steps back: each frame's time is
        max(its time, the previous frame's), and the sequence number always grows, across
        reopens too.
        """
        self._check_open()
        if self._readonly:
            raise JournalError(f"cannot append to the journal at {self._path}: opened read-only")
        if received_ns is None:
            stamps: Sequence[int] = (time.time_ns(),) * len(frames)
        else:
            stamps = received_ns
            if len(stamps) != len(frames):
                raise ValueError(f"received_ns has {len(stamps)} times for {len(frames)} frames")
        with self._write_mutex:
            ns, seq = self._last_ns, self._last_seq
            keys: list[FrameKey] = []
            items: list[tuple[bytes, bytes]] = []
            heartbeats = 0
            for frame, stamp in zip(frames, stamps, strict=True):
                if len(frame) == HEARTBEAT_SIZE:
                    heartbeats += 1
                    keys.append(_KEY.pack(ns, seq) if seq else START_KEY)
                    continue
                ns = max(int(stamp), ns)
                seq += 1
                key = make_key(ns, seq)
                keys.append(key)
                items.append((key, frame))
            if items:
                shared = self._shared

                def put(txn: lmdb.Transaction[bytes]) -> None:
                    for key, frame in items:
                        # Keys only grow, so LMDB can append without searching the tree.
                        # It refuses a key that does not (only a second writer that got
                        # past the lock could cause that): never drop a frame silently.
                        if not txn.put(key, frame, append=True, db=shared.frames):
                            raise JournalError(
                                f"the journal at {self._path} already holds a frame at or "
                                f"after key {key.hex()}: is another process writing it "
                                "without the writer lock (a network file system)?"
                            )

                self._write(put, "append frames to")
                self._last_ns, self._last_seq = ns, seq
            self._heartbeats += heartbeats
            return keys

    def write_latest(self, ticks: Ticks, through_key: FrameKey) -> None:
        """Store the latest tick per instrument as of frame `through_key`, as one value.

        Rows with mode 0 (placeholders for instruments that have not ticked, as a pre-sized
        `MarketState` holds) are left out; for a token given twice the later row wins. The
        engine calls this about once a second, so appends stay cheap and `latest` has only
        the last second of frames to replay.
        """
        self._check_open()
        if ticks.dtype != TICK_DTYPE:
            raise TypeError(f"write_latest takes rows of TICK_DTYPE, not {ticks.dtype}")
        split_key(through_key)  # validates the length
        rows = _unique_by_token(ticks[ticks["mode"] != 0])
        value = _LATEST_MAGIC + _DTYPE_PRINT + bytes(through_key) + rows.tobytes()
        shared = self._shared

        def put(txn: lmdb.Transaction[bytes]) -> None:
            txn.put(_LATEST_VALUE, value, db=shared.latest)

        with self._write_mutex:
            self._write(put, "store the latest ticks in")

    def delete_through(self, key: FrameKey) -> int:
        """Delete every frame whose key is <= `key`, in one transaction; how many."""
        self._check_open()
        split_key(key)  # validates the length
        with self._write_mutex:
            return self._write(lambda txn: self._delete(txn, key), "delete frames from")

    def set_meta(self, name: str, value: bytes) -> None:
        """Store a small named value (names starting with "journal." are reserved)."""
        self._check_open()
        meta_key = _meta_key(name, writing=True)
        shared = self._shared

        def put(txn: lmdb.Transaction[bytes]) -> None:
            txn.put(meta_key, value, db=shared.meta)

        with self._write_mutex:
            self._write(put, "write meta values to")

    def set_meta_and_delete_through(self, name: str, value: bytes, key: FrameKey) -> int:
        """Set meta `name` and delete the frames <= `key`, both in ONE transaction.

        The archive records its high-water mark and drops the frames it rolled at once:
        after a crash either both happened or neither did.
        """
        self._check_open()
        meta_key = _meta_key(name, writing=True)
        split_key(key)  # validates the length
        shared = self._shared

        def run(txn: lmdb.Transaction[bytes]) -> int:
            txn.put(meta_key, value, db=shared.meta)
            return self._delete(txn, key)

        with self._write_mutex:
            return self._write(run, "roll frames out of")

    def append_events(self, events: Sequence[Event]) -> list[FrameKey]:
        """Store `events` in one transaction (durable when this returns, sync on); their
        keys. Events are few (`optui.events.EventLog` groups repeats), so one commit per
        batch is cheap."""
        self._check_open()
        if self._readonly:
            raise JournalError(f"the journal at {self._path} is open read-only: no events")
        if not events:
            return []
        values = [encode_event(event) for event in events]
        shared = self._shared

        def put(txn: lmdb.Transaction[bytes]) -> list[FrameKey]:
            db = shared.events
            if db is None:
                raise JournalError(f"the journal at {self._path} has no events database")
            cursor = txn.cursor(db=db)
            last_seq = _KEY.unpack(bytes(cursor.key()))[0] if cursor.last() else 0
            keys = []
            for offset, (event, value) in enumerate(zip(events, values, strict=True)):
                key = _KEY.pack(last_seq + offset + 1, max(round(event.time * 1e9), 0))
                txn.put(key, value, db=db, append=True)
                keys.append(key)
            return keys

        with self._write_mutex:
            return self._write(put, "store events in")

    def events(self, after: FrameKey | None = None, *, limit: int = 10_000) -> list[StoredEvent]:
        """Stored events in the order they were stored, after key `after` (exclusive), at
        most `limit` of them. A record that does not decode (written by a newer optui) is
        skipped, not fatal."""
        self._check_open()
        if after is not None and len(after) != KEY_SIZE:
            raise ValueError(f"an event key has {KEY_SIZE} bytes, got {len(after)}")
        shared = self._shared
        if shared.events is None:
            with shared.active():
                shared.events = _open_events(shared.env, create=False)
            if shared.events is None:
                return []
        found: list[StoredEvent] = []
        with self._read("read events from") as txn:
            cursor = txn.cursor(db=shared.events)
            positioned = cursor.set_range(after) if after is not None else cursor.first()
            while positioned and len(found) < limit:
                key = bytes(cursor.key())
                if key != after:
                    with contextlib.suppress(msgspec.DecodeError):
                        found.append(StoredEvent(key, decode_event(cursor.value())))
                positioned = cursor.next()
        return found

    def map_size(self) -> int:
        """The size of the map in bytes (it doubles by itself when it fills)."""
        self._check_open()
        with self._shared.active():
            return int(self._shared.env.info()["map_size"])

    def last_event_key(self) -> FrameKey | None:
        """The key of the newest stored event (read on from it to see only new ones)."""
        self._check_open()
        shared = self._shared
        if shared.events is None:
            return None
        with self._read("read events from") as txn:
            cursor = txn.cursor(db=shared.events)
            return bytes(cursor.key()) if cursor.last() else None

    # -- reading -----------------------------------------------------------------------------
    def get_meta(self, name: str) -> bytes | None:
        """A named value, or None."""
        self._check_open()
        meta_key = _meta_key(name, writing=False)
        with self._read("read meta values from") as txn:
            value = txn.get(meta_key, db=self._shared.meta)
        return None if value is None else bytes(value)

    def frames(
        self,
        start: FrameKey | None = None,
        stop: FrameKey | None = None,
        *,
        limit: int | None = None,
    ) -> Iterator[tuple[FrameKey, bytes]]:
        """(key, frame) in key order from `start` (inclusive) to `stop` (exclusive).

        Streams in short read transactions of at most 256 frames (or 32 MiB) each, never
        yielding inside one, so an iteration that runs for hours pins nothing. Frames
        appended during the iteration are included; frames deleted before the iteration
        reaches them are not.
        """
        self._check_open()
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        for key in (start, stop):
            if key is not None:
                split_key(key)  # validates the length, here rather than at the first next()
        return self._stream(start, stop, limit)

    def latest(self) -> tuple[Ticks, FrameKey | None]:
        """The current market in one read: (latest tick per instrument sorted by token,
        key of the last frame it accounts for). Exact up to the last committed frame."""
        result = self.latest_detail()
        return result.ticks, result.last_key

    def latest_detail(self) -> Latest:
        """`latest`, with how it was made: the stored snapshot plus the frames after it,
        decoded and applied with `MarketState` in the same read transaction. A frame that
        does not decode is skipped and counted, never dropped from the journal."""
        self._check_open()
        state = MarketState()
        replayed = undecodable = 0
        with self._read("read the latest ticks from") as txn:
            snapshot, snapshot_key = _parse_latest(txn.get(_LATEST_VALUE, db=self._shared.latest))
            if snapshot is not None and len(snapshot):
                state.update(snapshot, received=0.0)
            last_key = snapshot_key
            cursor = txn.cursor(db=self._shared.frames)
            if snapshot_key is None:
                found = cursor.first()
            else:
                found = cursor.set_range(snapshot_key)
                if found and cursor.key() == snapshot_key:
                    found = cursor.next()
            if found:
                for key, frame in cursor.iternext():
                    last_key = key
                    try:
                        ticks = decode(frame)
                    except Exception:  # FrameError; anything else a bad frame may raise
                        undecodable += 1
                        continue
                    replayed += 1
                    state.update(ticks, received=_KEY.unpack(key)[0] / 1e9)
        return Latest(
            ticks=state.snapshot().ticks,
            last_key=last_key,
            replayed=replayed,
            undecodable=undecodable,
            snapshot_key=snapshot_key,
        )

    def stats(self) -> JournalStats:
        """Counts and sizes, from one read transaction.

        `frame_bytes` sums the stored frames' lengths, which reads every frame's length
        (not its bytes): about 0.3 µs a frame, well under a second for a day.
        """
        self._check_open()
        shared = self._shared
        with self._read_views("read statistics of") as txn:
            frames = int(txn.stat(shared.frames)["entries"])
            cursor = txn.cursor(db=shared.frames)
            first = bytes(cursor.key()) if cursor.first() else None
            last = bytes(cursor.key()) if cursor.last() else None
            frame_bytes = 0
            if cursor.first():
                frame_bytes = sum(len(value) for value in cursor.iternext(keys=False))
            info = shared.env.info()
            page = int(shared.env.stat()["psize"])
        return JournalStats(
            frames=frames,
            frame_bytes=frame_bytes,
            first_key=first,
            last_key=last,
            map_size=int(info["map_size"]),
            used_bytes=(int(info["last_pgno"]) + 1) * page,
            path=self._path,
            heartbeats=self._heartbeats,
            readers=int(info["num_readers"]),
        )

    def copy_to(self, dest: Path) -> None:
        """Write a consistent, compacted copy of the journal to the folder `dest`.

        Safe while the writer runs (LMDB copies one read snapshot). The copy is written
        under a temporary name, synced, then renamed into place, so `dest` either holds a
        whole journal or is left as it was. `dest` must not exist or be an empty folder.
        """
        self._check_open()
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise JournalError(
                f"cannot copy the journal to {dest}: it exists and is not an empty folder. "
                "Choose a new folder."
            )
        partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
        try:
            for attempt in range(3):
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                try:
                    with self._shared.active():  # holds off a map resize meanwhile
                        self._shared.env.copy(str(partial), compact=True)
                    break
                except lmdb.MapResizedError:
                    if attempt == 2:
                        raise
                    self._shared.adopt_map_size()  # another process grew the map
            _fsync_path(partial / "data.mdb")
            _fsync_path(partial)
            partial.replace(dest)
            _fsync_path(dest.parent)
        except lmdb.Error as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise _journal_error(exc, dest, "write a copy of the journal to") from exc
        except OSError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise JournalError(
                f"cannot copy the journal to {dest}: {exc.strerror or exc}. Choose a "
                "writable folder with enough free space."
            ) from exc

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the journal (and release the writer lock). Idempotent."""
        self._finalizer()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "readonly" if self._readonly else "writer"
        state = "closed" if self.closed else "open"
        return f"Journal({str(self._path)!r}, {mode}, {state})"

    # -- internals ---------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.closed:
            raise JournalError(f"the journal at {self._path} is closed")

    def _prepare_writer(self) -> None:
        """Check the format and find where keys continue (last frame or last deletion)."""
        shared = self._shared

        def prepare(txn: lmdb.Transaction[bytes]) -> tuple[int, int]:
            found = txn.get(_FORMAT_NAME, db=shared.meta)
            if found is None:
                txn.put(_FORMAT_NAME, _FORMAT, db=shared.meta)
            elif bytes(found) != _FORMAT:
                raise JournalError(
                    f"the journal at {self._path} has format {bytes(found)!r}, this optui "
                    f"writes format {_FORMAT!r}: it was made by another optui version. "
                    "Use that version, or give this one another data folder."
                )
            last = START_KEY
            cursor = txn.cursor(db=shared.frames)
            if cursor.last():
                last = max(last, bytes(cursor.key()))
            deleted = txn.get(_DELETED_THROUGH, db=shared.meta)
            if deleted is not None and len(deleted) == KEY_SIZE:
                last = max(last, bytes(deleted))
            return split_key(last)

        self._last_ns, self._last_seq = self._write(prepare, "open")

    def _delete(self, txn: lmdb.Transaction[bytes], key: FrameKey) -> int:
        """Delete frames <= key inside `txn`; remember the largest key deleted."""
        cursor = txn.cursor(db=self._shared.frames)
        count = 0
        last = b""
        if cursor.first():
            current = cursor.key()
            while current and current <= key:
                last = current
                cursor.delete()  # moves to the next frame, or unpositions at the end
                count += 1
                current = cursor.key()
        if count:
            previous = txn.get(_DELETED_THROUGH, db=self._shared.meta)
            if previous is None or bytes(previous) < last:
                txn.put(_DELETED_THROUGH, last, db=self._shared.meta)
        return count

    def _write(self, body: Callable[[lmdb.Transaction[bytes]], _T], action: str) -> _T:
        self._check_open()
        if self._readonly:
            raise JournalError(f"cannot {action} the journal at {self._path}: opened read-only")
        try:
            return self._shared.write(body)
        except lmdb.Error as exc:
            raise _journal_error(exc, self._path, action) from exc

    @contextlib.contextmanager
    def _read(self, action: str) -> Iterator[lmdb.Transaction[bytes]]:
        self._check_open()
        try:
            with self._shared.reading() as txn:
                yield txn
        except lmdb.Error as exc:
            raise _journal_error(exc, self._path, action) from exc

    @contextlib.contextmanager
    def _read_views(self, action: str) -> Iterator[lmdb.Transaction[memoryview]]:
        self._check_open()
        try:
            with self._shared.reading_views() as txn:
                yield txn
        except lmdb.Error as exc:
            raise _journal_error(exc, self._path, action) from exc

    def _stream(
        self, start: FrameKey | None, stop: FrameKey | None, limit: int | None
    ) -> Iterator[tuple[FrameKey, bytes]]:
        position = start
        inclusive = True
        remaining = limit
        while remaining is None or remaining > 0:
            want = _CHUNK_FRAMES if remaining is None else min(_CHUNK_FRAMES, remaining)
            chunk, done = self._chunk(position, inclusive, stop, want)
            yield from chunk
            if remaining is not None:
                remaining -= len(chunk)
            if done or not chunk:
                return
            position, inclusive = chunk[-1][0], False

    def _chunk(
        self, position: FrameKey | None, inclusive: bool, stop: FrameKey | None, want: int
    ) -> tuple[list[tuple[FrameKey, bytes]], bool]:
        """Up to `want` frames from `position` on, in one read transaction; and whether
        the range is exhausted."""
        chunk: list[tuple[FrameKey, bytes]] = []
        size = 0
        with self._read("read frames from") as txn:
            cursor = txn.cursor(db=self._shared.frames)
            found = cursor.first() if position is None else cursor.set_range(position)
            if found and not inclusive and cursor.key() == position:
                found = cursor.next()
            while found:
                key = cursor.key()
                if stop is not None and key >= stop:
                    return chunk, True
                frame = cursor.value()
                chunk.append((key, frame))
                size += len(frame)
                if len(chunk) >= want or size >= _CHUNK_BYTES:
                    return chunk, False
                found = cursor.next()
        return chunk, True


# -- one environment per folder per process ----------------------------------------------------
class _SharedEnv:
    """The one LMDB environment of a journal folder in this process, shared by its Journals.

    LMDB's locks are per process, so a second open of the same files in one process would
    break them (py-lmdb refuses it). Journals on one folder therefore share this object.

    Transactions are counted so that remapping (growing the map, adopting a size another
    process set, reopening read-write) waits until none is running in this process instead
    of invalidating a reader on another thread. Every transaction here is short; none is
    held across a `yield`.
    """

    def __init__(self, path: Path, ident: tuple[str, int, int]) -> None:
        self.path = path
        self.ident = ident
        self.refs = 0
        self.writable = False
        self.sync = True
        self._cond = threading.Condition()
        self._active = 0
        self._exclusive = False
        self.env: lmdb.Environment
        self.frames: lmdb._Database
        self.meta: lmdb._Database
        self.latest: lmdb._Database
        self.events: lmdb._Database | None = None

    def open(self, *, writable: bool, sync: bool, map_size: int) -> None:
        env = lmdb.open(
            str(self.path),
            map_size=map_size,
            subdir=True,
            readonly=not writable,
            create=writable,
            sync=sync,
            metasync=sync,
            writemap=False,
            lock=True,
            max_dbs=4,
            mode=0o644,
        )
        try:
            self.frames = env.open_db(_FRAMES, create=writable)
            self.meta = env.open_db(_META, create=writable)
            self.latest = env.open_db(_LATEST, create=writable)
            self.events = _open_events(env, create=writable)
        except BaseException:
            env.close()
            raise
        self.env, self.writable, self.sync = env, writable, sync

    def reopen(self, *, writable: bool, sync: bool, map_size: int) -> None:
        """Reopen in another mode; if that fails, as before (the readers sharing this
        environment keep working) and raise."""
        with self.exclusive():
            size = max(map_size, int(self.env.info()["map_size"]))
            before = self.writable, self.sync
            self.env.close()
            try:
                self.open(writable=writable, sync=sync, map_size=size)
            except BaseException:
                self.open(writable=before[0], sync=before[1], map_size=size)
                raise

    def close(self) -> None:
        with self.exclusive():
            self.env.close()

    # -- transactions -------------------------------------------------------------------------
    def _enter(self) -> None:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._active += 1

    def _leave(self) -> None:
        with self._cond:
            self._active -= 1
            if self._active == 0:
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """No transaction runs in this process while the body runs."""
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            while self._active:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Count the body as a transaction (for LMDB calls that make their own)."""
        self._enter()
        try:
            yield
        finally:
            self._leave()

    @contextlib.contextmanager
    def reading(self) -> Iterator[lmdb.Transaction[bytes]]:
        """A fresh read transaction (so it sees every commit made before it)."""
        txn = self._begin_read(self.env.begin)
        try:
            yield txn
        finally:
            txn.abort()
            self._leave()

    @contextlib.contextmanager
    def reading_views(self) -> Iterator[lmdb.Transaction[memoryview]]:
        """`reading`, with values as memoryviews into the map (valid inside only)."""
        txn = self._begin_read(lambda: self.env.begin(buffers=True))
        try:
            yield txn
        finally:
            txn.abort()
            self._leave()

    def adopt_map_size(self) -> None:
        """Another process grew the map past ours: map the size it recorded."""
        with self.exclusive():
            self.env.set_mapsize(0)

    def _begin_read(self, begin: Callable[[], _Txn]) -> _Txn:
        """Begin a read transaction, counted as active (the caller `_leave`s)."""
        while True:
            self._enter()
            try:
                return begin()
            except lmdb.MapResizedError:
                self._leave()
                self.adopt_map_size()
            except BaseException:
                self._leave()
                raise

    def write(self, body: Callable[[lmdb.Transaction[bytes]], _T]) -> _T:
        """Run `body` in a write transaction and commit; on MDB_MAP_FULL abort, double the
        map and run it again (so `body` must only write, never change Python state)."""
        while True:
            self._enter()
            try:
                txn = self.env.begin(write=True)
                try:
                    result = body(txn)
                    txn.commit()
                    return result
                except BaseException:
                    txn.abort()  # a no-op after a failed commit
                    raise
            except lmdb.MapFullError:
                pass
            finally:
                self._leave()
            self._grow()

    def _grow(self) -> None:
        with self.exclusive():
            size = int(self.env.info()["map_size"])
            if size * 2 > _MAX_MAP_SIZE:
                raise JournalError(
                    f"the journal at {self.path} needs a map over {_MAX_MAP_SIZE >> 30} GiB; "
                    "let the archive roll it (frames are deleted once archived) or start a "
                    "new data folder."
                )
            self.env.set_mapsize(size * 2)


_REGISTRY: dict[tuple[str, int, int], _SharedEnv] = {}
_REGISTRY_LOCK = threading.Lock()


def _attach(path: Path, *, writable: bool, sync: bool, map_size: int) -> _SharedEnv:
    """This process's environment for the journal folder `path`, opened as needed."""
    try:
        stat = path.stat()
        ident = (os.path.realpath(path), stat.st_dev, stat.st_ino)
        with _REGISTRY_LOCK:
            shared = _REGISTRY.get(ident)
            if shared is None:
                shared = _SharedEnv(path, ident)
                shared.open(writable=writable, sync=sync, map_size=map_size)
                _REGISTRY[ident] = shared
            elif writable and (not shared.writable or shared.sync != sync):
                # A reader of this folder is already open here; the writer needs the
                # environment read-write (readers then share it).
                shared.reopen(writable=True, sync=sync, map_size=map_size)
            shared.refs += 1
            return shared
    except lmdb.Error as exc:
        action = "open" if writable else "open for reading"
        raise _journal_error(exc, path, action) from exc
    except OSError as exc:
        raise JournalError(
            f"cannot open the journal at {path}: {exc.strerror or exc}. Check that the "
            "folder exists and is readable (--data-dir)."
        ) from exc


def _release(shared: _SharedEnv, lock: WriterLock | None) -> None:
    """Drop one Journal's hold on `shared` (closing it with the last) and its lock."""
    try:
        with _REGISTRY_LOCK:
            shared.refs -= 1
            if shared.refs == 0:
                _REGISTRY.pop(shared.ident, None)
                shared.close()
    finally:
        if lock is not None:
            lock.release()  # after the environment is closed: no write can follow


# -- helpers -----------------------------------------------------------------------------------
def _meta_key(name: str, *, writing: bool) -> bytes:
    if not name:
        raise ValueError("a meta name must not be empty")
    if writing and name.startswith(_RESERVED):
        raise ValueError(f"meta names starting with {_RESERVED!r} are the journal's own")
    return name.encode()


def _unique_by_token(rows: Ticks) -> Ticks:
    """Rows sorted by token, the last row of each token kept."""
    tokens = rows["instrument_token"]
    reversed_tokens = tokens[::-1]
    _, last = np.unique(reversed_tokens, return_index=True)  # sorted by token
    return np.ascontiguousarray(rows[len(rows) - 1 - last])


def _parse_latest(value: bytes | None) -> tuple[Ticks | None, FrameKey | None]:
    """(rows, through key) of a stored snapshot; (None, None) if absent or unreadable."""
    if value is None or len(value) < _LATEST_HEADER:
        return None, None
    magic = len(_LATEST_MAGIC)
    if value[:magic] != _LATEST_MAGIC or value[magic : magic + 8] != _DTYPE_PRINT:
        return None, None
    body = len(value) - _LATEST_HEADER
    if body % TICK_DTYPE.itemsize:
        return None, None
    rows = empty_ticks(body // TICK_DTYPE.itemsize)
    rows.view(np.uint8)[:] = np.frombuffer(value, dtype=np.uint8, offset=_LATEST_HEADER)
    return rows, bytes(value[magic + 8 : _LATEST_HEADER])


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JournalError(
            f"cannot create the journal folder {path}: {exc.strerror or exc}. Choose a "
            "writable data folder (--data-dir or data_dir in the config)."
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise JournalError(
            f"the journal folder {path} is not writable by this user. Fix its permissions "
            "or choose another data folder (--data-dir or data_dir in the config)."
        )


_CREATING: Final = ".creating"


def _create_if_new(path: Path, map_size: int) -> None:
    """Make a new journal's data.mdb appear whole: built with its sub-databases in a side
    folder, then renamed into place. A reader (or a writer killed mid-creation) can then
    never meet a data.mdb without them. Called with the writer lock held."""
    side = path / _CREATING
    if side.exists():
        shutil.rmtree(side)  # left by a writer that died while creating
    if (path / "data.mdb").exists():
        return
    side.mkdir()
    env = lmdb.open(str(side), map_size=map_size, subdir=True, max_dbs=4, mode=0o644)
    try:
        with env.begin(write=True) as txn:
            for name in (_FRAMES, _META, _LATEST, _EVENTS):
                env.open_db(name, txn=txn, create=True)
        env.sync(True)
    finally:
        env.close()
    os.replace(side / "data.mdb", path / "data.mdb")
    _fsync_path(path)
    shutil.rmtree(side)


def _open_events(env: lmdb.Environment, *, create: bool) -> lmdb._Database | None:
    """The events database; None in a journal made before events were stored (a writer
    adds it when it opens the journal)."""
    try:
        return env.open_db(_EVENTS, create=create)
    except lmdb.NotFoundError:
        return None


def _default_writer_id() -> str:
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"{program} (pid {os.getpid()})"


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _why_writes_fail(path: Path, code: int) -> str:
    """The likely reasons a write to `path` failed with errno `code`."""
    reasons = []
    try:
        free: int | None = shutil.disk_usage(path).free
    except OSError:
        free = None
    if code in _NO_ROOM - {errno.EFBIG} or (free is not None and free < _LOW_SPACE):
        shown = "unknown" if free is None else f"{free / 2**20:,.1f} MiB"
        reasons.append(f"the disk is full ({shown} free)")
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        reasons.append(f"this process may write files of at most {limit:,} bytes (ulimit -f)")
    if not reasons:
        reasons.append("the disk reported an I/O error (see the system log)")
    return " or ".join(reasons)


def _journal_error(exc: lmdb.Error, path: Path, action: str) -> JournalError:
    """A message a user can act on, for an LMDB error met while doing `action` to `path`."""
    code = getattr(exc, "code", 0)
    if isinstance(exc, lmdb.DiskError) or code in _NO_ROOM or code == errno.EIO:
        # LMDB reports a short write (what a full disk usually gives) as EIO, so look for
        # the cause ourselves.
        return JournalError(
            f"cannot {action} the journal at {path}: {exc}; {_why_writes_fail(path, code)}. "
            "Nothing of this write was stored; what was committed before is safe. Free "
            "space on that disk or move the data folder (--data-dir), then carry on."
        )
    if isinstance(exc, lmdb.PanicError):
        return JournalError(
            f"the journal at {path} stopped after an earlier write failed ({exc}). Close "
            "and reopen it: frames committed before the failure are safe."
        )
    if isinstance(exc, lmdb.ReadonlyError) or code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return JournalError(
            f"cannot {action} the journal at {path}: permission denied ({exc}). Readers "
            "need write access to its lock.mdb too; fix the permissions or choose another "
            "data folder (--data-dir)."
        )
    if isinstance(exc, lmdb.NotFoundError | lmdb.InvalidError | lmdb.IncompatibleError):
        return JournalError(
            f"{path} is not an optui journal, or is damaged ({exc}). Point --data-dir at "
            "the right folder, or restore it from a backup (`optui backup`)."
        )
    return JournalError(f"cannot {action} the journal at {path}: {exc}")
