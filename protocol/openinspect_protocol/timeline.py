"""A session's stored timeline: the sandbox's events and the control plane's own, one typed union.

Every row of the ``event`` table is one :data:`TimelineEvent`. The control
plane writes its own events (a prompt queued, the sandbox spawning, the session
archived...) as the models below, never as hand-built dicts, and readers get
the same models back (:func:`from_stored`), so writer and reader cannot drift.
``docs/events.md`` is generated from this module (``python -m
openinspect_protocol.catalogue``) and a test keeps it current.

Stored form: the row keeps ``type`` and ``message_id`` in columns and the rest
in ``data`` (:func:`stored_data`); a sandbox event's ``seq`` lives in the row's
``sandbox_seq``.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from openinspect_protocol.base import Message, parse_object
from openinspect_protocol.events import StoredSandboxEvent
from openinspect_protocol.status import MessageStatus, SessionStatus


class _ControlEvent(Message):
    """An event the control plane itself adds to a session's timeline."""


class SessionStatusChanged(_ControlEvent):
    type: Literal["session_status"] = "session_status"
    status: SessionStatus
    reason: str | None = None


class SandboxSpawning(_ControlEvent):
    type: Literal["sandbox_spawning"] = "sandbox_spawning"
    sandbox_id: str
    backend: str


class SandboxExited(_ControlEvent):
    """A sandbox ended; the ``session_status`` that follows says what that means for the session."""

    type: Literal["sandbox_exited"] = "sandbox_exited"
    sandbox_id: str
    exit_code: int | None
    reason: str
    log_tail: str = Field(default="", description="the end of the sandbox's own log, for operators")


class PromptAuthor(Message):
    id: str
    name: str
    email: str


class PromptQueued(_ControlEvent):
    type: Literal["prompt_queued"] = "prompt_queued"
    message_id: str
    author: PromptAuthor
    content: str
    source: str = Field(description="where the prompt came from: api, web or slack")
    position: int = Field(description="its place in the queue when it arrived (1 = next)")


class PromptStarted(_ControlEvent):
    type: Literal["prompt_started"] = "prompt_started"
    message_id: str


class TurnUsage(Message):
    """What a prompt's model calls cost, as the model proxy metered them."""

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cost_usd: float = Field(ge=0)
    calls: int = Field(ge=0, description="model calls made while the prompt ran")


class PromptFinished(_ControlEvent):
    type: Literal["prompt_finished"] = "prompt_finished"
    message_id: str
    status: MessageStatus
    error: str | None = None
    usage: TurnUsage | None = Field(default=None, description="its model calls' tokens and cost")


class PromptCancelled(_ControlEvent):
    type: Literal["prompt_cancelled"] = "prompt_cancelled"
    message_id: str


class StopRequested(_ControlEvent):
    type: Literal["stop_requested"] = "stop_requested"
    message_id: str


class BridgeRejected(_ControlEvent):
    """A frame from the session's own sandbox that the control plane refused."""

    type: Literal["bridge_rejected"] = "bridge_rejected"
    reason: str
    frame: str = Field(default="", description="the start of the refused frame")


class SessionArchived(_ControlEvent):
    type: Literal["session_archived"] = "session_archived"


class SessionRestored(_ControlEvent):
    type: Literal["session_restored"] = "session_restored"


PullRequestState = Literal["open", "closed", "merged"]


class PullRequestChanged(_ControlEvent):
    """A pull request of the session was opened, or changed on GitHub (a webhook): the card's new face."""

    type: Literal["pull_request"] = "pull_request"
    number: int
    url: str
    title: str
    state: PullRequestState
    draft: bool = False
    head: str = Field(description="the session's branch")
    base: str
    author_login: str = Field(description="whom GitHub shows as the author: the person, or the App's bot")
    opened_as: Literal["user", "app"] = Field(description="with the person's own token, or by the App for them")
    requested_by: PromptAuthor | None = None
    action: str = Field(default="opened", description="opened, closed, merged, reopened, edited")


class PullRequestFailed(_ControlEvent):
    """Someone asked for a pull request and none was opened; ``compare_url`` lets a person open it by hand."""

    type: Literal["pull_request_failed"] = "pull_request_failed"
    reason: str
    code: str
    compare_url: str | None = None
    requested_by: PromptAuthor | None = None


