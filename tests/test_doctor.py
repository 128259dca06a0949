"""`optui doctor`: each check on real files (config, data dir, LMDB journal, Parquet archive,
Kite token), the report, the exit code, and that no secret ever reaches the output.

Everything is real: TOML files, an LMDB journal written by `Journal` or by the `lmdb`
package, damaged copies of it, Parquet files written by pyarrow and cut short. The autouse
``isolated_user_dirs`` fixture keeps the user's own folders out of reach.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import lmdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from optui.doctor import (
    CHECK_NAMES,
    DISK_FAIL_BELOW,
    DISK_WARN_BELOW,
    TOKEN_FILE_NAME,
    Check,
    _guarded,
    check_archive,
    check_config,
    check_data_dir,
    check_free_disk,
    check_journal,
    exit_code,
    invalid_settings_checks,
    kite_token_expiry,
    render,
    run_checks,
)
from optui.feed.calendar import IST
from optui.settings import Settings, SettingsError, load_settings
from optui.store.journal import Journal

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=IST)  # a Tuesday, midday IST
FAKE_SECRET = "fake-secret-9f8e7d6c5b4a"
FAKE_TOKEN = "fake-token-0a1b2c3d4e5f6a7b"
KITE_ENV = {"KITE_API_KEY": "kitekey12345678", "KITE_API_SECRET": FAKE_SECRET}
running_as_root = os.name == "posix" and os.geteuid() == 0


def settings_for(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
    **overrides: object,
) -> Settings:
    """Settings with the data dir in ``tmp_path``, plus overrides (dotted keys in ``extra``)."""
    overrides.setdefault("data_dir", tmp_path / "data")
    return load_settings(env=env or {}, overrides={**overrides, **(extra or {})})


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def write_journal(path: Path, frames: int = 3) -> None:
    """A real journal, as a collector leaves it."""
    start = int(NOW.timestamp() * 1e9)
    with Journal(path, sync=False) as journal:
        journal.append_many(
            [b"\x00\x01" + bytes([i % 256]) * 200 for i in range(frames)],
            [start + i * 1_000_000 for i in range(frames)],
        )


def write_parquet(path: Path, rows: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"token": list(range(rows)), "price": [1.5] * rows}), path)


# --- the whole run ---------------------------------------------------------------------------


def test_a_fresh_demo_setup_has_no_problems(tmp_path: Path) -> None:
    checks = run_checks(settings_for(tmp_path), config_path=tmp_path / "config.toml", now=NOW)
    assert [check.name for check in checks] == list(CHECK_NAMES)
    found = by_name(checks)
    assert found["config"].ok is None  # no file: defaults
    assert "optui init --profile" in found["config"].fix
    assert found["data dir"].ok is True
    assert found["journal"].ok is None
    assert "optui collect" in found["journal"].fix
    assert found["archive"].ok is None
    assert found["Kite credentials"].ok is None
    assert found["Kite login"].ok is None
    assert exit_code(checks) == 0
    assert not (tmp_path / "data").exists()  # doctor looks, it does not create


def test_a_collected_setup_is_all_good(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_journal(data / "journal", frames=5)
    write_parquet(data / "archive" / "ticks" / "date=2026-03-10" / "part-0.parquet", rows=7)
    config = tmp_path / "config.toml"
    config.write_text(f'data_dir = "{data}"\n', encoding="utf-8")
    settings = load_settings(config, env={})
    found = by_name(run_checks(settings, config_path=config, env={}, now=NOW))
    assert found["config"].ok is True
    assert found["journal"].ok is True
    assert "5 frames" in found["journal"].detail
    assert "10 Mar 2026 12:00:00 IST" in found["journal"].detail
    assert found["archive"].ok is True
    assert "1 Parquet files, 7 rows" in found["archive"].detail
    assert exit_code(found.values()) == 0


# --- 1. config ---------------------------------------------------------------------------------


def test_an_invalid_config_file_is_reported_against_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[demo]\nspeed = -2\n", encoding="utf-8")
    # The caller's settings loaded (say, before the file was edited); the file is checked anew.
    check = check_config(config, settings_for(tmp_path))
    assert check.ok is False
    assert str(config) in check.detail
    assert "demo.speed = -2" in check.detail
    assert str(config) in check.fix


def test_settings_that_do_not_load_give_a_report_too(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('source = "kitee"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(config, env={})
    checks = invalid_settings_checks(info.value)
    assert [check.name for check in checks] == list(CHECK_NAMES)
    assert checks[0].ok is False
    assert "source = 'kitee'" in checks[0].detail
    assert all(check.ok is None for check in checks[1:])
    assert exit_code(checks) == 1


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_config_holding_the_secret_must_be_private(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[kite]\napi_secret = "{FAKE_SECRET}"\n', encoding="utf-8")
    config.chmod(0o644)
    settings = load_settings(config, env={})
    check = check_config(config, settings)
    assert check.ok is False
    assert "readable by other users" in check.detail
    assert f"chmod 600 {config}" in check.fix
    assert "KITE_API_SECRET" in check.fix

    config.chmod(0o600)
    assert check_config(config, settings).ok is True


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_readable_config_without_secrets_is_fine(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('source = "demo"\n', encoding="utf-8")
    config.chmod(0o644)
    assert check_config(config, load_settings(config, env={})).ok is True


# --- 2. data dir -------------------------------------------------------------------------------


def test_an_existing_data_dir_is_probed_with_a_real_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    check = check_data_dir(data)
    assert check.ok is True
    assert list(data.iterdir()) == []  # the probe file is gone


def test_a_missing_data_dir_is_fine_when_it_can_be_created(tmp_path: Path) -> None:
    data = tmp_path / "a" / "b" / "data"
    check = check_data_dir(data)
    assert check.ok is True
    assert f"created in {tmp_path}" in check.detail
    assert list(tmp_path.iterdir()) == []  # nothing created, not even the probe


def test_a_file_where_the_data_dir_should_be(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("oops", encoding="utf-8")
    check = check_data_dir(data)
    assert check.ok is False
    assert "not a folder" in check.detail
    assert "--data-dir" in check.fix


@pytest.mark.skipif(running_as_root, reason="root writes through permission bits")
def test_a_read_only_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        check = check_data_dir(data)
        assert check.ok is False
        assert "not writable" in check.detail
        assert f"chmod u+rwx {data}" in check.fix
        missing = check_data_dir(data / "sub")
        assert missing.ok is False
        assert "cannot be created" in missing.detail
    finally:
        data.chmod(0o700)


# --- 3. free disk ------------------------------------------------------------------------------


def test_free_disk_is_measured_on_the_nearest_existing_folder(tmp_path: Path) -> None:
    check = check_free_disk(tmp_path / "not" / "yet")
    assert check.ok is not None
    assert f"on the disk of {tmp_path}" in check.detail
    assert "free of" in check.detail
    assert DISK_FAIL_BELOW < DISK_WARN_BELOW


def test_free_disk_thresholds(tmp_path: Path) -> None:
    # Real free space against thresholds no real disk meets, and none it misses.
    huge = 1 << 62
    fine = check_free_disk(tmp_path, fail_below=0, warn_below=0)
    assert (fine.ok, fine.fix, fine.warning) == (True, "", False)
    warn = check_free_disk(tmp_path, fail_below=0, warn_below=huge)
    assert warn.ok is True
    assert warn.warning
    assert "warning" in warn.detail
    assert "move data_dir" in warn.fix
    fail = check_free_disk(tmp_path, fail_below=huge, warn_below=huge)
    assert fail.ok is False
    assert "move data_dir" in fail.fix


# --- 4. journal --------------------------------------------------------------------------------


def test_no_journal_yet_is_skipped(tmp_path: Path) -> None:
    check = check_journal(tmp_path / "journal")
    assert check.ok is None
    assert "no journal yet" in check.detail
    # A folder without data.mdb is no journal either.
    (tmp_path / "journal").mkdir()
    assert check_journal(tmp_path / "journal").ok is None


def test_a_healthy_journal(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal", frames=4)
    check = check_journal(tmp_path / "journal")
    assert check.ok is True, check
    assert "4 frames" in check.detail


def test_an_empty_journal(tmp_path: Path) -> None:
    write_journal(tmp_path / "journal", frames=0)
    check = check_journal(tmp_path / "journal")
    assert check.ok is True
    assert "0 frames" in check.detail


def test_the_journal_is_read_beside_a_running_writer(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    with Journal(path, sync=False) as writer:
        writer.append(b"\x00\x01\x02\x03", int(NOW.timestamp() * 1e9))
        check = check_journal(path)  # the writer holds the single-writer lock meanwhile
    assert check.ok is True
    assert "1 frames" in check.detail


def test_garbage_in_data_mdb_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    write_journal(path)
    data = path / "data.mdb"
    data.write_bytes(os.urandom(data.stat().st_size))
    check = check_journal(path)
    assert check.ok is False
    assert "damaged" in check.detail
    assert "MDB_INVALID" in check.detail
    assert f"mv {path} {path}.damaged" in check.fix


def test_a_data_mdb_cut_short_is_found_without_crashing(tmp_path: Path) -> None:
    # Mapping a truncated data.mdb and reading past its end kills the reader with SIGBUS;
    # doctor must find this from the meta pages and say so.
    path = tmp_path / "journal"
    write_journal(path, frames=200)
    data = path / "data.mdb"
    full = data.stat().st_size
    with data.open("r+b") as file:
        file.truncate(full // 2)
    check = check_journal(path)
    assert check.ok is False
    assert "cut short" in check.detail
    assert f"{full:,} bytes" in check.detail
    assert ".damaged" in check.fix


def test_pages_overwritten_in_the_middle_are_damage(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    write_journal(path, frames=2000)
    data = path / "data.mdb"
    with data.open("r+b") as file:
        file.seek(2 * 4096)  # past the two meta pages: the trees themselves
        file.write(os.urandom(data.stat().st_size - 3 * 4096))
    check = check_journal(path)
    assert check.ok is False
    assert "damaged" in check.detail


def test_an_lmdb_that_is_not_an_optui_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    env = lmdb.open(str(path), max_dbs=8, subdir=True)
    with env.begin(write=True) as txn:
        txn.put(b"some", b"thing")
    env.close()
    check = check_journal(path)
    assert check.ok is False
    assert "not an optui journal" in check.detail


# --- 5. archive --------------------------------------------------------------------------------


def test_no_archive_yet_is_skipped(tmp_path: Path) -> None:
    assert check_archive(tmp_path / "archive").ok is None
    (tmp_path / "archive").mkdir()
    empty = check_archive(tmp_path / "archive")
    assert empty.ok is None
    assert "no Parquet files" in empty.detail


def test_unreadable_parquet_files_are_listed(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    good = root / "ticks" / "date=2026-03-09" / "part-0.parquet"
    cut = root / "ticks" / "date=2026-03-10" / "part-0.parquet"
    junk = root / "ticks" / "date=2026-03-10" / "part-1.parquet"
    write_parquet(good, rows=5)
    write_parquet(cut, rows=1000)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    junk.write_bytes(b"PAR1 this is not parquet")
    check = check_archive(root)
    assert check.ok is False
    assert "2 of 3 Parquet files" in check.detail
    assert str(cut.relative_to(root)) in check.detail
    assert str(junk.relative_to(root)) in check.detail
    assert str(good.relative_to(root)) not in check.detail
    assert "quarantine" in check.fix


def test_temporary_files_of_an_interrupted_roll_are_mentioned(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    day = root / "ticks" / "date=2026-03-10" / "collector=a"
    write_parquet(day / "part-0.parquet")
    (day / ".part-1.parquet.tmp").write_bytes(b"half a file")  # not a finished part: skipped
    check = check_archive(root)
    assert check.ok is True
    assert "1 Parquet files" in check.detail
    assert "1 temporary file left by an interrupted roll" in check.detail


def test_only_the_first_few_unreadable_files_are_named(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    for day in range(1, 9):
        bad = root / "ticks" / f"date=2026-03-0{day}" / "part-0.parquet"
        bad.parent.mkdir(parents=True)
        bad.write_bytes(b"")
    check = check_archive(root)
    assert check.ok is False
    assert "8 of 8" in check.detail
    assert "... and 3 more" in check.detail
    assert len(check.detail.splitlines()) == 1 + 5 + 1


def test_a_remote_archive_is_not_checked(tmp_path: Path) -> None:
    check = check_archive("s3://bucket/optui")
    assert check.ok is None
    assert "s3://bucket/optui" in check.detail


def test_the_archive_setting_is_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "ticks").mkdir(parents=True)
    (elsewhere / "ticks" / "x.parquet").write_bytes(b"nope")
    settings = settings_for(tmp_path, extra={"store.archive": str(elsewhere)})
    found = by_name(run_checks(settings, env={}, now=NOW))
    assert found["archive"].ok is False
    assert str(elsewhere) in found["archive"].detail


# --- 6. Kite -----------------------------------------------------------------------------------


def test_kite_checks_apply_to_the_kite_source(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, source="kite")
    found = by_name(run_checks(settings, config_path=tmp_path / "config.toml", env={}, now=NOW))
    creds = found["Kite credentials"]
    assert creds.ok is False
    assert "api_key and api_secret" in creds.detail
    assert "export KITE_API_KEY=" in creds.fix
    assert "export KITE_API_SECRET=" in creds.fix
    login = found["Kite login"]
    assert login.ok is None
    assert "not logged in" in login.detail
    assert "optui login" in login.fix


def test_kite_credentials_present(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, env=KITE_ENV, source="kite")
    found = by_name(run_checks(settings, env={}, now=NOW))
    assert found["Kite credentials"].ok is True
    assert "kite…" in found["Kite credentials"].detail
    assert "kitekey12345678" not in found["Kite credentials"].detail


def test_an_api_key_with_the_demo_source_is_still_checked(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, env={"KITE_API_KEY": "kitekey12345678"})
    found = by_name(run_checks(settings, env={}, now=NOW))
    assert found["Kite credentials"].ok is False
    assert "api_secret" in found["Kite credentials"].detail
    assert "KITE_API_KEY" not in found["Kite credentials"].fix  # only what is missing


def write_token(folder: Path, **fields: str) -> Path:
    """A token file as `optui login` writes it, for the test app's API key unless told."""
    path = folder / TOKEN_FILE_NAME
    data = {"access_token": FAKE_TOKEN, "api_key": KITE_ENV["KITE_API_KEY"], **fields}
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(0o600)
    return path


