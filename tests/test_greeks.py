"""Implied volatility and greeks: accuracy against exact prices and against py_vollib.

Exact prices come from mpmath at 40 digits, so a round trip measures the solver's own error
and not that of `black76_price`. "Where vega is meaningful" is made precise per option: the
volatility a price pins down can be no finer than the price's own rounding (1 ulp, about
1.1e-16 relative) divided by vega, and the 1e-10 requirement is asserted wherever that
resolution is below 1e-12. py_vollib (Jäckel's "Let's be rational" and textbook greeks) is
the independent reference for IV and for every greek, in its own units: theta per calendar
day (/365), vega per volatility point (x0.01), as optui's.
"""

from __future__ import annotations

import math
import os
from datetime import date, datetime, time
from typing import Any

# py_lets_be_rational (under py_vollib) compiles itself with numba whenever numba is
# installed (py_vollib_vectorized brings it, for the benchmark), which costs seconds on a
# fresh machine. As a reference it need not be fast: run it as the pure Python it is.
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

import mpmath  # type: ignore[import-untyped]
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_vollib.black import black as vollib_black  # type: ignore[import-untyped]
from py_vollib.black.greeks import analytical as vollib_black_greeks  # type: ignore[import-untyped]
from py_vollib.black.implied_volatility import implied_volatility as vollib_black_iv  # type: ignore[import-untyped]
from py_vollib.black_scholes import black_scholes as vollib_bs  # type: ignore[import-untyped]
from py_vollib.black_scholes.greeks import analytical as vollib_bs_greeks  # type: ignore[import-untyped]
from py_vollib.black_scholes.implied_volatility import implied_volatility as vollib_bs_iv  # type: ignore[import-untyped]

from optui.analytics.greeks import (
    Greeks,
    IVReason,
    black76_price,
    greeks,
    greeks_bs,
    implied_vol,
    implied_vol_bs,
    implied_vol_reason,
    norm_cdf,
    parity_forward,
    time_to_expiry,
)
from optui.feed.calendar import IST

MINUTE = 1.0 / (365.0 * 24.0 * 60.0)
DAY = 1.0 / 365.0
ULP = 1.1102230246251565e-16


def exact_price(forward: float, strike: float, t: float, vol: float, call: bool) -> float:
    """Undiscounted Black-76 price at 40 significant digits, rounded once to a double."""
    with mpmath.workdps(40):
        f, k = mpmath.mpf(forward), mpmath.mpf(strike)
        sd = mpmath.mpf(vol) * mpmath.sqrt(mpmath.mpf(t))
        d1 = mpmath.log(f / k) / sd + sd / 2
        d2 = d1 - sd
        if call:
            return float(f * mpmath.ncdf(d1) - k * mpmath.ncdf(d2))
        return float(k * mpmath.ncdf(-d2) - f * mpmath.ncdf(-d1))


def vol_resolution(
    price: np.ndarray,
    forward: Any,
    strike: Any,
    t: Any,
    vol: Any,
    call: Any = None,
) -> np.ndarray:
    """How far the volatility moves when the price moves by one rounding: ulp/vega.

    For an exactly rounded price (call=None) the rounding is the price's own ulp. A price
    computed as F N(d1) - K N(d2) in doubles (black76_price; pass `call`) carries the rounding
    of its larger term instead, which for an in-the-money option is far more. Subnormal prices
    (below 1e-300) have no relative precision left: infinite resolution.
    """
    forward, strike, t, vol = (np.asarray(a, dtype=np.float64) for a in (forward, strike, t, vol))
    sd = vol * np.sqrt(t)
    d1 = np.log(forward / strike) / sd + 0.5 * sd
    vega = forward * np.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi) * np.sqrt(t)
    scale = np.asarray(price, dtype=np.float64)
    if call is not None:
        sign = np.where(call, 1.0, -1.0)
        scale = forward * norm_cdf(sign * d1) + strike * norm_cdf(sign * (d1 - sd))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        resolution = ULP * scale / vega
    return np.asarray(np.where(np.asarray(price) > 1e-300, resolution, np.inf))


# --- accuracy -------------------------------------------------------------------------------


