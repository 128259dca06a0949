"""Reliability suite, secrets: known fake credentials never reach a log, a file or the screen.

Against the Kite emulator on 127.0.0.1 (its own API key and secret, set here), every command
that touches Kite or reports on it runs as a child process: `optui login --paste` (and a
refused one), `login --status --check`, `collect --source kite` through a drop, malformed
frames, a text error, a REST rate limit and a token expired at Kite (403: exit 5), then
`events`, `status`, `doctor`, `config`, `export` and `logout`. Then every file under the log,
data (journal and exports included), cache and config folders (but the token file itself)
and everything printed are searched for the API secret, the access token and every request
token issued. The rest of the suite is listed in tests/test_reliability_archive.py.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from optui.emulator import Emulator
from optui.kite.credentials import token_path

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "reliabilitykey01"
API_SECRET = "s3cr3t" + secrets.token_hex(13)  # 32 characters, known only to this test


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # poll interval of a bounded wait


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    redirect = f"http://127.0.0.1:{free_port()}/success"
    with Emulator(
        api_key=API_KEY, api_secret=API_SECRET, instruments=300, speed=20.0, redirect_url=redirect
    ) as emu:
        yield emu


class Session:
    """Child processes of optui sharing one set of folders; everything they print is kept."""

    def __init__(self, tmp_path: Path, emu: Emulator) -> None:
        self.dirs = {name: tmp_path / name for name in ("conf", "data", "log", "cache", "printed")}
        for folder in self.dirs.values():
            folder.mkdir()
        self.config = self.dirs["conf"] / "config.toml"
        self.config.write_text("")
        self.env = {
            **os.environ,
            "KITE_API_KEY": API_KEY,
            "KITE_API_SECRET": API_SECRET,
            "OPTUI_CONFIG": str(self.config),
            "OPTUI_DATA_DIR": str(self.dirs["data"]),
            "OPTUI_LOG_DIR": str(self.dirs["log"]),
            "OPTUI_CACHE_DIR": str(self.dirs["cache"]),
            "OPTUI_KITE__API_URL": emu.api_url,
            "OPTUI_KITE__WS_URL": emu.ws_url,
            "OPTUI_KITE__LOGIN_URL": emu.login_url,
            "OPTUI_KITE__REDIRECT_URL": emu.redirect_url,
            "OPTUI_KITE__STRIKES": "5",
        }
        self.runs = 0

    def _files(self, name: str) -> tuple[Path, Path]:
        self.runs += 1
        folder = self.dirs["printed"]
        return folder / f"{self.runs:02d}-{name}.out", folder / f"{self.runs:02d}-{name}.err"

    def run(self, *args: str, stdin: str = "", timeout: float = 120) -> tuple[int, str, str]:
        out, err = self._files(args[0])
        with out.open("w") as stdout, err.open("w") as stderr:
            code = subprocess.run(
                [sys.executable, "-m", "optui", *args],
                input=stdin,
                stdout=stdout,
                stderr=stderr,
                text=True,
                env=self.env,
                timeout=timeout,
                check=False,
                cwd=ROOT,
            ).returncode
        return code, out.read_text(), err.read_text()

    def start(self, *args: str) -> tuple[subprocess.Popen[str], Path, Path]:
        out, err = self._files(args[0])
        process = subprocess.Popen(
            [sys.executable, "-m", "optui", *args],
            stdin=subprocess.DEVNULL,
            stdout=out.open("w"),
            stderr=err.open("w"),
            text=True,
            env=self.env,
            cwd=ROOT,
        )
        return process, out, err


def redirect_from_login_page(emu: Emulator) -> str:
    """What Kite's login page redirects the browser to: a fresh request token."""
    answer = requests.get(
        emu.login_url, params={"api_key": API_KEY, "v": "3"}, allow_redirects=False, timeout=10
    )
    assert answer.status_code == 302, answer.text
    location: str = answer.headers["Location"]
    return location


