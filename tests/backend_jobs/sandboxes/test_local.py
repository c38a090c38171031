"""The local backend: a process tree per sandbox, a private workspace per session."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import psutil

from backend_jobs.sandboxes.base import SandboxExit, SandboxSpec
from backend_jobs.sandboxes.local import MARKER, LocalSandboxBackend

# Stands in for the sandbox runtime: writes into its workspace, records its environment,
# and leaves processes behind that try to escape (a child in its own session, a grandchild
# of that one), then waits to be stopped.
FAKE_RUNTIME = r"""
import os, subprocess, sys, time, json
ws = os.environ["OPENINSPECT_WORKSPACE"]
open(os.path.join(ws, "mine.txt"), "w").write(os.environ.get("OPENINSPECT_SESSION_ID", ""))
json.dump(dict(os.environ), open(os.path.join(ws, "env.json"), "w"))
subprocess.Popen(["setsid", "sh", "-c", "sleep 300 & sleep 300"])
if os.environ.get("EXIT_CODE"):
    print("boom: the runtime gave up", flush=True)
    sys.exit(int(os.environ["EXIT_CODE"]))
time.sleep(300)
"""


def processes_of(sandbox_id: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARKER) == sandbox_id and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


async def wait_until(predicate, timeout_seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_seconds):
        while not predicate():
            await asyncio.sleep(0.05)


def backend(tmp_path: Path, **env: str) -> tuple[LocalSandboxBackend, list[SandboxExit]]:
    exits: list[SandboxExit] = []
    b = LocalSandboxBackend(tmp_path / "workspaces", command=[sys.executable, "-c", FAKE_RUNTIME],
                            environ={"PATH": "/usr/bin:/bin", "CONTROL_PLANE_SECRET": "s3cret"},
                            stop_grace_seconds=1.0)

    async def record(exit: SandboxExit) -> None:
        exits.append(exit)

    b.on_exit(record)
    return b, exits


async def test_stop_kills_the_whole_tree_even_processes_that_left_the_group(tmp_path: Path) -> None:
    b, exits = backend(tmp_path)
    await b.spawn(SandboxSpec("sbx1", "ses1"))
    await wait_until(lambda: len(processes_of("sbx1")) >= 4)  # runtime, setsid sh, two sleeps
    await b.stop("sbx1")
    await wait_until(lambda: not processes_of("sbx1"))
    assert [(e.sandbox_id, e.reason) for e in exits] == [("sbx1", "stopped")]
    assert await b.alive() == set()


async def test_sessions_get_separate_private_workspaces_and_a_clean_environment(tmp_path: Path) -> None:
    b, _ = backend(tmp_path)
    await b.spawn(SandboxSpec("sbx1", "ses1", {"OPENINSPECT_SESSION_ID": "ses1", "OPENINSPECT_SANDBOX_TOKEN": "t1"}))
    await b.spawn(SandboxSpec("sbx2", "ses2", {"OPENINSPECT_SESSION_ID": "ses2", "OPENINSPECT_SANDBOX_TOKEN": "t2"}))
    ws1, ws2 = b.workspace("ses1"), b.workspace("ses2")
    await wait_until(lambda: (ws1 / "env.json").exists() and (ws2 / "env.json").exists())
    await asyncio.sleep(0.2)
    try:
        assert (ws1 / "mine.txt").read_text() == "ses1" and (ws2 / "mine.txt").read_text() == "ses2"
        assert sorted(p.name for p in ws1.iterdir()) == ["env.json", "home", "mine.txt", "sandbox-sbx1.log", "tmp"]
        assert sorted(p.name for p in ws2.iterdir()) == ["env.json", "home", "mine.txt", "sandbox-sbx2.log", "tmp"]
        for ws in (ws1, ws2):
            assert ws.stat().st_mode & 0o777 == 0o700
        env1 = json.loads((ws1 / "env.json").read_text())
        env2 = json.loads((ws2 / "env.json").read_text())
        assert env1["HOME"] == str(ws1 / "home") and env1["TMPDIR"] == str(ws1 / "tmp")
        assert env1["OPENINSPECT_SANDBOX_TOKEN"] == "t1" and env2["OPENINSPECT_SANDBOX_TOKEN"] == "t2"
        assert "CONTROL_PLANE_SECRET" not in env1  # nothing of the control plane's own environment leaks
        assert str(ws2) not in json.dumps(env1)
    finally:
        await b.close()
    assert not processes_of("sbx1") and not processes_of("sbx2")


async def test_an_unexpected_exit_is_reported_with_its_last_words_and_leftovers_are_swept(tmp_path: Path) -> None:
    b, exits = backend(tmp_path)
    await b.spawn(SandboxSpec("sbx3", "ses3", {"EXIT_CODE": "4"}))
    await wait_until(lambda: bool(exits))
    assert exits[0].exit_code == 4
    assert exits[0].reason == "sandbox exited with code 4: boom: the runtime gave up"
    await wait_until(lambda: not processes_of("sbx3"))
