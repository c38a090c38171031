"""The OpenCode harness against the real ``opencode serve`` and the scripted model.

Each test gets its own git repository, state dir and OpenCode process. The
translator and configuration helpers are also tested on their own (no process).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import openinspect_protocol as protocol
import pytest

from sandbox.harness.base import AgentConfig, AgentStartError, ProviderConfig
from sandbox.harness.opencode import OpenCodeHarness
from sandbox.harness.opencode_config import (
    agent_environment,
    credentials_config,
    opencode_config,
    prepare_state_dir,
    write_credentials,
)
from sandbox.harness.opencode_events import MAX_TOOL_OUTPUT_CHARS, TurnTranslator, is_real_title
from tests.fakes.scripted_model import ScriptedModel

MODEL = "openinspect/scripted"
API_KEY = "test-provider-key"
TURN_TIMEOUT_SECONDS = 90.0  # generous: two cores, a cold OpenCode
AUTHOR = protocol.Author(name="Ada Lovelace", email="ada@example.com")


@pytest.fixture
def scripted_model() -> Iterator[ScriptedModel]:
    with ScriptedModel(api_key=API_KEY) as model:
        yield model


@pytest.fixture
def opencode_repo(tmp_path: Path, sandbox_git_env: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "initial"]):
        subprocess.run(["git", *args], cwd=repo, env=sandbox_git_env, check=True)
    return repo


def make_config(repo: Path, state_dir: Path, binary: str, model: ScriptedModel,
                env: dict[str, str]) -> AgentConfig:
    provider = ProviderConfig(kind="openai_compatible", base_url=model.base_url, api_key=API_KEY)
    return AgentConfig(workdir=repo, state_dir=state_dir, model=MODEL, provider=provider, binary=binary, env=env)


@pytest.fixture
async def harness(opencode_repo: Path, tmp_path: Path, opencode_binary: str, scripted_model: ScriptedModel,
                  sandbox_git_env: dict[str, str]) -> AsyncIterator[OpenCodeHarness]:
    config = make_config(opencode_repo, tmp_path / "state", opencode_binary, scripted_model, sandbox_git_env)
    agent = OpenCodeHarness(config)
    await agent.start()
    try:
        yield agent
    finally:
        await agent.close()


class Recorder:
    """An ``emit`` that keeps every event and can wait for the first of a type."""

    def __init__(self) -> None:
        self.events: list[protocol.SandboxEvent] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: protocol.SandboxEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def of(self, cls: type) -> list:
        return [e for e in self.events if isinstance(e, cls)]

    def text(self) -> str:
        return "".join(e.text for e in self.of(protocol.TokenDelta))

    async def wait_for(self, cls: type, timeout_seconds: float = TURN_TIMEOUT_SECONDS) -> None:
        async with asyncio.timeout(timeout_seconds):
            while not self.of(cls):
                self._arrived.clear()
                await self._arrived.wait()


def prompt(content: str, message_id: str = "m1") -> protocol.Prompt:
    return protocol.Prompt(message_id=message_id, content=content, author=AUTHOR)


async def run(agent: OpenCodeHarness, content: str, recorder: Recorder,
              message_id: str = "m1") -> protocol.ExecutionComplete:
    return await asyncio.wait_for(agent.run(prompt(content, message_id), recorder), TURN_TIMEOUT_SECONDS)


def git_log(repo: Path, env: dict[str, str]) -> str:
    return subprocess.run(["git", "log", "--format=%an <%ae>|%s"], cwd=repo, env=env, check=True,
                          capture_output=True, text=True).stdout


# --------------------------------------------------------------------------
# Against the real OpenCode
# --------------------------------------------------------------------------


async def test_write_file_turn_edits_the_file_and_reports_in_order(
    harness: OpenCodeHarness, opencode_repo: Path, scripted_model: ScriptedModel
) -> None:
    recorder = Recorder()
    result = await run(harness, '#script write-file path=hello.txt content="hi there"', recorder)

    assert result == protocol.ExecutionComplete(message_id="m1", success=True, ts=result.ts)
    assert (opencode_repo / "hello.txt").read_text() == "hi there"
    assert all(e.message_id == "m1" for e in recorder.events)
    types = recorder.types()
    first = {t: types.index(t) for t in ("step_start", "tool_call", "tool_result", "step_finish")}
    assert first["step_start"] < first["tool_call"] < first["tool_result"] < first["step_finish"]
    assert types.count("tool_call") == types.count("tool_result") == 1
    [call] = recorder.of(protocol.ToolCall)
    [outcome] = recorder.of(protocol.ToolResult)
    assert call.tool == "write"
    assert call.input == {"filePath": str(opencode_repo / "hello.txt"), "content": "hi there"}
    assert (outcome.call_id, outcome.status, outcome.title) == (call.call_id, "completed", "hello.txt")
    assert recorder.text() == "Wrote `hello.txt`."
    finishes = recorder.of(protocol.StepFinish)
    assert [f.reason for f in finishes] == ["tool-calls", "stop"]
    assert all(f.tokens.input > 0 and f.tokens.output > 0 for f in finishes)
    # The provider got the configured key, and the title request went to it too.
    assert all(r.headers.get("Authorization") == f"Bearer {API_KEY}" for r in scripted_model.chat_requests())
    await recorder.wait_for(protocol.SessionTitle)
    assert [t.title for t in recorder.of(protocol.SessionTitle)] == ["Scripted write-file"]


async def test_bash_turn_reports_the_command_output(harness: OpenCodeHarness) -> None:
    recorder = Recorder()
    result = await run(harness, "#script bash command='echo from-bash && pwd'", recorder)

    assert result.success, result.error
    [call] = recorder.of(protocol.ToolCall)
    [outcome] = recorder.of(protocol.ToolResult)
    assert (call.tool, call.input) == ("bash", {"command": "echo from-bash && pwd"})
    assert outcome.status == "completed"
    assert "from-bash" in outcome.output
    assert "from-bash" in recorder.text()


async def test_the_agents_shell_does_not_see_the_model_credential(harness: OpenCodeHarness,
                                                                   scripted_model: ScriptedModel) -> None:
    recorder = Recorder()
    result = await run(harness, "#script bash command='env; xargs -0 -n1 < /proc/self/environ'", recorder)

    assert result.success, result.error
    [outcome] = recorder.of(protocol.ToolResult)
    assert "PATH=" in outcome.output and "OPENCODE_CONFIG=" in outcome.output  # it did print its environment
    assert API_KEY not in outcome.output
    # ... while OpenCode itself still sent it to the provider (from the credential file).
    assert scripted_model.chat_requests()[-1].headers.get("Authorization") == f"Bearer {API_KEY}"


async def test_commit_script_makes_a_git_commit(
    harness: OpenCodeHarness, opencode_repo: Path, sandbox_git_env: dict[str, str]
) -> None:
    recorder = Recorder()
    result = await run(harness, '#script commit path=notes.md content=hello message="Add notes"', recorder)

    assert result.success, result.error
    assert (opencode_repo / "notes.md").read_text() == "hello"
    log_lines = git_log(opencode_repo, sandbox_git_env).splitlines()
    assert log_lines[0].endswith("|Add notes")
    assert len(log_lines) == 2
    assert [c.tool for c in recorder.of(protocol.ToolCall)] == ["write", "bash"]


async def test_abort_stops_a_slow_turn_and_the_next_prompt_works(harness: OpenCodeHarness) -> None:
    recorder = Recorder()
    turn = asyncio.create_task(run(harness, "#script slow seconds=120", recorder))
    await recorder.wait_for(protocol.TokenDelta)
    await harness.abort()
    result = await asyncio.wait_for(turn, TURN_TIMEOUT_SECONDS)

    assert (result.success, result.stopped) == (False, True)
    assert not recorder.of(protocol.ErrorEvent)  # a stop is not an error

    after = Recorder()
    again = await run(harness, "#script text text=after-the-stop", after, message_id="m2")
    assert again.success, again.error
    assert after.text() == "after-the-stop"
    assert all(e.message_id == "m2" for e in after.events)


def processes_running(marker: str) -> bool:
    result = subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False)
    return result.returncode == 0


async def wait_until(condition: Callable[[], bool], what: str, timeout_seconds: float = TURN_TIMEOUT_SECONDS) -> None:
    """Poll a condition outside this process (nothing to await on) until it holds."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        if condition():
            return
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


