"""Who is logged in: request tokens, access tokens and the checksum that exchanges them.

Kite's login flow, as the emulator plays it: the login page issues a request token (single
use, valid a few minutes) and redirects to the app; the app proves it holds the API secret by
sending ``sha256(api_key + request_token + api_secret)`` and receives an access token, valid
until 06:00 IST the next day or until it is invalidated. Tokens are 32 random alphanumerics,
as Kite's are. Every method is thread-safe: the REST threads and the websocket loop share one
`Sessions`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from optui.emulator.errors import input_error, token_error
from optui.feed.calendar import IST

__all__ = ["REQUEST_TOKEN_TTL", "Sessions", "UserSession", "kite_expiry", "new_token"]

TOKEN_ALPHABET: Final = string.ascii_letters + string.digits
TOKEN_LENGTH: Final = 32
REQUEST_TOKEN_TTL: Final = 300.0  # seconds a request token may wait to be exchanged
KITE_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

_EXCHANGES: Final = ("BSE", "BFO", "NSE", "NFO", "CDS", "BCD", "MCX", "MF")
_PRODUCTS: Final = ("CNC", "NRML", "MIS", "BO", "CO")
_ORDER_TYPES: Final = ("MARKET", "LIMIT", "SL", "SL-M")


def new_token() -> str:
    """32 random letters and digits, the shape of Kite's request and access tokens."""
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(TOKEN_LENGTH))


def kite_expiry(issued: float) -> float:
    """Epoch of the first 06:00 IST after `issued`: when Kite kills every access token."""
    at = datetime.fromtimestamp(issued, IST)
    six = at.replace(hour=6, minute=0, second=0, microsecond=0)
    if six <= at:
        six += timedelta(days=1)
    return six.timestamp()


@dataclass(frozen=True)
class UserSession:
    """One access token and whose it is (the token never shows in a repr)."""

    api_key: str
    user_id: str
    access_token: str = field(repr=False)
    public_token: str = field(repr=False)
    issued: float
    expires: float


class Sessions:
    """Request and access tokens issued for one app (api_key, api_secret)."""

    def __init__(
        self, api_key: str, api_secret: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.api_key = api_key
        self._secret = api_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._requests: dict[str, float] = {}  # request token -> issued at
        self._access: dict[str, UserSession] = {}  # access token -> session

    # -- login --------------------------------------------------------------------------
    def new_request_token(self) -> str:
        """A fresh single-use request token, as the login page hands to the redirect URL."""
        token = new_token()
        with self._lock:
            self._requests[token] = self._clock()
        return token

    def exchange(self, api_key: str, request_token: str, checksum: str) -> UserSession:
        """The `/session/token` exchange: a valid request token and checksum give a session.

        Raises `KiteError` (InputException for missing fields, TokenException for a wrong
        key, request token or checksum), as Kite does. A request token is spent by the first
        attempt, right or wrong.
        """
        for name, value in (
            ("api_key", api_key),
            ("request_token", request_token),
            ("checksum", checksum),
        ):
            if not value:
                raise input_error(f"`{name}` is missing")
        if api_key != self.api_key:
            raise token_error("Invalid `api_key`.")
        with self._lock:
            issued = self._requests.pop(request_token, None)
        if issued is None or self._clock() - issued > REQUEST_TOKEN_TTL:
            raise token_error("Token is invalid or has expired.")
        wanted = hashlib.sha256((api_key + request_token + self._secret).encode()).hexdigest()
        if not hmac.compare_digest(wanted, checksum.lower()):
            raise token_error("Invalid `checksum`.")
        return self.issue()

    def issue(self, user_id: str = "AB1234") -> UserSession:
        """A valid access token for `user_id`, as if they had just logged in."""
        now = self._clock()
        session = UserSession(
            api_key=self.api_key,
            user_id=user_id,
            access_token=new_token(),
            public_token=new_token(),
            issued=now,
            expires=kite_expiry(now),
        )
        with self._lock:
            self._access[session.access_token] = session
        return session

    # -- checks -------------------------------------------------------------------------
    def lookup(self, api_key: str, access_token: str) -> UserSession | None:
        """The live session of this key and token, or None (unknown, invalidated, expired)."""
        with self._lock:
            session = self._access.get(access_token)
            if session is None or session.api_key != api_key:
                return None
            if self._clock() >= session.expires:
                del self._access[access_token]
                return None
            return session

    def invalidate(self, api_key: str, access_token: str) -> bool:
        """Log a token out; True if it was live."""
        with self._lock:
            session = self._access.get(access_token)
            if session is None or session.api_key != api_key:
                return False
            del self._access[access_token]
            return True

    def expire_all(self) -> None:
        """Every access token issued so far dies (the "expire" fault, or 06:00 IST)."""
        with self._lock:
            self._access.clear()
            self._requests.clear()

    # -- what Kite returns --------------------------------------------------------------
    def profile(self, session: UserSession) -> dict[str, object]:
        """`GET /user/profile` data for a session's user."""
        uid = session.user_id
        return {
            "user_id": uid,
            "user_type": "individual",
            "email": f"{uid.lower()}@example.invalid",
            "user_name": f"Demo User {uid}",
            "user_shortname": "Demo",
            "broker": "ZERODHA",
            "exchanges": list(_EXCHANGES),
            "products": list(_PRODUCTS),
            "order_types": list(_ORDER_TYPES),
            "avatar_url": None,
            "meta": {"demat_consent": "physical"},
        }

    def session_data(self, session: UserSession) -> dict[str, object]:
        """`POST /session/token` data: the profile plus the tokens and the login time."""
        login_time = datetime.fromtimestamp(session.issued, IST).strftime(KITE_TIME_FORMAT)
        return {
            **self.profile(session),
            "api_key": session.api_key,
            "access_token": session.access_token,
            "public_token": session.public_token,
            "refresh_token": "",
            "enctoken": "",
            "login_time": login_time,
        }
