"""Local sandboxes are isolated by the kernel: what a repository's setup script and the agent's
shell can reach, tried as an attacker would, on the embedded default (SQLite in the data
directory, local sandboxes, the real runtime, the real OpenCode and the scripted model).

Each attack is ``probe.py``, committed to the attacking repository. It tries every place the
bridge token, the database, another session's workspace, the keys in the data directory or the
control plane's environment could be read from, and writes what it got to a report in its own
HOME (``<workspace>/home/``), which the test reads from outside. The test checks that the probe
ran, tried each place, and got nothing: every token-shaped string it found is hashed and compared
with every sandbox's stored token hash, and the provider's key (a canary) is nowhere in it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest
from sqlmodel import select

from backend_jobs.control_plane import ControlPlane
from openinspect_app.api.app import attach, build_api
from openinspect_core.models import Sandbox
from openinspect_core.settings import Settings
from tests.fakes.scripted_model import ScriptedModel
from tests.support.http import free_port, serve_http
from tests.support.system import BOT, OPENCODE_BIN, RunningSystem, make_repo

# Runs inside the sandbox (python3 from PATH). Its configuration (the places to try) is JSON on the
# line after "CONFIG = ", written by the test. Memory is searched for token-shaped strings only.
PROBE = r'''
import base64, json, os, re, sys
CONFIG = {}
label = sys.argv[1]
TOKEN = re.compile(rb"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
report = {"label": label, "uid": os.getuid(), "pid": os.getpid(), "tries": {}, "candidates": []}

def got(name, data):
    report["tries"][name] = {"got": True, "size": len(data), "data": base64.b64encode(data[:65536]).decode()}
    report["candidates"] += [m.decode() for m in TOKEN.findall(data)]

def attempt(name, read):
    try:
        got(name, read())
    except OSError as exc:
        report["tries"][name] = {"got": False, "error": type(exc).__name__}

def read(path):
    return lambda: open(path, "rb").read()

def listing(path):
    return lambda: "\n".join(sorted(os.listdir(path))).encode()

left = [1 << 29]  # memory read in all, at most 512 MiB, the likeliest holders of a token first
PER_PROCESS = 1 << 27

def memory(pid):
    """Search a process's writable memory (heap, stacks: where a token would be)."""
    found, limit = 0, min(PER_PROCESS, left[0])
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if not fields[1].startswith("rw") or found >= limit:
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                data = mem.read(min(end - start, limit - found))
            except (OSError, OverflowError, ValueError):
                continue
            found += len(data)
            report["candidates"] += [m.decode() for m in set(TOKEN.findall(data))]
    left[0] -= found
    return found

attempt("own environment", lambda: b"\n".join(k + b"=" + v for k, v in os.environb.items()))
attempt("token file", read("/run/openinspect/sandbox-token"))
attempt("database", read(CONFIG["database"]))
attempt("data directory", listing(CONFIG["data_dir"]))
attempt("sandbox runtime directory", listing(os.path.join(CONFIG["data_dir"], "sandbox-runtime")))
attempt("session secret", read(os.path.join(CONFIG["data_dir"], "session-secret")))
attempt("a key in the data directory", read(CONFIG["canary_key"]))
attempt("other workspace", listing(CONFIG["other_workspace"]))
attempt("other workspace's file", read(CONFIG["other_canary"]))
attempt("control plane's environment", read(f"/proc/{CONFIG['server_pid']}/environ"))
def likely(pid):
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return (2, pid)
    return (0 if b"sandbox" in cmdline else 1, pid)

processes = {}
for pid in sorted((int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) != os.getpid()), key=likely):
    seen = {}
    for part in ("cmdline", "environ"):
        try:
            data = open(f"/proc/{pid}/{part}", "rb").read()
            seen[part] = data.replace(b"\0", b" ").decode(errors="replace")[:300]
            report["candidates"] += [m.decode() for m in TOKEN.findall(data)]
        except OSError as exc:
            seen[part] = "refused: " + type(exc).__name__
    try:
        seen["mem"] = f"read {memory(pid)} bytes"
    except OSError as exc:
        seen["mem"] = "refused: " + type(exc).__name__
    processes[pid] = seen
report["processes"] = processes
report["candidates"] = sorted(set(report["candidates"]))
home = os.environ["HOME"]
with open(os.path.join(home, f"probe-{label}.json"), "w") as out:
    json.dump(report, out)
