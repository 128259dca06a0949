"""The standard normal density and distribution function, to full relative precision.

numpy has no `erf`, so the CDF is W. J. Cody's rational approximation of erfc (1969),
accurate to about 1e-15 *relative* even far in the tails, which deep out-of-the-money prices
(a difference of two tiny tails) and their implied volatilities need. The coefficients are
Cody's (netlib SPECFUN, public domain).

Plain numpy, arrays in and out. This module must not import Textual or anything from
`optui.tui`.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["INV_SQRT_2PI", "SQRT_2PI", "norm_cdf", "norm_cdf_gauss", "norm_pdf"]

FloatArray = npt.NDArray[np.float64]
ArrayLike = npt.ArrayLike

INV_SQRT_2PI: Final = 0.3989422804014327
SQRT_2PI: Final = 2.5066282746310002

# W. J. Cody, "Rational Chebyshev approximations for the error function" (Math. Comp. 1969),
# the coefficients of his CALERF: erf(y) = y A(y^2)/B(y^2) for y <= 0.46875,
# erfc(y) = e^{-y^2} C(y)/D(y) up to y = 4, and e^{-y^2} (1/sqrt(pi) - P(1/y^2)/Q(1/y^2) / y^2) / y
# beyond. Each is accurate to about 1e-16 *relative*, which deep out-of-the-money implied
# volatilities need: their price is a difference of two tiny tails.
_CODY_A: Final = (
    3.1611237438705656,
    113.864154151050156,
    377.485237685302021,
    3209.37758913846947,
    0.185777706184603153,
)
_CODY_B: Final = (
    23.6012909523441209,
    244.024637934444173,
    1282.61652607737228,
    2844.23683343917062,
)
_CODY_C: Final = (
    0.564188496988670089,
    8.88314979438837594,
    66.1191906371416295,
    298.635138197400131,
    881.95222124176909,
    1712.04761263407058,
    2051.07837782607147,
    1230.33935479799725,
    2.15311535474403846e-8,
)
_CODY_D: Final = (
    15.7449261107098347,
    117.693950891312499,
    537.181101862009858,
    1621.38957456669019,
    3290.79923573345963,
    4362.61909014324716,
    3439.36767414372164,
    1230.33935480374942,
)
_CODY_P: Final = (
    0.305326634961232344,
    0.360344899949804439,
    0.125781726111229246,
    0.0160837851487422766,
    6.58749161529837803e-4,
    0.0163153871373020978,
)
_CODY_Q: Final = (
    2.56852019228982242,
    1.87295284992346047,
    0.527905102951428412,
    0.0605183413124413191,
    0.00233520497626869185,
)
_CODY_SMALL: Final = 0.46875
_CODY_LARGE: Final = 4.0
_SQRT_HALF: Final = 0.7071067811865476
_INV_SQRT_PI: Final = 0.5641895835477563


def norm_pdf(x: ArrayLike) -> FloatArray:
    """Standard normal density."""
    arr = np.asarray(x, dtype=np.float64)
    return np.asarray(INV_SQRT_2PI * np.exp(-0.5 * arr * arr), dtype=np.float64)


def norm_cdf(x: ArrayLike) -> FloatArray:
    """Standard normal cumulative distribution, to about 1e-15 relative (5e-14 beyond |x| = 20).

    N(x) = erfc(-x/sqrt(2))/2 with Cody's rational approximations: relative accuracy in the
    tails, not only absolute, so N(-8) is right to its last digits and not merely close to 0.
    """
    arr = np.asarray(x, dtype=np.float64)
    flat = arr.reshape(-1)  # 1-d, so the in-place steps below also work for scalars
    with np.errstate(under="ignore"):
        gauss = np.exp(-0.5 * flat * flat)
    return norm_cdf_gauss(flat, gauss).reshape(arr.shape)


def norm_cdf_gauss(x: FloatArray, gauss: FloatArray) -> FloatArray:
    """N(x) for 1-d `x` given gauss = exp(-x^2/2), which callers often have for free."""
    y = np.abs(x)
    y *= _SQRT_HALF
    tail = np.empty_like(y)  # N(-|x|), each element from the one rational for its region
    # This is the inner loop of pricing and inverting a whole market every second: in place,
    # and each region's rational only on its own elements.
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        near = y <= _CODY_SMALL
        far = y > _CODY_LARGE
        at = np.flatnonzero(near)
        if at.size:
            # Near zero: N(-z) = (1 - erf(y)) / 2.
            yn = y[at]
            ysq = yn * yn
            num = ysq * _CODY_A[4]
            num += _CODY_A[0]
            den = ysq + _CODY_B[0]
            for a, b in zip(_CODY_A[1:3], _CODY_B[1:3], strict=True):
                num *= ysq
                num += a
                den *= ysq
                den += b
            num *= ysq
            num += _CODY_A[3]
            den *= ysq
            den += _CODY_B[3]
            num *= yn
            num /= den
            num *= -0.5
            num += 0.5
            tail[at] = num
        at = np.flatnonzero(~(near | far))  # also NaN, which propagates
        if at.size:
            ym = y[at]
            num = ym * _CODY_C[8]
            num += _CODY_C[0]
            den = ym + _CODY_D[0]
            for c, d in zip(_CODY_C[1:7], _CODY_D[1:7], strict=True):
                num *= ym
                num += c
                den *= ym
                den += d
            num *= ym
            num += _CODY_C[7]
            den *= ym
            den += _CODY_D[7]
            num /= den
            num *= gauss[at]
            num *= 0.5
            tail[at] = num
        at = np.flatnonzero(far)
        if at.size:
            yf = np.minimum(y[at], 30.0)  # erfc(30) underflows; keeps inf out of 1/y^2
            w = 1.0 / (yf * yf)
            num = w * _CODY_P[5]
            den = w.copy()
            for p, q in zip(_CODY_P[:4], _CODY_Q[:4], strict=True):
                num += p
                num *= w
                den += q
                den *= w
            ratio = w * (num + _CODY_P[4]) / (den + _CODY_Q[4])
            tail[at] = 0.5 * gauss[at] * (_INV_SQRT_PI - ratio) / yf
        np.subtract(1.0, tail, out=tail, where=x > 0.0)
    return tail
