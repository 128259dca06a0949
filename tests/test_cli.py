"""The ``optui`` command line, driven through ``main([...])`` and, for the real entry
point, ``python -m optui`` in a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from optui import __version__, cli
from optui.feed.codec import decode


def config_path() -> Path:
    """The config file the autouse fixture selected through OPTUI_CONFIG."""
    return Path(os.environ["OPTUI_CONFIG"])


def run_config(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert cli.main(["config", *argv]) == 0
    return tomllib.loads(capsys.readouterr().out)


# --- optui config ---------------------------------------------------------------------------


def test_config_prints_toml_that_round_trips(
    capsys: pytest.CaptureFixture[str], isolated_user_dirs: Path
) -> None:
    data = run_config(capsys)
    assert data["source"] == "demo"
    assert data["demo"] == {"seed": 7, "tick_interval": 1.0, "speed": 1.0}
    assert data["data_dir"] == str(isolated_user_dirs / ".local/share/optui")
    assert "cache_dir" in data
    assert "log_dir" in data


def test_config_shows_config_file_and_masks_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KITE_API_SECRET", "do-not-print-me")
    assert cli.main(["config"]) == 0
    out = capsys.readouterr().out
    assert f"# config file: {config_path()}" in out
    assert "do-not-print-me" not in out
    assert tomllib.loads(out)["kite"]["api_secret"] == "***"


def test_global_flags_work_before_and_after_the_subcommand(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = run_config(capsys, "--seed", "4", "--speed", "2.5", "--source", "replay")
    assert data["demo"]["seed"] == 4
    assert data["demo"]["speed"] == 2.5
    assert data["source"] == "replay"
    assert cli.main(["--seed", "3", "--data-dir", str(tmp_path / "d"), "config"]) == 0
    data = tomllib.loads(capsys.readouterr().out)
    assert data["demo"]["seed"] == 3
    assert data["data_dir"] == str(tmp_path / "d")
    # given on both sides, the one after the subcommand wins (it is parsed last)
    assert cli.main(["--seed", "1", "config", "--seed", "2"]) == 0
    assert tomllib.loads(capsys.readouterr().out)["demo"]["seed"] == 2


def test_precedence_file_then_env_then_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path().write_text('source = "kite"\n[demo]\nseed = 1\nspeed = 3.0\n', encoding="utf-8")
    monkeypatch.setenv("OPTUI_DEMO__SEED", "2")
    monkeypatch.setenv("OPTUI_DEMO__SPEED", "5")
    data = run_config(capsys, "--seed", "9")
    assert data["source"] == "kite"  # file
    assert data["demo"]["speed"] == 5.0  # env beats file
    assert data["demo"]["seed"] == 9  # flag beats env


def test_config_flag_selects_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('price = "average"\n', encoding="utf-8")
    assert run_config(capsys, "--config", str(other))["price"] == "average"


def test_config_path_prints_only_the_path_even_when_the_file_is_broken(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config_path().write_text("this is [not toml\n", encoding="utf-8")
    assert cli.main(["config", "--path"]) == 0
    assert capsys.readouterr().out == f"{config_path()}\n"
    other = tmp_path / "x.toml"
    assert cli.main(["--config", str(other), "config", "--path"]) == 0
    assert capsys.readouterr().out == f"{other}\n"


# --- errors and exit codes ------------------------------------------------------------------


def test_bad_flag_value_exits_2_with_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "--speed", "-2"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "optui: error: --speed -2: must be a number > 0 and <= 1000\n"


def test_bad_config_file_exits_2_with_file_key_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_path().write_text('price = "mid"\n', encoding="utf-8")
    assert cli.main(["config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"optui: error: {config_path()}: price = 'mid': must be one of")
    assert "Traceback" not in err


def test_a_wrong_setting_is_also_a_config_event_in_the_error_log(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A collector started by a service manager leaves why it did not start in errors.log,
    as every other failure does."""
    logs = tmp_path / "logs"
    monkeypatch.setenv("OPTUI_LOG_DIR", str(logs))
    config_path().write_text('price = "mid"\n', encoding="utf-8")
    assert cli.main(["collect"]) == 2
    err = capsys.readouterr().err
    [line] = (logs / "errors.log").read_text(encoding="utf-8").splitlines()
    entry = json.loads(line)
    assert entry["code"] == "config.invalid" and entry["kind"] == "config"
    assert entry["severity"] == "error" and entry["needs_user"] is True
    assert entry["message"] in err and "price = 'mid'" in entry["message"]
    assert entry["details"] == {"command": "collect"} and "exit code 2" in entry["did"]
    assert (logs / "errors.log").stat().st_mode & 0o077 == 0  # private, as every log


