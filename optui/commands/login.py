"""`optui login [--status [--check]] [--paste] [--no-browser] [--timeout S]` and `optui logout`.

`login` runs Kite's browser login (`optui.kite.login`) and keeps the day's access token
beside the config file; `--status` says who is logged in and until when without touching
the network (`--check` asks Kite too); `logout` ends the session at Kite and deletes the
token file, even when Kite cannot be reached.

Exit codes: 0 done (status: a usable token), 1 not done (status: none, or expired), 2 a
setting is missing or wrong (through the CLI's SettingsError handling).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from optui.commands import positive_seconds
from optui.settings import Settings

if TYPE_CHECKING:
    from optui.kite.login import LoginOptions, Opener

__all__ = [
    "add_login_arguments",
    "add_logout_arguments",
    "login_command",
    "logout_command",
    "run_login",
    "run_logout",
    "status_command",
]

PROG = "optui"


def add_login_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--status",
        action="store_true",
        help="say who is logged in and until when (exit 0 with a usable token, 1 without); "
        "no network unless --check",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="with --status (implied): also ask Kite whether it accepts the token",
    )
    parser.add_argument(
        "--paste",
        action="store_true",
        help="log in on any machine and paste the address Kite redirected to "
        "(automatic when there is no browser here)",
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="print the login URL without opening a browser, and wait for the redirect "
        "on kite.redirect_url (open the URL yourself, e.g. through an SSH tunnel)",
    )
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=positive_seconds,
        default=None,
        help="seconds to wait for Kite's redirect (default 300)",
    )


def add_logout_arguments(parser: argparse.ArgumentParser) -> None:
    """`optui logout` takes only the global flags."""


def run_login(args: argparse.Namespace) -> int:
    """`optui login`."""
    from optui.cli import settings_from_args  # noqa: PLC0415

    settings = settings_from_args(args)
    config_path: Path | None = getattr(args, "config", None)
    if args.status or args.check:
        return status_command(settings, config_path=config_path, check=args.check)
    from optui.kite.login import DEFAULT_TIMEOUT, LoginOptions  # noqa: PLC0415

    options = LoginOptions(
        paste=args.paste,
        open_browser=not args.no_browser,
        timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
    )
    return login_command(settings, config_path=config_path, options=options)


def run_logout(args: argparse.Namespace) -> int:
    """`optui logout`."""
    from optui.cli import settings_from_args  # noqa: PLC0415

    return logout_command(settings_from_args(args), config_path=getattr(args, "config", None))


def login_command(
    settings: Settings,
    *,
    config_path: Path | None = None,
    options: LoginOptions | None = None,
    opener: Opener | None = None,
    stdin: IO[str] | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> int:
    """Log in and print the outcome; ``opener`` opens the login URL (tests pass their own
    "browser"), the paste flow reads ``stdin``."""
    from optui.kite.credentials import AuthError, describe_until, duration  # noqa: PLC0415
    from optui.kite.login import login  # noqa: PLC0415

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        result = login(
            settings,
            config_path=config_path,
            options=options,
            opener=opener,
            stdin=stdin,
            err=err,
            env=env,
            now=now,
        )
    except AuthError as exc:
        print(f"{PROG}: error: {exc}", file=err)
        return 1
    token = result.token
    assert token.expires_at is not None
    left = token.remaining(now or datetime.now(token.expires_at.tzinfo))
    print(
        f"Logged in to Kite as {token.who()} until {describe_until(token.expires_at)}"
        + (f" ({duration(left)} from now)" if left is not None else "")
        + f".\nThe access token is in {result.path} (readable by you alone).",
        file=out,
    )
    return 0


def status_command(
    settings: Settings,
    *,
    config_path: Path | None = None,
    check: bool = False,
    out: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> int:
    """Print who is logged in and until when; 0 with a usable token, 1 without."""
    from optui.feed.calendar import IST  # noqa: PLC0415
    from optui.kite.credentials import (  # noqa: PLC0415
        ACCESS_TOKEN_ENV,
        AuthError,
        describe_until,
        duration,
        load_access_token,
        mask_api_key,
        token_path,
    )

    out = sys.stdout if out is None else out
    when = datetime.now(IST) if now is None else now
    try:
        token = load_access_token(settings, config_path=config_path, env=env, now=when)
    except AuthError as exc:
        print(_sentence(str(exc)), file=out)
        return 1
    if token.origin == "env":
        print(
            f"Using the access token in {ACCESS_TOKEN_ENV} with api_key "
            f"{mask_api_key(token.api_key)}; who it belongs to and when it expires cannot "
            "be read from it (Kite ends every session at 06:00 IST). It wins over any "
            "token file.",
            file=out,
        )
    else:
        assert token.expires_at is not None
        left = token.remaining(when)
        print(
            f"Logged in to Kite as {token.who()} with api_key {mask_api_key(token.api_key)} "
            f"until {describe_until(token.expires_at)}"
            + (f" ({duration(left)} left)" if left is not None else "")
            + f".\nToken file: {token_path(config_path)}",
            file=out,
        )
    if not check:
        return 0
    return _check_with_kite(settings, token.access_token, out)


def _check_with_kite(settings: Settings, access_token: str, out: IO[str]) -> int:
    from optui.kite.credentials import AuthError  # noqa: PLC0415
    from optui.kite.rest import KiteRest, RestError  # noqa: PLC0415

    try:
        profile = KiteRest(settings, access_token, retries=1).profile()
    except (AuthError, RestError) as exc:
        print(_sentence(f"Kite check failed: {exc}"), file=out)
        return 1
    name = profile.get("user_name") or profile.get("user_shortname") or ""
    user = profile.get("user_id") or ""
    print(f"Kite accepts the token: it belongs to {name} ({user}).".replace(" ()", ""), file=out)
    return 0


def logout_command(
    settings: Settings,
    *,
    config_path: Path | None = None,
    out: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> int:
    """End the session at Kite and delete the token file; 0 when Kite confirmed (or there
    was nothing to do), 1 when the file was deleted but Kite could not be told."""
    from optui.kite.credentials import ACCESS_TOKEN_ENV  # noqa: PLC0415
    from optui.kite.login import logout  # noqa: PLC0415

    out = sys.stdout if out is None else out
    env = os.environ if env is None else env
    result = logout(settings, config_path=config_path, now=now)
    if result.path is None:
        print(_sentence(result.note), file=out)
        code = 0
    elif result.invalidated:
        print(f"Logged out: {result.note}; deleted {result.path}.", file=out)
        code = 0
    else:
        print(f"Deleted {result.path}, but {result.note}.", file=out)
        code = 1
    if env.get(ACCESS_TOKEN_ENV):
        print(
            f"{ACCESS_TOKEN_ENV} is still set in this environment and is used before any "
            "token file; unset it to stop using that token.",
            file=out,
        )
    return code


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
