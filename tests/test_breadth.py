"""Breadth: advances, declines, VWAP share, movers and volume per index, checked by hand.

The demo market's frames go through the codec into a MarketState, and every figure is
recomputed with a plain per-stock loop; then real NSE closing data (the CM bhavcopy) is
played in as quote packets and the NIFTY 50 counts compared with counts done on the CSV.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from optui.analytics.breadth import (
    BROAD_INDICES,
    IndexBreadth,
    breadth,
    heat_strip,
    index_breadth,
)
from optui.feed import reference
from optui.feed.codec import MODE_FULL, MODE_QUOTE, Ticks, decode, empty_ticks, encode
from optui.feed.simulator import DemoMarket
from optui.feed.state import MarketSnapshot, MarketState
from optui.feed.universe import Kind, Universe, universe_of

SESSION = date(2026, 11, 20)


@pytest.fixture(scope="module")
def demo() -> tuple[Universe, list[Ticks]]:
    """Five minutes of the demo market, as decoded frames."""
    market = DemoMarket(7, SESSION, instruments=700, tick_interval=15.0)
    frames = market.advance_to(market.open_epoch + 300)
    return market.instruments, [decode(f) for f in frames]


def _state(universe: Universe, frames: Sequence[Ticks]) -> MarketState:
    state = MarketState(universe.instrument_token)
    for i, ticks in enumerate(frames):
        state.update(ticks, received=float(i))
    return state


def _brute(
    universe: Universe,
    snap: MarketSnapshot,
    index: str,
    members: Sequence[str],
    average_volume: Mapping[int, float] | None = None,
) -> dict[str, object]:
    """Every figure of the module docstring, one stock at a time."""
    row_of = {s: i for i, s in enumerate(universe.tradingsymbol) if universe.kind[i] == Kind.EQUITY}
    up = down = flat = above = known_avg = 0
    missing: list[str] = []
    moves: list[tuple[float, str]] = []
    ratios: list[float] = []
    for symbol in members:
        if symbol not in row_of:
            missing.append(symbol)
            continue
        token = int(universe.instrument_token[row_of[symbol]])
        at = snap.row(token)
        if at is None or snap.ticks["last_price"][at] <= 0 or snap.ticks["close"][at] <= 0:
            missing.append(symbol)
            continue
        tick = snap.ticks[at]
        last, close, avg = (
            float(tick["last_price"]),
            float(tick["close"]),
            float(tick["average_traded_price"]),
        )
        half = float(universe.tick_size[row_of[symbol]]) / 2
        if abs(last - close) < half:
            flat += 1
        elif last > close:
            up += 1
            moves.append((100 * (last - close) / close, symbol))
        else:
            down += 1
            moves.append((100 * (last - close) / close, symbol))
        if avg > 0:
            known_avg += 1
            above += last > avg
        if average_volume and average_volume.get(token):
            ratios.append(float(tick["volume_traded"]) / average_volume[token])
    gainers = [s for p, s in sorted((-p, s) for p, s in moves if p > 0)][:5]
    losers = [s for p, s in sorted(moves) if p < 0][:5]
    return {
        "advances": up,
        "declines": down,
        "unchanged": flat,
        "no_data": len(missing),
        "no_data_symbols": tuple(sorted(missing)),
        "above_vwap": above,
        "vwap_known": known_avg,
        "gainers": gainers,
        "losers": losers,
        "volume_ratio": statistics.median(ratios) if ratios else None,
    }


def _compare(got: IndexBreadth, want: dict[str, object]) -> None:
    for name in (
        "advances",
        "declines",
        "unchanged",
        "no_data",
        "no_data_symbols",
        "above_vwap",
        "vwap_known",
    ):
        assert getattr(got, name) == want[name], name
    assert [m.symbol for m in got.gainers] == want["gainers"]
    assert [m.symbol for m in got.losers] == want["losers"]
    if want["volume_ratio"] is None:
        assert got.volume_ratio is None
    else:
        assert got.volume_ratio == pytest.approx(want["volume_ratio"])


def test_every_index_matches_a_per_stock_loop(demo: tuple[Universe, list[Ticks]]) -> None:
    universe, frames = demo
    snap = _state(universe, frames).snapshot()
    members = reference.index_members()
    result = breadth(universe, snap)
    assert result[0].index == "NIFTY 50"  # the broad index first
    assert {b.index for b in result} == set(members)
    for b in result:
        _compare(b, _brute(universe, snap, b.index, members[b.index]))
        assert b.members == len(members[b.index])
        assert b.with_data + b.no_data == b.members
        assert b.no_data == 0  # every stock has ticked
        assert b.ad_ratio == (b.advances / b.declines if b.declines else None)
        assert b.above_vwap_share == pytest.approx(b.above_vwap / b.vwap_known)
        # The index's own level and change, from its packets.
        at = snap.row(b.token) if b.token is not None else None
        assert at is not None and b.level is not None
        assert b.level == snap.ticks["last_price"][at]
        close = float(snap.ticks["close"][at])
        assert b.change == pytest.approx(b.level - close)
        assert b.change_pct == pytest.approx(100 * (b.level - close) / close)
        assert b.volume_ratio is None and b.volume_ratio_members == 0
    nifty = result[0]
    assert nifty.advances > 0 and nifty.declines > 0  # five minutes in, both kinds exist
    assert 0 < nifty.above_vwap < nifty.vwap_known == 50


def test_unticked_stocks_are_no_data_never_unchanged(demo: tuple[Universe, list[Ticks]]) -> None:
    universe, frames = demo
    members = reference.index_members()["NIFTY 50"]
    silent = {"RELIANCE", "TCS", "INFY"}
    silent_tokens = [
        int(universe.instrument_token[universe.tradingsymbol.index(s)]) for s in silent
    ]
    kept = [f[~np.isin(f["instrument_token"], silent_tokens)] for f in frames]
    snap = _state(universe, kept).snapshot()
    got = index_breadth(universe, snap, "NIFTY 50", [*members, "NOTLISTED"])
    _compare(got, _brute(universe, snap, "NIFTY 50", [*members, "NOTLISTED"]))
    assert got.no_data_symbols == ("INFY", "NOTLISTED", "RELIANCE", "TCS")
    assert got.members == 51 and got.with_data == 47
    assert got.unchanged == 0


def _set(state: MarketState, ticks: Ticks) -> None:
    state.update(decode(encode(ticks)), received=1e9)


def test_unchanged_is_within_half_a_tick(demo: tuple[Universe, list[Ticks]]) -> None:
    universe, frames = demo
    state = _state(universe, frames)
    snap = state.snapshot()
    symbols = ("HDFCBANK", "ICICIBANK", "SBIN")
    rows = snap.rows([universe.instrument_token[universe.tradingsymbol.index(s)] for s in symbols])
    ticks = snap.ticks[rows].copy()
    close = ticks["close"]
    ticks["last_price"] = close + np.array([0.0, 0.01, 0.05])  # tick 0.05: same, same, up
    _set(state, ticks)
    snap = state.snapshot()
    got = index_breadth(universe, snap, "NIFTY BANK", symbols)
    assert (got.unchanged, got.advances, got.declines) == (2, 1, 0)
    assert got.ad_ratio is None  # no declines: no ratio
    assert [m.symbol for m in got.gainers] == ["SBIN"] and got.losers == ()
    _compare(got, _brute(universe, snap, "NIFTY BANK", symbols))


def test_share_above_vwap_leaves_out_stocks_without_an_average(
    demo: tuple[Universe, list[Ticks]],
) -> None:
    universe, frames = demo
    state = _state(universe, frames)
    snap = state.snapshot()
    symbols = ("TCS", "INFY", "WIPRO", "HCLTECH")
    rows = snap.rows([universe.instrument_token[universe.tradingsymbol.index(s)] for s in symbols])
    ticks = snap.ticks[rows].copy()
    ticks["mode"] = MODE_FULL
    ticks["average_traded_price"] = ticks["last_price"] * np.array([0.99, 1.01, 0.99, 1.0])
    ticks["average_traded_price"][3] = 0.0  # nothing traded yet: no average
    _set(state, ticks)
    got = index_breadth(universe, state.snapshot(), "IT", symbols)
    assert (got.above_vwap, got.vwap_known) == (2, 3)
    assert got.above_vwap_share == pytest.approx(2 / 3)
    assert got.with_data == 4  # the stock without an average still counts in the A/D


def test_volume_against_previous_days(demo: tuple[Universe, list[Ticks]]) -> None:
    universe, frames = demo
    snap = _state(universe, frames).snapshot()
    members = reference.index_members()["NIFTY 50"]
    tokens = [int(universe.instrument_token[universe.tradingsymbol.index(s)]) for s in members]
    volume = {t: float(snap.ticks["volume_traded"][snap.row(t)]) for t in tokens}
    # History for 20 members: half of today's volume for 12, four times it for 8.
    history = {t: volume[t] / 2 for t in tokens[:12]} | {t: volume[t] * 4 for t in tokens[12:20]}
    got = index_breadth(universe, snap, "NIFTY 50", members, average_volume=history)
    assert got.volume_ratio_members == 20
    assert got.volume_ratio == pytest.approx(2.0)  # the median of 12 x 2.0 and 8 x 0.25
    _compare(got, _brute(universe, snap, "NIFTY 50", members, history))
    by_symbol = {m.symbol: m for m in (*got.gainers, *got.losers)}
    for mover in by_symbol.values():
        expected = history.get(mover.token)
        assert mover.volume_ratio == (
            None if expected is None else pytest.approx(volume[mover.token] / expected)
        )
    without = index_breadth(universe, snap, "NIFTY 50", members, average_volume={})
    assert without.volume_ratio is None and without.volume_ratio_members == 0


def test_heat_strip_orders_sectors_by_change(demo: tuple[Universe, list[Ticks]]) -> None:
    universe, frames = demo
    result = breadth(universe, _state(universe, frames).snapshot(), movers=2)
    strip = heat_strip(result)
    assert all(cell.index not in BROAD_INDICES for cell in strip)
    assert len(strip) == len(result) - 1
    changes = [cell.change_pct for cell in strip]
    assert all(c is not None for c in changes)
    assert changes == sorted(changes, reverse=True)  # type: ignore[type-var]
    assert all(len(b.gainers) <= 2 and len(b.losers) <= 2 for b in result)
    # An index that has not ticked has no level, and goes to the end of the strip.
    empty = breadth(universe, MarketState(universe.instrument_token).snapshot())
    assert all(b.level is None and b.no_data == b.members for b in empty)
    unticked = heat_strip([*result[1:2], *empty[1:3]])
    assert unticked[0].change_pct is not None and unticked[1].change_pct is None
    with pytest.raises(ValueError, match="movers=-1"):
        breadth(universe, MarketState().snapshot(), movers=-1)


# -- real closing data -----------------------------------------------------------------------------
@dataclass
class _Rows:
    """Universe columns for a stocks-only universe (optui.feed.universe.RowColumns)."""

    exchange_token: list[int] = field(default_factory=list)
    tradingsymbol: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    expiry: list[date | None] = field(default_factory=list)
    strike: list[float] = field(default_factory=list)
    tick_size: list[float] = field(default_factory=list)
    lot_size: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    segment: list[str] = field(default_factory=list)
    exchange: list[str] = field(default_factory=list)
    underlying: list[int] = field(default_factory=list)


def _bhavcopy(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as handle:
        return {row["SYMBOL"].strip(): row for row in csv.DictReader(handle)}


def _real_market(
    bhav: dict[str, dict[str, str]], day: date
) -> tuple[Universe, MarketSnapshot, dict[str, int]]:
    """Every EQ stock of the bhavcopy as a quote packet: last = close, close = previous close,
    average = NSE's average price, volume = traded quantity; plus an unticked NIFTY 50."""
    rows = _Rows()
    spec = next(s for s in reference.index_specs() if s.tradingsymbol == "NIFTY 50")
    symbols = sorted(bhav)
    for i, symbol in enumerate(["NIFTY 50", *symbols]):
        is_index = i == 0
        price = 0.0 if is_index else float(bhav[symbol]["CLOSE_PRICE"])
        rows.exchange_token.append(spec.exchange_token if is_index else 100_000 + i)
        rows.tradingsymbol.append(symbol)
        rows.name.append(symbol)
        rows.expiry.append(None)
        rows.strike.append(0.0)
        rows.tick_size.append(0.0 if is_index else (0.01 if price < 250 else 0.05))
        rows.lot_size.append(0 if is_index else 1)
        rows.kind.append(int(Kind.INDEX if is_index else Kind.EQUITY))
        rows.segment.append("INDICES" if is_index else "NSE")
        rows.exchange.append("NSE")
        rows.underlying.append(i)
    tokens = [(t << 8) | (9 if i == 0 else 1) for i, t in enumerate(rows.exchange_token)]
    universe = universe_of(day, rows, tokens, {})
    ticks = empty_ticks(len(symbols))
    ticks["instrument_token"] = tokens[1:]
    ticks["mode"] = MODE_QUOTE
    for field_name, column in (
        ("last_price", "CLOSE_PRICE"),
        ("close", "PREV_CLOSE"),
        ("average_traded_price", "AVG_PRICE"),
    ):
        ticks[field_name] = [float(bhav[s][column]) for s in symbols]
    ticks["volume_traded"] = [int(bhav[s]["TTL_TRD_QNTY"]) for s in symbols]
    state = MarketState(universe.instrument_token)
    state.update(decode(encode(ticks)), received=0.0)
    return universe, state.snapshot(), dict(zip(symbols, tokens[1:], strict=True))