def test_no_secret_token_or_request_token_is_ever_written_or_printed(
    emulator: Emulator, tmp_path: Path
) -> None:
    session = Session(tmp_path, emulator)
    request_tokens: list[str] = []

    # Log in by pasting the redirected address (what a machine without a browser does).
    redirected = redirect_from_login_page(emulator)
    request_tokens.append(parse_qs(urlsplit(redirected).query)["request_token"][0])
    code, out, err = session.run("login", "--paste", stdin=redirected + "\n", timeout=60)
    assert code == 0, err
    assert "Logged in to Kite" in out
    stored = json.loads(token_path(session.config).read_text())
    access_token = stored["access_token"]
    assert len(access_token) >= 16
    # The same request token again: refused (spent), and the refusal names no secret.
    code, _, err = session.run("login", "--paste", stdin=redirected + "\n", timeout=60)
    assert code != 0 and "Traceback" not in err
    code, out, err = session.run("login", "--status", "--check")
    assert code == 0, err

    # Collect from Kite through every fault the emulator has; the expired token ends it.
    collector, _, err_file = session.start("collect", "--source", "kite")
    try:
        wait_until(lambda: emulator.stats().frames_sent >= 5, "frames")
        emulator.inject("drop")
        wait_until(lambda: emulator.stats().connections_total >= 2, "a reconnect")
        sent = emulator.stats().frames_sent
        wait_until(lambda: emulator.stats().frames_sent >= sent + 5, "frames after the drop")
        emulator.inject("malformed", count=3)
        emulator.inject("error")
        emulator.inject("ratelimit", count=2)
        sent = emulator.stats().frames_sent
        wait_until(lambda: emulator.stats().frames_sent >= sent + 5, "frames after the faults")
        emulator.inject("expire")
        code = collector.wait(timeout=90)
    finally:
        if collector.poll() is None:
            collector.kill()
            collector.wait(timeout=30)
    assert code == 5, err_file.read_text()
    assert "optui login" in err_file.read_text()

    # The commands that report on what happened, then logging out.
    code, _, err = session.run("login", "--status", "--check")
    assert code == 1 and "Traceback" not in err  # Kite refuses the expired token
    for command in (("events",), ("status",), ("doctor",), ("config",)):
        code, _, err = session.run(*command)
        assert "Traceback" not in err, (command, err)
    exports = session.dirs["data"] / "exports"
    exports.mkdir()
    today = sorted((session.dirs["data"] / "archive" / "ticks").iterdir())[0].name[5:]
    code, _, err = session.run(
        "export", "--from", today, "--format", "csv", "--output", str(exports / "ticks.csv")
    )
    assert code == 0, err
    # The search below would find the token: it is in the token file, as it came.
    assert access_token.encode() in token_path(session.config).read_bytes()
    code, _, err = session.run("logout")
    assert "Traceback" not in err
    assert not token_path(session.config).exists()

    # Now search everything: every file written and everything printed.
    wanted = {"the API secret": API_SECRET, "the access token": access_token}
    wanted.update({f"request token {i}": t for i, t in enumerate(request_tokens)})
    searched = 0
    for name, folder in session.dirs.items():
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path == token_path(session.config):
                continue
            data = path.read_bytes()
            searched += 1
            for what, value in wanted.items():
                assert value.encode() not in data, f"{what} is in {name}/{path.relative_to(folder)}"
    log_files = {p.name for p in session.dirs["log"].iterdir()}
    assert {"collect.log", "auth.log"} <= log_files, log_files
    assert (session.dirs["data"] / "journal" / "data.mdb").exists()
    assert searched >= 10
    # The logs did record what happened (so the search looked at something real).
    auth = (session.dirs["log"] / "auth.log").read_text()
    assert "session_created" in auth and "logout" in auth
    collect_log = (session.dirs["log"] / "collect.log").read_text()
    assert "reconnecting" in collect_log or "disconnected" in collect_log
