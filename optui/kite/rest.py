"""Kite's REST API through the official client, within Kite's rate limits.

Kite limits requests per second per endpoint group: quotes (``/quote``, ``/quote/ltp``,
``/quote/ohlc``) 1, historical candles 3, orders 10, everything else 10. Going over earns an
HTTP 429, which the official client raises as ``NetworkException`` with ``code == 429``.
:class:`KiteRest` keeps each group under its limit by pacing (a token bucket one request
deep: a request waits until ``1 / rate`` seconds after the previous one of its group, which
never exceeds the limit in any one-second window, however Kite counts), splits quote calls
into Kite's largest batches (500 instruments for ``/quote``, 1000 for ltp and ohlc), and
still answers a 429 (another process on the same key, Kite being strict) with exponential
backoff and jitter, saying so through ``on_event``.

A rejected access token (``TokenException``: expired at 06:00 IST, or invalidated by a
logout) becomes :class:`~optui.kite.credentials.AuthError` telling the user to log in, and
an auth log event. Every call has a timeout. ``clock`` and ``sleep`` are injectable so the
pacing can be tested without waiting.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from optui.kite.auth_log import AuthLog, scrub
from optui.kite.credentials import AuthError, load_access_token
from optui.settings import Settings

__all__ = [
    "BATCH_SIZES",
    "RATE_LIMITS",
    "REQUEST_TIMEOUT",
    "Group",
    "KiteRest",
    "RestError",
    "TokenBucket",
    "kite_client",
]

Group = Literal["quote", "historical", "orders", "other"]

RATE_LIMITS: dict[Group, float] = {"quote": 1.0, "historical": 3.0, "orders": 10.0, "other": 10.0}
"""Requests per second Kite allows per endpoint group."""
BATCH_SIZES = {"quote": 500, "ltp": 1000, "ohlc": 1000}
"""Most instruments Kite accepts in one call of each quote endpoint."""
REQUEST_TIMEOUT = 15.0
"""Seconds before a call gives up (Kite's client defaults to 7; the full instruments dump is
several megabytes, and the timeout is per read, so slow links need a little more)."""

_T = TypeVar("_T")
EventSink = Callable[[str, str], None]


class RestError(Exception):
    """A REST call failed for a reason other than the access token (Kite unreachable, or
    still rate-limiting after every retry). The message says what to do."""


def kite_client(
    settings: Settings, access_token: str | None = None, *, timeout: float = REQUEST_TIMEOUT
) -> KiteConnect:
    """The official client pointed at ``settings.kite.api_url``, with a timeout."""
    api_key = settings.kite.api_key
    if not api_key:
        raise AuthError(
            "no Kite API key: export KITE_API_KEY=<your app's API key>, or set "
            'api_key = "..." under [kite] in config.toml'
        )
    return KiteConnect(api_key, access_token, root=settings.kite.api_url, timeout=timeout)


class TokenBucket:
    """Paces calls to ``rate`` per second with a bucket ``capacity`` requests deep.

    ``acquire`` reserves the next slot under a lock and sleeps outside it, so threads
    sharing a bucket queue up in order without holding each other up while they wait.
    """

    def __init__(
        self,
        rate: float,
        *,
        capacity: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = capacity
        self._updated: float | None = None

    def acquire(self) -> float:
        """Wait until a request may go; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            if self._updated is not None:
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1.0  # may go negative: a debt later callers also queue behind
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait


