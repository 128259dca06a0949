"""The price toggle and the premium overlay: last vs average price, and the ATM straddle on both.

Inputs are the demo market's real frames (decoded by the codec, or its tick rows), checked
against brute-force loops that follow the definitions in `optui.analytics.price_toggle`.
"""

from __future__ import annotations

import math
from datetime import date
from datetime import time as dt_time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optui.analytics.price_toggle import (
    NOISE_SCALE_PCT,
    TRACKING_SCALE_PCT,
    ChainLayout,
    StraddleSeries,
    efficiency_score,
    minute_closes,
    pick_price,
    shown_price,
    straddle_overlay,
    summarize,
    summarize_days,
    toggle,
)
from optui.feed.calendar import epoch_at
from optui.feed.codec import MODE_LTP, decode, empty_ticks, encode
from optui.feed.simulator import DemoMarket
from optui.feed.state import MarketState
from optui.feed.universe import Kind, Universe
from optui.settings import PRICE_BASES

SESSION = date(2026, 11, 20)


# -- the toggle --------------------------------------------------------------------------------
def test_toggle_switches_between_the_two_bases_and_rejects_others() -> None:
    assert toggle("last") == "average"
    assert toggle("average") == "last"
    for basis in PRICE_BASES:
        assert toggle(toggle(basis)) == basis
    with pytest.raises(ValueError, match="must be one of last, average"):
        toggle("mid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'mid'"):
        pick_price([1.0], [2.0], "mid")  # type: ignore[arg-type]


def test_average_falls_back_to_last_where_there_is_no_average() -> None:
    last = [100.0, 101.0, 102.0, 103.0]
    avg = [99.5, 0.0, math.nan, -1.0]
    assert pick_price(last, avg, "average").tolist() == [99.5, 101.0, 102.0, 103.0]
    assert pick_price(last, avg, "last").tolist() == last


@pytest.fixture(scope="module")
def demo_snapshot() -> tuple[Universe, MarketState]:
    """Two minutes of the demo market, through the codec into a MarketState."""
    market = DemoMarket(7, SESSION, instruments=700, tick_interval=10.0)
    state = MarketState(market.instruments.instrument_token)
    for i, frame in enumerate(market.advance_to(market.open_epoch + 120)):
        state.update(decode(frame), received=float(i))
    return market.instruments, state


def test_shown_price_on_decoded_frames(demo_snapshot: tuple[Universe, MarketState]) -> None:
    universe, state = demo_snapshot
    snap = state.snapshot()
    rows = snap.rows(universe.instrument_token)
    assert (rows >= 0).all()
    ticks = snap.ticks[rows]
    last = shown_price(ticks, "last")
    average = shown_price(ticks, "average")
    assert np.array_equal(last, ticks["last_price"])
    traded = universe.kind != Kind.INDEX
    # Traded instruments show their VWAP, which differs from the last price somewhere ...
    assert np.array_equal(average[traded], ticks["average_traded_price"][traded])
    assert (average[traded] != last[traded]).mean() > 0.5
    # ... indices carry no average and show their level either way.
    assert (ticks["average_traded_price"][~traded] == 0).all()
    assert np.array_equal(average[~traded], last[~traded])


def test_shown_price_of_ltp_packets_is_the_last_price() -> None:
    ticks = empty_ticks(2)
    ticks["instrument_token"] = [(5 << 8) | 2, (6 << 8) | 2]
    ticks["mode"] = MODE_LTP
    ticks["last_price"] = [12.5, 7.05]
    decoded = decode(encode(ticks))
    assert shown_price(decoded, "average").tolist() == [12.5, 7.05]
    with pytest.raises(ValueError, match="last_price"):
        shown_price(np.zeros(2, dtype=[("close", float)]), "last")


