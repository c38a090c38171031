"""Timelines for the Slack reporter's tests: a session's events, in the order the control plane writes them."""

from __future__ import annotations

import openinspect_protocol as p
from openinspect_protocol.status import MessageStatus, SessionStatus
from openinspect_protocol.timeline import (
    PromptAuthor,
    PromptFinished,
    PromptQueued,
    PromptStarted,
    PullRequestChanged,
    SessionStatusChanged,
    TimelineEvent,
)

ADA = PromptAuthor(id="u-ada", name="Ada Lima", email="ada@example.com")
ANA = PromptAuthor(id="u-ana", name="Ana Lima", email="ana@example.com")
WORKDIR = "/workspace/repo"  # where the sandbox clones (its tools name absolute paths)


def queued(message_id: str, content: str = "Fix the flaky login test", *, source: str = "slack",
           author: PromptAuthor = ADA) -> PromptQueued:
    return PromptQueued(message_id=message_id, author=author, content=content, source=source, position=1)


def startup() -> list[TimelineEvent]:
    """The sandbox coming up, as the session's status moves (ingestion writes one status per stage)."""
    return [SessionStatusChanged(status=s) for s in (SessionStatus.SYNCING, SessionStatus.SETUP,
                                                     SessionStatus.STARTING_AGENT, SessionStatus.READY)]


def tool(call_id: str, name: str, tool_input: dict[str, object], message_id: str,
         *, ok: bool = True) -> list[TimelineEvent]:
    return [p.ToolCall(call_id=call_id, tool=name, input=tool_input, message_id=message_id),
            p.ToolResult(call_id=call_id, tool=name, status="completed" if ok else "error", output="ok",
                         message_id=message_id)]


def text(part_id: str, words: str, message_id: str) -> list[TimelineEvent]:
    """A text part streamed in small tokens, as the harness does."""
    return [p.TokenDelta(part_id=part_id, text=words[i:i + 7], message_id=message_id)
            for i in range(0, len(words), 7)]


def commit(sha: str, subject: str, message_id: str) -> p.Artifact:
    return p.Artifact(kind="commit", ref=sha, message_id=message_id, data={"subject": subject})


def turn(message_id: str, *, summary: str = "Fixed the login test: the wait was too short.",
         commits: int = 0, status: MessageStatus = MessageStatus.COMPLETED) -> list[TimelineEvent]:
    """One prompt run from start to end: some thinking, a command, a file written, the answer."""
    events: list[TimelineEvent] = [PromptStarted(message_id=message_id),
                                   SessionStatusChanged(status=SessionStatus.RUNNING)]
    events += text("t1", "Let me look at the test first.", message_id)
    events += tool("c1", "bash", {"command": "pytest tests/test_login.py"}, message_id)
    events += tool("c2", "write", {"filePath": f"{WORKDIR}/tests/test_login.py", "content": "..."}, message_id)
    events += text("t2", summary, message_id)
    events += [commit(f"{i:x}" * 40, f"Fix login wait {i}", message_id) for i in range(1, commits + 1)]
    events += [p.ExecutionComplete(success=status == MessageStatus.COMPLETED, message_id=message_id),
               PromptFinished(message_id=message_id, status=status,
                              error=None if status != MessageStatus.FAILED else "the agent reported a failure"),
               SessionStatusChanged(status=SessionStatus.IDLE)]
    return events


def pull_request(number: int = 7, *, action: str = "opened", state: str = "open") -> PullRequestChanged:
    return PullRequestChanged(number=number, url=f"https://github.com/acme/api/pull/{number}", title="Fix login wait",
                              state=state, head="openinspect/abc-fix", base="main", author_login="ada",  # type: ignore[arg-type]
                              opened_as="user", requested_by=ADA, action=action)
