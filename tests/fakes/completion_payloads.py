"""The OpenAI chat-completions payloads of one answer, built from a script's reply.

Streamed: ``chat.completion.chunk`` objects (``delta.content``, ``delta.tool_calls``
whose ``function.arguments`` arrive in fragments, ``finish_reason``) and a usage
chunk; not streamed: one ``chat.completion`` object. Ids and numbers are derived
from the request, so the same conversation always gets the same payloads.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

from tests.fakes.script_types import TextReply, ToolReply

# Why 16: small enough that every tool call's arguments arrive in several
# fragments, as real providers send them, so the agent's reassembly is exercised.
ARGUMENT_FRAGMENT_CHARS = 16
# Why 3: text arrives a few words per chunk, like a real model's token stream.
WORDS_PER_TEXT_CHUNK = 3


def _text_chunks(text: str) -> list[str]:
    words = re.findall(r"\S+\s*|\s+", text)
    return ["".join(words[i : i + WORDS_PER_TEXT_CHUNK]) for i in range(0, len(words), WORDS_PER_TEXT_CHUNK)]


def _usage(request: dict[str, Any], completion: str) -> dict[str, int]:
    # Deterministic stand-in numbers: about four characters per token.
    prompt_tokens = max(1, len(json.dumps(request.get("messages", []))) // 4)
    completion_tokens = max(1, len(completion) // 4)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class Completion:
    """The chunks (or the whole object) of one answer, built from a reply."""

    def __init__(self, request: dict[str, Any], reply: TextReply | ToolReply, model_id: str) -> None:
        digest = hashlib.sha256(json.dumps(request.get("messages", []), sort_keys=True).encode()).hexdigest()
        self.id = f"chatcmpl-{digest[:24]}"
        self.call_prefix = f"call_{digest[:16]}"
        self.created = int(time.time())
        self.model = request.get("model") or model_id
        self.request = request
        self.reply = reply

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    def _tool_calls(self) -> list[dict[str, Any]]:
        calls = self.reply.calls if isinstance(self.reply, ToolReply) else ()
        return [
            {
                "id": f"{self.call_prefix}_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for index, call in enumerate(calls)
        ]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if isinstance(self.reply, ToolReply) else "stop"

    def chunks(self) -> Iterator[tuple[dict[str, Any], float]]:
        """Each streamed chunk with the delay (seconds) to wait before sending it."""
        delay = self.reply.chunk_delay_seconds if isinstance(self.reply, TextReply) else 0.0
        yield self._chunk({"role": "assistant", "content": ""}), 0.0
        pieces = self.reply.chunks if isinstance(self.reply, TextReply) else ()
        for piece in pieces or _text_chunks(self.reply.text):
            yield self._chunk({"content": piece}), delay
        for index, call in enumerate(self._tool_calls()):
            head = {"index": index, "id": call["id"], "type": "function"}
            yield self._chunk({"tool_calls": [{**head, "function": {"name": call["function"]["name"],
                                                                     "arguments": ""}}]}), 0.0
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), ARGUMENT_FRAGMENT_CHARS):
                fragment = arguments[start : start + ARGUMENT_FRAGMENT_CHARS]
                yield self._chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}), 0.0
        yield self._chunk({}, self.finish_reason), 0.0

    def usage_chunk(self) -> dict[str, Any]:
        chunk = self._chunk({})
        chunk["choices"] = []
        chunk["usage"] = _usage(self.request, self._completion_text())
        return chunk

    def _completion_text(self) -> str:
        return self.reply.text + json.dumps(self._tool_calls())

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply.text or None, "refusal": None}
        if calls := self._tool_calls():
            message["tool_calls"] = calls
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_scripted",
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}],
            "usage": _usage(self.request, self._completion_text()),
        }
