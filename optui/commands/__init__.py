"""One module per `optui` subcommand: its arguments, and the function that runs it.

Modules here import heavy libraries (pyarrow, lmdb) inside `run`, so building the parser
stays fast for every command.
"""

from __future__ import annotations

import argparse
from datetime import date


def iso_date(text: str) -> date:
    """argparse `type=` for a YYYY-MM-DD date (its error text becomes the usage message)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date YYYY-MM-DD, got {text!r}") from None


# argparse `type=` converters: the ArgumentTypeError text becomes the usage error message.


def _positive(text: str, what: str) -> float:
    """A finite number above 0, or the usage error naming `what` was expected."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be {what} > 0, got {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0."""
    return _positive(text, "a number of seconds")


def positive_float(text: str) -> float:
    """A finite number above 0."""
    return _positive(text, "a number")


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value}")
    return value


def port(text: str) -> int:
    """A TCP port, 0 meaning any free one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {value}")
    return value
