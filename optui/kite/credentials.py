"""The day's Kite access token: where it is kept, how it is read, when it dies.

`optui login` exchanges a request token for an access token and keeps it in
``kite_token.json`` beside the config file in use, written 0600 and atomically
(:func:`optui.paths.write_private`). Everything else that talks to Kite gets its token from
:func:`load_access_token`, which prefers ``KITE_ACCESS_TOKEN`` (servers and scripts that log
in some other way) and otherwise reads that file.

Kite invalidates every access token at 06:00 IST, so a token is only as good as the day it
was issued; the file records when it stops working, and a token past that point is refused
here rather than sent to Kite to be rejected.

A token in the file can place orders on the account until it expires, so the file is
refused, not merely warned about, when group or others can read it (as ssh refuses a loose
private key): the fix is one ``chmod``, and an unnoticed warning would leave the token
exposed. Nothing here ever puts the token in a message or a ``repr``.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from optui.feed.calendar import IST
from optui.kite.auth_log import AuthLog
from optui.paths import write_private
from optui.settings import Settings, config_file

__all__ = [
    "ACCESS_TOKEN_ENV",
    "KITE_TOKEN_RESET",
    "TOKEN_FILE_NAME",
    "AccessToken",
    "AuthError",
    "TokenFileError",
    "delete_access_token",
    "describe_until",
    "duration",
    "kite_token_expiry",
    "load_access_token",
    "mask_api_key",
    "read_token_file",
    "readable_by_others",
    "save_access_token",
    "token_path",
]

TOKEN_FILE_NAME = "kite_token.json"
"""The file `optui login` keeps the access token in, beside the config file in use."""
ACCESS_TOKEN_ENV = "KITE_ACCESS_TOKEN"
"""An access token from the environment wins over the file (servers, scripts)."""
KITE_TOKEN_RESET = time(6, 0)
"""Kite invalidates every access token at 06:00 IST each day, whenever it was issued."""

LOGIN_HINT = "run `optui login`"


class AuthError(Exception):
    """No usable access token, or Kite refused one. The message says what is wrong and
    what to do (usually: run `optui login`); it never contains a secret."""


class TokenFileError(ValueError):
    """The token file is not what `optui login` writes. The message says what is wrong
    with it, never quoting its values."""


@dataclass(frozen=True)
class AccessToken:
    """An access token and what is known about it. ``repr`` leaves the token out."""

    api_key: str
    access_token: str = field(repr=False)
    user_id: str | None
    user_name: str | None
    login_time: datetime | None
    expires_at: datetime | None
    """None when unknown (a token from the environment)."""
    origin: Literal["file", "env"]

    def expired(self, now: datetime) -> bool:
        """Past its 06:00 IST; a token of unknown expiry is taken to be alive."""
        return self.expires_at is not None and _aware(now) >= self.expires_at

    def remaining(self, now: datetime) -> timedelta | None:
        """Time left until it expires (negative once expired), None when unknown."""
        return None if self.expires_at is None else self.expires_at - _aware(now)

    def who(self) -> str:
        """The user for a message: "Name (ID)", the ID alone, or "an unnamed user"."""
        if self.user_name and self.user_id:
            return f"{self.user_name} ({self.user_id})"
        return self.user_id or self.user_name or "an unnamed user"


def kite_token_expiry(issued: datetime) -> datetime:
    """When a Kite access token issued at ``issued`` stops working: the next 06:00 IST
    (06:00 the same day when issued before 06:00).

    A naive ``issued`` is taken as IST (Kite reports ``login_time`` that way).
    """
    issued = _aware(issued).astimezone(IST)
    reset = datetime.combine(issued.date(), KITE_TOKEN_RESET, tzinfo=IST)
    return reset if issued < reset else reset + timedelta(days=1)


def token_path(config_path: Path | None = None) -> Path:
    """Where the token file is kept: the folder of the config file in use (``--config``,
    else ``OPTUI_CONFIG``, else the platform's config dir), whether or not the config file
    itself exists."""
    return config_file(config_path).parent / TOKEN_FILE_NAME


def save_access_token(token: AccessToken, *, config_path: Path | None = None) -> Path:
    """Write ``token`` to the token file (0600, atomic) and return the file's path."""
    path = token_path(config_path)
    record = {
        "api_key": token.api_key,
        "user_id": token.user_id,
        "user_name": token.user_name,
        "access_token": token.access_token,
        "login_time": None if token.login_time is None else token.login_time.isoformat(),
        "expires_at": None if token.expires_at is None else token.expires_at.isoformat(),
    }
    write_private(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return path


def delete_access_token(config_path: Path | None = None) -> Path | None:
    """Delete the token file; its path if there was one, None if there was none."""
    path = token_path(config_path)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


def read_token_file(path: Path) -> AccessToken:
    """The token in ``path``. ``expires_at`` comes from the file, else from ``login_time``.

    Raises ``FileNotFoundError`` when there is no file, ``OSError`` when it cannot be read,
    and :class:`TokenFileError` when it is not what `optui login` writes (an older or
    hand-written file may lack ``api_key``, which then reads as an empty string).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        # The decoder's message gives a position, not the text around it.
        raise TokenFileError(f"not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise TokenFileError("not UTF-8 text") from None
    if not isinstance(data, dict):
        raise TokenFileError("not a JSON object")
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token.strip():
        raise TokenFileError("it holds no access_token")
    login_time = _when(data, "login_time")
    expires_at = _when(data, "expires_at")
    if expires_at is None:
        if login_time is None:
            raise TokenFileError("it has neither expires_at nor login_time")
        expires_at = kite_token_expiry(login_time)
    return AccessToken(
        api_key=_text(data, "api_key") or "",
        access_token=access_token.strip(),
        user_id=_text(data, "user_id"),
        user_name=_text(data, "user_name"),
        login_time=login_time,
        expires_at=expires_at,
        origin="file",
    )


def load_access_token(
    settings: Settings,
    *,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> AccessToken:
    """The access token to use: ``KITE_ACCESS_TOKEN`` if set, else the token file.

    Raises :class:`AuthError`, saying what to do, when there is none, when the file's token
    has expired, belongs to another API key than ``settings.kite.api_key``, is readable by
    other users, or the file cannot be read. ``now`` (default: the current time; naive
    means IST) is what the expiry is compared with.
    """
    env = os.environ if env is None else env
    api_key = settings.kite.api_key
    from_env = (env.get(ACCESS_TOKEN_ENV) or "").strip()
    if from_env:
        if not api_key:
            raise AuthError(
                f"{ACCESS_TOKEN_ENV} is set, but there is no API key to use it with: "
                'export KITE_API_KEY=<your app\'s API key>, or set api_key = "..." under '
                "[kite] in config.toml"
            )
        return AccessToken(
            api_key=api_key,
            access_token=from_env,
            user_id=None,
            user_name=None,
            login_time=None,
            expires_at=None,
            origin="env",
        )

    path = token_path(config_path)
    try:
        token = read_token_file(path)
    except FileNotFoundError:
        raise AuthError(
            f"not logged in to Kite: no {ACCESS_TOKEN_ENV} and no {path}; {LOGIN_HINT}"
        ) from None
    except TokenFileError as exc:
        raise AuthError(
            f"the token file {path} is unusable: {exc}; delete it and {LOGIN_HINT}"
        ) from None
    except OSError as exc:
        raise AuthError(
            f"cannot read the token file {path}: {exc.strerror or exc}; fix its permissions "
            f"(chmod 600 {path}) or delete it and {LOGIN_HINT}"
        ) from None
    loose = readable_by_others(path)
    if loose is not None:
        _log(settings, "token_refused", token, reason=f"token file mode {loose:04o}")
        raise AuthError(
            f"the token file {path} is readable by other users (mode {loose:04o}), and the "
            f"token in it can trade on the account: chmod 600 {path}; if others may have "
            "read it, `optui logout` and `optui login` to replace it"
        )
    if api_key and token.api_key != api_key:
        whose = "another API key" if token.api_key else "no API key"
        _log(settings, "token_refused", token, reason=f"token file is for {whose}")
        raise AuthError(
            f"the token in {path} was issued for {whose}, not for the configured api_key "
            f"{mask_api_key(api_key)}; {LOGIN_HINT} to log in with this app"
        )
    when = datetime.now(IST) if now is None else _aware(now)
    if token.expired(when):
        assert token.expires_at is not None  # expired() is False without an expiry
        _log(settings, "token_expired", token, expires_at=token.expires_at.isoformat())
        raise AuthError(
            f"the Kite access token of {token.who()} expired {describe_until(token.expires_at)} "
            f"({duration(when - token.expires_at)} ago; Kite ends every session at 06:00 IST): "
            f"{LOGIN_HINT}"
        )
    return token


def _log(settings: Settings, event: str, token: AccessToken, **details: object) -> None:
    """An auth log event for a token that was found but cannot be used: the log then says
    why a collector that started at 09:00 had no feed."""
    log = AuthLog(settings.log_dir, secrets=[token.access_token])
    log.record(event, api_key=token.api_key or None, user_id=token.user_id, **details)


def readable_by_others(path: Path) -> int | None:
    """The permission bits when group or others may read ``path``; None when private (or
    on systems without POSIX modes, where the bits mean nothing)."""
    if os.name != "posix":
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o044 else None


def describe_until(when: datetime) -> str:
    """``when`` for people, in IST: "Wed 11 Mar 2026 06:00 IST"."""
    return when.astimezone(IST).strftime("%a %d %b %Y %H:%M IST")


def mask_api_key(key: str) -> str:
    """The API key is not a secret (it travels in the login URL), but messages get pasted
    into chats and issues: four characters are enough to tell two apps apart."""
    return f"{key[:4]}…" if len(key) > 8 else "***"


def duration(delta: timedelta) -> str:
    """A length of time for people: "3m", "5h 07m", "2d 1h" (the sign is dropped)."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def _aware(when: datetime) -> datetime:
    """Naive datetimes are IST, as Kite writes them."""
    return when.replace(tzinfo=IST) if when.tzinfo is None else when


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TokenFileError(f"{key} is not a string")
    return value


def _when(data: dict[str, Any], key: str) -> datetime | None:
    value = _text(data, key)
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return _aware(datetime.fromisoformat(value))
    raise TokenFileError(f"{key} is not an ISO date and time")
