"""History from the archive: the previous day's closing OI and the daily closing ATM IV.

The archive is built the way the collector builds it: the demo market's Kite frames of a few
consecutive sessions go into an LMDB journal with their receive times, the roller moves them
into Parquet, and each day's instruments list is stored beside them.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from datetime import date
from datetime import time as dtime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from optui.analytics.chain import build_chain
from optui.feed.calendar import TradingCalendar, epoch_at
from optui.feed.codec import MODE_FULL, decode
from optui.feed.simulator import DemoMarket
from optui.feed.state import MarketState
from optui.feed.universe import Kind, UniverseConfig
from optui.store.archive import Roller
from optui.store.history import (
    CACHE_FOLDER,
    CLOSING_TIME,
    DailyAtmIv,
    archived_days,
    atm_iv_history,
    closing_atm_iv,
    previous_close_oi,
)
from optui.store.instruments import write_instruments
from optui.store.journal import Journal

# Three consecutive trading days, and a day that was not collected before them.
DAYS = (date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18))
NOT_COLLECTED = date(2026, 11, 13)
SMALL = UniverseConfig(strikes_near=8, strikes_far=4, nifty_weeklies=2, sensex_weeklies=1)
ROUND_S = 20  # seconds between tick rounds: a few rounds around the close are enough
FIRST, LAST = dtime(15, 20), dtime(15, 27)
EARLY = dtime(14, 0)


@dataclass(frozen=True)
class Day:
    market: DemoMarket
    rounds: list[tuple[float, list[bytes]]]  # (receive time, that round's frames)


@dataclass(frozen=True)
class Archive:
    root: Path
    days: dict[date, Day]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    base = tmp_path_factory.mktemp("history")
    root = base / "archive"
    days: dict[date, Day] = {}
    with Journal(base / "journal", sync=False) as journal:
        for day in DAYS:
            if day == DAYS[1]:
                # One early round, in a file of its own, before the closing-OI window (14:30).
                early = epoch_at(day, EARLY)
                before = DemoMarket(7, day, start=early, tick_interval=ROUND_S, universe=SMALL)
                frames = before.advance_to(early)
                journal.append_many(frames, [early * 1_000_000_000 + i for i in range(len(frames))])
                Roller(journal, root, "c1").roll()
            start = epoch_at(day, FIRST)
            market = DemoMarket(7, day, start=start, tick_interval=ROUND_S, universe=SMALL)
            rounds = []
            for t in range(start, epoch_at(day, LAST) + 1, ROUND_S):
                frames = market.advance_to(t)
                journal.append_many(frames, [t * 1_000_000_000 + i for i in range(len(frames))])
                rounds.append((float(t), frames))
            write_instruments(root, day, "c1", market.instruments_csv())
            days[day] = Day(market, rounds)
        Roller(journal, root, "c1", max_rows=5_000).roll()  # several files a day
    return Archive(root, days)


def last_oi(day: Day) -> dict[int, int]:
    """Each token's OI in its last full-mode packet of the day, straight from the frames."""
    found: dict[int, int] = {}
    for _, frames in day.rounds:
        for frame in frames:
            ticks = decode(frame)
            full = ticks[ticks["mode"] == MODE_FULL]
            found.update(zip(full["instrument_token"].tolist(), full["oi"].tolist(), strict=True))
    return found


def expected_close(day: date, got: Day) -> float | None:
    """The ATM IV `build_chain` gives on the day's frames received before 15:25."""
    cutoff = epoch_at(day, CLOSING_TIME)
    state = MarketState()
    for t, frames in got.rounds:
        if t < cutoff:
            for frame in frames:
                state.update(decode(frame), t)
    universe = got.market.instruments
    expiry = next(e for e in universe.expiries("NIFTY") if e > day)
    chain = build_chain(universe, state.snapshot(), "NIFTY", expiry, now=cutoff)
    return chain.atm_iv


# -- previous day's closing OI ---------------------------------------------------------------------
def test_previous_close_oi_is_the_last_oi_of_the_previous_trading_day(archive: Archive) -> None:
    assert archived_days(archive.root) == list(DAYS)
    today, yesterday = archive.days[DAYS[2]], archive.days[DAYS[1]]
    universe = today.market.instruments
    tokens = universe.instrument_token.tolist()
    got = previous_close_oi(archive.root, DAYS[2], [*tokens, 999_999_902])
    truth = last_oi(yesterday)
    # Every derivative of today that also traded yesterday, with yesterday's last OI.
    derivatives = {
        t for t, k in zip(tokens, universe.kind.tolist(), strict=True) if k >= Kind.FUTURE
    }
    assert got == {t: truth[t] for t in derivatives if t in truth}
    assert len(got) > 100
    # OI moved through the day: the last value is not the first.
    first_round = {
        int(t): int(oi)
        for frame in yesterday.rounds[0][1]
        for t, oi, mode in zip(
            *(decode(frame)[f] for f in ("instrument_token", "oi", "mode")), strict=True
        )
        if mode == MODE_FULL
    }
    assert sum(got[t] != first_round[t] for t in got) > len(got) // 4
    # Indices and stocks carry no OI; the unknown token is not listed either.
    assert all(universe.kind[universe.row_of(t)] >= Kind.FUTURE for t in got)
    assert 999_999_902 not in got


