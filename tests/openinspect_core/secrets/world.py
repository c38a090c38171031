"""What the secrets tests start from: a running context (real database, key file) with a person, a
session and its repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openinspect_core.context import AppContext
from openinspect_core.db import Database
from openinspect_core.models import Session, User
from openinspect_core.notify.local import Notifier
from openinspect_core.secrets.store import Scope
from openinspect_core.settings import Settings
from tests.openinspect_core.services.seed import seed


@dataclass(frozen=True)
class World:
    context: AppContext
    user: User
    session_id: str
    repo: Scope  # the session's repository


def context_for(database: Database, data_dir: Path, **settings: Any) -> AppContext:
    return AppContext.of(Settings.from_env({"OPENINSPECT_DATA_DIR": str(data_dir)}, database_url=database.url,
                                           **settings), database, Notifier())


@asynccontextmanager
async def secrets_world(database: Database, data_dir: Path, **settings: Any) -> AsyncIterator[World]:
    seeded = await seed(database)
    async with database.session() as db:
        session = await db.get(Session, seeded.session_id)
        assert session is not None
    yield World(context_for(database, data_dir, **settings), seeded.user, seeded.session_id, Scope(session.repo_id))
