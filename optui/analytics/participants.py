"""NSE's participant-wise open interest and volume files: read every format, derive positions.

After each trading day NSE publishes `fao_participant_oi_DDMMYYYY.csv` (open contracts) and
`fao_participant_vol_DDMMYYYY.csv` (contracts traded): one row per participant class (Client,
DII, FII, Pro) and a TOTAL row, 14 numeric columns (long and short sides of index and stock
futures and options, and the two totals). The content has stayed the same since 2012; the
wrapping has not, so the reader accepts, in any combination:

- a title line (`"Participant wise Open Interest ... as on Aug 04,2023"`) or none, its quotes
  single or doubled, and any number of lines before the header;
- header names quoted or not, padded with tabs or trailing spaces (NSE's own files from 2021
  on), `Client Type` or `CLIENT_TYPE`, any case; columns in any order, unknown extra columns
  ignored with a note;
- participant rows in any order, `TOTAL` or `Total` (and `FPI` for `FII`);
- CR, LF or CRLF line endings, a UTF-8 byte-order mark, blank lines;
- numbers quoted, with Western or Indian digit grouping (`"1,23,456"`), or as `123.0`.

The day comes from the file name (NSE's `DDMMYYYY`; a mirror's `YYYYMMDD` renaming is
recognised, the two can never be confused since no year 20xx makes a valid `DDMM20xx` month)
or from the caller, never from the title, whose date format changed too often; the title's
date, when it can be read, is only compared and a disagreement noted.

NSE's TOTAL row is not always the exact sum of the four participants: in the 221 real files
of 2021-2026 it differs by 1 contract in 95 files and by 2 in 2 (rounding on NSE's side),
and each row's Total Long / Total Short differs from the sum of its columns the same way.
Differences up to `IDENTITY_TOLERANCE` contracts are therefore kept in `identity_gap` but not
reported; anything larger becomes a `Discrepancy` in the result: the figures are returned as
NSE published them, never corrected and never rejected for it.

Everything here is pure (the one exception: `read_participant_csv` reads a path it is given).
"""

from __future__ import annotations

import csv
import html
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date
from os import PathLike, fspath
from pathlib import Path
from typing import Final, Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "COLUMNS",
    "GROUPS",
    "GROUP_NAMES",
    "IDENTITY_TOLERANCE",
    "KINDS",
    "KIND_NAMES",
    "PARTICIPANTS",
    "ROWS",
    "DayChange",
    "Discrepancy",
    "Kind",
    "ParticipantDay",
    "ParticipantFileError",
    "ParticipantHistory",
    "ParticipantRow",
    "Positions",
    "change_vs_previous",
    "day_change",
    "file_day",
    "history",
    "participant_file_name",
    "positions",
    "previous_available",
    "read_participant_csv",
    "read_participant_text",
]

Kind = Literal["oi", "vol"]
KINDS: Final[tuple[Kind, ...]] = ("oi", "vol")
KIND_NAMES: Final[dict[Kind, str]] = {"oi": "open interest", "vol": "trading volume"}

PARTICIPANTS: Final = ("Client", "DII", "FII", "Pro")
ROWS: Final = (*PARTICIPANTS, "TOTAL")
COLUMNS: Final = (
    "Future Index Long",
    "Future Index Short",
    "Future Stock Long",
    "Future Stock Short",
    "Option Index Call Long",
    "Option Index Put Long",
    "Option Index Call Short",
    "Option Index Put Short",
    "Option Stock Call Long",
    "Option Stock Put Long",
    "Option Stock Call Short",
    "Option Stock Put Short",
    "Total Long Contracts",
    "Total Short Contracts",
)
GROUPS: Final = (
    "index_futures",
    "stock_futures",
    "index_calls",
    "index_puts",
    "stock_calls",
    "stock_puts",
)
GROUP_NAMES: Final = (
    "Index futures",
    "Stock futures",
    "Index calls",
    "Index puts",
    "Stock calls",
    "Stock puts",
)
# Columns of COLUMNS holding the long and the short side of each group, in GROUPS order.
_LONG: Final = (0, 2, 4, 5, 8, 9)
_SHORT: Final = (1, 3, 6, 7, 10, 11)
_TOTAL_LONG: Final = 12
_TOTAL_SHORT: Final = 13
_FII: Final = ROWS.index("FII")
_FUTURE_INDEX_LONG: Final = 0
_FUTURE_INDEX_SHORT: Final = 1

