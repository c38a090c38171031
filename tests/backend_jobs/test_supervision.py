"""Supervision's pure parts: the launch spec, which sandboxes the timers act on, what a sandbox's end does to its
prompts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from openinspect_protocol.status import MessageStatus, SessionStatus

from backend_jobs import lifecycle
from backend_jobs.supervision import launch_spec, prompt_endings, timer_verdicts
from openinspect_core.models import Message, Repo, Sandbox, SandboxStatus, Session
from openinspect_core.settings import Settings

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
STALE_SECONDS, IDLE_SECONDS = 60.0, 300.0
SETTINGS = Settings.from_env({}, heartbeat_stale_seconds=STALE_SECONDS, sandbox_idle_timeout_seconds=IDLE_SECONDS)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def row(sandbox_id: str = "sb1", *, status: SandboxStatus = SandboxStatus.READY, created: float = 600,
        heartbeat: float | None = 10, activity: float = 10, session_id: str = "s1") -> tuple[Sandbox, Session]:
    """A live sandbox and its session, with its times given in seconds before NOW."""
    sandbox = Sandbox(id=sandbox_id, session_id=session_id, backend="test", auth_token_hash=f"h-{sandbox_id}",
                      status=status, created_at=ago(created),
                      last_heartbeat_at=None if heartbeat is None else ago(heartbeat))
    session = Session(id=session_id, repo_id="r1", created_by="u1", last_activity_at=ago(activity))
    return sandbox, session


# ------------------------------------------------------------------ timers


@pytest.mark.parametrize(
    ("case", "busy", "settings", "verdict"),
    [
        (row(heartbeat=10, activity=10), set(), SETTINGS, "none"),
        (row(heartbeat=61), set(), SETTINGS, "stale"),
        (row(heartbeat=60), set(), SETTINGS, "none"),  # at the limit is not past it
        (row(heartbeat=None, created=61), set(), SETTINGS, "stale"),  # no frame yet: counted from creation
        (row(heartbeat=None, created=30), set(), SETTINGS, "none"),
        (row(heartbeat=5, created=3600), set(), SETTINGS, "none"),  # a heartbeat resets the count
        (row(activity=301), set(), SETTINGS, "idle"),
        (row(activity=300), set(), SETTINGS, "none"),
        (row(activity=301), {"s1"}, SETTINGS, "none"),  # a prompt queued or running is not idleness
        (row(activity=301), {"s2"}, SETTINGS, "idle"),  # another session's work does not count
        (row(status=SandboxStatus.CONNECTED, activity=301), set(), SETTINGS, "none"),  # still starting
        (row(status=SandboxStatus.SPAWNING, activity=301), set(), SETTINGS, "none"),
        (row(activity=10_000), set(), Settings.from_env({}, sandbox_idle_timeout_seconds=0.0), "none"),  # never
        (row(heartbeat=61, activity=301), set(), SETTINGS, "stale"),  # stale wins; not also stopped as idle
        (row(status=SandboxStatus.SPAWNING, heartbeat=None, created=61), set(), SETTINGS, "stale"),
    ],
)
def test_timer_verdict(case: tuple[Sandbox, Session], busy: set[str], settings: Settings, verdict: str) -> None:
    stale, idle = timer_verdicts([case], busy=busy, now=NOW, settings=settings)
    expected = {"none": ([], []), "stale": (["sb1"], []), "idle": ([], ["sb1"])}[verdict]
    assert ([sandbox_id for sandbox_id, _ in stale], idle) == expected


def test_stale_sandboxes_carry_their_seconds_of_silence_and_keep_the_rows_order() -> None:
    rows = [row("a", heartbeat=90, session_id="s1"), row("b", activity=400, session_id="s2"),
            row("c", heartbeat=None, created=75.4, session_id="s3"), row("d", session_id="s4"),
            row("e", activity=500, session_id="s5")]
    assert timer_verdicts(rows, busy={"s4"}, now=NOW, settings=SETTINGS) == (
        [("a", 90.0), ("c", 75.4)], ["b", "e"])


def test_no_rows_no_verdicts() -> None:
    assert timer_verdicts([], busy=set(), now=NOW, settings=SETTINGS) == ([], [])


# ------------------------------------------------------------- prompt endings

FAILED = lifecycle.StatusChange(SessionStatus.FAILED, "start.sh exited 3")
STOPPED = lifecycle.StatusChange(SessionStatus.STOPPED, None)
ARCHIVED = (MessageStatus.CANCELLED, "the session was archived")
NOT_RUN = (MessageStatus.FAILED, "not run: start.sh exited 3")


def prompt(message_id: str, status: MessageStatus, sandbox_id: str | None = None) -> Message:
    return Message(id=message_id, session_id="s1", author_id="u1", content="hi", client_request_id=message_id,
                   status=status, sandbox_id=sandbox_id)


@pytest.mark.parametrize(
    ("message", "change", "archived", "drop_queued", "ending"),
    [
        # The running prompt of the sandbox that ended cannot finish, whatever the end.
        (prompt("m", MessageStatus.RUNNING, "sb1"), FAILED, False, True, (MessageStatus.FAILED, FAILED.reason)),
        (prompt("m", MessageStatus.RUNNING, "sb1"), FAILED, False, False, (MessageStatus.FAILED, FAILED.reason)),
        (prompt("m", MessageStatus.RUNNING, "sb1"), STOPPED, False, True,
         (MessageStatus.FAILED, "the sandbox stopped before the prompt finished")),
        (prompt("m", MessageStatus.RUNNING, "sb1"), STOPPED, True, True,
         (MessageStatus.FAILED, "the sandbox stopped before the prompt finished")),
        # A prompt running on another sandbox is not this end's business.
        (prompt("m", MessageStatus.RUNNING, "sb0"), FAILED, False, True, None),
        (prompt("m", MessageStatus.RUNNING, "sb0"), FAILED, True, True, None),
        # An unexplained failure drops the queue (no respawn loop); an explained one left it to ingestion.
        (prompt("m", MessageStatus.QUEUED), FAILED, False, True, NOT_RUN),
        (prompt("m", MessageStatus.QUEUED), FAILED, True, True, NOT_RUN),
        (prompt("m", MessageStatus.QUEUED), FAILED, False, False, None),
        (prompt("m", MessageStatus.QUEUED), FAILED, True, False, ARCHIVED),
        # A requested stop keeps the queue for the next sandbox, unless the session was archived.
        (prompt("m", MessageStatus.QUEUED), STOPPED, False, True, None),
        (prompt("m", MessageStatus.QUEUED), STOPPED, True, True, ARCHIVED),
        (prompt("m", MessageStatus.QUEUED), STOPPED, True, False, ARCHIVED),
    ],
)
def test_prompt_ending(message: Message, change: lifecycle.StatusChange, archived: bool, drop_queued: bool,
                       ending: tuple[MessageStatus, str] | None) -> None:
    result = prompt_endings([message], sandbox_id="sb1", change=change, archived=archived, drop_queued=drop_queued)
    assert result == ([] if ending is None else [(message, *ending)])


def test_endings_follow_the_queue_order_and_leave_the_rest_waiting() -> None:
    running, older, newer = (prompt("m1", MessageStatus.RUNNING, "sb1"), prompt("m2", MessageStatus.QUEUED),
                             prompt("m3", MessageStatus.QUEUED))
    change = lifecycle.status_for_exit(requested=False, failure=None, exit_reason="exit code 137")
    assert prompt_endings([running, older, newer], sandbox_id="sb1", change=change, archived=False,
                          drop_queued=True) == [
        (running, MessageStatus.FAILED, "exit code 137"),
        (older, MessageStatus.FAILED, "not run: exit code 137"),
        (newer, MessageStatus.FAILED, "not run: exit code 137"),
    ]
    # After a restart of the control plane (a requested end): only the running prompt is lost.
    restarted = lifecycle.status_for_exit(requested=True, failure=None, exit_reason="the control plane restarted")
    assert prompt_endings([running, older, newer], sandbox_id="sb1", change=restarted, archived=False,
                          drop_queued=True) == [
        (running, MessageStatus.FAILED, "the sandbox stopped before the prompt finished")]


# ------------------------------------------------------------------ launch spec


@pytest.mark.parametrize("kind", ["openai_compatible", "anthropic"])
def test_the_launch_spec_names_the_model_proxy_and_never_carries_the_providers_key(kind: str) -> None:
    settings = Settings.from_env({}, provider_kind=kind, provider_base_url="https://models.example/v1",
                                 provider_api_key="sk-the-real-key", model="anthropic/claude-sonnet-4-5")
    _, session = row()
    repo = Repo(id="r1", url="/tmp/project", name="project")
    sandbox = Sandbox(id="sb1", session_id=session.id, backend="local", auth_token_hash="h")
    spec = launch_spec(settings, session, repo, sandbox, bridge_url="ws://127.0.0.1:8765",
                       model_proxy_url="http://127.0.0.1:8766/", proxy_token="the-sandboxs-proxy-token")

    assert (spec.provider_kind, spec.provider_base_url, spec.provider_api_key) == (
        kind, "http://127.0.0.1:8766/v1", "the-sandboxs-proxy-token")
    env = spec.to_env()
    assert not any("sk-the-real-key" in value or "models.example" in value for value in env.values())


@pytest.mark.parametrize(("github", "full_name", "expected"), [
    (True, "acme/widgets", ("openinspect/abcd1234-widgets", True)),
    (True, None, ("", False)),  # a local repository: nothing to push to, no credentials to ask for
    (False, "acme/widgets", ("", False)),  # no GitHub App configured (the embedded default)
])
def test_a_session_on_github_gets_its_branch_and_the_credential_broker(
        github: bool, full_name: str | None, expected: tuple[str, bool]) -> None:
    _, session = row()
    session.work_branch = "openinspect/abcd1234-widgets"
    repo = Repo(id="r1", url="https://github.example/acme/widgets.git", name="widgets", full_name=full_name)
    sandbox = Sandbox(id="sb1", session_id=session.id, backend="local", auth_token_hash="h")
    spec = launch_spec(Settings.from_env({}), session, repo, sandbox, bridge_url="ws://127.0.0.1:8765",
                       model_proxy_url="http://127.0.0.1:8766/", proxy_token="t", github=github)
    assert (spec.work_branch, spec.git_credentials) == expected
