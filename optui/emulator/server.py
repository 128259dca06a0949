"""`Emulator`: Kite Connect on 127.0.0.1, REST and websocket, fed by one demo market.

It ties the parts together: `Sessions` (who is logged in), `FaultState` (what goes wrong),
`MarketData` (what REST reads of the market), `RestServer` (the HTTP API in a thread) and
`StreamServer` (the websocket protocol and the market clock on an asyncio loop in another
thread). The official `kiteconnect` client works against it unchanged: ``KiteConnect(key,
root=emu.api_url)`` and ``KiteTicker(key, token, root=emu.ws_url)``.

Use it as a context manager in tests (port 0 picks free ports)::

    with Emulator(instruments=300) as emu:
        token = emu.issue_access_token()
        ...

`optui emulate` runs one from the command line.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Final

from optui.emulator.faults import FaultState, check_fault
from optui.emulator.limits import RateLimits
from optui.emulator.market_data import MarketData
from optui.emulator.rest import RestApp, RestServer
from optui.emulator.sessions import Sessions
from optui.emulator.stream import StreamServer
from optui.feed.calendar import DemoSession
from optui.feed.simulator import DemoMarket

__all__ = ["DEMO_API_KEY", "DEMO_API_SECRET", "Emulator", "EmulatorStats", "PortInUseError"]

DEMO_API_KEY: Final = "optuidemo"
DEMO_API_SECRET: Final = "optuidemosecret"
ERROR_MESSAGE: Final = "Kite emulator: an error injected on request"


class PortInUseError(OSError):
    """A port the emulator was told to use is taken; says which one and for what."""

    def __init__(self, port: int, service: str, host: str) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} ({service}) on {host} is already in use")
        self.port = port
        self.service = service


@dataclass(frozen=True)
class EmulatorStats:
    """Counters of what the emulator has served."""

    connections_open: int
    connections_total: int
    handshakes_rejected: int
    frames_sent: int
    heartbeats_sent: int
    rest_requests: int
    subscriptions: list[dict[int, str]]  # token -> mode, one mapping per open connection
    texts_sent: int = 0
    tick_rounds: int = 0

    def as_json(self) -> dict[str, Any]:
        """JSON-able: the subscription tokens become strings, as JSON keys must."""
        out = asdict(self)
        out["subscriptions"] = [{str(k): v for k, v in s.items()} for s in self.subscriptions]
        return out


class Emulator:
    """A Kite Connect stand-in on `host` (127.0.0.1): see the module docstring.

    `clock` is the wall clock the demo market follows (and that dates sessions); faults and
    rate limits run on real time. `rate_limits` enforces Kite's REST limits
    (`optui.emulator.limits`).
    """

    def __init__(
        self,
        *,
        seed: int = 7,
        speed: float = 1.0,
        instruments: int | None = None,
        api_key: str = DEMO_API_KEY,
        api_secret: str = DEMO_API_SECRET,
        redirect_url: str = "http://127.0.0.1:5000/success",
        host: str = "127.0.0.1",
        port: int = 0,
        ws_port: int = 0,
        heartbeat_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
        rate_limits: bool = False,
    ) -> None:
        if heartbeat_interval <= 0:
            raise ValueError("heartbeat_interval must be positive")
        self.host = host
        self.api_key = api_key
        # Printed by `optui emulate`: the emulator plays Kite, whose app secret users type in.
        self.api_secret = api_secret
        self.redirect_url = redirect_url
        self.rate_limits = rate_limits
        self.market: DemoMarket
        self.demo_session: DemoSession
        self.market, self.demo_session = DemoMarket.for_wall_clock(
            clock(), seed, speed=speed, instruments=instruments
        )
        self.sessions = Sessions(api_key, api_secret, clock=clock)
        self.faults = FaultState()
        self.data = MarketData(self.market)
        self._port = port
        self._ws_port = ws_port
        self._stream = StreamServer(
            market=self.market,
            demo_session=self.demo_session,
            data=self.data,
            sessions=self.sessions,
            faults=self.faults,
            host=host,
            port=ws_port,
            heartbeat_interval=heartbeat_interval,
            clock=clock,
        )
        self._app = RestApp(
            sessions=self.sessions,
            faults=self.faults,
            market=self.data,
            redirect_url=redirect_url,
            inject=lambda name, seconds, count: self.inject(name, seconds=seconds, count=count),
            stats=lambda: self.stats().as_json(),
            on_logout=lambda token: self._stream.call(
                lambda: self._stream.close_where("logged out", token)
            ),
            rate_limits=RateLimits() if rate_limits else None,
        )
        self._rest: RestServer | None = None
        self._state = "new"
        self._stop_lock = threading.Lock()
        self.api_url = ""
        self.ws_url = ""
        self.login_url = ""

    def __repr__(self) -> str:
        return f"Emulator(api_url={self.api_url!r}, ws_url={self.ws_url!r}, state={self._state})"

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Listen on both ports; returns once REST and websocket both accept connections.

        Raises `PortInUseError` naming the port that is taken.
        """
        if self._state != "new":
            raise RuntimeError(f"an Emulator starts once (this one is {self._state})")
        self._state = "starting"
        try:
            self._rest = RestServer(self._app, self.host, self._port)
        except OSError as exc:
            self._state = "stopped"
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(self._port, "REST API", self.host) from None
            raise
        try:
            self._stream.start()
        except OSError as exc:
            self._rest.stop()
            self._state = "stopped"
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(self._ws_port, "websocket", self.host) from None
            raise
        self._rest.start()
        self.api_url = f"http://{self.host}:{self._rest.port}"
        self.ws_url = f"ws://{self.host}:{self._stream.port}"
        self.login_url = self.api_url + "/connect/login"
        self._state = "running"
        return self

    def stop(self) -> None:
        """Close every connection and join the threads (idempotent; a second caller waits
        for the first to finish)."""
        with self._stop_lock:
            if self._state in ("new", "stopped"):
                self._state = "stopped"
                return
            self._state = "stopped"
            self._stream.stop()
            if self._rest is not None:
                self._rest.stop()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- sessions and faults ------------------------------------------------------------------
    def issue_access_token(self, user_id: str = "AB1234") -> str:
        """A valid access token, as if `user_id` had just logged in."""
        return self.sessions.issue(user_id).access_token

    def inject(self, fault: str, *, seconds: float = 5.0, count: int = 1) -> None:
        """Make something go wrong now (see `optui.emulator.faults` for each fault).

        Returns once the fault is in effect. ValueError for an unknown fault or bad numbers.
        """
        check_fault(fault, seconds, count)
        stream = self._stream
        if fault == "drop":
            stream.call(stream.drop_all)
        elif fault == "silence":
            self.faults.silence(seconds)
        elif fault == "expire":
            self.sessions.expire_all()
            stream.call(lambda: stream.close_where("access token expired"))
        elif fault == "ratelimit":
            self.faults.ratelimit(count)
        elif fault == "malformed":
            stream.call(lambda: stream.malform(count))
        elif fault == "error":
            stream.call(lambda: stream.send_text("error", ERROR_MESSAGE))

    def stats(self) -> EmulatorStats:
        """What has been served so far."""
        stream = self._stream
        subscriptions = stream.call(stream.subscriptions)
        c = stream.counters
        return EmulatorStats(
            connections_open=len(subscriptions),
            connections_total=c.connections_total,
            handshakes_rejected=c.handshakes_rejected,
            frames_sent=c.frames_sent,
            heartbeats_sent=c.heartbeats_sent,
            rest_requests=self._app.requests,
            subscriptions=subscriptions,
            texts_sent=c.texts_sent,
            tick_rounds=self.data.rounds,
        )