async def test_abort_during_a_tool_kills_the_command_and_closes_the_call(harness: OpenCodeHarness) -> None:
    marker = "sleep 1234.5"  # unique enough to find with pgrep
    recorder = Recorder()
    turn = asyncio.create_task(run(harness, f"#script bash command='{marker}'", recorder))
    await recorder.wait_for(protocol.ToolCall)
    await wait_until(lambda: processes_running(marker), "the command to start")
    await harness.abort()
    result = await asyncio.wait_for(turn, TURN_TIMEOUT_SECONDS)

    assert (result.success, result.stopped) == (False, True)
    [call] = recorder.of(protocol.ToolCall)
    [outcome] = recorder.of(protocol.ToolResult)
    assert (outcome.call_id, outcome.status) == (call.call_id, "error")
    await wait_until(lambda: not processes_running(marker), "the command to end")


async def test_close_ends_the_commands_the_agent_started(harness: OpenCodeHarness) -> None:
    marker = "sleep 1234.6"
    recorder = Recorder()
    turn = asyncio.create_task(run(harness, f"#script bash command='{marker}'", recorder))
    await recorder.wait_for(protocol.ToolCall)
    await wait_until(lambda: processes_running(marker), "the command to start")
    await harness.close()

    result = await asyncio.wait_for(turn, TURN_TIMEOUT_SECONDS)
    assert not result.success and "exited" in (result.error or "")
    assert not processes_running(marker)  # OpenCode starts commands detached: killpg alone would miss them


