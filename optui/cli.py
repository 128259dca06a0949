"""The ``optui`` command: a bare ``optui`` opens the TUI, subcommands do everything else.

Adding a subcommand (``collect``, ``login``, ``replay`` ...) means writing two functions, one
that adds its arguments and one that runs it and returns an exit code, and listing them in
:data:`COMMANDS`. Every subcommand gets the global flags (``--config``, ``--data-dir``,
``--source``, ``--seed``, ``--speed``, ``--version``) and the shared error handling: a
:class:`~optui.settings.SettingsError` prints ``optui: error: ...`` and exits 2, Ctrl-C
exits 130 without a traceback.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path

from optui import __version__
from optui.commands import backup as backup_command
from optui.commands import collect as collect_command
from optui.commands import emulate as emulate_command
from optui.commands import events as events_command
from optui.commands import export as export_command
from optui.commands import iso_date, positive_int
from optui.commands import login as login_command
from optui.commands import participants as participants_command
from optui.commands import replay as replay_command
from optui.commands import roll as roll_command
from optui.commands import setup as setup_command
from optui.commands import status as status_command
from optui.settings import (
    CONFIG_ENV_VAR,
    SOURCES,
    Settings,
    SettingsError,
    config_file,
    load_settings,
    render_toml,
)

__all__ = ["COMMANDS", "Command", "build_parser", "main", "settings_from_args"]

PROG = "optui"

# Global flag (argparse dest) -> (settings key, flag as typed). The flag name goes into
# error messages so the user is told which flag to fix.
_FLAG_SETTINGS: dict[str, tuple[str, str]] = {
    "data_dir": ("data_dir", "--data-dir"),
    "source": ("source", "--source"),
    "seed": ("demo.seed", "--seed"),
    "speed": ("demo.speed", "--speed"),
    "kite_api_url": ("kite.api_url", "--kite-api-url"),
    "kite_ws_url": ("kite.ws_url", "--kite-ws-url"),
}


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help, and the two functions that make it."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run optui with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # --help, --version and usage errors: argparse has printed what it had to; return
        # the code instead of raising so main() always returns an int.
        return _exit_code(exc)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except SettingsError as exc:
        # A user mistake, fully described by the message: no traceback.
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        _log_config_error(args, str(exc))
        return 2
    except KeyboardInterrupt:
        return 130  # 128 + SIGINT, what shells report for Ctrl-C


def _log_config_error(args: argparse.Namespace, message: str) -> None:
    """Keep a wrong setting as a `config.invalid` event in the log files too, so a collector
    started by a service manager or cron leaves its reason in `errors.log` beside every
    other failure. The settings could not be read, so the folder is ``OPTUI_LOG_DIR`` or
    the platform's default log folder (a `log_dir` in the config file is not known here).
    Logging must never hide the message: a failure here is ignored."""
    import logging  # noqa: PLC0415 - only on this error path

    from optui.events import Event  # noqa: PLC0415
    from optui.logs import log_to_file  # noqa: PLC0415
    from optui.paths import default_log_dir  # noqa: PLC0415

    command = getattr(args, "command", None) or "the app"
    event = Event(
        time=_time.time(),
        kind="config",
        severity="error",
        code="config.invalid",
        message=message,
        details={"command": str(command)},
        did=f"Did not start {command}: exit code 2.",
        do="Fix the setting the message names (`optui config` shows the settings in force "
        "and where each comes from), then start it again.",
        needs_user=True,
        source="cli",
    )
    try:
        folder = os.environ.get("OPTUI_LOG_DIR") or str(default_log_dir())
        log_to_file(Path(folder).expanduser())
        logging.getLogger("optui.events").error("%s", event.message, extra={"optui_event": event})
    except (OSError, ValueError):
        pass


def build_parser() -> argparse.ArgumentParser:
    """The full parser: global flags, the bare-``optui`` TUI default and every subcommand."""
    common = _global_options()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Keyboard-first terminal app for Indian index options. With no command, opens "
            "the TUI (on the demo market unless settings say otherwise)."
        ),
        epilog=(
            f"Settings come from config.toml (see `{PROG} config --path`; {CONFIG_ENV_VAR} "
            "selects another file), then OPTUI_* environment variables (OPTUI_SOURCE, "
            "OPTUI_DEMO__SEED, ...), then flags. `optui config` shows the result."
        ),
        parents=[common],
    )
    parser.add_argument(
        "--attach",
        action="store_true",
        help="open the TUI on the store of a collector that runs elsewhere (read-only; "
        "with --data-dir DIR for its data dir)",
    )
    parser.set_defaults(run=run_tui)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name, help=command.help, description=command.help, parents=[common]
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def _global_options() -> argparse.ArgumentParser:
    """Flags accepted both before and after the subcommand name.

    ``default=SUPPRESS`` matters: the subparser's defaults would otherwise overwrite a value
    given before the subcommand (``optui --seed 3 config``) with ``None``.
    """
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("settings")
    suppress = argparse.SUPPRESS
    group.add_argument(
        "--config", metavar="PATH", type=Path, default=suppress, help="config file to read"
    )
    group.add_argument(
        "--data-dir", metavar="DIR", default=suppress, help="where the journal and archive live"
    )
    group.add_argument(
        "--source", choices=SOURCES, default=suppress, help="where market data comes from"
    )
    # --seed and --speed stay strings here so the settings layer validates them and reports
    # the same "must be ..." message as for the file and the environment.
    group.add_argument("--seed", metavar="N", default=suppress, help="demo market random seed")
    group.add_argument(
        "--speed",
        metavar="X",
        default=suppress,
        help="demo market and replay: simulated seconds per wall-clock second",
    )
    group.add_argument(
        "--kite-api-url",
        metavar="URL",
        default=suppress,
        help="Kite REST endpoint (default https://api.kite.trade; `optui emulate` prints its own)",
    )
    group.add_argument(
        "--kite-ws-url",
        metavar="URL",
        default=suppress,
        help="Kite websocket endpoint (default wss://ws.kite.trade)",
    )
    group.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return common


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Load the settings with the global flags of ``args`` on top."""
    overrides = {key: getattr(args, dest, None) for dest, (key, _) in _FLAG_SETTINGS.items()}
    names = dict(_FLAG_SETTINGS.values())
    return load_settings(getattr(args, "config", None), overrides=overrides, override_names=names)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


