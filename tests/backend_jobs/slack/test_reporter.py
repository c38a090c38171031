"""The thread reporter against the fake Slack and a real database: the status message updated in place, the
replies, throttling, 429s, Slack being down, a restart, a deleted message, a channel closed to the bot."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openinspect_protocol as p
import pytest
from openinspect_protocol.logs import fields_of
from openinspect_protocol.status import MessageStatus, SessionStatus
from openinspect_protocol.timeline import PromptFinished, PromptStarted, SessionStatusChanged

from backend_jobs.slack import actions
from openinspect_core.db import Database
from tests.backend_jobs.slack.stories import ANA, pull_request, queued, startup, turn
from tests.backend_jobs.slack.thread_world import WAIT_SECONDS, ThreadWorld, running, thread_world
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.fake import SlackCall

DONE = ":white_check_mark: *Done*"


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only: what these tests check does not depend on the database (the restart test runs on both)."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'openinspect.db'}")
    database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def world(sqlite_database: Database, fake_slack: FakeSlack, tmp_path: Path) -> AsyncIterator[ThreadWorld]:
    async with thread_world(sqlite_database, fake_slack, tmp_path / "data") as world:
        yield world


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="backend_jobs.slack.reporter")
    yield caplog


def shows(call: SlackCall, headline: str) -> bool:
    return call.ok and call.args.get("text") == headline


def logged(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, object]]:
    return [fields_of(r) for r in caplog.records if r.getMessage() == event]


async def test_the_status_message_is_posted_at_start_updated_in_place_and_answered_at_the_end(
        world: ThreadWorld) -> None:
    fake = world.fake
    await world.write(queued("m1"))
    async with running(world.reporter()) as reporter:
        await reporter.session_started(world.session_id)
        [status] = world.replies()  # posted before session_started returned
        assert status.text == ":hourglass_flowing_sand: *Starting a sandbox…*"
        assert (await world.thread_row()).status_ts == status.ts

        await world.write_each([*startup(), PromptStarted(message_id="m1"),
                                SessionStatusChanged(status=SessionStatus.RUNNING)])
        await fake.wait_for_call("chat.update", lambda c: shows(c, ":hammer_and_wrench: *Working*"),
                                 timeout=WAIT_SECONDS)
        await world.write(*turn("m1")[2:])  # the rest of the turn, to its end
        await fake.wait_for_call("chat.update", lambda c: shows(c, DONE), timeout=WAIT_SECONDS)
        await world.until(lambda: len(world.replies()) == 2, "the completion reply")
        last = await world.last_event_seq()

        async def stored() -> bool:
            return await world.reported() == last
        await world.eventually(stored, "the position stored")
        row = await world.thread_row()

    status, reply = world.replies()
    assert status.edited >= 2 and status.text == DONE  # the same message, updated in place
    assert [c.args["ts"] for c in fake.calls("chat.update")] == [status.ts] * len(fake.calls("chat.update"))
    assert reply.text.startswith(":white_check_mark: Fixed the login test")
    assert reply.blocks is not None
    assert "*Files changed (1)*: `tests/test_login.py`" in str(reply.blocks)
    # A local repository is never pushed: no pull request button, but the session's page.
    action_ids = [e["action_id"] for b in reply.blocks if b["type"] == "actions" for e in b["elements"]]
    assert action_ids == [actions.VIEW_SESSION]
    assert row.status_text == "done"


async def test_many_events_make_few_updates_and_the_newest_state_wins(world: ThreadWorld) -> None:
    fake, min_update = world.fake, 0.5
    await world.write(queued("m1"), *startup(), PromptStarted(message_id="m1"))
    async with running(world.reporter(min_update_seconds=min_update)) as reporter:
        await reporter.session_started(world.session_id)
        mark = fake.mark()
        # 40 tool calls, each its own transaction and notification: 40 different faces of the status.
        for i in range(40):
            await world.write(p.ToolCall(call_id=f"c{i}", tool="bash", input={"command": f"step {i}"},
                                         message_id="m1"))
        await world.write(PromptFinished(message_id="m1", status=MessageStatus.COMPLETED))
        await fake.wait_for_call("chat.update", lambda c: shows(c, DONE), timeout=WAIT_SECONDS, since=mark)
        await world.until(lambda: len(world.replies()) == 2, "the completion reply")
    updates = [c for c in fake.calls("chat.update") if c.index >= mark]
    assert len(updates) < 20  # coalesced
    gaps = [b.at - a.at for a, b in itertools.pairwise(updates)]
    assert all(gap >= min_update * 0.95 for gap in gaps), gaps  # at most one per min_update_seconds
    # The newest state last, and once.
    assert shows(updates[-1], DONE) and [shows(c, DONE) for c in updates].count(True) == 1


async def test_a_429_is_waited_out_for_its_retry_after(world: ThreadWorld, warnings: pytest.LogCaptureFixture
                                                       ) -> None:
    fake = world.fake
    await world.write(queued("m1"))
    async with running(world.reporter(min_update_seconds=0.1)) as reporter:
        await reporter.session_started(world.session_id)
        fake.rate_limit("chat.update", count=1, retry_after=1)
        await world.write(SessionStatusChanged(status=SessionStatus.SYNCING))
        limited = await fake.wait_for_call("chat.update", lambda c: c.status == 429, timeout=WAIT_SECONDS)
        await world.write(SessionStatusChanged(status=SessionStatus.SETUP))  # changes while it waits coalesce
        ok = await fake.wait_for_call("chat.update", lambda c: c.ok, timeout=WAIT_SECONDS)
    assert ok.at - limited.at >= 0.95  # nothing was sent before Retry-After was over
    assert "running the setup script" in ok.args["text"]  # and then the newest state, once
    assert [c.status for c in fake.calls("chat.update")] == [429, 200]
    assert logged(warnings, "slack.rate_limited")[0]["retry_after_seconds"] == 1.0


async def test_slack_down_stops_nothing_and_the_thread_catches_up(world: ThreadWorld,
                                                                  warnings: pytest.LogCaptureFixture) -> None:
    fake = world.fake
    await world.write(queued("m1"))
    fake.down("refuse")
    async with running(world.reporter()) as reporter:
        await reporter.session_started(world.session_id)  # returns, Slack or not
        assert world.replies() == []
        await world.write(*startup(), *turn("m1"))  # the session goes on meanwhile
        await world.until(lambda: bool(logged(warnings, "slack.update_failed")), "a failed call")
        fake.up()
        await world.until(lambda: len(world.replies()) == 2 and world.replies()[0].text == DONE, "caught up")
    _, reply = world.replies()
    assert reply.text.startswith(":white_check_mark: Fixed the login test")
    failure = logged(warnings, "slack.update_failed")[0]
    assert failure["method"] == "chat.postMessage" and "Connect" in str(failure["error"])
    assert len([c for c in fake.calls("chat.postMessage") if c.ok]) == 2  # one status message, not one per try


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_a_restarted_reporter_goes_on_from_where_it_stopped(database: Database, fake_slack: FakeSlack,
                                                                  tmp_path: Path) -> None:
    async with thread_world(database, fake_slack, tmp_path / "data") as world:
        await world.write(queued("m1"), *startup(), *turn("m1"))
        async with running(world.reporter()) as reporter:
            await reporter.session_started(world.session_id)
            await world.until(lambda: len(world.replies()) == 2, "the first reply")
        first_status, first_reply = world.replies()
        posts = len(fake_slack.calls("chat.postMessage"))

        # While no reporter runs: a prompt typed on the web, run to its end.
        await world.write(queued("m2", "Also <!here> update the docs", source="web", author=ANA), *turn("m2"))
        last = await world.last_event_seq()

        async def stored() -> bool:
            return await world.reported() == last
        async with running(world.reporter()):  # no session_started: its start-up sweep finds the thread behind
            await world.until(lambda: len(world.replies()) == 4, "the replies since the restart")
            await world.eventually(stored, "the position stored")
        status, reply1, mirror, reply2 = world.replies()
        assert (status.ts, reply1.ts) == (first_status.ts, first_reply.ts)  # nothing posted twice
        assert len(fake_slack.calls("chat.postMessage")) == posts + 2
        assert mirror.text == ":speech_balloon: *Ana Lima* on the web: Also &lt;!here&gt; update the docs"
        assert reply2.text.startswith(":white_check_mark: Fixed the login test")
        # Done before, done again: the status message needed no update.
        assert status.text == DONE and fake_slack.calls("chat.update") == []


async def test_a_reply_waits_for_the_push_and_offers_a_pull_request(
        sqlite_database: Database, fake_slack: FakeSlack, tmp_path: Path) -> None:
    async with thread_world(sqlite_database, fake_slack, tmp_path / "data", github=True) as world:
        await world.write(queued("m1"), *startup())
        async with running(world.reporter()) as reporter:
            await reporter.session_started(world.session_id)
            await world.write(*turn("m1", commits=2))
            await world.write(p.PushComplete(branch="openinspect/abc-fix", head_sha="f" * 40, commits_ahead=2))
            await world.until(lambda: len(world.replies()) == 2, "the completion reply")
            await world.write(pull_request(7))
            await world.until(lambda: len(world.replies()) == 3, "the pull request's news")
        _, done, news = world.replies()
    assert done.blocks is not None
    [create, view] = [e for b in done.blocks if b["type"] == "actions" for e in b["elements"]]
    assert (create["action_id"], create["value"]) == (actions.CREATE_PULL_REQUEST, world.session_id)
    assert view["url"].endswith(f"/sessions/{world.session_id}")
    assert "Commits: `1111111` Fix login wait 1; `2222222` Fix login wait 2" in str(done.blocks)
    assert news.text == (":twisted_rightwards_arrows: Pull request <https://github.com/acme/api/pull/7|#7 Fix login "
                         "wait> opened for Ada Lima")


async def test_a_deleted_status_message_is_posted_again(world: ThreadWorld) -> None:
    fake = world.fake
    await world.write(queued("m1"))
    async with running(world.reporter(min_update_seconds=0.1)) as reporter:
        await reporter.session_started(world.session_id)
        [first] = world.replies()
        fake.fail_next("chat.update", "message_not_found")
        await world.write(SessionStatusChanged(status=SessionStatus.SYNCING))
        await world.until(lambda: len(world.replies()) == 2, "a new status message")
        new = world.replies()[1]

        async def saved() -> bool:
            return (await world.thread_row()).status_ts == new.ts
        await world.eventually(saved, "the new status message stored")
    assert "getting the repository" in new.text and new.ts != first.ts


async def test_a_channel_closed_to_the_bot_is_given_up_without_retrying(world: ThreadWorld,
                                                                        warnings: pytest.LogCaptureFixture) -> None:
    fake = world.fake
    await world.write(queued("m1"), *startup(), *turn("m1"))
    last = await world.last_event_seq()
    fake.fail_next("chat.postMessage", "channel_not_found")
    async with running(world.reporter()) as reporter:
        await reporter.session_started(world.session_id)
        await world.until(lambda: bool(logged(warnings, "slack.thread_unreachable")), "given up")

        async def stored() -> bool:  # as reported, so that no sweep or restart tries again
            return await world.reported() == last
        await world.eventually(stored, "the position stored")
        calls = fake.mark()
        await world.write(SessionStatusChanged(status=SessionStatus.STOPPED), queued("m2", source="web"))
        last = await world.last_event_seq()
        await world.eventually(stored, "the new events folded quietly")
    assert fake.mark() == calls and logged(warnings, "slack.thread_unreachable")[0]["error"] == "channel_not_found"
