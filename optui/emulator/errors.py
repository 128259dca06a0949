"""Kite's error envelope: the exception the emulator's parts raise and the REST layer sends.

Kite answers every failed API call with HTTP status and a JSON body
``{"status": "error", "message": ..., "error_type": ..., "data": null}``; the official client
turns ``error_type`` into the exception class of the same name (`kiteconnect.exceptions`).
Raising `KiteError` anywhere under a route gives exactly that answer.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "GENERAL",
    "INPUT",
    "NETWORK",
    "TOKEN",
    "KiteError",
    "input_error",
    "token_error",
]

TOKEN: Final = "TokenException"
INPUT: Final = "InputException"
NETWORK: Final = "NetworkException"
GENERAL: Final = "GeneralException"

# Kite's message for a missing, malformed or dead api_key/access_token pair.
BAD_TOKEN_MESSAGE: Final = "Incorrect `api_key` or `access_token`."


class KiteError(Exception):
    """An API error as Kite reports it: HTTP status, error type and a message.

    The message goes to the client as is, so it must never hold a secret.
    """

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message

    def envelope(self) -> dict[str, object]:
        return {
            "status": "error",
            "message": self.message,
            "error_type": self.error_type,
            "data": None,
        }


def token_error(message: str = BAD_TOKEN_MESSAGE) -> KiteError:
    """403 TokenException: the session is missing, expired or was never valid."""
    return KiteError(403, TOKEN, message)


def input_error(message: str) -> KiteError:
    """400 InputException: a parameter is missing or wrong."""
    return KiteError(400, INPUT, message)