# --------------------------------------------------------------------------------------
# Bare `optui`: the TUI.


def run_tui(args: argparse.Namespace) -> int:
    """Open the TUI with the effective settings."""
    settings = settings_from_args(args)
    # Imported here, not at the top: Textual is slow to import, and `optui config` or a
    # headless `optui collect` should not pay for a UI they never show.
    from optui.tui.app import run_app  # noqa: PLC0415

    if getattr(args, "attach", False):
        from optui.feed.attach import AttachedFeed  # noqa: PLC0415

        return run_app(settings, feed=AttachedFeed(settings))
    return run_app(settings, getattr(args, "config", None))


# --------------------------------------------------------------------------------------
# optui config


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--path", action="store_true", help="print only the path of the config file"
    )


def run_config(args: argparse.Namespace) -> int:
    """Print the effective settings as TOML (secrets masked), or just the file's path."""
    path = config_file(getattr(args, "config", None))
    if args.path:
        # Deliberately does not load the settings: this must work when the file is broken,
        # because finding the file is the first step in fixing it.
        print(path)
        return 0
    print(render_toml(settings_from_args(args), config_path=path), end="")
    return 0


# --------------------------------------------------------------------------------------
# optui demo-frames

# Record header of the demo-frames file: the frame's length, 4 bytes big-endian (Kite's
# own frames are big-endian too). A frame holds at most 65535 packets of at most 184 bytes,
# so 2 bytes would not do.
_FRAME_LENGTH = struct.Struct(">I")


def _demo_frames_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--count",
        metavar="N",
        type=positive_int,
        default=60,
        help="simulated seconds of market to produce (default 60)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        type=Path,
        help="write the frames here, each as a 4-byte big-endian length then the frame",
    )
    parser.add_argument(
        "--session",
        metavar="DATE",
        type=iso_date,
        help="trading day to simulate, YYYY-MM-DD (default: the one the TUI's demo shows)",
    )
    parser.add_argument(
        "--start",
        metavar="HH:MM",
        type=_clock_time,
        help="IST time of day to start at (default: 09:15 with --session)",
    )


