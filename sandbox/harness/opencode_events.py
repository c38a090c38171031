"""OpenCode's event stream, read and translated: SSE lines in, protocol events out.

:func:`sse_events` parses the ``data:`` lines of ``GET /event`` into JSON
objects. :class:`TurnTranslator` owns the mapping of one session's OpenCode
events to protocol events for one prompt: message roles, part kinds, tool calls
announced and finished, text deltas held back for up to
:data:`TEXT_COALESCE_SECONDS` and flushed before any other event, and the
turn's outcome. :func:`is_real_title` tells a session title worth showing from
OpenCode's placeholder.

Everything here is pure apart from reading the async line iterator it is given
(and logging a payload that is not JSON): no processes, no HTTP, no clock —
callers pass the monotonic time in.

What this module leaves to others: routing events to the running turn and
deciding when a turn ends on a dead process or a reconnected stream
(:mod:`sandbox.harness.opencode`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import openinspect_protocol as protocol
from openinspect_protocol.logs import EventLog

log = EventLog("sandbox.harness.opencode_events")

# Why 0.1: enough to merge a model's token-by-token deltas into a few events per
# second without a visible lag in the UI.
TEXT_COALESCE_SECONDS = 0.1
# Why 64 KiB: a tool's output is shown, not archived; more only bloats the event log.
MAX_TOOL_OUTPUT_CHARS = 64 * 1024

# OpenCode names an untitled session "New session - <ISO time>" until its title
# request answers; that placeholder is not a title worth showing.
_PLACEHOLDER_TITLE = re.compile(r"^(New session|Child session) - \d{4}-\d{2}-\d{2}T[\d:.]+Z$")


def truncate(text: str, limit: int = MAX_TOOL_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [{len(text) - limit} more characters truncated]"


def is_real_title(title: str | None) -> bool:
    return bool(title and title.strip()) and not _PLACEHOLDER_TITLE.match(title or "")


class TurnTranslator:
    """Maps one session's OpenCode events to protocol events for one prompt.

    Owns the per-turn bookkeeping (message roles, part kinds, tools announced,
    text held back for coalescing) and the turn's outcome. Feed it events with
    the current monotonic time; emit what it returns.
    """

    def __init__(self, message_id: str, *, coalesce_seconds: float = TEXT_COALESCE_SECONDS) -> None:
        self.message_id = message_id
        self.coalesce_seconds = coalesce_seconds
        self.busy_seen = False
        self.finished = False
        self.aborted = False
        self.errors: list[str] = []
        self._roles: dict[str, str] = {}
        self._part_kinds: dict[str, str] = {}
        self._sent_text: dict[str, str] = {}  # per text part: emitted or held back so far
        self._held_part: str | None = None
        self._held: list[str] = []
        self._held_since = 0.0
        self._calls_announced: dict[str, str] = {}  # call id -> tool name
        self._calls_finished: set[str] = set()
        self._retries_seen: set[int] = set()

    # -- text coalescing ---------------------------------------------------

    def next_flush_at(self) -> float | None:
        return self._held_since + self.coalesce_seconds if self._held else None

    def flush(self) -> list[protocol.SandboxEvent]:
        if not self._held or self._held_part is None:
            return []
        text, part_id = "".join(self._held), self._held_part
        self._held, self._held_part = [], None
        return [protocol.TokenDelta(message_id=self.message_id, part_id=part_id, text=text)]

    def flush_due(self, now: float) -> list[protocol.SandboxEvent]:
        due = self.next_flush_at()
        return self.flush() if due is not None and now >= due else []

    def _hold(self, part_id: str, text: str, now: float) -> list[protocol.SandboxEvent]:
        out = self.flush() if self._held_part not in (None, part_id) else []
        if not self._held:
            self._held_part, self._held_since = part_id, now
        self._held.append(text)
        self._sent_text[part_id] = self._sent_text.get(part_id, "") + text
        return out + self.flush_due(now)

    # -- events --------------------------------------------------------------

    def feed(self, event: Mapping[str, Any], now: float) -> list[protocol.SandboxEvent]:
        kind = event.get("type")
        props = event.get("properties") or {}
        match kind:
            case "message.part.delta":
                part_id = props.get("partID", "")
                if props.get("field") == "text" and self._part_kinds.get(part_id) == "text":
                    return self._hold(part_id, props.get("delta", ""), now)
                return []
            case "message.updated":
                info = props.get("info") or {}
                if info.get("id") and info.get("role"):
                    self._roles[info["id"]] = info["role"]
                return []
            case "message.part.updated":
                return self._part(props.get("part") or {}, now)
            case "session.status":
                return self._status(props.get("status") or {})
            case "session.idle":
                self.finished = self.finished or self.busy_seen
                return []
            case "session.error":
                return self._error(props.get("error") or {})
            case _:
                return []

    def _status(self, status: Mapping[str, Any]) -> list[protocol.SandboxEvent]:
        match status.get("type"):
            case "busy":
                self.busy_seen = True
            case "idle":
                self.finished = self.finished or self.busy_seen
            case "retry":
                attempt = int(status.get("attempt") or 0)
                if attempt not in self._retries_seen:
                    self._retries_seen.add(attempt)
                    message = f"provider error, retry {attempt}: {status.get('message', '')}"
                    return [*self.flush(), protocol.WarningEvent(
                        message_id=self.message_id, code="provider_retry", message=message)]
        return []

    def _error(self, error: Mapping[str, Any]) -> list[protocol.SandboxEvent]:
        name = str(error.get("name") or "UnknownError")
        if name == "MessageAbortedError":
            self.aborted = True  # reported as stopped, not as an error
            return self.flush()
        data = error.get("data") or {}
        message = str(data.get("message") or json.dumps(data)[:500] or name)
        self.errors.append(message)
        return [*self.flush(), protocol.ErrorEvent(message_id=self.message_id, code=name, message=message)]

    def _part(self, part: Mapping[str, Any], now: float) -> list[protocol.SandboxEvent]:
        # Only the assistant's parts: the user's own prompt comes back as a text part too.
        if self._roles.get(part.get("messageID", "")) != "assistant":
            return []
        part_id, kind = part.get("id", ""), part.get("type")
        self._part_kinds[part_id] = kind or ""
        match kind:
            case "step-start":
                return [*self.flush(), protocol.StepStart(message_id=self.message_id)]
            case "step-finish":
                return [*self.flush(), self._step_finish(part)]
            case "text":
                return self._text_part(part, now)
            case "tool":
                return self._tool_part(part)
            case _:
                return []

    def _text_part(self, part: Mapping[str, Any], now: float) -> list[protocol.SandboxEvent]:
        if part.get("synthetic") or part.get("ignored") or not (part.get("time") or {}).get("end"):
            return []
        # The part is complete: send whatever the deltas did not carry.
        part_id, full = part.get("id", ""), part.get("text") or ""
        sent = self._sent_text.get(part_id, "")
        out: list[protocol.SandboxEvent] = []
        if full.startswith(sent) and len(full) > len(sent):
            out += self._hold(part_id, full[len(sent) :], now)
        return out + self.flush()

    def _tool_part(self, part: Mapping[str, Any]) -> list[protocol.SandboxEvent]:
        state = part.get("state") or {}
        status = state.get("status")
        call_id, tool = part.get("callID") or part.get("id", ""), part.get("tool", "")
        out: list[protocol.SandboxEvent] = []
        if status in ("running", "completed", "error") and call_id not in self._calls_announced:
            self._calls_announced[call_id] = tool
            out += self.flush()
            raw_input = state.get("input") or {}
            tool_input = raw_input if isinstance(raw_input, dict) else {"input": raw_input}
            out.append(protocol.ToolCall(message_id=self.message_id, call_id=call_id, tool=tool, input=tool_input))
        if status in ("completed", "error") and call_id not in self._calls_finished:
            self._calls_finished.add(call_id)
            metadata = state.get("metadata") or {}
            output = state.get("output") if status == "completed" else metadata.get("output")
            out.append(protocol.ToolResult(
                message_id=self.message_id, call_id=call_id, tool=tool, status=status,
                title=state.get("title"), output=truncate(str(output or "")),
                error=truncate(str(state.get("error"))) if status == "error" else None,
            ))
        return out

    def _step_finish(self, part: Mapping[str, Any]) -> protocol.StepFinish:
        tokens = part.get("tokens") or {}
        cache = tokens.get("cache") or {}
        usage = protocol.TokenUsage(
            input=int(tokens.get("input") or 0), output=int(tokens.get("output") or 0),
            reasoning=int(tokens.get("reasoning") or 0),
            cache_read=int(cache.get("read") or 0), cache_write=int(cache.get("write") or 0),
        )
        return protocol.StepFinish(
            message_id=self.message_id, reason=part.get("reason"), tokens=usage,
            cost=float(part.get("cost") or 0.0),
        )

    def close_open_calls(self, reason: str) -> list[protocol.SandboxEvent]:
        """A result for every call that got none (the turn was stopped or the agent died)."""
        out: list[protocol.SandboxEvent] = []
        for call_id, tool in self._calls_announced.items():
            if call_id not in self._calls_finished:
                self._calls_finished.add(call_id)
                out.append(protocol.ToolResult(
                    message_id=self.message_id, call_id=call_id, tool=tool, status="error", error=reason))
        return out

    def completion(self, *, stop_requested: bool) -> protocol.ExecutionComplete:
        if stop_requested or self.aborted:
            return protocol.ExecutionComplete(message_id=self.message_id, success=False, stopped=True)
        if self.errors:
            return protocol.ExecutionComplete(message_id=self.message_id, success=False, error=self.errors[0])
        return protocol.ExecutionComplete(message_id=self.message_id, success=True)


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """JSON objects from an SSE stream's ``data:`` lines (an event ends at a blank line)."""
    data: list[str] = []
    async for line in lines:
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif not line.strip() and data:
            payload, data = "\n".join(data), []
            try:
                yield json.loads(payload)
            except json.JSONDecodeError:
                log.warning("opencode.sse.bad_json", payload=payload[:200])
