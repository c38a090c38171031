"""Request and response bodies of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from openinspect_app.api.cost_schemas import SessionSpendOut
from openinspect_core.models import ApiToken, Event, Message, SandboxLogLine, User
from openinspect_core.services.sessions import SessionSummary

# A database id: the API's own are 32 hex characters; anything else is "not found", and characters no
# database column holds (NUL, say) never reach one.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
NO_AUTHOR = ("is not accepted: the author of a prompt and the creator of a session is always the caller "
             "(the person of the API token or sign-in); leave it out")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        # What a database cannot store is refused here (422), not by the database (500): PostgreSQL
        # text holds no NUL, and neither backend stores a lone surrogate.
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError("must not contain NUL characters")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("must be valid Unicode text (no lone surrogates)") from None
        return value


class _NoAuthor(_In):
    @model_validator(mode="before")
    @classmethod
    def _refuse_author(cls, data: Any) -> Any:
        if isinstance(data, dict) and "author" in data:
            raise ValueError(f"author {NO_AUTHOR}")
        return data


class CreateSessionIn(_NoAuthor):
    # ``repo`` first: ``repo_url``'s check below reads it (pydantic validates fields in order).
    repo: str | None = Field(default=None, min_length=3, max_length=200,
                             description="With a GitHub App: one of its repositories as owner/name.")
    repo_url: str | None = Field(default=None, min_length=1, max_length=2000, validate_default=True,
                                 description="A local path or http(s) URL (required without `repo`).")
    branch: str | None = Field(default=None, max_length=255)
    title: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)

    @field_validator("repo_url", mode="before")
    @classmethod
    def _required_without_repo(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.data.get("repo") is None:
            raise PydanticCustomError("missing", "Field required")  # as before `repo` existed
        return value

    @model_validator(mode="after")
    def _one_repository(self) -> CreateSessionIn:
        if (self.repo_url is None) == (self.repo is None):
            raise ValueError("give either repo_url (a path or URL) or repo (owner/name with a GitHub App)")
        return self


class PromptIn(_NoAuthor):
    # Length is checked by the service (413 with a clear message), not here (422).
    content: str
    client_request_id: str = Field(min_length=1, max_length=200)
    model: str | None = Field(default=None, max_length=200)


class LocalSignInIn(_In):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    next: str | None = Field(default=None, max_length=2000, description="Where a form post goes next (a local path).")


class TokenIn(_In):
    name: str = Field(min_length=1, max_length=100, description="What the token is for, e.g. 'laptop CLI'.")


class UserOut(BaseModel):
    id: str
    name: str
    email: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, name=user.name, email=user.email)


class SignedInOut(BaseModel):
    user: UserOut


class ApiTokenOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> ApiTokenOut:
        return cls(id=token.id, name=token.name, prefix=token.prefix, created_at=token.created_at,
                   last_used_at=token.last_used_at, revoked_at=token.revoked_at)


class NewApiTokenOut(ApiTokenOut):
    token: str = Field(description="The token itself: shown this once, never again (only its hash is kept).")


class RepoOut(BaseModel):
    id: str = Field(description="the repository's id here (its secrets: /api/repos/{id}/secrets)")
    url: str
    name: str
    full_name: str | None = Field(default=None, description="owner/name for a GitHub repository")


class SessionOut(BaseModel):
    id: str
    title: str | None
    repo: RepoOut
    branch: str | None
    work_branch: str | None = Field(description="the session's own branch on GitHub, pushed after turns")
    pushed_sha: str | None = Field(description="that branch's tip on GitHub, once pushed")
    model: str | None
    status: str
    status_reason: str | None
    archived: bool
    pending_prompts: int
    last_event_sequence: int
    created_at: datetime
    last_activity_at: datetime
    source: str = Field(description="where it was started: `api`, `web` or `slack`")
    title_from_user: bool = Field(default=False, description="a person gave the title: the agent's later titles "
                                  "do not replace it")
    spend: SessionSpendOut | None = Field(default=None, description="tokens and cost so far, and the spend limit")

    @classmethod
    def of(cls, summary: SessionSummary) -> SessionOut:
        s, repo = summary.session, summary.repo
        return cls(
            id=s.id, title=s.title,
            repo=RepoOut(id=repo.id, url=repo.url, name=repo.name, full_name=repo.full_name),
            branch=s.branch, work_branch=s.work_branch, pushed_sha=s.pushed_sha, model=s.model,
            status=s.status, status_reason=s.status_reason, archived=s.archived_at is not None,
            pending_prompts=summary.pending_prompts, last_event_sequence=s.last_event_seq,
            created_at=s.created_at, last_activity_at=s.last_activity_at, source=s.source,
            title_from_user=s.title_from_user,
        )


class GitHubRepoOut(BaseModel):
    """A repository of the GitHub App's installations, as the new-session picker lists it."""

    full_name: str
    default_branch: str | None
    private: bool
    description: str | None


class BranchOut(BaseModel):
    name: str
    default: bool


class AuthorOut(BaseModel):
    name: str
    email: str


class MessageOut(BaseModel):
    id: str
    session_id: str
    content: str
    author: AuthorOut
    source: str
    status: str
    error: str | None
    client_request_id: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    request_id: str | None = Field(default=None, description="X-Request-Id of the request that queued it: "
                                   "the logs of every process name it")

    @classmethod
    def of(cls, message: Message, author: User) -> MessageOut:
        return cls(
            id=message.id, session_id=message.session_id, content=message.content,
            author=AuthorOut(name=author.name, email=author.email), source=message.source,
            status=message.status, error=message.error, client_request_id=message.client_request_id,
            created_at=message.created_at, started_at=message.started_at, finished_at=message.finished_at,
            request_id=message.request_id,
        )


class EventOut(BaseModel):
    sequence: int
    type: str
    data: dict[str, Any]
    message_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(sequence=event.sequence, type=event.type, data=event.data, message_id=event.message_id,
                   created_at=event.created_at)


class EventsPage(BaseModel):
    events: list[EventOut]
    next_after: int = Field(description="pass as ?after= to get the events that follow")
    has_more: bool


class SandboxLogLineOut(BaseModel):
    ts: datetime
    sandbox_id: str
    level: str
    line: str = Field(description="the runtime's JSON log line: event, ids (session_id, message_id, ...), fields")

    @classmethod
    def of(cls, row: SandboxLogLine) -> SandboxLogLineOut:
        return cls(ts=row.ts, sandbox_id=row.sandbox_id, level=row.level, line=row.line)


class SandboxLogOut(BaseModel):
    lines: list[SandboxLogLineOut] = Field(description="the newest lines, oldest first")
