"""Answers the agent's pull request requests (its tool's ``pull_request_requested``).

Owns only the round trip: whose request it is (the author of the prompt the
event belongs to, or of the running prompt when the event names none), opening
the PR through :func:`openinspect_core.github.pulls.open_for_session` as that
person, and answering the sandbox with a ``pull_request_result`` carrying the
same ``request_id`` (the PR's URL and number, or why there is none). Storing the
request is ingestion's business; opening and recording the PR is the service's.

Each request runs as its own task, so a slow GitHub never holds up the bridge's
frames; the answer goes to whichever connection the session has by then (a
bridge that reconnected meanwhile still gets it). A request no longer answerable
(the control plane stopping) is dropped; the sandbox's tool times out and says so.
"""

from __future__ import annotations

import asyncio

import openinspect_protocol as p
from openinspect_protocol.logs import EventLog

from backend_jobs.bridge_server import BridgeConnections
from openinspect_core.context import AppContext
from openinspect_core.github import pulls
from openinspect_core.github.pull_records import scrub
from openinspect_core.models import Message, User
from openinspect_core.services import prompts
from openinspect_core.services.errors import ServiceError

log = EventLog(__name__)


class AgentPullRequests:
    def __init__(self, context: AppContext, bridges: BridgeConnections, *,
                 user_token: pulls.UserTokenSource | None = None) -> None:
        """``user_token`` replaces ``accounts.user_token`` (tests)."""
        self.context = context
        self.bridges = bridges
        self.user_token = user_token
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, session_id: str, request: p.PullRequestRequested) -> None:
        """Open the PR and answer the sandbox, without waiting for either."""
        task = asyncio.create_task(self._serve(session_id, request), name="pull_request.requested")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, session_id: str, request: p.PullRequestRequested) -> None:
        try:
            result = await self.answer(session_id, request)
        except Exception as error:  # never leave the agent waiting without a reason
            log.exception("pull_requests.failed", session_id=session_id, request_id=request.request_id)
            result = p.PullRequestResult(request_id=request.request_id,
                                         error=f"opening the pull request failed: {type(error).__name__}")
        if not await self.bridges.send(session_id, result):
            log.warning("pull_requests.unanswered", session_id=session_id, request_id=request.request_id)

    async def answer(self, session_id: str, request: p.PullRequestRequested) -> p.PullRequestResult:
        """Open (or link) the PR as the prompt's author; the result for the sandbox."""
        requester, message_id = await self._requester(session_id, request.message_id)
        if requester is None:
            return p.PullRequestResult(request_id=request.request_id,
                                       error="no prompt of this session asked for it, so there is nobody to open "
                                             "the pull request for")
        try:
            artifact = await pulls.open_for_session(self.context, session_id, requester, request.title, request.body,
                                                    request.draft, message_id=message_id, user_token=self.user_token)
        except ServiceError as error:
            return p.PullRequestResult(request_id=request.request_id, error=scrub(error.message))
        return p.PullRequestResult(request_id=request.request_id, url=artifact.ref,
                                   number=int(artifact.data.get("number") or 0) or None)

    async def _requester(self, session_id: str, message_id: str | None) -> tuple[User | None, str | None]:
        async with self.context.db.session() as db:
            message = await db.get(Message, message_id) if message_id else None
            if message is None or message.session_id != session_id:
                message = await prompts.running_message(db, session_id)
            if message is None:
                return None, None
            return await db.get(User, message.author_id), message.id

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
