"""One transaction, then the notifications it earned: the only way writers change sessions.

    async with UnitOfWork(db, notifier) as work:
        await prompts.enqueue(work.db, ...)
        work.changed(session_id)

On a clean exit the transaction commits and *then* every session marked
changed is published (a watcher woken before the commit would read nothing
new); on an exception it rolls back and nothing is published. ``control=False``
says only the session's timeline grew (watchers of the queue or the sandbox
need not look).
"""

from __future__ import annotations

from types import TracebackType

from sqlmodel.ext.asyncio.session import AsyncSession

from openinspect_core.db import Database
from openinspect_core.notify.local import Notifier


class UnitOfWork:
    def __init__(self, database: Database, notifier: Notifier) -> None:
        self._database = database
        self._notifier = notifier
        self._session_cm = database.writer()
        self._db: AsyncSession | None = None
        self._changed: dict[str, bool] = {}

    @property
    def db(self) -> AsyncSession:
        assert self._db is not None, "use the unit of work inside 'async with'"
        return self._db

    def changed(self, session_id: str, *, control: bool = True) -> None:
        """Publish "session changed" once this unit commits."""
        self._changed[session_id] = self._changed.get(session_id, False) or control

    async def __aenter__(self) -> UnitOfWork:
        self._db = await self._session_cm.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                await self.db.commit()
            else:
                await self.db.rollback()
        finally:
            await self._session_cm.__aexit__(exc_type, exc, tb)
        if exc_type is None:
            for session_id, control in self._changed.items():
                self._notifier.publish(session_id, control=control)