print(f"probe {label} done: tried {len(report['tries'])} places and {len(processes)} processes")
'''

# The model provider's key: token-shaped (43 characters), so the probe's memory search would find it too.
PROVIDER_KEY = "sk-" + secrets.token_hex(20)
PLACES = {"own environment", "token file", "database", "data directory", "sandbox runtime directory",
          "session secret", "a key in the data directory", "other workspace", "other workspace's file",
          "control plane's environment"}
# Where nothing may be found at all: each must be refused (the path does not exist in the sandbox's world).
REFUSED = PLACES - {"own environment"}


@pytest.fixture
async def system(tmp_path: Path, scripted_model: ScriptedModel,
                 request: pytest.FixtureRequest) -> AsyncIterator[RunningSystem]:
    """The embedded default: SQLite in the data directory; ``@pytest.mark.settings(...)`` overrides."""
    marker = request.node.get_closest_marker("settings")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = Settings.from_env(
        {}, data_dir=data_dir, database_url=f"sqlite+aiosqlite:///{data_dir / 'openinspect.db'}",
        provider_api_key=PROVIDER_KEY,
        bridge_port=0, model_proxy_port=free_port(), repo_roots=(str(tmp_path),),
        opencode_bin=OPENCODE_BIN, provider_base_url=scripted_model.base_url, model="openinspect/scripted",
        bot_name=BOT[0], bot_email=BOT[1], heartbeat_interval_seconds=3600.0,
        **(dict(marker.kwargs) if marker else {}),
    )
    control_plane = ControlPlane(settings)
    await control_plane.start()
    api = build_api()
    attach(api, control_plane.context)
    try:
        async with serve_http(api) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            yield RunningSystem(control_plane, client, settings)
    finally:
        await control_plane.stop()


async def victim(s: RunningSystem, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Another session, ready, with a secret in its workspace; and a key in the data directory."""
    session = await s.create_session(make_repo(tmp_path / "victim", {"README.md": "# Victim\n"}))
    await s.wait_for_status(session["id"], "ready")
    canaries = {"victim": f"victim-canary-{uuid.uuid4().hex}", "key": f"key-canary-{uuid.uuid4().hex}"}
    other = s.workspace(session["id"])
    (other / "repo" / "secret.txt").write_text(canaries["victim"])
    (s.settings.data_dir / "canary-key").write_text(canaries["key"])
    return other, canaries


def attacker_repo(s: RunningSystem, tmp_path: Path, other_workspace: Path, setup: str = "") -> Path:
    config = {"database": str(s.settings.data_dir / "openinspect.db"), "data_dir": str(s.settings.data_dir),
              "canary_key": str(s.settings.data_dir / "canary-key"), "other_workspace": str(other_workspace),
              "other_canary": str(other_workspace / "repo" / "secret.txt"), "server_pid": os.getpid()}
    files = {"README.md": "# Attacker\n", "probe.py": PROBE.replace("CONFIG = {}", f"CONFIG = {json.dumps(config)}")}
    if setup:
        files[".openinspect/setup.sh"] = f"#!/bin/bash\n{setup}\n"
    return make_repo(tmp_path / f"attacker-{uuid.uuid4().hex[:8]}", files)


async def token_hashes(s: RunningSystem, session_id: str) -> set[str]:
    """Hashes of what must not be found: every sandbox's bridge token, and the model-proxy credentials
    of other sessions' sandboxes (its own agent holds its own: that is how it reaches the model)."""
    async with s.system.context.db.session() as db:
        rows = (await db.exec(select(Sandbox))).all()
    return {row.auth_token_hash for row in rows} | {
        row.proxy_token_hash for row in rows if row.session_id != session_id and row.proxy_token_hash}


def check_report(report: dict, hashes: set[str], canaries: dict[str, str]) -> None:
    """The probe ran inside a sandbox, tried every place, and got nothing it should not have."""
    assert set(report["tries"]) == PLACES, report["tries"].keys()  # it ran, and tried each place
    got = {name: try_ for name, try_ in report["tries"].items() if name in REFUSED and try_["got"]}
    assert got == {}, f"read what it must not: {sorted(got)}"
    leaked = sorted(c for c in report["candidates"] if hashlib.sha256(c.encode()).hexdigest() in hashes)
    assert leaked == [], "a bridge token was found"
    assert PROVIDER_KEY not in report["candidates"], "the provider's key was found"
    text = json.dumps(report) + "".join(base64.b64decode(t.get("data", "")).decode(errors="replace")
                                        for t in report["tries"].values())
    for canary in (*canaries.values(), PROVIDER_KEY):
        assert canary not in text
    # Its own processes are all it sees: none of the control plane's (this test process) among them.
    assert all("pytest" not in p["cmdline"] for p in report["processes"].values()), report["processes"]
    # The runtime, which holds the token in memory, lets no one read it (bwrap's own init, PID 1, may
    # be read: it never held the token).
    runtime = [p for p in report["processes"].values()
               if "sandbox.entrypoint" in p["cmdline"] and not p["cmdline"].split()[0].endswith("bwrap")]
    assert runtime and all(p["mem"].startswith("refused") and p["environ"].startswith("refused") for p in runtime)
    assert report["uid"] == 10001  # the sandbox's user, not the control plane's


async def test_a_setup_script_reads_no_token_no_database_no_other_workspace_and_nothing_of_the_control_plane(
        system: RunningSystem, tmp_path: Path) -> None:
    s = system
    other, canaries = await victim(s, tmp_path)
    session = await s.create_session(attacker_repo(s, tmp_path, other, setup="python3 probe.py setup"))
    finished = await s.wait_for(session["id"], lambda e: e["type"] == "script_finished")
    output = "".join(e["data"]["text"] for e in await s.events(session["id"]) if e["type"] == "script_output")
    assert "probe setup done" in output, (finished, output)
    report = json.loads((s.workspace(session["id"]) / "home" / "probe-setup.json").read_text())
    check_report(report, await token_hashes(s, session["id"]), canaries)


async def test_the_agents_shell_reads_no_token_no_database_no_other_workspace_and_nothing_of_the_control_plane(
        system: RunningSystem, tmp_path: Path) -> None:
    s = system
    other, canaries = await victim(s, tmp_path)
    session = await s.create_session(attacker_repo(s, tmp_path, other))
    await s.wait_for_status(session["id"], "ready")
    message = await s.prompt(session["id"], "#script bash command='python3 probe.py agent'")
    finished = await s.wait_for_prompt_end(session["id"], message["id"])
    results = [e for e in await s.events(session["id"]) if e["type"] == "tool_result"]
    assert any("probe agent done" in e["data"]["output"] for e in results), (finished, results)
    report = json.loads((s.workspace(session["id"]) / "home" / "probe-agent.json").read_text())
    check_report(report, await token_hashes(s, session["id"]), canaries)
    # The agent (OpenCode) is among what the shell sees: the probe looked at its parent too.
    assert any("opencode" in p["cmdline"] for p in report["processes"].values())


def daemon_setup(marker: str) -> str:
    """setup.sh lines that leave a daemon behind: its own session, no parent, a name to find it by."""
    return (f"setsid bash -c 'exec -a {marker} sleep 600' </dev/null >/dev/null 2>&1 &\n"
            "echo 'daemon started'")


def daemons(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if (proc.info["cmdline"] or [""])[0] == marker and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


async def wait_until(predicate, timeout_seconds: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_seconds):
        while not predicate():
            await asyncio.sleep(0.1)


async def test_a_detached_daemon_started_by_setup_is_gone_after_stop(system: RunningSystem, tmp_path: Path) -> None:
    s = system
    marker = f"oi-daemon-{uuid.uuid4().hex[:12]}"
    repo = make_repo(tmp_path / "daemon", {"README.md": "x\n", ".openinspect/setup.sh": f"#!/bin/bash\n"
                                                                                         f"{daemon_setup(marker)}\n"})
    session = await s.create_session(repo)
    spawning = await s.wait_for(session["id"], lambda e: e["type"] == "sandbox_spawning")
    await s.wait_for_status(session["id"], "ready")
    assert len(daemons(marker)) == 1  # it really runs, and is not a child of anything of the sandbox's
    assert s.system.jobs is not None
    await s.system.jobs.supervisor.stop(spawning["data"]["sandbox_id"], "test")
    exited = await s.wait_for(session["id"], lambda e: e["type"] == "sandbox_exited")
    assert exited["data"]["reason"] == "stopped"
    assert daemons(marker) == []


@pytest.mark.settings(sandbox_max_lifetime_seconds=8)
async def test_the_lifetime_limit_ends_a_local_sandbox_and_says_why(system: RunningSystem, tmp_path: Path) -> None:
    s = system
    marker = f"oi-daemon-{uuid.uuid4().hex[:12]}"
    repo = make_repo(tmp_path / "long", {"README.md": "x\n", ".openinspect/setup.sh": f"#!/bin/bash\n"
                                                                                      f"{daemon_setup(marker)}\n"})
    session = await s.create_session(repo)
    await wait_until(lambda: bool(daemons(marker)))  # it started, and lives
    exited = await s.wait_for(session["id"], lambda e: e["type"] == "sandbox_exited")
    assert exited["data"]["reason"] == "the sandbox reached its maximum lifetime (8 s)"
    status = await s.wait_for_status(session["id"], "failed")
    assert re.search(r"maximum lifetime", status["data"]["reason"] or "")
    assert daemons(marker) == []
