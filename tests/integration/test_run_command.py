"""The README's run command (scripts/run) brings up the whole system, and a session
works through it: Reflex in production mode with the REST API mounted, the
background jobs in the same process, and the scripted demo model (no API key)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from backend_jobs.sandboxes.local import MARKER
from tests.conftest import REPO_ROOT
from tests.integration.conftest import make_repo
from tests.support.http import free_port

START_SECONDS = 240  # a first production build installs the frontend's packages


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"scripts/run exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not healthy within {START_SECONDS} s:\n{log.read_text()[-3000:]}")


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
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENINSPECT_")}
    env.update(OPENINSPECT_WEB_PORT=str(port), OPENINSPECT_BRIDGE_PORT=str(free_port()),
               OPENINSPECT_DEMO_MODEL_PORT=str(free_port()), OPENINSPECT_DATA_DIR=str(tmp_path / "data"),
               OPENINSPECT_DATABASE_URL=database_url.replace("+aiosqlite", "").replace("+psycopg", ""))
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(REPO_ROOT / "scripts" / "run")], cwd=tmp_path, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, process, log)
        with httpx.Client(base_url=base_url, timeout=30) as client:
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
        assert client is not None
        workdir = tmp_path / "data" / "workspaces" / session["id"] / "repo"
        assert "prompt" in (workdir / "OPENINSPECT_DEMO.md").read_text()
        assert sandbox_processes(), "the session's sandbox runs until the system stops"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    deadline = time.monotonic() + 15
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not sandbox_processes(), "stopping the system stops every sandbox"
