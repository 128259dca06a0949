"""Kite's REST API on 127.0.0.1: the routes optui and the official client use.

A stdlib `ThreadingHTTPServer` in a daemon thread (``websockets`` serves only GET upgrades,
and Kite's session routes are POST and DELETE). `RestApp` holds the routes as plain
functions of (query, form, headers) so they can be reasoned about without sockets;
`RestServer` puts them on the wire.

Answers use Kite's envelope: ``{"status": "success", "data": ...}``, or on failure
``{"status": "error", "message": ..., "error_type": ..., "data": null}`` with Kite's status
codes (400 input, 403 token, 404 route, 429 rate). The instruments routes answer CSV
(``text/csv``), which the official client parses itself. Authenticated routes read
``Authorization: token <api_key>:<access_token>``, as `KiteConnect._request` sends it.

Two control routes, without auth, are the emulator's own: ``POST /_emulator/fault/<name>
?seconds=S&count=N`` injects a fault and ``GET /_emulator/stats`` reports counters.
Nothing here logs a query string or a body, where tokens travel.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from optui.emulator.errors import GENERAL, NETWORK, KiteError, input_error, token_error
from optui.emulator.faults import FaultState
from optui.emulator.history import INTERVALS
from optui.emulator.limits import RateLimits
from optui.emulator.market_data import MarketData
from optui.emulator.quotes import QUOTE_LIMITS
from optui.emulator.sessions import Sessions, UserSession
from optui.feed.calendar import IST

__all__ = ["Response", "RestApp", "RestServer"]

log = logging.getLogger("optui.emulator.rest")

Query = Mapping[str, list[str]]
_Route = Callable[[Query, Query, Mapping[str, str]], "Response"]
_KITE_EXCHANGES: Final = frozenset({"NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX", "NCO"})
_MAX_BODY: Final = 1 << 20


@dataclass
class Response:
    """One HTTP answer."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(data: object, status: int = 200) -> Response:
    return Response(status, json.dumps({"status": "success", "data": data}).encode())


def _error(exc: KiteError) -> Response:
    return Response(exc.status, json.dumps(exc.envelope()).encode())


def _one(query: Query, name: str) -> str:
    values = query.get(name)
    return values[-1] if values else ""


def _parse_when(text: str, name: str) -> datetime:
    """Kite's ``from``/``to``: ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD``, in IST."""
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=IST)
        except ValueError:
            continue
    raise input_error(f"invalid `{name}` date {text!r}: use YYYY-MM-DD or YYYY-MM-DD HH:MM:SS")