class ChangesUpdated(_ControlEvent):
    """A sandbox sent the session's changes against its base (a ``changes`` event, kept apart): their
    summary, on the timeline, so viewers know the Changes panel has something new."""

    type: Literal["changes_updated"] = "changes_updated"
    files: int = Field(description="changed files, listed or not")
    additions: int
    deletions: int
    folded: int = Field(default=0, description="files whose diff was left out (binary or over a size cap)")
    head_sha: str | None = None
    message_id: str | None = Field(default=None, description="the turn they were read after")


class SessionRenamed(_ControlEvent):
    """A person gave the session a title: kept from now on (a later title from the agent does not replace it)."""

    type: Literal["session_renamed"] = "session_renamed"
    title: str
    by: PromptAuthor


class SpendLimitChanged(_ControlEvent):
    """A person set the session's spend limit (None: back to the installation's default)."""

    type: Literal["spend_limit_changed"] = "spend_limit_changed"
    limit_usd: float | None
    effective_limit_usd: float | None = Field(description="the limit that holds now (None: no limit)")
    by: PromptAuthor


class SpendLimitReached(_ControlEvent):
    """The session has spent its limit: queued prompts wait until someone raises it."""

    type: Literal["spend_limit_reached"] = "spend_limit_reached"
    spent_usd: float
    limit_usd: float
    waiting: int = Field(description="prompts waiting when the limit held the queue")


class ArtifactCreated(_ControlEvent):
    """A file the session's sandbox uploaded (a screenshot the agent took), now in the artifact store."""

    type: Literal["artifact_created"] = "artifact_created"
    artifact_id: str
    kind: Literal["screenshot"] = "screenshot"
    content_type: str = Field(description="image/png, image/jpeg or image/webp, judged by the bytes")
    size_bytes: int
    width: int
    height: int
    message_id: str | None = Field(default=None, description="the prompt that was running")
    caption: str = ""
    page_url: str = Field(default="", description="the page the screenshot is of")
    page_title: str = ""
    viewport: Literal["desktop", "phone"] = "desktop"
    full_page: bool = False


ControlEvent = (
    SessionStatusChanged | SandboxSpawning | SandboxExited | PromptQueued | PromptStarted | PromptFinished
    | PromptCancelled | StopRequested | BridgeRejected | SessionArchived | SessionRestored
    | PullRequestChanged | PullRequestFailed | ArtifactCreated | ChangesUpdated
    | SessionRenamed | SpendLimitChanged | SpendLimitReached
)

TimelineEvent = Annotated[StoredSandboxEvent | ControlEvent, Field(discriminator="type")]
_adapter: TypeAdapter[TimelineEvent] = TypeAdapter(TimelineEvent)

_ROW_FIELDS = frozenset({"type", "seq"})


def is_sandbox_event(event: TimelineEvent) -> bool:
    return not isinstance(event, _ControlEvent)


def stored_data(event: TimelineEvent) -> dict[str, Any]:
    """What goes into the row's ``data`` (``type``, ``seq`` and a sandbox event's ``message_id`` have columns)."""
    exclude = set(_ROW_FIELDS) if isinstance(event, _ControlEvent) else {*_ROW_FIELDS, "message_id"}
    return event.model_dump(mode="json", exclude=exclude)


def message_id_of(event: TimelineEvent) -> str | None:
    value = getattr(event, "message_id", None)
    return value if isinstance(value, str) else None


def from_stored(event_type: str, data: dict[str, Any], message_id: str | None = None,
                sandbox_seq: int | None = None) -> TimelineEvent:
    """The typed event a stored row holds; :class:`~openinspect_protocol.ProtocolError` if it holds none."""
    value: dict[str, Any] = {**data, "type": event_type}
    if event_type in _SANDBOX_TYPES:
        value["message_id"] = message_id
        value["seq"] = sandbox_seq or 0
    return parse_object(_adapter, value, "stored event")


def _literal_type(model: Any) -> str:
    return str(model.model_fields["type"].default)


SANDBOX_EVENT_MODELS: tuple[type[Message], ...] = typing.get_args(StoredSandboxEvent)
CONTROL_EVENT_MODELS: tuple[type[Message], ...] = typing.get_args(ControlEvent)
_SANDBOX_TYPES = frozenset(_literal_type(m) for m in SANDBOX_EVENT_MODELS)
