"""The thread's fold, without Slack or a database: which status a timeline shows and which replies it calls for."""

from __future__ import annotations

import itertools

import openinspect_protocol as p
from openinspect_protocol.status import MessageStatus, SessionStatus
from openinspect_protocol.timeline import (
    PromptCancelled,
    PromptFinished,
    PromptStarted,
    PullRequestFailed,
    SessionArchived,
    SessionStatusChanged,
    StopRequested,
    TimelineEvent,
)

from backend_jobs.slack.thread_state import (
    TEXT_KEPT_CHARS,
    Completion,
    Notice,
    Phase,
    PromptMirror,
    PullRequestNews,
    Reply,
    Status,
    ThreadState,
)
from tests.backend_jobs.slack.stories import ANA, WORKDIR, pull_request, queued, startup, text, tool, turn


class Told:
    """A state and the replies it gave, fed one event at a time with the next sequence."""

    def __init__(self, *, pushes: bool = False) -> None:
        self.state = ThreadState(pushes=pushes)
        self.replies: list[Reply] = []
        self.statuses: list[Status] = []

    def feed(self, events: list[TimelineEvent]) -> list[Reply]:
        new: list[Reply] = []
        for event in events:
            new += self.state.apply(self.state.last_sequence + 1, event)
            status = self.state.status()
            if not self.statuses or self.statuses[-1] != status:
                self.statuses.append(status)
        self.replies += new
        return new


def test_the_status_goes_through_the_steps_and_names_the_running_tool() -> None:
    told = Told()
    told.feed([queued("m1"), *startup()])
    told.feed([PromptStarted(message_id="m1"), SessionStatusChanged(status=SessionStatus.RUNNING)])
    told.feed([p.ToolCall(call_id="c1", tool="bash", input={"command": "npm test"}, message_id="m1")])
    assert told.state.status() == Status(Phase.WORKING, "bash", "npm test")
    told.feed([p.ToolResult(call_id="c1", tool="bash", status="completed", message_id="m1")])
    told.feed([PromptFinished(message_id="m1", status=MessageStatus.COMPLETED)])
    phases = [s.phase for s in told.statuses]
    assert list(dict.fromkeys(phases)) == [Phase.STARTING, Phase.SETTING_UP, Phase.QUEUED, Phase.WORKING, Phase.DONE]
    assert [s.detail for s in told.statuses if s.phase == Phase.SETTING_UP] == [
        "getting the repository", "running the setup script", "starting the agent"]
    assert told.statuses[phases.index(Phase.WORKING):phases.index(Phase.DONE)] == [
        Status(Phase.WORKING), Status(Phase.WORKING, "bash", "npm test"), Status(Phase.WORKING)]
    # Each change of face changes the fingerprint the reporter compares (else it would not update).
    assert all(a.fingerprint() != b.fingerprint() for a, b in itertools.pairwise(told.statuses))


def test_a_finished_prompt_is_answered_with_the_agents_last_words_and_the_files_it_wrote() -> None:
    told = Told()
    told.feed([queued("m1"), *startup()])
    [done] = told.feed(turn("m1", summary="Fixed it: the wait was too short.", commits=1))
    assert isinstance(done, Completion)
    # The text before the tools ("Let me look...") is not the summary; the text after the last one is.
    assert done.summary == "Fixed it: the wait was too short."
    assert done.outcome == "completed" and done.files == ["tests/test_login.py"]
    assert [c.subject for c in done.commits] == ["Fix login wait 1"]
    # A repository the system does not push (a local path): no pull request to offer.
    assert done.pull_request is None and not done.can_open_pull_request
    assert told.state.safe_position() == told.state.last_sequence