IDENTITY_TOLERANCE: Final = 5
"""Contracts by which a total may differ from the sum of its parts before it is reported.
NSE's own files differ by at most 2 (see the module docstring); 5 leaves room for that
rounding and still catches any real error, which is thousands of contracts."""

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# NSE's name convention; the date part is checked separately (DDMMYYYY or a mirror's YYYYMMDD).
_NAME = re.compile(r"fao_participant_(oi|vol)_(\d{8})(?:\.csv)?$", re.IGNORECASE)
_TITLE_DAY = re.compile(r"as\s+on\s+([A-Za-z]{3})[a-z]*\.?\s*(\d{1,2})\s*,?\s*(\d{4})")
_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_HEADER_SEARCH_LINES: Final = 10
_CLIENT_TYPE: Final = "client type"
_ROW_ALIASES: Final = {
    "client": "Client",
    "dii": "DII",
    "fii": "FII",
    "fpi": "FII",  # SEBI's newer name for the same class
    "pro": "Pro",
    "total": "TOTAL",
}


class ParticipantFileError(ValueError):
    """The bytes are not an NSE participant-wise OI/volume file; the message says what they
    look like instead and names the file."""


def _normal(name: str) -> str:
    """A header or row label reduced to what identifies it: case, quotes, tabs, underscores
    and runs of spaces do not count."""
    return " ".join(name.replace("_", " ").replace('"', " ").split()).casefold()


_COLUMN_INDEX: Final = {_normal(name): i for i, name in enumerate(COLUMNS)}
_FIELD_NAMES: Final = tuple(_normal(name).replace(" ", "_") for name in COLUMNS)


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParticipantRow:
    """One participant's (or the TOTAL) contracts, as published."""

    name: str
    future_index_long: int
    future_index_short: int
    future_stock_long: int
    future_stock_short: int
    option_index_call_long: int
    option_index_put_long: int
    option_index_call_short: int
    option_index_put_short: int
    option_stock_call_long: int
    option_stock_put_long: int
    option_stock_call_short: int
    option_stock_put_short: int
    total_long_contracts: int
    total_short_contracts: int

    @property
    def values(self) -> tuple[int, ...]:
        """The 14 numbers in `COLUMNS` order."""
        return tuple(int(getattr(self, name)) for name in _FIELD_NAMES)


assert tuple(f.name for f in fields(ParticipantRow))[1:] == _FIELD_NAMES


@dataclass(frozen=True)
class Discrepancy:
    """A total that differs from the sum of its parts by more than `IDENTITY_TOLERANCE`.

    `check` is "participants" when the TOTAL row's `column` is not Client + DII + FII + Pro
    (`row` is then "TOTAL"), "row" when `row`'s Total Long or Total Short Contracts (`column`)
    is not the sum of that row's long or short columns.
    """

    check: Literal["participants", "row"]
    row: str
    column: str
    published: int
    computed: int

    @property
    def difference(self) -> int:
        """Sum of the parts minus the published total."""
        return self.computed - self.published

    def __str__(self) -> str:
        parts = "Client+DII+FII+Pro" if self.check == "participants" else "sum of its columns"
        return (
            f"{self.row} {self.column}: {parts} = {self.computed:,} but the file says "
            f"{self.published:,} (off by {self.difference:+,})"
        )


