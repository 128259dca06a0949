"""The Kite emulator: the official client works against it unchanged, and so does the protocol.

Fidelity tests take a `target` (the emulator, or real Kite under `pytest -m live` with
KITE_API_KEY, KITE_API_SECRET and KITE_ACCESS_TOKEN set) and assert what holds for both; on
the emulator they also check the answers against its market. The rest drives the websocket
protocol with a `websockets` client, every fault, and `optui emulate` as a subprocess.
Servers bind 127.0.0.1 on free ports; nothing reaches the network. Emulators here run on a
clock pinned to 10:00 IST of a fixed trading day (moving at real pace) so the market is the
same whatever the date, and at 60x so a minute of market passes in a second.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from optui.emulator import DEMO_API_KEY, DEMO_API_SECRET, FAULTS, Emulator
from optui.emulator.faults import FaultState, parse_schedule
from optui.emulator.history import MinuteCandles
from optui.emulator.limits import RateLimits, rate_class
from optui.emulator.rest import RestApp
from optui.emulator.sessions import kite_expiry
from optui.emulator.stream import MAX_TOKENS
from optui.feed.calendar import IST, TradingCalendar, epoch_at
from optui.feed.codec import (
    MODE_FULL,
    MODE_INDEX_FULL,
    MODE_INDEX_QUOTE,
    MODE_LTP,
    MODE_QUOTE,
    FrameError,
    decode,
    empty_ticks,
)

HERE = Path(__file__).resolve().parent
TICKER_SCRIPT = HERE / "emulator_ticker.py"
NIFTY_50 = 256265  # the same token on Kite and in the demo
DAY = TradingCalendar.default().on_or_before(date(2025, 12, 10))
SPEED = 60.0
WAIT = 10.0  # seconds any condition gets before the test fails


def pinned_clock(day: date = DAY, at: clock_time = clock_time(10, 0)) -> Callable[[], float]:
    """Wall clock that reads `at` IST on `day` now and then moves at real pace."""
    base = float(epoch_at(day, at))
    start = time.time()
    return lambda: base + (time.time() - start)


def make_emulator(**options: Any) -> Emulator:
    settings: dict[str, Any] = {
        "instruments": 300,
        "speed": SPEED,
        "heartbeat_interval": 0.2,
        "clock": pinned_clock(),
    }
    settings.update(options)
    return Emulator(**settings)


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    """One emulator for the tests that do not break it (no expire, no drop)."""
    with make_emulator() as emu:
        yield emu


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """A fresh emulator, for tests whose faults would spoil it for others."""
    with make_emulator() as emulator:
        yield emulator


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        threading.Event().wait(0.02)  # a poll interval, not a timing assumption


@dataclass(frozen=True)
class Target:
    """Where fidelity tests point the official client: the emulator or real Kite."""

    api_key: str
    access_token: str = field(repr=False)  # a real token under -m live: never in a report
    api_url: str
    ws_url: str
    emulator: Emulator | None

    def kite(self) -> KiteConnect:
        return KiteConnect(self.api_key, access_token=self.access_token, root=self.api_url)


@pytest.fixture(params=["emulator", pytest.param("live", marks=pytest.mark.live)])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "live":
        live = request.getfixturevalue("live_kite")
        return Target(live.api_key, live.access_token, live.api_url, live.ws_url, None)
    emu: Emulator = request.getfixturevalue("shared_emulator")
    return Target(emu.api_key, emu.issue_access_token(), emu.api_url, emu.ws_url, emu)


def login(emu: Emulator, **params: str) -> tuple[str, dict[str, list[str]]]:
    """Follow the login page to its redirect; the request token and the redirect's query."""
    response = requests.get(
        emu.login_url,
        params={"api_key": emu.api_key, "v": "3", **params},
        allow_redirects=False,
        timeout=WAIT,
    )
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == emu.redirect_url
    query = parse_qs(location.query)
    return query["request_token"][0], query


# -- login and sessions -------------------------------------------------------------------------


def test_login_flow_with_the_official_client(shared_emulator: Emulator) -> None:
    emu = shared_emulator
    request_token, query = login(emu)
    assert query["status"] == ["success"] and query["action"] == ["login"]
    assert len(request_token) == 32 and request_token.isalnum()

    kite = KiteConnect(DEMO_API_KEY, root=emu.api_url)
    session = kite.generate_session(request_token, DEMO_API_SECRET)
    token = session["access_token"]
    assert len(token) == 32 and token.isalnum() and kite.access_token == token
    assert session["user_id"] == "AB1234" and session["broker"] == "ZERODHA"
    assert session["api_key"] == DEMO_API_KEY and session["refresh_token"] == ""
    # The client parsed Kite's "YYYY-MM-DD HH:MM:SS" into a datetime: the (pinned) IST time.
    assert isinstance(session["login_time"], datetime)
    assert (
        abs(session["login_time"].replace(tzinfo=IST).timestamp() - epoch_at(DAY, clock_time(10)))
        < 60
    )
    assert {"NFO", "BFO", "NSE"} <= set(session["exchanges"])

    profile = kite.profile()
    assert profile["user_id"] == "AB1234" and profile["email"]

    # A request token is good once.
    with pytest.raises(kex.TokenException):
        KiteConnect(DEMO_API_KEY, root=emu.api_url).generate_session(request_token, DEMO_API_SECRET)


