"""`optui login`, `--status` and `logout`: the token file, the auth log, the redirect server,
and the whole login against the Kite emulator.

Everything is real: files in tmp dirs (modes checked), a one-shot HTTP server on 127.0.0.1,
the official `kiteconnect` client against `optui.emulator`, whose login page redirects the
"browser" (here `requests`, following redirects) to the one-shot server. The secret, the
request token and the access token are looked for in every output and log, and never found.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import stat
import threading
import webbrowser
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect.exceptions import TokenException

from optui.commands.login import (
    add_login_arguments,
    login_command,
    logout_command,
    run_login,
    status_command,
)
from optui.emulator import DEMO_API_KEY, DEMO_API_SECRET, Emulator
from optui.feed.calendar import IST
from optui.kite.auth_log import AUTH_LOG_NAME, AuthLog, scrub
from optui.kite.credentials import (
    ACCESS_TOKEN_ENV,
    TOKEN_FILE_NAME,
    AccessToken,
    AuthError,
    delete_access_token,
    kite_token_expiry,
    load_access_token,
    read_token_file,
    save_access_token,
    token_path,
)
from optui.kite.login import (
    LoginError,
    LoginOptions,
    RedirectServer,
    browser_available,
    local_redirect,
    login_url,
    parse_redirect,
    require_credentials,
)
from optui.kite.rest import KiteRest
from optui.settings import Settings, SettingsError, load_settings

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=IST)  # a Tuesday, midday IST
API_KEY = "testkey1234567"
SECRET = "test-secret-5e4d3c2b1a"
ACCESS = "AcCeSs0123456789abcdefghijklmnop"  # 32 letters and digits, as Kite's
REQUEST = "ReQuEsT0123456789abcdefghijklmno"
assert len(ACCESS) == len(REQUEST) == 32
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    env = {"KITE_API_KEY": API_KEY, "KITE_API_SECRET": SECRET}
    base: dict[str, object] = {"data_dir": tmp_path / "data", "log_dir": tmp_path / "log"}
    return load_settings(env=env, overrides={**base, **overrides})


def a_token(**changes: object) -> AccessToken:
    fields: dict[str, object] = {
        "api_key": API_KEY,
        "access_token": ACCESS,
        "user_id": "AB1234",
        "user_name": "Asha Bhat",
        "login_time": datetime(2026, 3, 10, 9, 5, tzinfo=IST),
        "expires_at": datetime(2026, 3, 11, 6, 0, tzinfo=IST),
        "origin": "file",
    }
    fields.update(changes)
    return AccessToken(**fields)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def no_real_browser(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No test opens the developer's browser: `webbrowser.open` only notes the address, and
    there is no graphical session unless a test says so."""
    opened: list[str] = []

    def note(url: str, *args: object, **kwargs: object) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", note)
    for var in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    return opened


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config file path (need not exist): the token file goes beside it."""
    return tmp_path / "conf" / "config.toml"


# --- the token file ---------------------------------------------------------------------------


@posix_only
def test_the_token_file_is_private_and_holds_the_contract_fields(config: Path) -> None:
    path = save_access_token(a_token(), config_path=config)
    assert path == config.parent / TOKEN_FILE_NAME == token_path(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert set(data) == {
        "api_key",
        "user_id",
        "user_name",
        "access_token",
        "login_time",
        "expires_at",
    }
    assert data["expires_at"] == "2026-03-11T06:00:00+05:30"
    assert read_token_file(path) == a_token()


def test_the_token_file_sits_beside_the_config_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTUI_CONFIG", str(tmp_path / "elsewhere" / "config.toml"))
    assert token_path() == tmp_path / "elsewhere" / TOKEN_FILE_NAME
    assert token_path(tmp_path / "x.toml") == tmp_path / TOKEN_FILE_NAME  # --config wins


def test_the_token_never_shows_in_a_repr() -> None:
    token = a_token()
    assert ACCESS not in repr(token)
    assert ACCESS not in str(token)
    assert "AB1234" in repr(token)


def test_load_gives_the_stored_token(tmp_path: Path, config: Path) -> None:
    save_access_token(a_token(), config_path=config)
    token = load_access_token(settings_for(tmp_path), config_path=config, env={}, now=NOW)
    assert token.access_token == ACCESS
    assert token.origin == "file"
    assert token.remaining(NOW) == timedelta(hours=18)


def test_the_environment_token_wins(tmp_path: Path, config: Path) -> None:
    save_access_token(a_token(), config_path=config)
    env = {ACCESS_TOKEN_ENV: " fromtheenvironment123 \n"}
    token = load_access_token(settings_for(tmp_path), config_path=config, env=env, now=NOW)
    assert token.access_token == "fromtheenvironment123"
    assert (token.origin, token.api_key, token.expires_at) == ("env", API_KEY, None)


def test_an_environment_token_needs_an_api_key(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides={"log_dir": tmp_path})
    with pytest.raises(AuthError, match="KITE_API_KEY"):
        load_access_token(settings, env={ACCESS_TOKEN_ENV: ACCESS}, now=NOW)


def test_no_token_at_all(tmp_path: Path, config: Path) -> None:
    with pytest.raises(AuthError) as info:
        load_access_token(settings_for(tmp_path), config_path=config, env={}, now=NOW)
    assert "not logged in" in str(info.value)
    assert str(token_path(config)) in str(info.value)
    assert "optui login" in str(info.value)


@pytest.mark.parametrize(
    ("now", "expired"),
    [
        (datetime(2026, 3, 11, 5, 59, 59, tzinfo=IST), False),
        (datetime(2026, 3, 11, 6, 0, tzinfo=IST), True),
        (datetime(2026, 3, 11, 0, 30, tzinfo=UTC), True),  # 06:00 IST
    ],
)
def test_an_expired_token_is_refused_with_the_fix(
    tmp_path: Path, config: Path, now: datetime, expired: bool
) -> None:
    save_access_token(a_token(), config_path=config)
    settings = settings_for(tmp_path)
    if not expired:
        assert load_access_token(settings, config_path=config, env={}, now=now)
        return
    with pytest.raises(AuthError) as info:
        load_access_token(settings, config_path=config, env={}, now=now)
    message = str(info.value)
    assert "expired Wed 11 Mar 2026 06:00 IST" in message
    assert "Asha Bhat (AB1234)" in message
    assert "optui login" in message
    assert ACCESS not in message
    log = (tmp_path / "log" / AUTH_LOG_NAME).read_text()
    entry = json.loads(log.splitlines()[-1])
    assert (entry["event"], entry["user_id"]) == ("token_expired", "AB1234")
    assert entry["expires_at"] == "2026-03-11T06:00:00+05:30"
    assert ACCESS not in log


def test_a_token_of_another_app_is_refused(tmp_path: Path, config: Path) -> None:
    save_access_token(a_token(api_key="someotherkey99"), config_path=config)
    with pytest.raises(AuthError, match=r"another API key.*optui login"):
        load_access_token(settings_for(tmp_path), config_path=config, env={}, now=NOW)


@posix_only
def test_a_token_file_others_can_read_is_refused(tmp_path: Path, config: Path) -> None:
    path = save_access_token(a_token(), config_path=config)
    path.chmod(0o640)
    with pytest.raises(AuthError) as info:
        load_access_token(settings_for(tmp_path), config_path=config, env={}, now=NOW)
    assert "readable by other users (mode 0640)" in str(info.value)
    assert f"chmod 600 {path}" in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"access_token": "abc', "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"expires_at": "2026-03-11T06:00:00+05:30"}', "no access_token"),
        (f'{{"access_token": "{ACCESS}"}}', "neither expires_at nor login_time"),
        (f'{{"access_token": "{ACCESS}", "expires_at": "soon"}}', "not an ISO date"),
    ],
)
def test_a_damaged_token_file_says_what_is_wrong(
    tmp_path: Path, config: Path, content: str, problem: str
) -> None:
    path = token_path(config)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(AuthError) as info:
        load_access_token(settings_for(tmp_path), config_path=config, env={}, now=NOW)
    assert problem in str(info.value)
    assert "delete it and run `optui login`" in str(info.value)
    assert ACCESS not in str(info.value)


def test_delete_access_token(config: Path) -> None:
    assert delete_access_token(config) is None
    path = save_access_token(a_token(), config_path=config)
    assert delete_access_token(config) == path
    assert not path.exists()


@pytest.mark.parametrize(
    ("issued", "expires"),
    [
        (datetime(2026, 3, 10, 9, 0), datetime(2026, 3, 11, 6, 0, tzinfo=IST)),
        (datetime(2026, 3, 10, 5, 59, tzinfo=IST), datetime(2026, 3, 10, 6, 0, tzinfo=IST)),
        (datetime(2026, 3, 10, 6, 0, tzinfo=IST), datetime(2026, 3, 11, 6, 0, tzinfo=IST)),
    ],
)
def test_tokens_expire_at_the_next_six_am_ist(issued: datetime, expires: datetime) -> None:
    assert kite_token_expiry(issued) == expires


# --- the auth log -----------------------------------------------------------------------------


@posix_only
def test_the_auth_log_writes_json_lines_and_no_secret(tmp_path: Path) -> None:
    log = AuthLog(tmp_path / "log", secrets=[SECRET])
    log.add_secret(ACCESS)
    assert log.record("session_created", api_key=API_KEY, user_id="AB1234", port=5000)
    log.record(
        "login_failed",
        api_key=API_KEY,
        reason=f"Kite said {ACCESS} and {SECRET} were wrong",  # a careless caller
        url=f"http://127.0.0.1:5000/success?status=success&request_token={REQUEST}",
        access_token=ACCESS,
        note=f"unregistered but token-shaped: {REQUEST[::-1]}",
    )
    text = log.path.read_text()
    assert log.path == tmp_path / "log" / AUTH_LOG_NAME
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["event"] == "session_created"
    assert (first["api_key"], first["user_id"], first["port"]) == (API_KEY, "AB1234", 5000)
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["access_token"] == "***"
    assert "request_token=***" in second["url"]
    for secret in (SECRET, ACCESS, REQUEST, REQUEST[::-1]):
        assert secret not in text


def test_scrub_keeps_what_is_not_secret() -> None:
    value = {"api_key": API_KEY, "user_id": "AB1234", "n": 3, "ok": True, "list": ["a", None]}
    assert scrub(value) == value
    # A SHA-256 checksum (64 hex) is not token-shaped; a 32-character word is.
    assert scrub("a" * 64) == "a" * 64
    assert scrub("x " + "b" * 32 + " y") == "x *** y"


def test_the_auth_log_refuses_unknown_events(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown auth log event"):
        AuthLog(tmp_path).record("logged_in")


def test_an_unwritable_auth_log_does_not_break_anything(tmp_path: Path) -> None:
    blocker = tmp_path / "log"
    blocker.write_text("a file where the folder should be")
    log = AuthLog(blocker)
    assert log.record("logout", api_key=API_KEY) is False
    assert log.error is not None
    assert "cannot write the auth log" in log.error


# --- the pieces of the login ------------------------------------------------------------------


def test_missing_credentials_say_where_to_set_them(tmp_path: Path) -> None:
    settings = load_settings(env={}, overrides={"log_dir": tmp_path})
    with pytest.raises(SettingsError) as info:
        require_credentials(settings)
    message = str(info.value)
    assert "kite.api_key and kite.api_secret" in message
    assert "KITE_API_KEY" in message
    assert "KITE_API_SECRET" in message
    assert "[kite]" in message
    only_key = load_settings(env={"KITE_API_KEY": API_KEY}, overrides={"log_dir": tmp_path})
    with pytest.raises(SettingsError) as info:
        require_credentials(only_key)
    assert "KITE_API_SECRET" in str(info.value)
    assert "KITE_API_KEY" not in str(info.value)


def test_the_login_url_comes_from_the_setting(tmp_path: Path) -> None:
    assert login_url(settings_for(tmp_path)) == (
        f"https://kite.zerodha.com/connect/login?v=3&api_key={API_KEY}"
    )
    elsewhere = settings_for(tmp_path, **{"kite.login_url": "http://127.0.0.1:9/login?x=1"})
    assert login_url(elsewhere) == f"http://127.0.0.1:9/login?x=1&v=3&api_key={API_KEY}"


def test_local_redirect_urls() -> None:
    assert local_redirect("http://127.0.0.1:5000/success") == ("127.0.0.1", 5000, "/success")
    assert local_redirect("http://localhost:8080") == ("127.0.0.1", 8080, "/")
    assert local_redirect("http://127.0.0.1/cb") == ("127.0.0.1", 80, "/cb")
    for remote in ("https://example.com/kite", "https://127.0.0.1:5000/success"):
        with pytest.raises(LoginError) as info:
            local_redirect(remote)
        assert "optui login --paste" in str(info.value)
        assert "register a local redirect URL" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        f"http://127.0.0.1:5000/success?action=login&type=login&status=success&request_token={REQUEST}",
        f"  /success?status=success&request_token={REQUEST}\n",
        f"status=success&request_token={REQUEST}",
        f"?request_token={REQUEST}&status=success",
        f"127.0.0.1:5000/success?status=success&request_token={REQUEST}#top",
        f'"http://localhost/cb?status=success&request_token={REQUEST}"',
        REQUEST,
        f" {REQUEST}\n",
    ],
)
def test_parse_redirect_finds_the_request_token(text: str) -> None:
    assert parse_redirect(text) == REQUEST


def test_parse_redirect_reports_a_failed_login_without_the_token() -> None:
    with pytest.raises(LoginError) as info:
        parse_redirect(
            f"http://127.0.0.1:5000/success?status=error&message=User+denied&request_token={REQUEST}"
        )
    message = str(info.value)
    assert "status=error" in message
    assert "message=User denied" in message
    assert REQUEST not in message


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (REQUEST[:31], "it is 31 characters long"),
        (REQUEST + "Z", "it is 33 characters long"),
        (REQUEST[:31] + "-", "characters other than letters and digits"),
        (REQUEST[:30] + "é1", "characters other than letters and digits"),
    ],
)
def test_parse_redirect_checks_the_token_shape(token: str, problem: str) -> None:
    for text in (token, f"status=success&request_token={token}"):
        with pytest.raises(LoginError) as info:
            parse_redirect(text)
        assert problem in str(info.value)
        assert "32 letters and digits" in str(info.value)
        assert token not in str(info.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "nothing was given"),
        ("status=success", "no request_token"),
        (f"request_token={REQUEST}", "no status=success"),
        (f"status=success&request_token={REQUEST}&request_token={REQUEST}", "more than one"),
        ("http://127.0.0.1:5000/success", "no status in the address"),
    ],
)
def test_parse_redirect_says_what_is_missing(text: str, problem: str) -> None:
    with pytest.raises(LoginError, match=problem):
        parse_redirect(text)


def test_browser_available() -> None:
    assert browser_available({"DISPLAY": ":0"}, "linux")
    assert browser_available({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not browser_available({}, "linux")
    assert browser_available({}, "darwin")
    assert browser_available({}, "win32")
    assert not browser_available({"SSH_CONNECTION": "1 2 3 4"}, "darwin")
    assert browser_available({"SSH_CONNECTION": "1 2 3 4", "DISPLAY": "localhost:10"}, "linux")


# --- the one-shot redirect server --------------------------------------------------------------


class Browser:
    """A "browser" in a thread: GETs a URL (following redirects) and keeps the answer."""

    def __init__(self) -> None:
        self.responses: list[requests.Response] = []
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def open(self, url: str) -> bool:
        thread = threading.Thread(target=self._get, args=(url,), daemon=True)
        thread.start()
        self.threads.append(thread)
        return True

    def _get(self, url: str) -> None:
        try:
            self.responses.append(requests.get(url, timeout=20))
        except BaseException as exc:  # reported by join()
            self.errors.append(exc)

    def join(self) -> requests.Response:
        for thread in self.threads:
            thread.join(20)
        assert not self.errors, self.errors
        return self.responses[-1]


def test_the_redirect_server_waits_for_its_path() -> None:
    seen: list[str] = []
    returned: list[str] = []

    def on_request(query: str) -> str:
        seen.append(query)
        return "Logged in as tester."

    with RedirectServer("127.0.0.1", 0, "/success") as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/success"
        waiting = threading.Thread(target=lambda: returned.append(server.wait(10, on_request)))
        waiting.start()
        stray = requests.get(f"http://127.0.0.1:{server.port}/favicon.ico", timeout=10)
        assert stray.status_code == 404
        assert waiting.is_alive()  # a wrong path does not end the wait
        page = requests.get(f"{server.url}?status=success&request_token={REQUEST}", timeout=10)
        waiting.join(10)
    assert returned == seen == [f"status=success&request_token={REQUEST}"]
    assert page.status_code == 200
    assert "Logged in as tester." in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert REQUEST not in page.text


def test_the_redirect_server_shows_the_error_and_raises_it(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with RedirectServer("127.0.0.1", 0, "/cb") as server:
        browser = Browser()
        browser.open(f"{server.url}?status=success&request_token={REQUEST[:5]}")
        with pytest.raises(LoginError, match="not a Kite request token"):
            server.wait(10, parse_redirect)
    page = browser.join()
    assert page.status_code == 400
    assert "not a Kite request token" in page.text
    captured = capfd.readouterr()
    # http.server logs every request line to stderr by default; this one must not.
    assert REQUEST[:5] not in captured.out + captured.err


def test_the_redirect_server_gives_up_after_the_timeout() -> None:
    with RedirectServer("127.0.0.1", 0, "/success") as server, pytest.raises(LoginError) as info:
        server.wait(0.2)
    assert "no redirect reached" in str(info.value)
    assert "optui login --paste" in str(info.value)


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(LoginError) as info:
            RedirectServer("127.0.0.1", port, "/success")
    assert f"port {port} on 127.0.0.1 is in use" in str(info.value)
    assert "kite.redirect_url" in str(info.value)


# --- --status without the network --------------------------------------------------------------


def test_status_of_a_valid_token(tmp_path: Path, config: Path) -> None:
    save_access_token(a_token(), config_path=config)
    out = io.StringIO()
    code = status_command(settings_for(tmp_path), config_path=config, out=out, env={}, now=NOW)
    assert code == 0
    text = out.getvalue()
    assert "Logged in to Kite as Asha Bhat (AB1234)" in text
    assert "until Wed 11 Mar 2026 06:00 IST (18h 00m left)" in text
    assert str(token_path(config)) in text
    assert ACCESS not in text


def test_status_of_an_expired_token_and_of_nobody(tmp_path: Path, config: Path) -> None:
    out = io.StringIO()
    assert status_command(settings_for(tmp_path), config_path=config, out=out, env={}) == 1
    assert "Not logged in to Kite" in out.getvalue()
    save_access_token(a_token(), config_path=config)
    out = io.StringIO()
    later = NOW + timedelta(days=1)
    assert status_command(settings_for(tmp_path), config_path=config, out=out, now=later) == 1
    assert "expired Wed 11 Mar 2026 06:00 IST (6h 00m ago" in out.getvalue()
    assert "optui login" in out.getvalue()


def test_status_of_an_environment_token(tmp_path: Path, config: Path) -> None:
    out = io.StringIO()
    env = {ACCESS_TOKEN_ENV: ACCESS}
    assert status_command(settings_for(tmp_path), config_path=config, out=out, env=env) == 0
    assert "KITE_ACCESS_TOKEN" in out.getvalue()
    assert ACCESS not in out.getvalue()


def login_args(config: Path, *flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path)
    add_login_arguments(parser)
    return parser.parse_args(["--config", str(config), *flags])


def test_run_login_status_through_the_flags(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITE_API_KEY", API_KEY)
    config.parent.mkdir()
    config.write_text(f'log_dir = "{config.parent / "log"}"\n')
    save_access_token(
        a_token(expires_at=datetime.now(IST) + timedelta(hours=2)), config_path=config
    )
    assert run_login(login_args(config, "--status")) == 0
    assert "Logged in to Kite as Asha Bhat (AB1234)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        login_args(config, "--timeout", "-3")
    assert "must be a number of seconds > 0" in capsys.readouterr().err


def test_logout_without_a_token_file(tmp_path: Path, config: Path) -> None:
    out = io.StringIO()
    assert logout_command(settings_for(tmp_path), config_path=config, out=out, env={}) == 0
    assert "Not logged in" in out.getvalue()


def test_logout_of_an_expired_token_needs_no_network(tmp_path: Path, config: Path) -> None:
    # api_url points nowhere: an expired token is not sent anywhere, just deleted.
    settings = settings_for(tmp_path, **{"kite.api_url": "http://127.0.0.1:9"})
    path = save_access_token(a_token(), config_path=config)
    out = io.StringIO()
    code = logout_command(settings, config_path=config, out=out, env={}, now=NOW + timedelta(2))
    assert code == 0
    assert "had expired already" in out.getvalue()
    assert not path.exists()
    events = [json.loads(line) for line in (tmp_path / "log" / AUTH_LOG_NAME).open()]
    assert events[-1]["event"] == "logout"
    assert events[-1]["user_id"] == "AB1234"


def test_logout_when_kite_cannot_be_reached_still_deletes(tmp_path: Path, config: Path) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings = settings_for(tmp_path, **{"kite.api_url": f"http://127.0.0.1:{port}"})
    path = save_access_token(a_token(), config_path=config)
    out = io.StringIO()
    code = logout_command(
        settings, config_path=config, out=out, env={ACCESS_TOKEN_ENV: "x"}, now=NOW
    )
    text = out.getvalue()
    assert code == 1
    assert f"Deleted {path}, but could not end the session at Kite" in text
    assert "06:00 IST" in text
    assert "KITE_ACCESS_TOKEN is still set" in text
    assert not path.exists()
    assert ACCESS not in text


def test_a_damaged_token_file_is_deleted_on_logout(tmp_path: Path, config: Path) -> None:
    path = token_path(config)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    out = io.StringIO()
    assert logout_command(settings_for(tmp_path), config_path=config, out=out, env={}) == 1
    assert "could not be read" in out.getvalue()
    assert not path.exists()


# --- end to end, against the emulator ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Kite:
    """An emulator whose login page redirects to a one-shot server's port, and settings
    pointing at both."""

    emulator: Emulator
    settings: Settings
    config: Path
    log: Path

    def settings_with(self, **env: str) -> Settings:
        base = {"KITE_API_KEY": DEMO_API_KEY, "KITE_API_SECRET": DEMO_API_SECRET, **env}
        return load_settings(env=base, overrides=self.overrides)

    @property
    def overrides(self) -> dict[str, object]:
        return {
            "log_dir": self.log.parent,
            "kite.api_url": self.emulator.api_url,
            "kite.login_url": self.emulator.login_url,
            "kite.redirect_url": self.emulator_redirect,
        }

    emulator_redirect: str = ""

    def redirected_to(self) -> str:
        """The address Kite's login page sends the browser to (a fresh request token)."""
        answer = requests.get(login_url(self.settings), allow_redirects=False, timeout=10)
        assert answer.status_code == 302
        location: str = answer.headers["Location"]
        return location

    def secrets_in(self, *texts: str) -> list[str]:
        """Every secret value that shows up in ``texts`` (the auth log is always searched)."""
        haystack = "\n".join([*texts, self.log.read_text() if self.log.exists() else ""])
        found = [DEMO_API_SECRET] if DEMO_API_SECRET in haystack else []
        file = token_path(self.config)
        if file.exists():
            token = json.loads(file.read_text())["access_token"]
            found += [token] if token in haystack else []
        found += re.findall(r"request_token=([A-Za-z0-9]{32})", haystack)
        return found