@dataclass(frozen=True)
class ParticipantDay:
    """One participant file, read: `rows` in `ROWS` order (Client, DII, FII, Pro, TOTAL)."""

    day: date
    kind: Kind
    rows: tuple[ParticipantRow, ...]
    source: str
    """The file's name (or what the caller called the bytes)."""
    title: str
    """The title line as published, "" when the file had none."""
    title_day: date | None
    """The date in the title, when it could be read; only ever compared with `day`."""
    discrepancies: tuple[Discrepancy, ...]
    notes: tuple[str, ...]
    """Things worth saying that do not make the figures wrong (ignored columns, a title whose
    date disagrees with the file name, a mirror's file name)."""

    def row(self, name: str) -> ParticipantRow:
        """The row of `name` (Client, DII, FII, Pro or TOTAL; case does not matter)."""
        wanted = _ROW_ALIASES.get(name.casefold(), name)
        for row in self.rows:
            if row.name == wanted:
                return row
        raise KeyError(f"no row {name!r}; rows are {', '.join(ROWS)}")

    def table(self) -> IntArray:
        """The figures as a (5, 14) int64 array: rows `ROWS`, columns `COLUMNS`."""
        return np.array([row.values for row in self.rows], dtype=np.int64)

    def value(self, row: str, column: str) -> int:
        """One figure, by row name and NSE's column name."""
        return int(self.row(row).values[_COLUMN_INDEX[_normal(column)]])

    @property
    def identity_gap(self) -> IntArray:
        """Per column, Client + DII + FII + Pro minus TOTAL (NSE rounds: usually 0, 1 or 2)."""
        table = self.table()
        gap: IntArray = table[:-1].sum(axis=0) - table[-1]
        return gap

    @property
    def file_name(self) -> str:
        """NSE's name for this file."""
        return participant_file_name(self.kind, self.day)


# -- reading ------------------------------------------------------------------------------------


def participant_file_name(kind: Kind, day: date) -> str:
    """NSE's name: `fao_participant_oi_DDMMYYYY.csv` or `fao_participant_vol_DDMMYYYY.csv`."""
    return f"fao_participant_{kind}_{day:%d%m%Y}.csv"


def file_day(name: str) -> tuple[Kind, date, bool] | None:
    """(kind, day, named the mirror's way) from a file name, or None if it is not NSE's
    convention. NSE names files DDMMYYYY; some mirrors rename them YYYYMMDD."""
    match = _NAME.search(Path(name).name)
    if match is None:
        return None
    kind: Kind = "oi" if match.group(1).lower() == "oi" else "vol"
    digits = match.group(2)
    for order, mirror in (((4, 2, 0), False), ((0, 4, 6), True)):
        year = int(digits[order[0] : order[0] + 4])
        month = int(digits[order[1] : order[1] + 2])
        day = int(digits[order[2] : order[2] + 2])
        if 2000 <= year <= 2099:
            try:
                return kind, date(year, month, day), mirror
            except ValueError:
                pass
    return None


def read_participant_csv(
    source: str | PathLike[str] | bytes | bytearray | memoryview,
    *,
    day: date | None = None,
    kind: Kind | None = None,
    name: str | None = None,
) -> ParticipantDay:
    """Read one NSE participant-wise OI or volume file.

    `source` is a path, or the file's bytes. The day is `day` when given, else it comes from
    the file name (`name` names bytes). The kind is `kind` when given, else from the name,
    else from the title; a name and a title that disagree are an error.

    Raises `ParticipantFileError`, naming the file, for anything that is not such a file (an
    HTML error page, an empty file, another CSV, a missing column or row, a non-number).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        label = name or "<bytes>"
    else:
        path = Path(fspath(source))
        label = name or str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ParticipantFileError(f"{path}: cannot read it: {exc.strerror}") from None
        name = name or path.name
    return _parse(data, label, name, day, kind)


def read_participant_text(
    text: str, *, day: date | None = None, kind: Kind | None = None, name: str | None = None
) -> ParticipantDay:
    """`read_participant_csv` for text, such as the demo market's `participant_history()`."""
    return _parse(text.encode("utf-8"), name or "<text>", name, day, kind)


