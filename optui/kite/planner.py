"""Which instruments to subscribe to, in which mode, on which websocket connection.

Kite streams at most 3000 instruments per websocket connection and allows 3 connections per
API key, while the instruments list holds tens of thousands of contracts. The planner chooses,
for the configured underlyings:

- the index (its spot), its nearest `FUTURES_PER_UNDERLYING` futures, and for its nearest
  `expiries` option expiries the at-the-money strike and `strikes` listed strikes each side,
  calls and puts. The ATM strike of an expiry is the listed strike nearest the spot (ties go
  to the lower strike); with no spot yet, the middle listed strike of the nearest expiry
  stands in for it. "Strikes each side" counts *listed* strikes, so uneven spacing (wider
  steps far from the money, different steps per underlying and expiry) needs no step size;
- every index of `assets/indices.csv` in the universe (breadth and sector levels, VIX) and
  the breadth constituents (the universe's stocks).

Modes: `full` where depth matters — the nearest expiry's options within ±strikes/2 of ATM and
the futures — and for the indices (an index's full packet only adds the exchange timestamp,
a few bytes); `quote` (last, average price, volume, OI) for the other options and the stocks.

Capacity is `connections × per_connection`. When the wanted set does not fit, the plan takes
groups in this priority order and stops at the first group that does not fit (so nothing of
lower priority jumps the queue), except that the stocks, which go all or none, are skipped
when they do not fit and the option strikes after them take the room:

1. the spots and the ATM strike of every planned expiry (never dropped: if even these do not
   fit, the planner refuses with an error);
2. the nearest future of each underlying;
3. the other indices;
4. the later futures;
5. the breadth stocks, all or none (a partial set would give wrong advance/decline counts);
6. option strikes ring by ring from the money outwards: ring d (the d-th listed strike above
   and below ATM, both legs) of every expiry before ring d+1; within a ring the nearer expiry
   first, then the underlyings in configured order.

So what goes first is the farthest strikes of the farthest expiries, and every expiry keeps a
symmetric window. Every drop is listed in `Plan.left_out` in words ("NIFTY 2026-12-29: strikes
beyond ±12 left out (3000 per connection × 3 connections)").

Connections: re-planning keeps every token that stays on the connection it is on, and puts
new tokens on the first connection with room (packed: Kite's 3 connections are per API key,
so a TUI and a collector on one key must share them). A re-centre is therefore only
subscribe/unsubscribe/mode messages on each connection (`diff`), never a reconnect. The
planner remembers its last plan for this; `plan(spots, previous=...)` names another base.

Re-centring: `needs_recentre` is True once any underlying's ATM strike (nearest expiry) is at
least max(1, strikes // 4) listed strikes away from the centre the plan was built on, a
hysteresis that keeps a spot hovering at a strike boundary from re-planning every tick.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Final, Literal

import numpy as np

from optui.feed.universe import Chain, Kind, Universe

__all__ = [
    "FUTURES_PER_UNDERLYING",
    "Mode",
    "Plan",
    "PlanChange",
    "SubscriptionPlanner",
    "diff",
]

Mode = Literal["ltp", "quote", "full"]

# The next month's future matters in expiry week, when positions roll into it.
FUTURES_PER_UNDERLYING: Final = 2


@dataclass(frozen=True)
class Plan:
    """One subscription plan: token -> mode per websocket connection."""

    connections: tuple[Mapping[int, Mode], ...]
    left_out: tuple[str, ...]  # human-readable: what did not fit and why
    centres: Mapping[str, float]  # ATM strike (nearest expiry) per underlying

    def tokens(self) -> dict[int, Mode]:
        """Every planned token and its mode."""
        merged: dict[int, Mode] = {}
        for connection in self.connections:
            merged.update(connection)
        return merged

    def __len__(self) -> int:
        return sum(len(connection) for connection in self.connections)


@dataclass(frozen=True)
class PlanChange:
    """What one connection must send to go from one plan to the next."""

    connection: int
    subscribe: dict[Mode, list[int]] = field(default_factory=dict)
    unsubscribe: list[int] = field(default_factory=list)
    mode_changes: dict[Mode, list[int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when the connection has nothing to do."""
        return not (self.subscribe or self.unsubscribe or self.mode_changes)


