"""The agent's pull-request tool: the MCP server, the runtime's desk, and the real OpenCode calling it."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import openinspect_protocol as protocol
import pytest

from sandbox.git_sync import GitRepo
from sandbox.harness.base import AgentConfig, ProviderConfig
from sandbox.harness.opencode import OpenCodeHarness
from sandbox.harness.opencode_config import PULL_REQUEST_TOOL, agent_environment, pull_request_mcp_server
from sandbox.pull_requests import PullRequestDesk
from sandbox.pushes import BranchPusher
from sandbox.tools import pull_request_mcp
from tests.fakes.scripted_model import ScriptedModel
from tests.sandbox.gitrepos import git, make_bare, make_repo
from tests.sandbox.test_opencode_harness import API_KEY, MODEL, TURN_TIMEOUT_SECONDS, Recorder, prompt

BRANCH = "openinspect/abcd1234-add-a-thing"
PR_URL = "https://github.example/acme/widgets/pull/7"


# ----------------------------------------------------------------------------- the MCP server alone


def test_mcp_initialize_echoes_the_clients_version_and_offers_tools() -> None:
    answer = pull_request_mcp.handle(
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-03-26"}}, None)
    assert answer is not None
    assert answer["result"]["protocolVersion"] == "2025-03-26"
    assert answer["result"]["capabilities"] == {"tools": {"listChanged": False}}
    tools = pull_request_mcp.handle({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, None)
    assert tools is not None and [t["name"] for t in tools["result"]["tools"]] == ["create_pull_request"]
    assert PULL_REQUEST_TOOL == "openinspect_create_pull_request"


def test_mcp_refusals() -> None:
    assert pull_request_mcp.handle({"jsonrpc": "2.0", "method": "notifications/initialized"}, None) is None
    unknown = pull_request_mcp.handle({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}, None)
    assert unknown is not None and unknown["error"]["code"] == -32601
    call = {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "create_pull_request", "arguments": {"title": "x"}}}
    no_socket = pull_request_mcp.handle(call, None)
    assert no_socket is not None and no_socket["result"]["isError"] is True
    untitled = pull_request_mcp.handle({**call, "params": {"name": "create_pull_request", "arguments": {}}}, "/x")
    assert untitled is not None and "needs a title" in untitled["result"]["content"][0]["text"]


# ----------------------------------------------------------------------------- the desk, with real git


class Emitted(Recorder):
    async def first(self, cls: type) -> protocol.SandboxEvent:
        await self.wait_for(cls)
        return self.of(cls)[0]


@pytest.fixture
async def desk_rig(tmp_path: Path, sandbox_git_env: dict[str, str]) -> AsyncIterator[tuple[PullRequestDesk, Emitted,
                                                                                          GitRepo, Path]]:
    source = make_repo(tmp_path / "src", sandbox_git_env)
    bare = make_bare(source, tmp_path / "remote.git", sandbox_git_env)
    repo = GitRepo(tmp_path / "repo", env=sandbox_git_env)
    await repo.clone(str(bare))
    await repo.checkout_work_branch(BRANCH)
    emitted = Emitted()
    desk = PullRequestDesk(BRANCH, BranchPusher(repo, emitted, base_branch="main"), emitted, lambda: "m1",
                           result_timeout_seconds=5)
    await desk.start()
    try:
        yield desk, emitted, repo, bare
    finally:
        await desk.close()
    assert not desk.socket_path.exists()


async def mcp_call(socket_path: Path, arguments: dict[str, object]) -> dict:
    """Run the MCP server as OpenCode does (its command and environment, stdio) and call the tool once."""
    messages = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
         "params": {"name": "create_pull_request", "arguments": arguments}},
    ]
    server = pull_request_mcp_server(str(socket_path))  # the command and environment OpenCode is given
    process = await asyncio.create_subprocess_exec(
        *server["command"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=server["environment"],
        cwd=socket_path.parent)
    stdout, _ = await asyncio.wait_for(
        process.communicate("".join(json.dumps(m) + "\n" for m in messages).encode()), 60)
    answers = {a["id"]: a for a in map(json.loads, stdout.decode().splitlines())}
    return answers[1]["result"]


async def test_the_tool_pushes_asks_the_control_plane_and_answers_with_the_url(
    desk_rig: tuple[PullRequestDesk, Emitted, GitRepo, Path], sandbox_git_env: dict[str, str]
) -> None:
    desk, emitted, repo, bare = desk_rig
    git(repo.path, "commit", "--quiet", "--allow-empty", "-m", "a thing", env=sandbox_git_env)
    call = asyncio.create_task(mcp_call(desk.socket_path, {"title": "Add a thing", "body": "Why", "draft": True}))

    requested = await emitted.first(protocol.PullRequestRequested)
    assert isinstance(requested, protocol.PullRequestRequested)
    assert (requested.title, requested.body, requested.draft, requested.message_id) == ("Add a thing", "Why", True,
                                                                                        "m1")
    assert desk.resolve(protocol.PullRequestResult(request_id=requested.request_id, url=PR_URL, number=7))
    result = await call

    assert result == {"content": [{"type": "text", "text": f"Pull request #7 opened: {PR_URL} (branch {BRANCH})"}],
                      "isError": False}
    assert emitted.types() == ["push_complete", "pull_request_requested"]
    (push,) = emitted.of(protocol.PushComplete)
    assert push.commits_ahead == 1 and push.message_id == "m1"
    assert git(bare, "rev-parse", f"refs/heads/{BRANCH}", env=sandbox_git_env) == push.head_sha
    assert not desk.resolve(protocol.PullRequestResult(request_id=requested.request_id, url=PR_URL))  # answered


async def test_the_control_plane_refusing_or_not_answering_reaches_the_agent(
    desk_rig: tuple[PullRequestDesk, Emitted, GitRepo, Path]
) -> None:
    desk, emitted, _, _ = desk_rig
    call = asyncio.create_task(mcp_call(desk.socket_path, {"title": "Refused"}))
    requested = await emitted.first(protocol.PullRequestRequested)
    assert isinstance(requested, protocol.PullRequestRequested)
    desk.resolve(protocol.PullRequestResult(request_id=requested.request_id, error="GitHub said no: 422"))
    refused = await call
    assert refused["isError"] is True and "GitHub said no: 422" in refused["content"][0]["text"]

    unanswered = await mcp_call(desk.socket_path, {"title": "Nobody home"})  # the desk waits 5 s here
    assert unanswered["isError"] is True and "did not answer within 5 s" in unanswered["content"][0]["text"]


# ----------------------------------------------------------------------------- the real OpenCode


async def test_opencode_calls_the_tool_after_committing_and_is_told_about_the_branch(
    desk_rig: tuple[PullRequestDesk, Emitted, GitRepo, Path], tmp_path: Path, opencode_binary: str,
    sandbox_git_env: dict[str, str]
) -> None:
    desk, pushes, repo, bare = desk_rig
    with ScriptedModel(api_key=API_KEY) as model:
        config = AgentConfig(
            workdir=repo.path, state_dir=tmp_path / "state", model=MODEL, binary=opencode_binary,
            provider=ProviderConfig(kind="openai_compatible", base_url=model.base_url, api_key=API_KEY),
            env=sandbox_git_env, work_branch=BRANCH, pull_request_socket=str(desk.socket_path))
        agent = OpenCodeHarness(config)
        await agent.start()
        try:
            turn = Recorder()
            running = asyncio.create_task(agent.run(prompt(
                '#script commit-pull-request path=THING.md message="Add a thing" title="Add a thing" body="It adds."'
            ), turn))
            requested = await pushes.first(protocol.PullRequestRequested)
            assert isinstance(requested, protocol.PullRequestRequested)
            assert (requested.title, requested.body, requested.draft) == ("Add a thing", "It adds.", False)
            desk.resolve(protocol.PullRequestResult(request_id=requested.request_id, url=PR_URL, number=7))
            result = await asyncio.wait_for(running, TURN_TIMEOUT_SECONDS)
        finally:
            await agent.close()
        first_request = model.chat_requests(script="commit-pull-request")[0].body

    assert result.success, result
    (call,) = [c for c in turn.of(protocol.ToolCall) if c.tool == PULL_REQUEST_TOOL]
    assert call.input == {"title": "Add a thing", "body": "It adds."}
    (tool_result,) = [r for r in turn.of(protocol.ToolResult) if r.tool == PULL_REQUEST_TOOL]
    assert tool_result.status == "completed" and PR_URL in tool_result.output
    assert PR_URL in turn.text()
    (push,) = pushes.of(protocol.PushComplete)
    assert git(bare, "log", "-1", "--format=%s", f"refs/heads/{BRANCH}", env=sandbox_git_env) == "Add a thing"
    assert push.head_sha == git(repo.path, "rev-parse", "HEAD", env=sandbox_git_env)
    assert PULL_REQUEST_TOOL in [tool["function"]["name"] for tool in first_request["tools"]]
    system = json.dumps(first_request["messages"][0])
    assert f"pushed to the branch `{BRANCH}` for you" in system and "Do not run `git push` yourself" in system
    assert PULL_REQUEST_TOOL in system


def test_the_agents_environment_never_prompts_for_git_credentials(tmp_path: Path) -> None:
    config = AgentConfig(workdir=tmp_path, state_dir=tmp_path / "state", model=MODEL, binary="opencode",
                         provider=ProviderConfig(base_url="http://127.0.0.1:1/v1"), work_branch=BRANCH)
    env = agent_environment(config, "password", {"GIT_TERMINAL_PROMPT": "1"})
    assert env["GIT_TERMINAL_PROMPT"] == "0"
