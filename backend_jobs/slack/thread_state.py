"""What a session's Slack thread should say: typed timeline events folded into a status and replies.

Pure: no database, no Slack, no clock. :meth:`ThreadState.apply` matches on
every member of :data:`~openinspect_protocol.timeline.TimelineEvent` (a type
checker fails when one has no case) and returns the replies the event calls
for; :meth:`ThreadState.status` says what the status message shows now. The
texts are plain (what the agent or a person wrote, unescaped): making them
Slack's is :mod:`backend_jobs.slack.status_blocks`' job; talking to Slack and
keeping the position is :mod:`backend_jobs.slack.reporter`'s.

Every reply carries the sequence of the event that called for it, so the
reporter can fold a whole timeline again after a restart and post only the
replies after the position it stored. A finished prompt whose commits are
being pushed is *held* (:attr:`ThreadState.held`) until the push ends, so its
reply can offer "Create pull request" for a branch that is really there; the
reporter releases it after a while if no push comes.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, assert_never

import openinspect_protocol as p
from openinspect_protocol.status import STARTUP_STAGES, MessageStatus, SessionStatus
from openinspect_protocol.timeline import (
    ArtifactCreated,
    BridgeRejected,
    ChangesUpdated,
    PromptCancelled,
    PromptFinished,
    PromptQueued,
    PromptStarted,
    PullRequestChanged,
    PullRequestFailed,
    SandboxExited,
    SandboxSpawning,
    SessionArchived,
    SessionRenamed,
    SessionRestored,
    SessionStatusChanged,
    SpendLimitChanged,
    SpendLimitReached,
    StopRequested,
    TimelineEvent,
)

# Bounds on what is kept per prompt (a long turn must not grow the reporter's memory).
TEXT_KEPT_CHARS = 4_000  # of each of the turn's final text parts; the reply shows less
FILES_KEPT = 50
COMMITS_KEPT = 20
# OpenCode's tools that change files, and where their input names the file.
EDIT_TOOLS = frozenset({"edit", "write", "multiedit", "patch", "apply_patch"})
PATH_FIELDS = ("filePath", "file_path", "path")
_PATCH_FILE = re.compile(r"^\*\*\* (?:Add|Update|Delete) File: (.+)$", re.MULTILINE)
# The sandbox clones the repository into <workspace>/repo (sandbox/config.py): paths are shown from there.
REPO_DIR_MARKER = "/repo/"
# A PR in one of these still takes the branch's new commits: no second one is offered.
LIVE_PR_STATES = ("open",)
PR_ACTIONS_SAID = frozenset({"opened", "linked", "reopened", "merged", "closed"})
NOT_RUN_PREFIX = "not run:"  # prompts.fail_queued's error: said once, by the session's failure


class Phase(enum.StrEnum):
    """What the status message shows, in the order a session usually goes through them."""

    STARTING = "starting"  # a sandbox is being made
    SETTING_UP = "setting_up"  # syncing, setup script, starting the agent
    QUEUED = "queued"  # a prompt waits, the sandbox is up
    READY = "ready"  # a sandbox is up and nothing was asked yet
    WORKING = "working"
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"
    ARCHIVED = "archived"


SETUP_STEPS = {
    SessionStatus.SYNCING: "getting the repository",
    SessionStatus.SETUP: "running the setup script",
    SessionStatus.STARTING_AGENT: "starting the agent",
}


@dataclass(frozen=True)
class Status:
    """The status message's face: a phase, what it is doing (``detail``) and more of it (``extra``)."""

    phase: Phase
    detail: str = ""  # e.g. the setup step, the running tool's name, a failure's reason
    extra: str = ""  # e.g. the running tool's command or file

    def fingerprint(self) -> str:
        """What is stored as ``SlackThread.status_text``: the same fingerprint means no update is needed."""
        return " · ".join(part for part in (self.phase.value, self.detail, self.extra) if part)[:2_000]


@dataclass(frozen=True)
class PullRequestRef:
    number: int
    url: str
    title: str
    state: str  # open | closed | merged (a draft is open)


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str


Outcome = Literal["completed", "failed", "stopped"]


