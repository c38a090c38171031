"""What a model call cost, read from the provider's own answer: pure, no I/O.

:class:`UsageMeter` is fed the response body chunk by chunk, exactly as it is
passed on, and knows the usage once the body has ended. It reads both shapes the
proxy forwards:

* OpenAI-compatible: ``usage`` (``prompt_tokens``, ``completion_tokens``, and
  ``cost`` where the provider states one, e.g. OpenRouter) in the body, or in the
  last chunk of a stream asked with ``stream_options.include_usage``; the
  Responses API's ``response.usage`` (``input_tokens``/``output_tokens``) too.
* Anthropic: ``usage`` of ``message_start`` (input and cache tokens) updated by
  ``message_delta`` (the final output tokens; later fields replace earlier ones),
  or the body's ``usage`` when not streamed. Input counts cache reads and writes
  as well: they are tokens the provider processed and bills.

Streams are parsed as server-sent events (``data:`` lines, an event per blank
line); anything that is not JSON (``[DONE]``, comments) is skipped. Memory is
bounded: a line, an event or a whole JSON body over the limit is not metered
(the answer still passes through unchanged).

:func:`inspect_request` reads the request once: the model it names, and for an
OpenAI-compatible streamed chat completion the body rewritten to ask for the
usage chunk — the proxy is where spending is counted, so it does not depend on
the agent remembering to ask.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MAX_EVENT_BYTES = 1024 * 1024  # one SSE event; a usage chunk is a few hundred bytes
MAX_JSON_BODY_BYTES = 8 * 1024 * 1024  # a whole, non-streamed answer kept for metering
MAX_MODEL_CHARS = 200  # ModelUsage.model's column


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of one call; ``reported`` is False when the answer carried no usage."""

    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    reported: bool = False


@dataclass(frozen=True)
class InspectedRequest:
    body: bytes  # what to forward (the original bytes unless usage reporting was added)
    model: str
    usage_requested: bool  # the proxy added stream_options.include_usage


def inspect_request(body: bytes, *, kind: str, path: str) -> InspectedRequest:
    """The model a request names and the body to forward (see the module docstring)."""
    try:
        payload = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return InspectedRequest(body, "", False)
    if not isinstance(payload, dict):
        return InspectedRequest(body, "", False)
    model = payload.get("model")
    model = model[:MAX_MODEL_CHARS] if isinstance(model, str) else ""
    wants_stream = payload.get("stream") is True
    chat = ("/" + path.strip("/")).endswith("/chat/completions")
    if kind != "openai_compatible" or not wants_stream or not chat:
        return InspectedRequest(body, model, False)
    options = payload.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return InspectedRequest(body, model, False)
    payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
    return InspectedRequest(json.dumps(payload).encode(), model, True)


def _number(value: Any) -> float | None:
    """A finite, non-negative number, else None (a provider's odd field must not break metering)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _count(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


class UsageMeter:
    """Reads the usage out of one response body, fed in the pieces it arrived in."""

    def __init__(self, *, content_type: str, model: str = "") -> None:
        self.streaming = content_type.split(";", 1)[0].strip().lower() == "text/event-stream"
        self._model = model
        self._fields: dict[str, Any] = {}
        self._seen = False
        self._buffer = bytearray()  # SSE: the unfinished line; JSON: the body so far
        self._data: list[bytes] = []  # SSE: the data lines of the current event
        self._data_bytes = 0
        self._overflow = False  # JSON: the body outgrew the limit; SSE: skip the rest of this line

    # -- feeding ---------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        if self.streaming:
            self._feed_stream(chunk)
        elif not self._overflow:
            self._buffer += chunk
            if len(self._buffer) > MAX_JSON_BODY_BYTES:
                self._overflow, self._buffer = True, bytearray()

    def _feed_stream(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            piece = chunk[start:end]
            if self._overflow:
                self._overflow = False  # the end of an over-long line: resume with the next one
            else:
                self._buffer += piece
                self._line(bytes(self._buffer).rstrip(b"\r"))
            self._buffer.clear()
            start = end + 1
        if not self._overflow:
            self._buffer += chunk[start:]
            if len(self._buffer) > MAX_EVENT_BYTES:
                self._overflow, self._buffer = True, bytearray()

    def _line(self, line: bytes) -> None:
        if not line:
            self._dispatch()
        elif line.startswith(b"data:"):
            data = line[5:].removeprefix(b" ")
            self._data_bytes += len(data)
            if self._data_bytes <= MAX_EVENT_BYTES:
                self._data.append(data)

    def _dispatch(self) -> None:
        data, within = b"\n".join(self._data), self._data_bytes <= MAX_EVENT_BYTES
        self._data, self._data_bytes = [], 0
        if within and data.startswith(b"{"):
            self._observe_json(data)

    def _observe_json(self, data: bytes | bytearray) -> None:
        try:
            payload = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(payload, dict):
            self.observe(payload)

    def observe(self, payload: dict[str, Any]) -> None:
        """One JSON object of the answer: a whole body or one streamed event."""
        for holder in (payload, payload.get("message"), payload.get("response")):
            if not isinstance(holder, dict):
                continue
            if isinstance(holder.get("model"), str) and holder["model"] and not self._model:
                self._model = holder["model"][:MAX_MODEL_CHARS]
            usage = holder.get("usage")
            if isinstance(usage, dict):
                self._seen = True
                self._fields.update(usage)

    # -- the answer ------------------------------------------------------------

    def result(self) -> Usage:
        """The usage of everything fed so far (call once the body has ended)."""
        if self.streaming:
            if self._buffer and not self._overflow:
                self._line(bytes(self._buffer).rstrip(b"\r"))
                self._buffer.clear()
            self._dispatch()  # a stream that ended without its last blank line
        elif self._buffer:
            self._observe_json(self._buffer)
            self._buffer = bytearray()
        if not self._seen:
            return Usage(model=self._model)
        fields = self._fields
        prompt = _count(fields.get("prompt_tokens"))
        if prompt is None:
            prompt = sum(_count(fields.get(name)) or 0 for name in (
                "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
        output = _count(fields.get("completion_tokens"))
        if output is None:
            output = _count(fields.get("output_tokens")) or 0
        cost = _number(fields.get("cost")) or 0.0
        return Usage(model=self._model, input_tokens=prompt, output_tokens=output, cost=cost, reported=True)