def kite_login(tmp_path: Path, env: dict[str, str] | None = None) -> Check:
    settings = settings_for(tmp_path, env=KITE_ENV, source="kite")
    checks = run_checks(settings, config_path=tmp_path / "config.toml", env=env or {}, now=NOW)
    return by_name(checks)["Kite login"]


def test_a_fresh_token(tmp_path: Path) -> None:
    write_token(tmp_path, expires_at="2026-03-11T06:00:00+05:30")
    check = kite_login(tmp_path)
    assert check.ok is True
    assert "valid until Wed 11 Mar 2026 06:00 IST" in check.detail
    assert "for 18h 00m" in check.detail


def test_a_token_of_another_app(tmp_path: Path) -> None:
    """What `optui collect` would refuse at start, doctor says first."""
    write_token(tmp_path, expires_at="2026-03-11T06:00:00+05:30", api_key="otherapp9999")
    check = kite_login(tmp_path)
    assert check.ok is False
    assert "issued for another API key" in check.detail and "kite…" in check.detail
    assert "otherapp9999" not in check.detail and "optui login" in check.fix


def test_an_expired_token(tmp_path: Path) -> None:
    write_token(tmp_path, expires_at="2026-03-10T06:00:00+05:30")
    check = kite_login(tmp_path)
    assert check.ok is False
    assert "expired Tue 10 Mar 2026 06:00 IST (6h 00m ago)" in check.detail
    assert "optui login" in check.fix
    assert "06:00 IST" in check.fix


