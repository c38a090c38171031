"""The sidebar's "some session changed" counter: it grows on a session's control changes, not on tokens."""

from __future__ import annotations

import asyncio

from openinspect_app.live.session_changes import SessionChanges
from openinspect_core.notify.local import Notifier


async def until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.01)


async def test_the_counter_grows_when_any_session_changes() -> None:
    notifier = Notifier()
    changes = SessionChanges(notifier)
    start = changes.version  # the first read starts the listener
    await until(lambda: notifier._subscriptions, "the listener subscribed")
    notifier.publish("one-session", control=False)  # only its timeline grew (a streamed token)
    await asyncio.sleep(0.05)
    assert changes.version == start
    notifier.publish("one-session")
    await until(lambda: changes.version > start, "a change counted")
    after_one = changes.version
    notifier.publish("another-session")
    await until(lambda: changes.version > after_one, "another session's change counted")
    await changes.close()
    assert not notifier._subscriptions