@dataclass
class Completion:
    """The reply to a finished prompt: the agent's summary, what it changed, where to go next."""

    sequence: int
    message_id: str
    outcome: Outcome
    summary: str = ""
    summary_cut: bool = False  # the agent said more than was kept
    error: str = ""
    files: list[str] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)
    pull_request: PullRequestRef | None = None
    can_open_pull_request: bool = False  # the branch is pushed and no PR is open: offer the button
    push_problem: str = ""


@dataclass(frozen=True)
class PromptMirror:
    """A prompt sent to this session from elsewhere (the web, the API), shown in the thread."""

    sequence: int
    author: str
    source: str
    content: str


@dataclass(frozen=True)
class PullRequestNews:
    sequence: int
    action: str
    pull_request: PullRequestRef
    opened_by: str  # whose it is: a person's name, or GitHub's login


NoticeKind = Literal["session_failed", "archived", "restored", "pull_request_failed"]


@dataclass(frozen=True)
class Notice:
    sequence: int
    kind: NoticeKind
    text: str = ""  # a reason (plain)
    url: str | None = None  # a PR's compare page, to open it by hand


Reply = Completion | PromptMirror | PullRequestNews | Notice


@dataclass
class _Turn:
    """What is gathered while one prompt runs."""

    message_id: str
    parts: dict[str, str] = field(default_factory=dict)  # text part id -> its text (kept bounded)
    cut_parts: set[str] = field(default_factory=set)
    final_parts: list[str] = field(default_factory=list)  # the parts after the last tool call
    files: list[str] = field(default_factory=list)
    commits: list[Commit] = field(default_factory=list)


