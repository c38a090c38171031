"""Pages of events and stream batches, bounded by bytes as well as by count.

A timeline can hold large events (a tool's output, a script's output), so a page
of the most events allowed could be megabytes. A page stops before the event
that would take it past the byte cap — always holding at least one event, so a
single large event still goes out — and the client asks for the rest.
"""

from __future__ import annotations

from openinspect_app.api.schemas import EventOut
from openinspect_core.models import Event


def within_bytes(events: list[Event], max_bytes: int) -> list[tuple[EventOut, str]]:
    """The leading events whose JSON fits in ``max_bytes`` (at least one), each with its JSON."""
    page: list[tuple[EventOut, str]] = []
    total = 0
    for event in events:
        out = EventOut.of(event)
        payload = out.model_dump_json()
        size = len(payload.encode())
        if page and total + size > max_bytes:
            break
        page.append((out, payload))
        total += size
    return page
