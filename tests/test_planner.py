"""The subscription planner, on the demo's universe and on Kite's real NFO dump.

Expectations are computed here from the universe directly (which strikes are nearest the
spot, which rows are indices, stocks, futures), not by asking the planner.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from optui.feed.simulator import DemoMarket
from optui.feed.universe import Kind, Universe
from optui.kite.instruments import asset_index_table, table_from_csv, universe_from_instruments
from optui.kite.planner import Mode, Plan, PlanChange, SubscriptionPlanner, diff
from optui.settings import UNDERLYINGS

SESSION = date(2026, 9, 1)
DUMP_SESSION = date(2026, 8, 18)
NSE_UNDERLYINGS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY")


@cache
def _demo() -> DemoMarket:
    return DemoMarket(7, SESSION)


@cache
def _dump_universe(shared: Path) -> Universe:
    rows = pa.concat_tables(
        [
            table_from_csv((shared / "kite_instruments" / "nfo_instruments.csv").read_bytes()),
            asset_index_table(("NSE", "BSE")),
        ]
    )
    return universe_from_instruments(rows, DUMP_SESSION, NSE_UNDERLYINGS)


def _demo_spots(planner: SubscriptionPlanner) -> dict[str, float]:
    tokens, close = _demo().previous_close()
    level = dict(zip(tokens.tolist(), close.tolist(), strict=True))
    return {name: level[token] for name, token in planner.spot_tokens().items()}


def _dump_spots() -> dict[str, float]:
    # levels of mid-August 2026, inside each listed chain
    return {"NIFTY": 24_612.0, "BANKNIFTY": 55_130.0, "FINNIFTY": 26_040.0, "MIDCPNIFTY": 12_810.0}


# -- independent expectations ------------------------------------------------------------------
def _index_row(u: Universe, name: str) -> int:
    chain = u.chain(name, u.expiries(name)[0])
    return int(u.underlying[chain.calls[chain.calls >= 0][0]])


def _atm(strikes: np.ndarray, level: float) -> int:
    return int(np.argmin(np.abs(strikes - level)))


def _window(u: Universe, name: str, rank: int, level: float, width: int) -> dict[int, int]:
    """token -> distance from ATM, for the legs within ±width listed strikes of `level`."""
    chain = u.chain(name, u.expiries(name)[rank])
    atm = _atm(chain.strikes, level)
    out: dict[int, int] = {}
    for i in range(max(0, atm - width), min(len(chain.strikes), atm + width + 1)):
        for row in (chain.calls[i], chain.puts[i]):
            if row >= 0:
                out[int(u.instrument_token[row])] = abs(i - atm)
    return out


def _expected(
    u: Universe, underlyings: tuple[str, ...], spots: dict[str, float], expiries: int, strikes: int
) -> dict[int, Mode]:
    tok = u.instrument_token
    wanted: dict[int, Mode] = {int(t): "full" for t in tok[u.kind == Kind.INDEX]}
    wanted |= {int(t): "quote" for t in tok[u.kind == Kind.EQUITY]}
    for name in underlyings:
        futures = [r for r in np.flatnonzero(u.kind == Kind.FUTURE) if u.name[r] == name]
        futures.sort(key=lambda r: u.expiry[r])
        wanted |= {int(tok[r]): "full" for r in futures[:2]}
        for rank in range(min(expiries, len(u.expiries(name)))):
            for token, d in _window(u, name, rank, spots[name], strikes).items():
                wanted[token] = "full" if rank == 0 and d <= strikes / 2 else "quote"
    return wanted


def _check_shape(plan: Plan, per_connection: int, connections: int) -> None:
    assert len(plan.connections) == connections
    assert all(len(c) <= per_connection for c in plan.connections)
    seen: list[int] = [t for c in plan.connections for t in c]
    assert len(seen) == len(set(seen)), "a token is planned twice"
    assert all(mode in ("ltp", "quote", "full") for c in plan.connections for mode in c.values())


def _widths(u: Universe, plan: Plan, name: str, level: float, expiries: int, k: int) -> list[int]:
    """Per expiry (nearest first): the planned window ±w around ATM, checked to be exact."""
    tokens = plan.tokens()
    out = []
    for rank in range(min(expiries, len(u.expiries(name)))):
        window = _window(u, name, rank, level, k)
        width = max(d for t, d in window.items() if t in tokens)
        assert {t for t, d in window.items() if d <= width} <= tokens.keys()
        assert not {t for t, d in window.items() if d > width} & tokens.keys()
        out.append(width)
    return out


def _apply(plan: Plan, changes: tuple[PlanChange, ...]) -> list[dict[int, Mode]]:
    """What each connection holds after sending `changes` to connections holding `plan`."""
    held = [dict(c) for c in plan.connections]
    for change in changes:
        mine = held[change.connection]
        for token in change.unsubscribe:
            del mine[token]
        for mode, tokens in change.subscribe.items():
            for token in tokens:
                assert token not in mine
                mine[token] = mode
        for mode, tokens in change.mode_changes.items():
            for token in tokens:
                assert mine[token] != mode
                mine[token] = mode
    return held


# -- the wanted set ----------------------------------------------------------------------------
def test_demo_plan_is_spots_indices_futures_stocks_and_the_atm_windows() -> None:
    u = _demo().instruments
    planner = SubscriptionPlanner(u, UNDERLYINGS, expiries=2, strikes=20)
    spots = _demo_spots(planner)
    plan = planner.plan(spots)
    _check_shape(plan, 3000, 3)
    assert plan.left_out == ()
    assert plan.tokens() == _expected(u, UNDERLYINGS, spots, 2, 20)
    loads = [len(c) for c in plan.connections]
    # Packed: a plan that fits one connection uses one, leaving the others to another app.
    assert loads[0] == len(plan.tokens()) and loads[1:] == [0, 0]
    for name in UNDERLYINGS:
        strikes = u.chain(name, u.expiries(name)[0]).strikes
        assert plan.centres[name] == strikes[_atm(strikes, spots[name])]
        assert planner.spot_tokens()[name] == int(u.instrument_token[_index_row(u, name)])
        assert u.kind[_index_row(u, name)] == Kind.INDEX
    assert planner.spot_tokens()["SENSEX"] == 265
    assert not planner.needs_recentre(plan, spots)


@pytest.mark.shared_data
def test_real_nfo_dump_plan_is_the_atm_windows_with_full_near_the_money(shared_data: Path) -> None:
    u = _dump_universe(shared_data)
    planner = SubscriptionPlanner(u, NSE_UNDERLYINGS, expiries=2, strikes=20)
    spots = _dump_spots()
    plan = planner.plan(spots)
    _check_shape(plan, 3000, 3)
    assert plan.left_out == ()
    wanted = _expected(u, NSE_UNDERLYINGS, spots, 2, 20)
    assert plan.tokens() == wanted
    for name in NSE_UNDERLYINGS:
        assert _widths(u, plan, name, spots[name], 2, 20) == [20, 20]
    # the nearest NIFTY expiry within ±10 strikes streams depth; the next one quotes
    near = _window(u, "NIFTY", 0, spots["NIFTY"], 20)
    assert {plan.tokens()[t] for t, d in near.items() if d <= 10} == {"full"}
    assert {plan.tokens()[t] for t, d in near.items() if d > 10} == {"quote"}
    assert {plan.tokens()[t] for t in _window(u, "NIFTY", 1, spots["NIFTY"], 20)} == {"quote"}
    # NIFTY 50's real Kite token is the spot, in full mode
    assert planner.spot_tokens()["NIFTY"] == 256265
    assert plan.tokens()[256265] == "full"


@pytest.mark.shared_data
def test_uneven_strikes_count_listed_strikes_not_points(shared_data: Path) -> None:
    u = _dump_universe(shared_data)
    # NIFTY's long-dated expiries list strikes 100 and more apart, the weeklies 50 apart.
    far = [
        e for e in u.expiries("NIFTY") if len(np.unique(np.diff(u.chain("NIFTY", e).strikes))) > 1
    ]
    assert far, "the dump has an expiry with uneven strike spacing"
    planner = SubscriptionPlanner(u, ("NIFTY",), expiries=len(u.expiries("NIFTY")), strikes=6)
    plan = planner.plan({"NIFTY": 24_612.0})
    rank = u.expiries("NIFTY").index(far[0])
    assert _widths(u, plan, "NIFTY", 24_612.0, rank + 1, 6)[rank] == 6


def test_a_missing_spot_centres_on_the_middle_listed_strike() -> None:
    u = _demo().instruments
    planner = SubscriptionPlanner(u, ("NIFTY", "BANKNIFTY"), expiries=1, strikes=4)
    spots = _demo_spots(planner)
    plan = planner.plan({"BANKNIFTY": spots["BANKNIFTY"], "NIFTY": float("nan")})
    strikes = u.chain("NIFTY", u.expiries("NIFTY")[0]).strikes
    middle = float(strikes[(len(strikes) - 1) // 2])
    assert plan.centres["NIFTY"] == middle
    assert _widths(u, plan, "NIFTY", middle, 1, 4) == [4]
    # once the spot is known and far from the middle, the plan must move
    far_spot = float(strikes[(len(strikes) - 1) // 2 + 10])
    assert planner.needs_recentre(plan, {"NIFTY": far_spot})
    assert not planner.needs_recentre(plan, {})  # no spot: nothing to judge


# -- capacity ----------------------------------------------------------------------------------
def _full_size(
    u: Universe, underlyings: tuple[str, ...], spots: dict[str, float], e: int, k: int
) -> int:
    return len(_expected(u, underlyings, spots, e, k))


@pytest.mark.shared_data
def test_left_out_is_empty_exactly_when_everything_fits(shared_data: Path) -> None:
    u = _dump_universe(shared_data)
    spots = _dump_spots()
    need = _full_size(u, NSE_UNDERLYINGS, spots, 3, 30)
    fits = SubscriptionPlanner(
        u, NSE_UNDERLYINGS, expiries=3, strikes=30, connections=1, per_connection=need
    )
    assert fits.plan(spots).left_out == ()
    short = SubscriptionPlanner(
        u, NSE_UNDERLYINGS, expiries=3, strikes=30, connections=1, per_connection=need - 1
    )
    plan = short.plan(spots)
    assert plan.left_out
    # one ring of the farthest expiry of the last underlying is the first thing to go
    assert plan.left_out == (
        f"MIDCPNIFTY {u.expiries('MIDCPNIFTY')[2]}: strikes beyond ±29 left out "
        f"({need - 1} per connection × 1 connection)",
    )


@pytest.mark.shared_data
def test_a_short_capacity_keeps_the_highest_priority_prefix(shared_data: Path) -> None:
    u = _dump_universe(shared_data)
    spots = _dump_spots()
    planner = SubscriptionPlanner(
        u, NSE_UNDERLYINGS, expiries=3, strikes=40, connections=2, per_connection=300
    )
    plan = planner.plan(spots)
    _check_shape(plan, 300, 2)
    assert 600 - len(plan) < 4  # full up to less than one ring (4 legs)
    widths = {n: _widths(u, plan, n, spots[n], 3, 40) for n in NSE_UNDERLYINGS}
    # ring by ring: windows differ by at most one strike, nearer expiries and earlier
    # underlyings never narrower than later ones
    order = [widths[n][rank] for rank in range(3) for n in NSE_UNDERLYINGS]
    assert max(order) - min(order) <= 1
    assert order == sorted(order, reverse=True)
    # everything that is not an option strike (spots, indices, nearest futures) is kept
    assert _expected(u, NSE_UNDERLYINGS, spots, 0, 0).items() <= plan.tokens().items()
    cut = min(order)
    assert all(
        f"strikes beyond ±{cut}" in line or f"strikes beyond ±{cut + 1}" in line
        for line in plan.left_out
    )
    assert all(line.endswith("(300 per connection × 2 connections)") for line in plan.left_out)
    assert len(plan.left_out) == sum(1 for n in NSE_UNDERLYINGS for w in widths[n] if w < 40)


def test_when_very_short_stocks_then_futures_then_indices_go_but_never_spots_or_atm() -> None:
    u = _demo().instruments
    names = ("NIFTY", "SENSEX")
    core = len(names) + 2 * 2 * 2  # spots + ATM call/put of 2 expiries each
    n_indices = int((u.kind == Kind.INDEX).sum()) - len(names)
    planner = SubscriptionPlanner(
        u, names, expiries=2, strikes=5, connections=1, per_connection=core + 2 + n_indices
    )
    spots = _demo_spots(planner)
    plan = planner.plan(spots)
    tokens = plan.tokens()
    assert len(tokens) == core + 2 + n_indices
    assert {int(t) for t in u.instrument_token[u.kind == Kind.INDEX]} <= tokens.keys()
    assert not any(u.kind[u.row_of(t)] == Kind.EQUITY for t in tokens)
    for name in names:
        assert _widths(u, plan, name, spots[name], 2, 5) == [0, 0]
    text = "\n".join(plan.left_out)
    n_stocks = int((u.kind == Kind.EQUITY).sum())
    assert f"breadth: the {n_stocks} constituent stocks left out" in text
    nifty_futures = sorted(u.expiry[(u.kind == Kind.FUTURE) & (np.array(u.name) == "NIFTY")])
    assert f"NIFTY future {nifty_futures[1]} left out" in text
    assert f"NIFTY future {nifty_futures[0]} left out" not in text
    assert "only the ATM strike kept, ±5 wanted (" in text
    # the ATM rows of every expiry stay, in full for the nearest and quote for the next
    atm0 = _window(u, "NIFTY", 0, spots["NIFTY"], 0)
    atm1 = _window(u, "NIFTY", 1, spots["NIFTY"], 0)
    assert {tokens[t] for t in atm0} == {"full"} and {tokens[t] for t in atm1} == {"quote"}

    with pytest.raises(ValueError, match="cannot hold even the spots and ATM strikes"):
        SubscriptionPlanner(
            u, names, expiries=2, strikes=5, connections=1, per_connection=core - 1
        ).plan(spots)


def test_stocks_that_do_not_fit_give_their_room_to_option_strikes() -> None:
    u = _demo().instruments
    names = ("NIFTY", "SENSEX")
    planner = SubscriptionPlanner(u, names, expiries=2, strikes=5, connections=1, per_connection=60)
    spots = _demo_spots(planner)
    non_options = _expected(u, names, spots, 0, 0)
    stocks = {int(t) for t in u.instrument_token[u.kind == Kind.EQUITY]}
    assert len(non_options) + 2 * 2 * 2 + len(stocks) > 60  # the stocks cannot fit
    plan = planner.plan(spots)
    tokens = plan.tokens()
    assert not stocks & tokens.keys()
    assert (non_options.keys() - stocks) <= tokens.keys()
    assert 60 - len(tokens) < 4  # the option rings filled the room
    widths = [w for n in names for w in _widths(u, plan, n, spots[n], 2, 5)]
    assert min(widths) >= 1 and max(widths) - min(widths) <= 1
    assert any(line.startswith("breadth: the ") for line in plan.left_out)


def test_an_underlying_without_options_is_refused() -> None:
    u = _demo().instruments
    with pytest.raises(ValueError, match="NIFTYNXT50: the instruments list has no options"):
        SubscriptionPlanner(u, ("NIFTY", "NIFTYNXT50"), expiries=1, strikes=1)


# -- re-centring -------------------------------------------------------------------------------
def test_a_recentre_keeps_every_token_on_its_connection_and_diffs_to_the_new_plan() -> None:
    u = _demo().instruments
    planner = SubscriptionPlanner(u, UNDERLYINGS, expiries=2, strikes=20, per_connection=1000)
    spots = _demo_spots(planner)
    old = planner.plan(spots)
    strikes = u.chain("NIFTY", u.expiries("NIFTY")[0]).strikes
    atm = _atm(strikes, spots["NIFTY"])
    moved = dict(spots, NIFTY=float(strikes[atm + 6]))
    assert planner.needs_recentre(old, moved)
    new = planner.plan(moved)
    _check_shape(new, 1000, 3)
    assert new.tokens() == _expected(u, UNDERLYINGS, moved, 2, 20)
    on_old = {t: i for i, c in enumerate(old.connections) for t in c}
    on_new = {t: i for i, c in enumerate(new.connections) for t in c}
    assert all(on_new[t] == on_old[t] for t in on_old.keys() & on_new.keys())

    changes = diff(old, new)
    assert [c.connection for c in changes] == [0, 1, 2]
    assert _apply(old, changes) == [dict(c) for c in new.connections]
    subscribed = {t for c in changes for ts in c.subscribe.values() for t in ts}
    unsubscribed = {t for c in changes for t in c.unsubscribe}
    assert subscribed == new.tokens().keys() - old.tokens().keys()
    assert unsubscribed == old.tokens().keys() - new.tokens().keys()
    assert len(subscribed) == len(unsubscribed) == 2 * 6 * 2  # six strikes in, six out, 2 expiries
    # strikes that crossed into ±10 of the new ATM go to full, those that left it to quote
    changed = {t: m for c in changes for m, ts in c.mode_changes.items() for t in ts}
    assert changed and set(changed.values()) == {"full", "quote"}
    assert all(new.tokens()[t] == m != old.tokens()[t] for t, m in changed.items())
    assert not planner.needs_recentre(new, moved)

    # planning the same spots again changes nothing at all
    assert all(c.empty for c in diff(new, planner.plan(moved)))


def test_diff_from_nothing_subscribes_everything_by_mode() -> None:
    u = _demo().instruments
    planner = SubscriptionPlanner(u, ("NIFTY",), expiries=1, strikes=3)
    plan = planner.plan(_demo_spots(planner))
    changes = diff(None, plan)
    for change, held in zip(changes, plan.connections, strict=True):
        assert change.unsubscribe == [] and change.mode_changes == {}
        assert {t: m for m, ts in change.subscribe.items() for t in ts} == dict(held)


@pytest.mark.parametrize(("strikes", "threshold"), [(20, 5), (8, 2), (3, 1), (0, 1)])
def test_recentre_waits_for_a_move_of_strikes_over_four(strikes: int, threshold: int) -> None:
    u = _demo().instruments
    planner = SubscriptionPlanner(u, ("NIFTY",), expiries=1, strikes=strikes)
    chain = u.chain("NIFTY", u.expiries("NIFTY")[0]).strikes
    centre_i = len(chain) // 2
    plan = planner.plan({"NIFTY": float(chain[centre_i])})
    step = float(chain[centre_i + 1] - chain[centre_i])
    assert planner.recentre_after == threshold
    # hovering around the boundary to the next strike never re-plans (unless one strike is
    # the threshold)
    for wobble in (-0.3, -0.01, 0.01, 0.3):
        boundary = float(chain[centre_i]) + step / 2 + wobble * step / 2
        assert planner.needs_recentre(plan, {"NIFTY": boundary}) == (threshold == 1 and wobble > 0)
    assert not planner.needs_recentre(plan, {"NIFTY": float(chain[centre_i + threshold - 1])})
    assert planner.needs_recentre(plan, {"NIFTY": float(chain[centre_i + threshold])})
    assert planner.needs_recentre(plan, {"NIFTY": float(chain[centre_i - threshold])})
    assert not planner.needs_recentre(plan, {"NIFTY": float(chain[centre_i - threshold + 1])})


# -- properties --------------------------------------------------------------------------------
# A chain listing fewer strikes than asked (the demo lists ±20 beyond the 2 nearest expiries)
# is complete at its edge while others are cut by capacity: found by CI, kept as examples.
@example(moves=[0] * 4, second=[0] * 4, connections=2, per_connection=549, expiries=3, strikes=22)
@example(moves=[0] * 4, second=[0] * 4, connections=2, per_connection=547, expiries=3, strikes=22)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    moves=st.lists(st.integers(-30, 30), min_size=4, max_size=4),
    second=st.lists(st.integers(-30, 30), min_size=4, max_size=4),
    connections=st.integers(1, 3),
    per_connection=st.integers(70, 700),
    expiries=st.integers(1, 4),
    strikes=st.integers(0, 40),
)
def test_any_plan_fits_keeps_its_priorities_and_replans_in_place(
    moves: list[int],
    second: list[int],
    connections: int,
    per_connection: int,
    expiries: int,
    strikes: int,
) -> None:
    u = _demo().instruments
    names = ("NIFTY", "BANKNIFTY", "FINNIFTY", "SENSEX")
    planner = SubscriptionPlanner(
        u,
        names,
        expiries=expiries,
        strikes=strikes,
        connections=connections,
        per_connection=per_connection,
    )

    def spots_after(offsets: list[int]) -> dict[str, float]:
        out = {}
        for name, k in zip(names, offsets, strict=True):
            strikes_ = u.chain(name, u.expiries(name)[0]).strikes
            out[name] = float(strikes_[len(strikes_) // 2 + k]) + 0.2
        return out

    for offsets in (moves, second):
        spots = spots_after(offsets)
        wanted = _expected(u, names, spots, expiries, strikes)
        try:
            plan = planner.plan(spots)
        except ValueError:
            core = len(names) + 2 * sum(min(expiries, len(u.expiries(n))) for n in names)
            assert core > connections * per_connection
            return
        _check_shape(plan, per_connection, connections)
        assert plan.tokens().items() <= wanted.items()  # never a token or mode not wanted
        assert bool(plan.left_out) == (len(wanted) > connections * per_connection)
        if any("strikes beyond" in s or "only the ATM" in s for s in plan.left_out):
            widths = {n: _widths(u, plan, n, spots[n], expiries, strikes) for n in names}
            # A chain that lists fewer strikes than asked is complete at its edge; the rest
            # were cut by capacity, ring by ring, nearer expiries first: within one ring.
            edge = {
                (n, r): max(_window(u, n, r, spots[n], strikes).values())
                for n in names
                for r in range(len(widths[n]))
            }
            order = [
                widths[n][r]
                for r in range(expiries)
                for n in names
                if r < len(widths[n]) and widths[n][r] < edge[(n, r)]
            ]
            if order:
                assert max(order) - min(order) <= 1
                assert order == sorted(order, reverse=True)
            # full but for less than one ring (4 legs), even when the stocks did not fit
            assert connections * per_connection - len(plan) < 4
        if offsets is moves:
            first = plan
    on_first = {t: i for i, c in enumerate(first.connections) for t in c}
    on_second = {t: i for i, c in enumerate(plan.connections) for t in c}
    assert all(on_second[t] == on_first[t] for t in on_first.keys() & on_second.keys())
    assert _apply(first, diff(first, plan)) == [dict(c) for c in plan.connections]