def run_demo_frames(args: argparse.Namespace) -> int:
    """Run the demo market for ``--count`` simulated seconds; write its frames and/or report
    frames, packets and bytes. Deterministic for a seed, session and start."""
    # Lazy: numpy and the simulator are not needed by the other commands.
    from optui.feed.calendar import MARKET_OPEN, demo_session, epoch_at  # noqa: PLC0415
    from optui.feed.simulator import DemoMarket  # noqa: PLC0415

    settings = settings_from_args(args)
    if args.session is not None:
        session: date = args.session
        start = float(epoch_at(session, args.start or MARKET_OPEN))
    else:
        chosen = demo_session(_time.time())
        session = chosen.session
        start = float(epoch_at(session, args.start) if args.start else chosen.start)
    try:
        market = DemoMarket(
            settings.demo.seed,
            session,
            start=start,
            rate=settings.analytics.rate,
            tick_interval=settings.demo.tick_interval,
            instruments=settings.demo.instruments,
        )
    except ValueError as exc:
        # Not a trading day, a start outside market hours, too few instruments: all choices
        # the user made, so report them like any other bad setting.
        raise SettingsError(f"demo market: {exc}") from None

    frames = packets = payload = 0
    try:
        out = args.out.open("wb") if args.out is not None else None
    except OSError as exc:
        print(f"{PROG}: error: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        # One simulated second at a time, so memory stays flat however long the run.
        for second in range(args.count):
            for frame in market.advance_to(start + second):
                frames += 1
                packets += int.from_bytes(frame[:2], "big")
                payload += len(frame)
                if out is not None:
                    out.write(_FRAME_LENGTH.pack(len(frame)))
                    out.write(frame)
    finally:
        if out is not None:
            out.close()

    print(f"session     {session.isoformat()}")
    print(f"seed        {settings.demo.seed}")
    print(f"instruments {len(market.instruments)}")
    print(f"seconds     {args.count}")
    print(f"frames      {frames}")
    print(f"packets     {packets}")
    print(f"bytes       {payload}")
    if args.out is not None:
        print(f"written     {args.out} ({payload + frames * _FRAME_LENGTH.size} bytes)")
    return 0


# argparse `type=` converters: ArgumentTypeError text becomes the usage error message.


def _clock_time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a time HH:MM, got {text!r}") from None


# --------------------------------------------------------------------------------------
# The table of subcommands. Later issues append here.

COMMANDS: tuple[Command, ...] = (
    Command(
        "login",
        "log in to Kite (browser, or --paste) and keep the day's access token; "
        "--status says who and until when",
        login_command.add_login_arguments,
        login_command.run_login,
    ),
    Command(
        "logout",
        "end the Kite session and delete the stored access token",
        login_command.add_logout_arguments,
        login_command.run_logout,
    ),
    Command(
        "collect",
        "run headless: keep every tick in the journal and roll closed minutes into the archive",
        collect_command.add_arguments,
        collect_command.run,
    ),
    Command(
        "export",
        "write the ticks of a date range (archive and journal) as Parquet, Arrow or CSV",
        export_command.add_arguments,
        export_command.run,
    ),
    Command(
        "roll",
        "move everything journalled into the archive now (asks a running collector to)",
        roll_command.add_arguments,
        roll_command.run,
    ),
    Command(
        "replay",
        "feed an archived day back through the engine at N times its pace",
        replay_command.add_arguments,
        replay_command.run,
    ),
    Command(
        "status",
        "what is stored (days, ticks, bytes, journal backlog) and whether a collector runs",
        status_command.add_arguments,
        status_command.run,
    ),
    Command(
        "events",
        "what went wrong and what optui did, from a collector's journal; the problems still "
        "to fix (exit 1 while any is open)",
        events_command.add_arguments,
        events_command.run,
    ),
    Command(
        "backup",
        "copy the journal (live, consistent) and new archive files to DEST",
        backup_command.add_arguments,
        backup_command.run,
    ),
    Command(
        "init",
        "write a commented config.toml for a profile: first-time, development or production",
        setup_command.add_init_arguments,
        setup_command.run_init,
    ),
    Command(
        "doctor",
        "check the setup (config, data dir, disk, journal, archive, Kite) and say how to fix it",
        setup_command.add_doctor_arguments,
        setup_command.run_doctor,
    ),
    Command(
        "config",
        "show the effective settings as TOML (secrets masked) and where files go",
        _config_arguments,
        run_config,
    ),
    Command(
        "participants",
        "NSE participant-wise OI and volume: import files, fetch missing days, show a day",
        participants_command.add_arguments,
        participants_command.run,
    ),
    Command(
        "emulate",
        "serve a Kite Connect emulator on 127.0.0.1 (REST, login, websocket) fed by the demo "
        "market, with faults on demand",
        emulate_command.add_arguments,
        emulate_command.run,
    ),
    Command(
        "demo-frames",
        "run the demo market for N seconds and write its Kite frames or report their size",
        _demo_frames_arguments,
        run_demo_frames,
    ),
)


if __name__ == "__main__":
    raise SystemExit(main())