@dataclass
class ThreadState:
    """The fold of one session's timeline, as its Slack thread needs it.

    ``pushes`` says whether the session's commits are pushed (it has a branch of its own
    on GitHub): only then is a finished prompt with new commits held for its push.
    """

    pushes: bool = False
    last_sequence: int = 0
    session_status: SessionStatus = SessionStatus.SPAWNING
    session_reason: str = ""
    archived: bool = False
    queued: list[str] = field(default_factory=list)  # prompts waiting, in order
    running: str | None = None
    turn: _Turn | None = None
    started: set[str] = field(default_factory=set)  # prompts that ran (bounded by the session's prompts)
    last_outcome: tuple[MessageStatus, str] | None = None
    tools: dict[str, tuple[str, str]] = field(default_factory=dict)  # running call id -> (tool, what)
    tool_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    unpushed_commits: int = 0
    pushed: bool = False
    pull_requests: dict[int, PullRequestRef] = field(default_factory=dict)
    held: Completion | None = None

    # ------------------------------------------------------------------ fold

    def apply(self, sequence: int, event: TimelineEvent) -> list[Reply]:
        """Fold one event in; the replies it calls for (in order). An event seen before does nothing."""
        if sequence <= self.last_sequence:
            return []
        self.last_sequence = sequence
        match event:
            case SessionStatusChanged():
                return self._session_status(sequence, event)
            case PromptQueued():
                self.queued.append(event.message_id)
                if event.source == "slack":
                    return []  # its own thread already shows it
                return [PromptMirror(sequence, event.author.name, event.source, event.content)]
            case PromptStarted():
                replies = self.release()
                self._drop_queued(event.message_id)
                self.running = event.message_id
                self.started.add(event.message_id)
                self.turn = _Turn(event.message_id)
                self.tools.clear()
                self.tool_inputs.clear()
                return replies
            case PromptFinished():
                return self._prompt_finished(sequence, event)
            case PromptCancelled():
                self._drop_queued(event.message_id)
                return []
            case SessionArchived():
                self.archived = True
                return [*self.release(), Notice(sequence, "archived")]
            case SessionRestored():
                self.archived = False
                return [Notice(sequence, "restored")]
            case (StopRequested() | BridgeRejected() | SandboxSpawning() | SandboxExited() | p.GitSync()
                  | p.ScriptOutput() | p.ScriptFinished() | p.Ready() | p.StepStart() | p.StepFinish()
                  | p.ErrorEvent() | p.WarningEvent() | p.SessionTitle() | p.StageChanged()
                  | p.ExecutionComplete() | p.PullRequestRequested() | p.PreviewPorts()
                  | SessionRenamed() | SpendLimitChanged() | SpendLimitReached()
                  | p.VerifyFinished() | ChangesUpdated() | ArtifactCreated()):
                # The session_status and prompt_finished that follow say what these mean for the thread.
                return []
            case p.TokenDelta():
                self._token(event)
                return []
            case p.ToolCall():
                self._tool_call(event)
                return []
            case p.ToolResult():
                self._tool_result(event)
                return []
            case p.Artifact():
                self._artifact(event)
                return []
            case p.PushComplete():
                self.pushed, self.unpushed_commits = True, 0
                return self.release()
            case p.PushError():
                if self.held is not None:
                    self.held.push_problem = _push_problem(event)
                return self.release()
            case PullRequestChanged():
                return self._pull_request(sequence, event)
            case PullRequestFailed():
                return [Notice(sequence, "pull_request_failed", event.reason, event.compare_url)]
            case _:
                assert_never(event)

    def skip(self, sequence: int) -> None:
        """Pass over an event that could not be read."""
        self.last_sequence = max(self.last_sequence, sequence)

    def release(self) -> list[Reply]:
        """The held reply, now (its push ended, or the reporter waited long enough)."""
        held, self.held = self.held, None
        if held is None:
            return []
        held.pull_request = self.open_pull_request()
        held.can_open_pull_request = self.pushed and held.pull_request is None
        return [held]

    def safe_position(self) -> int:
        """The newest sequence whose replies are all given out: what may be stored as reported."""
        return self.held.sequence - 1 if self.held is not None else self.last_sequence

    def open_pull_request(self) -> PullRequestRef | None:
        live = [pr for pr in self.pull_requests.values() if pr.state in LIVE_PR_STATES]
        return max(live, key=lambda pr: pr.number) if live else None

    # ---------------------------------------------------------------- status

    def status(self) -> Status:
        """What the status message says now."""
        if self.archived:
            return Status(Phase.ARCHIVED)
        if self.session_status == SessionStatus.FAILED:
            return Status(Phase.FAILED, self.session_reason)
        starting = self.session_status in STARTUP_STAGES and self.session_status != SessionStatus.READY
        if (self.running is not None or self.queued) and starting:
            return self._starting()
        if self.running is not None:
            return self._working()
        if self.queued:
            return Status(Phase.QUEUED)
        if self.last_outcome is not None:
            outcome, error = self.last_outcome
            if outcome == MessageStatus.COMPLETED:
                return Status(Phase.DONE)
            if outcome == MessageStatus.FAILED:
                return Status(Phase.FAILED, error)
            return Status(Phase.STOPPED, "cancelled" if outcome == MessageStatus.CANCELLED else "")
        return self._starting() if starting else Status(Phase.READY)

    def _starting(self) -> Status:
        step = SETUP_STEPS.get(self.session_status)
        return Status(Phase.SETTING_UP, step) if step else Status(Phase.STARTING)

    def _working(self) -> Status:
        if not self.tools:
            return Status(Phase.WORKING)
        tool, what = next(reversed(self.tools.values()))  # the newest call still running
        return Status(Phase.WORKING, tool, what)

    # --------------------------------------------------------------- details

    def _session_status(self, sequence: int, event: SessionStatusChanged) -> list[Reply]:
        self.session_status, self.session_reason = event.status, event.reason or ""
        if event.status != SessionStatus.FAILED:
            return []
        if self.running is not None:
            return []  # the running prompt is ended next, and its reply says why
        return [*self.release(), Notice(sequence, "session_failed", self.session_reason)]

    def _prompt_finished(self, sequence: int, event: PromptFinished) -> list[Reply]:
        self._drop_queued(event.message_id)
        ran = event.message_id in self.started
        if event.status != MessageStatus.CANCELLED or ran:
            self.last_outcome = (event.status, event.error or "")
        if self.running == event.message_id:
            self.running = None
            self.tools.clear()
        if not ran:
            return []  # never started: cancelled on purpose, or not run because the sandbox failed (said once)
        replies = self.release()
        turn = self.turn if self.turn is not None and self.turn.message_id == event.message_id else _Turn("")
        self.turn = None
        outcome: Outcome = ("completed" if event.status == MessageStatus.COMPLETED
                            else "stopped" if event.status in (MessageStatus.STOPPED, MessageStatus.CANCELLED)
                            else "failed")
        summary, summary_cut = _summary(turn)
        completion = Completion(sequence, event.message_id, outcome, summary=summary, summary_cut=summary_cut,
                                error=event.error or "", files=list(turn.files), commits=list(turn.commits))
        self.held = completion
        if self.pushes and self.unpushed_commits > 0:
            return replies  # its push comes next: the reply waits for it (release())
        return [*replies, *self.release()]

    def _drop_queued(self, message_id: str) -> None:
        if message_id in self.queued:
            self.queued.remove(message_id)

    def _token(self, event: p.TokenDelta) -> None:
        turn = self.turn
        if turn is None or event.message_id not in (None, turn.message_id):
            return
        if event.part_id not in turn.parts:
            turn.parts[event.part_id] = ""
            turn.final_parts.append(event.part_id)
        text = turn.parts[event.part_id] + event.text
        if len(text) > TEXT_KEPT_CHARS:
            turn.cut_parts.add(event.part_id)
        turn.parts[event.part_id] = text[:TEXT_KEPT_CHARS]

    def _tool_call(self, event: p.ToolCall) -> None:
        self.tool_inputs[event.call_id] = event.input
        self.tools.pop(event.call_id, None)  # re-inserted: the newest call is the last one
        self.tools[event.call_id] = (event.tool, _tool_title(event.input))
        if self.turn is not None:
            self.turn.final_parts.clear()  # text before a tool call is not the summary

    def _tool_result(self, event: p.ToolResult) -> None:
        self.tools.pop(event.call_id, None)
        tool_input = self.tool_inputs.pop(event.call_id, {})
        if self.turn is None or event.status != "completed" or event.tool not in EDIT_TOOLS:
            return
        for path in _edited_paths(tool_input):
            if path not in self.turn.files and len(self.turn.files) < FILES_KEPT:
                self.turn.files.append(path)

    def _artifact(self, event: p.Artifact) -> None:
        if event.kind != "commit":
            return
        self.unpushed_commits += 1
        subject = event.data.get("subject")
        if self.turn is not None and len(self.turn.commits) < COMMITS_KEPT:
            self.turn.commits.append(Commit(event.ref, subject if isinstance(subject, str) else ""))

    def _pull_request(self, sequence: int, event: PullRequestChanged) -> list[Reply]:
        ref = PullRequestRef(event.number, event.url, event.title, "merged" if event.state == "merged"
                             else event.state)
        self.pull_requests[event.number] = ref
        if event.action not in PR_ACTIONS_SAID:
            return []  # an edit: not worth a message
        who = event.requested_by.name if event.requested_by else event.author_login
        return [PullRequestNews(sequence, event.action, ref, who)]


