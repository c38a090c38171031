"""The verify gate and the session's changes with the real runtime, the real OpenCode and the scripted model:
a turn commits and verify.sh passes, the next breaks it and it fails, a third makes it hang and it is killed at
its limit; the changes against the base are stored, and still readable over REST once the sandbox has stopped.

Runs on SQLite and on PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.system import RunningSystem, make_repo

# Passes while status.txt says ok; "hang" makes it wait far beyond its limit.
VERIFY = """#!/bin/bash
echo "checking status.txt: $(cat status.txt)"
if grep -q hang status.txt; then sleep 120; fi
grep -q '^ok$' status.txt || { echo "status is not ok" >&2; exit 4; }
echo "all good"
"""


@pytest.fixture
def verified_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"README.md": "# Project\n", "status.txt": "unknown\n",
                                             ".openinspect/verify.sh": VERIFY})


async def turn(s: RunningSystem, session_id: str, content: str) -> str:
    message = await s.prompt(session_id, content)
    finished = await s.wait_for_prompt_end(session_id, message["id"], timeout_seconds=90)
    assert finished["data"]["status"] == "completed", finished
    return str(message["id"])


@pytest.mark.settings(verify_timeout_seconds=3, sandbox_idle_timeout_seconds=2.0)
async def test_verify_passes_then_fails_then_times_out_and_the_changes_outlive_the_sandbox(
        running_system: RunningSystem, verified_repo: Path) -> None:
    s = running_system
    session = await s.create_session(verified_repo)
    sid = session["id"]

    first = await turn(s, sid, '#script commit path=status.txt content=ok message="Status ok"')
    events = await s.events(sid)
    (passed,) = [e for e in events if e["type"] == "verify_finished"]
    assert passed["message_id"] == first
    assert (passed["data"]["outcome"], passed["data"]["exit_code"]) == ("passed", 0)
    output = "".join(e["data"]["text"] for e in events if e["type"] == "script_output"
                     and e["data"]["script"] == "verify")
    assert "checking status.txt: ok" in output and "all good" in output
    kinds = [e["type"] for e in events if e["message_id"] == first]
    assert kinds.index("verify_finished") < kinds.index("execution_complete")
    changes = (await s.client.get(f"/api/sessions/{sid}/changes")).json()
    assert changes["verify"]["outcome"] == "passed"
    [status] = changes["changes"]["files"]
    assert (status["path"], status["additions"], status["deletions"]) == ("status.txt", 1, 1)
    assert status["patch"] == "@@ -1 +1 @@\n-unknown\n+ok\n\\ No newline at end of file\n"

    second = await turn(s, sid, '#script commit path=status.txt content=broken message="Break it"')
    failed = (await s.client.get(f"/api/sessions/{sid}/changes")).json()["verify"]
    assert (failed["outcome"], failed["exit_code"], failed["message_id"]) == ("failed", 4, second)
    assert "status is not ok" in failed["tail"]

    third = await turn(s, sid, '#script commit path=status.txt content=hang message="Hang it"')
    hung = (await s.client.get(f"/api/sessions/{sid}/changes")).json()["verify"]
    assert (hung["outcome"], hung["exit_code"], hung["timeout_seconds"], hung["message_id"]) == (
        "timed_out", None, 3, third)
    assert "checking status.txt: hang" in hung["tail"]

    # The sandbox stops (idle); what it last reported stays readable, with the session's history in it.
    await s.wait_for_status(sid, "stopped", timeout_seconds=60)
    assert not await s.system.backend.alive()
    kept = (await s.client.get(f"/api/sessions/{sid}/changes")).json()
    assert kept["changes"]["message_id"] == third and kept["changes"]["base_ref"] == "origin/main"
    [status] = kept["changes"]["files"]
    assert status["patch"] == "@@ -1 +1 @@\n-unknown\n+hang\n\\ No newline at end of file\n"
    notes = [e for e in await s.events(sid) if e["type"] == "changes_updated"]
    assert len(notes) == 3 and notes[-1]["data"]["files"] == 1


async def test_changes_of_a_session_nobody_may_read_are_refused(running_system: RunningSystem,
                                                                verified_repo: Path) -> None:
    s = running_system
    session = await s.create_session(verified_repo)
    async with httpx.AsyncClient(base_url=str(s.client.base_url), trust_env=False) as anonymous:
        refused = await anonymous.get(f"/api/sessions/{session['id']}/changes")
    assert refused.status_code == 401
    assert (await s.client.get("/api/sessions/0123456789abcdef0123456789abcdef/changes")).status_code == 404
    before = (await s.client.get(f"/api/sessions/{session['id']}/changes")).json()
    assert before == {"changes": None, "verify": None}
