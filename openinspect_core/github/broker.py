"""The credential broker: git credentials for one sandbox, good for its session's repository only.

A sandbox's git credential helper asks the control plane (``GET
/bridge/{session_id}/git-credentials`` on the bridge server, with the sandbox
token; the bridge's handler checks that token exactly as it checks a bridge
handshake) at each clone, fetch and push. This module decides the answer once
the caller is known to be that session's live sandbox: an installation token
narrowed to the session's repository (``repositories=[name]``,
``contents: write``: :data:`~openinspect_core.github.client.PUSH_PERMISSIONS`),
which the App's client caches until shortly before it expires.

The token is handed out and nothing else: it is never logged, stored or put
into an event, and a refusal's message never carries one (:func:`.pull_records.scrub`).
Refusals are :class:`BrokerRefused` with the HTTP status the route answers:
404 the repository is not a GitHub one (git needs nothing from here), 502
GitHub refused or could not be reached, or the App no longer has the repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus

from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.github.client import PUSH_PERMISSIONS, GitHubApp, GitHubError
from openinspect_core.github.pull_records import scrub
from openinspect_core.models import Repo
from openinspect_core.services import sessions

USERNAME = "x-access-token"  # what GitHub expects beside an installation token in HTTP Basic


@dataclass(frozen=True)
class GitCredentials:
    username: str
    password: str = field(repr=False)
    expires_at: datetime

    def to_json(self) -> str:
        """The route's body: ``{"username", "password", "expires_at"}``."""
        return json.dumps({"username": self.username, "password": self.password,
                           "expires_at": self.expires_at.isoformat()})


class BrokerRefused(Exception):
    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def git_credentials(db: AsyncSession, github: GitHubApp | None, session_id: str) -> GitCredentials:
    """Credentials for the session's repository (the caller has authenticated its sandbox)."""
    session = await sessions.get(db, session_id)
    repo = await db.get(Repo, session.repo_id)
    assert repo is not None
    if github is None or repo.full_name is None:
        raise BrokerRefused(HTTPStatus.NOT_FOUND, "this session's repository is not on GitHub; git needs no "
                                                  "credentials from the control plane for it")
    if repo.installation_id is None:
        raise BrokerRefused(HTTPStatus.BAD_GATEWAY, f"the GitHub App is no longer installed on {repo.full_name}, "
                                                    "so no token can be made for it")
    name = repo.full_name.split("/", 1)[1]
    try:
        token = await github.installation_token(repo.installation_id, repositories=[name],
                                                permissions=PUSH_PERMISSIONS)
    except GitHubError as error:
        raise BrokerRefused(HTTPStatus.BAD_GATEWAY, scrub(str(error))) from None
    return GitCredentials(USERNAME, token.token, token.expires_at)
