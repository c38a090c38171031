"""Sandbox start on the local backend: the system against the same work done by hand.

Run from the project root; it prints figures and asserts nothing (what they mean:
docs/performance.md, "Sandbox start")::

    python -m bench.sandbox_start [--runs 5] [--warmup 1] [--database-url URL]

* **system**: the embedded system in this process (REST API over real HTTP,
  bridge server, dispatcher, a local sandbox with the real sandbox runtime and
  OpenCode, the scripted model), measured as a REST client sees it:
  ``POST /api/sessions`` → ``session_status: ready`` on the session's SSE stream;
  then, twice, ``POST /api/sessions/{id}/prompts`` → the turn's first event from
  the agent (not the session title, a side request) → ``prompt_finished``.
* **baseline**: ``git clone``, ``bash .openinspect/setup.sh``, ``opencode serve``
  (the harness's environment, config and state dir) until it says it listens,
  then what the harness does (health, ``POST /session``, ``GET /event``); twice
  ``prompt_async`` → the first ``step-start`` on ``/event`` → the session idle.

Runs alternate between the two; a run's sandbox is stopped before the next. The
system's phases come from timestamps it keeps anyway, on one clock: an event's
``created_at`` (row made, inside its transaction), the ``ts`` of a sandbox event
(made in the sandbox) and the sandbox runtime's JSON log. A PostgreSQL
``--database-url`` names a database used only to create (and at the end drop) a
throwaway one, as ``tests/conftest.py`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import platform
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg

from backend_jobs.sandboxes.local import INHERITED_ENV
from openinspect_app.api.app import attach, build_api
from openinspect_app.config import Settings, normalise_database_url
from openinspect_app.embedded import EmbeddedSystem
from sandbox.harness.base import AgentConfig, ProviderConfig
from sandbox.harness.opencode import START_TIMEOUT_SECONDS
from sandbox.harness.opencode_config import SERVER_USERNAME, agent_environment, prepare_state_dir, split_model
from sandbox.harness.opencode_events import TurnTranslator, sse_events
from sandbox.harness.opencode_process import AgentProcess
from tests.fakes.scripted_model import ScriptedModel
from tests.support.http import serve_http
from tests.support.system import make_repo

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RUNS = 5
DEFAULT_WARMUP_RUNS = 1
# Why 120: a start takes ~3 s here; a loaded 2-core machine is slower, but past two minutes it is broken.
WAIT_SECONDS = 120.0
HTTP_TIMEOUT_SECONDS = 30.0
PYTHON_START_SAMPLES = 5
# Why 2: a fresh OpenCode server's first turn is slow (~1.5 s here, its own warm-up);
# the second shows what each later prompt costs.
PROMPTS_PER_RUN = 2
MODEL = "openinspect/scripted"
PROMPT = "#script text text=hello"
REPO_FILES = {
    "README.md": "# Benchmark project\n",
    ".openinspect/setup.sh": "#!/bin/bash\necho 'setup says hello'\n",
}
# Events of a turn that come from the agent (the session title is a side request, not the turn).
TURN_EVENT_TYPES = frozenset({"step_start", "token", "tool_call", "tool_result", "step_finish", "error"})


class RunFailed(RuntimeError):
    """A run did not get where it should; the message holds what the system stored."""


# --------------------------------------------------------------------------
# Figures (pure)
# --------------------------------------------------------------------------


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


@dataclass
class Sample:
    """One run: the compared steps' durations and the named points its phases are cut at (seconds)."""

    steps: dict[str, float]
    points: dict[str, float | None] = field(default_factory=dict)
    event_delays: list[float] = field(default_factory=list)  # sandbox events: emitted -> stored
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds used, by what and when


@dataclass(frozen=True)
class Phase:
    name: str
    system: tuple[str, str]  # the points it runs between in a system sample
    baseline: tuple[str, str] | None = None  # the matching points of a baseline sample


