"""optui's Kite stream against the Kite emulator: frames untouched, subscriptions as asked,
and recovery from every fault the emulator can throw (drop, silence, expired token,
malformed frame, error message, a restarted server), with nothing lost and nothing hung.

Everything runs on 127.0.0.1 with short watchdog and backoff times, so each test takes a
second or so. Waits are on conditions with a deadline (polling the source, as the engine
does), never a sleep standing in for one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from optui.emulator import DEMO_API_KEY, Emulator
from optui.emulator.server import ERROR_MESSAGE
from optui.engine import Engine
from optui.feed.codec import MODE_FULL, MODE_LTP, MODE_QUOTE, decode, kite_mode
from optui.feed.kite import (
    AUTH_MESSAGE,
    KiteSource,
    StreamEvent,
    kite_source,
)
from optui.feed.kite_stream import BATCH, subscription_messages
from optui.feed.universe import Kind
from optui.settings import load_settings

WATCHDOG = 1.0
BACKOFF = (0.05, 0.5)
DEADLINE = 10.0  # generous: a loaded 2-core machine; every wait ends as soon as it can
SPEED = 8.0  # simulated seconds per second: a tick round every 1/8 s, so frames come quickly


class Harness:
    """A KiteSource polled as the engine polls it, keeping every frame and event."""

    def __init__(self, source: KiteSource) -> None:
        self.source = source
        self.frames: list[bytes] = []
        self.events: list[StreamEvent] = []

    def pump(self) -> None:
        self.frames += self.source.poll()
        self.events += self.source.events()

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.pump()
            if predicate():
                return
            if time.monotonic() > deadline:
                kinds = [f"{e.kind}: {e.message}" for e in self.events]
                pytest.fail(f"timed out waiting for {what}; events so far: {kinds}")
            time.sleep(0.02)  # poll interval of a bounded wait

    def kinds(self, since: int = 0) -> list[str]:
        return [event.kind for event in self.events[since:]]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    # Heartbeats well inside the watchdog, so only a fault can make a connection silent.
    with Emulator(instruments=300, heartbeat_interval=0.2, speed=SPEED) as running:
        yield running


def tokens_of(emulator: Emulator) -> dict[str, list[int]]:
    """Some index and option tokens of the emulator's universe."""
    universe = emulator.market.instruments
    index_rows = np.flatnonzero(universe.kind == int(Kind.INDEX))
    option_rows = np.flatnonzero(np.isin(universe.kind, [int(Kind.CALL), int(Kind.PUT)]))
    tokens = universe.instrument_token
    return {
        "index": [int(tokens[row]) for row in index_rows[:3]],
        "option": [int(tokens[row]) for row in option_rows[:60]],
    }


def a_plan(emulator: Emulator) -> dict[int, str]:
    tokens = tokens_of(emulator)
    plan = {token: "full" for token in tokens["index"]}
    plan.update({token: "full" for token in tokens["option"][:20]})
    plan.update({token: "quote" for token in tokens["option"][20:40]})
    plan.update({token: "ltp" for token in tokens["option"][40:50]})
    return plan


@contextmanager
def streaming(
    emulator: Emulator,
    plan: list[Mapping[int, str]],
    *,
    token: str | None = None,
    watchdog: float = WATCHDOG,
    backoff: tuple[float, float] = BACKOFF,
) -> Iterator[Harness]:
    source = KiteSource(
        api_key=DEMO_API_KEY,
        access_token=token or emulator.issue_access_token(),
        ws_url=emulator.ws_url,
        plan=plan,
        watchdog=watchdog,
        backoff=backoff,
    )
    try:
        yield Harness(source)
    finally:
        started = time.monotonic()
        source.close()
        assert time.monotonic() - started < 5.0, "close() took too long"
        assert not source.running


def subscribed(emulator: Emulator) -> list[dict[int, str]]:
    return [dict(conn) for conn in emulator.stats().subscriptions]


# -- frames and subscriptions ----------------------------------------------------------------


def modes_by_token(frames: list[bytes]) -> dict[int, list[str]]:
    """Each token's packet kinds, as Kite mode names, in arrival order."""
    modes: dict[int, list[str]] = {}
    for frame in frames:
        rows = decode(frame)
        for token, mode in zip(
            rows["instrument_token"].tolist(), rows["mode"].tolist(), strict=True
        ):
            modes.setdefault(token, []).append(kite_mode(mode))
    return modes


