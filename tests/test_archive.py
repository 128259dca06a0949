"""The Parquet archive: rolling the journal exactly once, crash-safe, and reading it back.

Everything here is real: frames from the demo market, an LMDB journal, Parquet files in
tmp_path, an S3 emulator (moto) on 127.0.0.1, and a collector killed with SIGKILL.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from optui.feed.calendar import IST
from optui.feed.codec import (
    MODE_INDEX_FULL,
    MODE_INDEX_QUOTE,
    MODE_LTP,
    MODE_QUOTE,
    TICK_DTYPE,
    decode,
    empty_ticks,
    encode,
)
from optui.feed.simulator import DemoMarket
from optui.feed.universe import Universe
from optui.store import archive
from optui.store.archive import (
    HIGH_WATER,
    Roller,
    iter_day,
    open_archive,
    read_rejects,
    read_ticks,
    tokens_of_underlying,
)
from optui.store.archive_schema import (
    DEPTH_COLUMNS,
    REJECT_SCHEMA,
    SORT_COLUMNS,
    TICK_SCHEMA,
    table_to_ticks,
    ticks_to_table,
)
from optui.store.journal import Journal, split_key

ROOT = Path(__file__).resolve().parents[1]
SESSION = date(2026, 11, 23)
NS = 1_000_000_000
# Frames that cannot be decoded; the journal keeps them (it drops only 1-byte heartbeats).
GARBAGE = (b"", b"\x00\x03\x00\x08abc", b'{"type": "error", "data": "token expired"}')


# -- fixtures and helpers --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def market() -> tuple[DemoMarket, list[bytes]]:
    """Twenty seconds of the default (~2,500-instrument) demo market, as Kite frames."""
    demo = DemoMarket(7, SESSION)
    return demo, demo.advance_to(demo.open_epoch + 20)


@pytest.fixture
def frames(market: tuple[DemoMarket, list[bytes]]) -> list[bytes]:
    return market[1]


@pytest.fixture
def universe(market: tuple[DemoMarket, list[bytes]]) -> Universe:
    return market[0].instruments


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal", sync=False) as opened:
        yield opened


def open_ns(day: date = SESSION) -> int:
    """09:15 IST on `day`, in epoch ns."""
    return int(datetime(day.year, day.month, day.day, 9, 15, tzinfo=IST).timestamp()) * NS


def fill(journal: Journal, frames: list[bytes], start_ns: int, step_ns: int = 1_000_000) -> list:
    """Append frames received `step_ns` apart from `start_ns`; their keys."""
    return journal.append_many(frames, [start_ns + i * step_ns for i in range(len(frames))])


def expected(frames: list[bytes], keys: list[bytes]) -> pa.Table:
    """What the archive must hold: every decodable frame's rows, in arrival order."""
    tables = []
    for frame, key in zip(frames, keys, strict=True):
        try:
            ticks = decode(frame)
        except ValueError:
            continue
        received, seq = split_key(key)
        tables.append(ticks_to_table(ticks, received, seq))
    return pa.concat_tables(tables) if tables else TICK_SCHEMA.empty_table()


def archived(root: str | Path, start: date = SESSION, end: date = SESSION, **kw: Any) -> pa.Table:
    """The archive's ticks in arrival order, without the partition columns."""
    return read_ticks(root, start, end, **kw).drop_columns(["date", "collector"])


def assert_same(actual: pa.Table, wanted: pa.Table) -> None:
    """Equal in every column and row; on failure, say where."""
    assert actual.schema.remove_metadata() == wanted.schema.remove_metadata()
    assert actual.num_rows == wanted.num_rows
    for name in wanted.column_names:
        assert actual[name].equals(wanted[name]), f"column {name} differs"