READY, READY_LIKE_HARNESS = "create -> ready", "create -> ready (baseline like the harness)"
# (-> first agent event, -> finished) for each prompt of a run, in order.
PROMPT_STEPS = (
    ("prompt -> first agent event", "prompt -> finished"),
    ("2nd prompt -> first agent event", "2nd prompt -> finished"),
)
CPU_READY, CPU_PROMPTS = "this process, create -> ready", "this process, the prompts"
CPU_RUNTIME = "sandbox runtime process, whole run (not OpenCode)"
# (table row, system step, baseline step)
COMPARED = (
    (READY, READY, READY),
    (READY_LIKE_HARNESS, READY, READY_LIKE_HARNESS),
    *((step, step, step) for pair in PROMPT_STEPS for step in pair),
)

READY_PHASES = (
    Phase("REST: POST /api/sessions -> first event row", ("create_post", "session_stored")),
    Phase("commit; dispatcher -> sandbox_spawning row", ("session_stored", "sandbox_spawning")),
    Phase("spawn; Python start; import sandbox.entrypoint", ("sandbox_spawning", "runtime_started")),
    Phase("import harness; bridge WebSocket connect", ("runtime_started", "bridge_connected")),
    Phase("git clone (+ current branch)", ("bridge_connected", "cloned"), ("create_post", "cloned")),
    Phase("setup.sh (+ stage events)", ("cloned", "setup_done"), ("cloned", "setup_done")),
    Phase("opencode serve -> listening -> health", ("setup_done", "agent_health"), ("setup_done", "agent_health")),
    Phase("OpenCode: POST /session + GET /event", ("agent_health", "ready_emitted"), ("agent_health", "agent_ready")),
    Phase("bridge -> ready ingested (row)", ("ready_emitted", "ready_stored")),
    Phase("notifier -> SSE -> client", ("ready_stored", "ready_seen")),
)
PROMPT_PHASES = (
    Phase("REST: POST /prompts -> prompt_queued row", ("prompt_post", "prompt_stored")),
    Phase("commit; dispatcher -> prompt_started row", ("prompt_stored", "prompt_dispatched")),
    Phase("commit; send over the bridge -> sandbox", ("prompt_dispatched", "sandbox_received")),
    Phase("sandbox: git author config + ref tips", ("sandbox_received", "turn_started")),
    Phase("harness: POST prompt_async answered", ("turn_started", "prompt_sent"), ("prompt_post", "prompt_sent")),
    Phase("OpenCode: -> first step starts", ("prompt_sent", "first_emitted"), ("prompt_sent", "first_agent")),
    Phase("bridge -> event ingested (row)", ("first_emitted", "first_stored")),
    Phase("notifier -> SSE -> client", ("first_stored", "first_seen")),
)
FINISH_PHASES = (
    Phase("OpenCode: first step -> turn over", ("first_emitted", "turn_ended"), ("first_agent", "idle")),
    Phase("sandbox: look for new commits, send result", ("turn_ended", "complete_emitted")),
    Phase("bridge -> prompt_finished row", ("complete_emitted", "finished_stored")),
    Phase("notifier -> SSE -> client", ("finished_stored", "finished_seen")),
)


def phase_seconds(samples: list[Sample], points: tuple[str, str] | None, prefix: str = "") -> list[float]:
    if points is None:
        return []
    start, end = prefix + points[0], prefix + points[1]
    found = [(s.points.get(start), s.points.get(end)) for s in samples]
    return [b - a for a, b in found if a is not None and b is not None]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f}"


def _median_ms(values: list[float]) -> str:
    return _ms(statistics.median(values)) if values else "-"


