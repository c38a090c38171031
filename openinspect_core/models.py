"""The database tables. Imported by every process; imports nothing from Reflex.

Times are timezone-aware everywhere: :class:`UTCDateTime` stores UTC and hands
back aware values even on SQLite (which keeps no zone). Ids are random hex
strings, so they can be made before a row is written and never leak counts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from openinspect_protocol.status import MessageStatus, SessionStatus
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a timezone-aware column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A status enum stored as its plain text value (a VARCHAR, no database enum type to migrate)."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self._enum = enum

    def process_bind_param(self, value: E | str | None, dialect: sa.Dialect) -> str | None:
        return None if value is None else self._enum(value).value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> E | None:
        return None if value is None else self._enum(value)


def _status(enum: type[E], default: E, length: int, *, index: bool = False) -> Any:
    return Field(default=default, sa_type=EnumText(enum, length), nullable=False, index=index)


class SandboxStatus(StrEnum):
    """spawning -> connected -> ready -> stopping -> stopped | failed (services/sandboxes guards each step)."""

    SPAWNING = "spawning"
    CONNECTED = "connected"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


LIVE_SANDBOX_STATUSES: tuple[SandboxStatus, ...] = (
    SandboxStatus.SPAWNING, SandboxStatus.CONNECTED, SandboxStatus.READY)
ENDED_SANDBOX_STATUSES: tuple[SandboxStatus, ...] = (SandboxStatus.STOPPED, SandboxStatus.FAILED)


def _time(nullable: bool = False, index: bool = False) -> Any:
    """A timezone-aware column: "now" by default, or empty when nullable."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)


def _json() -> Any:
    return Field(default_factory=dict, sa_type=sa.JSON)


class User(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(unique=True, max_length=320)
    name: str = Field(max_length=200)
    created_at: datetime = _time()


class SignIn(SQLModel, table=True):
    """A server-side sign-in: the browser holds a signed cookie naming it; the row holds only its hash."""

    __tablename__ = "sign_in"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=32)
    token_hash: str = Field(unique=True, max_length=64)
    provider: str = Field(max_length=16)  # local | github
    created_at: datetime = _time()
    expires_at: datetime = _time()
    last_seen_at: datetime = _time()
    revoked_at: datetime | None = _time(nullable=True)


class ApiToken(SQLModel, table=True):
    """A personal API token for scripts: shown once, kept only as a hash, revocable."""

    __tablename__ = "api_token"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=32)
    name: str = Field(max_length=100)
    token_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=16)  # the first characters, so a person can tell their tokens apart
    created_at: datetime = _time()
    last_used_at: datetime | None = _time(nullable=True)
    revoked_at: datetime | None = _time(nullable=True)


class GitHubAccount(SQLModel, table=True):
    """A person's GitHub identity and their user token (the GitHub App's user authorization).

    The tokens are stored encrypted (``openinspect_core/crypto.py``, AES-256-GCM, the row's id bound
    as associated data); they never leave the control plane.
    """

    __tablename__ = "github_account"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", unique=True, max_length=32)
    github_id: int = Field(sa_type=sa.BigInteger, unique=True)
    login: str = Field(max_length=100, index=True)
    access_token: str | None = Field(default=None, max_length=4000)  # ciphertext
    access_token_expires_at: datetime | None = _time(nullable=True)
    refresh_token: str | None = Field(default=None, max_length=4000)  # ciphertext
    refresh_token_expires_at: datetime | None = _time(nullable=True)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class GitHubInstallation(SQLModel, table=True):
    """An installation of the GitHub App (an organisation or account that gave it repositories)."""

    __tablename__ = "github_installation"

    id: int = Field(sa_type=sa.BigInteger, primary_key=True)  # GitHub's own id
    account_login: str = Field(max_length=100)
    account_type: str = Field(default="Organization", max_length=32)
    repository_selection: str = Field(default="selected", max_length=16)  # all | selected
    suspended: bool = False
    updated_at: datetime = _time()