def _parse(
    data: bytes, label: str, name: str | None, day: date | None, kind: Kind | None
) -> ParticipantDay:
    text = _text(data, label)
    lines = [_cells(line) for line in re.split(r"\r\n|\r|\n", text)]
    lines = [cells for cells in lines if any(cells)]
    if not lines:
        raise ParticipantFileError(f"{label}: holds only blank lines, no participant figures")
    header_at = _find_header(lines, label)
    title = " ".join(" ".join(c for c in cells if c) for cells in lines[:header_at]).strip()
    notes: list[str] = []
    columns = _map_columns(lines[header_at], label, notes)
    header = lines[header_at]
    width = max(at for at, cell in enumerate(header) if cell) + 1
    rows = _read_rows(lines[header_at + 1 :], columns, width, label)

    title_kind = _title_kind(title)
    found = file_day(name) if name else None
    if found is not None and found[2]:
        notes.append(f"{label}: named YYYYMMDD (a mirror's renaming); NSE's name is DDMMYYYY")
    name_kind = found[0] if found else None
    for claimed, what in ((name_kind, "its name"), (kind, "the caller")):
        if claimed and title_kind and claimed != title_kind:
            raise ParticipantFileError(
                f"{label}: {what} says {KIND_NAMES[claimed]} but its title says "
                f"{KIND_NAMES[title_kind]} ({title!r})"
            )
    if kind and name_kind and kind != name_kind:
        raise ParticipantFileError(
            f"{label}: the caller says {KIND_NAMES[kind]} but its name says {KIND_NAMES[name_kind]}"
        )
    chosen_kind = kind or name_kind or title_kind
    if chosen_kind is None:
        raise ParticipantFileError(
            f"{label}: cannot tell open interest from volume: no title says which and the "
            "name is not NSE's fao_participant_oi_DDMMYYYY.csv / fao_participant_vol_…"
        )
    chosen_day = day or (found[1] if found else None)
    if chosen_day is None:
        raise ParticipantFileError(
            f"{label}: cannot tell the day: name the file as NSE does "
            "(fao_participant_oi_DDMMYYYY.csv or fao_participant_vol_DDMMYYYY.csv) or pass the day"
        )
    title_day = _title_day(title)
    if title_day is not None and title_day != chosen_day:
        notes.append(
            f"{label}: the title says {title_day.isoformat()} but the file is for "
            f"{chosen_day.isoformat()} (taken from {'the caller' if day else 'its name'})"
        )
    table = np.array([rows[row] for row in ROWS], dtype=np.int64)
    return ParticipantDay(
        day=chosen_day,
        kind=chosen_kind,
        rows=tuple(
            ParticipantRow(name, *(int(v) for v in values))
            for name, values in zip(ROWS, table.tolist(), strict=True)
        ),
        source=label,
        title=title,
        title_day=title_day,
        discrepancies=_check(table),
        notes=tuple(notes),
    )


