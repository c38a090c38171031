"""The runtime's end of the agent's pull-request tool: push, ask the control plane, wait, answer.

:class:`PullRequestDesk` owns a Unix socket (in a private temporary directory; its
path is given to the tool's MCP server, :mod:`sandbox.tools.pull_request_mcp`) and
the requests waiting for an answer. One request, one connection:

1. the tool sends ``{"title", "body", "draft"}`` (one JSON line);
2. the desk pushes the session's branch through the
   :class:`~sandbox.pushes.BranchPusher` (which emits ``push_complete``/``push_error``);
   a failed push is the answer;
3. it emits ``pull_request_requested`` with a fresh ``request_id`` and the running
   prompt's ``message_id``, and waits (at most :data:`RESULT_TIMEOUT_SECONDS`) for the
   ``pull_request_result`` command with that id (:meth:`PullRequestDesk.resolve`,
   called by the supervisor's command router);
4. it answers the tool with ``{"ok": true, "url", "number", "branch"}`` or
   ``{"ok": false, "error"}``.

The socket is reachable by the agent (it runs as the same user); all it can ask for
is a pull request of this session's own branch, which is what the tool does anyway.
The desk knows nothing of the bridge or of OpenCode: it is given ``emit`` and a
function naming the running prompt.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from typing import Any

import openinspect_protocol as protocol
from openinspect_protocol.events import MAX_PR_BODY_CHARS, MAX_PR_TITLE_CHARS
from openinspect_protocol.logs import EventLog

from sandbox.harness.base import Emit
from sandbox.pushes import BranchPusher
from sandbox.tool_socket import ToolSocket

log = EventLog("sandbox.pull_requests")

# Why: the control plane opens the PR with one or two GitHub API calls (seconds); two
# minutes means it is away, and the agent should hear so rather than wait on.
RESULT_TIMEOUT_SECONDS = 120.0
# Why: a title and a body of GitHub's maximum size fit many times over.
MAX_REQUEST_BYTES = 1024 * 1024


class PullRequestDesk:
    """Serves the pull-request tool's socket; one request at a time per connection, any number waiting."""

    def __init__(self, branch: str, pusher: BranchPusher, emit: Emit,
                 running_message_id: Callable[[], str | None], *,
                 result_timeout_seconds: float = RESULT_TIMEOUT_SECONDS) -> None:
        self.branch = branch
        self._pusher = pusher
        self._emit = emit
        self._running_message_id = running_message_id
        self._result_timeout_seconds = result_timeout_seconds
        self._socket = ToolSocket("pull_requests", self._answer, limit_bytes=MAX_REQUEST_BYTES)
        self.socket_path = self._socket.path
        self._waiting: dict[str, asyncio.Future[protocol.PullRequestResult]] = {}

    async def start(self) -> None:
        await self._socket.start()

    async def close(self) -> None:
        await self._socket.close()
        for waiting in self._waiting.values():
            waiting.cancel()

    def resolve(self, result: protocol.PullRequestResult) -> bool:
        """Hand the control plane's answer to the request waiting for it; False if none waits."""
        waiting = self._waiting.get(result.request_id)
        if waiting is None or waiting.done():
            log.warning("pull_requests.unexpected_result", request_id=result.request_id)
            return False
        waiting.set_result(result)
        return True

    async def request(self, title: str | None, body: str | None, draft: bool) -> dict[str, Any]:
        """Push, then ask the control plane for the PR; the answer the tool relays to the agent."""
        message_id = self._running_message_id()
        push = await self._pusher.push(self.branch, message_id)
        if isinstance(push, protocol.PushError):
            return {"ok": False, "error": f"the branch {self.branch} could not be pushed: {push.message}"}
        request_id = secrets.token_hex(12)
        waiting = self._waiting[request_id] = asyncio.get_running_loop().create_future()
        try:
            self._emit(protocol.PullRequestRequested(
                request_id=request_id, message_id=message_id, draft=draft,
                title=(title or "").strip()[:MAX_PR_TITLE_CHARS] or None,
                body=(body or "")[:MAX_PR_BODY_CHARS] or None,
            ))
            log.info("pull_requests.requested", request_id=request_id, message_id=message_id)
            try:
                result = await asyncio.wait_for(waiting, self._result_timeout_seconds)
            except TimeoutError:
                log.warning("pull_requests.timeout", request_id=request_id)
                return {"ok": False, "error": f"the control plane did not answer within "
                                              f"{self._result_timeout_seconds:g} s; the branch {self.branch} "
                                              "is pushed, a person can open the pull request"}
        finally:
            self._waiting.pop(request_id, None)
        log.info("pull_requests.answered", request_id=request_id, url=result.url, error=result.error)
        if result.url and not result.error:
            return {"ok": True, "url": result.url, "number": result.number, "branch": self.branch}
        return {"ok": False, "error": result.error or "the control plane opened no pull request"}

    async def _answer(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        try:
            request = json.loads(await reader.readline())
        except (ValueError, asyncio.LimitOverrunError):
            return {"ok": False, "error": "the request was not one line of JSON"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "the request was not a JSON object"}
        title, body = request.get("title"), request.get("body")
        return await self.request(title if isinstance(title, str) else None,
                                  body if isinstance(body, str) else None, bool(request.get("draft", False)))