def test_a_reply_waits_for_its_push_then_offers_the_pull_request_button() -> None:
    told = Told(pushes=True)
    told.feed([queued("m1"), *startup()])
    assert told.feed(turn("m1", commits=2)) == []  # held: the push comes next
    held = told.state.held
    assert held is not None and told.state.safe_position() == held.sequence - 1
    assert told.state.status().phase == Phase.DONE  # the status does not wait
    [done] = told.feed([p.PushComplete(branch="openinspect/abc-fix", head_sha="f" * 40, commits_ahead=2)])
    assert isinstance(done, Completion) and done.can_open_pull_request and done.pull_request is None
    assert told.state.safe_position() == told.state.last_sequence


def test_an_open_pull_request_is_linked_instead_of_offered_and_its_news_is_told() -> None:
    told = Told(pushes=True)
    told.feed([queued("m1"), *startup()])
    [news] = told.feed([pull_request(7)])
    assert isinstance(news, PullRequestNews) and news.action == "opened" and news.opened_by == "Ada Lima"
    told.feed(turn("m1", commits=1))
    [done] = told.feed([p.PushComplete(branch="openinspect/abc-fix", head_sha="f" * 40)])
    assert isinstance(done, Completion) and done.pull_request is not None and done.pull_request.number == 7
    assert not done.can_open_pull_request
    assert told.feed([pull_request(7, action="edited")]) == []  # an edit is not news
    [merged] = told.feed([pull_request(7, action="merged", state="merged")])
    assert isinstance(merged, PullRequestNews) and merged.pull_request.state == "merged"
    assert told.state.open_pull_request() is None


def test_a_failed_push_releases_the_reply_with_the_reason_and_no_button() -> None:
    told = Told(pushes=True)
    told.feed([queued("m1"), *startup(), *turn("m1", commits=1)])
    [done] = told.feed([p.PushError(branch="b", code="secret_in_diff", message="commit abc has [secret:TOKEN]")])
    assert isinstance(done, Completion) and not done.can_open_pull_request
    assert "contains a secret" in done.push_problem


def test_the_reporter_can_release_a_reply_whose_push_never_came() -> None:
    told = Told(pushes=True)
    told.feed([queued("m1"), *startup(), *turn("m1", commits=1)])
    [done] = told.state.release()
    assert isinstance(done, Completion) and not done.can_open_pull_request
    assert told.state.held is None and told.state.release() == []


def test_the_next_prompt_releases_a_held_reply_first() -> None:
    told = Told(pushes=True)
    told.feed([queued("m1"), *startup(), *turn("m1", commits=1), queued("m2")])
    replies = told.feed([PromptStarted(message_id="m2")])
    assert [type(r) for r in replies] == [Completion] and replies[0].message_id == "m1"


def test_prompts_from_the_web_are_mirrored_and_slacks_own_are_not() -> None:
    told = Told()
    assert told.feed([queued("m1")]) == []
    [mirror] = told.feed([queued("m2", "Also update the docs <!channel>", source="web", author=ANA)])
    assert mirror == PromptMirror(mirror.sequence, "Ana Lima", "web", "Also update the docs <!channel>")


def test_a_sandbox_failure_during_a_prompt_is_said_once_by_the_prompts_reply() -> None:
    told = Told()
    told.feed([queued("m1"), *startup(), PromptStarted(message_id="m1"), queued("m2")])
    # What supervision writes when the sandbox dies: the status first, then the prompts it ends.
    replies = told.feed([SessionStatusChanged(status=SessionStatus.FAILED, reason="the pod was evicted"),
                         PromptFinished(message_id="m1", status=MessageStatus.FAILED, error="the pod was evicted"),
                         PromptFinished(message_id="m2", status=MessageStatus.FAILED, error="not run: evicted")])
    [failed] = replies
    assert isinstance(failed, Completion) and failed.outcome == "failed" and failed.error == "the pod was evicted"
    assert told.state.status() == Status(Phase.FAILED, "the pod was evicted")