# -- minute closes -------------------------------------------------------------------------------
def _brute_minute_closes(
    time: list[float], token: list[int], value: list[float], tokens: list[int], start: int, n: int
) -> np.ndarray:
    out = np.full((n, len(tokens)), np.nan)
    for m in range(n):
        for j, tok in enumerate(tokens):
            best_bucket, best = -1, math.nan
            for t, k, v in zip(time, token, value, strict=True):
                bucket = max(math.floor((t - start) / 60), 0)
                if k == tok and bucket < n and bucket <= m and bucket >= best_bucket:
                    best_bucket, best = bucket, v
            out[m, j] = best
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-100, 500, allow_nan=False),
            st.sampled_from([1, 2, 3, 9]),
            st.floats(0.05, 1e5, allow_nan=False),
        ),
        max_size=40,
    ),
    st.integers(0, 8),
)
def test_minute_closes_match_the_definition(
    ticks: list[tuple[float, int, float]], minutes: int
) -> None:
    time = [t for t, _, _ in ticks]
    token = [k for _, k, _ in ticks]
    value = [v for _, _, v in ticks]
    wanted = [3, 1, 2, 4]  # unsorted on purpose; 4 never ticks, 9 is not wanted
    (got,) = minute_closes(time, token, [value], wanted, 0, minutes)
    want = _brute_minute_closes(time, token, value, wanted, 0, minutes)
    assert got.shape == (minutes, 4)
    assert np.array_equal(got, want, equal_nan=True)


def test_minute_closes_rejects_ragged_input() -> None:
    with pytest.raises(ValueError, match="one entry per tick"):
        minute_closes([1.0, 2.0], [1, 1], [[1.0]], [1], 0, 1)


# -- the overlay on the demo market ------------------------------------------------------------
def layout_of(universe: Universe, name: str) -> ChainLayout:
    expiry = universe.expiries(name)[0]
    chain = universe.chain(name, expiry)
    listed = chain.calls[chain.calls >= 0]
    token = universe.instrument_token.astype(np.int64)
    return ChainLayout(
        underlying=name,
        expiry=expiry,
        index_token=int(universe.instrument_token[universe.underlying[listed[0]]]),
        strikes=chain.strikes,
        call_tokens=np.where(chain.calls >= 0, token[chain.calls], -1),
        put_tokens=np.where(chain.puts >= 0, token[chain.puts], -1),
    )


@pytest.fixture(scope="module")
def demo_day() -> tuple[DemoMarket, np.ndarray]:
    """Ninety minutes of the demo market as tick rows (every 20 s)."""
    market = DemoMarket(7, SESSION, instruments=700, tick_interval=20.0)
    rounds = market.ticks_to(market.open_epoch + 90 * 60 - 1)
    return market, np.concatenate(rounds)


def _brute_overlay(
    rows: np.ndarray, layout: ChainLayout, start: int, minutes: int, forward: str
) -> dict[str, list[float]]:
    """The overlay's definition, minute by minute, in plain Python."""
    latest: dict[int, tuple[float, float]] = {}
    out: dict[str, list[float]] = {"atm": [], "last": [], "avg": [], "fwd": []}
    i = 0
    times = rows["exchange_timestamp"]
    strikes = layout.strikes.tolist()
    for m in range(minutes):
        close = start + 60 * (m + 1)
        while i < len(rows) and times[i] < close:
            tick = rows[i]
            last, avg = float(tick["last_price"]), float(tick["average_traded_price"])
            latest[int(tick["instrument_token"])] = (
                last if last > 0 else math.nan,
                avg if avg > 0 else math.nan,
            )
            i += 1
        nan = (math.nan, math.nan)
        spot = latest.get(layout.index_token, nan)[0]
        legs = [
            (latest.get(int(c), nan), latest.get(int(p), nan))
            for c, p in zip(layout.call_tokens, layout.put_tokens, strict=True)
        ]
        fwd = spot
        if forward == "parity" and not math.isnan(spot):
            both = [
                (abs(k - spot), k + c[0] - p[0])
                for k, (c, p) in zip(strikes, legs, strict=True)
                if not math.isnan(c[0]) and not math.isnan(p[0])
            ]
            both.sort(key=lambda x: x[0])  # stable: the lower strike first on a tie
            if both:
                fwd = float(np.median([f for _, f in both[:3]]))
        priced = [
            (abs(k - fwd), k, c, p)
            for k, (c, p) in zip(strikes, legs, strict=True)
            if not any(math.isnan(x) for x in (*c, *p))
        ]
        if priced and not math.isnan(fwd):
            _, k, c, p = min(priced, key=lambda x: x[0])
            out["atm"].append(k)
            out["last"].append(c[0] + p[0])
            out["avg"].append(c[1] + p[1])
        else:
            out["atm"].append(math.nan)
            out["last"].append(math.nan)
            out["avg"].append(math.nan)
        out["fwd"].append(fwd)
    return out


