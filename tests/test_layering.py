"""The headless core never imports Textual; lint and types are part of the test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADLESS = [
    "optui.feed",
    "optui.analytics",
    "optui.store",
    "optui.kite",
    "optui.emulator",
    "optui.settings",
    "optui.cli",
]


@pytest.mark.parametrize("package", HEADLESS)
def test_headless_packages_do_not_import_textual(package: str) -> None:
    """Import every module of `package` in a fresh interpreter and look for Textual."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"root = importlib.import_module({package!r})\n"
        "for info in pkgutil.walk_packages(getattr(root, '__path__', []), root.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "[]", f"{package} pulls in: {out.strip()}"


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )


def test_ruff_is_clean() -> None:
    for args in (
        ("ruff", "check", "optui", "tests"),
        ("ruff", "format", "--check", "optui", "tests"),
    ):
        result = _tool(*args)
        assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _tool("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
