"""Every wire message survives a round trip; anything else is refused with a reason."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime

import openinspect_protocol as p
import pytest
from openinspect_protocol.previews import PreviewPort

AUTHOR = p.Author(name="Ada Lovelace", email="ada@example.com")

SANDBOX_EVENTS: list[p.SandboxEvent] = [
    p.Ready(seq=1, agent="opencode", agent_version="1.18.33", head_sha="abc"),
    p.Heartbeat(seq=2),
    p.StageChanged(seq=3, stage="setup"),
    p.GitSync(seq=4, status="completed", repo_url="file:///r", branch="main", head_sha="abc"),
    p.ScriptOutput(seq=5, script="setup", text="installing\n"),
    p.ScriptFinished(seq=6, script="setup", exit_code=1, timed_out=False, duration_ms=12),
    p.TokenDelta(seq=7, message_id="m1", part_id="prt", text="Hel"),
    p.ToolCall(seq=8, message_id="m1", call_id="c1", tool="bash", input={"command": "ls"}),
    p.ToolResult(seq=9, message_id="m1", call_id="c1", tool="bash", status="completed", output="a\n"),
    p.StepStart(seq=10, message_id="m1"),
    p.StepFinish(seq=11, message_id="m1", reason="stop", tokens=p.TokenUsage(input=10, output=5), cost=0.01),
    p.ErrorEvent(seq=12, code="agent_exited", message="boom", fatal=False),
    p.ExecutionComplete(seq=13, message_id="m1", success=False, stopped=True),
    p.Artifact(seq=14, kind="commit", ref="abc", data={"subject": "x"}),
    p.WarningEvent(seq=15, code="setup_failed", message="exit 1"),
    p.SessionTitle(seq=16, title="Fix the build"),
    p.PushComplete(seq=17, message_id="m1", branch="openinspect/ab12cd34-fix", head_sha="abc", base_branch="main",
                   commits_ahead=2),
    p.PushError(seq=18, branch="openinspect/ab12cd34-fix", code="push_rejected", message="the branch moved"),
    p.PullRequestRequested(seq=19, message_id="m1", request_id="r-1", title="Fix the build", body="Why", draft=True),
    p.PreviewPorts(seq=19, ports=[PreviewPort(port=3000, label="Web app", path="/app?x=1")]),
    p.ScriptOutput(seq=19, message_id="m1", script="verify", text="2 passed\n"),
    p.VerifyFinished(seq=19, message_id="m1", outcome="timed_out", exit_code=None, duration_ms=300_000,
                     timeout_seconds=300, head_sha="abc", tail="still waiting"),
    p.ChangesSnapshot(seq=19, message_id="m1", base_ref="origin/main", base_sha="abc", head_sha="def",
                      files=[p.ChangedFile(path="app.py", status="modified", additions=1, deletions=1,
                                           patch="@@ -1 +1 @@\n-a\n+b\n", patch_bytes=18),
                             p.ChangedFile(path="logo.png", old_path="old.png", status="renamed", binary=True,
                                           omitted="binary")],
                      additions=1, deletions=1, uncommitted=True, max_file_bytes=65536, max_total_bytes=196608),
    p.SandboxLog(seq=20, dropped=3, lines=[p.SandboxLogLine(
        ts=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), level="info",
        line='{"event": "supervisor.ready", "session_id": "s1"}')]),
]

COMMANDS: list[p.Command] = [
    p.Prompt(message_id="m1", content="hi", author=AUTHOR, model="openinspect/scripted", request_id="req-1"),
    p.Stop(message_id="m1"),
    p.Shutdown(reason="archived"),
    p.Ack(seq=41),
    p.Reject(reason="bad frame"),
    p.Push(branch="openinspect/ab12cd34-fix", message_id="m1"),
    p.PullRequestResult(request_id="r-1", url="https://github.com/acme/widgets/pull/7", number=7),
]


def test_every_sandbox_event_type_is_covered() -> None:
    union = typing.get_args(typing.get_args(p.SandboxEvent)[0])
    assert {e.type for e in SANDBOX_EVENTS} == {cls.model_fields["type"].default for cls in union}


def test_every_command_type_is_covered() -> None:
    union = typing.get_args(typing.get_args(p.Command)[0])
    assert {c.type for c in COMMANDS} == {cls.model_fields["type"].default for cls in union}


@pytest.mark.parametrize("event", SANDBOX_EVENTS, ids=lambda e: e.type)
def test_sandbox_event_round_trip(event: p.SandboxEvent) -> None:
    assert p.parse_sandbox_event(event.to_json()) == event


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.type)
def test_command_round_trip(command: p.Command) -> None:
    assert p.parse_command(command.to_json()) == command


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"seq": 1}', "no 'type' field"),
        ('{"type": "launch_missiles", "seq": 1}', "unknown sandbox event type 'launch_missiles'"),
        ('{"type": "token", "seq": 1, "text": "x"}', "part_id"),
        ('{"type": "heartbeat", "seq": -1}', "seq"),
        ('{"type": "heartbeat", "seq": 1, "extra": true}', "extra"),
        ('{"type": "heartbeat", "seq": 1, "ts": "2026-01-01T00:00:00"}', "timezone"),
    ],
)
def test_bad_sandbox_frames_are_refused_with_a_reason(frame: str, reason: str) -> None:
    with pytest.raises(p.ProtocolError, match=reason):
        p.parse_sandbox_event(frame)


def test_commands_are_not_events() -> None:
    with pytest.raises(p.ProtocolError, match="unknown sandbox event type 'ack'"):
        p.parse_sandbox_event(p.Ack(seq=1).to_json())
    with pytest.raises(p.ProtocolError, match="unknown command type 'heartbeat'"):
        p.parse_command(p.Heartbeat(seq=1).to_json())


# ------------------------------------------------------------ field limits (the columns' lengths)

TOO_LONG_ID = "m" * 33
LIMITS_REFUSED = [
    (f'{{"type": "token", "seq": 1, "message_id": "{TOO_LONG_ID}", "part_id": "a", "text": "x"}}', "message_id"),
    ('{"type": "token", "seq": 1, "message_id": "", "part_id": "a", "text": "x"}', "message_id"),
    ('{"type": "token", "seq": 1, "message_id": "m 1", "part_id": "a", "text": "x"}', "message_id"),
    ('{"type": "token", "seq": 1, "message_id": "m\\u00001", "part_id": "a", "text": "x"}', "message_id"),
    ('{"type": "heartbeat", "seq": 2147483648}', "seq"),
    (f'{{"type": "session_title", "seq": 1, "title": "{"t" * 201}"}}', "title"),
    ('{"type": "session_title", "seq": 1, "title": "a\\u0000b"}', "NUL"),
    (f'{{"type": "artifact", "seq": 1, "kind": "commit", "ref": "{"r" * 2001}"}}', "ref"),
    ('{"type": "artifact", "seq": 1, "kind": "commit", "ref": ""}', "ref"),
    ('{"type": "artifact", "seq": 1, "kind": "commit", "ref": "a\\u0000"}', "NUL"),
    ('{"type": "artifact", "seq": 1, "kind": "commit", "ref": "a", "data": {"x": [1, NaN]}}', "finite"),
    ('{"type": "tool_call", "seq": 1, "call_id": "c", "tool": "t", "input": {"a": {"b": Infinity}}}', "finite"),
    ('{"type": "step_finish", "seq": 1, "cost": NaN}', "cost"),
    ('{"type": "step_finish", "seq": 1, "cost": -Infinity}', "cost"),
    ('{"type": "error", "seq": 1, "code": "x", "message": "a\\u0000"}', "NUL"),
    ('{"type": "execution_complete", "seq": 1, "success": false, "error": "\\u0000"}', "NUL"),
]


@pytest.mark.parametrize(("frame", "reason"), LIMITS_REFUSED, ids=[f[1] + str(i) for i, f in enumerate(LIMITS_REFUSED)])
def test_a_value_no_column_can_hold_is_refused_at_parsing(frame: str, reason: str) -> None:
    with pytest.raises(p.ProtocolError, match=reason):
        p.parse_sandbox_event(frame)


def test_the_longest_values_the_columns_hold_pass() -> None:
    events: list[p.SandboxEvent] = [
        p.TokenDelta(seq=2**31 - 1, message_id="a" * 32, part_id="a", text="\x00 is fine in the JSON data"),
        p.SessionTitle(seq=1, title="t" * 200),
        p.Artifact(seq=1, kind="commit", ref="r" * 2000, data={"n": 10**30, "f": 1.5}),
        p.StepFinish(seq=1, cost=1e300),
    ]
    for event in events:
        assert p.parse_sandbox_event(event.to_json()) == event


@pytest.mark.parametrize(
    "frame",
    [json.dumps({"type": "prompt", "message_id": TOO_LONG_ID, "content": "x", "author": AUTHOR.model_dump()}),
     json.dumps({"type": "prompt", "message_id": "m1", "content": "x", "author": AUTHOR.model_dump(),
                 "model": "m" * 201}),
     json.dumps({"type": "stop", "message_id": TOO_LONG_ID}),
     '{"type": "ack", "seq": 2147483648}',
     '{"type": "ack", "seq": "1"}'],
)
def test_commands_have_the_same_limits(frame: str) -> None:
    with pytest.raises(p.ProtocolError):
        p.parse_command(frame)
