"""The MCP protocol our local tool servers speak to OpenCode: newline-delimited JSON-RPC 2.0 on stdio.

Only the subset a client needs for tools: ``initialize``, ``notifications/*``, ``ping``,
``tools/list``, ``tools/call``. A server (:mod:`sandbox.tools.pull_request_mcp`,
:mod:`sandbox.tools.screenshot_mcp`) gives its name, its tools and one function that
answers a ``tools/call``; this module owns the rest, and the one exchange every tool
has with the runtime's Unix socket (:func:`ask_runtime`). Standard library only: the servers
run as ``python -P -s -m sandbox.tools.<server>`` with nothing of the project but this
package on their path (:func:`sandbox.harness.opencode_config.mcp_server`).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from typing import Any

DEFAULT_PROTOCOL_VERSION = "2025-06-18"
METHOD_NOT_FOUND = -32601

CallTool = Callable[[dict[str, Any]], dict[str, Any]]


def text_result(text: str, *, error: bool = False) -> dict[str, Any]:
    """A ``tools/call`` result holding one text (``isError`` when the call did not do its work)."""
    return {"content": [{"type": "text", "text": text}], "isError": error}


def handle(message: dict[str, Any], *, server_name: str, tools: list[dict[str, Any]],
           call_tool: CallTool) -> dict[str, Any] | None:
    """The JSON-RPC response to ``message``; None for a notification (nothing is answered)."""
    method, params = message.get("method"), message.get("params") or {}
    if "id" not in message:
        return None  # notifications/initialized, notifications/cancelled: nothing to say
    result: dict[str, Any]
    match method:
        case "initialize":
            result = {"protocolVersion": params.get("protocolVersion") or DEFAULT_PROTOCOL_VERSION,
                      "capabilities": {"tools": {"listChanged": False}},
                      "serverInfo": {"name": server_name, "version": "1"}}
        case "ping":
            result = {}
        case "tools/list":
            result = {"tools": tools}
        case "tools/call":
            result = call_tool(params)
        case _:
            return {"jsonrpc": "2.0", "id": message["id"],
                    "error": {"code": METHOD_NOT_FOUND, "message": f"method not found: {method}"}}
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


def serve(stdin: Any, stdout: Any, answer_to: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
    """Answer newline-delimited JSON-RPC messages from ``stdin`` until it closes.

    A ``tools/call`` is answered from a thread of its own (it may take minutes), so a
    ``ping`` meanwhile still gets its answer; one lock keeps each answer on its own line.
    """
    lock = threading.Lock()
    calls: list[threading.Thread] = []

    def answer(message: Any) -> None:
        response = answer_to(message) if isinstance(message, dict) else None
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


def ask_runtime(socket_path: str, request: bytes, *, timeout_seconds: float, max_answer_bytes: int) -> dict[str, Any]:
    """Send ``request`` to the runtime's socket; its one-line JSON answer (``{}`` if it said nothing)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as channel:
        channel.settimeout(timeout_seconds)
        channel.connect(socket_path)
        channel.sendall(request)
        received = b""
        while not received.endswith(b"\n") and len(received) < max_answer_bytes:
            chunk = channel.recv(65536)
            if not chunk:
                break
            received += chunk
    answer = json.loads(received or b"{}")
    return answer if isinstance(answer, dict) else {}
