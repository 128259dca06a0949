"""Logging in to Kite Connect: the login URL, catching the redirect, the token exchange.

Kite's login is a browser round trip: the user logs in at ``kite.login_url``, and Kite sends
the browser to the app's registered redirect URL with ``status=success&request_token=...``.
The request token, exchanged within minutes together with the API secret
(``KiteConnect.generate_session``), gives the day's access token.

Two ways to get the request token back:

- **redirect** (the default where it can work): a one-shot HTTP server on the host and port
  of ``kite.redirect_url`` (it must be ``http://127.0.0.1`` or ``localhost``) waits for the
  browser, exchanges the token while the browser waits, and answers with a page saying
  whether it worked;
- **paste** (``--paste``, or automatically on a machine without a browser or with a redirect
  URL that is not local): the user logs in on any machine, copies the address the browser
  was sent to (the page itself may fail to load) and pastes it, or just the request token.

The secret, the request token and the access token never appear in output, pages, errors or
the auth log; the HTTP server does not log request lines (they carry the request token).
"""

from __future__ import annotations

import errno
import html
import os
import re
import socketserver
import sys
import time
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from optui.feed.calendar import IST
from optui.kite.auth_log import AuthLog, scrub
from optui.kite.credentials import (
    AccessToken,
    AuthError,
    delete_access_token,
    describe_until,
    kite_token_expiry,
    mask_api_key,
    read_token_file,
    save_access_token,
    token_path,
)
from optui.kite.rest import REQUEST_TIMEOUT, kite_client
from optui.settings import Secret, Settings, SettingsError

__all__ = [
    "DEFAULT_TIMEOUT",
    "LoginError",
    "LoginOptions",
    "LoginResult",
    "LogoutResult",
    "RedirectServer",
    "browser_available",
    "exchange_request_token",
    "local_redirect",
    "login",
    "login_url",
    "logout",
    "parse_redirect",
    "require_credentials",
]

DEFAULT_TIMEOUT = 300.0
"""Seconds `optui login` waits for the browser's redirect."""
REQUEST_TOKEN_LENGTH = 32
_REQUEST_TOKEN = re.compile(r"[A-Za-z0-9]{32}")
_LOCAL_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}
# A browser that connects and sends nothing must not hold the one-shot server forever.
_REQUEST_READ_TIMEOUT = 10.0

Opener = Callable[[str], object]


class LoginError(AuthError):
    """The login did not work. The message says why and what to do; never a secret."""


@dataclass(frozen=True)
class LoginOptions:
    paste: bool = False
    """Read the redirected URL from stdin instead of catching it."""
    open_browser: bool = True
    """Open the login URL in a browser when one is usable (False: only print it)."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds to wait for the redirect."""


@dataclass(frozen=True)
class LoginResult:
    token: AccessToken
    path: Path
    """Where the token was stored."""


# --------------------------------------------------------------------------------------
# Pieces.


def require_credentials(settings: Settings) -> tuple[str, Secret]:
    """The API key and secret, or a :class:`SettingsError` saying where to set them."""
    kite = settings.kite
    missing = [n for n, v in (("api_key", kite.api_key), ("api_secret", kite.api_secret)) if not v]
    if missing:
        where = []
        if "api_key" in missing:
            where.append(
                'export KITE_API_KEY=<your app\'s API key> (or api_key = "..." under [kite] '
                "in config.toml)"
            )
        if "api_secret" in missing:
            where.append(
                "export KITE_API_SECRET=<your app's API secret> (or api_secret under [kite] "
                "in a config.toml only you can read)"
            )
        raise SettingsError(
            f"logging in to Kite needs kite.{' and kite.'.join(missing)}: "
            + "; ".join(where)
            + " (developers.kite.trade, My apps)."
        )
    assert kite.api_key is not None and kite.api_secret is not None
    return kite.api_key, kite.api_secret


