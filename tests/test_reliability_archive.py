"""Reliability suite, storage: kill -9 of the collector, damaged archive files.

The whole suite (``pytest -m reliability``) is issue 7's section 4:

- crash: `test_kill_9_of_the_collector_while_writing_and_rolling_keeps_every_frame_once`
  (here), on top of tests/test_archive.py (kill -9 of a roller at random steps; a crash
  between any two steps) and tests/test_collect.py (5 kills of `optui collect`);
- damaged Parquet: the tests below (every reader skips, quarantines and reports);
- emulator faults (drop, silence, 403, 429, malformed): tests/test_kite_stream.py,
  tests/test_emulator.py and tests/test_live_kite.py; the secrets test drives them again
  through `optui collect` in tests/test_reliability_secrets.py;
- fuzzed frames: tests/test_codec.py (`test_random_bytes_give_rows_or_frame_error`, 2,000
  random blobs, and `test_mutated_frames_give_rows_or_frame_error`, byte-mutated valid
  frames checked against the official parser) and tests/test_archive.py (undecodable frames
  kept as rejects);
- damaged participant files, a wrong config, a full disk: tests/test_reliability_inputs.py
  (with tests/test_participants_reader.py, tests/test_settings.py, tests/test_journal.py
  and tests/test_collect.py for the unit-level cases);
- secrets: tests/test_reliability_secrets.py.

Everything is real: the demo market's frames, an LMDB journal, Parquet files in tmp_path,
collectors killed with SIGKILL. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from test_archive import s3  # noqa: F401  (the moto S3 server fixture)

from optui.doctor import check_archive
from optui.events import Event
from optui.feed.calendar import IST
from optui.feed.simulator import DemoMarket
from optui.store.archive import Roller, iter_day, read_rejects, read_ticks
from optui.store.journal import Journal, split_key, writer_info
from optui.store.quarantine import QUARANTINE_DIR

pytestmark = pytest.mark.reliability

SESSION = date(2026, 11, 23)
NS = 1_000_000_000
ROOT = Path(__file__).resolve().parents[1]
OPTUI = (sys.executable, "-m", "optui")


# -- a real archive ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    demo = DemoMarket(7, SESSION)
    return demo.advance_to(demo.open_epoch + 12)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, frames: list[bytes]) -> Path:
    """An archive of ~10 part files (plus a rejects file), rolled once for the module."""
    folder = tmp_path_factory.mktemp("pristine")
    start = int(datetime(2026, 11, 23, 9, 15, tzinfo=IST).timestamp()) * NS
    with Journal(folder / "journal", sync=False) as journal:
        keyed = [*frames[:20], b"\x00\x02\x00\x08garbage!", *frames[20:]]
        journal.append_many(keyed, [start + i * 1_000_000 for i in range(len(keyed))])
        Roller(journal, folder / "archive", "c1", max_rows=4_000).roll()
    return folder / "archive"


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "archive"
    subprocess.run(["cp", "-a", str(pristine), str(copy)], check=True, timeout=60)
    return copy


def parts(root: Path, kind: str = "ticks") -> list[Path]:
    return sorted((root / kind).rglob("part-*.parquet"))


def digests(root: Path) -> dict[str, str]:
    """Every file under the archive root (quarantine included) -> its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def ids(table: pa.Table) -> set[tuple[int, int, int]]:
    """(received, frame_seq, packet) of every row: what identifies a tick."""
    return set(
        zip(
            table["received"].cast(pa.int64()).to_pylist(),
            table["frame_seq"].to_pylist(),
            table["packet"].to_pylist(),
            strict=True,
        )
    )


def _foreign_parquet() -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), sink)
    return bytes(sink.getvalue().to_pybytes())


