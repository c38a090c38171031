"""Bad input ends in a clear stored error or status, and other sessions keep working."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import openinspect_protocol as protocol
import psutil
import pytest
from openinspect_protocol.logs import fields_of
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from backend_jobs import tokens
from openinspect_core.models import Sandbox
from tests.support.system import RunningSystem, make_repo


def bridge_url(s: RunningSystem, session_id: str) -> str:
    return f"{s.system.jobs.control_plane_url()}/bridge/{session_id}"


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", protocol.PROTOCOL_HEADER: str(protocol.PROTOCOL_VERSION)}


async def add_sandbox_row(s: RunningSystem, session_id: str) -> tuple[str, str]:
    """A live sandbox row with a token we know (as if a sandbox were starting)."""
    token = tokens.new_token()
    async with s.system.db.session() as db:
        sandbox = Sandbox(session_id=session_id, backend="test", auth_token_hash=tokens.token_hash(token))
        db.add(sandbox)
        await db.commit()
        return sandbox.id, token


def agent_processes(session_id: str) -> list[psutil.Process]:
    """The OpenCode servers started by this session's sandbox runtime (found by the runtime's
    environment: inside the sandbox's namespaces the agent's own paths are not the host's)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "serve" not in cmdline or not any("opencode" in part for part in cmdline[:2]):
            continue
        try:
            if any(parent.environ().get("OPENINSPECT_SESSION_ID") == session_id for parent in process.parents()):
                found.append(process)
        except psutil.Error:
            continue
    return found


async def run_ok(s: RunningSystem, session_id: str, marker: str) -> None:
    message = await s.prompt(session_id, f"#script text text={marker}")
    finished = await s.wait_for_prompt_end(session_id, message["id"])
    assert finished["data"]["status"] == "completed", finished


