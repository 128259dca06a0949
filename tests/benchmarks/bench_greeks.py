"""Benchmark: implied volatility and all greeks of a 4000-option chain, optui vs py_vollib.

The chain is NIFTY-like: 8 expiries from one day to three months, 250 strikes each around
its forward, calls and puts, prices from a volatility smile rounded to NSE's 0.05 tick (so
some deep in-the-money quotes sit below intrinsic and have no IV, as in real chains). Each
library computes, per option, the Black-76 implied volatility and delta, gamma, theta and
vega at it:

- optui: `implied_vol` and `greeks` on the whole chain (numpy only, nothing compiled);
- py_vollib (Jäckel's LetsBeRational, textbook greeks), one option at a time, as its API
  works. py_lets_be_rational compiles itself with numba when numba is installed (it is, for
  py_vollib_vectorized): its first option (`first_option_s`) is left out of the timing. The
  loop is timed over a random `--sample` of the chain and scaled to the full chain, and
  again in a child process with numba disabled (`pure_python_...`: py_vollib as most users
  have it);
- py_vollib_vectorized (numba), if it imports: its first call includes compiling (numba's
  cache is pointed at a fresh folder, so it is a cold start), reported separately from its
  best warm call.

    .venv/bin/python tests/benchmarks/bench_greeks.py [--options 4000] [--sample 400]

Prints one JSON object: seconds per chain for each, their ratios, and how far the libraries'
IVs and greeks are from optui's (they compute the same numbers).
"""

from __future__ import annotations

import os
import tempfile

# Before anything imports numba (py_vollib's LetsBeRational does): a fresh cache folder, so
# py_vollib_vectorized's first call really compiles, as on a user's first run.
os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="optui-bench-numba-")

import argparse
import json
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from optui.analytics.greeks import black76_price, greeks, implied_vol

TICK = 0.05


def chain(n: int, seed: int = 2026) -> dict[str, np.ndarray]:
    """`n` options: 8 expiries x n/16 strikes x call and put, NIFTY-like prices."""
    rng = np.random.default_rng(seed)
    days = np.array([1, 2, 7, 14, 28, 35, 63, 91])
    per = n // (2 * len(days))
    spot, rate = 24_500.0, 0.065
    rows: dict[str, list[np.ndarray]] = {key: [] for key in ("f", "k", "t", "call", "vol")}
    for d in days:
        t = (d - 0.3) / 365.0
        forward = spot * np.exp(rate * t)
        width = 4.0 * 0.13 * np.sqrt(t) * forward  # four standard deviations either side
        strikes = np.round(np.linspace(forward - width, forward + width, per) / 50.0) * 50.0
        m = np.log(strikes / forward) / np.sqrt(t)
        vol = 0.12 - 0.08 * m + 0.35 * m * m + rng.normal(0.0, 0.002, per)
        for is_call in (True, False):
            rows["f"].append(np.full(per, forward))
            rows["k"].append(strikes)
            rows["t"].append(np.full(per, t))
            rows["call"].append(np.full(per, is_call))
            rows["vol"].append(vol)
    out = {key: np.concatenate(value) for key, value in rows.items()}
    price = black76_price(out["f"], out["k"], out["t"], out["vol"], rate, out["call"])
    out["price"] = np.maximum(np.round(price / TICK) * TICK, TICK)
    out["rate"] = np.full(out["f"].size, rate)
    return out


def best_time(fn: Callable[[], object], seconds: float) -> float:
    """Best wall time of repeated calls for about `seconds` (at least 5 calls)."""
    best = float("inf")
    deadline = time.perf_counter() + seconds
    calls = 0
    while calls < 5 or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        calls += 1
    return best