@pytest.mark.parametrize("forward", ["spot", "parity"])
@pytest.mark.parametrize("name", ["NIFTY", "BANKNIFTY"])
def test_overlay_matches_a_minute_by_minute_loop(
    demo_day: tuple[DemoMarket, np.ndarray], forward: str, name: str
) -> None:
    market, rows = demo_day
    layout = layout_of(market.instruments, name)
    mine = rows[np.isin(rows["instrument_token"], layout.tokens)]
    start = int(market.open_epoch)
    series = straddle_overlay(
        mine["exchange_timestamp"],
        mine["instrument_token"],
        mine["last_price"],
        mine["average_traded_price"],
        layout,
        SESSION,
        forward=forward,  # type: ignore[arg-type]
        start=start,
        end=start + 90 * 60,
    )
    assert len(series) == 90
    assert series.minute[0] == start and series.minute[-1] == start + 89 * 60
    brute = _brute_overlay(mine, layout, start, 90, forward)
    assert np.allclose(series.forward, brute["fwd"], rtol=0, atol=1e-9)
    assert np.array_equal(series.atm_strike, brute["atm"], equal_nan=True)
    assert np.allclose(series.straddle_last, brute["last"], rtol=0, atol=1e-9, equal_nan=True)
    assert np.allclose(series.straddle_average, brute["avg"], rtol=0, atol=1e-9, equal_nan=True)
    assert np.isfinite(series.straddle_last).all()  # every minute priced in the demo
    assert series.recentred.sum() >= 5  # the index crossed strikes, and the ATM followed
    expected_spread = np.array(brute["last"]) - np.array(brute["avg"])
    assert np.allclose(series.spread, expected_spread, atol=1e-9)
    assert np.allclose(series.spread_pct, 100 * expected_spread / np.array(brute["avg"]))
    # The ATM strike follows the index: it is always the listed strike nearest the forward.
    step = float(np.diff(layout.strikes).min())
    assert (np.abs(series.atm_strike - series.forward) <= step / 2 + 1e-9).all()


def test_parity_forward_sits_near_the_demo_s_own_forward(
    demo_day: tuple[DemoMarket, np.ndarray],
) -> None:
    market, rows = demo_day
    layout = layout_of(market.instruments, "NIFTY")
    mine = rows[np.isin(rows["instrument_token"], layout.tokens)]
    start = int(market.open_epoch)
    series = straddle_overlay(
        mine["exchange_timestamp"],
        mine["instrument_token"],
        mine["last_price"],
        mine["average_traded_price"],
        layout,
        SESSION,
        start=start,
        end=start + 90 * 60,
    )
    # The demo prices options on spot * exp(carry * t); parity at the tick grid recovers it
    # to within a few option ticks, far closer than half a strike.
    at = start + 60 * 45 + 40  # the last tick round of minute 45
    true_forward = market.forward("NIFTY", layout.expiry, at=at)
    assert abs(series.forward[45] - true_forward) < 2.0
    assert abs(series.spot[45] - market.spot("NIFTY 50", at=at)) < 0.05


# -- the overlay on hand-made prices -----------------------------------------------------------
def _hand_layout() -> ChainLayout:
    return ChainLayout(
        underlying="NIFTY",
        expiry=date(2026, 11, 24),
        index_token=9,
        strikes=np.array([100.0, 110.0, 120.0]),
        call_tokens=np.array([11, 21, 31]),
        put_tokens=np.array([12, 22, 32]),
    )


def test_the_atm_strike_re_centres_as_the_index_moves() -> None:
    layout = _hand_layout()
    # Minute 0: index 101 -> ATM 100; minute 1: 114 -> 110; minute 2: 119 -> 120.
    ticks = [
        (0, 9, 101.0, 0.0),
        (1, 11, 5.0, 4.0),
        (1, 12, 4.0, 5.0),
        (1, 21, 2.0, 2.0),
        (1, 22, 10.0, 9.0),
        (1, 31, 1.0, 1.5),
        (1, 32, 20.0, 19.0),
        (61, 9, 114.0, 0.0),
        (125, 9, 119.0, 0.0),
        (126, 31, 3.0, 2.0),
    ]
    time, token, last, avg = (list(x) for x in zip(*ticks, strict=True))
    series = straddle_overlay(time, token, last, avg, layout, date(2026, 11, 20), forward="spot")
    assert series.minute.tolist() == [0, 60, 120]
    assert series.atm_strike.tolist() == [100.0, 110.0, 120.0]
    assert series.straddle_last.tolist() == [9.0, 12.0, 23.0]
    assert series.straddle_average.tolist() == [9.0, 11.0, 21.0]
    assert series.recentred.tolist() == [False, True, True]
    assert np.allclose(series.spread_pct, [0.0, 100 / 11, 200 / 21])


