"""The agent's pull-request tool: a minimal MCP server on stdio that asks the runtime for a PR.

OpenCode starts it as a local MCP server (``mcp.openinspect`` in the config the
harness writes: ``<python> -I <this file>``), so the model sees one tool,
``openinspect_create_pull_request`` (OpenCode names MCP tools ``<server>_<tool>``).
A call connects to the runtime's Unix socket (path in :data:`SOCKET_ENV`), sends one
JSON line ``{"title", "body", "draft"}`` and relays the one JSON line that comes back
(``{"ok": true, "url", "number", "branch"}`` or ``{"ok": false, "error"}``) as the
tool's text. The runtime does the work (push the branch, ask the control plane,
wait for its answer): see :mod:`sandbox.pull_requests`.

It owns only the protocol: newline-delimited JSON-RPC 2.0, the subset of MCP a
client needs for tools (``initialize``, ``notifications/initialized``, ``ping``,
``tools/list``, ``tools/call``). Standard library only; it runs as a file in
isolated mode from whatever directory OpenCode starts it in. It holds no secret:
the socket can only ask for a pull request of this sandbox's own session.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from typing import Any

SERVER_NAME = "openinspect"
TOOL_NAME = "create_pull_request"
SOCKET_ENV = "OPENINSPECT_PULL_REQUEST_SOCKET"
DEFAULT_PROTOCOL_VERSION = "2025-06-18"
# Why: the runtime pushes (bounded at 5 min) then waits for the control plane (bounded at
# 2 min); this only stops the tool from hanging forever if the runtime itself is gone.
ANSWER_TIMEOUT_SECONDS = 900.0
MAX_ANSWER_BYTES = 1024 * 1024

TOOL = {
    "name": TOOL_NAME,
    "description": (
        "Open a pull request on GitHub for this session's branch. Your commits are pushed to the "
        "session's branch for you first (do not run git push yourself). Commit your work before "
        "calling this. Returns the pull request's URL."
    ),
    "inputSchema": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "The pull request's title (short, imperative)."},
            "body": {"type": "string", "description": "The pull request's description, in Markdown."},
            "draft": {"type": "boolean", "description": "Open it as a draft.", "default": False},
        },
        "required": ["title"],
    },
}


def ask_runtime(arguments: dict[str, Any], socket_path: str) -> dict[str, Any]:
    """Send one request to the runtime's socket; its one-line JSON answer."""
    request = {"title": arguments.get("title"), "body": arguments.get("body"),
               "draft": bool(arguments.get("draft", False))}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
        channel.settimeout(ANSWER_TIMEOUT_SECONDS)
        channel.connect(socket_path)
        channel.sendall(json.dumps(request).encode() + b"\n")
        received = b""
        while not received.endswith(b"\n") and len(received) < MAX_ANSWER_BYTES:
            chunk = channel.recv(65536)
            if not chunk:
                break
            received += chunk
    answer = json.loads(received or b"{}")
    return answer if isinstance(answer, dict) else {}


def call_tool(params: dict[str, Any], socket_path: str | None) -> dict[str, Any]:
    """The ``tools/call`` result: the PR's URL as text, or ``isError`` with why there is none."""
    if params.get("name") != TOOL_NAME:
        return _text(f"unknown tool {params.get('name')!r}", error=True)
    if not socket_path:
        return _text("pull requests are not available in this session", error=True)
    arguments = params.get("arguments") or {}
    if not str(arguments.get("title") or "").strip():
        return _text("a pull request needs a title", error=True)
    try:
        answer = ask_runtime(arguments, socket_path)
    except (OSError, ValueError) as exc:
        return _text(f"could not reach the sandbox runtime: {exc}", error=True)
    if answer.get("ok"):
        number = f" #{answer['number']}" if answer.get("number") else ""
        return _text(f"Pull request{number} opened: {answer.get('url')} (branch {answer.get('branch')})")
    return _text(f"No pull request was opened: {answer.get('error') or 'no reason given'}", error=True)


def _text(text: str, *, error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": error}


def handle(message: dict[str, Any], socket_path: str | None) -> dict[str, Any] | None:
    """The JSON-RPC response to ``message``; None for a notification (nothing is answered)."""
    method, params = message.get("method"), message.get("params") or {}
    if "id" not in message:
        return None  # notifications/initialized, notifications/cancelled: nothing to say
    result: dict[str, Any]
    match method:
        case "initialize":
            result = {
                "protocolVersion": params.get("protocolVersion") or DEFAULT_PROTOCOL_VERSION,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": SERVER_NAME, "version": "1"},
            }
        case "ping":
            result = {}
        case "tools/list":
            result = {"tools": [TOOL]}
        case "tools/call":
            result = call_tool(params, socket_path)
        case _:
            return {"jsonrpc": "2.0", "id": message["id"],
                    "error": {"code": -32601, "message": f"method not found: {method}"}}
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


def serve(stdin: Any, stdout: Any, socket_path: str | None) -> None:
    """Answer newline-delimited JSON-RPC messages from ``stdin`` until it closes.

    A ``tools/call`` is answered from a thread of its own (it may wait minutes), so a
    ``ping`` meanwhile still gets its answer; one lock keeps each answer on its own line.
    """
    lock = threading.Lock()
    calls: list[threading.Thread] = []

    def answer(message: Any) -> None:
        response = handle(message, socket_path) if isinstance(message, dict) else None
        if response is not None:
            with lock:
                stdout.write(json.dumps(response) + "\n")
                stdout.flush()

    for line in stdin:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            message = {"jsonrpc": "2.0", "id": None, "method": "(unparsable)"}
        if isinstance(message, dict) and message.get("method") == "tools/call":
            call = threading.Thread(target=answer, args=(message,), daemon=True)
            call.start()
            calls.append(call)
        else:
            answer(message)
    for call in calls:  # stdin closed: finish what was asked before leaving
        call.join()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout, os.environ.get(SOCKET_ENV))
