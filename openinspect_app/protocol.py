"""The wire protocol between a sandbox bridge and the control plane.

One module, imported by both ends (the sandbox runtime imports nothing else from
the control plane), so the two can never drift apart. Every frame is one JSON
object with a ``type`` field; parsing happens once at the boundary
(:func:`parse_sandbox_event`, :func:`parse_command`) and the rest of the code
matches on typed values.

Delivery: every sandbox event carries ``seq``, numbered from 1 per sandbox by the
bridge's outbox. The control plane acknowledges cumulatively (``ack`` with the
highest sequence it has stored with no gap); the bridge re-sends every
unacknowledged event after a reconnect; ingestion ignores a sequence it has
already stored. Together: nothing is lost or doubled across disconnects.

Bump :data:`PROTOCOL_VERSION` on any incompatible change; the bridge sends it in
the ``X-OpenInspect-Protocol`` header and the control plane refuses a mismatch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1
PROTOCOL_HEADER = "X-OpenInspect-Protocol"

# Why 30/90: a heartbeat every 30 s and "stale" after three missed ones is what
# the architecture fixes; both ends read these names, nobody repeats the numbers.
HEARTBEAT_INTERVAL_SECONDS = 30.0
HEARTBEAT_STALE_SECONDS = 90.0


class ProtocolError(ValueError):
    """A frame that is not a valid message of this protocol; the text says why."""


def _now() -> datetime:
    return datetime.now(UTC)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> str:
        return self.model_dump_json()


# --------------------------------------------------------------------------
# Shared vocabulary
# --------------------------------------------------------------------------


class Author(_Message):
    """The person a prompt belongs to; commits made for it carry this identity."""

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)


class TokenUsage(_Message):
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cache_read: int = 0
    cache_write: int = 0


# --------------------------------------------------------------------------
# Sandbox -> control plane events
# --------------------------------------------------------------------------


class _Event(_Message):
    seq: int = Field(default=0, ge=0, description="per-sandbox sequence; 0 until the outbox numbers it")
    ts: AwareDatetime = Field(default_factory=_now)
    message_id: str | None = Field(default=None, description="the prompt this event belongs to")


class Ready(_Event):
    type: Literal["ready"] = "ready"
    agent: str
    agent_version: str
    protocol_version: int = PROTOCOL_VERSION
    head_sha: str | None = None


class Heartbeat(_Event):
    type: Literal["heartbeat"] = "heartbeat"


Stage = Literal["syncing", "setup", "starting_agent"]


class StageChanged(_Event):
    """The sandbox entered one of its start-up steps (shown as progress)."""

    type: Literal["stage"] = "stage"
    stage: Stage


class GitSync(_Event):
    type: Literal["git_sync"] = "git_sync"
    status: Literal["completed", "failed"]
    repo_url: str
    branch: str | None = None
    head_sha: str | None = None
    detail: str | None = None


ScriptName = Literal["setup", "start"]


class ScriptOutput(_Event):
    """A chunk of a repository script's combined stdout/stderr."""

    type: Literal["script_output"] = "script_output"
    script: ScriptName
    text: str


class ScriptFinished(_Event):
    type: Literal["script_finished"] = "script_finished"
    script: ScriptName
    exit_code: int | None
    timed_out: bool = False
    duration_ms: int


class TokenDelta(_Event):
    """Streamed assistant text (coalesced by the harness into small chunks)."""

    type: Literal["token"] = "token"
    part_id: str
    text: str


class ToolCall(_Event):
    type: Literal["tool_call"] = "tool_call"
    call_id: str
    tool: str
    input: dict[str, Any] = Field(default_factory=dict)


class ToolResult(_Event):
    type: Literal["tool_result"] = "tool_result"
    call_id: str
    tool: str
    status: Literal["completed", "error"]
    title: str | None = None
    output: str = ""
    error: str | None = None


class StepStart(_Event):
    type: Literal["step_start"] = "step_start"


class StepFinish(_Event):
    type: Literal["step_finish"] = "step_finish"
    reason: str | None = None
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    cost: float = 0.0


class Error(_Event):
    """Something went wrong. ``fatal`` means the sandbox cannot go on."""

    type: Literal["error"] = "error"
    code: str
    message: str
    fatal: bool = False


class ExecutionComplete(_Event):
    """The prompt ``message_id`` is finished; the agent is free for the next one."""

    type: Literal["execution_complete"] = "execution_complete"
    success: bool
    stopped: bool = False
    error: str | None = None


ArtifactKind = Literal["commit", "branch", "pr", "screenshot", "diff"]