def _summary(turn: _Turn) -> tuple[str, bool]:
    """The agent's last words of the turn: its text after the last tool call (or its last text at all)."""
    parts = turn.final_parts or list(turn.parts)[-1:]
    text = "\n\n".join(turn.parts[part].strip() for part in parts if turn.parts[part].strip())
    return text, any(part in turn.cut_parts for part in parts)


def _edited_paths(tool_input: dict[str, Any]) -> list[str]:
    paths = [value for name in PATH_FIELDS if isinstance(value := tool_input.get(name), str) and value]
    patch = tool_input.get("patchText") or tool_input.get("patch")
    if isinstance(patch, str):
        paths.extend(match.strip() for match in _PATCH_FILE.findall(patch))
    return [shown_path(path) for path in paths[:1] + [p for p in paths[1:] if p != paths[0]]]


def shown_path(path: str) -> str:
    """A path as the repository knows it (the sandbox's tools use absolute paths in its clone)."""
    at = path.find(REPO_DIR_MARKER)
    return path[at + len(REPO_DIR_MARKER):] if at != -1 else path


def _tool_title(tool_input: dict[str, Any]) -> str:
    # The tool's input is whatever the agent sent: the first of the usual telling fields.
    for name in ("description", "command", "filePath", "path", "pattern", "url", "query"):
        value = tool_input.get(name)
        if isinstance(value, str) and value:
            return shown_path(value) if name in PATH_FIELDS else value[:500]
    return json.dumps(tool_input, ensure_ascii=False)[:200] if tool_input else ""


def _push_problem(event: p.PushError) -> str:
    if event.code == "secret_in_diff":
        return f"the push was refused, a commit contains a secret: {event.message}"
    return f"the branch could not be pushed: {event.message}"
