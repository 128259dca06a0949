"""The real `optui` command in a real terminal (tmux), as a user starts it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def _tmux(socket: str, *args: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, check=False, timeout=10
    ).stdout


def _screen_until(socket: str, pattern: str, seconds: float = 60.0) -> str:
    """Poll the pane until `pattern` shows (or the deadline passes); return the screen."""
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", "optui")
        if re.search(pattern, screen):
            return screen
        time.sleep(0.2)  # polling interval of the wait, not a stand-in for it
    raise AssertionError(f"{pattern!r} never appeared; the screen was:\n{screen}")


def test_bare_optui_opens_the_demo_market_and_q_quits(tmp_path: Path) -> None:
    socket = f"optui-test-{os.getpid()}"
    exit_file = tmp_path / "exit"
    command = f"{sys.executable} -m optui --seed 5; echo $? > {exit_file}"
    _tmux(socket, "new-session", "-d", "-s", "optui", "-x", "110", "-y", "24", command)
    try:
        _screen_until(socket, r"DEMO")
        _tmux(socket, "send-keys", "-t", "optui", "4")  # breadth: every index's level
        screen = _screen_until(socket, r"NIFTY 50\s+[\d,]+\.\d\d")
        assert "DEMO" in screen
        _tmux(socket, "send-keys", "-t", "optui", "q")
        deadline = time.monotonic() + 30
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_file.read_text().strip() == "0"
    finally:
        _tmux(socket, "kill-server")