def _nifty50(shared_data: Path) -> list[str]:
    path = shared_data / "index_constituents" / "2025-03-29" / "ind_nifty50list.csv"
    with path.open(newline="") as handle:
        return [row["Symbol"].strip() for row in csv.DictReader(handle)]


@pytest.mark.parametrize("day", ["2024-06-04", "2024-07-19", "2025-04-07"])
def test_nifty_50_breadth_on_real_closes(shared_data: Path, day: str) -> None:
    bhav = _bhavcopy(shared_data / "cm_bhavcopy" / f"{day}.csv")
    members = _nifty50(shared_data)
    assert len(members) == 50
    universe, snap, token_of = _real_market(bhav, date.fromisoformat(day))

    # Counted straight off the CSV.
    rows = [bhav[s] for s in members if s in bhav]
    close = [float(r["CLOSE_PRICE"]) for r in rows]
    prev = [float(r["PREV_CLOSE"]) for r in rows]
    avg = [float(r["AVG_PRICE"]) for r in rows]
    advances = sum(c > p for c, p in zip(close, prev, strict=True))
    declines = sum(c < p for c, p in zip(close, prev, strict=True))
    unchanged = sum(c == p for c, p in zip(close, prev, strict=True))
    above = sum(c > a for c, a in zip(close, avg, strict=True))
    pct = {
        r["SYMBOL"].strip(): 100 * (c / p - 1) for r, c, p in zip(rows, close, prev, strict=True)
    }

    # The previous bhavcopy days stand in for the volume history.
    others = sorted(p for p in (shared_data / "cm_bhavcopy").glob("20*.csv") if p.stem != day)
    past = [_bhavcopy(p) for p in others]
    history: dict[int, float] = {}
    ratios = []
    for symbol in members:
        volumes = [float(b[symbol]["TTL_TRD_QNTY"]) for b in past if symbol in b]
        if symbol in bhav and volumes:
            history[token_of[symbol]] = sum(volumes) / len(volumes)
            ratios.append(float(bhav[symbol]["TTL_TRD_QNTY"]) / history[token_of[symbol]])

    got = index_breadth(universe, snap, "NIFTY 50", members, average_volume=history, movers=3)
    assert (got.advances, got.declines, got.unchanged) == (advances, declines, unchanged)
    assert got.no_data == 50 - len(rows)
    assert got.advances + got.declines + got.unchanged == len(rows)
    assert (got.above_vwap, got.vwap_known) == (above, len(rows))
    assert got.ad_ratio == (advances / declines if declines else None)
    assert [m.symbol for m in got.gainers] == [
        s for s in sorted(pct, key=lambda s: (-pct[s], s)) if pct[s] > 0
    ][:3]
    assert [m.symbol for m in got.losers] == sorted(pct, key=lambda s: (pct[s], s))[:3]
    assert got.volume_ratio == pytest.approx(statistics.median(ratios))
    assert got.level is None and got.change is None  # the index itself never ticked


def test_real_closes_show_known_days(shared_data: Path) -> None:
    """Known days: 7 April 2025 (the tariff sell-off) and 19 July 2024 (one unchanged)."""
    members = _nifty50(shared_data)
    crash = _bhavcopy(shared_data / "cm_bhavcopy" / "2025-04-07.csv")
    universe, snap, _ = _real_market(crash, date(2025, 4, 7))
    got = index_breadth(universe, snap, "NIFTY 50", members)
    assert (got.advances, got.declines, got.unchanged, got.no_data) == (1, 49, 0, 0)
    assert got.ad_ratio == pytest.approx(1 / 49)
    july = _bhavcopy(shared_data / "cm_bhavcopy" / "2024-07-19.csv")
    universe, snap, _ = _real_market(july, date(2024, 7, 19))
    got = index_breadth(universe, snap, "NIFTY 50", members)
    assert (got.advances, got.declines, got.unchanged) == (4, 45, 1)
