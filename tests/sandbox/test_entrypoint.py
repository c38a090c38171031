"""``python -m sandbox.entrypoint`` as a real process, against the in-test control plane."""

from __future__ import annotations

import asyncio
import json
import signal
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


def sandbox_env(cp: FakeControlPlane, source: Path, workspace: Path, base: dict[str, str]) -> dict[str, str]:
    return {
        **base,
        "OPENINSPECT_SESSION_ID": cp.session_id,
        "OPENINSPECT_SANDBOX_ID": "sbx-1",
        "OPENINSPECT_SANDBOX_TOKEN": TOKEN,
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
    del env["OPENINSPECT_SANDBOX_TOKEN"]
    stderr_path = tmp_path / "sandbox.log"
    process = await spawn(env, stderr_path)
    assert await asyncio.wait_for(process.wait(), 30) == 2
    (line,) = log_lines(stderr_path)
    assert line["event"] == "entrypoint.config_error"
    assert "OPENINSPECT_SANDBOX_TOKEN" in line["error"]


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
