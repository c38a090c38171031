"""The README's run command (scripts/run) brings up the whole system, and a session
works through it: Reflex in production mode with the REST API mounted, the
background jobs in the same process, and the scripted demo model (no API key).
A script reaches the API with a personal API token, never without one."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import httpx
import psutil

from backend_jobs.sandboxes.local import MARKER
from tests.support.system import make_repo, run_command, token_over_http

GRACE = {"name": "Grace Hopper", "email": "grace@example.com"}


def sandbox_processes(sandbox_ids: set[str]) -> list[psutil.Process]:
    """Live processes of these sandboxes (other tests' sandboxes may run at the same time)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARKER) in sandbox_ids and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_the_run_command_serves_a_whole_session(tmp_path: Path, database_url: str) -> None:
    repo = make_repo(tmp_path / "demo-repo", {"README.md": "# Demo\n"})
    env = {"OPENINSPECT_DATABASE_URL": database_url.replace("+aiosqlite", "").replace("+psycopg", ""),
           "OPENINSPECT_REPO_ROOTS": str(tmp_path)}
    with contextlib.ExitStack() as stack:
        system = stack.enter_context(run_command(tmp_path, env))
        # A script's way in: a personal API token (Grace signs in and makes one); she is the author.
        token = token_over_http(system.base_url, GRACE)
        client = stack.enter_context(httpx.Client(base_url=system.base_url, timeout=30, trust_env=False,
                                                  headers={"Authorization": f"Bearer {token}"}))
        assert client.get("/api/sessions", headers={"Authorization": "Bearer oi_not-a-token"}).status_code == 401
        session = client.post("/api/sessions", json={"repo_url": str(repo)}).json()
        message = client.post(f"/api/sessions/{session['id']}/prompts",
                              json={"content": "Please add a demo file", "client_request_id": "one"}).json()
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
        sandbox_ids = {e["data"]["sandbox_id"] for e in page["events"] if e["type"] == "sandbox_spawning"}
        assert sandbox_processes(sandbox_ids), "the session's sandbox runs until the system stops"
    deadline = time.monotonic() + 15
    while sandbox_processes(sandbox_ids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sandbox_processes(sandbox_ids), "stopping the system stops every sandbox"
