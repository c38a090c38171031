"""The scripted model's payload shapes, directive parsing and statelessness."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.fakes.scripted_model import (
    ScriptContext,
    ScriptedModel,
    TextReply,
    ToolCallSpec,
    ToolReply,
    parse_directive,
)

SYSTEM = {"role": "system", "content": "You are opencode.\n<env>\n  Working directory: /work/repo\n</env>"}
TOOLS = [{"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
         for name in ("bash", "write")]


@pytest.fixture
def model() -> Iterator[ScriptedModel]:
    with ScriptedModel() as running:
        yield running


def post(model: ScriptedModel, messages: list[dict[str, Any]], *, tools: bool = True, stream: bool = True,
         include_usage: bool = True, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"model": "scripted", "messages": messages, "stream": stream, **extra}
    if tools:
        body["tools"] = TOOLS
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    return httpx.post(f"{model.base_url}/chat/completions", json=body, timeout=30, trust_env=False)


def sse(response: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of a streamed answer (JSON objects, then the string "[DONE]")."""
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = [line[len("data: "):] for line in response.text.split("\n\n") if line.startswith("data: ")]
    return [p if p == "[DONE]" else json.loads(p) for p in payloads]


def streamed_text(chunks: list[Any]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1] if c["choices"])


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# --------------------------------------------------------------------------
# Payload shapes
# --------------------------------------------------------------------------


def test_models_endpoint_lists_the_model(model: ScriptedModel) -> None:
    response = httpx.get(f"{model.base_url}/models", trust_env=False)
    assert response.json() == {"object": "list", "data": [
        {"id": "scripted", "object": "model", "created": 0, "owned_by": "openinspect"}]}


def test_tool_call_streams_as_argument_fragments(model: ScriptedModel) -> None:
    chunks = sse(post(model, [SYSTEM, user("#script write-file path=hello.txt content='hi there'")]))

    assert chunks[-1] == "[DONE]"
    objects = chunks[:-1]
    assert {c["object"] for c in objects} == {"chat.completion.chunk"}
    assert len({c["id"] for c in objects}) == 1
    assert objects[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in objects
             if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    head, fragments = calls[0], calls[1:]
    assert (head["index"], head["type"], head["function"]) == (0, "function", {"name": "write", "arguments": ""})
    assert head["id"].startswith("call_")
    assert len(fragments) > 1 and all(set(f) == {"index", "function"} for f in fragments)
    arguments = json.loads("".join(f["function"]["arguments"] for f in fragments))
    assert arguments == {"filePath": "/work/repo/hello.txt", "content": "hi there"}
    finish, usage = objects[-2], objects[-1]
    assert finish["choices"][0]["finish_reason"] == "tool_calls"
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] == (
        usage["usage"]["prompt_tokens"] + usage["usage"]["completion_tokens"])


def test_usage_chunk_only_when_asked(model: ScriptedModel) -> None:
    chunks = sse(post(model, [user("#script text text=hello")], include_usage=False))
    assert all(c["choices"] for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert streamed_text(chunks) == "hello"


def test_non_streaming_answer(model: ScriptedModel) -> None:
    body = post(model, [SYSTEM, user("#script bash command=ls")], stream=False).json()
    assert body["object"] == "chat.completion"
    [choice] = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "bash"
    assert json.loads(call["function"]["arguments"]) == {"command": "ls"}
    assert body["usage"]["prompt_tokens"] > 0


def test_the_step_is_the_number_of_assistant_turns_since_the_user_message(model: ScriptedModel) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}
    messages = [
        SYSTEM,
        user("#script text text=old-turn"),
        {"role": "assistant", "content": "old-turn"},
        user("#script bash command='echo hi'"),
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "hi\n"},
    ]
    assert streamed_text(sse(post(model, messages))) == "Ran `echo hi`:\n\n```\nhi\n```\n"
    [recorded] = model.chat_requests()
    assert (recorded.script, recorded.step) == ("bash", 1)


def test_a_request_without_tools_gets_a_title(model: ScriptedModel) -> None:
    def title(*messages: dict[str, Any]) -> str:
        return streamed_text(sse(post(model, [SYSTEM, *messages], tools=False)))

    ask = user("Generate a title for this conversation:\n")
    assert title(ask, user("fix the flaky login test in auth.py please, it fails on CI")) == \
        "Fix the flaky login test in auth.py please"
    assert title(ask, user("#script write-file path=a.txt")) == "Scripted write-file"
    parts = {"role": "user", "content": [{"type": "text", "text": "Rename the module\n#script text text=x"}]}
    assert title(ask, parts) == "Rename the module"
    assert {r.kind for r in model.requests} == {"title"}


def test_fail_answers_an_api_error(model: ScriptedModel) -> None:
    response = post(model, [user("#script fail")])
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "scripted_failure"
    custom = post(model, [user("#script fail status=503 message='overloaded, try again'")])
    assert (custom.status_code, custom.json()["error"]["message"]) == (503, "overloaded, try again")


def test_api_key_is_checked_when_configured() -> None:
    with ScriptedModel(api_key="right") as model:
        body = {"model": "scripted", "messages": [user("#script text text=x")], "tools": TOOLS}
        url = f"{model.base_url}/chat/completions"
        wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer wrong"}, trust_env=False)
        right = httpx.post(url, json=body, headers={"Authorization": "Bearer right"}, trust_env=False)
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200


