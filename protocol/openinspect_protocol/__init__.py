"""Open-Inspect's protocol: the one vocabulary the control plane and a sandbox share.

- :mod:`~openinspect_protocol.events`: sandbox -> control plane (numbered, acknowledged, re-sent).
- :mod:`~openinspect_protocol.commands`: control plane -> sandbox.
- :mod:`~openinspect_protocol.timeline`: what a session's timeline stores (sandbox and control-plane events).
- :mod:`~openinspect_protocol.launch`: what a sandbox is started with (its environment).
- :mod:`~openinspect_protocol.status`: the statuses they speak of.
- :mod:`~openinspect_protocol.logs`: the log style every process writes.

Every frame is one JSON object with a ``type``; parsing happens once at the boundary
and the rest of the code matches on typed values. The names below are re-exported so
that ``import openinspect_protocol as p`` reads as the vocabulary it is.
"""

from openinspect_protocol.base import Author, ProtocolError, TokenUsage
from openinspect_protocol.commands import (
    Ack,
    Command,
    Prompt,
    PullRequestResult,
    Push,
    Reject,
    Shutdown,
    Stop,
    parse_command,
)
from openinspect_protocol.events import (
    Artifact,
    ArtifactKind,
    ChangedFile,
    ChangesSnapshot,
    ErrorEvent,
    ExecutionComplete,
    GitSync,
    Heartbeat,
    PreviewPorts,
    PullRequestRequested,
    PushComplete,
    PushError,
    Ready,
    SandboxEvent,
    SandboxLog,
    SandboxLogLine,
    ScriptFinished,
    ScriptName,
    ScriptOutput,
    SessionTitle,
    Stage,
    StageChanged,
    StepFinish,
    StepStart,
    StoredSandboxEvent,
    TokenDelta,
    ToolCall,
    ToolResult,
    VerifyFinished,
    WarningEvent,
    parse_sandbox_event,
)
from openinspect_protocol.launch import HEARTBEAT_INTERVAL_SECONDS, HEARTBEAT_STALE_SECONDS, LaunchError, LaunchSpec
from openinspect_protocol.status import MessageStatus, SessionStatus
from openinspect_protocol.version import PROTOCOL_HEADER, PROTOCOL_VERSION

__all__ = [
    "HEARTBEAT_INTERVAL_SECONDS",
    "HEARTBEAT_STALE_SECONDS",
    "PROTOCOL_HEADER",
    "PROTOCOL_VERSION",
    "Ack",
    "Artifact",
    "ArtifactKind",
    "Author",
    "ChangedFile",
    "ChangesSnapshot",
    "Command",
    "ErrorEvent",
    "ExecutionComplete",
    "GitSync",
    "Heartbeat",
    "LaunchError",
    "LaunchSpec",
    "MessageStatus",
    "PreviewPorts",
    "Prompt",
    "ProtocolError",
    "PullRequestRequested",
    "PullRequestResult",
    "Push",
    "PushComplete",
    "PushError",
    "Ready",
    "Reject",
    "SandboxEvent",
    "SandboxLog",
    "SandboxLogLine",
    "ScriptFinished",
    "ScriptName",
    "ScriptOutput",
    "SessionStatus",
    "SessionTitle",
    "Shutdown",
    "Stage",
    "StageChanged",
    "StepFinish",
    "StepStart",
    "Stop",
    "StoredSandboxEvent",
    "TokenDelta",
    "TokenUsage",
    "ToolCall",
    "ToolResult",
    "VerifyFinished",
    "WarningEvent",
    "parse_command",
    "parse_sandbox_event",
]
