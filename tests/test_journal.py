"""The LMDB journal: real LMDB in tmp_path, real frames from the demo market, real processes.

No mocks and no sleeps: other processes are driven line by line over pipes, so every step
happens in a known order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import lmdb
import numpy as np
import pytest

from optui.feed.codec import decode
from optui.feed.simulator import DemoMarket
from optui.feed.state import MarketState
from optui.store.journal import (
    KEY_SIZE,
    START_KEY,
    Journal,
    JournalError,
    JournalLockedError,
    JournalStats,
    make_key,
    split_key,
    writer_info,
)

ROOT = Path(__file__).resolve().parents[1]
SESSION = date(2026, 11, 23)


@pytest.fixture(scope="module")
def demo_frames() -> list[bytes]:
    """30 simulated seconds of the demo market: real Kite frames (about 190, 14 MB)."""
    market = DemoMarket(7, SESSION)
    return market.advance_to(market.open_epoch + 30)


def _frame(i: int, size: int = 64) -> bytes:
    """A distinct opaque frame (the journal never looks inside)."""
    return i.to_bytes(4, "big") * (size // 4)


def _market_over(frames: list[bytes]) -> np.ndarray:
    """The reference: MarketState fed every decodable frame, rows of ticked tokens."""
    state = MarketState()
    for frame in frames:
        try:
            ticks = decode(frame)
        except ValueError:
            continue
        state.update(ticks, received=0.0)
    return state.snapshot().ticks


class _Child:
    """A Python process running `script`, driven by lines over its stdin and stdout."""

    def __init__(self, script: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            _, err = self.proc.communicate()
            raise AssertionError(f"child ended early (code {self.proc.returncode}):\n{err}")
        return line.strip()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> tuple[int, str]:
        _, err = self.proc.communicate()
        return self.proc.returncode, err


@pytest.fixture
def children() -> Iterator[list[_Child]]:
    started: list[_Child] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.proc.kill()
        child.proc.communicate()


# -- keys ------------------------------------------------------------------------------------------
def test_keys_are_big_endian_time_then_sequence() -> None:
    key = make_key(1_763_869_500_123_456_789, 42)
    assert len(key) == KEY_SIZE
    assert split_key(key) == (1_763_869_500_123_456_789, 42)
    assert make_key(1, 2**40) < make_key(2, 0)  # byte order is time order
    assert make_key(0, 0) == START_KEY
    with pytest.raises(ValueError, match="16 bytes"):
        split_key(b"short")
    with pytest.raises(ValueError, match="64 unsigned bits"):
        make_key(-1, 0)


# -- append, read back -----------------------------------------------------------------------------
def test_frames_round_trip_byte_for_byte_in_key_order(tmp_path: Path) -> None:
    frames = [_frame(i, 8 + i % 50) for i in range(700)]
    with Journal(tmp_path / "j", sync=False) as journal:
        keys = [journal.append(frame, 1_000 + i) for i, frame in enumerate(frames[:100])]
        keys += journal.append_many(frames[100:], [2_000 + i for i in range(600)])
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        # More than one read chunk (256 frames), so the streaming resumes correctly.
        assert list(journal.frames()) == list(zip(keys, frames, strict=True))
        assert list(journal.frames(keys[10], keys[20])) == list(
            zip(keys[10:20], frames[10:20], strict=True)
        )
        assert [k for k, _ in journal.frames(keys[250], limit=300)] == keys[250:550]
        assert list(journal.frames(limit=0)) == []
        ns, seq = split_key(keys[-1])
        assert list(journal.frames(make_key(ns, seq + 1))) == []
        with pytest.raises(ValueError, match="16 bytes"):
            next(journal.frames(b"short"))
        stats = journal.stats()
        assert isinstance(stats, JournalStats)
        assert (stats.frames, stats.frame_bytes) == (700, sum(map(len, frames)))
        assert (stats.first_key, stats.last_key) == (keys[0], keys[-1])
        assert stats.path == tmp_path / "j" and stats.used_bytes <= stats.map_size


def test_keys_strictly_increase_when_the_clock_steps_back(tmp_path: Path) -> None:
    with Journal(tmp_path, sync=False) as journal:
        keys = journal.append_many([_frame(i) for i in range(4)], [500, 100, 900, 300])
        keys.append(journal.append(_frame(9), 50))
    parts = [split_key(key) for key in keys]
    assert [ns for ns, _ in parts] == [500, 500, 900, 900, 900]
    assert [seq for _, seq in parts] == [1, 2, 3, 4, 5]
    assert keys == sorted(keys) and len(set(keys)) == 5


def test_sequence_continues_after_reopen_even_when_every_frame_was_deleted(
    tmp_path: Path,
) -> None:
    with Journal(tmp_path, sync=False) as journal:
        first = journal.append_many([_frame(1), _frame(2)], [10_000, 10_001])
    with Journal(tmp_path, sync=False) as journal:
        again = journal.append(_frame(3), 5)  # the clock went back while closed
        assert split_key(again) == (10_001, 3) and again > first[-1]
        assert journal.delete_through(again) == 3
        assert journal.stats().frames == 0
    with Journal(tmp_path, sync=False) as journal:
        # Nothing left to continue from but the record of what was deleted: keys must still
        # land above everything ever handed out (the archive's high-water mark is among it).
        after = journal.append(_frame(4), 7)
    assert split_key(after) == (10_001, 4) and after > again


def test_committed_frames_survive_a_writer_that_dies_without_closing(
    tmp_path: Path, children: list[_Child]
) -> None:
    script = f"""
