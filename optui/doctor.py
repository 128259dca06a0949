"""``optui doctor``: check the setup and say how to fix each problem.

Each check returns one :class:`Check`: a name, a verdict, what was found, and what to do.
The verdict has three values, plus a convention for warnings:

- ``ok=True``: fine. With a non-empty ``fix`` it is a *warning*: works today, needs care soon
  (a filling disk);
- ``ok=False``: a problem; ``fix`` says exactly what to do;
- ``ok=None``: skipped or not applicable (no journal yet, demo source and no Kite app);
  ``fix`` may hold a hint for the next step.

The checks read and never repair. The only things they create are a temporary file (or
folder) to prove the data dir is writable, removed at once, and LMDB's ``lock.mdb`` beside an
existing journal, where every reader registers.

Nothing a check reports may contain the Kite API secret or an access token: the checks never
put them in a message, and :func:`run_checks` also scrubs every known secret value from the
results as a second line of defence (an error message from a library could quote one).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import lmdb

from optui.feed.calendar import IST
from optui.kite.credentials import (
    ACCESS_TOKEN_ENV,
    TOKEN_FILE_NAME,
    describe_until,
    duration,
    kite_token_expiry,
    mask_api_key,
    read_token_file,
    readable_by_others,
)
from optui.paths import default_config_file
from optui.settings import Settings, SettingsError, load_settings
from optui.store.locations import archive_root, journal_dir

__all__ = [
    "CHECK_NAMES",
    "DISK_FAIL_BELOW",
    "DISK_WARN_BELOW",
    "TOKEN_FILE_NAME",
    "Check",
    "check_archive",
    "check_config",
    "check_data_dir",
    "check_free_disk",
    "check_journal",
    "check_kite",
    "exit_code",
    "invalid_settings_checks",
    "kite_token_expiry",
    "render",
    "run_checks",
]

GIB = 1 << 30
# Free space on the data dir's filesystem. The journal keeps raw Kite frames until they are
# rolled into (much smaller) Parquet. The full universe on Kite, about 2,500 instruments of
# which the liquid ones tick every second and most options far less (say 0.3 ticks/s on
# average) at 184 bytes a full-mode packet, is about 3 GiB over a 6¼-hour session. Below
# 5 GiB a busy day may not fit: a warning. Below 1 GiB the journal could fill within an hour
# or two, and LMDB fails writes on a full disk: a failure, fix it before collecting.
DISK_FAIL_BELOW = 1 * GIB
DISK_WARN_BELOW = 5 * GIB

_MAX_LISTED = 5  # unreadable archive files named in the detail; the rest are counted
_SECRET_SETTING = re.compile(r"(api_secret\s*=\s*).*?(:\s*must\b)", re.IGNORECASE)


CONFIG = "config"
DATA_DIR = "data dir"
FREE_DISK = "free disk"
JOURNAL = "journal"
ARCHIVE = "archive"
KITE_CREDENTIALS = "Kite credentials"
KITE_LOGIN = "Kite login"
CHECK_NAMES: tuple[str, ...] = (
    CONFIG,
    DATA_DIR,
    FREE_DISK,
    JOURNAL,
    ARCHIVE,
    KITE_CREDENTIALS,
    KITE_LOGIN,
)
"""The checks :func:`run_checks` reports, in its order."""


@dataclass(frozen=True)
class Check:
    """The outcome of one check. See the module docstring for ``ok`` and warnings."""

    name: str
    ok: bool | None
    """True fine (a warning if ``fix`` is set), False a problem, None skipped."""
    detail: str
    """What was found, for a person; may span lines."""
    fix: str = ""
    """What to do: for a problem, exactly that; for a warning or a skip, a hint."""

    @property
    def warning(self) -> bool:
        """Passing, but with advice: worth acting on before it becomes a problem."""
        return self.ok is True and bool(self.fix)


# --------------------------------------------------------------------------------------
# Running and reporting.


def run_checks(
    settings: Settings,
    *,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> list[Check]:
    """Every check, in the order a user would fix things (names: :data:`CHECK_NAMES`).

    ``settings`` are the effective settings (the caller loaded them, flags included);
    ``config_path`` is the config file in use, re-validated on its own so that a problem in
    it is reported against the file. ``env`` (default ``os.environ``) is where
    ``KITE_ACCESS_TOKEN`` is looked for; ``now`` (default: the current time) is what the
    token's expiry is compared with.
    """
    env = os.environ if env is None else env
    now = datetime.now(IST) if now is None else now
    now = now.replace(tzinfo=IST) if now.tzinfo is None else now  # naive means IST, as Kite
    token_dirs = _token_dirs(config_path)
    checks = [
        *_guarded([CONFIG], lambda: check_config(config_path, settings)),
        *_guarded([DATA_DIR], lambda: check_data_dir(settings.data_dir)),
        *_guarded([FREE_DISK], lambda: check_free_disk(settings.data_dir)),
        *_guarded([JOURNAL], lambda: check_journal(journal_dir(settings))),
        *_guarded([ARCHIVE], lambda: check_archive(archive_root(settings))),
        *_guarded(
            [KITE_CREDENTIALS, KITE_LOGIN],
            lambda: check_kite(settings, env=env, token_dirs=token_dirs, now=now),
        ),
    ]
    return _scrub(checks, _secrets(settings, env, token_dirs))


def _guarded(names: Sequence[str], run: Callable[[], Check | list[Check]]) -> list[Check]:
    """Run one check; if it crashes, report that as its result instead of crashing.

    A doctor is run when something is wrong, so one broken check (a bug, a module that
    fails to import) must not hide what the others found.
    """
    try:
        result = run()
    except Exception as exc:  # deliberately broad: reported below, never swallowed
        crashed = Check(
            names[0],
            False,
            f"this check crashed: {type(exc).__name__}: {_first_line(exc)}",
            "This is a bug in optui: please report it with the output of `optui doctor`.",
        )
        return [crashed, *(Check(name, None, "not checked (see above)") for name in names[1:])]
    return [result] if isinstance(result, Check) else result


def invalid_settings_checks(error: SettingsError) -> list[Check]:
    """The report when the settings cannot be loaded at all (the caller caught ``error``).

    Every other check needs the settings (where is the data dir?), so they are listed as
    skipped rather than run against defaults the user did not choose.
    """
    first = Check(
        CONFIG,
        False,
        _SECRET_SETTING.sub(r"\1***\2", str(error)),
        "Correct the setting named above (file and key, environment variable or flag), "
        "then run `optui doctor` again. `optui config --path` shows which file is read.",
    )
    waiting = "not checked: the settings must load first"
    return [first, *(Check(name, None, waiting) for name in CHECK_NAMES[1:])]


def exit_code(checks: Iterable[Check]) -> int:
    """0 when nothing failed (warnings and skips included), 1 when any check failed."""
    return 1 if any(check.ok is False for check in checks) else 0


def render(checks: Sequence[Check], *, ascii_only: bool = False, width: int = 100) -> str:
    """The report: one line per check (mark, name, detail), the fix under each problem,
    warning or skip that has one, and a summary line. Text is wrapped to ``width`` columns.

    Marks: ✓ fine, ! warning, ✗ problem, – skipped (``ascii_only``: ok, !, X, -; for
    terminals that cannot show the others).
    """
    marks = ("ok", "!", "X", "-") if ascii_only else ("✓", "!", "✗", "–")
    name_width = max((len(check.name) for check in checks), default=0)
    indent = " " * (name_width + 5)
    lines = []
    for check in checks:
        if check.ok is None:
            mark, label = marks[3], "hint: "
        elif check.ok is False:
            mark, label = marks[2], "fix: "
        else:
            mark, label = (marks[1], "fix: ") if check.warning else (marks[0], "")
        lead = f"{mark:>2} {check.name:<{name_width}}  "
        lines += _wrap(check.detail, lead, indent, width)
        if check.fix:
            lines += _wrap(check.fix, indent + label, indent + " " * len(label), width)
    lines += ["", _summary(checks)]
    return "\n".join(lines) + "\n"


def _wrap(text: str, first: str, rest: str, width: int) -> list[str]:
    """``text`` wrapped to ``width``, its first line after ``first``, the others after
    ``rest``; its own line breaks are kept. Paths and commands are never broken."""
    out: list[str] = []
    for number, paragraph in enumerate(text.splitlines() or [""]):
        prefix = first if number == 0 and not out else rest
        out += textwrap.wrap(
            paragraph,
            width,
            initial_indent=prefix,
            subsequent_indent=rest,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [prefix.rstrip()]
    return out


def _summary(checks: Sequence[Check]) -> str:
    failed = sum(check.ok is False for check in checks)
    warned = sum(check.warning for check in checks)
    skipped = sum(check.ok is None for check in checks)
    head = f"{failed} problem{'s' if failed != 1 else ''} to fix" if failed else "No problems found"
    extras = []
    if warned:
        extras.append(f"{warned} warning{'s' if warned != 1 else ''}")
    if skipped:
        extras.append(f"{skipped} skipped")
    return head + (f" ({', '.join(extras)})" if extras else "") + "."


# --------------------------------------------------------------------------------------
# 1. The config file.


def check_config(config_path: Path | None, settings: Settings) -> Check:
    """The config file validates on its own, and is private if it holds the API secret."""
    name = CONFIG
    if config_path is None:
        return Check(name, True, f"settings loaded (source = {settings.source!r})")
    path = Path(config_path)
    if not path.exists():
        return Check(
            name,
            None,
            f"no config file at {path}: defaults, environment and flags only",
            "`optui init --profile first-time` (or development, production) writes a "
            "commented one.",
        )
    try:
        # env={}: judge the file alone, so a problem is reported against the file. The
        # environment and flags were validated when the caller loaded `settings`.
        load_settings(path, env={})
    except SettingsError as exc:
        return Check(
            name,
            False,
            _SECRET_SETTING.sub(r"\1***\2", str(exc)),
            f"Edit {path} and correct the key named above. `optui init --profile <name> "
            "--force` replaces the file with a fresh, commented one.",
        )
    loose = readable_by_others(path)
    if loose is not None and _file_has_secret(path):
        return Check(
            name,
            False,
            f"{path} holds kite.api_secret and is readable by other users (mode {loose:04o})",
            f"chmod 600 {path}; better, delete the api_secret line and "
            "export KITE_API_SECRET=... instead.",
        )
    return Check(name, True, f"{path} is valid (source = {settings.source!r})")


def _file_has_secret(path: Path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    kite = data.get("kite")
    return isinstance(kite, dict) and "api_secret" in kite


# --------------------------------------------------------------------------------------
# 2 and 3. The data dir: writable, and room on its disk.


_DATA_DIR_CHOICE = "data_dir in config.toml, OPTUI_DATA_DIR or --data-dir"


def check_data_dir(data_dir: Path) -> Check:
    """``data_dir`` is a folder this user can write in, or can be created."""
    name = DATA_DIR
    if data_dir.exists() and not data_dir.is_dir():
        return Check(
            name,
            False,
            f"{data_dir} exists but is not a folder",
            f"Move that file away, or choose another folder ({_DATA_DIR_CHOICE}).",
        )
    if data_dir.is_dir():
        try:
            # A real write, not os.access(): ACLs, read-only mounts and full quotas only
            # show when something is written.
            with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".optui-doctor-") as probe:
                probe.write(b"optui")
                probe.flush()
        except OSError as exc:
            return Check(
                name,
                False,
                f"{data_dir} is not writable: {exc.strerror or exc}",
                f"Make it writable for this user (chmod u+rwx {data_dir}, or chown it), "
                f"or choose another folder ({_DATA_DIR_CHOICE}).",
            )
        return Check(name, True, f"{data_dir} is writable")
    parent = _existing_ancestor(data_dir)
    try:
        # The folder is made at first use (`mkdir -p`); prove that can happen, without
        # leaving it behind: doctor does not change the setup it examines.
        probe_dir = tempfile.mkdtemp(dir=parent, prefix=".optui-doctor-")
        os.rmdir(probe_dir)
    except OSError as exc:
        return Check(
            name,
            False,
            f"{data_dir} does not exist and cannot be created: {parent} is not writable "
            f"({exc.strerror or exc})",
            f"Create it as a user who can and give it to this one (sudo install -d -o "
            f"$USER {data_dir}), or choose another folder ({_DATA_DIR_CHOICE}).",
        )
    return Check(name, True, f"{data_dir} does not exist yet; it will be created in {parent}")


def check_free_disk(
    data_dir: Path,
    *,
    fail_below: int = DISK_FAIL_BELOW,
    warn_below: int = DISK_WARN_BELOW,
) -> Check:
    """Free space on the filesystem that holds (or will hold) ``data_dir``."""
    name = FREE_DISK
    where = _existing_ancestor(data_dir)
    try:
        usage = shutil.disk_usage(where)
    except OSError as exc:
        return Check(
            name,
            False,
            f"cannot read the free space of {where}: {exc.strerror or exc}",
            "Check that the disk is mounted and readable.",
        )
    found = f"{_size(usage.free)} free of {_size(usage.total)} on the disk of {where}"
    move = (
        f"Free space on that disk, or move data_dir to a larger one: stop `optui collect`, "
        f"move the folder, then point {_DATA_DIR_CHOICE} at the new place."
    )
    if usage.free < fail_below:
        return Check(name, False, f"{found}: under {_size(fail_below)}", move)
    if usage.free < warn_below:
        return Check(
            name,
            True,
            f"{found}: warning, under {_size(warn_below)}, which a busy day of journal can fill",
            move,
        )
    return Check(name, True, found)


def _existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the root always does)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path  # unreachable for a real path (the root exists); the caller reports errors


# --------------------------------------------------------------------------------------
# 4. The LMDB journal.


_PROBE_TIMEOUT = 300.0  # seconds; stats() walks about a million frames a second
_PROBE = "import sys; from optui.doctor import _journal_probe_main; _journal_probe_main()"


def check_journal(path: Path) -> Check:
    """The journal opens read-only and its frames can be walked.

    Three steps, each guarding the next:

    1. Its two meta pages are read as plain bytes: a ``data.mdb`` shorter than its last
       transaction needs (cut short by a full disk, a crash with sync off, a bad copy) would
       make LMDB read past the end of its memory map, and the kernel kills a process that
       does that (SIGBUS). So that case is found and reported without mapping the file.
    2. The journal is read in a child process, through
       :class:`optui.store.journal.Journal` (read-only: no writer lock, so it works beside a
       running collector). LMDB trusts its pages; a damaged one can crash the reader
       outright, and a doctor must report that, not die of it.
    3. ``Journal.stats()`` reads the length of every frame, walking every leaf page of the
       frames tree (about a microsecond a frame, under a second for a day): damage anywhere
       in the tree shows. Going through ``Journal`` rather than raw LMDB makes "healthy"
       mean "optui can read it": the right databases exist, not just a valid LMDB file.
    """
    name = JOURNAL
    data = path / "data.mdb"
    if not data.exists():
        return Check(
            name,
            None,
            f"no journal yet at {path}",
            "`optui collect` creates it and writes every frame there.",
        )
    damaged_fix = (
        f"Stop any `optui collect` using it, then move it aside so the next collect starts "
        f"a new one (mv {path} {path}.damaged). The archive keeps everything already "
        "rolled; frames not rolled yet stay in the moved copy for salvage (mdb_dump). If "
        "data_dir points at the wrong folder, correct data_dir instead."
    )
    access_fix = (
        f"This user must be able to read {data} and write {path}/lock.mdb (every reader "
        "registers there): fix the permissions, or run as the collector's user."
    )
    try:
        cut_short = _lmdb_cut_short(data)
    except OSError as exc:
        return Check(name, False, f"cannot read {data}: {exc.strerror or exc}", access_fix)
    if cut_short:
        return Check(name, False, f"{path} is damaged: {cut_short}", damaged_fix)

    result = _probe_journal(path)
    if "crashed" in result:
        return Check(
            name,
            False,
            f"{path} is damaged: reading it crashed the reader ({result['crashed']})",
            damaged_fix,
        )
    if "error" in result:
        if result.get("access"):
            return Check(name, False, f"cannot read {path}: {result['error']}", access_fix)
        return Check(
            name,
            False,
            f"{path} is damaged or is not an optui journal: {result['error']}",
            damaged_fix,
        )
    found = f"{path}: {int(result['frames']):,} frames ({_size(int(result['frame_bytes']))})"
    if result.get("first_ns") is not None and result.get("last_ns") is not None:
        found += f" from {_ist(int(result['first_ns']))} to {_ist(int(result['last_ns']))}"
    return Check(name, True, found + f", {_size(int(result['used_bytes']))} of the file in use")


def _lmdb_cut_short(data: Path) -> str | None:
    """Why ``data`` (an LMDB ``data.mdb``) is shorter than its newest meta page says it
    is, or None when it is not (or when that cannot be told here; LMDB will then say).

    LMDB 0.9 (the format py-lmdb builds) starts the file with two meta pages. On a 64-bit
    build each is a 16-byte page header followed by ``MDB_meta``: magic (u32 0xBEEFC0DE)
    at byte 16, format version at 20, the page size (``mm_dbs[0].md_pad``) at 40, the last
    page number at 136 and the transaction id at 144. The newer valid meta wins; the file
    must then hold ``(last page + 1) * page size`` bytes.
    """
    if struct.calcsize("P") != 8:
        return None  # the offsets above are for 64-bit builds
    size = data.stat().st_size
    with data.open("rb") as file:
        first = file.read(_META_END)
        metas = [_lmdb_meta(first)]
        if metas[0] is not None:
            file.seek(metas[0][0])
            metas.append(_lmdb_meta(file.read(_META_END)))
    valid = [meta for meta in metas if meta is not None]
    if not valid:
        return None  # not LMDB's layout at all: opening it gives LMDB's own message
    page_size, last_page, _ = max(valid, key=lambda meta: meta[2])
    needed = (last_page + 1) * page_size
    if size < needed:
        return (
            f"data.mdb is {_size(size)} ({size:,} bytes) but its last transaction needs "
            f"{_size(needed)} ({needed:,} bytes): the file was cut short"
        )
    return None


_META_END = 152  # bytes of a meta page that _lmdb_meta reads
_LMDB_MAGIC = 0xBEEFC0DE
_LMDB_VERSION = 1


def _lmdb_meta(page: bytes) -> tuple[int, int, int] | None:
    """(page size, last page, transaction id) of one meta page, None if it is not one."""
    if len(page) < _META_END:
        return None
    magic, version = struct.unpack_from("=II", page, 16)
    (page_size,) = struct.unpack_from("=I", page, 40)
    last_page, txnid = struct.unpack_from("=QQ", page, 136)
    if magic != _LMDB_MAGIC or version != _LMDB_VERSION:
        return None
    if page_size < 512 or page_size & (page_size - 1):  # a power of two, as LMDB requires
        return None
    return page_size, last_page, txnid


def _probe_journal(path: Path) -> dict[str, Any]:
    """The journal's stats from a child process: ``{"frames": ...}``, ``{"error": ...,
    "access": bool}`` or ``{"crashed": "SIGSEGV"}``."""
    if not sys.executable:  # embedded interpreters: no way to start a child, read here
        return _journal_stats(path)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"reading it took over {_PROBE_TIMEOUT:.0f} s", "access": False}
    if done.returncode < 0:
        try:
            signame = signal.Signals(-done.returncode).name
        except ValueError:
            signame = f"signal {-done.returncode}"
        return {"crashed": signame}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the journal reader failed: {error}")  # a bug: _guarded says so
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _journal_probe_main() -> None:
    """The child process: print the stats of the journal named in ``sys.argv[1]`` as JSON."""
    print(json.dumps(_journal_stats(Path(sys.argv[1]))))


def _journal_stats(path: Path) -> dict[str, Any]:
    # Imported here: the journal pulls in numpy and the codec, which only this needs.
    from optui.store.journal import Journal, JournalError, split_key  # noqa: PLC0415

    try:
        with Journal(path, readonly=True) as journal:
            stats = journal.stats()
    except JournalError as exc:
        cause = exc.__cause__
        return {"error": _first_line(cause or exc), "access": _is_access_error(cause)}
    return {
        "frames": stats.frames,
        "frame_bytes": stats.frame_bytes,
        "used_bytes": stats.used_bytes,
        "first_ns": None if stats.first_key is None else split_key(stats.first_key)[0],
        "last_ns": None if stats.last_key is None else split_key(stats.last_key)[0],
    }


def _is_access_error(exc: BaseException | None) -> bool:
    """Permissions or a read-only disk, as opposed to damage: every other LMDB error
    (invalid file, missing database, bad page, a transaction spoiled by a bad page) means
    the journal is not what it should be."""
    if isinstance(exc, PermissionError | lmdb.ReadonlyError):
        return True
    return getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM, errno.EROFS)


def _ist(epoch_ns: int) -> str:
    return datetime.fromtimestamp(epoch_ns / 1e9, IST).strftime("%d %b %Y %H:%M:%S IST")


# --------------------------------------------------------------------------------------
# 5. The Parquet archive.


def check_archive(root: str | Path) -> Check:
    """Every Parquet file under the archive root has a readable footer; files in its
    ``quarantine/`` folder (moved there by readers that could not read them) are listed.

    Only footers are read (``pyarrow.parquet.read_metadata``): a file cut short or
    overwritten loses its footer first, and reading every page of years of ticks would take
    far too long for a health check.
    """
    name = ARCHIVE
    text = str(root)
    if "://" in text and not text.startswith("file://"):
        return Check(
            name,
            None,
            f"the archive is at {text}; doctor checks local archives only",
            "Check it with your storage's own tools.",
        )
    folder = Path(text.removeprefix("file://"))
    if not folder.exists():
        return Check(
            name,
            None,
            f"no archive yet at {folder}",
            "`optui collect` writes it, rolling closed minutes into Parquet every "
            "store.roll_interval seconds.",
        )
    import pyarrow as pa  # noqa: PLC0415  (slow to import; only this check needs it)
    import pyarrow.parquet as pq  # noqa: PLC0415

    from optui.store.quarantine import QUARANTINE_DIR, quarantined_files  # noqa: PLC0415

    jail = folder / QUARANTINE_DIR
    files = sorted(p for p in folder.rglob("*.parquet") if not p.is_relative_to(jail))
    quarantined = quarantined_files(folder)
    held = ""
    if quarantined:
        names = [f"{p.relative_to(jail)}" for p in quarantined[:_MAX_LISTED]]
        if len(quarantined) > _MAX_LISTED:
            names.append(f"... and {len(quarantined) - _MAX_LISTED:,} more")
        held = (
            f"\n{len(quarantined):,} file{'s' if len(quarantined) != 1 else ''} in {jail} "
            "(moved there by readers that could not read them; their ticks are missing "
            "from every read):\n" + "\n".join(names)
        )
    restore = (
        f"Restore the files in {jail} from a backup if you have one (under their old names "
        "in the archive); delete them once you no longer need them for diagnosis."
    )
    if not files:
        if quarantined:
            return Check(name, True, f"no readable Parquet files under {folder}{held}", restore)
        return Check(name, None, f"no Parquet files under {folder} yet")
    rows = size = 0
    bad: list[tuple[Path, str]] = []
    for file in files:
        try:
            rows += pq.read_metadata(file).num_rows
            size += file.stat().st_size
        except (OSError, ValueError, pa.ArrowException) as exc:
            bad.append((file, _first_line(exc)))
    summary = f"{len(files):,} Parquet files, {rows:,} rows, {_size(size)} under {folder}"
    # The roller writes `.part-….parquet.tmp` and renames it; one left behind means a roll
    # was interrupted. Harmless (the frames are still in the journal, and the next
    # `optui collect` removes it), so it is mentioned, not failed.
    leftovers = sum(1 for _ in folder.rglob(".*.parquet.tmp"))
    if leftovers:
        summary += (
            f"; {leftovers:,} temporary file{'s' if leftovers != 1 else ''} left by an "
            "interrupted roll (the next `optui collect` removes them)"
        )
    if not bad:
        return Check(name, True, summary + held, restore if quarantined else "")
    listed = [f"{file.relative_to(folder)}: {error}" for file, error in bad[:_MAX_LISTED]]
    if len(bad) > _MAX_LISTED:
        listed.append(f"... and {len(bad) - _MAX_LISTED:,} more")
    return Check(
        name,
        False,
        f"{len(bad):,} of {len(files):,} Parquet files under {folder} are unreadable:\n"
        + "\n".join(listed)
        + held,
        f"Readers (export, replay, the TUI) skip them and move them into {jail} when they meet "
        "them; restore them from a backup if you have one. A file is usually unreadable "
        "because a copy or a disk filled up before it was complete.",
    )


# --------------------------------------------------------------------------------------
# 6. Kite: credentials and the day's access token.


def check_kite(
    settings: Settings,
    *,
    env: Mapping[str, str],
    token_dirs: Sequence[Path],
    now: datetime,
) -> list[Check]:
    """Two checks: the API key and secret, and the access token of the day.

    They apply when the source is Kite or an API key or secret is configured; otherwise
    both are skipped. The secret and the token are only ever tested for presence.
    """
    kite = settings.kite
    if settings.source != "kite" and kite.api_key is None and kite.api_secret is None:
        why = f"not used: source is {settings.source!r} and no Kite app is configured"
        return [Check(KITE_CREDENTIALS, None, why), Check(KITE_LOGIN, None, why)]
    return [_kite_credentials(settings), _kite_login(env, token_dirs, now, kite.api_key)]


def _kite_credentials(settings: Settings) -> Check:
    name = KITE_CREDENTIALS
    kite = settings.kite
    key_fix = (
        "export KITE_API_KEY=<your app's API key> (developers.kite.trade, My apps), "
        'or api_key = "..." under [kite] in config.toml.'
    )
    secret_fix = (
        "export KITE_API_SECRET=<your app's API secret> (developers.kite.trade, My apps); "
        "keep it in the environment, not in config.toml."
    )
    missing = [n for n, v in (("api_key", kite.api_key), ("api_secret", kite.api_secret)) if not v]
    if missing:
        fixes = [key_fix] * ("api_key" in missing) + [secret_fix] * ("api_secret" in missing)
        return Check(
            name,
            False,
            f"missing {' and '.join(missing)} (needed to log in to the live market)",
            "\n".join(fixes),
        )
    detail = f"api_key {mask_api_key(kite.api_key or '')} and api_secret are set"
    if settings.source != "kite":
        detail += f" (source is {settings.source!r}: they are used with --source kite)"
    return Check(name, True, detail)


def _kite_login(
    env: Mapping[str, str], token_dirs: Sequence[Path], now: datetime, api_key: str | None
) -> Check:
    name = KITE_LOGIN
    login_fix = "Log in again: `optui login`. Kite access tokens expire at 06:00 IST every day."
    if env.get(ACCESS_TOKEN_ENV):
        return Check(
            name,
            True,
            f"an access token is set in {ACCESS_TOKEN_ENV}; its age cannot be read from it, "
            "and it works only until the 06:00 IST after the login that issued it",
        )
    files = [d / TOKEN_FILE_NAME for d in token_dirs if (d / TOKEN_FILE_NAME).exists()]
    if not files:
        places = " or ".join(str(d / TOKEN_FILE_NAME) for d in token_dirs)
        return Check(
            name,
            None,
            f"not logged in: no {ACCESS_TOKEN_ENV} and no {places}",
            "`optui login` logs in and keeps the day's token.",
        )
    file = files[0]
    try:
        token = read_token_file(file)
        expires = token.expires_at
        assert expires is not None  # read_token_file refuses a file without either
    except (OSError, ValueError) as exc:
        return Check(
            name,
            False,
            f"cannot read {file}: {exc}",
            f"Delete {file} and log in again (`optui login`).",
        )
    loose = readable_by_others(file)
    if loose is not None:
        return Check(
            name,
            False,
            f"{file} is readable by other users (mode {loose:04o}); the token in it can "
            "trade on your account until it expires",
            f"chmod 600 {file}",
        )
    if api_key and token.api_key != api_key:
        # What the collector would refuse at start (`load_access_token`): say it here first.
        whose = "another API key" if token.api_key else "no API key"
        return Check(
            name,
            False,
            f"the access token in {file} was issued for {whose}, not for the configured "
            f"api_key {mask_api_key(api_key)}",
            "Log in with this app: `optui login` (it replaces the file).",
        )
    shown = describe_until(expires)
    if now >= expires:
        return Check(
            name,
            False,
            f"the access token in {file} expired {shown} ({duration(now - expires)} ago)",
            login_fix,
        )
    return Check(
        name,
        True,
        f"the access token in {file} is valid until {shown} (for {duration(expires - now)})",
    )


def _token_dirs(config_path: Path | None) -> list[Path]:
    """Where a token file may be: beside the config file in use (where ``optui login``
    writes it), and the default config dir."""
    dirs = [Path(config_path).parent] if config_path is not None else []
    default = default_config_file().parent
    return dirs if default in dirs else [*dirs, default]


# --------------------------------------------------------------------------------------
# Secrets never leave.


def _secrets(settings: Settings, env: Mapping[str, str], token_dirs: Sequence[Path]) -> list[str]:
    """Every secret value doctor could have come across."""
    found = []
    if settings.kite.api_secret is not None:
        found.append(settings.kite.api_secret.reveal())
    if env.get(ACCESS_TOKEN_ENV):
        found.append(env[ACCESS_TOKEN_ENV])
    for folder in token_dirs:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((folder / TOKEN_FILE_NAME).read_text(encoding="utf-8"))
            if isinstance(data, dict):
                found += [
                    v
                    for k, v in data.items()
                    if isinstance(v, str) and ("token" in k or "secret" in k)
                ]
    # Very short values would blank out ordinary words; real secrets are long.
    return sorted({s for s in found if len(s) >= 6}, key=len, reverse=True)


def _scrub(checks: list[Check], secrets: Sequence[str]) -> list[Check]:
    if not secrets:
        return checks
    pattern = re.compile("|".join(re.escape(s) for s in secrets))
    return [
        replace(check, detail=pattern.sub("***", check.detail), fix=pattern.sub("***", check.fix))
        for check in checks
    ]


# --------------------------------------------------------------------------------------
# Small formatting helpers.


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 160 else line[:157] + "..."
