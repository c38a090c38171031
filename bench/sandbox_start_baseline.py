"""The baseline side of the sandbox-start benchmark: the same work by hand, without the system.

``git clone``, ``bash .openinspect/setup.sh``, ``opencode serve`` (the harness's
environment, config and state dir) until it listens, then what the harness does
(health, ``POST /session``, ``GET /event``); each prompt through ``prompt_async``
until the session goes idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from backend_jobs.sandboxes.local import INHERITED_ENV
from bench.sandbox_start_run import (
    CPU_PROMPTS,
    CPU_READY,
    HTTP_TIMEOUT_SECONDS,
    MODEL,
    PROMPT,
    PROMPTS_PER_RUN,
    READY,
    READY_LIKE_HARNESS,
    WAIT_SECONDS,
    RunFailed,
    Sample,
    Turn,
    turn_prefix,
    turn_steps,
)
from bench.sandbox_start_streams import Arrival, StreamRecorder
from sandbox.harness.base import AgentConfig, ProviderConfig
from sandbox.harness.opencode import START_TIMEOUT_SECONDS
from sandbox.harness.opencode_config import SERVER_USERNAME, agent_environment, prepare_state_dir, split_model
from sandbox.harness.opencode_events import TurnTranslator
from sandbox.harness.opencode_process import AgentProcess


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