import os
from pathlib import Path
from optui.store.journal import Journal
journal = Journal(Path({str(tmp_path)!r}))
for i in range(50):
    journal.append(i.to_bytes(4, "big") * 100, 1_000 + i)
print("appended", flush=True)
os._exit(9)  # no close: like a crash right after the last commit
"""
    child = _Child(script)
    children.append(child)
    assert child.read() == "appended"
    assert child.finish()[0] == 9
    with Journal(tmp_path) as journal:
        stored = list(journal.frames())
    assert [frame for _, frame in stored] == [i.to_bytes(4, "big") * 100 for i in range(50)]
    assert [split_key(key) for key, _ in stored] == [(1_000 + i, i + 1) for i in range(50)]


def test_heartbeats_are_counted_not_stored(tmp_path: Path) -> None:
    with Journal(tmp_path, sync=False) as journal:
        assert journal.append(b"\x01") == START_KEY  # nothing stored yet: the start
        keys = journal.append_many([_frame(1), b"\x01", _frame(2), b"\x01"], [5, 6, 7, 8])
        assert keys[1] == keys[0] and keys[3] == keys[2]  # a heartbeat: the position
        stats = journal.stats()
        assert (stats.frames, stats.heartbeats) == (2, 3)
        assert [frame for _, frame in journal.frames()] == [_frame(1), _frame(2)]


# -- delete, meta ----------------------------------------------------------------------------------
def test_delete_through_and_meta(tmp_path: Path) -> None:
    with Journal(tmp_path, sync=False) as journal:
        keys = journal.append_many([_frame(i) for i in range(10)], list(range(10)))
        assert journal.get_meta("archive.high_water") is None
        journal.set_meta("archive.high_water", b"x")
        assert journal.get_meta("archive.high_water") == b"x"
        assert journal.delete_through(keys[2]) == 3
        assert journal.delete_through(keys[2]) == 0
        assert journal.delete_through(START_KEY) == 0
        assert journal.set_meta_and_delete_through("archive.high_water", keys[6], keys[6]) == 4
        assert journal.get_meta("archive.high_water") == keys[6]
        assert [k for k, _ in journal.frames()] == keys[7:]
        with pytest.raises(ValueError, match="journal's own"):
            journal.set_meta("journal.format", b"2")
        with pytest.raises(ValueError, match="16 bytes"):
            journal.delete_through(b"short")


class _FailsMidRoll(Journal):
    """A journal whose delete fails after removing some frames, inside the transaction
    that already recorded the high-water mark (as a crash or an I/O error would)."""

    def _delete(self, txn: lmdb.Transaction[bytes], key: bytes) -> int:
        cursor = txn.cursor(db=self._shared.frames)
        cursor.first()
        cursor.delete()
        cursor.delete()
        raise OSError("simulated failure in the middle of the roll")


def test_set_meta_and_delete_through_is_one_transaction(tmp_path: Path) -> None:
    with Journal(tmp_path, sync=False) as journal:
        keys = journal.append_many([_frame(i) for i in range(5)], list(range(5)))
        journal.set_meta("archive.high_water", b"before")
    with _FailsMidRoll(tmp_path, sync=False) as failing, pytest.raises(OSError, match="simulated"):
        failing.set_meta_and_delete_through("archive.high_water", b"after", keys[3])
    with Journal(tmp_path, sync=False) as journal:
        # Neither effect happened: not the mark, not the two deletes before the failure.
        assert journal.get_meta("archive.high_water") == b"before"
        assert [k for k, _ in journal.frames()] == keys
        # And the real thing does both.
        assert journal.set_meta_and_delete_through("archive.high_water", b"after", keys[3]) == 4
        assert journal.get_meta("archive.high_water") == b"after"
        assert [k for k, _ in journal.frames()] == keys[4:]


# -- map growth ------------------------------------------------------------------------------------
def test_the_map_grows_by_itself_from_64_kib(tmp_path: Path) -> None:
    frames = [_frame(i, 9_000) for i in range(200)]
    with Journal(tmp_path, map_size=64 * 2**10) as journal:
        keys = [journal.append(frame) for frame in frames[:100]]
        keys += journal.append_many(frames[100:])  # one transaction, many doublings
        keys.append(journal.append(b"\x07" * 3_000_000))  # one frame far above the map
        stats = journal.stats()
        assert stats.frames == 201 and stats.map_size >= 4 * 2**20
        assert [frame for _, frame in journal.frames()] == [*frames, b"\x07" * 3_000_000]
    with Journal(tmp_path, readonly=True, map_size=64 * 2**10) as reader:
        assert [k for k, _ in reader.frames()] == keys


# -- one writer ------------------------------------------------------------------------------------
def test_a_second_writer_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with Journal(tmp_path, writer_id="collector-a") as journal:
        with pytest.raises(JournalLockedError) as refused:
            Journal(tmp_path, writer_id="collector-b")
        message = str(refused.value)
        assert str(tmp_path) in message and f"pid {os.getpid()}" in message
        assert "collector-a" in message and "readonly=True" in message
        assert refused.value.pid == os.getpid()
        info = writer_info(tmp_path)
        assert info is not None and "collector-a" in info
        # Readers need no lock, and share this process's environment with the writer.
        with Journal(tmp_path, readonly=True) as reader:
            key = journal.append(_frame(1))
            assert [k for k, _ in reader.frames()] == [key]
    assert writer_info(tmp_path) is None
    Journal(tmp_path).close()  # free again


def test_a_second_writer_in_another_process_is_refused(
    tmp_path: Path, children: list[_Child]
) -> None:
    script = f"""
