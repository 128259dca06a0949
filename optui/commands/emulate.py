"""`optui emulate`: run the Kite emulator on 127.0.0.1 until Ctrl-C or SIGTERM.

It serves Kite's REST API, login page and websocket protocol from the demo market (the
global ``--seed`` and ``--speed`` choose it), so optui, or any program using the official
`kiteconnect` client, can be pointed at it exactly as at Kite. Faults can be scheduled from
the start (``--fault drop@30``) or injected while it runs (``POST /_emulator/fault/NAME``),
to watch a client recover.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, TextIO

from optui.commands import port, positive_float, positive_int
from optui.stop_flag import StopFlag, stop_on_signals

if TYPE_CHECKING:
    from optui.emulator.faults import ScheduledFault
    from optui.emulator.server import Emulator

__all__ = ["DEFAULT_PORT", "EXIT_PORT_IN_USE", "add_arguments", "run", "serve"]

DEFAULT_PORT = 5010
EXIT_PORT_IN_USE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        metavar="P",
        type=port,
        default=DEFAULT_PORT,
        help=f"REST API port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--ws-port",
        metavar="Q",
        type=port,
        default=None,
        help="websocket port (default: P+1; 0 picks a free one)",
    )
    parser.add_argument(
        "--instruments",
        metavar="N",
        type=positive_int,
        default=None,
        help="instruments in the demo universe (default: the demo.instruments setting)",
    )
    parser.add_argument(
        "--redirect-url",
        metavar="URL",
        default=None,
        help="where the login page sends the request token (default: the kite.redirect_url "
        "setting, http://127.0.0.1:5000/success)",
    )
    parser.add_argument(
        "--heartbeat",
        metavar="S",
        type=positive_float,
        default=1.0,
        help="seconds of no data after which a websocket gets a heartbeat (default 1)",
    )
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="enforce Kite's REST limits (quotes 1/s, historical 3/s, others 10/s) with 429",
    )
    parser.add_argument(
        "--fault",
        metavar="NAME@SECONDS",
        type=_fault,
        action="append",
        default=[],
        help="inject a fault that many seconds after start; repeatable. NAME is drop, "
        "silence, expire, ratelimit, malformed or error; silence@60:10 is 10 s of silence, "
        "ratelimit@5:3 refuses 3 requests",
    )


def run(args: argparse.Namespace) -> int:
    """`optui emulate`."""
    from optui.cli import settings_from_args  # noqa: PLC0415
    from optui.emulator.server import Emulator  # noqa: PLC0415

    settings = settings_from_args(args)
    port: int = args.port
    ws_port: int = args.ws_port if args.ws_port is not None else (port + 1 if port else 0)
    instruments = args.instruments if args.instruments is not None else settings.demo.instruments
    emulator = Emulator(
        seed=settings.demo.seed,
        speed=settings.demo.speed,
        instruments=instruments,
        redirect_url=args.redirect_url or settings.kite.redirect_url,
        port=port,
        ws_port=ws_port,
        heartbeat_interval=args.heartbeat,
        rate_limits=args.rate_limits,
    )
    return serve(emulator, args.fault)


def serve(
    emulator: Emulator,
    faults: list[ScheduledFault],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stop: StopFlag | None = None,
) -> int:
    """Start `emulator`, say how to use it, fire `faults` on time, stop on a signal."""
    from optui.emulator.server import PortInUseError  # noqa: PLC0415

    out = out or sys.stdout
    err = err or sys.stderr
    stop = stop or StopFlag()
    try:
        emulator.start()
    except PortInUseError as exc:
        flag = "--port" if exc.service == "REST API" else "--ws-port"
        print(
            f"optui: error: {exc}; choose another with {flag} (or {flag} 0 for any free port)",
            file=err,
        )
        return EXIT_PORT_IN_USE
    started = time.monotonic()
    pending = sorted(faults, key=lambda f: f.at)
    with stop_on_signals(stop):
        try:
            print(_banner(emulator), file=out, flush=True)
            while not stop.is_set():
                due = pending[0].at - (time.monotonic() - started) if pending else 3600.0
                if due > 0:
                    stop.wait(min(due, 3600.0))
                    continue
                fault = pending.pop(0)
                emulator.inject(fault.name, seconds=fault.seconds, count=fault.count)
                print(f"fault: {_describe(fault)}", file=out, flush=True)
        finally:
            emulator.stop()
    print("Kite emulator stopped.", file=out, flush=True)
    return 0


def _banner(emu: Emulator) -> str:
    market = emu.market
    s = emu.demo_session
    follows = "following the clock" if s.live else f"replayed from 09:15 IST at {s.speed:g}x"
    api, ws, login = emu.api_url, emu.ws_url, emu.login_url
    secret = emu.api_secret
    limits = (
        "Kite's REST rate limits are enforced (HTTP 429 beyond them).\n\n"
        if emu.rate_limits
        else ""
    )
    return f"""Kite emulator on 127.0.0.1: demo market of {market.session} ({follows}), \
{len(market.instruments):,} instruments, seed {market.seed}

  REST API     {api}
  websocket    {ws}
  login page   {login}  (redirects to {emu.redirect_url})
  api_key      {emu.api_key}
  api_secret   {secret}  (the emulator's demo secret)

Point optui at it, in the shell that runs optui:
  export KITE_API_KEY={emu.api_key} KITE_API_SECRET={secret}
  export OPTUI_KITE__API_URL={api} OPTUI_KITE__WS_URL={ws}
  export OPTUI_KITE__LOGIN_URL={login}
  optui login && optui --source kite
or per command: optui --kite-api-url {api} --kite-ws-url {ws} ...

{limits}Faults on demand: curl -X POST '{api}/_emulator/fault/NAME?seconds=5&count=1'
  NAME: drop, silence, expire, ratelimit, malformed, error; counters: curl {api}/_emulator/stats
Ctrl-C stops it."""


def _describe(fault: ScheduledFault) -> str:
    if fault.name == "silence":
        return f"silence for {fault.seconds:g} s"
    if fault.name in ("ratelimit", "malformed"):
        return f"{fault.name} x{fault.count}"
    return fault.name


# argparse `type=` converters: ArgumentTypeError text becomes the usage error message.


def _fault(text: str) -> ScheduledFault:
    from optui.emulator.faults import parse_schedule  # noqa: PLC0415

    try:
        return parse_schedule(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"--fault {text!r}: ")) from None
