"""optui: a terminal app for Indian index options on Zerodha Kite Connect."""

__version__ = "0.1.0"
