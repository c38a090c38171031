"""Usage read from providers' answers (pure): OpenAI and Anthropic shapes, streamed and whole."""

from __future__ import annotations

import json

import pytest

from backend_jobs.model_proxy.metering import MAX_EVENT_BYTES, Usage, UsageMeter, inspect_request


def sse(*events: object) -> bytes:
    return b"".join(b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n" for e in events)


def metered(body: bytes, content_type: str, *, piece: int | None = None, model: str = "") -> Usage:
    meter = UsageMeter(content_type=content_type, model=model)
    step = piece or len(body) or 1
    for start in range(0, len(body), step):
        meter.feed(body[start:start + step])
    return meter.result()


OPENAI_STREAM = sse(
    {"id": "c1", "model": "gpt-4.1-2025", "choices": [{"delta": {"content": "Hel"}}], "usage": None},
    {"id": "c1", "model": "gpt-4.1-2025", "choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
    {"id": "c1", "model": "gpt-4.1-2025", "choices": [],
     "usage": {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127}},
    b"[DONE]",
)
ANTHROPIC_STREAM = (
    b"event: message_start\n" + sse({"type": "message_start", "message": {
        "id": "m1", "model": "claude-sonnet-4-5", "usage": {
            "input_tokens": 40, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 300,
            "output_tokens": 1}}})
    + b"event: content_block_delta\n" + sse({"type": "content_block_delta", "delta": {"text": "Hi"}})
    + b"event: message_delta\n" + sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                        "usage": {"output_tokens": 25}})
    + b"event: message_stop\n" + sse({"type": "message_stop"})
)


@pytest.mark.parametrize("piece", [None, 1, 7, 64])  # however the bytes arrive
def test_openai_stream_usage_is_the_final_chunks(piece: int | None) -> None:
    assert metered(OPENAI_STREAM, "text/event-stream; charset=utf-8", piece=piece, model="gpt-4.1") == Usage(
        model="gpt-4.1", input_tokens=120, output_tokens=7, reported=True)


@pytest.mark.parametrize("piece", [None, 1, 13])
def test_anthropic_stream_usage_is_message_start_updated_by_message_delta(piece: int | None) -> None:
    # Input counts the cache reads and writes; output is message_delta's final count, not message_start's 1.
    assert metered(ANTHROPIC_STREAM, "text/event-stream", piece=piece) == Usage(
        model="claude-sonnet-4-5", input_tokens=350, output_tokens=25, reported=True)


def test_crlf_lines_and_a_stream_without_its_last_blank_line() -> None:
    body = OPENAI_STREAM.replace(b"\n", b"\r\n").removesuffix(b"\r\n\r\n")
    body = body.replace(b"data: [DONE]", b"").rstrip() + b"\r\n"
    assert metered(body, "text/event-stream").input_tokens == 120


def test_whole_answers_and_a_stated_cost() -> None:
    openai = {"id": "c1", "model": "m", "choices": [], "usage": {
        "prompt_tokens": 11, "completion_tokens": 3, "cost": 0.0042}}
    assert metered(json.dumps(openai).encode(), "application/json", piece=5) == Usage(
        model="m", input_tokens=11, output_tokens=3, cost=0.0042, reported=True)
    anthropic = {"type": "message", "model": "claude", "usage": {"input_tokens": 9, "output_tokens": 4}}
    assert metered(json.dumps(anthropic).encode(), "application/json") == Usage(
        model="claude", input_tokens=9, output_tokens=4, reported=True)
    responses = {"type": "response.completed", "response": {"model": "o4", "usage": {
        "input_tokens": 5, "output_tokens": 6}}}
    assert metered(sse(responses), "text/event-stream") == Usage(
        model="o4", input_tokens=5, output_tokens=6, reported=True)


@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"error": {"message": "rate limited"}}', "application/json"),
    (b"not json at all", "application/json"),
    (sse({"choices": [{"delta": {"content": "x"}}]}, b"[DONE]"), "text/event-stream"),
    (b"", "text/event-stream"),
    (json.dumps({"usage": {"prompt_tokens": -3, "completion_tokens": "many", "cost": float("nan")}}).encode(),
     "application/json"),
])
def test_answers_without_usable_usage_count_nothing(body: bytes, content_type: str) -> None:
    usage = metered(body, content_type)
    assert (usage.input_tokens, usage.output_tokens, usage.cost) == (0, 0, 0.0)


def test_an_over_long_event_is_skipped_and_the_stream_still_metered() -> None:
    huge = sse({"choices": [{"delta": {"content": "x" * (MAX_EVENT_BYTES + 10)}}]})
    assert metered(huge + OPENAI_STREAM, "text/event-stream", piece=4096).output_tokens == 7


def test_streamed_chat_completions_are_asked_for_their_usage() -> None:
    plain = json.dumps({"model": "gpt-4.1", "stream": True, "messages": []}).encode()
    inspected = inspect_request(plain, kind="openai_compatible", path="chat/completions")
    assert (inspected.model, inspected.usage_requested) == ("gpt-4.1", True)
    assert json.loads(inspected.body)["stream_options"] == {"include_usage": True}

    other_options = json.dumps({"model": "m", "stream": True, "stream_options": {"x": 1}}).encode()
    assert json.loads(inspect_request(other_options, kind="openai_compatible", path="chat/completions").body)[
        "stream_options"] == {"x": 1, "include_usage": True}


@pytest.mark.parametrize(("body", "kind", "path"), [
    (json.dumps({"model": "m", "stream": True, "stream_options": {"include_usage": True}}), "openai_compatible",
     "chat/completions"),  # already asked
    (json.dumps({"model": "m", "messages": []}), "openai_compatible", "chat/completions"),  # not streamed
    (json.dumps({"model": "m", "stream": True}), "anthropic", "messages"),  # Anthropic always reports
    (json.dumps({"model": "m", "stream": True}), "openai_compatible", "responses"),
    ("[1, 2]", "openai_compatible", "chat/completions"),
    ("{not json", "openai_compatible", "chat/completions"),
])
def test_other_requests_pass_unchanged(body: str, kind: str, path: str) -> None:
    inspected = inspect_request(body.encode(), kind=kind, path=path)
    assert (inspected.body, inspected.usage_requested) == (body.encode(), False)
