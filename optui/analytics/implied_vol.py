"""Implied volatility on Black-76 (and Black-Scholes on spot), vectorised over a market.

Every price is first reduced to one normalised problem (as in Jäckel, "Let's be rational",
2015): undiscount it, subtract the intrinsic value (put-call parity turns an in-the-money
option into the out-of-the-money one of the other kind), divide by sqrt(F K), and solve

    b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2) = beta,   x = -|ln(F/K)| <= 0,

for the total volatility s = vol sqrt(t). `b` rises from 0 to e^{x/2} as s goes from 0 to
infinity, with one inflection point at s_c = sqrt(2|x|).

The starting point is Jäckel's: the tangent at s_c splits the s-axis into four segments, and
on each a rational cubic interpolant (Delbourgo-Gregory, shape-preserving) of s(beta), or on
the two outer ones of a transform of beta that is exact in the limit, gives a guess good to
about 1e-2 to 1e-5. Third-order Householder steps then run on all elements at once, on
Jäckel's objective per segment: 1/ln b - 1/ln beta on the lowest segment (deep out of the
money the price is exponentially small in 1/s^2, and its logarithm is what is smooth),
ln(e^{x/2} - beta) - ln(e^{x/2} - b) near the upper bound (the distance to the bound keeps
full relative precision there), and b - beta in between. Each step stays inside a bracket
that every evaluation narrows, so a bad step bisects instead. The step converges with order
four: one step for all, a second for every element whose first step was above 1e-6 relative
(most: Jäckel's "two iterations"), and more only for extreme inputs. b is evaluated from
normal tails with full relative precision, and one exponential serves both densities
(n(d2) = n(d1) F/K).

Accuracy (tests/test_greeks.py): prices computed exactly (40 digits) at known volatilities
from 1% to 300%, strikes from 0.3 to 3 times the forward and times from five minutes to two
years come back within 1e-10 in volatility wherever the price determines the volatility to
that precision, that is wherever vega is not so small that one rounding of the input price
(1.1e-16 relative) already moves the volatility by more than 1e-12. Near-the-money weeklies
come back within a few 1e-15 (worst 6e-13). IVs agree with py_vollib (Jäckel's own
implementation) to 1e-10 likewise. Prices outside the no-arbitrage bounds give NaN, and
`implied_vol_reason` says why (`IVReason`).

Speed (tests/benchmarks/bench_greeks.py): IV and four greeks of a 4000-option chain in about
3 ms, with no compilation or warm-up.

Credits: the starting point, the objectives and the rational cubic interpolation are a
vectorised port of Peter Jäckel's LetsBeRational ("Copyright © 2013-2014 Peter Jäckel.
Permission to use, copy, modify, and distribute this software is freely granted, provided
that this notice is preserved." It comes without warranty), by way of its Python port
py_lets_be_rational (MIT, © 2017 Gammon Capital LLC).

This module must not import Textual or anything from `optui.tui`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from optui.analytics.normal import INV_SQRT_2PI, SQRT_2PI, norm_cdf, norm_cdf_gauss

__all__ = [
    "IVReason",
    "as_bool",
    "broadcast",
    "implied_vol",
    "implied_vol_bs",
    "implied_vol_reason",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ArrayLike = npt.ArrayLike


class IVReason(IntEnum):
    """Why `implied_vol_reason` gave (or did not give) a volatility."""

    OK = 0
    BELOW_INTRINSIC = 1  # price below the discounted intrinsic value: no volatility fits
    ABOVE_MAX = 2  # price at or above the discounted forward (call) or strike (put)
    NO_TIME_VALUE = 3  # price equal to the intrinsic value (or less above it than a double
    # resolves): volatility 0, reported as NaN
    BAD_INPUT = 4  # NaN or infinite input, price < 0, forward or strike <= 0
    EXPIRED = 5  # t <= 0: nothing left to imply


_FIXED_STEPS: Final = 1  # Householder(3) steps every element takes from Jäckel's start
_CONVERGED: Final = 1e-6  # relative last step after which the error is below rounding
_MAX_STEPS: Final = 60  # bracketing guarantees progress; this only bounds pathological input
# Objectives of the iteration (see `_householder_steps`).
_LOWER: Final = 0
_PLAIN: Final = 1
_UPPER: Final = 2
_DBL_MIN: Final = 2.2250738585072014e-308
_DBL_MAX: Final = 1.7976931348623157e308
_SQRT_DBL_MAX: Final = 1.3407807929942596e154
_RC_MIN: Final = -(1.0 - 1.4901161193847656e-08)  # rational cubic control parameter bounds
_RC_MAX: Final = 2.0 / (2.220446049250313e-16 * 2.220446049250313e-16)
_SQRT_THREE: Final = 1.7320508075688772
_SQRT_ONE_OVER_THREE: Final = 0.5773502691896257
_PI_OVER_SIX: Final = 0.5235987755982988
_TWO_PI_OVER_SQRT_27: Final = 1.2091995761561452
_SQRT_PI_OVER_TWO: Final = 1.2533141373155001

# Acklam's rational approximation to the inverse normal CDF (relative error 1.2e-9), for
# starting points only.
_ACKLAM_A: Final = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_ACKLAM_B: Final = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
    1.0,
)
_ACKLAM_C: Final = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_ACKLAM_D: Final = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
    1.0,
)


def _poly(coefficients: tuple[float, ...], z: FloatArray) -> FloatArray:
    out = np.full_like(z, coefficients[0])
    for c in coefficients[1:]:
        out *= z
        out += c
    return out


def _norm_ppf_lower(p: FloatArray) -> FloatArray:
    """N^{-1}(p) for 0 < p <= 0.5, to about 1e-9 relative (Acklam)."""
    out = np.empty_like(p)
    tail = p < 0.02425
    q = np.sqrt(-2.0 * np.log(p[tail]))
    out[tail] = _poly(_ACKLAM_C, q) / _poly(_ACKLAM_D, q)
    central = ~tail
    q = p[central] - 0.5
    r = q * q
    out[central] = _poly(_ACKLAM_A, r) * q / _poly(_ACKLAM_B, r)
    return out


def broadcast(*values: ArrayLike) -> tuple[tuple[int, ...], list[FloatArray]]:
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))
    return arrays[0].shape, [np.ascontiguousarray(a).reshape(-1) for a in arrays]


def as_bool(is_call: ArrayLike, shape: tuple[int, ...]) -> BoolArray:
    return np.ascontiguousarray(
        np.broadcast_to(np.asarray(is_call, dtype=np.bool_), shape)
    ).reshape(-1)


def _start_and_bracket(
    x: FloatArray, beta: FloatArray, half: FloatArray, ex: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.int8]]:
    """Jäckel's starting point, bracket and objective for b(x, s) = beta (x <= 0).

    The s-axis splits at s_l < s_c < s_h (s_c the inflection point, s_l and s_h where its
    tangent meets 0 and the bound). On the two middle segments s(beta) is interpolated by a
    rational cubic through the segment's ends and slopes 1/vega; on the outer ones the cubic
    interpolates a transform f(beta) that is exact in the limit (`_lower_map`, `_upper_map`)
    and is inverted in closed form. Returns start, bracket ends and the objective per element.
    """
    s_c = np.sqrt(-2.0 * x)
    # At s_c, d1 = 0: b_c = e^{x/2}/2 - e^{-x/2} N(-s_c) and vega_c = e^{x/2} n(0).
    b_c = 0.5 * half - norm_cdf(-s_c) / half
    v_c = INV_SQRT_2PI * half
    low = beta < b_c
    # The tangent at s_c meets 0 at s_l (below) and the bound at s_h (above): the edge.
    with np.errstate(divide="ignore", invalid="ignore"):
        s_edge = np.where(
            low, np.maximum(s_c - b_c / v_c, 0.0), s_c + np.where(v_c > 0, (half - b_c) / v_c, 0)
        )
    b_edge, v_edge = _black_normalised(x, s_edge, half, ex)
    lowest = low & (beta < b_edge)
    highest = ~low & (beta > b_edge)
    outer = lowest | highest
    lowest_at = np.flatnonzero(lowest)
    highest_at = np.flatnonzero(highest)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        # The outer segments interpolate a map f(beta) (`_lower_map`, `_upper_map`) whose value,
        # slope and curvature at the edge come from one normal CDF for both.
        z_lowest = _SQRT_ONE_OVER_THREE * -x[lowest_at] / s_edge[lowest_at]
        tails = norm_cdf(np.concatenate((-z_lowest, -0.5 * s_edge[highest_at])))
        f_edge = np.zeros_like(x)
        fp_edge = np.zeros_like(x)
        fpp_edge = np.zeros_like(x)
        f_edge[lowest_at], fp_edge[lowest_at], fpp_edge[lowest_at] = _lower_map(
            x[lowest_at], s_edge[lowest_at], z_lowest, tails[: lowest_at.size]
        )
        f_edge[highest_at], fp_edge[highest_at], fpp_edge[highest_at] = _upper_map(
            x[highest_at], s_edge[highest_at], tails[lowest_at.size :]
        )
        # Each segment as one rational cubic from (x_l, y_l) to (x_r, y_r), slopes d_l, d_r:
        #   lowest   beta in (0, b_l):      f(beta), f(0) = 0, f'(0) = 1, curvature fit at b_l
        #   lower    beta in [b_l, b_c):    s(beta) from s_l to s_c, slopes 1/vega
        #   upper    beta in [b_c, b_h]:    s(beta) from s_c to s_h
        #   highest  beta in (b_h, b_max):  f(beta), f(b_max) = 0, f'(b_max) = -1/2, fit at b_h
        inv_v_c, inv_v_edge = 1.0 / v_c, 1.0 / v_edge
        x_l = np.where(lowest, 0.0, np.where(low | highest, b_edge, b_c))
        x_r = np.where(low & ~lowest, b_c, np.where(highest, half, b_edge))
        y_l = np.where(lowest, 0.0, np.where(low, s_edge, np.where(highest, f_edge, s_c)))
        y_r = np.where(lowest, f_edge, np.where(low, s_c, np.where(highest, 0.0, s_edge)))
        d_l = np.where(lowest, 1.0, np.where(low, inv_v_edge, np.where(highest, fp_edge, inv_v_c)))
        d_r = np.where(lowest, fp_edge, np.where(low, inv_v_c, np.where(highest, -0.5, inv_v_edge)))
        r = _convex_control(x_l, x_r, y_l, y_r, d_l, d_r, fpp_edge, right=low, prefer_shape=outer)
        y = _rational_cubic(beta, x_l, x_r, y_l, y_r, d_l, d_r, r)

        start = y.copy()
        if lowest_at.size:
            f, b_l, f_l = y[lowest_at], b_edge[lowest_at], f_edge[lowest_at]
            t = beta[lowest_at] / b_l
            f = np.where(f > 0.0, f, (f_l * t + b_l * (1.0 - t)) * t)
            start[lowest_at] = _inverse_lower_map(x[lowest_at], f)
        if highest_at.size:
            f, b_h, f_h = y[highest_at], b_edge[highest_at], f_edge[highest_at]
            fpp_h = fpp_edge[highest_at]
            f = np.where(np.isfinite(fpp_h) & (np.abs(fpp_h) < _SQRT_DBL_MAX), f, -1.0)
            width = half[highest_at] - b_h
            t = (beta[highest_at] - b_h) / width
            f = np.where(f > 0.0, f, (f_h * (1.0 - t) + 0.5 * width * t) * (1.0 - t))
            start[highest_at] = -2.0 * _norm_ppf_lower(np.clip(f, 1e-300, 0.5))
    # Brackets: (0, s_l], [s_l, s_c], [s_c, s_h], [s_h, inf).
    lo = np.where(lowest, 0.0, np.where(low | highest, s_edge, s_c))
    hi = np.where(lowest | (~low & ~highest), s_edge, np.where(low, s_c, np.inf))
    # Below the edge b falls off like exp(-x^2/(2 s^2)): match 1/ln b there. Near the bound,
    # match the distance to it, which keeps its relative precision.
    objective = np.full(x.size, _PLAIN, dtype=np.int8)
    objective[lowest] = _LOWER
    objective[highest & (beta > 0.5 * half)] = _UPPER
    # A start outside its bracket (rounding at extremes) is replaced by the bracket's middle.
    bad = ~((start > lo) & (start < hi))
    if bad.any():
        start[bad] = _bisect(lo[bad], hi[bad], start[bad])
    return start, lo, hi, objective


def _bisect(lo: FloatArray, hi: FloatArray, s: FloatArray) -> FloatArray:
    """A point inside (lo, hi): the middle, or a doubling when the bracket is open above."""
    with np.errstate(invalid="ignore"):
        return np.where(
            np.isinf(hi),
            2.0 * np.maximum(np.where(np.isfinite(s) & (s > lo), s, lo), 1e-8),
            0.5 * (lo + hi),
        )


def _black_normalised(
    x: FloatArray, s: FloatArray, half: FloatArray, ex: FloatArray, upper: BoolArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """b(x, s) = e^{x/2} N(d1) - e^{-x/2} N(d2), d1,2 = x/s +- s/2, for x <= 0, s >= 0, and
    its vega db/ds = e^{x/2} n(d1). Where `upper`, instead of b the distance to its bound,
    e^{x/2} N(-d1) + e^{-x/2} N(d2), each from tails that keep full relative precision.

    `half` is e^{x/2} and `ex` e^x: with them one exponential serves both densities, since
    n(d2) = n(d1) e^x (the identity F n(d1) = K n(d2)).
    """
    m = x.size
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        d1 = np.where(s > 0.0, x / s + 0.5 * s, -np.inf)
        g1 = np.exp(-0.5 * d1 * d1)
        first = d1 if upper is None else np.where(upper, -d1, d1)
        cdf = norm_cdf_gauss(np.concatenate((first, d1 - s)), np.concatenate((g1, g1 * ex)))
        second = cdf[m:] / half
        if upper is not None:
            second = np.where(upper, -second, second)
        value = half * cdf[:m] - second
    return np.maximum(value, 0.0), INV_SQRT_2PI * half * g1


def _lower_map(
    x: FloatArray, s: FloatArray, z: FloatArray, cdf: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Jäckel's f = 2 pi |x| / sqrt(27) N(-z)^3 with z = |x|/(sqrt(3) s), which equals b to
    leading order as s -> 0, and df/db, d2f/db2 at s (`cdf` is N(-z))."""
    ax = -x
    y = z * z
    s2 = s * s
    # Two exponentials serve the three factors: n(z) = n(0)/sqrt(e^y), e^{2y + s^2/4} and
    # e^{y + s^2/8}.
    ey = np.exp(y)
    es = np.exp(0.125 * s2)
    grow = ey * es
    fpp = (
        _PI_OVER_SIX
        * y
        / (s2 * s)
        * cdf
        * (
            8.0 * _SQRT_THREE * s * ax
            + (3.0 * s2 * (s2 - 8.0) - 8.0 * x * x) * cdf * (SQRT_2PI * np.sqrt(ey))
        )
        * (grow * grow)
    )
    cdf2 = cdf * cdf
    fp = np.where(s > 0.0, 2.0 * np.pi * y * cdf2 * grow, 1.0)
    f = _TWO_PI_OVER_SQRT_27 * ax * (cdf2 * cdf)
    return f, fp, fpp


