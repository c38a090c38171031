"""Figures of the sandbox-start benchmarks: summaries of samples, milliseconds as text, Markdown tables.

Pure; shared with ``bench/k8s_spawn_probe.py``.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Seconds; ``p90`` (nearest rank) only from ten samples on."""

    median: float
    low: float
    high: float
    p90: float | None
    count: int


def summarize(values: list[float]) -> Summary:
    ordered = sorted(values)
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1] if len(ordered) >= 10 else None
    return Summary(statistics.median(ordered), ordered[0], ordered[-1], p90, len(ordered))


def format_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f}"


def format_median_ms(values: list[float]) -> str:
    return format_ms(statistics.median(values)) if values else "-"


def render_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A Markdown table: the first column left-aligned, the figures right-aligned."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(width) if i == 0 else cell.rjust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join("-" * (width + 1) + (":" if i else "-") for i, width in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
