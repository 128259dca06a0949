"""Setup profiles: ready-made, commented ``config.toml`` files for ``optui init --profile``.

Three profiles cover the ways optui is run:

``first-time``
    The simulated market, no account, a small universe: see what optui does in a minute.
``development``
    Live Kite data and everything visible, for working on optui or on your own setup.
``production``
    A headless collector (``optui collect`` under systemd, cron or a container) that records
    every tick: paths pinned, every journal write synced, logs a machine can read.

The file a profile writes is documentation as much as configuration: every setting optui has
appears in it, either set (the profile chose that value, and the comment says why) or as a
commented-out example showing the default. A setting the profile would like but optui does
not have yet is written as a commented-out line marked ``(planned)``; it must stay commented,
because optui rejects unknown keys. Secrets are never written: the Kite credentials are
commented placeholders that point at ``KITE_API_KEY`` and ``KITE_API_SECRET``.

Line forms in a rendered profile (``tests/test_setup_profiles.py`` relies on them):

- ``key = value``: set by the profile;
- ``# key = value``: an optional setting; delete ``# `` to use it;
- ``# key = value  # (planned) ...``: not a setting yet; uncommenting it is an error today;
- any other ``#`` line is prose, and never looks like ``# key = value``.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from optui.paths import default_cache_dir, default_data_dir, default_log_dir, write_private
from optui.settings import UNDERLYINGS

__all__ = ["PROFILES", "PROFILE_SUMMARIES", "render_profile", "write_profile"]

PROFILES: tuple[str, ...] = ("first-time", "development", "production")

PROFILE_SUMMARIES: dict[str, str] = {
    "first-time": "the simulated market, no account needed, a small universe",
    "development": "live Kite data, everything visible, debug logs once optui has them",
    "production": "headless collector: live Kite, pinned paths, synced writes, JSON logs",
}
"""One line per profile, for ``--profile``'s help text."""

_WIDTH = 96  # comment lines stay inside the project's 100-column habit, with room for "# "
_PLANNED = "(planned)"
_NBSP = "\x00"  # stands in for a space that must not be wrapped; never in the text itself

