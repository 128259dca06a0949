"""One websocket connection to Kite's ticker, kept alive for as long as the token is good.

Why our own client and not `KiteTicker`: see DESIGN.md (a Twisted reactor that cannot restart,
no working keepalive, a callback's exception drops the connection). This one:

- hands every binary message longer than one byte to a callback untouched, with its receive
  time; one-byte messages are Kite's heartbeats and are only counted;
- turns text messages (errors, order updates, broker messages) into events;
- watches the wire: when nothing at all, not even a heartbeat, arrives for `watchdog`
  seconds, it says "silent", aborts the socket and reconnects. The library's own pings are
  off: whether Kite answers them is not documented, and a socket that answers pings but sends
  no ticks is just as dead to a trader. Kite's heartbeats are the authority;
- reconnects with exponential backoff and full jitter, resubscribing everything in the modes
  asked; a connection that stayed healthy resets the backoff;
- stops for good, with an "auth" event, when the handshake is refused with HTTP 403 (the
  access token expired or is wrong: another attempt cannot succeed until the user logs in);
- applies subscription changes as a difference (unsubscribe, subscribe, mode) on the open
  connection, never by reconnecting;
- never lets the access token out: it is in the URL, so the URL is never quoted, every event
  text is scrubbed, and the websockets library's own log lines go through a scrubbing logger.

A clean stop sends a close frame and keeps reading until the server's close arrives, so no
frame the server sent before it saw the close is lost; an abort (watchdog, drop) still hands
over every message that had arrived before the socket died.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

from optui.feed.kite_events import ConnectionHealth, EventKind, StreamEvent, scrub

__all__ = [
    "AUTH_MESSAGE",
    "BATCH",
    "KITE_MODES",
    "PER_CONNECTION",
    "KiteStream",
    "check_tokens",
    "subscription_messages",
]

KITE_MODES: Final = ("ltp", "quote", "full")
PER_CONNECTION: Final = 3000
"""Kite's limit of instruments on one websocket connection."""
BATCH: Final = 1000
"""Tokens per subscribe/unsubscribe/mode message: keeps each message small."""

AUTH_MESSAGE: Final = (
    "Kite rejected the access token (403): it expires daily at 06:00 IST; run `optui login`"
)

_log = logging.getLogger(__name__)

FrameCallback = Callable[[bytes, float], None]
EventCallback = Callable[[StreamEvent], None]


def check_tokens(tokens: Mapping[int, str], connection: int = 0) -> dict[int, str]:
    """A copy of one connection's token -> mode mapping, or ValueError saying what is wrong."""
    checked: dict[int, str] = {}
    for token, mode in tokens.items():
        if isinstance(token, bool) or not isinstance(token, int) or not 0 < token < 2**32:
            raise ValueError(
                f"connection {connection}: instrument token {token!r} is not a Kite token "
                "(a positive 32-bit integer)"
            )
        if mode not in KITE_MODES:
            raise ValueError(
                f"connection {connection}: token {token} has mode {mode!r}; "
                f"allowed: {', '.join(KITE_MODES)}"
            )
        checked[token] = mode
    if len(checked) > PER_CONNECTION:
        raise ValueError(
            f"connection {connection} asks for {len(checked)} instruments; Kite allows "
            f"{PER_CONNECTION} per connection: spread them over more connections"
        )
    return checked


def _batches(tokens: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(tokens), BATCH):
        yield tokens[start : start + BATCH]


