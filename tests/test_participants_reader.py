"""Reading NSE's participant-wise OI/volume files in every format, and what is derived from them.

The real files in ../shared/data/participant_oi_vol (2021-2026, NSE originals and mirrors'
copies) are all read; the quirks that those files do not show (no title, CLIENT_TYPE, Total,
row order, CR endings, quoted Indian-grouped numbers ...) are made from real files by
transforming their text, alone and in random combinations, and must give the same figures.
"""

from __future__ import annotations

import collections
import csv
import random
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optui.analytics.participants import (
    COLUMNS,
    GROUPS,
    IDENTITY_TOLERANCE,
    KINDS,
    PARTICIPANTS,
    ROWS,
    Kind,
    ParticipantDay,
    ParticipantFileError,
    change_vs_previous,
    day_change,
    file_day,
    history,
    participant_file_name,
    positions,
    previous_available,
    read_participant_csv,
    read_participant_text,
)
from optui.feed import participants as simulated
from optui.feed.calendar import TradingCalendar
from optui.feed.simulator import DemoMarket

FOLDER = "participant_oi_vol"
# One real file of each era: 2021 (CRLF, single-quoted title, quoted tab-padded header),
# 2023 (doubled-quote title, unquoted tabs, YYYYMMDD mirror name), 2025 (spaces, LF).
ERA_FILES = (
    "fao_participant_oi_01072021.csv",
    "fao_participant_vol_20230804.csv",
    "fao_participant_oi_01082025.csv",
)


def real_files(shared_data: Path) -> list[Path]:
    return sorted(p for p in (shared_data / FOLDER).rglob("*") if p.is_file())


# -- every real file ----------------------------------------------------------------------------


def test_every_real_file_reads_with_nses_identities(shared_data: Path) -> None:
    files = real_files(shared_data)
    assert len(files) == 222
    gaps: collections.Counter[int] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    read = 0
    for path in files:
        if path.parent.name == "derived":
            continue
        day = read_participant_csv(path)
        read += 1
        named = file_day(path.name)
        assert named is not None
        assert (day.kind, day.day) == named[:2], path
        assert day.title_day == day.day, path  # the title agrees wherever it can be read
        assert [r.name for r in day.rows] == list(ROWS)
        assert day.discrepancies == (), (path, day.discrepancies)
        table = day.table()
        # Every contract has two sides: TOTAL long = TOTAL short per instrument, exactly.
        for long_col, short_col in ((0, 1), (2, 3), (4, 6), (5, 7), (8, 10), (9, 11), (12, 13)):
            assert table[4, long_col] == table[4, short_col], (path, COLUMNS[long_col])
        assert (table >= 0).all()
        # ... so the market as a whole is flat: TOTAL nets and options nets are 0.
        held = positions(day)
        assert not held.net[4].any() and not held.options_net[4].any()
        gaps[int(np.abs(day.identity_gap).max())] += 1
        kinds[day.kind] += 1
    assert read == 221
    assert kinds == {"oi": 115, "vol": 106}
    # NSE's TOTAL row is off by NSE's rounding in 97 files, never by more than 2 contracts.
    assert gaps == {0: 124, 1: 95, 2: 2}


def test_real_oi_figures_match_an_independently_built_table(shared_data: Path) -> None:
    """A third party's table of NSE's OI files (built with other code, 2012-2026) holds the
    same figures for every day both have."""
    derived: dict[tuple[str, str], list[int | None]] = {}
    with (shared_data / FOLDER / "derived" / "participant_oi.csv").open() as handle:
        for line in csv.DictReader(handle):
            # A few of its old days have gaps (empty cells); none of ours.
            derived[line["date"], line["client_type"]] = [
                int(float(line[c])) if line[c] else None for c in COLUMNS
            ]
    compared = 0
    for path in real_files(shared_data):
        if "_oi_" not in path.name:
            continue
        day = read_participant_csv(path)
        for row in day.rows:
            key = (day.day.isoformat(), row.name)
            if key in derived:
                assert list(row.values) == derived[key], (path, row.name)
                compared += 1
    assert compared == 114 * 5


