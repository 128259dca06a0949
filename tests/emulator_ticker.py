"""Run the official `KiteTicker` against a Kite websocket and print what its parser made of it.

Used by tests/test_emulator.py in a subprocess, because Twisted's reactor cannot be restarted
inside one pytest process. Arguments: API key, websocket root, the tokens to stream in full
mode (comma-separated), the tokens in quote mode, ticks wanted per token, and a time limit in
seconds. The access token comes from the KITE_TICKER_ACCESS_TOKEN environment variable (never
argv, which other users can read). Prints one JSON object: {"ticks": [...], "errors": [...],
"closed": [...]} and exits 0, or 1 if the time limit passed first.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from typing import Any

from kiteconnect import KiteTicker
from twisted.internet import reactor as twisted_reactor

# Twisted's reactor is typed through zope interfaces that mypy reads oddly.
reactor: Any = twisted_reactor


def main(argv: list[str]) -> int:
    api_key, root, full_arg, quote_arg, wanted_arg, limit_arg = argv
    full = [int(t) for t in full_arg.split(",") if t]
    quote = [int(t) for t in quote_arg.split(",") if t]
    wanted, limit = int(wanted_arg), float(limit_arg)
    ticker = KiteTicker(api_key, os.environ["KITE_TICKER_ACCESS_TOKEN"], root=root, reconnect=False)
    ticks: list[dict[str, Any]] = []
    errors: list[str] = []
    closed: list[str] = []
    outcome = {"done": False}
    want_mode = {**{t: "full" for t in full}, **{t: "quote" for t in quote}}
    seen: Counter[int] = Counter()

    def stop() -> None:
        if reactor.running:
            reactor.stop()

    def on_connect(ws: KiteTicker, response: Any) -> None:
        ws.subscribe(full + quote)
        if full:
            ws.set_mode(ws.MODE_FULL, full)
        if quote:
            ws.set_mode(ws.MODE_QUOTE, quote)

    def on_ticks(ws: KiteTicker, batch: list[dict[str, Any]]) -> None:
        ticks.extend(batch)
        for tick in batch:
            if want_mode.get(tick["instrument_token"]) == tick["mode"]:
                seen[tick["instrument_token"]] += 1
        if all(seen[t] >= wanted for t in want_mode) and not outcome["done"]:
            outcome["done"] = True
            ws.close()  # on_close stops the reactor once the closing handshake is done

    def on_close(ws: KiteTicker, code: Any, reason: Any) -> None:
        closed.append(f"{code} {reason}")
        stop()

    def on_error(ws: KiteTicker, code: Any, reason: Any) -> None:
        errors.append(f"{code} {reason}")

    ticker.on_connect = on_connect
    ticker.on_ticks = on_ticks
    ticker.on_close = on_close
    ticker.on_error = on_error
    reactor.callLater(limit, stop)
    ticker.connect()  # runs the reactor until stop()
    print(json.dumps({"ticks": ticks, "errors": errors, "closed": closed}, default=str))
    return 0 if outcome["done"] else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