def test_parity_forward_picks_the_atm_when_it_differs_from_spot() -> None:
    layout = _hand_layout()
    # Index 104 says 100; calls rich against puts say the forward is 108 -> ATM 110.
    ticks = [
        (0, 9, 104.0, 0.0),
        (0, 11, 10.0, 10.0),
        (0, 12, 2.0, 2.0),
        (0, 21, 4.0, 4.0),
        (0, 22, 6.0, 6.0),
        (0, 31, 1.0, 1.0),
        (0, 32, 13.0, 13.0),
    ]
    time, token, last, avg = (list(x) for x in zip(*ticks, strict=True))
    day = date(2026, 11, 20)
    spot = straddle_overlay(time, token, last, avg, layout, day, forward="spot")
    parity = straddle_overlay(time, token, last, avg, layout, day, forward="parity")
    assert spot.atm_strike[0] == 100.0
    assert parity.forward[0] == 108.0  # median of 108, 108, 108
    assert parity.atm_strike[0] == 110.0
    assert parity.straddle_last[0] == 10.0
    # A rate grows C - P by exp(r t), t from the minute's close to 15:30 IST on expiry day.
    ten = epoch_at(day, dt_time(10, 0))
    with_rate = straddle_overlay(
        [ten + t for t in time], token, last, avg, layout, day, forward="parity", rate=0.1
    )
    years = (epoch_at(layout.expiry, dt_time(15, 30)) - (ten + 60)) / (365 * 86400)
    growth = math.exp(0.1 * years)
    assert with_rate.forward[0] == pytest.approx(
        np.median([100 + 8 * growth, 110 - 2 * growth, 120 - 12 * growth]), abs=1e-9
    )
    assert with_rate.forward[0] != 108.0


def test_a_missing_average_is_no_price_not_a_zero_spread() -> None:
    layout = _hand_layout()
    ticks = [(0, 9, 110.0, 0.0), (0, 21, 5.0, 0.0), (0, 22, 5.0, 0.0)]
    time, token, last, avg = (list(x) for x in zip(*ticks, strict=True))
    series = straddle_overlay(time, token, last, avg, layout, date(2026, 11, 20), forward="spot")
    assert math.isnan(series.straddle_last[0]) and math.isnan(series.spread[0])
    assert math.isnan(series.atm_strike[0])
    row = summarize(series)
    assert row.minutes == 0 and row.missing == 1 and row.efficiency is None


def test_layout_checks_its_shape() -> None:
    with pytest.raises(ValueError, match="same length"):
        ChainLayout(
            "NIFTY", date(2026, 1, 1), 9, np.array([1.0, 2.0]), np.array([1]), np.array([2])
        )
    with pytest.raises(ValueError, match="ascending"):
        ChainLayout(
            "NIFTY", date(2026, 1, 1), 9, np.array([2.0, 1.0]), np.array([1, 2]), np.array([3, 4])
        )


# -- the efficiency score ------------------------------------------------------------------------
def test_score_is_bounded_and_halves_at_each_reference_scale() -> None:
    assert efficiency_score(0.0, 0.0) == 100.0
    assert efficiency_score(TRACKING_SCALE_PCT, 0.0) == pytest.approx(50.0)
    assert efficiency_score(0.0, NOISE_SCALE_PCT) == pytest.approx(50.0)
    assert efficiency_score(2.0, 0.3) > efficiency_score(3.0, 0.3) > efficiency_score(3.0, 0.4)
    assert 0 < efficiency_score(1e6, 1e6) < 0.001
    with pytest.raises(ValueError, match=">= 0"):
        efficiency_score(-1.0, 0.0)
    with pytest.raises(ValueError, match=">= 0"):
        efficiency_score(math.nan, 0.0)


