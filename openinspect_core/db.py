"""The database handle: one async engine, sessions from it, and migrations.

SQLite (the embedded default) gets WAL mode and a busy timeout so the web side
and ingestion can write at the same time; PostgreSQL goes through psycopg 3.

Transactions on SQLite are our own, not the driver's: the driver would open one
only before the first INSERT/UPDATE/DELETE, so a SAVEPOINT (``begin_nested``)
opened first became the outermost transaction and its RELEASE committed at once
— a row escaped its unit of work's rollback. Here every transaction begins with
an explicit ``BEGIN``; a writer's (:meth:`Database.writer`) with ``BEGIN
IMMEDIATE``, so it takes the write lock up front and waits for it (busy
timeout) instead of failing when another writer committed after its first read.
Migrations are Alembic's, run by the composition root at start-up (never at
import time).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # writers wait for each other instead of failing


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (Alembic runs synchronously)."""
    return url.replace("sqlite+aiosqlite://", "sqlite://")


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._writers = async_sessionmaker(self.engine.execution_options(**{_WRITER: True}), class_=AsyncSession,
                                           expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        if self.is_sqlite:
            path = self.url.split(":///", 1)[1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        command.upgrade(alembic_config(self.url), "head")

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def writer(self) -> AsyncIterator[AsyncSession]:
        """A session for a transaction that writes (what :class:`~openinspect_core.unit_of_work.UnitOfWork` uses)."""
        async with self._writers() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


_WRITER = "openinspect_writer"


def _sqlite_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(_WRITER, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # No BEGIN from the driver (see the module docstring): the "begin" listener emits ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