def _inverse_lower_map(x: FloatArray, f: FloatArray) -> FloatArray:
    p = np.cbrt(f / (_TWO_PI_OVER_SQRT_27 * -x))
    return np.where(f > 0.0, x / (_SQRT_THREE * _norm_ppf_lower(np.clip(p, 1e-300, 0.5))), 0.0)


def _upper_map(
    x: FloatArray, s: FloatArray, f: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Jäckel's f = N(-s/2) (passed in), the distance to the bound as s -> infinity, with
    df/db and d2f/db2 at s."""
    w = (x / s) ** 2
    fp = -0.5 * np.exp(0.5 * w)
    fpp = _SQRT_PI_OVER_TWO * np.exp(w + 0.125 * s * s) * w / s
    return f, fp, fpp


def _rational_cubic(
    x: FloatArray,
    x_l: FloatArray,
    x_r: FloatArray,
    y_l: FloatArray,
    y_r: FloatArray,
    d_l: FloatArray,
    d_r: FloatArray,
    r: FloatArray,
) -> FloatArray:
    """Delbourgo-Gregory rational cubic through (x_l, y_l), (x_r, y_r) with end slopes d_l,
    d_r and control parameter r (r -> infinity: linear), as in Jäckel's rationalcubic."""
    h = x_r - x_l
    t = (x - x_l) / h
    omt = 1.0 - t
    t2 = t * t
    omt2 = omt * omt
    cubic = (
        y_r * t2 * t
        + (r * y_r - h * d_r) * t2 * omt
        + (r * y_l + h * d_l) * t * omt2
        + y_l * omt2 * omt
    ) / (1.0 + (r - 3.0) * t * omt)
    linear = y_r * t + y_l * omt
    out = np.where(r >= _RC_MAX, linear, cubic)
    return np.where(np.abs(h) > 0.0, out, 0.5 * (y_l + y_r))


def _minimum_control(
    d_l: FloatArray, d_r: FloatArray, s: FloatArray, prefer_shape: BoolArray
) -> FloatArray:
    """The smallest control parameter that keeps the interpolant monotone/convex where the
    data are (Delbourgo and Gregory's conditions (3.8) and (3.18)); where `prefer_shape`,
    shape is kept even at the price of a linear interpolant."""
    monotonic = (d_l * s >= 0.0) & (d_r * s >= 0.0)
    convex = (d_l <= s) & (s <= d_r)
    concave = (d_l >= s) & (s >= d_r)
    shaped = convex | concave
    s_zero = np.abs(s) < _DBL_MIN
    r1 = np.where(monotonic & ~s_zero, (d_r + d_l) / np.where(s_zero, 1.0, s), -_DBL_MAX)
    r1 = np.where(prefer_shape & monotonic & s_zero, _RC_MAX, r1)
    d_r_m_d_l = d_r - d_l
    d_r_m_s = d_r - s
    s_m_d_l = s - d_l
    degenerate = (np.abs(s_m_d_l) < _DBL_MIN) | (np.abs(d_r_m_s) < _DBL_MIN)
    r_shape = np.maximum(
        np.abs(d_r_m_d_l / np.where(degenerate, 1.0, d_r_m_s)),
        np.abs(d_r_m_d_l / np.where(degenerate, 1.0, s_m_d_l)),
    )
    r2 = np.where(shaped & ~degenerate, r_shape, -_DBL_MAX)
    r2 = np.where(prefer_shape & ((shaped & degenerate) | (~shaped & monotonic)), _RC_MAX, r2)
    out = np.maximum(_RC_MIN, np.maximum(r1, r2))
    return np.where(monotonic | shaped, out, _RC_MIN)


def _convex_control(
    x_l: FloatArray,
    x_r: FloatArray,
    y_l: FloatArray,
    y_r: FloatArray,
    d_l: FloatArray,
    d_r: FloatArray,
    second: FloatArray,
    *,
    right: BoolArray,
    prefer_shape: BoolArray,
) -> FloatArray:
    """Control parameter matching the second derivative `second` at the right end (where
    `right`) or the left end, but no less than shape preservation needs."""
    h = x_r - x_l
    slope = (y_r - y_l) / h
    numerator = 0.5 * h * second + (d_r - d_l)
    denominator = np.where(right, d_r - slope, slope - d_l)
    tiny = np.abs(denominator) < _DBL_MIN
    r = numerator / np.where(tiny, 1.0, denominator)
    r = np.where(tiny, np.where(numerator > 0.0, _RC_MAX, _RC_MIN), r)
    r = np.where(np.abs(numerator) < _DBL_MIN, 0.0, r)
    return np.maximum(r, _minimum_control(d_l, d_r, slope, prefer_shape))


def _householder_steps(
    x: FloatArray,
    beta: FloatArray,
    half: FloatArray,
    ex: FloatArray,
    s: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
    objective: npt.NDArray[np.int8],
) -> tuple[FloatArray, FloatArray]:
    """One third-order Householder step on every element (in place on lo and hi, which each
    evaluation narrows); returns the new s and the step taken."""
    upper_at = np.flatnonzero(objective == _UPPER)
    lower_at = np.flatnonzero(objective == _LOWER)
    upper = objective == _UPPER if upper_at.size else None
    # b, or for the upper objective the distance to the bound.
    value, vega = _black_normalised(x, s, half, ex, upper)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        target = beta if upper is None else np.where(upper, half - beta, beta)
        too_low = value < target
        if upper is not None:
            too_low ^= upper  # above, a larger distance to the bound means s is too low
        np.copyto(lo, s, where=too_low & (s > lo))
        np.copyto(hi, s, where=~too_low & (s < hi))
        # The three objectives g(s) (Jäckel 2015): b - beta in the middle, 1/ln b - 1/ln beta
        # below, ln((b_max - beta)/(b_max - b)) above; newton = -g/g', halley = g''/g',
        # hh3 = g'''/g', in terms of b' = vega and b''/b' = x^2/s^3 - s/4.
        h = x / s
        b_halley = h * h / s - 0.25 * s
        b_hh3 = b_halley * b_halley - 3.0 * (h / s) ** 2 - 0.25
        newton = (beta - value) / vega
        halley = b_halley.copy()
        hh3 = b_hh3.copy()
        if lower_at.size:
            v = value[lower_at]
            ln_b = np.log(v)
            ln_beta = np.log(beta[lower_at])
            bpob = vega[lower_at] / v
            k = 1.0 + 2.0 / ln_b
            bh = b_halley[lower_at]
            newton[lower_at] = (ln_beta - ln_b) * ln_b / ln_beta / bpob
            halley[lower_at] = bh - bpob * k
            hh3[lower_at] = (
                b_hh3[lower_at]
                + 2.0 * bpob * bpob * (1.0 + 3.0 / ln_b * (1.0 + 1.0 / ln_b))
                - 3.0 * bh * bpob * k
            )
        if upper_at.size:
            v = value[upper_at]
            gp = vega[upper_at] / v
            g = np.log((half[upper_at] - beta[upper_at]) / v)
            newton[upper_at] = -g / gp
            halley[upper_at] += gp
            hh3[upper_at] += gp * (2.0 * gp + 3.0 * b_halley[upper_at])
        step = newton * (1.0 + 0.5 * halley * newton)
        step /= 1.0 + newton * (halley + hh3 * newton / 6.0)
        step = np.maximum(step, -0.5 * s)
        new = s + step
        # A step that leaves the bracket (or is NaN: an underflowed b) bisects instead.
        outside = ~((new >= lo) & (new <= hi) & (new > 0.0))
        if outside.any():
            new = np.where(outside, _bisect(lo, hi, s), new)
            step = np.where(outside, np.inf, step)
    return new, step


def _solve_normalised(x: FloatArray, beta: FloatArray, half: FloatArray) -> FloatArray:
    """Total volatility s with b(x, s) = beta, for x <= 0 and 0 < beta < e^{x/2} = half (1-d)."""
    ex = half * half
    s, lo, hi, objective = _start_and_bracket(x, beta, half, ex)
    for _ in range(_FIXED_STEPS):
        s, step = _householder_steps(x, beta, half, ex, s, lo, hi, objective)
    # Householder(3) converges with order four: a step below 1e-6 relative leaves an error
    # below 1e-16 or so. Elements whose last step was larger take more steps (most take one
    # more, as Jäckel's two iterations), each still inside its shrinking bracket.
    left = np.flatnonzero(~(np.abs(step) <= _CONVERGED * s))
    for _ in range(_MAX_STEPS):
        if left.size == 0:
            break
        los, his = lo[left], hi[left]
        new, step = _householder_steps(
            x[left], beta[left], half[left], ex[left], s[left], los, his, objective[left]
        )
        s[left], lo[left], hi[left] = new, los, his
        done = (np.abs(step) <= _CONVERGED * new) | (his - los <= 4e-16 * his)
        left = left[~done]
    return s


def _implied_vol(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    is_call: ArrayLike,
) -> tuple[tuple[int, ...], FloatArray, npt.NDArray[np.int8]]:
    shape, (c, f, k, tt, r) = broadcast(price, forward, strike, t, rate)
    call = as_bool(is_call, shape)
    reason = np.zeros(c.shape, dtype=np.int8)  # IVReason.OK
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(c + f + k + tt + r)  # one NaN or inf anywhere makes the sum so
        bad = ~finite | (c < 0.0) | ~(f > 0.0) | ~(k > 0.0)
        if bad.any():
            reason[bad] = IVReason.BAD_INPUT
        expired = ~bad & (tt <= 0.0)
        if expired.any():
            reason[expired] = IVReason.EXPIRED
        live = ~(bad | expired)
        undiscounted = c * np.exp(r * np.where(live, tt, 0.0)) if r.any() else c
        intrinsic = np.maximum(np.where(call, f - k, k - f), 0.0)
        time_value = undiscounted - intrinsic
        reason[live & (time_value < 0.0)] = IVReason.BELOW_INTRINSIC
        reason[live & (time_value == 0.0)] = IVReason.NO_TIME_VALUE
        above = live & (time_value > 0.0) & (undiscounted >= np.where(call, f, k))
        reason[above] = IVReason.ABOVE_MAX
    vol = np.full(c.shape, np.nan)
    ok = np.flatnonzero(reason == IVReason.OK)
    if ok.size:
        fo, ko = f[ok], k[ok]
        # x = -|ln(F/K)| <= 0, and e^{x/2} without an exponential.
        ratio = np.minimum(fo, ko) / np.maximum(fo, ko)
        x = np.log(ratio)
        half = np.sqrt(ratio)
        beta = time_value[ok] / np.sqrt(fo * ko)
        # Rounding can push a price a hair past its bound (or to 0) after normalisation.
        fits = (beta > 0.0) & (beta < half)
        if not fits.all():
            reason[ok[~fits & (beta <= 0.0)]] = IVReason.NO_TIME_VALUE
            reason[ok[~fits & (beta > 0.0)]] = IVReason.ABOVE_MAX
            ok, x, beta, half = ok[fits], x[fits], beta[fits], half[fits]
        vol[ok] = _solve_normalised(x, beta, half) / np.sqrt(tt[ok])
    return shape, vol, reason


def implied_vol_reason(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike = 0.0,
    is_call: ArrayLike = True,
) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """Black-76 implied volatility and, per element, an `IVReason` code (int8).

    Arguments broadcast like `black76_price`'s. `price` is the option's (discounted) price,
    `forward` the forward of its expiry, `t` years to expiry, `rate` the discount rate.
    The volatility is NaN wherever the reason is not `IVReason.OK`.
    """
    shape, vol, reason = _implied_vol(price, forward, strike, t, rate, is_call)
    return vol.reshape(shape), reason.reshape(shape)


def implied_vol(
    price: ArrayLike,
    forward: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike = 0.0,
    is_call: ArrayLike = True,
) -> FloatArray:
    """Black-76 implied volatility (annualised, 0.15 for 15%), NaN where none exists.

    NaN for prices outside the no-arbitrage bounds (below the discounted intrinsic value, at
    or above the discounted forward for a call or strike for a put), for a price equal to the
    intrinsic value, at or after expiry and for bad input; `implied_vol_reason` says which.
    See the module docstring for the method and its accuracy.
    """
    return implied_vol_reason(price, forward, strike, t, rate, is_call)[0]


def implied_vol_bs(
    price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike = 0.10,
    is_call: ArrayLike = True,
) -> FloatArray:
    """Black-Scholes implied volatility on spot with no dividends (NSE's convention: r = 10%).

    Black-Scholes on spot S at rate r is Black-76 on the forward S e^{rt}, so this is
    `implied_vol` on that forward; NaN and reasons as there.
    """
    s, r, tt = (np.asarray(a, dtype=np.float64) for a in (spot, rate, t))
    forward = s * np.exp(r * np.maximum(tt, 0.0))
    return implied_vol(price, forward, strike, t, rate, is_call)
