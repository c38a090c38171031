"""The real OpenCode, configured as a sandbox is (the proxy's URL and the sandbox's proxy token),
talking Anthropic's API through the proxy to a fake Anthropic on 127.0.0.1: OpenCode's own
Anthropic client sends the token as ``x-api-key``, the provider gets the real key, and the call is
metered from Anthropic's ``message_start``/``message_delta`` usage."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import openinspect_protocol as protocol
import pytest

from sandbox.harness.base import AgentConfig, ProviderConfig
from sandbox.harness.opencode import OpenCodeHarness
from tests.backend_jobs.model_proxy.conftest import REAL_KEY, ProxyFactory, World, usage_rows
from tests.backend_jobs.model_proxy.fake_provider import Answer, FakeProvider
from tests.support.system import OPENCODE_BIN

TURN_TIMEOUT_SECONDS = 90.0
REPLY = "Hello through the proxy."


def anthropic_text(text: str, *, input_tokens: int, output_tokens: int) -> Answer:
    """A streamed Anthropic Messages answer of one text block, as the API sends it."""
    def event(name: str, data: dict) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    return Answer(content_type="text/event-stream", pieces=[
        event("message_start", {"message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}}),
        event("content_block_stop", {"index": 0}),
        event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                "usage": {"output_tokens": output_tokens}}),
        event("message_stop", {}),
    ])


@pytest.fixture
def agent_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


@pytest.fixture
async def agent(tmp_path: Path, agent_repo: Path, world: World, provider: tuple[FakeProvider, str],
                start_proxy: ProxyFactory) -> AsyncIterator[OpenCodeHarness]:
    _, base_url = provider
    proxy = await start_proxy(base_url=base_url, kind="anthropic")
    repo = agent_repo
    config = AgentConfig(workdir=repo, state_dir=tmp_path / "state", model="anthropic/claude-sonnet-4-5",
                         binary=OPENCODE_BIN, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
                         provider=ProviderConfig(kind="anthropic", base_url=f"{proxy.url}/v1", api_key=world.token))
    harness = OpenCodeHarness(config)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.close()


async def test_opencodes_anthropic_client_goes_through_the_proxy(
        agent: OpenCodeHarness, world: World, provider: tuple[FakeProvider, str]) -> None:
    fake, _ = provider
    fake.default = anthropic_text(REPLY, input_tokens=21, output_tokens=6)  # the turn and its title request
    events: list[protocol.SandboxEvent] = []
    prompt = protocol.Prompt(message_id="m1", content="Say hello",
                             author=protocol.Author(name="Ada Lovelace", email="ada@example.com"))
    result = await asyncio.wait_for(agent.run(prompt, events.append), TURN_TIMEOUT_SECONDS)

    assert result.success, result.error
    assert REPLY in "".join(e.text for e in events if isinstance(e, protocol.TokenDelta))
    assert fake.calls and all(call.path == "/v1/messages" for call in fake.calls)
    for call in fake.calls:
        assert call.header("x-api-key") == REAL_KEY and call.header("authorization") is None
        assert call.header("anthropic-version")  # OpenCode's own headers pass
    assert not any(world.token in value for call in fake.calls for _, value in call.headers)
    async with asyncio.timeout(TURN_TIMEOUT_SECONDS):  # the title request may still be on its way
        while len(rows := await usage_rows(world)) < len(fake.calls):
            await asyncio.sleep(0.1)
    assert len(rows) == len(fake.calls)
    assert all((row.input_tokens, row.output_tokens) == (21, 6) for row in rows)
