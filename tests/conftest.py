"""Shared test fixtures.

``isolated_user_dirs`` runs for every test: no test may read or write the real user's
config, data, cache or log folders, nor be steered by ``OPTUI_*`` / ``KITE_*`` variables
that happen to be set in the developer's shell.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import optui  # noqa: F401  (sets up optui's logger before the baseline below is taken)

# Real Kite credentials, read once before `isolated_user_dirs` clears KITE_* for every test:
# only tests marked `live` (run with `pytest -m live`) get them, through `live_kite`.
_LIVE_ENV = {k: v for k, v in os.environ.items() if k.startswith("KITE_")}


@pytest.fixture(autouse=True)
def isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point every per-user location at a fresh temporary home and return that home.

    ``OPTUI_CONFIG`` names an (empty) ``config.toml`` that exists, so code that loads the
    settings gets pure defaults; a test that wants a config writes to that file, or passes
    its own path. A separate ``tmp_path_factory`` folder keeps the test's own ``tmp_path``
    empty.
    """
    home = tmp_path_factory.mktemp("home")
    # HOME as well as the XDG variables: platformdirs on macOS ignores XDG_* and derives
    # everything from the home folder.
    monkeypatch.setenv("HOME", str(home))
    for var, folder in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        monkeypatch.setenv(var, str(home / folder))
    for var in list(os.environ):
        if var.startswith("OPTUI_") or var.startswith("KITE_"):
            monkeypatch.delenv(var)
    config = home / ".config" / "optui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("", encoding="utf-8")
    monkeypatch.setenv("OPTUI_CONFIG", str(config))
    return home


# optui's logger as it is before any test (importing optui adds its NullHandler); commands add
# a file handler (`log_to_file`).
_OPTUI_LOGGER = logging.getLogger("optui")
_BASELINE = (list(_OPTUI_LOGGER.handlers), _OPTUI_LOGGER.level)


@pytest.fixture(autouse=True)
def restore_optui_logger() -> Iterator[logging.Logger]:
    """Commands route optui's log to a file in the test's temporary log dir (`log_to_file`);
    put the logger back as it was before any test ran, after each test, so no handler or level
    leaks into the next test, not even one added by a module-scoped fixture."""
    yield _OPTUI_LOGGER
    handlers, level = _BASELINE
    for handler in _OPTUI_LOGGER.handlers:
        if handler not in handlers:
            handler.close()
    _OPTUI_LOGGER.handlers[:] = handlers
    _OPTUI_LOGGER.setLevel(level)


# Real market data lives beside the project in ../shared/data (CI and developers have it; a
# user's clone does not). Tests that read it skip, saying why, when it is absent.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder, or a skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared market data at {SHARED_DATA}, which is absent")
    return SHARED_DATA


@dataclass(frozen=True)
class LiveKite:
    """Real Kite credentials for the opt-in `live` tests (repr hides the secrets)."""

    api_key: str
    api_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    api_url: str = "https://api.kite.trade"
    ws_url: str = "wss://ws.kite.trade"


@pytest.fixture
def live_kite() -> LiveKite:
    """Credentials for tests against real Kite, or a skip saying what to set.

    Run them with `pytest -m live` after `export KITE_API_KEY=... KITE_API_SECRET=...
    KITE_ACCESS_TOKEN=...` (the token from `optui login`); they only read (profile,
    instruments, quotes, a short subscription), never order.
    """
    needed = ("KITE_API_KEY", "KITE_API_SECRET", "KITE_ACCESS_TOKEN")
    missing = [name for name in needed if not _LIVE_ENV.get(name)]
    if missing:
        pytest.skip(f"live Kite tests need {', '.join(missing)} in the environment")
    return LiveKite(*(_LIVE_ENV[name] for name in needed))
