"""A table of rows from a list state var, or a line saying the list is empty (settings listings)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import reflex as rx


def listing_table(items: rx.Var[list[Any]], row: Callable[[Any], rx.Component], headers: Sequence[str], *,
                  table_id: str, empty_text: str, empty_id: str) -> rx.Component:
    return rx.cond(
        items.length() > 0,
        rx.table.root(
            rx.table.header(rx.table.row(*(rx.table.column_header_cell(header) for header in headers))),
            rx.table.body(rx.foreach(items, row)),
            width="100%",
            id=table_id,
        ),
        rx.text(empty_text, size="2", color_scheme="gray", id=empty_id),
    )
