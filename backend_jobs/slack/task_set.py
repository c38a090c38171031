"""The bot's background work, kept track of: every task it starts ends logged, waited for, or cancelled.

Slack wants an answer within three seconds, so the bot acknowledges a delivery at once and does the
work (database, Slack calls, starting a session) in a task of this set. Nothing here is fire and
forget: a failure is logged (``slack.task_failed``) instead of vanishing into the event loop,
:meth:`TaskSet.idle` waits for the work in flight (tests, a clean stop), and :meth:`TaskSet.close`
cancels what is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from openinspect_protocol.logs import EventLog

log = EventLog(__name__)


class TaskSet:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def spawn(self, work: Coroutine[Any, Any, object], *, name: str) -> asyncio.Task[None] | None:
        """Run ``work`` in the background (None, and ``work`` closed unrun, once the set is closed)."""
        if self._closed:
            work.close()
            return None
        task = asyncio.create_task(self._logged(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: work.close())  # cancelled before it ran: closed, not left unawaited
        return task

    @staticmethod
    async def _logged(work: Coroutine[Any, Any, object], name: str) -> None:
        try:
            await work
        except Exception as error:  # a bug or an outage nobody handled: logged with its traceback, not lost
            log.exception("slack.task_failed", task=name, error=type(error).__name__)

    async def idle(self, *, except_names: tuple[str, ...] = ()) -> None:
        """Until no task is running but those named in ``except_names`` (the bot's own loops)."""
        while busy := [t for t in self._tasks if t.get_name() not in except_names]:
            await asyncio.wait(busy)

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
