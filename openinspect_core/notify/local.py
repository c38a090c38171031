""""Session X changed": the only signal between writers and watchers.

The database is the truth; a notification only says where to look again, so a
watcher that misses one (or gets several at once) loses nothing — it reads
everything after the last sequence it has seen. This is the in-process
implementation used by the embedded default (one process, one event loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Subscription:
    """Collects the ids of changed sessions until the owner takes them."""

    def __init__(self, session_id: str | None, control_only: bool) -> None:
        self.session_id = session_id  # None: every session
        self.control_only = control_only  # only changes to the queue or the sandbox's state
        self._pending: set[str] = set()
        self._wakeup = asyncio.Event()

    def _offer(self, session_id: str, control: bool) -> None:
        if self.control_only and not control:
            return
        if self.session_id is None or self.session_id == session_id:
            self._pending.add(session_id)
            self._wakeup.set()

    def poke(self) -> None:
        """Wake the waiter without a change (it has something else to look at)."""
        self._wakeup.set()

    async def wait(self, timeout_seconds: float | None = None) -> set[str]:
        """Return the sessions changed since the last call (empty on timeout)."""
        if not self._pending:
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that
                # arrives together with the wake-up, and the waiting task then never stops.
                async with asyncio.timeout(timeout_seconds):
                    await self._wakeup.wait()
            except TimeoutError:
                return set()
        changed, self._pending = self._pending, set()
        self._wakeup.clear()
        return changed


class Notifier:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    async def start(self) -> None:
        """Nothing to start in-process (see notify/postgres.py for the cross-process one)."""

    async def close(self) -> None:
        pass

    def publish(self, session_id: str, *, control: bool = True) -> None:
        """Say the session changed; ``control=False`` when only its timeline grew."""
        for subscription in tuple(self._subscriptions):
            subscription._offer(session_id, control)

    @asynccontextmanager
    async def subscribe(
        self, session_id: str | None = None, *, control_only: bool = False
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(session_id, control_only)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