@pytest.fixture
def kite(tmp_path: Path) -> Iterator[Kite]:
    redirect = f"http://127.0.0.1:{free_port()}/success"
    with Emulator(instruments=300, redirect_url=redirect) as emulator:
        config = tmp_path / "conf" / "config.toml"
        made = Kite(emulator, Settings(), config, tmp_path / "log" / AUTH_LOG_NAME, redirect)
        made.settings = made.settings_with()
        yield made


def events_of(kite: Kite) -> list[str]:
    return [json.loads(line)["event"] for line in kite.log.read_text().splitlines()]


@posix_only
def test_login_status_and_logout_end_to_end(kite: Kite, capfd: pytest.CaptureFixture[str]) -> None:
    browser = Browser()
    out, err = io.StringIO(), io.StringIO()
    before = datetime.now(IST)
    code = login_command(
        kite.settings,
        config_path=kite.config,
        options=LoginOptions(timeout=30),
        opener=browser.open,
        out=out,
        err=err,
        env={},
    )
    page = browser.join()
    assert code == 0, err.getvalue()
    # The browser followed Kite's redirect to the one-shot server and was told the outcome.
    assert urlsplit(page.url).path == "/success"
    request_token = parse_qs(urlsplit(page.url).query)["request_token"][0]
    assert page.status_code == 200
    assert "Logged in to Kite as Demo User AB1234 (AB1234)" in page.text
    assert "You can close this tab" in page.text
    assert login_url(kite.settings) in err.getvalue()
    assert "Logged in to Kite as Demo User AB1234 (AB1234) until" in out.getvalue()

    # The token file: private, beside the config, expiring at the next 06:00 IST.
    path = token_path(kite.config)
    assert f"The access token is in {path}" in out.getvalue()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = read_token_file(path)
    assert (stored.api_key, stored.user_id) == (DEMO_API_KEY, "AB1234")
    assert stored.login_time is not None
    assert before - timedelta(seconds=5) <= stored.login_time <= datetime.now(IST)
    assert stored.expires_at == kite_token_expiry(stored.login_time)
    assert stored.expires_at.astimezone(IST).time() == time(6, 0)
    assert timedelta(0) < stored.expires_at - before <= timedelta(hours=24)
    access_token = stored.access_token
    assert KiteRest(kite.settings, config_path=kite.config).profile()["user_id"] == "AB1234"

    status = io.StringIO()
    assert status_command(kite.settings, config_path=kite.config, out=status, env={}) == 0
    assert "Logged in to Kite as Demo User AB1234 (AB1234)" in status.getvalue()
    assert " left)" in status.getvalue()
    checked = io.StringIO()
    code = status_command(kite.settings, config_path=kite.config, check=True, out=checked, env={})
    assert code == 0
    assert "Kite accepts the token: it belongs to Demo User AB1234 (AB1234)" in checked.getvalue()

    bye = io.StringIO()
    assert logout_command(kite.settings, config_path=kite.config, out=bye, env={}) == 0
    assert f"Logged out: Kite ended the session; deleted {path}." in bye.getvalue()
    assert not path.exists()
    with pytest.raises(TokenException):
        KiteConnect(DEMO_API_KEY, access_token, root=kite.emulator.api_url).profile()
    after = io.StringIO()
    assert status_command(kite.settings, config_path=kite.config, out=after, env={}) == 1
    assert "Not logged in" in after.getvalue()

    assert events_of(kite) == [
        "login_url_shown",
        "redirect_received",
        "session_created",
        "logout",
    ]
    printed = capfd.readouterr()
    texts = [out, err, status, checked, bye, after]
    everything = [t.getvalue() for t in texts] + [printed.out, printed.err, page.text]
    haystack = "\n".join([*everything, kite.log.read_text()])
    for secret in (DEMO_API_SECRET, access_token, request_token):
        assert secret not in haystack