def render_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A Markdown table: the first column left-aligned, the figures right-aligned."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(width) if i == 0 else cell.rjust(width)
                 for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join("-" * (width + 1) + (":" if i else "-") for i, width in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def comparison_table(system: list[Sample], baseline: list[Sample]) -> str:
    rows = []
    for label, system_step, baseline_step in COMPARED:
        ours = statistics.median(s.steps[system_step] for s in system)
        theirs = statistics.median(s.steps[baseline_step] for s in baseline)
        rows.append((label, f"{_ms(ours)} ms", f"{_ms(theirs)} ms", f"{ours / theirs:.2f}x",
                     f"{(ours - theirs) * 1000:+,.0f}"))
    return render_table(("step", "system median", "baseline median", "ratio", "overhead ms"), rows)


def spread_table(system: list[Sample], baseline: list[Sample]) -> str:
    with_p90 = len(system) >= 10
    rows = []
    for side, samples in (("system", system), ("baseline", baseline)):
        for step in samples[0].steps:
            s = summarize([sample.steps[step] for sample in samples])
            row = (f"{side}: {step}", _ms(s.median), _ms(s.low), _ms(s.high))
            rows.append((*row, _ms(s.p90)) if with_p90 else row)
    header = ("ms", "median", "min", "max")
    return render_table((*header, "p90") if with_p90 else header, rows)


def turn_prefix(index: int) -> str:
    """The prefix of the points of a run's ``index``-th prompt (from 0)."""
    return f"{index + 1}:"


def cpu_table(system: list[Sample], baseline: list[Sample]) -> str:
    rows = []
    for what in (CPU_READY, CPU_PROMPTS, CPU_RUNTIME):
        ours = [s.cpu[what] for s in system if not math.isnan(s.cpu.get(what, math.nan))]
        theirs = [s.cpu[what] for s in baseline if what in s.cpu]
        rows.append((what, _median_ms(ours), _median_ms(theirs)))
    return render_table(("CPU time (median ms)", "system", "baseline"), rows)


def phase_table(phases: tuple[Phase, ...], system: list[Sample], baseline: list[Sample], prefix: str = "") -> str:
    rows = []
    for phase in phases:
        ours = phase_seconds(system, phase.system, prefix)
        theirs = phase_seconds(baseline, phase.baseline, prefix)
        rows.append((phase.name, _median_ms(ours), _median_ms(theirs)))
    return render_table(("phase (median ms)", "system", "baseline"), rows)


# --------------------------------------------------------------------------
# Reading what the system stored and logged (pure)
# --------------------------------------------------------------------------


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def log_records(text: str) -> list[dict[str, Any]]:
    """The JSON lines of a sandbox runtime's log (anything else is skipped)."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "ts" in record and "event" in record:
            records.append(record)
    return records


def first_logged(records: list[dict[str, Any]], prefix: str, *, containing: str = "",
                 message_id: str | None = None, after: float | None = None) -> float | None:
    """When the first record matching all of these was logged (``after``: at that time or later)."""
    for record in records:
        text, at = str(record["event"]), wall(record["ts"])
        if (text.startswith(prefix) and containing in text and message_id in (None, record.get("message_id"))
                and (after is None or at >= after)):
            return at
    return None


def first_event(events: list[dict[str, Any]], kind: str, *, message_id: str | None = None,
                **data: str) -> dict[str, Any] | None:
    for event in events:
        if event["type"] == kind and message_id in (None, event["message_id"]) and all(
                event["data"].get(k) == v for k, v in data.items()):
            return event
    return None


def stored_at(event: dict[str, Any] | None) -> float | None:
    return wall(event["created_at"]) if event else None


def emitted_at(event: dict[str, Any] | None) -> float | None:
    return wall(event["data"]["ts"]) if event and "ts" in event["data"] else None


def timeline_text(events: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {e['sequence']} {e['type']} {json.dumps(e['data'])[:200]}" for e in events)


# --------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    perf: float  # time.perf_counter() when the client read the event
    wall: float  # time.time() at the same moment
    event: dict[str, Any]


class StreamRecorder:
    """Reads one server-sent-event stream of JSON objects in a task, keeping each with its arrival time."""

    def __init__(self, client: httpx.AsyncClient, path: str) -> None:
        self.arrivals: list[Arrival] = []
        self._client = client
        self._path = path
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StreamRecorder:
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self) -> None:
        try:
            timeout = httpx.Timeout(HTTP_TIMEOUT_SECONDS, read=None)
            async with self._client.stream("GET", self._path, timeout=timeout) as response:
                response.raise_for_status()
                async for event in sse_events(response.aiter_lines()):
                    self.arrivals.append(Arrival(time.perf_counter(), time.time(), event))
                    self._changed.set()
        finally:
            self._changed.set()  # a waiter must hear that the stream ended

    async def follow(self, start: int = 0) -> AsyncIterator[Arrival]:
        """Every arrival from index ``start`` on, as it comes; raises if the stream ends."""
        assert self._task is not None
        index = start
        while True:
            while index < len(self.arrivals):
                index += 1
                yield self.arrivals[index - 1]
            if self._task.done():
                error = None if self._task.cancelled() else self._task.exception()
                raise RunFailed(f"the event stream {self._path} ended ({error!r})")
            self._changed.clear()
            await self._changed.wait()

    async def first(self, predicate: Callable[[dict[str, Any]], bool], start: int = 0) -> Arrival:
        async with contextlib.aclosing(self.follow(start)) as arrivals:
            async for arrival in arrivals:
                if predicate(arrival.event):
                    return arrival
        raise AssertionError("follow() never ends on its own")


# --------------------------------------------------------------------------
# The system
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """One prompt as the client saw it."""

    posted_perf: float
    posted_wall: float
    first: Arrival  # the turn's first event from the agent
    done: Arrival  # prompt_finished (system), the session going idle (baseline)
    message_id: str = ""
    first_raw: Arrival | None = None  # baseline: the first /event event of the session after the POST
    answered_perf: float | None = None  # baseline: when prompt_async answered


async def system_run(client: httpx.AsyncClient, system: EmbeddedSystem, repo: Path) -> Sample:
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
            await system.manager.supervisor.stop(sandbox_id, "benchmark run finished")
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


def turn_steps(turns: list[Turn]) -> dict[str, float]:
    steps: dict[str, float] = {}
    for (first_step, done_step), turn in zip(PROMPT_STEPS, turns, strict=True):
        steps[first_step] = turn.first.perf - turn.posted_perf
        steps[done_step] = turn.done.perf - turn.posted_perf
    return steps


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


# --------------------------------------------------------------------------
# The baseline
# --------------------------------------------------------------------------


async def run_command(argv: list[str], *, cwd: Path, env: Mapping[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=dict(env), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise RunFailed(f"{argv[0]} exited with {process.returncode}: {stderr.decode(errors='replace')}")


async def baseline_run(work: Path, repo: Path, model_url: str, opencode_bin: str) -> Sample:
    """The same work by hand: clone, setup.sh, ``opencode serve``, the prompts over its HTTP API."""
    for path in (work / "home", work / "tmp"):
        path.mkdir(parents=True)
    # What a local sandbox's processes get: the inherited basics, a private HOME and TMPDIR.
    base_env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    base_env |= {"HOME": str(work / "home"), "TMPDIR": str(work / "tmp")}
    clone = work / "repo"
    config = AgentConfig(workdir=clone, state_dir=work / "agent", model=MODEL,
                         provider=ProviderConfig(base_url=model_url), binary=opencode_bin)
    password = secrets.token_urlsafe(32)
    start, cpu_start = time.perf_counter(), time.process_time()
    points: dict[str, float | None] = {"create_post": start}
    await run_command(["git", "clone", "--quiet", "--", str(repo), str(clone)], cwd=work, env=base_env)
    points["cloned"] = time.perf_counter()
    await run_command(["bash", str(clone / ".openinspect" / "setup.sh")], cwd=clone, env=base_env)
    points["setup_done"] = time.perf_counter()
    prepare_state_dir(config.state_dir)
    process = await AgentProcess.spawn(
        [opencode_bin, "serve", "--port", "0", "--hostname", "127.0.0.1"], cwd=str(clone),
        env=agent_environment(config, password, base_env), log_path=config.state_dir / "opencode.log")
    try:
        url = await process.wait_listening(START_TIMEOUT_SECONDS)
        points["listening"] = listening = time.perf_counter()
        async with httpx.AsyncClient(base_url=url, auth=httpx.BasicAuth(SERVER_USERNAME, password),
                                     params={"directory": str(clone)}, timeout=HTTP_TIMEOUT_SECONDS,
                                     trust_env=False) as client:
            (await client.get("/global/health")).raise_for_status()
            points["agent_health"] = time.perf_counter()
            session_id = (await client.post("/session", json={})).raise_for_status().json()["id"]
            async with StreamRecorder(client, "/event") as stream, asyncio.timeout(WAIT_SECONDS):
                await stream.first(lambda e: e.get("type") == "server.connected")
                points["agent_ready"] = agent_ready = time.perf_counter()
                cpu_ready = time.process_time()
                turns = [await baseline_prompt(client, stream, session_id) for _ in range(PROMPTS_PER_RUN)]
                cpu_done = time.process_time()
    finally:
        await process.terminate()
    for index, turn in enumerate(turns):
        prefix = turn_prefix(index)
        points |= {f"{prefix}prompt_post": turn.posted_perf, f"{prefix}prompt_sent": turn.answered_perf,
                   f"{prefix}first_agent": turn.first.perf, f"{prefix}idle": turn.done.perf}
    first = turns[0]
    assert first.first_raw is not None
    return Sample(steps={
        READY: listening - start,
        READY_LIKE_HARNESS: agent_ready - start,
        **turn_steps(turns),
        "prompt -> first /event event of the turn": first.first_raw.perf - first.posted_perf,
    }, points=points, cpu={CPU_READY: cpu_ready - cpu_start, CPU_PROMPTS: cpu_done - cpu_ready})


async def baseline_prompt(client: httpx.AsyncClient, stream: StreamRecorder, session_id: str) -> Turn:
    """One prompt through ``prompt_async`` and ``/event``."""
    mark = len(stream.arrivals)
    provider_id, model_id = split_model(MODEL)
    posted_wall, posted_perf = time.time(), time.perf_counter()
    (await client.post(f"/session/{session_id}/prompt_async", json={
        "parts": [{"type": "text", "text": PROMPT}],
        "model": {"providerID": provider_id, "modelID": model_id},
    })).raise_for_status()
    answered = time.perf_counter()
    translator = TurnTranslator("baseline")  # the harness's own mapping: its first output is the first event
    first_raw: Arrival | None = None
    first_agent: Arrival | None = None
    async with contextlib.aclosing(stream.follow(mark)) as arrivals:
        async for arrival in arrivals:
            if (arrival.event.get("properties") or {}).get("sessionID") != session_id:
                continue
            first_raw = first_raw or arrival
            if translator.feed(arrival.event, arrival.perf) and first_agent is None:
                first_agent = arrival
            if translator.finished:
                if first_agent is None or translator.errors:
                    raise RunFailed(f"the baseline turn failed: {translator.errors}")
                return Turn(posted_perf, posted_wall, first_agent, arrival, first_raw=first_raw,
                            answered_perf=answered)
    raise AssertionError("follow() never ends on its own")


# --------------------------------------------------------------------------
# Set-up: repository, database, references
# --------------------------------------------------------------------------


@contextlib.contextmanager
def database(url: str | None, tmp: Path) -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, description) of the database to use; a PostgreSQL one is made and dropped here."""
    if url is None:
        yield f"sqlite+aiosqlite:///{tmp / 'openinspect.db'}", f"SQLite {sqlite3.sqlite_version} (a file in a temp dir)"
        return
    if not url.startswith(("postgres://", "postgresql://", "postgresql+psycopg://")):
        yield normalise_database_url(url), url
        return
    admin = "postgresql://" + url.split("://", 1)[1]
    name = f"oi_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        version = (conn.execute("SHOW server_version").fetchone() or ["?"])[0]
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    try:
        yield (normalise_database_url(parts._replace(path=f"/{name}").geturl()),
               f"PostgreSQL {version} at {parts.hostname}:{parts.port or 5432} (throwaway database {name})")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def python_start_reference() -> tuple[Summary, Summary, Summary]:
    """Interpreter starts as the local backend runs them: bare; importing the runtime; and its OpenCode harness.

    The runtime logs ``entrypoint.starting`` once ``sandbox.entrypoint`` is imported; the
    harness module is imported after that, when the parts are built (before the bridge connects).
    """
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ} | {"PYTHONPATH": str(PROJECT_ROOT)}

    def timed(code: str) -> Summary:
        samples = []
        for _ in range(PYTHON_START_SAMPLES):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, check=True)
            samples.append(time.perf_counter() - start)
        return summarize(samples)

    runtime = "import sandbox.entrypoint"
    return timed("pass"), timed(runtime), timed(f"{runtime}, sandbox.harness.opencode")


