"""Asking the model to choose a repository, against the scripted model (an OpenAI-compatible server)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openinspect_core.settings import Settings
from openinspect_core.slack import model_choice
from openinspect_core.slack.repo_choice import Candidate
from tests.fakes.scripted_model import (
    ErrorReply,
    Reply,
    ScriptContext,
    ScriptedModel,
    TextReply,
    ToolCallSpec,
    ToolReply,
)

KEY = "sk-chooser-test-key-0123456789"
API = Candidate("r-api", "billing-api", "acme/billing-api", "https://github.com/acme/billing-api",
                "REST API for invoices", aliases=("api",), keywords=("stripe",))
WEB = Candidate("r-web", "webapp", "acme/webapp", "https://github.com/acme/webapp", "Customer dashboard")
MESSAGE = "the totals on the invoice page are wrong"


class Chooser:
    """What the scripted model answers to the chooser: set ``reply`` per test."""

    def __init__(self) -> None:
        self.reply: Reply = TextReply("")

    def __call__(self, ctx: ScriptContext) -> Reply:
        return self.reply


@pytest.fixture
def chooser() -> Iterator[tuple[ScriptedModel, Chooser]]:
    script = Chooser()
    # The chooser's own model: its "demo" (what a message without a #script line runs) is the chooser.
    with ScriptedModel(api_key=KEY, scripts={"demo": script}) as model:
        yield model, script


def settings(tmp_path: Path, base_url: str | None, **values: Any) -> Settings:
    return Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path)}, provider_base_url=base_url,
                             provider_api_key=KEY, **{"slack_chooser_model": "openinspect/scripted", **values})


def choose_call(repo_id: str) -> ToolReply:
    return ToolReply((ToolCallSpec(model_choice.TOOL_NAME, {"repo_id": repo_id}),))


async def test_the_model_picks_one_of_the_candidates(chooser: tuple[ScriptedModel, Chooser], tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    model, script = chooser
    script.reply = choose_call("r-api")
    caplog.set_level(logging.DEBUG)
    assert await model_choice.ask_model(settings(tmp_path, model.base_url), MESSAGE, [API, WEB]) == "r-api"
    [request] = model.chat_requests()
    assert request.headers.get("Authorization", request.headers.get("authorization")) == f"Bearer {KEY}"
    body = request.body
    assert body["model"] == "scripted" and body["tool_choice"]["function"]["name"] == model_choice.TOOL_NAME
    [tool] = body["tools"]
    assert tool["function"]["parameters"]["properties"]["repo_id"]["enum"] == ["r-api", "r-web", "none"]
    asked = body["messages"][-1]["content"]
    assert MESSAGE in asked and "acme/billing-api" in asked and "REST API for invoices" in asked and "stripe" in asked
    assert KEY not in caplog.text


@pytest.mark.parametrize("reply", [choose_call("r-elsewhere"), choose_call("none"), TextReply("I am not sure"),
                                   ErrorReply(500, {"message": "overloaded", "type": "server_error"}),
                                   ErrorReply(404, {"message": "no such model", "type": "invalid_request_error"})])
async def test_anything_but_a_candidate_is_no_choice(chooser: tuple[ScriptedModel, Chooser], tmp_path: Path,
                                                     reply: Reply) -> None:
    model, script = chooser
    script.reply = reply
    assert await model_choice.ask_model(settings(tmp_path, model.base_url), MESSAGE, [API, WEB]) is None
    assert len(model.chat_requests()) == 1


async def test_a_plain_text_answer_naming_a_candidate_counts(chooser: tuple[ScriptedModel, Chooser],
                                                             tmp_path: Path) -> None:
    model, script = chooser
    script.reply = TextReply("`r-web`")
    assert await model_choice.ask_model(settings(tmp_path, model.base_url), MESSAGE, [API, WEB]) == "r-web"


async def test_without_a_chooser_model_or_a_provider_nobody_is_asked(chooser: tuple[ScriptedModel, Chooser],
                                                                      tmp_path: Path) -> None:
    model, script = chooser
    script.reply = choose_call("r-api")
    assert await model_choice.ask_model(settings(tmp_path, model.base_url, slack_chooser_model=None), MESSAGE,
                                        [API, WEB]) is None
    assert await model_choice.ask_model(settings(tmp_path, None), MESSAGE, [API, WEB]) is None
    assert await model_choice.ask_model(settings(tmp_path, model.base_url), MESSAGE, []) is None
    assert model.requests == []
    with socket.socket() as probe:  # a port nobody listens on: unreachable is no choice, not an error
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    assert await model_choice.ask_model(settings(tmp_path, closed), MESSAGE, [API, WEB]) is None


def test_the_anthropic_messages_shapes() -> None:
    """The request and answer as Anthropic's Messages API documents them (tool_use content block)."""
    request = model_choice.anthropic_request("claude-sonnet-4-5", MESSAGE, [API, WEB])
    assert request["tool_choice"] == {"type": "tool", "name": model_choice.TOOL_NAME}
    assert request["tools"][0]["input_schema"]["properties"]["repo_id"]["enum"] == ["r-api", "r-web", "none"]
    assert request["messages"][0]["role"] == "user" and isinstance(request["system"], str)
    answer = json.loads("""{"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": "choose_repository",
                     "input": {"repo_id": "r-web"}}],
        "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 120, "output_tokens": 20}}""")
    assert model_choice.anthropic_answer(answer) == "r-web"
    assert model_choice.anthropic_answer({"content": [{"type": "text", "text": "r-web"}]}) is None
