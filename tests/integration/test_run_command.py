"""The README's run command (scripts/run) brings up the whole system, and a session
works through it: Reflex in production mode with the REST API mounted, the
background jobs in the same process, and the scripted demo model (no API key)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import psutil

from backend_jobs.sandboxes.local import MARKER
from tests.support.system import make_repo, run_command


def sandbox_processes() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if MARKER in proc.environ() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_the_run_command_serves_a_whole_session(tmp_path: Path, database_url: str) -> None:
    repo = make_repo(tmp_path / "demo-repo", {"README.md": "# Demo\n"})
    env = {"OPENINSPECT_DATABASE_URL": database_url.replace("+aiosqlite", "").replace("+psycopg", "")}
    with run_command(tmp_path, env) as system, httpx.Client(base_url=system.base_url, timeout=30) as client:
        session = client.post("/api/sessions", json={"repo_url": str(repo)}).json()
        message = client.post(f"/api/sessions/{session['id']}/prompts",
                              json={"content": "Please add a demo file", "client_request_id": "one",
                                    "author": {"name": "Grace Hopper", "email": "grace@example.com"}}).json()
        finished = None
        with client.stream("GET", f"/api/sessions/{session['id']}/events/stream",
                           timeout=httpx.Timeout(30, read=120)) as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    if event["type"] == "prompt_finished" and event["message_id"] == message["id"]:
                        finished = event
                        break
        assert finished is not None and finished["data"]["status"] == "completed", finished
        page = client.get(f"/api/sessions/{session['id']}/events").json()
        kinds = [e["type"] for e in page["events"]]
        assert {"ready", "tool_call", "tool_result", "artifact", "execution_complete"} <= set(kinds)
        commit = next(e for e in page["events"] if e["type"] == "artifact")["data"]
        assert commit["data"]["author_email"] == "grace@example.com"
        workdir = tmp_path / "data" / "workspaces" / session["id"] / "repo"
        assert "prompt" in (workdir / "OPENINSPECT_DEMO.md").read_text()
        assert sandbox_processes(), "the session's sandbox runs until the system stops"
    deadline = time.monotonic() + 15
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sandbox_processes(), "stopping the system stops every sandbox"
