"""Sandbox -> control plane: the events a sandbox's bridge sends.

Every event carries ``seq``, numbered from 1 per sandbox by the bridge's
outbox; the control plane acknowledges cumulatively (``Ack``) and the bridge
re-sends whatever is unacknowledged after a reconnect, so nothing is lost or
doubled. ``message_id`` ties an event to the prompt it belongs to.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, TypeAdapter

from openinspect_protocol.base import Message, TokenUsage, now, parse
from openinspect_protocol.previews import PreviewPortList
from openinspect_protocol.version import PROTOCOL_VERSION

# The limits of the columns these values are stored in (openinspect_core/models.py): a frame
# whose values could not be stored is refused here, when it is parsed, never by the database.
MAX_SEQ = 2**31 - 1  # sandbox.last_acked_seq and event.sandbox_seq are 32-bit integers
MESSAGE_ID_MAX_CHARS = 32  # message.id: the control plane's ids are 32 hex digits
MAX_TITLE_CHARS = 200  # session.title
MAX_ARTIFACT_REF_CHARS = 2000  # artifact.ref
# The largest frame a sandbox sends: its outbox shrinks any bigger event to fit (the control plane's
# own limit, OPENINSPECT_MAX_FRAME_BYTES, is the same by default).
MAX_EVENT_BYTES = 256 * 1024


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL's text columns cannot hold NUL; nothing a sandbox means to say needs one.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _finite(value: Any) -> Any:
    # JSON has no NaN or Infinity (PostgreSQL refuses them; browsers could not read them back).
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    if isinstance(value, dict):
        for item in value.values():
            _finite(item)
    elif isinstance(value, list):
        for item in value:
            _finite(item)
    return value


ColumnText = Annotated[str, AfterValidator(_no_nul)]
"""Text the control plane stores in a column of its own (not only in the event's JSON)."""
OptionalColumnText = Annotated[str | None, AfterValidator(_no_nul)]
MessageId = Annotated[str, Field(min_length=1, max_length=MESSAGE_ID_MAX_CHARS, pattern=r"^[A-Za-z0-9_-]+$")]
"""A prompt's id: what the control plane sent in ``prompt``, echoed back."""
JsonObject = Annotated[dict[str, Any], AfterValidator(_finite)]


class _Event(Message):
    seq: int = Field(default=0, ge=0, le=MAX_SEQ, strict=True,
                     description="per-sandbox sequence; 0 until the outbox numbers it")
    ts: AwareDatetime = Field(default_factory=now)
    message_id: MessageId | None = Field(default=None, description="the prompt this event belongs to")


class Ready(_Event):
    """The agent is up; prompts may be sent."""

    type: Literal["ready"] = "ready"
    agent: str
    agent_version: str
    protocol_version: int = PROTOCOL_VERSION
    head_sha: str | None = None


class Heartbeat(_Event):
    """Liveness only: kept on the sandbox's row, never stored on the timeline."""

    type: Literal["heartbeat"] = "heartbeat"


Stage = Literal["syncing", "setup", "starting_agent"]


class StageChanged(_Event):
    """The sandbox entered one of its start-up steps (shown as progress)."""

    type: Literal["stage"] = "stage"
    stage: Stage


class GitSync(_Event):
    """The repository was cloned or fetched (or could not be)."""

    type: Literal["git_sync"] = "git_sync"
    status: Literal["completed", "failed"]
    repo_url: str
    branch: str | None = None
    head_sha: str | None = None
    detail: str | None = None


ScriptName = Literal["setup", "start", "verify"]


class ScriptOutput(_Event):
    """A chunk of a repository script's combined stdout/stderr."""

    type: Literal["script_output"] = "script_output"
    script: ScriptName
    text: str


class ScriptFinished(_Event):
    """A repository script ended: its exit code, or that it ran out of time."""

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
    """The agent called a tool (its input may grow while the call streams)."""

    type: Literal["tool_call"] = "tool_call"
    call_id: str
    tool: str
    input: JsonObject = Field(default_factory=dict)


class ToolResult(_Event):
    """A tool call ended; ``output`` is capped by the harness."""

    type: Literal["tool_result"] = "tool_result"
    call_id: str
    tool: str
    status: Literal["completed", "error"]
    title: str | None = None
    output: str = ""
    error: str | None = None


class StepStart(_Event):
    """The agent began a model step."""

    type: Literal["step_start"] = "step_start"


class StepFinish(_Event):
    """A model step ended, with what it cost."""

    type: Literal["step_finish"] = "step_finish"
    reason: str | None = None
    tokens: TokenUsage = Field(default_factory=TokenUsage)
    cost: float = Field(default=0.0, allow_inf_nan=False)


class ErrorEvent(_Event):
    """Something went wrong. ``fatal`` means the sandbox cannot go on."""

    type: Literal["error"] = "error"
    code: str
    message: ColumnText
    fatal: bool = False


class ExecutionComplete(_Event):
    """The prompt ``message_id`` is finished; the agent is free for the next one."""

    type: Literal["execution_complete"] = "execution_complete"
    success: bool
    stopped: bool = False
    error: OptionalColumnText = None


ArtifactKind = Literal["commit", "branch", "pr", "screenshot", "diff"]


class Artifact(_Event):
    """Something the turn produced: a commit, a branch, a pull request, a screenshot, a diff."""

    type: Literal["artifact"] = "artifact"
    kind: ArtifactKind
    ref: ColumnText = Field(min_length=1, max_length=MAX_ARTIFACT_REF_CHARS,
                            description="commit sha, branch name, URL or file name")
    data: JsonObject = Field(default_factory=dict)


class WarningEvent(_Event):
    """Something went wrong but the sandbox goes on (e.g. setup.sh failed)."""

    type: Literal["warning"] = "warning"
    code: str
    message: str


class SessionTitle(_Event):
    """The agent named the session (a title a person gave is kept)."""

    type: Literal["session_title"] = "session_title"
    title: ColumnText = Field(max_length=MAX_TITLE_CHARS)


MAX_BRANCH_CHARS = 255  # session.work_branch
MAX_PR_TITLE_CHARS = 256  # GitHub's own limit on a pull request's title
MAX_PR_BODY_CHARS = 65_536  # GitHub's own limit on a pull request's body
RequestId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class PushComplete(_Event):
    """The session's branch is on the remote at ``head_sha`` (answers a ``push`` command)."""

    type: Literal["push_complete"] = "push_complete"
    branch: ColumnText = Field(min_length=1, max_length=MAX_BRANCH_CHARS)
    head_sha: str = Field(min_length=1, max_length=64)
    base_branch: str | None = Field(default=None, max_length=MAX_BRANCH_CHARS)
    commits_ahead: int = Field(default=0, ge=0, description="commits on the branch that the base does not have")


class PushError(_Event):
    """Pushing the session's branch failed; the work stays in the sandbox's clone."""

    type: Literal["push_error"] = "push_error"
    branch: ColumnText = Field(min_length=1, max_length=MAX_BRANCH_CHARS)
    code: str = Field(description="push_rejected, push_denied, push_unreachable, secret_in_diff or push_failed")
    message: ColumnText


class PullRequestRequested(_Event):
    """The agent asked for a pull request (its tool); the control plane opens it as the prompt's author
    and answers with a ``pull_request_result`` command carrying the same ``request_id``."""

    type: Literal["pull_request_requested"] = "pull_request_requested"
    request_id: RequestId
    title: str | None = Field(default=None, max_length=MAX_PR_TITLE_CHARS)
    body: str | None = Field(default=None, max_length=MAX_PR_BODY_CHARS)
    draft: bool = False


MAX_LOG_LINE_CHARS = 4000  # sandbox_log_line.line
MAX_LOG_LINES_PER_BATCH = 200
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class SandboxLogLine(Message):
    """One line of the sandbox runtime's own log, as its formatter wrote it (JSON, already scrubbed)."""

    ts: AwareDatetime
    level: LogLevel
    line: ColumnText = Field(min_length=1, max_length=MAX_LOG_LINE_CHARS)


class SandboxLog(_Event):
    """A batch of the sandbox runtime's own log lines (never the agent's output), kept with the session:
    ``GET /api/sessions/{id}/sandbox-log``, not the timeline."""

    type: Literal["sandbox_log"] = "sandbox_log"
    lines: list[SandboxLogLine] = Field(min_length=1, max_length=MAX_LOG_LINES_PER_BATCH,
                                        description="oldest first; each has `ts`, `level` and `line` (its JSON)")
    dropped: int = Field(default=0, ge=0, le=MAX_SEQ, strict=True,
                         description="lines the sandbox left out before these (its buffer or outbox was full)")


VerifyOutcome = Literal["passed", "failed", "timed_out"]
MAX_VERIFY_TAIL_CHARS = 4000


class VerifyFinished(_Event):
    """``.openinspect/verify.sh`` ran after a turn that made commits (its output came as ``script_output``
    with ``script`` = ``verify``): passed (exit 0), failed, or timed out (killed at its limit)."""

    type: Literal["verify_finished"] = "verify_finished"
    outcome: VerifyOutcome
    exit_code: int | None = Field(description="None when it was killed at the time limit")
    duration_ms: int = Field(ge=0)
    timeout_seconds: float = Field(gt=0, allow_inf_nan=False, description="the limit it ran under")
    head_sha: str | None = Field(default=None, max_length=64, description="the commit it checked")
    tail: str = Field(default="", max_length=MAX_VERIFY_TAIL_CHARS, description="the last lines of its output")


MAX_CHANGED_FILES = 500  # files listed in one `changes` event; the rest are counted in `files_omitted`
MAX_CHANGED_PATH_CHARS = 4096
FoldReason = Literal["", "binary", "file_cap", "total_cap"]


class ChangedFile(Message):
    """One file of a session's changes against its base: its counts and (unless folded) its unified diff."""

    path: str = Field(min_length=1, max_length=MAX_CHANGED_PATH_CHARS)
    old_path: str | None = Field(default=None, max_length=MAX_CHANGED_PATH_CHARS, description="a rename's source")
    status: Literal["added", "modified", "deleted", "renamed", "copied", "type_changed"] = "modified"
    additions: int = Field(default=0, ge=0)
    deletions: int = Field(default=0, ge=0)
    binary: bool = False
    patch: str = Field(default="", description="the file's unified diff from its first `@@`; empty when folded")
    patch_bytes: int = Field(default=0, ge=0, description="the size of the whole diff, sent or not")
    omitted: FoldReason = Field(default="", description="why `patch` is empty: binary, file_cap or total_cap")


class ChangesSnapshot(_Event):
    """The session's changes against its base branch (commits and the uncommitted work tree), computed at
    the end of each turn; kept with the session (not on the timeline), so they stay readable after the
    sandbox stops."""

    type: Literal["changes"] = "changes"
    base_ref: str = Field(max_length=300, description="what the changes are measured from, e.g. origin/main")
    base_sha: str | None = Field(default=None, max_length=64)
    head_sha: str | None = Field(default=None, max_length=64)
    files: list[ChangedFile] = Field(default_factory=list, max_length=MAX_CHANGED_FILES)
    files_omitted: int = Field(default=0, ge=0, description="changed files beyond the ones listed")
    additions: int = Field(default=0, ge=0)
    deletions: int = Field(default=0, ge=0)
    uncommitted: bool = Field(default=False, description="the work tree had changes not committed")
    max_file_bytes: int = Field(gt=0, description="a file's diff larger than this is folded (file_cap)")
    max_total_bytes: int = Field(gt=0, description="diffs beyond this many bytes in all are folded (total_cap)")


class PreviewPorts(_Event):
    """The dev servers the repository declares in ``.openinspect/preview.toml``, read once after the clone
    (docs/previews.md#live-previews). The control plane proxies these ports of this sandbox, no others."""

    type: Literal["preview_ports"] = "preview_ports"
    ports: PreviewPortList = Field(description="each: `port` (1024-65535), `label`, `path` (where it opens)")


StoredSandboxEvent = (
    Ready | StageChanged | GitSync | ScriptOutput | ScriptFinished | TokenDelta | ToolCall | ToolResult
    | StepStart | StepFinish | ErrorEvent | ExecutionComplete | Artifact | WarningEvent | SessionTitle
    | PushComplete | PushError | PullRequestRequested | VerifyFinished | PreviewPorts
)
"""The sandbox events the timeline keeps (all but :class:`Heartbeat`, :class:`SandboxLog` and
:class:`ChangesSnapshot`)."""

SandboxEvent = Annotated[Heartbeat | SandboxLog | ChangesSnapshot | StoredSandboxEvent,
                         Field(discriminator="type")]
_adapter: TypeAdapter[SandboxEvent] = TypeAdapter(SandboxEvent)


def parse_sandbox_event(raw: str | bytes) -> SandboxEvent:
    """Parse one bridge frame, or raise :class:`~openinspect_protocol.ProtocolError` saying why not."""
    return parse(_adapter, raw, "sandbox event")


