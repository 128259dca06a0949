"""The auth log: one JSON line per login, logout and token event, never a secret.

``<log_dir>/auth.log`` answers "when did I log in, and why did the feed stop at 10:42?"
without a debugger: each line has the time (UTC), the event, the user and the API key, and
non-secret details (the reason a login failed, which port the redirect came to).

Whatever a caller passes, :func:`scrub` runs before a line is written, as a guarantee rather
than a convention: every value registered as secret (the API secret, the access token, a
request token) is replaced by ``***``, a detail whose name says it holds a token or secret
is dropped to ``***``, query parameters named like tokens are masked inside URLs, and any
bare 32-letter-and-digit word (the shape of Kite's request and access tokens) is masked even
when nobody registered it. The file is created 0600: it names the account.

Writing the log never breaks a login: a failure (full disk, read-only log dir) is kept in
:attr:`AuthLog.error` for the caller to mention, and the event is lost.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from optui.settings import Secret

__all__ = ["AUTH_LOG_NAME", "EVENTS", "AuthLog", "scrub"]

AUTH_LOG_NAME = "auth.log"

EVENTS = frozenset(
    {
        "login_url_shown",
        "redirect_received",
        "session_created",
        "login_failed",
        "logout",
        "token_expired",
        "token_refused",
        "token_rejected",
    }
)
"""What the log records; :meth:`AuthLog.record` refuses anything else (a typo would make an
event impossible to search for)."""

MASK = "***"
# Kite's request and access tokens are 32 letters and digits. Word boundaries keep longer
# runs (a SHA-256 checksum, a path) intact; a 32-character run of that shape in a log line is
# far more likely a token than anything else.
_TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{32}(?![A-Za-z0-9])")
_SECRET_NAME = re.compile(r"token|secret|checksum|password|enctoken", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"((?:request_token|access_token|refresh_token|public_token|enctoken|api_secret|checksum)"
    r"=)[^&\s\"']*",
    re.IGNORECASE,
)
_SHORTEST_SECRET = 6  # shorter registered values would blank out ordinary words


def scrub(value: object, secrets: Iterable[str] = ()) -> object:
    """``value`` (JSON-able: dicts, lists, strings, numbers) with every secret masked.

    Keys of dicts whose names say token/secret/checksum get ``***`` whatever their value
    (``"api_key"`` and ``"user_id"`` are not secret and stay).
    """
    known = sorted({s for s in secrets if len(s) >= _SHORTEST_SECRET}, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(s) for s in known)) if known else None
    return _scrub(value, pattern)


def _scrub(value: object, pattern: re.Pattern[str] | None) -> object:
    if isinstance(value, dict):
        return {
            str(key): MASK if _SECRET_NAME.search(str(key)) else _scrub(item, pattern)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, pattern) for item in value]
    if isinstance(value, Secret):
        return MASK
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _SECRET_PARAM.sub(lambda m: m.group(1) + MASK, text)
    return _TOKEN_SHAPE.sub(MASK, text)


class AuthLog:
    """Appends scrubbed events to ``<log_dir>/auth.log``."""

    def __init__(
        self,
        log_dir: Path,
        *,
        secrets: Iterable[str | Secret | None] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = Path(log_dir) / AUTH_LOG_NAME
        self._secrets: set[str] = set()
        self._clock = clock
        self.error: str | None = None
        """Why the last write failed; None while writes succeed."""
        for secret in secrets:
            self.add_secret(secret)

    def add_secret(self, secret: str | Secret | None) -> None:
        """Mask this value wherever it would appear (a token learnt mid-login)."""
        if isinstance(secret, Secret):
            secret = secret.reveal()
        if secret:
            self._secrets.add(secret)

    def scrub(self, value: object) -> object:
        """``value`` with every registered secret and anything shaped like one masked."""
        return scrub(value, self._secrets)

    def record(
        self,
        event: str,
        *,
        api_key: str | None = None,
        user_id: str | None = None,
        **details: object,
    ) -> bool:
        """Append one event; True when written. ``details`` must be JSON-able."""
        if event not in EVENTS:
            raise ValueError(f"unknown auth log event {event!r}; known: {sorted(EVENTS)}")
        entry: dict[str, object] = {
            "time": self._clock().isoformat(),
            "event": event,
            "api_key": api_key,
            "user_id": user_id,
            **details,
        }
        line = json.dumps(self.scrub(entry), ensure_ascii=False, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND: lines from several processes (a collector, a login) never interleave
            # within a line; 0600 because the log names the account.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            self.error = f"cannot write the auth log {self.path}: {exc.strerror or exc}"
            return False
        self.error = None
        return True
