"""Fan-out through the web UI: sandbox events to many viewers, against a bare websockets broadcast.

Run from the project root; it prints figures and asserts nothing::

    python -m bench.fanout [--sessions 20 --viewers 3 --rate 5 --seconds 20] [--database-url URL]

**System.** The real system in production mode (``scripts/run``, as the end-to-end tests start it)
with ``OPENINSPECT_SANDBOX_BACKEND=manual``, free ports, a temp data dir, SQLite unless
``--database-url`` names a PostgreSQL server (then a throwaway database is made beside the one it
names and dropped at the end, as ``tests/conftest.py`` does). Sessions are made with the REST API;
for each, a *synthetic bridge* reads the manual sandbox's environment file, connects with the real
handshake (``GET /bridge/<id>``, bearer token, protocol header), sends ``ready`` and then
``token`` events (protocol classes, numbered from 1, acknowledged by the server) at a fixed rate,
each text carrying its send time (``"t=<time_ns> "``). Tokens go to one text part per
``--tokens-per-part`` events, as a turn's streamed text does, so the timeline gains an entry now
and then. Viewers are browserless Reflex tabs (``bench/reflex_client.py``), signed in the way the
sign-in page leaves a browser (the two LocalStorage values go with the hydrate event, as the
compiled frontend sends them), on ``/sessions/<id>``, whose on_load links them to the session's
shared state; each also reports presence every 5 s over HTTP as the page's script does.

**Figures.**

* bridge-to-viewer latency: for each update a viewer receives, its receive time minus the newest
  send time in the text of the ``tail`` entry (updates that bring nothing newer are not samples);
* bridge-to-stored: send time to the acknowledgement (ingestion stores before it acks); events
  stored per second: acknowledged events / (last ack - first send), cross-checked with the
  sessions' ``last_event_sequence`` over the REST API;
* bytes per event per viewer: the wire bytes of the state updates a viewer received during the
  stream, divided by the events its session sent;
* the same per new event on a session whose history was filled first (``timeline.append``
  straight into the database: tool call/result pairs) to 100 and to 10,000 events, before its
  viewers open it: ``--history-events`` new events at ``--history-rate``;
* CPU of the system's process tree and of this process over the stream.

**Baseline.** The same bridges and viewers through a bare ``websockets`` server in its own process
on this machine: a bridge's frames are re-sent as they are to the viewers of its session
(``websockets.broadcast``); no storage, no state. Its latency and bytes per event are what the
transport alone costs. The bridges, viewers and that server are in ``bench/fanout_peers.py``.

All clients run in this one process; its CPU is printed so a saturated client can be told apart
from a slow server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import psutil
import psycopg

from bench.fanout_peers import BaselineViewer, SyntheticBridge, Tab, Viewer
from openinspect_app import protocol as p
from openinspect_app.config import normalise_database_url
from openinspect_app.db import Database
from openinspect_app.services import timeline
from tests.support.system import run_command

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 600  # scripts/run compiles the frontend on a cold checkout
STOP_TIMEOUT_SECONDS = 60
ENV_FILE_TIMEOUT_SECONDS = 30
DRAIN_TIMEOUT_SECONDS = 30  # after the last send, until every viewer has the newest event
QUIET_SECONDS = 1.0  # no update for this long: a phase's stragglers have all landed
JOIN_CONCURRENCY = 8
PREFILL_BATCH = 500  # events per transaction while filling a history
# scripts/run starts the scripted demo model unless a provider is set; manual sandboxes use none.
UNUSED_PROVIDER_URL = "http://127.0.0.1:9/v1"
POSTGRES_PREFIXES = ("postgres://", "postgresql://", "postgresql+psycopg://")



# ----------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its descendants (those alive now)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.ZombieProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} logical cores ({psutil.cpu_count(logical=False)} physical; {model or 'unknown CPU'}),"
            f" {psutil.virtual_memory().total / 2**30:.1f} GiB, load average {load}; Python "
            f"{platform.python_version()} on {platform.system()} {platform.release()}")


# ------------------------------------------------------------ the system


@dataclass
class System:
    base_url: str
    data_dir: Path
    database_url: str  # async SQLAlchemy URL of the system's database
    pid: int

    def cpu_seconds(self) -> float:
        return _tree_cpu_seconds(self.pid)


@contextlib.contextmanager
def throwaway_database(url: str | None) -> Iterator[str | None]:
    """None (SQLite in the data dir), a PostgreSQL database made for this run, or ``url`` as given."""
    if url is None or not url.startswith(POSTGRES_PREFIXES):
        yield url
        return
    admin = "postgresql://" + url.split("://", 1)[1]
    name = f"oi_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_system(root: Path, database_url: str | None) -> Iterator[System]:
    """``scripts/run`` in production mode with the manual backend; stopped (its process group) on exit."""
    env = {"OPENINSPECT_SANDBOX_BACKEND": "manual", "OPENINSPECT_PROVIDER_BASE_URL": UNUSED_PROVIDER_URL}
    if database_url:
        env["OPENINSPECT_DATABASE_URL"] = database_url
    with run_command(root, env, start_timeout_seconds=START_TIMEOUT_SECONDS) as started:
        data_dir = root / "data"
        url = normalise_database_url(database_url or f"sqlite:///{data_dir.resolve() / 'openinspect.db'}")
        yield System(started.base_url, data_dir, url, started.process.pid)


async def create_session(http: httpx.AsyncClient, repo: Path, title: str) -> str:
    response = await http.post("/api/sessions", json={"repo_url": str(repo), "title": title})
    response.raise_for_status()
    return response.json()["id"]


async def stored_events(http: httpx.AsyncClient, session_ids: list[str]) -> int:
    """The sum of the sessions' last event sequences (events are dense per session)."""
    total = 0
    for session_id in session_ids:
        response = await http.get(f"/api/sessions/{session_id}")
        response.raise_for_status()
        total += response.json()["last_event_sequence"]
    return total


