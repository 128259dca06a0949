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