def test_wrong_checksum_is_a_token_error(shared_emulator: Emulator) -> None:
    request_token, _ = login(shared_emulator)
    with pytest.raises(kex.TokenException, match="checksum") as caught:
        KiteConnect(DEMO_API_KEY, root=shared_emulator.api_url).generate_session(
            request_token, "not-the-secret"
        )
    assert caught.value.code == 403


def test_session_token_checks_its_fields(shared_emulator: Emulator) -> None:
    request_token, _ = login(shared_emulator)
    checksum = hashlib.sha256(
        f"{DEMO_API_KEY}{request_token}{DEMO_API_SECRET}".encode()
    ).hexdigest()
    url = shared_emulator.api_url + "/session/token"
    missing = requests.post(url, data={"api_key": DEMO_API_KEY, "checksum": checksum}, timeout=WAIT)
    assert missing.status_code == 400
    assert missing.json() == {
        "status": "error",
        "message": "`request_token` is missing",
        "error_type": "InputException",
        "data": None,
    }
    good = requests.post(
        url,
        data={"api_key": DEMO_API_KEY, "request_token": request_token, "checksum": checksum},
        timeout=WAIT,
    )
    assert good.status_code == 200 and good.json()["status"] == "success"


def test_login_page_passes_redirect_params_through(shared_emulator: Emulator) -> None:
    _, query = login(shared_emulator, redirect_params="state=abc&next=/chain")
    assert query["state"] == ["abc"] and query["next"] == ["/chain"]


def test_login_page_refuses_an_unknown_api_key(shared_emulator: Emulator) -> None:
    response = requests.get(
        shared_emulator.login_url,
        params={"api_key": "someoneelse", "v": "3"},
        allow_redirects=False,
        timeout=WAIT,
    )
    assert response.status_code == 400
    assert "api_key" in response.text and "Location" not in response.headers


def test_invalidated_token_is_refused(shared_emulator: Emulator) -> None:
    kite = KiteConnect(
        DEMO_API_KEY,
        access_token=shared_emulator.issue_access_token(),
        root=shared_emulator.api_url,
    )
    assert kite.profile()["user_id"] == "AB1234"
    assert kite.invalidate_access_token() is True
    with pytest.raises(kex.TokenException) as caught:
        kite.profile()
    assert caught.value.code == 403


def test_access_tokens_die_at_six_ist() -> None:
    issued = epoch_at(DAY, clock_time(22, 30))
    expiry = datetime.fromtimestamp(kite_expiry(issued), IST)
    assert (expiry.date(), expiry.time()) == (DAY + timedelta(days=1), clock_time(6, 0))
    early = epoch_at(DAY, clock_time(5, 0))
    assert datetime.fromtimestamp(kite_expiry(early), IST).date() == DAY


def test_missing_or_malformed_authorization_is_a_token_error(shared_emulator: Emulator) -> None:
    url = shared_emulator.api_url + "/user/profile"
    for headers in ({}, {"Authorization": "token nocolon"}, {"Authorization": "bearer a:b"}):
        response = requests.get(url, headers=headers, timeout=WAIT)
        assert response.status_code == 403
        assert response.json()["error_type"] == "TokenException"


# -- market data through the official client (also against real Kite with -m live) ---------------


def test_profile(target: Target) -> None:
    profile = target.kite().profile()
    assert profile["user_id"] and profile["broker"] == "ZERODHA"
    assert "NFO" in profile["exchanges"]


def test_instruments(target: Target) -> None:
    kite = target.kite()
    rows = kite.instruments()
    nfo = kite.instruments("NFO")
    columns = {
        "instrument_token",
        "exchange_token",
        "tradingsymbol",
        "name",
        "last_price",
        "expiry",
        "strike",
        "tick_size",
        "lot_size",
        "instrument_type",
        "segment",
        "exchange",
    }
    assert rows and set(rows[0]) == columns
    assert nfo and all(r["exchange"] == "NFO" for r in nfo)
    assert any(r["instrument_token"] == NIFTY_50 and r["segment"] == "INDICES" for r in rows)
    options = [r for r in nfo if r["instrument_type"] in ("CE", "PE")]
    assert options and all(isinstance(r["expiry"], date) and r["strike"] > 0 for r in options)
    if target.emulator is not None:
        universe = target.emulator.market.instruments
        assert [r["instrument_token"] for r in rows] == universe.instrument_token.tolist()
        assert [r["tradingsymbol"] for r in rows] == list(universe.tradingsymbol)
        _, close = target.emulator.market.previous_close()
        assert [r["last_price"] for r in rows] == pytest.approx(close.tolist())
        listed = [i for i, ex in enumerate(universe.exchange) if ex == "NFO"]
        assert [r["instrument_token"] for r in nfo] == universe.instrument_token[listed].tolist()


