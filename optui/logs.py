"""The application log: `<log_dir>/optui.log`, what optui's modules report while it runs.

The commands that run for long (the TUI, `optui collect`) call `log_to_file` once. Modules
only ever use `logging.getLogger(__name__)`; they never print. Secrets are kept out at the
source (the stream scrubs the access token from every message it logs), so this file can be
attached to a bug report.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["LOG_FILE_NAME", "log_to_file"]

LOG_FILE_NAME = "optui.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_file(log_dir: Path, level: int = logging.INFO) -> Path:
    """Send optui's log records at `level` and above to `<log_dir>/optui.log` (idempotent)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE_NAME
    logger = logging.getLogger("optui")
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path:
            return path
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)
    if os.name == "posix":
        path.chmod(0o600)  # account activity: the owner's business alone
    return path
