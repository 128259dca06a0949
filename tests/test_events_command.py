"""`optui events`: a collector's stored events read back, headless, with what is still open."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from optui.events import Event
from optui.store.journal import Journal

T0 = 1_795_000_000.0  # 2026-11-18, during the day in IST


def event(t: float, code: str, **kw: object) -> Event:
    fields: dict[str, object] = {
        "time": t,
        "kind": code.split(".", maxsplit=1)[0].replace("quality", "data_quality"),
        "severity": "warning",
        "code": code,
        "message": f"{code} happened",
        "did": "something",
        "do": f"fix {code}",
        "source": "collect",
    }
    fields.update(kw)
    return Event(**fields)  # type: ignore[arg-type]


def optui(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "optui", "events", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_events_lists_what_happened_and_what_is_still_to_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Journal(data / "journal", sync=False) as journal:
        journal.append_events(
            [
                event(T0, "feed.disconnected"),
                event(T0 + 1, "storage.disk_low", kind="storage", needs_user=True),
                event(T0 + 2, "feed.disconnected", count=4, first_time=T0 + 1.5),
                event(T0 + 3, "quality.crossed_book"),
            ]
        )
    done = optui(data)
    assert done.returncode == 1, done.stderr  # a problem is open
    out = done.stdout
    assert "feed.disconnected ×4: feed.disconnected happened" in out
    assert "→ fix feed.disconnected" in out
    assert "feed.disconnected                    5" in out  # counted with the group
    assert "STILL TO FIX:\n  storage.disk_low" in out and "→ fix storage.disk_low" in out

    records = [
        json.loads(line)
        for line in optui(data, "--json", "--kind", "data_quality").stdout.splitlines()
    ]
    assert [r["code"] for r in records] == ["quality.crossed_book"]

    # Space came back: the collector recorded that; nothing is open any more.
    with Journal(data / "journal", sync=False) as journal:
        journal.append_events(
            [
                event(
                    T0 + 9,
                    "storage.disk_ok",
                    kind="storage",
                    severity="info",
                    clears="storage.disk_low",
                )
            ]
        )
    done = optui(data, "--problems")
    assert done.returncode == 0 and done.stdout == "no open problems\n"


def test_events_without_a_journal_says_how_to_get_one(tmp_path: Path) -> None:
    done = optui(tmp_path / "nothing")
    assert done.returncode == 2 and "optui collect" in done.stderr
    assert "Traceback" not in done.stderr
