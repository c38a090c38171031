"""Which worker decides: one leader among the control-plane processes running the jobs.

Several workers may run over PostgreSQL. Each holds the bridges its sandboxes connected to
and delivers their commands (a prompt or a stop goes out only where the bridge is), but the
decisions that must be taken once — starting a sandbox within the limits, shutting one down,
the timers (silence, idleness), sweeping after a crash — are the leader's alone.

The leader is whoever holds a PostgreSQL session-level advisory lock, on a connection of its
own. PostgreSQL releases the lock when that connection ends, so a leader killed with
``kill -9`` (or cut off) frees it within the server's notice of the closed socket; a
follower trying every few seconds takes over. The leader checks its connection every few
seconds and steps down at once when it fails, before another can have taken over for long.
On SQLite (the embedded default: one process) this process is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import psycopg
from openinspect_protocol.logs import EventLog

from openinspect_core.notify.postgres import libpq_url

log = EventLog(__name__)

LOCK_KEY = 0x6F70_656E_696E  # "openin": one key for the whole control plane
TRY_SECONDS = 2.0  # how often a follower tries, and how often the leader checks its connection
CHECK_TIMEOUT_SECONDS = 5.0

Hook = Callable[[], Awaitable[None]]


class Leadership:
    """This process's part: leader or follower, and what to start and stop on a change."""

    def __init__(self) -> None:
        self.is_leader = False
        self._gained: list[Hook] = []
        self._lost: list[Hook] = []

    def on_change(self, *, gained: Hook, lost: Hook) -> None:
        self._gained.append(gained)
        self._lost.append(lost)

    async def start(self) -> None:
        """A first try, awaited: a lone process leads (its hooks done) before anything else runs."""

    async def run(self) -> None:
        """Keep trying (a follower) or keep holding (the leader) until cancelled."""
        await asyncio.Event().wait()

    async def _become(self, leader: bool) -> None:
        if leader == self.is_leader:
            return
        self.is_leader = leader
        log.info("leadership.gained" if leader else "leadership.lost")
        for hook in self._gained if leader else self._lost:
            try:
                await hook()
            except Exception:  # one part failing to start must not keep the others from it
                log.exception("leadership.hook_failed", leader=leader)


class SoleLeader(Leadership):
    """One process (SQLite): always the leader."""

    async def start(self) -> None:
        await self._become(True)


class AdvisoryLeadership(Leadership):
    """The holder of a PostgreSQL advisory lock leads."""

    def __init__(self, database_url: str, *, try_seconds: float = TRY_SECONDS) -> None:
        super().__init__()
        self._url = libpq_url(database_url)
        self._try_seconds = try_seconds
        self._conn: psycopg.AsyncConnection | None = None  # the lock lives as long as this connection

    async def start(self) -> None:
        await self._round()

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._try_seconds)
                await self._round()
        finally:
            await asyncio.shield(self._step_down())

    async def _round(self) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                if self._conn is None:
                    self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                if self.is_leader:
                    await self._conn.execute("SELECT 1")
                    won = True
                else:
                    row = await (await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))).fetchone()
                    won = row is not None and bool(row[0])
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the database went away, or stalled: step down, try again later
            log.warning("leadership.connection_failed", error=str(error)[:300] or type(error).__name__)
            await self._step_down()
            return
        await self._become(won)  # outside the timeout: the hooks are not the check's to cut short

    async def _step_down(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()  # closing the connection releases the lock
        await self._become(False)


def leadership_for(database_url: str) -> Leadership:
    if database_url.startswith("postgresql"):
        return AdvisoryLeadership(database_url)
    return SoleLeader()
