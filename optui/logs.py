"""optui's log files: JSON lines in `<log_dir>`, rotated, private, scrubbed.

The commands that run for long (the TUI, `optui collect`) call `log_to_file` once. Modules
only ever use `logging.getLogger(__name__)`; they never print. Three files, one JSON object
per line so they can be searched and parsed:

``optui.log``  (application)
    everything optui's modules log at INFO and above, and every event.
``errors.log``
    warnings and worse only: what went wrong, without the routine.
``auth.log``
    auth events (a refused or expired token, missing credentials), beside the login and
    logout records `optui.kite.auth_log` writes to the same file.

An event (`optui.events.Event`, logged by `EventLog` on the ``optui.events`` logger) is
written with all its fields; any other record as time, level, logger and message. Each file
rotates at `MAX_BYTES` and keeps `BACKUPS` old ones (``optui.log.1`` …), is created 0600 (it
describes the owner's account and activity), and every line goes through the auth log's
scrubber on the way out, so nothing token-shaped reaches a file even if a caller slipped.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Final

import msgspec

from optui.events import Event

__all__ = [
    "AUTH_LOG_FILE",
    "BACKUPS",
    "ERRORS_LOG_FILE",
    "LOG_FILE_NAME",
    "MAX_BYTES",
    "JsonLineFormatter",
    "log_to_file",
]

LOG_FILE_NAME: Final = "optui.log"
ERRORS_LOG_FILE: Final = "errors.log"
AUTH_LOG_FILE: Final = "auth.log"
MAX_BYTES: Final = 10 * 2**20
BACKUPS: Final = 5


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record; events with every field; secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        from optui.kite.auth_log import scrub  # noqa: PLC0415 - settings import, only when logging

        event = getattr(record, "optui_event", None)
        entry: dict[str, object]
        if isinstance(event, Event):
            fields = msgspec.to_builtins(event)
            entry = {
                "time": datetime.fromtimestamp(event.time, UTC).isoformat(),
                "level": record.levelname,
                "logger": record.name,
                **{name: value for name, value in fields.items() if name != "time"},
                "unix_time": event.time,
            }
        else:
            entry = {
                "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
            if record.exc_info:
                entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(scrub(entry), ensure_ascii=False, default=str)


class _AuthOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        event = getattr(record, "optui_event", None)
        return isinstance(event, Event) and event.kind == "auth"


class _PrivateRotatingHandler(RotatingFileHandler):
    """A rotating file handler whose files are created 0600."""

    def _open(self):  # type: ignore[no-untyped-def]  # typeshed types the stream loosely
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(fd)
        return super()._open()


def log_to_file(log_dir: Path, level: int = logging.INFO) -> Path:
    """Send optui's log records at `level` and above to the three files in `log_dir`
    (idempotent); returns the application log's path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE_NAME
    logger = logging.getLogger("optui")
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path:
            return path
    formatter = JsonLineFormatter()
    files: list[tuple[str, int, logging.Filter | None]] = [
        (LOG_FILE_NAME, logging.NOTSET, None),
        (ERRORS_LOG_FILE, logging.WARNING, None),
        (AUTH_LOG_FILE, logging.NOTSET, _AuthOnly()),
    ]
    for name, handler_level, only in files:
        handler = _PrivateRotatingHandler(
            log_dir / name, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
        handler.setLevel(handler_level)
        handler.setFormatter(formatter)
        if only is not None:
            handler.addFilter(only)
        logger.addHandler(handler)
        if os.name == "posix":
            (log_dir / name).chmod(0o600)  # a file made by an older optui
    logger.setLevel(level)
    return path