class Artifact(_Event):
    type: Literal["artifact"] = "artifact"
    kind: ArtifactKind
    ref: str = Field(description="commit sha, branch name, URL or file name")
    data: dict[str, Any] = Field(default_factory=dict)


class Warning(_Event):
    type: Literal["warning"] = "warning"
    code: str
    message: str


class SessionTitle(_Event):
    type: Literal["session_title"] = "session_title"
    title: str = Field(max_length=200)


SandboxEvent = Annotated[
    Ready
    | Heartbeat
    | StageChanged
    | GitSync
    | ScriptOutput
    | ScriptFinished
    | TokenDelta
    | ToolCall
    | ToolResult
    | StepStart
    | StepFinish
    | Error
    | ExecutionComplete
    | Artifact
    | Warning
    | SessionTitle,
    Field(discriminator="type"),
]
SANDBOX_EVENT_TYPES: frozenset[str] = frozenset(
    cls.model_fields["type"].default
    for cls in (
        Ready, Heartbeat, StageChanged, GitSync, ScriptOutput, ScriptFinished, TokenDelta,
        ToolCall, ToolResult, StepStart, StepFinish, Error, ExecutionComplete, Artifact,
        Warning, SessionTitle,
    )
)
_sandbox_event_adapter: TypeAdapter[SandboxEvent] = TypeAdapter(SandboxEvent)


# --------------------------------------------------------------------------
# Control plane -> bridge commands
# --------------------------------------------------------------------------


class Prompt(_Message):
    type: Literal["prompt"] = "prompt"
    message_id: str
    content: str
    author: Author
    model: str | None = None


class Stop(_Message):
    """Abort the running prompt (if it is ``message_id``, or whatever runs when None)."""

    type: Literal["stop"] = "stop"
    message_id: str | None = None


class Shutdown(_Message):
    type: Literal["shutdown"] = "shutdown"
    reason: str = "requested"


class Ack(_Message):
    """Every event with ``seq`` at or below this one is stored."""

    type: Literal["ack"] = "ack"
    seq: int = Field(ge=0)


class Reject(_Message):
    """The control plane refused a frame the bridge sent; the reason is for logs."""

    type: Literal["reject"] = "reject"
    reason: str


Command = Annotated[Prompt | Stop | Shutdown | Ack | Reject, Field(discriminator="type")]
_command_adapter: TypeAdapter[Command] = TypeAdapter(Command)


def _explain(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "frame"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _parse(adapter: TypeAdapter[Any], raw: str | bytes, what: str) -> Any:
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        match first["type"]:
            case "json_invalid":
                reason = f"malformed {what}: not valid JSON"
            case "union_tag_invalid":
                reason = f"unknown {what} type {first.get('ctx', {}).get('tag')!r}"
            case "union_tag_not_found":
                reason = f"malformed {what}: no 'type' field"
            case "model_attributes_type" | "model_type" | "dict_type":
                reason = f"malformed {what}: expected a JSON object"
            case _:
                reason = f"invalid {what}: {_explain(exc)}"
        raise ProtocolError(reason) from None


def parse_sandbox_event(raw: str | bytes) -> SandboxEvent:
    """Parse one bridge frame, or raise :class:`ProtocolError` saying why not."""
    return _parse(_sandbox_event_adapter, raw, "sandbox event")


def parse_command(raw: str | bytes) -> Command:
    """Parse one control-plane frame, or raise :class:`ProtocolError` saying why not."""
    return _parse(_command_adapter, raw, "command")


# --------------------------------------------------------------------------
# Events the control plane itself adds to a session's timeline
# --------------------------------------------------------------------------

SessionStatus = Literal[
    "spawning",
    "syncing",
    "setup",
    "starting_agent",
    "ready",
    "running",
    "idle",
    "stopped",
    "failed",
]

# Control-plane event types stored beside the sandbox's own (see models.Event).
CONTROL_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "session_status",  # {"status", "reason"}
        "sandbox_spawning",  # {"sandbox_id", "backend"}
        "sandbox_exited",  # {"sandbox_id", "exit_code", "reason"}
        "prompt_queued",  # {"message_id", "author", "content", "position"}
        "prompt_started",  # {"message_id"}
        "prompt_finished",  # {"message_id", "status", "error"}
        "prompt_cancelled",  # {"message_id"}
        "stop_requested",  # {"message_id"}
        "bridge_rejected",  # {"reason"}: a frame or connection the control plane refused
        "session_archived",  # {}
        "session_restored",  # {}
    }
)