def test_frames_arrive_untouched_in_the_modes_asked(emulator: Emulator) -> None:
    plan = a_plan(emulator)

    def settled() -> bool:
        modes = modes_by_token(feed.frames)
        return len(modes) >= 40 and all(kinds[-1] == plan[t] for t, kinds in modes.items())

    with streaming(emulator, [plan]) as feed:
        feed.wait(lambda: subscribed(emulator) == [plan], "the emulator to see the plan")
        feed.wait(settled, "ticks of most tokens, in the modes asked")
        health = feed.source.health()

    assert feed.kinds()[:2] == ["connected", "subscribed"]
    assert all(isinstance(frame, bytes) and len(frame) > 1 for frame in feed.frames)
    # Untouched: the source counted exactly these bytes off the wire.
    assert health.bytes == sum(len(frame) for frame in feed.frames)
    assert health.frames == len(feed.frames)
    modes = modes_by_token(feed.frames)
    assert set(modes) <= set(plan)
    for token, kinds in modes.items():
        # Kite starts a new subscription in quote mode until the mode message lands.
        asked = kinds[next((i for i, k in enumerate(kinds) if k != "quote"), len(kinds)) :]
        assert set(asked) <= {plan[token]}, (token, kinds)
    rows = np.concatenate([decode(frame) for frame in feed.frames])
    full = rows[rows["mode"] == MODE_FULL]
    quote = rows[rows["mode"] == MODE_QUOTE]
    assert len(full) and len(quote) and np.any(rows["mode"] == MODE_LTP)
    assert np.all(full["depth_sell_price"][:, 0] > 0)  # full rows carry the depth
    assert not np.any(quote["depth_sell_price"]) and not np.any(quote["depth_buy_quantity"])


def test_heartbeats_keep_a_quiet_connection_alive(emulator: Emulator) -> None:
    # A token Kite does not list: accepted, and never ticks. Only heartbeats arrive.
    with streaming(emulator, [{999_999_999: "full"}]) as feed:
        feed.wait(lambda: feed.source.health().heartbeats >= 2 * WATCHDOG / 0.2, "heartbeats")
    assert feed.frames == []
    assert "silent" not in feed.kinds() and "disconnected" not in feed.kinds()


def test_resubscribe_sends_the_difference_without_reconnecting(emulator: Emulator) -> None:
    tokens = tokens_of(emulator)
    before = {token: "quote" for token in tokens["option"][:30]}
    after = {token: "quote" for token in tokens["option"][10:40]}  # 10 gone, 10 new
    after.update({token: "full" for token in tokens["option"][10:15]})  # mode changes
    after[tokens["index"][0]] = "ltp"
    with streaming(emulator, [before]) as feed:
        feed.wait(lambda: subscribed(emulator) == [before], "the first subscription")
        feed.source.resubscribe([after])
        feed.wait(lambda: subscribed(emulator) == [after], "the new subscription")
        mark = len(feed.frames)
        feed.wait(
            lambda: any(decode(f)["mode"].tolist().count(MODE_FULL) for f in feed.frames[mark:]),
            "full ticks of the tokens switched to full",
        )
        stats = emulator.stats()
        assert stats.connections_total == 1 and stats.connections_open == 1
    assert "disconnected" not in feed.kinds()
    assert feed.kinds().count("subscribed") == 2


def test_resubscribe_adds_and_retires_connections(emulator: Emulator) -> None:
    tokens = tokens_of(emulator)["option"]
    one = {token: "quote" for token in tokens[:10]}
    two = {token: "ltp" for token in tokens[10:20]}
    with streaming(emulator, [one]) as feed:
        feed.wait(lambda: subscribed(emulator) == [one], "one connection")
        feed.source.resubscribe([one, two])
        feed.wait(lambda: sorted(map(len, subscribed(emulator))) == [10, 10], "a second connection")
        assert sorted(subscribed(emulator), key=min) == [one, two]
        feed.source.resubscribe([{}, two])
        feed.wait(lambda: subscribed(emulator) == [two], "the first connection to go")
        health = feed.source.health()
    assert [c.connection for c in health.connections] == [0, 1]
    assert health.connections[0].state == "stopped"


# -- faults ----------------------------------------------------------------------------------