class KiteRest:
    """``KiteConnect(api_key, access_token, root=settings.kite.api_url)`` within Kite's
    rate limits. ``access_token`` defaults to :func:`load_access_token` (environment, then
    the token file beside ``config_path``'s config).

    ``on_event(kind, message)`` hears about retries (kind ``"ratelimit"`` or ``"retry"``)
    and a rejected token (``"auth"``). ``retries`` is how many times a 429 or a transient
    Kite error is retried; ``backoff`` the first delay and the cap, in seconds.
    """

    def __init__(
        self,
        settings: Settings,
        access_token: str | None = None,
        *,
        on_event: EventSink | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        retries: int = 5,
        backoff: tuple[float, float] = (1.0, 30.0),
        timeout: float = REQUEST_TIMEOUT,
        config_path: Path | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if access_token is None:
            access_token = load_access_token(settings, config_path=config_path).access_token
        self.settings = settings
        self.kite = kite_client(settings, access_token, timeout=timeout)
        self._token = access_token
        self._on_event = on_event
        self._sleep = sleep
        self._retries = retries
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._buckets = {
            group: TokenBucket(rate, clock=clock, sleep=sleep)
            for group, rate in RATE_LIMITS.items()
        }
        self.auth_log = AuthLog(settings.log_dir, secrets=[access_token, settings.kite.api_secret])

    # ----------------------------------------------------------------------------------
    # Endpoints.

    def profile(self) -> dict[str, Any]:
        """The logged-in user (``/user/profile``)."""
        result: dict[str, Any] = self.call("other", self.kite.profile)
        return result

    def instruments(self, exchange: str | None = None) -> list[dict[str, Any]]:
        """Every instrument (of ``exchange``), parsed by the official client."""
        result: list[dict[str, Any]] = self.call("other", self.kite.instruments, exchange)
        return result

    def instruments_csv(self, exchange: str | None = None) -> str:
        """The instruments list as Kite sends it (CSV text), for caching unchanged."""
        route, args = (
            ("market.instruments", {"exchange": exchange})
            if exchange
            else ("market.instruments.all", None)
        )
        # The client's public method parses the CSV into dicts; the private _get returns the
        # bytes. Its signature has been stable since kiteconnect 3.
        body: bytes = self.call("other", self.kite._get, route, url_args=args)
        return body.decode("utf-8")

    def quote(self, keys: Sequence[str | int]) -> dict[str, Any]:
        """Full quotes of ``keys`` ("NSE:INFY" or instrument tokens), 500 a call."""
        return self._batched("quote", self.kite.quote, keys)

    def ltp(self, keys: Sequence[str | int]) -> dict[str, Any]:
        """Last prices of ``keys``, 1000 a call."""
        return self._batched("ltp", self.kite.ltp, keys)

    def ohlc(self, keys: Sequence[str | int]) -> dict[str, Any]:
        """Day OHLC and last price of ``keys``, 1000 a call."""
        return self._batched("ohlc", self.kite.ohlc, keys)

    def historical_data(
        self,
        instrument_token: int,
        from_date: datetime | date | str,
        to_date: datetime | date | str,
        interval: str,
        *,
        continuous: bool = False,
        oi: bool = False,
    ) -> list[dict[str, Any]]:
        """Candles of one instrument (``/instruments/historical/...``), 3 calls a second."""
        result: list[dict[str, Any]] = self.call(
            "historical",
            self.kite.historical_data,
            instrument_token,
            from_date,
            to_date,
            interval,
            continuous,
            oi,
        )
        return result

    def invalidate_access_token(self) -> None:
        """End this session at Kite (``DELETE /session/token``)."""
        self.call("other", self.kite.invalidate_access_token)

    # ----------------------------------------------------------------------------------
    # The machinery.

    def call(self, group: Group, method: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``method(*args, **kwargs)`` paced for ``group``, with 429s retried and a rejected
        token turned into :class:`AuthError`."""
        bucket = self._buckets[group]
        attempt = 0
        while True:
            bucket.acquire()
            try:
                return method(*args, **kwargs)
            except kite_errors.TokenException as exc:
                raise self._rejected(exc) from None
            except kite_errors.NetworkException as exc:
                if attempt >= self._retries:
                    hint = " (is another program using this API key?)" if exc.code == 429 else ""
                    raise RestError(
                        f"Kite kept answering {self._describe(exc)} after {attempt} "
                        f"retries; wait a minute and try again{hint}"
                    ) from None
                attempt += 1
                delay = self._delay(attempt)
                kind = "ratelimit" if exc.code == 429 else "retry"
                self._event(
                    kind,
                    f"Kite answered {self._describe(exc)}; retrying in {delay:.1f} s "
                    f"(retry {attempt} of {self._retries})",
                )
                self._sleep(delay)
            except requests.RequestException as exc:
                raise RestError(
                    f"cannot reach Kite at {self.settings.kite.api_url}: "
                    f"{self._clean(_network_reason(exc, self.kite.timeout))}; check the network "
                    "(and kite.api_url)"
                ) from None

    def _batched(
        self, endpoint: str, method: Callable[..., Any], keys: Sequence[str | int]
    ) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for batch in _chunks(list(keys), BATCH_SIZES[endpoint]):
            merged.update(self.call("quote", method, batch))
        return merged

    def _delay(self, attempt: int) -> float:
        first, cap = self._backoff
        # "Equal jitter": at least half the exponential step, so retries from several
        # clients spread out but never come back too soon.
        step = min(cap, first * 2.0 ** (attempt - 1))
        return step / 2 + self._rng.uniform(0, step / 2)

    def _rejected(self, exc: kite_errors.KiteException) -> AuthError:
        reason = self._clean(str(exc))
        self.auth_log.record(
            "token_rejected", api_key=self.kite.api_key, status=exc.code, reason=reason
        )
        message = (
            f"Kite rejected the access token ({reason}): it expired (Kite ends every session "
            "at 06:00 IST) or was invalidated by a logout; run `optui login`"
        )
        self._event("auth", message)
        return AuthError(message)

    def _describe(self, exc: kite_errors.KiteException) -> str:
        text = self._clean(str(exc)) or type(exc).__name__
        return f"HTTP {exc.code} ({text})"

    def _clean(self, text: str) -> str:
        return str(scrub(text, [self._token]))

    def _event(self, kind: str, message: str) -> None:
        if self._on_event is not None:
            self._on_event(kind, message)


def _chunks(items: list[_T], size: int) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _network_reason(exc: requests.RequestException, timeout: float) -> str:
    """What went wrong, without requests' nested connection-pool reprs."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if match:
        return match.group(1).strip()
    lines = text.strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
