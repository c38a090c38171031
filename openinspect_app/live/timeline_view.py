"""What a viewer sees of a session: typed timeline events folded into timeline entries.

Pure: no database, no Reflex. Many events make one entry — a turn's streamed
tokens one text block, a tool call and its result one tool row, a prompt's
queued/started/finished one prompt row whose status changes — so the timeline
is much shorter than the event list, and an update touches few entries.
:meth:`TimelineView.apply` matches on every member of
:data:`~openinspect_protocol.timeline.TimelineEvent` (a type checker fails when
one has no case) and says which entries changed, which is what the live
projection needs to send only what changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, assert_never

import openinspect_protocol as p
from openinspect_protocol.status import MessageStatus, SessionStatus
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

from openinspect_app.live import artifact_entries as shots
from openinspect_app.live import cost_entries as cost
from openinspect_app.live import gate_entries as gate
from openinspect_app.live import github_entries as gh

# What a browser gets of large texts; the rest stays in the database (and the REST API).
TOOL_INPUT_PREVIEW_CHARS = 2_000
TOOL_OUTPUT_PREVIEW_CHARS = 4_000
SCRIPT_OUTPUT_PREVIEW_CHARS = 8_000
TEXT_MAX_CHARS = 100_000
TEXT_CHUNK_CHARS = 1_500  # a streamed text entry longer than this continues in a new one

# The status of a tool or script entry (a prompt entry's is a MessageStatus).
RUNNING, COMPLETED, ERROR = "running", "completed", "error"


@dataclass
class Entry:
    """One row of the timeline, flat so the UI can render it without logic."""

    key: str  # stable identity: "prompt:<id>", "text:<part>", "tool:<call>", "event:<seq>", ...
    kind: str  # prompt | text | tool | step | script | note | warning | error | artifact | push | pull_request
    seq: int  # the sequence of the event that created it
    message_id: str = ""
    author: str = ""
    author_email: str = ""
    text: str = ""  # prompt content, streamed markdown, or a message
    status: str = ""  # prompt: a MessageStatus; tool and script: running/completed/error
    tool: str = ""
    title: str = ""
    detail: str = ""  # tool input (pretty JSON), script name
    output: str = ""  # tool output or script output (previews)
    meta: str = ""  # tokens and cost of a step, a commit's sha, a PR's number
    url: str = ""  # a PR's page on GitHub; a failed PR's compare page (to open it by hand)


@dataclass
class QueuedPrompt:
    message_id: str
    position: int  # 0 = running, 1.. = waiting
    author: str
    text: str
    status: str


@dataclass
class PreviewButton:
    """One "Open preview" button: the port (its proxy URL is built from it) and its label."""

    port: int
    label: str


@dataclass
class TimelineView:
    entries: list[Entry] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    status: str = SessionStatus.SPAWNING
    status_reason: str = ""
    title: str = ""
    archived: bool = False
    last_sequence: int = 0
    # Prompts not finished yet, in queue order (the running one first).
    pending: list[str] = field(default_factory=list)
    artifact_indices: list[int] = field(default_factory=list)
    pull_request_key: str = ""  # the newest PR card's key: the one the session's header shows
    # The newest verify.sh outcome (passed, failed, timed_out; "" before any) and its detail: the badges.
    verify: str = ""
    verify_detail: str = ""
    changes_seq: int = 0  # the newest changes_updated: the Changes panel reloads when it moves
    # The live sandbox's declared dev servers (preview_ports); empty once it has exited.
    preview_ports: list[PreviewButton] = field(default_factory=list)

    # ------------------------------------------------------------------ fold

    def apply(self, sequence: int, event: TimelineEvent) -> set[int]:
        """Fold one event in; return the indices of the entries it created or changed."""
        if sequence <= self.last_sequence:
            return set()  # already folded (a re-read batch overlaps the last one)
        self.last_sequence = sequence
        match event:
            # Control-plane events.
            case SessionStatusChanged():
                return self._session_status(sequence, event)
            case PromptQueued():
                return self._prompt_queued(sequence, event)
            case PromptStarted():
                return self._update(f"prompt:{event.message_id}", status=MessageStatus.RUNNING)
            case PromptFinished():
                return self._prompt_finished(sequence, event)
            case PromptCancelled():
                self._drop_pending(event.message_id)
                return self._update(f"prompt:{event.message_id}", status=MessageStatus.CANCELLED)
            case StopRequested():
                return self._note(sequence, "Stop requested", message_id=event.message_id)
            case BridgeRejected():
                return self._note(sequence, f"Refused a sandbox message: {event.reason}", kind="warning")
            case SessionArchived():
                self.archived = True
                return self._note(sequence, "Session archived")
            case SessionRestored():
                self.archived = False
                return self._note(sequence, "Session restored")
            case SandboxExited():
                self.preview_ports = []  # a dev server ends with its sandbox; the next one declares again
                return set()
            case SandboxSpawning():
                return set()  # the session_status that follows says what it means
            # Titles and spending (live/cost_entries.py).
            case SessionRenamed():
                self.title = event.title
                return self._note(sequence, cost.renamed_text(event))
            case SpendLimitChanged():
                return self._note(sequence, cost.limit_changed_text(event))
            case SpendLimitReached():
                return self._add(Entry(key=f"event:{sequence}", kind="warning", seq=sequence,
                                       text=cost.limit_reached_text(event), tool=cost.SPEND_HELD))
            # Sandbox events.
            case p.GitSync():
                return self._git_sync(sequence, event)
            case p.ScriptOutput():
                return self._script_output(sequence, event)
            case p.ScriptFinished():
                return self._script_finished(sequence, event)
            # The verify gate and the Changes panel (live/gate_entries.py).
            case p.VerifyFinished():
                return self._verify_finished(sequence, event)
            case ChangesUpdated():
                self.changes_seq = sequence
                return self._note(sequence, gate.changes_text(event), kind=gate.CHANGES,
                                  message_id=event.message_id or "")
            case p.Ready():
                return self._note(sequence, f"Agent ready ({event.agent} {event.agent_version})".strip())
            case p.TokenDelta():
                return self._token(sequence, event)
            case p.ToolCall():
                return self._tool_call(sequence, event)
            case p.ToolResult():
                return self._tool_result(sequence, event)
            case p.StepFinish():
                return self._step_finish(sequence, event)
            case p.ErrorEvent():
                return self._note(sequence, event.message, kind="error", message_id=event.message_id or "")
            case p.WarningEvent():
                return self._note(sequence, event.message, kind="warning", message_id=event.message_id or "")
            case p.Artifact():
                return self._artifact(sequence, event)
            case ArtifactCreated():  # a screenshot the agent took (live/artifact_entries.py)
                return self._add(Entry(key=f"event:{sequence}", kind=shots.SCREENSHOT, seq=sequence,
                                       **shots.screenshot_fields(event)))
            case p.SessionTitle():
                self.title = event.title
                return set()
            # GitHub: pushes of the session's branch and its pull requests (live/github_entries.py).
            case p.PushComplete():
                return self._add(Entry(key=f"event:{sequence}", kind=gh.PUSH, seq=sequence,
                                       text=gh.pushed_text(event), meta=event.head_sha[:10]))
            case p.PushError():
                return self._note(sequence, gh.push_error_text(event), kind="warning")
            case p.PullRequestRequested():
                return self._note(sequence, gh.requested_text(event))
            case PullRequestChanged():
                return self._pull_request(sequence, event)
            case PullRequestFailed():
                return self._add(Entry(key=f"event:{sequence}", kind="warning", seq=sequence,
                                       text=gh.pull_request_failed_text(event), url=gh.web_url(event.compare_url)))
            case p.PreviewPorts():
                self.preview_ports = [PreviewButton(port.port, port.label) for port in event.ports]
                return self._note(sequence, _previews_text(event)) if event.ports else set()
            case p.StageChanged() | p.StepStart() | p.ExecutionComplete():
                # Shown elsewhere: the stage by the session's status, the end of a prompt by prompt_finished.
                return set()
            case _:
                assert_never(event)

    def skip(self, sequence: int) -> None:
        """Pass over an event that could not be read, so that it is not read again."""
        self.last_sequence = max(self.last_sequence, sequence)

    def queue(self) -> list[QueuedPrompt]:
        rows = []
        waiting = 0
        for message_id in self.pending:
            entry = self.entries[self.index[f"prompt:{message_id}"]]
            position = 0 if entry.status == MessageStatus.RUNNING else (waiting := waiting + 1)
            rows.append(QueuedPrompt(message_id, position, entry.author, _preview(entry.text, 200), entry.status))
        return rows

    def artifacts(self, last: int) -> list[Entry]:
        return [self.entries[i] for i in self.artifact_indices[-last:]]

    def pull_request(self) -> list[Entry]:
        """The newest PR's card, as a copy (none or one): the header's, published apart from the timeline.

        A copy because the card changes in place, and the projector sends a var only when it
        differs from what it sent last, which a shared object never would.
        """
        position = self.index.get(self.pull_request_key)
        return [] if position is None else [replace(self.entries[position])]

    def _add(self, entry: Entry) -> set[int]:
        self.index[entry.key] = len(self.entries)
        self.entries.append(entry)
        return {len(self.entries) - 1}

    def _update(self, key: str, **values: Any) -> set[int]:
        position = self.index.get(key)
        if position is None:
            return set()
        entry = self.entries[position]
        for name, value in values.items():
            setattr(entry, name, value)
        return {position}

    def _note(self, seq: int, text: str, kind: str = "note", message_id: str = "") -> set[int]:
        return self._add(Entry(key=f"event:{seq}", kind=kind, seq=seq, text=text, message_id=message_id))

    # --------------------------------------------------- control-plane events

    def _session_status(self, seq: int, event: SessionStatusChanged) -> set[int]:
        self.status, self.status_reason = event.status, event.reason or ""
        if self.status == SessionStatus.FAILED:
            return self._note(seq, f"The sandbox failed: {self.status_reason}", kind="error")
        if self.status == SessionStatus.STOPPED:
            return self._note(seq, "The sandbox stopped" + (f": {self.status_reason}" if self.status_reason else ""))
        return set()

    def _prompt_queued(self, seq: int, event: PromptQueued) -> set[int]:
        self.pending.append(event.message_id)
        return self._add(Entry(key=f"prompt:{event.message_id}", kind="prompt", seq=seq, message_id=event.message_id,
                               author=event.author.name, author_email=event.author.email, text=event.content,
                               status=MessageStatus.QUEUED))

    def _prompt_finished(self, seq: int, event: PromptFinished) -> set[int]:
        self._drop_pending(event.message_id)
        changed = self._update(f"prompt:{event.message_id}", status=event.status,
                               meta=cost.usage_label(event.usage))
        if event.status == MessageStatus.FAILED and event.error:
            changed |= self._note(seq, event.error, kind="error", message_id=event.message_id)
        return changed

    def _drop_pending(self, message_id: str) -> None:
        if message_id in self.pending:
            self.pending.remove(message_id)

    # -------------------------------------------------------- sandbox events

    def _git_sync(self, seq: int, event: p.GitSync) -> set[int]:
        if event.status == "failed":
            return self._note(seq, f"Could not get the repository: {event.detail or ''}", kind="error")
        sha = (event.head_sha or "")[:10]
        branch = event.branch or "default branch"
        return self._note(seq, f"Repository ready ({branch} at {sha})" if sha else "Repository ready")

    def _script_output(self, seq: int, event: p.ScriptOutput) -> set[int]:
        key = gate.script_key(event.script, event.message_id, self._sandbox_round())
        if key not in self.index:
            return self._add(Entry(key=key, kind="script", seq=seq, detail=event.script, status=RUNNING,
                                   output=_tail(event.text, SCRIPT_OUTPUT_PREVIEW_CHARS)))
        entry = self.entries[self.index[key]]
        return self._update(key, output=_tail(entry.output + event.text, SCRIPT_OUTPUT_PREVIEW_CHARS))

    def _script_finished(self, seq: int, event: p.ScriptFinished) -> set[int]:
        key = gate.script_key(event.script, event.message_id, self._sandbox_round())
        ok = event.exit_code == 0 and not event.timed_out
        meta = "timed out" if event.timed_out else f"exit {event.exit_code}"
        if key not in self.index:
            self._add(Entry(key=key, kind="script", seq=seq, detail=event.script))
        return self._update(key, status=COMPLETED if ok else ERROR, meta=f"{meta} · {event.duration_ms / 1000:.1f} s")

    def _verify_finished(self, seq: int, event: p.VerifyFinished) -> set[int]:
        badge = gate.verify_badge(event)
        self.verify, self.verify_detail = badge["verify"], badge["verify_detail"]
        key = gate.script_key(gate.VERIFY, event.message_id, self._sandbox_round())
        if key not in self.index:  # it printed nothing
            self._add(Entry(key=key, kind="script", seq=seq, detail=gate.VERIFY, message_id=event.message_id or ""))
        return self._update(key, status=COMPLETED if event.outcome == "passed" else ERROR,
                            meta=gate.verify_meta(event), title=gate.VERIFY_LABELS[event.outcome])

    def _sandbox_round(self) -> int:
        # Scripts run again in every new sandbox of the session: one entry per run.
        return sum(1 for e in self.entries if e.kind == "note" and e.text.startswith("Repository ready"))

    def _token(self, seq: int, event: p.TokenDelta) -> set[int]:
        key = f"text:{event.part_id}"
        message_id = event.message_id or ""
        if key not in self.index:
            return self._add(Entry(key=key, kind="text", seq=seq, message_id=message_id, text=event.text))
        position = self.index[key]
        entry = self.entries[position]
        text = entry.text + event.text
        cut = _paragraph_break(text)
        if cut is None:
            return self._update(key, text=text[:TEXT_MAX_CHARS])
        # A long answer continues in a new entry at a paragraph break, so that what a
        # streamed token re-sends (the newest entry) stays small however long the answer.
        entry.text = text[:cut]
        chunk = sum(1 for e in self.entries if e.key.startswith(key + "#")) + 1
        changed = {position} | self._add(Entry(key=f"{key}#{chunk}", kind="text", seq=seq, message_id=message_id,
                                                text=text[cut:]))
        self.index[key] = len(self.entries) - 1
        return changed

    def _tool_call(self, seq: int, event: p.ToolCall) -> set[int]:
        key = f"tool:{event.call_id}"
        detail = _preview(json.dumps(event.input, indent=2, ensure_ascii=False), TOOL_INPUT_PREVIEW_CHARS)
        if key in self.index:
            return self._update(key, detail=detail)
        return self._add(Entry(key=key, kind="tool", seq=seq, message_id=event.message_id or "", tool=event.tool,
                               title=_tool_title(event.input), detail=detail, status=RUNNING))

    def _tool_result(self, seq: int, event: p.ToolResult) -> set[int]:
        key = f"tool:{event.call_id}"
        output = event.error or event.output
        if key not in self.index:
            self._add(Entry(key=key, kind="tool", seq=seq, message_id=event.message_id or "", tool=event.tool))
        values = {"status": event.status, "output": _preview(output, TOOL_OUTPUT_PREVIEW_CHARS)}
        if event.title:
            values["title"] = event.title
        return self._update(key, **values)

    def _step_finish(self, seq: int, event: p.StepFinish) -> set[int]:
        tokens = event.tokens
        meta = f"{tokens.input:,} in · {tokens.output:,} out"
        if tokens.reasoning:
            meta += f" · {tokens.reasoning:,} reasoning"
        if event.cost:
            meta += f" · ${event.cost:.4f}"
        return self._add(Entry(key=f"event:{seq}", kind="step", seq=seq, message_id=event.message_id or "",
                               meta=meta, text=event.reason or ""))

    def _artifact(self, seq: int, event: p.Artifact) -> set[int]:
        # ``data`` is free-form (what the harness knows of a commit, a PR...): read what is there.
        text = event.data.get("subject") or event.ref
        self.artifact_indices.append(len(self.entries))
        return self._add(Entry(key=f"event:{seq}", kind="artifact", seq=seq, message_id=event.message_id or "",
                               tool=event.kind, text=text, author=event.data.get("author_name", ""),
                               meta=event.ref[:10]))

    # ---------------------------------------------------------- pull requests

    def _pull_request(self, seq: int, event: PullRequestChanged) -> set[int]:
        # One card per PR number: a later change (merged, closed, edited) updates it where it is.
        key = gh.pull_request_key(event.number)
        if key in self.index:
            return self._update(key, **gh.pull_request_fields(event))
        self.pull_request_key = key
        return self._add(Entry(key=key, kind=gh.PULL_REQUEST, seq=seq, **gh.pull_request_fields(event)))


def _previews_text(event: p.PreviewPorts) -> str:
    return "Live preview: " + ", ".join(f"{port.label} (port {port.port})" for port in event.ports)


def _paragraph_break(text: str) -> int | None:
    """Where a long streamed text may be split: after a blank line, outside a code fence."""
    if len(text) < TEXT_CHUNK_CHARS:
        return None
    cut = text.rfind("\n\n", TEXT_CHUNK_CHARS // 2, len(text) - 2)  # something must follow the break
    if cut == -1 or text.count("```", 0, cut) % 2:
        return None
    return cut + 2


def _tool_title(tool_input: dict[str, Any]) -> str:
    # The tool's input is whatever the agent sent: the first of the usual telling fields.
    for name in ("description", "command", "filePath", "path", "pattern", "url"):
        value = tool_input.get(name)
        if isinstance(value, str) and value:
            return _preview(value, 120)
    return ""


def _preview(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]