async def test_bridges_with_wrong_or_foreign_tokens_are_refused(running_system: RunningSystem, repo: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    s = running_system
    a = await s.create_session(repo)
    b = await s.create_session(repo)
    await s.wait_for_status(b["id"], "ready")

    with pytest.raises(InvalidStatus) as refused:
        async with connect(bridge_url(s, b["id"]), additional_headers=headers("not-a-real-token")):
            pass
    assert refused.value.response.status_code == 401
    assert b"invalid sandbox token" in refused.value.response.body

    _, token_of_a = await add_sandbox_row(s, a["id"])
    with pytest.raises(InvalidStatus) as refused:
        async with connect(bridge_url(s, b["id"]), additional_headers=headers(token_of_a)):
            pass
    assert refused.value.response.status_code == 403
    assert b"belongs to another session" in refused.value.response.body

    with pytest.raises(InvalidStatus) as refused:
        async with connect(bridge_url(s, a["id"]), additional_headers={"Authorization": f"Bearer {token_of_a}",
                                                                       protocol.PROTOCOL_HEADER: "999"}):
            pass
    assert refused.value.response.status_code == 426

    # Logged for the operator, never written into the timeline of the session that was knocked at.
    assert not [e for e in await s.events(b["id"]) if e["type"] == "bridge_rejected"]
    refusals = [fields_of(r) for r in caplog.records if r.getMessage() == "bridge_handler.refused"]
    assert [(f["session_id"], f["status"]) for f in refusals] == [(b["id"], 401), (b["id"], 403)]
    await run_ok(s, b["id"], "still-fine")


async def test_malformed_and_unknown_bridge_frames_are_refused_and_recorded(running_system: RunningSystem,
                                                                             repo: Path) -> None:
    s = running_system
    session = await s.create_session(repo)
    await s.wait_for_status(session["id"], "ready")
    other = await s.create_session(repo)
    _, token = await add_sandbox_row(s, other["id"])  # a second "sandbox" for the other session

    async with connect(bridge_url(s, other["id"]), additional_headers=headers(token)) as ws:
        replies = []
        for frame in ["{this is not json", '{"type": "launch_missiles", "seq": 1}', '{"type": "token", "seq": 2}',
                      protocol.Heartbeat(seq=3).to_json()]:
            await ws.send(frame)
        while len(replies) < 6:
            replies.append(protocol.parse_command(await asyncio.wait_for(ws.recv(), 10)))
    rejects = [r.reason for r in replies if isinstance(r, protocol.Reject)]
    acks = [r.seq for r in replies if isinstance(r, protocol.Ack)]
    assert rejects == ["malformed sandbox event: not valid JSON",
                       "unknown sandbox event type 'launch_missiles'",
                       "invalid sandbox event: token.part_id: Field required; token.text: Field required"]
    assert acks == [1, 2, 3]  # refused frames still consume their sequence: nothing behind them is held up
    stored = [e["data"] for e in await s.events(other["id"]) if e["type"] == "bridge_rejected"]
    assert [d["reason"] for d in stored] == rejects
    assert stored[0]["frame"] == "{this is not json"
    await run_ok(s, session["id"], "unaffected")


async def test_a_missing_repository_fails_the_session_clearly(running_system: RunningSystem, repo: Path,
                                                               tmp_path: Path) -> None:
    s = running_system
    healthy = await s.create_session(repo)
    broken = await s.create_session(tmp_path / "does-not-exist")
    queued = await s.prompt(broken["id"], "#script text text=never")
    failed = await s.wait_for_status(broken["id"], "failed")
    assert "does-not-exist" in failed["data"]["reason"]
    finished = await s.wait_for_prompt_end(broken["id"], queued["id"])
    assert finished["data"]["status"] == "failed" and "not run" in finished["data"]["error"]
    state = (await s.client.get(f"/api/sessions/{broken['id']}")).json()
    assert state["status"] == "failed" and "does-not-exist" in state["status_reason"]
    await run_ok(s, healthy["id"], "healthy")


async def test_a_failing_setup_script_is_a_warning_and_the_session_goes_on(running_system: RunningSystem,
                                                                            tmp_path: Path) -> None:
    s = running_system
    repo = make_repo(tmp_path / "setup-fails", {
        "README.md": "x\n", ".openinspect/setup.sh": "#!/bin/bash\necho 'about to fail'\nexit 3\n"})
    session = await s.create_session(repo)
    warning = await s.wait_for(session["id"], lambda e: e["type"] == "warning")
    assert warning["data"]["code"] == "setup_failed" and "3" in warning["data"]["message"]
    await s.wait_for_status(session["id"], "ready")
    await run_ok(s, session["id"], "after-setup-failure")


async def test_a_failing_start_script_fails_the_start_with_its_reason(running_system: RunningSystem,
                                                                       tmp_path: Path) -> None:
    s = running_system
    repo = make_repo(tmp_path / "start-fails", {
        "README.md": "x\n", ".openinspect/start.sh": "#!/bin/bash\necho 'database is missing'\nexit 7\n"})
    session = await s.create_session(repo)
    failed = await s.wait_for_status(session["id"], "failed")
    assert "7" in failed["data"]["reason"] and "database is missing" in failed["data"]["reason"]


async def test_killing_the_agent_mid_turn_fails_that_prompt_and_the_next_one_runs(
        running_system: RunningSystem, repo: Path) -> None:
    s = running_system
    session = await s.create_session(repo)
    slow = await s.prompt(session["id"], "#script slow seconds=120")
    await s.wait_for(session["id"], lambda e: e["type"] == "token" and e["message_id"] == slow["id"])
    agents = agent_processes(session["id"])
    assert agents, "the agent process of this session"
    for agent in agents:
        agent.send_signal(signal.SIGKILL)
    finished = await s.wait_for_prompt_end(session["id"], slow["id"])
    assert finished["data"]["status"] == "failed" and "exit" in finished["data"]["error"]
    errors = [e for e in await s.events(session["id"]) if e["type"] == "error"]
    assert errors and not any(e["data"]["fatal"] for e in errors)
    await run_ok(s, session["id"], "after-crash")



async def test_three_quick_failures_open_the_circuit_breaker(running_system: RunningSystem, tmp_path: Path) -> None:
    s = running_system
    repo = make_repo(tmp_path / "always-fails", {
        "README.md": "x\n", ".openinspect/start.sh": "#!/bin/bash\necho 'no database'\nexit 9\n"})
    session = await s.create_session(repo)
    await s.wait_for_status(session["id"], "failed")  # failure 1: the sandbox started with the session
    for attempt in (2, 3):
        message = await s.prompt(session["id"], f"#script text text=attempt-{attempt}")
        finished = await s.wait_for_prompt_end(session["id"], message["id"])
        assert finished["data"]["status"] == "failed" and "exit" in finished["data"]["error"]
    refused = await s.prompt(session["id"], "#script text text=attempt-4")
    finished = await s.wait_for_prompt_end(session["id"], refused["id"])
    timeline = "\n".join(f"{e['sequence']} {e['type']} {str(e['data'])[:150]}" for e in await s.events(session["id"]))
    assert "circuit breaker open: 3 sandboxes failed" in finished["data"]["error"], timeline
    events = await s.events(session["id"])
    assert [e["type"] for e in events].count("sandbox_spawning") == 3  # no fourth sandbox
    state = (await s.client.get(f"/api/sessions/{session['id']}")).json()
    assert state["status"] == "failed" and state["status_reason"].startswith("circuit breaker open")