class Repo(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    url: str = Field(unique=True, max_length=2000)
    name: str = Field(max_length=200)
    default_branch: str | None = Field(default=None, max_length=255)
    description: str | None = None
    created_at: datetime = _time()
    # GitHub repositories (from the App's installations): owner/name, GitHub's id, the installation
    # that grants access to it now (None: no installation does any more, so no new session may use it).
    full_name: str | None = Field(default=None, unique=True, max_length=200)
    github_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    installation_id: int | None = Field(default=None, sa_type=sa.BigInteger, index=True)
    private: bool = False
    updated_at: datetime | None = _time(nullable=True)


class Session(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    repo_id: str = Field(foreign_key="repo.id", index=True, max_length=32)
    branch: str | None = Field(default=None, max_length=255)
    title: str | None = Field(default=None, max_length=200)
    # The title came from the person (kept) or from the agent (may be replaced).
    title_from_user: bool = False
    model: str | None = Field(default=None, max_length=200)
    status: SessionStatus = _status(SessionStatus, SessionStatus.SPAWNING, 32, index=True)
    status_reason: str | None = None
    archived_at: datetime | None = _time(nullable=True)
    # Someone is typing a prompt: start a sandbox before the prompt arrives.
    warm_requested_at: datetime | None = _time(nullable=True)
    created_by: str = Field(foreign_key="user.id", max_length=32)
    created_at: datetime = _time()
    last_activity_at: datetime = _time(index=True)
    # Allocator for Event.sequence: bumped in the same transaction as the insert.
    last_event_seq: int = 0
    # The session's own branch (openinspect/<short id>-<slug>), pushed after turns with new commits;
    # None for repositories the system cannot push to (local paths).
    work_branch: str | None = Field(default=None, max_length=255)
    pushed_sha: str | None = Field(default=None, max_length=64)  # the branch's tip on the remote
    source: str = Field(default="api", max_length=16)  # where it was started: api | web | slack
    # Spending (openinspect_core/services/spend.py): this session's own limit in USD (None: the
    # OPENINSPECT_SESSION_SPEND_LIMIT_USD default), and since when its queue has waited for it.
    spend_limit_usd: float | None = None
    spend_held_at: datetime | None = _time(nullable=True)


class Participant(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("session_id", "user_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    session_id: str = Field(foreign_key="session.id", index=True, max_length=32)
    user_id: str = Field(foreign_key="user.id", max_length=32)
    role: str = Field(default="member", max_length=16)  # owner | member
    presence: str = Field(default="away", max_length=16)  # active | idle | away
    joined_at: datetime = _time()
    last_seen_at: datetime = _time()


class Message(SQLModel, table=True):
    """A prompt, and its place in the session's FIFO queue."""

    __table_args__ = (
        sa.UniqueConstraint("session_id", "client_request_id"),
        sa.Index("ix_message_session_status", "session_id", "status"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    session_id: str = Field(foreign_key="session.id", max_length=32)
    author_id: str = Field(foreign_key="user.id", max_length=32)
    content: str
    source: str = Field(default="api", max_length=16)  # api | web | slack
    client_request_id: str = Field(max_length=200)
    # The HTTP request that queued it (X-Request-Id): the worker's dispatch and the sandbox's turn log it.
    request_id: str | None = Field(default=None, max_length=64)
    status: MessageStatus = _status(MessageStatus, MessageStatus.QUEUED, 16)
    model: str | None = Field(default=None, max_length=200)
    sandbox_id: str | None = Field(default=None, max_length=32)
    error: str | None = None
    stop_requested_at: datetime | None = _time(nullable=True)
    created_at: datetime = _time()
    started_at: datetime | None = _time(nullable=True)
    finished_at: datetime | None = _time(nullable=True)


class Event(SQLModel, table=True):
    """One entry of a session's timeline: a sandbox event or a control-plane event."""

    __table_args__ = (
        sa.UniqueConstraint("session_id", "sequence"),
        # Ingestion is idempotent on this pair (a re-sent frame is a no-op).
        sa.UniqueConstraint("sandbox_id", "sandbox_seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="session.id", max_length=32)
    sequence: int
    type: str = Field(max_length=32)
    data: dict[str, Any] = _json()
    message_id: str | None = Field(default=None, max_length=32, index=True)
    sandbox_id: str | None = Field(default=None, max_length=32)
    sandbox_seq: int | None = None
    created_at: datetime = _time()


class SandboxLogLine(SQLModel, table=True):
    """One line of a sandbox runtime's own log (``sandbox_log`` events), kept with its session: the
    newest ``services.sandbox_logs.MAX_LINES`` per session, also after the sandbox has ended."""

    __tablename__ = "sandbox_log_line"
    __table_args__ = (sa.Index("ix_sandbox_log_line_session_id_id", "session_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="session.id", max_length=32)
    sandbox_id: str = Field(max_length=32)
    sandbox_seq: int | None = None  # the batch's bridge sequence number (one per batch, as an Event's)
    ts: datetime = _time()
    level: str = Field(max_length=16)
    line: str = Field(max_length=4000)


class SessionChanges(SQLModel, table=True):
    """A session's changes against its base branch, as its sandbox last read them (a ``changes`` event):
    one row per session, replaced after each turn, kept after the sandbox has ended
    (``services.changes``)."""

    __tablename__ = "session_changes"

    session_id: str = Field(foreign_key="session.id", primary_key=True, max_length=32)
    message_id: str | None = Field(default=None, max_length=32)  # the turn they were read after
    sandbox_id: str = Field(max_length=32)
    base_ref: str = Field(max_length=300)
    base_sha: str | None = Field(default=None, max_length=64)
    head_sha: str | None = Field(default=None, max_length=64)
    file_count: int = 0  # listed or not
    additions: int = 0
    deletions: int = 0
    folded: int = 0  # files whose diff was left out (binary, or over a size cap)
    data: dict[str, Any] = _json()  # the event's files, caps and the rest (ChangesSnapshot)
    updated_at: datetime = _time()


class Artifact(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    session_id: str = Field(foreign_key="session.id", index=True, max_length=32)
    message_id: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=16)  # commit | branch | pr | screenshot | diff
    ref: str = Field(max_length=2000)  # a commit's sha, a PR's URL; a stored file's page URL
    data: dict[str, Any] = _json()
    created_at: datetime = _time()
    # A stored file (a screenshot): where its bytes are in the artifact store, what they are (judged
    # by the bytes) and how many; None for artifacts that are only a reference (commits, PRs).
    storage_key: str | None = Field(default=None, max_length=300)
    content_type: str | None = Field(default=None, max_length=64)
    size_bytes: int | None = None
    sandbox_id: str | None = Field(default=None, max_length=32)  # the sandbox that uploaded it


class Sandbox(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    session_id: str = Field(foreign_key="session.id", index=True, max_length=32)
    backend: str = Field(max_length=32)
    external_id: str | None = Field(default=None, max_length=255)
    status: SandboxStatus = _status(SandboxStatus, SandboxStatus.SPAWNING, 16, index=True)
    auth_token_hash: str = Field(unique=True, max_length=64)
    # The sandbox's own credential for the model proxy (never the provider's key).
    proxy_token_hash: str | None = Field(default=None, unique=True, max_length=64)
    last_acked_seq: int = 0
    created_at: datetime = _time()
    ready_at: datetime | None = _time(nullable=True)
    last_heartbeat_at: datetime | None = _time(nullable=True)
    stopped_at: datetime | None = _time(nullable=True)
    exit_code: int | None = None
    failure_reason: str | None = None



class WebhookDelivery(SQLModel, table=True):
    """A GitHub webhook delivery already handled (``X-GitHub-Delivery``): a redelivery does nothing."""

    __tablename__ = "webhook_delivery"

    id: str = Field(primary_key=True, max_length=64)
    event: str = Field(max_length=64)
    action: str | None = Field(default=None, max_length=64)
    received_at: datetime = _time(index=True)


class ModelUsage(SQLModel, table=True):
    """What one model call through the proxy cost: the one place tokens and cost are metered."""

    __tablename__ = "model_usage"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(foreign_key="session.id", index=True, max_length=32)
    sandbox_id: str = Field(foreign_key="sandbox.id", max_length=32)
    # The prompt running when the call was made (None: none was, e.g. a title asked between turns).
    message_id: str | None = Field(default=None, max_length=32, index=True)
    model: str = Field(max_length=200)
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    created_at: datetime = _time()


class Secret(SQLModel, table=True):
    """An environment variable for sandboxes, global or for one repository (``openinspect_core/secrets``).

    The value is stored encrypted (AES-256-GCM, ``secret:<scope_key>:<name>`` bound as associated
    data, so a ciphertext copied into another row, scope or name does not decrypt) and never leaves
    the control plane except into a sandbox of a session that may use it.
    """

    __tablename__ = "secret"
    # scope_key rather than repo_id is unique with the name: NULLs (the global scope) never collide in SQL.
    __table_args__ = (sa.UniqueConstraint("scope_key", "name"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    scope_key: str = Field(max_length=64)  # "global" or "repo:<repo id>"
    repo_id: str | None = Field(default=None, foreign_key="repo.id", index=True, max_length=32)
    name: str = Field(max_length=256)
    value: str = Field(sa_type=sa.Text)  # ciphertext
    key_id: str = Field(max_length=16, index=True)  # the encryption key that made ``value`` (rotation)
    updated_by: str = Field(foreign_key="user.id", max_length=32)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class SecretAudit(SQLModel, table=True):
    """Who set, imported or deleted which secret, where and when; never the value."""

    __tablename__ = "secret_audit"
    __table_args__ = (sa.Index("ix_secret_audit_scope_created", "scope_key", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    scope_key: str = Field(max_length=64)
    repo_id: str | None = Field(default=None, foreign_key="repo.id", max_length=32)
    name: str = Field(max_length=256)
    action: str = Field(max_length=16)  # set | delete | import
    user_id: str = Field(foreign_key="user.id", max_length=32)
    created_at: datetime = _time(index=True)


# ------------------------------------------------------------------ Slack (openinspect_core/slack)


class SlackThread(SQLModel, table=True):
    """The Slack thread a session reports to: its status message (updated in place) and what it last said."""

    __tablename__ = "slack_thread"
    __table_args__ = (sa.UniqueConstraint("channel_id", "thread_ts"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    session_id: str = Field(foreign_key="session.id", unique=True, max_length=32)
    team_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    thread_ts: str = Field(max_length=32)  # the message that started it (the thread's parent)
    status_ts: str | None = Field(default=None, max_length=32)  # the status message, updated in place
    status_text: str | None = None  # what the status message says now (no update when unchanged)
    # The newest event and prompt the thread has reported; the reporter goes on from there after a restart.
    reported_event_seq: int = 0
    reported_message_at: datetime | None = _time(nullable=True)
    slack_user_id: str = Field(max_length=32)  # who started it
    created_at: datetime = _time()


class SlackDelivery(SQLModel, table=True):
    """An Events API delivery or interaction already handled: a retry of it does nothing."""

    __tablename__ = "slack_delivery"

    id: str = Field(primary_key=True, max_length=128)  # event_id, or the interaction's own key
    kind: str = Field(max_length=32)
    received_at: datetime = _time(index=True)


class SlackChannelRepo(SQLModel, table=True):
    """A channel's repository: a mention there with no repository named works on this one."""

    __tablename__ = "slack_channel_repo"

    channel_id: str = Field(primary_key=True, max_length=32)
    channel_name: str | None = Field(default=None, max_length=200)
    repo_id: str = Field(foreign_key="repo.id", index=True, max_length=32)
    updated_by: str = Field(foreign_key="user.id", max_length=32)
    updated_at: datetime = _time()


class RepoHint(SQLModel, table=True):
    """An alias (names the repository outright) or a keyword (points towards it) used to choose a repository."""

    __tablename__ = "repo_hint"
    __table_args__ = (sa.UniqueConstraint("repo_id", "kind", "value"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    repo_id: str = Field(foreign_key="repo.id", index=True, max_length=32)
    kind: str = Field(max_length=16)  # alias | keyword
    value: str = Field(max_length=100)  # lower case
    updated_by: str = Field(foreign_key="user.id", max_length=32)
    created_at: datetime = _time()


class SlackUserLink(SQLModel, table=True):
    """A Slack user is this person: their Slack prompts are theirs (commit author, pull requests)."""

    __tablename__ = "slack_user_link"

    slack_user_id: str = Field(primary_key=True, max_length=32)
    team_id: str = Field(max_length=32)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=32)
    method: str = Field(max_length=16)  # email | link
    slack_name: str | None = Field(default=None, max_length=200)
    linked_at: datetime = _time()


class SlackPending(SQLModel, table=True):
    """A Slack request waiting on someone: a repository to choose, or an account to link.

    The link flow's code is kept as its hash only, like sign-ins: the row cannot be used from a dump.
    """

    __tablename__ = "slack_pending"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    reason: str = Field(max_length=16)  # choose_repo | link_account
    team_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    thread_ts: str = Field(max_length=32)
    message_ts: str = Field(max_length=32)
    slack_user_id: str = Field(max_length=32)
    text: str
    candidates: list[str] = Field(default_factory=list, sa_type=sa.JSON)  # repo ids, best first
    prompt_ts: str | None = Field(default=None, max_length=32)  # the bot's message with the buttons
    link_code_hash: str | None = Field(default=None, unique=True, max_length=64)
    created_at: datetime = _time()
    expires_at: datetime = _time()
    resolved_at: datetime | None = _time(nullable=True)
