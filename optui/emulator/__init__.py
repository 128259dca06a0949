"""A Kite Connect emulator on 127.0.0.1, fed by the demo market: REST, login page and the
websocket protocol, with faults on demand. `optui emulate` runs it; tests start it in-process.
"""
