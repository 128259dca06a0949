"""Where the journal and the archive live, from the settings."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from optui.settings import Settings

__all__ = ["archive_root", "collector_id", "journal_dir"]


def journal_dir(settings: Settings) -> Path:
    """The LMDB journal: `<data_dir>/journal`."""
    return settings.data_dir / "journal"


def archive_root(settings: Settings) -> str:
    """The archive root: `[store] archive` (a path or a URI), else `<data_dir>/archive`."""
    return settings.store.archive or str(settings.data_dir / "archive")


def collector_id(settings: Settings) -> str:
    """This collector's name in a shared archive: `[store] collector_id`, else the host name."""
    if settings.store.collector_id:
        return settings.store.collector_id
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()).strip("-.") or "local"
    return host[:64]
