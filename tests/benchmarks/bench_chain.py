"""Benchmark: recomputing every option chain on screen from a 9,000-instrument market.

The market is the demo's at 9,000 instruments (three full Kite connections) at 11:00 IST,
decoded from its own Kite frames into a `MarketState`. What a screen shows is taken to be six
chains: the nearest-expiry chain of each of the five underlyings (the summary every screen
carries: ATM IV, PCR, max pain) and the chain being read, here NIFTY's next expiry (the worst
case: it is not one of the five). At 9,000 instruments each holds about 300 strikes, so a
redraw prices about 3,600 options: price, change, OI and its change, volume, IV and four
greeks per option, and the chain-wide figures.

Timed over many redraws, in CPU time of this process (what a redraw costs, whatever else the
machine runs; the wall-clock medians are printed too), median and minimum:

- `snapshot`: `MarketState.snapshot()` of the whole market, which every redraw takes;
- `build_chains`: the six chains in one call (one IV and one greeks call for all of them);
- `build_chain_each`: the same six chains built one call each;
- `build_chain_one`: NIFTY's nearest chain alone;
- `total`: snapshot plus `build_chains`, whose median is held against the 10 ms budget.

The reference, in the same run, is the obvious implementation: a Python loop over the rows
that builds the same columns and prices each option with py_vollib (`black` implied
volatility, Jäckel's "Let's be rational", and its analytical greeks), given our forward. Its
IVs are compared with ours as a check that both compute the same thing.

    .venv/bin/python tests/benchmarks/bench_chain.py [--instruments 9000] [--repeat 200]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from datetime import date
from datetime import time as dtime
from typing import Any

import numpy as np
from py_lets_be_rational.exceptions import VolatilityValueException
from py_vollib.black.greeks import analytical
from py_vollib.black.implied_volatility import implied_volatility

from optui.analytics.chain import OptionChain, build_chain, build_chains
from optui.feed.calendar import epoch_at
from optui.feed.codec import decode
from optui.feed.simulator import DemoMarket
from optui.feed.state import MarketSnapshot, MarketState
from optui.feed.universe import Universe

SESSION = date(2026, 11, 19)
UNDERLYINGS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "SENSEX")
BUDGET_MS = 10.0


def timed(work: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """(CPU ms, wall ms) of each of `repeat` runs, after two warm-up runs."""
    work()
    work()
    cpu, wall = [], []
    for _ in range(repeat):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        work()
        cpu.append(1e3 * (time.process_time() - start_cpu))
        wall.append(1e3 * (time.perf_counter() - start_wall))
    return cpu, wall


def reference_chain(
    universe: Universe,
    snapshot: MarketSnapshot,
    ours: OptionChain,
    previous_oi: Mapping[int, int],
    now_t: float,
) -> list[dict[str, float]]:
    """The chain's rows the obvious way: per strike, per leg, py_vollib per option."""
    row_of = {int(t): i for i, t in enumerate(snapshot.tokens.tolist())}
    chain = universe.chain(ours.underlying, ours.expiry)
    forward = ours.forward if ours.forward is not None else math.nan
    rows = []
    for k, strike in enumerate(chain.strikes.tolist()):
        row: dict[str, float] = {"strike": strike}
        for leg, flag in ((chain.calls[k], "c"), (chain.puts[k], "p")):
            values = dict.fromkeys(
                ("price", "change", "oi", "oi_change", "volume", "iv", "delta", "gamma",
                 "theta", "vega"),
                math.nan,
            )  # fmt: skip
            if leg >= 0:
                token = int(universe.instrument_token[leg])
                at = row_of.get(token)
                if at is not None:
                    tick = snapshot.ticks[at]
                    price = float(tick["last_price"])
                    values["price"] = price
                    close = float(tick["close"])
                    values["change"] = price - close if close > 0 else math.nan
                    values["oi"] = float(tick["oi"])
                    values["oi_change"] = values["oi"] - previous_oi.get(token, math.nan)
                    values["volume"] = float(tick["volume_traded"])
                    try:
                        sigma = implied_volatility(price, forward, strike, 0.0, now_t, flag)
                    except VolatilityValueException:
                        sigma = math.nan
                    if math.isfinite(sigma) and sigma > 0:
                        values["iv"] = sigma
                        values["delta"] = analytical.delta(flag, forward, strike, now_t, 0.0, sigma)
                        values["gamma"] = analytical.gamma(flag, forward, strike, now_t, 0.0, sigma)
                        values["theta"] = analytical.theta(flag, forward, strike, now_t, 0.0, sigma)
                        values["vega"] = analytical.vega(flag, forward, strike, now_t, 0.0, sigma)
            row.update({f"{flag}_{name}": value for name, value in values.items()})
        rows.append(row)
    return rows


