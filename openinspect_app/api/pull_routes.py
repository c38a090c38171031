"""REST endpoints for a session's pull request: a draft to edit, then the PR opened as the caller.

Thin, like the other routes: the caller is resolved by the boundary, the work is
:mod:`openinspect_core.github.pulls`' (opened with the caller's own GitHub token,
or by the App saying who asked), and its refusals are service errors the app
turns into answers: 409 nothing pushed yet or not a GitHub repository, 502
GitHub refused (the timeline has a ``pull_request_failed`` event with a compare
link either way).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from openinspect_app.api.deps import Me, System
from openinspect_app.api.errors import COMMON_ERRORS, ErrorOut, error_responses
from openinspect_app.api.routes import SessionId
from openinspect_app.api.schemas import _In
from openinspect_core.github import pulls

router = APIRouter(responses=error_responses(*COMMON_ERRORS))
GITHUB_REFUSED = {502: {"model": ErrorOut, "description": "GitHub refused, or could not be reached"}}


class PullRequestDraftOut(BaseModel):
    title: str
    body: str


class PullRequestIn(_In):
    title: str | None = Field(default=None, max_length=256, description="Default: the draft's title.")
    body: str | None = Field(default=None, max_length=65_536, description="Default: the draft's body.")
    draft: bool = Field(default=False, description="Open it as a draft pull request.")


@router.get("/sessions/{session_id}/pull-request/draft", responses=error_responses(404))
async def pull_request_draft(session_id: SessionId, system: System, _: Me) -> PullRequestDraftOut:
    """A title and body drafted from the session (its title, prompts and commits, a link to it)."""
    async with system.context.db.session() as db:
        title, body = await pulls.draft(db, session_id, origin=system.context.settings.origin)
    return PullRequestDraftOut(title=title, body=body)


@router.post("/sessions/{session_id}/pull-request", status_code=201,
             responses={**error_responses(404, 409), **GITHUB_REFUSED})
async def open_pull_request(session_id: SessionId, body: PullRequestIn, system: System, me: Me) -> dict[str, Any]:
    """Open the session's pull request as the caller (an open one is linked, not opened twice);
    the PR's card: number, title, state, url, head, base, author_login, opened_as, requested_by."""
    title = body.title.strip() if body.title and body.title.strip() else None
    artifact = await pulls.open_for_session(system.context, session_id, me.user, title, body.body, body.draft)
    return dict(artifact.data)
