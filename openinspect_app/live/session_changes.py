"""A counter of "some session changed", for the session page's sidebar.

The sidebar lists every session a person may move to, so it would have to hear every session's
notification. Pushing into each tab's own state would need a second registry of tabs and
sign-ins beside :class:`~openinspect_app.live.viewer_guard.ViewerGuard`; instead each sidebar asks
on a short timer, through the identity gate like any event, and this counter says whether
anything changed since it last read the list — so a quiet system costs no database reads. One
task per web process listens to the notifier for every session (queue and sandbox changes, the
``control`` ones: status, prompts, titles); notifications are hints, so readers re-read anyway
after ``REREAD_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib

from openinspect_protocol.logs import EventLog

from openinspect_core.notify.local import Notifier

log = EventLog(__name__)

REREAD_SECONDS = 15.0  # as the live projection: a notification from another process can be lost
WAIT_SECONDS = 30.0  # how long one wait for a notification lasts before it waits again


class SessionChanges:
    """Owns the one listening task and the counter; leaves reading the sessions to its readers."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier
        self._version = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def version(self) -> int:
        """Grows whenever a session changed; starts the listener on first use (in the event loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="live-session-changes")
        return self._version

    async def _listen(self) -> None:
        try:
            async with self._notifier.subscribe(None, control_only=True) as subscription:
                while True:
                    if await subscription.wait(WAIT_SECONDS):
                        self._version += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live.session_changes_failed")
            self._task = None  # the next reader starts a new listener
            self._version += 1

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