def login_url(settings: Settings) -> str:
    """Kite's login page for the app: ``kite.login_url?v=3&api_key=<key>``.

    Built from the setting rather than ``KiteConnect.login_url()``, which hard-codes Kite's
    host, so the emulator's login page works the same way.
    """
    base = settings.kite.login_url
    query = urlencode({"v": 3, "api_key": settings.kite.api_key or ""})
    return f"{base}{'&' if urlsplit(base).query else '?'}{query}"


def local_redirect(redirect_url: str) -> tuple[str, int, str]:
    """(host to bind, port, path) of a redirect URL a one-shot server here can catch.

    Raises :class:`LoginError` when it is not ``http://127.0.0.1`` or ``http://localhost``.
    """
    parts = urlsplit(redirect_url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in _LOCAL_HOSTS:
        raise LoginError(
            f"the redirect URL {redirect_url} is not on this machine (http://127.0.0.1 or "
            "http://localhost), so optui cannot catch Kite's redirect: log in with "
            "`optui login --paste`, or register a local redirect URL such as "
            "http://127.0.0.1:5000/success for the app on developers.kite.trade and set "
            "kite.redirect_url to it"
        )
    try:
        port = parts.port or 80
    except ValueError:
        raise LoginError(f"the redirect URL {redirect_url} has an invalid port") from None
    return _LOCAL_HOSTS[host], port, parts.path or "/"


def parse_redirect(text: str) -> str:
    """The request token from the URL Kite redirected to, its query string, or the bare
    request token. Raises :class:`LoginError` when the login did not succeed or the token
    does not have Kite's shape (32 letters and digits), without ever quoting the token."""
    # Terminals and chat apps wrap pasted addresses in quotes or angle brackets.
    text = text.strip().strip("\"'<>").strip()
    if not text:
        raise LoginError("nothing was given: paste the whole address the browser was sent to")
    if "=" not in text and "/" not in text and "?" not in text:
        return _check_token_shape(text)
    # The query is what follows "?" (address bars may drop the "http://"), else the whole
    # text is taken as one; a fragment is never part of it.
    query = text.split("#", 1)[0]
    query = query.split("?", 1)[1] if "?" in query else ("" if "/" in query else query)
    params = parse_qs(query, keep_blank_values=True)
    status = params.get("status", [None])[-1]
    if status != "success":
        said = " ".join(
            f"{name}={scrub(params[name][-1])!s}"
            for name in ("status", "message", "error", "error_type")
            if name in params
        )
        if status is None and "request_token" in params:
            raise LoginError(
                "the address has a request_token but no status=success, so it is not the "
                "whole address Kite redirected to: copy all of it (or just the request token)"
            )
        raise LoginError(
            f"Kite did not report a successful login ({said or 'no status in the address'}); "
            "log in again with `optui login`"
        )
    tokens = params.get("request_token", [])
    if not tokens:
        raise LoginError(
            "the address has status=success but no request_token; copy the whole address "
            "the browser was sent to"
        )
    if len(tokens) > 1:
        raise LoginError("the address has more than one request_token; copy it again from Kite")
    return _check_token_shape(tokens[0])


def _check_token_shape(token: str) -> str:
    token = token.strip()
    if _REQUEST_TOKEN.fullmatch(token):
        return token
    problems = []
    if len(token) != REQUEST_TOKEN_LENGTH:
        problems.append(f"it is {len(token)} characters long")
    if not token.isascii() or not token.isalnum():
        problems.append("it has characters other than letters and digits")
    raise LoginError(
        f"that is not a Kite request token ({' and '.join(problems)}; Kite's are "
        f"{REQUEST_TOKEN_LENGTH} letters and digits): copy the whole address again, and "
        "check nothing was cut off"
    )


def browser_available(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> bool:
    """Whether ``webbrowser.open`` would show a page to the person at this terminal.

    On Linux and the BSDs that takes a graphical session (``DISPLAY``/``WAYLAND_DISPLAY``);
    without one, ``webbrowser`` would start a text browser inside the terminal. macOS and
    Windows have one, unless this is an SSH session (the page would open on another screen).
    """
    env = os.environ if env is None else env
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return True
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return False
    return platform == "darwin" or platform.startswith("win")


# --------------------------------------------------------------------------------------
# The one-shot redirect server.

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>optui: {title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;line-height:1.5}}
</style></head><body><h1>{title}</h1><p>{body}</p></body></html>
"""


class _Server(socketserver.TCPServer):
    # Reuse lets a login run right after another (the old socket may sit in TIME_WAIT); on
    # Windows the option would let another program take the port, so it stays off there.
    allow_reuse_address = os.name != "nt"
    owner: RedirectServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _REQUEST_READ_TIMEOUT

    def do_GET(self) -> None:
        self.server.owner._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        # The default writes the request line, request token included, to stderr.
        return


class RedirectServer:
    """Waits on 127.0.0.1 for one GET of ``path``; other paths get a 404 and the wait goes
    on. Bound on construction (port 0 picks a free port: see :attr:`port`)."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.path = path or "/"
        self._result: str | None = None
        self._error: BaseException | None = None
        self._on_request: Callable[[str], str] | None = None
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
                raise LoginError(
                    f"port {port} on {host} is in use (another `optui login`, or another "
                    "program), so Kite's redirect cannot be caught: stop that program, or "
                    "register a redirect URL with another port for the app on "
                    "developers.kite.trade and set kite.redirect_url to it, or use "
                    "`optui login --paste`"
                ) from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise LoginError(
                    f"not allowed to listen on port {port} (ports below 1024 need "
                    "administrator rights): register a redirect URL with a port above 1024, "
                    "such as http://127.0.0.1:5000/success, and set kite.redirect_url to it"
                ) from None
            raise LoginError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._server.owner = self
        self.host = host
        self.port: int = self._server.server_address[1]

    @classmethod
    def for_url(cls, redirect_url: str) -> RedirectServer:
        return cls(*local_redirect(redirect_url))

    @property
    def url(self) -> str:
        """The address it catches, with the port actually bound."""
        return f"http://{self.host}:{self.port}{self.path}"

    def wait(
        self,
        timeout: float = DEFAULT_TIMEOUT,
        on_request: Callable[[str], str] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> str:
        """Serve until one GET of the path arrives, and return its query string.

        ``on_request(query)`` runs while the browser waits: its return value is the page's
        text, and an exception it raises becomes the page's error and is raised here after
        the answer is sent. Raises :class:`LoginError` when nothing came within ``timeout``
        seconds. Ctrl-C interrupts the wait (``KeyboardInterrupt``).
        """
        self._on_request = on_request
        deadline = clock() + timeout
        while self._result is None:
            remaining = deadline - clock()
            if remaining <= 0:
                raise LoginError(
                    f"no redirect reached {self.url} within {timeout:g} s: run `optui login` "
                    "again (and log in within the time), or `optui login --paste`"
                )
            # A bounded wait per round keeps the deadline honest whatever the OS does with
            # select timeouts; a signal (Ctrl-C) interrupts it at once.
            self._server.timeout = min(remaining, 1.0)
            self._server.handle_request()
        if self._error is not None:
            raise self._error
        return self._result

    def close(self) -> None:
        self._server.server_close()

    def __enter__(self) -> RedirectServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _handle(self, request: _Handler) -> None:
        parts = urlsplit(request.path)
        if (parts.path or "/") != self.path or self._result is not None:
            self._reply(request, 404, "Not found", f"optui waits for Kite at {self.path} only.")
            return
        self._result = parts.query
        if self._on_request is None:
            self._reply(request, 200, "Received", "Back to the terminal.")
            return
        try:
            text = self._on_request(parts.query)
        except AuthError as exc:
            self._error = exc
            self._reply(request, 400, "Login failed", f"{exc}")
        except Exception as exc:  # a bug: the browser is told, then it is raised as is
            self._error = exc
            self._reply(request, 500, "Login failed", "optui failed; see the terminal.")
        else:
            self._reply(request, 200, "Logged in", text)

    def _reply(self, request: _Handler, status: int, title: str, body: str) -> None:
        page = _PAGE.format(title=html.escape(title), body=html.escape(body)).encode("utf-8")
        try:
            request.send_response(status)
            request.send_header("Content-Type", "text/html; charset=utf-8")
            request.send_header("Content-Length", str(len(page)))
            # The page's address carries the request token: keep it out of caches and of
            # any Referer header.
            request.send_header("Cache-Control", "no-store")
            request.send_header("Referrer-Policy", "no-referrer")
            request.end_headers()
            request.wfile.write(page)
        except OSError:
            pass  # the browser went away; the terminal reports the outcome anyway


# --------------------------------------------------------------------------------------
# The exchange and the whole flow.


def exchange_request_token(
    settings: Settings,
    request_token: str,
    *,
    config_path: Path | None = None,
    log: AuthLog | None = None,
    now: datetime | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> LoginResult:
    """Trade ``request_token`` for the day's access token and store it (0600)."""
    api_key, secret = require_credentials(settings)
    log = log or AuthLog(settings.log_dir, secrets=[secret])
    log.add_secret(request_token)
    kite = kite_client(settings, timeout=timeout)

    def clean(text: object) -> str:
        return str(log.scrub(str(text)))

    try:
        session = kite.generate_session(request_token, api_secret=secret.reveal())
    except kite_errors.TokenException as exc:
        raise LoginError(
            f"Kite refused the request token ({clean(exc)}). A request token works once and "
            "only for a few minutes, and only with the API secret of the same app: run "
            "`optui login` again; if it fails the same way, check that KITE_API_SECRET "
            f"belongs to api_key {mask_api_key(api_key)}"
        ) from None
    except kite_errors.KiteException as exc:
        raise LoginError(
            f"Kite could not create a session: HTTP {exc.code} ({clean(exc)}); run "
            "`optui login` again"
        ) from None
    except requests.RequestException as exc:
        raise LoginError(
            f"cannot reach Kite at {settings.kite.api_url} ({clean(type(exc).__name__)}): "
            "check the network and kite.api_url, then run `optui login` again"
        ) from None
    access_token = session.get("access_token") if isinstance(session, dict) else None
    if not isinstance(access_token, str) or not access_token:
        raise LoginError("Kite's answer held no access token; run `optui login` again")
    log.add_secret(access_token)
    when = datetime.now(IST) if now is None else now
    login_time = _login_time(session.get("login_time")) or when
    token = AccessToken(
        api_key=api_key,
        access_token=access_token,
        user_id=_optional_text(session.get("user_id")),
        user_name=_optional_text(session.get("user_name")),
        login_time=login_time,
        expires_at=kite_token_expiry(login_time),
        origin="file",
    )
    try:
        path = save_access_token(token, config_path=config_path)
    except OSError as exc:
        raise LoginError(
            f"logged in, but cannot write the token file {token_path(config_path)}: "
            f"{exc.strerror or exc}; make its folder writable and run `optui login` again"
        ) from None
    log.record(
        "session_created",
        api_key=api_key,
        user_id=token.user_id,
        expires_at=token.expires_at.isoformat() if token.expires_at else None,
        file=str(path),
    )
    return LoginResult(token, path)


def login(
    settings: Settings,
    *,
    config_path: Path | None = None,
    options: LoginOptions | None = None,
    opener: Opener | None = None,
    stdin: IO[str] | None = None,
    err: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> LoginResult:
    """Run the whole login and store the token; see the module docstring.

    ``opener`` opens the login URL (default ``webbrowser.open`` where a browser is usable);
    messages and the paste prompt go to ``err`` (default stderr), the pasted address comes
    from ``stdin``. Raises :class:`LoginError` (an :class:`AuthError`) when it fails,
    :class:`SettingsError` when the key or secret is missing.
    """
    options = options or LoginOptions()
    err = sys.stderr if err is None else err
    stdin = sys.stdin if stdin is None else stdin
    api_key, secret = require_credentials(settings)
    log = AuthLog(settings.log_dir, secrets=[secret])
    url = login_url(settings)
    redirect_url = settings.kite.redirect_url

    if options.open_browser and opener is None and browser_available(env):
        opener = webbrowser.open
    if not options.open_browser:
        opener = None

    paste = options.paste
    why_paste = ""
    if not paste:
        try:
            local_redirect(redirect_url)
        except LoginError:
            paste = True
            why_paste = (
                f"the redirect URL {redirect_url} is not on this machine, so optui cannot "
                "catch it: paste the address Kite sends the browser to (registering "
                "http://127.0.0.1:5000/success for the app, and setting kite.redirect_url to "
                "it, lets optui catch it)"
            )
        else:
            if options.open_browser and opener is None:
                paste = True
                why_paste = (
                    "no browser here (no graphical session), so log in on any "
                    "machine and paste the address back; `optui login --no-browser` waits "
                    f"for the redirect on {redirect_url} instead (over an SSH tunnel, say)"
                )

    try:
        if paste:
            result = _login_by_paste(
                settings, config_path, url, why_paste, opener, log, stdin, err, now
            )
        else:
            result = _login_by_redirect(
                settings, config_path, url, options.timeout, opener, log, err, now
            )
    except AuthError as exc:
        log.record("login_failed", api_key=api_key, reason=str(exc))
        raise
    except KeyboardInterrupt:
        log.record("login_failed", api_key=api_key, reason="interrupted (Ctrl-C)")
        raise
    if log.error:
        print(f"optui: warning: {log.error}", file=err)
    return result


def _login_by_redirect(
    settings: Settings,
    config_path: Path | None,
    url: str,
    timeout: float,
    opener: Opener | None,
    log: AuthLog,
    err: IO[str],
    now: datetime | None,
) -> LoginResult:
    api_key = settings.kite.api_key
    outcome: list[LoginResult] = []

    def on_request(query: str) -> str:
        request_token = parse_redirect(query)
        log.add_secret(request_token)
        log.record("redirect_received", api_key=api_key, mode="redirect")
        result = exchange_request_token(
            settings, request_token, config_path=config_path, log=log, now=now
        )
        outcome.append(result)
        return (
            f"Logged in to Kite as {result.token.who()} until "
            f"{describe_until(result.token.expires_at or datetime.now(IST))}. "
            "You can close this tab."
        )

    with RedirectServer.for_url(settings.kite.redirect_url) as server:
        log.record("login_url_shown", api_key=api_key, mode="redirect", port=server.port)
        print(f"Log in to Kite at:\n\n  {url}\n", file=err)
        _open(opener, url, err)
        print(
            f"Waiting up to {timeout:g} s for Kite to send the browser to {server.url} "
            "(Ctrl-C to stop) ...",
            file=err,
            flush=True,
        )
        server.wait(timeout, on_request)
    return outcome[0]


def _open(opener: Opener | None, url: str, err: IO[str]) -> None:
    if opener is None:
        return
    try:
        opener(url)
    except Exception as exc:  # any browser trouble: the URL is printed anyway
        print(f"(could not open a browser: {exc}; open the address above)", file=err)


def _login_by_paste(
    settings: Settings,
    config_path: Path | None,
    url: str,
    why: str,
    opener: Opener | None,
    log: AuthLog,
    stdin: IO[str],
    err: IO[str],
    now: datetime | None,
) -> LoginResult:
    api_key = settings.kite.api_key
    log.record("login_url_shown", api_key=api_key, mode="paste")
    if why:
        print(f"optui: {why}", file=err)
    print(
        f"Open this address in a browser, on any machine, and log in to Kite:\n\n  {url}\n\n"
        f"Kite then sends the browser to {settings.kite.redirect_url}?...request_token=...; "
        "the page may not load there, which is fine. Copy the whole address from the "
        "address bar.",
        file=err,
    )
    _open(opener, url, err)
    print("Paste it here (or just the request token): ", end="", file=err, flush=True)
    line = stdin.readline()
    if not stdin.isatty():
        print(file=err)  # no echoed Enter ends the prompt's line
    if not line:
        raise LoginError("nothing was pasted (end of input); run `optui login --paste` again")
    request_token = parse_redirect(line)
    log.add_secret(request_token)
    log.record("redirect_received", api_key=api_key, mode="paste")
    return exchange_request_token(
        settings, request_token, config_path=config_path, log=log, now=now
    )


# --------------------------------------------------------------------------------------
# Logging out.


@dataclass(frozen=True)
class LogoutResult:
    path: Path | None
    """The token file that was deleted; None when there was none."""
    invalidated: bool
    """Kite confirmed the session is over (or already was)."""
    note: str
    """What happened at Kite, for the user."""


def logout(
    settings: Settings,
    *,
    config_path: Path | None = None,
    now: datetime | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> LogoutResult:
    """End the session at Kite (``invalidate_access_token``) and delete the token file.

    The file is deleted whatever Kite says or whether it can be reached at all: a logout
    must not leave a usable token behind on this machine. ``note`` says how it went.
    """
    path = token_path(config_path)
    log = AuthLog(settings.log_dir, secrets=[settings.kite.api_secret])
    try:
        token: AccessToken | None = read_token_file(path)
    except FileNotFoundError:
        return LogoutResult(None, False, f"not logged in: there is no {path}")
    except (OSError, ValueError) as exc:
        token = None
        note = f"the token file could not be read ({exc}), so nothing was sent to Kite"
    invalidated = False
    if token is not None:
        log.add_secret(token.access_token)
        invalidated, note = _invalidate(settings, token, now, timeout, log)
    delete_access_token(config_path)
    log.record(
        "logout",
        api_key=token.api_key if token else settings.kite.api_key,
        user_id=token.user_id if token else None,
        invalidated=invalidated,
        note=note,
    )
    return LogoutResult(path, invalidated, note)


def _invalidate(
    settings: Settings,
    token: AccessToken,
    now: datetime | None,
    timeout: float,
    log: AuthLog,
) -> tuple[bool, str]:
    when = datetime.now(IST) if now is None else now
    if token.expired(when):
        return True, "the token had expired already, so there was nothing to end at Kite"
    api_key = token.api_key or settings.kite.api_key
    if not api_key:
        return False, "no API key is known for it, so it could not be ended at Kite"
    # The token's own app, even if the settings now name another.
    kite = KiteConnect(api_key, token.access_token, root=settings.kite.api_url, timeout=timeout)
    try:
        kite.invalidate_access_token()
    except kite_errors.TokenException:
        return True, "Kite says the session had ended already"
    except (kite_errors.KiteException, requests.RequestException) as exc:
        reason = log.scrub(f"{type(exc).__name__}: {exc}")
        return False, (
            f"could not end the session at Kite ({_shorten(str(reason))}); the token was "
            "deleted here, and Kite ends it by itself at 06:00 IST"
        )
    return True, "Kite ended the session"


def _shorten(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _login_time(value: object) -> datetime | None:
    # kiteconnect turns Kite's "YYYY-MM-DD HH:MM:SS" (naive IST) into a datetime; anything
    # else it leaves as it came.
    if isinstance(value, datetime):
        return value.replace(tzinfo=IST) if value.tzinfo is None else value
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.replace(tzinfo=IST) if parsed.tzinfo is None else parsed
    return None


def _optional_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
