"""Simulated NSE participant-wise OI files: NSE's exact shape, consistent numbers."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from itertools import takewhile
from pathlib import Path

import numpy as np
import pytest

from optui.feed.calendar import TradingCalendar
from optui.feed.participants import (
    COLUMNS,
    PARTICIPANTS,
    participant_oi_csv,
    participant_oi_filename,
    participant_oi_table,
)
from optui.feed.simulator import DemoMarket
from optui.feed.universe import UniverseConfig

CAL = TradingCalendar.default()
DAY = date(2026, 11, 20)


def parse(text: str) -> tuple[str, list[str], dict[str, list[int]]]:
    """Title, stripped header and rows by client type, the way a reader of NSE's files does.

    The title line is taken raw: its doubled quotes around a field with a comma in it do not
    survive the csv module (in NSE's files either).
    """
    lines = list(csv.reader(io.StringIO(text)))
    title = text.splitlines()[0]
    header = [name.strip() for name in lines[1]]
    rows = {line[0]: [int(v) for v in line[1:]] for line in lines[2:]}
    return title, header, rows


def test_file_has_nses_shape_and_is_marked_simulated() -> None:
    text = participant_oi_csv(7, DAY)
    assert participant_oi_filename(DAY) == "fao_participant_oi_20112026.csv"
    lines = text.split("\r\n")
    assert lines[-1] == "" and all("\n" not in line for line in lines)  # CRLF, like NSE
    assert lines[0] == (
        '""Participant wise Open Interest (no. of contracts) in Equity Derivatives as on '
        'Nov 20, 2026 (SIMULATED)"",,,,,,,,,,,,,,'
    )
    assert lines[1].split(",")[4] == "Future Stock Short       "  # NSE's padding
    title, header, rows = parse(text)
    assert "SIMULATED" in title and re.search(r"as on Nov 20, 2026", title)
    assert tuple(header) == COLUMNS
    assert list(rows) == [*PARTICIPANTS, "TOTAL"]


def test_longs_match_shorts_and_totals_add_up() -> None:
    for day in CAL.last_trading_days(DAY, 40):
        _, header, rows = parse(participant_oi_csv(3, day))
        col = {name: i for i, name in enumerate(header[1:])}
        table = np.array([rows[p] for p in PARTICIPANTS])
        total = np.array(rows["TOTAL"])
        assert (table.sum(axis=0) == total).all()
        assert (table >= 0).all()
        for kind in (
            "Future Index",
            "Future Stock",
            "Option Index Call",
            "Option Index Put",
            "Option Stock Call",
            "Option Stock Put",
        ):
            assert total[col[f"{kind} Long"]] == total[col[f"{kind} Short"]], (day, kind)
        longs = [i for name, i in col.items() if name.endswith("Long") and "Total" not in name]
        shorts = [i for name, i in col.items() if name.endswith("Short") and "Total" not in name]
        assert (table[:, longs].sum(axis=1) == table[:, col["Total Long Contracts"]]).all()
        assert (table[:, shorts].sum(axis=1) == table[:, col["Total Short Contracts"]]).all()


def test_deterministic_per_day_and_seed() -> None:
    assert participant_oi_csv(7, DAY) == participant_oi_csv(7, DAY)
    assert participant_oi_csv(7, DAY) != participant_oi_csv(8, DAY)
    assert participant_oi_csv(7, DAY) != participant_oi_csv(7, date(2026, 11, 19))


def test_smooth_from_day_to_day_with_expiry_cycles() -> None:
    days = CAL.last_trading_days(DAY, 120)
    tables = np.array([participant_oi_table(5, d) for d in days])
    fii = PARTICIPANTS.index("FII")
    long_ratio = tables[:, fii, 0] / (tables[:, fii, 0] + tables[:, fii, 1])
    assert long_ratio.min() > 0.02 and long_ratio.max() < 0.9
    assert np.abs(np.diff(long_ratio)).max() < 0.1  # no jumps from one day to the next
    futures = tables[:, -1, 2].astype(float)  # stock futures, all participants
    assert np.abs(np.diff(np.log(futures))).max() < 0.12
    assert futures.max() / futures.min() > 1.1  # but it does move
    # Index option OI falls on expiry days (expired contracts leave) and builds in between.
    index_calls = tables[:, -1, 4].astype(float)
    expiry_days = {
        e.day for e in takewhile(lambda e: e.day <= days[-1], CAL.expiries(1, "NFO", days[0]))
    }
    changes = np.diff(np.log(index_calls))
    on_expiry = np.array([d in expiry_days for d in days[1:]])
    assert changes[on_expiry].max() < -0.3  # NSE's files show about -50%
    assert changes[~on_expiry].mean() > 0.1


def test_only_trading_days_have_a_file() -> None:
    with pytest.raises(ValueError, match="not an NSE trading day"):
        participant_oi_csv(1, date(2026, 11, 24))  # Guru Nanak Jayanti


def test_market_history_ends_the_day_before_its_session() -> None:
    market = DemoMarket(
        seed=4, session=date(2026, 11, 23), universe=UniverseConfig(strikes_near=2, strikes_far=1)
    )
    history = market.participant_history(days=10)
    days = [d for d, _ in history]
    assert days == CAL.last_trading_days(date(2026, 11, 20), 10)
    assert history[-1][1] == market.participant_csv(date(2026, 11, 20))
    assert all("SIMULATED" in text.splitlines()[0] for _, text in history)


@pytest.mark.shared_data
def test_header_is_byte_identical_to_a_real_2026_file(shared_data: Path) -> None:
    real = (shared_data / "participant_oi_vol" / "fao_participant_oi_20260820.csv").read_bytes()
    ours = participant_oi_csv(1, date(2026, 8, 20)).encode()
    assert ours.split(b"\r\n")[1] == real.split(b"\r\n")[1]
    real_title = real.split(b"\r\n")[0].decode()
    our_title = ours.split(b"\r\n")[0].decode()
    assert our_title.replace(" (SIMULATED)", "") == real_title
    # Same order of magnitude as the real day, participant by participant.
    _, _, real_rows = parse(real.decode())
    _, _, our_rows = parse(ours.decode())
    for who in ("Client", "FII", "TOTAL"):
        ratio = np.array(our_rows[who][-2:]) / np.array(real_rows[who][-2:])
        assert ((ratio > 0.33) & (ratio < 3)).all(), who