def test_a_token_file_with_only_the_login_time(tmp_path: Path) -> None:
    # Kite's own session response has login_time, naive IST: yesterday 09:00 -> expired at
    # 06:00 today; today 09:00 -> valid until 06:00 tomorrow.
    write_token(tmp_path, login_time="2026-03-09 09:00:00")
    assert kite_login(tmp_path).ok is False
    write_token(tmp_path, login_time="2026-03-10 09:00:00")
    assert kite_login(tmp_path).ok is True


def test_an_unreadable_token_file(tmp_path: Path) -> None:
    path = tmp_path / TOKEN_FILE_NAME
    path.write_text('{"access_token": "' + FAKE_TOKEN, encoding="utf-8")  # cut short
    check = kite_login(tmp_path)
    assert check.ok is False
    assert "not valid JSON" in check.detail
    assert f"Delete {path}" in check.fix
    write_token(tmp_path)  # no expiry at all
    assert "neither expires_at nor login_time" in kite_login(tmp_path).detail
    write_token(tmp_path, expires_at="tomorrow")
    assert "not an ISO date" in kite_login(tmp_path).detail


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_token_file_readable_by_others(tmp_path: Path) -> None:
    path = write_token(tmp_path, expires_at="2026-03-11T06:00:00+05:30")
    path.chmod(0o644)
    check = kite_login(tmp_path)
    assert check.ok is False
    assert "readable by other users" in check.detail
    assert check.fix == f"chmod 600 {path}"


