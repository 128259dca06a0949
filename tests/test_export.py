"""`optui export`: what goes in comes out, in Parquet, Arrow and CSV; bad requests say why."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from optui.cli import main
from optui.commands.collect import CollectOptions, collect
from optui.commands.export import ExportRequest, export
from optui.feed.calendar import IST
from optui.feed.demo import DemoFeed
from optui.settings import Settings, SettingsError, load_settings
from optui.store.archive import read_ticks
from optui.store.instruments import read_instruments
from optui.store.journal import Journal
from optui.store.locations import archive_root, journal_dir
from optui.tui.export import export_view

EVERYTHING = (date(2000, 1, 1), date(2100, 1, 1))


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, pa.Table, date]:
    home = tmp_path_factory.mktemp("export")
    # Module-scoped, so it runs before the per-test isolation of user folders: every path the
    # collector writes is set here, or its log would land in the real user's log dir.
    settings = load_settings(
        overrides={
            "data_dir": str(home / "data"),
            "log_dir": str(home / "log"),
            "cache_dir": str(home / "cache"),
            "demo.speed": "60",
            "demo.instruments": "600",
        }
    )
    feed: list[DemoFeed] = []

    def source() -> DemoFeed:
        feed.append(DemoFeed(settings))
        return feed[0]

    assert collect(settings, source, CollectOptions(duration=0.6)) == 0
    table = read_ticks(archive_root(settings), *EVERYTHING)
    # The archive's days are IST dates of the receive time (the demo's own session may differ).
    days = {
        datetime.fromtimestamp(ns / 1e9, IST).date()
        for ns in pc.unique(pc.cast(table["received"], pa.int64())).to_pylist()
    }
    assert len(days) == 1
    return settings, table, days.pop()


def _read(path: Path, fmt: str) -> pa.Table:
    if fmt == "parquet":
        return pq.read_table(path)
    if fmt == "arrow":
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_file(source).read_all()
    return pacsv.read_csv(path)


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv"])
def test_export_round_trip(
    collected: tuple[Settings, pa.Table, date], tmp_path: Path, fmt: str
) -> None:
    settings, expected, day = collected
    output = tmp_path / f"ticks.{fmt}"
    result = export(settings, ExportRequest(day, day, output, fmt))
    assert result.rows == expected.num_rows
    got = _read(output, fmt)
    assert got.num_rows == expected.num_rows
    if fmt == "csv":
        # Text round trip: compare the numbers that matter, column by column.
        for name in ("instrument_token", "last_price", "volume_traded", "oi", "frame_seq"):
            assert got[name].to_pylist() == expected[name].to_pylist(), name
    else:
        # Parquet has no seconds unit: the two exchange-time columns come back as
        # milliseconds holding the same instants, so cast before comparing.
        assert got.cast(expected.schema).equals(expected)
    assert not list(tmp_path.glob(".*partial"))


def test_export_by_underlying_and_token(
    collected: tuple[Settings, pa.Table, date], tmp_path: Path
) -> None:
    settings, everything, day = collected
    instruments = read_instruments(archive_root(settings), day)
    assert instruments is not None
    nifty = set(
        pc.filter(
            instruments["instrument_token"], pc.equal(instruments["name"], "NIFTY")
        ).to_pylist()
    )
    result = export(settings, ExportRequest(day, day, tmp_path / "n.parquet", underlying="NIFTY"))
    got = pq.read_table(tmp_path / "n.parquet")
    assert result.rows == got.num_rows > 0
    assert set(got["instrument_token"].to_pylist()) <= nifty
    expected = pc.sum(
        pc.is_in(everything["instrument_token"], pa.array(sorted(nifty), pa.uint32()))
    )
    assert got.num_rows == expected.as_py()

    export(settings, ExportRequest(day, day, tmp_path / "t.parquet", tokens=(256265,)))
    one = pq.read_table(tmp_path / "t.parquet")
    assert set(one["instrument_token"].to_pylist()) == {256265}


def test_export_sees_the_journal_not_yet_rolled(
    collected: tuple[Settings, pa.Table, date], tmp_path: Path
) -> None:
    settings, everything, day = collected
    # A frame arrives after the last roll: it is in the journal only.
    frames = DemoFeed(settings).market.advance_to(DemoFeed(settings).market.open_epoch + 1)
    with Journal(journal_dir(settings)) as journal:
        first = everything["received"][0].value
        journal.append(frames[0], received_ns=first + 1)
    try:
        result = export(settings, ExportRequest(day, day, tmp_path / "j.arrow", "arrow"))
        assert result.rows == everything.num_rows + int.from_bytes(frames[0][:2], "big")
    finally:
        with Journal(journal_dir(settings)) as journal:
            journal.delete_through(journal.stats().last_key)


def test_bad_requests_are_refused_clearly(
    collected: tuple[Settings, pa.Table, date], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _, day = collected
    existing = tmp_path / "exists.parquet"
    existing.write_bytes(b"keep me")
    with pytest.raises(SettingsError, match="already exists; add --force"):
        export(settings, ExportRequest(day, day, existing))
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(SettingsError, match="no ticks between 1999-01-01 and 1999-01-02"):
        export(
            settings, ExportRequest(date(1999, 1, 1), date(1999, 1, 2), tmp_path / "e.csv", "csv")
        )
    assert not (tmp_path / "e.csv").exists()
    data_dir = str(settings.data_dir)
    code = main(
        ["export", "--data-dir", data_dir, "--from", "1999-01-01", "--output", str(existing)]
    )
    assert code == 2 and "--force" in capsys.readouterr().err
    code = main(
        [
            "export",
            "--data-dir",
            data_dir,
            "--from",
            day.isoformat(),
            "--output",
            str(existing),
            "--force",
        ]
    )
    assert code == 0 and pq.read_table(existing).num_rows > 0


def test_the_export_key_writes_numbers_as_a_person_reads_them(tmp_path: Path) -> None:
    """The TUI's `x`: a change computed as a difference reads -33.05, an OI 1200, an
    unknown IV an empty cell; a second export in the same second never overwrites."""
    rows: list[dict[str, object]] = [
        {"strike": 24500.0, "change": 671.70 - 704.75, "oi": 1200.0, "iv": float("nan")},
        {"strike": 24550.0, "change": None, "oi": 3, "iv": 0.2261099425447672, "name": "x,y"},
    ]
    first = export_view(rows, tmp_path, "chain", 1_795_000_000.0)
    second = export_view(rows, tmp_path, "chain", 1_795_000_000.0)
    assert first != second and first.name.startswith("chain-") and first.suffix == ".csv"
    text = first.read_text(encoding="utf-8").splitlines()
    assert text == [
        "strike,change,oi,iv,name",
        "24500,-33.05,1200,,",
        '24550,,3,0.226109942545,"x,y"',
    ]
    assert second.read_text(encoding="utf-8").splitlines() == text