def test_drop_reconnects_and_resubscribes_in_the_same_modes(emulator: Emulator) -> None:
    plan = a_plan(emulator)
    with streaming(emulator, [plan]) as feed:
        feed.wait(lambda: subscribed(emulator) == [plan] and bool(feed.frames), "frames")
        mark = len(feed.events)
        emulator.inject("drop")
        feed.wait(lambda: "connected" in feed.kinds(mark), "a reconnect")
        feed.wait(lambda: subscribed(emulator) == [plan], "the plan on the new connection")
        frames = len(feed.frames)
        feed.wait(lambda: len(feed.frames) > frames, "frames on the new connection")
        assert emulator.stats().connections_total == 2
        assert feed.source.health().reconnects == 1
    kinds = feed.kinds(mark)
    assert kinds[:3] == ["disconnected", "reconnecting", "connected"]
    assert "1006" in feed.events[mark].message  # no close frame: the line was cut


def test_silence_past_the_watchdog_reconnects(emulator: Emulator) -> None:
    plan = a_plan(emulator)
    with streaming(emulator, [plan]) as feed:
        feed.wait(lambda: len(feed.frames) > 2, "frames")
        mark = len(feed.events)
        emulator.inject("silence", seconds=2 * WATCHDOG)
        feed.wait(lambda: "silent" in feed.kinds(mark), "the watchdog")
        silent_at = next(e.time for e in feed.events[mark:] if e.kind == "silent")
        feed.wait(lambda: "connected" in feed.kinds(mark), "a reconnect")
        feed.wait(
            lambda: (feed.source.health().last_frame_time or 0.0) > silent_at,
            "frames after the silence",
        )
        health = feed.source.health()
    assert health.silent_periods >= 1 and health.reconnects >= 1
    assert feed.kinds(mark)[:3] == ["silent", "disconnected", "reconnecting"]
    assert "watchdog" in feed.events[mark + 1].message


def test_an_expired_token_stops_for_good_and_says_log_in(emulator: Emulator) -> None:
    plan = a_plan(emulator)
    with streaming(emulator, [plan]) as feed:
        feed.wait(lambda: bool(feed.frames), "frames")
        emulator.inject("expire")
        feed.wait(lambda: feed.source.finished, "the source to finish")
        assert feed.source.auth_failed
        stats = emulator.stats()
        # One refused handshake, then no more attempts: the loop's thread has ended.
        assert stats.handshakes_rejected == 1
        assert stats.connections_total == 1
        assert not feed.source.running
        started = time.monotonic()
        feed.source.close()
        assert time.monotonic() - started < 0.5
    auth = [event for event in feed.events if event.kind == "auth"]
    assert [event.message for event in auth] == [AUTH_MESSAGE]
    assert "optui login" in AUTH_MESSAGE and "06:00 IST" in AUTH_MESSAGE
    assert feed.kinds()[-1] == "stopped"


def test_a_token_refused_at_the_first_connect_stops_at_once(emulator: Emulator) -> None:
    with streaming(emulator, [a_plan(emulator)], token="not-a-token") as feed:
        feed.wait(lambda: feed.source.finished, "the source to finish")
    assert feed.kinds() == ["auth", "stopped"]
    assert emulator.stats().handshakes_rejected == 1


def test_a_malformed_frame_is_handed_over_and_kept(emulator: Emulator) -> None:
    plan = a_plan(emulator)
    with streaming(emulator, [plan]) as feed:
        engine = Engine(feed.source, journal=None)
        deadline = time.monotonic() + DEADLINE
        while engine.status.frames < 3:
            engine.step()
            assert time.monotonic() < deadline, "no frames"
            time.sleep(0.02)
        emulator.inject("malformed", count=1)
        good = engine.status.frames
        while engine.status.bad_frames < 1 or engine.status.frames < good + 4:
            engine.step()
            assert time.monotonic() < deadline, f"no bad frame: {engine.status}"
            time.sleep(0.02)
        assert engine.status.bad_frames == 1
        assert engine.status.packets > 0
        assert emulator.stats().connections_total == 1  # a bad frame is no reason to reconnect
        health = feed.source.health()
    assert health.frames == engine.status.frames + len(feed.source.poll())


def test_an_error_message_becomes_an_error_event(emulator: Emulator) -> None:
    with streaming(emulator, [a_plan(emulator)]) as feed:
        feed.wait(lambda: "subscribed" in feed.kinds(), "the subscription")
        emulator.inject("error")
        feed.wait(lambda: "error" in feed.kinds(), "the error event")
    errors = [event.message for event in feed.events if event.kind == "error"]
    assert errors == [f"Kite says: {ERROR_MESSAGE}"]
    assert "disconnected" not in feed.kinds()