def _by_mode(tokens: Mapping[int, str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for token, mode in tokens.items():
        groups.setdefault(mode, []).append(token)
    return {mode: groups[mode] for mode in KITE_MODES if mode in groups}


def subscription_messages(have: Mapping[int, str], want: Mapping[int, str]) -> list[str]:
    """The text messages that take a connection subscribed as `have` to `want`: unsubscribe
    what is gone (first, so the connection never exceeds its limit), subscribe what is new,
    then one mode message per mode (in batches) for the new tokens and those whose mode
    changed. Kite starts new tokens in quote mode; their mode is set all the same, so the
    result never depends on that default."""
    gone = sorted(token for token in have if token not in want)
    new = sorted(token for token in want if token not in have)
    moded = {token: mode for token, mode in sorted(want.items()) if have.get(token) != mode}
    messages = [json.dumps({"a": "unsubscribe", "v": batch}) for batch in _batches(gone)]
    messages += [json.dumps({"a": "subscribe", "v": batch}) for batch in _batches(new)]
    for mode, tokens in _by_mode(moded).items():
        messages += [json.dumps({"a": "mode", "v": [mode, batch]}) for batch in _batches(tokens)]
    return messages


def _describe(tokens: Mapping[int, str]) -> str:
    groups = _by_mode(tokens)
    return ", ".join(f"{mode} {len(group)}" for mode, group in groups.items()) or "none"


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _ScrubbingLogger(logging.LoggerAdapter[logging.Logger]):
    """The websockets library's logger for this connection: its debug lines quote the
    handshake's request line, which holds the token, so every line is formatted and scrubbed
    before it is handed on."""

    def __init__(self, logger: logging.Logger, secrets: tuple[str, ...]) -> None:
        super().__init__(logger, {})
        self._secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        for secret in self._secrets:
            text = scrub(text, secret)
        kwargs.pop("exc_info", None)  # a traceback could quote the URL
        self.logger.log(level, "%s", text, **kwargs)


class KiteStream:
    """An asyncio client of one Kite websocket connection; `run()` until `stop()` or until
    Kite refuses the token.

    Callbacks run on the event loop: `on_frame(data, received)` for every binary message
    longer than one byte, `on_event(event)` for everything worth telling. An exception in a
    callback is logged and never drops the connection.
    """

    def __init__(
        self,
        *,
        api_key: str,
        access_token: str,
        ws_url: str,
        tokens: Mapping[int, str],
        on_frame: FrameCallback,
        on_event: EventCallback,
        connection: int = 0,
        watchdog: float = 5.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        healthy_after: float | None = None,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if watchdog <= 0:
            raise ValueError(f"watchdog must be positive seconds, not {watchdog!r}")
        low, high = backoff
        if not 0 <= low <= high:
            raise ValueError(f"backoff must be (shortest, longest) seconds, not {backoff!r}")
        self.connection = connection
        self._api_key = api_key
        self._access_token = access_token
        self._ws_url = ws_url
        split = urlsplit(ws_url)
        # Where we connect, for messages: host and port only, never the query (the token).
        self.endpoint = split.hostname or "?"
        if split.port is not None:
            self.endpoint += f":{split.port}"
        self._loopback = _is_loopback(split.hostname)
        self._want = check_tokens(tokens, connection)
        self._have: dict[int, str] = {}
        self._on_frame = on_frame
        self._on_event = on_event
        self.watchdog = watchdog
        self.backoff = backoff
        self.healthy_after = 2 * watchdog if healthy_after is None else healthy_after
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.clock = clock
        self._rng = rng or random.Random()
        self.health = ConnectionHealth(connection=connection, tokens=len(self._want))
        self.auth_failed = False
        self.stopped = False
        self._stopping = False
        self._ws: ClientConnection | None = None
        self._changed = asyncio.Event()
        self._attempt = 0
        self._task: asyncio.Task[None] | None = None
        self._last_rx = 0.0
        self._silent = False
        self._wire_logger = _ScrubbingLogger(
            logging.getLogger("optui.feed.kite.wire"),
            (access_token, quote(access_token, safe="")),
        )

    def __repr__(self) -> str:
        return (
            f"KiteStream(connection={self.connection}, endpoint={self.endpoint!r}, "
            f"tokens={len(self._want)}, state={self.health.state!r})"
        )

    @property
    def tokens(self) -> dict[int, str]:
        """What this connection is meant to be subscribed to (token -> mode)."""
        return dict(self._want)

    # -- control (call on the event loop's thread) ------------------------------------------

    def update(self, tokens: Mapping[int, str]) -> None:
        """Subscribe `tokens` instead: sent as a difference on the open connection, or used
        by the next connect when there is none."""
        self._want = check_tokens(tokens, self.connection)
        self.health.tokens = len(self._want)
        self._changed.set()

    def start(self) -> asyncio.Task[None]:
        """Run the connection as a task of the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"kite-stream-{self.connection}")
        return self._task

    async def stop(self) -> None:
        """Stop within about `close_timeout`: on an open connection, close cleanly (close
        frame, then read on until the server's close, so nothing it sent is lost), else
        abort; while connecting or backing off, cancel."""
        self._stopping = True
        self._changed.set()
        ws = self._ws
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), self.close_timeout)
            except (TimeoutError, OSError, ConnectionClosed):
                pass
            finally:
                ws.transport.abort()
        task = self._task
        if task is None or task.done():
            return
        if ws is None and self._ws is None:
            task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(task), self.close_timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        except (asyncio.CancelledError, Exception):
            if not task.done():
                raise

    # -- the connection loop ----------------------------------------------------------------

    async def run(self) -> None:
        """Connect, stream, reconnect; returns after `stop()` or a refused token."""
        try:
            while not self._stopping:
                ws = await self._open()
                if ws is not None:
                    healthy = await self._session(ws)
                    if healthy:
                        self._attempt = 0
                if self._stopping or self.auth_failed:
                    break
                await self._back_off()
        finally:
            self.stopped = True
            self.health.state = "stopped"
            self.health.connected_since = None
            if self.auth_failed:
                self._emit("stopped", "stopped for good: log in again, then restart the feed")
            else:
                self._emit("stopped", "stopped")

    def _url(self) -> str:
        sep = "&" if "?" in self._ws_url else "?"
        query = urlencode({"api_key": self._api_key, "access_token": self._access_token})
        return f"{self._ws_url}{sep}{query}"

    async def _open(self) -> ClientConnection | None:
        """One connection attempt: the open connection, or None after saying why not."""
        self.health.state = "connecting"
        try:
            ws = await connect(
                self._url(),
                additional_headers={"X-Kite-Version": "3"},
                compression=None,  # as the official client: Kite's frames go uncompressed
                open_timeout=self.open_timeout,
                ping_interval=None,  # the heartbeat watchdog is the authority (see above)
                ping_timeout=None,
                close_timeout=self.close_timeout,
                max_size=2**24,  # a full connection's frame is ~560 kB; leave room
                proxy=None if self._loopback else True,
                logger=self._wire_logger,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 403:
                self.auth_failed = True
                self.health.last_error = AUTH_MESSAGE
                self._emit("auth", AUTH_MESSAGE)
                return None
            self._failed(f"Kite refused the connection with HTTP {status}")
            return None
        except InvalidURI:
            # Settings validate the URL, so this is a programming error; retrying cannot help.
            self._stopping = True
            self._failed(f"the websocket URL for {self.endpoint} is not valid; check kite.ws_url")
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # DNS, refused, timeout, bad handshake: all transient
            self._failed(f"could not connect to {self.endpoint}: {_explain(exc)}")
            return None
        if self._stopping:
            ws.transport.abort()
            return None
        return ws

    def _failed(self, why: str) -> None:
        self.health.last_error = self._scrub(why)
        self._emit("disconnected", why)

    async def _back_off(self) -> None:
        """Wait before the next attempt: uniform between the shortest delay and an
        exponentially growing cap (full jitter), cut short by `stop()`."""
        self._attempt += 1
        low, high = self.backoff
        cap = min(high, low * 2.0**self._attempt)
        delay = self._rng.uniform(low, max(low, cap))
        self.health.state = "backoff"
        self._emit("reconnecting", f"reconnecting in {delay:.2f} s (attempt {self._attempt})")
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            # Only stop() sets the event while backing off (update() does too, harmlessly:
            # the loop below waits again for what is left of the delay).
            deadline = asyncio.get_running_loop().time() + delay
            while not self._stopping:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                await asyncio.wait_for(self._changed.wait(), left)
                self._changed.clear()

    async def _session(self, ws: ClientConnection) -> bool:
        """Stream one open connection until it closes; True if it stayed healthy."""
        loop = asyncio.get_running_loop()
        self._ws = ws
        self._have = {}
        self._changed.set()  # subscribe everything on this connection
        opened = loop.time()
        self._last_rx = opened
        self._silent = False
        received = False
        self.health.connects += 1
        self.health.state = "connected"
        self.health.connected_since = self.clock()
        again = f" (reconnect {self.health.connects - 1})" if self.health.connects > 1 else ""
        self._emit("connected", f"connected to {self.endpoint}{again}")
        helpers = [
            asyncio.create_task(self._keep_subscribed(ws)),
            asyncio.create_task(self._watch(ws)),
        ]
        try:
            while True:
                message = await ws.recv()
                now = self.clock()
                self._last_rx = loop.time()
                received = True
                health = self.health
                health.last_message_time = now
                if isinstance(message, bytes):
                    if len(message) <= 1:
                        health.heartbeats += 1
                        continue
                    health.frames += 1
                    health.bytes += len(message)
                    health.last_frame_time = now
                    try:
                        self._on_frame(message, now)
                    except Exception:
                        _log.exception("connection %d: the frame callback failed", self.connection)
                else:
                    health.text_messages += 1
                    self._text(message)
        except ConnectionClosed as exc:
            if not self._stopping:
                self._closed(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never die silently, not even of our own bug
            _log.exception("connection %d: the receive loop failed", self.connection)
            self._failed(f"the receive loop failed: {_explain(exc)}")
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            ws.transport.abort()
            self._ws = None
            self._have = {}
            self.health.connected_since = None
        return received and loop.time() - opened >= self.healthy_after

    def _closed(self, exc: ConnectionClosed) -> None:
        if self._silent:
            why = f"no data for {self.watchdog:g} s (not even a heartbeat): the watchdog closed it"
        elif exc.rcvd is not None:
            reason = f": {exc.rcvd.reason}" if exc.rcvd.reason else ""
            why = f"closed by Kite (code {exc.rcvd.code}{reason})"
        else:
            why = "connection lost without a close frame (code 1006)"
        self._failed(why)

    async def _watch(self, ws: ClientConnection) -> None:
        """The watchdog: abort the socket after `watchdog` seconds without any message."""
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - self._last_rx
            if idle >= self.watchdog:
                self._silent = True
                self.health.silent_periods += 1
                self._emit(
                    "silent",
                    f"nothing received for {idle:.1f} s (not even a heartbeat): reconnecting",
                )
                ws.transport.abort()
                return
            await asyncio.sleep(self.watchdog - idle)

    async def _keep_subscribed(self, ws: ClientConnection) -> None:
        """Send the difference between what the connection has and what is wanted, each
        time `update()` changes the latter."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self._changed.wait()
                self._changed.clear()
                if self._stopping:
                    return
                want = dict(self._want)
                messages = subscription_messages(self._have, want)
                if not messages:
                    continue
                first = not self._have
                for message in messages:
                    await ws.send(message)
                self._have = want
                if first:
                    text = f"subscribed {len(want)} instruments ({_describe(want)})"
                else:
                    text = f"subscription changed: now {len(want)} instruments ({_describe(want)})"
                self._emit("subscribed", text)

    def _text(self, message: str) -> None:
        """Kite's text messages: {"type": "error"|"message"|"order", "data": ...}."""
        try:
            parsed = json.loads(message)
        except ValueError:
            self._emit("message", f"unreadable text message from Kite: {message[:200]!r}")
            return
        if not isinstance(parsed, MutableMapping):
            self._emit("message", f"unexpected text message from Kite: {message[:200]}")
            return
        data = parsed.get("data")
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        kind = parsed.get("type")
        if kind == "error":
            self._emit("error", f"Kite says: {text}")
        elif kind == "order":
            self._emit("order", text)
        else:
            self._emit("message", text)

    def _scrub(self, text: str) -> str:
        text = scrub(text, self._access_token)
        return scrub(text, quote(self._access_token, safe=""))

    def _emit(self, kind: EventKind, message: str) -> None:
        event = StreamEvent(self.clock(), kind, self._scrub(message), self.connection)
        level = (
            logging.WARNING if kind in ("disconnected", "silent", "auth", "error") else logging.INFO
        )
        _log.log(level, "connection %d %s: %s", event.connection, kind, event.message)
        try:
            self._on_event(event)
        except Exception:
            _log.exception("connection %d: the event callback failed", self.connection)


def _explain(exc: BaseException) -> str:
    """An exception in words, without a traceback (which could quote the URL)."""
    text = str(exc) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"