# What each setting does, the same in every profile. Keyed by dotted name, as in
# `optui.settings.env_var_names()`; the profile adds why it chose its value.
_ABOUT: dict[str, str] = {
    "source": (
        'Where market data comes from: "demo" (a simulated session, no account, no network), '
        '"kite" (the live market; needs a Kite Connect app and a login each day) or "replay".'
    ),
    "underlyings": (
        "The indices whose options optui follows: any of NIFTY, BANKNIFTY, FINNIFTY, "
        "MIDCPNIFTY and SENSEX."
    ),
    "price": (
        'The price every screen shows: "last" traded price or "average" traded price '
        "(Kite's VWAP for the day)."
    ),
    "theme": 'Screen colours: "dark" or "light".',
    "data_dir": "Where the LMDB journal and the Parquet archive live (the archive is kept "
    "forever).",
    "cache_dir": "Files optui can download again (the daily instruments list).",
    "log_dir": "Where log files go (`optui collect` keeps collect.log there).",
    "demo.seed": "Random seed of the simulated market: the same seed replays the same market.",
    "demo.tick_interval": "Simulated seconds between two ticks of one instrument.",
    "demo.speed": "Simulated seconds per wall-clock second (2 runs the session twice as fast).",
    "demo.instruments": (
        "Exact number of simulated instruments; without it the universe has about 2,500."
    ),
    "kite.api_key": (
        "Your Kite Connect app's API key (developers.kite.trade, My apps). The environment "
        "variable KITE_API_KEY sets it too, and wins over this file."
    ),
    "kite.api_secret": (
        "Your app's API secret. Do not write it here: export KITE_API_SECRET=... in the "
        "environment instead, so it stays out of files, backups and dotfile repositories. "
        "optui never prints it (`optui config` shows ***)."
    ),
    "kite.api_url": "Kite's REST endpoint; change it only for a proxy or a test server.",
    "kite.ws_url": "Kite's websocket endpoint; change it only for a proxy or a test server.",
    "kite.redirect_url": (
        "Must be exactly the redirect URL registered for your app on the Kite developer "
        "console, or the daily login fails."
    ),
    "kite.login_url": "Kite's login page; `optui emulate` prints its own for trying optui out.",
    "kite.expiries": "Option expiries to stream per underlying, nearest first.",
    "kite.strikes": (
        "Strikes each side of the at-the-money strike to stream; the plan re-centres as "
        "the index moves, without reconnecting."
    ),
    "kite.connections": (
        "Websockets to use, at most Kite's 3 per API key (3000 instruments each). A TUI "
        "and a collector on one key share the 3; optui uses only as many as it needs."
    ),
    "nse.archive_url": "NSE's folder of daily participant files (`optui participants fetch`).",
    "nse.request_delay": "Seconds between requests to NSE; it blocks clients that hurry.",
    "nse.max_requests": "Requests one `optui participants fetch` may make; the next run continues.",
    "analytics.rate": (
        "Risk-free rate as a fraction (0.065 = 6.5 %). Black-76 on a put-call-parity forward "
        "only uses it to discount, so 0 is a sound value, not a placeholder."
    ),
    "analytics.model": 'How IV and greeks are computed: "black76" or "nse-black-scholes".',
    "analytics.expiry_time": "Time of day (IST, HH:MM) at which options expire.",
    "store.archive": (
        "Archive root: a folder, or a pyarrow filesystem URI such as s3://bucket/prefix. "
        "Default: the archive folder inside data_dir."
    ),
    "store.collector_id": (
        "The name this collector's files carry in a shared archive. Default: the host name."
    ),
    "store.roll_interval": (
        "Seconds between rolls of closed minutes from the journal into the Parquet archive."
    ),
    "store.sync": (
        "Commit every journal write to the disk before going on; off risks losing or "
        "corrupting recent data if the machine (not just optui) crashes."
    ),
    "store.disk_warn_mb": (
        "Warn on every screen and in the collector's log when the data folder's disk has "
        "less free than this many MiB."
    ),
    "store.disk_critical_mb": (
        "Below this many MiB free the warning turns critical: writes are about to fail."
    ),
    # Planned: not settings yet (see the module docstring); described here all the same.
    "log_level": 'How much the logs say: "debug", "info", "warning" or "error".',
    "log_format": 'How log lines are written: "json" (what they are today) or "text".',
}

_SECTION_NOTES: dict[str, str] = {
    "demo": 'The simulated market, used whenever `source = "demo"` (or with `--source demo`).',
    "kite": (
        "Kite Connect. Create an app at developers.kite.trade to get an API key and secret; "
        "both are needed only for the live market. Kite access tokens expire at 06:00 IST "
        "every day, so the live market needs a fresh login each morning."
    ),
    "analytics": "How implied volatility and greeks are computed.",
    "nse": "Where NSE's daily participant files are fetched from, and how politely.",
    "store": "The journal (every frame as it arrived) and the archive (Parquet, by day).",
}

_INTRO: dict[str, str] = {
    "first-time": (
        "Try optui on the simulated market: no Kite account, no network, and a smaller "
        "universe that runs lightly on any laptop. The demo speaks Kite's exact binary "
        "protocol, so what you see is what live data will look like. When you have a Kite "
        'Connect app, set `source = "kite"` and the credentials below (or write the '
        "development profile with `optui init --profile development --force`)."
    ),
    "development": (
        "Work on optui, or on your own setup, against the live market: real ticks, real "
        "instruments, real errors, and the whole universe. `--source demo` switches one run "
        "back to the simulated market."
    ),
    "production": (
        "A headless collector (`optui collect`, run by systemd, cron or a container) that "
        "records every tick of the live market into the journal and rolls it into the "
        "archive. Paths are pinned, every journal write is synced, logs are for machines."
    ),
}

_State = Literal["set", "example", "planned"]
_Value = str | int | float | bool | Sequence[str]


