"""The figures above the option chain: what the chain is, where the market is, how it is priced.

One line per figure would eat a small terminal, so the figures are packed into as few lines
as the width allows, never splitting one. The model badge says exactly what the IVs and
greeks below were solved with (model, what it prices on, rate, expiry clock), so a number
on screen can be checked by hand; `updated` is the age of the chain's newest tick, which
turns yellow once it is older than the header's STALE threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from optui.analytics.chain import NSE_RATE, OptionChain
from optui.feed.calendar import IST
from optui.settings import AnalyticsSettings
from optui.tui.header import STALE_AFTER_S
from optui.tui.widgets.chain_columns import MISSING, fmt_strike

__all__ = ["ChainHeader", "chain_figures", "model_badge", "pack_lines", "time_left"]


def model_badge(analytics: AnalyticsSettings) -> str:
    """E.g. "Black-76 · forward · r 0.0% · 15:30 IST"."""
    if analytics.model == "black76":
        return f"Black-76 · forward · r {analytics.rate * 100:.1f}% · {analytics.expiry_time} IST"
    return f"Black-Scholes (NSE) · spot · r {NSE_RATE * 100:.1f}% · {analytics.expiry_time} IST"


def time_left(days: float) -> str:
    """Time to expiry as "3d 4h 30m" (whole minutes; "expired" at or after expiry)."""
    minutes = int(days * 24 * 60)
    if minutes <= 0:
        return "expired"
    d, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    return f"{d}d {h}h {m:02d}m" if d else f"{h}h {m:02d}m"


def _num(value: float | None, spec: str = ",.2f") -> str:
    return MISSING if value is None else format(value, spec)


def _pct(value: float | None, spec: str = ".2f") -> str:
    return MISSING if value is None else f"{format(value * 100, spec)}%"


def chain_figures(
    chain: OptionChain, analytics: AnalyticsSettings, now: float
) -> list[tuple[str, str]]:
    """The header's figures as (label, value) pairs with Rich markup, in reading order."""
    forward = _num(chain.forward)
    if chain.forward is not None:
        forward += f" ({chain.forward_source})"
    figures = [
        (
            f"[b]{chain.underlying}[/b]",
            f"[b]{chain.expiry:%d %b %Y}[/b] ({chain.expiry:%a})",
        ),
        ("expires in", time_left(chain.days_to_expiry)),
        ("spot", _num(chain.spot)),
        ("fwd", forward),
        ("ATM", MISSING if chain.atm_strike is None else fmt_strike(chain.atm_strike)),
        ("PCR", f"{_num(chain.pcr_oi)} OI / {_num(chain.pcr_volume)} vol"),
        ("max pain", MISSING if chain.max_pain is None else fmt_strike(chain.max_pain)),
        ("ATM IV", _pct(chain.atm_iv)),
        ("RR25", MISSING if chain.rr25 is None else f"{chain.rr25 * 100:+.2f}"),
    ]
    if chain.iv_percentile is not None:
        figures.append(("IVP", _pct(chain.iv_percentile, ".0f")))
    if chain.iv_rank is not None:
        figures.append(("IVR", _pct(chain.iv_rank, ".0f")))
    figures.append(("", f"[reverse] {model_badge(analytics)} [/reverse]"))
    if chain.updated is None:
        figures.append(("updated", "[yellow]no tick yet[/yellow]"))
    else:
        age = max(now - chain.updated, 0.0)
        at = datetime.fromtimestamp(chain.updated, IST).strftime("%H:%M:%S")
        colour = "yellow" if age > STALE_AFTER_S else "green"
        # Whole seconds: ticks come about once a second, and a figure that changes on every
        # redraw would redraw the header on every redraw.
        figures.append(("updated", f"{at} [{colour}]({age:,.0f} s ago)[/{colour}]"))
    return figures


def pack_lines(parts: Sequence[str], width: int, separator: str = " · ") -> list[str]:
    """`parts` (Rich markup) joined by `separator`, broken into lines of at most `width`
    cells between parts (a part wider than the line gets a line of its own)."""
    lines: list[list[str]] = []
    used = 0
    gap = Text.from_markup(separator).cell_len
    for part in parts:
        size = Text.from_markup(part).cell_len
        if lines and used + gap + size <= width:
            lines[-1].append(part)
            used += gap + size
        else:
            lines.append([part])
            used = size
    return [separator.join(line) for line in lines]


class ChainHeader(Static):
    """The chain's figures, packed to the width on view."""

    _shown: tuple[object, ...] = ()

    def say(self, text: str) -> None:
        """A message in place of the figures (no chain to show)."""
        self._shown = ()
        self.update(text)

    def show(self, chain: OptionChain, analytics: AnalyticsSettings, now: float) -> None:
        parts = [
            f"{label} {value}" if label else value
            for label, value in chain_figures(chain, analytics, now)
        ]
        width = max(self.content_region.width, 40)
        key = (tuple(parts), width)
        if key != self._shown:
            self._shown = key
            self.update("\n".join(pack_lines(parts, width)))
