"""A session with a Slack thread, a real database and the fake Slack: what the reporter's tests start from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openinspect_protocol.timeline import TimelineEvent
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select

from backend_jobs.slack.reporter import Reporter
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import Repo, Session, SlackThread
from openinspect_core.notify.local import Notifier
from openinspect_core.services import timeline
from openinspect_core.settings import Settings
from tests.fakes.slack import FakeSlack
from tests.fakes.slack.world import SlackMessage
from tests.openinspect_core.services.seed import seed

WAIT_SECONDS = 15.0  # generous: the machine is shared; nothing here waits this long when it works


@dataclass
class ThreadWorld:
    context: AppContext
    fake: FakeSlack
    session_id: str
    channel: str
    thread_ts: str

    def reporter(self, **options: Any) -> Reporter:
        # A plain client (no retry handlers): the reporter's own handling of 429s and outages is what is tested.
        client = AsyncWebClient(token=self.fake.bot_token, base_url=self.fake.api_url, timeout=5)
        return Reporter(self.context, client, **options)

    async def write(self, *events: TimelineEvent) -> None:
        """Append the events in one unit of work (one notification), as the control plane does."""
        async with self.context.work() as work:
            for event in events:
                await timeline.append(work.db, self.session_id, event)
            work.changed(self.session_id)

    async def write_each(self, events: list[TimelineEvent]) -> None:
        for event in events:
            await self.write(event)

    def replies(self) -> list[SlackMessage]:
        """The bot's messages in the thread (the person's own first message left out)."""
        return self.fake.world.thread(self.channel, self.thread_ts)[1:]

    async def thread_row(self) -> SlackThread:
        async with self.context.db.session() as db:
            return (await db.exec(select(SlackThread).where(SlackThread.session_id == self.session_id))).one()

    async def last_event_seq(self) -> int:
        async with self.context.db.session() as db:
            session = await db.get(Session, self.session_id)
            assert session is not None
            return session.last_event_seq

    async def until(self, check: Callable[[], bool], what: str) -> None:
        """Wait until ``check()`` is true (the reporter works in its own tasks)."""
        async def checked() -> bool:
            return check()
        await self.eventually(checked, what)

    async def eventually(self, check: Callable[[], Awaitable[bool]], what: str) -> None:
        for _ in range(int(WAIT_SECONDS / 0.05)):
            if await check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"not reached: {what}; the thread has {[m.text for m in self.replies()]}")

    async def reported(self) -> int:
        return (await self.thread_row()).reported_event_seq


@asynccontextmanager
async def thread_world(database: Database, fake: FakeSlack, data_dir: Path, *, github: bool = False
                       ) -> AsyncIterator[ThreadWorld]:
    context = AppContext.of(Settings.from_env({"OPENINSPECT_DATA_DIR": str(data_dir)}, database_url=database.url),
                            database, Notifier())
    seeded = await seed(database)
    mention = fake.mention(fake.world.ada, fake.world.general, "fix the flaky login test")
    async with database.session() as db:
        if github:  # a session on GitHub, with its own branch: its commits are pushed
            repo = Repo(url="https://github.com/acme/api.git", name="api", full_name="acme/api")
            db.add(repo)
            session = await db.get(Session, seeded.session_id)
            assert session is not None
            session.repo_id, session.work_branch = repo.id, "openinspect/abc-fix"
            db.add(session)
        db.add(SlackThread(session_id=seeded.session_id, team_id=fake.team_id, channel_id=fake.world.general.id,
                           thread_ts=mention["ts"], slack_user_id=fake.world.ada.id))
        await db.commit()
    yield ThreadWorld(context, fake, seeded.session_id, fake.world.general.id, mention["ts"])


@asynccontextmanager
async def running(reporter: Reporter) -> AsyncIterator[Reporter]:
    await reporter.start()
    try:
        yield reporter
    finally:
        await reporter.close()
