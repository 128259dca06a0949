"""optui's log: nothing on stderr by default (it would scribble over the TUI), a 0600 file
when a command asks for it."""

from __future__ import annotations

import logging
import stat
import subprocess
import sys
from pathlib import Path

from optui.logs import LOG_FILE_NAME, log_to_file


def test_a_warning_never_reaches_stderr_unless_a_command_routes_it() -> None:
    code = (
        "import logging, optui.feed.kite\n"
        "logging.getLogger('optui.feed.kite').warning('connection 0 disconnected')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == ""


def test_log_to_file_writes_optui_records_to_a_private_file_once(
    tmp_path: Path, restore_optui_logger: logging.Logger
) -> None:
    path = log_to_file(tmp_path / "log")
    assert log_to_file(tmp_path / "log") == path  # a second call adds no second handler
    logging.getLogger("optui.feed.kite").warning("connection 0 disconnected")
    logging.getLogger("somebody.else").warning("not ours")
    for handler in restore_optui_logger.handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert path.name == LOG_FILE_NAME
    assert text.count("connection 0 disconnected") == 1 and "not ours" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
