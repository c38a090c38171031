"""What the Slack core tests start from: a running context on a real database, people and repositories."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import Repo, User
from openinspect_core.notify.local import Notifier
from openinspect_core.services import users
from openinspect_core.settings import Settings

TEAM, CHANNEL, SLACK_ADA, SLACK_GRACE = "T0TEAM001", "C0CHAN001", "U0ADA0001", "U0GRACE01"


@dataclass(frozen=True)
class World:
    context: AppContext
    ada: User
    grace: User
    repo: Repo  # a local repository the policy admits
    other: Repo

    @property
    def database(self) -> Database:
        return self.context.db


async def make_world(database: Database, tmp_path: Path, **settings: Any) -> World:
    roots = tmp_path / "repos"
    (roots / "shop").mkdir(parents=True)
    (roots / "legacy").mkdir()
    context = AppContext.of(Settings.from_env({"OPENINSPECT_DATA_DIR": str(tmp_path / "data")},
                                              database_url=database.url, repo_roots=(str(roots),), **settings),
                            database, Notifier())
    async with context.work() as work:
        ada = await users.get_or_create(work.db, "Ada Lovelace", "ada@example.com")
        grace = await users.get_or_create(work.db, "Grace Hopper", "Grace@Example.com")
        repo = Repo(url=str((roots / "shop").resolve()), name="shop", description="The web shop")
        other = Repo(url=str((roots / "legacy").resolve()), name="legacy")
        work.db.add_all([repo, other])
    return World(context, ada, grace, repo, other)