def _text(data: bytes, label: str) -> str:
    """Decoded text, or an error saying what the bytes are instead."""
    if not data.strip():
        what = "empty (0 bytes)" if not data else "blank (only whitespace)"
        raise ParticipantFileError(f"{label}: is {what}, not a participant file")
    if data.startswith(b"PK\x03\x04"):
        raise ParticipantFileError(f"{label}: is a ZIP archive; unzip it and read the CSV inside")
    if data.startswith(b"\x1f\x8b"):
        raise ParticipantFileError(f"{label}: is gzip-compressed; decompress it first")
    if b"\x00" in data[:4096]:
        raise ParticipantFileError(f"{label}: is binary data, not a CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Old Windows-made copies; the figures are ASCII either way.
        text = data.decode("cp1252", errors="replace")
    head = text[:2048].lstrip().lower()
    if head.startswith("<") or "<html" in head or "<!doctype" in head:
        match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        what = f" titled {' '.join(html.unescape(match.group(1)).split())!r}" if match else ""
        raise ParticipantFileError(
            f"{label}: is an HTML page{what}, not a CSV: NSE answers a day it has not "
            "published (or a blocked request) with such a page"
        )
    return text


def _cells(line: str) -> list[str]:
    """The cells of one line, stripped of quotes, tabs and spaces.

    Runs of quotes collapse to one first: NSE's title is wrapped in doubled quotes (`""…""`),
    which the csv module would read as an empty quoted field followed by loose text. No cell
    of these files contains a quote of its own, so nothing is lost.
    """
    line = re.sub(r'"{2,}', '"', line)
    cells = next(csv.reader([line]), [])
    return [cell.strip().strip('"').replace("\xa0", " ").strip() for cell in cells]


def _describe(cells: list[str]) -> str:
    shown = ",".join(cells)
    return repr(shown if len(shown) <= 90 else shown[:87] + "...")


def _find_header(lines: list[list[str]], label: str) -> int:
    for at, cells in enumerate(lines[:_HEADER_SEARCH_LINES]):
        names = [_normal(c) for c in cells]
        if names and names[0] == _CLIENT_TYPE:
            return at
        if _CLIENT_TYPE in names:
            raise ParticipantFileError(
                f"{label}: is a CSV with a client type column in position "
                f"{names.index(_CLIENT_TYPE) + 1} (header {_describe(cells)}): a table derived "
                "from NSE's files (one row per day and participant?), not NSE's daily file"
            )
    raise ParticipantFileError(
        f"{label}: is not an NSE participant file: no header row starting 'Client Type' in "
        f"its first {_HEADER_SEARCH_LINES} lines; it starts with {_describe(lines[0])}"
    )


def _map_columns(header: list[str], label: str, notes: list[str]) -> list[int]:
    """Position of each of `COLUMNS` in the header."""
    positions: dict[int, int] = {}
    ignored: list[str] = []
    for at, cell in enumerate(header[1:], 1):
        if not cell:
            continue
        column = _COLUMN_INDEX.get(_normal(cell))
        if column is None:
            ignored.append(cell)
        elif column in positions:
            raise ParticipantFileError(f"{label}: column {COLUMNS[column]!r} appears twice")
        else:
            positions[column] = at
    missing = [COLUMNS[i] for i in range(len(COLUMNS)) if i not in positions]
    if missing:
        raise ParticipantFileError(
            f"{label}: is not a complete participant file: the header lacks "
            f"{', '.join(repr(m) for m in missing)} (header {_describe(header)})"
        )
    if ignored:
        notes.append(f"{label}: ignored unknown column(s) {', '.join(map(repr, ignored))}")
    return [positions[i] for i in range(len(COLUMNS))]


def _read_rows(
    lines: list[list[str]], columns: list[int], width: int, label: str
) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for cells in lines:
        if any(cells[width:]):
            # Most likely digit grouping without quotes ("1,23,456" split into three cells):
            # reading on would shift every figure.
            raise ParticipantFileError(
                f"{label}: row {cells[0]!r} has more values than the header has columns "
                f"({_describe(cells)}); are grouped numbers (1,23,456) missing their quotes?"
            )
        who = _ROW_ALIASES.get(_normal(cells[0])) if cells[0] else None
        if who is None:
            raise ParticipantFileError(
                f"{label}: unknown row {cells[0]!r} ({_describe(cells)}); expected the rows "
                f"{', '.join(ROWS)}"
            )
        if who in rows:
            raise ParticipantFileError(f"{label}: row {who} appears twice")
        values: list[int] = []
        for column, at in enumerate(columns):
            cell = cells[at] if at < len(cells) else ""
            values.append(_number(cell, label, who, COLUMNS[column]))
        rows[who] = values
    missing = [r for r in ROWS if r not in rows]
    if missing:
        raise ParticipantFileError(f"{label}: the row(s) {', '.join(missing)} are missing")
    return rows


def _number(cell: str, label: str, row: str, column: str) -> int:
    # Digit grouping may be Western or Indian ("1,23,456"); either way, drop it.
    digits = re.sub(r"[,\s_]", "", cell)
    if re.fullmatch(r"-?\d{1,15}(\.0*)?", digits):
        return int(digits.split(".")[0])
    what = "is empty" if not cell else f"is {cell!r}, not a whole number"
    raise ParticipantFileError(f"{label}: {row} {column} {what}")


def _title_kind(title: str) -> Kind | None:
    lowered = title.casefold()
    if "open interest" in lowered:
        return "oi"
    if "volume" in lowered:
        return "vol"
    return None


def _title_day(title: str) -> date | None:
    match = _TITLE_DAY.search(title)
    if match is None:
        return None
    month = _MONTHS.get(match.group(1).casefold())
    try:
        return date(int(match.group(3)), month, int(match.group(2))) if month else None
    except ValueError:
        return None


def _check(table: IntArray) -> tuple[Discrepancy, ...]:
    found: list[Discrepancy] = []
    parts = table[:-1].sum(axis=0)
    for column in np.flatnonzero(np.abs(parts - table[-1]) > IDENTITY_TOLERANCE).tolist():
        found.append(
            Discrepancy(
                "participants", "TOTAL", COLUMNS[column], int(table[-1, column]), int(parts[column])
            )
        )
    for total, sides in ((_TOTAL_LONG, _LONG), (_TOTAL_SHORT, _SHORT)):
        sums = table[:, list(sides)].sum(axis=1)
        for row in np.flatnonzero(np.abs(sums - table[:, total]) > IDENTITY_TOLERANCE).tolist():
            found.append(
                Discrepancy(
                    "row", ROWS[row], COLUMNS[total], int(table[row, total]), int(sums[row])
                )
            )
    return tuple(found)


# -- derived ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Positions:
    """What one file says each participant holds (or traded), by instrument group.

    Arrays are (5, 6): rows `ROWS` (TOTAL last), columns `GROUPS`. For calls and puts "long"
    is the bought side and "short" the written side, so a positive net call figure means
    calls bought, not a bullish position; `options_net` gives the direction.
    """

    day: date
    kind: Kind
    long: IntArray
    short: IntArray
    options_net: IntArray
    """(5, 2): index and stock options, (call long + put short) - (put long + call short):
    positive is net bullish exposure through options, in contracts."""
    fii_index_futures_long_ratio: float | None
    """FII index-futures long / (long + short), 0..1; None when FIIs hold none."""

    @property
    def net(self) -> IntArray:
        """Long minus short, (5, 6)."""
        return self.long - self.short


def _options_net(table: IntArray) -> IntArray:
    """(…, 5, 14) -> (…, 5, 2): (call long + put short) - (put long + call short)."""
    index = (table[..., 4] + table[..., 7]) - (table[..., 5] + table[..., 6])
    stock = (table[..., 8] + table[..., 11]) - (table[..., 9] + table[..., 10])
    return np.stack([index, stock], axis=-1)


def _long_ratio(long: IntArray, short: IntArray) -> FloatArray:
    total = (long + short).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, long / np.where(total > 0, total, 1.0), np.nan)


