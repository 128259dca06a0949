"""The option chain: built from the demo market's own Kite frames, checked against the
simulator's truth (its smile, its forward, its previous-day OI) and against brute force."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import date, datetime
from datetime import time as dtime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optui.analytics.chain import (
    MIN_HISTORY_DAYS,
    NSE_RATE,
    ChainSide,
    OptionChain,
    build_chain,
    build_chains,
    iv_at_delta,
    iv_percentile_rank,
    max_pain,
    pcr,
)
from optui.analytics.greeks import black76_price
from optui.feed.calendar import IST, epoch_at
from optui.feed.codec import MODE_FULL, MODE_LTP, MODE_QUOTE, decode, encode
from optui.feed.simulator import DemoMarket, _smile
from optui.feed.state import MarketSnapshot, MarketState
from optui.feed.universe import Kind, Universe

# A Thursday: NIFTY's nearest weekly is four days out, SENSEX's expires today.
SESSION = date(2026, 11, 19)
START = epoch_at(SESSION, dtime(11, 0))
UNDERLYINGS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "SENSEX")


@dataclass(frozen=True)
class Demo:
    market: DemoMarket
    frames: list[bytes]
    snapshot: MarketSnapshot
    now: float

    @property
    def universe(self) -> Universe:
        return self.market.instruments


def state_of(frames: list[bytes], received: float, drop: Collection[int] = ()) -> MarketSnapshot:
    """The market state after `frames`, less the packets of the tokens in `drop`."""
    state = MarketState()
    for frame in frames:
        ticks = decode(frame)
        if drop:
            ticks = ticks[~np.isin(ticks["instrument_token"], list(drop))]
        state.update(ticks, received)
    return state.snapshot()


def run_demo(seconds: int = 3, instruments: int | None = None) -> Demo:
    """The demo market from 11:00 IST for a few tick rounds, decoded into a market state."""
    market = DemoMarket(7, SESSION, start=START, instruments=instruments)
    frames = market.advance_to(START + seconds)
    now = market.state_time
    assert now == START + seconds
    return Demo(market, frames, state_of(frames, now), now)


@pytest.fixture(scope="module")
def demo() -> Demo:
    return run_demo()


def chain_of(demo: Demo, name: str = "NIFTY", nth: int = 0, **options: object) -> OptionChain:
    expiry = demo.universe.expiries(name)[nth]
    return build_chain(demo.universe, demo.snapshot, name, expiry, now=demo.now, **options)  # type: ignore[arg-type]


def snapshot_field(snapshot: MarketSnapshot, tokens: np.ndarray, name: str) -> np.ndarray:
    rows = snapshot.rows(np.where(tokens >= 0, tokens, 0))
    values = np.asarray(snapshot.ticks[name][np.maximum(rows, 0)], dtype=np.float64)
    return np.where((rows >= 0) & (tokens >= 0), values, np.nan)


def last_price(snapshot: MarketSnapshot, token: int) -> float:
    row = snapshot.row(token)
    assert row is not None
    return float(snapshot.ticks["last_price"][row])


# -- against the simulator's truth ------------------------------------------------------------
def test_ivs_recover_the_simulators_smile(demo: Demo) -> None:
    """Every option that traded in the last round and has time value gives back the smile vol
    the simulator priced it at, within what the tick rounding and the forward allow."""
    market, checked = demo.market, 0
    vix = market.spot("INDIA VIX", demo.now)
    for name in UNDERLYINGS:
        for expiry in demo.universe.expiries(name):
            chain = build_chain(demo.universe, demo.snapshot, name, expiry, now=demo.now)
            assert chain.forward is not None
            forward = market.forward(name, expiry, demo.now)
            n = len(chain.strikes)
            truth = _smile(
                vix,
                np.full(n, market.model.iv_multiplier[name]),
                chain.strikes,
                np.full(n, forward),
                np.full(n, market.time_to_expiry(expiry, demo.now)),
                market.model,
            )
            for side in (chain.calls, chain.puts):
                traded = snapshot_field(demo.snapshot, side.tokens, "last_trade_time") == demo.now
                tick = 0.05
                usable = (
                    traded
                    & (side.price >= 20 * tick)  # the simulator floors prices at one tick
                    & (np.abs(side.delta) > 0.05)
                    & (np.abs(side.delta) < 0.95)
                )
                # A price is the fair value rounded to the tick, and our forward differs from
                # the simulator's by |dF|: the IV may differ by that much price over vega.
                slack = (tick / 2 + abs(chain.forward - forward) * np.abs(side.delta)) / (
                    side.vega * 100.0
                )
                error = np.abs(side.iv - truth)
                assert np.all(error[usable] <= 1.5 * slack[usable] + 1e-9), (name, expiry)
                checked += int(usable.sum())
    assert checked > 500


def test_parity_forward_is_the_simulators_and_atm_is_the_strike_nearest_it(demo: Demo) -> None:
    for name in UNDERLYINGS:
        for nth, expiry in enumerate(demo.universe.expiries(name)):
            chain = chain_of(demo, name, nth)
            truth = demo.market.forward(name, expiry, demo.now)
            assert chain.forward_source == "parity"
            assert chain.forward is not None and chain.atm_strike is not None
            # The liquid strikes of nearest expiries trade about every second; elsewhere a last
            # price can be up to a minute old (the warm-up before 11:00 runs in minute steps).
            tolerance = 1e-4 if nth == 0 else 5e-4
            assert abs(chain.forward / truth - 1.0) < tolerance, (name, expiry)
            distance = np.abs(chain.strikes - chain.forward)
            assert chain.atm_strike == chain.strikes[chain.atm_row]
            assert distance[chain.atm_row] == distance.min()
            assert distance[: chain.atm_row].min(initial=np.inf) > distance.min()  # lower on ties
            step = float(np.min(np.diff(chain.strikes)))
            assert abs(chain.atm_strike - truth) <= step / 2 + abs(chain.forward - truth)


def test_atm_iv_and_skew_follow_the_demo_smile(demo: Demo) -> None:
    chain = chain_of(demo)
    assert chain.atm_iv is not None and chain.rr25 is not None
    row = chain.atm_row
    assert chain.atm_iv == pytest.approx((chain.calls.iv[row] + chain.puts.iv[row]) / 2)
    vix = demo.market.spot("INDIA VIX", demo.now) / 100.0
    assert abs(chain.atm_iv - vix) < 0.01  # the smile's ATM level is VIX (x1.0 for NIFTY)
    # The demo's smile is skewed (-0.45 per unit log-moneyness): puts are richer.
    assert -0.06 < chain.rr25 < -0.005
    # By hand: the 25-delta call lies between the two calls whose deltas bracket 0.25.
    delta, iv = chain.calls.delta, chain.calls.iv
    above = np.flatnonzero(delta >= 0.25).max()
    assert delta[above + 1] < 0.25
    w = (0.25 - delta[above]) / (delta[above + 1] - delta[above])
    call_25 = iv[above] + w * (iv[above + 1] - iv[above])
    put_25 = iv_at_delta(chain.puts.delta, chain.puts.iv, -0.25, row)
    assert put_25 is not None
    assert chain.rr25 == pytest.approx(call_25 - put_25)


def test_change_in_oi_is_oi_minus_the_previous_close_oi(demo: Demo) -> None:
    tokens, close_oi = demo.market.previous_close_oi()
    previous = dict(zip(tokens.tolist(), close_oi.tolist(), strict=True))
    chain = chain_of(demo, previous_oi=previous)
    for side in (chain.calls, chain.puts):
        listed = side.tokens >= 0
        expected = snapshot_field(demo.snapshot, side.tokens, "oi") - np.array(
            [previous.get(t, np.nan) for t in side.tokens.tolist()]
        )
        np.testing.assert_array_equal(side.oi_change, expected)
        assert np.isfinite(side.oi_change[listed]).all()
        assert (side.oi_change[listed] != 0).any()  # OI has moved since the open
    # Without the previous day's OI there is no change, rather than a change of OI itself.
    assert np.isnan(chain_of(demo).calls.oi_change).all()
    # A token the mapping lacks (a contract new today) gets NaN, the others their change.
    newcomer = int(chain.calls.tokens[chain.atm_row])
    partial = {t: v for t, v in previous.items() if t != newcomer}
    again = chain_of(demo, previous_oi=partial)
    assert math.isnan(again.calls.oi_change[again.atm_row])
    assert np.isfinite(again.puts.oi_change[again.atm_row])


def test_pcr_and_max_pain_match_brute_force(demo: Demo) -> None:
    for name in UNDERLYINGS:
        chain = chain_of(demo, name)
        call_oi, put_oi = chain.calls.oi, chain.puts.oi
        assert chain.pcr_oi == pytest.approx(np.nansum(put_oi) / np.nansum(call_oi), rel=1e-15)
        assert chain.pcr_volume == pytest.approx(
            np.nansum(chain.puts.volume) / np.nansum(chain.calls.volume), rel=1e-15
        )
        assert chain.max_pain == brute_force_max_pain(
            chain.strikes.tolist(),
            np.nan_to_num(call_oi).astype(int).tolist(),
            np.nan_to_num(put_oi).astype(int).tolist(),
        )


# -- max pain and PCR on their own -----------------------------------------------------------
def brute_force_max_pain(strikes: list[float], call_oi: list[int], put_oi: list[int]) -> float:
    """O(n^2), exact in integers: the payout at every strike, the lowest strike of the least."""
    best: tuple[float, float] | None = None
    for s in sorted(strikes):
        paid = sum(
            c * max(s - k, 0) + p * max(k - s, 0)
            for k, c, p in zip(strikes, call_oi, put_oi, strict=True)
        )
        if best is None or paid < best[0]:
            best = (paid, s)
    assert best is not None
    return best[1]


@st.composite
def open_interest(draw: st.DrawFn) -> tuple[list[float], list[int], list[int]]:
    n = draw(st.integers(1, 40))
    strikes = draw(st.lists(st.integers(1, 2_000), min_size=n, max_size=n, unique=True))
    # Small OI values make exact ties (the lower-strike rule) common.
    oi = st.lists(st.one_of(st.integers(0, 3), st.integers(0, 10**7)), min_size=n, max_size=n)
    return [50.0 * k for k in strikes], draw(oi), draw(oi)


@given(open_interest())
def test_max_pain_equals_the_brute_force_reference(data: tuple[list[float], ...]) -> None:
    strikes, call_oi, put_oi = data
    assert max_pain(strikes, call_oi, put_oi) == brute_force_max_pain(*data)  # type: ignore[arg-type]


def test_max_pain_ties_nan_and_bad_input() -> None:
    # Payout 0 everywhere: every strike ties, the lowest wins.
    assert max_pain([300.0, 100.0, 200.0], [0, 0, 0], [0, 0, 0]) == 100.0
    # Symmetric book: 100 and 200 both pay 10; the lower is max pain.
    assert max_pain([100.0, 200.0], [0, 10], [10, 0]) == 100.0
    # A leg that has not ticked (NaN) counts as no open interest.
    assert max_pain([100.0, 200.0, 300.0], [np.nan, 5, 0], [0, 5, np.nan]) == 200.0
    with pytest.raises(ValueError, match="one length"):
        max_pain([100.0, 200.0], [1], [1, 2])
    with pytest.raises(ValueError, match="at least one strike"):
        max_pain([], [], [])
    with pytest.raises(ValueError, match="negative"):
        max_pain([100.0], [-1], [0])


def test_pcr() -> None:
    assert pcr(150.0, 100.0) == 1.5
    assert pcr(0.0, 100.0) == 0.0
    assert pcr(150.0, 0.0) is None
    assert pcr(150.0, math.nan) is None


# -- prices, missing data, models ------------------------------------------------------------
def test_average_basis_shows_the_vwap_and_solves_on_it(demo: Demo) -> None:
    last = chain_of(demo)
    average = chain_of(demo, basis="average")
    assert average.basis == "average"
    for was, now in ((last.calls, average.calls), (last.puts, average.puts)):
        vwap = snapshot_field(demo.snapshot, now.tokens, "average_traded_price")
        np.testing.assert_array_equal(now.price, np.where(vwap > 0, vwap, was.price))
        np.testing.assert_array_equal(
            was.price, snapshot_field(demo.snapshot, now.tokens, "last_price")
        )
        assert (now.price != was.price).sum() > len(now.price) // 2
        # Change stays last minus the previous close, whatever is shown.
        np.testing.assert_array_equal(now.change, was.change)
        solved = np.isfinite(now.iv) & np.isfinite(was.iv) & (now.price != was.price)
        assert solved.any() and (now.iv[solved] != was.iv[solved]).all()


def test_missing_legs_are_nan_with_token_minus_one() -> None:
    demo = run_demo(seconds=1, instruments=1005)  # trimming leaves one wing's call unlisted
    gaps = [
        key
        for key, chain in demo.universe.chains.items()
        if (chain.calls < 0).any() or (chain.puts < 0).any()
    ]
    assert gaps, "the trimmed universe should leave a strike with one leg"
    for name, expiry in gaps:
        chain = build_chain(demo.universe, demo.snapshot, name, expiry, now=demo.now)
        for side in (chain.calls, chain.puts):
            absent = side.tokens < 0
            for field in (
                "price",
                "change",
                "oi",
                "volume",
                "iv",
                "delta",
                "gamma",
                "theta",
                "vega",
            ):
                values = getattr(side, field)
                assert np.isnan(values[absent]).all(), field
            assert np.isfinite(side.price[~absent]).all()


def test_instruments_that_have_not_ticked_are_nan_not_zero(demo: Demo) -> None:
    expiry = demo.universe.expiries("NIFTY")[0]
    whole = chain_of(demo)
    silent = {int(whole.calls.tokens[whole.atm_row + 2]), int(whole.puts.tokens[whole.atm_row - 3])}
    snapshot = state_of(demo.frames, demo.now, drop=silent)
    chain = build_chain(demo.universe, snapshot, "NIFTY", expiry, now=demo.now)
    for side in (chain.calls, chain.puts):
        quiet = np.isin(side.tokens, list(silent))
        assert quiet.sum() == 1
        for field in ("price", "change", "oi", "volume", "iv", "delta", "gamma", "theta", "vega"):
            assert np.isnan(getattr(side, field)[quiet]).all(), field
            assert np.isfinite(getattr(side, field)[chain.atm_row])
    # Totals skip what is unknown.
    assert chain.pcr_oi is not None and chain.pcr_oi != whole.pcr_oi

    # Before anything ticks: no prices, no forward, no ATM, no figures, no data age.
    empty = build_chain(demo.universe, MarketState().snapshot(), "NIFTY", expiry, now=demo.now)
    assert np.isnan(empty.calls.price).all() and np.isnan(empty.puts.oi).all()
    assert (empty.spot, empty.forward, empty.forward_source) == (None, None, "none")
    assert (empty.atm_row, empty.atm_strike, empty.atm_iv, empty.rr25) == (-1, None, None, None)
    assert (empty.pcr_oi, empty.pcr_volume, empty.max_pain, empty.updated) == (None,) * 4
    assert empty.days_to_expiry == whole.days_to_expiry


def test_quote_packets_carry_no_oi_and_ltp_packets_no_volume(demo: Demo) -> None:
    whole = chain_of(demo)
    i = whole.atm_row
    call, put = int(whole.calls.tokens[i]), int(whole.puts.tokens[i])
    rows = [demo.snapshot.row(call), demo.snapshot.row(put)]
    assert None not in rows
    ticks = demo.snapshot.ticks[np.array(rows)].copy()
    assert (ticks["mode"] == MODE_FULL).all()
    ticks["mode"] = [MODE_QUOTE, MODE_LTP]
    state = MarketState()
    for frame in demo.frames:
        state.update(decode(frame), demo.now)
    state.update(decode(encode(ticks)), demo.now + 0.5)
    chain = build_chain(demo.universe, state.snapshot(), "NIFTY", whole.expiry, now=demo.now)
    # A quote packet has volume and prices but no OI.
    assert math.isnan(chain.calls.oi[i]) and math.isnan(chain.calls.oi_change[i])
    assert chain.calls.volume[i] == whole.calls.volume[i]
    assert chain.calls.price[i] == whole.calls.price[i]
    assert chain.calls.change[i] == whole.calls.change[i]
    # An LTP packet has the last price only: no OI, volume, VWAP or previous close.
    assert chain.puts.price[i] == whole.puts.price[i]
    assert np.isnan([chain.puts.oi[i], chain.puts.volume[i], chain.puts.change[i]]).all()
    average = build_chain(
        demo.universe, state.snapshot(), "NIFTY", whole.expiry, now=demo.now, basis="average"
    )
    assert average.puts.price[i] == whole.puts.price[i]  # no VWAP: the last price is shown


def test_forward_falls_back_to_the_future_then_to_spot(demo: Demo) -> None:
    u = demo.universe
    futures = [i for i in range(len(u)) if u.kind[i] == Kind.FUTURE and u.name[i] == "NIFTY"]
    with_future = [
        e for e in u.expiries("NIFTY") if any(u.expiry[i] == np.datetime64(e) for i in futures)
    ]
    weekly = next(e for e in u.expiries("NIFTY") if e not in with_future)
    options = [int(u.instrument_token[i]) for i in range(len(u)) if u.kind[i] >= Kind.CALL]
    snapshot = state_of(demo.frames, demo.now, drop=options)
    monthly = build_chain(u, snapshot, "NIFTY", with_future[0], now=demo.now)
    future_row = next(i for i in futures if u.expiry[i] == np.datetime64(with_future[0]))
    future_price = last_price(snapshot, int(u.instrument_token[future_row]))
    assert (monthly.forward_source, monthly.forward) == ("future", future_price)
    assert np.isnan(monthly.calls.iv).all()  # no option has ticked
    by_spot = build_chain(u, snapshot, "NIFTY", weekly, now=demo.now)
    spot_price = last_price(snapshot, int(u.instrument_token[u.underlying[future_row]]))
    assert by_spot.forward_source == "spot"
    assert by_spot.forward == by_spot.spot == spot_price
    assert by_spot.atm_strike == by_spot.strikes[np.argmin(np.abs(by_spot.strikes - spot_price))]


def test_nse_model_is_black_scholes_on_spot_at_ten_percent(demo: Demo) -> None:
    b76 = chain_of(demo, rate=0.065)
    nse = chain_of(demo, model="nse-black-scholes", rate=0.065)
    assert nse.model == "nse-black-scholes" and nse.spot is not None
    t = nse.days_to_expiry / 365.0
    for side, is_call in ((nse.calls, True), (nse.puts, False)):
        ok = np.isfinite(side.iv)
        assert ok.sum() > len(side.iv) // 2
        # Black-Scholes on spot S at r is Black-76 on S e^{rt}, discounted at r.
        forward = nse.spot * math.exp(NSE_RATE * t)
        repriced = black76_price(forward, nse.strikes[ok], t, side.iv[ok], NSE_RATE, is_call)
        np.testing.assert_allclose(repriced, side.price[ok], rtol=0, atol=1e-7)
        # Spot delta of a call is N(d1) in (0, 1): no discount factor as in Black-76.
        assert np.all((side.delta[ok] > 0) if is_call else (side.delta[ok] < 0))
    # The NSE convention reads a different (higher: 10 % carry on spot vs the demo's 6 %)
    # forward, so its call IVs sit below Black-76's at the money.
    row = b76.atm_row
    assert nse.calls.iv[row] < b76.calls.iv[row]
    assert nse.forward == b76.forward and nse.atm_row == b76.atm_row


def test_expiry_clock_and_data_age(demo: Demo) -> None:
    chain = chain_of(demo)
    close = datetime.combine(chain.expiry, dtime(15, 30), IST).timestamp()
    assert chain.days_to_expiry == pytest.approx((close - demo.now) / 86_400, rel=1e-12)
    assert chain.hours_to_expiry == pytest.approx((close - demo.now) / 3_600, rel=1e-12)
    early = chain_of(demo, expiry_time="15:00")
    assert chain.hours_to_expiry - early.hours_to_expiry == pytest.approx(0.5, rel=1e-9)
    assert chain.updated == demo.now  # the last round's exchange timestamp
    expiring = chain_of(demo, "SENSEX")  # SENSEX expires today at 15:30
    assert expiring.days_to_expiry < 1.0
    after = build_chain(
        demo.universe,
        demo.snapshot,
        "SENSEX",
        expiring.expiry,
        now=epoch_at(SESSION, dtime(15, 31)),
    )
    assert after.days_to_expiry == 0.0 and np.isnan(after.calls.iv).all()


def test_iv_percentile_and_rank() -> None:
    history = [0.10 + 0.001 * i for i in range(MIN_HISTORY_DAYS)]  # 0.100 .. 0.119
    assert iv_percentile_rank(0.11, history[:-1]) == (None, None)  # too few days
    assert iv_percentile_rank(None, history) == (None, None)
    percentile, rank = iv_percentile_rank(0.1105, history)
    assert percentile == 11 / 20
    assert rank == pytest.approx(0.0105 / 0.019)
    assert iv_percentile_rank(0.2, history) == (1.0, 1.0)
    assert iv_percentile_rank(0.05, history) == (0.0, 0.0)
    assert iv_percentile_rank(0.1, [0.1] * 25) == (0.0, None)  # no range to rank in
    # NaN days (no close recorded) do not count towards the twenty.
    assert iv_percentile_rank(0.11, [*history[:-1], math.nan]) == (None, None)


def test_chain_takes_iv_history_for_percentile_and_rank(demo: Demo) -> None:
    chain = chain_of(demo)
    assert (chain.iv_percentile, chain.iv_rank) == (None, None)
    assert chain.atm_iv is not None
    history = [chain.atm_iv * f for f in np.linspace(0.8, 1.2, 30)]
    ranked = chain_of(demo, atm_iv_history=history)
    assert (ranked.iv_percentile, ranked.iv_rank) == iv_percentile_rank(chain.atm_iv, history)
    assert ranked.iv_percentile == pytest.approx(0.5, abs=0.04)


def test_iv_at_delta() -> None:
    delta = np.array([0.9, 0.6, 0.3, 0.2, 0.1])
    iv = np.array([0.20, 0.18, 0.16, 0.17, 0.19])
    assert iv_at_delta(delta, iv, 0.25) == pytest.approx(0.165)
    assert iv_at_delta(delta, iv, 0.3) == pytest.approx(0.16)
    assert iv_at_delta(delta, iv, 0.05) is None  # not bracketed
    assert iv_at_delta([0.3, np.nan, 0.2], [0.16, 0.5, 0.18], 0.25) == pytest.approx(0.17)
    # Noisy deltas cross 0.25 twice: the crossing nearest the ATM row wins.
    noisy = np.array([0.6, 0.3, 0.2, 0.3, 0.2])
    vols = np.array([0.2, 0.1, 0.3, 0.5, 0.7])
    assert iv_at_delta(noisy, vols, 0.25, near=0) == pytest.approx(0.2)
    assert iv_at_delta(noisy, vols, 0.25, near=4) == pytest.approx(0.6)


def assert_same_chain(a: OptionChain, b: OptionChain) -> None:
    for field in fields(OptionChain):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, ChainSide):
            for part in fields(ChainSide):
                np.testing.assert_array_equal(getattr(x, part.name), getattr(y, part.name))
        elif isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y, field.name


def test_build_chains_gives_what_build_chain_gives(demo: Demo) -> None:
    u = demo.universe
    keys = [(name, u.expiries(name)[0]) for name in UNDERLYINGS] + [
        ("NIFTY", u.expiries("NIFTY")[1])
    ]
    tokens, close_oi = demo.market.previous_close_oi()
    previous = dict(zip(tokens.tolist(), close_oi.tolist(), strict=True))
    together = build_chains(
        u, demo.snapshot, keys, now=demo.now, previous_oi=previous, basis="average"
    )
    for (name, expiry), chain in zip(keys, together, strict=True):
        alone = build_chain(
            u, demo.snapshot, name, expiry, now=demo.now, previous_oi=previous, basis="average"
        )
        assert (chain.underlying, chain.expiry) == (name, expiry)
        assert_same_chain(chain, alone)


def test_bad_requests_say_what_is_wrong(demo: Demo) -> None:
    with pytest.raises(
        ValueError, match=r"no options expiring 2026-11-20.*listed expiries: 2026-11-23"
    ):
        build_chain(demo.universe, demo.snapshot, "NIFTY", date(2026, 11, 20), now=demo.now)
    with pytest.raises(ValueError, match="pricing model 'bs'"):
        chain_of(demo, model="bs")
    with pytest.raises(ValueError, match="price basis 'mid'"):
        chain_of(demo, basis="mid")
