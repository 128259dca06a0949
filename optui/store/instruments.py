"""The instruments list of each collected day, kept in the archive beside its ticks.

Ticks carry only instrument tokens; what a token *is* (NIFTY 24500 CE of which expiry) comes
from that day's instruments list. The collector stores it once a day per collector at
`<archive>/instruments/date=YYYY-MM-DD/collector=<id>/instruments.parquet` (Kite's
instruments.csv columns), so an export or a query by underlying works on any past day
without the source that produced it.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from optui.store.archive import archive_filesystem
from optui.store.quarantine import EventSink, quarantine

__all__ = ["INSTRUMENTS_DIR", "read_instruments", "write_instruments"]

INSTRUMENTS_DIR = "instruments"


def _folder(base: str, day: date) -> str:
    return f"{base}/{INSTRUMENTS_DIR}/date={day.isoformat()}"


def write_instruments(root: str | Path, day: date, collector: str, csv_text: str) -> str:
    """Store a day's instruments (Kite's instruments.csv text); returns the file's path.

    Written to a hidden name and moved into place, so a reader never sees half a list.
    """
    fs, base = archive_filesystem(root)
    folder = f"{_folder(base, day)}/collector={collector}"
    fs.create_dir(folder, recursive=True)
    table = pacsv.read_csv(
        io.BytesIO(csv_text.encode()),
        convert_options=pacsv.ConvertOptions(column_types={"expiry": pa.string()}),
    )
    final = f"{folder}/instruments.parquet"
    temporary = f"{folder}/.instruments.parquet.tmp"
    with fs.open_output_stream(temporary) as out:
        pq.write_table(table, out, compression="zstd")
    fs.move(temporary, final)
    return final


def read_instruments(
    root: str | Path, day: date, *, on_event: EventSink | None = None
) -> pa.Table | None:
    """The instruments of `day` (every collector's, duplicates removed), or None. A file that
    cannot be read is skipped and quarantined (`optui.store.quarantine`)."""
    fs, base = archive_filesystem(root)
    folder = _folder(base, day)
    if fs.get_file_info(folder).type == pafs.FileType.NotFound:
        return None
    files = [
        info.path
        for info in fs.get_file_info(pafs.FileSelector(folder, recursive=True))
        if info.type == pafs.FileType.File and info.base_name == "instruments.parquet"
    ]
    if not files:
        return None
    tables = []
    for path in sorted(files):
        try:
            with fs.open_input_file(path) as handle:
                tables.append(pq.read_table(handle))
        except FileNotFoundError:
            continue  # moved into quarantine by another reader meanwhile
        except (pa.ArrowException, OSError) as exc:
            problem = str(exc).replace(path, path.rsplit("/", 1)[-1]).strip().splitlines()
            quarantine(fs, base, path, problem[0] if problem else "unreadable", on_event=on_event)
    if not tables:
        return None
    table = pa.concat_tables(tables, promote_options="permissive")
    return table.group_by(table.column_names).aggregate([])
