"""Market breadth: how the stocks inside each index are moving, not just the index.

For each index with known members (`optui.feed.reference.index_members()`, from
`assets/index_members.csv`: NIFTY 50 and the sector indices), from one `MarketSnapshot`:

- **level and change** of the index itself (last price vs the previous close its packets
  carry), None until the index has ticked;
- **advances, declines, unchanged** among its members: last price vs previous close, where a
  move smaller than half the stock's tick size counts as unchanged (prices sit on the tick
  grid, so that is "the same price"). A member that has not ticked, that the instruments list
  lacks, or whose packets carry no previous close is counted under **no data**, never as
  unchanged, and named in `no_data_symbols`;
- **A/D ratio** = advances / declines; None when there are no declines (the ratio is
  unbounded then: the board shows the counts instead);
- **above VWAP**: members whose last price is above their day's average traded price, as a
  share of the members that have an average (LTP packets carry none; those are left out of
  both counts);
- **movers**: the `movers` biggest gainers and losers by % change (gainers only with a rise,
  losers only with a fall; ties by symbol);
- **volume vs previous days**: for each member with history, today's volume over its mean
  volume of the previous days (pass `average_volume`, e.g. `DailyVolumes.average()` from
  `optui.store.day_series`, computed up to the same time of day so the ratio compares like
  with like); the index's figure is the median of its members' ratios, so every member
  counts once whatever its share price or share count. None without history.

`heat_strip` orders the sector indices by % change for a one-line heat map.

Pure: a universe, a snapshot and optional history in, frozen structs out; no clock, no I/O.
This module must not import Textual or anything from `optui.tui`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from optui.feed import reference
from optui.feed.state import MarketSnapshot
from optui.feed.universe import Kind, Universe

__all__ = [
    "BROAD_INDICES",
    "DEFAULT_MOVERS",
    "IndexBreadth",
    "Mover",
    "SectorHeat",
    "breadth",
    "heat_strip",
    "index_breadth",
]

#: Indices that are the market rather than a sector (left out of the heat strip).
BROAD_INDICES: Final = frozenset({"NIFTY 50"})
DEFAULT_MOVERS: Final = 5
# Where a stock's tick size is unknown (0), moves below this (rupees) count as unchanged.
_DEFAULT_HALF_TICK: Final = 0.005


@dataclass(frozen=True, slots=True)
class Mover:
    """One member's move today."""

    symbol: str
    token: int
    last: float
    change: float  # rupees vs previous close
    change_pct: float
    volume: int
    volume_ratio: float | None  # today's volume / mean of previous days


@dataclass(frozen=True, slots=True)
class IndexBreadth:
    """Breadth of one index (see the module docstring for every definition)."""

    index: str
    token: int | None  # None when the instruments list lacks the index itself
    level: float | None
    change: float | None
    change_pct: float | None
    members: int
    advances: int
    declines: int
    unchanged: int
    no_data: int
    no_data_symbols: tuple[str, ...]
    ad_ratio: float | None
    above_vwap: int
    vwap_known: int
    above_vwap_share: float | None  # above_vwap / vwap_known, 0..1
    gainers: tuple[Mover, ...]
    losers: tuple[Mover, ...]
    volume_ratio: float | None  # median of members' ratios
    volume_ratio_members: int  # members that had history

    @property
    def with_data(self) -> int:
        """Members with a price and a previous close."""
        return self.advances + self.declines + self.unchanged


@dataclass(frozen=True, slots=True)
class SectorHeat:
    """One cell of the heat strip."""

    index: str
    change_pct: float | None
    advances: int
    declines: int


@dataclass(frozen=True, slots=True)
class _Rows:
    """Universe rows of the stocks and of the indices, by tradingsymbol (built once)."""

    stocks: Mapping[str, int]
    indices: Mapping[str, int]

    @classmethod
    def of(cls, universe: Universe) -> _Rows:
        kinds = universe.kind.tolist()
        stocks: dict[str, int] = {}
        indices: dict[str, int] = {}
        for i, (symbol, kind) in enumerate(zip(universe.tradingsymbol, kinds, strict=True)):
            if kind == Kind.EQUITY:
                stocks[symbol] = i
            elif kind == Kind.INDEX:
                indices[symbol] = i
        return cls(stocks, indices)


def _change_pct(change: float, close: float) -> float | None:
    return 100.0 * change / close if close > 0 else None


def index_breadth(
    universe: Universe,
    snapshot: MarketSnapshot,
    index: str,
    members: Sequence[str],
    *,
    average_volume: Mapping[int, float] | None = None,
    movers: int = DEFAULT_MOVERS,
) -> IndexBreadth:
    """Breadth of one index with the given member symbols (see the module docstring)."""
    return _index_breadth(
        _Rows.of(universe), universe, snapshot, index, members, average_volume, movers
    )