async def test_abort_without_a_turn_is_harmless(harness: OpenCodeHarness) -> None:
    await harness.abort()
    recorder = Recorder()
    assert (await run(harness, "#script text text=fine", recorder)).success


async def test_agent_death_mid_turn_fails_the_turn_and_a_restart_works(harness: OpenCodeHarness) -> None:
    recorder = Recorder()
    turn = asyncio.create_task(run(harness, "#script slow seconds=120", recorder))
    await recorder.wait_for(protocol.TokenDelta)
    session_before = harness.session_id
    assert harness.pid is not None
    os.kill(harness.pid, signal.SIGKILL)
    result = await asyncio.wait_for(turn, TURN_TIMEOUT_SECONDS)

    assert (result.success, result.stopped) == (False, False)
    assert result.error == "the agent process exited during the turn (killed by signal SIGKILL)"
    assert not harness.running

    assert await harness.start()
    assert harness.running
    assert harness.session_id == session_before  # the conversation survives in the data dir
    after = Recorder()
    again = await run(harness, "#script text text=back-again", after, message_id="m2")
    assert again.success, again.error
    assert after.text() == "back-again"


async def test_provider_error_fails_the_turn_with_its_message(harness: OpenCodeHarness) -> None:
    recorder = Recorder()
    result = await run(harness, "#script fail message='The model is not available to you.'", recorder)

    assert (result.success, result.stopped) == (False, False)
    assert result.error == "The model is not available to you."
    [error] = recorder.of(protocol.ErrorEvent)
    assert (error.code, error.message, error.fatal) == ("APIError", "The model is not available to you.", False)


async def test_a_retried_provider_error_is_a_warning_and_can_be_stopped(harness: OpenCodeHarness) -> None:
    recorder = Recorder()
    turn = asyncio.create_task(run(harness, "#script fail status=503 message='Overloaded.'", recorder))
    await recorder.wait_for(protocol.WarningEvent)  # OpenCode retries 5xx with back-off
    await harness.abort()
    result = await asyncio.wait_for(turn, TURN_TIMEOUT_SECONDS)

    assert (result.success, result.stopped) == (False, True)
    warning = recorder.of(protocol.WarningEvent)[0]
    assert (warning.code, warning.message) == ("provider_retry", "provider error, retry 1: Provider is overloaded")


async def test_a_run_after_close_fails_cleanly(harness: OpenCodeHarness) -> None:
    await harness.close()
    result = await harness.run(prompt("#script text text=x"), Recorder())
    assert (result.success, result.error) == (False, "the agent is not running")


async def test_server_refuses_requests_without_the_password(harness: OpenCodeHarness) -> None:
    assert harness.base_url is not None
    async with httpx.AsyncClient(base_url=harness.base_url, trust_env=False) as client:
        assert (await client.get("/session")).status_code == 401
        assert (await client.get("/global/health")).status_code == 401
        assert (await client.get("/session", auth=("opencode", "wrong"))).status_code == 401
        # The event stream too (it would otherwise leak the whole session).
        async with client.stream("GET", "/event") as response:
            assert response.status_code == 401