def test_login_by_pasting_the_address(kite: Kite) -> None:
    err = io.StringIO()
    stdin = io.StringIO(kite.redirected_to() + "\n")
    out = io.StringIO()
    code = login_command(
        kite.settings,
        config_path=kite.config,
        options=LoginOptions(paste=True),
        stdin=stdin,
        out=out,
        err=err,
    )
    assert code == 0, err.getvalue()
    assert "Paste it here (or just the request token): " in err.getvalue()
    assert read_token_file(token_path(kite.config)).user_id == "AB1234"
    assert events_of(kite) == ["login_url_shown", "redirect_received", "session_created"]
    created = json.loads(kite.log.read_text().splitlines()[-1])
    assert created["file"] == str(token_path(kite.config))
    assert created["user_id"] == "AB1234"
    assert created["expires_at"].endswith("T06:00:00+05:30")
    assert kite.secrets_in(out.getvalue(), err.getvalue()) == []


def test_without_a_browser_the_paste_flow_starts_by_itself(kite: Kite) -> None:
    request_token = parse_qs(urlsplit(kite.redirected_to()).query)["request_token"][0]
    err = io.StringIO()
    code = login_command(
        kite.settings,
        config_path=kite.config,
        stdin=io.StringIO(request_token + "\n"),  # just the token will do
        out=io.StringIO(),
        err=err,
        env={},  # no DISPLAY: no browser
    )
    assert code == 0, err.getvalue()
    assert "no browser here" in err.getvalue()
    assert "--no-browser" in err.getvalue()
    assert token_path(kite.config).exists()
    assert request_token not in err.getvalue() + kite.log.read_text()


