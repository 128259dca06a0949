"""A Kite Connect emulator on 127.0.0.1, fed by the demo market: REST, login page and the
websocket protocol, with faults on demand. `optui emulate` runs it; tests start it in-process.
"""

from optui.emulator.faults import FAULTS
from optui.emulator.server import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    Emulator,
    EmulatorStats,
    PortInUseError,
)

__all__ = [
    "DEMO_API_KEY",
    "DEMO_API_SECRET",
    "FAULTS",
    "Emulator",
    "EmulatorStats",
    "PortInUseError",
]
