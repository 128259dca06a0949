"""Black-76 prices and the normal CDF they rest on."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from optui.analytics.greeks import black76_price, norm_cdf, norm_pdf


def test_norm_cdf_matches_erfc_to_double_precision() -> None:
    x = np.linspace(-38.0, 38.0, 40_001)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])
    got = norm_cdf(x)
    assert np.max(np.abs(got - exact)) < 5e-16
    tail = (x < -7.5) & (x > -37.0)  # relative accuracy where values are tiny
    assert np.max(np.abs(got[tail] - exact[tail]) / exact[tail]) < 1e-12


def test_norm_cdf_edge_values_and_shapes() -> None:
    got = norm_cdf(np.array([-np.inf, 0.0, np.inf, np.nan]))
    assert got[0] == 0.0 and got[1] == 0.5 and got[2] == 1.0 and np.isnan(got[3])
    assert norm_cdf(1.0).shape == ()
    assert norm_cdf([[1.0, -1.0]]).shape == (1, 2)
    assert norm_pdf(0.0) == pytest.approx(1.0 / math.sqrt(2.0 * math.pi))


def test_black76_known_value() -> None:
    # Hull's textbook example of Black's model: a 4-month European put on a futures at 20,
    # strike 20, r = 9%, vol = 25% is worth 1.12.
    assert black76_price(20.0, 20.0, 4 / 12, 0.25, 0.09, False) == pytest.approx(
        1.1166414565589, abs=1e-12
    )
    # A NIFTY-like at-the-money weekly call: F = 24500, 5 days, 14%, r = 0.
    sd = 0.14 * math.sqrt(5 / 365)
    expected = 24500 * (2 * 0.5 * math.erfc(-sd / 2 / math.sqrt(2)) - 1)
    assert black76_price(24500.0, 24500.0, 5 / 365, 0.14) == pytest.approx(expected, rel=1e-13)


@given(
    forward=st.floats(100.0, 100_000.0),
    moneyness=st.floats(0.5, 1.5),
    t=st.floats(1e-4, 3.0),
    vol=st.floats(0.01, 1.5),
    rate=st.floats(-0.02, 0.15),
)
def test_put_call_parity(
    forward: float, moneyness: float, t: float, vol: float, rate: float
) -> None:
    strike = forward * moneyness
    call = black76_price(forward, strike, t, vol, rate, True)
    put = black76_price(forward, strike, t, vol, rate, False)
    parity = math.exp(-rate * t) * (forward - strike)
    assert call - put == pytest.approx(parity, abs=1e-9 * forward)
    assert call >= 0.0 and put >= 0.0


def test_expired_options_are_worth_their_intrinsic_value_undiscounted() -> None:
    price = black76_price(
        [105.0, 95.0, 105.0], 100.0, [0.0, -1.0, 0.0], 0.2, 0.1, [True, True, False]
    )
    assert price.tolist() == [5.0, 0.0, 0.0]


def test_zero_vol_gives_discounted_intrinsic_value() -> None:
    price = black76_price(110.0, 100.0, 0.5, [0.0, -0.1], 0.08, True)
    assert price == pytest.approx([10.0 * math.exp(-0.04)] * 2)
    assert black76_price(90.0, 100.0, 0.5, 0.0, 0.08, False) == pytest.approx(
        10.0 * math.exp(-0.04)
    )


def test_broadcasting_over_a_chain() -> None:
    strikes = np.arange(23_000.0, 26_001.0, 50.0)
    calls = black76_price(24_500.0, strikes[:, None], [[7 / 365, 35 / 365]], 0.13, 0.0, True)
    assert calls.shape == (len(strikes), 2)
    assert np.all(np.diff(calls, axis=0) < 0)  # calls cheapen as the strike rises
    assert np.all(calls[:, 1] > calls[:, 0])  # and gain with time
    mixed = black76_price(24_500.0, strikes, np.where(strikes > 25_000, 0.0, 0.02), 0.13)
    assert mixed[strikes > 25_000].tolist() == [0.0] * int((strikes > 25_000).sum())


def test_deep_out_of_the_money_is_tiny_and_never_negative() -> None:
    price = black76_price(24_500.0, [10_000.0, 60_000.0], 1 / 365, 0.12, 0.0, [False, True])
    assert np.all(price >= 0.0) and np.all(price < 1e-12)


def test_greeks_module_stays_free_of_the_ui() -> None:
    code = (
        "import sys, optui.analytics.greeks; "
        "bad = [m for m in sys.modules if m.startswith(('textual', 'optui.tui'))]; "
        "print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