def version_of(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"unknown ({exc})"


def machine_description() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "?")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; load average at start {load}"


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------


async def run_all(args: argparse.Namespace, tmp: Path, repo: Path, database_url: str,
                  model: ScriptedModel) -> tuple[list[Sample], list[Sample]]:
    settings = Settings.from_env({}, data_dir=tmp / "data", database_url=database_url, bridge_port=0,
                                 opencode_bin=args.opencode_bin, provider_base_url=model.base_url, model=MODEL)
    system = EmbeddedSystem(settings)
    system_samples: list[Sample] = []
    baseline_samples: list[Sample] = []
    await system.start()
    try:
        api = build_api()
        attach(api, system.context)
        async with serve_http(api) as base_url, httpx.AsyncClient(
                base_url=base_url, timeout=HTTP_TIMEOUT_SECONDS, trust_env=False) as client:
            for index in range(args.warmup + args.runs):
                ours = await system_run(client, system, repo)
                theirs = await baseline_run(tmp / f"baseline-{index}", repo, model.base_url, args.opencode_bin)
                counted = index >= args.warmup
                label = f"run {index - args.warmup + 1}/{args.runs}" if counted else "warm-up"
                print(f"{label:>9}: system " + ", ".join(f"{k} {_ms(v)} ms" for k, v in ours.steps.items())
                      + "\n           baseline " + ", ".join(f"{k} {_ms(v)} ms" for k, v in theirs.steps.items()),
                      flush=True)
                if counted:
                    system_samples.append(ours)
                    baseline_samples.append(theirs)
    finally:
        await system.stop()
    return system_samples, baseline_samples


