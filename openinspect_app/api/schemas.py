"""Request and response bodies of the REST API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from openinspect_core.models import Event, Message, User
from openinspect_core.services.sessions import SessionSummary


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthorIn(_In):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)


class CreateSessionIn(_In):
    repo_url: str = Field(min_length=1, max_length=2000)
    branch: str | None = Field(default=None, max_length=255)
    title: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    author: AuthorIn | None = None


class PromptIn(_In):
    # Length is checked by the service (413 with a clear message), not here (422).
    content: str
    client_request_id: str = Field(min_length=1, max_length=200)
    author: AuthorIn | None = None
    model: str | None = Field(default=None, max_length=200)


class RepoOut(BaseModel):
    url: str
    name: str


class SessionOut(BaseModel):
    id: str
    title: str | None
    repo: RepoOut
    branch: str | None
    model: str | None
    status: str
    status_reason: str | None
    archived: bool
    pending_prompts: int
    last_event_sequence: int
    created_at: datetime
    last_activity_at: datetime

    @classmethod
    def of(cls, summary: SessionSummary) -> SessionOut:
        s, repo = summary.session, summary.repo
        return cls(
            id=s.id, title=s.title, repo=RepoOut(url=repo.url, name=repo.name), branch=s.branch, model=s.model,
            status=s.status, status_reason=s.status_reason, archived=s.archived_at is not None,
            pending_prompts=summary.pending_prompts, last_event_sequence=s.last_event_seq,
            created_at=s.created_at, last_activity_at=s.last_activity_at,
        )


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

    @classmethod
    def of(cls, message: Message, author: User) -> MessageOut:
        return cls(
            id=message.id, session_id=message.session_id, content=message.content,
            author=AuthorOut(name=author.name, email=author.email), source=message.source,
            status=message.status, error=message.error, client_request_id=message.client_request_id,
            created_at=message.created_at, started_at=message.started_at, finished_at=message.finished_at,
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
