"""Where optui keeps its files, and how it writes the ones that must stay private.

The defaults are the platform's conventional per-user locations (``platformdirs``):
on Linux ``~/.config/optui``, ``~/.local/share/optui``, ``~/.cache/optui`` and
``~/.local/state/optui/log``, honouring the ``XDG_*`` variables. Every one of them can be
overridden in settings; this module only answers "what is the default".

The functions are evaluated on each call rather than at import time, so a test (or a user
who changes ``XDG_CONFIG_HOME`` in a running interpreter) gets the current answer.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from platformdirs import PlatformDirs

__all__ = [
    "APP_NAME",
    "CONFIG_FILE_NAME",
    "default_cache_dir",
    "default_config_file",
    "default_data_dir",
    "default_log_dir",
    "write_private",
]

APP_NAME = "optui"
CONFIG_FILE_NAME = "config.toml"


def _dirs() -> PlatformDirs:
    # appauthor=False: on Windows the default would nest the app in a folder named after its
    # author ("optui\\optui"); there is no vendor here.
    return PlatformDirs(APP_NAME, appauthor=False)


def default_config_file() -> Path:
    """The config file optui reads when neither ``--config`` nor ``OPTUI_CONFIG`` is given."""
    return Path(_dirs().user_config_dir) / CONFIG_FILE_NAME


def default_data_dir() -> Path:
    """Where the tick journal and the Parquet archive live by default."""
    return Path(_dirs().user_data_dir)


def default_cache_dir() -> Path:
    """Where re-downloadable things (instrument lists, NSE reports) live by default."""
    return Path(_dirs().user_cache_dir)


def default_log_dir() -> Path:
    """Where log files go by default."""
    return Path(_dirs().user_log_dir)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that only the owner can read it (mode 0o600), atomically.

    Meant for secrets such as the Kite access token. The bytes go to a temporary file in the
    same directory (``mkstemp`` creates it 0o600, so the secret is never readable by others,
    not even for a moment), are fsynced, and the file is renamed over ``path``. A reader
    therefore sees either the old file or the complete new one, and a crash never leaves a
    half-written token behind. The parent directory is created (0o700) when missing.
    """
    path = Path(path)
    parent = path.parent
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    tmp = Path(tmp_name)
    try:
        # mkstemp already uses 0o600; set it again explicitly so the guarantee does not rest
        # on an implementation detail. (os.fchmod is missing on Windows before 3.13, where
        # POSIX modes mean little anyway.)
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: the directory entry itself must reach the disk too."""
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
