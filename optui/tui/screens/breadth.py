"""The breadth screen: every index and sector with its level and day's move."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget

from optui.tui.context import ViewContext
from optui.tui.index_board import IndexBoard
from optui.tui.screens.base import OptuiScreen, Row

__all__ = ["BreadthScreen"]


class BreadthScreen(OptuiScreen):
    """Indices and sectors."""

    NAME = "breadth"

    def body(self) -> Iterable[Widget]:
        yield IndexBoard(id="indices")

    def show(self, ctx: ViewContext) -> None:
        super().show(ctx)
        self.query_one(IndexBoard).show(ctx.universe, ctx.snapshot)

    def export_rows(self) -> list[Row]:
        return self.query_one(IndexBoard).values()