async def sandbox_env(data_dir: Path, session_id: str) -> dict[str, str]:
    """The environment the manual backend wrote for the session's sandbox (waits for it)."""
    env_dir = data_dir / "manual-sandboxes"
    deadline = time.monotonic() + ENV_FILE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for path in sorted(env_dir.glob("*.json")) if env_dir.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                env = json.loads(path.read_text())
                if env.get("OPENINSPECT_SESSION_ID") == session_id:
                    return env
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no manual sandbox file for session {session_id} in {env_dir}")


async def prefill(database_url: str, session_id: str, events: int) -> None:
    """Append ``events`` timeline events (tool call/result pairs) straight into the database."""
    db = Database(database_url)
    try:
        written = 0
        while written < events:
            async with db.session() as s:
                for _ in range(min(PREFILL_BATCH, events - written)):
                    pair, is_result = divmod(written, 2)
                    event = _history_event(pair, is_result=bool(is_result))
                    await timeline.append(s, session_id, event.type,
                                          event.model_dump(mode="json", exclude={"type", "seq", "message_id"}))
                    written += 1
                await s.commit()
    finally:
        await db.dispose()


def _history_event(pair: int, *, is_result: bool) -> p.ToolCall | p.ToolResult:
    """A plausible tool step: a grep over a file, and its few lines of output."""
    call_id, path = f"hist-{pair}", f"src/module_{pair % 97}.py"
    if not is_result:
        return p.ToolCall(call_id=call_id, tool="bash",
                          input={"command": f"grep -n 'TODO' {path}", "description": f"Find TODOs in {path}"})
    output = "".join(f"{path}:{10 * i + pair % 7}: # TODO: handle the {i}th case of step {pair}\n" for i in range(5))
    return p.ToolResult(call_id=call_id, tool="bash", status="completed", title=f"Find TODOs in {path}",
                        output=output)


# ---------------------------------------------------------------- phases


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
    await _quiet(all_tabs)
    phase = f"stream-{label}"
    for tab in all_tabs:
        tab.phase = phase
    acked_before = {id(b): b.acked for b in bridges}
    for bridge in bridges:
        bridge.ack_seconds.clear()
        bridge.first_send_at = 0.0
    cpu_server, cpu_client, started = server_cpu(), _own_cpu_seconds(), time.time()
    await asyncio.gather(*(b.stream(rate, count, tokens_per_part) for b in bridges))
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    by_label = {b.label: b for b in bridges}
    # Polling: what is awaited is a condition over every tab, cheaper to check than to signal per update.
    while time.monotonic() < deadline and any(t.newest_ns < by_label[t.label].last_text_ns for t in all_tabs):  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    with contextlib.suppress(TimeoutError):
        await asyncio.gather(*(b.wait_acked(b.sent, DRAIN_TIMEOUT_SECONDS) for b in bridges if b.expects_acks))
    server_seconds, client_seconds = server_cpu() - cpu_server, _own_cpu_seconds() - cpu_client
    finished = max((s.received_at for t in all_tabs for s in t.of(phase)), default=time.time())
    await _quiet(all_tabs)  # stragglers (a last coalesced update) still count
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