def _nifty_future(kite: KiteConnect) -> dict[str, Any]:
    """NIFTY's nearest future: listed and liquid on Kite and in the demo alike."""
    futures = [
        r for r in kite.instruments("NFO") if r["name"] == "NIFTY" and r["instrument_type"] == "FUT"
    ]
    return min(futures, key=lambda r: r["expiry"])


def _keys(kite: KiteConnect) -> tuple[str, str]:
    """An index and an NFO future to ask quotes for."""
    return "NSE:NIFTY 50", f"NFO:{_nifty_future(kite)['tradingsymbol']}"


def test_quotes(target: Target) -> None:
    kite = target.kite()
    index, future = _keys(kite)
    quotes = kite.quote([index, future, "NSE:NO-SUCH-THING"])
    assert set(quotes) == {index, future}  # unknown instruments are left out, as Kite does
    q = quotes[future]
    for name in (
        "instrument_token",
        "timestamp",
        "last_trade_time",
        "last_price",
        "last_quantity",
        "buy_quantity",
        "sell_quantity",
        "volume",
        "average_price",
        "oi",
        "oi_day_high",
        "oi_day_low",
        "net_change",
        "lower_circuit_limit",
        "upper_circuit_limit",
        "ohlc",
        "depth",
    ):
        assert name in q, name
    assert isinstance(q["timestamp"], datetime)  # parsed by the client: the right format
    assert q["last_price"] > 0 and q["oi"] > 0
    assert q["lower_circuit_limit"] < q["last_price"] < q["upper_circuit_limit"]
    assert len(q["depth"]["buy"]) == len(q["depth"]["sell"]) == 5
    assert set(q["depth"]["buy"][0]) == {"price", "quantity", "orders"}
    assert quotes[index]["instrument_token"] == NIFTY_50

    ltp = kite.ltp([index, future])
    assert set(ltp[index]) == {"instrument_token", "last_price"}
    ohlc = kite.ohlc([index])
    assert set(ohlc[index]) == {"instrument_token", "last_price", "ohlc"}
    assert set(ohlc[index]["ohlc"]) == {"open", "high", "low", "close"}

    emu = target.emulator
    if emu is not None:
        # The values are the market's latest tick (read it after: ticks move on meanwhile).
        # (Depth is empty on Kite out of hours; the emulator's market is always open.)
        assert q["depth"]["buy"][0]["price"] < q["depth"]["sell"][0]["price"]
        universe = emu.market.instruments
        row = universe.row_of(q["instrument_token"])
        latest = emu.data.latest()[row]
        assert q["oi"] <= latest["oi_day_high"] and q["volume"] <= latest["volume_traded"]
        assert q["ohlc"]["close"] == pytest.approx(float(latest["close"]))
        step = float(universe.tick_size[row])
        assert q["lower_circuit_limit"] == pytest.approx(0.8 * latest["close"], abs=step)
        assert q["upper_circuit_limit"] == pytest.approx(1.2 * latest["close"], abs=step)


def test_quote_limits_and_input_errors(shared_emulator: Emulator) -> None:
    kite = KiteConnect(
        DEMO_API_KEY,
        access_token=shared_emulator.issue_access_token(),
        root=shared_emulator.api_url,
    )
    with pytest.raises(kex.InputException, match="500") as caught:
        kite.quote([f"NSE:X{i}" for i in range(501)])
    assert caught.value.code == 400
    assert len(kite.ltp([f"NSE:X{i}" for i in range(1000)])) == 0  # ltp allows 1000
    with pytest.raises(kex.InputException, match="interval"):
        kite.historical_data(NIFTY_50, DAY, DAY, "7minute")
    with pytest.raises(kex.InputException, match="token"):
        kite.historical_data(999, DAY, DAY, "minute")
    with pytest.raises(kex.InputException, match="from"):
        kite.historical_data(NIFTY_50, "yesterday", DAY, "minute")
    with pytest.raises(kex.InputException, match="exchange"):
        kite.instruments("NOPE")


def test_quote_by_instrument_token(shared_emulator: Emulator) -> None:
    kite = KiteConnect(
        DEMO_API_KEY,
        access_token=shared_emulator.issue_access_token(),
        root=shared_emulator.api_url,
    )
    assert kite.ltp([str(NIFTY_50)])[str(NIFTY_50)]["instrument_token"] == NIFTY_50