def test_previous_close_oi_needs_the_previous_trading_day_itself(
    archive: Archive, tmp_path: Path
) -> None:
    universe = archive.days[DAYS[2]].market.instruments
    tokens = universe.instrument_token.tolist()
    options = {int(t) for t, k in zip(tokens, universe.kind, strict=True) if k >= Kind.CALL}
    # Thursday the 19th reads Wednesday the 18th, the last day collected.
    thursday = previous_close_oi(archive.root, date(2026, 11, 19), tokens)
    assert options & set(thursday)
    derivatives = {int(t) for t, k in zip(tokens, universe.kind, strict=True) if k >= Kind.FUTURE}
    truth = last_oi(archive.days[DAYS[2]])
    assert thursday == {t: truth[t] for t in derivatives}
    # Monday the 23rd's previous trading day is Friday the 20th, which was not collected:
    # nothing, rather than Wednesday's OI passed off as the previous close.
    assert TradingCalendar.default().previous_trading_day(date(2026, 11, 23)) == date(2026, 11, 20)
    assert previous_close_oi(archive.root, date(2026, 11, 23), tokens) == {}
    # Monday the 16th, the first day collected, has no previous day in the archive.
    assert previous_close_oi(archive.root, DAYS[0], tokens) == {}
    assert previous_close_oi(tmp_path, DAYS[1], tokens) == {}  # an empty archive


# -- closing ATM IV ------------------------------------------------------------------------------
def test_closing_atm_iv_is_the_chain_at_15_25(archive: Archive) -> None:
    for day, got in archive.days.items():
        value = closing_atm_iv(archive.root, "NIFTY", day)
        assert value is not None
        expected = expected_close(day, got)
        assert expected is not None
        assert value.atm_iv == pytest.approx(expected, rel=1e-12)
        assert value.day == day and value.expiry > day
        # Near the simulator's ATM level: INDIA VIX at the cutoff (x1.0 for NIFTY).
        vix = got.market.spot("INDIA VIX", epoch_at(day, CLOSING_TIME)) / 100.0
        assert abs(value.atm_iv - vix) < 0.01
        last_round = max(t for t, _ in got.rounds if t < epoch_at(day, CLOSING_TIME))
        forward = got.market.forward("NIFTY", value.expiry, last_round)
        assert abs(value.forward / forward - 1) < 1e-4
        # Ticks after 15:25 are not used: with them the chain reads differently.
        late = got.rounds[-1][0]
        state = MarketState()
        for t, frames in got.rounds:
            for frame in frames:
                state.update(decode(frame), t)
        after = build_chain(
            got.market.instruments, state.snapshot(), "NIFTY", value.expiry, now=late
        )
        assert after.atm_iv != value.atm_iv
    assert closing_atm_iv(archive.root, "NIFTY", NOT_COLLECTED) is None


def test_atm_iv_history_computes_each_day_once(archive: Archive, tmp_path: Path) -> None:
    before = date(2026, 11, 19)
    history = atm_iv_history(archive.root, "NIFTY", before, cache_dir=tmp_path)
    assert [h.day for h in history] == list(DAYS)
    for h in history:
        assert h == closing_atm_iv(archive.root, "NIFTY", h.day)
    files = list((tmp_path / CACHE_FOLDER).iterdir())
    assert len(files) == 1 and files[0].name.startswith("NIFTY-")

    # The second call reads the cache: a value planted in it comes back.
    doc = json.loads(files[0].read_text())
    doc["days"][DAYS[0].isoformat()]["value"]["atm_iv"] = 0.4242
    files[0].write_text(json.dumps(doc))
    again = atm_iv_history(archive.root, "NIFTY", before, cache_dir=tmp_path)
    assert again[0].atm_iv == 0.4242 and again[1:] == history[1:]

    # A day whose files change is computed again (here: the planted value goes away).
    extra = archive.root / "instruments" / f"date={DAYS[0].isoformat()}" / "collector=c2"
    extra.mkdir(parents=True)
    (extra / "instruments.parquet").write_bytes(
        next(
            (archive.root / "instruments" / f"date={DAYS[0].isoformat()}").rglob("*.parquet")
        ).read_bytes()
    )
    try:
        third = atm_iv_history(archive.root, "NIFTY", before, cache_dir=tmp_path)
    finally:
        (extra / "instruments.parquet").unlink()
        extra.rmdir()
    assert third == history

    # Other settings are another cache file; without a cache dir nothing is written.
    nse = atm_iv_history(
        archive.root, "NIFTY", before, cache_dir=tmp_path, model="nse-black-scholes"
    )
    assert len(list((tmp_path / CACHE_FOLDER).iterdir())) == 2
    assert [h.day for h in nse] == list(DAYS) and nse[0].atm_iv != history[0].atm_iv
    assert atm_iv_history(archive.root, "NIFTY", before) == history