def test_round_trip_from_exact_prices_over_a_wide_grid() -> None:
    forward = 24_500.0
    strikes = forward * np.exp(np.linspace(math.log(0.3), math.log(3.0), 21))
    times = np.array([5 * MINUTE, 1 / (365 * 24), DAY, 7 * DAY, 30 * DAY, 0.25, 1.0, 2.0])
    vols = np.array([0.01, 0.03, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0])
    k, t, v, call = (a.ravel() for a in np.meshgrid(strikes, times, vols, [True, False]))
    price = np.array([exact_price(forward, *args) for args in zip(k, t, v, call, strict=True)])
    iv, reason = implied_vol_reason(price, forward, k, t, 0.0, call)

    intrinsic = np.where(call, np.maximum(forward - k, 0.0), np.maximum(k - forward, 0.0))
    # Where the price (rounded to a double) still carries time value, a volatility comes back;
    # prices so small they are subnormal doubles (< 1e-308) have lost their precision.
    has_value = (price > intrinsic) & (price > 1e-300)
    assert np.all(reason[has_value] == IVReason.OK)
    assert np.all(np.isnan(iv[price == intrinsic]))
    resolution = vol_resolution(price, forward, k, t, v)
    meaningful = has_value & (resolution < 1e-12)
    error = np.abs(iv - v)
    assert np.max(error[meaningful]) <= 1e-10, error[meaningful].max()
    # The grid reaches far: a third of it has a meaningful vega, from 5 minutes to 2 years,
    # deep in and out of the money, 1% to 300%.
    assert meaningful.mean() > 0.3
    assert set(np.unique(t[meaningful])) == set(times)
    assert set(np.unique(v[meaningful])) == set(vols)
    assert k[meaningful].min() < 0.5 * forward < 2.0 * forward < k[meaningful].max()
    # Where the price barely pins the volatility down, the error stays within what the
    # price's rounding allows.
    coarse = has_value & ~meaningful & np.isfinite(resolution)
    assert np.all(error[coarse] <= np.maximum(1e-10, 64.0 * resolution[coarse]))


@pytest.mark.parametrize("rate", [0.0, 0.1, -0.01])
def test_round_trip_through_black76_price_with_discounting(rate: float) -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    forward = rng.uniform(50.0, 60_000.0, n)
    strike = forward * np.exp(rng.normal(0.0, 0.3, n))
    t = np.exp(rng.uniform(math.log(5 * MINUTE), math.log(3.0), n))
    vol = np.exp(rng.uniform(math.log(0.01), math.log(3.0), n))
    call = rng.random(n) < 0.5
    price = black76_price(forward, strike, t, vol, rate, call)
    iv, reason = implied_vol_reason(price, forward, strike, t, rate, call)
    resolution = vol_resolution(price, forward, strike, t, vol, call)
    meaningful = (reason == IVReason.OK) & (resolution < 1e-12)
    assert meaningful.mean() > 0.4
    assert np.max(np.abs(iv - vol)[meaningful]) <= 1e-10


def test_near_the_money_weeklies_come_back_to_machine_precision() -> None:
    # The options the app shows most: NIFTY weeklies around the money, hours to days out.
    forward = 24_517.35
    strike = np.arange(23_000.0, 26_001.0, 50.0)[:, None]
    t = np.array([[0.5 / 24 / 365, 3 / 24 / 365, DAY, 3 * DAY, 7 * DAY]])
    vol = 0.11 + 0.5 * np.log(strike / forward) ** 2
    for call in (True, False):
        price = black76_price(forward, strike, t, vol, 0.0, call)
        iv = implied_vol(price, forward, strike, t, 0.0, call)
        ok = vol_resolution(price, forward, strike, t, vol, call) < 1e-12
        assert ok.mean() > 0.5
        error = np.abs(iv - vol)[ok]
        assert np.max(error) <= 1e-10 and np.median(error) <= 1e-14


# --- no volatility, and why ----------------------------------------------------------------