async def _quiet(tabs: list[Tab]) -> None:
    deadline = time.monotonic() + 3 * DRAIN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        count = sum(len(t.samples) for t in tabs)
        await asyncio.sleep(QUIET_SECONDS)
        if sum(len(t.samples) for t in tabs) == count:
            return


@contextlib.asynccontextmanager
async def opened_viewers(system: System, http: httpx.AsyncClient, session_ids: list[str], labels: dict[str, str],
                         per_session: int, *, presence: bool = True) -> AsyncIterator[list[Viewer]]:
    viewers = [Viewer(system.base_url, sid, labels[sid], person) for sid in session_ids
               for person in range(per_session)]
    gate = asyncio.Semaphore(JOIN_CONCURRENCY)

    async def open_one(viewer: Viewer) -> None:
        async with gate:
            await viewer.open()

    reports: list[asyncio.Task[None]] = []
    try:
        await asyncio.gather(*(open_one(v) for v in viewers))
        if presence:
            reports = [asyncio.create_task(v.report_presence(http)) for v in viewers]
        yield viewers
    finally:
        for task in reports:
            task.cancel()
        await asyncio.gather(*reports, return_exceptions=True)
        for viewer in viewers:
            with contextlib.suppress(Exception):
                await viewer.close()


async def connect_bridges(system: System, session_ids: list[str]) -> list[SyntheticBridge]:
    envs = await asyncio.gather(*(sandbox_env(system.data_dir, sid) for sid in session_ids))
    bridges = [SyntheticBridge.for_sandbox(env) for env in envs]
    for bridge in bridges:
        await bridge.connect()
        await bridge.ready()
    return bridges


async def system_phases(args: argparse.Namespace, system: System, repo: Path) -> list[StreamResult]:
    results: list[StreamResult] = []
    async with httpx.AsyncClient(base_url=system.base_url, timeout=60) as http:
        session_ids = [await create_session(http, repo, f"fan-out {i}") for i in range(args.sessions)]
        bridges = await connect_bridges(system, session_ids)
        labels = {sid: b.label for sid, b in zip(session_ids, bridges, strict=True)}
        try:
            async with opened_viewers(system, http, session_ids, labels, args.viewers,
                                      presence=not args.no_presence) as viewers:
                print(f"  {len(viewers)} viewers on {len(session_ids)} sessions; streaming {args.seconds:g} s",
                      flush=True)
                tabs = _tabs_by_session(viewers)
                before = await stored_events(http, session_ids)
                result = await run_stream(f"system {args.sessions}x{args.viewers}", bridges, tabs, rate=args.rate,
                                          count=round(args.rate * args.seconds),
                                          tokens_per_part=args.tokens_per_part, server_cpu=system.cpu_seconds)
                result.stored = await stored_events(http, session_ids) - before
                results.append(result)
                if args.burst_events:
                    print(f"  burst: {args.burst_events} events per session back to back", flush=True)
                    before = await stored_events(http, session_ids)
                    burst = await run_stream(f"burst {args.sessions}x{args.viewers}", bridges, tabs, rate=None,
                                             count=args.burst_events, tokens_per_part=args.tokens_per_part,
                                             server_cpu=system.cpu_seconds)
                    burst.stored = await stored_events(http, session_ids) - before
                    results.append(burst)
            for history in args.history:
                print(f"  history {history:,}: filling, then {args.history_events} events at {args.history_rate:g}/s",
                      flush=True)
                results.append(await history_phase(args, system, http, repo, history))
        finally:
            for bridge in bridges:
                await bridge.close()
    return results


async def history_phase(args: argparse.Namespace, system: System, http: httpx.AsyncClient, repo: Path,
                        history: int) -> StreamResult:
    session_id = await create_session(http, repo, f"history {history}")
    (bridge,) = await connect_bridges(system, [session_id])
    try:
        existing = await stored_events(http, [session_id])
        await prefill(system.database_url, session_id, max(0, history - existing))
        length = await stored_events(http, [session_id])
        async with opened_viewers(system, http, [session_id], {session_id: bridge.label}, args.viewers,
                                  presence=not args.no_presence) as viewers:
            tabs = _tabs_by_session(viewers)
            await _quiet(tabs[session_id])
            join = statistics.mean(sum(s.wire_bytes for s in v.tab.of("join")) for v in viewers)
            result = await run_stream(f"history {length:,}", [bridge], tabs, rate=args.history_rate,
                                      count=args.history_events, tokens_per_part=args.tokens_per_part,
                                      server_cpu=system.cpu_seconds)
        result.history, result.join_bytes_per_viewer = length, join
        return result
    finally:
        await bridge.close()