def _series(last: list[float], avg: list[float], atm: list[float], day: date) -> StraddleSeries:
    last_a, avg_a, atm_a = (np.array(x, dtype=float) for x in (last, avg, atm))
    recentred = np.r_[False, atm_a[1:] != atm_a[:-1]]
    return StraddleSeries(
        underlying="NIFTY",
        day=day,
        expiry=day,
        forward_method="spot",
        minute=np.arange(len(last), dtype=np.int64) * 60,
        spot=atm_a,
        forward=atm_a,
        atm_strike=atm_a,
        straddle_last=last_a,
        straddle_average=avg_a,
        spread=last_a - avg_a,
        spread_pct=100 * (last_a - avg_a) / avg_a,
        recentred=recentred,
    )


def test_summary_follows_the_documented_formulas() -> None:
    day = date(2026, 11, 20)
    last = [101.0, 98.0, 103.0, 100.5, math.nan, 100.0, 120.0, 119.0]
    avg = [100.0] * 8
    atm = [100.0] * 6 + [150.0] * 2
    row = summarize(_series(last, avg, atm, day))
    s = np.array([0.01, -0.02, 0.03, 0.005, math.nan, 0.0, 0.20, 0.19])
    ok = np.isfinite(s)
    assert row.minutes == 7 and row.missing == 1 and row.recentres == 1
    assert row.tracking_pct == pytest.approx(100 * np.median(np.abs(s[ok])))
    # Same-strike steps between priced minutes only: 0-1, 1-2, 2-3 and 6-7; not the gap
    # (3-4, 4-5) nor the re-centre 5-6, whose +20% is a change of contracts, not noise.
    steps = np.array([-0.03, 0.05, -0.025, -0.01])
    assert row.noise_pct == pytest.approx(100 * np.std(steps))
    assert row.tracking_pct is not None and row.noise_pct is not None
    assert row.efficiency == pytest.approx(
        100 / (1 + row.tracking_pct / TRACKING_SCALE_PCT + row.noise_pct / NOISE_SCALE_PCT)
    )
    assert (row.open_last, row.close_last, row.open_average) == (101.0, 119.0, 100.0)
    assert row.mean_spread_pct == pytest.approx(100 * np.mean(s[ok]))


def test_a_straddle_on_its_vwap_scores_100_and_noise_lowers_it() -> None:
    day = date(2026, 11, 20)
    flat = summarize(_series([100.0] * 5, [100.0] * 5, [1.0] * 5, day))
    assert flat.efficiency == 100.0 and flat.tracking_pct == 0.0 and flat.noise_pct == 0.0
    noisy = summarize(_series([100, 101, 99, 101, 99], [100.0] * 5, [1.0] * 5, day))
    drifting = summarize(_series([100, 101, 102, 103, 104], [100.0] * 5, [1.0] * 5, day))
    assert noisy.efficiency is not None and drifting.efficiency is not None
    assert noisy.noise_pct is not None and drifting.noise_pct is not None
    assert noisy.noise_pct > drifting.noise_pct
    assert 0 < noisy.efficiency < 100 and 0 < drifting.efficiency < 100


def test_days_compare_row_by_row(demo_day: tuple[DemoMarket, np.ndarray]) -> None:
    market, rows = demo_day
    series = []
    for name in ("BANKNIFTY", "NIFTY"):
        layout = layout_of(market.instruments, name)
        mine = rows[np.isin(rows["instrument_token"], layout.tokens)]
        series.append(
            straddle_overlay(
                mine["exchange_timestamp"],
                mine["instrument_token"],
                mine["last_price"],
                mine["average_traded_price"],
                layout,
                SESSION,
            )
        )
    earlier = _series([100.0, 100.0, 100.0], [100.0] * 3, [1.0] * 3, date(2026, 11, 19))
    table = summarize_days([*series, earlier])
    assert [(r.day, r.underlying) for r in table] == [
        (date(2026, 11, 19), "NIFTY"),
        (SESSION, "BANKNIFTY"),
        (SESSION, "NIFTY"),
    ]
    for row in table[1:]:
        assert row.minutes == 90 and row.missing == 0
        assert row.efficiency is not None and 0 < row.efficiency < 100
        assert row.tracking_pct is not None and row.tracking_pct > 0
