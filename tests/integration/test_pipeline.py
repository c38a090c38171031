"""The core pipeline end to end: REST -> queue -> sandbox (real runtime, real OpenCode) -> stored events.

Each test runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.support.delivery import assert_dense, assert_every_frame_stored_once, ticks
from tests.support.system import ADA, BOT, RunningSystem


def git(workdir: object, *args: str) -> str:
    return subprocess.run(["git", "-C", str(workdir), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


async def test_a_prompt_runs_end_to_end(running_system: RunningSystem, repo: object) -> None:
    s = running_system
    session = await s.create_session(repo, title="Say hello")
    await s.wait_for_status(session["id"], "ready")
    message = await s.prompt(session["id"], '#script commit path=hello.txt content=hi message="Add hello"')
    finished = await s.wait_for_prompt_end(session["id"], message["id"])
    assert finished["data"]["status"] == "completed", finished

    events = await s.events(session["id"])
    assert_dense(events)
    kinds = types(events)
    # Start-up progress, in order.
    progress = [e["data"]["status"] for e in events if e["type"] == "session_status"]
    assert progress[:6] == ["spawning", "syncing", "setup", "starting_agent", "ready", "running"]
    assert progress[-1] == "idle"
    # The setup script's output is part of the timeline.
    setup_output = "".join(e["data"]["text"] for e in events if e["type"] == "script_output")
    assert "setup says hello" in setup_output and "to stderr" in setup_output
    # The agent's turn, in order: ready ... tool_call ... execution_complete.
    order = ["git_sync", "ready", "prompt_started", "step_start", "tool_call", "tool_result", "step_finish",
             "execution_complete", "prompt_finished"]
    positions = [kinds.index(k) for k in order]
    assert positions == sorted(positions), kinds
    turn = [e for e in events if e["message_id"] == message["id"]]
    assert {"token", "tool_call", "tool_result", "step_finish", "artifact"} <= set(types(turn))
    step = next(e for e in turn if e["type"] == "step_finish")
    assert step["data"]["tokens"]["input"] > 0 and step["data"]["tokens"]["output"] > 0

    # The edit is in the session's workspace, committed by the agent for Ada.
    workdir = s.workspace(session["id"]) / "repo"
    assert (workdir / "hello.txt").read_text().strip() == "hi"
    author, committer, subject = git(workdir, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s").split("|")
    assert author == f"{ADA['name']} <{ADA['email']}>"
    assert committer == f"{BOT[0]} <{BOT[1]}>"
    assert subject == "Add hello"
    artifact = next(e for e in turn if e["type"] == "artifact")
    assert artifact["data"]["kind"] == "commit" and artifact["data"]["ref"] == git(workdir, "rev-parse", "HEAD")

    state = (await s.client.get(f"/api/sessions/{session['id']}")).json()
    assert state["status"] == "idle" and state["pending_prompts"] == 0
    assert state["title"] == "Say hello"  # the person's title is kept over the agent's


async def test_prompts_wait_their_turn_and_a_cancelled_one_never_runs(
        running_system: RunningSystem, repo: object) -> None:
    s = running_system
    session = await s.create_session(repo)
    first = await s.prompt(session["id"], "#script slow seconds=4")
    second = await s.prompt(session["id"], "#script text text=second-done")
    third = await s.prompt(session["id"], "#script text text=third-must-not-run")
    queued = (await s.client.get(f"/api/sessions/{session['id']}/prompts", params={"unfinished": True})).json()
    assert [m["id"] for m in queued] == [first["id"], second["id"], third["id"]]
    cancel = await s.client.delete(f"/api/sessions/{session['id']}/prompts/{third['id']}")
    assert cancel.status_code == 200

    await s.wait_for_prompt_end(session["id"], second["id"])
    events = await s.events(session["id"])
    assert_dense(events)

    def position(kind: str, message_id: str) -> int:
        return next(e["sequence"] for e in events if e["type"] == kind and e["message_id"] == message_id)

    assert position("prompt_started", second["id"]) > position("prompt_finished", first["id"])
    assert not [e for e in events if e["type"] == "prompt_started" and e["message_id"] == third["id"]]
    text = "".join(e["data"]["text"] for e in events if e["type"] == "token" and e["message_id"] == second["id"])
    assert "second-done" in text
    statuses = {m["id"]: m["status"] for m in
                (await s.client.get(f"/api/sessions/{session['id']}/prompts")).json()}
    assert statuses == {first["id"]: "completed", second["id"]: "completed", third["id"]: "cancelled"}


async def test_stop_aborts_a_slow_turn_and_the_next_prompt_works(running_system: RunningSystem,
                                                                  repo: object) -> None:
    s = running_system
    session = await s.create_session(repo)
    slow = await s.prompt(session["id"], "#script slow seconds=120")
    await s.wait_for(session["id"], lambda e: e["type"] == "token" and e["message_id"] == slow["id"])
    response = await s.client.post(f"/api/sessions/{session['id']}/stop")
    assert response.status_code == 202 and response.json()["id"] == slow["id"]
    finished = await s.wait_for_prompt_end(session["id"], slow["id"], timeout_seconds=30)
    assert finished["data"]["status"] == "stopped"
    await s.wait_for_status(session["id"], "idle")

    after = await s.prompt(session["id"], "#script write-file path=after-stop.txt content=ok")
    assert (await s.wait_for_prompt_end(session["id"], after["id"]))["data"]["status"] == "completed"
    assert (s.workspace(session["id"]) / "repo" / "after-stop.txt").read_text().strip() == "ok"


async def test_a_dropped_bridge_connection_loses_and_doubles_nothing(running_system: RunningSystem,
                                                                     repo: object) -> None:
    s = running_system
    session = await s.create_session(repo)
    slow = await s.prompt(session["id"], "#script slow seconds=4 interval_seconds=0.1")
    await s.wait_for(session["id"], lambda e: e["type"] == "token" and e["message_id"] == slow["id"])
    bridges = s.system.jobs.bridges
    for _ in range(3):  # drop it several times mid-turn, each time once the sandbox is back
        async with asyncio.timeout(30):
            while (connection := bridges.get(session["id"])) is None:
                await asyncio.sleep(0.05)
        await connection.close(1011, "test: dropping the bridge")
    finished = await s.wait_for_prompt_end(session["id"], slow["id"])
    assert finished["data"]["status"] == "completed"

    events = await s.events(session["id"])
    assert_dense(events)
    from_sandbox = [e for e in events if e["type"] not in (
        "session_status", "sandbox_spawning", "prompt_queued", "prompt_started", "prompt_finished",
        "bridge_rejected", "stop_requested")]
    assert from_sandbox
    await assert_every_frame_stored_once(s, session["id"])
    streamed = ticks(events, slow["id"])
    assert streamed == list(range(1, len(streamed) + 1)) and len(streamed) >= 20, streamed


@pytest.mark.settings(sandbox_idle_timeout_seconds=1.0)
async def test_an_idle_sandbox_stops_and_the_next_prompt_continues_in_the_same_files(
        running_system: RunningSystem, repo: object) -> None:
    s = running_system
    session = await s.create_session(repo)
    first = await s.prompt(session["id"], "#script write-file path=notes.txt content=remember-me")
    assert (await s.wait_for_prompt_end(session["id"], first["id"]))["data"]["status"] == "completed"
    await s.wait_for_status(session["id"], "stopped", timeout_seconds=30)
    assert not await s.system.backend.alive()

    second = await s.prompt(session["id"], "#script bash command='cat notes.txt'")
    assert (await s.wait_for_prompt_end(session["id"], second["id"]))["data"]["status"] == "completed"
    events = await s.events(session["id"])
    assert_dense(events)
    assert len([e for e in events if e["type"] == "sandbox_spawning"]) == 2
    result = next(e for e in events if e["type"] == "tool_result" and e["message_id"] == second["id"])
    assert "remember-me" in result["data"]["output"]