def test_a_derived_long_table_is_not_taken_for_a_daily_file(shared_data: Path) -> None:
    path = shared_data / FOLDER / "derived" / "participant_oi.csv"
    with pytest.raises(ParticipantFileError) as caught:
        read_participant_csv(path)
    message = str(caught.value)
    assert str(path) in message
    assert "client type column in position 2" in message and "not NSE's daily file" in message


# -- the quirks, made from real files -----------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _eol(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _join(lines: list[str], eol: str) -> str:
    return eol.join(lines) + eol


def _split(line: str) -> list[str]:
    return next(csv.reader([line]))


def indian(value: int) -> str:
    """1234567 -> '12,34,567' (lakh and crore grouping)."""
    digits = str(value)
    if len(digits) <= 3:
        return digits
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join([*groups, tail])


def no_title(text: str) -> str:
    lines = _lines(text)
    return _join(lines[1:], _eol(text))


def other_title_quotes(text: str) -> str:
    """Doubled quotes around the title become single ones, and single ones doubled."""
    lines = _lines(text)
    doubled = lines[0].startswith('""')
    lines[0] = re.sub(r'"+', '"' if doubled else '""', lines[0])
    return _join(lines, _eol(text))


def doubled_quotes_everywhere(text: str) -> str:
    lines = _lines(text)
    for at in range(1, len(lines)):
        lines[at] = ",".join(f'""{cell}""' for cell in _split(lines[at]))
    return _join(lines, _eol(text))


def padded_header(text: str) -> str:
    lines = _lines(text)
    cells = _split(lines[1])
    lines[1] = ",".join(f'"\t{c.strip()} \t  "' for c in cells)
    return _join(lines, _eol(text))


def upper_snake_header(text: str) -> str:
    lines = _lines(text)
    cells = _split(lines[1])
    lines[1] = ",".join(c.strip().upper().replace(" ", "_") for c in cells)
    assert lines[1].startswith("CLIENT_TYPE,FUTURE_INDEX_LONG")
    return _join(lines, _eol(text))


def title_case_total(text: str) -> str:
    return text.replace("TOTAL,", "Total,")


def shuffled_rows(text: str) -> str:
    lines = _lines(text)
    rows = [lines[2:][i] for i in (4, 2, 0, 3, 1)]  # TOTAL first, the rest out of order
    return _join(lines[:2] + rows, _eol(text))


def permuted_columns(text: str) -> str:
    lines = _lines(text)
    order = [0, *random.Random(7).sample(range(1, 15), 14)]
    for at in range(1, len(lines)):
        cells = _split(lines[at])
        lines[at] = ",".join(f'"{cells[i]}"' for i in order)
    return _join(lines, _eol(text))


def indian_grouping(text: str) -> str:
    lines = _lines(text)
    for at in range(2, len(lines)):
        cells = _split(lines[at])
        lines[at] = ",".join([cells[0], *(f'"{indian(int(c))}"' for c in cells[1:])])
    return _join(lines, _eol(text))


def western_grouping(text: str) -> str:
    lines = _lines(text)
    for at in range(2, len(lines)):
        cells = _split(lines[at])
        lines[at] = ",".join([cells[0], *(f'"{int(c):,}"' for c in cells[1:])])
    return _join(lines, _eol(text))


def cr_only(text: str) -> str:
    return _join(_lines(text), "\r")


def other_line_endings(text: str) -> str:
    """CRLF (NSE's) becomes LF (some mirrors'), and LF becomes CRLF."""
    return _join(_lines(text), "\n" if _eol(text) == "\r\n" else "\r\n")


def bom_blank_lines_and_trailing_commas(text: str) -> str:
    lines = _lines(text)
    lines = [lines[0], "", ",,,,", *(line + ",," for line in lines[1:]), "", ",,,"]
    return "\ufeff" + _join(lines, _eol(text))


def float_numbers(text: str) -> str:
    lines = _lines(text)
    for at in range(2, len(lines)):
        cells = _split(lines[at])
        lines[at] = ",".join([cells[0], *(f"{c}.0" for c in cells[1:])])
    return _join(lines, _eol(text))


