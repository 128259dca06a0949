"""Benchmark: rolling the journal into the Parquet archive, end to end, and bytes per tick.

A 9,000-instrument demo market (each instrument ticking once a simulated second, full mode
with depth, as Kite's heaviest live load) runs for a few simulated minutes into a real LMDB
journal; then `Roller.roll()` moves everything into Parquet: read from LMDB, decode, sort,
write zstd files, fsync, rename, trim the journal.

    python tests/benchmarks/bench_archive.py [--minutes 3] [--instruments 9000] [--rounds 2]

Prints one JSON object:

- `roll_rows_per_s`: ticks archived per second of wall time (best of `--rounds` fresh rolls,
  each into an empty archive from a fresh copy of the journal); goal at least 1,000,000.
  `roll_cpu_seconds_per_million_rows` is the process CPU time (all threads) per million
  rows: steadier than wall time on a shared machine, and over 1 s means the roll needs both
  cores to reach the goal;
- `bytes_per_tick_disk` vs `bytes_per_tick_raw` (the frames' own bytes) and their ratio;
  goal under 0.25;
- references from the same run: `decode` alone (frame by frame, as the engine does) and
  `pyarrow.parquet.write_table` alone of the already decoded and sorted table with the
  archive's options — what a roll would cost if it did nothing but write.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from optui.feed.codec import decode
from optui.feed.simulator import DemoMarket
from optui.store import archive
from optui.store.archive import Roller
from optui.store.journal import Journal

SESSION = date(2026, 11, 23)


def fill_journal(path: Path, minutes: int, instruments: int, seed: int = 7) -> tuple[int, int]:
    """Run the demo market into a journal; (frames, frame bytes)."""
    market = DemoMarket(seed, SESSION, instruments=instruments)
    frames = size = 0
    with Journal(path, sync=False, map_size=2**30) as journal:
        for second in range(1, minutes * 60 + 1):
            t = market.open_epoch + second
            batch = market.advance_to(t)
            journal.append_many(batch, [t * 1_000_000_000] * len(batch))
            frames += len(batch)
            size += sum(map(len, batch))
    return frames, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--instruments", type=int, default=9000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="optui-bench-archive-"))
    try:
        source = work / "journal"
        t = time.perf_counter()
        frames, raw_bytes = fill_journal(source, args.minutes, args.instruments)
        fill_s = time.perf_counter() - t

        best = float("inf")
        cpu = float("inf")
        rounds: list[float] = []
        result = None
        root = work / "archive"
        for round_ in range(args.rounds):
            # Each round rolls a fresh copy of the same journal into an empty archive.
            copy = work / f"journal-{round_}"
            shutil.copytree(source, copy)
            (copy / "writer.lock").unlink(missing_ok=True)
            shutil.rmtree(root, ignore_errors=True)
            with Journal(copy, sync=False) as journal:
                roller = Roller(journal, root, "bench")
                start, start_cpu = time.perf_counter(), time.process_time()
                result = roller.roll()
                took = time.perf_counter() - start
                cpu = min(cpu, time.process_time() - start_cpu)
                rounds.append(took)
                best = min(best, took)
                assert journal.stats().frames == 0
            shutil.rmtree(copy)
        assert result is not None
        rows = result.rows
        disk = sum(p.stat().st_size for p in root.rglob("*.parquet"))

        # References, same frames: decode alone, and write_table alone of the sorted table.
        with Journal(source, readonly=True) as journal:
            all_frames = [frame for _, frame in journal.frames()]
        start = time.perf_counter()
        decoded = [decode(frame) for frame in all_frames]
        decode_s = time.perf_counter() - start
        del decoded
        tables = [pq.read_table(p) for p in sorted(root.rglob("*.parquet"))]
        table = pa.concat_tables(tables).combine_chunks()
        del tables
        write_s = float("inf")
        for _ in range(args.rounds):
            sink = pa.BufferOutputStream()
            start = time.perf_counter()
            pq.write_table(
                table,
                sink,
                compression="zstd",
                compression_level=archive.ZSTD_LEVEL,
                row_group_size=archive.ROW_GROUP_ROWS,
                use_dictionary=[f.name for f in table.schema if not pa.types.is_floating(f.type)],
            )
            write_s = min(write_s, time.perf_counter() - start)

        report = {
            "benchmark": "archive roll: LMDB journal -> Parquet (zstd), end to end",
            "instruments": args.instruments,
            "simulated_minutes": args.minutes,
            "frames": frames,
            "rows": rows,
            "files": len(result.files),
            "roll_seconds": round(best, 3),
            "roll_rows_per_s": round(rows / best),
            "roll_rows_per_s_each_round": [round(rows / took) for took in rounds],
            "roll_cpu_seconds_per_million_rows": round(cpu / rows * 1e6, 2),
            "bytes_per_tick_raw": round(raw_bytes / rows, 1),
            "bytes_per_tick_disk": round(disk / rows, 1),
            "disk_to_raw_ratio": round(disk / raw_bytes, 3),
            "reference_decode_rows_per_s": round(rows / decode_s),
            "reference_write_table_rows_per_s": round(rows / write_s),
            "roll_vs_write_table_alone": round(write_s / best, 2),
            "journal_fill_seconds": round(fill_s, 1),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pyarrow": pa.__version__,
            "numpy": np.__version__,
        }
        json.dump(report, sys.stdout, indent=2)
        print()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