def test_unknown_paths_and_bad_json_are_refused(model: ScriptedModel) -> None:
    assert httpx.post(f"{model.base_url}/completions", json={}, trust_env=False).status_code == 404
    bad = httpx.post(f"{model.base_url}/chat/completions", content=b"{nope", trust_env=False)
    assert bad.status_code == 400 and "error" in bad.json()


# --------------------------------------------------------------------------
# Scripts
# --------------------------------------------------------------------------


def test_parse_directive() -> None:
    found = parse_directive('Please do it.\n#script commit path=a.md message="Add a file" extra\nbody line\n')
    assert found is not None
    assert (found.name, found.args, found.positional) == ("commit", {"path": "a.md", "message": "Add a file"},
                                                          ("extra",))
    assert found.body == "body line\n"
    assert found.prompt == "Please do it.\nbody line"
    assert parse_directive("no directive here; #script is only honoured at a line start") is None


def test_text_without_argument_answers_the_body_verbatim(model: ScriptedModel) -> None:
    markup = "<script>alert('x')</script> & <b>bold</b>"
    assert streamed_text(sse(post(model, [user(f"#script text\n{markup}")]))) == markup
    assert streamed_text(sse(post(model, [user(f'#script text text="{markup}"')]))) == markup


def test_a_reply_streams_exactly_the_chunks_it_names(model: ScriptedModel) -> None:
    # How a test splits a secret across chunks where it wants (the runtime must scrub it while streaming).
    model.register("split", lambda ctx: TextReply.streamed("The value is se", "cr", "et-val", "ue, done."))
    chunks = sse(post(model, [user("#script split")]))
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1] if c["choices"]]
    assert [p for p in pieces if p] == ["The value is se", "cr", "et-val", "ue, done."]
    with pytest.raises(ValueError, match="join"):
        TextReply("abc", chunks=("a", "b"))


def test_slow_streams_ticks_with_delays(model: ScriptedModel) -> None:
    chunks = sse(post(model, [user("#script slow seconds=0.3 interval_seconds=0.1")]))
    assert streamed_text(chunks) == "tick1 tick2 tick3"


def test_stop_ends_a_slow_stream(model: ScriptedModel) -> None:
    body = {"model": "scripted", "messages": [user("#script slow seconds=600")], "tools": TOOLS, "stream": True}
    with httpx.stream("POST", f"{model.base_url}/chat/completions", json=body, trust_env=False,
                      timeout=30) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        model.stop()
        # The stream ends at once, cut off like a provider that went away.
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)


def test_demo_runs_ls_write_commit_then_summarises(model: ScriptedModel) -> None:
    prompt = user("Add a demo file")
    conversation: list[dict[str, Any]] = [SYSTEM, prompt]
    tools_used = []
    for step in range(3):
        body = post(model, conversation, stream=False).json()
        message = body["choices"][0]["message"]
        [call] = message["tool_calls"]
        tools_used.append((call["function"]["name"], json.loads(call["function"]["arguments"])))
        conversation += [message, {"role": "tool", "tool_call_id": call["id"], "content": f"output {step}"}]
    final = post(model, conversation, stream=False).json()["choices"][0]

    assert tools_used[0] == ("bash", {"command": "ls -la"})
    assert tools_used[1][0] == "write" and tools_used[1][1]["filePath"] == "/work/repo/OPENINSPECT_DEMO.md"
    assert "> Add a demo file" in tools_used[1][1]["content"]
    assert tools_used[2][0] == "bash" and "git commit" in tools_used[2][1]["command"]
    assert final["finish_reason"] == "stop" and final["message"]["content"].startswith("## Summary")


def test_registered_and_unknown_scripts(model: ScriptedModel) -> None:
    def two_reads(ctx: ScriptContext) -> ToolReply | TextReply:
        if ctx.step == 0:
            return ToolReply((ToolCallSpec("read", {"filePath": ctx.path("a")}),
                              ToolCallSpec("read", {"filePath": ctx.path("b")})))
        return TextReply(f"read {len(ctx.tool_outputs)} files")

    model.register("two-reads", two_reads)
    [choice] = post(model, [SYSTEM, user("#script two-reads")], stream=False).json()["choices"]
    assert [c["function"]["name"] for c in choice["message"]["tool_calls"]] == ["read", "read"]
    assert len({c["id"] for c in choice["message"]["tool_calls"]}) == 2
    unknown = streamed_text(sse(post(model, [user("#script nope")])))
    assert unknown.startswith("Unknown script `nope`.") and "two-reads" in unknown


# --------------------------------------------------------------------------
# Statelessness
# --------------------------------------------------------------------------


def test_concurrent_conversations_get_their_own_answers(model: ScriptedModel) -> None:
    def converse(index: int) -> tuple[str, str]:
        first = post(model, [SYSTEM, user(f"#script text text=answer-{index}")])
        again = post(model, [SYSTEM, user(f"#script text text=answer-{index}")])
        return streamed_text(sse(first)), sse(first)[0]["id"] + "|" + sse(again)[0]["id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(converse, range(32)))

    for index, (text, ids) in enumerate(results):
        assert text == f"answer-{index}"
        first_id, again_id = ids.split("|")
        assert first_id == again_id  # decided by the conversation alone
    assert len(model.chat_requests(script="text")) == 64


# --------------------------------------------------------------------------
# Standalone
# --------------------------------------------------------------------------


def test_runs_standalone() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.fakes.scripted_model", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/models", trust_env=False)
                break
            except httpx.ConnectError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "standalone server did not come up"
                time.sleep(0.1)
        assert response.json()["data"][0]["id"] == "scripted"
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr:
            server.stderr.close()