def report(args: argparse.Namespace, machine: str, database_description: str,
           python_ref: tuple[Summary, Summary, Summary], system: list[Sample], baseline: list[Sample]) -> str:
    bare, runtime, with_harness = python_ref
    delays = summarize([d for s in system for d in s.event_delays])
    lines = [
        "",
        f"Sandbox start, local backend ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        f"machine:  {machine}",
        f"python:   {platform.python_version()} ({sys.executable})",
        f"opencode: {version_of([args.opencode_bin, '--version'])}; {version_of(['git', '--version'])}",
        f"database: {database_description}",
        f"runs:     {args.runs} (+{args.warmup} warm-up, not counted); model: scripted ({PROMPT!r})",
        "",
        comparison_table(system, baseline),
        "",
        spread_table(system, baseline),
        "",
        "Where the time goes: create -> ready",
        phase_table(READY_PHASES, system, baseline),
        "",
        *(line for index, (first_step, done_step) in enumerate(PROMPT_STEPS) for line in (
            f"Where the time goes: {first_step}",
            phase_table(PROMPT_PHASES, system, baseline, turn_prefix(index)),
            "",
            f"Where the time goes: {done_step} (from the first agent event)",
            phase_table(FINISH_PHASES, system, baseline, turn_prefix(index)),
            "",
        )),
        "CPU used (this process is the control plane, the HTTP client and the scripted model's thread)",
        cpu_table(system, baseline),
        "",
        f"every sandbox event, emitted -> stored (bridge + ingestion): median {_ms(delays.median)} ms, "
        f"max {_ms(delays.high)} ms over {delays.count} events",
        f"interpreter start, median of {bare.count}: python -c pass {_ms(bare.median)} ms; "
        f"import sandbox.entrypoint {_ms(runtime.median)} ms; "
        f"+ sandbox.harness.opencode {_ms(with_harness.median)} ms",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_start", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="counted runs (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP_RUNS,
                        help="runs before those, not counted (default %(default)s)")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL (default: SQLite in a temp dir); for postgresql://USER@HOST:PORT/DB "
                             "a throwaway database is created beside DB and dropped at the end")
    parser.add_argument("--opencode-bin", default=os.environ.get(
        "OPENINSPECT_OPENCODE_BIN", str(PROJECT_ROOT / "node_modules" / ".bin" / "opencode")))
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory(prefix="oi-bench-", ignore_cleanup_errors=True) as tmp_name:
        tmp = Path(tmp_name)
        machine = machine_description()
        repo = make_repo(tmp / "project", REPO_FILES)
        python_ref = python_start_reference()
        with database(args.database_url, tmp) as (database_url, description), ScriptedModel() as model:
            try:
                system, baseline = asyncio.run(run_all(args, tmp, repo, database_url, model))
            except RunFailed as exc:
                print(f"benchmark run failed: {exc}", file=sys.stderr)
                return 1
    print(report(args, machine, description, python_ref, system, baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