def same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal in every field (padding bytes between fields are not compared)."""
    return len(a) == len(b) and all(np.array_equal(a[f], b[f]) for f in TICK_DTYPE.names or ())


def part_files(root: Path, kind: str = "ticks") -> list[Path]:
    return sorted((root / kind).rglob("*.parquet")) if (root / kind).exists() else []


def leftovers(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name.startswith("."))


# -- the schema -----------------------------------------------------------------------------------
def test_schema_has_every_tick_field_as_its_own_column() -> None:
    names = TICK_SCHEMA.names
    for field in TICK_DTYPE.names or ():
        if field in DEPTH_COLUMNS:
            for level in range(1, 6):
                assert f"{field}_{level}" in names
        else:
            assert field in names
    assert len([n for n in names if n.startswith("depth_")]) == 30
    assert TICK_SCHEMA.field("instrument_token").type == pa.uint32()
    assert TICK_SCHEMA.field("mode").type == pa.uint8()
    assert TICK_SCHEMA.field("received").type == pa.timestamp("ns", tz="UTC")
    assert TICK_SCHEMA.field("frame_seq").type == pa.uint64()
    assert TICK_SCHEMA.field("packet").type == pa.uint16()
    for name in ("exchange_timestamp", "last_trade_time"):
        assert TICK_SCHEMA.field(name).type == pa.timestamp("s", tz="Asia/Kolkata")
    assert SORT_COLUMNS == ("instrument_token", "received", "frame_seq", "packet")


def test_ticks_to_table_and_back_is_exact(frames: list[bytes]) -> None:
    ticks = np.concatenate([decode(frame) for frame in frames[:8]])
    assert (ticks["exchange_timestamp"] == 0).any() or (ticks["last_trade_time"] != 0).any()
    ticks[0]["exchange_timestamp"] = 0  # absent on the wire: null in the archive
    received = np.arange(len(ticks), dtype=np.int64) + open_ns()
    seq = np.arange(len(ticks), dtype=np.uint64) // 7
    packet = np.arange(len(ticks), dtype=np.uint16) % 7
    table = ticks_to_table(ticks, received, seq, packet)
    assert table.schema == TICK_SCHEMA
    assert table["exchange_timestamp"].null_count >= 1
    back, r, s, p = table_to_ticks(table)
    assert same_rows(back, ticks)
    assert (r == received).all() and (s == seq).all() and (p == packet).all()
    # `order` takes rows in that order, as a sort would.
    order = np.argsort(ticks["instrument_token"], kind="stable")
    sorted_back = table_to_ticks(ticks_to_table(ticks, received, seq, packet, order=order))
    assert same_rows(sorted_back[0], ticks[order])
    assert (sorted_back[1] == received[order]).all()


def test_ticks_to_table_refuses_other_dtypes() -> None:
    with pytest.raises(TypeError, match="TICK_DTYPE"):
        ticks_to_table(np.zeros(3, dtype=[("x", "i8")]), 0, 0)


# -- rolling --------------------------------------------------------------------------------------
def test_roll_then_read_gives_back_every_frame_exactly(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    keys = fill(journal, frames, open_ns())
    root = tmp_path / "archive"
    result = Roller(journal, root, "c1").roll()
    want = expected(frames, keys)
    assert result.rows == want.num_rows and result.frames == len(frames)
    assert result.rejects == 0
    assert result.bytes == sum(p.stat().st_size for p in part_files(root))
    assert journal.stats().frames == 0
    assert journal.get_meta(HIGH_WATER) == keys[-1]
    assert_same(archived(root), want)
    # The dataset view agrees, with the hive partition columns.
    table = open_archive(root).to_table()
    assert table.num_rows == want.num_rows
    assert set(table["date"].to_pylist()) == {SESSION}
    assert set(table["collector"].to_pylist()) == {"c1"}


def test_files_are_sorted_named_by_key_range_compressed_and_have_statistics(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    keys = fill(journal, frames, open_ns())
    root = tmp_path / "archive"
    Roller(journal, root, "c1", max_rows=20_000).roll()
    files = part_files(root)
    assert len(files) > 2  # max_rows split the roll
    sizes = [pq.read_metadata(path).num_rows for path in files]
    assert max(sizes) <= 20_000
    assert max(sizes) - min(sizes) <= 1_000  # planned into equal chunks, whole frames
    ranges = []
    for path in files:
        assert path.parent.name == "collector=c1"
        assert path.parent.parent.name == f"date={SESSION.isoformat()}"
        table = pq.read_table(path)
        order = table.sort_by([(c, "ascending") for c in SORT_COLUMNS])
        assert order.equals(table), f"{path.name} is not sorted"
        first, last = path.stem.removeprefix("part-").split("-")
        seqs = table["frame_seq"].to_numpy()
        assert split_key(bytes.fromhex(first))[1] == seqs.min()
        assert split_key(bytes.fromhex(last))[1] == seqs.max()
        ranges.append((first, last))
        meta = pq.ParquetFile(path).metadata
        assert meta.row_group(0).column(0).compression == "ZSTD"
        stats = meta.row_group(0).column(0).statistics
        assert stats is not None and stats.has_min_max
        assert meta.row_group(0).sorting_columns
    assert ranges == sorted(ranges)
    assert ranges[0][0] == keys[0].hex() and ranges[-1][1] == keys[-1].hex()
    assert_same(archived(root), expected(frames, keys))


def test_a_day_is_the_ist_date_of_the_receive_time(tmp_path: Path, journal: Journal) -> None:
    # 18:30 UTC is midnight in Asia/Kolkata: frames on either side land in different days.
    ticks = empty_ticks(3)
    ticks["mode"] = 1
    ticks["instrument_token"] = [256265, 260105, 257801]
    ticks["last_price"] = [24000.5, 51000.25, 23000.0]
    frame = encode(ticks)
    boundary = int(datetime(2026, 11, 24, 0, 0, tzinfo=IST).timestamp()) * NS
    received = [boundary - 500_000_000, boundary - 1, boundary, boundary + 1]
    keys = journal.append_many([frame] * 4, received)
    root = tmp_path / "archive"
    result = Roller(journal, root, "c1").roll()
    assert result.rows == 12
    days = sorted(p.name for p in (root / "ticks").iterdir())
    assert days == ["date=2026-11-23", "date=2026-11-24"]
    before = archived(root, date(2026, 11, 23), date(2026, 11, 23))
    after = archived(root, date(2026, 11, 24), date(2026, 11, 24))
    assert before["received"].cast(pa.int64()).to_pylist() == [received[0]] * 3 + [received[1]] * 3
    assert after["received"].cast(pa.int64()).to_pylist() == [received[2]] * 3 + [received[3]] * 3
    both = archived(root, date(2026, 11, 23), date(2026, 11, 24))
    assert_same(both, expected([frame] * 4, keys))
    # Each day's file is named by the keys it holds.
    names = sorted(p.name for p in part_files(root))
    assert names == sorted(
        [
            f"part-{keys[0].hex()}-{keys[1].hex()}.parquet",
            f"part-{keys[2].hex()}-{keys[3].hex()}.parquet",
        ]
    )


def test_frames_that_do_not_decode_are_kept_with_their_error(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    mixed = [*frames[:5], *GARBAGE, *frames[5:10]]
    keys = fill(journal, mixed, open_ns())
    root = tmp_path / "archive"
    result = Roller(journal, root, "c1").roll()
    assert result.rejects == len(GARBAGE)
    assert result.frames == len(mixed)
    assert journal.stats().frames == 0
    assert_same(archived(root), expected(mixed, keys))
    rejects = read_rejects(root, SESSION, SESSION)
    assert rejects.schema.remove_metadata().names[:5] == REJECT_SCHEMA.names
    assert rejects["frame"].to_pylist() == list(GARBAGE)
    assert rejects["key"].to_pylist() == keys[5:8]
    assert all(rejects["error"].to_pylist())
    assert "empty message" in rejects["error"][0].as_py()
    # The rejects file and its ticks file share the unit's name.
    assert [p.name for p in part_files(root, "rejects")] == [p.name for p in part_files(root)]


def _frame_of(modes: list[int]) -> bytes:
    """A frame with one packet of each mode, realistic enough to encode."""
    ticks = empty_ticks(len(modes))
    ticks["mode"] = modes
    is_index = np.isin(ticks["mode"], [MODE_INDEX_QUOTE, MODE_INDEX_FULL])
    ticks["instrument_token"] = np.where(is_index, 256265, 12345 << 8 | 2) + np.arange(len(modes))
    ticks["last_price"] = 101.5
    ticks["close"] = 100.0
    return encode(ticks)


def test_frames_of_every_kind_and_odd_ones_are_archived_as_decode_gives_them(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    # Index quotes, mixed kinds, a frame that looks uniform by its size but is not, a lying
    # packet length, an empty frame: each archived exactly as decoding it alone gives.
    mixed = _frame_of([MODE_INDEX_QUOTE, MODE_LTP, MODE_INDEX_QUOTE, MODE_INDEX_FULL, MODE_QUOTE])
    quotes = _frame_of([MODE_INDEX_QUOTE] * 5)  # same length as `mixed`: 2 + 5 * 30
    assert len(mixed) == len(quotes)
    ltp = bytearray(_frame_of([MODE_LTP, MODE_LTP]))
    ltp[13] = 9  # the second packet's length says 9: the frame's size still looks uniform
    sequence = [
        *frames[:3],
        quotes,
        mixed,
        quotes,
        _frame_of([MODE_LTP] * 3),
        bytes(ltp),
        _frame_of([MODE_LTP] * 2),
        b"\x00\x00",
        *frames[3:6],
    ]
    keys = fill(journal, sequence, open_ns())
    root = tmp_path / "archive"
    result = Roller(journal, root, "c1").roll()
    assert result.rejects == 1
    assert read_rejects(root, SESSION, SESSION)["frame"].to_pylist() == [bytes(ltp)]
    assert_same(archived(root), expected(sequence, keys))


def test_a_unit_of_nothing_but_rejects_still_writes_its_ticks_file(
    tmp_path: Path, journal: Journal
) -> None:
    fill(journal, list(GARBAGE), open_ns())
    root = tmp_path / "archive"
    result = Roller(journal, root, "c1").roll()
    assert (result.rows, result.rejects, result.frames) == (0, 3, 3)
    [ticks_file] = part_files(root)
    assert pq.read_metadata(ticks_file).num_rows == 0
    assert read_rejects(root, SESSION, SESSION).num_rows == 3
    assert archived(root).num_rows == 0


def test_frames_without_packets_are_trimmed_without_a_file(
    tmp_path: Path, journal: Journal
) -> None:
    fill(journal, [b"\x00\x00", b"\x00\x00"], open_ns())
    root = tmp_path / "archive"
    result = Roller(journal, root, "c1").roll()
    assert (result.rows, result.frames, result.files) == (0, 2, ())
    assert journal.stats().frames == 0
    assert not part_files(root)


def test_roll_until_keeps_frames_received_at_or_after_the_boundary(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    keys = fill(journal, frames, open_ns(), step_ns=NS // 10)
    boundary = split_key(keys[40])[0]
    root = tmp_path / "archive"
    roller = Roller(journal, root, "c1")
    assert roller.roll(until_ns=boundary).frames == 40
    assert journal.stats().frames == len(frames) - 40
    assert roller.high_water == keys[39]
    assert roller.roll(until_ns=boundary).frames == 0  # nothing new closed
    assert roller.roll().frames == len(frames) - 40  # shutdown: everything
    assert_same(archived(root), expected(frames, keys))


def test_collector_id_must_be_a_safe_folder_name(tmp_path: Path, journal: Journal) -> None:
    for bad in ("", "a/b", "..", ".hidden", "x=y", "a b", "x" * 65):
        with pytest.raises(ValueError, match="collector id"):
            Roller(journal, tmp_path, bad)
    Roller(journal, tmp_path, "desk-1.kite_A")


# -- crashes ---------------------------------------------------------------------------------------
class CrashError(Exception):
    """Stands for the process dying at a step."""


def crash_at(step: str, nth: int) -> Callable[[str, str], None]:
    seen = 0

    def hook(name: str, path: str) -> None:
        nonlocal seen
        if name == step:
            seen += 1
            if seen == nth:
                raise CrashError(f"{step} #{nth}: {path}")

    return hook


STEPS = ("chunk.read", "rejects.tmp", "rejects.renamed", "ticks.tmp", "ticks.renamed", "committed")


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("nth", [1, 2])
@pytest.mark.parametrize("step", STEPS)
def test_a_crash_between_any_two_steps_then_a_rerun_archives_every_tick_once(
    tmp_path: Path, journal: Journal, frames: list[bytes], step: str, nth: int, workers: int
) -> None:
    # Garbage every few frames, so every chunk has a rejects file as well.
    mixed: list[bytes] = []
    for i, frame in enumerate(frames[:60]):
        mixed.append(frame)
        if i % 15 == 7:
            mixed.append(GARBAGE[i % len(GARBAGE)])
    keys = fill(journal, mixed, open_ns())
    root = tmp_path / "archive"
    crashing = Roller(
        journal, root, "c1", max_rows=6_000, workers=workers, hook=crash_at(step, nth)
    )
    with pytest.raises(CrashError):
        crashing.roll()
    # A new process: recovery, then the roll runs to the end.
    Roller(journal, root, "c1", max_rows=6_000, workers=workers).roll()
    assert journal.stats().frames == 0
    assert not leftovers(root)
    assert_same(archived(root), expected(mixed, keys))
    rejects = read_rejects(root, SESSION, SESSION)
    assert rejects["key"].to_pylist() == [
        k for k, f in zip(keys, mixed, strict=True) if f in GARBAGE
    ]
    # Every file's name still says exactly which frames it holds.
    for path in part_files(root):
        first = bytes.fromhex(path.stem.removeprefix("part-").split("-")[0])
        held = pq.read_table(path, columns=["received", "frame_seq"])
        if held.num_rows:
            low = split_key(first)
            assert (held["received"][0].value, held["frame_seq"][0].as_py()) >= low


def test_the_same_roller_recovers_before_rolling_again_after_a_failure(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    keys = fill(journal, frames[:40], open_ns())
    root = tmp_path / "archive"
    failures = iter([True])

    def flaky(name: str, path: str) -> None:
        if name == "ticks.renamed" and next(failures, False):
            raise OSError("disk hiccup")

    roller = Roller(journal, root, "c1", max_rows=5_000, hook=flaky)
    with pytest.raises(OSError, match="hiccup"):
        roller.roll()
    roller.roll()
    assert_same(archived(root), expected(frames[:40], keys))


def test_recover_adopts_a_renamed_file_and_removes_partial_ones(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    keys = fill(journal, frames[:30], open_ns())
    root = tmp_path / "archive"
    with pytest.raises(CrashError):
        Roller(journal, root, "c1", hook=crash_at("ticks.renamed", 1)).roll()
    [renamed] = part_files(root)
    folder = renamed.parent
    (folder / ".part-junk.parquet.tmp").write_bytes(b"half a file")
    recovery = Roller(journal, root, "c1").recover()
    assert recovery.adopted == (str(renamed),)
    assert recovery.removed == (str(folder / ".part-junk.parquet.tmp"),)
    assert recovery.trimmed == 30
    assert journal.get_meta(HIGH_WATER) == keys[-1]
    assert journal.stats().frames == 0
    assert_same(archived(root), expected(frames[:30], keys))


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from optui.store.archive import Roller
    from optui.store.journal import Journal

    def hook(step, path):
        print(step, flush=True)

    with Journal(Path(sys.argv[1]), sync=False) as journal:
        Roller(journal, sys.argv[2], "killed", max_rows=int(sys.argv[3]), hook=hook).roll()
    print("done", flush=True)
    """
)