def positions(day: ParticipantDay) -> Positions:
    """Long, short and net per participant and group, options net and the FII long ratio."""
    table = day.table()
    ratio = float(_long_ratio(table[_FII, _FUTURE_INDEX_LONG], table[_FII, _FUTURE_INDEX_SHORT]))
    return Positions(
        day=day.day,
        kind=day.kind,
        long=table[:, list(_LONG)],
        short=table[:, list(_SHORT)],
        options_net=_options_net(table),
        fii_index_futures_long_ratio=None if math.isnan(ratio) else ratio,
    )


@dataclass(frozen=True, eq=False)
class DayChange:
    """One file against the previous file available of the same kind: every array is
    today's minus `previous_day`'s, shaped as in `ParticipantDay.table()` and `Positions`."""

    day: date
    previous_day: date
    kind: Kind
    table: IntArray
    long: IntArray
    short: IntArray
    net: IntArray
    options_net: IntArray
    fii_index_futures_long_ratio: float | None
    """Change of the ratio (a fraction: 0.05 is 5 percentage points); None when either day
    has none."""
    missing_days: tuple[date, ...] = ()
    """Trading days between the two with no file (only known when a calendar was given)."""


def day_change(
    today: ParticipantDay, previous: ParticipantDay, missing_days: Sequence[date] = ()
) -> DayChange:
    """`today` minus `previous` (which must be an earlier day of the same kind)."""
    if previous.kind != today.kind:
        raise ValueError(f"cannot compare {today.kind} of {today.day} with {previous.kind}")
    if previous.day >= today.day:
        raise ValueError(f"previous day {previous.day} is not before {today.day}")
    now, before = positions(today), positions(previous)
    ratio = (
        None
        if now.fii_index_futures_long_ratio is None or before.fii_index_futures_long_ratio is None
        else now.fii_index_futures_long_ratio - before.fii_index_futures_long_ratio
    )
    return DayChange(
        day=today.day,
        previous_day=previous.day,
        kind=today.kind,
        table=today.table() - previous.table(),
        long=now.long - before.long,
        short=now.short - before.short,
        net=now.net - before.net,
        options_net=now.options_net - before.options_net,
        fii_index_futures_long_ratio=ratio,
        missing_days=tuple(missing_days),
    )