def diff(old: Plan | None, new: Plan) -> tuple[PlanChange, ...]:
    """Per connection (index i of both plans): tokens to subscribe (by mode), to unsubscribe,
    and whose mode changes. `old` None means nothing is subscribed yet."""
    before = old.connections if old is not None else ()
    changes = []
    for i in range(max(len(before), len(new.connections))):
        a: Mapping[int, Mode] = before[i] if i < len(before) else {}
        b: Mapping[int, Mode] = new.connections[i] if i < len(new.connections) else {}
        subscribe: dict[Mode, list[int]] = {}
        modes: dict[Mode, list[int]] = {}
        for token, mode in b.items():
            was = a.get(token)
            if was is None:
                subscribe.setdefault(mode, []).append(token)
            elif was != mode:
                modes.setdefault(mode, []).append(token)
        unsubscribe = [token for token in a if token not in b]
        changes.append(PlanChange(i, subscribe, unsubscribe, modes))
    return tuple(changes)


@dataclass(frozen=True, slots=True)
class _Group:
    """Tokens kept or dropped together, in priority order."""

    tokens: tuple[tuple[int, Mode], ...]
    what: Literal["core", "future", "index", "stocks", "ring"]
    underlying: str = ""
    expiry: date | None = None
    distance: int = 0


def _valid(spot: float | None) -> bool:
    return spot is not None and math.isfinite(spot) and spot > 0


def _level(spot: float | None, fallback: float) -> float:
    return float(spot) if spot is not None and _valid(spot) else fallback


def _nearest(strikes: np.ndarray, level: float) -> int:
    """Index of the listed strike nearest `level` (the lower one on a tie)."""
    return int(np.argmin(np.abs(strikes - level)))