def _wrong_types(original: bytes) -> bytes:
    table = pq.read_table(pa.BufferReader(original))
    index = table.schema.get_field_index("instrument_token")
    as_text = pc.cast(table["instrument_token"], pa.string())
    changed = table.set_column(
        index, "instrument_token", pc.binary_join_element_wise(as_text, "x", "")
    )
    sink = pa.BufferOutputStream()
    pq.write_table(changed, sink)
    return bytes(sink.getvalue().to_pybytes())


def _overwrite(data: bytes, at: float, size: int = 64) -> bytes:
    where = int(len(data) * at)
    blob = bytearray(data)
    blob[where : where + size] = random.Random(where).randbytes(size)
    return bytes(blob)


# Each damage: the file's bytes -> damaged bytes.
DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "zero_length": lambda d: b"",
    "cut_to_4_bytes": lambda d: d[:4],
    "cut_at_a_tenth": lambda d: d[: len(d) // 10],
    "cut_in_half": lambda d: d[: len(d) // 2],
    "cut_in_the_footer": lambda d: d[: len(d) - 40],
    "last_byte_missing": lambda d: d[:-1],
    "bytes_overwritten_in_a_page": lambda d: _overwrite(d, 0.3),
    "bytes_overwritten_late": lambda d: _overwrite(d, 0.8),
    "footer_overwritten_with_zeros": lambda d: d[:-200] + bytes(200),
    "garbage": lambda d: random.Random(1).randbytes(len(d)),
    "an_html_error_page": lambda d: b"<html><body>502 Bad Gateway</body></html>\n",
    "another_tables_parquet": lambda d: _foreign_parquet(),
    "wrong_column_types": _wrong_types,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_file_is_skipped_quarantined_byte_for_byte_and_reported(
    root: Path, damage: str
) -> None:
    whole = read_ticks(root, SESSION, SESSION)
    files = parts(root)
    assert len(files) >= 5
    victim = files[len(files) // 2]
    lost = ids(pq.read_table(victim))
    damaged = DAMAGE[damage](victim.read_bytes())
    victim.write_bytes(damaged)
    before = digests(root)

    events: list[Event] = []
    table = read_ticks(root, SESSION, SESSION, on_event=events.append)

    # The rest of the day, exactly: every other file's ticks, none twice, in arrival order.
    assert ids(table) == ids(whole) - lost
    assert table.num_rows == whole.num_rows - len(lost)
    received = table["received"].cast(pa.int64()).to_numpy()
    assert (received[1:] >= received[:-1]).all()
    # The file is in quarantine/ under its relative path, byte for byte; nothing else moved.
    relative = str(victim.relative_to(root))
    moved = root / QUARANTINE_DIR / relative
    assert not victim.exists()
    assert moved.read_bytes() == damaged
    after = digests(root)
    assert after.pop(f"{QUARANTINE_DIR}/{relative}") == before.pop(relative)
    assert after == before
    # One event saying what happened, what optui did and what to do.
    assert len(events) == 1
    event = events[0]
    assert (event.kind, event.code, event.severity) == (
        "storage",
        "storage.archive_unreadable",
        "error",
    )
    assert event.details["subject"] == str(victim)
    assert victim.name in event.message
    assert str(moved) in event.did and "backup" in event.do
    # The next read is quiet and gives the same rows.
    events.clear()
    assert ids(read_ticks(root, SESSION, SESSION, on_event=events.append)) == ids(table)
    assert events == []


def test_every_reader_skips_and_quarantines(root: Path) -> None:
    files = parts(root)
    events: list[Event] = []
    # iter_day (replay): the frames of the other files, in arrival order.
    victim = files[1]
    lost_frames = {int(s) for s in pq.read_table(victim)["frame_seq"].to_pylist()}
    every = {seq for _, seq in _frame_ids(iter_day(root, SESSION))}
    victim.write_bytes(victim.read_bytes()[:100])
    seen = list(_frame_ids(iter_day(root, SESSION, on_event=events.append)))
    assert {seq for _, seq in seen} == every - lost_frames
    assert [r for r, _ in seen] == sorted(r for r, _ in seen)
    assert [e.details["subject"] for e in events] == [str(victim)]
    # read_rejects: a damaged rejects file.
    rejects = parts(root, "rejects")
    assert len(rejects) == 1 and read_rejects(root, SESSION, SESSION).num_rows == 1
    rejects[0].write_bytes(b"")
    events.clear()
    assert read_rejects(root, SESSION, SESSION, on_event=events.append).num_rows == 0
    assert [e.details["subject"] for e in events] == [str(rejects[0])]
    assert (root / QUARANTINE_DIR / rejects[0].relative_to(root)).read_bytes() == b""
    # A foreign Parquet file under a filter on instruments (its rows have no token, so a
    # filter alone would hide it): found, quarantined, and the token's ticks still there.
    late = parts(root)[-1]
    nifty = read_ticks(root, SESSION, SESSION, tokens=[256265])
    in_late = pc.sum(pc.equal(pq.read_table(late)["instrument_token"], 256265)).as_py() or 0
    kept = nifty.num_rows - in_late
    late.write_bytes(_foreign_parquet())
    events.clear()
    table = read_ticks(root, SESSION, SESSION, tokens=[256265], on_event=events.append)
    assert table.num_rows == kept and 0 < kept < nifty.num_rows
    assert [e.details["subject"] for e in events] == [str(late)]
    assert "lacks" in events[0].message


def _frame_ids(frames: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, int]]:
    for received, ticks in frames:
        yield received, len(ticks)


def test_quarantine_never_overwrites_and_the_doctor_lists_it(root: Path) -> None:
    victim = parts(root)[0]
    original = victim.read_bytes()
    victim.write_bytes(b"first damaged copy")
    events: list[Event] = []
    read_ticks(root, SESSION, SESSION, on_event=events.append)
    # The same name again (a restore that failed the same way): kept beside the first.
    victim.write_bytes(b"second damaged copy")
    read_ticks(root, SESSION, SESSION, on_event=events.append)
    jail = root / QUARANTINE_DIR / victim.relative_to(root).parent
    kept = sorted(p.read_bytes() for p in jail.iterdir())
    assert kept == [b"first damaged copy", b"second damaged copy"]
    assert [e.code for e in events] == ["storage.archive_unreadable"] * 2
    assert len({e.did for e in events}) == 2  # each names its own place

    check = check_archive(root)
    assert check.ok is True and check.warning  # readable now, but say what is missing
    assert "2 files in" in check.detail and victim.name in check.detail
    assert "backup" in check.fix
    # The doctor still fails on a damaged file readers have not met yet, and its advice
    # points at the quarantine readers keep.
    other = parts(root)[0]
    other.write_bytes(other.read_bytes()[:50])
    check = check_archive(root)
    assert check.ok is False and other.name in check.detail and "quarantine" in check.fix
    assert len(original) > 0


def test_export_skips_a_damaged_file_and_says_so(root: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    root.rename(data_dir / "archive")
    archive = data_dir / "archive"
    whole = read_ticks(archive, SESSION, SESSION).num_rows
    victim = parts(archive)[2]
    lost = pq.read_metadata(victim).num_rows
    victim.write_bytes(b"not parquet at all")
    output = tmp_path / "out.parquet"
    result = subprocess.run(
        [
            *OPTUI,
            "export",
            "--data-dir",
            str(data_dir),
            "--from",
            str(SESSION),
            "--output",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"optui: warning: archive file {victim.relative_to(archive)} cannot be read" in (
        result.stderr
    )
    assert "moved it to" in result.stderr and QUARANTINE_DIR in result.stderr
    assert pq.read_metadata(output).num_rows == whole - lost
    status = subprocess.run(
        [sys.executable, "-m", "optui", "status", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "unreadable" not in status.stdout.lower()  # quarantined files are not the archive's


def test_on_an_object_store_a_damaged_file_is_skipped_and_left_in_place(
    request: pytest.FixtureRequest, frames: list[bytes], tmp_path: Path
) -> None:
    fs, _endpoint, bucket = request.getfixturevalue("s3")
    start = int(datetime(2026, 11, 23, 9, 15, tzinfo=IST).timestamp()) * NS
    with Journal(tmp_path / "journal", sync=False) as journal:
        journal.append_many(frames, [start + i * 1_000_000 for i in range(len(frames))])
        Roller(journal, f"{bucket}/optui", "c1", max_rows=8_000, filesystem=fs).roll()
    whole = read_ticks(f"{bucket}/optui", SESSION, SESSION, filesystem=fs)
    listed = fs.get_file_info(pafs.FileSelector(f"{bucket}/optui/ticks", recursive=True))
    victim = sorted(i.path for i in listed if i.base_name.startswith("part-"))[0]
    with fs.open_input_file(victim) as handle:
        lost = pq.read_metadata(handle).num_rows
    with fs.open_output_stream(victim) as out:
        out.write(b"truncated")
    events: list[Event] = []
    table = read_ticks(f"{bucket}/optui", SESSION, SESSION, filesystem=fs, on_event=events.append)
    assert table.num_rows == whole.num_rows - lost
    assert [e.details["subject"] for e in events] == [victim]
    assert "left it where it is" in events[0].did
    with fs.open_input_file(victim) as handle:
        assert handle.read() == b"truncated"  # not moved, not deleted


# -- kill -9 of `optui collect`, many times -------------------------------------------------------
KILLS = 20
BUDGET_S = 75.0
#: `optui collect` itself, with the roller's step hook printing each step on stderr, so a kill
#: can land inside a roll: after its chunk is read, its temporary file written, the file
#: renamed into place, or the journal trimmed.
COLLECTOR = textwrap.dedent(
    """
    import sys
    import optui.store.archive as archive
    from optui.cli import main

    plain = archive.Roller.__init__

    def hooked(self, *args, **kwargs):
        def hook(step, what):
            sys.stderr.write(f"step {step}\\n")
            sys.stderr.flush()
        kwargs["hook"] = hook
        plain(self, *args, **kwargs)

    archive.Roller.__init__ = hooked
    sys.exit(main(sys.argv[1:]))
    """
)
ROLL_STEPS = ("chunk.read", "ticks.tmp", "ticks.renamed", "committed")


class Collector:
    """`optui collect` in a child process; its stderr lines gathered by a thread."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        env = {
            **os.environ,
            "OPTUI_DEMO__SPEED": "120",
            "OPTUI_DEMO__INSTRUMENTS": "400",
            "OPTUI_STORE__ROLL_INTERVAL": "1",
            "OPTUI_LOG_DIR": str(log_dir),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", COLLECTOR, "collect", "--data-dir", str(data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line.strip())

    def wait_for_step(self, step: str, deadline: float) -> None:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"the collector never reached {step}"
            with contextlib.suppress(queue.Empty):
                if self.lines.get(timeout=left) == f"step {step}":
                    return

    def drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.lines.get_nowait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # SIGKILL: no cleanup of any kind
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)


def _committed(data_dir: Path) -> dict[int, int]:
    """frame_seq -> packets of every frame in the journal or the archive right now."""
    found: dict[int, int] = {}
    path = data_dir / "journal"
    if (path / "data.mdb").exists():
        with Journal(path, readonly=True) as journal:
            for key, frame in journal.frames():
                found[split_key(key)[1]] = int.from_bytes(frame[:2], "big")
    archive = data_dir / "archive"
    if archive.exists():
        table = read_ticks(archive, date(2000, 1, 1), date(2100, 1, 1))
        for item in pc.value_counts(table["frame_seq"]).to_pylist():
            seq, packets = int(item["values"]), int(item["counts"])
            assert found.get(seq, packets) == packets, f"frame {seq} is split between stores"
            found[seq] = packets
    return found


def _newest_frame(data_dir: Path) -> bytes | None:
    path = data_dir / "journal"
    if not (path / "data.mdb").exists():
        return None
    with Journal(path, readonly=True) as journal:
        return journal.stats().last_key


def _wait(predicate: Callable[[], bool], deadline: float, what: str) -> None:
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)  # poll interval of a bounded wait


def test_kill_9_of_the_collector_while_writing_and_rolling_keeps_every_frame_once(
    tmp_path: Path,
) -> None:
    data_dir, log_dir = tmp_path / "data", tmp_path / "log"
    rng = random.Random(20261124)
    committed: dict[int, int] = {}
    moments: dict[str, int] = {"starting": 0, "writing": 0}
    moments.update(dict.fromkeys(ROLL_STEPS, 0))
    started = time.monotonic()
    for number in range(KILLS):
        assert time.monotonic() - started < BUDGET_S, f"only {number} kills fitted the budget"
        deadline = time.monotonic() + 30
        before = _newest_frame(data_dir)
        collector = Collector(data_dir, log_dir)
        try:
            moment = ("starting", "writing", "rolling", "rolling")[number % 4]
            if moment == "starting":
                # During start-up: the recovery of the previous kill's half-done roll.
                _wait(lambda: writer_info(data_dir / "journal") is not None, deadline, "lock")
                time.sleep(rng.uniform(0.0, 0.3))  # a random moment to kill at, not a wait
            else:
                _wait(lambda b=before: _newest_frame(data_dir) != b, deadline, "a commit")
                time.sleep(rng.uniform(0.0, 1.0))  # a random moment, not a wait
                if moment == "rolling":
                    # Ask for a roll of everything (what `optui roll` sends), and kill when
                    # it reaches a step (each step in turn).
                    rolls = number // 4 * 2 + number % 4 - 2  # this is the n-th rolling kill
                    moment = ROLL_STEPS[rolls % len(ROLL_STEPS)]
                    collector.drain()
                    collector.process.send_signal(signal.SIGUSR1)
                    collector.wait_for_step(moment, deadline)
            collector.kill()
            assert collector.process.returncode == -signal.SIGKILL, "it ended before the kill"
            moments[moment] += 1
        finally:
            collector.kill()
        now = _committed(data_dir)
        missing = set(committed) - set(now)
        assert not missing, f"kill {number}: {len(missing)} committed frames disappeared"
        changed = {seq for seq in committed if now[seq] != committed[seq]}
        assert not changed, f"kill {number}: frames {sorted(changed)[:5]} changed"
        committed = now

    # A clean run: recovers, collects a little more, rolls everything on stop.
    env = {**os.environ, "OPTUI_DEMO__INSTRUMENTS": "400", "OPTUI_LOG_DIR": str(log_dir)}
    result = subprocess.run(
        [*OPTUI, "collect", "--data-dir", str(data_dir), "--duration", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    final = _committed(data_dir)
    with Journal(data_dir / "journal", readonly=True) as journal:
        assert journal.stats().frames == 0  # the final roll took everything
    assert not list((data_dir / "archive").rglob(".part-*.tmp"))
    table = read_ticks(data_dir / "archive", date(2000, 1, 1), date(2100, 1, 1))
    # Exactly once: no (frame, packet) twice, every committed frame with all its packets.
    frame_packet = pc.binary_join_element_wise(
        pc.cast(table["frame_seq"], pa.string()), pc.cast(table["packet"], pa.string()), "/"
    )
    assert pc.count_distinct(frame_packet).as_py() == table.num_rows, "a tick is there twice"
    assert table.num_rows == sum(final.values())
    assert all(final.get(seq) == packets for seq, packets in committed.items())
    assert len(final) > len(committed) > 0
    assert all(moments.values()), moments  # killed at start-up, writing and at every step
    print(f"kills: {moments}; frames committed before the clean run: {len(committed):,}")
