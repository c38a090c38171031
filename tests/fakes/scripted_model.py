"""A deterministic, offline, OpenAI-compatible model server that plays scripts.

Stands in for a model provider so the real agent (OpenCode) can run whole turns —
tool calls, streamed text, errors — with no network and no API key. It speaks the
payload shapes of the OpenAI chat-completions API (streamed or not), ``GET
/v1/models`` and the API's error shape.

Stateless: every answer is decided from the request's conversation alone, so any
number of agents may share one server. A request without ``tools`` is a title
request; otherwise a ``#script NAME key=value ...`` line in the latest user
message picks the script (none: ``demo``; an unknown name answers a text listing
the known scripts) and the number of assistant messages since is the step.

Tests register more scripts with :meth:`ScriptedModel.register` (a script is a
function ``ScriptContext -> Reply``, called once per model call with the step in
``ctx.step``). Every request is recorded in memory (:attr:`ScriptedModel.requests`).
With ``api_key=...`` requests must carry ``Authorization: Bearer <key>`` (else 401).

In-process::

    with ScriptedModel() as model:      # loopback, free port, background thread
        use(model.base_url)             # "http://127.0.0.1:PORT/v1"

Standalone: ``python -m tests.fakes.scripted_model --host 127.0.0.1 --port 8790``.

This module owns :class:`ScriptedModel` (lifecycle, script registry, request log,
the choice of reply) and the command line; it re-exports the names of its parts so
``from tests.fakes.scripted_model import ...`` reaches all of them:

* :mod:`tests.fakes.script_types` — what a script sees and returns;
* :mod:`tests.fakes.conversation` — the ``#script`` directive, step and title rules;
* :mod:`tests.fakes.builtin_scripts` — the scripts known without registration;
* :mod:`tests.fakes.completion_payloads` — the chunks and objects of one answer;
* :mod:`tests.fakes.model_http_server` — the HTTP server, request log entries, SSE writing.
"""

from __future__ import annotations

import argparse
import logging
import threading
from typing import Any

from tests.fakes.builtin_scripts import (
    BUILTIN_SCRIPTS,
    SLOW_DEFAULT_INTERVAL_SECONDS,
    SLOW_DEFAULT_SECONDS,
    bash_script,
    commit_script,
    demo_script,
    fail_script,
    slow_script,
    text_script,
    write_file_script,
)
from tests.fakes.completion_payloads import ARGUMENT_FRAGMENT_CHARS, WORDS_PER_TEXT_CHUNK, Completion
from tests.fakes.conversation import (
    TITLE_MAX_CHARS,
    TITLE_MAX_WORDS,
    Directive,
    build_context,
    make_title,
    message_text,
    parse_directive,
)
from tests.fakes.model_http_server import ModelRequestHandler, ModelServer, RecordedRequest
from tests.fakes.script_types import (
    ErrorReply,
    Reply,
    Script,
    ScriptContext,
    TextReply,
    ToolCallSpec,
    ToolReply,
)

__all__ = [
    "ARGUMENT_FRAGMENT_CHARS",
    "BUILTIN_SCRIPTS",
    "DEFAULT_MODEL_ID",
    "SLOW_DEFAULT_INTERVAL_SECONDS",
    "SLOW_DEFAULT_SECONDS",
    "TITLE_MAX_CHARS",
    "TITLE_MAX_WORDS",
    "WORDS_PER_TEXT_CHUNK",
    "Completion",
    "Directive",
    "ErrorReply",
    "RecordedRequest",
    "Reply",
    "Script",
    "ScriptContext",
    "ScriptedModel",
    "TextReply",
    "ToolCallSpec",
    "ToolReply",
    "bash_script",
    "build_context",
    "commit_script",
    "demo_script",
    "fail_script",
    "main",
    "make_title",
    "message_text",
    "parse_directive",
    "slow_script",
    "text_script",
    "write_file_script",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "scripted"


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
        self._stopping = threading.Event()  # set by stop(); the server's slow streams watch it
        self._server: ModelServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> ScriptedModel:
        self._stopping.clear()
        self._server = ModelServer((self.host, self.port), ModelRequestHandler, self)
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
        # Called by the server's request handler, once per request received.
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
