"""`optui export`: ticks of a date range out of the archive (and the journal) as a file.

Days are read and written one at a time, so memory holds one day and a progress line can say
how far the export is. The output is written under a temporary name and renamed when
complete: an interrupted or failed export never leaves a half file under the name asked for.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from optui.commands import iso_date
from optui.settings import Settings, SettingsError

if TYPE_CHECKING:
    import pyarrow as pa

    from optui.events import Event

__all__ = ["FORMATS", "ExportRequest", "ExportResult", "add_arguments", "export", "run"]

FORMATS = ("parquet", "arrow", "csv")


@dataclass(frozen=True)
class ExportRequest:
    start: date
    end: date
    output: Path
    format: str = "parquet"
    underlying: str | None = None
    tokens: tuple[int, ...] = ()
    force: bool = False


@dataclass(frozen=True)
class ExportResult:
    rows: int
    days: int
    bytes: int
    path: Path


class _Writer:
    """One output file in any of the three formats, fed table by table."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.csv as pacsv  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        self._sink: Any
        if fmt == "parquet":
            self._sink = pq.ParquetWriter(path, schema, compression="zstd")
        elif fmt == "arrow":
            self._sink = pa.ipc.new_file(str(path), schema)
        else:
            self._sink = pacsv.CSVWriter(str(path), schema)

    def write(self, table: pa.Table) -> None:
        self._sink.write_table(table)

    def close(self) -> None:
        self._sink.close()


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def export(
    settings: Settings, request: ExportRequest, *, progress: TextIO | None = None
) -> ExportResult:
    """Write the ticks of `request` to its output; raise SettingsError for a bad request.

    An archive file that cannot be read is skipped and moved into the archive's quarantine
    folder (`optui.store.quarantine`), saying so on `progress`; the rest is exported.
    """
    from optui.store.archive import read_ticks  # noqa: PLC0415
    from optui.store.instruments import read_instruments  # noqa: PLC0415
    from optui.store.journal import Journal  # noqa: PLC0415
    from optui.store.locations import archive_root, collector_id, journal_dir  # noqa: PLC0415

    if request.end < request.start:
        raise SettingsError(f"--to {request.end} is before --from {request.start}")
    output = request.output.expanduser().absolute()
    if output.exists() and not request.force:
        raise SettingsError(f"{output} already exists; add --force to replace it")
    if not output.parent.is_dir():
        raise SettingsError(f"cannot write {output}: folder {output.parent} does not exist")
    root = archive_root(settings)
    partial = output.with_name(f".{output.name}.partial")
    days = list(_days(request.start, request.end))
    path = journal_dir(settings)
    journal = Journal(path, readonly=True) if (path / "data.mdb").exists() else None
    writer: _Writer | None = None
    rows = 0

    def report(event: Event) -> None:
        if progress is None:
            return
        lead = "\n" if progress.isatty() else ""
        print(f"{lead}optui: warning: {event.message}; {event.did}. {event.do}", file=progress)

    on_event = report if progress is not None else None
    try:
        for number, day in enumerate(days, 1):
            universe = None
            if request.underlying is not None:
                universe = read_instruments(root, day, on_event=on_event)
                if universe is None:
                    if progress is not None:
                        print(f"{day}: no instruments list stored, skipped", file=progress)
                    continue
            table = read_ticks(
                root,
                day,
                day,
                tokens=request.tokens or None,
                underlying=request.underlying,
                universe=universe,
                journal=journal,
                journal_collector=collector_id(settings),
                on_event=on_event,
            )
            if table.num_rows:
                if writer is None:
                    writer = _Writer(partial, request.format, table.schema)
                writer.write(table)
                rows += table.num_rows
            if progress is not None:
                print(
                    f"\r[{number}/{len(days)}] {day}: {table.num_rows:,} ticks ({rows:,} so far)",
                    end="" if progress.isatty() else "\n",
                    file=progress,
                )
        if writer is None:
            what = f" of {request.underlying}" if request.underlying else ""
            raise SettingsError(
                f"no ticks{what} between {request.start} and {request.end} in {root} or the "
                "journal; `optui status` lists the days stored"
            )
        writer.close()
        writer = None
        partial.replace(output)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
        if journal is not None:
            journal.close()
    if progress is not None and progress.isatty():
        print(file=progress)
    return ExportResult(rows, len(days), output.stat().st_size, output)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", metavar="DATE", type=iso_date, required=True)
    parser.add_argument("--to", dest="end", metavar="DATE", type=iso_date, help="default: --from")
    parser.add_argument("--underlying", metavar="NAME", help="e.g. NIFTY: its futures and options")
    parser.add_argument(
        "--token",
        dest="tokens",
        metavar="TOKEN",
        type=int,
        action="append",
        default=[],
        help="an instrument token (repeat for more)",
    )
    parser.add_argument("--format", choices=FORMATS, default="parquet")
    parser.add_argument("--output", metavar="PATH", type=Path, required=True)
    parser.add_argument("--force", action="store_true", help="replace an existing output")


def run(args: argparse.Namespace) -> int:
    """`optui export`."""
    from optui.cli import settings_from_args  # noqa: PLC0415

    request = ExportRequest(
        start=args.start,
        end=args.end or args.start,
        output=args.output,
        format=args.format,
        underlying=args.underlying,
        tokens=tuple(args.tokens),
        force=args.force,
    )
    result = export(settings_from_args(args), request, progress=sys.stderr)
    print(
        f"wrote {result.rows:,} ticks of {result.days} days to {result.path} "
        f"({result.bytes:,} bytes)"
    )
    return 0
