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

from optui.analytics.participants import read_participant_text
from optui.feed.calendar import TradingCalendar
from optui.feed.participants import (
    COLUMNS,
    PARTICIPANTS,
    participant_csv,
    participant_oi_csv,
    participant_oi_filename,
    participant_oi_table,
    participant_vol_table,
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


# -- the day's traded volume ----------------------------------------------------------------
def test_the_volume_file_has_nses_shape_and_every_trade_two_sides() -> None:
    text = participant_csv("vol", 7, DAY)
    lines = text.split("\r\n")
    assert lines[0] == (
        '""Participant wise Trading Volume (no. of contracts) in Equity Derivatives as on '
        'Nov 20, 2026 (SIMULATED)"",,,,,,,,,,,,,,'
    )
    assert lines[1:] == participant_oi_csv(7, DAY).split("\r\n")[1:2] + lines[2:]  # header
    day = read_participant_text(text, name="fao_participant_vol_20112026.csv")
    assert day.kind == "vol" and day.day == DAY
    for when in CAL.last_trading_days(DAY, 30):
        table = participant_vol_table(3, when)
        assert (table[:-1].sum(axis=0) == table[-1]).all() and (table >= 0).all()
        longs, shorts = table[-1, [0, 2, 4, 5, 8, 9]], table[-1, [1, 3, 6, 7, 10, 11]]
        assert (longs == shorts).all(), when  # bought == sold, per instrument
        assert (table[:, 12] == table[:, [0, 2, 4, 5, 8, 9]].sum(axis=1)).all()
    assert participant_csv("vol", 7, DAY) != participant_csv("oi", 7, DAY)
    assert participant_csv("vol", 7, DAY) == participant_csv("vol", 7, DAY)
    with pytest.raises(ValueError, match="'oi' or 'vol'"):
        participant_csv("fii", 7, DAY)


def test_index_options_trade_most_on_their_expiry_day() -> None:
    days = CAL.last_trading_days(DAY, 60)
    expiry_days = {
        e.day for e in takewhile(lambda e: e.day <= days[-1], CAL.expiries(1, "NFO", days[0]))
    }
    calls = np.array([participant_vol_table(5, d)[-1, 4] for d in days], dtype=float)
    on_expiry = np.array([d in expiry_days for d in days])
    assert on_expiry.sum() >= 8
    assert np.median(calls[on_expiry]) > 1.4 * np.median(calls[~on_expiry])


def test_the_demo_market_gives_both_kinds() -> None:
    market = DemoMarket(
        seed=4, session=date(2026, 11, 23), universe=UniverseConfig(strikes_near=2, strikes_far=1)
    )
    volumes = market.participant_history(days=5, kind="vol")
    assert [d for d, _ in volumes] == CAL.last_trading_days(date(2026, 11, 20), 5)
    assert volumes[-1][1] == participant_csv("vol", 4, date(2026, 11, 20))


@pytest.mark.shared_data
def test_volume_is_of_the_order_of_a_real_2025_day(shared_data: Path) -> None:
    real = (shared_data / "participant_oi_vol" / "fao_participant_vol_31102025.csv").read_text()
    ours = participant_csv("vol", 1, date(2025, 10, 31))
    assert ours.split("\r\n")[1] == real.splitlines()[1]  # the header, padding and all
    _, _, real_rows = parse(real)
    _, _, our_rows = parse(ours)
    for who in ("Client", "FII", "Pro", "TOTAL"):
        ratio = np.array(our_rows[who][-2:]) / np.array(real_rows[who][-2:])
        assert ((ratio > 0.33) & (ratio < 3)).all(), who