@dataclass(frozen=True)
class _Entry:
    """One ``key = value`` line of a profile and the comment above it."""

    key: str
    """Dotted name (``demo.seed``); the file shows only the part after the section."""
    value: _Value
    state: _State = "example"
    """set: written as a setting; example: commented out; planned: not a setting yet."""
    why: str = ""
    """Why this profile chose the value (added to the setting's generic description)."""


def render_profile(profile: str) -> str:
    """The commented ``config.toml`` text for ``profile`` (one of :data:`PROFILES`).

    Path defaults are the platform's, evaluated now, so the comments show the real locations
    on this machine. Raises ``ValueError`` for an unknown profile.
    """
    entries = _entries(profile)
    lines = [
        f"# optui configuration: the {profile} profile, written by "
        f"`optui init --profile {profile}`.",
        "#",
        *_comment(_INTRO[profile]),
        "#",
        *_comment(
            "Lines of the form `key = value` are set by this profile; the comment above each "
            "says what it does and why it has this value. Lines like `# key = value` are "
            "optional settings at their default: delete the '# ' to use one. Lines marked "
            f"{_PLANNED} name settings optui does not read yet: leave them commented, "
            "because an unknown key is an error."
        ),
        "#",
        *_comment(
            "Precedence: this file < OPTUI_* environment variables < command-line flags. "
            "`optui config` shows the effective settings, `optui doctor` checks the setup."
        ),
    ]
    # TOML wants every top-level key before the first [table], so sections are emitted in
    # order, top level first.
    for section in ("", "demo", "kite", "analytics", "nse", "store"):
        in_section = [e for e in entries if _section_of(e.key) == section]
        if section:
            lines += ["", f"[{section}]", *_comment(_SECTION_NOTES[section])]
        for entry in in_section:
            lines += ["", *_entry_lines(entry)]
    return "\n".join(lines) + "\n"


def write_profile(profile: str, path: Path, *, force: bool = False) -> Path:
    """Write :func:`render_profile` ``(profile)`` to ``path`` and return ``path``.

    Refuses to replace an existing file unless ``force`` (a config the user edited is not
    something to lose to a repeated ``optui init``). Parent folders are created. The write is
    atomic and the file is private (mode 0o600) via :func:`optui.paths.write_private`: the
    file invites the user to add Kite credentials, so it starts out readable by them only.

    The existence check and the write are two steps; a file created in between by another
    process would be replaced. For a command a person runs by hand that window is accepted
    rather than making the write depend on hard links, which some filesystems lack.
    """
    text = render_profile(profile)  # first: an unknown profile must not touch the disk
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give the path of the config file")
    if not force and (path.exists() or path.is_symlink()):
        raise FileExistsError(
            f"{path} already exists; pass --force to overwrite it "
            "(or choose another file with --config)"
        )
    write_private(path, text.encode("utf-8"))
    return path


# --------------------------------------------------------------------------------------
# The profiles. Each lists every setting optui has (tests check that), in file order.


def _entries(profile: str) -> list[_Entry]:
    if profile == "first-time":
        return _first_time()
    if profile == "development":
        return _development()
    if profile == "production":
        return _production()
    raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")


def _first_time() -> list[_Entry]:
    return [
        _Entry(
            "source",
            "demo",
            "set",
            "First time: the demo needs no account and no network, so optui works at once.",
        ),
        _Entry(
            "underlyings",
            ["NIFTY", "BANKNIFTY"],
            "set",
            "First time: the two most traded indices keep the first look small; add the "
            "others whenever you like.",
        ),
        _Entry("price", "last"),
        _Entry("theme", "dark"),
        _Entry("data_dir", str(default_data_dir()), why="Demo data can be deleted any time."),
        _Entry("cache_dir", str(default_cache_dir())),
        _Entry("log_dir", str(default_log_dir())),
        _Entry("demo.seed", 7),
        _Entry("demo.tick_interval", 1.0),
        _Entry("demo.speed", 1.0),
        _Entry(
            "demo.instruments",
            1000,
            "set",
            "First time: 1,000 means less CPU and a smaller journal while you look around; "
            "delete the line for the full universe.",
        ),
        *_kite_entries(redirect="example", why_key='Only needed with `source = "kite"`.'),
        *_analytics_entries(),
        _Entry("store.archive", str(default_data_dir() / "archive")),
        _Entry("store.collector_id", "laptop"),
        _Entry("store.roll_interval", 60.0),
        _Entry("store.sync", True),
        _Entry("store.disk_warn_mb", 2048),
        _Entry("store.disk_critical_mb", 512),
    ]