def test_a_restarted_server_is_found_again(monkeypatch: pytest.MonkeyPatch) -> None:
    first = Emulator(instruments=300, heartbeat_interval=0.2, speed=SPEED).start()
    token = first.issue_access_token()
    port = int(first.ws_url.rsplit(":", 1)[1])
    try:
        with streaming(first, [a_plan(first)], token=token) as feed:
            feed.wait(lambda: bool(feed.frames), "frames")
            mark = len(feed.events)
            first.stop()
            feed.wait(lambda: feed.kinds(mark).count("reconnecting") >= 2, "failed attempts")
            # While disconnected, a new plan only changes what the next connect subscribes.
            later = a_plan(first)
            later.update({token: "ltp" for token in tokens_of(first)["option"][50:60]})
            feed.source.resubscribe([later])
            # A restarted Kite still knows the day's access tokens: the new emulator on the
            # same port learns ours by issuing it again.
            monkeypatch.setattr("optui.emulator.sessions.new_token", lambda: token)
            with Emulator(
                instruments=300, heartbeat_interval=0.2, speed=SPEED, ws_port=port
            ) as second:
                second.issue_access_token()
                feed.wait(lambda: "connected" in feed.kinds(mark), "a reconnect")
                frames = len(feed.frames)
                feed.wait(lambda: len(feed.frames) > frames, "frames again")
                feed.wait(lambda: subscribed(second) == [later], "the new plan subscribed")
                assert second.stats().connections_total == 1
    finally:
        first.stop()
    failures = [e.message for e in feed.events[mark:] if e.kind == "disconnected"]
    assert any("could not connect" in message for message in failures[1:])


def test_no_frame_is_lost_up_to_a_clean_close(emulator: Emulator) -> None:
    plan = a_plan(emulator)
    with streaming(emulator, [plan], watchdog=30.0) as feed:
        feed.wait(lambda: len(feed.frames) >= 10, "frames")
        feed.source.close()
        feed.wait(lambda: emulator.stats().connections_open == 0, "the server to see the close")
        feed.pump()
        stats = emulator.stats()
    assert feed.source.health().frames == len(feed.frames)
    # The emulator counts a frame once its send() returns; one whose send was cut short by
    # the close may still have reached us uncounted, hence the + 1. None may be missing.
    assert stats.frames_sent <= len(feed.frames) <= stats.frames_sent + 1


def test_the_access_token_never_shows(emulator: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = emulator.issue_access_token()
    with streaming(emulator, [a_plan(emulator)], token=token) as feed:
        feed.wait(lambda: bool(feed.frames), "frames")
        emulator.inject("drop")
        feed.wait(lambda: "connected" in feed.kinds(2), "a reconnect")
        emulator.inject("expire")
        feed.wait(lambda: feed.source.finished, "the auth stop")
        shown = [repr(feed.source), repr(feed.source.health()), str(feed.source.health())]
    shown += [repr(event) for event in feed.events]
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("optui.feed")]
    assert any("GET /?" in line and "access_token=***" in line for line in ours)
    for text in shown + ours:
        assert token not in text