def optui_chain(c: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    iv = implied_vol(c["price"], c["f"], c["k"], c["t"], c["rate"], c["call"])
    g = greeks(c["f"], c["k"], c["t"], c["rate"], iv, c["call"])
    return iv, g.delta, g.gamma, g.theta, g.vega


def vollib_functions() -> tuple[Callable[..., float], list[Callable[..., float]]]:
    # Bound now: importing py_vollib_vectorized later replaces these module attributes.
    from py_vollib.black.greeks import analytical  # type: ignore[import-untyped]  # noqa: PLC0415
    from py_vollib.black.implied_volatility import implied_volatility  # type: ignore[import-untyped]  # noqa: PLC0415

    return implied_volatility, [
        analytical.delta,
        analytical.gamma,
        analytical.theta,
        analytical.vega,
    ]


def vollib_chain(c: dict[str, np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, ...]:
    iv_fn, greek_fns = VOLLIB
    out = np.full((5, rows.size), np.nan)
    for j, i in enumerate(rows):
        flag = "c" if c["call"][i] else "p"
        f, k, t, r = c["f"][i], c["k"][i], c["t"][i], c["rate"][i]
        try:
            iv = iv_fn(c["price"][i], f, k, r, t, flag)
        except Exception:  # below intrinsic / above maximum: no IV, no greeks
            continue
        out[0, j] = iv
        for g, fn in enumerate(greek_fns, start=1):
            out[g, j] = fn(flag, f, k, t, r, iv)
    return tuple(out)


def largest_gap(ours: tuple[np.ndarray, ...], theirs: tuple[np.ndarray, ...]) -> dict[str, Any]:
    """Largest |difference| per quantity where both have a value, and where only one has."""
    names = ("iv", "delta", "gamma", "theta", "vega")
    gaps: dict[str, Any] = {}
    for name, a, b in zip(names, ours, theirs, strict=True):
        both = np.isfinite(a) & np.isfinite(b)
        gaps[name] = float(np.max(np.abs(a[both] - b[both]))) if both.any() else None
    gaps["iv_only_one_has_a_value"] = int(np.sum(np.isfinite(ours[0]) != np.isfinite(theirs[0])))
    return gaps


def vectorized(c: dict[str, np.ndarray], ours: tuple[np.ndarray, ...], seconds: float) -> Any:
    """py_vollib_vectorized two ways: its public API, what a user calls (its per-greek
    functions fail for model="black" in 0.1.1, so `get_all_greeks`, which adds rho and returns
    lists), and its numba IV kernel alone against optui's `implied_vol` alone (no input checks
    or conversions: the least its IV can cost; its gamma kernel for Black does not compile).
    Its greeks are finite differences (theta over a whole day, vega over +-1 vol point) and
    disagree with the analytic ones well beyond that: see `gap_to_optui`."""
    try:
        start = time.perf_counter()
        import py_vollib_vectorized as pvv  # type: ignore[import-untyped]  # noqa: PLC0415
        from py_vollib_vectorized._iv_models import (  # type: ignore[import-untyped]  # noqa: PLC0415
            implied_volatility_from_a_transformed_rational_guess as iv_kernel,
        )

        import_s = time.perf_counter() - start
    except Exception as exc:  # not installable here (numba on this Python, say)
        return {"error": f"{type(exc).__name__}: {exc}"}
    flag = np.where(c["call"], "c", "p")
    q = np.where(c["call"], 1.0, -1.0)
    f, k, t, r, price = c["f"], c["k"], c["t"], c["rate"], c["price"]

    def public() -> tuple[np.ndarray, ...]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            iv = pvv.vectorized_implied_volatility_black(price, f, k, r, t, flag, return_as="numpy")
            g = pvv.get_all_greeks(flag, f, k, t, r, iv, model="black", return_as="dict")
        return iv, *(np.asarray(g[name]) for name in ("delta", "gamma", "theta", "vega"))

    def kernel() -> np.ndarray:
        return np.asarray(iv_kernel(price * np.exp(r * t), f, k, t, q))

    out: dict[str, Any] = {"version": _version("py_vollib_vectorized"), "import_s": import_s}
    try:
        start = time.perf_counter()
        theirs = public()
        first = time.perf_counter() - start
        out["public_api"] = {
            "first_call_s": first,
            "warm_s": best_time(public, seconds),
            "gap_to_optui": largest_gap(ours, theirs),
        }
    except Exception as exc:
        out["public_api"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        start = time.perf_counter()
        iv = kernel()
        first = time.perf_counter() - start
        out["iv_kernel_only"] = {
            "first_call_s": first,
            "warm_s": best_time(kernel, seconds),
            "optui_implied_vol_only_s": best_time(
                lambda: implied_vol(price, f, k, t, r, c["call"]), seconds
            ),
            "iv_gap_to_optui": float(np.nanmax(np.abs(iv - ours[0]))),
        }
    except Exception as exc:
        out["iv_kernel_only"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def _numba_jit_active() -> bool:
    """Whether py_lets_be_rational compiled itself with numba (it does when numba imports)."""
    from py_lets_be_rational import lets_be_rational  # type: ignore[import-untyped]  # noqa: PLC0415

    return hasattr(lets_be_rational.normalised_black_call, "signatures")


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


VOLLIB = vollib_functions()


def vollib_loop(c: dict[str, np.ndarray], sample: np.ndarray) -> dict[str, Any]:
    """py_vollib's per-option loop over `sample`, scaled to the chain, after one untimed
    option (with numba, py_lets_be_rational compiles itself on first use)."""
    start = time.perf_counter()
    vollib_chain(c, sample[:1])
    first = time.perf_counter() - start
    start = time.perf_counter()
    theirs = vollib_chain(c, sample)
    return {
        "per_option_loop_s": (time.perf_counter() - start) * c["price"].size / sample.size,
        "first_option_s": first,
        "values": theirs,
    }


def pure_python_vollib(args: argparse.Namespace) -> dict[str, Any]:
    """The same loop in a child process with NUMBA_DISABLE_JIT=1: py_vollib as installed
    without numba (pure Python), the way most users have it."""
    child = subprocess.run(
        [
            *(sys.executable, __file__, "--vollib-only"),
            *("--options", str(args.options), "--sample", str(args.sample)),
        ],
        env={**os.environ, "NUMBA_DISABLE_JIT": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        return {"error": child.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(child.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--options", type=int, default=4000)
    parser.add_argument("--sample", type=int, default=400, help="py_vollib options timed")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--vollib-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    c = chain(args.options)
    n = c["price"].size
    sample = np.sort(np.random.default_rng(1).choice(n, min(args.sample, n), replace=False))
    if args.vollib_only:
        loop = vollib_loop(c, sample)
        print(json.dumps({"per_option_loop_s": loop["per_option_loop_s"]}))
        return
    # optui: its first call is already its speed (nothing to compile); best of repeats.
    start = time.perf_counter()
    ours = optui_chain(c)
    ours_first = time.perf_counter() - start
    ours_s = best_time(lambda: optui_chain(c), args.seconds)

    loop = vollib_loop(c, sample)
    vollib_s = loop["per_option_loop_s"]
    pure = pure_python_vollib(args)

    results: dict[str, Any] = {
        "benchmark": "Black-76 IV + delta, gamma, theta, vega for a chain",
        "options": n,
        "options_with_iv": int(np.isfinite(ours[0]).sum()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "optui": {"first_call_s": round(ours_first, 5), "best_s": round(ours_s, 5)},
        "py_vollib": {
            "version": _version("py_vollib"),
            "per_option_loop_s": round(vollib_s, 4),
            "first_option_s": round(loop["first_option_s"], 3),
            "lets_be_rational_jit": _numba_jit_active(),
            "pure_python_per_option_loop_s": (
                round(pure["per_option_loop_s"], 3) if "per_option_loop_s" in pure else pure
            ),
            "scaled_from": f"{sample.size} random options of the chain",
            "gap_to_optui": largest_gap(tuple(a[sample] for a in ours), loop["values"]),
        },
        "ratio_vs_py_vollib": round(vollib_s / ours_s, 1),
    }
    if "per_option_loop_s" in pure:
        results["ratio_vs_py_vollib_pure_python"] = round(pure["per_option_loop_s"] / ours_s, 1)
    pvv = vectorized(c, ours, args.seconds)
    results["py_vollib_vectorized"] = pvv
    api = pvv.get("public_api", {})
    if "warm_s" in api:
        results["ratio_vs_py_vollib_vectorized_warm"] = round(api["warm_s"] / ours_s, 2)
        results["ratio_vs_py_vollib_vectorized_first_call"] = round(
            api["first_call_s"] / ours_first, 1
        )
    kernel = pvv.get("iv_kernel_only", {})
    if "warm_s" in kernel:
        results["ratio_iv_only_vs_py_vollib_vectorized_kernel_warm"] = round(
            kernel["warm_s"] / kernel["optui_implied_vol_only_s"], 2
        )
    for timing in (pvv, api, kernel):
        for key, value in timing.items():
            if key.endswith("_s"):
                timing[key] = round(value, 5)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
