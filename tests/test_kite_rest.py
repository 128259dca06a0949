"""`KiteRest`: pacing per endpoint group, batching, 429 backoff, rejected tokens.

The pacing is checked with a fake clock whose `sleep` records the wait and moves the clock
on, so no test waits in real time; the calls themselves are real, through the official
`kiteconnect` client against the Kite emulator on 127.0.0.1.
"""

from __future__ import annotations

import json
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from kiteconnect import KiteConnect

from optui.emulator import DEMO_API_KEY, DEMO_API_SECRET, Emulator
from optui.kite.auth_log import AUTH_LOG_NAME
from optui.kite.credentials import ACCESS_TOKEN_ENV, AuthError
from optui.kite.rest import RATE_LIMITS, REQUEST_TIMEOUT, KiteRest, RestError, TokenBucket
from optui.settings import Settings, load_settings


class FakeTime:
    """A monotonic clock that only moves when someone sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# --- the token bucket ---------------------------------------------------------------------------


def test_a_bucket_spaces_calls_at_its_rate() -> None:
    fake = FakeTime()
    bucket = TokenBucket(1.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        bucket.acquire()
    assert fake.sleeps == [1.0, 1.0]
    fake.now += 5  # idle: no waiting for the next call ...
    assert bucket.acquire() == 0.0
    assert bucket.acquire() == 1.0  # ... but no burst either: the bucket is one deep
    assert fake.sleeps == [1.0, 1.0, 1.0]


def test_a_bucket_counts_time_already_passed() -> None:
    fake = FakeTime()
    bucket = TokenBucket(3.0, clock=fake.clock, sleep=fake.sleep)
    bucket.acquire()
    fake.now += 0.2  # work between calls counts towards the spacing
    bucket.acquire()
    assert fake.sleeps == [pytest.approx(1 / 3 - 0.2)]


def test_a_deeper_bucket_allows_a_burst() -> None:
    fake = FakeTime()
    bucket = TokenBucket(10.0, capacity=3, clock=fake.clock, sleep=fake.sleep)
    for _ in range(4):
        bucket.acquire()
    assert fake.sleeps == [pytest.approx(0.1)]


def test_a_bucket_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucket(0)
    with pytest.raises(ValueError, match="capacity >= 1"):
        TokenBucket(1, capacity=0.5)


def test_the_limits_are_kites() -> None:
    assert RATE_LIMITS == {"quote": 1.0, "historical": 3.0, "orders": 10.0, "other": 10.0}


# --- against the emulator -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(instruments=300) as emu:
        yield emu


@pytest.fixture
def settings(emulator: Emulator, tmp_path: Path) -> Settings:
    env = {"KITE_API_KEY": DEMO_API_KEY, "KITE_API_SECRET": DEMO_API_SECRET}
    return load_settings(
        env=env, overrides={"log_dir": tmp_path / "log", "kite.api_url": emulator.api_url}
    )


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


def rest_for(
    settings: Settings, token: str, fake: FakeTime, events: list[tuple[str, str]] | None = None
) -> KiteRest:
    sink = None if events is None else (lambda kind, message: events.append((kind, message)))
    return KiteRest(
        settings,
        token,
        on_event=sink,
        clock=fake.clock,
        sleep=fake.sleep,
        rng=random.Random(4),
    )


def keys_of(emulator: Emulator) -> list[str]:
    universe = emulator.market.instruments
    return [
        f"{ex}:{sym}" for ex, sym in zip(universe.exchange, universe.tradingsymbol, strict=True)
    ]


def test_quotes_are_paced_at_one_a_second(
    emulator: Emulator, settings: Settings, fake: FakeTime
) -> None:
    rest = rest_for(settings, emulator.issue_access_token(), fake)
    keys = keys_of(emulator)[:5]
    for _ in range(3):
        assert set(rest.quote(keys)) == set(keys)
    rest.ltp(keys)
    rest.ohlc(keys)  # ltp and ohlc share the quote group's limit
    assert fake.sleeps == [1.0] * 4


def test_groups_are_paced_separately(
    emulator: Emulator, settings: Settings, fake: FakeTime
) -> None:
    rest = rest_for(settings, emulator.issue_access_token(), fake)
    token = int(emulator.market.instruments.instrument_token[0])
    session = emulator.market.session.isoformat()
    rest.quote(keys_of(emulator)[:1])
    rest.profile()
    rest.historical_data(token, f"{session} 09:15:00", f"{session} 09:20:00", "minute")
    assert fake.sleeps == []  # one call per group: nobody waits
    for _ in range(2):
        rest.historical_data(token, f"{session} 09:15:00", f"{session} 09:20:00", "minute")
    assert fake.sleeps == [pytest.approx(1 / 3)] * 2
    rest.profile()  # 2/3 s have passed since the last profile call: no wait
    rest.profile()
    assert fake.sleeps[2:] == [pytest.approx(0.1)]  # "other" allows 10 a second


def test_quote_calls_are_split_into_kites_batches(
    emulator: Emulator, settings: Settings, fake: FakeTime
) -> None:
    rest = rest_for(settings, emulator.issue_access_token(), fake)
    keys = keys_of(emulator)
    many = (keys * 5)[:1200]
    before = emulator.stats().rest_requests
    quotes = rest.quote(many)  # 500 + 500 + 200
    assert emulator.stats().rest_requests - before == 3
    assert set(quotes) == set(keys)
    before = emulator.stats().rest_requests
    rest.ltp(many)  # 1000 + 200
    assert emulator.stats().rest_requests - before == 2
    assert rest.quote([]) == {}
    assert fake.sleeps == [1.0] * 4


def test_instruments_parsed_and_as_csv(
    emulator: Emulator, settings: Settings, fake: FakeTime
) -> None:
    rest = rest_for(settings, emulator.issue_access_token(), fake)
    text = rest.instruments_csv()
    assert text.startswith("instrument_token,")
    rows = rest.instruments()
    assert len(rows) == len(text.strip().splitlines()) - 1 == len(emulator.market.instruments)
    nfo = rest.instruments("NFO")
    assert nfo
    assert {row["exchange"] for row in nfo} == {"NFO"}


def test_a_429_is_retried_with_backoff_and_reported(
    emulator: Emulator, settings: Settings, fake: FakeTime
) -> None:
    events: list[tuple[str, str]] = []
    rest = rest_for(settings, emulator.issue_access_token(), fake, events)
    emulator.inject("ratelimit", count=2)
    assert rest.profile()["user_id"] == "AB1234"
    assert [kind for kind, _ in events] == ["ratelimit", "ratelimit"]
    assert "HTTP 429" in events[0][1]
    assert "retry 1 of 5" in events[0][1]
    first, second = fake.sleeps  # the profile bucket itself never made anyone wait
    assert 0.5 <= first <= 1.0  # equal jitter around 1 s, then 2 s
    assert 1.0 <= second <= 2.0


def test_a_429_that_does_not_end_gives_up_clearly(
    emulator: Emulator, settings: Settings, fake: FakeTime
) -> None:
    rest = KiteRest(
        settings, emulator.issue_access_token(), clock=fake.clock, sleep=fake.sleep, retries=2
    )
    emulator.inject("ratelimit", count=3)
    with pytest.raises(RestError) as info:
        rest.profile()
    assert "after 2 retries" in str(info.value)
    assert "HTTP 429" in str(info.value)
    assert len(fake.sleeps) == 2


def test_a_rejected_token_says_log_in_and_is_logged(
    settings: Settings, fake: FakeTime, tmp_path: Path
) -> None:
    # Its own emulator: "expire" kills every token it has issued.
    with Emulator(instruments=300) as emulator:
        local = load_settings(
            env={"KITE_API_KEY": DEMO_API_KEY},
            overrides={"log_dir": tmp_path / "log", "kite.api_url": emulator.api_url},
        )
        token = emulator.issue_access_token()
        events: list[tuple[str, str]] = []
        rest = rest_for(local, token, fake, events)
        assert rest.profile()
        emulator.inject("expire")
        with pytest.raises(AuthError) as info:
            rest.quote(keys_of(emulator)[:1])
    message = str(info.value)
    assert "Kite rejected the access token" in message
    assert "optui login" in message
    assert token not in message
    assert events == [("auth", message)]
    log = (tmp_path / "log" / AUTH_LOG_NAME).read_text()
    entry = json.loads(log.splitlines()[-1])
    assert (entry["event"], entry["status"], entry["api_key"]) == (
        "token_rejected",
        403,
        DEMO_API_KEY,
    )
    assert token not in log


def test_kite_out_of_reach(tmp_path: Path, fake: FakeTime) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = load_settings(
        env={"KITE_API_KEY": DEMO_API_KEY},
        overrides={"log_dir": tmp_path, "kite.api_url": f"http://127.0.0.1:{port}"},
    )
    rest = KiteRest(settings, "x" * 32, clock=fake.clock, sleep=fake.sleep)
    with pytest.raises(RestError) as info:
        rest.profile()
    assert f"cannot reach Kite at http://127.0.0.1:{port}" in str(info.value)
    assert "Connection refused" in str(info.value)
    assert "x" * 32 not in str(info.value)


def test_the_token_comes_from_the_environment_or_file(
    emulator: Emulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AuthError, match="not logged in"):
        KiteRest(settings)
    monkeypatch.setenv(ACCESS_TOKEN_ENV, emulator.issue_access_token("ENV999"))
    rest = KiteRest(settings)
    assert rest.profile()["user_id"] == "ENV999"


def test_every_call_has_a_timeout(emulator: Emulator, settings: Settings) -> None:
    assert KiteRest(settings, "t" * 32).kite.timeout == REQUEST_TIMEOUT
    assert KiteRest(settings, "t" * 32, timeout=2.5).kite.timeout == 2.5
    assert isinstance(KiteRest(settings, "t" * 32).kite, KiteConnect)
    assert KiteRest(settings, "t" * 32).kite.root == emulator.api_url