@pytest.mark.parametrize("server", ["refusing", "mute"])
def test_close_while_reconnecting_returns_promptly(server: str) -> None:
    """Nothing listening (backing off between refusals), or a server that accepts the TCP
    connection and never answers the handshake (connecting): close() still ends it all."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        if server == "mute":
            listener.listen(8)
        else:
            listener.close()
        source = KiteSource(
            api_key="k",
            access_token="t" * 32,
            ws_url=f"ws://127.0.0.1:{port}",
            plan=[{256265: "full"}],
            backoff=(5.0, 10.0),
        )
        feed = Harness(source)
        if server == "refusing":
            feed.wait(lambda: "reconnecting" in feed.kinds(), "a back-off")
        else:
            feed.wait(lambda: source.health().connections[0].state == "connecting", "connecting")
        started = time.monotonic()
        source.close()
        elapsed = time.monotonic() - started
        feed.pump()
    assert elapsed < 1.0
    assert not source.running and source.finished
    assert feed.kinds()[-1] == "stopped"
    source.close()  # idempotent


def test_backoff_grows_with_full_jitter_between_its_bounds() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    low, high = 0.02, 0.2
    source = KiteSource(
        api_key="k",
        access_token="t" * 32,
        ws_url=f"ws://127.0.0.1:{port}",
        plan=[{256265: "full"}],
        backoff=(low, high),
    )
    with source:
        feed = Harness(source)
        feed.wait(lambda: feed.kinds().count("reconnecting") >= 6, "six attempts")
    waits = [e.message for e in feed.events if e.kind == "reconnecting"]
    for attempt, message in enumerate(waits, start=1):
        delay = float(message.split(" in ")[1].split(" s ")[0])
        assert message.endswith(f"(attempt {attempt})")
        assert low <= delay <= min(high, low * 2**attempt) + 0.005, message
    failures = [e.message for e in feed.events if e.kind == "disconnected"]
    assert len(failures) >= 6
    assert all(f.startswith(f"could not connect to 127.0.0.1:{port}: ") for f in failures)


# -- handshake statuses, without the emulator (it has no way to answer 5xx or 429) ----------


@contextmanager
def refusing_server(statuses: list[int]) -> Iterator[tuple[str, list[int]]]:
    """A websocket server that answers handshakes with `statuses`, one per attempt."""
    answered: list[int] = []
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    url: list[str] = []

    def refuse(connection: ServerConnection, request: Request) -> Response:
        status = statuses[min(len(answered), len(statuses) - 1)]
        answered.append(status)
        return connection.respond(status, "no\n")

    async def handler(connection: ServerConnection) -> None:  # pragma: no cover
        await connection.close()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, process_request=refuse) as server:
            url.append(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(DEADLINE)
    try:
        yield url[0], answered
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(DEADLINE)
        loop.close()


def test_server_errors_and_rate_limits_are_retried_until_403() -> None:
    with refusing_server([503, 429, 403]) as (url, answered):
        source = KiteSource(
            api_key="k", access_token="t" * 32, ws_url=url, plan=[{1: "ltp"}], backoff=BACKOFF
        )
        feed = Harness(source)
        feed.wait(lambda: source.finished, "the auth stop")
        source.close()
    assert answered == [503, 429, 403]
    assert feed.kinds() == [
        "disconnected",
        "reconnecting",
        "disconnected",
        "reconnecting",
        "auth",
        "stopped",
    ]
    assert "HTTP 503" in feed.events[0].message and "HTTP 429" in feed.events[2].message


# -- the pieces ------------------------------------------------------------------------------


def test_subscription_messages_batch_and_order() -> None:
    want = {token: "full" for token in range(1, 2501)}
    want.update({token: "ltp" for token in range(5001, 5011)})
    messages = [json.loads(m) for m in subscription_messages({}, want)]
    assert [m["a"] for m in messages] == ["subscribe"] * 3 + ["mode"] * 4
    assert all(len(m["v"]) <= BATCH for m in messages if m["a"] == "subscribe")
    assert sum(len(m["v"]) for m in messages if m["a"] == "subscribe") == 2510
    assert [m["v"][0] for m in messages if m["a"] == "mode"] == ["ltp", "full", "full", "full"]

    have = {1: "full", 2: "quote", 3: "ltp"}
    change = {2: "full", 3: "ltp", 4: "quote"}
    assert [json.loads(m) for m in subscription_messages(have, change)] == [
        {"a": "unsubscribe", "v": [1]},
        {"a": "subscribe", "v": [4]},
        {"a": "mode", "v": ["quote", [4]]},
        {"a": "mode", "v": ["full", [2]]},
    ]
    assert subscription_messages(change, change) == []


@pytest.mark.parametrize(
    ("plan", "complaint"),
    [
        ([{1: "ltp"}] * 4, "Kite allows 3"),
        ([{1: "depth"}], "allowed: ltp, quote, full"),
        ([{-5: "ltp"}], "not a Kite token"),
        ([{1: "ltp"}, {1: "full"}], "on connections 0 and 1"),
        ([dict.fromkeys(range(1, 3002), "quote")], "3000 per connection"),
    ],
)
def test_a_bad_plan_is_refused_with_what_is_wrong(
    plan: list[dict[int, str]], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        KiteSource(api_key="k", access_token="t", ws_url="ws://127.0.0.1:9", plan=plan)


def test_kite_source_reads_the_settings(emulator: Emulator) -> None:
    settings = load_settings(
        overrides={"kite.ws_url": emulator.ws_url, "kite.api_key": DEMO_API_KEY}
    )
    with pytest.raises(ValueError, match=r"kite\.connections is 1"):
        kite_source(
            load_settings(overrides={"kite.connections": "1", "kite.api_key": "x"}),
            "token",
            [{1: "ltp"}, {2: "ltp"}],
        )
    with pytest.raises(ValueError, match=r"kite\.api_key is not set"):
        kite_source(load_settings(), "token", [{1: "ltp"}])
    plan = a_plan(emulator)
    source = kite_source(settings, emulator.issue_access_token(), [plan])
    with source:
        feed = Harness(source)
        feed.wait(lambda: bool(feed.frames), "frames")
    assert source.finished
