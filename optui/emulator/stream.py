"""Kite's websocket protocol on 127.0.0.1, fed by the demo market.

One asyncio loop in its own thread owns the `DemoMarket` and every connection. Every
`step` seconds it moves the market to the simulated time of the wall clock
(`market.ticks_to(session.at(clock()))`), publishes each tick round to the REST side
(`MarketData.on_round`) and, for each connection, picks the rows it subscribed, sets each
row's packet kind from its mode (index tokens get the index packets) and encodes them with
`optui.feed.codec.encode`, at most 500 packets a frame, as Kite does.

Sending never blocks the loop: each connection has its own outbox and writer task, so a
slow reader only delays itself. A reader that falls more than `MAX_BACKLOG_BYTES` behind is
cut off (a server cannot buffer without bound; Kite drops slow consumers too). A writer
with nothing to send for `heartbeat_interval` seconds sends a 1-byte heartbeat.

Handshakes: ``?api_key=&access_token=`` must name a live session (else HTTP 403), and an
API key gets at most `MAX_CONNECTIONS` connections at once (the next gets HTTP 429).
Client text messages: ``{"a": "subscribe"|"unsubscribe", "v": [tokens]}`` and
``{"a": "mode", "v": [mode, [tokens]]}``; anything else gets a ``{"type": "error"}`` text
message and the connection stays. New subscriptions start in quote mode and get the
latest tick at once; a mode change re-sends it in the new mode. More than `MAX_TOKENS`
instruments on one connection: the excess is ignored and an error message says so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
import numpy.typing as npt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from optui.emulator.faults import FaultState, malformed
from optui.emulator.market_data import MarketData
from optui.emulator.sessions import Sessions
from optui.feed.calendar import DemoSession
from optui.feed.codec import (
    MODE_FULL,
    MODE_INDEX_FULL,
    MODE_INDEX_QUOTE,
    MODE_LTP,
    MODE_QUOTE,
    SEGMENT_INDICES,
    encode,
)
from optui.feed.simulator import KITE_PACKETS_PER_FRAME, DemoMarket

__all__ = ["HEARTBEAT", "MAX_CONNECTIONS", "MAX_TOKENS", "StreamCounters", "StreamServer"]

log = logging.getLogger("optui.emulator.stream")
# websockets logs request lines at DEBUG, and Kite's carry the access token: never emit them.
_ws_log = logging.getLogger("optui.emulator.websockets")
_ws_log.setLevel(logging.INFO)

HEARTBEAT: Final = b"\x00"
MAX_TOKENS: Final = 3000
MAX_CONNECTIONS: Final = 3
MAX_BACKLOG_BYTES: Final = 32 << 20
MODES: Final = ("ltp", "quote", "full")
# Packet kind per mode: (other instruments, index instruments).
_KIND: Final[dict[str, tuple[int, int]]] = {
    "ltp": (MODE_LTP, MODE_LTP),
    "quote": (MODE_QUOTE, MODE_INDEX_QUOTE),
    "full": (MODE_FULL, MODE_INDEX_FULL),
}
_UINT32_MAX: Final = 0xFFFFFFFF

T = TypeVar("T")


@dataclass
class StreamCounters:
    """What the websocket side has done (written on the loop thread only)."""

    connections_total: int = 0
    handshakes_rejected: int = 0
    frames_sent: int = 0
    heartbeats_sent: int = 0
    texts_sent: int = 0


class _Client:
    """One websocket connection: its subscriptions, its outbox and its writer."""

    def __init__(
        self,
        ws: ServerConnection,
        api_key: str,
        access_token: str,
        server: StreamServer,
    ) -> None:
        self.ws = ws
        self.api_key = api_key
        self.access_token = access_token
        self._server = server
        self.modes: dict[int, str] = {}
        self.rows: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self.kinds: npt.NDArray[np.uint8] = np.zeros(0, dtype=np.uint8)
        self.malformed_left = 0
        self._outbox: deque[bytes | str] = deque()
        self._backlog = 0
        self._wake = asyncio.Event()

    # -- outbox -----------------------------------------------------------------------------
    def push(self, item: bytes | str) -> None:
        if self._server.faults.silent():
            return  # a silent server loses what it would have sent
        self._outbox.append(item)
        self._backlog += len(item)
        self._wake.set()
        if self._backlog > MAX_BACKLOG_BYTES:
            log.warning("a websocket reader fell %d bytes behind: disconnecting it", self._backlog)
            self._outbox.clear()
            self._backlog = 0
            self.abort()

    def text(self, kind: str, data: str) -> None:
        self.push(json.dumps({"type": kind, "data": data}))

    def abort(self) -> None:
        """Cut the connection: no close frame, as when a network path dies."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    async def write_loop(self, heartbeat: float) -> None:
        counters = self._server.counters
        faults = self._server.faults
        try:
            while True:
                if not self._outbox:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), heartbeat)
                    except TimeoutError:
                        if not faults.silent():
                            await self.ws.send(HEARTBEAT)
                            counters.heartbeats_sent += 1
                    continue
                item = self._outbox.popleft()
                self._backlog -= len(item)
                if faults.silent():
                    continue
                if isinstance(item, bytes):
                    if self.malformed_left > 0:
                        self.malformed_left -= 1
                        item = malformed(item)
                    await self.ws.send(item)
                    counters.frames_sent += 1
                else:
                    await self.ws.send(item)
                    counters.texts_sent += 1
        except ConnectionClosed:
            pass
        except Exception:
            # A writer that dies must not leave a connection that only looks alive.
            log.exception("an emulator websocket writer failed; dropping its connection")
            self.abort()

    # -- subscriptions --------------------------------------------------------------------------
    def send_ticks(
        self, ticks: npt.NDArray[np.void], rows: npt.NDArray[np.intp], kinds: npt.NDArray[np.uint8]
    ) -> None:
        """Encode rows of a full tick round as this client's frames."""
        if len(rows) == 0:
            return
        picked = ticks[rows]
        picked["mode"] = kinds
        for start in range(0, len(picked), KITE_PACKETS_PER_FRAME):
            self.push(encode(picked[start : start + KITE_PACKETS_PER_FRAME]))

    def plan(self, tokens: Sequence[int]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8]]:
        """Rows and packet kinds for `tokens` (listed ones only), grouped by kind so that
        `encode` moves each kind as one block."""
        row_of = self._server.row_of_token
        is_index = self._server.is_index
        rows: list[int] = []
        kinds: list[int] = []
        for token in tokens:
            row = row_of.get(token)
            if row is None:
                continue  # Kite accepts unknown tokens and never sends a tick for them
            rows.append(row)
            kinds.append(_KIND[self.modes[token]][int(is_index[row])])
        row_array = np.array(rows, dtype=np.intp)
        kind_array = np.array(kinds, dtype=np.uint8)
        order = np.lexsort((row_array, kind_array))
        return row_array[order], kind_array[order]

    def replan(self) -> None:
        self.rows, self.kinds = self.plan(list(self.modes))

    def snapshot(self, tokens: Sequence[int]) -> None:
        """Send the latest tick of `tokens` now, in their current modes."""
        data = self._server.data
        if data.rounds:
            rows, kinds = self.plan(tokens)
            self.send_ticks(data.latest(), rows, kinds)