# Applied in this order when combined: line-based transformations first, line endings last.
QUIRKS: dict[str, Callable[[str], str]] = {
    "upper_snake_header": upper_snake_header,
    "title_case_total": title_case_total,
    "shuffled_rows": shuffled_rows,
    "indian_grouping": indian_grouping,
    "permuted_columns": permuted_columns,
    "padded_header": padded_header,
    "other_title_quotes": other_title_quotes,
    "no_title": no_title,
    "doubled_quotes_everywhere": doubled_quotes_everywhere,
    "bom_blank_lines_and_trailing_commas": bom_blank_lines_and_trailing_commas,
    "cr_only": cr_only,
}
SINGLE_ONLY: dict[str, Callable[[str], str]] = {
    "western_grouping": western_grouping,
    "float_numbers": float_numbers,
    "other_line_endings": other_line_endings,
}


def _era_texts(shared_data: Path) -> dict[str, str]:
    return {name: (shared_data / FOLDER / name).read_bytes().decode("utf-8") for name in ERA_FILES}


@pytest.mark.parametrize("quirk", [*QUIRKS, *SINGLE_ONLY])
def test_each_quirk_reads_to_the_same_figures(shared_data: Path, quirk: str) -> None:
    transform = {**QUIRKS, **SINGLE_ONLY}[quirk]
    for name, text in _era_texts(shared_data).items():
        original = read_participant_text(text, name=name)
        changed_text = transform(text)
        assert changed_text != text, (quirk, name)
        changed = read_participant_csv(changed_text.encode("utf-8"), name=name)
        assert changed.rows == original.rows, (quirk, name)
        assert (changed.day, changed.kind) == (original.day, original.kind)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    era=st.sampled_from(ERA_FILES),
    chosen=st.lists(st.sampled_from(list(QUIRKS)), unique=True, min_size=2),
)
def test_quirks_combined_read_to_the_same_figures(
    shared_data: Path, era: str, chosen: list[str]
) -> None:
    text = (shared_data / FOLDER / era).read_bytes().decode("utf-8")
    changed = text
    for name, transform in QUIRKS.items():  # a fixed order: line endings last
        if name in chosen:
            changed = transform(changed)
    result = read_participant_csv(changed.encode("utf-8"), name=era)
    assert result.rows == read_participant_text(text, name=era).rows


# -- not participant files ----------------------------------------------------------------------

