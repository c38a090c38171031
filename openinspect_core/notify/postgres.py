""""Session X changed" across processes, through PostgreSQL's LISTEN/NOTIFY.

Used whenever the database is PostgreSQL, so the web process and a separate
background worker hear each other. Local subscribers are told at once (as
with the in-process :class:`Notifier`); the same signal goes out as a
``NOTIFY`` on one channel, and notifications from other processes are offered
to local subscribers. Notifications are hints, never data: a lost one costs a
little latency (every watcher re-reads on a timer), never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import psycopg
from openinspect_protocol.logs import EventLog

from openinspect_core.notify.local import Notifier

log = EventLog(__name__)

CHANNEL = "openinspect_session"
RECONNECT_SECONDS = 1.0
MAX_BATCH = 500


def libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


class PostgresNotifier(Notifier):
    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._url = libpq_url(database_url)
        self._origin = uuid.uuid4().hex[:12]  # our own NOTIFYs come back to us: skip them
        self._outgoing: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="pg-notify-listen"),
                       asyncio.create_task(self._send(), name="pg-notify-send")]
        await asyncio.wait_for(self._listening.wait(), 30)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def publish(self, session_id: str, *, control: bool = True) -> None:
        super().publish(session_id, control=control)
        self._outgoing.put_nowait((session_id, control))

    async def _send(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    while True:
                        batch = {await self._outgoing.get()}
                        while not self._outgoing.empty() and len(batch) < MAX_BATCH:
                            batch.add(self._outgoing.get_nowait())
                        # A token-heavy turn sends many changes a second: one NOTIFY per session and kind.
                        async with conn.cursor() as cursor:
                            for session_id, control in batch:
                                await cursor.execute("SELECT pg_notify(%s, %s)",
                                                     (CHANNEL, f"{self._origin}:{int(control)}:{session_id}"))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database went away: keep trying, lose only hints
                log.warning("notifier.send_failed", error=str(error))
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._listening.set()
                    async for notice in conn.notifies():
                        self._receive(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("notifier.listen_failed", error=str(error))
                await asyncio.sleep(RECONNECT_SECONDS)

    def _receive(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            origin, control, session_id = payload.split(":", 2)
            if origin != self._origin:
                super().publish(session_id, control=control == "1")


def notifier_for(database_url: str) -> Notifier:
    """In-process for SQLite (one process); LISTEN/NOTIFY for PostgreSQL (any number)."""
    if database_url.startswith("postgresql"):
        return PostgresNotifier(database_url)
    return Notifier()
