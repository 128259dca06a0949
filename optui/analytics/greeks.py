"""Option pricing, implied volatility and greeks on Black-76: arrays in, arrays out.

optui prices every option off a forward (Black-76) rather than spot (Black-Scholes): NSE's
weekly options have no future of their own, and a put-call-parity forward per expiry
(`parity_forward`) makes call and put implied volatilities agree. Time is calendar time in
years of 365 days to 15:30 IST on expiry day (`time_to_expiry`); the rate only discounts, it
does not drift the forward. NSE's own option chain quotes IVs from Black-Scholes on the spot
at a 10% rate; `implied_vol_bs` and `greeks_bs` reproduce that convention for comparison.

Everything is plain numpy (no scipy, no JIT) and broadcasts, so one call prices, inverts or
differentiates a whole chain or a whole market.

Implied volatility lives in `optui.analytics.implied_vol` (Jäckel's "Let's be rational",
vectorised) and the normal density and distribution, to full relative precision in the
tails, in `optui.analytics.normal`; both are re-exported here.

Speed (tests/benchmarks/bench_greeks.py): IV and four greeks of a 4000-option chain in about
3 ms, with no compilation or warm-up.

Greeks
------
`greeks` (Black-76, on the forward) and `greeks_bs` (Black-Scholes, on spot) return delta,
gamma, theta per calendar day (the change in value as one day of 365 passes, forward or spot
and volatility held) and vega per volatility point (the change in value for +0.01 in vol).
Black-76 delta and gamma are with respect to the forward: delta = e^{-rt} N(d1) for a call,
-e^{-rt} N(-d1) for a put (with rate 0, the usual N(d1)). Black-Scholes delta and gamma are
with respect to spot: N(d1) and N(d1) - 1. Both match py_vollib's `black` and
`black_scholes` analytical greeks in value and units.

This module must not import Textual or anything from `optui.tui`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final

import numpy as np
import numpy.typing as npt

from optui.analytics.implied_vol import (
    IVReason,
    as_bool,
    broadcast,
    implied_vol,
    implied_vol_bs,
    implied_vol_reason,
)
from optui.analytics.normal import INV_SQRT_2PI, norm_cdf, norm_cdf_gauss, norm_pdf
from optui.feed.calendar import IST

__all__ = [
    "Greeks",
    "IVReason",
    "black76_price",
    "greeks",
    "greeks_bs",
    "implied_vol",
    "implied_vol_bs",
    "implied_vol_reason",
    "norm_cdf",
    "norm_pdf",
    "parity_forward",
    "time_to_expiry",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike


def _undiscounted(
    f: FloatArray, k: FloatArray, t: FloatArray, v: FloatArray, call: npt.NDArray[np.bool_]
) -> FloatArray:
    """Black-76 value before discounting, for 1-d arrays where t > 0 and vol > 0."""
    sd = v * np.sqrt(t)
    d1 = np.log(f / k)
    d1 /= sd
    d1 += 0.5 * sd
    sign = np.where(call, 1.0, -1.0)
    # One normal-CDF call for both d1 and d2 halves the per-call overhead.
    cdf = norm_cdf(np.concatenate((sign * d1, sign * (d1 - sd))))
    m = len(d1)
    value = f * cdf[:m]
    value -= k * cdf[m:]
    value *= sign
    # Floating-point cancellation can leave a tiny negative for deep out-of-the-money options.
    return np.maximum(value, 0.0)


def black76_price(
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    rate: ArrayLike = 0.0,
    is_call: ArrayLike = True,
) -> FloatArray:
    """Black-76 price of European options on a forward, broadcasting over all arguments.

    Parameters
    ----------
    forward, strike:
        Forward price of the underlying for the option's expiry, and strike; both > 0.
    t:
        Time to expiry in years. At or past expiry (`t <= 0`) the price is the undiscounted
        intrinsic value, `max(F - K, 0)` for a call and `max(K - F, 0)` for a put.
    vol:
        Annualised volatility as a fraction (0.15 for 15%). With `vol <= 0` and `t > 0` the
        price is the discounted intrinsic value.
    rate:
        Continuously compounded rate used to discount the payoff, `exp(-rate * t)`.
    is_call:
        True for calls, False for puts (booleans broadcast like the rest).

    Returns
    -------
    ndarray of float64 with the broadcast shape of the inputs:
    `exp(-r t) * (F N(d1) - K N(d2))` for a call and `exp(-r t) * (K N(-d2) - F N(-d1))` for a
    put, with `d1 = (ln(F/K) + vol^2 t / 2) / (vol sqrt(t))` and `d2 = d1 - vol sqrt(t)`.
    """
    arrays = np.broadcast_arrays(
        np.asarray(forward, dtype=np.float64),
        np.asarray(strike, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
        np.asarray(vol, dtype=np.float64),
        np.asarray(rate, dtype=np.float64),
        np.asarray(is_call, dtype=np.bool_),
    )
    shape = arrays[0].shape
    f, k, tt, v, r = (np.ravel(a) for a in arrays[:5])
    call = np.ravel(arrays[5])

    alive = tt > 0.0
    priced = alive & (v > 0.0)
    # Skipping the exponential when nothing is discounted saves a pass over the market.
    discount = np.exp(-r * np.where(alive, tt, 0.0)) if r.any() else np.ones_like(f)
    if priced.all():
        out = _undiscounted(f, k, tt, v, call)
        out *= discount
    else:
        intrinsic = np.where(call, np.maximum(f - k, 0.0), np.maximum(k - f, 0.0))
        out = np.where(alive, discount * intrinsic, intrinsic)
        if priced.any():
            out[priced] = (
                _undiscounted(f[priced], k[priced], tt[priced], v[priced], call[priced])
                * discount[priced]
            )
    return np.asarray(out.reshape(shape), dtype=np.float64)


# --- time and forward --------------------------------------------------------------------

SECONDS_PER_YEAR: Final = 365.0 * 86_400.0


def time_to_expiry(now: float, expiry: date, expiry_time: str = "15:30") -> float:
    """Years of 365 calendar days from epoch second `now` to `expiry_time` IST on `expiry`.

    `expiry_time` is "HH:MM" (24-hour clock, Asia/Kolkata); NSE index options settle at the
    15:30 close. Returns 0.0 at and after that instant, never a negative time.
    """
    try:
        hours, minutes = (int(part) for part in expiry_time.split(":"))
        at = time(hours, minutes)
    except ValueError:
        raise ValueError(
            f"expiry time {expiry_time!r} is not HH:MM on a 24-hour clock; use e.g. '15:30'"
        ) from None
    close = datetime.combine(expiry, at, tzinfo=IST).timestamp()
    return max(close - float(now), 0.0) / SECONDS_PER_YEAR


def parity_forward(
    strikes: ArrayLike,
    call_prices: ArrayLike,
    put_prices: ArrayLike,
    t: float,
    rate: float = 0.0,
    *,
    spot: float | None = None,
    future: float | None = None,
    nearest: int = 3,
) -> tuple[float, str]:
    """The forward of one expiry, and where it came from: "parity", "future", "spot" or "none".

    Put-call parity gives one forward per strike where both prices exist (finite and > 0):
    F = K + e^{rt} (C - P). The money is where the call and put are worth the same, so the
    `nearest` strikes (default 3) closest to the strike with the smallest |C - P| are used,
    and their median taken (one stale quote among three then cannot move it). Without a single
    strike with both prices, the future's price is used, then the spot's; with none of them,
    (NaN, "none").
    """
    k = np.asarray(strikes, dtype=np.float64).reshape(-1)
    c = np.asarray(call_prices, dtype=np.float64).reshape(-1)
    p = np.asarray(put_prices, dtype=np.float64).reshape(-1)
    if not (k.shape == c.shape == p.shape):
        raise ValueError(
            f"strikes, call_prices and put_prices must have the same length, got "
            f"{k.size}, {c.size} and {p.size}"
        )
    usable = np.isfinite(k) & (k > 0.0) & np.isfinite(c) & (c > 0.0) & np.isfinite(p) & (p > 0.0)
    if usable.any():
        k, c, p = k[usable], c[usable], p[usable]
        money = k[np.argmin(np.abs(c - p))]
        # Stable sort: on equal distances the lower strike comes first.
        near = np.argsort(np.abs(k - money), kind="stable")[: max(nearest, 1)]
        growth = math.exp(rate * max(t, 0.0))
        return float(np.median(k[near] + growth * (c[near] - p[near]))), "parity"
    for value, source in ((future, "future"), (spot, "spot")):
        if value is not None and math.isfinite(value) and value > 0.0:
            return float(value), source
    return math.nan, "none"


# --- greeks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Greeks:
    """Sensitivities of option values, arrays of the broadcast input shape.

    delta: per unit of the underlying (the forward for Black-76, spot for Black-Scholes).
    gamma: change in delta per unit of the underlying.
    theta: change in value as one calendar day (1/365 year) passes, other inputs held.
    vega: change in value for one volatility point (+0.01 in vol).
    NaN where the volatility or the time to expiry is not positive and finite.
    """

    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray


def _greeks(
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
    *,
    on_spot: bool,
) -> Greeks:
    shape, (f, k, tt, r, v) = broadcast(forward, strike, t, rate, vol)
    call = as_bool(is_call, shape)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        valid = np.isfinite(f + k + tt + r + v) & (tt > 0.0) & (v > 0.0) & (f > 0.0) & (k > 0.0)
        if not valid.all():
            tt = np.where(valid, tt, np.nan)
        discount = np.exp(-r * tt) if r.any() else np.where(valid, 1.0, np.nan)
        if on_spot:
            f = f / discount  # Black-Scholes on spot S is Black-76 on F = S e^{rt}
        root_t = np.sqrt(tt)
        sd = v * root_t
        moneyness = f / k
        d1 = np.log(moneyness) / sd + 0.5 * sd
        gauss = np.exp(-0.5 * d1 * d1)
        sign = np.where(call, 1.0, -1.0)
        m = d1.size
        # n(d2) = n(d1) F/K, so one exponential serves both CDFs.
        cdf = norm_cdf_gauss(
            np.concatenate((sign * d1, sign * (d1 - sd))),
            np.concatenate((gauss, gauss * moneyness)),
        )
        n1, n2 = cdf[:m], cdf[m:]
        pdf = INV_SQRT_2PI * gauss
        # Black-76: dV/dF = e^{-rt} sign N(sign d1). On spot, F = S e^{rt}: dV/dS = e^{rt} dV/dF
        # = sign N(sign d1), and d2V/dS2 = e^{2rt} d2V/dF2 = n(d1) / (S vol sqrt t).
        if on_spot:
            delta = sign * n1
            gamma = pdf / (f * discount * sd)
        else:
            delta = sign * discount * n1
            gamma = discount * pdf / (f * sd)
        decay = discount * f * pdf * v / (2.0 * root_t)
        # -dV/dt with F fixed is -decay + r V; with S fixed (F grows at r) the r V terms of
        # discounting and drift leave -decay - r K e^{-rt} sign N(sign d2).
        if on_spot:
            theta = -decay - r * sign * discount * k * n2
        else:
            theta = -decay + r * sign * discount * (f * n1 - k * n2)
        vega = discount * f * pdf * root_t
    return Greeks(
        delta=np.asarray(delta.reshape(shape), dtype=np.float64),
        gamma=np.asarray(gamma.reshape(shape), dtype=np.float64),
        theta=np.asarray((theta / 365.0).reshape(shape), dtype=np.float64),
        vega=np.asarray((vega * 0.01).reshape(shape), dtype=np.float64),
    )


def greeks(
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike = True,
) -> Greeks:
    """Black-76 greeks, broadcasting over all arguments.

    delta = e^{-rt} N(d1) (call), -e^{-rt} N(-d1) (put): the forward delta, discounted;
    gamma = e^{-rt} n(d1) / (F vol sqrt t), with respect to the forward;
    theta = (-e^{-rt} F n(d1) vol / (2 sqrt t) + r V) / 365 per calendar day, forward held;
    vega = e^{-rt} F n(d1) sqrt(t) / 100 per volatility point.
    """
    return _greeks(forward, strike, t, rate, vol, is_call, on_spot=False)


def greeks_bs(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike = True,
) -> Greeks:
    """Black-Scholes greeks on spot with no dividends (NSE's convention), broadcasting.

    delta = N(d1) (call), N(d1) - 1 (put), with respect to spot; gamma = n(d1)/(S vol sqrt t);
    theta = (-S n(d1) vol / (2 sqrt t) -+ r K e^{-rt} N(+-d2)) / 365 per calendar day, spot
    held; vega = S n(d1) sqrt(t) / 100 per volatility point; d1 = (ln(S/K) + (r + vol^2/2) t)
    / (vol sqrt t).
    """
    return _greeks(spot, strike, t, rate, vol, is_call, on_spot=True)