def test_prices_outside_the_bounds_give_nan_and_a_reason() -> None:
    f, k, t, r = 100.0, 90.0, 0.5, 0.05
    disc = math.exp(-r * t)
    cases = [
        # (price, forward, strike, t, call, reason)
        (disc * 10.0 - 1e-6, f, k, t, True, IVReason.BELOW_INTRINSIC),
        (disc * 10.0, f, k, t, True, IVReason.NO_TIME_VALUE),
        (disc * f, f, k, t, True, IVReason.ABOVE_MAX),
        (disc * f + 1.0, f, k, t, True, IVReason.ABOVE_MAX),
        (disc * k, f, k, t, False, IVReason.ABOVE_MAX),
        (0.0, f, 120.0, t, True, IVReason.NO_TIME_VALUE),
        (1.0, f, k, 0.0, True, IVReason.EXPIRED),
        (1.0, f, k, -0.1, False, IVReason.EXPIRED),
        (math.nan, f, k, t, True, IVReason.BAD_INPUT),
        (-1.0, f, k, t, True, IVReason.BAD_INPUT),
        (1.0, 0.0, k, t, True, IVReason.BAD_INPUT),
        (1.0, f, -5.0, t, True, IVReason.BAD_INPUT),
        (1.0, f, k, math.inf, True, IVReason.BAD_INPUT),
        (1.0, f, k, math.nan, True, IVReason.BAD_INPUT),
        (11.0, f, k, t, True, IVReason.OK),
    ]
    price, fwd, strike, tt, call, expected = (list(c) for c in zip(*cases, strict=True))
    iv, reason = implied_vol_reason(price, fwd, strike, tt, r, call)
    assert [IVReason(x) for x in reason] == expected
    assert np.all(np.isnan(iv[:-1]))
    assert black76_price(f, k, t, iv[-1], r, True) == pytest.approx(11.0, rel=1e-13)
    assert reason.dtype == np.int8
    # implied_vol is the same volatility without the reasons.
    np.testing.assert_array_equal(implied_vol(price, fwd, strike, tt, r, call), iv)


def test_a_rate_that_is_nan_is_bad_input() -> None:
    iv, reason = implied_vol_reason(5.0, 100.0, 100.0, 0.1, math.nan, True)
    assert np.isnan(iv) and reason == IVReason.BAD_INPUT


def test_tiny_but_positive_prices_still_have_a_volatility() -> None:
    # Five paise on a strike 8% out of the money with one hour left: tiny vega, but a price.
    t = 1.0 / (365 * 24)
    iv = implied_vol(0.05, 24_500.0, 26_500.0, t, 0.0, True)
    assert 1.0 < float(iv) < 3.0
    assert black76_price(24_500.0, 26_500.0, t, iv, 0.0, True) == pytest.approx(0.05, rel=1e-12)


def test_shapes_broadcast_and_scalars_give_scalars() -> None:
    strikes = np.array([[24_000.0], [25_000.0]])
    price = black76_price(24_500.0, strikes, [[DAY, 7 * DAY, 30 * DAY]], 0.15)
    iv = implied_vol(price, 24_500.0, strikes, [[DAY, 7 * DAY, 30 * DAY]], 0.0, True)
    assert iv.shape == (2, 3)
    np.testing.assert_allclose(iv, 0.15, atol=1e-12)
    assert implied_vol(price[0, 0], 24_500.0, 24_000.0, DAY).shape == ()
    assert implied_vol_reason(1.0, 100.0, 100.0, 0.1)[1].shape == ()
    assert implied_vol(np.empty(0), 100.0, 100.0, 0.1).shape == (0,)
    g = greeks(24_500.0, strikes, [[DAY, 7 * DAY, 30 * DAY]], 0.0, iv, True)
    assert g.delta.shape == g.gamma.shape == g.theta.shape == g.vega.shape == (2, 3)


# --- against py_vollib ----------------------------------------------------------------------