def test_atm_iv_history_window_and_edges(archive: Archive, tmp_path: Path) -> None:
    # Only days strictly before `before`, and only `days` trading days back.
    assert [h.day for h in atm_iv_history(archive.root, "NIFTY", DAYS[2])] == list(DAYS[:2])
    assert [h.day for h in atm_iv_history(archive.root, "NIFTY", DAYS[2], days=1)] == [DAYS[1]]
    assert atm_iv_history(archive.root, "NIFTY", DAYS[0]) == []
    with pytest.raises(ValueError, match="days must be at least 1"):
        atm_iv_history(archive.root, "NIFTY", DAYS[2], days=0)
    # A damaged cache is computed again, not trusted and not fatal.
    first = atm_iv_history(archive.root, "BANKNIFTY", DAYS[2], cache_dir=tmp_path)
    (cache,) = (tmp_path / CACHE_FOLDER).iterdir()
    cache.write_text("{not json")
    assert atm_iv_history(archive.root, "BANKNIFTY", DAYS[2], cache_dir=tmp_path) == first
    assert json.loads(cache.read_text())["underlying"] == "BANKNIFTY"
    assert all(isinstance(h, DailyAtmIv) and math.isfinite(h.atm_iv) for h in first)
    assert first[0].atm_iv != atm_iv_history(archive.root, "NIFTY", DAYS[2])[0].atm_iv


def test_history_feeds_the_chains_percentile(archive: Archive) -> None:
    history = [h.atm_iv for h in atm_iv_history(archive.root, "NIFTY", date(2026, 11, 19))]
    got = archive.days[DAYS[2]]
    universe = got.market.instruments
    state = MarketState()
    for t, frames in got.rounds:
        for frame in frames:
            state.update(decode(frame), t)
    expiry = universe.expiries("NIFTY")[0]
    chain = build_chain(
        universe, state.snapshot(), "NIFTY", expiry, now=got.rounds[-1][0], atm_iv_history=history
    )
    # Three days are too few for a percentile (MIN_HISTORY_DAYS = 20).
    assert (chain.iv_percentile, chain.iv_rank) == (None, None)
    assert np.isfinite(history).all() and len(history) == 3


def test_only_the_files_needed_are_read_and_a_damaged_one_is_named(
    archive: Archive, tmp_path: Path
) -> None:
    copy = tmp_path / "archive"
    shutil.copytree(archive.root, copy)
    parts = sorted((copy / "ticks" / f"date={DAYS[1].isoformat()}").rglob("part-*.parquet"))
    early, oldest_afternoon = parts[0], parts[1]  # names sort by receive time
    universe = archive.days[DAYS[2]].market.instruments
    options = [
        int(t)
        for t, kind in zip(universe.instrument_token, universe.kind, strict=True)
        if kind >= Kind.CALL
    ]
    truth = last_oi(archive.days[DAYS[1]])
    expected = {t: truth[t] for t in options if t in truth}
    # Today's options include strikes and an expiry listed only today: the previous day's
    # instruments say they cannot have ticked, so they cost nothing.
    assert 0 < len(expected) < len(options)
    never = (0x7EFFFF << 8) | 2  # a derivative token listed nowhere
    early.write_bytes(b"not parquet")
    # The 14:00 file lies before the closing-OI window: it is never opened.
    assert previous_close_oi(copy, DAYS[2], [*options, never]) == expected
    oldest_afternoon.write_bytes(b"not parquet")
    # Every option ticked in the last file of the day: older ones are not opened.
    assert previous_close_oi(copy, DAYS[2], options) == expected
    # The closing ATM IV's window (15:20-15:25) covers that file: it is skipped, moved into
    # quarantine/ and named in an event (tests/test_reliability_archive.py has the rest).
    events: list[Any] = []
    closing_atm_iv(copy, "NIFTY", DAYS[1], on_event=events.append)
    assert [e.details["subject"] for e in events] == [str(oldest_afternoon)]
    assert (copy / "quarantine" / oldest_afternoon.relative_to(copy)).read_bytes() == (
        b"not parquet"
    )
    # Without the day's instruments list, a token that did not tick makes it read the whole
    # afternoon, and so find a damaged file; the 14:00 one is still left alone.
    oldest_afternoon.write_bytes(b"not parquet")
    shutil.rmtree(copy / "instruments" / f"date={DAYS[1].isoformat()}")
    events.clear()
    assert previous_close_oi(copy, DAYS[2], [*options, never], on_event=events.append) == expected
    assert [e.details["subject"] for e in events] == [str(oldest_afternoon)]
    assert early.read_bytes() == b"not parquet"  # never opened, so never moved
    # The second copy went beside the first under a name of its own.
    assert len(list((copy / "quarantine").rglob(oldest_afternoon.stem + "*"))) == 2
