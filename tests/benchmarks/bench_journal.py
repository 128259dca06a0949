"""Benchmark: Kite packets appended durably to the LMDB journal, against a plain file.

Frames are real demo-market frames of 500 full-mode packets (184 bytes each, with depth:
93,002 bytes a frame) from a 9,000-instrument market. Each frame, or group of frames, is one
write transaction with sync on, so every count below is *durable* (on disk when `append`
returned). Grouping amortises the disk sync, the way a collector under load commits what
queued up during the previous commit.

References in the same run:

- the raw file baseline: the same bytes appended to a plain file with one `os.fsync` per
  group, the least any durable log can do on this disk (ratio optui / baseline);
- Kite's heaviest live load: 3 connections x 3,000 instruments, about one tick a second
  each, 9,000 packets/s (ratio optui / Kite).

Each measurement starts from an empty journal (the map grows from 64 MiB as it runs) and is
deleted afterwards; journal and baseline alternate over `--rounds`, so a disk that slows
down as it fills penalises both alike. The default run takes about 20 s and writes about
4 GB (never more than about 0.5 GB at once) in `--dir`.

    .venv/bin/python tests/benchmarks/bench_journal.py [--seconds 1.5] [--rounds 2]
        [--groups 1,8,32] [--dir DIR]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import lmdb

from optui.feed.codec import KIND_SIZES, MODE_FULL
from optui.feed.simulator import KITE_PACKETS_PER_FRAME, DemoMarket
from optui.store.journal import Journal

SESSION = date(2026, 11, 23)
KITE_PEAK_PACKETS_PER_S = 3 * 3000  # 3 connections x 3000 instruments x ~1 tick/s
GOAL_PACKETS_PER_S = 1_000_000
FULL_FRAME_BYTES = 2 + KITE_PACKETS_PER_FRAME * (2 + KIND_SIZES[MODE_FULL])
STEADY_FRAMES = 500  # frames a steady-state journal holds (about 45 MB)


def full_frames(count: int) -> list[bytes]:
    """`count` distinct frames of 500 full-mode packets from a 9,000-instrument market."""
    market = DemoMarket(7, SESSION, instruments=9000)
    frames: list[bytes] = []
    t = market.open_epoch
    while len(frames) < count:
        t += 1
        frames += [f for f in market.advance_to(t) if len(f) == FULL_FRAME_BYTES]
    return frames[:count]


def run_journal(folder: Path, frames: list[bytes], group: int, seconds: float) -> tuple[int, float]:
    """Frames appended durably (sync on), `group` per transaction, for `seconds`."""
    written = 0
    batches = [frames[i : i + group] for i in range(0, len(frames) - group + 1, group)]
    with Journal(folder, sync=True, writer_id="bench_journal") as journal:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for batch in batches:
                if group == 1:
                    journal.append(batch[0])
                else:
                    journal.append_many(batch)
                written += group
            elapsed = time.perf_counter() - start
        assert journal.stats().frames == written
    shutil.rmtree(folder)
    return written, elapsed


def run_journal_steady(
    folder: Path, frames: list[bytes], group: int, seconds: float
) -> tuple[int, float]:
    """`run_journal` in a collector's steady state: the archive keeps rolling old frames
    out (here: every 250 frames, all but the last `STEADY_FRAMES`), so LMDB reuses freed
    pages instead of growing the file. The rolls are inside the timing."""
    written = 0
    keys: list[bytes] = []
    with Journal(folder, sync=True, writer_id="bench_journal") as journal:
        keys += journal.append_many((frames * STEADY_FRAMES)[:STEADY_FRAMES])
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for i in range(0, len(frames) - group + 1, group):
                keys += journal.append_many(frames[i : i + group])
                written += group
                if written % 250 < group:
                    mark = keys[-STEADY_FRAMES]
                    journal.set_meta_and_delete_through("bench.high_water", mark, mark)
                    del keys[: -STEADY_FRAMES + 1]
            elapsed = time.perf_counter() - start
    shutil.rmtree(folder)
    return written, elapsed


def run_baseline_steady(
    folder: Path, frames: list[bytes], group: int, seconds: float
) -> tuple[int, float]:
    """`run_baseline` without growth: overwrite a file of `STEADY_FRAMES` frames in a
    circle, one os.fsync per group."""
    folder.mkdir()
    written = 0
    fd = os.open(folder / "frames.bin", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for frame in (frames * STEADY_FRAMES)[:STEADY_FRAMES]:
            os.write(fd, frame)
        os.fsync(fd)
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for i in range(0, len(frames) - group + 1, group):
                for frame in frames[i : i + group]:
                    os.pwrite(fd, frame, (written % STEADY_FRAMES) * len(frame))
                    written += 1
                os.fsync(fd)
            elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
    shutil.rmtree(folder)
    return written, elapsed


def run_baseline(
    folder: Path, frames: list[bytes], group: int, seconds: float
) -> tuple[int, float]:
    """The same bytes appended to a plain file, one os.fsync per group."""
    folder.mkdir()
    written = 0
    batches = [frames[i : i + group] for i in range(0, len(frames) - group + 1, group)]
    fd = os.open(folder / "frames.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for batch in batches:
                for frame in batch:
                    os.write(fd, frame)
                os.fsync(fd)
                written += group
            elapsed = time.perf_counter() - start
    finally:
        os.close(fd)
    shutil.rmtree(folder)
    return written, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.25, help="per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--groups", default="1,8,32", help="frames per transaction")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (a temp dir)")
    parser.add_argument(
        "--no-steady", action="store_true", help="skip the steady-state (rolling) case"
    )
    args = parser.parse_args()
    groups = [int(g) for g in args.groups.split(",")]

    frames = full_frames(64)
    # (name, journal run, baseline run, frames per transaction)
    cases = [(f"frames_per_txn_{g}", run_journal, run_baseline, g) for g in groups]
    if not args.no_steady:
        cases.append(("steady_frames_per_txn_1", run_journal_steady, run_baseline_steady, 1))
    totals = {(name, kind): [0.0, 0.0] for name, *_ in cases for kind in ("optui", "base")}
    with tempfile.TemporaryDirectory(prefix="bench_journal-", dir=args.dir) as tmp:
        root = Path(tmp)
        for round_no in range(args.rounds):
            for name, ours, theirs, g in cases:
                for kind, run in (("optui", ours), ("base", theirs)):
                    count, elapsed = run(
                        root / f"{name}-{kind}-{round_no}", frames, g, args.seconds
                    )
                    totals[name, kind][0] += count
                    totals[name, kind][1] += elapsed

    results: dict[str, object] = {
        "benchmark": "journal: packets appended durably (sync on), vs a plain file + fsync",
        "packets_per_frame": KITE_PACKETS_PER_FRAME,
        "frame_bytes": FULL_FRAME_BYTES,
        "dir": str(args.dir or tempfile.gettempdir()),
        "seconds_per_measurement": args.seconds,
        "rounds": args.rounds,
        "python": platform.python_version(),
        "lmdb": ".".join(map(str, lmdb.version())),
        "kite_peak_packets_per_s": KITE_PEAK_PACKETS_PER_S,
        "goal_packets_per_s": GOAL_PACKETS_PER_S,
    }
    for name, _, _, g in cases:
        frames_done, seconds_done = totals[name, "optui"]
        base_frames, base_seconds = totals[name, "base"]
        per_s = frames_done / seconds_done
        base_per_s = base_frames / base_seconds
        packets = per_s * KITE_PACKETS_PER_FRAME
        results[name] = {
            "frames_per_s": round(per_s),
            "packets_per_s": round(packets),
            "mb_per_s": round(per_s * FULL_FRAME_BYTES / 1e6, 1),
            "commits_per_s": round(per_s / g),
            "baseline_packets_per_s": round(base_per_s * KITE_PACKETS_PER_FRAME),
            "ratio_vs_baseline": round(per_s / base_per_s, 2),
            "ratio_vs_kite_peak": round(packets / KITE_PEAK_PACKETS_PER_S),
            "meets_goal": packets >= GOAL_PACKETS_PER_S,
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