def test_a_redirect_url_elsewhere_means_pasting(kite: Kite) -> None:
    settings = load_settings(
        env={"KITE_API_KEY": DEMO_API_KEY, "KITE_API_SECRET": DEMO_API_SECRET},
        overrides={**kite.overrides, "kite.redirect_url": "https://example.com/kite"},
    )
    opened: list[str] = []  # a browser that only notes the address: no request leaves
    err = io.StringIO()
    code = login_command(
        settings,
        config_path=kite.config,
        opener=opened.append,
        stdin=io.StringIO(kite.redirected_to()),
        out=io.StringIO(),
        err=err,
    )
    assert code == 0, err.getvalue()
    assert "https://example.com/kite is not on this machine" in err.getvalue()
    assert "Paste it here" in err.getvalue()
    assert opened == [login_url(settings)]  # the browser still helps with the login page
    assert token_path(kite.config).exists()


def test_with_a_display_the_default_browser_is_opened(
    kite: Kite, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = Browser()
    monkeypatch.setattr(webbrowser, "open", browser.open)
    out = io.StringIO()
    code = login_command(
        kite.settings,
        config_path=kite.config,
        options=LoginOptions(timeout=30),
        out=out,
        err=io.StringIO(),
        env={"DISPLAY": ":0"},
    )
    assert code == 0
    assert "Logged in to Kite" in browser.join().text
    assert "Logged in to Kite as Demo User AB1234" in out.getvalue()


class Watched(io.StringIO):
    """An output stream that sets ``event`` once ``text`` has been written to it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.event = threading.Event()

    def write(self, s: str) -> int:
        written = super().write(s)
        if self.text in self.getvalue():
            self.event.set()
        return written


def test_no_browser_prints_the_url_and_still_catches_the_redirect(
    kite: Kite, no_real_browser: list[str]
) -> None:
    err = Watched("Waiting up to")  # written once the one-shot server listens
    browser = Browser()

    def user_opens_the_url_by_hand() -> None:
        assert err.event.wait(20)
        browser.open(login_url(kite.settings))

    helper = threading.Thread(target=user_opens_the_url_by_hand, daemon=True)
    helper.start()
    code = login_command(
        kite.settings,
        config_path=kite.config,
        options=LoginOptions(open_browser=False, timeout=30),
        out=io.StringIO(),
        err=err,
        env={"DISPLAY": ":0"},  # a browser exists, but --no-browser
    )
    helper.join(20)
    assert code == 0, err.getvalue()
    assert no_real_browser == []
    assert login_url(kite.settings) in err.getvalue()
    assert browser.join().status_code == 200
    assert token_path(kite.config).exists()


def test_run_login_reads_the_config_and_stdin(
    kite: Kite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kite.config.parent.mkdir()
    kite.config.write_text(
        f'log_dir = "{kite.log.parent}"\n[kite]\napi_url = "{kite.emulator.api_url}"\n'
        f'login_url = "{kite.emulator.login_url}"\nredirect_url = "{kite.emulator_redirect}"\n'
    )
    monkeypatch.setenv("KITE_API_KEY", DEMO_API_KEY)
    monkeypatch.setenv("KITE_API_SECRET", DEMO_API_SECRET)
    monkeypatch.setattr("sys.stdin", io.StringIO(kite.redirected_to() + "\n"))
    assert run_login(login_args(kite.config, "--paste")) == 0
    assert token_path(kite.config).exists()
    assert run_login(login_args(kite.config, "--status")) == 0
    printed = capsys.readouterr()
    assert "Logged in to Kite as Demo User AB1234" in printed.out
    assert kite.secrets_in(printed.out, printed.err) == []


@pytest.mark.parametrize(
    ("pasted", "problem"),
    [
        ("http://127.0.0.1:5000/success?status=error&message=Login+cancelled", "status=error"),
        ("http://127.0.0.1:5000/success?status=success&request_token=abc-def", "7 characters"),
        ("", "nothing was pasted"),
    ],
)
def test_a_failed_paste_leaves_no_token_file(kite: Kite, pasted: str, problem: str) -> None:
    err = io.StringIO()
    code = login_command(
        kite.settings,
        config_path=kite.config,
        options=LoginOptions(paste=True),
        stdin=io.StringIO(pasted),
        out=io.StringIO(),
        err=err,
    )
    assert code == 1
    assert problem in err.getvalue()
    assert "optui: error:" in err.getvalue()
    assert not token_path(kite.config).exists()
    assert events_of(kite)[-1] == "login_failed"
    assert problem in json.loads(kite.log.read_text().splitlines()[-1])["reason"]


def test_a_failed_redirect_is_shown_in_the_browser_too(kite: Kite) -> None:
    # A "browser" that arrives at the one-shot server with Kite's error, not a token.
    port = urlsplit(kite.emulator_redirect).port
    browser = Browser()

    def opener(url: str) -> bool:
        return browser.open(f"http://127.0.0.1:{port}/success?status=error&message=Denied")

    err = io.StringIO()
    code = login_command(
        kite.settings,
        config_path=kite.config,
        options=LoginOptions(timeout=30),
        opener=opener,
        out=io.StringIO(),
        err=err,
    )
    page = browser.join()
    assert code == 1
    assert page.status_code == 400
    assert "status=error" in page.text
    assert "message=Denied" in err.getvalue()
    assert not token_path(kite.config).exists()


def test_a_spent_request_token_is_refused(kite: Kite) -> None:
    address = kite.redirected_to()
    for expected in (0, 1):
        err = io.StringIO()
        code = login_command(
            kite.settings,
            config_path=kite.config,
            options=LoginOptions(paste=True),
            stdin=io.StringIO(address),
            out=io.StringIO(),
            err=err,
        )
        assert code == expected
    assert "Kite refused the request token" in err.getvalue()
    assert "works once" in err.getvalue()
    assert kite.secrets_in(err.getvalue()) == []


def test_a_wrong_secret_is_refused_and_never_shown(kite: Kite) -> None:
    wrong = "not-the-secret-123456"
    settings = kite.settings_with(KITE_API_SECRET=wrong)
    err = io.StringIO()
    code = login_command(
        settings,
        config_path=kite.config,
        options=LoginOptions(paste=True),
        stdin=io.StringIO(kite.redirected_to()),
        out=io.StringIO(),
        err=err,
    )
    assert code == 1
    assert "KITE_API_SECRET" in err.getvalue()
    assert not token_path(kite.config).exists()
    assert wrong not in err.getvalue() + kite.log.read_text()


def test_missing_credentials_stop_the_login_before_anything(tmp_path: Path) -> None:
    settings = load_settings(env={"KITE_API_KEY": API_KEY}, overrides={"log_dir": tmp_path})
    with pytest.raises(SettingsError, match="KITE_API_SECRET"):
        login_command(settings, config_path=tmp_path / "c.toml", stdin=io.StringIO(REQUEST))


def test_status_check_after_kite_expired_the_token(kite: Kite) -> None:
    login_command(
        kite.settings,
        config_path=kite.config,
        options=LoginOptions(paste=True),
        stdin=io.StringIO(kite.redirected_to()),
        out=io.StringIO(),
        err=io.StringIO(),
    )
    kite.emulator.inject("expire")
    out = io.StringIO()
    # The file still looks valid; only asking Kite tells otherwise.
    assert status_command(kite.settings, config_path=kite.config, out=out, env={}) == 0
    assert status_command(kite.settings, config_path=kite.config, check=True, out=out) == 1
    assert "Kite rejected the access token" in out.getvalue()
    assert events_of(kite)[-1] == "token_rejected"
    assert kite.secrets_in(out.getvalue()) == []