def test_historical_day_and_minute_candles(shared_emulator: Emulator) -> None:
    emu = shared_emulator
    kite = KiteConnect(DEMO_API_KEY, access_token=emu.issue_access_token(), root=emu.api_url)
    universe = emu.market.instruments
    future = next(
        i for i in range(len(universe)) if universe.kind[i] == 2 and universe.exchange[i] == "NFO"
    )
    token = int(universe.instrument_token[future])
    previous = emu.data.previous_session

    days = kite.historical_data(token, previous, DAY, "day", oi=True)
    assert [d["date"].date() for d in days] == [previous, DAY]
    _, close = emu.market.previous_close()
    _, close_oi = emu.market.previous_close_oi()
    assert days[0]["close"] == pytest.approx(close[future]) and days[0]["oi"] == close_oi[future]
    assert days[1]["high"] >= days[1]["close"] >= days[1]["low"] > 0 and days[1]["volume"] > 0

    # Minute candles: what the emulator streamed since it started; at 60x, a minute a second.
    start = datetime.combine(DAY, clock_time(9, 15))
    end = datetime.combine(DAY, clock_time(15, 30))
    wait_until(
        lambda: len(kite.historical_data(token, start, end, "minute")) >= 3, "three minute candles"
    )
    minutes = kite.historical_data(token, start, end, "minute", oi=True)
    stamps = [m["date"] for m in minutes]
    assert stamps[0] >= datetime.combine(DAY, clock_time(10, 0), IST)
    assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(stamps))
    assert all(m["low"] <= min(m["open"], m["close"]) for m in minutes)
    assert all(m["high"] >= max(m["open"], m["close"]) for m in minutes)
    assert all(m["oi"] > 0 for m in minutes)
    assert sum(m["volume"] for m in minutes[1:]) > 0
    assert "oi" not in kite.historical_data(token, start, end, "minute")[0]
    fives = kite.historical_data(token, start, end, "5minute")
    assert fives and all((f["date"].minute - 15) % 5 == 0 for f in fives)
    # Nothing before the emulator started, and nothing on a day it does not know.
    assert kite.historical_data(token, previous, previous, "minute") == []


def test_minute_candles_regroup_from_the_open() -> None:
    open_epoch = epoch_at(DAY, clock_time(9, 15))
    candles = MinuteCandles(2, open_epoch)
    ticks = empty_ticks(2)
    prices = [100.0, 101.5, 99.0, 100.25, 102.0, 98.5, 100.0]
    for second, price in enumerate(prices):  # one round every 40 s from 09:20:00
        ticks["exchange_timestamp"] = open_epoch + 300 + 40 * second
        ticks["last_price"] = [price, 2 * price]
        ticks["volume_traded"] = [10 * (second + 1), 0]
        ticks["oi"] = [1000 + second, 0]
        candles.add(ticks)
    minutes = candles.candles(0, 1, 0, 2**40)
    # 09:20:00 09:20:40 | 09:21:20 | 09:22:00 09:22:40 | 09:23:20 | 09:24:00
    assert [c.start - open_epoch for c in minutes] == [300, 360, 420, 480, 540]
    assert [(c.open, c.high, c.low, c.close) for c in minutes] == [
        (100.0, 101.5, 100.0, 101.5),
        (99.0, 99.0, 99.0, 99.0),
        (100.25, 102.0, 100.25, 102.0),
        (98.5, 98.5, 98.5, 98.5),
        (100.0, 100.0, 100.0, 100.0),
    ]
    # Volume counts from the first round seen; each minute gets what traded in it.
    assert [c.volume for c in minutes] == [10, 10, 20, 10, 10]
    assert [c.oi for c in minutes] == [1001, 1002, 1004, 1005, 1006]
    fives = candles.candles(0, 5, 0, 2**40)
    assert [(c.start - open_epoch, c.open, c.high, c.low, c.close, c.volume) for c in fives] == [
        (300, 100.0, 102.0, 98.5, 100.0, 60)
    ]
    threes = candles.candles(1, 3, open_epoch + 360, 2**40)  # 09:18-09:21 starts before
    assert [(c.start - open_epoch, c.open, c.high) for c in threes] == [
        (360, 198.0, 204.0),
        (540, 200.0, 200.0),
    ]
    assert candles.candles(0, 1, open_epoch + 400, open_epoch + 500) == minutes[2:4]
    assert minutes[0].row(True)[0] == datetime.fromtimestamp(open_epoch + 300, IST).strftime(
        "%Y-%m-%dT%H:%M:%S+0530"
    )


# -- errors and faults over REST ----------------------------------------------------------------


def test_ratelimit_fault_gives_429_then_recovers(shared_emulator: Emulator) -> None:
    emu = shared_emulator
    kite = KiteConnect(DEMO_API_KEY, access_token=emu.issue_access_token(), root=emu.api_url)
    emu.inject("ratelimit", count=2)
    for _ in range(2):
        with pytest.raises(kex.NetworkException, match="Too many requests") as caught:
            kite.profile()
        assert caught.value.code == 429
    assert kite.profile()["user_id"] == "AB1234"


def test_expire_fault_kills_rest_sessions(emu: Emulator) -> None:
    kite = KiteConnect(DEMO_API_KEY, access_token=emu.issue_access_token(), root=emu.api_url)
    assert kite.profile()
    emu.inject("expire")
    with pytest.raises(kex.TokenException) as caught:
        kite.ltp(["NSE:NIFTY 50"])
    assert caught.value.code == 403
    # A new login works again.
    fresh = KiteConnect(DEMO_API_KEY, access_token=emu.issue_access_token(), root=emu.api_url)
    assert fresh.profile()