def test_a_token_in_the_environment(tmp_path: Path) -> None:
    check = kite_login(tmp_path, env={"KITE_ACCESS_TOKEN": FAKE_TOKEN})
    assert check.ok is True
    assert "KITE_ACCESS_TOKEN" in check.detail


@pytest.mark.parametrize(
    ("issued", "expires"),
    [
        (datetime(2026, 3, 10, 9, 0), datetime(2026, 3, 11, 6, 0, tzinfo=IST)),
        (datetime(2026, 3, 10, 23, 59), datetime(2026, 3, 11, 6, 0, tzinfo=IST)),
        (datetime(2026, 3, 10, 3, 0), datetime(2026, 3, 10, 6, 0, tzinfo=IST)),
        (datetime(2026, 3, 10, 6, 0), datetime(2026, 3, 11, 6, 0, tzinfo=IST)),
        # 20:00 UTC is 01:30 IST the next day: the token dies at 06:00 that same morning.
        (datetime(2026, 3, 10, 20, 0, tzinfo=UTC), datetime(2026, 3, 11, 6, 0, tzinfo=IST)),
    ],
)
def test_kite_token_expiry_is_the_next_six_am_ist(issued: datetime, expires: datetime) -> None:
    assert kite_token_expiry(issued) == expires


# --- secrets -----------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_no_secret_or_token_ever_reaches_the_report(tmp_path: Path) -> None:
    # The worst case: the secret in a world-readable config, the token in the environment
    # and in a world-readable token file; every check that can fail, failing.
    config = tmp_path / "config.toml"
    config.write_text(
        f'source = "kite"\n[kite]\napi_key = "kitekey12345678"\napi_secret = "{FAKE_SECRET}"\n',
        encoding="utf-8",
    )
    config.chmod(0o644)
    token = write_token(tmp_path, expires_at="2026-03-01T06:00:00+05:30")
    token.chmod(0o644)
    settings = load_settings(config, env={}, overrides={"data_dir": tmp_path / "data"})
    reports = []
    for env in ({"KITE_ACCESS_TOKEN": FAKE_TOKEN}, {}):
        checks = run_checks(settings, config_path=config, env=env, now=NOW)
        reports.append(render(checks))
        reports.append(repr(checks))
    # A wrongly typed secret makes the settings fail to load; msgspec's message would show
    # the value.
    config.write_text("[kite]\napi_secret = 918273645546372819\n", encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(config, env={})
    reports.append(render(invalid_settings_checks(info.value)))
    reports.append(render([check_config(config, settings)]))
    text = "\n".join(reports)
    assert "readable by other users" in text  # the checks did run and fail
    assert FAKE_SECRET not in text
    assert FAKE_TOKEN not in text
    assert "918273645546372819" not in text
    assert "kitekey12345678" not in text


def test_scrubbing_catches_a_secret_a_check_let_through(tmp_path: Path) -> None:
    # A data dir whose path happens to contain the secret (contrived, but it stands for any
    # library message quoting one): the report shows *** instead.
    settings = settings_for(tmp_path, env=KITE_ENV, data_dir=tmp_path / FAKE_SECRET, source="kite")
    text = render(run_checks(settings, env={}, now=NOW))
    assert FAKE_SECRET not in text
    assert "***" in text


# --- report and exit code -------------------------------------------------------------------


def test_render_marks_fixes_and_summary() -> None:
    checks = [
        Check("config", True, "fine"),
        Check("free disk", True, "3 GiB free: warning", "free some space"),
        Check("journal", False, "damaged\nsecond line", "move it aside"),
        Check("archive", None, "no archive yet", "run optui collect"),
    ]
    text = render(checks)
    lines = text.splitlines()
    assert lines[0] == " ✓ config     fine"
    assert lines[1] == " ! free disk  3 GiB free: warning"
    assert lines[2] == "              fix: free some space"
    assert lines[3] == " ✗ journal    damaged"
    assert lines[4] == "              second line"
    assert lines[5] == "              fix: move it aside"
    assert lines[6] == " – archive    no archive yet"
    assert lines[7] == "              hint: run optui collect"
    assert lines[-1] == "1 problem to fix (1 warning, 1 skipped)."
    assert exit_code(checks) == 1
    ascii_text = render(checks, ascii_only=True)
    assert ascii_text.isascii()
    assert " X journal" in ascii_text


def test_render_wraps_long_text_under_its_column() -> None:
    text = render([Check("data dir", False, "word " * 40, "do this " * 30)], width=60)
    for line in text.splitlines():
        assert len(line) <= 60
    assert all(line.startswith(" " * 12) for line in text.splitlines()[1:-2])


def test_all_good_exits_zero() -> None:
    checks = [Check("config", True, "fine"), Check("journal", None, "none yet")]
    assert exit_code(checks) == 0
    assert render(checks).splitlines()[-1] == "No problems found (1 skipped)."


def test_a_crashing_check_is_reported_not_raised() -> None:
    def broken() -> Check:
        raise KeyError("surprise")

    checks = _guarded(["Kite credentials", "Kite login"], broken)
    assert [c.name for c in checks] == ["Kite credentials", "Kite login"]
    assert checks[0].ok is False
    assert "crashed: KeyError" in checks[0].detail
    assert "bug" in checks[0].fix
    assert checks[1].ok is None


def test_doctor_does_not_change_file_modes(tmp_path: Path) -> None:
    write_journal(tmp_path / "data" / "journal")
    before = {p: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    run_checks(settings_for(tmp_path), env={}, now=NOW)
    after = {p: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert after == before