def test_a_sandbox_that_fails_to_start_is_said_as_a_notice() -> None:
    told = Told()
    told.feed([queued("m1")])
    replies = told.feed([SessionStatusChanged(status=SessionStatus.FAILED, reason="the image could not be pulled"),
                         PromptFinished(message_id="m1", status=MessageStatus.FAILED, error="not run: ...")])
    assert replies == [Notice(replies[0].sequence, "session_failed", "the image could not be pulled")]


def test_a_stopped_prompt_is_said_and_shown() -> None:
    told = Told()
    told.feed([queued("m1"), *startup(), PromptStarted(message_id="m1"), StopRequested(message_id="m1")])
    [stopped] = told.feed([PromptFinished(message_id="m1", status=MessageStatus.STOPPED)])
    assert isinstance(stopped, Completion) and stopped.outcome == "stopped"
    assert told.state.status().phase == Phase.STOPPED
    # An idle sandbox stopping later changes nothing the thread shows.
    told.feed([SessionStatusChanged(status=SessionStatus.STOPPED)])
    assert told.state.status().phase == Phase.STOPPED


def test_a_cancelled_prompt_says_nothing_and_an_idle_stop_keeps_done() -> None:
    told = Told()
    told.feed([queued("m1"), *startup(), *turn("m1"), queued("m2")])
    assert told.feed([PromptCancelled(message_id="m2"), SessionStatusChanged(status=SessionStatus.STOPPED)]) == []
    assert told.state.status().phase == Phase.DONE


def test_archive_is_said_and_shown() -> None:
    told = Told()
    told.feed([queued("m1"), *startup(), *turn("m1")])
    [notice] = told.feed([SessionArchived()])
    assert isinstance(notice, Notice) and notice.kind == "archived"
    assert told.state.status().phase == Phase.ARCHIVED


def test_a_refused_pull_request_is_said_with_its_compare_link() -> None:
    told = Told()
    [notice] = told.feed([PullRequestFailed(reason="GitHub said no", code="github_refused",
                                            compare_url="https://github.com/acme/api/compare/main...b")])
    assert notice == Notice(notice.sequence, "pull_request_failed", "GitHub said no",
                            "https://github.com/acme/api/compare/main...b")


def test_an_event_seen_before_does_nothing() -> None:
    state = ThreadState()
    assert state.apply(1, queued("m1", source="web")) != []
    assert state.apply(1, queued("m1", source="web")) == []
    state.skip(5)
    assert state.apply(3, queued("m3", source="web")) == [] and state.last_sequence == 5


def test_a_long_answer_is_kept_bounded_and_marked_cut() -> None:
    told = Told()
    told.feed([queued("m1"), *startup(), PromptStarted(message_id="m1")])
    told.feed(text("t9", "word " * (TEXT_KEPT_CHARS // 2), "m1"))
    [done] = told.feed([PromptFinished(message_id="m1", status=MessageStatus.COMPLETED)])
    assert isinstance(done, Completion) and done.summary_cut and len(done.summary) <= TEXT_KEPT_CHARS


def test_files_come_from_edits_that_succeeded_and_patches() -> None:
    told = Told()
    told.feed([queued("m1"), *startup(), PromptStarted(message_id="m1")])
    told.feed(tool("c1", "edit", {"filePath": f"{WORKDIR}/src/a.py"}, "m1"))
    told.feed(tool("c2", "edit", {"filePath": f"{WORKDIR}/src/a.py"}, "m1"))  # the same file once
    told.feed(tool("c3", "write", {"filePath": f"{WORKDIR}/src/broken.py"}, "m1", ok=False))
    told.feed(tool("c4", "read", {"filePath": f"{WORKDIR}/README.md"}, "m1"))
    told.feed(tool("c5", "patch", {"patchText": "*** Begin Patch\n*** Update File: src/b.py\n@@\n*** End Patch"}, "m1"))
    [done] = told.feed([PromptFinished(message_id="m1", status=MessageStatus.COMPLETED)])
    assert isinstance(done, Completion) and done.files == ["src/a.py", "src/b.py"]