def test_rate_limits_follow_kites_when_enforced(shared_emulator: Emulator) -> None:
    emu = shared_emulator
    now = [100.0]
    app = RestApp(
        sessions=emu.sessions,
        faults=FaultState(),
        market=emu.data,
        redirect_url=emu.redirect_url,
        inject=lambda name, seconds, count: None,
        stats=dict,
        rate_limits=RateLimits(clock=lambda: now[0]),
    )
    auth = {"authorization": f"token {emu.api_key}:{emu.issue_access_token()}"}

    def get(path: str, **query: str) -> int:
        return app.handle("GET", path, {k: [v] for k, v in query.items()}, {}, auth).status

    assert [get("/quote/ltp", i="NSE:NIFTY 50"), get("/quote", i="NSE:NIFTY 50")] == [200, 429]
    day = {"from": str(DAY), "to": str(DAY)}
    assert [get(f"/instruments/historical/{NIFTY_50}/day", **day) for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]
    assert [get("/user/profile") for _ in range(11)] == [200] * 10 + [429]
    assert get("/user/profile") == 429  # a refused request does not free a slot
    now[0] += 1.0
    assert get("/quote/ohlc", i="NSE:NIFTY 50") == 200 and get("/user/profile") == 200
    assert [rate_class(p) for p in ("/quote", "/quote/ltp", "/instruments/historical/1/day")] == [
        "quote",
        "quote",
        "historical",
    ]


def test_emulator_enforces_rate_limits_when_asked() -> None:
    with make_emulator(rate_limits=True) as emu:
        kite = KiteConnect(DEMO_API_KEY, access_token=emu.issue_access_token(), root=emu.api_url)
        refused = 0
        for _ in range(15):  # 1 a second is allowed: these cannot all be a second apart
            try:
                kite.ltp(["NSE:NIFTY 50"])
            except kex.NetworkException as exc:
                assert exc.code == 429
                refused += 1
        assert refused >= 1


def test_control_routes(shared_emulator: Emulator) -> None:
    api = shared_emulator.api_url
    bad = requests.post(f"{api}/_emulator/fault/meltdown", timeout=WAIT)
    assert bad.status_code == 400
    assert bad.json()["error_type"] == "InputException" and "drop" in bad.json()["message"]
    ok = requests.post(f"{api}/_emulator/fault/ratelimit?count=1", timeout=WAIT)
    assert ok.json()["data"] == {"fault": "ratelimit", "seconds": 5.0, "count": 1}
    limited = requests.get(f"{api}/user/profile", timeout=WAIT)
    assert limited.status_code == 429 and limited.json()["error_type"] == "NetworkException"
    stats = requests.get(f"{api}/_emulator/stats", timeout=WAIT).json()["data"]
    assert stats["rest_requests"] >= 1 and "subscriptions" in stats
    missing = requests.get(f"{api}/no/such/route", timeout=WAIT)
    assert missing.status_code == 404 and missing.json()["status"] == "error"


