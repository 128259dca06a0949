"""Kite Connect: credentials and login, REST within rate limits, instruments, subscriptions.

Headless: nothing here imports Textual. The websocket stream is `optui.feed.kite`.
"""