def _development() -> list[_Entry]:
    dev_data = default_data_dir().with_name(default_data_dir().name + "-dev")
    return [
        _Entry(
            "source",
            "kite",
            "set",
            "Development: live data shows real instruments, real ticks and real errors.",
        ),
        _Entry("underlyings", list(UNDERLYINGS)),
        _Entry("price", "last"),
        _Entry("theme", "dark"),
        _Entry(
            "data_dir",
            str(dev_data),
            why="Uncomment to keep development data apart from a production collector on "
            "this machine: a second collector on the same data_dir is refused.",
        ),
        _Entry("cache_dir", str(default_cache_dir())),
        _Entry("log_dir", str(default_log_dir())),
        _Entry(
            "log_level",
            "debug",
            "planned",
            "Development wants debug logs: every frame, reconnect and REST call.",
        ),
        _Entry("demo.seed", 7),
        _Entry("demo.tick_interval", 1.0),
        _Entry("demo.speed", 1.0),
        _Entry(
            "demo.instruments",
            9000,
            why="9,000 is about Kite's heaviest live load (3 connections of 3,000 "
            "instruments): a stress test without an account.",
        ),
        *_kite_entries(redirect="set", why_key=""),
        *_analytics_entries(),
        _Entry("store.archive", str(default_data_dir() / "archive")),
        _Entry("store.collector_id", "dev"),
        _Entry("store.roll_interval", 60.0),
        _Entry("store.sync", True),
        _Entry("store.disk_warn_mb", 2048),
        _Entry("store.disk_critical_mb", 512),
    ]


def _production() -> list[_Entry]:
    pinned = (
        "Production: pinned rather than left to the default, because a service may run "
        "with another HOME or XDG_* variables than your shell, and the TUI must find the "
        "same files."
    )
    return [
        _Entry(
            "source",
            "kite",
            "set",
            "Production: the collector records the live market.",
        ),
        _Entry(
            "underlyings",
            list(UNDERLYINGS),
            "set",
            "Production: all five, explicitly. The archive is kept forever, and a day that "
            "was not recorded can never be recorded later.",
        ),
        _Entry("price", "last", why="Only screens use it; the archive keeps both prices."),
        _Entry("theme", "dark"),
        _Entry(
            "data_dir",
            str(default_data_dir()),
            "set",
            pinned + " Give it a disk with room: the journal holds raw frames (several GiB "
            "for a busy day of the full universe) until they are rolled into compressed "
            "Parquet.",
        ),
        _Entry("cache_dir", str(default_cache_dir()), "set", "Production: pinned, as data_dir."),
        _Entry(
            "log_dir",
            str(default_log_dir()),
            "set",
            "Production: pinned, as data_dir. collect.log holds one JSON object per line.",
        ),
        _Entry(
            "log_level",
            "info",
            "planned",
            "Production: starts, stops, reconnects, rolls and errors, without per-frame noise.",
        ),
        _Entry(
            "log_format",
            "json",
            "planned",
            "Production: JSON lines for journald, Loki or jq. Every log file (optui.log, "
            "errors.log, auth.log, collect.log) is JSON lines already; a text format for "
            "people reading the files is what this would add.",
        ),
        _Entry("demo.seed", 7),
        _Entry("demo.tick_interval", 1.0),
        _Entry("demo.speed", 1.0),
        _Entry("demo.instruments", 9000),
        *_kite_entries(
            redirect="set",
            why_key="",
            why_secret="In a service, put it in the unit's environment file (systemd "
            "EnvironmentFile=, mode 600), not here.",
        ),
        *_analytics_entries(),
        _Entry(
            "store.archive",
            "s3://your-bucket/optui",
            why="An archive off this machine (object storage, a NAS) survives the loss of "
            "its disk.",
        ),
        _Entry(
            "store.collector_id",
            "collector-1",
            why="Set a stable name when the host name changes (containers, autoscaling): "
            "files in a shared archive carry it.",
        ),
        _Entry(
            "store.roll_interval",
            60.0,
            "set",
            "Production: closed minutes reach the archive within about two minutes; the "
            "journal keeps them safely until then.",
        ),
        _Entry(
            "store.sync",
            True,
            "set",
            "Production: durable. Each journal commit reaches the disk before optui goes on, "
            "so a power cut loses nothing that was committed.",
        ),
        _Entry(
            "store.disk_warn_mb",
            10240,
            "set",
            "Production: a day at full Kite load journals gigabytes; hear about a filling "
            "disk (DISK LOW on every screen, `optui events`, exit 1 from it) hours ahead.",
        ),
        _Entry(
            "store.disk_critical_mb",
            2048,
            "set",
            "Production: below this the collector's warning turns critical; at a full disk it "
            "stops with exit code 4, keeping everything committed.",
        ),
    ]


