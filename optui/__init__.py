"""optui: a terminal app for Indian index options on Zerodha Kite Connect."""

import logging

__version__ = "0.1.0"

# A library-style default: optui's modules log, and only the commands decide where it goes
# (`optui.logs.log_to_file`). Without this, Python's last-resort handler would print warnings
# on stderr, over the TUI's screen or the collector's status line.
logging.getLogger("optui").addHandler(logging.NullHandler())