def test_kill_9_at_random_moments_then_a_rerun_archives_every_tick_once(tmp_path: Path) -> None:
    demo = DemoMarket(11, SESSION)
    frames = demo.advance_to(demo.open_epoch + 60)  # ~150,000 packets in ~370 frames
    path = tmp_path / "journal"
    with Journal(path, sync=False) as journal:
        keys = fill(journal, frames, open_ns())
    root = tmp_path / "archive"
    rng = random.Random(20261123)
    kills = 0
    for _ in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, str(path), str(root), "12000"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert child.stdout is not None
        target = rng.randint(1, 30)
        finished = False
        for seen, line in enumerate(child.stdout, start=1):
            if line.strip() == "done":
                finished = True
                break
            if seen >= target:
                child.kill()  # SIGKILL: no cleanup of any kind
                kills += 1
                break
        child.stdout.close()
        child.wait(timeout=60)
        if finished:
            break
    assert kills >= 1
    with Journal(path, sync=False) as journal:
        Roller(journal, root, "killed").roll()
        assert journal.stats().frames == 0
    assert not leftovers(root)
    assert_same(archived(root), expected(frames, keys))


# -- reading --------------------------------------------------------------------------------------
def test_reader_adds_the_journal_not_yet_rolled(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    keys = fill(journal, frames, open_ns(), step_ns=NS // 10)
    root = tmp_path / "archive"
    Roller(journal, root, "c1").roll(until_ns=split_key(keys[50])[0])
    assert journal.stats().frames == len(frames) - 50
    table = read_ticks(root, SESSION, SESSION, journal=journal, journal_collector="c1")
    assert_same(table.drop_columns(["date", "collector"]), expected(frames, keys))
    assert set(table["collector"].to_pylist()) == {"c1"}
    assert set(table["date"].to_pylist()) == {SESSION}
    # Without the journal: only what was rolled.
    assert archived(root).num_rows == expected(frames[:50], keys[:50]).num_rows
    # A few columns only.
    narrow = read_ticks(root, SESSION, SESSION, columns=["instrument_token", "last_price"])
    assert narrow.column_names == ["instrument_token", "last_price"]


def test_reader_keeps_frames_once_when_they_are_in_journal_and_archive(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    # A roll between the reader's two reads leaves frames in both; so does a crash after the
    # rename and before the journal was trimmed, which is how this test makes it.
    keys = fill(journal, frames[:30], open_ns())
    root = tmp_path / "archive"
    with pytest.raises(CrashError):
        Roller(journal, root, "c1", hook=crash_at("ticks.renamed", 1)).roll()
    assert journal.stats().frames == 30
    more = fill(journal, frames[30:40], open_ns() + NS)
    table = read_ticks(root, SESSION, SESSION, journal=journal, journal_collector="c1")
    assert_same(table.drop_columns(["date", "collector"]), expected(frames[:40], keys + more))


def test_filter_by_tokens_and_by_underlying(
    tmp_path: Path, journal: Journal, frames: list[bytes], universe: Universe
) -> None:
    keys = fill(journal, frames, open_ns())
    root = tmp_path / "archive"
    Roller(journal, root, "c1").roll()
    everything = expected(frames, keys)
    nifty_50, bank = 256265, 260105
    picked = archived(root, tokens=[nifty_50, bank])
    assert set(picked["instrument_token"].to_pylist()) == {nifty_50, bank}
    mask = np.isin(everything["instrument_token"].to_numpy(), [nifty_50, bank])
    assert_same(picked, everything.filter(pa.array(mask)))

    nifty = tokens_of_underlying(universe, "NIFTY")
    rows = [i for i, name in enumerate(universe.name) if name == "NIFTY"]
    assert set(nifty.tolist()) == {int(universe.instrument_token[i]) for i in rows} | {nifty_50}
    by_underlying = archived(root, underlying="NIFTY", universe=universe)
    assert set(by_underlying["instrument_token"].to_pylist()) <= set(nifty.tolist())
    assert nifty_50 in by_underlying["instrument_token"].to_pylist()
    mask = np.isin(everything["instrument_token"].to_numpy(), nifty)
    assert_same(by_underlying, everything.filter(pa.array(mask)))
    # A table of instruments (Kite's instruments.csv columns) works too: derivatives only.
    instruments = pa.table(
        {"instrument_token": universe.instrument_token, "name": list(universe.name)}
    )
    derivatives = archived(root, underlying=["BANKNIFTY"], universe=instruments)
    names = dict(zip(universe.instrument_token.tolist(), universe.name, strict=True))
    assert {names[t] for t in derivatives["instrument_token"].to_pylist()} == {"BANKNIFTY"}
    # tokens and underlying together: both must hold.
    both = archived(root, tokens=[nifty_50, bank], underlying="NIFTY", universe=universe)
    assert set(both["instrument_token"].to_pylist()) == {nifty_50}
    with pytest.raises(ValueError, match="NIFY"):
        read_ticks(root, SESSION, SESSION, underlying="NIFY", universe=universe)
    with pytest.raises(ValueError, match="universe"):
        read_ticks(root, SESSION, SESSION, underlying="NIFTY")


def test_two_collectors_fill_one_archive(tmp_path: Path, frames: list[bytes]) -> None:
    root = tmp_path / "archive"
    wanted = {}
    for number, name in enumerate(("desk-a", "desk-b")):
        with Journal(tmp_path / f"journal-{name}", sync=False) as journal:
            part = frames[number * 20 : number * 20 + 30]
            keys = fill(journal, part, open_ns() + number * 7)
            Roller(journal, root, name).roll()
            wanted[name] = expected(part, keys)
    table = read_ticks(root, SESSION, SESSION)
    assert table.num_rows == sum(t.num_rows for t in wanted.values())
    for name, want in wanted.items():
        mine = table.filter(pa.compute.equal(table["collector"], name))
        assert_same(mine.drop_columns(["date", "collector"]), want)
        one = read_ticks(root, SESSION, SESSION, collector=name)
        assert_same(one.drop_columns(["date", "collector"]), want)
    counts = open_archive(root).to_table(columns=["collector"])["collector"].value_counts()
    assert {c["values"].as_py(): c["counts"].as_py() for c in counts} == {
        name: t.num_rows for name, t in wanted.items()
    }


def test_iter_day_gives_back_the_frames_kite_sent_in_arrival_order(
    tmp_path: Path, frames: list[bytes]
) -> None:
    root = tmp_path / "archive"
    arrivals = []
    for number, name in enumerate(("desk-a", "desk-b")):
        with Journal(tmp_path / f"journal-{name}", sync=False) as journal:
            part = frames[number * 10 : number * 10 + 40]
            start = open_ns() + number * 500_000  # interleaved with the other collector
            keys = fill(journal, part, start)
            Roller(journal, root, name, max_rows=5_000).roll()
            arrivals += [(split_key(k)[0], number, f) for k, f in zip(keys, part, strict=True)]
    arrivals.sort(key=lambda item: (item[0], item[1]))
    replayed = list(iter_day(str(root), SESSION))
    assert [r for r, _ in replayed] == [r for r, _, _ in arrivals]
    assert [encode(ticks) for _, ticks in replayed] == [f for _, _, f in arrivals]
    only_b = list(iter_day(root, SESSION, "desk-b"))
    assert [encode(t) for _, t in only_b] == frames[10:50]
    assert list(iter_day(root, SESSION + timedelta(days=1))) == []


def test_an_empty_or_missing_archive_reads_as_empty(tmp_path: Path) -> None:
    assert open_archive(tmp_path / "nothing").count_rows() == 0
    table = read_ticks(tmp_path / "nothing", SESSION, SESSION)
    assert table.num_rows == 0
    assert set(TICK_SCHEMA.names) <= set(table.column_names)


def test_an_unreadable_file_is_skipped_quarantined_and_named(
    tmp_path: Path, journal: Journal, frames: list[bytes]
) -> None:
    # More cases (every reader, every kind of damage) in tests/test_reliability_archive.py.
    fill(journal, frames[:30], open_ns())
    root = tmp_path / "archive"
    Roller(journal, root, "c1", max_rows=4_000).roll()
    whole = archived(root)
    files = part_files(root)
    broken = files[len(files) // 2]
    lost = pq.read_table(broken).num_rows
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # a torn copy, say
    events: list[Any] = []
    assert read_ticks(root, SESSION, SESSION, on_event=events.append).num_rows == (
        whole.num_rows - lost
    )
    assert [e.code for e in events] == ["storage.archive_unreadable"]
    assert events[0].details["subject"] == str(broken) and broken.name in events[0].message
    moved = root / "quarantine" / broken.relative_to(root)
    assert not broken.exists() and moved.read_bytes() == data[: len(data) // 2]
    # Nothing left to skip: the next read is quiet.
    assert read_ticks(root, SESSION, SESSION, on_event=events.append).num_rows == (
        whole.num_rows - lost
    )
    assert len(events) == 1


# -- beyond one machine: an S3 emulator on 127.0.0.1 ---------------------------------------------
_BUCKETS = itertools.count()


@pytest.fixture
def s3(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[tuple[pafs.S3FileSystem, str, str]]:
    """moto's S3 server on a free loopback port, stopped after the test; (fs, endpoint,
    bucket). moto keeps its buckets in the process, so each test gets a bucket of its own."""
    server_module = pytest.importorskip("moto.server", reason="needs moto[server] (test extra)")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"{host}:{port}"
        # For s3:// URIs, which take credentials from the environment; never the real ones.
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        fs = pafs.S3FileSystem(
            endpoint_override=endpoint,
            scheme="http",
            access_key="test",
            secret_key="test",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        bucket = f"ticks-{next(_BUCKETS)}"
        fs.create_dir(bucket)
        yield fs, endpoint, bucket
    finally:
        server.stop()


def test_roll_into_s3_and_read_back_with_the_reader_and_with_pyarrow_dataset(
    s3: tuple[pafs.S3FileSystem, str, str], journal: Journal, frames: list[bytes]
) -> None:
    fs, endpoint, bucket = s3
    keys = fill(journal, [*frames[:20], GARBAGE[1]], open_ns())
    result = Roller(journal, f"{bucket}/optui", "cloud", filesystem=fs, max_rows=4_000).roll()
    assert result.rejects == 1 and len(result.files) > 2
    assert journal.stats().frames == 0
    want = expected([*frames[:20], GARBAGE[1]], keys)
    assert_same(archived(f"{bucket}/optui", filesystem=fs), want)
    # As DuckDB or Spark would: the folder as a hive-partitioned Parquet dataset.
    dataset = ds.dataset(f"{bucket}/optui/ticks", filesystem=fs, partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == want.num_rows
    assert set(table["collector"].to_pylist()) == {"cloud"}
    # A URI root, resolved by pyarrow (credentials from the environment).
    uri = f"s3://{bucket}/optui?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    assert_same(archived(uri), want)
    assert [encode(t) for _, t in iter_day(uri, SESSION)] == frames[:20]
    infos = fs.get_file_info(pafs.FileSelector(f"{bucket}/optui", recursive=True))
    assert not [i.path for i in infos if i.base_name.startswith(".")]


@pytest.mark.parametrize("step", ["ticks.tmp", "ticks.renamed", "committed"])
def test_a_crash_during_an_s3_roll_then_a_rerun_archives_every_tick_once(
    s3: tuple[pafs.S3FileSystem, str, str], journal: Journal, frames: list[bytes], step: str
) -> None:
    fs, _, bucket = s3
    keys = fill(journal, frames[:20], open_ns())
    crashing = Roller(
        journal, f"{bucket}/p", "c", filesystem=fs, max_rows=4_000, hook=crash_at(step, 2)
    )
    with pytest.raises(CrashError):
        crashing.roll()
    Roller(journal, f"{bucket}/p", "c", filesystem=fs, max_rows=4_000).roll()
    assert journal.stats().frames == 0
    assert_same(archived(f"{bucket}/p", filesystem=fs), expected(frames[:20], keys))
    infos = fs.get_file_info(pafs.FileSelector(f"{bucket}/p", recursive=True))
    assert not [i.path for i in infos if i.base_name.startswith(".")]


def test_the_archive_module_never_prunes() -> None:
    # Infinite retention: nothing in the archive deletes a part file except recovery's
    # removal of temporary files and of rejects files whose unit never committed.
    source = Path(archive.__file__).read_text(encoding="utf-8")
    assert source.count("delete_file(") == 2
