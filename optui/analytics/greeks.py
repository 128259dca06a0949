"""Option pricing on Black-76: arrays in, arrays out.

optui prices every option off a forward (Black-76) rather than spot (Black-Scholes): NSE's
weekly options have no future of their own, and a put-call-parity forward per expiry makes call
and put implied volatilities agree. Time is calendar time in years (365 days) to 15:30 IST on
expiry day; the rate only discounts, it does not drift the forward.

Everything is plain numpy and broadcasts, so one call prices a whole chain or a whole market.
The normal CDF is a double-precision rational approximation (Hart 1968, as given by West,
"Better approximations to cumulative normal functions", 2005), accurate to about 1e-16
absolute, because numpy has no `erf` and scipy is not a dependency.

This module must not import Textual or anything from `optui.tui`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["black76_price", "norm_cdf", "norm_pdf"]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

_INV_SQRT_2PI: Final = 0.3989422804014327
_SQRT_2PI: Final = 2.5066282746310002

# Hart's algorithm 5666: N(-|x|) = exp(-x^2/2) * P(|x|) / Q(|x|) for |x| < 7.07.
_HART_P: Final = (
    0.0352624965998911,
    0.700383064443688,
    6.37396220353165,
    33.912866078383,
    112.079291497871,
    221.213596169931,
    220.206867912376,
)
_HART_Q: Final = (
    0.0883883476483184,
    1.75566716318264,
    16.064177579207,
    86.7807322029461,
    296.564248779674,
    637.333633378831,
    793.826512519948,
    440.413735824752,
)
_HART_SWITCH: Final = 7.07106781186547  # beyond this a continued fraction is more accurate
_TAIL_TERMS: Final = 12


def norm_pdf(x: ArrayLike) -> FloatArray:
    """Standard normal density."""
    arr = np.asarray(x, dtype=np.float64)
    return np.asarray(_INV_SQRT_2PI * np.exp(-0.5 * arr * arr), dtype=np.float64)


def norm_cdf(x: ArrayLike) -> FloatArray:
    """Standard normal cumulative distribution, to about 1e-16 absolute."""
    arr = np.asarray(x, dtype=np.float64)
    flat = arr.reshape(-1)  # 1-d, so the in-place steps below also work for scalars
    z = np.abs(flat)
    # Hart's rational function for N(-z), in place: this is the inner loop of pricing a whole
    # market every second.
    with np.errstate(over="ignore", invalid="ignore"):  # huge |x|: fixed up below
        num = z * _HART_P[0]
        num += _HART_P[1]
        for c in _HART_P[2:]:
            num *= z
            num += c
        den = z * _HART_Q[0]
        den += _HART_Q[1]
        for c in _HART_Q[2:]:
            den *= z
            den += c
        tail = z * z
        tail *= -0.5
        np.exp(tail, out=tail)
        tail *= num
        tail /= den
    far = z >= _HART_SWITCH
    if far.any():
        # Continued fraction for the far tail: N(-z) = pdf(z) / (z + 1/(z + 2/(z + ...))).
        # Twelve terms give about 1e-13 relative error for z >= 7 (West's five give 1e-7).
        zf = z[far]
        frac = zf.copy()
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for k in range(_TAIL_TERMS, 0, -1):
                frac = zf + k / frac
            tail[far] = np.exp(-0.5 * zf * zf) / frac / _SQRT_2PI
    return np.asarray(np.where(flat > 0.0, 1.0 - tail, tail).reshape(arr.shape))


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
