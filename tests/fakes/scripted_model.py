"""A deterministic, offline, OpenAI-compatible model server that plays scripts.

Stands in for a model provider so the real agent (OpenCode) can run whole turns —
tool calls, streamed text, errors — with no network and no API key. It speaks the
payload shapes of the OpenAI chat-completions API:

* ``POST /v1/chat/completions`` with ``stream: true``: SSE lines of
  ``chat.completion.chunk`` objects (``delta.content``, ``delta.tool_calls`` whose
  ``function.arguments`` arrive in fragments, ``finish_reason``), a usage chunk
  when ``stream_options.include_usage`` is set, then ``data: [DONE]``;
  without ``stream``: one ``chat.completion`` object.
* ``GET /v1/models``: the one model it serves.
* Errors as the real API sends them: an HTTP status with ``{"error": {...}}``.

Stateless: every answer is decided from the request's conversation alone, so any
number of agents may share one server. The rules:

1. A request without ``tools`` is a title request (OpenCode asks for a session
   title that way): the answer is a short title made from the user's prompt.
2. Otherwise the *latest user message* picks the script. A line of the form::

       #script NAME key=value key2="a value with spaces" [positional ...]

   (parsed with :func:`shlex.split`) names the script and its arguments; the
   text after that line is the script's *body* (some scripts use it as content).
   The directive must start a line; a user message without one runs ``demo``;
   an unknown name answers a text listing the known scripts.
3. The *step* is the number of assistant messages after that user message (tool
   results come back as ``role: tool`` messages between them), so step 0 is the
   first model call of a turn, step 1 the call after the first tool results...

Built-in scripts (arguments in brackets are optional):

* ``write-file [path=hello.txt] [content=<text>]`` — OpenCode's ``write`` tool (absolute
  path resolved against the working directory found in the system prompt); the
  content defaults to the body, then to ``"hello\\n"``. Then reports.
* ``bash command=<cmd>`` — OpenCode's ``bash`` tool, then reports the output.
* ``commit [path=CHANGES.md] [content=<text>] [message=<msg>]`` — writes a file, runs
  ``git add -A && git commit -m <msg>`` via bash, then reports.
* ``fail [status=400] [message=<text>]`` — answers an OpenAI-style error. 400 is
  surfaced by OpenCode at once; 429/5xx (or messages mentioning rate limits,
  "internal error", "try again"...) make OpenCode retry with back-off.
* ``slow [seconds=30] [interval_seconds=0.25]`` — streams ``tick1 tick2 ...``, one
  word per interval, for that long (so a test can stop it mid-turn); stops early
  if the client goes or the server stops.
* ``text [text=<t>]`` — answers the text verbatim (the body when no argument).
* ``demo`` — ``ls`` the repository, write ``OPENINSPECT_DEMO.md`` quoting the
  prompt, commit it, answer a short markdown summary.

Tests register more with :meth:`ScriptedModel.register` (a script is a function
``ScriptContext -> Reply``, called once per model call with the step in
``ctx.step``). Every request is recorded in memory (:attr:`ScriptedModel.requests`).
With ``api_key=...`` requests must carry ``Authorization: Bearer <key>`` (else 401).

In-process::

    with ScriptedModel() as model:      # loopback, free port, background thread
        use(model.base_url)             # "http://127.0.0.1:PORT/v1"

Standalone: ``python -m tests.fakes.scripted_model --host 127.0.0.1 --port 8790``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "scripted"
# Why 16: small enough that every tool call's arguments arrive in several
# fragments, as real providers send them, so the agent's reassembly is exercised.
ARGUMENT_FRAGMENT_CHARS = 16
# Why 3: text arrives a few words per chunk, like a real model's token stream.
WORDS_PER_TEXT_CHUNK = 3
SLOW_DEFAULT_SECONDS = 30.0
SLOW_DEFAULT_INTERVAL_SECONDS = 0.25
TITLE_MAX_WORDS = 8
TITLE_MAX_CHARS = 60

_DIRECTIVE = re.compile(r"^[ \t]*#script[ \t]+(?P<rest>\S.*)$", re.MULTILINE)
# OpenCode's system prompt carries an <env> block with "Working directory: /abs".
_WORKDIR = re.compile(r"Working directory:\s*(?P<path>/\S*)")


# --------------------------------------------------------------------------
# What a script returns
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCallSpec:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class TextReply:
    """Assistant text; ``chunk_delay_seconds`` > 0 streams it slowly."""

    text: str
    chunk_delay_seconds: float = 0.0


@dataclass(frozen=True)
class ToolReply:
    """One assistant step calling tools (optionally saying something first)."""

    calls: tuple[ToolCallSpec, ...]
    text: str = ""


@dataclass(frozen=True)
class ErrorReply:
    """The provider refuses the request: HTTP ``status`` with ``{"error": error}``."""

    status: int
    error: dict[str, Any]


Reply = TextReply | ToolReply | ErrorReply


@dataclass(frozen=True)
class ScriptContext:
    """Everything a script may look at; all of it comes from the one request."""

    name: str
    args: dict[str, str]
    positional: tuple[str, ...]
    body: str  # text after the directive line
    prompt: str  # the user message's text without the directive line
    step: int
    workdir: str | None
    tool_outputs: tuple[str, ...]  # role=tool contents since the user message, in order
    request: dict[str, Any] = field(repr=False)

    @property
    def last_tool_output(self) -> str:
        return self.tool_outputs[-1] if self.tool_outputs else ""

    def path(self, relative_or_absolute: str) -> str:
        """An absolute path for OpenCode's file tools (they refuse relative ones)."""
        if os.path.isabs(relative_or_absolute) or self.workdir is None:
            return relative_or_absolute
        return os.path.join(self.workdir, relative_or_absolute)


