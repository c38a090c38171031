"""The agent's pull-request tool: a minimal MCP server on stdio that asks the runtime for a PR.

OpenCode starts it as a local MCP server (``mcp.openinspect`` in the config the
harness writes: ``<python> -P -s -m sandbox.tools.pull_request_mcp``), so the model sees one tool,
``openinspect_create_pull_request`` (OpenCode names MCP tools ``<server>_<tool>``).
A call connects to the runtime's Unix socket (path in :data:`SOCKET_ENV`), sends one
JSON line ``{"title", "body", "draft"}`` and relays the one JSON line that comes back
(``{"ok": true, "url", "number", "branch"}`` or ``{"ok": false, "error"}``) as the
tool's text. The runtime does the work (push the branch, ask the control plane,
wait for its answer): see :mod:`sandbox.pull_requests`.

It owns the tool; :mod:`sandbox.tools.mcp_stdio` speaks MCP. Standard library only.
It holds no secret: the socket can only ask for a pull request of this sandbox's own
session.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from sandbox.tools import mcp_stdio
from sandbox.tools.mcp_stdio import text_result as _text

SERVER_NAME = "openinspect"
TOOL_NAME = "create_pull_request"
SOCKET_ENV = "OPENINSPECT_PULL_REQUEST_SOCKET"
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
    return mcp_stdio.ask_runtime(socket_path, json.dumps(request).encode() + b"\n",
                                 timeout_seconds=ANSWER_TIMEOUT_SECONDS, max_answer_bytes=MAX_ANSWER_BYTES)


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


def handle(message: dict[str, Any], socket_path: str | None) -> dict[str, Any] | None:
    """The JSON-RPC response to ``message``; None for a notification."""
    return mcp_stdio.handle(message, server_name=SERVER_NAME, tools=[TOOL],
                      call_tool=lambda params: call_tool(params, socket_path))


def serve(stdin: Any, stdout: Any, socket_path: str | None) -> None:
    """Answer the MCP client on ``stdin``/``stdout`` until it closes."""
    mcp_stdio.serve(stdin, stdout, lambda message: handle(message, socket_path))


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout, os.environ.get(SOCKET_ENV))
