"""What a viewer sees of a session: stored events folded into timeline entries.

Pure: no database, no Reflex. Many events make one entry — a turn's streamed
tokens one text block, a tool call and its result one tool row, a prompt's
queued/started/finished one prompt row whose status changes — so the timeline
is much shorter than the event list, and an update touches few entries.
:meth:`TimelineView.apply` says which entries changed, which is what the live
projection needs to send only what changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# What a browser gets of large texts; the rest stays in the database (and the REST API).
TOOL_INPUT_PREVIEW_CHARS = 2_000
TOOL_OUTPUT_PREVIEW_CHARS = 4_000
SCRIPT_OUTPUT_PREVIEW_CHARS = 8_000
TEXT_MAX_CHARS = 100_000
TEXT_CHUNK_CHARS = 1_500  # a streamed text entry longer than this continues in a new one

STARTUP_STAGES = ("spawning", "syncing", "setup", "starting_agent", "ready")


@dataclass
class Entry:
    """One row of the timeline, flat so the UI can render it without logic."""

    key: str  # stable identity: "prompt:<id>", "text:<part>", "tool:<call>", "event:<seq>", ...
    kind: str  # prompt | text | tool | step | script | note | warning | error | artifact
    seq: int  # the sequence of the event that created it
    message_id: str = ""
    author: str = ""
    author_email: str = ""
    text: str = ""  # prompt content, streamed markdown, or a message
    status: str = ""  # prompt: queued/running/completed/failed/stopped/cancelled; tool: running/completed/error
    tool: str = ""
    title: str = ""
    detail: str = ""  # tool input (pretty JSON), script name
    output: str = ""  # tool output or script output (previews)
    meta: str = ""  # tokens and cost of a step, a commit's sha


@dataclass
class QueuedPrompt:
    message_id: str
    position: int  # 0 = running, 1.. = waiting
    author: str
    text: str
    status: str


@dataclass
class TimelineView:
    entries: list[Entry] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    status: str = "spawning"
    status_reason: str = ""
    title: str = ""
    archived: bool = False
    last_sequence: int = 0
    # Prompts not finished yet, in queue order (the running one first).
    pending: list[str] = field(default_factory=list)
    artifact_indices: list[int] = field(default_factory=list)

    # ------------------------------------------------------------------ fold

    def apply(self, sequence: int, type: str, data: dict[str, Any], message_id: str | None) -> set[int]:
        """Fold one event in; return the indices of the entries it created or changed."""
        if sequence <= self.last_sequence:
            return set()  # already folded (a re-read batch overlaps the last one)
        self.last_sequence = sequence
        handler = getattr(self, f"_on_{type}", None)
        if handler is None:
            return set()
        return handler(sequence, data, message_id or "") or set()

    def queue(self) -> list[QueuedPrompt]:
        rows = []
        waiting = 0
        for message_id in self.pending:
            entry = self.entries[self.index[f"prompt:{message_id}"]]
            position = 0 if entry.status == "running" else (waiting := waiting + 1)
            rows.append(QueuedPrompt(message_id, position, entry.author, _preview(entry.text, 200), entry.status))
        return rows

    def artifacts(self, last: int) -> list[Entry]:
        return [self.entries[i] for i in self.artifact_indices[-last:]]

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

    def _on_session_status(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        self.status, self.status_reason = data["status"], data.get("reason") or ""
        if self.status == "failed":
            return self._note(seq, f"The sandbox failed: {self.status_reason}", kind="error")
        if self.status == "stopped":
            return self._note(seq, "The sandbox stopped" + (f": {self.status_reason}" if self.status_reason else ""))
        return set()

    def _on_prompt_queued(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        author = data.get("author") or {}
        self.pending.append(message_id)
        return self._add(Entry(key=f"prompt:{message_id}", kind="prompt", seq=seq, message_id=message_id,
                               author=author.get("name", ""), author_email=author.get("email", ""),
                               text=data.get("content", ""), status="queued"))

    def _on_prompt_started(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        return self._update(f"prompt:{message_id}", status="running")

    def _on_prompt_finished(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        self._drop_pending(message_id)
        changed = self._update(f"prompt:{message_id}", status=data.get("status", "completed"))
        if data.get("status") == "failed" and data.get("error"):
            changed |= self._note(seq, data["error"], kind="error", message_id=message_id)
        return changed

    def _on_prompt_cancelled(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        self._drop_pending(message_id)
        return self._update(f"prompt:{message_id}", status="cancelled")

    def _on_stop_requested(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        return self._note(seq, "Stop requested", message_id=message_id)

    def _on_sandbox_exited(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        return set()  # the session_status that follows says what it means

    def _on_bridge_rejected(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        return self._note(seq, f"Refused a sandbox message: {data.get('reason', '')}", kind="warning")

    def _on_session_archived(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        self.archived = True
        return self._note(seq, "Session archived")

    def _on_session_restored(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        self.archived = False
        return self._note(seq, "Session restored")

    def _drop_pending(self, message_id: str) -> None:
        if message_id in self.pending:
            self.pending.remove(message_id)

    # -------------------------------------------------------- sandbox events

    def _on_git_sync(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        if data.get("status") == "failed":
            return self._note(seq, f"Could not get the repository: {data.get('detail') or ''}", kind="error")
        sha = (data.get("head_sha") or "")[:10]
        branch = data.get("branch") or "default branch"
        return self._note(seq, f"Repository ready ({branch} at {sha})" if sha else "Repository ready")

    def _on_script_output(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        key = f"script:{data['script']}:{self._sandbox_round()}"
        if key not in self.index:
            return self._add(Entry(key=key, kind="script", seq=seq, detail=data["script"], status="running",
                                   output=_tail(data.get("text", ""), SCRIPT_OUTPUT_PREVIEW_CHARS)))
        entry = self.entries[self.index[key]]
        return self._update(key, output=_tail(entry.output + data.get("text", ""), SCRIPT_OUTPUT_PREVIEW_CHARS))

    def _on_script_finished(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        key = f"script:{data['script']}:{self._sandbox_round()}"
        ok = data.get("exit_code") == 0 and not data.get("timed_out")
        meta = "timed out" if data.get("timed_out") else f"exit {data.get('exit_code')}"
        if key not in self.index:
            self._add(Entry(key=key, kind="script", seq=seq, detail=data["script"]))
        return self._update(key, status="completed" if ok else "error",
                            meta=f"{meta} · {data.get('duration_ms', 0) / 1000:.1f} s")

    def _sandbox_round(self) -> int:
        # Scripts run again in every new sandbox of the session: one entry per run.
        return sum(1 for e in self.entries if e.kind == "note" and e.text.startswith("Repository ready"))

    def _on_ready(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        return self._note(seq, f"Agent ready ({data.get('agent', '')} {data.get('agent_version', '')})".strip())

    def _on_token(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        key = f"text:{data['part_id']}"
        if key not in self.index:
            return self._add(Entry(key=key, kind="text", seq=seq, message_id=message_id, text=data.get("text", "")))
        position = self.index[key]
        entry = self.entries[position]
        text = entry.text + data.get("text", "")
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

    def _on_tool_call(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        key = f"tool:{data['call_id']}"
        detail = _preview(json.dumps(data.get("input", {}), indent=2, ensure_ascii=False), TOOL_INPUT_PREVIEW_CHARS)
        if key in self.index:
            return self._update(key, detail=detail)
        return self._add(Entry(key=key, kind="tool", seq=seq, message_id=message_id, tool=data.get("tool", ""),
                               title=_tool_title(data), detail=detail, status="running"))

    def _on_tool_result(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        key = f"tool:{data['call_id']}"
        output = data.get("error") or data.get("output") or ""
        if key not in self.index:
            self._add(Entry(key=key, kind="tool", seq=seq, message_id=message_id, tool=data.get("tool", "")))
        values = {"status": data.get("status", "completed"), "output": _preview(output, TOOL_OUTPUT_PREVIEW_CHARS)}
        if data.get("title"):
            values["title"] = data["title"]
        return self._update(key, **values)

    def _on_step_finish(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        tokens = data.get("tokens") or {}
        meta = f"{tokens.get('input', 0):,} in · {tokens.get('output', 0):,} out"
        if tokens.get("reasoning"):
            meta += f" · {tokens['reasoning']:,} reasoning"
        if data.get("cost"):
            meta += f" · ${data['cost']:.4f}"
        return self._add(Entry(key=f"event:{seq}", kind="step", seq=seq, message_id=message_id, meta=meta,
                               text=data.get("reason") or ""))

    def _on_error(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        return self._note(seq, data.get("message", ""), kind="error", message_id=message_id)

    def _on_warning(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        return self._note(seq, data.get("message", ""), kind="warning", message_id=message_id)

    def _on_artifact(self, seq: int, data: dict[str, Any], message_id: str) -> set[int]:
        details = data.get("data") or {}
        text = details.get("subject") or data.get("ref", "")
        author = details.get("author_name", "")
        self.artifact_indices.append(len(self.entries))
        return self._add(Entry(key=f"event:{seq}", kind="artifact", seq=seq, message_id=message_id,
                               tool=data.get("kind", ""), text=text, author=author,
                               meta=(data.get("ref") or "")[:10]))

    def _on_session_title(self, seq: int, data: dict[str, Any], _: str) -> set[int]:
        self.title = data.get("title", "")
        return set()


def _paragraph_break(text: str) -> int | None:
    """Where a long streamed text may be split: after a blank line, outside a code fence."""
    if len(text) < TEXT_CHUNK_CHARS:
        return None
    cut = text.rfind("\n\n", TEXT_CHUNK_CHARS // 2, len(text) - 2)  # something must follow the break
    if cut == -1 or text.count("```", 0, cut) % 2:
        return None
    return cut + 2


def _tool_title(data: dict[str, Any]) -> str:
    tool_input = data.get("input") or {}
    for name in ("description", "command", "filePath", "path", "pattern", "url"):
        value = tool_input.get(name)
        if isinstance(value, str) and value:
            return _preview(value, 120)
    return ""


def _preview(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit:,} more characters)"


def _tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]
