"""The system side of the sandbox-start benchmark: one session through the REST API, and its phase points.

A run creates a session, waits for ``session_status: ready`` on its SSE stream,
runs the prompts, leaves the stream and stops the sandbox; the phases are then cut
from the rows' ``created_at``, the sandbox events' ``ts`` and the runtime's JSON log.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

from backend_jobs.control_plane import ControlPlane
from bench.sandbox_start_records import (
    emitted_at,
    first_event,
    first_logged,
    log_records,
    stored_at,
    timeline_text,
    wall,
)
from bench.sandbox_start_run import (
    CPU_PROMPTS,
    CPU_READY,
    CPU_RUNTIME,
    PROMPT,
    PROMPTS_PER_RUN,
    READY,
    TURN_EVENT_TYPES,
    WAIT_SECONDS,
    RunFailed,
    Sample,
    Turn,
    turn_prefix,
    turn_steps,
)
from bench.sandbox_start_streams import StreamRecorder


async def system_run(client: httpx.AsyncClient, system: ControlPlane, repo: Path) -> Sample:
    """One session: create it, wait for ready, run the prompts, leave its stream, stop its sandbox."""
    create_wall, create_start, cpu_start = time.time(), time.perf_counter(), time.process_time()
    response = await client.post("/api/sessions", json={"repo_url": str(repo)})
    response.raise_for_status()
    session_id = response.json()["id"]
    sandbox_id: str | None = None
    stream = StreamRecorder(client, f"/api/sessions/{session_id}/events/stream")

    def events() -> list[dict[str, Any]]:
        return [a.event for a in stream.arrivals]

    try:
        async with stream, asyncio.timeout(WAIT_SECONDS):
            ready = await stream.first(
                lambda e: e["type"] == "session_status" and e["data"]["status"] in ("ready", "failed"))
            sandbox_id = (first_event(events(), "sandbox_spawning") or {"data": {}})["data"].get("sandbox_id")
            if ready.event["data"]["status"] != "ready":
                raise RunFailed("the session failed")
            cpu_ready = time.process_time()
            turns = [await system_prompt(client, stream, session_id) for _ in range(PROMPTS_PER_RUN)]
            cpu_done = time.process_time()
            runtime_cpu = sandbox_runtime_cpu()
    except TimeoutError:
        raise RunFailed(f"no answer within {WAIT_SECONDS:.0f} s:\n{timeline_text(events())}") from None
    except RunFailed as exc:
        raise RunFailed(f"{exc}:\n{timeline_text(events())}") from None
    finally:
        # After leaving the stream: the stop's own events are not part of the run.
        if sandbox_id is not None:
            await system.jobs.supervisor.stop(sandbox_id, "benchmark run finished")
    assert sandbox_id is not None
    log_path = system.settings.data_dir / "workspaces" / session_id / f"sandbox-{sandbox_id}.log"
    log = log_records(log_path.read_text(errors="replace"))
    sample = Sample(steps={READY: ready.perf - create_start} | turn_steps(turns))
    sample.cpu = {CPU_READY: cpu_ready - cpu_start, CPU_PROMPTS: cpu_done - cpu_ready, CPU_RUNTIME: runtime_cpu}
    sample.points = ready_points(events(), log) | {"create_post": create_wall, "ready_seen": ready.wall}
    for index, turn in enumerate(turns):
        points = system_turn_points(events(), log, turn)
        sample.points |= {turn_prefix(index) + name: value for name, value in points.items()}
    sample.event_delays = [wall(e["created_at"]) - wall(e["data"]["ts"]) for e in events() if "ts" in e["data"]]
    return sample


async def system_prompt(client: httpx.AsyncClient, stream: StreamRecorder, session_id: str) -> Turn:
    mark = len(stream.arrivals)
    posted_wall, posted_perf = time.time(), time.perf_counter()
    response = await client.post(f"/api/sessions/{session_id}/prompts", json={
        "content": PROMPT, "client_request_id": uuid.uuid4().hex})
    response.raise_for_status()
    message_id = response.json()["id"]
    first = await stream.first(lambda e: e["message_id"] == message_id and (
        e["type"] in TURN_EVENT_TYPES or e["type"] == "prompt_finished"), mark)
    done = await stream.first(lambda e: e["type"] == "prompt_finished" and e["message_id"] == message_id, mark)
    if first.event["type"] == "prompt_finished" or done.event["data"]["status"] != "completed":
        raise RunFailed("the prompt did not complete")
    return Turn(posted_perf, posted_wall, first, done, message_id)


def sandbox_runtime_cpu() -> float:
    """CPU seconds the sandbox runtime process (a child of this one) has used so far; its agent not included."""
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if "sandbox.entrypoint" in child.cmdline():
                times = child.cpu_times()
                return times.user + times.system
    return math.nan


def ready_points(events: list[dict[str, Any]], log: list[dict[str, Any]]) -> dict[str, float | None]:
    """Wall times of the points the start's phases are cut at, from stored events and the sandbox's log."""
    return {
        "session_stored": stored_at(first_event(events, "session_status", status="spawning")),
        "sandbox_spawning": stored_at(first_event(events, "sandbox_spawning")),
        "runtime_started": first_logged(log, "entrypoint.starting"),
        "bridge_connected": first_logged(log, "bridge.connected"),
        "cloned": emitted_at(first_event(events, "git_sync")),
        "setup_done": emitted_at(first_event(events, "stage", stage="starting_agent")),
        "agent_health": first_logged(log, "HTTP Request: GET", containing="/global/health"),
        "ready_emitted": emitted_at(first_event(events, "ready")),
        "ready_stored": stored_at(first_event(events, "session_status", status="ready")),
    }


def system_turn_points(events: list[dict[str, Any]], log: list[dict[str, Any]], turn: Turn) -> dict[str, float | None]:
    """Wall times of the points one prompt's phases are cut at."""
    message_id = turn.message_id
    turn_started = first_logged(log, "opencode.turn.start", containing=message_id)
    return {
        "prompt_post": turn.posted_wall,
        "prompt_stored": stored_at(first_event(events, "prompt_queued", message_id=message_id)),
        "prompt_dispatched": stored_at(first_event(events, "prompt_started", message_id=message_id)),
        "sandbox_received": first_logged(log, "bridge.command", message_id=message_id),
        "turn_started": turn_started,
        "prompt_sent": first_logged(log, "HTTP Request: POST", containing="/prompt_async", after=turn_started),
        "first_emitted": emitted_at(turn.first.event),
        "first_stored": stored_at(turn.first.event),
        "first_seen": turn.first.wall,
        "turn_ended": first_logged(log, "opencode.turn.end", containing=message_id),
        # Logged right after execution_complete is handed to the bridge (the event's own ``ts`` is
        # when the harness built it, before the sandbox looked for new commits).
        "complete_emitted": first_logged(log, "supervisor.prompt_finished", message_id=message_id),
        "finished_stored": stored_at(first_event(events, "prompt_finished", message_id=message_id)),
        "finished_seen": turn.done.wall,
    }