async def test_start_failure_reports_the_agents_stderr(tmp_path: Path, scripted_model: ScriptedModel) -> None:
    fake = tmp_path / "broken-agent"
    fake.write_text("#!/bin/sh\necho 'cannot open database' >&2\nexit 3\n")
    fake.chmod(0o755)
    config = make_config(tmp_path, tmp_path / "state", str(fake), scripted_model, {})
    agent = OpenCodeHarness(config)
    with pytest.raises(AgentStartError, match=r"(?s)exit code 3.*cannot open database"):
        await agent.start()
    assert not agent.running
    assert "cannot open database" in (tmp_path / "state" / "opencode.log").read_text()
    await agent.close()


# --------------------------------------------------------------------------
# Configuration and translation, without a process
# --------------------------------------------------------------------------


def test_openai_compatible_config_declares_the_provider(tmp_path: Path) -> None:
    provider = ProviderConfig(kind="openai_compatible", base_url="http://127.0.0.1:1/v1", api_key="k")
    config = AgentConfig(workdir=tmp_path, state_dir=tmp_path / "s", model=MODEL, provider=provider, binary="x")
    result = opencode_config(config)
    assert result["provider"] == {"openinspect": {
        "npm": "@ai-sdk/openai-compatible", "name": "openinspect",
        "options": {"baseURL": "http://127.0.0.1:1/v1"}, "models": {"scripted": {"name": "scripted"}},
    }}
    # The key is in the credential file's part alone, merged by OpenCode under the same provider.
    assert credentials_config(config) == {"provider": {"openinspect": {"options": {"apiKey": "k"}}}}
    assert (result["model"], result["small_model"], result["enabled_providers"]) == (MODEL, MODEL, ["openinspect"])
    assert result["permission"]["bash"] == result["permission"]["edit"] == "allow"
    assert result["permission"]["question"] == "deny"
    assert (result["autoupdate"], result["share"]) == (False, "disabled")


def test_anthropic_config_uses_the_builtin_provider(tmp_path: Path) -> None:
    provider = ProviderConfig(kind="anthropic", api_key="sk-ant")
    config = AgentConfig(workdir=tmp_path, state_dir=tmp_path, model="anthropic/claude-sonnet-4-5",
                         provider=provider, binary="x")
    result = opencode_config(config)
    assert result["provider"] == {"anthropic": {"options": {}}}
    assert credentials_config(config) == {"provider": {"anthropic": {"options": {"apiKey": "sk-ant"}}}}
    assert "small_model" not in result
    with pytest.raises(AgentStartError):
        opencode_config(AgentConfig(workdir=tmp_path, state_dir=tmp_path, model="claude/x",
                                    provider=provider, binary="x"))


def test_environment_keeps_sandbox_secrets_out(tmp_path: Path) -> None:
    config = AgentConfig(workdir=tmp_path, state_dir=tmp_path / "s", model=MODEL, binary="x",
                         provider=ProviderConfig(base_url="http://127.0.0.1:1/v1", api_key="the-model-credential"),
                         env={"GIT_AUTHOR_NAME": "Ada"})
    base = {"PATH": "/bin", "OPENINSPECT_BRIDGE_TOKEN": "secret", "OPENCODE_CONFIG": "/elsewhere"}
    env = agent_environment(config, "pw", base)
    assert "OPENINSPECT_BRIDGE_TOKEN" not in env and "OPENCODE_CONFIG" not in env
    assert (env["PATH"], env["GIT_AUTHOR_NAME"], env["OPENCODE_SERVER_PASSWORD"]) == ("/bin", "Ada", "pw")
    assert env["OPENCODE_CLIENT"] == "serve"
    assert env["XDG_DATA_HOME"] == str(tmp_path / "s" / "xdg" / "data")
    assert not any("the-model-credential" in value for value in env.values())  # the agent's shell inherits env


def test_the_credential_file_is_for_this_user_alone(tmp_path: Path) -> None:
    state = tmp_path / "s"
    config = AgentConfig(workdir=tmp_path, state_dir=state, model=MODEL, binary="x",
                         provider=ProviderConfig(base_url="http://127.0.0.1:1/v1", api_key="the-model-credential"))
    prepare_state_dir(state)
    (state / "opencode-credentials.json").write_text("{}")
    (state / "opencode-credentials.json").chmod(0o644)  # an older, wider file is narrowed
    path = write_credentials(state, config)
    assert path == state / "opencode-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(state.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == credentials_config(config)
    env = agent_environment(config, "pw", {}, path)
    assert env["OPENCODE_CONFIG"] == str(path)
    # Without a credential there is no file (nor a stale one).
    assert write_credentials(state, AgentConfig(workdir=tmp_path, state_dir=state, model=MODEL, binary="x",
                                                provider=ProviderConfig(base_url="http://127.0.0.1:1/v1"))) is None
    assert not path.exists()