import sys
from pathlib import Path
from optui.store.journal import Journal
journal = Journal(Path({str(tmp_path)!r}), writer_id="night-collector")
print("locked", flush=True)
sys.stdin.readline()
journal.close()
print("released", flush=True)
"""
    child = _Child(script)
    children.append(child)
    assert child.read() == "locked"
    with pytest.raises(JournalLockedError) as refused:
        Journal(tmp_path)
    message = str(refused.value)
    pid = child.proc.pid
    assert f"process {pid}" in message and "night-collector" in message
    assert f"kill {pid}" in message and str(tmp_path) in message
    assert refused.value.pid == pid and refused.value.writer_id == "night-collector"
    assert f"pid {pid}" in (writer_info(tmp_path) or "")
    child.send("go")
    assert child.read() == "released"
    assert child.finish()[0] == 0
    Journal(tmp_path).close()


def test_the_lock_of_a_writer_that_died_is_taken_over(
    tmp_path: Path, children: list[_Child]
) -> None:
    script = f"""
import os
from pathlib import Path
from optui.store.journal import Journal
journal = Journal(Path({str(tmp_path)!r}), writer_id="crashed")
journal.append(b"last words", 1)
print("dying", flush=True)
os._exit(1)  # no close, no cleanup: the kernel releases the flock
"""
    child = _Child(script)
    children.append(child)
    assert child.read() == "dying"
    child.finish()
    left_behind = (tmp_path / "writer.lock").read_text()
    assert left_behind.startswith(f"{child.proc.pid}\n") and "crashed" in left_behind
    assert writer_info(tmp_path) is None  # the file remains, the lock does not
    with Journal(tmp_path, writer_id="successor") as journal:
        assert "successor" in (writer_info(tmp_path) or "")
        key = journal.append(b"next", 2)
        assert split_key(key) == (2, 2)  # continues after the dead writer's frame
        assert [frame for _, frame in journal.frames()] == [b"last words", b"next"]


# -- readers ---------------------------------------------------------------------------------------
def test_a_reader_in_another_process_sees_later_commits_across_map_growth(
    tmp_path: Path, children: list[_Child], demo_frames: list[bytes]
) -> None:
    with Journal(tmp_path, map_size=64 * 2**10) as journal:
        journal.append(demo_frames[0])
        script = f"""