def _kite_entries(*, redirect: _State, why_key: str, why_secret: str = "") -> tuple[_Entry, ...]:
    # Credentials are always commented placeholders: a profile must never hold a secret,
    # and an api_key in a file tends to drag the secret in next to it.
    return (
        _Entry("kite.api_key", "your-api-key", why=why_key),
        _Entry("kite.api_secret", "your-api-secret", why=why_secret),
        _Entry("kite.api_url", "https://api.kite.trade"),
        _Entry("kite.ws_url", "wss://ws.kite.trade"),
        _Entry("kite.redirect_url", "http://127.0.0.1:5000/success", redirect),
        _Entry("kite.login_url", "https://kite.zerodha.com/connect/login"),
        _Entry("kite.expiries", 2),
        _Entry("kite.strikes", 20),
        _Entry("kite.connections", 3),
    )


def _analytics_entries() -> tuple[_Entry, ...]:
    return (
        _Entry("analytics.rate", 0.0),
        _Entry("analytics.model", "black76"),
        _Entry("analytics.expiry_time", "15:30"),
        _Entry("nse.archive_url", "https://nsearchives.nseindia.com/content/nsccl"),
        _Entry("nse.request_delay", 2.0),
        _Entry("nse.max_requests", 100),
    )


# --------------------------------------------------------------------------------------
# Rendering.


def _section_of(key: str) -> str:
    return key.partition(".")[0] if "." in key else ""


def _entry_lines(entry: _Entry) -> list[str]:
    about = _ABOUT.get(entry.key, "")
    text = " ".join(part for part in (about, entry.why) if part)
    name = entry.key.rpartition(".")[2]
    assignment = f"{name} = {_toml_value(entry.value)}"
    if entry.state == "set":
        return [*_comment(text), assignment]
    if entry.state == "example":
        return [*_comment(text), f"# {assignment}"]
    note = f"{_PLANNED} not a setting yet: uncommenting this line is an error for now"
    return [*_comment(text), f"# {assignment}  # {note}"]


def _comment(text: str) -> list[str]:
    # Spaces inside `code spans` are made unbreakable for the wrap, so a command such as
    # `optui init --profile development` is never split across two comment lines.
    glued = re.sub(r"`[^`]*`", lambda m: m.group().replace(" ", _NBSP), text)
    wrapped = textwrap.wrap(glued, _WIDTH, break_on_hyphens=False, break_long_words=False)
    return [f"# {line.replace(_NBSP, ' ')}" for line in wrapped]


def _toml_value(value: _Value) -> str:
    # A tiny emitter for the few types settings hold (tomllib only reads, and a TOML
    # writer is not worth a dependency).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    return "[" + ", ".join(_toml_string(item) for item in value) + "]"


def _toml_string(text: str) -> str:
    """A TOML basic string: backslashes (Windows paths), quotes and control characters
    escaped."""
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