async def baseline_phase(args: argparse.Namespace) -> StreamResult:
    port = _free_port()
    server = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.fanout_peers", str(port),
                                                  cwd=REPO_ROOT, start_new_session=True)
    bridges: list[SyntheticBridge] = []
    viewers: list[BaselineViewer] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or server.returncode is not None:
                raise RuntimeError("the baseline server did not start")
            await asyncio.sleep(0.1)
        base = f"ws://127.0.0.1:{port}"
        keys = [uuid.uuid4().hex for _ in range(args.sessions)]
        bridges = [SyntheticBridge(f"{base}/bridge/{key}", key[:12], acked=False) for key in keys]
        viewers = [BaselineViewer(f"{base}/view/{key}", key, key[:12]) for key in keys for _ in range(args.viewers)]
        for viewer in viewers:
            await viewer.open()
        for bridge in bridges:
            await bridge.connect(heartbeat_seconds=None)
        tabs: dict[str, list[Tab]] = defaultdict(list)
        for viewer in viewers:
            tabs[viewer.tab.session_id].append(viewer.tab)
        return await run_stream(f"baseline {args.sessions}x{args.viewers}", bridges, tabs, rate=args.rate,
                                count=round(args.rate * args.seconds), tokens_per_part=args.tokens_per_part,
                                server_cpu=lambda: _tree_cpu_seconds(server.pid))
    finally:
        for viewer in viewers:
            await viewer.close()
        for bridge in bridges:
            await bridge.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(server.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            await server.wait()


def _tabs_by_session(viewers: list[Viewer]) -> dict[str, list[Tab]]:
    tabs: dict[str, list[Tab]] = defaultdict(list)
    for viewer in viewers:
        tabs[viewer.tab.session_id].append(viewer.tab)
    return tabs


# ---------------------------------------------------------------- report


def _ms(values: list[float], fraction: float) -> str:
    return f"{1000 * _percentile(values, fraction):.1f}" if values else "-"


def report(args: argparse.Namespace, database: str, results: list[StreamResult]) -> None:
    system = next((r for r in results if r.label.startswith("system")), None)
    baseline = next((r for r in results if r.label.startswith("baseline")), None)
    histories = [r for r in results if r.history is not None]
    print(f"\nFan-out, {date.today().isoformat()}: {args.sessions} sessions x {args.viewers} viewers, "
          f"{args.rate:g} token events/s per session for {args.seconds:g} s, {database}")
    print(f"machine: {_machine()}")
    rows: list[tuple[str, str, str, str]] = []

    def ratio(a: float | None, b: float | None) -> str:
        return f"{a / b:.1f}x" if a is not None and b else "-"

    def core_share(r: StreamResult | None) -> str:
        return f"{100 * r.server_cpu_seconds / r.seconds:.0f}%" if r and r.seconds > 0 else "-"

    if system or baseline:
        pairs = [("events sent", lambda r: f"{r.events:,}", None),
                 ("bridge->viewer latency p50 (ms)", lambda r: _ms(r.latencies, 0.5),
                  lambda r: _percentile(r.latencies, 0.5)),
                 ("bridge->viewer latency p99 (ms)", lambda r: _ms(r.latencies, 0.99),
                  lambda r: _percentile(r.latencies, 0.99)),
                 ("bytes per event per viewer", lambda r: f"{r.bytes_per_event_per_viewer:,.0f}",
                  lambda r: r.bytes_per_event_per_viewer),
                 ("updates per event per viewer", lambda r: f"{r.updates_per_event_per_viewer:.2f}", None),
                 ("median update size (bytes)", lambda r: f"{r.median_update_bytes:,.0f}", None),
                 ("bridge->stored (ack) p50 / p99 (ms)",
                  lambda r: f"{_ms(r.ack_seconds, 0.5)} / {_ms(r.ack_seconds, 0.99)}" if r.ack_seconds else "-", None),
                 ("events stored per second (offered)",
                  lambda r: f"{r.stored_per_second:,.0f} ({r.offered_per_second:g})"
                  if r.stored_per_second and r.offered_per_second else "-", None),
                 ("server CPU (share of one core)", core_share, None),
                 ("client CPU (this process, one core)", lambda r: f"{100 * r.client_cpu_seconds / r.seconds:.0f}%",
                  None)]
        for name, show, value in pairs:
            rows.append((name, show(system) if system else "-", show(baseline) if baseline else "-",
                         ratio(value(system), value(baseline)) if value and system and baseline else ""))
        width = max(len(r[0]) for r in rows)
        print(f"\n{'':{width}}  {'system':>16}  {'baseline':>16}  {'system/baseline':>15}")
        for name, a, b, c in rows:
            print(f"{name:{width}}  {a:>16}  {b:>16}  {c:>15}")
        if system:
            print(f"\nsystem checks: stored {system.stored} of {system.events} events (REST count); "
                  f"{system.foreign_updates} updates carried another session's data; "
                  f"{system.updates_without_shared} updates carried no session state; "
                  f"{system.missed} viewers missed their session's last event")
    for r in (r for r in results if r.label.startswith("burst")):
        print(f"\nBurst: {r.events:,} events ({r.events // r.sessions} per session) sent back to back: stored "
              f"{r.stored_per_second or 0:,.0f} events/s (REST count {r.stored:,}); bridge->stored p50/p99 "
              f"{_ms(r.ack_seconds, 0.5)} / {_ms(r.ack_seconds, 0.99)} ms; every viewer up to date "
              f"{r.up_to_date_seconds:.2f} s after the first send; per viewer {r.updates_per_event_per_viewer:.2f} "
              f"updates and {r.bytes_per_event_per_viewer:,.0f} bytes per event; server CPU {core_share(r)}, "
              f"client CPU {100 * r.client_cpu_seconds / r.seconds:.0f}% of one core")
    if histories:
        print(f"\nHistory: one session, {args.viewers} viewers, {args.history_events} new events at "
              f"{args.history_rate:g}/s after the history was filled")
        header = (f"{'history (events)':>16}  {'page open B/viewer':>18}  {'B/new event/viewer':>18}  "
                  f"{'median update B':>15}  {'latency p50/p99 ms':>18}  {'server CPU':>10}")
        print(header)
        for r in histories:
            print(f"{r.history:>16,}  {r.join_bytes_per_viewer or 0:>18,.0f}  {r.bytes_per_event_per_viewer:>18,.0f}  "
                  f"{r.median_update_bytes:>15,.0f}  {_ms(r.latencies, 0.5) + ' / ' + _ms(r.latencies, 0.99):>18}  "
                  f"{core_share(r):>10}")
        if len(histories) >= 2:
            first, last = histories[0], histories[-1]
            print(f"bytes per new event, {last.history:,} vs {first.history:,} events of history: "
                  f"{last.bytes_per_event_per_viewer / first.bytes_per_event_per_viewer:.2f}x")


# ------------------------------------------------------------------ main


async def run(args: argparse.Namespace) -> int:
    results: list[StreamResult] = []
    with tempfile.TemporaryDirectory(prefix="oi-fanout-") as tmp:
        root = Path(tmp)
        repo = root / "repo"  # only its path is used: manual sandboxes clone nothing
        repo.mkdir()
        with throwaway_database(args.database_url) as database_url:
            database = "PostgreSQL" if database_url and database_url.startswith(POSTGRES_PREFIXES) else "SQLite"
            if not args.skip_system:
                print(f"starting the system (scripts/run, {database}) ...", flush=True)
                with running_system(root, database_url) as system:
                    results += await system_phases(args, system, repo)
        if not args.skip_baseline:
            print("baseline: bare websockets broadcast ...", flush=True)
            results.append(await baseline_phase(args))
    report(args, database, results)
    return 0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=3, help="viewers per session")
    parser.add_argument("--rate", type=float, default=5.0, help="token events per second per session")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the bridges stream")
    parser.add_argument("--tokens-per-part", type=int, default=50,
                        help="token events per text part (a new part is a new timeline entry)")
    parser.add_argument("--history", type=lambda s: [int(x) for x in s.split(",") if x], default=[100, 10_000],
                        help="history lengths to measure, comma-separated ('' to skip)")
    parser.add_argument("--burst-events", type=int, default=100,
                        help="then this many per session back to back, for the stored-events rate (0: skip)")
    parser.add_argument("--history-events", type=int, default=50)
    parser.add_argument("--history-rate", type=float, default=4.0)
    parser.add_argument("--database-url", help="PostgreSQL server (a throwaway database is made beside it)")
    parser.add_argument("--no-presence", action="store_true",
                        help="viewers do not report presence (the page's script does, every 5 s)")
    parser.add_argument("--skip-system", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(run(_parse(sys.argv[1:]))))
