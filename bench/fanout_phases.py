"""The scenarios of the fan-out benchmark: the system's phases (steady stream, burst, long histories) and the baseline.

Each opens the viewers and connects the bridges it needs, runs
:func:`~bench.fanout_stream.run_stream` and closes them again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from bench.fanout_measure import free_port, tree_cpu_seconds
from bench.fanout_peers import BaselineViewer, SyntheticBridge, Tab, Viewer, sign_in_cookie
from bench.fanout_stream import StreamResult, run_stream, wait_quiet
from bench.fanout_system import System, create_session, prefill, sandbox_env, stored_events

REPO_ROOT = Path(__file__).resolve().parent.parent
JOIN_CONCURRENCY = 8


@contextlib.asynccontextmanager
async def opened_viewers(system: System, http: httpx.AsyncClient, session_ids: list[str], labels: dict[str, str],
                         per_session: int, *, presence: bool = True) -> AsyncIterator[list[Viewer]]:
    people = {person: sign_in_cookie(system.base_url, person) for person in range(per_session)}
    viewers = [Viewer(system.base_url, sid, labels[sid], people[person]) for sid in session_ids
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
            await wait_quiet(tabs[session_id])
            join = statistics.mean(sum(s.wire_bytes for s in v.tab.of("join")) for v in viewers)
            result = await run_stream(f"history {length:,}", [bridge], tabs, rate=args.history_rate,
                                      count=args.history_events, tokens_per_part=args.tokens_per_part,
                                      server_cpu=system.cpu_seconds)
        result.history, result.join_bytes_per_viewer = length, join
        return result
    finally:
        await bridge.close()


async def baseline_phase(args: argparse.Namespace) -> StreamResult:
    port = free_port()
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
                                server_cpu=lambda: tree_cpu_seconds(server.pid))
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