def previous_available(
    days: Iterable[ParticipantDay], day: date, kind: Kind
) -> ParticipantDay | None:
    """The latest file of `kind` before `day` among `days`, or None."""
    best: ParticipantDay | None = None
    for candidate in days:
        if (
            candidate.kind == kind
            and candidate.day < day
            and (best is None or candidate.day > best.day)
        ):
            best = candidate
    return best


class _Calendar(Protocol):
    """What `change_vs_previous` needs of `optui.feed.calendar.TradingCalendar`."""

    def trading_days(self, first: date, last: date, exchange: str = "NSE") -> list[date]: ...


def change_vs_previous(
    today: ParticipantDay, days: Iterable[ParticipantDay], calendar: _Calendar | None = None
) -> DayChange | None:
    """`today` against the previous file available among `days` (None when there is none).

    With a `calendar` (a `TradingCalendar`), the trading days in between that have no file are
    listed in `missing_days`, so a screen can say "vs 2025-08-01, 2 days missing".
    """
    previous = previous_available(days, today.day, today.kind)
    if previous is None:
        return None
    missing: list[date] = []
    if calendar is not None:
        missing = [
            d
            for d in calendar.trading_days(previous.day, today.day)
            if previous.day < d < today.day
        ]
    return day_change(today, previous, missing)


@dataclass(frozen=True, eq=False)
class ParticipantHistory:
    """Every stored day of one kind, oldest first, as arrays for charts: the first axis is
    `days`, the others as in `ParticipantDay.table()` and `Positions`."""

    kind: Kind
    days: tuple[date, ...]
    table: IntArray
    """(n, 5, 14)"""
    long: IntArray
    """(n, 5, 6)"""
    short: IntArray
    options_net: IntArray
    """(n, 5, 2)"""
    fii_index_futures_long_ratio: FloatArray
    """(n,), NaN where FIIs held no index futures."""

    @property
    def net(self) -> IntArray:
        return self.long - self.short

    def series(
        self, row: str, group: str, side: Literal["long", "short", "net"] = "net"
    ) -> IntArray:
        """One line of a chart: `side` of `row` (Client, …, TOTAL) in `group` (GROUPS), per day."""
        values = {"long": self.long, "short": self.short, "net": self.net}[side]
        return values[:, ROWS.index(row), GROUPS.index(group)]


def history(days: Iterable[ParticipantDay], kind: Kind = "oi") -> ParticipantHistory:
    """The files of `kind` among `days` as arrays, oldest first. Two files of one day are an
    error (the store keeps one per day and kind)."""
    chosen = sorted((d for d in days if d.kind == kind), key=lambda d: d.day)
    for first, second in itertools.pairwise(chosen):
        if first.day == second.day:
            raise ValueError(f"two {kind} files for {first.day}: {first.source}, {second.source}")
    table = (
        np.stack([d.table() for d in chosen])
        if chosen
        else np.zeros((0, len(ROWS), len(COLUMNS)), dtype=np.int64)
    )
    return ParticipantHistory(
        kind=kind,
        days=tuple(d.day for d in chosen),
        table=table,
        long=table[:, :, list(_LONG)],
        short=table[:, :, list(_SHORT)],
        options_net=_options_net(table),
        fii_index_futures_long_ratio=_long_ratio(
            table[:, _FII, _FUTURE_INDEX_LONG], table[:, _FII, _FUTURE_INDEX_SHORT]
        ),
    )
