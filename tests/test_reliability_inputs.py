"""Reliability suite, bad input: damaged participant files, a wrong config, a full disk.

Each through the real command line in a child process (bounded by a timeout): a clear error
that names what is wrong, never a traceback, and nothing already stored is lost. The rest of
the suite and the unit-level tests it builds on are listed in tests/test_reliability_archive.py.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from optui.analytics.participants import participant_file_name
from optui.feed.simulator import DemoMarket
from optui.store.archive import read_ticks
from optui.store.journal import Journal, split_key
from optui.store.participants import ParticipantStore

pytestmark = pytest.mark.reliability

OPTUI = (sys.executable, "-m", "optui")
ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*OPTUI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
        cwd=ROOT,
        **kw,  # type: ignore[arg-type]
    )


# -- participant files ---------------------------------------------------------------------------
def _wrong_columns(text: str) -> str:
    lines = text.splitlines(keepends=True)
    header = next(i for i, line in enumerate(lines) if "Client Type" in line or "CLIENT" in line)
    lines[header] = "Name,Alpha,Beta,Gamma\n"
    return "".join(lines)


def _after_header(text: str) -> int:
    return text.index("\n", text.index("Client")) + 1


DAMAGED: dict[str, Callable[[str], bytes]] = {
    "truncated": lambda text: text.encode()[: len(text) // 2],
    "cut_after_the_header": lambda text: text.encode()[
        : text.index("\n", text.index("Client")) + 1
    ],
    "binary_garbage": lambda text: bytes(range(256)) * 8,
    "empty": lambda text: b"",
    "html_error_page": lambda text: (
        b"<!DOCTYPE html><html><head><title>Access Denied</title></head>"
        b"<body>Reference #18.5c6d3b17</body></html>"
    ),
    "wrong_columns": lambda text: _wrong_columns(text).encode(),
    "utf16": lambda text: text.encode("utf-16"),
}


@pytest.fixture(scope="module")
def participant_days() -> list[tuple[date, str]]:
    return DemoMarket(7, date(2026, 11, 23)).participant_history(days=4)


@pytest.mark.parametrize("damage", sorted(DAMAGED))
def test_a_damaged_participant_file_is_refused_by_name_and_loses_nothing(
    tmp_path: Path, participant_days: list[tuple[date, str]], damage: str
) -> None:
    data = tmp_path / "data"
    good = tmp_path / "good"
    good.mkdir()
    for day, text in participant_days[:3]:
        (good / participant_file_name("oi", day)).write_text(text)
    imported = run("participants", "import", str(good), "--data-dir", str(data))
    assert imported.returncode == 0, imported.stderr
    store = ParticipantStore(data / "participants")
    stored = {f.path: f.path.read_bytes() for f in store.files()}
    assert len(stored) == 3

    bad = tmp_path / "bad"
    bad.mkdir()
    new_day, new_text = participant_days[3]
    old_day, old_text = participant_days[1]
    fresh = bad / participant_file_name("oi", new_day)  # a day not stored yet
    fresh.write_bytes(DAMAGED[damage](new_text))
    over = bad / "again" / participant_file_name("oi", old_day)  # a stored day, --replace
    over.parent.mkdir()
    over.write_bytes(DAMAGED[damage](old_text))
    for path, extra in ((fresh, ()), (over, ("--replace",))):
        result = run("participants", "import", str(path), *extra, "--data-dir", str(data))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert f"refused  {path}: " in result.stderr  # names the file, then the reason
        reason = result.stderr.split(f"refused  {path}: ", 1)[1].splitlines()[0]
        assert len(reason) > 10
        assert "1 refused" in result.stdout

    # Nothing stored changed, nothing was added, and every stored day still loads.
    assert {f.path: f.path.read_bytes() for f in store.files()} == stored
    assert store.days("oi") == [day for day, _ in participant_days[:3]]
    days, problems = store.load_all("oi")
    assert problems == [] and len(days) == 3
    shown = run("participants", "show", "--date", old_day.isoformat(), "--data-dir", str(data))
    assert shown.returncode == 0, shown.stderr
    assert "FII" in shown.stdout


# -- a wrong config ------------------------------------------------------------------------------
# (config.toml text, the words the message must hold: the key and what is allowed)
BAD_CONFIGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wrong_type_path": ("data_dir = 5\n", ("data_dir", "must be a path")),
    "wrong_type_int": ('[demo]\nseed = "seven"\n', ("seed", "int")),
    "wrong_type_list": ('underlyings = "NIFTY"\n', ("underlyings", "must be a list")),
    "value_below_minimum": ("[store]\nroll_interval = 0.1\n", ("roll_interval", ">= 1")),
    "value_not_allowed": ('source = "yahoo"\n', ("source", "demo")),
    "negative_strikes": ("[kite]\nstrikes = -3\n", ("strikes", ">=")),
    "unknown_key": ('colour = "dark"\n', ("colour", "theme")),
    "unknown_key_in_section": ("[demo]\nsped = 2.0\n", ("sped", "speed")),
    "unknown_section": ("[kites]\napi_key = 'x'\n", ("kites", "kite")),
    "not_toml": ("data_dir = \n", ("config.toml:1:", "invalid toml")),
}
COMMANDS = (("status",), ("collect", "--duration", "1"), ("export", "--from", "2026-11-23"))


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_a_wrong_config_exits_2_naming_the_key_and_what_is_allowed(
    tmp_path: Path, case: str
) -> None:
    text, words = BAD_CONFIGS[case]
    config = tmp_path / "config.toml"
    config.write_text(text)
    data = tmp_path / "data"
    for command in COMMANDS:
        extra = ("--output", str(tmp_path / "out.parquet")) if command[0] == "export" else ()
        result = run(*command, *extra, "--config", str(config), "--data-dir", str(data))
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        message = result.stderr.lower()
        for word in words:
            assert word.lower() in message, (command, word, result.stderr)
    assert not (data / "journal").exists()  # nothing was started on a wrong config


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("OPTUI_DEMO__SPEED", "fast", ("OPTUI_DEMO__SPEED", "fast")),
        ("OPTUI_STORE__SYNC", "maybe", ("OPTUI_STORE__SYNC", "maybe")),
        ("OPTUI_DEMO__SPED", "2", ("OPTUI_DEMO__SPED",)),
    ],
)
def test_a_wrong_environment_variable_exits_2_naming_it(
    tmp_path: Path, variable: str, value: str, words: tuple[str, ...]
) -> None:
    result = run("status", "--data-dir", str(tmp_path / "data"), env={variable: value})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert all(word in result.stderr for word in words), result.stderr


# -- a full disk ---------------------------------------------------------------------------------
def _committed(data_dir: Path) -> dict[int, int]:
    """frame_seq -> packets of every frame in the journal or the archive."""
    found: dict[int, int] = {}
    if (data_dir / "journal" / "data.mdb").exists():
        with Journal(data_dir / "journal", readonly=True) as journal:
            for key, frame in journal.frames():
                found[split_key(key)[1]] = int.from_bytes(frame[:2], "big")
    if (data_dir / "archive").exists():
        table = read_ticks(data_dir / "archive", date(2000, 1, 1), date(2100, 1, 1))
        for item in pc.value_counts(table["frame_seq"]).to_pylist():
            found[int(item["values"])] = int(item["counts"])
    return found


@contextlib.contextmanager
def small_disk(folder: Path, how: str) -> Iterator[Callable[[], None] | None]:
    """A data dir that fills up: a 6 MiB tmpfs (as root, where mount works) or, for
    `rlimit`, nothing here (the child gets RLIMIT_FSIZE). Yields what makes room again."""
    folder.mkdir(parents=True)
    if how == "rlimit":
        yield None
        return
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the rlimit case covers a full disk")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=256m", str(folder)], check=True, timeout=30)

    try:
        yield grow
    finally:
        subprocess.run(["umount", "-l", str(folder)], timeout=30, check=False)


def _limit_files() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_FSIZE, (6 << 20, 6 << 20))


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_a_full_disk_stops_the_collector_clearly_and_a_rerun_archives_what_was_committed(
    tmp_path: Path, how: str
) -> None:
    data = tmp_path / "data"
    env = {
        "OPTUI_DEMO__SPEED": "20",
        "OPTUI_DEMO__INSTRUMENTS": "600",
        "OPTUI_STORE__ROLL_INTERVAL": "1",
        "OPTUI_LOG_DIR": str(tmp_path / "log"),  # the logs live elsewhere: only data fills
    }
    with small_disk(data, how) as make_room:
        result = run(
            "collect",
            "--data-dir",
            str(data),
            "--duration",
            "90",
            env=env,
            preexec_fn=_limit_files if how == "rlimit" else None,
        )
        assert result.returncode == 4, result.stderr
        assert "Traceback" not in result.stderr
        assert "optui: error:" in result.stderr
        assert "what was committed before is safe" in result.stderr
        # It says what to do about it.
        assert "free" in result.stderr.lower() or "ulimit" in result.stderr
        before = _committed(data)
        assert before, "nothing was committed before the disk filled"

        # Room again (a bigger disk, or no limit): a rerun rolls everything committed.
        if make_room is not None:
            make_room()
        rerun = run("collect", "--data-dir", str(data), "--duration", "1", env=env)
        assert rerun.returncode == 0, rerun.stderr
        after = _committed(data)
        with Journal(data / "journal", readonly=True) as journal:
            assert journal.stats().frames == 0
        assert all(after.get(seq) == packets for seq, packets in before.items())
        table = read_ticks(data / "archive", date(2000, 1, 1), date(2100, 1, 1))
        assert table.num_rows == sum(after.values())