NSE_404 = b"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>404 | NSE India</title></head>
<body><h1>Oops! The page you are looking for could not be found.</h1></body></html>
"""


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (NSE_404, "is an HTML page titled '404 | NSE India', not a CSV"),
        (b"  <html><body>Access Denied</body></html>", "is an HTML page, not a CSV"),
        (b"", "is empty (0 bytes)"),
        (b" \r\n\t\n", "is blank (only whitespace)"),
        (b"PK\x03\x04\x14\x00rest of a zip", "is a ZIP archive"),
        (b"\x1f\x8b\x08\x00gzip", "is gzip-compressed"),
        (b"abc\x00\x01\x02", "is binary data"),
        (
            b"INSTRUMENT,SYMBOL,EXPIRY_DT,STRIKE_PR,OPTION_TYP,OPEN,HIGH\r\n"
            b"FUTIDX,NIFTY,25-Apr-2024,0,XX,22500,22600\r\n",
            "no header row starting 'Client Type' in its first 10 lines; it starts with "
            "'INSTRUMENT,SYMBOL,EXPIRY_DT",
        ),
        (b",,,\n,,,\n", "holds only blank lines"),
    ],
)
def test_what_is_not_a_participant_file_is_named_and_described(data: bytes, expected: str) -> None:
    name = "fao_participant_oi_04082025.csv"
    with pytest.raises(ParticipantFileError) as caught:
        read_participant_csv(data, name=name)
    assert str(caught.value).startswith(f"{name}: ")
    assert expected in str(caught.value)


def test_a_path_is_named_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "fao_participant_vol_04082025.csv"
    path.write_bytes(NSE_404)
    with pytest.raises(ParticipantFileError, match=re.escape(f"{path}: is an HTML page")):
        read_participant_csv(path)
    with pytest.raises(ParticipantFileError, match="cannot read it"):
        read_participant_csv(tmp_path / "missing.csv")


def _real(shared_data: Path, name: str = "fao_participant_oi_01082025.csv") -> str:
    return (shared_data / FOLDER / name).read_bytes().decode("utf-8")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda t: t.replace("Option Stock Put Long,", ""),
            "the header lacks 'Option Stock Put Long'",
        ),
        (
            lambda t: t.replace("Option Stock Put Long,", "Option Stock Call Long,"),
            "column 'Option Stock Call Long' appears twice",
        ),
        (lambda t: re.sub(r"\nDII,[^\n]*", "", t), "the row(s) DII are missing"),
        (lambda t: re.sub(r"\n(FII,[^\n]*)", r"\n\1\n\1", t), "row FII appears twice"),
        (lambda t: t.replace("\nPro,", "\nProp,"), "unknown row 'Prop'"),
        (lambda t: t.replace(",62957,", ",62957.5,"), "DII Future Index Long is '62957.5'"),
        (lambda t: t.replace(",62957,", ",-,"), "DII Future Index Long is '-', not a whole"),
        (lambda t: t.replace(",62957,", ",,"), "DII Future Index Long is empty"),
        (
            lambda t: t.replace(",62957,", ",62,957,"),
            "row 'DII' has more values than the header has columns",
        ),
        (
            lambda t: t.replace("Open Interest", "Trading Volume"),
            "its name says open interest but its title says trading volume",
        ),
    ],
)
def test_broken_participant_files_say_what_is_wrong(
    shared_data: Path, edit: Callable[[str], str], expected: str
) -> None:
    text = edit(_real(shared_data))
    with pytest.raises(ParticipantFileError) as caught:
        read_participant_text(text, name="fao_participant_oi_01082025.csv")
    assert expected in str(caught.value)


def test_day_and_kind_come_from_the_name_or_the_caller(shared_data: Path) -> None:
    text = _real(shared_data)
    with pytest.raises(ParticipantFileError, match="cannot tell the day"):
        read_participant_text(text, name="download.csv")
    # Without a name: the caller's day, the title's kind.
    read = read_participant_text(text, day=date(2025, 8, 1))
    assert (read.day, read.kind) == (date(2025, 8, 1), "oi")
    # The caller's day wins over the name; a title that disagrees is noted, not hidden.
    other = read_participant_text(
        text, name="fao_participant_oi_01082025.csv", day=date(2025, 8, 4)
    )
    assert other.day == date(2025, 8, 4)
    assert any("title says 2025-08-01" in note for note in other.notes)
    untitled = no_title(text)
    with pytest.raises(ParticipantFileError, match="cannot tell open interest from volume"):
        read_participant_text(untitled, day=date(2025, 8, 1))
    assert read_participant_text(untitled, day=date(2025, 8, 1), kind="oi").title == ""
    with pytest.raises(ParticipantFileError, match="the caller says trading volume"):
        read_participant_text(text, day=date(2025, 8, 1), kind="vol")


def test_file_names_ddmmyyyy_and_a_mirrors_yyyymmdd() -> None:
    assert file_day("fao_participant_oi_04082025.csv") == ("oi", date(2025, 8, 4), False)
    assert file_day("/x/FAO_PARTICIPANT_VOL_20230804.CSV") == ("vol", date(2023, 8, 4), True)
    assert file_day("fao_participant_oi_20122012.csv") == ("oi", date(2012, 12, 20), False)
    assert file_day("fao_participant_oi_99999999.csv") is None
    assert file_day("fo_bhav_04082025.csv") is None
    assert participant_file_name("vol", date(2025, 8, 4)) == "fao_participant_vol_04082025.csv"
    for day in (date(2012, 7, 5), date(2020, 12, 31), date(2026, 1, 2)):
        for kind in KINDS:
            assert file_day(participant_file_name(kind, day)) == (kind, day, False)


# -- the identity check -------------------------------------------------------------------------


def _edit_cell(text: str, row: str, column: int, delta: int) -> str:
    lines = _lines(text)
    for at, line in enumerate(lines):
        cells = line.split(",")
        if cells[0] == row:
            cells[column + 1] = str(int(cells[column + 1]) + delta)
            lines[at] = ",".join(cells)
    return _join(lines, _eol(text))


def test_totals_off_by_more_than_a_few_contracts_are_reported(shared_data: Path) -> None:
    text = _real(shared_data)
    name = "fao_participant_oi_01082025.csv"
    base = read_participant_text(text, name=name)
    fii_long = COLUMNS.index("Future Index Long")

    within = read_participant_text(_edit_cell(text, "FII", fii_long, IDENTITY_TOLERANCE), name=name)
    assert within.discrepancies == ()
    assert within.identity_gap[fii_long] == base.identity_gap[fii_long] + IDENTITY_TOLERANCE

    off = read_participant_text(_edit_cell(text, "FII", fii_long, 1000), name=name)
    # The figure is kept as published.
    assert off.row("FII").future_index_long == base.row("FII").future_index_long + 1000
    checks = {(d.check, d.row, d.column): d.difference for d in off.discrepancies}
    assert checks == {
        ("participants", "TOTAL", "Future Index Long"): 1000,
        ("row", "FII", "Total Long Contracts"): 1000,
    }
    assert "TOTAL Future Index Long: Client+DII+FII+Pro = " in str(off.discrepancies[0])
    assert "(off by +1,000)" in str(off.discrepancies[0])

    # A TOTAL that is wrong on its own is reported against the parts (NSE's own rounding
    # gap of this file, 0 or 1, comes on top).
    total = read_participant_text(_edit_cell(text, "TOTAL", 13, -50), name=name)
    table = base.table()
    own_row_gap = int(table[4, [1, 3, 6, 7, 10, 11]].sum() - table[4, 13])
    assert [(d.check, d.row, d.column, d.difference) for d in total.discrepancies] == [
        ("participants", "TOTAL", "Total Short Contracts", 50 + int(base.identity_gap[13])),
        ("row", "TOTAL", "Total Short Contracts", 50 + own_row_gap),
    ]


# -- the demo's simulated files -----------------------------------------------------------------


def test_the_demo_markets_files_read_back_exactly() -> None:
    assert simulated.COLUMNS[1:] == COLUMNS
    assert simulated.PARTICIPANTS == PARTICIPANTS
    market = DemoMarket(7, date(2025, 12, 11))
    pairs = market.participant_history(days=25)
    assert len(pairs) == 25
    for day, text in pairs:
        read = read_participant_text(text, day=day)
        assert read.kind == "oi" and read.day == day and read.title_day == day
        assert "SIMULATED" in read.title
        assert np.array_equal(read.table(), simulated.participant_oi_table(7, day, market.calendar))
        assert read.discrepancies == () and not read.identity_gap.any()
        # Written to a file under NSE's name, it reads the same way.
        again = read_participant_csv(text.encode(), name=simulated.participant_oi_filename(day))
        assert again.rows == read.rows and again.day == day


# -- derived figures ----------------------------------------------------------------------------


def _day(day: date, table: list[list[int]], kind: Kind = "oi") -> ParticipantDay:
    """A file made from a (5, 14) table, through the reader."""
    lines = [",".join(["Client Type", *COLUMNS])]
    lines += [",".join([name, *map(str, row)]) for name, row in zip(ROWS, table, strict=True)]
    return read_participant_text("\n".join(lines), day=day, kind=kind)


def _table(seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    parts = rng.integers(0, 100_000, size=(4, 14))
    parts[:, 12] = parts[:, [0, 2, 4, 5, 8, 9]].sum(axis=1)
    parts[:, 13] = parts[:, [1, 3, 6, 7, 10, 11]].sum(axis=1)
    return [*parts.tolist(), parts.sum(axis=0).tolist()]


def test_positions_net_options_net_and_the_fii_ratio() -> None:
    table = _table(1)
    fii = table[2]
    fii[0], fii[1] = 30_000, 90_000  # FII index futures: 30k long, 90k short
    table[4] = np.array(table[:4]).sum(axis=0).tolist()
    held = positions(_day(date(2025, 8, 1), table))
    assert held.long.shape == held.short.shape == held.net.shape == (5, 6)
    assert held.fii_index_futures_long_ratio == pytest.approx(0.25)
    for r, row in enumerate(table):
        for g, (lc, sc) in enumerate(((0, 1), (2, 3), (4, 6), (5, 7), (8, 10), (9, 11))):
            assert held.long[r, g] == row[lc] and held.short[r, g] == row[sc]
            assert held.net[r, g] == row[lc] - row[sc]
        # (call long + put short) - (put long + call short), index then stock options
        assert held.options_net[r, 0] == (row[4] + row[7]) - (row[5] + row[6])
        assert held.options_net[r, 1] == (row[8] + row[11]) - (row[9] + row[10])


def test_the_fii_ratio_is_none_without_fii_index_futures() -> None:
    table = _table(2)
    table[2][0] = table[2][1] = 0
    assert positions(_day(date(2025, 8, 1), table)).fii_index_futures_long_ratio is None


def test_day_over_day_change_against_the_previous_file_available() -> None:
    cal = TradingCalendar.default()
    days = [date(2025, 8, 1), date(2025, 8, 4), date(2025, 8, 7)]  # 5th and 6th missing
    files = [_day(d, _table(i)) for i, d in enumerate(days)]
    files.append(_day(date(2025, 8, 6), _table(9), kind="vol"))  # another kind: not a candidate
    today = files[2]
    assert previous_available(files, today.day, "oi") is files[1]
    assert previous_available(files, days[0], "oi") is None
    change = change_vs_previous(today, files, cal)
    assert change is not None
    assert change.previous_day == date(2025, 8, 4)
    assert change.missing_days == (date(2025, 8, 5), date(2025, 8, 6))
    assert np.array_equal(change.table, today.table() - files[1].table())
    assert np.array_equal(change.net, positions(today).net - positions(files[1]).net)
    assert np.array_equal(
        change.options_net, positions(today).options_net - positions(files[1]).options_net
    )
    now, before = positions(today), positions(files[1])
    assert now.fii_index_futures_long_ratio is not None
    assert before.fii_index_futures_long_ratio is not None
    assert change.fii_index_futures_long_ratio == pytest.approx(
        now.fii_index_futures_long_ratio - before.fii_index_futures_long_ratio
    )
    assert change_vs_previous(files[0], files) is None
    with pytest.raises(ValueError, match="not before"):
        day_change(files[0], files[1])
    with pytest.raises(ValueError, match="cannot compare"):
        day_change(today, files[3])


def test_history_over_the_real_files(shared_data: Path) -> None:
    files = [
        read_participant_csv(p)
        for p in real_files(shared_data)
        if p.name.startswith("fao_participant")
    ]
    oi = history(files, "oi")
    assert len(oi.days) == 115 and list(oi.days) == sorted(oi.days)
    assert oi.table.shape == (115, 5, 14)
    assert oi.long.shape == oi.net.shape == (115, 5, 6) and oi.options_net.shape == (115, 5, 2)
    at = oi.days.index(date(2026, 8, 20))
    assert oi.series("FII", "index_futures", "long")[at] == 24335
    assert oi.series("FII", "index_futures", "net")[at] == 24335 - 236448
    assert oi.fii_index_futures_long_ratio[at] == pytest.approx(24335 / (24335 + 236448))
    assert GROUPS[0] == "index_futures"
    vol = history(files, "vol")
    assert len(vol.days) == 106
    latest = next(f for f in files if f.kind == "oi" and f.day == date(2026, 8, 20))
    with pytest.raises(ValueError, match="two oi files for 2026-08-20"):
        history([*files, latest], "oi")
    empty = history([], "oi")
    assert empty.table.shape == (0, 5, 14) and empty.fii_index_futures_long_ratio.shape == (0,)