def test_unknown_env_var_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTUI_SORCE", "kite")
    assert cli.main(["config"]) == 2
    assert "unknown environment variable OPTUI_SORCE" in capsys.readouterr().err


def test_missing_config_flag_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli.main(["--config", str(tmp_path / "nope.toml"), "config"]) == 2
    assert "not found (given by --config)" in capsys.readouterr().err


def test_usage_errors_return_2_instead_of_raising(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--source", "bogus", "config"]) == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err
    assert cli.main(["no-such-command"]) == 2


def test_version_and_help_return_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"optui {__version__}\n"
    assert cli.main(["config", "--version"]) == 0
    assert capsys.readouterr().out == f"optui {__version__}\n"
    assert cli.main(["--help"]) == 0
    assert "config" in capsys.readouterr().out


def test_keyboard_interrupt_exits_130_quietly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A subcommand added the way later issues will add theirs.
    def interrupted(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    command = cli.Command("wait", "wait forever", lambda parser: None, interrupted)
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, command))
    assert cli.main(["wait"]) == 130
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""


# --- bare `optui` opens the TUI -------------------------------------------------------------


# --- the real entry point -------------------------------------------------------------------


def _python_m_optui(*argv: str) -> subprocess.CompletedProcess[str]:
    # os.environ already points every user folder at the fixture's temporary home.
    return subprocess.run(
        [sys.executable, "-m", "optui", *argv],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )


def test_python_m_optui_version() -> None:
    result = _python_m_optui("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"optui {__version__}"


def test_python_m_optui_bad_setting_exits_2() -> None:
    result = _python_m_optui("config", "--seed", "-1")
    assert result.returncode == 2
    assert result.stderr == "optui: error: --seed -1: must be an integer >= 0\n"
    assert result.stdout == ""


# --- optui demo-frames ----------------------------------------------------------------------

SESSION = "2026-03-10"  # a Tuesday, an NSE trading day (and a NIFTY expiry)


def read_length_prefixed(path: Path) -> list[bytes]:
    """The frames of a demo-frames file: 4-byte big-endian length, then the frame."""
    data = path.read_bytes()
    frames, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        frames.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    assert at == len(data)  # no trailing partial record
    return frames


def stats(out: str) -> dict[str, str]:
    return dict(line.split(maxsplit=1) for line in out.splitlines())


def test_demo_frames_writes_frames_that_decode(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "frames.bin"
    argv = ["demo-frames", "--count", "2", "--session", SESSION, "--out", str(out)]
    assert cli.main(argv) == 0
    report = stats(capsys.readouterr().out)
    frames = read_length_prefixed(out)
    assert len(frames) == int(report["frames"]) > 0
    assert sum(len(decode(f)) for f in frames) == int(report["packets"])
    assert sum(len(f) for f in frames) == int(report["bytes"])
    assert report["session"] == SESSION
    assert report["seed"] == "7"
    assert out.stat().st_size == int(report["bytes"]) + 4 * len(frames)


def test_demo_frames_are_deterministic_for_a_seed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        files[name] = tmp_path / f"{name}.bin"
        argv = ["demo-frames", "--count", "1", "--session", SESSION, "--start", "10:00"]
        assert cli.main([*argv, "--seed", seed, "--out", str(files[name])]) == 0
    capsys.readouterr()
    assert files["a"].read_bytes() == files["b"].read_bytes()
    assert files["a"].read_bytes() != files["c"].read_bytes()


def test_demo_frames_reports_stats_without_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo-frames", "--count", "1", "--session", SESSION]) == 0
    report = stats(capsys.readouterr().out)
    assert int(report["frames"]) > 0
    assert int(report["packets"]) > 0
    assert "written" not in report
    assert list(tmp_path.iterdir()) == []


def test_demo_frames_on_a_holiday_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo-frames", "--count", "1", "--session", "2026-01-26"]) == 2
    assert "not an NSE trading day" in capsys.readouterr().err