def _index_breadth(
    lookup: _Rows,
    universe: Universe,
    snapshot: MarketSnapshot,
    index: str,
    members: Sequence[str],
    average_volume: Mapping[int, float] | None,
    movers: int,
) -> IndexBreadth:
    if movers < 0:
        raise ValueError(f"movers={movers}: must be 0 or more")
    stocks, indices = lookup.stocks, lookup.indices
    symbols = tuple(dict.fromkeys(members))  # de-duplicated, order kept

    # The index itself.
    token: int | None = None
    level = change = change_pct = None
    if index in indices:
        token = int(universe.instrument_token[indices[index]])
        at = snapshot.row(token)
        if at is not None:
            tick = snapshot.ticks[at]
            last, close = float(tick["last_price"]), float(tick["close"])
            if last > 0:
                level = last
                if close > 0:
                    change = last - close
                    change_pct = _change_pct(change, close)

    # Members: one vectorised pass over those the instruments list has.
    known = [s for s in symbols if s in stocks]
    rows_u = np.array([stocks[s] for s in known], dtype=np.intp)
    tokens = universe.instrument_token[rows_u]
    at_rows = snapshot.rows(tokens)
    ticked = at_rows >= 0
    ticks = snapshot.ticks[np.where(ticked, at_rows, 0)]
    last_p = np.where(ticked, ticks["last_price"], np.nan)
    close_p = np.where(ticked, ticks["close"], np.nan)
    avg_p = np.where(ticked, ticks["average_traded_price"], np.nan)
    volume = np.where(ticked, ticks["volume_traded"], 0)
    usable = ticked & (last_p > 0) & (close_p > 0)
    move = np.where(usable, last_p - close_p, np.nan)
    half_tick = universe.tick_size[rows_u] / 2.0
    half_tick = np.where(half_tick > 0, half_tick, _DEFAULT_HALF_TICK)
    flat = usable & (np.abs(move) < half_tick)
    up = usable & ~flat & (move > 0)
    down = usable & ~flat & (move < 0)
    unusable = {s for s, ok in zip(known, usable.tolist(), strict=True) if not ok}
    no_data_symbols = tuple(sorted({s for s in symbols if s not in stocks} | unusable))
    has_avg = usable & (avg_p > 0)
    above = has_avg & (last_p > avg_p)

    ratios: list[float | None] = []
    for tok, vol, ok in zip(tokens.tolist(), volume.tolist(), usable.tolist(), strict=True):
        past = average_volume.get(int(tok)) if average_volume is not None and ok else None
        ratios.append(float(vol) / past if past else None)
    member_ratios = [r for r in ratios if r is not None]

    pct = 100.0 * move / close_p
    candidates = [
        Mover(
            symbol=known[i],
            token=int(tokens[i]),
            last=float(last_p[i]),
            change=float(move[i]),
            change_pct=float(pct[i]),
            volume=int(volume[i]),
            volume_ratio=ratios[i],
        )
        for i in np.flatnonzero(up | down)
    ]
    gainers = sorted(
        (m for m in candidates if m.change > 0), key=lambda m: (-m.change_pct, m.symbol)
    )
    losers = sorted((m for m in candidates if m.change < 0), key=lambda m: (m.change_pct, m.symbol))

    advances, declines = int(up.sum()), int(down.sum())
    vwap_known = int(has_avg.sum())
    return IndexBreadth(
        index=index,
        token=token,
        level=level,
        change=change,
        change_pct=change_pct,
        members=len(symbols),
        advances=advances,
        declines=declines,
        unchanged=int(flat.sum()),
        no_data=len(no_data_symbols),
        no_data_symbols=no_data_symbols,
        ad_ratio=advances / declines if declines else None,
        above_vwap=int(above.sum()),
        vwap_known=vwap_known,
        above_vwap_share=int(above.sum()) / vwap_known if vwap_known else None,
        gainers=tuple(gainers[:movers]),
        losers=tuple(losers[:movers]),
        volume_ratio=float(np.median(member_ratios)) if member_ratios else None,
        volume_ratio_members=len(member_ratios),
    )


def breadth(
    universe: Universe,
    snapshot: MarketSnapshot,
    *,
    members: Mapping[str, Sequence[str]] | None = None,
    average_volume: Mapping[int, float] | None = None,
    movers: int = DEFAULT_MOVERS,
) -> list[IndexBreadth]:
    """Breadth of every index with members (default: `reference.index_members()`), broad
    indices first, then the sectors by name."""
    membership = reference.index_members() if members is None else members
    lookup = _Rows.of(universe)
    order = sorted(membership, key=lambda name: (name not in BROAD_INDICES, name))
    return [
        _index_breadth(lookup, universe, snapshot, name, membership[name], average_volume, movers)
        for name in order
    ]


def heat_strip(
    breadths: Iterable[IndexBreadth], broad: Iterable[str] = BROAD_INDICES
) -> list[SectorHeat]:
    """The sector indices by % change, strongest first; those without a change last."""
    skip = set(broad)
    cells = [
        SectorHeat(b.index, b.change_pct, b.advances, b.declines)
        for b in breadths
        if b.index not in skip
    ]
    return sorted(
        cells,
        key=lambda c: (c.change_pct is None, -(c.change_pct or 0.0), c.index),
    )