Script = Callable[[ScriptContext], Reply]


# --------------------------------------------------------------------------
# Reading the conversation
# --------------------------------------------------------------------------


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


@dataclass(frozen=True)
class Directive:
    name: str
    args: dict[str, str]
    positional: tuple[str, ...]
    body: str
    prompt: str


def parse_directive(text: str) -> Directive | None:
    """The first ``#script`` line of ``text``, or None when there is none."""
    found = _DIRECTIVE.search(text)
    if found is None:
        return None
    try:
        tokens = shlex.split(found.group("rest"))
    except ValueError:  # unbalanced quotes: take the words as they are
        tokens = found.group("rest").split()
    name, args, positional = tokens[0], {}, []
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if sep and key.replace("_", "").replace("-", "").isalnum():
            args[key] = value
        else:
            positional.append(token)
    body = text[found.end() :].removeprefix("\n")
    prompt = (text[: found.start()] + body).strip()
    return Directive(name, args, tuple(positional), body, prompt)


def _last_user_index(messages: list[dict[str, Any]]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def _workdir(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        if message.get("role") == "system":
            found = _WORKDIR.search(message_text(message))
            if found:
                return found.group("path")
    return None


def build_context(request: dict[str, Any]) -> ScriptContext:
    """Which script, step and arguments this chat request asks for."""
    messages = request.get("messages") or []
    user_index = _last_user_index(messages)
    text = message_text(messages[user_index]) if user_index is not None else ""
    after = messages[user_index + 1 :] if user_index is not None else []
    directive = parse_directive(text) or Directive("demo", {}, (), "", text.strip())
    return ScriptContext(
        name=directive.name,
        args=directive.args,
        positional=directive.positional,
        body=directive.body,
        prompt=directive.prompt,
        step=sum(1 for m in after if m.get("role") == "assistant"),
        workdir=_workdir(messages),
        tool_outputs=tuple(message_text(m) for m in after if m.get("role") == "tool"),
        request=request,
    )


def make_title(request: dict[str, Any]) -> str:
    """A short, deterministic title from the last user message of a title request."""
    messages = request.get("messages") or []
    user_index = _last_user_index(messages)
    text = message_text(messages[user_index]) if user_index is not None else ""
    directive = parse_directive(text)
    source = directive.prompt if directive else text
    # Title requests may wrap the prompt in tags or instructions; keep real words.
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("<")]
    words = " ".join(lines).split()[:TITLE_MAX_WORDS]
    if words:
        title = " ".join(words)[:TITLE_MAX_CHARS].rstrip(" .,:;")
        return title[:1].upper() + title[1:]
    return f"Scripted {directive.name}" if directive else "Scripted session"


# --------------------------------------------------------------------------
# Built-in scripts
# --------------------------------------------------------------------------


def _write_call(ctx: ScriptContext, path: str, content: str) -> ToolCallSpec:
    return ToolCallSpec("write", {"filePath": ctx.path(path), "content": content})


def _bash_call(command: str) -> ToolCallSpec:
    # OpenCode 1.18's bash tool takes command/timeout/workdir (no description).
    return ToolCallSpec("bash", {"command": command})


def write_file_script(ctx: ScriptContext) -> Reply:
    path = ctx.args.get("path", "hello.txt")
    content = ctx.args.get("content", ctx.body or "hello\n")
    if ctx.step == 0:
        return ToolReply((_write_call(ctx, path, content),))
    return TextReply(f"Wrote `{path}`.")


def bash_script(ctx: ScriptContext) -> Reply:
    command = ctx.args.get("command") or " ".join(ctx.positional) or "true"
    if ctx.step == 0:
        return ToolReply((_bash_call(command),))
    return TextReply(f"Ran `{command}`:\n\n```\n{ctx.last_tool_output.strip()}\n```\n")


def commit_script(ctx: ScriptContext) -> Reply:
    path = ctx.args.get("path", "CHANGES.md")
    message = ctx.args.get("message", f"Update {path}")
    match ctx.step:
        case 0:
            content = ctx.args.get("content", ctx.body or f"{message}\n")
            return ToolReply((_write_call(ctx, path, content),))
        case 1:
            command = f"git add -A && git commit -m {shlex.quote(message)}"
            return ToolReply((_bash_call(command),))
        case _:
            return TextReply(f"Committed `{path}`: {message}\n\n```\n{ctx.last_tool_output.strip()}\n```\n")


def fail_script(ctx: ScriptContext) -> Reply:
    status = int(ctx.args.get("status", "400"))
    message = ctx.args.get("message", "Scripted failure: this request was refused by the provider.")
    return ErrorReply(
        status,
        {"message": message, "type": "invalid_request_error", "param": None, "code": "scripted_failure"},
    )


def slow_script(ctx: ScriptContext) -> Reply:
    seconds = float(ctx.args.get("seconds", SLOW_DEFAULT_SECONDS))
    interval = float(ctx.args.get("interval_seconds", SLOW_DEFAULT_INTERVAL_SECONDS))
    if ctx.step > 0:
        return TextReply("Done.")
    ticks = max(1, round(seconds / interval))
    # One word group per chunk: each tick is a separate, delayed chunk.
    text = " ".join(f"tick{n}" for n in range(1, ticks + 1))
    return TextReply(text, chunk_delay_seconds=interval)


def text_script(ctx: ScriptContext) -> Reply:
    return TextReply(ctx.args.get("text", ctx.body))


def demo_script(ctx: ScriptContext) -> Reply:
    path = "OPENINSPECT_DEMO.md"
    prompt = ctx.prompt or "(empty prompt)"
    match ctx.step:
        case 0:
            return ToolReply((_bash_call("ls -la"),), text="Let me look around.")
        case 1:
            content = (
                "# OpenInspect demo\n\n"
                f"This file was written by the scripted demo model for the prompt:\n\n> {prompt}\n"
            )
            return ToolReply((_write_call(ctx, path, content),))
        case 2:
            command = f"git add {path} && git commit -m {shlex.quote('Add OpenInspect demo file')}"
            return ToolReply((_bash_call(command),))
        case _:
            return TextReply(
                "## Summary\n\n"
                f"- Listed the repository.\n- Wrote `{path}` quoting your prompt.\n"
                f"- Committed it:\n\n```\n{ctx.last_tool_output.strip()}\n```\n\n"
                "This answer came from the scripted demo model; configure a real provider for real work.\n"
            )


BUILTIN_SCRIPTS: dict[str, Script] = {
    "write-file": write_file_script,
    "bash": bash_script,
    "commit": commit_script,
    "fail": fail_script,
    "slow": slow_script,
    "text": text_script,
    "demo": demo_script,
}


# --------------------------------------------------------------------------
# Payloads
# --------------------------------------------------------------------------


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
        for piece in _text_chunks(self.reply.text):
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


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received (for assertions); ``script``/``step`` when it was a chat call."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    kind: str  # "chat", "title", "models", "other"
    script: str | None = None
    step: int | None = None


class ScriptedModel:
    """Owns one loopback HTTP server, its script registry and its request log.

    Answers are pure functions of the request (see the module docstring); the
    only state is the log and the registry, both guarded by one lock.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        model_id: str = DEFAULT_MODEL_ID,
        api_key: str | None = None,
        scripts: dict[str, Script] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.model_id = model_id
        self.api_key = api_key  # when set, requests must carry "Authorization: Bearer <api_key>"
        self._scripts: dict[str, Script] = {**BUILTIN_SCRIPTS, **(scripts or {})}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> ScriptedModel:
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"scripted-model-{self.port}", daemon=True,
        )
        self._thread.start()
        log.info("scripted_model.started base_url=%s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # slow streams notice and end
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        log.info("scripted_model.stopped port=%s", self.port)

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- scripts and log ---------------------------------------------------

    def register(self, name: str, script: Script) -> None:
        with self._lock:
            self._scripts[name] = script

    def script(self, name: str) -> Script | None:
        with self._lock:
            return self._scripts.get(name)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def chat_requests(self, *, script: str | None = None) -> list[RecordedRequest]:
        """Chat calls (not title requests), optionally only those of one script."""
        return [r for r in self.requests if r.kind == "chat" and (script is None or r.script == script)]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(entry)

    # -- decisions -----------------------------------------------------------

    def answer(self, request: dict[str, Any]) -> tuple[str, Reply, ScriptContext | None]:
        """What to answer to a chat request: (kind, reply, context)."""
        if not request.get("tools"):
            return "title", TextReply(make_title(request)), None
        ctx = build_context(request)
        script = self.script(ctx.name)
        if script is None:
            known = ", ".join(sorted(self._scripts))
            return "chat", TextReply(f"Unknown script `{ctx.name}`. Known scripts: {known}."), ctx
        return "chat", script(ctx), ctx


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never blocks stop()
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type, model: ScriptedModel) -> None:
        self.model = model
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    def close_connections(self) -> None:
        # Keep-alive clients would otherwise hold handler threads on a read.
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    """Parses one HTTP request, asks the model what to answer, writes the payload."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("scripted_model.http " + format, *args)

    @property
    def model(self) -> ScriptedModel:
        return self.server.model

    def _authorized(self) -> bool:
        expected = self.model.api_key
        return expected is None or self.headers.get("Authorization") == f"Bearer {expected}"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        self.model._record(RecordedRequest("GET", self.path, dict(self.headers), None, "models"))
        if not self._authorized():
            return self._send_error(401, "Incorrect API key provided.", "invalid_api_key")
        if path == "/v1/models":
            model = {"id": self.model.model_id, "object": "model", "created": 0, "owned_by": "openinspect"}
            return self._send_json(200, {"object": "list", "data": [model]})
        return self._send_error(404, f"Unknown path {path}", "not_found")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            request = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self.model._record(RecordedRequest("POST", self.path, dict(self.headers), raw, "other"))
            return self._send_error(400, "We could not parse the JSON body of your request.", "invalid_json")
        if path != "/v1/chat/completions":
            self.model._record(RecordedRequest("POST", self.path, dict(self.headers), request, "other"))
            return self._send_error(404, f"Unknown path {path}", "not_found")
        kind, reply, ctx = self.model.answer(request)
        self.model._record(RecordedRequest(
            "POST", self.path, dict(self.headers), request, kind,
            script=ctx.name if ctx else None, step=ctx.step if ctx else None,
        ))
        log.info("scripted_model.chat kind=%s script=%s step=%s", kind, ctx and ctx.name, ctx and ctx.step)
        if not self._authorized():
            return self._send_error(401, "Incorrect API key provided.", "invalid_api_key")
        if isinstance(reply, ErrorReply):
            return self._send_json(reply.status, {"error": reply.error})
        completion = Completion(request, reply, self.model.model_id)
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            return self._stream(completion, include_usage)
        return self._send_json(200, completion.whole())

    # -- writing -------------------------------------------------------------

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, message: str, code: str) -> None:
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
        self._send_json(status, {"error": error})

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, completion: Completion, include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stopping = self.model._stopping
        try:
            for chunk, delay_seconds in completion.chunks():
                if delay_seconds and stopping.wait(delay_seconds):
                    self.close_connection = True
                    return
                self._write_chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            if include_usage:
                self._write_chunk(b"data: " + json.dumps(completion.usage_chunk()).encode() + b"\n\n")
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (an aborted turn): nothing more to say.
            log.info("scripted_model.client_gone id=%s", completion.id)
            self.close_connection = True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the scripted OpenAI-compatible model.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--model-id", default=DEFAULT_MODEL_ID)
    parser.add_argument("--api-key", default=None, help="require this bearer token")
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    model = ScriptedModel(options.host, options.port, model_id=options.model_id, api_key=options.api_key)
    model.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        model.stop()


if __name__ == "__main__":
    main()