class SubscriptionPlanner:
    """Plans subscriptions for `underlyings` over `universe`; see the module docstring."""

    def __init__(
        self,
        universe: Universe,
        underlyings: Sequence[str],
        *,
        expiries: int,
        strikes: int,
        connections: int = 3,
        per_connection: int = 3000,
    ) -> None:
        if expiries < 1:
            raise ValueError(f"expiries must be at least 1, got {expiries}")
        if strikes < 0:
            raise ValueError(f"strikes must be 0 or more, got {strikes}")
        if connections < 1 or per_connection < 1:
            raise ValueError(
                f"need at least one connection of at least one instrument, got "
                f"{connections} × {per_connection}"
            )
        if len(set(underlyings)) != len(underlyings):
            raise ValueError(f"underlyings listed twice: {', '.join(underlyings)}")
        self.universe = universe
        self.underlyings = tuple(underlyings)
        self.expiries = expiries
        self.strikes = strikes
        self.connections = connections
        self.per_connection = per_connection
        self.recentre_after = max(1, strikes // 4)
        self._last: Plan | None = None

        u = universe
        tokens = u.instrument_token
        self._chains: dict[str, tuple[Chain, ...]] = {}
        self._spot_row: dict[str, int] = {}
        self._futures: dict[str, tuple[int, ...]] = {}
        future_rows = np.flatnonzero(u.kind == int(Kind.FUTURE))
        for name in self.underlyings:
            listed = u.expiries(name)
            if not listed:
                raise ValueError(f"{name}: the instruments list has no options for it")
            chains = tuple(u.chain(name, e) for e in listed[:expiries])
            legs = np.concatenate([np.concatenate([c.calls, c.puts]) for c in chains])
            drivers = {int(u.underlying[r]) for r in legs[legs >= 0]}
            if len(drivers) != 1 or u.kind[next(iter(drivers))] != int(Kind.INDEX):
                raise ValueError(f"{name}: its options are not driven by one index row")
            self._chains[name] = chains
            self._spot_row[name] = drivers.pop()
            mine = [int(r) for r in future_rows if u.name[r] == name]
            mine.sort(key=lambda r: u.expiry[r])
            self._futures[name] = tuple(mine[:FUTURES_PER_UNDERLYING])
        spots = set(self._spot_row.values())
        self._other_indices = tuple(
            int(r) for r in np.flatnonzero(u.kind == int(Kind.INDEX)) if int(r) not in spots
        )
        self._stocks = tuple(int(r) for r in np.flatnonzero(u.kind == int(Kind.EQUITY)))
        self._token = [int(t) for t in tokens.tolist()]

    # -- public ----------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Instruments that fit on all connections together."""
        return self.connections * self.per_connection

    def spot_tokens(self) -> dict[str, int]:
        """Underlying -> the index token whose last price is its spot."""
        return {name: self._token[row] for name, row in self._spot_row.items()}

    def centre_of(self, name: str, spot: float | None) -> float:
        """The ATM strike of `name`'s nearest expiry for `spot` (the middle listed strike when
        there is no spot)."""
        strikes = self._chains[name][0].strikes
        if not _valid(spot):
            return float(strikes[(len(strikes) - 1) // 2])
        assert spot is not None
        return float(strikes[_nearest(strikes, spot)])

    def plan(self, spots: Mapping[str, float], *, previous: Plan | None = None) -> Plan:
        """The plan for these spots (underlying -> level; missing ones use the middle strike).

        Tokens of `previous` (default: this planner's last plan) that stay keep their
        connection.
        """
        centres = {name: self.centre_of(name, spots.get(name)) for name in self.underlyings}
        # Each expiry's ATM is the strike nearest the spot itself (later expiries may list
        # coarser strikes than the nearest one), or nearest the centre without a spot.
        levels = {name: _level(spots.get(name), centres[name]) for name in self.underlyings}
        groups = self._groups(levels)
        capacity = self.capacity
        core = sum(len(g.tokens) for g in groups if g.what == "core")
        if core > capacity:
            raise ValueError(
                f"{self._capacity_text()} cannot hold even the spots and ATM strikes "
                f"({core} instruments); use more connections or fewer underlyings/expiries"
            )
        wanted: dict[int, Mode] = {}
        kept: list[_Group] = []
        dropped: list[_Group] = []
        for i, group in enumerate(groups):
            if len(wanted) + len(group.tokens) > capacity:
                if group.what == "stocks":  # all or none; the rings may still fit
                    dropped.append(group)
                    continue
                dropped += groups[i:]  # nothing of lower priority jumps the queue
                break
            kept.append(group)
            for token, mode in group.tokens:
                if token in wanted:
                    raise AssertionError(f"token {token} planned twice")
                wanted[token] = mode
        base = previous if previous is not None else self._last
        plan = Plan(
            connections=self._assign(wanted, base),
            left_out=self._left_out(dropped, kept),
            centres=MappingProxyType(dict(centres)),
        )
        self._last = plan
        return plan

    def needs_recentre(self, plan: Plan, spots: Mapping[str, float]) -> bool:
        """True when an underlying's ATM strike has moved `recentre_after` listed strikes or
        more from the plan's centre (underlyings without a spot are not judged)."""
        for name in self.underlyings:
            spot = spots.get(name)
            if not _valid(spot):
                continue
            assert spot is not None
            centre = plan.centres.get(name)
            if centre is None:
                return True
            strikes = self._chains[name][0].strikes
            moved = abs(_nearest(strikes, spot) - _nearest(strikes, centre))
            if moved >= self.recentre_after:
                return True
        return False

    # -- building ----------------------------------------------------------------------------
    def _legs(self, chain: Chain, i: int, mode: Mode) -> list[tuple[int, Mode]]:
        rows = (int(chain.calls[i]), int(chain.puts[i]))
        return [(self._token[r], mode) for r in rows if r >= 0]

    def _groups(self, levels: Mapping[str, float]) -> list[_Group]:
        full_within = self.strikes / 2
        atm: dict[tuple[str, int], int] = {}
        core: list[tuple[int, Mode]] = [
            (self._token[self._spot_row[name]], "full") for name in self.underlyings
        ]
        for name in self.underlyings:
            for rank, chain in enumerate(self._chains[name]):
                i = _nearest(chain.strikes, levels[name])
                atm[(name, rank)] = i
                core += self._legs(chain, i, "full" if rank == 0 else "quote")
        groups = [_Group(tuple(core), "core")]
        for name in self.underlyings:
            for row in self._futures[name][:1]:
                groups.append(_Group(((self._token[row], "full"),), "future", name))
        for row in self._other_indices:
            groups.append(_Group(((self._token[row], "full"),), "index"))
        for name in self.underlyings:
            for row in self._futures[name][1:]:
                groups.append(_Group(((self._token[row], "full"),), "future", name))
        if self._stocks:
            groups.append(
                _Group(tuple((self._token[row], "quote") for row in self._stocks), "stocks")
            )
        for d in range(1, self.strikes + 1):
            for rank in range(self.expiries):
                for name in self.underlyings:
                    chains = self._chains[name]
                    if rank >= len(chains):
                        continue
                    chain = chains[rank]
                    mode: Mode = "full" if rank == 0 and d <= full_within else "quote"
                    legs: list[tuple[int, Mode]] = []
                    for i in (atm[(name, rank)] - d, atm[(name, rank)] + d):
                        if 0 <= i < len(chain.strikes):
                            legs += self._legs(chain, i, mode)
                    if legs:
                        groups.append(_Group(tuple(legs), "ring", name, chain.expiry, d))
        return groups

    def _assign(
        self, wanted: Mapping[int, Mode], previous: Plan | None
    ) -> tuple[Mapping[int, Mode], ...]:
        connections: list[dict[int, Mode]] = [{} for _ in range(self.connections)]
        where: dict[int, int] = {}
        if previous is not None:
            for i, mapping in enumerate(previous.connections[: self.connections]):
                where.update(dict.fromkeys(mapping, i))
        pending: list[int] = []
        for token, mode in wanted.items():
            on = where.get(token)
            if on is not None and len(connections[on]) < self.per_connection:
                connections[on][token] = mode
            else:
                pending.append(token)
        # Pack, don't spread: the 3 connections are per API key, so a TUI and a collector on
        # the same key must share them; a few hundred instruments need one, not three.
        loads = [len(c) for c in connections]
        for token in pending:
            i = next(k for k, load in enumerate(loads) if load < self.per_connection)
            connections[i][token] = wanted[token]
            loads[i] += 1
        return tuple(MappingProxyType(c) for c in connections)

    def _capacity_text(self) -> str:
        plural = "s" if self.connections != 1 else ""
        return f"{self.per_connection} per connection × {self.connections} connection{plural}"

    def _left_out(self, dropped: Sequence[_Group], kept: Sequence[_Group]) -> tuple[str, ...]:
        if not dropped:
            return ()
        why = f"({self._capacity_text()})"
        lines: list[str] = []
        futures = [g for g in dropped if g.what == "future"]
        for g in futures:
            expiry = self.universe.expiry[self.universe.row_of(g.tokens[0][0])]
            lines.append(f"{g.underlying} future {expiry} left out {why}")
        indices = [g for g in dropped if g.what == "index"]
        if indices:
            names = [
                self.universe.tradingsymbol[self.universe.row_of(g.tokens[0][0])] for g in indices
            ]
            lines.append(f"indices {', '.join(names)} left out {why}")
        if any(g.what == "stocks" for g in dropped):
            lines.append(f"breadth: the {len(self._stocks)} constituent stocks left out {why}")
        widest: dict[tuple[str, date], int] = {}
        for g in kept:
            if g.what == "ring" and g.expiry is not None:
                widest[(g.underlying, g.expiry)] = g.distance
        cut: set[tuple[str, date]] = set()
        for g in dropped:
            if g.what == "ring" and g.expiry is not None:
                cut.add((g.underlying, g.expiry))
        for name in self.underlyings:
            for chain in self._chains[name]:
                key = (name, chain.expiry)
                if key not in cut:
                    continue
                width = widest.get(key, 0)
                if width == 0:
                    lines.append(
                        f"{name} {chain.expiry}: only the ATM strike kept, ±{self.strikes} "
                        f"wanted {why}"
                    )
                else:
                    lines.append(f"{name} {chain.expiry}: strikes beyond ±{width} left out {why}")
        return tuple(lines)