class RestApp:
    """The routes, as functions; no sockets."""

    def __init__(
        self,
        *,
        sessions: Sessions,
        faults: FaultState,
        market: MarketData,
        redirect_url: str,
        inject: Callable[[str, float, int], None],
        stats: Callable[[], dict[str, Any]],
        on_logout: Callable[[str], object] = lambda token: None,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.sessions = sessions
        self.faults = faults
        self.market = market
        self.redirect_url = redirect_url
        self._inject = inject
        self._stats = stats
        self._on_logout = on_logout
        self.rate_limits = rate_limits
        self._lock = threading.Lock()
        self.requests = 0
        self._routes: list[tuple[str, re.Pattern[str], _Route]] = [
            ("GET", re.compile(r"/connect/login/?"), self._login),
            ("POST", re.compile(r"/session/token"), self._session_token),
            ("DELETE", re.compile(r"/session/token"), self._logout),
            ("GET", re.compile(r"/user/profile"), self._profile),
            ("GET", re.compile(r"/instruments"), self._instruments),
            (
                "GET",
                re.compile(r"/instruments/historical/(?P<token>[^/]+)/(?P<interval>[^/]+)"),
                self._historical,
            ),
            ("GET", re.compile(r"/instruments/(?P<exchange>[^/]+)"), self._instruments),
            ("GET", re.compile(r"/quote"), self._quote("quote")),
            ("GET", re.compile(r"/quote/ltp"), self._quote("ltp")),
            ("GET", re.compile(r"/quote/ohlc"), self._quote("ohlc")),
            ("POST", re.compile(r"/_emulator/fault/(?P<name>[^/]+)"), self._fault),
            ("GET", re.compile(r"/_emulator/stats"), self._stats_route),
        ]

    def handle(
        self, method: str, path: str, query: Query, form: Query, headers: Mapping[str, str]
    ) -> Response:
        """Answer one request (never raises)."""
        control = path.startswith("/_emulator/")
        if not control:
            with self._lock:
                self.requests += 1
        try:
            if not control and not path.startswith("/connect/"):
                if self.faults.take_ratelimit():
                    raise KiteError(429, NETWORK, "Too many requests")
                if self.rate_limits is not None and not self.rate_limits.admit(path):
                    raise KiteError(429, NETWORK, "Too many requests")
            allowed = False
            for verb, pattern, route in self._routes:
                match = pattern.fullmatch(path)
                if match is None:
                    continue
                allowed = True
                if verb == method:
                    return route(
                        {**query, **{k: [v] for k, v in match.groupdict().items()}}, form, headers
                    )
            if allowed:
                raise KiteError(405, GENERAL, f"Method {method} is not allowed on {path}")
            raise KiteError(404, GENERAL, "Route not found")
        except KiteError as exc:
            return _error(exc)
        except Exception:
            log.exception("emulator route %s %s failed", method, path)
            return _error(KiteError(500, GENERAL, "Internal error in the Kite emulator"))

    # -- auth -------------------------------------------------------------------------------
    def _auth(self, headers: Mapping[str, str]) -> UserSession:
        value = headers.get("authorization", "")
        scheme, _, credentials = value.partition(" ")
        api_key, _, access_token = credentials.partition(":")
        if scheme.lower() != "token" or not api_key or not access_token:
            raise token_error()
        session = self.sessions.lookup(api_key, access_token)
        if session is None:
            raise token_error()
        return session

    # -- login ------------------------------------------------------------------------------
    def _login(self, query: Query, form: Query, headers: Mapping[str, str]) -> Response:
        api_key = _one(query, "api_key")
        if api_key != self.sessions.api_key:
            page = (
                "<!doctype html><title>Kite emulator: invalid api_key</title>"
                "<h1>Invalid <code>api_key</code></h1><p>This emulator serves the app whose "
                "api_key `optui emulate` printed; log in with that key.</p>"
            )
            return Response(400, page.encode(), "text/html; charset=utf-8")
        params: dict[str, str] = {}
        extra = _one(query, "redirect_params")
        if extra:
            params.update({k: v[-1] for k, v in parse_qs(extra, keep_blank_values=True).items()})
        params.update(
            action="login",
            type="login",
            status="success",
            request_token=self.sessions.new_request_token(),
        )
        parts = urlsplit(self.redirect_url)
        joined = "&".join(p for p in (parts.query, urlencode(params)) if p)
        location = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", joined, ""))
        return Response(302, b"", "text/plain", {"Location": location})

    def _session_token(self, query: Query, form: Query, headers: Mapping[str, str]) -> Response:
        session = self.sessions.exchange(
            _one(form, "api_key"), _one(form, "request_token"), _one(form, "checksum")
        )
        return _json(self.sessions.session_data(session))

    def _logout(self, query: Query, form: Query, headers: Mapping[str, str]) -> Response:
        api_key, token = _one(query, "api_key"), _one(query, "access_token")
        if not api_key or not token:
            raise input_error("`api_key` and `access_token` are required")
        if api_key != self.sessions.api_key:
            raise token_error("Invalid `api_key`.")
        if self.sessions.invalidate(api_key, token):
            self._on_logout(token)
        return _json(True)

    def _profile(self, query: Query, form: Query, headers: Mapping[str, str]) -> Response:
        return _json(self.sessions.profile(self._auth(headers)))

    # -- market -----------------------------------------------------------------------------
    def _instruments(self, query: Query, form: Query, headers: Mapping[str, str]) -> Response:
        self._auth(headers)
        exchange = _one(query, "exchange") or None
        if exchange is not None and exchange not in _KITE_EXCHANGES:
            raise input_error(
                f"invalid exchange {exchange!r}; one of {', '.join(sorted(_KITE_EXCHANGES))}"
            )
        text = self.market.instruments_csv(exchange)
        return Response(200, text.encode(), "text/csv")

    def _quote(self, kind: str) -> Callable[[Query, Query, Mapping[str, str]], Response]:
        limit = QUOTE_LIMITS[kind]

        def route(query: Query, form: Query, headers: Mapping[str, str]) -> Response:
            self._auth(headers)
            keys = [k for k in query.get("i", []) if k]
            if not keys:
                raise input_error("no instruments: pass i=EXCHANGE:TRADINGSYMBOL (one or more)")
            if len(keys) > limit:
                raise input_error(f"too many instruments: {len(keys)}, at most {limit} a request")
            return _json(self.market.quotes.build(kind, keys, self.market.latest()))

        return route

    def _historical(self, query: Query, form: Query, headers: Mapping[str, str]) -> Response:
        self._auth(headers)
        token_text, interval = _one(query, "token"), _one(query, "interval")
        row = self.market.quotes.row_of_token(int(token_text)) if token_text.isdigit() else None
        if row is None:
            raise input_error(f"invalid token {token_text!r}: not in today's instruments")
        if interval not in INTERVALS:
            raise input_error(f"invalid interval {interval!r}; one of {', '.join(INTERVALS)}")
        start = _parse_when(_one(query, "from"), "from")
        end = _parse_when(_one(query, "to"), "to")
        if start > end:
            raise input_error("`from` is after `to`")
        with_oi = _one(query, "oi") == "1"
        minutes = INTERVALS[interval]
        if minutes == 0:
            candles = self.market.day_candles(row, start.date(), end.date())
        else:
            candles = self.market.candles.candles(
                row, minutes, int(start.timestamp()), int(end.timestamp())
            )
        return _json({"candles": [c.row(with_oi) for c in candles]})

    # -- control ----------------------------------------------------------------------------
    def _fault(self, query: Query, form: Query, headers: Mapping[str, str]) -> Response:
        name = _one(query, "name")
        try:
            seconds = float(_one(query, "seconds") or _one(form, "seconds") or 5.0)
            count = int(_one(query, "count") or _one(form, "count") or 1)
            self._inject(name, seconds, count)
        except ValueError as exc:
            raise input_error(str(exc)) from None
        return _json({"fault": name, "seconds": seconds, "count": count})

    def _stats_route(self, query: Query, form: Query, headers: Mapping[str, str]) -> Response:
        return _json(self._stats())


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: RestApp
    open_sockets: set[socket.socket]
    sockets_lock: threading.Lock


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 60  # an idle keep-alive connection is closed after this long

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        super().finish()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        form: dict[str, list[str]] = {}
        length = int(self.headers.get("Content-Length") or 0)
        if 0 < length <= _MAX_BODY:
            body = self.rfile.read(length)
            kind = self.headers.get("Content-Type", "")
            if "json" in kind:
                try:
                    loaded = json.loads(body)
                except ValueError:
                    loaded = {}
                if isinstance(loaded, dict):
                    form = {str(k): [str(v)] for k, v in loaded.items()}
            else:
                form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        elif length > _MAX_BODY:
            self.close_connection = True
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.app.handle(self.command, parts.path, query, form, headers)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_DELETE = do_PUT = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs the request line, query and all: tokens travel there. Path only.
        log.debug("%s %s", self.command, urlsplit(self.path).path)


class RestServer:
    """`RestApp` on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: RestApp, host: str, port: int) -> None:
        self.app = app
        server = _HTTPServer((host, port), _Handler)  # raises OSError if the port is taken
        server.app = app
        server.open_sockets = set()
        server.sockets_lock = threading.Lock()
        self._server = server
        self.port: int = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="kite-emulator-rest",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        with self._server.sockets_lock:
            sockets = list(self._server.open_sockets)
        for sock in sockets:  # wake handler threads parked on idle keep-alive connections
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
