"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from openinspect_core import models  # noqa: F401 - registers the tables
from openinspect_core.db import Database


async def test_migrations_match_the_models(database: Database) -> None:
    async with database.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata))
    assert diff == []


async def test_migrating_twice_is_harmless(database: Database) -> None:
    database.migrate()
    async with database.engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: sync.dialect.get_table_names(sync))
    assert {"session", "message", "event", "sandbox", "user", "repo", "participant", "artifact"} <= set(tables)