import sys
from pathlib import Path
from optui.store.journal import Journal
reader = Journal(Path({str(tmp_path)!r}), readonly=True, map_size=64 * 2**10)
print("open", reader.stats().map_size, flush=True)
for line in sys.stdin:
    stats = reader.stats()
    ticks, last = reader.latest()
    print(stats.frames, stats.last_key.hex(), len(ticks), last.hex(), stats.map_size, flush=True)
"""
        child = _Child(script)
        children.append(child)
        opened = child.read().split()
        assert opened[0] == "open"
        for chunk in (demo_frames[1:60], demo_frames[60:]):
            keys = journal.append_many(chunk)  # grows the map far past the reader's
            child.send("read")
            frames, last_key, rows, latest_key, map_size = child.read().split()
            expected = journal.stats()
            assert int(frames) == expected.frames
            assert bytes.fromhex(last_key) == keys[-1] == bytes.fromhex(latest_key)
            assert int(rows) == len(_market_over(demo_frames[: expected.frames]))
        assert int(map_size) > int(opened[1])  # the reader adopted the grown map
    assert child.finish()[0] == 0


def test_a_reader_opened_before_the_writer_in_one_process(tmp_path: Path) -> None:
    with Journal(tmp_path, sync=False) as journal:
        journal.append(_frame(0))
    with Journal(tmp_path, readonly=True) as reader:
        assert reader.stats().frames == 1
        with Journal(tmp_path) as writer:  # reopens the shared environment read-write
            writer.append(_frame(1))
            assert reader.stats().frames == 2
            with pytest.raises(JournalError, match="read-only"):
                reader.append(_frame(2))
            with pytest.raises(JournalError, match="read-only"):
                reader.set_meta("archive.high_water", b"x")
        assert reader.stats().frames == 2  # still usable after the writer closed


def test_readers_on_other_threads_keep_working_while_the_map_grows(tmp_path: Path) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []
    reads = [0]
    with Journal(tmp_path, sync=False, map_size=64 * 2**10) as journal:
        journal.append(_frame(0))
        reader = Journal(tmp_path, readonly=True)

        def read() -> None:
            try:
                while not stop.is_set():
                    seen = [k for k, _ in reader.frames()]
                    assert seen == sorted(seen) and reader.stats().frames >= len(seen)
                    reader.latest()
                    reads[0] += 1
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=read) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            for i in range(1, 300):  # 6 MB from a 64 KiB map: seven doublings
                journal.append(_frame(i, 20_000))
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            reader.close()
        assert not errors and reads[0] > 0
        assert journal.stats().frames == 300


def test_opening_a_missing_journal_read_only_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match=r"no journal at .*nothing\b.*optui collect"):
        Journal(tmp_path / "nowhere", readonly=True)


def test_a_folder_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(JournalError, match=r"cannot create the journal folder .*a-file"):
        Journal(tmp_path / "a-file" / "journal")


# -- the latest market -----------------------------------------------------------------------------
def test_latest_is_exactly_the_market_state_over_all_frames(
    tmp_path: Path, demo_frames: list[bytes]
) -> None:
    expected = _market_over(demo_frames)
    with Journal(tmp_path, sync=False) as journal:
        assert len(journal.latest()[0]) == 0 and journal.latest()[1] is None
        keys = journal.append_many(demo_frames[:100])
        # No snapshot yet: everything is replayed.
        ticks, last = journal.latest()
        assert last == keys[-1]
        np.testing.assert_array_equal(ticks, _market_over(demo_frames[:100]))

        # The engine's way: a state pre-sized for the universe (unticked rows are mode 0),
        # snapshotted now and then, frames arriving after it.
        market = DemoMarket(7, SESSION)
        state = MarketState(market.instruments.instrument_token)
        for frame in demo_frames[:100]:
            state.update(decode(frame), received=0.0)
        journal.write_latest(state.snapshot().ticks, keys[-1])
        keys += journal.append_many(demo_frames[100:])
        detail = journal.latest_detail()
        assert detail.snapshot_key == keys[99] and detail.replayed == len(demo_frames) - 100
        assert detail.last_key == keys[-1] and detail.undecodable == 0
        np.testing.assert_array_equal(detail.ticks, expected)
        assert np.all(np.diff(detail.ticks["instrument_token"].astype(np.int64)) > 0)

        # A snapshot at the end: nothing to replay, same answer.
        journal.write_latest(expected, keys[-1])
        detail = journal.latest_detail()
        assert detail.replayed == 0 and detail.last_key == keys[-1]
        np.testing.assert_array_equal(detail.ticks, expected)

        # Frames rolled out of the journal: the snapshot still stands.
        journal.delete_through(keys[-1])
        ticks, last = journal.latest()
        assert last == keys[-1]
        np.testing.assert_array_equal(ticks, expected)


def test_an_undecodable_frame_is_stored_and_skipped_by_latest(
    tmp_path: Path, demo_frames: list[bytes]
) -> None:
    good = demo_frames[:20]
    bad = [b"\x00\x03garbage", good[5][:-7], b""]
    arrived = [*good[:10], bad[0], *good[10:15], bad[1], bad[2], *good[15:]]
    with Journal(tmp_path, sync=False) as journal:
        keys = journal.append_many(arrived)
        assert [frame for _, frame in journal.frames()] == arrived  # kept, byte for byte
        detail = journal.latest_detail()
        assert detail.undecodable == 3 and detail.replayed == 20
        assert detail.last_key == keys[-1]
        np.testing.assert_array_equal(detail.ticks, _market_over(good))


def test_write_latest_takes_tick_rows_only(tmp_path: Path) -> None:
    with Journal(tmp_path, sync=False) as journal:
        with pytest.raises(TypeError, match="TICK_DTYPE"):
            journal.write_latest(np.zeros(3), START_KEY)
        with pytest.raises(ValueError, match="16 bytes"):
            journal.write_latest(_market_over([]), b"")


# -- backup ----------------------------------------------------------------------------------------
def test_copy_to_while_the_writer_keeps_writing(tmp_path: Path, demo_frames: list[bytes]) -> None:
    source = tmp_path / "source"
    stop = threading.Event()
    warmed = threading.Event()
    written: list[bytes] = []
    errors: list[BaseException] = []
    with Journal(source) as journal:

        def collect() -> None:
            try:
                i = 0
                while not stop.is_set():
                    written.append(journal.append(demo_frames[i % len(demo_frames)]))
                    i += 1
                    if i == 20:
                        warmed.set()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                warmed.set()

        thread = threading.Thread(target=collect)
        thread.start()
        try:
            assert warmed.wait(60)
            journal.copy_to(tmp_path / "backup")
            progressed = len(written)
        finally:
            stop.set()
            thread.join()
        assert not errors
        source_frames = dict(journal.frames())
    with Journal(tmp_path / "backup", readonly=True) as copy:
        copied = list(copy.frames())
    assert 20 <= len(copied) <= progressed
    # A consistent snapshot: a prefix of what was written, byte for byte.
    assert [key for key, _ in copied] == written[: len(copied)]
    assert all(source_frames[key] == frame for key, frame in copied)
    # The copy is a journal of its own: a writer continues after its last key.
    with Journal(tmp_path / "backup", sync=False) as restored:
        assert restored.append(b"more") > copied[-1][0]
    # From a reader with an environment of its own (as `optui backup` does).
    with Journal(source, readonly=True) as reader:
        reader.copy_to(tmp_path / "backup2")
    with Journal(tmp_path / "backup2", readonly=True) as second:
        assert dict(second.frames()) == source_frames
    with (
        Journal(source, readonly=True) as again,
        pytest.raises(JournalError, match="not an empty folder"),
    ):
        again.copy_to(tmp_path / "backup")


# -- disk full -------------------------------------------------------------------------------------
def test_a_full_disk_is_a_clear_error_and_loses_nothing_committed(
    tmp_path: Path, children: list[_Child]
) -> None:
    # A file size limit (ulimit -f) fails writes the way a full disk does, without one.
    script = f"""
