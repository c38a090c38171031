"""Faults between a sandbox and the control plane, caused for real: a TCP proxy between the
sandbox's bridge and the bridge server cuts, stalls and slows the connection while the real
runtime and the real OpenCode stream turns. On PostgreSQL, the database of a system at scale
(the delivery rules are the same code on SQLite, which ``test_pipeline`` drops a bridge on)."""

from __future__ import annotations

import asyncio
import random
import signal

import psutil
import pytest

from tests.integration.conftest import ProxiedSystem
from tests.support.delivery import assert_dense, assert_every_frame_stored_once, ticks
from tests.support.system import RunningSystem


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


CUTS = 100
TURN = "#script slow seconds=3 interval_seconds=0.03"  # ~100 token events a turn


async def keep_cutting(proxied: ProxiedSystem, cuts: int, rng: random.Random) -> None:
    """Cut the bridge (both sides at once) ``cuts`` times, each soon after it came back."""
    proxy = proxied.proxy
    while proxy.cuts < cuts:
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        if proxy.live:
            proxy.cut_all()


async def test_a_hundred_bridge_cuts_during_streaming_turns_lose_and_double_nothing(
        proxied_system: ProxiedSystem, repo: object) -> None:
    s, proxy = proxied_system.system, proxied_system.proxy
    session = await s.create_session(repo)
    sid = session["id"]
    await s.wait_for_status(sid, "ready")
    cutter = asyncio.create_task(keep_cutting(proxied_system, CUTS, random.Random(13)))
    turns = []
    try:
        while not cutter.done():
            turn = await s.prompt(sid, TURN)
            turns.append(turn["id"])
            finished = await s.wait_for_prompt_end(sid, turn["id"], timeout_seconds=180)
            assert finished["data"]["status"] == "completed", finished
    finally:
        cutter.cancel()
        await asyncio.gather(cutter, return_exceptions=True)
    assert proxy.cuts >= CUTS
    async with asyncio.timeout(60):  # the last cut may have come as the last turn ended: wait for the sandbox
        while not proxy.live:
            await asyncio.sleep(0.05)
    assert proxy.accepted > proxy.cuts  # the sandbox came back after every cut

    events = await s.events(sid)
    assert_dense(events)
    await assert_every_frame_stored_once(s, sid)
    for message_id in turns:  # every token of every turn, once, in order
        assert ticks(events, message_id) == list(range(1, 101)), message_id
    assert len([e for e in events if e["type"] == "sandbox_spawning"]) == 1  # one sandbox throughout


async def test_a_stalled_then_slow_bridge_delays_but_loses_nothing(proxied_system: ProxiedSystem,
                                                                   repo: object) -> None:
    s, proxy = proxied_system.system, proxied_system.proxy
    session = await s.create_session(repo)
    sid = session["id"]
    await s.wait_for_status(sid, "ready")
    turn = await s.prompt(sid, TURN)
    await s.wait_for(sid, lambda e: e["type"] == "token" and e["message_id"] == turn["id"])
    proxy.stall()  # nothing moves either way for a while, within the heartbeat limit
    await asyncio.sleep(2)
    proxy.delay_seconds = 0.02  # then every chunk arrives late
    proxy.resume()
    finished = await s.wait_for_prompt_end(sid, turn["id"], timeout_seconds=180)
    assert finished["data"]["status"] == "completed"
    events = await s.events(sid)
    assert_dense(events)
    await assert_every_frame_stored_once(s, sid)
    assert ticks(events, turn["id"]) == list(range(1, 101))


def runtime_processes(session_id: str) -> list[psutil.Process]:
    """Every process of the session's sandbox (found by the environment its runtime gives them)."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("OPENINSPECT_SESSION_ID") == session_id:
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.mark.settings(heartbeat_interval_seconds=0.5, heartbeat_stale_seconds=3.0)
@pytest.mark.parametrize("fault", ["killed", "frozen"])
async def test_a_sandbox_killed_or_frozen_is_noticed_reported_and_replaced(
        running_system: RunningSystem, repo: object, fault: str) -> None:
    s = running_system
    session = await s.create_session(repo)
    sid = session["id"]
    slow = await s.prompt(sid, "#script slow seconds=120")
    await s.wait_for(sid, lambda e: e["type"] == "token" and e["message_id"] == slow["id"])
    processes = runtime_processes(sid)
    assert processes, "the sandbox's processes"
    for process in processes:
        process.send_signal(signal.SIGKILL if fault == "killed" else signal.SIGSTOP)

    ended = await s.wait_for_prompt_end(sid, slow["id"], timeout_seconds=60)
    assert ended["data"]["status"] == "failed"
    [exited] = [e["data"] for e in await s.events(sid) if e["type"] == "sandbox_exited"]
    if fault == "frozen":  # silence past the limit: the timer fails it, and the backend ends what was frozen
        assert exited["reason"].startswith("no heartbeat from the sandbox for")
        gone = await asyncio.to_thread(psutil.wait_procs, processes, 60)
        assert not gone[1], f"frozen processes left behind: {gone[1]}"
    else:
        assert exited["exit_code"] == 128 + signal.SIGKILL and "exited with code 137" in exited["reason"]
    after = await s.prompt(sid, "#script write-file path=after.txt content=a-new-sandbox")
    assert (await s.wait_for_prompt_end(sid, after["id"]))["data"]["status"] == "completed"
    assert len([e for e in await s.events(sid) if e["type"] == "sandbox_spawning"]) == 2
