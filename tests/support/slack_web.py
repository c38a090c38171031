"""The REST API with the real Slack bot in its process, as the web process runs it (``ControlPlane.slack``
attached to the API): the bot is slack-bolt's app with only its Web API URL pointed at the fake Slack.

Ada is a person here with the same confirmed email as the fake's Slack Ada (so she is linked by email);
the fake's ``#general`` works on one repository. No background jobs run: a session the bot starts stays
queued, which is all the web side needs to see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend_jobs.slack.bot import SlackBot
from openinspect_app.api.app import attach
from openinspect_core.db import Database
from openinspect_core.services import users
from openinspect_core.slack import hints
from tests.fakes.slack import FakeSlack
from tests.support.system import ADA, ServedApi, api_token, served_api


@dataclass
class SlackWeb:
    served: ServedApi
    bot: SlackBot
    fake: FakeSlack
    repo_id: str  # #general's repository


@asynccontextmanager
async def served_with_bot(database: Database, data_dir: Path, fake: FakeSlack, **settings: Any
                          ) -> AsyncIterator[SlackWeb]:
    async with served_api(database, data_dir, slack_bot_token=fake.bot_token, slack_signing_secret=fake.signing_secret,
                          slack_api_url=fake.api_url, **settings) as served:
        async with served.client(token=await api_token(served.context)) as http:
            repo_id = (await http.post("/api/sessions", json={"repo_url": "/tmp/slack-web"})).json()["repo"]["id"]
        async with served.context.work() as work:
            ada = await users.get_or_create(work.db, ADA["name"], ADA["email"])
            await hints.set_channel_repo(work.db, channel_id=fake.world.general.id, repo_id=repo_id, by=ada)
        bot = SlackBot(served.context)
        await bot.start()
        attach(served.api, served.context, bot)
        try:
            yield SlackWeb(served, bot, fake, repo_id)
        finally:
            attach(served.api, served.context)
            await bot.stop()
