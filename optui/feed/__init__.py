"""Market data sources: the Kite frame codec, the demo simulator, live Kite and replay."""
