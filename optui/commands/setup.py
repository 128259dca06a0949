"""`optui init` (write a commented config for a profile) and `optui doctor` (check the setup)."""

from __future__ import annotations

import argparse
import sys

from optui.settings import SettingsError, config_file
from optui.setup_profiles import PROFILE_SUMMARIES, PROFILES

__all__ = ["add_doctor_arguments", "add_init_arguments", "run_doctor", "run_init"]


def add_init_arguments(parser: argparse.ArgumentParser) -> None:
    summaries = "; ".join(f"{name}: {text}" for name, text in PROFILE_SUMMARIES.items())
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="first-time",
        help=f"what the setup is for ({summaries})",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing config file")


def run_init(args: argparse.Namespace) -> int:
    """Write the profile's config.toml where optui reads it (settings are not loaded: the
    existing file may be the broken one being replaced)."""
    from optui.setup_profiles import write_profile  # noqa: PLC0415

    path = config_file(getattr(args, "config", None))
    try:
        write_profile(args.profile, path, force=args.force)
    except (FileExistsError, IsADirectoryError) as exc:
        print(f"optui: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({args.profile}); check the setup with `optui doctor`")
    return 0


def add_doctor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ascii", action="store_true", help="plain ASCII marks instead of ✓ ✗")


def run_doctor(args: argparse.Namespace) -> int:
    """Check the setup and say how to fix what is wrong; exit 1 when anything failed."""
    from optui import doctor  # noqa: PLC0415
    from optui.cli import settings_from_args  # noqa: PLC0415

    path = config_file(getattr(args, "config", None))
    try:
        checks = doctor.run_checks(settings_from_args(args), config_path=path)
    except SettingsError as exc:
        checks = doctor.invalid_settings_checks(exc)
    print(doctor.render(checks, ascii_only=args.ascii), end="")
    return doctor.exit_code(checks)