import resource
from pathlib import Path
from optui.store.journal import Journal, JournalError
journal = Journal(Path({str(tmp_path)!r}), map_size=2**30)
journal.append(b"kept" * 1000, 1)
size = (Path({str(tmp_path)!r}) / "data.mdb").stat().st_size
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 8192, size + 8192))
try:
    journal.append(b"x" * 4_000_000, 2)
except JournalError as exc:
    print("refused", exc, flush=True)
journal.close()
"""
    child = _Child(script)
    children.append(child)
    line = child.read()
    assert line.startswith("refused cannot append frames to the journal at")
    assert str(tmp_path) in line and "ulimit -f" in line
    assert "Nothing of this write was stored" in line
    assert child.finish()[0] == 0
    with Journal(tmp_path) as journal:
        assert [frame for _, frame in journal.frames()] == [b"kept" * 1000]
        assert split_key(journal.append(b"after", 3)) == (3, 2)


def test_a_new_journal_appears_whole_even_after_a_writer_died_creating_it(
    tmp_path: Path,
) -> None:
    """data.mdb is built with its sub-databases aside and renamed into place, so no reader
    (and no later writer) ever meets a data.mdb without them."""
    path = tmp_path / "journal"
    path.mkdir()
    # What a writer killed while creating leaves behind: a half-made side folder.
    side = path / ".creating"
    side.mkdir()
    (side / "data.mdb").write_bytes(b"half")
    Journal(path).close()
    assert not side.exists()
    # The first thing on disk already holds the three sub-databases.
    env = lmdb.open(str(path), readonly=True, max_dbs=4)
    try:
        with env.begin() as txn:
            names = {bytes(key) for key, _ in txn.cursor()}
    finally:
        env.close()
    assert names == {b"frames", b"meta", b"latest", b"events"}
    with Journal(path, readonly=True) as reader:
        assert reader.stats().frames == 0
