"""One streaming phase of the fan-out benchmark and what it measured.

Every bridge sends its events; the phase waits until every viewer has its
session's last one and the updates have stopped, then turns what the tabs and
bridges kept into a :class:`StreamResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.fanout_measure import own_cpu_seconds
from bench.fanout_peers import SyntheticBridge, Tab

DRAIN_TIMEOUT_SECONDS = 30  # after the last send, until every viewer has the newest event
QUIET_SECONDS = 1.0  # no update for this long: a phase's stragglers have all landed


@dataclass
class StreamResult:
    label: str
    sessions: int
    viewers_per_session: int
    events: int  # sent by all bridges during the stream
    latencies: list[float]
    bytes_per_event_per_viewer: float
    updates_per_event_per_viewer: float
    median_update_bytes: float
    offered_per_second: float | None  # events per second all bridges together send; None: back to back
    seconds: float  # start of the phase -> last viewer up to date
    up_to_date_seconds: float  # first send -> last viewer up to date
    server_cpu_seconds: float
    client_cpu_seconds: float
    ack_seconds: list[float] = field(default_factory=list)
    stored: int | None = None  # by the REST API's count
    stored_per_second: float | None = None
    foreign_updates: int = 0
    updates_without_shared: int = 0
    join_bytes_per_viewer: float | None = None
    history: int | None = None
    missed: int = 0  # viewers that did not get their session's last event


async def run_stream(label: str, bridges: list[SyntheticBridge], tabs: dict[str, list[Tab]], *, rate: float | None,
                     count: int, tokens_per_part: int, server_cpu: Callable[[], float]) -> StreamResult:
    """Every bridge sends ``count`` tokens at ``rate`` (None: back to back); waits until every tab has its
    session's last one."""
    all_tabs = [t for ts in tabs.values() for t in ts]
    await wait_quiet(all_tabs)
    phase = f"stream-{label}"
    for tab in all_tabs:
        tab.phase = phase
    acked_before = {id(b): b.acked for b in bridges}
    for bridge in bridges:
        bridge.ack_seconds.clear()
        bridge.first_send_at = 0.0
    cpu_server, cpu_client, started = server_cpu(), own_cpu_seconds(), time.time()
    await asyncio.gather(*(b.stream(rate, count, tokens_per_part) for b in bridges))
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    by_label = {b.label: b for b in bridges}
    # Polling: what is awaited is a condition over every tab, cheaper to check than to signal per update.
    while time.monotonic() < deadline and any(t.newest_ns < by_label[t.label].last_text_ns for t in all_tabs):  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    with contextlib.suppress(TimeoutError):
        await asyncio.gather(*(b.wait_acked(b.sent, DRAIN_TIMEOUT_SECONDS) for b in bridges if b.expects_acks))
    server_seconds, client_seconds = server_cpu() - cpu_server, own_cpu_seconds() - cpu_client
    finished = max((s.received_at for t in all_tabs for s in t.of(phase)), default=time.time())
    await wait_quiet(all_tabs)  # stragglers (a last coalesced update) still count
    for tab in all_tabs:
        tab.phase = "after"
    samples = [s for t in all_tabs for s in t.of(phase)]
    per_tab_events = count * max(len(all_tabs), 1)  # divides totals over every viewer into per-viewer, per-event
    first_send = min(b.first_send_at for b in bridges)
    acked = sum(b.acked - acked_before[id(b)] for b in bridges)
    last_ack = max(b.last_ack_at for b in bridges)
    return StreamResult(
        label=label, sessions=len(bridges), viewers_per_session=len(all_tabs) // max(len(bridges), 1),
        events=count * len(bridges), latencies=[s.latency_seconds for s in samples if s.latency_seconds is not None],
        bytes_per_event_per_viewer=sum(s.wire_bytes for s in samples) / per_tab_events,
        updates_per_event_per_viewer=len(samples) / per_tab_events,
        median_update_bytes=statistics.median([s.wire_bytes for s in samples]) if samples else float("nan"),
        offered_per_second=rate * len(bridges) if rate else None,
        seconds=finished - started, up_to_date_seconds=finished - first_send,
        server_cpu_seconds=server_seconds, client_cpu_seconds=client_seconds,
        ack_seconds=[a for b in bridges for a in b.ack_seconds],
        stored_per_second=acked / (last_ack - first_send) if acked and last_ack > first_send else None,
        foreign_updates=sum(s.foreign for s in samples),
        updates_without_shared=sum(not s.shared for s in samples),
        missed=sum(t.newest_ns < by_label[t.label].last_text_ns for t in all_tabs),
    )


async def wait_quiet(tabs: list[Tab]) -> None:
    deadline = time.monotonic() + 3 * DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        count = sum(len(t.samples) for t in tabs)
        await asyncio.sleep(QUIET_SECONDS)
        if sum(len(t.samples) for t in tabs) == count:
            return
