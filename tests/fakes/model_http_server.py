"""The scripted model's HTTP side: the loopback server, request parsing, JSON and SSE writing.

Speaks what the OpenAI API does on the wire:

* ``POST /v1/chat/completions`` with ``stream: true``: SSE lines of
  ``chat.completion.chunk`` objects, a usage chunk when
  ``stream_options.include_usage`` is set, then ``data: [DONE]``;
  without ``stream``: one ``chat.completion`` object.
* ``GET /v1/models``: the one model it serves.
* Errors as the real API sends them: an HTTP status with ``{"error": {...}}``.

What to answer is the :class:`~tests.fakes.scripted_model.ScriptedModel`'s
decision; this module only records each request on it and writes the payloads.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tests.fakes.completion_payloads import Completion
from tests.fakes.script_types import ErrorReply

if TYPE_CHECKING:
    from tests.fakes.scripted_model import ScriptedModel

# One logger for the whole fake, the name it had as a single module.
log = logging.getLogger("tests.fakes.scripted_model")


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


class ModelServer(ThreadingHTTPServer):
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


class ModelRequestHandler(BaseHTTPRequestHandler):
    """Parses one HTTP request, asks the model what to answer, writes the payload."""

    protocol_version = "HTTP/1.1"
    server: ModelServer

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