def run(instruments: int, repeat: int, seed: int = 7) -> dict[str, Any]:
    start = epoch_at(SESSION, dtime(11, 0))
    market = DemoMarket(seed, SESSION, start=start, instruments=instruments)
    state = MarketState(market.instruments.instrument_token)
    now = float(start + 3)
    for frame in market.advance_to(now):
        state.update(decode(frame), now)
    universe = market.instruments
    snapshot = state.snapshot()
    tokens, close_oi = market.previous_close_oi()
    previous_oi = dict(zip(tokens.tolist(), close_oi.tolist(), strict=True))
    screen = [(name, universe.expiries(name)[0]) for name in UNDERLYINGS]
    screen.append(("NIFTY", universe.expiries("NIFTY")[1]))

    def together() -> list[OptionChain]:
        return build_chains(universe, snapshot, screen, now=now, previous_oi=previous_oi)

    def each() -> list[OptionChain]:
        return [
            build_chain(universe, snapshot, name, expiry, now=now, previous_oi=previous_oi)
            for name, expiry in screen
        ]

    def redraw() -> list[OptionChain]:
        fresh = state.snapshot()
        return build_chains(universe, fresh, screen, now=now, previous_oi=previous_oi)

    def one() -> OptionChain:
        name, expiry = screen[0]
        return build_chain(universe, snapshot, name, expiry, now=now, previous_oi=previous_oi)

    timings = {
        "snapshot": timed(state.snapshot, repeat),
        "build_chain_one": timed(one, repeat),
        "build_chains": timed(together, repeat),
        "build_chain_each": timed(each, repeat),
        "total": timed(redraw, repeat),
    }
    chains = together()
    years = [c.days_to_expiry / 365.0 for c in chains]
    reference_runs = max(3, repeat // 50)
    reference_ms, _ = timed(
        lambda: [
            reference_chain(universe, snapshot, c, previous_oi, t)
            for c, t in zip(chains, years, strict=True)
        ],
        reference_runs,
    )
    # Both compute the same numbers: IVs agree wherever both found one.
    worst_iv = worst_delta = 0.0
    disagree = 0
    for c, t in zip(chains, years, strict=True):
        rows = reference_chain(universe, snapshot, c, previous_oi, t)
        for side, flag in ((c.calls, "c"), (c.puts, "p")):
            theirs = np.array([r[f"{flag}_iv"] for r in rows])
            both = np.isfinite(theirs) & np.isfinite(side.iv)
            disagree += int((np.isfinite(theirs) != np.isfinite(side.iv)).sum())
            worst_iv = max(worst_iv, float(np.max(np.abs(theirs[both] - side.iv[both]))))
            deltas = np.array([r[f"{flag}_delta"] for r in rows])
            worst_delta = max(worst_delta, float(np.max(np.abs(deltas[both] - side.delta[both]))))

    median = statistics.median
    return {
        "benchmark": "option_chains_on_screen",
        "python": platform.python_version(),
        "instruments": len(universe),
        "chains": [
            {"underlying": c.underlying, "expiry": str(c.expiry), "strikes": len(c.strikes)}
            for c in chains
        ],
        "options": int(sum(2 * len(c.strikes) for c in chains)),
        "cpu_ms_median": {name: round(median(cpu), 3) for name, (cpu, _) in timings.items()},
        "cpu_ms_min": {name: round(min(cpu), 3) for name, (cpu, _) in timings.items()},
        "wall_ms_median": {name: round(median(wall), 3) for name, (_, wall) in timings.items()},
        "budget_ms": BUDGET_MS,
        "within_budget": median(timings["total"][0]) < BUDGET_MS,
        "reference": "Python loop over rows, py_vollib black IV + analytical greeks per option",
        "reference_ms_median": round(median(reference_ms), 1),
        "times_faster_than_reference": round(
            median(reference_ms) / median(timings["build_chains"][0]), 1
        ),
        "check_vs_reference": {
            "max_abs_iv_difference": worst_iv,
            "max_abs_delta_difference": worst_delta,
            "options_with_iv_in_only_one": disagree,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=9000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(args.instruments, args.repeat), indent=2))


if __name__ == "__main__":
    main()