def _tokens(value: object) -> list[int] | None:
    """The token list of a message, or None if it is not a list of instrument tokens."""
    if not isinstance(value, list):
        return None
    if not all(type(t) is int and 0 <= t <= _UINT32_MAX for t in value):
        return None
    return list(dict.fromkeys(value))


class StreamServer:
    """The websocket server and the market clock, on an asyncio loop in a daemon thread."""

    def __init__(
        self,
        *,
        market: DemoMarket,
        demo_session: DemoSession,
        data: MarketData,
        sessions: Sessions,
        faults: FaultState,
        host: str,
        port: int,
        heartbeat_interval: float,
        clock: Callable[[], float],
        step: float = 0.25,
    ) -> None:
        self.market = market
        self.demo_session = demo_session
        self.data = data
        self.sessions = sessions
        self.faults = faults
        self.counters = StreamCounters()
        self.row_of_token = {
            int(t): i for i, t in enumerate(market.instruments.instrument_token.tolist())
        }
        self.is_index = (market.instruments.instrument_token & 0xFF) == SEGMENT_INDICES
        self._host = host
        self._port = port
        self._heartbeat = heartbeat_interval
        self._clock = clock
        self._step = step
        self._closing: set[asyncio.Future[None]] = set()
        self._clients: dict[_Client, None] = {}  # insertion order: oldest connection first
        self._admitted: dict[ServerConnection, str] = {}  # handshakes let through: api_key
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread_id: int | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = port

    # -- lifecycle (any thread) -------------------------------------------------------------
    def start(self) -> None:
        """Generate the first tick round, then listen; returns once listening (or raises the
        bind error)."""
        self.advance(first=True)
        self._thread = threading.Thread(target=self._run, name="kite-emulator-ws", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def stop(self) -> None:
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join()
        self._loop = None

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the loop thread (where connections live) and return its result."""
        loop = self._loop
        if loop is None or not loop.is_running() or threading.get_ident() == self._loop_thread_id:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # loop closed: no connections are left to act on
            return fn()
        return future.result(timeout=30)

    # -- the loop ---------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # pragma: no cover - reported to start() or logged
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                log.exception("the emulator's websocket loop failed")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread_id = threading.get_ident()
        self._stopping = asyncio.Event()
        try:
            server: Server = await serve(
                self._handle,
                self._host,
                self._port,
                process_request=self._check_handshake,
                compression=None,  # Kite does not compress ticks; it would cost CPU both ends
                ping_interval=None,  # "silence" must mean nothing at all is sent
                close_timeout=2,
                max_size=1 << 20,
                logger=_ws_log,
            )
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        ticker = asyncio.create_task(self._tick())
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            ticker.cancel()
            server.close()
            await server.wait_closed()

    async def _tick(self) -> None:
        while True:
            try:
                self.advance()
            except Exception:
                log.exception("the emulator's market step failed")
            await asyncio.sleep(self._step)

    def advance(self, *, first: bool = False) -> int:
        """Move the market to now and stream the rounds due; returns how many."""
        market = self.market
        target = min(self.demo_session.at(self._clock()), float(market.close_epoch))
        rounds = market.ticks_to(target)
        if first and not rounds:
            # REST quotes want a round from the start: take the next one a moment early.
            rounds = market.ticks_to(min(target + market.tick_interval, market.close_epoch))
        for ticks in rounds:
            self.data.on_round(ticks)
            for client in list(self._clients):
                client.send_ticks(ticks, client.rows, client.kinds)
        return len(rounds)

    # -- connections --------------------------------------------------------------------------
    def _open_connections(self, api_key: str) -> int:
        for ws in [ws for ws in self._admitted if ws.state is State.CLOSED]:
            del self._admitted[ws]
        return sum(1 for key in self._admitted.values() if key == api_key)

    def _check_handshake(self, ws: ServerConnection, request: Request) -> Response | None:
        query = parse_qs(urlsplit(request.path).query)
        api_key = (query.get("api_key") or [""])[-1]
        token = (query.get("access_token") or [""])[-1]
        if self.sessions.lookup(api_key, token) is None:
            self.counters.handshakes_rejected += 1
            return ws.respond(HTTPStatus.FORBIDDEN, "Invalid `api_key` or `access_token`.\n")
        if self._open_connections(api_key) >= MAX_CONNECTIONS:
            self.counters.handshakes_rejected += 1
            return ws.respond(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"At most {MAX_CONNECTIONS} websocket connections per api_key.\n",
            )
        self._admitted[ws] = api_key
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        client = _Client(
            ws,
            (query.get("api_key") or [""])[-1],
            (query.get("access_token") or [""])[-1],
            self,
        )
        self._clients[client] = None
        self.counters.connections_total += 1
        writer = asyncio.create_task(client.write_loop(self._heartbeat))
        try:
            async for message in ws:
                if isinstance(message, str):
                    self._on_text(client, message)
                else:
                    client.text("error", "binary messages are not understood; send JSON text")
        except ConnectionClosed:
            pass
        finally:
            self._clients.pop(client, None)
            self._admitted.pop(ws, None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    def _on_text(self, client: _Client, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            client.text("error", f"invalid JSON message: {text[:80]!r}")
            return
        if not isinstance(message, dict):
            client.text("error", 'a message is a JSON object {"a": action, "v": value}')
            return
        action, value = message.get("a"), message.get("v")
        if action in ("subscribe", "unsubscribe"):
            tokens = _tokens(value)
            if tokens is None:
                client.text("error", f"{action}: 'v' must be a list of instrument tokens")
            elif action == "subscribe":
                self._subscribe(client, tokens)
            else:
                for token in tokens:
                    client.modes.pop(token, None)
                client.replan()
        elif action == "mode":
            ok = isinstance(value, list) and len(value) == 2 and value[0] in MODES
            tokens = _tokens(value[1]) if ok and isinstance(value, list) else None
            if tokens is None or not isinstance(value, list):
                client.text(
                    "error", 'mode: \'v\' must be ["ltp"|"quote"|"full", [instrument tokens]]'
                )
                return
            changed = [t for t in tokens if t in client.modes and client.modes[t] != value[0]]
            for token in changed:
                client.modes[token] = value[0]
            client.replan()
            client.snapshot(changed)
        else:
            client.text("error", f"unknown action {action!r}: use subscribe, unsubscribe or mode")

    def _subscribe(self, client: _Client, tokens: list[int]) -> None:
        new = [t for t in tokens if t not in client.modes]
        room = MAX_TOKENS - len(client.modes)
        accepted, excess = new[: max(room, 0)], new[max(room, 0) :]
        for token in accepted:
            client.modes[token] = "quote"
        if excess:
            client.text(
                "error",
                f"subscription limit: at most {MAX_TOKENS} instruments per connection; "
                f"{len(excess)} tokens ignored",
            )
        client.replan()
        client.snapshot(accepted)

    # -- faults and reports (on the loop thread, through `call`) ------------------------------
    def drop_all(self) -> int:
        clients = list(self._clients)
        for client in clients:
            client.abort()
        return len(clients)

    def close_where(self, reason: str, token: str | None = None) -> int:
        """Close (with a close frame) every connection, or those using `token`."""
        clients = [c for c in self._clients if token is None or c.access_token == token]
        for client in clients:
            task = asyncio.ensure_future(client.ws.close(1008, reason))
            self._closing.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._closing.discard)
        return len(clients)

    def send_text(self, kind: str, data: str) -> int:
        for client in self._clients:
            client.text(kind, data)
        return len(self._clients)

    def malform(self, count: int) -> int:
        for client in self._clients:
            client.malformed_left += count
        return len(self._clients)

    def subscriptions(self) -> list[dict[int, str]]:
        return [dict(client.modes) for client in self._clients]