def random_book(seed: int, n: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    forward = rng.uniform(500.0, 60_000.0, n)
    return {
        "forward": forward,
        "strike": np.round(forward * np.exp(rng.normal(0.0, 0.12, n)), 1),
        "t": np.exp(rng.uniform(math.log(30 * MINUTE), math.log(1.5), n)),
        "vol": rng.uniform(0.05, 1.2, n),
        "rate": rng.choice([0.0, 0.065, 0.10], n),
        "call": rng.random(n) < 0.5,
    }


def test_implied_vol_matches_py_vollib_black() -> None:
    b = random_book(11, 400)
    price = black76_price(b["forward"], b["strike"], b["t"], b["vol"], b["rate"], b["call"])
    ours = implied_vol(price, b["forward"], b["strike"], b["t"], b["rate"], b["call"])
    theirs = np.array(
        [
            vollib_black_iv(p, f, k, r, t, "c" if c else "p")
            for p, f, k, t, r, c in zip(
                price, b["forward"], b["strike"], b["t"], b["rate"], b["call"], strict=True
            )
        ]
    )
    ok = vol_resolution(price, b["forward"], b["strike"], b["t"], b["vol"], b["call"]) < 1e-12
    assert ok.mean() > 0.7
    assert np.max(np.abs(ours - theirs)[ok]) <= 1e-10
    # And py_vollib prices our prices back to the same number (an independent price check).
    back = np.array(
        [
            vollib_black("c" if c else "p", f, k, t, r, v)
            for f, k, t, r, v, c in zip(
                b["forward"], b["strike"], b["t"], b["rate"], b["vol"], b["call"], strict=True
            )
        ]
    )
    assert np.all(np.abs(price - back) <= 1e-13 * (b["forward"] + b["strike"]))


def test_implied_vol_bs_matches_py_vollib_black_scholes() -> None:
    b = random_book(12, 300)
    spot = b["forward"]
    price = np.array(
        [
            vollib_bs("c" if c else "p", s, k, t, 0.10, v)
            for s, k, t, v, c in zip(spot, b["strike"], b["t"], b["vol"], b["call"], strict=True)
        ]
    )
    ours = implied_vol_bs(price, spot, b["strike"], b["t"], 0.10, b["call"])
    theirs = np.array(
        [
            vollib_bs_iv(p, s, k, t, 0.10, "c" if c else "p")
            for p, s, k, t, c in zip(price, spot, b["strike"], b["t"], b["call"], strict=True)
        ]
    )
    forward = spot * np.exp(0.10 * b["t"])
    ok = vol_resolution(price, forward, b["strike"], b["t"], b["vol"], b["call"]) < 1e-12
    assert ok.mean() > 0.8
    assert np.max(np.abs(ours - theirs)[ok]) <= 1e-10
    assert np.max(np.abs(ours - b["vol"])[ok]) <= 1e-10


def vollib_greeks(module: Any, b: dict[str, Any], underlying: np.ndarray) -> Greeks:
    out = {}
    for name in ("delta", "gamma", "theta", "vega"):
        fn = getattr(module, name)
        out[name] = np.array(
            [
                fn("c" if c else "p", u, k, t, r, v)
                for u, k, t, r, v, c in zip(
                    underlying, b["strike"], b["t"], b["rate"], b["vol"], b["call"], strict=True
                )
            ]
        )
    return Greeks(**out)


@pytest.mark.parametrize("model", ["black", "black_scholes"])
def test_every_greek_matches_py_vollib_in_value_and_units(model: str) -> None:
    b = random_book(13 if model == "black" else 14, 300)
    if model == "black":
        ours = greeks(b["forward"], b["strike"], b["t"], b["rate"], b["vol"], b["call"])
        theirs = vollib_greeks(vollib_black_greeks, b, b["forward"])
    else:
        ours = greeks_bs(b["forward"], b["strike"], b["t"], b["rate"], b["vol"], b["call"])
        theirs = vollib_greeks(vollib_bs_greeks, b, b["forward"])
    for name in ("delta", "gamma", "theta", "vega"):
        mine, ref = getattr(ours, name), getattr(theirs, name)
        scale = np.max(np.abs(ref))
        np.testing.assert_allclose(mine, ref, rtol=1e-9, atol=1e-12 * scale, err_msg=name)


def test_greeks_are_what_finite_differences_of_the_price_say() -> None:
    # Units pinned without any reference library: theta is the price change over one calendar
    # day, vega over one volatility point, delta and gamma over the forward (Black-76).
    f, k, t, r, v = 24_500.0, 24_800.0, 9 * DAY, 0.07, 0.14
    for call in (True, False):
        g = greeks(f, k, t, r, v, call)

        def price(ff: float = f, tt: float = t, vv: float = v, c: bool = call) -> float:
            return float(black76_price(ff, k, tt, vv, r, c))

        h = 0.5
        assert float(g.delta) == pytest.approx((price(f + h) - price(f - h)) / (2 * h), rel=1e-7)
        assert float(g.gamma) == pytest.approx(
            (price(f + h) - 2 * price() + price(f - h)) / h**2, rel=1e-4
        )
        # One day forward in time is one day less to expiry; a central difference.
        assert float(g.theta) == pytest.approx(
            (price(tt=t - 1e-3 * DAY) - price(tt=t + 1e-3 * DAY)) / 2e-3, rel=1e-6
        )
        assert float(g.vega) == pytest.approx(
            (price(vv=v + 1e-5) - price(vv=v - 1e-5)) / 2e-5 * 0.01, rel=1e-6
        )


def test_greeks_are_nan_without_time_or_volatility() -> None:
    g = greeks(100.0, 100.0, [0.0, 0.1, 0.1, 0.1], 0.0, [0.2, 0.0, math.nan, 0.2], True)
    for arr in (g.delta, g.gamma, g.theta, g.vega):
        assert np.isnan(arr[:3]).all() and np.isfinite(arr[3])


# --- properties -----------------------------------------------------------------------------

options = st.fixed_dictionaries(
    {
        "f": st.floats(10.0, 100_000.0),
        "m": st.floats(-1.0, 1.0),
        "t": st.floats(1e-4, 3.0),
        "v": st.floats(0.01, 2.0),
        "r": st.floats(-0.02, 0.15),
    }
)


@settings(max_examples=200, deadline=None)
@given(o=options)
def test_black76_greeks_obey_put_call_parity_and_bounds(o: dict[str, float]) -> None:
    f, t, v, r = o["f"], o["t"], o["v"], o["r"]
    k = f * math.exp(o["m"])
    c = greeks(f, k, t, r, v, True)
    p = greeks(f, k, t, r, v, False)
    disc = math.exp(-r * t)
    # C - P = e^{-rt} (F - K): its delta, gamma, vega and theta.
    assert float(c.delta - p.delta) == pytest.approx(disc, abs=1e-12)
    assert float(c.gamma) == pytest.approx(float(p.gamma), rel=1e-9, abs=1e-300)
    assert float(c.vega) == pytest.approx(float(p.vega), rel=1e-9, abs=1e-300)
    assert float(c.theta - p.theta) == pytest.approx(
        r * disc * (f - k) / 365.0, rel=1e-6, abs=1e-9 * f
    )
    assert 0.0 <= float(c.delta) <= disc and -disc <= float(p.delta) <= 0.0
    assert float(c.gamma) >= 0.0 and float(c.vega) >= 0.0


@settings(max_examples=200, deadline=None)
@given(o=options)
def test_black_scholes_greeks_obey_put_call_parity_and_bounds(o: dict[str, float]) -> None:
    s, t, v, r = o["f"], o["t"], o["v"], o["r"]
    k = s * math.exp(o["m"])
    c = greeks_bs(s, k, t, r, v, True)
    p = greeks_bs(s, k, t, r, v, False)
    # C - P = S - K e^{-rt}.
    assert float(c.delta - p.delta) == pytest.approx(1.0, abs=1e-12)
    assert float(c.gamma) == pytest.approx(float(p.gamma), rel=1e-9, abs=1e-300)
    assert float(c.vega) == pytest.approx(float(p.vega), rel=1e-9, abs=1e-300)
    assert float(c.theta - p.theta) == pytest.approx(
        -r * k * math.exp(-r * t) / 365.0, rel=1e-6, abs=1e-9 * s
    )
    assert 0.0 <= float(c.delta) <= 1.0 and -1.0 <= float(p.delta) <= 0.0
    assert float(c.gamma) >= 0.0 and float(c.vega) >= 0.0


@settings(max_examples=300, deadline=None)
@given(o=options, call=st.booleans())
def test_implied_vol_inverts_the_price(o: dict[str, float], call: bool) -> None:
    f, t, v, r = o["f"], o["t"], o["v"], o["r"]
    k = f * math.exp(o["m"])
    price = float(black76_price(f, k, t, v, r, call))
    iv, reason = implied_vol_reason(price, f, k, t, r, call)
    resolution = float(vol_resolution(np.array(price), f, k, t, v, call))
    if resolution < 1e-12:
        assert reason == IVReason.OK
        assert abs(float(iv) - v) <= 1e-10
    elif reason == IVReason.OK:
        # Barely any time value left: the volatility still reprices the option.
        assert float(black76_price(f, k, t, iv, r, call)) == pytest.approx(
            price, rel=1e-9, abs=1e-12 * f
        )


# --- time and forward -----------------------------------------------------------------------


def epoch(day: date, hh: int, mm: int) -> float:
    return datetime.combine(day, time(hh, mm), tzinfo=IST).timestamp()


def test_time_to_expiry_counts_calendar_years_to_the_close_in_ist() -> None:
    expiry = date(2026, 11, 24)
    assert time_to_expiry(epoch(expiry, 9, 15), expiry) == pytest.approx(6.25 / (365 * 24))
    # From the Friday close over the weekend to Tuesday's close: four calendar days.
    assert time_to_expiry(epoch(date(2026, 11, 20), 15, 30), expiry) == pytest.approx(4 / 365)
    assert time_to_expiry(epoch(expiry, 15, 30), expiry) == 0.0
    assert time_to_expiry(epoch(expiry, 16, 0), expiry) == 0.0
    assert time_to_expiry(epoch(expiry, 9, 15), expiry, "12:00") == pytest.approx(2.75 / (365 * 24))


@pytest.mark.parametrize("bad", ["3pm", "15", "25:00", "15:30:00", ""])
def test_time_to_expiry_rejects_a_malformed_time(bad: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        time_to_expiry(0.0, date(2026, 11, 24), bad)


def test_parity_forward_recovers_the_forward_of_a_chain() -> None:
    f, t, r = 24_517.35, 6 * DAY, 0.065
    strikes = np.arange(23_500.0, 25_501.0, 50.0)
    vol = 0.12 + 0.4 * np.log(strikes / f) ** 2
    calls = black76_price(f, strikes, t, vol, r, True)
    puts = black76_price(f, strikes, t, vol, r, False)
    forward, source = parity_forward(strikes, calls, puts, t, r)
    assert source == "parity"
    assert forward == pytest.approx(f, abs=1e-8)
    # Quotes to the paisa (0.05) move it by no more than the rounding.
    forward, _ = parity_forward(
        strikes, np.round(calls / 0.05) * 0.05, np.round(puts / 0.05) * 0.05, t, r
    )
    assert forward == pytest.approx(f, abs=0.05)


def test_parity_forward_takes_the_median_so_one_stale_quote_cannot_move_it() -> None:
    f, t = 24_517.35, 2 * DAY
    strikes = np.arange(24_000.0, 25_001.0, 100.0)
    calls = black76_price(f, strikes, t, 0.13, 0.0, True)
    puts = black76_price(f, strikes, t, 0.13, 0.0, False)
    calls[5] += 40.0  # 24,500: a stale call at the money
    forward, source = parity_forward(strikes, calls, puts, t)
    assert source == "parity" and forward == pytest.approx(f, abs=1e-8)


def test_parity_forward_falls_back_to_the_future_then_spot() -> None:
    strikes = [24_000.0, 24_500.0, 25_000.0]
    calls = [600.0, math.nan, 0.0]
    puts = [math.nan, 150.0, 500.0]
    assert parity_forward(strikes, calls, puts, 0.01, spot=24_400.0, future=24_480.0) == (
        24_480.0,
        "future",
    )
    assert parity_forward(strikes, calls, puts, 0.01, spot=24_400.0) == (24_400.0, "spot")
    forward, source = parity_forward(strikes, calls, puts, 0.01)
    assert math.isnan(forward) and source == "none"
    with pytest.raises(ValueError, match="same length"):
        parity_forward([1.0, 2.0], [1.0], [1.0], 0.1)