def test_inject_rejects_unknown_faults_and_bad_numbers(shared_emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        shared_emulator.inject("meltdown")
    with pytest.raises(ValueError, match="count"):
        shared_emulator.inject("ratelimit", count=0)
    with pytest.raises(ValueError, match="seconds"):
        shared_emulator.inject("silence", seconds=-1)


def test_fault_schedules_parse() -> None:
    assert parse_schedule("drop@30").at == 30.0
    silence = parse_schedule("silence@60:10")
    assert (silence.name, silence.at, silence.seconds) == ("silence", 60.0, 10.0)
    assert parse_schedule("ratelimit@5:3").count == 3
    for bad, message in (
        ("drop", "NAME@SECONDS"),
        ("drop@soon", "not a number"),
        ("meltdown@1", "unknown fault"),
        ("ratelimit@1:2.5", "whole"),
        ("drop@-1", ">= 0"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_schedule(bad)
    assert set(FAULTS) == {"drop", "silence", "expire", "ratelimit", "malformed", "error"}


# -- the websocket protocol, raw --------------------------------------------------------------


def ws_url(emu: Emulator, token: str | None = None) -> str:
    token = emu.issue_access_token() if token is None else token
    return f"{emu.ws_url}?api_key={emu.api_key}&access_token={token}"


async def recv(ws: ClientConnection, timeout: float = WAIT) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), timeout)


async def next_data(ws: ClientConnection, timeout: float = WAIT) -> bytes:
    """The next binary message that is not a heartbeat."""
    deadline = time.monotonic() + timeout
    while True:
        message = await recv(ws, max(deadline - time.monotonic(), 0.01))
        if isinstance(message, bytes) and len(message) > 1:
            return message


async def next_text(ws: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = await recv(ws, max(deadline - time.monotonic(), 0.01))
        if isinstance(message, str):
            loaded: dict[str, Any] = json.loads(message)
            return loaded


async def marker(ws: ClientConnection) -> None:
    """Wait until everything sent before now has been handled by the server.

    The server answers messages in order and its outbox is first in, first out, so once the
    error reply to this junk arrives, every later frame reflects the earlier messages.
    """
    await ws.send('{"a": "marker"}')
    while True:
        message = await recv(ws)
        if isinstance(message, str) and "marker" in message:
            return


def tokens_of(emu: Emulator) -> tuple[list[int], list[int]]:
    """(index tokens, tradable tokens) of the emulator's universe."""
    tokens = emu.market.instruments.instrument_token.tolist()
    index = [t for t in tokens if t & 0xFF == 9]
    return index, [t for t in tokens if t & 0xFF != 9]


async def test_heartbeats_on_an_idle_connection(shared_emulator: Emulator) -> None:
    async with connect(ws_url(shared_emulator)) as ws:
        for _ in range(3):
            message = await recv(ws, timeout=2.0)
            assert message == b"\x00"


async def test_bad_token_and_bad_key_are_refused_with_403(shared_emulator: Emulator) -> None:
    emu = shared_emulator
    for url in (
        ws_url(emu, "x" * 32),
        f"{emu.ws_url}?api_key=other&access_token={emu.issue_access_token()}",
        emu.ws_url,
    ):
        with pytest.raises(InvalidStatus) as caught:
            async with connect(url):
                pass
        assert caught.value.response.status_code == 403


async def test_three_connections_per_api_key(emu: Emulator) -> None:
    url = ws_url(emu)
    async with connect(url), connect(url), connect(ws_url(emu)):
        with pytest.raises(InvalidStatus) as caught:
            async with connect(url):
                pass
        assert caught.value.response.status_code == 429
        assert emu.stats().connections_open == 3
    wait_until(lambda: emu.stats().connections_open == 0, "connections to close")
    async with connect(url) as ws:  # the slots are free again
        assert await recv(ws) == b"\x00"


async def test_subscribe_modes_and_unsubscribe(shared_emulator: Emulator) -> None:
    emu = shared_emulator
    index, tradable = tokens_of(emu)
    a_index, a_stock, b_stock = index[0], tradable[0], tradable[-1]
    async with connect(ws_url(emu)) as ws:
        await ws.send(json.dumps({"a": "subscribe", "v": [a_index, a_stock, b_stock, 7]}))
        ticks = decode(await next_data(ws))  # the snapshot: new tokens start in quote mode
        modes = dict(zip(ticks["instrument_token"].tolist(), ticks["mode"].tolist(), strict=True))
        assert modes == {a_index: MODE_INDEX_QUOTE, a_stock: MODE_QUOTE, b_stock: MODE_QUOTE}

        await ws.send(json.dumps({"a": "mode", "v": ["full", [a_index, a_stock]]}))
        await ws.send(json.dumps({"a": "mode", "v": ["ltp", [b_stock]]}))
        await marker(ws)
        ticks = decode(await next_data(ws))
        modes = dict(zip(ticks["instrument_token"].tolist(), ticks["mode"].tolist(), strict=True))
        assert modes == {a_index: MODE_INDEX_FULL, a_stock: MODE_FULL, b_stock: MODE_LTP}
        assert (ticks["last_price"] > 0).all()
        full = ticks[ticks["instrument_token"] == a_stock][0]
        assert full["depth_buy_price"][0] < full["depth_sell_price"][0]
        assert emu.stats().subscriptions[-1] == {
            a_index: "full",
            a_stock: "full",
            b_stock: "ltp",
            7: "quote",
        }

        await ws.send(json.dumps({"a": "unsubscribe", "v": [a_index, a_stock]}))
        await marker(ws)
        for _ in range(3):
            ticks = decode(await next_data(ws))
            assert ticks["instrument_token"].tolist() == [b_stock]


async def test_ticks_agree_with_the_market(shared_emulator: Emulator) -> None:
    emu = shared_emulator
    _, tradable = tokens_of(emu)
    universe = emu.market.instruments
    _, close = emu.market.previous_close()
    async with connect(ws_url(emu)) as ws:
        await ws.send(json.dumps({"a": "subscribe", "v": tradable}))
        await ws.send(json.dumps({"a": "mode", "v": ["full", tradable]}))
        await marker(ws)
        stamps: set[int] = set()
        for _ in range(3):
            ticks = decode(await next_data(ws))
            rows = [universe.row_of(t) for t in ticks["instrument_token"].tolist()]
            assert np.allclose(ticks["close"], close[rows])
            assert (ticks["low"] <= ticks["last_price"]).all()
            assert (ticks["last_price"] <= ticks["high"]).all()
            stamps.add(int(ticks["exchange_timestamp"].max()))
        # The stream follows the pinned clock: from 10:00 IST of DAY, never ahead of the market.
        assert min(stamps) >= epoch_at(DAY, clock_time(10, 0))
        assert max(stamps) <= emu.market.clock


async def test_bad_messages_get_an_error_and_the_connection_stays(
    shared_emulator: Emulator,
) -> None:
    emu = shared_emulator
    async with connect(ws_url(emu)) as ws:
        for junk, expected in (
            ("not json", "invalid JSON"),
            ('{"a": "dance", "v": []}', "unknown action"),
            ('{"a": "subscribe", "v": "256265"}', "list of instrument tokens"),
            ('{"a": "mode", "v": ["loud", [256265]]}', "mode"),
            ("[1, 2]", "JSON object"),
        ):
            await ws.send(junk)
            error = await next_text(ws)
            assert error["type"] == "error" and expected in error["data"]
        await ws.send(json.dumps({"a": "subscribe", "v": [NIFTY_50]}))
        assert decode(await next_data(ws))["instrument_token"].tolist() == [NIFTY_50]


async def test_more_than_3000_tokens_are_refused_beyond_the_limit(
    shared_emulator: Emulator,
) -> None:
    emu = shared_emulator
    async with connect(ws_url(emu)) as ws:
        await ws.send(json.dumps({"a": "subscribe", "v": list(range(1, MAX_TOKENS + 2))}))
        error = await next_text(ws)
        assert error["type"] == "error" and "3000" in error["data"] and "1 tokens" in error["data"]
        await marker(ws)
        sizes = [len(s) for s in emu.stats().subscriptions]
        assert MAX_TOKENS in sizes and MAX_TOKENS + 1 not in sizes


async def test_a_slow_reader_does_not_stall_the_others(shared_emulator: Emulator) -> None:
    emu = shared_emulator
    _, tradable = tokens_of(emu)
    # A reader with a tiny receive buffer that never reads: the server's writes to it block.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(emu.ws_url.rsplit(":", 1)[1])))
    async with connect(ws_url(emu), sock=sock, max_queue=1) as stalled, connect(ws_url(emu)) as ws:
        await stalled.send(json.dumps({"a": "subscribe", "v": tradable}))
        await stalled.send(json.dumps({"a": "mode", "v": ["full", tradable]}))
        await ws.send(json.dumps({"a": "subscribe", "v": [NIFTY_50]}))
        # 60 rounds at 60x are a second of wall time; the stalled reader (300 full packets a
        # round, 3 MB/s) filled its 4 KB buffer long before, and is still connected.
        for _ in range(60):
            assert len(decode(await next_data(ws, timeout=2.0))) == 1
        assert emu.stats().connections_open == 2
        stalled.transport.abort()  # a closing handshake would queue behind megabytes


# -- faults on the websocket --------------------------------------------------------------------


async def test_drop_cuts_connections_without_a_close_frame(emu: Emulator) -> None:
    async with connect(ws_url(emu)) as ws:
        assert await recv(ws) == b"\x00"
        emu.inject("drop")
        with pytest.raises(ConnectionClosedError) as caught:
            while True:
                await recv(ws)
        assert caught.value.rcvd is None  # no close frame: an abnormal closure
    async with connect(ws_url(emu)) as ws:  # the token still works
        assert await recv(ws) == b"\x00"


async def test_silence_sends_nothing_then_resumes(emu: Emulator) -> None:
    seconds = 1.0
    async with connect(ws_url(emu)) as ws:
        await ws.send(json.dumps({"a": "subscribe", "v": [NIFTY_50]}))
        await next_data(ws)
        emu.inject("silence", seconds=seconds)
        injected = time.monotonic()
        # Anything already on the wire arrives at once; then nothing until the silence ends.
        while True:
            await recv(ws)
            if time.monotonic() - injected > 0.1:
                break
        assert time.monotonic() - injected >= seconds * 0.95
        await next_data(ws)  # ticks again
        assert await recv(ws) is not None


async def test_expire_closes_streams_and_refuses_reconnects(emu: Emulator) -> None:
    url = ws_url(emu)
    async with connect(url) as ws:
        assert await recv(ws) == b"\x00"
        emu.inject("expire")
        with pytest.raises(ConnectionClosed):
            while True:
                await recv(ws)
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url):
            pass
    assert caught.value.response.status_code == 403
    async with connect(ws_url(emu)) as ws:  # a new login is let in
        assert await recv(ws) == b"\x00"


async def test_malformed_breaks_exactly_the_next_data_frame(emu: Emulator) -> None:
    async with connect(ws_url(emu)) as ws:
        await ws.send(json.dumps({"a": "subscribe", "v": [NIFTY_50]}))
        decode(await next_data(ws))
        emu.inject("malformed", count=1)
        outcomes: list[str] = []
        while outcomes.count("ok") < 3 or "bad" not in outcomes:
            frame = await next_data(ws)
            try:
                decode(frame)
                outcomes.append("ok")
            except FrameError:
                outcomes.append("bad")
        assert outcomes.count("bad") == 1
        assert outcomes[outcomes.index("bad") + 1 :] == ["ok"] * 3


async def test_error_fault_sends_a_text_message(shared_emulator: Emulator) -> None:
    async with connect(ws_url(shared_emulator)) as ws:
        assert await recv(ws) == b"\x00"
        shared_emulator.inject("error")
        message = await next_text(ws)
        assert message["type"] == "error" and "emulator" in message["data"]
        assert await recv(ws) == b"\x00"  # still connected


def test_stop_is_idempotent_and_closes_connections() -> None:
    emu = make_emulator()
    with emu:
        url = ws_url(emu)

        async def hold() -> None:
            async with connect(url) as ws:
                assert await recv(ws) == b"\x00"
                threading.Thread(target=emu.stop).start()
                with pytest.raises(ConnectionClosed):
                    while True:
                        await recv(ws)

        asyncio.run(hold())
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(emu.api_url + "/_emulator/stats", timeout=2)


# -- the official KiteTicker, in a subprocess ----------------------------------------------------


def test_kite_ticker_parses_the_stream(target: Target) -> None:
    full = [_nifty_future(target.kite())["instrument_token"]]
    quote = [NIFTY_50]
    if target.emulator is not None:
        _, tradable = tokens_of(target.emulator)
        full.append(tradable[0])
    # Out of market hours real Kite sends only the first tick; the emulator streams.
    wanted = 2 if target.emulator is not None else 1
    env = {**os.environ, "KITE_TICKER_ACCESS_TOKEN": target.access_token}
    result = subprocess.run(
        [
            sys.executable,
            str(TICKER_SCRIPT),
            target.api_key,
            target.ws_url,
            ",".join(map(str, full)),
            ",".join(map(str, quote)),
            str(wanted),
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["errors"] == []
    ticks = report["ticks"]
    streamed = {t["instrument_token"] for t in ticks}
    assert streamed == set(full + quote)
    for tick in ticks:
        assert tick["last_price"] > 0
        if tick["instrument_token"] == NIFTY_50:
            assert tick["tradable"] is False and tick["mode"] in ("quote", "full")
        else:
            assert tick["tradable"] is True
        if tick["mode"] == "full" and tick["tradable"]:
            assert len(tick["depth"]["buy"]) == len(tick["depth"]["sell"]) == 5
            assert tick["oi"] >= 0 and tick["volume_traded"] >= 0
    finals = [t for t in ticks if t["instrument_token"] in full and t["mode"] == "full"]
    assert finals
    emu = target.emulator
    if emu is not None:
        assert all(t["depth"]["buy"][0]["price"] > 0 for t in finals)
        # The parser saw the emulator's market: previous closes exact, prices within the day.
        universe = emu.market.instruments
        _, close = emu.market.previous_close()
        for tick in ticks:
            row = universe.row_of(tick["instrument_token"])
            assert tick["ohlc"]["close"] == pytest.approx(close[row])
            assert tick["ohlc"]["low"] <= tick["last_price"] <= tick["ohlc"]["high"]


# -- `optui emulate` ------------------------------------------------------------------------------


class Command:
    """`optui emulate` in a subprocess, its stdout read by a thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "optui", "emulate", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout
        self._reader = threading.Thread(target=lambda: self.lines.extend(stdout), daemon=True)
        self._reader.start()

    def url(self, label: str) -> str:
        line = next(line for line in self.lines if line.strip().startswith(label))
        return line.split()[-1] if label != "login page" else line.split()[2]

    def finish(self, timeout: float = WAIT) -> tuple[int, str]:
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()


def test_emulate_command_serves_and_stops_on_sigterm() -> None:
    command = Command("--port", "0", "--instruments", "300", "--fault", "error@0")
    try:
        wait_until(lambda: any("Ctrl-C" in line for line in command.lines), "the banner")
        api = command.url("REST API")
        ws = command.url("websocket")
        assert api.startswith("http://127.0.0.1:") and ws.startswith("ws://127.0.0.1:")
        text = "".join(command.lines)
        assert f"OPTUI_KITE__API_URL={api}" in text and f"OPTUI_KITE__WS_URL={ws}" in text
        assert f"OPTUI_KITE__LOGIN_URL={api}/connect/login" in text
        assert f"KITE_API_KEY={DEMO_API_KEY}" in text and f"--kite-api-url {api}" in text
        stats = requests.get(f"{api}/_emulator/stats", timeout=WAIT).json()["data"]
        assert stats["tick_rounds"] >= 1
        page = requests.get(
            f"{api}/connect/login",
            params={"api_key": DEMO_API_KEY},
            allow_redirects=False,
            timeout=WAIT,
        )
        assert page.status_code == 302
        wait_until(lambda: any("fault: error" in line for line in command.lines), "the fault")
        command.process.send_signal(signal.SIGTERM)
        code, stderr = command.finish()
    finally:
        if command.process.poll() is None:
            command.process.kill()
    assert code == 0, stderr
    assert "stopped" in command.lines[-1]


@pytest.mark.parametrize("flag", ["--port", "--ws-port"])
def test_emulate_command_reports_a_port_in_use(flag: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = (
            ["--port", str(port)] if flag == "--port" else ["--port", "0", "--ws-port", str(port)]
        )
        command = Command(*args, "--instruments", "300")
        code, stderr = command.finish()
    assert code == 2
    assert f"port {port}" in stderr and flag in stderr and "in use" in stderr


def test_emulate_command_rejects_a_bad_fault() -> None:
    command = Command("--port", "0", "--fault", "meltdown@3")
    code, stderr = command.finish()
    assert code == 2 and "unknown fault" in stderr
