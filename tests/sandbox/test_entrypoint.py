"""``python -m sandbox.entrypoint`` as a real process, against the in-test control plane."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import openinspect_protocol as protocol
import pytest

from sandbox.config import ConfigError
from sandbox.entrypoint import HARNESSES, load_harness
from tests.sandbox.control_plane import TOKEN, FakeControlPlane, wait_until
from tests.sandbox.doubles import ScriptedHarness
from tests.sandbox.gitrepos import make_repo

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def sandbox_env(cp: FakeControlPlane, source: Path, workspace: Path, base: dict[str, str], *,
                token: bool = True) -> dict[str, str]:
    """The launch environment; the token waits in its file (unless ``token`` is false)."""
    token_file = workspace.parent / "run" / "sandbox-token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    if token:
        token_file.write_text(TOKEN)
    return {
        **base,
        "OPENINSPECT_SESSION_ID": cp.session_id,
        "OPENINSPECT_SANDBOX_ID": "sbx-1",
        "OPENINSPECT_SANDBOX_TOKEN_FILE": str(token_file),
        "OPENINSPECT_CONTROL_PLANE_URL": cp.url,
        "OPENINSPECT_REPO_URL": source.as_uri(),
        "OPENINSPECT_WORKSPACE": str(workspace),
        "OPENINSPECT_AGENT": "tests.sandbox.doubles:ScriptedHarness",
        "OPENINSPECT_MODEL": "test/scripted",
        "OPENINSPECT_PROVIDER_API_KEY": "sk-not-to-be-logged",
        # Set in the sandbox's environment, yet the prompt's person must still be the author.
        "GIT_AUTHOR_NAME": "Leaky Override",
        "GIT_AUTHOR_EMAIL": "leaky@example.invalid",
    }


async def spawn(env: dict[str, str], stderr_path: Path) -> asyncio.subprocess.Process:
    with stderr_path.open("wb") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sandbox.entrypoint", cwd=PROJECT_ROOT, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_process_runs_a_prompt_and_a_signal_shuts_it_down_cleanly(
    tmp_path: Path, sandbox_git_env, signum: signal.Signals
):
    source = make_repo(tmp_path / "src", sandbox_git_env, {".openinspect/setup.sh": "echo set up\n"})
    stderr_path = tmp_path / "sandbox.log"
    async with FakeControlPlane() as cp:
        process = await spawn(sandbox_env(cp, source, tmp_path / "ws", sandbox_git_env), stderr_path)
        try:
            await cp.wait_for(protocol.Ready, timeout_seconds=60)
            await cp.send(protocol.Prompt(message_id="m1", content="commit feat: from the process",
                                          author=protocol.Author(name="Ada", email="ada@example.com")))
            await wait_until(lambda: bool(cp.of_type(protocol.ExecutionComplete)), what="the prompt's end")
            process.send_signal(signum)
            assert await asyncio.wait_for(process.wait(), 30) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    (artifact,) = cp.of_type(protocol.Artifact)
    assert (artifact.data["author_name"], artifact.data["committer_name"]) == ("Ada", "Open-Inspect")
    lines = log_lines(stderr_path)
    events = [line["event"] for line in lines]
    for expected in ("entrypoint.starting", "bridge.connected", "supervisor.ready",
                     "supervisor.shutdown", "supervisor.exit"):
        assert expected in events
    assert all({"ts", "level", "logger", "event"} <= line.keys() for line in lines)
    assert next(line for line in lines if line["event"] == "supervisor.shutdown")["reason"] == (
        f"signal {signum.name}")
    text = stderr_path.read_text()
    assert TOKEN not in text and "sk-not-to-be-logged" not in text
    assert (tmp_path / "ws" / "agent").is_dir()


async def test_a_missing_variable_exits_2_naming_it(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    async with FakeControlPlane() as cp:
        env = sandbox_env(cp, source, tmp_path / "ws", sandbox_git_env)
    del env["OPENINSPECT_CONTROL_PLANE_URL"]
    stderr_path = tmp_path / "sandbox.log"
    process = await spawn(env, stderr_path)
    assert await asyncio.wait_for(process.wait(), 30) == 2
    (line,) = log_lines(stderr_path)
    assert line["event"] == "entrypoint.config_error"
    assert "OPENINSPECT_CONTROL_PLANE_URL" in line["error"]


async def test_a_missing_token_file_exits_2_naming_it_before_anything_starts(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    async with FakeControlPlane() as cp:
        env = sandbox_env(cp, source, tmp_path / "ws", sandbox_git_env, token=False)
        stderr_path = tmp_path / "sandbox.log"
        process = await spawn(env, stderr_path)
        assert await asyncio.wait_for(process.wait(), 30) == 2
    (line,) = log_lines(stderr_path)
    assert line["event"] == "entrypoint.config_error"
    assert "OPENINSPECT_SANDBOX_TOKEN_FILE" in line["error"] and "cannot read the bridge token" in line["error"]
    assert cp.connections == 0 and not (tmp_path / "ws").exists()


async def test_an_unknown_agent_exits_2(tmp_path: Path, sandbox_git_env):
    source = make_repo(tmp_path / "src", sandbox_git_env)
    async with FakeControlPlane() as cp:
        env = {**sandbox_env(cp, source, tmp_path / "ws", sandbox_git_env), "OPENINSPECT_AGENT": "nonesuch"}
        stderr_path = tmp_path / "sandbox.log"
        process = await spawn(env, stderr_path)
        assert await asyncio.wait_for(process.wait(), 30) == 2
    assert "unknown agent 'nonesuch'" in log_lines(stderr_path)[-1]["error"]
    assert cp.connections == 0


def test_the_harness_registry_is_lazy_and_checks_what_it_loads():
    assert HARNESSES["opencode"] == "sandbox.harness.opencode:OpenCodeHarness"
    assert load_harness("tests.sandbox.doubles:ScriptedHarness") is ScriptedHarness
    with pytest.raises(ConfigError, match="not an AgentHarness"):
        load_harness("tests.sandbox.gitrepos:git")
    with pytest.raises(ConfigError, match="cannot load"):
        load_harness("tests.sandbox.nowhere:Harness")


# Run by setup.sh: where a process of the sandbox could look for the token, its parent's (the
# runtime's) /proc entries included. Prints one line per place: what it got, or why not. (Reading
# the runtime's memory is refused only inside a real sandbox, where no process has CAP_SYS_PTRACE:
# tests/security/test_local_isolation.py.)
TOKEN_PROBE = r"""
import os, sys
token, token_file, runtime = open(sys.argv[0] + ".needle", "rb").read(), sys.argv[1], int(sys.argv[2])
def show(place, read):
    try:
        data = read()
        print(f"PROBE {place} GOT {len(data)} bytes {'HAS-TOKEN' if token in data else 'no-token'}")
    except OSError as exc:
        print(f"PROBE {place} REFUSED {type(exc).__name__}")
