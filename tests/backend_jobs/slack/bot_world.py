"""A running Slack bot against the fake Slack, on a real database: what the ingress tests drive.

The bot is the real one (slack-bolt app, reporter, Web API client) with only its API URL pointed at
the fake. No background jobs run: a session it starts stays queued, which is all the ingress owns.
Deliveries go through :meth:`SlackBot.handle_http` (signed like Slack) or the Socket Mode connection;
:meth:`BotWorld.deliver` then waits until the bot has handled them (no sleeping).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from backend_jobs.slack.bot import SlackBot
from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import Message, Repo, Session, SlackPending, SlackThread, SlackUserLink, User
from openinspect_core.notify.local import Notifier
from openinspect_core.services import users
from openinspect_core.settings import Settings
from tests.fakes.slack import SOCKET
from tests.fakes.slack.fake import Delivery, FakeSlack

REPOS = {  # name -> description: what the repository choice reads (each is acme/<name>)
    "billing-api": "Invoices, payments and the billing REST API",
    "web-frontend": "The customer-facing React web app",
    "infra": "Terraform and Kubernetes manifests",
}


@dataclass
class BotWorld:
    fake: FakeSlack
    bot: SlackBot
    context: AppContext
    repos: dict[str, str]  # name -> repo id
    ada: User  # ada@example.com: Slack's Ada (confirmed email) links to her by email

    @property
    def target(self) -> Any:
        return SOCKET if self.context.settings.slack_socket_mode else self.bot.handle_http

    async def deliver(self, event: dict[str, Any], **options: Any) -> Delivery:
        """Deliver ``event`` and wait until the bot has done what it does with it."""
        delivery = await self.fake.deliver_event(self.target, event, **options)
        await self.bot.idle()
        return delivery

    async def click(self, **options: Any) -> Delivery:
        delivery = await self.fake.click(self.target, **options)
        await self.bot.idle()
        return delivery

    async def rows(self, model: Any) -> list[Any]:
        async with self.context.db.session() as db:
            return list((await db.exec(select(model))).all())

    async def sessions(self) -> list[Session]:
        async with self.context.db.session() as db:
            return list((await db.exec(select(Session).order_by(col(Session.created_at)))).all())

    async def prompts(self) -> list[Message]:
        async with self.context.db.session() as db:
            return list((await db.exec(select(Message).order_by(col(Message.created_at)))).all())

    async def threads(self) -> list[SlackThread]:
        return await self.rows(SlackThread)

    async def pendings(self) -> list[SlackPending]:
        return await self.rows(SlackPending)

    async def links(self) -> list[SlackUserLink]:
        return await self.rows(SlackUserLink)


def bot_settings(tmp_path: Path, database_url: str, fake: FakeSlack, *, socket_mode: bool = False,
                 **overrides: Any) -> Settings:
    environ = {
        "OPENINSPECT_DATA_DIR": str(tmp_path / "data"),
        "OPENINSPECT_DATABASE_URL": database_url,
        "OPENINSPECT_REPO_ROOTS": str(tmp_path / "repos"),
        "OPENINSPECT_SLACK_BOT_TOKEN": fake.bot_token,
        "OPENINSPECT_SLACK_SIGNING_SECRET": fake.signing_secret,
        "OPENINSPECT_SLACK_API_URL": fake.api_url,
    }
    if socket_mode:
        environ["OPENINSPECT_SLACK_APP_TOKEN"] = fake.app_token
    return Settings.from_env(environ, **overrides)


async def add_repos(context: AppContext, root: Path, names: dict[str, str]) -> dict[str, str]:
    ids = {}
    async with context.work() as work:
        for name, description in names.items():
            path = root / name
            path.mkdir(parents=True, exist_ok=True)
            # Named like GitHub's (acme/<name>) but cloned from a local path: no GitHub App in these tests.
            repo = Repo(url=str(path.resolve()), name=name, full_name=f"acme/{name}", description=description)
            work.db.add(repo)
            ids[name] = repo.id
    return ids


@asynccontextmanager
async def running_bot(tmp_path: Path, database_url: str, fake: FakeSlack, *, repos: dict[str, str] | None = None,
                      socket_mode: bool = False, start: bool = True, link_poll_seconds: float = 5.0,
                      **overrides: Any) -> AsyncIterator[BotWorld]:
    settings = bot_settings(tmp_path, database_url, fake, socket_mode=socket_mode, **overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    database.migrate()
    context = AppContext.of(settings, database, Notifier())
    ids = await add_repos(context, tmp_path / "repos", REPOS if repos is None else repos)
    async with context.work() as work:
        ada = await users.get_or_create(work.db, "Ada Lima", "ada@example.com")
    bot = SlackBot(context, min_update_seconds=0.05, link_poll_seconds=link_poll_seconds)
    try:
        if start:
            await bot.start()
            if socket_mode:
                await fake.wait_for_socket()
        yield BotWorld(fake, bot, context, ids, ada)
    finally:
        await bot.stop()
        await database.dispose()