def _assistant(message_id: str = "msg_a") -> dict:
    return {"type": "message.updated", "properties": {"info": {"id": message_id, "role": "assistant"}}}


def _part(part: dict, message_id: str = "msg_a") -> dict:
    return {"type": "message.part.updated", "properties": {"part": {"messageID": message_id, **part}}}


def _delta(part_id: str, text: str) -> dict:
    return {"type": "message.part.delta", "properties": {"partID": part_id, "field": "text", "delta": text}}


def test_translator_coalesces_deltas_and_ignores_the_users_own_text() -> None:
    t = TurnTranslator("m1", coalesce_seconds=0.1)
    out = t.feed({"type": "message.updated", "properties": {"info": {"id": "msg_u", "role": "user"}}}, 0.0)
    out += t.feed(_part({"id": "p0", "type": "text", "text": "the prompt", "time": {"end": 1}}, "msg_u"), 0.0)
    out += t.feed(_assistant(), 0.0)
    out += t.feed(_part({"id": "p1", "type": "text", "text": ""}), 0.0)
    for index, word in enumerate(["a", "b", "c"]):
        out += t.feed(_delta("p1", word), 0.01 * index)
    assert out == []  # held back
    out += t.feed(_delta("p1", "d"), 0.2)  # older than 0.1 s: flushed with it
    out += t.feed(_delta("p1", "e"), 0.21)
    out += t.feed(_part({"id": "p1", "type": "text", "text": "abcdef", "time": {"end": 1}}), 0.22)
    assert [(e.part_id, e.text) for e in out] == [("p1", "abcd"), ("p1", "ef")]


def test_translator_flushes_text_before_a_tool_and_truncates_output() -> None:
    t = TurnTranslator("m1")
    t.feed(_assistant(), 0.0)
    t.feed(_part({"id": "p1", "type": "text", "text": ""}), 0.0)
    t.feed(_delta("p1", "Let me look."), 0.0)
    tool = {"id": "p2", "type": "tool", "tool": "bash", "callID": "c1"}
    out = t.feed(_part({**tool, "state": {"status": "pending", "input": {}}}), 0.01)
    out += t.feed(_part({**tool, "state": {"status": "running", "input": {"command": "ls"}}}), 0.02)
    big = "x" * (MAX_TOOL_OUTPUT_CHARS + 10)
    done = {"status": "completed", "input": {"command": "ls"}, "output": big, "title": "ls"}
    out += t.feed(_part({**tool, "state": done}), 0.03)
    out += t.feed(_part({**tool, "state": done}), 0.04)  # repeated updates do not repeat events
    assert [e.type for e in out] == ["token", "tool_call", "tool_result"]
    assert out[2].output.endswith("[10 more characters truncated]")


def test_translator_outcomes() -> None:
    idle = {"type": "session.idle", "properties": {}}
    busy = {"type": "session.status", "properties": {"status": {"type": "busy"}}}
    stale = TurnTranslator("m1")
    stale.feed(idle, 0.0)
    assert not stale.finished  # an idle before this turn's busy belongs to the last turn

    failed = TurnTranslator("m1")
    failed.feed(busy, 0.0)
    error = {"name": "APIError", "data": {"message": "bad request"}}
    [event] = failed.feed({"type": "session.error", "properties": {"error": error}}, 0.0)
    failed.feed(idle, 0.0)
    assert failed.finished and (event.code, event.message) == ("APIError", "bad request")
    assert failed.completion(stop_requested=False).error == "bad request"

    aborted = TurnTranslator("m1")
    aborted.feed(busy, 0.0)
    assert aborted.feed({"type": "session.error", "properties": {"error": {"name": "MessageAbortedError"}}},
                        0.0) == []
    result = aborted.completion(stop_requested=False)
    assert (result.success, result.stopped) == (False, True)


def test_placeholder_titles_are_not_titles() -> None:
    assert not is_real_title("New session - 2026-11-27T02:27:28.171Z")
    assert not is_real_title("  ")
    assert is_real_title("Fix the login bug")