show("env", lambda: b"\n".join(k + b"=" + v for k, v in os.environb.items()))
show("file", lambda: open(token_file, "rb").read())
for name in ("environ", "cmdline"):
    show(name, lambda: open(f"/proc/{runtime}/{name}", "rb").read())
"""


async def test_the_token_is_gone_before_the_setup_script_runs(tmp_path: Path, sandbox_git_env):
    probe = tmp_path / "probe.py"
    probe.write_text(TOKEN_PROBE)
    probe.with_name("probe.py.needle").write_text(TOKEN)  # what to look for (this test's token)
    source = make_repo(tmp_path / "src", sandbox_git_env, {
        ".openinspect/setup.sh": f'{sys.executable} {probe} "$TOKEN_FILE" "$PPID"\n'})
    async with FakeControlPlane() as cp:
        env = sandbox_env(cp, source, tmp_path / "ws", sandbox_git_env)
        env["TOKEN_FILE"] = env["OPENINSPECT_SANDBOX_TOKEN_FILE"]
        process = await spawn(env, tmp_path / "sandbox.log")
        try:
            await cp.wait_for(protocol.Ready, timeout_seconds=60)
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)
    output = "".join(e.text for e in cp.of_type(protocol.ScriptOutput))
    probes = dict(line.split(" ", 2)[1:] for line in output.splitlines() if line.startswith("PROBE "))
    assert set(probes) == {"env", "file", "environ", "cmdline"}, output  # it ran, and tried them all
    assert "HAS-TOKEN" not in output, output
    assert probes["file"] == "REFUSED FileNotFoundError"


def test_the_runtime_makes_itself_non_dumpable(tmp_path: Path):
    # In a process of its own: PR_GET_DUMPABLE (3) answers 0 once protect_memory has run. Without it,
    # every process of the sandbox (same user) could read the runtime's memory, token included.
    code = ("import ctypes; from sandbox.entrypoint import protect_memory; "
            "before = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0); ok = protect_memory(); "
            "print(before, ok, ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["1", "True", "0"]
